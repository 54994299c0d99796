# -*- coding: utf-8 -*-
"""After the role: br0 carries the host's address, MAC and routes, eth0 is its port, and
the peer never lost the host (ping loss measured, TCP session alive), and a guest (a
network namespace on a veth port of br0) with an address of the LAN is the peer's direct
neighbour both ways."""
from __future__ import annotations

import ipaddress
import json
import time

import testinfra

HVS = ["hn-pb-12", "hn-pb-13"]
testinfra_hosts = ["podman://%s" % name for name in HVS]
PEER = testinfra.get_host("podman://hn-pb-peer")


def name_of(host):
    return host.backend.get_hostname()


def before(host):
    return json.loads(host.file("/root/before.json").content_string)


def now(host):
    host.run_test("python3 /usr/local/lib/netstate.py /root/now.json")
    return json.loads(host.file("/root/now.json").content_string)


def test_bridge_holds_the_hosts_identity(host):
    old, new = before(host), now(host)
    assert old["dev"] == "eth0" and new["dev"] == "br0"
    assert new["addresses"] == old["addresses"] and new["mac"] == old["mac"]
    assert new["routes"] == [[dst, gw, "br0" if dev == "eth0" else dev, metric] for dst, gw, dev, metric in old["routes"]]
    eth0 = json.loads(host.check_output("ip -j link show dev eth0"))[0]
    assert eth0["master"] == "br0"
    tap = json.loads(host.check_output("ip -j link show dev vm1-tap"))[0]
    assert tap["master"] == "br0"
    assert "\nallow br0\n" in host.file("/etc/qemu/bridge.conf").content_string


def test_the_revert_was_confirmed(host):
    assert host.run("ls /run/hypervisor-networking/rollback-br0-*.json").rc != 0


def test_peer_never_lost_the_host(host):
    name = name_of(host)
    PEER.run("pkill -INT -f 'ping -n -q -i 0.05 -w 600 %s$'" % before(host)["addresses"][0].split("/")[0])
    for _attempt in range(50):
        log = PEER.run("cat /root/ping-%s.log" % name).stdout
        if "packets transmitted" in log:
            break
        time.sleep(0.1)
    summary = [line for line in log.splitlines() if "packets transmitted" in line][0]
    sent, received = int(summary.split()[0]), int(summary.split()[3])
    print("%s: ping during check, converge, idempotence and check: %s" % (name, summary))
    assert sent > 100 and sent - received <= 20, summary
    tcp = PEER.run("cat /root/tcp-%s.log" % name).stdout.split("\n")
    print("%s: TCP session: %s" % (name, [line for line in tcp if line][-1:]))
    assert not any(line.startswith("FAIL") for line in tcp), tcp[-3:]
    assert any(line.startswith("ok") for line in tcp)


def test_guest_on_the_bridge_is_a_lan_peer(host):
    """The guest takes a free address at the top of the LAN subnet; the peer must see it
    at the guest's own MAC (no NAT, no proxy ARP by the host)."""
    lan = ipaddress.ip_interface(before(host)["addresses"][0])
    guest = str(lan.network.broadcast_address - 1 - HVS.index(name_of(host)))
    peer = PEER.check_output("ip -4 -br addr show dev eth0").split()[2].split("/")[0]
    host.run_test("ip netns add lan-guest")
    try:
        host.run_test("ip link add lg0 type veth peer name lg0-p")
        host.run_test("ip link set lg0 netns lan-guest")
        host.run_test("ip link set lg0-p master br0 up")
        host.run_test("ip -n lan-guest link set lg0 up")
        host.run_test("ip -n lan-guest addr add %s/%d dev lg0" % (guest, lan.network.prefixlen))
        mac = json.loads(host.check_output("ip -n lan-guest -j link show dev lg0"))[0]["address"]
        out = host.run("ip netns exec lan-guest ping -n -c 3 -W 2 %s" % peer)
        print("%s: guest %s -> peer %s: %s" % (name_of(host), guest, peer, out.stdout.splitlines()[-2:]))
        assert out.rc == 0, out.stdout
        back = PEER.run("ping -n -c 3 -W 2 %s" % guest)
        print("%s: peer -> guest %s: %s" % (name_of(host), guest, back.stdout.splitlines()[-2:]))
        assert back.rc == 0, back.stdout
        neigh = json.loads(PEER.check_output("ip -j neigh show %s" % guest))
        assert neigh and neigh[0]["lladdr"] == mac, (neigh, mac)
    finally:
        host.run("ip netns del lan-guest")
        host.run("ip link del lg0-p")
