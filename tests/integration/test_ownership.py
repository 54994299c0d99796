# -*- coding: utf-8 -*-
"""Ownership: what one rule set or network of ours owns is exactly its own. Two sets or
networks whose names share a prefix (lan / lan_b, lan / lan_addr, br / br_x) are made,
one is removed, and the other stays byte-identical (rules, maps, chains, links, files,
dnsmasq process). Real netfilter inside namespaces, both backends."""

from __future__ import annotations

import json

import pytest

BACKENDS = ["nftables", "iptables"]
G1 = "192.168.100.2"
PAIRS = [("lan", "lan_b"), ("lan", "lan_addr"), ("lan", "lan.b"), ("lan-b", "lan")]


def _masq(name, backend, state="present"):
    return {"name": name, "source": "192.168.100.0/24", "out_interface": "up0", "backend": backend, "state": state}


def _dnat(name, backend, port, state="present"):
    return {"name": name, "backend": backend, "state": state,
            "forwards": [{"port": port, "to_addr": G1, "to_port": 80}]}


NFT_SUFFIXES = ["pre", "mark", "out", "post", "fwd", "in", "targets", "ports"] + [
    "%s_%s" % (m, shape) for m in ("addr", "port") for shape in ("isd", "is", "id", "sd", "i", "s", "d", "0")]


def owned(lab, name):
    """What set ``name`` owns, exactly: nft chains, rules and maps named
    <kind>_<name>_<suffix>, and the iptables-legacy chains HN-<hook><kind>-<name> (their
    counters dropped: the kept set's move with its traffic)."""
    names = set("%s_%s_%s" % (k, name, s) for k in ("masq", "dnat") for s in NFT_SUFFIXES)
    listing = json.loads(lab.hv.run("nft", "-j", "list", "table", "ip", "hypervisor_networking", check=False).stdout
                         or '{"nftables": []}')["nftables"]
    found = []
    for obj in listing:
        kind = next(iter(obj))
        body = dict(obj[kind])
        if body.get("name", body.get("chain")) in names:
            body.pop("handle", None)
            body["expr"] = [e for e in body.get("expr", []) if "counter" not in e]
            found.append(json.dumps({kind: body}, sort_keys=True))
    chains = set("HN-%s%s-%s" % (h, k, name) for h in "PDOFI" for k in "MN")
    for line in lab.hv.run("iptables-legacy-save", check=False).stdout.splitlines():
        words = line.split()
        if len(words) > 1 and (words[0].lstrip(":") in chains or words[1] in chains or
                               (words[-2:-1] == ["-j"] and words[-1] in chains)):
            found.append(words[0] if words[0].startswith(":") else line)
    return sorted(found)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gone,kept", PAIRS + [(b, a) for a, b in PAIRS])
@pytest.mark.parametrize("modules", [("masquerade",), ("masquerade", "iptables_dnat")])
def test_removing_a_set_leaves_the_set_whose_name_it_prefixes(nat_lab, backend, gone, kept, modules):
    lab = nat_lab
    lab.serve(lab.g1, "tcp", 80)
    for name, port in ((kept, 8080), (gone, 8081)):
        assert lab.hv.module("masquerade", _masq(name, backend))["rc"] == 0
        if "iptables_dnat" in modules:
            assert lab.hv.module("iptables_dnat", _dnat(name, backend, port))["rc"] == 0
    before = owned(lab, kept)
    assert before and owned(lab, gone)
    for module, args in (("iptables_dnat", _dnat(gone, backend, 8081, "absent")),
                         ("masquerade", _masq(gone, backend, "absent"))):
        if module not in modules:
            continue
        res = lab.hv.module(module, args)
        assert res["rc"] == 0 and res["changed"] is True, res
        assert not [l for l in res["actions"] if "delete table" in l], res["actions"]
    assert owned(lab, kept) == before
    assert owned(lab, gone) == []
    # the guests still reach the internet through the kept masquerade, and its published
    # port still answers
    lab.serve(lab.wan, "tcp", 80)
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 80) == "peer=203.0.113.1"
    if "iptables_dnat" in modules:
        assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
        assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8081, timeout=1) is None
    for module, args in (("iptables_dnat", _dnat(kept, backend, 8080)), ("masquerade", _masq(kept, backend))):
        if module not in modules:
            continue
        again = lab.hv.module(module, args)
        assert again["rc"] == 0 and again["changed"] is False, again


@pytest.mark.parametrize("backend", BACKENDS)
def test_net_info_reports_each_set_as_its_own(nat_lab, backend):
    lab = nat_lab
    for name, port in (("lan", 8080), ("lan_addr", 8081)):
        assert lab.hv.module("iptables_dnat", _dnat(name, backend, port))["rc"] == 0
    info = lab.hv.module("net_info", {"gather": ["firewall"]})
    assert info["rc"] == 0, info
    sets = dict((s["name"], s) for s in info["firewall"]["sets"] if s["kind"] == "forwards")
    assert sorted(sets) == ["lan", "lan_addr"], info["firewall"]["sets"]


def _network(name, address, backend, state="present", dhcp=True):
    args = {"name": name, "state": state, "addresses": [address], "uplink": "up0", "backend": backend,
            "qemu_acl": False}
    if dhcp and state == "present":
        args["dhcp"] = {"range": address.rsplit(".", 1)[0] + ".100-" + address.rsplit(".", 1)[0] + ".120"}
    return args


def _without_counters(listing):
    """nft list ruleset lines without their counters (they move with traffic)."""
    return [l.split(" counter ")[0] for l in listing.splitlines()]


def _dnsmasq_pids(ns):
    """The pids of the two networks' dnsmasq (/run is shared with other namespaces)."""
    out = ns.run("sh", "-c", "cat /run/hypervisor-networking/dnsmasq/br.pid /run/hypervisor-networking/dnsmasq/br_x.pid"
                             " 2>/dev/null || true").stdout
    return sorted(out.split())


@pytest.mark.parametrize("backend", BACKENDS)
def test_removing_network_br_leaves_network_br_x(netns, make_netns, backend):
    hv = netns
    wan = make_netns("hn-wan")
    hv.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", wan.name)
    hv.run("ip", "addr", "add", "203.0.113.1/24", "dev", "up0")
    hv.run("ip", "link", "set", "up0", "up")
    try:
        for name, address in (("br_x", "192.168.101.1/24"), ("br", "192.168.100.1/24")):
            res = hv.module("guest_network", _network(name, address, backend))
            assert res["rc"] == 0, res
        kept = hv.module("guest_network", _network("br_x", "192.168.101.1/24", backend), check_mode=True)
        assert kept["changed"] is False, kept
        pids = _dnsmasq_pids(hv)
        assert len(pids) == 2
        files = [f for f in hv.run("ls", "/run/hypervisor-networking/dnsmasq").stdout.split()
                 if f.startswith(("br.", "br_x."))]  # /run is shared with other namespaces' tests
        nft_before = hv.run("nft", "list", "ruleset").stdout
        res = hv.module("guest_network", _network("br", "192.168.100.1/24", backend, "absent"))
        assert res["rc"] == 0 and res["changed"] is True, res
        assert not [l for l in res["actions"] if "delete table" in l], res["actions"]
        again = hv.module("guest_network", _network("br_x", "192.168.101.1/24", backend))
        assert again["rc"] == 0 and again["changed"] is False, again
        left = [f for f in hv.run("ls", "/run/hypervisor-networking/dnsmasq").stdout.split()
                if f.startswith(("br.", "br_x."))]
        assert left == [f for f in files if f.startswith("br_x.")], (files, left)
        assert len(_dnsmasq_pids(hv)) == 1 and _dnsmasq_pids(hv)[0] in pids
        if backend == "nftables":
            for line in _without_counters(nft_before):
                if "_br_x_" in line:
                    assert line in _without_counters(hv.run("nft", "list", "ruleset").stdout), line
    finally:
        for name, address in (("br", "192.168.100.1/24"), ("br_x", "192.168.101.1/24")):
            hv.module("guest_network", _network(name, address, backend, "absent"))
