# -*- coding: utf-8 -*-
"""iptables_dnat on both backends, proven with traffic: wan -> host port -> guest."""

from __future__ import annotations

import pytest

from conftest import four_step, seeded_only, without_tables
from test_masquerade import FOREIGN_LEGACY, FOREIGN_NFT, load_nft

M = "iptables_dnat"
BACKENDS = ["nftables", "iptables"]
HV = "203.0.113.1"
G1 = "192.168.100.2"


def dnat(backend, forwards, **extra):
    args = {"name": "web", "forwards": forwards, "backend": backend}
    args.update(extra)
    return args


@pytest.mark.parametrize("backend", BACKENDS)
def test_tcp_udp_and_port_ranges_reach_the_guest(nat_lab, backend):
    lab = nat_lab
    for proto, port in (("tcp", 80), ("udp", 53), ("tcp", 5001), ("tcp", 7001)):
        lab.serve(lab.g1, proto, port)
    assert lab.connect(lab.wan, "tcp", HV, 8080, timeout=1) is None
    forwards = [{"port": 8080, "to_addr": G1, "to_port": 80},
                {"proto": "udp", "port": 5353, "to_addr": G1, "to_port": 53},
                {"port": "5000-5002", "to_addr": G1},
                {"port": "6000-6001", "to_addr": G1, "to_port": "7000-7001"}]
    res = four_step(lab.hv, M, dnat(backend, forwards), "rules")
    assert res["backend"] == backend
    assert res["forwards"][2] == {"proto": "tcp", "port": "5000-5002", "to_addr": G1, "to_port": "5000-5002",
                                  "in_interface": None, "destination": None, "sources": []}
    # the guest sees the real client: DNAT does not hide it
    assert lab.connect(lab.wan, "tcp", HV, 8080) == "peer=203.0.113.2"
    assert lab.connect(lab.wan, "udp", HV, 5353) == "peer=203.0.113.2"
    assert lab.connect(lab.wan, "tcp", HV, 5001) == "peer=203.0.113.2"
    assert lab.connect(lab.wan, "tcp", HV, 6001) == "peer=203.0.113.2"
    # the set is exactly the list: dropping a forward removes it
    res = four_step(lab.hv, M, dnat(backend, forwards[:1]), "rules")
    assert all(": remove from" in a for a in res["actions"]), res["actions"]
    assert lab.connect(lab.wan, "udp", HV, 5353, timeout=1) is None
    assert lab.connect(lab.wan, "tcp", HV, 8080) == "peer=203.0.113.2"


@pytest.mark.parametrize("backend", BACKENDS)
def test_sources_destination_and_in_interface_narrow(nat_lab, backend):
    lab = nat_lab
    lab.serve(lab.g1, "tcp", 22)
    lab.serve(lab.g1, "tcp", 80)
    lab.wan.run("ip", "addr", "add", "198.51.100.2/24", "dev", "eth0")
    lab.hv.run("ip", "route", "add", "198.51.100.0/24", "via", "203.0.113.2")
    lab.hv.run("ip", "addr", "add", "203.0.113.10/24", "dev", "up0")
    forwards = [{"port": 2222, "to_addr": G1, "to_port": 22, "sources": ["198.51.100.0/24"]},
                {"port": 8080, "to_addr": G1, "to_port": 80, "destination": "203.0.113.10"},
                {"port": 8081, "to_addr": G1, "to_port": 80, "in_interface": "up0"}]
    four_step(lab.hv, M, dnat(backend, forwards), "rules")
    assert lab.connect(lab.wan, "tcp", HV, 2222, timeout=1) is None
    assert lab.connect(lab.wan, "tcp", HV, 2222, source="198.51.100.2") == "peer=198.51.100.2"
    assert lab.connect(lab.wan, "tcp", HV, 8080, timeout=1) is None
    assert lab.connect(lab.wan, "tcp", "203.0.113.10", 8080) == "peer=203.0.113.2"
    assert lab.connect(lab.wan, "tcp", HV, 8081) == "peer=203.0.113.2"
    assert lab.connect(lab.g2, "tcp", "192.168.100.1", 8081, timeout=1) is None  # arrives on br0


@pytest.mark.parametrize("backend", BACKENDS)
def test_hairpin(nat_lab, backend):
    """g2 reaches g1 through the host's address and port, and gets the replies."""
    lab = nat_lab
    lab.serve(lab.g1, "tcp", 80)
    forwards = [{"port": 8080, "to_addr": G1, "to_port": 80}]
    four_step(lab.hv, M, dnat(backend, forwards, hairpin=False), "rules")
    assert lab.connect(lab.g2, "tcp", HV, 8080, timeout=1) is None
    four_step(lab.hv, M, dnat(backend, forwards), "rules")
    assert lab.connect(lab.g2, "tcp", HV, 8080) == "peer=192.168.100.1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_localhost(nat_lab, backend):
    lab = nat_lab
    lab.serve(lab.g1, "tcp", 80)
    forwards = [{"port": 8080, "to_addr": G1, "to_port": 80}]
    four_step(lab.hv, M, dnat(backend, forwards), "rules")
    assert lab.connect(lab.hv, "tcp", HV, 8080, timeout=1) is None
    assert lab.connect(lab.hv, "tcp", "127.0.0.1", 8080, timeout=1) is None
    res = four_step(lab.hv, M, dnat(backend, forwards, localhost=True), "rules")
    assert "set net.ipv4.conf.all.route_localnet = 1 (runtime)" in res["actions"]
    assert lab.connect(lab.hv, "tcp", HV, 8080) == "peer=%s" % HV
    assert lab.connect(lab.hv, "tcp", "127.0.0.1", 8080) == "peer=192.168.100.1"


def loopback_via(ns, gateway):
    """Make ``ns`` send 127.0.0.0/8 to ``gateway`` (what a hostile guest's root can do)."""
    ns.run("ip", "route", "del", "table", "local", "local", "127.0.0.0/8", "dev", "lo")
    ns.run("ip", "route", "del", "table", "local", "local", "127.0.0.1", "dev", "lo")
    ns.run("ip", "route", "add", "127.0.0.0/8", "via", gateway, "dev", "eth0")
    ns.run("sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1")


def _route_localnet(ns):
    return int(ns.run("sysctl", "-n", "net.ipv4.conf.all.route_localnet").stdout)


@pytest.mark.parametrize("backend", BACKENDS)
def test_localhost_forwards_never_expose_the_hosts_loopback(nat_lab, backend):
    """CVE-2020-8558's case: with route_localnet on, a guest (or a neighbour) that routes
    127.0.0.0/8 via the host reaches a service bound to 127.0.0.1 only. Our guard drops
    what our DNAT did not translate; route_localnet goes back to 0 once no forward of
    ours needs it (a second set with localhost keeps it on until it goes too)."""
    lab = nat_lab
    lab.serve(lab.g1, "tcp", 80)
    # a service of the host's on loopback, and a guest and a wan host that send 127/8 to it
    lab.serve(lab.hv, "udp", 9999)
    for ns, gateway in ((lab.g2, "192.168.100.1"), (lab.wan, "203.0.113.1")):
        loopback_via(ns, gateway)
    assert _route_localnet(lab.hv) == 0
    forwards = [{"port": 8080, "to_addr": G1, "to_port": 80}]
    res = four_step(lab.hv, M, dnat(backend, forwards, localhost=True), "rules")
    assert _route_localnet(lab.hv) == 1
    assert lab.connect(lab.hv, "tcp", "127.0.0.1", 8080) == "peer=192.168.100.1"
    for ns in (lab.g2, lab.wan):
        assert lab.connect(ns, "udp", "127.0.0.1", 9999, timeout=1) is None
    # another set with localhost forwards keeps route_localnet on when this one goes
    other = dict(dnat(backend, [{"port": 8081, "to_addr": G1, "to_port": 80}], localhost=True), name="web2")
    assert lab.hv.module(M, other)["rc"] == 0
    res = four_step(lab.hv, M, dnat(backend, forwards), "rules")
    assert _route_localnet(lab.hv) == 1 and not [a for a in res["actions"] if "route_localnet" in a]
    assert lab.connect(lab.hv, "tcp", "127.0.0.1", 8081) == "peer=192.168.100.1"
    res = four_step(lab.hv, M, dict(other, state="absent"), "rules")
    assert "set net.ipv4.conf.all.route_localnet = 0 (runtime: no forward of ours needs it any more)" \
        in res["actions"], res["actions"]
    assert _route_localnet(lab.hv) == 0
    for ns in (lab.g2, lab.wan):
        assert lab.connect(ns, "udp", "127.0.0.1", 9999, timeout=1) is None
    # control: the same probe reaches the loopback service with route_localnet on and no
    # guard (what 0.2 left behind), so the checks above can fail
    lab.hv.run("sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1")
    assert lab.connect(lab.g2, "udp", "127.0.0.1", 9999) == "peer=192.168.100.3"


@pytest.mark.parametrize("backend", BACKENDS)
def test_coexistence_and_absent(nat_lab, backend, tmp_path):
    """Foreign rules (Docker-like on iptables, a user's table on nftables) stay byte-identical
    through apply, re-apply and absent, and forwarded + masqueraded traffic flows."""
    lab = nat_lab
    if backend == "iptables":
        for argv in FOREIGN_LEGACY:
            lab.hv.run("iptables-legacy", *argv)
    else:
        # Docker on an nftables host: its rules through iptables-nft, FORWARD policy DROP
        for argv in FOREIGN_LEGACY:
            lab.hv.run("iptables-nft", *argv)
        load_nft(lab.hv, tmp_path, FOREIGN_NFT.replace("table ip nat", "table ip othernat"))
    lab.serve(lab.g1, "tcp", 80)
    lab.serve(lab.wan, "tcp", 9090)
    before = lab.ruleset()
    xt_before = lab.xtnft()
    lab.hv.module("masquerade", {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0",
                                 "backend": backend})
    four_step(lab.hv, M, dnat(backend, [{"port": 8080, "to_addr": G1, "to_port": 80}]), "rules")
    assert lab.connect(lab.wan, "tcp", HV, 8080) == "peer=203.0.113.2"
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 9090) == "peer=203.0.113.1"
    nft, legacy = lab.ruleset()
    if backend == "nftables":
        # our only additions to iptables-nft's table: our chains and their tagged jumps
        assert [l for l in lab.xtnft().splitlines() if "HN-" not in l] == xt_before.splitlines()
        assert legacy == before[1]
        assert without_tables(nft, ("ip filter", "ip hypervisor_networking")) == \
            without_tables(before[0], ("ip filter",))
    else:
        # iptables-nft's ip filter, absent before, was created to hold our accepts only
        assert without_tables(nft, ("ip filter",)) == before[0] and seeded_only(lab)
        assert [l for l in legacy.splitlines() if "HN-" not in l] == before[1].splitlines()
    four_step(lab.hv, M, {"name": "web", "state": "absent", "backend": backend}, "rules")
    lab.hv.module("masquerade", {"name": "lan", "state": "absent", "backend": backend})
    assert lab.ruleset() == before and lab.xtnft() == xt_before


@pytest.mark.parametrize("forward,needle", [
    ({"port": 0, "to_addr": G1}, "forwards[0].port=0: ports are 1-65535"),
    ({"port": 70000, "to_addr": G1}, "forwards[0].port=70000"),
    ({"port": "90-80", "to_addr": G1}, "reversed range"),
    ({"port": "80-90", "to_addr": G1, "to_port": "100-101"}, "must be as long as port 80-90"),
    ({"port": 80, "to_addr": G1, "sources": ["10.0.0.0/33"]}, "forwards[0].sources="),
    ({"port": 80, "to_addr": "192.168.100.300"}, "forwards[0].to_addr="),
    ({"port": 80, "proto": "sctp", "to_addr": G1}, "sctp"),
    ({"port": "abc", "to_addr": G1}, "forwards[0].port='abc'"),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input_fails_before_any_change(nat_lab, backend, forward, needle):
    lab = nat_lab
    lab.hv.module(M, dnat(backend, [{"port": 8080, "to_addr": G1}], name="keep"))
    before = lab.ruleset()
    for check_mode in (True, False):
        res = lab.hv.module(M, dnat(backend, [forward]), check_mode=check_mode)
        assert res["rc"] != 0 and needle in res["msg"], res
    assert lab.ruleset() == before


def test_duplicate_ports_are_refused(netns):
    res = netns.module(M, {"name": "dup", "forwards": [{"port": "80-90", "to_addr": G1},
                                                       {"port": 85, "to_addr": "192.168.100.3"}]})
    assert res["rc"] != 0 and "tcp port 85 is already forwarded by forwards[0]" in res["msg"]
