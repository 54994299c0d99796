# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _ipt
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    ForwardSet,
    Masquerade,
    port_range,
    set_name,
)


def test_from_params_normalises():
    rule = Masquerade.from_params({"name": "br0", "source": "192.168.100.0/24", "out_interface": "eth0",
                                   "exclude_destinations": ["10.1.0.0/16", "10.0.0.0/8", "224.0.0.0/24"],
                                   "forward": True})
    assert rule.exclude == ["10.0.0.0/8", "224.0.0.0/24"]  # overlap merged, sorted
    assert rule.as_dict()["out_interface"] == "eth0"


@pytest.mark.parametrize("value", ["", "has-hyphen", "x" * 21, "_lead", "sp ace", None])
def test_set_name_rejects(value):
    with pytest.raises(ValidationError, match="name="):
        set_name("name", value)


@pytest.mark.parametrize("source,needle", [("192.168.100.1/24", "host bits"), ("fd00::/64", "only IPv4"),
                                           ("nonsense", "not a valid")])
def test_source_rejects(source, needle):
    with pytest.raises(ValidationError, match=needle):
        Masquerade.from_params({"name": "a", "source": source})


def test_ipt_chain_names_fit_28_chars():
    assert _ipt.chain_name("masq", "x" * 20, "post") == "HN-PM-" + "x" * 20
    assert len(_ipt.chain_name("dnat", "x" * 20, "fwd")) <= 28


def test_ipt_rule_text():
    key = ("192.168.100.0/255.255.255.0", "0.0.0.0/0.0.0.0", None, "eth0", "ip", (), "MASQUERADE", ())
    assert _ipt.rule_text(key) == "-s 192.168.100.0/24 -o eth0 -j MASQUERADE"
    key = ("0.0.0.0/0.0.0.0", "10.0.0.0/255.0.0.0", "eth0", None, "ip",
           (("conntrack", (("ctstate", ("RELATED,ESTABLISHED",)),)),), "ACCEPT", ())
    assert _ipt.rule_text(key) == "-d 10.0.0.0/8 -i eth0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"


def test_ipt_masquerade_chains_return_before_masquerade():
    chains = _ipt.masquerade_chains(Masquerade("a", "10.0.0.0/8", None, ["10.0.0.0/8"], False))
    assert [s["target"] for s in chains["post"]] == ["RETURN", "MASQUERADE"] and "fwd" not in chains


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
    ([{"port": 80, "to_addr": "10.0.0.2", "destination": "fd00::1"}], "only IPv4"),
    ([{"port": "80-81", "to_addr": "10.0.0.2"}, {"port": 81, "to_addr": "10.0.0.3"}], "already forwarded"),
])
def test_forward_set_rejects(forwards, needle):
    with pytest.raises(ValidationError) as err:
        ForwardSet.from_params({"name": "w", "forwards": forwards})
    assert needle in err.value.msg


def test_same_port_in_different_scopes_is_fine():
    ForwardSet.from_params({"name": "w", "forwards": [
        {"port": 80, "to_addr": "10.0.0.2", "in_interface": "eth0"},
        {"port": 80, "to_addr": "10.0.0.3", "in_interface": "eth1"}]})
