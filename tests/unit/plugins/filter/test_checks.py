# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.networking.plugins.filter import checks


@pytest.mark.parametrize("value,expected", [
    ("192.168.100.1/24", "192.168.100.0/24"),
    (" 10.1.2.3/8 ", "10.0.0.0/8"),
    ("fd00:100::1/64", "fd00:100::/64"),
])
def test_subnet(value, expected):
    assert checks.subnet(value) == expected


def test_subnet_rejects_garbage():
    with pytest.raises(AnsibleFilterError, match="not an address"):
        checks.subnet("192.168.100.300/24")


@pytest.mark.parametrize("forwards,needle", [
    ([], ""),
    ([{"port": 8080, "to_addr": "192.168.100.10", "to_port": 80}, {"proto": "udp", "port": "5000-5010",
                                                                   "to_addr": "192.168.100.11"}], ""),
    ([{"port": 8080, "to_addr": "192.168.100.300"}], "nat_bridge_forwards[0].to_addr"),
    ([{"port": 8080, "to_addr": "192.168.100.10"}, {"port": 70000, "to_addr": "192.168.100.10"}],
     "nat_bridge_forwards[1].port"),
    ([{"proto": "icmp", "port": 1, "to_addr": "192.168.100.10"}], "nat_bridge_forwards[0].proto"),
    ("8080", "must be a list"),
])
def test_forwards_error(forwards, needle):
    msg = checks.forwards_error(forwards, "nat_bridge_forwards")
    assert (msg == "") if needle == "" else (needle in msg), msg


@pytest.mark.parametrize("taps,needle", [
    ([], ""),
    ([{"name": "vm1-tap", "owner": "qemu-user"}, {"name": "vm2-tap", "owner": 1000, "group": "kvm"}], ""),
    ([{"name": "x" * 16}], "nat_bridge_taps[0].name"),
    ([{"name": "a"}, {"name": "a"}], "nat_bridge_taps[1].name"),
    ([{"name": "a", "owner": " "}], "nat_bridge_taps[0].owner"),
    ([{"name": "a", "mtu": 10}], "nat_bridge_taps[0].mtu"),
    ([{"name": "a", "colour": "red"}], "unknown option"),
    (["vm1-tap"], "must be a list of TAP items"),
])
def test_taps_error(taps, needle):
    msg = checks.taps_error(taps, "nat_bridge_taps")
    assert (msg == "") if needle == "" else (needle in msg), msg


HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def route(iface, dest, mask, metric, flags="0003"):
    return "%s\t%s\t0102A8C0\t%s\t0\t0\t%d\t%s\t0\t0\t0\n" % (iface, dest, flags, metric, mask)


@pytest.mark.parametrize("table,expected", [
    (HEADER + route("eth0", "00000000", "00000000", 100) + route("eth0", "0000A8C0", "00FFFFFF", 0), "eth0"),
    (HEADER + route("wlan0", "00000000", "00000000", 600) + route("enp4s0", "00000000", "00000000", 100), "enp4s0"),
    # a host route and a down default route are not the default route
    (HEADER + route("eth1", "00000000", "FFFFFFFF", 0) + route("eth2", "00000000", "00000000", 0, "0000"), ""),
    (HEADER, ""),
])
def test_default_route_interface(table, expected):
    assert checks.default_route_interface(table) == expected
