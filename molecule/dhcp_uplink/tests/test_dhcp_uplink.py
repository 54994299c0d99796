# -*- coding: utf-8 -*-
"""A DHCP and SLAAC uplink becomes a bridge port on each manager (networkd, ifupdown with
dhclient, NetworkManager): the bridge holds the same lease and SLAAC address, the LAN's ping
through the move loses at most a few packets (counted, also into $HN_RESULTS, default
/tmp/hn-results, dhcp-uplink-loss.txt), the lease is renewed from the bridge, after a reboot
the bridge takes its lease again by DHCP, and absent gives the NIC its lease and client back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import testinfra

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "reboot_physical", "tests"))
from test_reboot_physical import restart, revive_cgroup  # noqa: E402  pylint: disable=wrong-import-position

HOSTS = ["hn-dh-nd", "hn-dh-ifu", "hn-dh-nm"]
testinfra_hosts = ["podman://%s" % name for name in HOSTS]


def name_of(host):
    return host.backend.get_hostname()


def addresses(host, dev):
    """{address: (prefixlen, dynamic, valid_lft)} of ``dev``'s global addresses."""
    view = json.loads(host.check_output("ip -j addr show dev %s" % dev))[0]
    return dict((a["local"], (a["prefixlen"], bool(a.get("dynamic")), a.get("valid_life_time")))
                for a in view["addr_info"] if a.get("scope") == "global")


def nic_before(host):
    """The addresses eth1 had from DHCP and SLAAC before the role ran."""
    view = json.loads(host.file("/var/lib/hn-lan/eth1.json").content_string)[0]
    return sorted(a["local"] for a in view["addr_info"] if a.get("scope") == "global")


def holds_the_lease(host, tries=60):
    want = nic_before(host)
    found = {}
    for _attempt in range(tries):  # after a boot: until the manager has its lease and SLAAC
        found = addresses(host, "br0") if host.run("ip link show br0").rc == 0 else {}
        if sorted(found) == want:
            break
        time.sleep(0.5)
    assert sorted(found) == want, (found, want)
    v4 = [a for a in want if ":" not in a][0]
    if name_of(host) != "hn-dh-ifu":
        # networkd and NetworkManager give a lease's address its lifetimes (dhclient does
        # from its first renewal on; the address it found on the bridge stays until then)
        assert found[v4][1], "the bridge's IPv4 address is not a DHCP lease's: %s" % found
    eth1 = json.loads(host.check_output("ip -j addr show dev eth1"))[0]
    assert eth1.get("master") == "br0" and addresses(host, "eth1") == {}
    routes = json.loads(host.check_output("ip -j route show default"))
    assert [(r["gateway"], r["dev"]) for r in routes] == [("10.77.0.1", "br0")], routes
    return v4


def test_the_bridge_holds_the_nics_lease_and_slaac_address(host):
    revive_cgroup(name_of(host))
    holds_the_lease(host)


def test_the_lans_ping_lost_a_few_packets_at_most(host):
    log = host.file("/var/lib/hn-lan/ping.log").content_string
    lost = log.count("no answer yet")
    replies = log.count("bytes from")
    line = "%s: LAN ping through the move (20 ms apart): %d answered, %d lost" % (name_of(host), replies, lost)
    print(line)
    directory = os.environ.get("HN_RESULTS", "/tmp/hn-results")  # for the record, as molecule/reboot's
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "dhcp-uplink-loss.txt"), "a") as handle:
        handle.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), line))
    assert replies > 100 and lost <= 10, log[-2000:]


def acks(host, v4):
    """The DHCP server's acknowledgements of the lease (its log in the LAN namespace)."""
    log = host.file("/var/lib/hn-lan/dnsmasq.log").content_string
    return log.count("DHCPACK(lan0) %s 52:54:00:77:00:10" % v4)


RENEWED = {}


def renewals():
    """One wait for all three hosts (T1 of a 2-minute lease is a minute): {host: (the bridge's
    lease address after the server acknowledged a renewal, the NIC's addresses then)}."""
    hosts = dict((name, testinfra.get_host("podman://%s" % name)) for name in HOSTS)
    start = {}
    for name, host in hosts.items():
        v4 = holds_the_lease(host)
        start[name] = (v4, acks(host, v4))
    deadline = time.time() + 90
    while time.time() < deadline and len(RENEWED) < len(hosts):
        for name, host in hosts.items():
            v4, count = start[name]
            if name not in RENEWED and acks(host, v4) > count:
                time.sleep(0.5)  # the client's script sets the address
                RENEWED[name] = (addresses(host, "br0").get(v4), addresses(host, "eth1"))
        time.sleep(1)
    return RENEWED


def test_the_lease_is_renewed_from_the_bridge(host):
    """The server acknowledges a renewal, after which the bridge's address is fresh and the
    NIC has none (no client of the NIC's renewed it)."""
    name = name_of(host)
    found = RENEWED if name in RENEWED else renewals()
    assert name in found, found
    bridge, nic = found[name]
    assert bridge and bridge[1] and bridge[2] >= 100 and nic == {}, (name, bridge, nic)


def test_after_a_reboot_the_bridge_takes_its_lease_again(host):
    host = restart(name_of(host))
    holds_the_lease(host)


def test_absent_gives_the_nic_its_lease_and_client_back(host):
    name = name_of(host)
    revive_cgroup(name)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    scenario = env.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.run(["ansible-playbook", "-i", env["MOLECULE_INVENTORY_FILE"], "--limit", name,
                           os.path.join(scenario, "converge.yml"), "-e", "physical_bridge_state=absent"],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert host.run("ip link show br0").rc != 0
    want = nic_before(host)
    found = {}
    for _attempt in range(60):  # the host's own client of the NIC takes the lease again
        found = addresses(host, "eth1")
        if sorted(found) == want:
            break
        time.sleep(0.5)
    assert sorted(found) == want, (found, want)
    routes = json.loads(host.check_output("ip -j route show default"))
    assert [(r["gateway"], r["dev"]) for r in routes] == [("10.77.0.1", "eth1")], routes
    if name == "hn-dh-ifu":
        assert host.file("/etc/network/interfaces").content_string == host.file(
            "/root/interfaces.host").content_string
        assert "eth1" in host.check_output("ps -o args= -C dhclient")
        assert "br0" not in host.check_output("ps -o args= -C dhclient")
