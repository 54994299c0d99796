# -*- coding: utf-8 -*-
"""masquerade on both backends, proven with traffic through a namespace topology."""

from __future__ import annotations

import pytest

from conftest import four_step, seeded_only, without_tables

M = "masquerade"
BACKENDS = ["nftables", "iptables"]
LAN = "192.168.100.0/24"


def masq(backend, **extra):
    args = {"name": "lan", "source": LAN, "out_interface": "up0", "backend": backend}
    args.update(extra)
    return args


@pytest.mark.parametrize("backend", BACKENDS)
def test_guest_reaches_wan_through_nat_tcp_and_udp(nat_lab, backend):
    lab = nat_lab
    lab.serve(lab.wan, "tcp", 8080)
    lab.serve(lab.wan, "udp", 5353)
    # wan has no route to the guests: without NAT no answer comes back
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8080, timeout=1) is None
    res = four_step(lab.hv, M, masq(backend), "rules")
    assert res["backend"] == backend and res["rule"]["state"] == "present"
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8080) == "peer=203.0.113.1"
    assert lab.connect(lab.g2, "udp", "203.0.113.2", 5353) == "peer=203.0.113.1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_excluded_destinations_are_not_translated(nat_lab, backend):
    lab = nat_lab
    lab.serve(lab.wan, "tcp", 8080)
    lab.wan.run("ip", "route", "add", LAN, "via", "203.0.113.1")
    res = four_step(lab.hv, M, masq(backend, exclude_destinations=["203.0.113.0/24", "224.0.0.0/24"]), "rules")
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8080) == "peer=192.168.100.2"
    # updated in place: the exclusion goes, translation comes back
    res = four_step(lab.hv, M, masq(backend), "rules")
    assert any(a.startswith("%s: remove" % backend) for a in res["actions"])
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8080) == "peer=203.0.113.1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_opens_only_guest_to_uplink_and_replies(nat_lab, backend):
    """Under a FORWARD DROP policy (Docker's: iptables-legacy, or iptables-nft on an nftables
    host), forward: true lets the guests out and the replies back, and nothing else: wan
    still cannot open a connection to a guest."""
    lab = nat_lab
    lab.hv.run("iptables-legacy" if backend == "iptables" else "iptables-nft", "-P", "FORWARD", "DROP")
    lab.serve(lab.wan, "tcp", 8080)
    lab.serve(lab.g1, "tcp", 2222)
    lab.wan.run("ip", "route", "add", LAN, "via", "203.0.113.1")
    four_step(lab.hv, M, masq(backend, forward=False), "rules")
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8080, timeout=1) is None
    four_step(lab.hv, M, masq(backend), "rules")
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8080) == "peer=203.0.113.1"
    assert lab.connect(lab.wan, "tcp", "192.168.100.2", 2222, timeout=1) is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_absent_removes_every_trace(nat_lab, backend):
    lab = nat_lab
    pristine = lab.ruleset()
    lab.hv.module(M, masq(backend, name="other", source="10.99.0.0/16"))
    with_other = lab.ruleset()
    lab.hv.module(M, masq(backend))
    res = four_step(lab.hv, M, {"name": "lan", "state": "absent", "backend": backend}, "rules")
    assert res["rule"] == {"name": "lan", "state": "absent"} and res["rules"] == {}
    assert lab.ruleset() == with_other  # the other set is untouched
    four_step(lab.hv, M, {"name": "other", "state": "absent", "backend": backend}, "rules")
    nft, legacy = lab.ruleset()
    assert "hypervisor_networking" not in nft and "HN-" not in legacy and "hypervisor.networking" not in legacy
    assert nft == pristine[0]


def test_auto_absent_finds_the_set_under_either_backend(nat_lab):
    lab = nat_lab
    lab.hv.module(M, masq("iptables"))
    res = lab.hv.module(M, {"name": "lan", "state": "absent"})
    assert res["changed"] and all(a.startswith(("iptables: ", "iptables-nft: ", "iptables-legacy: "))
                                  for a in res["actions"]), res
    assert "HN-" not in lab.ruleset()[1]


FOREIGN_LEGACY = [
    ["-P", "FORWARD", "DROP"],
    ["-N", "DOCKER-USER"],
    ["-A", "DOCKER-USER", "-s", "198.51.100.0/24", "-j", "DROP"],
    ["-A", "DOCKER-USER", "-j", "RETURN"],
    ["-A", "FORWARD", "-j", "DOCKER-USER"],
    ["-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE"],
    ["-t", "nat", "-N", "MINE"],
    ["-t", "nat", "-A", "MINE", "-d", "198.51.100.7", "-j", "RETURN"],
]


def load_nft(ns, tmp_path, text):
    """Load a ruleset file into ns with nft -f."""
    path = tmp_path / "foreign.nft"
    path.write_text(text)
    ns.run("nft", "-f", str(path))


FOREIGN_NFT = """table inet users_own {
    set blocked { type ipv4_addr; elements = { 198.51.100.9 } }
    chain input { type filter hook input priority 0; policy accept; ip saddr @blocked drop; }
    chain forward_check { type filter hook forward priority 10; policy accept; ct state invalid drop; }
}
table ip nat {
    chain POSTROUTING { type nat hook postrouting priority 100; policy accept;
        ip saddr 172.18.0.0/16 oifname != "br-1234" masquerade; }
}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_foreign_rules_stay_byte_identical_and_traffic_flows(nat_lab, backend, tmp_path):
    lab = nat_lab
    for argv in FOREIGN_LEGACY if backend == "iptables" else []:
        lab.hv.run("iptables-legacy", *argv)
    if backend == "nftables":
        load_nft(lab.hv, tmp_path, FOREIGN_NFT)
    lab.serve(lab.wan, "tcp", 8080)
    before = lab.ruleset()
    four_step(lab.hv, M, masq(backend), "rules")
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8080) == "peer=203.0.113.1"
    nft, legacy = lab.ruleset()
    if backend == "nftables":
        assert nft.split("table ip hypervisor_networking")[0] == before[0]
        assert legacy == before[1]
    else:
        # iptables-nft's ip filter, absent before, was created to hold our accepts only
        assert without_tables(nft, ("ip filter",)) == before[0] and seeded_only(lab)
        theirs = [l for l in legacy.splitlines() if "HN-" not in l]
        assert theirs == before[1].splitlines()
    four_step(lab.hv, M, {"name": "lan", "state": "absent", "backend": backend}, "rules")
    assert lab.ruleset() == before


@pytest.mark.parametrize("args,needle", [
    ({"name": "lan", "source": "192.168.100.1/24"}, "source='192.168.100.1/24'"),
    ({"name": "lan", "source": "fd00::/64", "exclude_destinations": ["10.0.0.0/8"]}, "must be IPv6"),
    ({"name": "lan"}, "source=None: required when state is present"),
    ({"name": "bad name", "source": LAN}, "name='bad name'"),
    ({"name": "x" * 65, "source": LAN}, "name="),
    ({"name": "..", "source": LAN}, "name='..'"),
    ({"name": "lan", "source": LAN, "exclude_destinations": ["10.0.0.300/8"]}, "exclude_destinations="),
    ({"name": "lan", "source": LAN, "out_interface": "a-very-long-interface"}, "out_interface="),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input_fails_before_any_change(nat_lab, backend, args, needle):
    lab = nat_lab
    lab.hv.module(M, masq(backend, name="keep"))
    before = lab.ruleset()
    for check_mode in (True, False):
        res = lab.hv.module(M, dict(args, backend=backend), check_mode=check_mode)
        assert res["rc"] != 0 and needle in res["msg"] and res["msg"].startswith("masquerade: "), res
    assert lab.ruleset() == before


def test_auto_uses_nftables_on_a_clean_host(nat_lab):
    res = nat_lab.hv.module(M, {"name": "lan", "source": LAN})
    assert res["backend"] == "nftables" and not res.get("warnings")


def test_auto_follows_legacy_rules_and_warns_about_split_rulesets(nat_lab, tmp_path):
    lab = nat_lab
    lab.hv.run("iptables-legacy", "-A", "INPUT", "-s", "198.51.100.9", "-j", "DROP")
    res = lab.hv.module(M, {"name": "lan", "source": LAN})
    assert res["backend"] == "iptables" and not res.get("warnings")
    load_nft(lab.hv, tmp_path, FOREIGN_NFT)
    res = lab.hv.module(M, {"name": "lan", "source": LAN})
    assert res["backend"] == "iptables" and res["changed"] is False
    assert "rules exist both in iptables-legacy" in str(res["warnings"])


def test_nft_command_fallback_without_python3_nftables(nat_lab, tmp_path):
    """Without the libnftables binding the backend drives the nft command (argument list)."""
    lab = nat_lab
    (tmp_path / "nftables.py").write_text("raise ImportError('hidden for this test')\n")
    lab.serve(lab.wan, "tcp", 8080)
    for check_mode, changed in ((True, True), (False, True), (False, False), (True, False)):
        res = lab.hv.module(M, masq("nftables"), check_mode=check_mode, pythonpath=[str(tmp_path)])
        assert res["rc"] == 0 and res["changed"] is changed, res
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8080) == "peer=203.0.113.1"
    res = lab.hv.module(M, {"name": "lan", "state": "absent", "backend": "nftables"}, pythonpath=[str(tmp_path)])
    assert res["changed"] and "hypervisor_networking" not in lab.ruleset()[0]
