# -*- coding: utf-8 -*-
"""ifupdown2 carries the role's files: ifquery checks them, ifreload leaves the bridge, its
TAP and a port of someone else's as they are, and a reboot brings everything back."""
from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "reboot_physical", "tests"))
from test_reboot_physical import restart, revive_cgroup  # noqa: E402  pylint: disable=wrong-import-position

testinfra_hosts = ["podman://hn-i2-12"]


def state(host):
    """What ifreload must not change: links with their masters and state, addresses."""
    links = [(l["ifname"], l.get("master"), "UP" in l["flags"], l["address"])
             for l in json.loads(host.check_output("ip -j link show"))]
    addrs = [(a["ifname"], [(i["local"], i["prefixlen"]) for i in a["addr_info"]])
             for a in json.loads(host.check_output("ip -j addr show"))]
    return sorted(links), sorted(addrs)


def network_as_made(host):
    br0 = json.loads(host.check_output("ip -j addr show dev br0"))[0]
    assert [(a["local"], a["prefixlen"]) for a in br0["addr_info"] if a["family"] == "inet"] == [("192.168.100.1", 24)]
    tap = json.loads(host.check_output("ip -d -j link show dev vm1-tap"))[0]
    assert tap["master"] == "br0" and tap["linkinfo"]["info_data"]["user"] in ("root", 0)
    assert "hypervisor_networking" in host.check_output("nft list tables")


def test_ifupdown2_carries_our_files(host):
    revive_cgroup("hn-i2-12")
    assert host.exists("ifreload") and host.file("/usr/share/ifupdown2").is_directory
    assert host.file("/etc/network/interfaces.d/hypervisor-networking-1-br0").exists
    assert host.file("/etc/network/interfaces.d/hypervisor-networking-2-vm1-tap").exists
    network_as_made(host)
    check = host.run("ifquery -a -c")
    assert check.rc == 0 and "[fail]" not in check.stdout, check.stdout + check.stderr


def test_ifreload_changes_nothing(host):
    revive_cgroup("hn-i2-12")
    # a port of someone else's (a guest's TAP made by libvirt or qemu-bridge-helper)
    host.run_test("ip link add tap77 type veth peer name tap77p && ip link set tap77 master br0 up")
    before = state(host)
    reload = host.run("ifreload -a")
    assert reload.rc == 0, reload.stdout + reload.stderr
    assert state(host) == before
    host.run_test("ip link del tap77")


def test_reboot_brings_it_back(host):
    host = restart("hn-i2-12")
    for _attempt in range(60):  # networking.service may still be running
        if host.run("ip -4 addr show dev br0 | grep -q 192.168.100.1/24").rc == 0:
            break
        time.sleep(0.5)
    network_as_made(host)
    assert host.check_output("systemctl is-active hypervisor-networking-firewall.service") == "active"
    before = state(host)
    assert host.run("ifreload -a").rc == 0
    assert state(host) == before
