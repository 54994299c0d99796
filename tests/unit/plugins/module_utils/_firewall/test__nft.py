# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _nft
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    DnatSet,
    ForwardSet,
    Masquerade,
    MasqueradeSet,
)

T = {"family": "ip", "table": "hypervisor_networking"}


def _listing(prefix, want, drop=()):
    """The JSON objects nft would list after ``want`` was written (minus ``drop`` elements)."""
    objs = [{"table": {"family": "ip", "name": "hypervisor_networking", "handle": 1}}]
    handle = 10
    for base, (typ, hook, prio) in _nft.BASE_CHAINS.items():
        objs.append({"chain": dict(T, name=base, type=typ, hook=hook, prio=prio, policy="accept")})
    for chain, rules in want.chains.items():
        objs.append({"chain": dict(T, name=chain)})
        base = _nft.SUFFIX_BASE[chain[len(prefix):]]
        objs.append({"rule": dict(T, chain=base, handle=handle, comment=_nft.MARK, expr=[{"jump": {"target": chain}}])})
        handle += 1
        for expr in rules:
            objs.append({"rule": dict(T, chain=chain, handle=handle, comment=_nft.rule_comment(expr), expr=expr)})
            handle += 1
    for name, m in want.maps.items():
        decl = dict(m["decl"])
        kind = "map" if "map" in decl else "set"
        elems = [e for k, e in m["elem"].items() if k not in drop]
        objs.append({kind: dict(T, name=name, elem=elems, **decl)})
    return objs


def _fset(forwards, **extra):
    return ForwardSet.from_params(dict({"name": "web", "forwards": forwards}, **extra))


def _dnat(fset, hairpin=(), family="ipv4"):
    return DnatSet("web", fset, family, hairpin)


def _masq(rule):
    return MasqueradeSet(rule.name, rule, rule.family)


def test_forwards_are_elements_grouped_by_shape_one_rule_each():
    fset = _fset([{"port": 8000 + i, "to_addr": "192.168.100.2", "to_port": 80} for i in range(100)]
                 + [{"port": 9000 + i, "to_addr": "192.168.100.3", "in_interface": "up0"} for i in range(100)]
                 + [{"port": 2222, "to_addr": "192.168.100.2", "to_port": 22, "sources": ["198.51.100.0/24"]}])
    want = _nft.dnat_desired(_dnat(fset, [("192.168.100.0/24", "br0")]))
    assert len(want.chains["dnat_web_pre"]) == 3  # shapes i, s, 0: narrower ones first
    assert [r[-1]["dnat"]["addr"]["map"]["data"] for r in want.chains["dnat_web_pre"]] == \
        ["@dnat_web_addr_i", "@dnat_web_addr_s", "@dnat_web_addr_0"]
    assert len(want.maps["dnat_web_addr_0"]["elem"]) == 100 and len(want.maps["dnat_web_port_i"]["elem"]) == 100
    assert want.maps["dnat_web_addr_s"]["decl"] == {"type": ["ipv4_addr", "inet_proto", "inet_service"],
                                                    "map": "ipv4_addr", "flags": ["interval"],
                                                    "stmt": [{"counter": None}]}
    mark = {"match": {"op": "==", "left": {"&": [{"ct": {"key": "mark"}}, 0x200000]}, "right": 0x200000}}
    assert want.chains["dnat_web_fwd"] == [[mark, {"counter": None}, {"accept": None}]]


def test_a_table_that_says_exactly_this_plans_nothing():
    fset = _fset([{"port": 8080, "to_addr": "192.168.100.2", "to_port": 80, "sources": ["198.51.100.7/32"]}])
    want = _nft.dnat_desired(_dnat(fset))
    current = _nft.Current(_listing("dnat_web_", want))
    assert _nft._plan_table(current, _dnat(fset), want) == ([], [])


def test_drift_repair_adds_only_the_missing_elements():
    fset = _fset([{"port": 10000 + i, "to_addr": "192.168.100.2", "to_port": 80} for i in range(1000)])
    want = _nft.dnat_desired(_dnat(fset))
    lost = sorted(want.maps["dnat_web_addr_0"]["elem"])[:10]
    current = _nft.Current(_listing("dnat_web_", want, drop=lost))
    cmds, lines = _nft._plan_table(current, _dnat(fset), want)
    adds = [c["add"]["element"] for c in cmds if "element" in c.get("add", {})]
    assert [a["name"] for a in adds] == ["dnat_web_addr_0"] and len(adds[0]["elem"]) == 10
    assert not [c for c in cmds if "rule" in c.get("add", {}) or "flush" in c or "delete" in c]
    assert len(lines) == 10


@pytest.mark.parametrize("element,expected", [
    ({"concat": ["up0", {"prefix": {"addr": "198.51.100.0", "len": 24}}, "tcp", 22]},
     ("up0", "198.51.100.0/24", "tcp", "22")),
    ({"concat": [{"range": ["198.51.100.7", "198.51.100.7"]}, "udp", 53]}, ("198.51.100.7", "udp", "53")),
    ({"concat": [{"prefix": {"addr": "198.51.100.7", "len": 32}}, "udp", 53]}, ("198.51.100.7", "udp", "53")),
    ([{"elem": {"val": {"concat": ["tcp", 80]}, "comment": "x"}}, "192.168.100.2"], (("tcp", "80"), "192.168.100.2")),
])
def test_elements_compare_in_one_canonical_form(element, expected):
    assert _nft.canon(element) == expected


def test_removing_the_last_set_deletes_the_table():
    rule = Masquerade.from_params({"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0"})
    want = _nft.masquerade_desired(_masq(rule))
    current = _nft.Current(_listing("masq_lan_", want))
    cmds, lines = _nft._plan_table(current, MasqueradeSet("lan", None), _nft.Desired())
    assert cmds == [{"delete": {"table": {"family": "ip", "name": "hypervisor_networking"}}}]
    assert lines[-1].startswith("nftables: delete table")


def test_names_are_json_strings_never_syntax():
    rule = Masquerade.from_params({"name": "br-guests.v2", "source": "192.168.100.0/24", "out_interface": "up-0.1"})
    want = _nft.masquerade_desired(_masq(rule))
    cmds, _lines = _nft._plan_table(_nft.Current([]), _masq(rule), want)
    chains = [c["add"]["chain"]["name"] for c in cmds if "chain" in c.get("add", {})]
    assert "masq_br-guests.v2_post" in chains
    assert {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "up-0.1"}} in \
        want.chains["masq_br-guests.v2_post"][0]


def test_expr_text_reads_like_nft():
    rule = Masquerade.from_params({"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0",
                                   "exclude_destinations": ["224.0.0.0/24"]})
    want = _nft.masquerade_desired(_masq(rule))
    assert _nft.expr_text(want.chains["masq_lan_post"][0]) == \
        'ip saddr 192.168.100.0/24 oifname "up0" ip daddr != { 224.0.0.0/24 } counter masquerade'


def test_ipv6_sets_live_in_the_ip6_table_with_ipv6_types():
    fset = _fset([{"port": 8080, "to_addr": "fd00:100::10", "to_port": 80, "sources": ["2001:db8::/32"]},
                  {"port": 2222, "to_addr": "fd00:100::11", "to_port": 22}])
    rset = _dnat(fset.part("ipv6"), [("fd00:100::/64", "br0")], "ipv6")
    want = _nft.dnat_desired(rset)
    assert want.maps["dnat_web_addr_s"]["decl"] == {"type": ["ipv6_addr", "inet_proto", "inet_service"],
                                                    "map": "ipv6_addr", "flags": ["interval"],
                                                    "stmt": [{"counter": None}]}
    assert want.maps["dnat_web_targets"]["decl"] == {"type": ["ipv6_addr", "inet_proto", "inet_service"]}
    texts = [_nft.expr_text(r) for r in want.chains["dnat_web_post"]]
    assert texts == ['ip6 saddr fd00:100::/64 oifname "br0" ct status dnat counter masquerade']
    assert all(r[-1]["dnat"]["family"] == "ip6" for r in want.chains["dnat_web_pre"])
    cmds, lines = _nft._plan_table(_nft.Current([]), rset, want)
    assert cmds[0] == {"add": {"table": {"family": "ip6", "name": "hypervisor_networking"}}}
    assert all(next(iter(c.values())).get(next(iter(next(iter(c.values())))), {}).get("family", "ip6") == "ip6"
               for c in cmds)
    assert lines[0].startswith("nftables (ip6): ")


def test_ipv6_localhost_forwards_leave_127_alone():
    fset = _fset([{"port": 8080, "to_addr": "fd00:100::10", "to_port": 80}], localhost=True)
    want = _nft.dnat_desired(_dnat(fset, (), "ipv6"))
    assert "dnat_web_in" not in want.chains  # route_localnet's guard is IPv4's
    assert not DnatSet("web", fset, "ipv6").localhost and DnatSet("web", _fset(
        [{"port": 1, "to_addr": "10.0.0.2"}], localhost=True)).localhost


def test_ipv6_masquerade_text():
    rule = Masquerade.from_params({"name": "lan", "source": "fd00:100::/64", "out_interface": "up0"})
    want = _nft.masquerade_desired(_masq(rule))
    assert _nft.expr_text(want.chains["masq_lan_post"][0]) == 'ip6 saddr fd00:100::/64 oifname "up0" counter masquerade'
