# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""net_info's views: route -n flags, genmasks, the route table and brctl show text."""

from __future__ import annotations

import socket

from ansible_collections.hypervisor.networking.plugins.module_utils import _info


def raw(dst, dst_len, gateway=None, type_=1, proto=4, scope=0, family=socket.AF_INET, oif=2, priority=None):
    return {"family": family, "dst": dst, "dst_len": dst_len, "gateway": gateway, "priority": priority, "oif": oif,
            "table": 254, "proto": proto, "scope": scope, "type": type_, "prefsrc": None}


NAMES = {2: "eth0", 3: "br0"}


def test_flags_as_route_n():
    assert _info.route_view(raw(None, 0, "192.0.2.1"), NAMES)["flags"] == "UG"
    assert _info.route_view(raw("192.0.2.0", 24, proto=2, scope=253), NAMES)["flags"] == "U"
    assert _info.route_view(raw("198.51.100.7", 32, "192.0.2.9"), NAMES)["flags"] == "UGH"
    assert _info.route_view(raw("198.51.100.8", 32, oif=3), NAMES)["flags"] == "UH"
    assert _info.route_view(raw("10.99.0.0", 16, type_=7, oif=None), NAMES)["flags"] == "!"
    assert _info.route_view(raw("10.98.0.0", 16, type_=6, oif=None), NAMES)["flags"] == "U"  # blackhole
    six = _info.route_view(raw("2001:db8::1", 128, "fe80::1", family=socket.AF_INET6), NAMES)
    assert six["flags"] == "UGH" and six["genmask"] is None and six["family"] == "ipv6"


def test_defaults_are_spelled_out():
    view = _info.route_view(raw(None, 0, "192.0.2.1"), NAMES)
    assert (view["destination"], view["genmask"], view["metric"], view["iface"]) == ("0.0.0.0", "0.0.0.0", 0, "eth0")
    assert (view["protocol"], view["scope"], view["type"], view["table"]) == ("static", "global", "unicast", "main")


def test_route_table_text_orders_like_route_n():
    routes = sorted((_info.route_view(r, NAMES) for r in (
        raw(None, 0, "192.0.2.1", priority=100), raw("192.0.2.0", 24, proto=2, scope=253),
        raw("198.51.100.7", 32, "192.0.2.9"))), key=_info.route_sort_key)
    text = _info.route_table_text(routes)
    assert [line.split()[0] for line in text[2:]] == ["198.51.100.7", "192.0.2.0", "0.0.0.0"]
    assert text[-1].split() == ["0.0.0.0", "192.0.2.1", "0.0.0.0", "UG", "100", "0", "0", "eth0"]


def test_brctl_show_text():
    bridges = [{"name": "br0", "bridge_id": _info.bridge_id(0x8000, "02:11:22:33:44:55"), "stp": True,
                "ports": ["eth0", "vm1-tap"]}, {"name": "br1", "bridge_id": "8000.0211", "stp": False, "ports": []}]
    text = _info.bridges_text(bridges)
    assert text[0].split() == ["bridge", "name", "bridge", "id", "STP", "enabled", "interfaces"]
    assert text[1].split() == ["br0", "8000.021122334455", "yes", "eth0"]
    assert text[2].split() == ["vm1-tap"] and text[3].split() == ["br1", "8000.0211", "no"]


def test_networkmanager_drift_names_the_link_our_profile_does_not_run_on(tmp_path, monkeypatch):
    from ansible_collections.hypervisor.networking.plugins.module_utils import _persist
    monkeypatch.setattr(_persist, "NM_DIR", str(tmp_path))
    bridge = {"name": "br0", "addresses": ["192.168.100.1/24"], "mac": None, "stp": False, "forward_delay": 0}
    tap = {"name": "vm1-tap", "owner": 0, "group": None, "bridge": "br0", "mac": "fe:00:00:00:00:01", "up": False}
    for path, text in list(_persist.bridge_files("networkmanager", bridge).items()) + list(
            _persist.tap_files("networkmanager", tap).items()):
        (tmp_path / path.rsplit("/", 1)[1]).write_text(text)
    (tmp_path / "uplink.nmconnection").write_text("[connection]\nid=uplink\ninterface-name=br0\nautoconnect=true\n")
    ours = _persist.nm_uuid("hypervisor-networking-bridge-br0.nmconnection")
    links = {"br0": {}, "vm1-tap": {}}
    assert _info.nm_drift(links, {ours: "br0"}) == []  # and the TAP that is not to come up is not drift
    (drift,) = _info.nm_drift(links, {"other-uuid": "br0"})
    assert drift.startswith("br0: NetworkManager does not run our profile %s/hypervisor-networking-bridge-br0"
                            % tmp_path) and "active there: other-uuid" in drift
    assert "no profile active" in _info.nm_drift(links, {})[0]
    assert _info.nm_drift({}, {}) == []  # a link that is not there is drift of its own
