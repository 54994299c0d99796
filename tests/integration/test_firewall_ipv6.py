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


class Sandboxed(object):
    """hv whose module runs write /etc into the test's directory (an overlay)."""

    def __init__(self, ns, etc):
        self.ns, self.etc = ns, etc

    def module(self, name, args, check_mode=False):
        return self.ns.module(name, args, check_mode=check_mode, etc=self.etc)


@pytest.mark.parametrize("backend", BACKENDS)
def test_net_info_lists_ipv6_sets_and_each_published_port_with_its_counters(nat_lab6, backend, tmp_path):
    lab, hv = nat_lab6, Sandboxed(nat_lab6.hv, tmp_path / "etc")
    lab.serve(lab.g1, "tcp", 80)
    # persisted: net_info reads a long name back through the store
    name = "a-forward-set-whose-name-is-longer-than-iptables-allows"
    four_step(hv, "iptables_dnat", {"name": name, "backend": backend, "forwards": [
        {"port": 8081, "to_addr": "192.168.100.2", "to_port": 80, "sources": ["203.0.113.0/24"]},
        {"port": 8082, "to_addr": "192.168.100.2", "to_port": 80}], "persist": True}, "rules")
    four_step(hv, "iptables_dnat", {"name": "web", "backend": backend, "forwards": [
        {"port": 8080, "to_addr": G1_6, "to_port": 80}]}, "rules")
    four_step(hv, "masquerade", {"name": "lan", "source": SUBNET6, "out_interface": "up0", "backend": backend},
              "rules")
    assert lab.connect(lab.wan, "tcp", HV6, 8080) == "peer=%s" % WAN6
    for _n in range(2):
        assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8081) == "peer=203.0.113.2"
    info = hv.module("net_info", {"gather": ["firewall"]})
    sets = dict(((s["kind"], s["family"], s["name"]), s) for s in info["firewall"]["sets"])
    assert sets[("forwards", "ipv6", "web")]["packets"] > 0 and sets[("forwards", "ipv6", "web")]["backend"] == backend
    assert ("masquerade", "ipv6", "lan") in sets and ("forwards", "ipv4", name) in sets  # the long name in full
    rows = dict(((r["set"], r["port"]), r) for r in info["firewall"]["forwards"])
    assert rows[("web", 8080)]["family"] == "ipv6" and rows[("web", 8080)]["to_addr"] == G1_6
    assert rows[("web", 8080)]["to_port"] == 80 and rows[("web", 8080)]["packets"] == 1
    assert rows[(name, 8081)]["packets"] == 2 and rows[(name, 8081)]["match"] == {"sources": "203.0.113.0/24"}
    assert rows[(name, 8082)]["packets"] == 0 and rows[(name, 8082)]["match"] == {}
    assert any("[%s]:80" % G1_6 in line for line in info["firewall"]["forward_table"])
