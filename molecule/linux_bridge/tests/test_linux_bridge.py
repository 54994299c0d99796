# -*- coding: utf-8 -*-
"""What the converge left behind, read with iproute2, plus traffic over the bridge."""
from __future__ import annotations

import json

testinfra_hosts = ["podman://hn-lb-bookworm", "podman://hn-lb-trixie"]


def ipj(host, *args):
    return json.loads(host.check_output("ip -j " + " ".join(args)))


def test_br0_options(host):
    link = ipj(host, "-d", "link", "show", "br0")[0]
    data = link["linkinfo"]["info_data"]
    assert link["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in link["flags"]
    assert link["mtu"] == 1450
    assert data["stp_state"] == 1
    assert data["forward_delay"] == 400
    assert data["nf_call_iptables"] == 0
    assert link["ifalias"] == "managed-by=hypervisor.networking"


def test_br0_addresses_and_ports(host):
    addrs = ipj(host, "addr", "show", "dev", "br0")[0]["addr_info"]
    configured = sorted("%s/%s" % (a["local"], a["prefixlen"]) for a in addrs if not a["local"].startswith("fe80"))
    assert configured == ["192.168.100.1/24", "fd00:100::1/64"]
    v4 = [a for a in addrs if a["family"] == "inet"][0]
    assert v4["broadcast"] == "192.168.100.255"
    ports = sorted(link["ifname"] for link in ipj(host, "link", "show", "master", "br0"))
    assert ports == ["hnp0", "hnp1"]


def test_guest_reaches_bridge(host):
    # STP walks the port through listening/learning (2 x forward_delay) first
    host.check_output("for i in $(seq 1 30); do ip netns exec guest ping -c1 -W1 192.168.100.1 && exit 0; done; exit 1")


def test_br1_down_with_fixed_mac(host):
    link = ipj(host, "link", "show", "br1")[0]
    assert "UP" not in link["flags"]
    assert link["address"] == "02:00:00:00:01:01"


def test_hand_made_bridge_removed(host):
    assert host.run("ip link show brold").rc != 0
