# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _network, _overlay, _persist
from ansible_collections.hypervisor.networking.plugins.module_utils._bridge import MANAGED_ALIAS
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot, _nft
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import GuardSet

PEERS = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]


def overlay(**params):
    params.setdefault("vni", 100)
    return _overlay.Overlay(params)


def vxlan(name="vxlan100", vni=100, local="198.51.100.1", master="br0", learning=True, neigh_suppress=True,
          port_learning=True, mtu=1450, alias=MANAGED_ALIAS, up=True):
    return {"index": 9, "name": name, "kind": "vxlan", "up": up, "mtu": mtu, "mac": "02:00:00:00:00:09",
            "master": master, "alias": alias, "vxlan": {"id": vni, "local": local, "port": 4789, "learning": learning},
            "brport": {"neigh_suppress": neigh_suppress, "learning": port_learning}}


def flood(*dsts, name="vxlan100"):
    return [{"name": name, "mac": "00:00:00:00:00:00", "dst": d, "flags": 2, "state": 192} for d in dsts]


@pytest.mark.parametrize("params, option, words", [
    ({"vni": 0}, "overlay.vni", "between 1 and"),
    ({"vni": 2 ** 24}, "overlay.vni", "between 1 and"),
    ({"port": 70000}, "overlay.port", "UDP port"),
    ({"mtu": 500}, "overlay.mtu", ""),
    ({"peers": ["198.51.100.1", "nohost"]}, "overlay.peers[1]", "unicast IP address"),
    ({"peers": ["224.0.0.1"]}, "overlay.peers[0]", "unicast"),
    ({"peers": ["198.51.100.1", "198.51.100.1"]}, "overlay.peers", "twice"),
    ({"peers": ["198.51.100.1", "2001:db8::1"]}, "overlay.peers", "one underlay family"),
    ({"control_plane": "evpn", "peers": ["198.51.100.1"]}, "overlay.peers", "learns the tunnel endpoints"),
    ({"local": "2001:db8::1", "peers": ["198.51.100.1"]}, "overlay.local", "family"),
    ({"local": "bad name!"}, "overlay.local", ""),
])
def test_bad_overlay_is_refused_naming_the_option(params, option, words):
    with pytest.raises(ValidationError) as err:
        overlay(**params)
    assert err.value.option == option and words in err.value.msg


def test_anycast_mac_depends_on_the_vni_only():
    assert _overlay.anycast_mac(100) == _overlay.anycast_mac(100) != _overlay.anycast_mac(101)
    first = int(_overlay.anycast_mac(100)[:2], 16)
    assert first & 0x02 and not first & 0x01  # locally administered unicast


def test_underlay_from_default_route_interface_and_mtu():
    links = {"up0": {"index": 2, "name": "up0", "mtu": 9000}, "br0": {"index": 3, "name": "br0", "mtu": 1500}}
    addrs = {2: ["fe80::1/64", "198.51.100.1/24"], 3: ["192.168.100.1/24"]}
    ov = overlay(peers=PEERS)
    assert _overlay.underlay(ov, links, addrs, "up0") == ("198.51.100.1", "up0", 9000)
    assert _overlay.overlay_mtu(ov, "198.51.100.1", 9000) == 8950
    assert _overlay.overlay_mtu(ov, "2001:db8::1", 1500) == 1430
    assert _overlay.overlay_mtu(overlay(mtu=1400), "198.51.100.1", 1500) == 1400
    assert _overlay.underlay(overlay(local="198.51.100.1"), links, addrs, "")[1] == "up0"
    with pytest.raises(StateError, match="not an address of this host"):
        _overlay.underlay(overlay(local="198.51.100.9"), links, addrs, "up0")
    with pytest.raises(StateError, match="no IPv4 default route"):
        _overlay.underlay(ov, links, addrs, "")


def test_new_port_static():
    plan, after = _overlay.plan_port(overlay(peers=PEERS), "br0", {}, [], "198.51.100.1", 1450, "m")
    assert [a.op for a in plan] == ["link_add", "link_master", "brport_set", "fdb_flood", "fdb_flood", "link_set"]
    assert plan.actions[0].args["vxlan"] == {"vni": 100, "local": "198.51.100.1", "port": 4789, "learning": True}
    assert plan.actions[2].args == {"name": "vxlan100", "neigh_suppress": True, "learning": True}
    assert after["peers"] == ["198.51.100.2", "198.51.100.3"]  # the own address skipped
    assert all(a.undo for a in plan)


def test_port_in_place_changes_and_recreation():
    links = {"vxlan100": vxlan()}
    same, _after = _overlay.plan_port(overlay(peers=PEERS), "br0", links, flood("198.51.100.2", "198.51.100.3"),
                                      "198.51.100.1", 1450, "m")
    assert not same
    fewer, _after = _overlay.plan_port(overlay(peers=PEERS[:2]), "br0", links, flood("198.51.100.2", "198.51.100.3"),
                                       "198.51.100.1", 1400, "m")
    assert fewer.lines() == ["set vxlan100 mtu 1400", "remove 198.51.100.3 from the flooding list of vxlan100"]
    # evpn: no learning; the flooding list is zebra's and left alone
    evpn, after = _overlay.plan_port(overlay(control_plane="evpn"), "br0", links, flood("198.51.100.7"),
                                     "198.51.100.1", 1450, "m")
    assert evpn.lines()[0] == "recreate vxlan100 (learning True -> False)"
    assert [a.op for a in evpn][:2] == ["link_del", "link_add"] and "fdb_flood" not in [a.op for a in evpn]
    assert evpn.actions[0].undo[0] == "overlay_restore"
    assert after["control_plane"] == "evpn"


def test_port_not_ours_or_elsewhere_is_refused():
    with pytest.raises(StateError, match="not made by this collection"):
        _overlay.plan_port(overlay(), "br0", {"vxlan100": vxlan(alias=None)}, [], "198.51.100.1", 1450, "m")
    # made at boot from our files (no mark): ours
    assert _overlay.plan_port(overlay(), "br0", {"vxlan100": vxlan(alias=None)},
                              [], "198.51.100.1", 1450, "m", persisted="vxlan100")[0].lines() == []
    with pytest.raises(StateError, match="overlay port of bridge lan"):
        _overlay.plan_port(overlay(), "br0", {"vxlan100": vxlan(master="lan")}, [], "198.51.100.1", 1450, "m")


def test_removal_undo_restores_everything():
    links = {"vxlan100": vxlan()}
    plan = _overlay.plan_removal(["vxlan100"], links, flood("198.51.100.2"))
    op, args = plan.actions[0].undo
    assert op == "overlay_restore" and args["link"]["flood"] == ["198.51.100.2"]
    assert args["link"]["master"] == "br0" and args["link"]["vxlan"]["vni"] == 100


PORT = {"name": "vxlan100", "vni": 100, "local": "198.51.100.1", "port": 4789, "control_plane": "static",
        "mtu": 1450, "mac": "02:00:00:00:00:09", "bridge": "br0", "peers": ["198.51.100.2", "198.51.100.3"]}


def test_persisted_port_networkd_and_ifupdown():
    files = _persist.overlay_files("networkd", PORT)
    netdev = files["/etc/systemd/network/00-hypervisor-networking-overlay-br0.netdev"]
    network = files["/etc/systemd/network/00-hypervisor-networking-overlay-br0.network"]
    assert "VNI=100\nLocal=198.51.100.1\nDestinationPort=4789\nMacLearning=yes\nIndependent=yes" in netdev
    assert "Bridge=br0" in network and "NeighborSuppression=yes" in network
    assert network.count("[BridgeFDB]") == 2 and "Destination=198.51.100.3" in network
    text = _persist.overlay_files("ifupdown", dict(PORT, control_plane="evpn", peers=[]))[
        "/etc/network/interfaces.d/hypervisor-networking-2-overlay-br0"]
    assert "pre-up ip link add vxlan100 type vxlan id 100 local 198.51.100.1 dstport 4789 nolearning" in text
    assert "neigh_suppress on learning off" in text and "fdb append" not in text
    assert text.splitlines()[2] == "# overlay vxlan100"
    (keyfile,) = _persist.overlay_files("networkmanager", PORT).values()
    assert "type=vxlan\ninterface-name=vxlan100\nautoconnect=true\nmaster=br0\nslave-type=bridge" in keyfile
    assert "[ethernet]\ncloned-mac-address=02:00:00:00:00:09\nmtu=1450" in keyfile
    assert "[vxlan]\nid=100\nlocal=198.51.100.1\ndestination-port=4789\nlearning=true" in keyfile
    # what NetworkManager has no key for, its dispatcher script reads from these lines
    assert "# port-learning on\n# flood 198.51.100.2\n# flood 198.51.100.3\n" in keyfile
    want = _network.overlay_want("networkmanager", "br0", PORT)
    assert want[_persist.NM_OVERLAY_HOOK].startswith("#!/bin/sh\n") and _persist.is_ours(want[_persist.NM_OVERLAY_HOOK])
    gone = _network.overlay_want(_persist.ANY, "br0", None)
    assert len(gone) == 5 and set(gone.values()) == {None}


def test_guard_rules_and_record():
    guard = GuardSet("br0", {"port": "vxlan100", "mac": "0a:00:00:00:00:01"})
    want = _nft.NftBackend.desired(guard)
    assert sorted(want.chains) == ["guard_br0_bfwd", "guard_br0_bout", "guard_br0_bpre"]
    texts = [_nft.expr_text(e) for chain in sorted(want.chains) for e in want.chains[chain]]
    assert any("oifname" in t and "67" in t for t in texts)
    assert any('ether saddr 0a:00:00:00:00:01' in t and "drop" in t for t in texts)
    record = _boot.record_text(guard, "iptables")
    rset, backend = _boot.load_record(record)
    assert backend == "nftables" and rset.family == "bridge" and rset.model == guard.model
    commands, families = _nft.NftBackend.boot_load([guard])
    assert families == ["bridge"] and commands["nftables"][0] == {
        "add": {"table": {"family": "bridge", "name": "hypervisor_networking"}}}
