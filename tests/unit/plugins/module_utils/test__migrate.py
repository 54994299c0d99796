# -*- coding: utf-8 -*-
from __future__ import annotations

import socket

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _bridge, _migrate
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError

NIC = {"index": 2, "name": "eth0", "kind": None, "up": True, "mtu": 1500, "mac": "52:54:00:aa:bb:cc",
       "master": None, "alias": None}
ADDRS = {2: ["198.51.100.10/24", "2001:db8:1::10/64", "fe80::5054:ff:feaa:bbcc/64"]}
DEFAULT = {"family": socket.AF_INET, "table": 254, "proto": 3, "scope": 0, "dst": "default",
           "gateway": "198.51.100.1", "metric": 100, "prefsrc": None}
STATIC = dict(DEFAULT, dst="203.0.113.0/24", metric=None)


def desired(**kwargs):
    params = {"name": "br0", "state": "present", "up": True, "migrate_from": "eth0", "mac": None, "mtu": None}
    params.update(kwargs)
    return _bridge.desired_state(params)


def test_order_keeps_the_host_reachable():
    plan, after, probe = _migrate.plan_migration(desired(), {"eth0": NIC}, ADDRS, [DEFAULT, STATIC])
    assert plan.lines() == [
        "create bridge br0",
        "add address 198.51.100.10/24 to br0",
        "add address 2001:db8:1::10/64 to br0",
        "set br0 up",
        "enslave eth0 in br0",
        "move route default via 198.51.100.1 metric 100 from eth0 to br0",
        "move route 203.0.113.0/24 via 198.51.100.1 from eth0 to br0",
        "remove address 198.51.100.10/24 from eth0 (now on br0)",
        "remove address 2001:db8:1::10/64 from eth0 (now on br0)",
    ]
    create = plan.actions[0]
    assert create.args["mac"] == NIC["mac"]  # neighbours' ARP caches stay valid
    assert [a.args.get("nodad") for a in plan.actions if a.op == "addr_add"] == [True, True]
    assert after["ports"] == ["eth0"] and after["mac"] == NIC["mac"]
    assert after["addresses"] == ["198.51.100.10/24", "2001:db8:1::10/64"]
    assert probe == ("198.51.100.10", "198.51.100.1")


def test_migrated_host_plans_nothing():
    bridge = {"index": 3, "name": "br0", "kind": "bridge", "up": True, "mtu": 1500, "mac": NIC["mac"],
              "master": None, "alias": _bridge.MANAGED_ALIAS, "mac_set_by_user": True,
              "bridge": dict(_bridge.KERNEL_DEFAULTS)}
    links = {"eth0": dict(NIC, master="br0"), "br0": bridge}
    addrs = {2: ["fe80::5054:ff:feaa:bbcc/64"], 3: ["198.51.100.10/24", "2001:db8:1::10/64"]}
    plan, after, probe = _migrate.plan_migration(desired(), links, addrs, [])
    assert plan.lines() == [] and probe is None
    assert after["ports"] == ["eth0"]


def test_no_ipv4_default_route_means_no_probe():
    plan, _after, probe = _migrate.plan_migration(desired(), {"eth0": NIC}, {2: ["2001:db8:1::10/64"]}, [])
    assert probe is None and "enslave eth0 in br0" in plan.lines()


@pytest.mark.parametrize("links,kwargs,error,needle", [
    ({}, {}, ValidationError, "no such interface"),
    ({"eth0": dict(NIC, kind="bridge")}, {}, ValidationError, "is a bridge"),
    ({"eth0": dict(NIC, master="virbr0")}, {}, StateError, "already belongs to virbr0"),
    ({"eth0": NIC}, {"migrate_from": "br0"}, ValidationError, "is the bridge itself"),
])
def test_refused_sources(links, kwargs, error, needle):
    with pytest.raises(error) as err:
        _migrate.check_source(desired(**kwargs), links)
    assert needle in err.value.msg


def test_restore_order_and_nothing_when_gone():
    bridge = {"index": 3, "name": "br0", "kind": "bridge", "up": True, "mtu": 1500, "mac": NIC["mac"],
              "master": None, "alias": _bridge.MANAGED_ALIAS}
    links = {"eth0": dict(NIC, master="br0"), "br0": bridge}
    addrs = {2: ["fe80::5054:ff:feaa:bbcc/64"], 3: ["198.51.100.10/24", "2001:db8:1::10/64"]}
    plan, probe = _migrate.plan_restore(desired(state="absent"), links, addrs, [DEFAULT])
    assert plan.lines() == [
        "add address 198.51.100.10/24 to eth0 (from br0)",
        "add address 2001:db8:1::10/64 to eth0 (from br0)",
        "release eth0 from br0",
        "move route default via 198.51.100.1 metric 100 from br0 to eth0",
        "delete bridge br0",
    ]
    assert probe == ("198.51.100.10", "198.51.100.1")
    assert _migrate.plan_restore(desired(state="absent"), {"eth0": NIC}, {}, [])[0].lines() == []
    with pytest.raises(StateError, match="not a port of br0"):
        _migrate.plan_restore(desired(state="absent"), {"eth0": NIC, "br0": bridge}, addrs, [])


@pytest.mark.parametrize("asked, dynamic, nic_dhcp, expected", [
    ("auto", {"eth0": [("198.51.100.10/24", 300, 250)], "br0": []}, False, "dhcp"),
    ("auto", {"eth0": [], "br0": [("198.51.100.10/24", 90, 40)]}, False, "dhcp"),  # moved already
    ("auto", {"eth0": [], "br0": []}, True, "dhcp"),  # ifupdown's dhclient: permanent, by its stanza
    ("auto", {"eth0": [], "br0": []}, False, "static"),
    ("static", {"eth0": [("198.51.100.10/24", 300, 250)]}, False, "static"),
    ("dhcp", {}, False, "dhcp"),
])
def test_addressing_follows_the_nic(asked, dynamic, nic_dhcp, expected):
    want = dict(desired(addressing=asked), dynamic=dynamic, nic_dhcp=nic_dhcp)
    assert _migrate.addressing(want) == expected


def test_a_lease_moves_with_its_lifetimes_or_made_permanent():
    lease = {"eth0": [("198.51.100.10/24", 300, 250)]}
    addrs = {2: ["2001:db8:1::10/64"]}
    plan, after, probe = _migrate.plan_migration(dict(desired(), dynamic=lease), {"eth0": NIC}, addrs, [DEFAULT])
    added = [a.args for a in plan.actions if a.op == "addr_add" and a.args["cidr"] == "198.51.100.10/24"]
    assert added == [{"name": "br0", "cidr": "198.51.100.10/24", "nodad": True, "lifetimes": (300, 250)}]
    assert after["addresses"] == ["2001:db8:1::10/64"]  # a lease's address is the client's, not ours
    removal = [a for a in plan.actions if a.op == "addr_del" and a.args["cidr"] == "198.51.100.10/24"][0]
    assert removal.undo[1]["lifetimes"] == (300, 250)  # the revert gives the NIC an expiring one back
    assert probe == ("198.51.100.10", "198.51.100.1")
    plan, after, _probe = _migrate.plan_migration(dict(desired(addressing="static"), dynamic=lease),
                                                  {"eth0": NIC}, addrs, [DEFAULT])
    assert after["addresses"] == ["198.51.100.10/24", "2001:db8:1::10/64"]
    assert not any(a.args.get("lifetimes") for a in plan.actions)


def test_addressing_needs_migrate_from():
    with pytest.raises(ValidationError, match="addressing='dhcp'"):
        _bridge.desired_state({"name": "br0", "migrate_from": None, "addressing": "dhcp"})
