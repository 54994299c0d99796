# -*- coding: utf-8 -*-
"""net_info in a namespace: routes as route -n shows them, bridges as brctl show, TAPs,
forwarding, our sets with counters that rise with traffic on both backends, the foreign
FORWARD drop named in a warning; read-only (the namespace is byte-identical after it)."""

from __future__ import annotations

import time

import pytest

M = "net_info"


def settled(ns):
    """A snapshot once the new links stopped changing on their own (operstate, ports)."""
    previous = ns.snapshot()
    for _attempt in range(50):
        time.sleep(0.2)
        current = ns.snapshot()
        if current == previous:
            return current
        previous = current
    raise AssertionError("the namespace never settled")


def route(res, dst, prefix):
    found = [r for r in res["routes"] if r["destination"] == dst and r["prefix"] == prefix and r["family"] == "ipv4"]
    assert len(found) == 1, res["routes"]
    return found[0]


def test_routes_bridges_taps_and_forwarding(netns):
    ns = netns
    for argv in (["ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1"],
                 ["ip", "addr", "add", "203.0.113.1/24", "dev", "up0"], ["ip", "link", "set", "up0", "up"],
                 ["ip", "link", "set", "up1", "up"],
                 ["ip", "route", "add", "default", "via", "203.0.113.254", "metric", "100"],
                 ["ip", "route", "add", "198.51.100.7/32", "via", "203.0.113.9"],
                 ["ip", "route", "add", "unreachable", "10.99.0.0/16"],
                 ["ip", "link", "add", "br0", "type", "bridge"],
                 ["ip", "addr", "add", "192.168.100.1/24", "dev", "br0"], ["ip", "link", "set", "br0", "up"],
                 ["ip", "link", "set", "up1", "master", "br0"]):
        ns.run(*argv)
    ns.module("tap_iface", {"name": "vm1-tap", "owner": "nobody", "bridge": "br0"})
    before = settled(ns)
    for check_mode in (False, True):
        res = ns.module(M, {}, check_mode=check_mode)
        assert res["rc"] == 0 and res["changed"] is False, res
    assert ns.snapshot() == before
    default = route(res, "0.0.0.0", 0)
    assert (default["flags"], default["gateway"], default["genmask"], default["iface"], default["metric"]) == \
        ("UG", "203.0.113.254", "0.0.0.0", "up0", 100)
    assert (default["protocol"], default["scope"], default["type"], default["table"]) == \
        ("boot", "global", "unicast", "main")
    connected = route(res, "192.168.100.0", 24)
    assert (connected["flags"], connected["gateway"], connected["genmask"], connected["protocol"],
            connected["scope"]) == ("U", "0.0.0.0", "255.255.255.0", "kernel", "link")
    assert route(res, "198.51.100.7", 32)["flags"] == "UGH"
    assert route(res, "10.99.0.0", 16)["flags"] == "!"
    table = res["route_table"]
    assert table[1].split() == ["Destination", "Gateway", "Genmask", "Flags", "Metric", "Ref", "Use", "Iface"]
    assert table[2].split()[:4] == ["198.51.100.7", "203.0.113.9", "255.255.255.255", "UGH"]
    assert table[-1].split() == ["0.0.0.0", "203.0.113.254", "0.0.0.0", "UG", "100", "0", "0", "up0"]
    br0 = [b for b in res["bridges"] if b["name"] == "br0"][0]
    assert br0["stp"] is False and br0["ports"] == ["up1", "vm1-tap"] and "192.168.100.1/24" in br0["addresses"]
    assert br0["bridge_id"] == "8000." + br0["mac"].replace(":", "")
    assert res["bridge_table"][1].split() == ["br0", br0["bridge_id"], "no", "up1"]
    assert res["bridge_table"][2].split() == ["vm1-tap"]

    tap = [t for t in res["taps"] if t["name"] == "vm1-tap"][0]
    assert tap["bridge"] == "br0" and tap["in_use"] is False and tap["managed"] is True
    assert res["forwarding"]["ipv4"] in (True, False)
    only = ns.module(M, {"gather": ["forwarding"]})
    assert set(only) >= {"forwarding"} and "routes" not in only and "firewall" not in only


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_counters_rise_with_traffic(nat_lab, backend):
    lab = nat_lab
    lab.hv.module("masquerade", {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0",
                                 "backend": backend})
    lab.hv.module("iptables_dnat", {"name": "web", "backend": backend,
                                    "forwards": [{"port": 8080, "to_addr": "192.168.100.2", "to_port": 80}]})
    res = lab.hv.module(M, {"gather": ["firewall"]})
    sets = dict(((s["kind"], s["name"]), s) for s in res["firewall"]["sets"])
    assert set(sets) == {("masquerade", "lan"), ("forwards", "web")}, sets
    assert all(s["backend"] == backend and s["rules"] > 0 for s in sets.values())
    lab.serve(lab.wan, "tcp", 8000)
    lab.serve(lab.g1, "tcp", 80)
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8000) == "peer=203.0.113.1"
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
    after = dict(((s["kind"], s["name"]), s) for s in lab.hv.module(M, {"gather": ["firewall"]})["firewall"]["sets"])
    for key in sets:
        assert after[key]["packets"] > sets[key]["packets"] and after[key]["bytes"] > sets[key]["bytes"], key


def test_topology_draws_the_network_as_it_runs(nat_lab):
    """gather: topology - the uplink, the bridge with its NAT, its TAP (owner, not in use)
    and the guests' veths, the published port with its target; and the same as Mermaid."""
    lab = nat_lab
    lab.hv.run("ip", "route", "add", "default", "via", "203.0.113.2")
    lab.hv.module("masquerade", {"name": "br0", "source": "192.168.100.0/24", "out_interface": "up0"})
    forwards = [{"port": 8080, "to_addr": "192.168.100.2", "to_port": 80}]
    lab.hv.module("iptables_dnat", {"name": "br0", "forwards": forwards})
    assert lab.hv.module("tap_iface", {"taps": [{"name": "vm9-tap", "bridge": "br0", "owner": "nobody"}]})["rc"] == 0
    res = lab.hv.module(M, {"gather": ["topology"]})
    assert res["rc"] == 0 and set(res) >= {"topology"} and "firewall" not in res, res
    view = res["topology"]
    assert view["uplink"] == {"name": "up0", "addresses": ["203.0.113.1/24"], "up": True}
    (br0,) = [n for n in view["networks"] if n["name"] == "br0"]
    assert br0["ours"] and br0["nat"] and br0["uplink"] == "up0" and br0["addresses"] == ["192.168.100.1/24"]
    assert br0["taps"] == [{"name": "vm9-tap", "owner": "nobody", "group": None, "in_use": False, "up": True}]
    assert br0["ports"] == ["vg1", "vg2"]
    assert br0["forwards"] == [{"proto": "tcp", "port": 8080, "to_addr": "192.168.100.2", "to_port": 80,
                                "family": "ipv4"}]
    lines = res["topology"]["mermaid"].splitlines()
    assert '  up_up0 -. "tcp 8080 -> 192.168.100.2:80" .-> br_br0' in lines
    assert '  tap_vm9_tap["vm9-tap, owner nobody, not in use"]' in lines


def test_foreign_forward_drop_is_a_warning(nat_lab):
    lab = nat_lab
    lab.hv.run("iptables-nft", "-P", "FORWARD", "DROP")
    res = lab.hv.module(M, {"gather": ["firewall", "forwarding"]})
    world = [w for w in res["firewall"]["forward"] if w["world"] == "iptables-nft"][0]
    assert world == {"world": "iptables-nft", "policy": "DROP", "our_accepts": [], "drops_before_ours": []}
    assert any("iptables-nft's FORWARD drops by policy" in w for w in res["warnings_found"]), res["warnings_found"]
    # our run puts its accepts there: the warning goes
    lab.hv.module("masquerade", {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0",
                                 "backend": "nftables"})
    res = lab.hv.module(M, {"gather": ["firewall"]})
    world = [w for w in res["firewall"]["forward"] if w["world"] == "iptables-nft"][0]
    assert world["our_accepts"] == ["HN-FM-lan"] and not res["warnings_found"], res
    lab.hv.run("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
    res = lab.hv.module(M, {"gather": ["forwarding"]})
    assert res["forwarding"]["ipv4"] is False
    assert res["warnings_found"] == ["IPv4 forwarding is off (net.ipv4.ip_forward = 0): guests reach nothing "
                                     "beyond the host"]
