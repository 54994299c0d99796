# -*- coding: utf-8 -*-
"""guest_network's overlay for real: three hypervisors (namespaces h1, h2, h3 on one
underlay bridge, with "wan" playing the internet there) each run the same network with a
static VXLAN overlay; guests (namespaces on veth ports) reach each other across all pairs,
learn the overlay's MTU by DHCP (a DF packet one byte too big fails in the guest, not
silently on the way), see the same gateway MAC everywhere, get exactly one DHCP offer (their
own hypervisor's), leave through their own hypervisor's uplink, and keep working after
moving to another hypervisor. One hypervisor runs the iptables backend: the guard is
nftables' bridge table there too. The hosts share /run here, so each one's bridge has a
name of its own (dnsmasq's run files are named by the bridge)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import jinja2
import pytest

from conftest import NatLab

HERE = os.path.dirname(os.path.abspath(__file__))
DHCP_CLIENT = os.path.join(HERE, "dhcp_client.py")
UNDERLAY = "198.51.100.%d"
WAN = UNDERLAY % 254
GATEWAY = "192.168.100.1"
BACKENDS = {1: "nftables", 2: "nftables", 3: "iptables"}
FRR = "/usr/lib/frr"
TEMPLATE = os.path.join(HERE, "..", "..", "roles", "fabric", "templates", "frr.conf.j2")


class Fabric(object):
    """The hypervisors, their guests and the internet."""

    def __init__(self, make_netns):
        self.underlay = make_netns("hn-ul")
        self.underlay.run("ip", "link", "add", "ul", "type", "bridge")
        self.underlay.run("ip", "link", "set", "ul", "up")
        self.wan = make_netns("hn-wan")
        self._wire(self.wan, "eth0", WAN)
        self.hosts, self.guests = {}, {}
        for n in (1, 2, 3):
            host = make_netns("hn-h%d" % n)
            self._wire(host, "up0", UNDERLAY % n)
            host.run("ip", "route", "add", "default", "via", WAN)
            host.run("sh", "-c", "[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || "
                                 "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables")
            self.hosts[n] = host
            self.guests[n] = self.plug(make_netns("hn-g%d" % n), host, "vg%d" % n, "192.168.100.%d" % (10 + n))
        self.lab = NatLab(self.hosts[1], self.wan, self.guests[1], self.guests[2])

    def _wire(self, ns, dev, address):
        port = "p-%s" % ns.name[-6:]
        self.underlay.run("ip", "link", "add", port, "type", "veth", "peer", "name", dev, "netns", ns.name)
        self.underlay.run("ip", "link", "set", port, "master", "ul")
        self.underlay.run("ip", "link", "set", port, "up")
        ns.run("ip", "addr", "add", address + "/24", "dev", dev)
        ns.run("ip", "link", "set", dev, "up")

    @staticmethod
    def plug(guest, host, port, address, mac=None):
        """The guest's eth0 as a veth port ``port`` of ``host`` (not enslaved: the module does)."""
        host.run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", guest.name)
        host.run("ip", "link", "set", port, "up")
        if mac:
            guest.run("ip", "link", "set", "eth0", "address", mac)
        guest.run("ip", "addr", "add", address + "/24", "dev", "eth0")
        guest.run("ip", "link", "set", "eth0", "up")
        guest.run("ip", "route", "add", "default", "via", GATEWAY)
        return guest


def network(n, **overlay):
    return {"name": "ovh%d" % n, "addresses": [GATEWAY + "/24"], "ports": ["vg%d" % n], "backend": BACKENDS[n],
            "qemu_acl": False, "dhcp": {"range": "192.168.100.%d-192.168.100.%d" % (100 + 20 * n, 119 + 20 * n)},
            "overlay": dict({"vni": 100, "peers": [UNDERLAY % i for i in (1, 2, 3)]}, **overlay)}


def dhcp(guest, *argv):
    """dhcp_client.py in ``guest``: its JSON answer."""
    return json.loads(guest.run(sys.executable, DHCP_CLIENT, *argv).stdout)


def ping(guest, address, size=56, df=False, count=1, timeout=2):
    argv = ["ping", "-c", str(count), "-W", str(timeout), "-s", str(size)] + (["-M", "do"] if df else []) + [address]
    return guest.run(*argv, check=False)


def until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def fabric(make_netns):
    fab = Fabric(make_netns)
    try:
        yield fab
    finally:
        fab.lab.stop()
        for n, host in fab.hosts.items():
            host.module("guest_network", dict(network(n), state="absent"))


def test_static_overlay_across_three_hypervisors(fabric):
    results = {}
    for n, host in fabric.hosts.items():
        args = network(n)
        check = host.module("guest_network", args, check_mode=True)
        applied = host.module("guest_network", args)
        assert applied["rc"] == 0 and applied["changed"], applied
        assert applied["actions"] == check["actions"] and applied["network"] == check["network"]
        again = host.module("guest_network", args)
        assert again["changed"] is False and again["actions"] == [], again
        results[n] = applied
    port = results[1]["network"]["overlay"]
    assert port["name"] == "vxlan100" and port["mtu"] == 1450 and port["peers"] == [UNDERLAY % 2, UNDERLAY % 3]
    assert results[2]["network"]["overlay"]["peers"] == [UNDERLAY % 1, UNDERLAY % 3]
    # the anycast gateway: one MAC everywhere
    macs = set(r["network"]["bridge"]["mac"] for r in results.values())
    assert len(macs) == 1, macs
    for n, host in fabric.hosts.items():
        link = host.json("ip", "-d", "-j", "link", "show", "vxlan100")[0]
        assert link["mtu"] == 1450 and link["master"] == "ovh%d" % n
        assert link["linkinfo"]["info_slave_data"]["neigh_suppress"] is True
        assert host.json("ip", "-j", "link", "show", "ovh%d" % n)[0]["mtu"] == 1450
        assert "table bridge hypervisor_networking" in host.run("nft", "list", "tables").stdout

    # DHCP: a lease from the guest's own hypervisor, with the overlay's MTU; then one offer
    # (the guests keep their fixed addresses too: the ones the pings below use)
    for n, guest in fabric.guests.items():
        lease = dhcp(guest, "lease", "eth0")
        low = 100 + 20 * n
        assert lease["type"] == "ACK" and low <= int(lease["address"].rsplit(".", 1)[1]) < low + 20, lease
        assert lease["mtu"] == 1450 and lease["router"] == [GATEWAY]
        guest.run("ip", "link", "set", "eth0", "mtu", str(lease["mtu"]))
        offers = dhcp(guest, "offers", "eth0", "2")
        assert [o["address"] for o in offers] == [lease["address"]], offers

    # every pair, and the same gateway MAC in every guest's neighbour table
    for a, guest in fabric.guests.items():
        for b in (1, 2, 3):
            if a != b:
                assert ping(guest, "192.168.100.%d" % (10 + b), count=1, timeout=3).returncode == 0, (a, b)
        assert ping(guest, GATEWAY).returncode == 0
        neigh = guest.json("ip", "-j", "neigh", "show", GATEWAY)
        assert neigh and neigh[0]["lladdr"] == next(iter(macs)), neigh
    # the MTU: a DF packet of MTU-28 bytes crosses; one byte more fails in the guest itself
    assert ping(fabric.guests[1], "192.168.100.12", size=1450 - 28, df=True).returncode == 0
    big = ping(fabric.guests[1], "192.168.100.12", size=1450 - 27, df=True)
    assert big.returncode != 0 and "too long" in (big.stdout + big.stderr), big

    # net_info: the tunnel endpoints and the MACs behind them (learnt from the traffic)
    info = fabric.hosts[1].module("net_info", {"gather": ["overlay"]})["overlay"]
    (view,) = info["networks"]
    assert view["network"] == "ovh1" and view["vni"] == 100 and view["control_plane"] == "static"
    assert view["vteps"] == [UNDERLAY % 2, UNDERLAY % 3] and view["managed"] and view["mtu"] == 1450
    mac3 = fabric.guests[3].json("ip", "-j", "link", "show", "eth0")[0]["address"]
    assert {"mac": mac3, "vtep": UNDERLAY % 3, "learnt": "traffic"} in view["remote_macs"], view
    assert info["bgp"] is None  # no FRR answers here

    # out through its own hypervisor's uplink
    fabric.lab.serve(fabric.wan, "tcp", 7000)
    assert NatLab.connect(fabric.guests[2], "tcp", WAN, 7000) == "peer=%s" % (UNDERLAY % 2)
    assert NatLab.connect(fabric.guests[3], "tcp", WAN, 7000) == "peer=%s" % (UNDERLAY % 3)

    # a guest moves from h1 to h2 (same MAC and address): it reaches the others again at once
    g1, mac = fabric.guests[1], fabric.guests[1].json("ip", "-j", "link", "show", "eth0")[0]["address"]
    fabric.hosts[1].run("ip", "link", "del", "vg1")
    start = time.monotonic()
    fabric.plug(g1, fabric.hosts[2], "vg1b", "192.168.100.11", mac=mac)
    g1.run("ip", "link", "set", "eth0", "mtu", "1450")
    fabric.hosts[2].run("ip", "link", "set", "vg1b", "master", "ovh2")
    assert until(lambda: ping(g1, "192.168.100.13", timeout=1).returncode == 0, 3.0)
    assert until(lambda: ping(g1, GATEWAY, timeout=1).returncode == 0, 3.0)
    assert until(lambda: ping(fabric.guests[3], "192.168.100.11", timeout=1).returncode == 0, 3.0)
    assert time.monotonic() - start < 3.0 + 3.0  # plugging in, then within 3 s

    # h3 leaves the peers of h1 and h2: their flooding lists follow, nothing else changes
    for n in (1, 2):
        args = network(n, peers=[UNDERLAY % 1, UNDERLAY % 2])
        args["ports"] = {1: [], 2: ["vg2", "vg1b"]}[n]  # g1 moved to h2
        result = fabric.hosts[n].module("guest_network", args)
        assert result["rc"] == 0, result
        assert [a for a in result["actions"] if "vxlan100" in a] == [
            "remove %s from the flooding list of vxlan100" % (UNDERLAY % 3)], result["actions"]
        fdb = fabric.hosts[n].run("bridge", "fdb", "show", "dev", "vxlan100").stdout
        assert "00:00:00:00:00:00 dst %s " % (UNDERLAY % 3) not in fdb


def test_guard_keeps_gateway_and_dhcp_off_the_tunnel(fabric):
    """Without the guard a DISCOVER meets every hypervisor's dnsmasq: with the guards' tables
    dropped by hand the guest on h1 hears three offers (the test can fail)."""
    for n, host in fabric.hosts.items():
        assert host.module("guest_network", network(n))["rc"] == 0
    guest = fabric.guests[1]
    # dnsmasq checks an address with a ping before its first offer (up to 3 s): 6 s to hear all
    assert len(dhcp(guest, "offers", "eth0", "6")) == 1
    for host in fabric.hosts.values():
        host.run("nft", "delete", "table", "bridge", "hypervisor_networking")
    offers = dhcp(guest, "offers", "eth0", "6")
    assert len(offers) == 3, offers
    # a re-run puts the guard back, and it holds again
    for n in (1, 2, 3):
        result = fabric.hosts[n].module("guest_network", network(n))
        assert result["changed"] and any("(bridge)" in a for a in result["actions"]), result
    assert len(dhcp(guest, "offers", "eth0", "3")) == 1


def test_overlay_absent_and_dropped(fabric):
    host = fabric.hosts[1]
    assert host.module("guest_network", network(1))["rc"] == 0
    # a new VNI replaces the port; no overlay removes it and the guard
    moved = host.module("guest_network", network(1, vni=200))
    assert "delete vxlan100" in moved["actions"] and any(a.startswith("create vxlan200") for a in moved["actions"])
    plain = dict(network(1))
    del plain["overlay"]
    dropped = host.module("guest_network", plain)
    assert "delete vxlan200" in dropped["actions"], dropped
    assert "vxlan200" not in host.run("ip", "link", "show").stdout
    assert "bridge hypervisor_networking" not in host.run("nft", "list", "tables").stdout
    assert host.module("guest_network", network(1))["rc"] == 0
    gone = host.module("guest_network", dict(network(1), state="absent"))
    assert gone["rc"] == 0 and "delete vxlan100" in gone["actions"], gone
    assert "vxlan" not in host.run("ip", "link", "show").stdout
    assert "hypervisor_networking" not in host.run("nft", "list", "tables").stdout


def test_overlay_persisted_and_failure_undone(fabric, tmp_path):
    """networkd's files for the port (ifupdown's in the unit tests), and a failure at each
    overlay step leaves the host as it was."""
    host = fabric.hosts[1]
    args = dict(network(1), persist=True, renderer="networkd")
    result = host.module("guest_network", args, etc=tmp_path / "etc")
    assert result["rc"] == 0, result
    netdev = (tmp_path / "etc" / "upper" / "systemd" / "network" / "00-hypervisor-networking-overlay-ovh1.netdev")
    text = netdev.read_text()
    assert "VNI=100" in text and "Local=%s" % (UNDERLAY % 1) in text and "MTUBytes=1450" in text
    network_file = netdev.with_suffix(".network").read_text()
    assert "NeighborSuppression=yes" in network_file and "Destination=%s" % (UNDERLAY % 3) in network_file
    gone = host.module("guest_network", dict(args, state="absent"), etc=tmp_path / "etc")
    assert gone["rc"] == 0 and not netdev.exists()
    for step in ("create vxlan100", "attach vxlan100", "set vxlan100 learning", "flooding list of vxlan100@2",
                 "bridge"):
        before = host.run("ip", "-d", "link", "show").stdout, host.run("nft", "list", "ruleset").stdout
        failed = host.module("guest_network", network(1), env={"HYPERVISOR_NETWORKING_FAILPOINT": step})
        assert failed["rc"] != 0 and "failpoint" in failed["msg"], (step, failed)
        after = host.run("ip", "-d", "link", "show").stdout, host.run("nft", "list", "ruleset").stdout
        assert after == before, step


class Frr(object):
    """zebra and bgpd of one hypervisor namespace, private paths, configured with the fabric
    role's own template (the role itself runs in molecule/fabric, with systemd)."""

    def __init__(self, host, where, local, peers):
        # FRR's daemons run as user frr: a directory it can reach (pytest's are root's only)
        self.host, self.where = host, tempfile.mkdtemp(prefix="hn-frr-%s-" % where)
        os.chmod(self.where, 0o755)
        shutil.chown(self.where, "frr", "frr")
        with open(TEMPLATE) as handle:
            template = jinja2.Template(handle.read(), trim_blocks=True)
        conf = template.render(__fabric={"asn": 65000, "local": local, "bfd": False, "local_lines": "",
                                         "groups": [{"name": "fabric", "clients": False, "peers": peers}]})
        self.conf = os.path.join(self.where, "frr.conf")
        with open(self.conf, "w") as handle:
            handle.write(conf)
        assert subprocess.run(["vtysh", "-C", "-f", self.conf], capture_output=True, check=False).returncode == 0
        for daemon in ("zebra", "bgpd"):
            host.run(os.path.join(FRR, daemon), "-d", "-f", self.conf, "-i", self.path(daemon + ".pid"),
                     "-z", self.path("zserv.api"), "--vty_socket", self.where, "--log",
                     "file:" + self.path(daemon + ".log"))

    def path(self, name):
        return os.path.join(self.where, name)

    def vtysh(self, command):
        out = self.host.run("vtysh", "--vty_socket", self.where, "-c", command).stdout
        return json.loads(out) if command.endswith(" json") else out

    def established(self):
        peers = self.vtysh("show bgp l2vpn evpn summary json").get("peers", {})
        return sorted(p for p, state in peers.items() if state.get("state") == "Established")

    def stop(self):
        for daemon in ("bgpd", "zebra"):
            try:
                with open(self.path(daemon + ".pid")) as handle:
                    os.kill(int(handle.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                continue
        shutil.rmtree(self.where, ignore_errors=True)


@pytest.mark.skipif(not os.path.exists(os.path.join(FRR, "bgpd")), reason="FRR is not installed (scripts/host-deps.sh "
                    "installs it)")
def test_evpn_overlay_learns_from_bgp(fabric):
    """control_plane: evpn - no flooding list of ours, no learning on the port: FRR's EVPN
    routes give the tunnel endpoints and the guests' MACs; a moved guest is found again."""
    routers = {}
    try:
        for n, host in fabric.hosts.items():
            args = network(n, control_plane="evpn", peers=[])
            applied = host.module("guest_network", args)
            assert applied["rc"] == 0, applied
            port = applied["network"]["overlay"]
            assert port["control_plane"] == "evpn" and port["peers"] == []
            link = host.json("ip", "-d", "-j", "link", "show", "vxlan100")[0]
            assert link["linkinfo"]["info_data"]["learning"] is False
            assert link["linkinfo"]["info_slave_data"]["learning"] is False
            routers[n] = Frr(host, "h%d" % n, UNDERLAY % n, [UNDERLAY % i for i in (1, 2, 3) if i != n])
        for n, frr in routers.items():
            others = sorted(UNDERLAY % i for i in (1, 2, 3) if i != n)
            assert until(lambda: frr.established() == others, 30.0), frr.vtysh("show bgp l2vpn evpn summary")
        # the tunnel endpoints from BGP (type-3 routes): zebra's flooding list, not ours
        assert until(lambda: all(len([l for l in fabric.hosts[n].run("bridge", "fdb", "show", "dev", "vxlan100")
                                      .stdout.splitlines() if l.startswith("00:00:00:00:00:00")]) == 2
                                 for n in routers), 10.0)
        for guest in fabric.guests.values():
            guest.run("ip", "link", "set", "eth0", "mtu", "1450")
        for a, guest in fabric.guests.items():
            for b in (1, 2, 3):
                if a != b:
                    assert until(lambda: ping(guest, "192.168.100.%d" % (10 + b), timeout=1).returncode == 0, 10.0)
        # the guests' MACs from BGP (type-2 routes), installed as extern_learn
        mac2 = fabric.guests[2].json("ip", "-j", "link", "show", "eth0")[0]["address"]
        fdb = fabric.hosts[1].run("bridge", "fdb", "show", "dev", "vxlan100").stdout
        assert any(l.startswith(mac2) and "extern_learn" in l and "dst %s" % (UNDERLAY % 2) in l
                   for l in fdb.splitlines()), fdb
        (view,) = fabric.hosts[1].module("net_info", {"gather": ["overlay"]})["overlay"]["networks"]
        assert view["control_plane"] == "evpn" and view["vteps"] == [UNDERLAY % 2, UNDERLAY % 3]
        assert {"mac": mac2, "vtep": UNDERLAY % 2, "learnt": "bgp"} in view["remote_macs"], view
        # a re-run leaves zebra's entries alone
        again = fabric.hosts[1].module("guest_network", network(1, control_plane="evpn", peers=[]))
        assert again["changed"] is False, again
        # the guest moves from h1 to h2: BGP's MAC mobility points the others at h2
        g1 = fabric.guests[1]
        mac = g1.json("ip", "-j", "link", "show", "eth0")[0]["address"]
        fabric.hosts[1].run("ip", "link", "del", "vg1")
        fabric.plug(g1, fabric.hosts[2], "vg1b", "192.168.100.11", mac=mac)
        g1.run("ip", "link", "set", "eth0", "mtu", "1450")
        fabric.hosts[2].run("ip", "link", "set", "vg1b", "master", "ovh2")
        start = time.monotonic()
        assert until(lambda: ping(g1, "192.168.100.13", timeout=1).returncode == 0, 3.0)
        assert until(lambda: ping(fabric.guests[3], "192.168.100.11", timeout=1).returncode == 0, 3.0)
        assert time.monotonic() - start < 3.0
        assert until(lambda: any(l.startswith(mac) and "dst %s" % (UNDERLAY % 2) in l for l in fabric.hosts[3].run(
            "bridge", "fdb", "show", "dev", "vxlan100").stdout.splitlines()), 3.0)
    finally:
        for frr in routers.values():
            frr.stop()


def test_diagnose_names_the_broken_underlay(fabric):
    """net_diagnose walks the overlay: its port, then each other hypervisor (full-size
    don't-fragment packets, the UDP port); a narrower path and a missing port are named."""
    for n, host in fabric.hosts.items():
        assert host.module("guest_network", network(n))["rc"] == 0
    h1 = fabric.hosts[1]
    healthy = h1.module("net_diagnose", {"network": "ovh1"})
    steps = dict((s["name"], s) for s in healthy["steps"])
    assert steps["overlay vxlan100"]["ok"] and steps["underlay -> %s" % (UNDERLAY % 2)]["ok"], healthy["report"]
    assert "1472-byte" in steps["underlay -> %s" % (UNDERLAY % 3)]["evidence"]
    # h3's side of the underlay is narrower than h1's uplink: named, with the size
    port3 = "p-%s" % fabric.hosts[3].name[-6:]
    fabric.underlay.run("ip", "link", "set", port3, "mtu", "1400")
    fabric.hosts[3].run("ip", "link", "set", "up0", "mtu", "1400")
    narrow = h1.module("net_diagnose", {"network": "ovh1"})
    assert not narrow["healthy"] and narrow["verdict"].startswith("underlay -> %s" % (UNDERLAY % 3)), narrow["verdict"]
    assert "narrower" in narrow["verdict"]
    fabric.underlay.run("ip", "link", "set", port3, "mtu", "1500")
    fabric.hosts[3].run("ip", "link", "set", "up0", "mtu", "1500")
    # h2 has no VXLAN port any more: it refuses the tunnel's UDP port
    fabric.hosts[2].run("ip", "link", "del", "vxlan100")
    gone = h1.module("net_diagnose", {"network": "ovh1"})
    assert gone["verdict"].startswith("underlay -> %s" % (UNDERLAY % 2)) and "refuses UDP 4789" in gone["verdict"], \
        gone["verdict"]
