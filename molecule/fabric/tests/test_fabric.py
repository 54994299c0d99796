# -*- coding: utf-8 -*-
"""Three hypervisors, one guest network across them (EVPN through the fabric role's FRR):
BGP sessions up and the guests' MACs learnt, every pair of guests reaches each other, the
overlay's MTU holds (one byte more fails in the guest), one gateway MAC everywhere, a
guest leaves through its own hypervisor, one DHCP offer, a moved guest is found again in
3 s, a peer leaves without resetting the other sessions, a route reflector with BFD carries
the same network, a restarted hypervisor comes back with no Ansible run, and absent leaves
the admin's FRR line and nothing of ours.

The tests run in file order (each builds on the state the previous one left). The
seconds of the move and the restart go to $HN_RESULTS (default /tmp/hn-results)/fabric.txt.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time

import testinfra

HVS = ["hn-fb-h1", "hn-fb-h2", "hn-fb-h3"]
HOST = dict((name, testinfra.get_host("podman://%s" % name)) for name in HVS)
WAN = testinfra.get_host("podman://hn-fb-wan")
GUEST = {"hn-fb-h1": 11, "hn-fb-h2": 12, "hn-fb-h3": 13}
GATEWAY = "192.168.100.1"
FETCH = ("python3 -c 'import sys, urllib.request; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())' %s")


def ipv4(host, dev="eth0"):
    return json.loads(host.check_output("ip -j -4 addr show dev %s" % dev))[0]["addr_info"][0]["local"]


def in_guest(host, command, ns="guest"):
    return host.run("ip netns exec %s %s" % (ns, command))


def ping(host, address, size=56, df=False, ns="guest", timeout=2):
    return in_guest(host, "ping -c 1 -W %d -s %d %s%s" % (timeout, size, "-M do " if df else "", address), ns)


def until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def sessions(host):
    """{peer: (state, uptime ms)} of the host's EVPN sessions."""
    out = host.run("vtysh -c 'show bgp l2vpn evpn summary json'")
    peers = json.loads(out.stdout or "{}").get("peers", {}) if out.rc == 0 else {}
    return dict((p, (s.get("state"), s.get("peerUptimeMsec", 0))) for p, s in peers.items())


def established(host):
    return sorted(p for p, (state, _up) in sessions(host).items() if state == "Established")


def underlay():
    """The hypervisors' fixed underlay addresses (beside podman's, which a restart changes)."""
    return dict((name, "10.250.0.%d" % GUEST[name]) for name in HOST)


def record(line):
    directory = os.environ.get("HN_RESULTS", "/tmp/hn-results")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "fabric.txt"), "a") as handle:
        handle.write(line + "\n")
    print(line)


def playbook(*extra, limit=None):
    """The scenario's converge -> {host: changed count}."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    scenario = env.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
    argv = ["ansible-playbook", "-i", env["MOLECULE_INVENTORY_FILE"], os.path.join(scenario, "converge.yml")]
    argv += (["--limit", limit] if limit else []) + list(extra)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)", proc.stdout,
                                                                   re.M))


def test_sessions_up_and_macs_learnt():
    addrs = underlay()
    for name, host in HOST.items():
        others = sorted(a for n, a in addrs.items() if n != name)
        assert until(lambda: established(host) == others, 30), sessions(host)
        link = json.loads(host.check_output("ip -d -j link show vxlan100"))[0]
        assert link["master"] == "br0" and link["mtu"] == 1450
        assert link["linkinfo"]["info_data"]["learning"] is False
        assert link["linkinfo"]["info_slave_data"]["neigh_suppress"] is True
    for name, host in HOST.items():
        for other, guest in GUEST.items():
            if other != name:
                assert until(lambda: ping(host, "192.168.100.%d" % guest).rc == 0, 10), (name, other)
    # the guests' MACs came by BGP (type-2 routes), installed as extern_learn
    fdb = HOST["hn-fb-h1"].check_output("bridge fdb show dev vxlan100")
    for other in ("hn-fb-h2", "hn-fb-h3"):
        mac = "52:54:00:fb:00:%d" % GUEST[other]
        assert re.search(r"^%s dst %s self extern_learn" % (mac, addrs[other]), fdb, re.M), fdb


def test_mtu_and_one_gateway_mac():
    h1 = HOST["hn-fb-h1"]
    assert ping(h1, "192.168.100.12", size=1450 - 28, df=True).rc == 0
    big = ping(h1, "192.168.100.12", size=1450 - 27, df=True)
    assert big.rc != 0 and "too long" in big.stdout + big.stderr, big
    macs = set()
    for host in HOST.values():
        assert ping(host, GATEWAY).rc == 0
        neigh = json.loads(in_guest(host, "ip -j neigh show %s" % GATEWAY).stdout)
        macs.add(neigh[0]["lladdr"])
        macs.add(json.loads(host.check_output("ip -j link show br0"))[0]["address"])
    assert len(macs) == 1, macs


def test_guest_leaves_through_its_own_hypervisor():
    wan = ipv4(WAN)
    for name, host in HOST.items():
        out = in_guest(host, FETCH % ("http://%s:8000/" % wan))
        assert out.rc == 0 and ipv4(host) in out.stdout, (name, out.stdout, out.stderr)


def test_one_dhcp_offer():
    for name, host in HOST.items():
        out = in_guest(host, "python3 /usr/local/lib/dhcp_client.py offers eth0 6")
        offers = json.loads(out.stdout)
        assert len(offers) == 1, (name, offers)
        assert offers[0]["mtu"] == 1450 and offers[0]["router"] == [GATEWAY]


def test_moved_guest_found_again_within_3_s():
    h1, h2, h3 = (HOST[n] for n in HVS)
    h1.check_output("ip netns del guest")  # the guest stops on h1 ...
    start = time.monotonic()
    # ... and starts on h2 with its MAC and address (a live migration's target)
    h2.check_output("ip netns add moved && ip link add vm type veth peer name eth0 netns moved && "
                    "ip -n moved link set eth0 address 52:54:00:fb:00:11 mtu 1450 up && ip -n moved link set lo up && "
                    "ip -n moved addr add 192.168.100.11/24 dev eth0 && ip -n moved route add default via %s && "
                    "ip link set vm mtu 1450 master br0 up" % GATEWAY)
    assert until(lambda: ping(h2, "192.168.100.13", ns="moved", timeout=1).rc == 0, 3)
    assert until(lambda: ping(h3, "192.168.100.11", timeout=1).rc == 0, 3)
    assert until(lambda: ping(h2, GATEWAY, ns="moved", timeout=1).rc == 0, 3)
    took = round(time.monotonic() - start, 2)
    record("fabric: guest moved h1 -> h2, reached again after %.2f s" % took)
    assert took <= 3.0
    h2.check_output("ip netns del moved")
    h1.check_output("systemctl restart hn-guest.service")


def test_peer_leaves_without_resetting_the_others():
    addrs = underlay()
    h1 = HOST["hn-fb-h1"]
    before = sessions(h1)[addrs["hn-fb-h2"]][1]
    changed = playbook("-e", "fabric_group=first_two", limit="first_two")
    assert changed["hn-fb-h1"] > 0 and changed["hn-fb-h2"] > 0
    assert sorted(sessions(h1)) == [addrs["hn-fb-h2"]]
    state, uptime = sessions(h1)[addrs["hn-fb-h2"]]
    assert state == "Established" and uptime > before, (before, uptime)
    # and back: h3 rejoins, h1-h2 still not reset
    playbook()
    assert until(lambda: len(established(h1)) == 2, 30)
    assert sessions(h1)[addrs["hn-fb-h2"]][1] > uptime


def test_route_reflector_and_bfd():
    """h1 reflects: h2 and h3 peer with it alone (its clients), BFD on every session; the
    guests of h2 and h3 still reach each other (their routes reflected); then back."""
    addrs = underlay()
    h1, h2, h3 = (HOST[n] for n in HVS)
    playbook("-e", '{"fabric_route_reflectors": ["%s"], "fabric_bfd": true}' % addrs["hn-fb-h1"])
    assert until(lambda: established(h1) == sorted([addrs["hn-fb-h2"], addrs["hn-fb-h3"]]), 60), sessions(h1)
    for host in (h2, h3):
        assert until(lambda: established(host) == [addrs["hn-fb-h1"]], 60), sessions(host)
        assert sorted(sessions(host)) == [addrs["hn-fb-h1"]]
    assert "route-reflector-client" in h1.check_output("vtysh -c 'show running-config'")

    def bfd_up():
        out = h2.run("vtysh -c 'show bfd peers json'")
        peers = json.loads(out.stdout or "[]") if out.rc == 0 else []
        return [p.get("peer") for p in peers if p.get("status") == "up"] == [addrs["hn-fb-h1"]]
    assert until(bfd_up, 30), h2.run("vtysh -c 'show bfd peers'").stdout
    assert until(lambda: ping(h2, "192.168.100.13", timeout=1).rc == 0, 10)
    assert until(lambda: ping(h3, "192.168.100.12", timeout=1).rc == 0, 10)
    playbook()
    for name, host in HOST.items():
        assert until(lambda: established(host) == sorted(a for n, a in addrs.items() if n != name), 60), sessions(host)
    assert "bfdd=no" in h1.file("/etc/frr/daemons").content_string.splitlines()


def test_restarted_hypervisor_comes_back_with_no_ansible_run():
    name = "hn-fb-h2"
    subprocess.run(["podman", "stop", "-t", "20", name], check=True, capture_output=True)
    subprocess.run(["podman", "start", name], check=True, capture_output=True)
    started = time.monotonic()
    h2 = testinfra.get_host("podman://%s" % name)
    assert until(lambda: h2.run("systemctl is-system-running").stdout.strip() in ("running", "degraded"), 120)
    addrs = underlay()
    assert until(lambda: established(h2) == sorted(a for n, a in addrs.items() if n != name), 60), sessions(h2)
    assert until(lambda: ping(h2, "192.168.100.13", timeout=1).rc == 0, 30)
    record("fabric: %s restarted, its guest reached h3's after %.1f s" % (name, time.monotonic() - started))
    assert ping(HOST["hn-fb-h1"], "192.168.100.12").rc == 0
    assert "table bridge hypervisor_networking" in h2.check_output("nft list tables")
    # and a run changes nothing
    assert set(playbook().values()) == {0}


def test_absent_leaves_the_admins_line_and_nothing_of_ours():
    playbook("-e", "fabric_state=absent", "-e", "nat_bridge_state=absent")
    for name, host in HOST.items():
        assert host.file("/etc/frr/frr.conf.local").content_string == "log timestamp precision 3\n"
        assert host.file("/etc/frr/frr.conf").content_string == "log timestamp precision 3\n"
        assert not host.file("/etc/frr/hypervisor-networking.daemons").exists
        assert "bgpd=no" in host.file("/etc/frr/daemons").content_string.splitlines()
        assert "router bgp" not in host.check_output("vtysh -c 'show running-config'")
        assert host.run("ip link show vxlan100").rc != 0 and host.run("ip link show br0").rc != 0
        assert "hypervisor_networking" not in host.check_output("nft list tables")
        assert not host.file("/etc/network/interfaces.d/hypervisor-networking-2-overlay-br0").exists
        assert not host.file("/etc/systemd/network/00-hypervisor-networking-overlay-br0.netdev").exists
