# -*- coding: utf-8 -*-
"""linux_bridge migrate_from: the host's NIC moves into a bridge with its addresses,
routes and MAC, while a peer on the LAN keeps pinging it and holds a TCP session."""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import diff_files, four_step

TCP_PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_probe.py")


@pytest.fixture
def lan(netns, make_netns):
    """hv: eth0 198.51.100.10/24 + 2001:db8:1::10/64, default via .1 metric 100 and a
    static route; peer: 198.51.100.1 (the gateway) on the other end of the veth."""
    peer = make_netns("hn-peer")
    netns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer.name)
    for ns, last in ((netns, "10"), (peer, "1")):
        # no DAD: a link-local address still tentative would make snapshots differ by timing
        ns.run("sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0")
        # brd + as DHCP clients and the seed set it (an undo re-adds addresses that way)
        ns.run("ip", "addr", "add", "198.51.100.%s/24" % last, "brd", "+", "dev", "eth0")
        ns.run("ip", "addr", "add", "2001:db8:1::%s/64" % last, "dev", "eth0", "nodad")
        ns.run("ip", "link", "set", "eth0", "up")
    netns.run("ip", "route", "add", "default", "via", "198.51.100.1", "dev", "eth0", "metric", "100")
    netns.run("ip", "route", "add", "203.0.113.0/24", "via", "198.51.100.1", "dev", "eth0")
    return netns, peer


def mac_of(ns, name):
    return ns.json("ip", "-j", "link", "show", "dev", name)[0]["address"]


def routes(ns):
    return sorted((r["dst"], r.get("gateway"), r["dev"], r.get("metric")) for r in ns.json("ip", "-j", "route")
                  if r.get("protocol") != "kernel")


def test_migration_four_steps(lan):
    hv, _peer = lan
    mac = mac_of(hv, "eth0")
    args = {"name": "br0", "migrate_from": "eth0", "nf_call_iptables": False}
    result = four_step(hv, "linux_bridge", args, "bridge")
    assert result["bridge"]["addresses"] == ["198.51.100.10/24", "2001:db8:1::10/64"]
    assert result["bridge"]["ports"] == ["eth0"] and result["bridge"]["mac"] == mac
    assert "enslave eth0 in br0" in result["actions"]
    assert mac_of(hv, "br0") == mac
    assert [a for a in hv.json("ip", "-j", "addr", "show", "dev", "eth0")[0]["addr_info"]
            if a.get("scope") == "global"] == []
    assert routes(hv) == [("203.0.113.0/24", "198.51.100.1", "br0", None), ("default", "198.51.100.1", "br0", 100)]


def test_peer_keeps_reaching_the_host_during_migration(lan):
    hv, peer = lan
    server = subprocess.Popen(["ip", "netns", "exec", hv.name, sys.executable, TCP_PROBE, "server", "7777"],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "listening"
    client = subprocess.Popen(["ip", "netns", "exec", peer.name, sys.executable, "-c",
                               "import socket, sys\ns = socket.create_connection(('198.51.100.10', 7777), 5)\n"
                               "s.settimeout(5)\n"
                               "for line in sys.stdin:\n    s.sendall(line.encode()); print(s.recv(64).decode().strip(), flush=True)\n"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        client.stdin.write("before\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "before"
        # 400 pings 10 ms apart (4 s) while the module runs
        ping = subprocess.Popen(["ip", "netns", "exec", peer.name, "ping", "-n", "-q", "-i", "0.01", "-c", "400",
                                 "-W", "1", "198.51.100.10"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        result = hv.module("linux_bridge", {"name": "br0", "migrate_from": "eth0"})
        assert result["rc"] == 0 and result["changed"], result
        out = ping.communicate(timeout=30)[0]
        client.stdin.write("after\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "after", "the TCP session did not survive"
        summary = [line for line in out.splitlines() if "packets transmitted" in line][0]
        sent, received = int(summary.split()[0]), int(summary.split()[3])
        print("migration under ping: %s" % summary)
        # a few lost packets at most; the host never drops off
        assert sent == 400 and sent - received <= 10, summary
    finally:
        client.kill()
        server.kill()


def test_silent_gateway_reverts_everything(lan):
    hv, peer = lan
    hv.run("ip", "route", "replace", "default", "via", "198.51.100.254", "dev", "eth0", "metric", "100")
    before = hv.snapshot()
    before_routes = routes(hv)
    result = hv.module("linux_bridge", {"name": "br0", "migrate_from": "eth0"})
    assert result["rc"] != 0 and "did not answer ARP" in result["msg"], result
    assert result["rolled_back_actions"], result
    assert hv.snapshot() == before and routes(hv) == before_routes
    assert hv.run("ping", "-c", "1", "-W", "2", "198.51.100.1", check=False).returncode == 0
    del peer


@pytest.mark.parametrize("args,needle", [
    ({"name": "br0", "migrate_from": "nosuch0"}, "migrate_from='nosuch0'"),
    ({"name": "br0", "migrate_from": "br0"}, "is the bridge itself"),
    ({"name": "br0", "migrate_from": "x" * 16}, "migrate_from="),
])
def test_bad_source_fails_before_any_change(lan, args, needle):
    hv, _peer = lan
    before = hv.snapshot()
    for check_mode in (True, False):
        result = hv.module("linux_bridge", args, check_mode=check_mode)
        assert result["rc"] != 0 and needle in result["msg"], result
    assert hv.snapshot() == before
    assert json.dumps(before)  # the snapshot is real data, not empty


def wait_restored(ns, before, before_routes, timeout=5):
    """Poll until links, addresses and routes are as before (netlink settles a moment later)."""
    deadline = time.monotonic() + timeout
    while (ns.snapshot() != before or routes(ns) != before_routes) and time.monotonic() < deadline:
        time.sleep(0.2)


def migrated(ns):
    links = dict((l["ifname"], l) for l in ns.json("ip", "-j", "link"))
    return "br0" in links and links["eth0"].get("master") == "br0"


def test_unconfirmed_migration_reverts_itself(lan):
    hv, _peer = lan
    before, before_routes = hv.snapshot(), routes(hv)
    result = hv.module("linux_bridge", {"name": "br0", "migrate_from": "eth0", "rollback_timeout": 3})
    done = time.monotonic()
    assert result["rc"] == 0 and "arm a revert of br0 in 3 s unless confirmed" in result["actions"], result
    assert migrated(hv)
    while migrated(hv) and time.monotonic() - done < 15:
        time.sleep(0.1)
    reverted_after = time.monotonic() - done
    print("reverted %.1f s after the module returned (rollback_timeout 3)" % reverted_after)
    assert not migrated(hv) and reverted_after < 3 + 3
    wait_restored(hv, before, before_routes)
    assert hv.snapshot() == before and routes(hv) == before_routes
    assert hv.run("ping", "-c", "1", "-W", "2", "198.51.100.1", check=False).returncode == 0


def test_confirmed_migration_stays(lan):
    hv, _peer = lan
    # long enough for the two runs below on a busy machine (the first run alone takes ~2 s
    # of its 3 s in the test above); the revert's deadline is waited out at the end
    args = {"name": "br0", "migrate_from": "eth0", "rollback_timeout": 12}
    armed = time.monotonic()
    assert hv.module("linux_bridge", args)["changed"] is True
    check = hv.module("linux_bridge", dict(args, confirm=True), check_mode=True)
    assert check["changed"] is True and check["actions"] == ["confirm br0: disarm the pending revert"], check
    confirmed = hv.module("linux_bridge", dict(args, confirm=True))
    assert confirmed["changed"] is True and confirmed["actions"] == check["actions"], confirmed
    again = hv.module("linux_bridge", dict(args, confirm=True))
    assert again["changed"] is False and again["actions"] == [], again
    time.sleep(max(0, armed + 12 + 2 - time.monotonic()))
    assert migrated(hv)
    assert routes(hv) == [("203.0.113.0/24", "198.51.100.1", "br0", None), ("default", "198.51.100.1", "br0", 100)]


def test_absent_gives_the_nic_everything_back(lan):
    hv, peer = lan
    before, before_routes = hv.snapshot(), routes(hv)
    assert hv.module("linux_bridge", {"name": "br0", "migrate_from": "eth0"})["changed"] is True
    args = {"name": "br0", "migrate_from": "eth0", "state": "absent"}
    check = hv.module("linux_bridge", args, check_mode=True)
    assert check["changed"] is True and check["actions"][-1] == "delete bridge br0", check
    assert "release eth0 from br0" in check["actions"]
    back = hv.module("linux_bridge", args)
    assert back["rc"] == 0 and back["actions"] == check["actions"], back
    again = hv.module("linux_bridge", args)
    assert again["changed"] is False, again
    wait_restored(hv, before, before_routes)
    assert hv.snapshot() == before and routes(hv) == before_routes
    assert peer.run("ping", "-c", "1", "-W", "2", "198.51.100.10", check=False).returncode == 0


@contextlib.contextmanager
def lan_guest(hv):
    """A guest namespace on a veth port vg1 of hv's br0, at 198.51.100.20/24."""
    guest = hv.__class__(hv.name + "-g", hv.collections)
    subprocess.run(["ip", "netns", "add", guest.name], check=True)
    try:
        hv.run("ip", "link", "add", "vg1", "type", "veth", "peer", "name", "eth0", "netns", guest.name)
        hv.run("ip", "link", "set", "vg1", "master", "br0", "up")
        guest.run("ip", "addr", "add", "198.51.100.20/24", "dev", "eth0")
        guest.run("ip", "link", "set", "eth0", "up")
        yield guest
    finally:
        subprocess.run(["ip", "netns", "del", guest.name], check=False)


def test_guest_on_the_bridge_is_a_lan_peer(lan):
    hv, peer = lan
    assert hv.module("linux_bridge", {"name": "br0", "migrate_from": "eth0"})["changed"] is True
    with lan_guest(hv) as guest:
        assert guest.run("ping", "-c", "2", "-W", "2", "198.51.100.1", check=False).returncode == 0
        assert peer.run("ping", "-c", "2", "-W", "2", "198.51.100.20", check=False).returncode == 0
        # no NAT: the peer learned the guest's own address and MAC
        neigh = peer.json("ip", "-j", "neigh", "show", "198.51.100.20")
        guest_mac = guest.json("ip", "-j", "link", "show", "dev", "eth0")[0]["address"]
        assert neigh and neigh[0]["lladdr"] == guest_mac


def _forward_dump(ns, command):
    """<command>-save of the filter table without comments and counters."""
    out = ns.run(command + "-save", "-t", "filter").stdout
    return [re.sub(r"\[\d+:\d+\]$", "[-:-]", l) for l in out.splitlines() if not l.startswith("#")]


@pytest.mark.parametrize("command", ["iptables-nft", "iptables-legacy"])
def test_docker_forward_drop_cannot_break_lan_guests(lan, command):
    """br_netfilter's namespace-wide switch is on (its default); Docker-like FORWARD drop."""
    hv, peer = lan
    assert hv.run("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables").stdout.strip() == "1"
    for argv in (["-N", "DOCKER-USER"], ["-A", "DOCKER-USER", "-j", "RETURN"], ["-A", "FORWARD", "-j", "DOCKER-USER"],
                 ["-A", "FORWARD", "-o", "docker0", "-j", "ACCEPT"], ["-P", "FORWARD", "DROP"]):
        hv.run(command, *argv)
    docker = _forward_dump(hv, command)
    args = {"name": "br0", "migrate_from": "eth0", "nf_call_iptables": False}
    check = hv.module("linux_bridge", args, check_mode=True)
    applied = hv.module("linux_bridge", args)
    assert applied["actions"] == check["actions"] and applied["forward_accepts"] == check["forward_accepts"]
    # every rule of ours says so: a comment with the mark and a digest of the rule
    rule = applied["forward_accepts"][command][0]
    assert re.match(r'^-i br0 -o br0 -m physdev --physdev-is-bridged '
                    r'-m comment --comment "hypervisor.networking [0-9a-f]{12}" -j ACCEPT$', rule), applied
    assert len(applied["forward_accepts"][command]) == 1
    assert "%s: add to filter HN-FB-br0: %s" % (command, rule) in applied["actions"]
    assert hv.module("linux_bridge", args)["changed"] is False
    with lan_guest(hv) as guest:
        assert guest.run("ping", "-c", "2", "-W", "2", "198.51.100.1", check=False).returncode == 0
        assert peer.run("ping", "-c", "2", "-W", "2", "198.51.100.20", check=False).returncode == 0
        # Docker's rules untouched: the only lines added are our chain, its rule and one jump
        added = [l for l in _forward_dump(hv, command) if l not in docker]
        assert added == [":HN-FB-br0 - [-:-]",
                         '-A FORWARD -m comment --comment "hypervisor.networking" -j HN-FB-br0',
                         "-A HN-FB-br0 " + rule], added
        # the control: the frames do meet Docker's drop once our accepts go
        args["nf_call_iptables"] = True
        assert hv.module("linux_bridge", args)["forward_accepts"].get(command, []) == []
        assert _forward_dump(hv, command) == docker
        assert guest.run("ping", "-c", "2", "-W", "1", "198.51.100.1", check=False).returncode != 0
        args["nf_call_iptables"] = False
        hv.module("linux_bridge", args)
        hv.run("ip", "link", "del", "vg1")
    gone = hv.module("linux_bridge", {"name": "br0", "migrate_from": "eth0", "state": "absent"})
    assert gone["changed"] is True and gone["forward_accepts"].get(command, []) == []
    assert _forward_dump(hv, command) == docker


def test_revert_replays_every_kind_of_action(lan):
    """An armed migration that also sets a bridge option (MTU) and places our FORWARD
    accepts, as guest_network does with TAPs: the reverter replays the plan's undo with the
    module's own executor (netlink, *-restore), so the host comes back whole. (Translating
    the undo into ip commands refused bridge options: check mode passed, the real run did
    not.)"""
    hv, _peer = lan
    hv.run("iptables-nft", "-P", "FORWARD", "DROP")  # Docker's FORWARD: our accepts go there
    before, before_routes = hv.snapshot(), routes(hv)
    before_rules = [l for l in hv.run("iptables-nft-save").stdout.splitlines() if not l.startswith("#")]
    args = {"name": "br0", "mode": "bridged", "uplink": "eth0", "rollback_timeout": 3, "mtu": 1400,
            "nf_call_iptables": False, "taps": [{"name": "vm1-tap"}], "qemu_acl": False}
    check = hv.module("guest_network", args, check_mode=True)
    result = hv.module("guest_network", args)
    assert result["rc"] == 0 and result["actions"] == check["actions"], result
    assert "set br0 mtu 1400" in result["actions"] and "HN-FB-br0" in hv.run("iptables-nft-save").stdout
    done = time.monotonic()
    while migrated(hv) and time.monotonic() - done < 15:
        time.sleep(0.1)
    assert not migrated(hv)
    wait_restored(hv, before, before_routes)
    assert hv.snapshot() == before and routes(hv) == before_routes
    after_rules = [l for l in hv.run("iptables-nft-save").stdout.splitlines() if not l.startswith("#")]
    assert [re.sub(r"\[\d+:\d+\]", "", l) for l in after_rules] == [re.sub(r"\[\d+:\d+\]", "", l) for l in before_rules]
    inode = hv.run("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
    path = "/run/hypervisor-networking/rollback-br0-%s.json" % inode
    assert not os.path.exists(path)
    with open(path + ".reverted") as handle:
        results = json.load(handle)["results"]
    assert results and all(r["ok"] for r in results), results


@contextlib.contextmanager
def router_advertisements(peer, tmp_path):
    """The peer advertises 2001:db8:5::/64 for SLAAC (dnsmasq, RA only: no DHCP, no DNS)."""
    peer.run("ip", "addr", "add", "2001:db8:5::1/64", "dev", "eth0", "nodad")
    proc = subprocess.Popen(["ip", "netns", "exec", peer.name, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
                             "--port=0", "--interface=eth0", "--bind-interfaces", "--enable-ra",
                             "--dhcp-range=::,constructor:eth0,ra-stateless,64",
                             "--dhcp-leasefile=%s" % (tmp_path / "leases"), "--pid-file="],
                            stdout=subprocess.DEVNULL, stderr=open(str(tmp_path / "ra.log"), "w"))
    try:
        yield
    finally:
        proc.terminate()
        proc.wait()


def slaac_addresses(ns, dev):
    return [a["local"] for a in ns.json("ip", "-j", "-6", "addr", "show", "dev", dev)[0]["addr_info"]
            if a["local"].startswith("2001:db8:5:") and a.get("dynamic")]


def ra_default_routes(ns):
    return [(r["dev"], r.get("protocol")) for r in ns.json("ip", "-j", "-6", "route", "show", "default")]


def test_a_slaac_nic_gives_a_slaac_bridge(lan, tmp_path):
    """A NIC that takes its IPv6 address and default route from router advertisements: the
    bridge takes them at once (same MAC, same address; it solicits an advertisement, and the
    learnt default route is the kernel's to learn again there, not moved by hand, which made
    the kernel refuse every later advertisement on the bridge), and its persisted files take
    them that way too, and keep saying so on the next run."""
    hv, peer = lan
    hv.run("sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1", "net.ipv6.conf.eth0.autoconf=1")
    with router_advertisements(peer, tmp_path):
        for _attempt in range(60):
            if slaac_addresses(hv, "eth0") and ra_default_routes(hv):
                break
            time.sleep(0.25)
        nic = slaac_addresses(hv, "eth0")
        assert nic and ra_default_routes(hv) == [("eth0", "ra")], hv.run("ip", "-6", "route").stdout
        etc = tmp_path / "etc"
        args = {"name": "br0", "migrate_from": "eth0", "nf_call_iptables": False, "persist": True,
                "renderer": "networkd"}
        check = hv.module("linux_bridge", args, check_mode=True, etc=etc)
        res = hv.module("linux_bridge", args, etc=etc)
        assert res["rc"] == 0 and diff_files(res) == diff_files(check), res
        assert not [a for a in res["actions"] if "fe80:" in a], res["actions"]
        network = (etc / "upper" / "systemd" / "network" / "00-hypervisor-networking-br0.network").read_text()
        assert "IPv6AcceptRA=yes" in network and "Gateway=fe80" not in network
        for _attempt in range(40):
            if slaac_addresses(hv, "br0") and ("br0", "ra") in ra_default_routes(hv):
                break
            time.sleep(0.25)
        assert slaac_addresses(hv, "br0") == nic, hv.run("ip", "-6", "addr").stdout
        assert ("br0", "ra") in ra_default_routes(hv), hv.run("ip", "-6", "route").stdout
    # the advertisements gone (and the NIC a port, taking none of its own): the files stay
    assert hv.module("linux_bridge", args, etc=etc)["changed"] is False


def test_a_nic_without_slaac_gives_a_bridge_without(lan, tmp_path):
    hv, _peer = lan
    hv.run("sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=0")
    etc = tmp_path / "etc"
    args = {"name": "br0", "migrate_from": "eth0", "nf_call_iptables": False, "persist": True, "renderer": "networkd"}
    assert hv.module("linux_bridge", args, etc=etc)["rc"] == 0
    network = (etc / "upper" / "systemd" / "network" / "00-hypervisor-networking-br0.network").read_text()
    assert "IPv6AcceptRA=no" in network


def leased(ns, dev):
    """(address, valid_lft) of the expiring IPv4 addresses of ``dev`` (a DHCP client's)."""
    return [(a["local"], a["valid_life_time"]) for link in ns.json("ip", "-j", "-4", "addr", "show", "dev", dev)
            for a in link["addr_info"] if a.get("dynamic")]


@pytest.fixture
def dhcp_lan(lan):
    """eth0 as a DHCP client leaves it: 198.51.100.10/24 that expires (valid 300 s,
    preferred 250 s), the default route via .1 `proto dhcp` metric 100 (the measured case of
    the migration that failed on its first route and undid itself)."""
    hv, peer = lan
    hv.run("ip", "addr", "del", "198.51.100.10/24", "dev", "eth0")
    hv.run("ip", "addr", "add", "198.51.100.10/24", "brd", "+", "dev", "eth0", "valid_lft", "300",
           "preferred_lft", "250")
    hv.run("ip", "route", "replace", "default", "via", "198.51.100.1", "dev", "eth0", "proto", "dhcp", "metric", "100")
    return hv, peer


@pytest.mark.parametrize("renderer, persisted, needles, absent", [
    ("networkd", "systemd/network/00-hypervisor-networking-br0.network", ["\nDHCP=yes\n"], ["Gateway="]),
    ("ifupdown", "network/interfaces.d/hypervisor-networking-1-br0", ["\niface br0 inet dhcp\n"],
     ["gateway ", "inet static\n    address 198.51.100.10/24"]),
    ("networkmanager", "NetworkManager/system-connections/hypervisor-networking-bridge-br0.nmconnection",
     ["\n[ipv4]\nmethod=auto\n"], ["gateway=", "address1=198.51.100.10"]),
])
def test_a_dhcp_nic_gives_a_dhcp_bridge(dhcp_lan, tmp_path, renderer, persisted, needles, absent):
    """The lease's address moves with its lifetimes (the client that takes over renews it),
    the DHCP routes move with it, the files say DHCP and carry no route the lease brings; a
    second run changes nothing; absent gives the NIC the expiring address back."""
    hv, peer = dhcp_lan
    etc = tmp_path / "etc"
    (etc / "upper" / "NetworkManager" / "system-connections").mkdir(parents=True)
    args = {"name": "br0", "migrate_from": "eth0", "nf_call_iptables": False, "persist": True, "renderer": renderer}
    if renderer == "ifupdown":
        args["persist"] = False  # this host has no ifupdown; the stanza is checked by the unit tests
    ping = subprocess.Popen(["ip", "netns", "exec", peer.name, "ping", "-n", "-q", "-i", "0.01", "-c", "300",
                             "-W", "1", "198.51.100.10"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    check = hv.module("linux_bridge", args, check_mode=True, etc=etc)
    res = hv.module("linux_bridge", args, etc=etc)
    assert res["rc"] == 0 and res["actions"] == check["actions"], res
    summary = [line for line in ping.communicate(timeout=30)[0].splitlines() if "transmitted" in line][0]
    print("DHCP NIC migration under ping (%s): %s" % (renderer, summary))
    assert int(summary.split()[0]) - int(summary.split()[3]) <= 10, summary
    assert any("a DHCP lease's" in a for a in res["actions"]), res["actions"]
    (address, valid), = leased(hv, "br0")
    assert address == "198.51.100.10" and 0 < valid <= 300 and leased(hv, "eth0") == []
    assert ("default", "198.51.100.1", "br0", 100) in routes(hv)
    assert [r["protocol"] for r in hv.json("ip", "-j", "route", "show", "default")] == ["dhcp"]
    if args["persist"]:
        text = (etc / "upper" / persisted).read_text()
        assert all(n in text for n in needles) and not any(n in text for n in absent), text
    again = hv.module("linux_bridge", args, etc=etc)
    assert again["rc"] == 0 and again["changed"] is False, again
    gone = hv.module("linux_bridge", dict(args, state="absent"), etc=etc)
    assert gone["rc"] == 0, gone
    (address, valid), = leased(hv, "eth0")
    assert address == "198.51.100.10" and 0 < valid <= 300
    assert ("default", "198.51.100.1", "eth0", 100) in routes(hv)


def test_static_addressing_makes_the_lease_permanent(dhcp_lan):
    hv, _peer = dhcp_lan
    res = hv.module("linux_bridge", {"name": "br0", "migrate_from": "eth0", "addressing": "static"})
    assert res["rc"] == 0 and res["bridge"]["addresses"][0] == "198.51.100.10/24", res
    assert leased(hv, "br0") == []  # permanent now
    bad = hv.module("linux_bridge", {"name": "br1", "addressing": "dhcp"})
    assert bad["rc"] != 0 and "addressing='dhcp'" in bad["msg"], bad
