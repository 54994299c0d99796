# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _bridge
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError

OPTS = {"stp": False, "forward_delay": 15, "vlan_filtering": False, "nf_call_iptables": False}


def link(name, index, kind=None, master=None, up=True, mtu=1500, mac="02:00:00:00:00:%02x", **extra):
    """A link dict as the netlink adapter returns it."""
    data = {"index": index, "name": name, "kind": kind, "up": up, "mtu": mtu,
            "mac": mac % index if "%" in mac else mac, "master": master, "alias": None}
    if kind == "bridge":
        data["bridge"] = dict(OPTS, **extra)
        data["mac_set_by_user"] = True
    return data


def host(*links):
    return dict((item["name"], item) for item in links)


def desired(**params):
    params.setdefault("name", "br0")
    return _bridge.desired_state(params)


BR0 = link("br0", 10, kind="bridge")
ETH = link("eth1", 2)
VM1 = link("vnet1", 3, master="br0")
VM2 = link("vnet2", 4)


@pytest.mark.parametrize("params,links,addrs,expected", [
    # nothing to do
    ({}, host(BR0), {}, []),
    ({"addresses": ["192.168.100.1/24"]}, host(BR0), {10: ["192.168.100.1/24"]}, []),
    # creation: the seed's three commands as one plan
    ({"addresses": ["192.168.100.1/24"]}, host(), {},
     ["create bridge br0", "add address 192.168.100.1/24 to br0", "set br0 up"]),
    # options equal to kernel defaults are not sent on creation
    ({"vlan_filtering": False, "stp": True, "forward_delay": 4}, host(), {},
     ["create bridge br0 stp=True forward_delay=4", "set br0 up"]),
    # bridge options on an existing bridge, with old values in the line
    ({"stp": True, "nf_call_iptables": True}, host(BR0), {},
     ["set bridge br0 stp=False->True nf_call_iptables=False->True"]),
    # ports: add keeps others, purge detaches unlisted first
    ({"ports": ["vnet2"]}, host(BR0, VM1, VM2), {}, ["attach vnet2 to br0"]),
    ({"ports": ["vnet2"], "purge_ports": True}, host(BR0, VM1, VM2), {},
     ["detach vnet1 from br0", "attach vnet2 to br0"]),
    ({"purge_ports": True}, host(BR0, VM1), {}, ["detach vnet1 from br0"]),
    # addresses: purge keeps IPv6 link-local; spelling does not matter
    ({"addresses": ["2001:DB8::1/64"], "purge_addresses": True}, host(BR0),
     {10: ["10.0.0.1/8", "fe80::1/64", "2001:db8::1/64"]}, ["remove address 10.0.0.1/8 from br0"]),
    ({"purge_addresses": True}, host(BR0), {10: ["fe80::1/64"]}, []),
    # link attributes and state
    ({"mtu": 9000, "mac": "02:AB:00:00:00:01"}, host(BR0), {}, ["set br0 mac 02:ab:00:00:00:01 mtu 9000"]),
    ({"up": False}, host(BR0), {}, ["set br0 down"]),
    # removal
    ({"state": "absent"}, host(BR0, VM1), {}, ["delete bridge br0"]),
    ({"state": "absent"}, host(ETH), {}, []),
])
def test_plan_lines(params, links, addrs, expected):
    plan, _after = _bridge.plan_bridge(desired(**params), links, addrs, "machine")
    assert plan.lines() == expected


def test_prediction_for_new_bridge():
    plan, after = _bridge.plan_bridge(desired(addresses=["192.168.100.1/24"], ports=["eth1"]),
                                      host(link("eth1", 2, mtu=1400)), {}, "m1")
    assert after == {"name": "br0", "up": True, "addresses": ["192.168.100.1/24"], "ports": ["eth1"],
                     "mtu": 1400, "mac": _bridge.stable_mac("br0", "m1"), "stp": False, "forward_delay": 15,
                     "vlan_filtering": False, "nf_call_iptables": False}
    create = plan.actions[0]
    assert create.args["mac"] == after["mac"] and create.args["alias"] == _bridge.MANAGED_ALIAS
    assert create.undo == ("link_del", {"name": "br0"})


def test_stable_mac_is_deterministic_local_unicast():
    mac = _bridge.stable_mac("br0", "abc")
    assert mac == _bridge.stable_mac("br0", "abc") != _bridge.stable_mac("br1", "abc")
    assert int(mac[:2], 16) & 0x03 == 0x02


def test_hand_made_bridge_predicts_lowest_port_mac():
    hand = dict(BR0, mac_set_by_user=False, mac="fe:ff:ff:ff:ff:ff")
    _plan, after = _bridge.plan_bridge(desired(ports=["vnet2"]), host(hand, VM1, VM2), {}, "m")
    assert after["mac"] == "02:00:00:00:00:03"


def test_undo_restores_previous_values():
    plan, _after = _bridge.plan_bridge(desired(stp=True, mtu=9000, up=False), host(BR0), {}, "m")
    undos = [a.undo for a in plan]
    assert ("link_set", {"name": "br0", "kind": "bridge", "bridge": {"stp": False}}) in undos
    assert ("link_set", {"name": "br0", "mtu": 1500}) in undos
    assert ("link_set", {"name": "br0", "up": True}) in undos


@pytest.mark.parametrize("params,links,error,needle", [
    ({"ports": ["missing0"]}, host(), ValidationError, "ports='missing0': no such interface"),
    ({"ports": ["eth1"]}, host(link("other", 9, kind="bridge"), link("eth1", 2, master="other")),
     StateError, "already belongs to other"),
    ({"ports": ["other"]}, host(link("other", 9, kind="bridge")), ValidationError, "cannot be a port"),
    ({}, host(link("br0", 2, kind="veth")), StateError, "is a veth link, not a bridge"),
    ({"state": "absent"}, host(link("br0", 2)), StateError, "not removing"),
])
def test_plan_refuses(params, links, error, needle):
    with pytest.raises(error) as err:
        _bridge.plan_bridge(desired(**params), links, {}, "m")
    assert needle in err.value.msg


@pytest.mark.parametrize("params,needle", [
    ({"name": "x" * 16}, "name="),
    ({"addresses": ["10.0.0.1/24", "10.0.0.1/24"]}, "listed twice"),
    ({"ports": ["br0"]}, "its own port"),
    ({"forward_delay": 31}, "forward_delay=31"),
    ({"stp": True, "forward_delay": 0}, "at least 2 seconds"),
    ({"mac": "ff:ff:ff:ff:ff:ff"}, "multicast"),
])
def test_desired_state_rejects(params, needle):
    with pytest.raises(ValidationError) as err:
        desired(**params)
    assert needle in err.value.msg
