# -*- coding: utf-8 -*-
"""What the roles installed on the bare hosts, and the two networks they built, proven with
traffic between the LAN namespace and the NAT guest namespace."""
from __future__ import annotations

import json
import time

testinfra_hosts = ["podman://hn-bare-12", "podman://hn-bare-13"]

NETPEER = "python3 /usr/local/lib/netpeer.py"


def test_the_roles_installed_what_the_modules_need(host):
    for package in ("python3-pyroute2", "python3-nftables", "nftables", "dnsmasq-base"):
        assert host.package(package).is_installed, package
    host.check_output("/usr/bin/python3 -c 'import pyroute2, nftables'")


def test_the_nic_is_in_its_bridge_with_its_address(host):
    nic = json.loads(host.check_output("ip -j link show nic0"))[0]
    assert nic["master"] == "br-lan"
    addrs = json.loads(host.check_output("ip -j -4 addr show dev br-lan"))[0]["addr_info"]
    assert [(a["local"], a["prefixlen"]) for a in addrs] == [("198.51.100.2", 24)]


def serve(host, netns, port):
    host.run_test("setsid sh -c 'ip netns exec %s %s serve tcp %d' </dev/null >/dev/null 2>&1 &"
                  % (netns, NETPEER, port))
    time.sleep(0.5)


def test_the_guest_reaches_the_lan_masqueraded(host):
    serve(host, "lan", 8001)
    out = host.check_output("ip netns exec g1 %s connect tcp 198.51.100.1 8001 3" % NETPEER)
    assert out.strip() == "peer=198.51.100.2"  # the bridge's address, not the guest's


def test_the_lan_reaches_the_guest_through_the_published_port(host):
    serve(host, "g1", 8000)
    out = host.check_output("ip netns exec lan %s connect tcp 198.51.100.2 8080 3" % NETPEER)
    assert out.strip() == "peer=198.51.100.1"
