# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _iptables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    Allow,
    DnatSet,
    ForwardSet,
    Masquerade,
    MasqueradeSet,
    forward_sets,
    masquerade_sets,
    port_range,
    set_name,
)


def test_from_params_normalises():
    rule = Masquerade.from_params({"name": "br0", "source": "192.168.100.0/24", "out_interface": "eth0",
                                   "exclude_destinations": ["10.1.0.0/16", "10.0.0.0/8", "224.0.0.0/24"],
                                   "forward": True})
    assert rule.exclude == ["10.0.0.0/8", "224.0.0.0/24"]  # overlap merged, sorted
    assert rule.as_dict()["out_interface"] == "eth0"


@pytest.mark.parametrize("value", ["", "x" * 65, "sp ace", ".", "..", "a/b", "a:b", "é", None, "lan\n", "lan\x00"])
def test_set_name_rejects(value):
    with pytest.raises(ValidationError, match="name="):
        set_name("name", value)


@pytest.mark.parametrize("value", ["br-guests", "virbr1", "eval-nat", "br.lan", "_x", "x" * 64])
def test_set_name_accepts_what_linux_accepts(value):
    assert set_name("name", value) == value


@pytest.mark.parametrize("value,needle", [
    ("!up0", "rule syntax"), ("up+", "rule syntax"), ("up*", "rule syntax"), ('up"0', "rule syntax"),
    ("\u00e9" * 15, "bytes"), ("a b", "whitespace"), ("a/b", "'/'"), (".", "'.'"),
])
def test_interface_names_never_become_rule_syntax(value, needle):
    with pytest.raises(ValidationError, match="out_interface="):
        Masquerade.from_params({"name": "a", "source": "10.0.0.0/8", "out_interface": value})
    with pytest.raises(ValidationError, match=needle):
        ForwardSet.from_params({"name": "a", "forwards": [{"port": 1, "to_addr": "10.0.0.1", "in_interface": value}]})


@pytest.mark.parametrize("source,needle", [("192.168.100.1/24", "host bits"), ("fd00::1/64", "host bits"),
                                           ("nonsense", "not a valid")])
def test_source_rejects(source, needle):
    with pytest.raises(ValidationError, match=needle):
        Masquerade.from_params({"name": "a", "source": source})


def test_iptables_chain_names_fit_28_chars_deterministically():
    assert MasqueradeSet("x" * 22, None).xt_chain("post") == "HN-PM-" + "x" * 22
    long_a = DnatSet("a" * 30 + "-one", None).xt_chain("fwd")
    long_b = DnatSet("a" * 30 + "-two", None).xt_chain("fwd")
    assert len(long_a) == 28 and len(long_b) == 28 and long_a != long_b
    assert long_a == DnatSet("a" * 30 + "-one", None, "ipv6").xt_chain("fwd")


def test_iptables_masquerade_rules_return_before_masquerade():
    rule = Masquerade("a", "10.0.0.0/8", None, ["10.0.0.0/8"], False)
    chains = _iptables.masquerade_rules(MasqueradeSet("a", rule))
    assert [r[-1] for r in chains["post"]] == ["RETURN", "MASQUERADE"] and "fwd" not in chains


def test_iptables_dnat_marks_then_translates_and_accepts_by_mark():
    fset = ForwardSet.from_params({"name": "w", "forwards": [
        {"port": 8080, "to_addr": "192.168.100.2", "to_port": 80, "sources": ["198.51.100.0/24", "203.0.113.0/24"]},
        {"port": 53, "proto": "udp", "to_addr": "192.168.100.3", "destination": "203.0.113.1"}]})
    chains = _iptables.dnat_rules(DnatSet("w", fset))
    assert [r[r.index("-j") + 1] for r in chains["pre"]] == ["CONNMARK", "DNAT"] * 3
    assert chains["fwd"] == [["-j", "HN-USER"], ["-m", "connmark", "--mark", "0x200000/0x200000", "-j", "ACCEPT"]]
    assert "-d" in chains["pre"][-1] and "203.0.113.1/32" in chains["pre"][-1]


@pytest.mark.parametrize("value,expected", [(80, (80, 80)), ("80", (80, 80)), ("5000-5010", (5000, 5010)),
                                            (" 1-65535 ", (1, 65535))])
def test_port_range(value, expected):
    assert port_range("port", value) == expected


@pytest.mark.parametrize("value,needle", [(0, "1-65535"), (70000, "1-65535"), ("90-80", "reversed"),
                                          ("a-b", "expected a port"), ("", "expected a port")])
def test_port_range_rejects(value, needle):
    with pytest.raises(ValidationError, match=needle):
        port_range("port", value)


def test_forward_defaults_and_offsets():
    fset = ForwardSet.from_params({"name": "w", "forwards": [{"port": "6000-6001", "to_addr": "10.0.0.2",
                                                             "to_port": "7000-7001"}]})
    fwd = fset.forwards[0]
    assert fwd.proto == "tcp" and fwd.pairs() == [(6000, 7000), (6001, 7001)] and not fwd.filtered
    assert fset.hairpin is True and fset.localhost is False and fset.forward is True


@pytest.mark.parametrize("forwards,needle", [
    ([{"port": 80}], "forwards[0].to_addr=None: required"),
    ([{"to_addr": "10.0.0.2"}], "forwards[0].port=None: required"),
    ([{"port": 80, "to_addr": "10.0.0.2", "bogus": 1}], "unknown option"),
    ([{"port": 80, "to_addr": "10.0.0.2", "destination": "fd00::1"}], "must be IPv4 like the rest"),
    ([{"port": 80, "to_addr": "fd00::2", "sources": ["10.0.0.0/8"]}], "must be IPv6 like the rest"),
    ([{"port": "80-81", "to_addr": "10.0.0.2"}, {"port": 81, "to_addr": "10.0.0.3"}], "already forwarded"),
    ([{"port": 80, "to_addr": "10.0.0.2", "sources": []}], "forwards[0].sources=[]: an empty list allows no source"),
])
def test_forward_set_rejects(forwards, needle):
    with pytest.raises(ValidationError) as err:
        ForwardSet.from_params({"name": "w", "forwards": forwards})
    assert needle in err.value.msg


def test_same_port_in_different_scopes_is_fine():
    ForwardSet.from_params({"name": "w", "forwards": [
        {"port": 80, "to_addr": "10.0.0.2", "in_interface": "eth0"},
        {"port": 80, "to_addr": "10.0.0.3", "in_interface": "eth1"}]})


def test_same_port_in_both_families_is_fine_and_splits_by_family():
    fset = ForwardSet.from_params({"name": "w", "forwards": [
        {"port": 80, "to_addr": "10.0.0.2"}, {"port": 80, "to_addr": "fd00::2"}]})
    v4, v6 = forward_sets(fset, [("10.0.0.0/24", "br0"), ("fd00::/64", "br0")])
    assert (v4.family, [f.to_addr for f in v4.model.forwards], v4.hairpin) == \
        ("ipv4", ["10.0.0.2"], [("10.0.0.0/24", "br0")])
    assert (v6.family, [f.to_addr for f in v6.model.forwards], v6.hairpin) == ("ipv6", ["fd00::2"], [("fd00::/64", "br0")])
    assert v6.record_name == "dnat6-w.json" and v4.record_name == "dnat-w.json"


def test_a_set_without_forwards_of_a_family_goes_there():
    fset = ForwardSet.from_params({"name": "w", "forwards": [{"port": 80, "to_addr": "10.0.0.2"}]})
    assert [bool(r) for r in forward_sets(fset)] == [True, False]
    empty = ForwardSet.from_params({"name": "w", "forwards": []})
    assert [bool(r) for r in forward_sets(empty)] == [False, False]
    assert [bool(r) for r in forward_sets(empty, keep_empty=True)] == [True, False]


def test_a_masquerade_that_changes_family_leaves_the_other():
    rule = Masquerade.from_params({"name": "a", "source": "fd00::/64"})
    sets = masquerade_sets("a", rule)
    assert [(r.family, bool(r)) for r in sets] == [("ipv4", False), ("ipv6", True)]
    with pytest.raises(ValidationError, match="exclude_destinations=.*must be IPv6"):
        Masquerade.from_params({"name": "a", "source": "fd00::/64", "exclude_destinations": ["10.0.0.0/8"]})


def test_iptables_ipv6_dnat_brackets_the_target_and_keeps_127_to_ipv4():
    fset = ForwardSet.from_params({"name": "w", "localhost": True, "forwards": [
        {"port": 8080, "to_addr": "fd00::2", "to_port": 80, "destination": "2001:db8::1"}]})
    chains = _iptables.dnat_rules(DnatSet("w", fset, "ipv6"))
    assert chains["pre"][-1][-2:] == ["--to-destination", "[fd00::2]:80"] and "2001:db8::1/128" in chains["pre"][-1]
    assert "in" not in chains and not any("127.0.0.0/8" in r for r in chains.get("post", []))
    assert _iptables._target("[fd00::2]:80") == ("fd00::2", 80) and _iptables._target("fd00::2") == ("fd00::2", None)
    assert _iptables._target("10.0.0.2:80") == ("10.0.0.2", 80) and _iptables._target("10.0.0.2") == ("10.0.0.2", None)


def test_routed_allow_items_and_isolated_drops():
    allow = [Allow.from_item("allow_inbound[0]", {"port": "20-22", "to_addr": "192.168.100.2",
                                                  "sources": ["203.0.113.0/24"]}),
             Allow.from_item("allow_inbound[1]", {"proto": "udp", "port": 53})]
    assert [a.family for a in allow] == ["ipv4", None]
    routed = Masquerade("n", "192.168.100.0/24", "up0", bridge="br0", mode="routed", allow=allow)
    rules = MasqueradeSet("n", routed).accept_rules()
    assert ["-s", "203.0.113.0/24", "-d", "192.168.100.2", "-o", "br0", "-p", "tcp", "-m", "tcp", "--dport", "20:22",
            "-j", "ACCEPT"] in rules
    assert ["-d", "192.168.100.0/24", "-o", "br0", "-p", "udp", "-m", "udp", "--dport", "53", "-j", "ACCEPT"] in rules
    assert rules.index(["-d", "192.168.100.0/24", "-o", "br0", "-p", "udp", "-m", "udp", "--dport", "53",
                        "-j", "ACCEPT"]) < [r[-1] for r in rules].index("DROP")  # before the isolation drops
    assert "post" not in _iptables.masquerade_rules(MasqueradeSet("n", routed))  # nothing translated
    assert not MasqueradeSet("n", routed).translates and routed.as_dict()["mode"] == "routed"
    isolated = Masquerade("n", "192.168.100.0/24", None, bridge="br0", mode="isolated")
    assert MasqueradeSet("n", isolated).accept_rules() == [["-i", "br0", "!", "-o", "br0", "-j", "DROP"],
                                                           ["!", "-i", "br0", "-o", "br0", "-j", "DROP"]]
    assert "mode" not in Masquerade("n", "192.168.100.0/24").as_dict()  # nat: the records 0.2 wrote


@pytest.mark.parametrize("item,needle", [
    ({"port": 22, "sources": []}, "allow_inbound[0].sources=[]: an empty list allows no source"),
    ({"port": 22, "to_addr": "fd00::2", "sources": ["10.0.0.0/8"]}, "must be IPv6"),
    ({"port": 0}, "allow_inbound[0].port=0"),
    ({"to_addr": "10.0.0.2"}, "allow_inbound[0].port=None: required"),
])
def test_allow_items_reject(item, needle):
    with pytest.raises(ValidationError) as err:
        Allow.from_item("allow_inbound[0]", item)
    assert needle in err.value.msg
