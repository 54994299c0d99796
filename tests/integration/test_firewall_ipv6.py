# -*- coding: utf-8 -*-
"""The firewall modules in IPv6, on both backends, proven with traffic in namespaces:
NAT66 (the server sees the uplink's address), published IPv6 ports (DNAT66, hairpin),
IPv4 and IPv6 forwards in one set, a set that changes family."""

from __future__ import annotations

import pytest

from conftest import GW6, HV6, WAN6, four_step

BACKENDS = ["nftables", "iptables"]
SUBNET6 = "fd00:100::/64"
G1_6 = "fd00:100::2"


def _ours(lab, backend, family):
    """Our IPv6 (or IPv4) ruleset text on the backend."""
    if backend == "nftables":
        return lab.hv.run("nft", "list", "table", family, "hypervisor_networking", check=False).stdout
    return lab.hv.run("ip6tables-legacy-save" if family == "ip6" else "iptables-legacy-save", check=False).stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_nat66_and_a_set_that_changes_family(nat_lab6, backend):
    lab = nat_lab6
    lab.serve(lab.wan, "tcp", 80)
    assert lab.connect(lab.g1, "tcp", WAN6, 80, timeout=1) is None  # the internet has no route to the guests
    args = {"name": "lan", "source": SUBNET6, "out_interface": "up0", "backend": backend}
    res = four_step(lab.hv, "masquerade", args, "rules")
    assert res["rule"]["source"] == SUBNET6
    assert lab.connect(lab.g1, "tcp", WAN6, 80) == "peer=%s" % HV6
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 80, timeout=1) is None  # IPv4 is not masqueraded
    assert "HN-PM-lan" in _ours(lab, backend, "ip6") or "masq_lan_post" in _ours(lab, backend, "ip6")
    # the same set in IPv4: the IPv6 part goes in the same run
    res = four_step(lab.hv, "masquerade", dict(args, source="192.168.100.0/24"), "rules")
    assert any("remove" in a and ("ip6" in a) for a in res["actions"]), res["actions"]
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 80) == "peer=203.0.113.1"
    assert lab.connect(lab.g1, "tcp", WAN6, 80, timeout=1) is None
    assert "lan" not in _ours(lab, backend, "ip6")
    four_step(lab.hv, "masquerade", {"name": "lan", "state": "absent", "backend": backend}, "rules")
    assert "lan" not in _ours(lab, backend, "ip")


@pytest.mark.parametrize("backend", BACKENDS)
def test_published_ports_in_both_families_and_hairpin66(nat_lab6, backend):
    lab = nat_lab6
    lab.serve(lab.g1, "tcp", 80)
    lab.serve(lab.g1, "udp", 53)
    forwards = [{"port": 8080, "to_addr": G1_6, "to_port": 80},
                {"port": 8080, "to_addr": "192.168.100.2", "to_port": 80},
                {"proto": "udp", "port": 5353, "to_addr": G1_6, "to_port": 53}]
    assert lab.connect(lab.wan, "tcp", HV6, 8080, timeout=1) is None
    res = four_step(lab.hv, "iptables_dnat", {"name": "web", "forwards": forwards, "backend": backend}, "rules")
    assert [f["to_addr"] for f in res["forwards"]] == [G1_6, "192.168.100.2", G1_6]
    # the guest sees the real client in both families
    assert lab.connect(lab.wan, "tcp", HV6, 8080) == "peer=%s" % WAN6
    assert lab.connect(lab.wan, "udp", HV6, 5353) == "peer=%s" % WAN6
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
    # hairpin: g2 through the host's address, answered through it
    assert lab.connect(lab.g2, "tcp", HV6, 8080) == "peer=%s" % GW6
    # the IPv6 forwards go: their table or chains with them, IPv4 keeps working
    res = four_step(lab.hv, "iptables_dnat", {"name": "web", "forwards": forwards[1:2], "backend": backend}, "rules")
    assert lab.connect(lab.wan, "tcp", HV6, 8080, timeout=1) is None
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
    assert "web" not in _ours(lab, backend, "ip6")
    four_step(lab.hv, "iptables_dnat", {"name": "web", "state": "absent", "backend": backend}, "rules")


@pytest.mark.parametrize("backend", BACKENDS)
def test_ipv6_sets_come_back_from_the_boot_load_and_net_info_lists_them(nat_lab6, backend, tmp_path):
    lab = nat_lab6
    lab.serve(lab.g1, "tcp", 80)
    four_step(lab.hv, "iptables_dnat", {"name": "web", "backend": backend, "forwards": [
        {"port": 8080, "to_addr": G1_6, "to_port": 80}]}, "rules")
    four_step(lab.hv, "masquerade", {"name": "lan", "source": SUBNET6, "out_interface": "up0", "backend": backend},
              "rules")
    assert lab.connect(lab.wan, "tcp", HV6, 8080) == "peer=%s" % WAN6
    info = lab.hv.module("net_info", {"gather": ["firewall"]})
    sets = dict(((s["kind"], s["family"], s["name"]), s) for s in info["firewall"]["sets"])
    assert sets[("forwards", "ipv6", "web")]["packets"] > 0 and sets[("forwards", "ipv6", "web")]["backend"] == backend
    assert ("masquerade", "ipv6", "lan") in sets and not [k for k in sets if k[1] == "ipv4"]
