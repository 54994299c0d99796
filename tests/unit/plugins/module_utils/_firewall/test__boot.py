# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall's boot-time files, rendered from stored desired states (loading them for
real: tests/integration/test_firewall_boot.py)."""

from __future__ import annotations

import json

from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    BridgeSet,
    DnatSet,
    ForwardSet,
    Masquerade,
    MasqueradeSet,
)

MASQ = Masquerade.from_params({"name": "br0", "source": "192.168.100.0/24", "out_interface": "eth0"})
DNAT = ForwardSet.from_params({"name": "br0", "localhost": True,
                               "forwards": [{"port": 8080, "to_addr": "192.168.100.10", "to_port": 80}]})


def bins(name):
    return "/usr/sbin/" + name


def records(backend, extra=()):
    out = {}
    for rset in [MasqueradeSet("br0", MASQ), DnatSet("br0", DNAT, hairpin=[("192.168.100.0/24", "br0")]),
                 BridgeSet("br0", True)] + list(extra):
        loaded = _boot.load_record(_boot.record_text(rset, backend))
        out[loaded[0].key] = loaded
    return out


def test_record_round_trip_is_stable():
    text = _boot.record_text(DnatSet("br0", DNAT, hairpin=[("192.168.100.0/24", "br0")]), "nftables")
    rset, backend = _boot.load_record(text)
    assert (rset.key, backend, rset.hairpin) == (("dnat", "ipv4", "br0"), "nftables", [("192.168.100.0/24", "br0")])
    assert _boot.record_text(rset, backend) == text
    assert '"family"' not in text  # IPv4 records as 0.2 wrote them
    six = Masquerade.from_params({"name": "br0", "source": "fd00:100::/64", "out_interface": "eth0"})
    text6 = _boot.record_text(MasqueradeSet("br0", six, "ipv6"), "iptables")
    assert _boot.load_record(text6)[0].key == ("masq", "ipv6", "br0") and '"family": "ipv6"' in text6
    assert _boot.store_path(MasqueradeSet("br0", six, "ipv6")).endswith("/masq6-br0.json")


def test_nftables_render_replaces_our_table_only():
    files = _boot.render(records("nftables"), bins, legacy_alternative=False)
    cmds = json.loads(files[_boot.NFT_FILE])["nftables"]
    table = {"family": "ip", "name": "hypervisor_networking"}
    assert cmds[:3] == [{"add": {"table": table}}, {"delete": {"table": table}}, {"add": {"table": table}}]
    assert all(list(c.values())[0].get("table", "hypervisor_networking") == "hypervisor_networking"
               for c in cmds[3:])
    unit = files[_boot.UNIT_FILE]
    assert "ExecStart=/usr/sbin/nft -j -f /etc/hypervisor-networking/nftables.json" in unit
    assert "After=local-fs.target systemd-modules-load.service nftables.service" in unit
    assert "Before=network-pre.target" in unit and "WantedBy=sysinit.target" in unit
    # the FORWARD accepts go where the host's iptables command (Docker, libvirt) writes
    assert ":HN-FM-br0 - [0:0]" in files["/etc/hypervisor-networking/iptables-nft.rules"]
    # the bridged frames' accepts of linux_bridge (nf_call_iptables: false) as well
    assert "-I HN-FB-br0 1 -i br0 -o br0 -m physdev --physdev-is-bridged" in \
        files["/etc/hypervisor-networking/iptables-nft.rules"]
    assert "-D FORWARD" in files["/etc/hypervisor-networking/iptables-nft.stop.rules"]
    assert "ExecStop=-/usr/sbin/iptables-nft-restore --noflush --wait=10 " \
           "/etc/hypervisor-networking/iptables-nft.stop.rules" in unit
    assert files[_boot.SYSCTL_FILE].endswith("net.ipv4.conf.all.route_localnet = 1\n")


def test_iptables_render_writes_legacy_chains():
    files = _boot.render(records("iptables"), bins, legacy_alternative=True)
    legacy = files["/etc/hypervisor-networking/iptables-legacy.rules"]
    assert legacy.index("*nat") < legacy.index("*filter")
    assert ":HN-PM-br0 - [0:0]" in legacy and "-j MASQUERADE" in legacy and ":HN-FB-br0 - [0:0]" in legacy
    assert '-I POSTROUTING 1 -m comment --comment "hypervisor.networking" -j HN-PM-br0' in legacy
    assert files[_boot.NFT_FILE] is None
    assert "/etc/hypervisor-networking/iptables-nft.rules" not in files or \
        files["/etc/hypervisor-networking/iptables-nft.rules"] is None


def test_nothing_stored_renders_nothing():
    files = _boot.render({}, bins, legacy_alternative=False)
    assert files[_boot.UNIT_FILE] is None and files[_boot.NFT_FILE] is None and files[_boot.SYSCTL_FILE] is None


MASQ6 = Masquerade.from_params({"name": "br0", "source": "fd00:100::/64", "out_interface": "eth0"})


def test_ipv6_sets_load_into_the_ip6_table_and_ip6tables():
    files = _boot.render(records("nftables", [MasqueradeSet("br0", MASQ6, "ipv6")]), bins, legacy_alternative=False)
    cmds = json.loads(files[_boot.NFT_FILE])["nftables"]
    six = {"family": "ip6", "name": "hypervisor_networking"}
    assert [{"add": {"table": six}}, {"delete": {"table": six}}, {"add": {"table": six}}] == \
        [c for c in cmds if c.get("add", c.get("delete", {})).get("table") == six]
    assert "ExecStop=-/usr/sbin/nft delete table ip6 hypervisor_networking" in files[_boot.UNIT_FILE]
    # no IPv6 FORWARD of other tools is made at boot (as at runtime: Docker and libvirt
    # rarely set an IPv6 drop); the accepts are in our own table
    assert files.get("/etc/hypervisor-networking/ip6tables-nft.rules") is None
    legacy = _boot.render(records("iptables", [MasqueradeSet("br0", MASQ6, "ipv6")]), bins, legacy_alternative=True)
    six = legacy["/etc/hypervisor-networking/ip6tables-legacy.rules"]
    assert "-s fd00:100::/64 -o eth0" in six
    # the filter table our IPv6 chains make gets the bridge's accepts too, as a run gives them
    assert ":HN-FB-br0 - [0:0]" in six and ":HN-FM-br0 - [0:0]" in six
    assert "ip6tables-legacy-restore --noflush --wait=10" in legacy[_boot.UNIT_FILE]
