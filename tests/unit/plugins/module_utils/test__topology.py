# -*- coding: utf-8 -*-
from __future__ import annotations

from ansible_collections.hypervisor.networking.plugins.module_utils import _topology
from ansible_collections.hypervisor.networking.plugins.module_utils._tap import MANAGED_ALIAS


def link(name, index, kind, master=None, alias=None, **tun):
    data = {"index": index, "name": name, "kind": kind, "up": True, "mtu": 1500, "mac": "02:00:00:00:00:%02x" % index,
            "master": master, "alias": alias}
    if kind == "tun":
        data["tun"] = dict({"mode": "tap", "owner": 0, "group": None, "in_use": False}, **tun)
    return data


LINKS = dict((l["name"], l) for l in [
    link("up0", 2, "veth"),
    link("br0", 3, "bridge", alias=MANAGED_ALIAS),
    link("vm1-tap", 4, "tun", master="br0", alias=MANAGED_ALIAS, in_use=True),
    link("vm2-tap", 5, "tun", master="br0", owner=None, group=None),
    link("vxlan100", 6, "vxlan", master="br0"),
    link("docker0", 7, "bridge"),
    link("veth1", 8, "veth", master="docker0"),
    link("virbr-lab", 9, "bridge"),
])
ADDRS = {2: ["203.0.113.1/24"], 3: ["192.168.100.1/24", "fd00:100::1/64"]}
SETS = [{"kind": "masquerade", "name": "br0"}, {"kind": "forwards", "name": "br0"}]
FORWARDS = [{"set": "br0", "proto": "tcp", "port": 8080, "to_addr": "192.168.100.2", "to_port": 80, "family": "ipv4",
             "packets": 3}, {"set": "other", "proto": "udp", "port": 53, "to_addr": "10.0.0.2", "to_port": None}]
OVERLAYS = [{"network": "br0", "port": "vxlan100", "vni": 100, "control_plane": "evpn", "vteps": ["10.250.0.12"],
             "up": True, "mtu": 1450}]


def test_the_view_names_what_hangs_off_each_bridge_and_whose_it_is():
    view = _topology.topology_view(LINKS, ADDRS, "up0", SETS, FORWARDS, OVERLAYS, {"virbr-lab"})
    assert view["uplink"] == {"name": "up0", "addresses": ["203.0.113.1/24"], "up": True}
    nets = dict((n["name"], n) for n in view["networks"])
    assert sorted(nets) == ["br0", "docker0", "virbr-lab"]
    br0 = nets["br0"]
    assert br0["ours"] and br0["nat"] and br0["uplink"] == "up0"
    assert br0["taps"] == [{"name": "vm1-tap", "owner": "root", "group": None, "in_use": True, "up": True},
                           {"name": "vm2-tap", "owner": None, "group": None, "in_use": False, "up": True}]
    assert br0["ports"] == [] and br0["overlay"]["vteps"] == ["10.250.0.12"]
    assert br0["forwards"] == [{"proto": "tcp", "port": 8080, "to_addr": "192.168.100.2", "to_port": 80,
                                "family": "ipv4"}]
    # another tool's bridge is listed but not ours; a bridge in a file of ours is ours
    assert not nets["docker0"]["ours"] and nets["docker0"]["ports"] == ["veth1"] and not nets["docker0"]["nat"]
    assert nets["virbr-lab"]["ours"]


def test_mermaid_draws_every_element_with_safe_ids():
    view = _topology.topology_view(LINKS, ADDRS, "up0", SETS, FORWARDS, OVERLAYS, set())
    text = _topology.mermaid(view)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  br_br0["br0 (NAT)<br/>192.168.100.1/24, fd00:100::1/64"]' in lines
    assert '  br_br0 -- "masquerade" --- up_up0' in lines
    assert '  up_up0 -. "tcp 8080 -> 192.168.100.2:80" .-> br_br0' in lines
    assert '  tap_vm1_tap["vm1-tap, owner root, in use"]' in lines
    assert '  tap_vm2_tap["vm2-tap, any user, not in use"]' in lines
    assert '  vx_vxlan100 -. "VXLAN" .- vtep_10_250_0_12' in lines
    assert '  br_virbr_lab["virbr-lab (bridge, not ours)"]' in lines
    assert not [l for l in lines[1:] if not l.startswith("  ")]


def test_ipv6_targets_are_bracketed():
    assert _topology.target({"proto": "tcp", "port": 8080, "to_addr": "fd00:100::2", "to_port": None}) == \
        "tcp 8080 -> [fd00:100::2]:8080"
