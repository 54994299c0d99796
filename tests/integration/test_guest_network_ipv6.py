# -*- coding: utf-8 -*-
"""guest_network dual stack, for real in network namespaces, on both backends: the uplink
takes its IPv6 default route from the internet's router advertisements and keeps it when
the network turns IPv6 forwarding on; the guests get SLAAC addresses from the network's
own advertisements (MTU and resolver in them) or DHCPv6 addresses; NAT66 out (the server
sees the uplink's address), a published IPv6 port in, an uplink neighbour that routes the
guests' subnets via the host reaches no unpublished port in either family, ipv6_nat false
routes the subnet with the same isolation; absent takes it all."""

from __future__ import annotations

import glob
import os
import signal
import time

import pytest

from conftest import NatLab, four_step
from test_dhcp import Lab

NET6, GW6, G1_6 = "fd00:100::/64", "fd00:100::1", "fd00:100::2"
WAN6 = "2001:db8:1::2"


class Lab6(Lab):
    """test_dhcp's Lab, and: wan (2001:db8:1::2/64) advertises 2001:db8:1::/64 with itself
    as the default router to hv's up0 (a dnsmasq of its own); g1 has fd00:100::2/64 too
    (the published port's target), g2 only what the network's advertisements give it."""

    def __init__(self, hv, make_netns, tmp_path):
        # notes under /run keyed by a namespace inode outlive the namespace: a new one may
        # reuse the inode of one that is gone
        inode = hv.run("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
        for stale in glob.glob("/run/hypervisor-networking/*-%s*" % inode):
            os.unlink(stale)
        # and a run's leases outlive a test that left its network up: a new guest's DUID
        # would find its fixed address leased to the last one's
        for stale in glob.glob("/run/hypervisor-networking/dnsmasq/brd0.*"):
            os.unlink(stale)
        super(Lab6, self).__init__(hv, make_netns, tmp_path)
        self.tmp = tmp_path
        self.wan.run("sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=0")  # the router: its own RAs are not for it
        self.wan.run("ip", "-6", "addr", "add", WAN6 + "/64", "dev", "eth0", "nodad")
        conf = tmp_path / "wan-ra.conf"
        conf.write_text("interface=eth0\nbind-dynamic\nport=0\nenable-ra\nra-param=eth0,10,1800\n"
                        "dhcp-range=2001:db8:1::,ra-only,64,1h\npid-file=%s\ndhcp-leasefile=%s\n"
                        % (tmp_path / "wan-ra.pid", tmp_path / "wan-ra.leases"))
        self.wan.run("dnsmasq", "--conf-file=%s" % conf)
        self.guests[0].run("ip", "-6", "addr", "add", G1_6 + "/64", "dev", "eth0", "nodad")
        self.uplink6 = wait(lambda: self.global6(hv, "up0"), "hv's SLAAC address on up0")
        wait(lambda: self.default6(hv), "hv's default route from the internet's advertisements")

    @staticmethod
    def global6(ns, dev):
        """The link's global IPv6 address (None: none yet)."""
        found = [a["local"] for i in ns.json("ip", "-j", "-6", "addr", "show", "dev", dev)
                 for a in i["addr_info"] if a["scope"] == "global" and not a.get("tentative")]
        return found[0] if found else None

    @staticmethod
    def default6(ns):
        return ns.json("ip", "-j", "-6", "route", "show", "default")

    def stop(self):
        try:
            os.kill(int((self.tmp / "wan-ra.pid").read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        super(Lab6, self).stop()


class Sandboxed(object):
    """hv whose module runs see the Lab's /etc overlay (its resolv.conf names the wan's DNS:
    the network's dnsmasq never asks a resolver of the machine)."""

    def __init__(self, lab):
        self.lab = lab

    def module(self, name, args, check_mode=False):
        return self.lab.hv.module(name, args, check_mode=check_mode, etc=self.lab.etc)


def wait(probe, what, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("no %s within %d s" % (what, seconds))


@pytest.fixture
def lab6(netns, make_netns, tmp_path):
    made = Lab6(netns, make_netns, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def dual(backend, **extra):
    args = {"name": "brd0", "addresses": ["192.168.100.1/24", GW6 + "/64"], "ports": ["vg1", "vg2"],
            "qemu_acl": False, "backend": backend, "persist": False, "uplink": "up0",
            "dhcp": {"dns": True},
            "forwards": [{"port": 8080, "to_addr": G1_6, "to_port": 80},
                         {"port": 8080, "to_addr": "192.168.100.2", "to_port": 80}]}
    args.update(extra)
    return args


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_dual_stack_network(lab6, backend):
    lab, hv, g1, g2 = lab6, lab6.hv, lab6.guests[0], lab6.guests[1]
    g1.run("ip", "addr", "add", "192.168.100.2/24", "dev", "eth0")
    g1.run("ip", "route", "add", "default", "via", "192.168.100.1")
    serve = NatLab(hv, lab.wan, g1, g2)  # its servers and probes
    serve.serve(g1, "tcp", 80)
    serve.serve(g1, "tcp", 22)
    serve.serve(lab.wan, "tcp", 80)
    try:
        res = four_step(Sandboxed(lab), "guest_network", dual(backend), "network")
        # the uplink keeps its default route from the internet's advertisements
        assert res["ra_uplinks"] == ["up0"]
        assert hv.run("sysctl", "-n", "net.ipv6.conf.up0.accept_ra").stdout.strip() == "2"
        assert hv.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip() == "1"
        assert lab.default6(hv), "the RA default route went with IPv6 forwarding"
        assert res["network"]["masquerade6"]["source"] == NET6 and res["network"]["dhcp"]["ipv6_ra"] == "slaac"
        # g2 configures itself from the network's advertisements, which carry the MTU and the resolver
        g2_6 = wait(lambda: lab.global6(g2, "eth0"), "g2's SLAAC address")
        assert g2_6.startswith("fd00:100::")
        ra = g2.run("rdisc6", "-1", "eth0").stdout
        assert "MTU                      :         1500 bytes" in ra and "Recursive DNS server" in ra, ra
        wait(lambda: lab.default6(g2), "g2's default route from the network's advertisements")
        # NAT66: the internet sees the uplink's address
        assert serve.connect(g2, "tcp", WAN6, 80) == "peer=%s" % lab.uplink6
        # the published port in both families; the guest sees the real client (g1's first IPv6
        # exchange with hv, neighbour discovery included: a few tries within 10 s)
        wait(lambda: serve.connect(lab.wan, "tcp", lab.uplink6, 8080) == "peer=%s" % WAN6,
             "answer from g1 through the published port (IPv6)", 10)
        assert serve.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
        # a neighbour routing the guests' subnets via the host reaches no unpublished port
        lab.wan.run("ip", "-6", "route", "add", NET6, "via", lab.uplink6)
        lab.wan.run("ip", "route", "add", "192.168.100.0/24", "via", "203.0.113.1")
        assert serve.connect(lab.wan, "tcp", G1_6, 22, timeout=1) is None
        assert serve.connect(lab.wan, "tcp", "192.168.100.2", 22, timeout=1) is None
        # ipv6_nat false: the subnet is routed (the server sees the guest), isolated all the same
        routed = four_step(Sandboxed(lab), "guest_network", dual(backend, ipv6_nat=False), "network")
        assert routed["network"]["masquerade6"]["mode"] == "routed"
        assert serve.connect(g2, "tcp", WAN6, 80) == "peer=%s" % g2_6
        assert serve.connect(lab.wan, "tcp", G1_6, 22, timeout=1) is None
        assert serve.connect(lab.wan, "tcp", lab.uplink6, 8080) == "peer=%s" % WAN6
        # absent: nothing of ours left in either family; the uplink still has its default route
        gone = {"name": "brd0", "state": "absent", "backend": backend, "persist": False, "qemu_acl": False}
        four_step(Sandboxed(lab), "guest_network", gone, "network")
        nft = hv.run("nft", "list", "ruleset").stdout
        legacy = hv.run("ip6tables-legacy-save", check=False).stdout + hv.run("iptables-legacy-save").stdout
        assert "hypervisor_networking" not in nft and "HN-" not in legacy.replace("HN-USER", ""), (nft, legacy)
        # IPv6 forwarding was ours to turn on: off again, the uplink takes advertisements as before
        assert hv.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip() == "0"
        assert hv.run("sysctl", "-n", "net.ipv6.conf.up0.accept_ra").stdout.strip() == "1"
        assert hv.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"  # IPv4's stays, as documented
        assert lab.default6(hv)
    finally:
        serve.stop()


def test_stateful_dhcpv6_and_aaaa(lab6):
    lab, g2 = lab6, lab6.guests[1]
    mac = g2.json("ip", "-j", "link", "show", "eth0")[0]["address"]
    dhcp = {"range6": "fd00:100::100-fd00:100::1ff", "domain": "lab.test", "hosts": [
        {"mac": mac, "address": "192.168.100.33", "address6": "fd00:100::33", "name": "vm2"}]}
    res = four_step(Sandboxed(lab), "guest_network", dual("nftables", ipv6_ra="stateful", dhcp=dhcp, forwards=[]), "network")
    assert res["network"]["dhcp"]["range6"] == "fd00:100::100-fd00:100::1ff"
    ra = g2.run("rdisc6", "-1", "eth0").stdout
    assert "Stateful address conf.    :          Yes" in ra, ra
    # a real DHCPv6 client, its script writing only under the test's directory
    script = lab.tmp / "dhclient6.sh"
    script.write_text("#!/bin/sh\ncase \"$reason\" in BOUND6|REBOOT6|RENEW6)\n"
                      "  ip -6 addr add \"$new_ip6_address/$new_ip6_prefixlen\" dev \"$interface\" nodad;;\nesac\n")
    script.chmod(0o755)
    g2.run("timeout", "20", "dhclient", "-6", "-1", "-sf", str(script), "-lf", str(lab.tmp / "g2.leases6"),
           "-pf", str(lab.tmp / "g2.pid6"), "eth0")
    try:
        assert lab.global6(g2, "eth0") == "fd00:100::33"
    finally:
        g2.run("dhclient", "-6", "-x", "-pf", str(lab.tmp / "g2.pid6"), "-lf", str(lab.tmp / "g2.leases6"),
               "-sf", str(script), "eth0", check=False)
    assert lab.client(g2, "query", GW6, "vm2.lab.test", "AAAA") == ["fd00:100::33"]
    assert lab.client(g2, "query", GW6, "vm2.lab.test") == ["192.168.100.33"]


@pytest.mark.parametrize("args,needle", [
    ({"addresses": ["192.168.100.1/24", "fd00:100::1/80"]}, "a /64 only"),
    ({"addresses": ["192.168.100.1/24", "fd00:100::/64"]}, "subnet-router anycast"),
    ({"dhcp": {"range6": "fd00:100::10-fd00:100::20"}}, "dhcp.range6='fd00:100::10-fd00:100::20': DHCPv6 addresses"),
    ({"ipv6_ra": "stateful", "dhcp": {"dns": True}}, "ipv6_ra='stateful': hands out DHCPv6 addresses"),
    ({"ipv6_ra": "stateful", "dhcp": {"range6": "fd00:200::10-fd00:200::20"}}, "outside the bridge's subnet"),
    ({"masquerade_exclude": ["fd00::1/64"]}, "masquerade_exclude="),
])
def test_bad_dual_stack_input_fails_before_any_change(lab6, args, needle):
    def state():
        probes = (("ip", "-br", "addr"), ("nft", "list", "ruleset"), ("sysctl", "net.ipv6.conf.all.forwarding"))
        return [lab6.hv.run(*argv).stdout for argv in probes]
    before = state()
    res = Sandboxed(lab6).module("guest_network", dual("nftables", **args))
    assert res["rc"] != 0 and needle in res["msg"], res
    assert state() == before


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_routed_and_isolated_modes(lab6, backend):
    lab, hv, g1, g2 = lab6, lab6.hv, lab6.guests[0], lab6.guests[1]
    g1.run("ip", "addr", "add", "192.168.100.2/24", "dev", "eth0")
    g1.run("ip", "route", "add", "default", "via", "192.168.100.1")
    g2.run("ip", "addr", "add", "192.168.100.3/24", "dev", "eth0")
    g2.run("ip", "route", "add", "default", "via", "192.168.100.1")
    # the upstream routes the guests' subnets to this host
    lab.wan.run("ip", "-6", "route", "add", NET6, "via", lab.uplink6)
    lab.wan.run("ip", "route", "add", "192.168.100.0/24", "via", "203.0.113.1")
    serve = NatLab(hv, lab.wan, g1, g2)
    for port in (22, 80):
        serve.serve(g1, "tcp", port)
    serve.serve(lab.wan, "tcp", 80)
    try:
        allow = [{"port": 22, "to_addr": G1_6}, {"port": "20-22", "to_addr": "192.168.100.2", "sources": ["203.0.113.0/24"]}]
        res = four_step(Sandboxed(lab), "guest_network", dual(backend, mode="routed", allow_inbound=allow,
                                                              forwards=[{"port": 8080, "to_addr": "192.168.100.2",
                                                                         "to_port": 80}]), "network")
        assert res["network"]["masquerade"]["mode"] == "routed"
        # no NAT in either family: the internet sees the guest
        assert serve.connect(g1, "tcp", "203.0.113.2", 80) == "peer=192.168.100.2"
        wait(lambda: lab.default6(g1), "g1's default route from the network's advertisements")
        assert serve.connect(g1, "tcp", WAN6, 80) == "peer=%s" % G1_6
        # inbound: what allow_inbound names, published ports, nothing else
        assert serve.connect(lab.wan, "tcp", "192.168.100.2", 22) == "peer=203.0.113.2"
        assert serve.connect(lab.wan, "tcp", G1_6, 22) == "peer=%s" % WAN6
        assert serve.connect(lab.wan, "tcp", "192.168.100.2", 80, timeout=1) is None
        assert serve.connect(lab.wan, "tcp", G1_6, 80, timeout=1) is None
        assert serve.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
        # isolated: nothing beyond the bridge either way; guests, host and the network's DNS reachable
        res = four_step(Sandboxed(lab), "guest_network", dual(backend, mode="isolated", forwards=[]), "network")
        assert res["network"]["masquerade"]["mode"] == "isolated"
        assert serve.connect(g1, "tcp", "203.0.113.2", 80, timeout=1) is None
        assert serve.connect(g1, "tcp", WAN6, 80, timeout=1) is None
        assert serve.connect(lab.wan, "tcp", "192.168.100.2", 22, timeout=1) is None
        assert serve.connect(lab.wan, "tcp", G1_6, 22, timeout=1) is None
        assert serve.connect(g2, "tcp", "192.168.100.2", 80) == "peer=192.168.100.3"
        assert serve.connect(g2, "tcp", G1_6, 80).startswith("peer=fd00:100::")
        assert lab.client(g1, "query", "192.168.100.1", "www.example.test") == ["203.0.113.80"]
    finally:
        serve.stop()


def test_diagnose_an_ipv6_guest_names_the_broken_hop(lab6):
    lab, hv, g1 = lab6, lab6.hv, lab6.guests[0]
    four_step(Sandboxed(lab), "guest_network", dual("nftables"), "network")
    wait(lambda: lab.default6(g1), "g1's default route from the network's advertisements")

    def diagnose():
        res = hv.module("net_diagnose", {"network": "brd0", "guest": G1_6})
        assert res["rc"] == 0 and res["changed"] is False, res
        return res

    res = diagnose()
    assert res["healthy"], res["report"]
    steps = dict((s["name"], s) for s in res["steps"])
    assert steps["router advertisements on brd0"]["ok"] and "default route via fe80:" in \
        steps["router advertisements on brd0"]["evidence"]
    assert steps["NAT66"]["ok"] and steps["guest network -> outside (DNS to %s)" % GW6]["ok"]
    assert not glob_probes(hv), "the probe namespace stayed"
    # each broken hop, named
    hv.run("nft", "delete", "table", "ip6", "hypervisor_networking")
    assert diagnose()["verdict"].startswith("NAT66: no IPv6 set of this collection for brd0")
    hv.module("guest_network", dual("nftables"), etc=lab.etc)
    for pid in lab.dnsmasq():
        os.kill(pid, signal.SIGTERM)
    wait(lambda: not lab.dnsmasq(), "dnsmasq's end")
    assert diagnose()["verdict"].startswith("router advertisements on brd0: no router advertisement")
    hv.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
    assert diagnose()["verdict"].startswith("IPv6 forwarding: net.ipv6.conf.all.forwarding = 0")
    assert hv.module("net_diagnose", {"network": "brd0", "guest": "fd00:999::2"})["verdict"].startswith(
        "guest network brd0: brd0 has no IPv6 address of fd00:999::2's subnet")


def glob_probes(hv):
    return [n for n in hv.run("ip", "netns", "list").stdout.split() if n.startswith("hn-diag-")]


def test_a_slaac_guest_with_a_dhcpv4_lease_answers_aaaa_by_its_name(lab6):
    """ra-names: dnsmasq derives the SLAAC address of a guest that leased IPv4 from it and
    answers AAAA for its name once the guest answers there."""
    lab, g2 = lab6, lab6.guests[1]
    four_step(Sandboxed(lab), "guest_network", dual("nftables", forwards=[], dhcp={
        "range": "192.168.100.100-192.168.100.199", "domain": "lab.test"}), "network")
    slaac = wait(lambda: lab.global6(g2, "eth0"), "g2's SLAAC address")
    assert lab.client(g2, "lease", "eth0", "vm2")["type"] == "ACK"

    def answered():
        found = lab.client(g2, "query", GW6, "vm2.lab.test", "AAAA")
        return found if isinstance(found, list) and found else None
    assert wait(answered, "vm2's AAAA", seconds=30) == [slaac]
