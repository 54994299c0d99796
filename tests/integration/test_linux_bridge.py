# -*- coding: utf-8 -*-
"""linux_bridge against real netlink in throw-away namespaces."""

from __future__ import annotations

import pytest

import json

from conftest import four_step, short_id

M = "linux_bridge"


def veth(ns, name, peer, mtu=None):
    """A veth pair inside ns (the machine here has no dummy driver)."""
    ns.run("ip", "link", "add", name, "type", "veth", "peer", "name", peer)
    if mtu:
        ns.run("ip", "link", "set", name, "mtu", str(mtu))


def test_create_seed_bridge_and_delete(netns):
    br = "br" + short_id()
    res = four_step(netns, M, {"name": br, "addresses": ["192.168.100.1/24"]}, "bridge")
    assert res["actions"] == ["create bridge %s" % br, "add address 192.168.100.1/24 to %s" % br, "set %s up" % br]
    bridge = res["bridge"]
    assert bridge["up"] is True and bridge["ports"] == [] and bridge["addresses"] == ["192.168.100.1/24"]
    assert len(res["diff"]) == 1 and res["diff"][0]["before"] == "" and json.loads(res["diff"][0]["after"]) == bridge
    # what `ip` sees: a bridge, our alias, the seed's `brd +` broadcast
    info = netns.json("ip", "-d", "-j", "addr", "show", "dev", br)[0]
    assert info["linkinfo"]["info_kind"] == "bridge"
    assert info["ifalias"] == "managed-by=hypervisor.networking"
    v4 = [a for a in info["addr_info"] if a["family"] == "inet"][0]
    assert (v4["local"], v4["prefixlen"], v4["broadcast"]) == ("192.168.100.1", 24, "192.168.100.255")

    gone = four_step(netns, M, {"name": br, "state": "absent"}, "bridge")
    assert gone["actions"] == ["delete bridge %s" % br] and gone["bridge"] == {}
    assert netns.run("ip", "link", "show", br, check=False).returncode != 0


@pytest.mark.parametrize("option,value,readback", [
    ("stp", True, ("stp_state", 1)),
    ("forward_delay", 7, ("forward_delay", 700)),
    ("nf_call_iptables", True, ("nf_call_iptables", 1)),
    ("mtu", 1400, None),
    ("mac", "02:AA:bb:00:00:01", None),
    ("up", False, None),
])
def test_each_option_on_existing_bridge(netns, option, value, readback):
    br = "br" + short_id()
    netns.module(M, {"name": br})
    res = four_step(netns, M, {"name": br, option: value}, "bridge")
    expected = value.lower() if option == "mac" else value
    assert res["bridge"][option] == expected
    assert len(res["actions"]) == 1
    link = netns.json("ip", "-d", "-j", "link", "show", br)[0]
    if readback:
        key, raw = readback
        assert link["linkinfo"]["info_data"][key] == raw
    elif option == "mtu":
        assert link["mtu"] == 1400
    elif option == "mac":
        assert link["address"] == "02:aa:bb:00:00:01"
    elif option == "up":
        assert "UP" not in link["flags"]
    # and back again, also four steps (turning the option off is a change too)
    if option in ("stp", "nf_call_iptables", "up"):
        four_step(netns, M, {"name": br, option: not value}, "bridge")


def test_create_with_every_option_at_once(netns):
    br = "br" + short_id()
    veth(netns, "p1" + short_id(), "q1" + short_id())
    args = {"name": br, "stp": True, "forward_delay": 4, "nf_call_iptables": True, "mtu": 9000,
            "mac": "02:00:00:00:00:42", "addresses": ["10.20.0.1/24", "2001:db8:20::1/64"]}
    res = four_step(netns, M, args, "bridge")
    b = res["bridge"]
    assert (b["stp"], b["forward_delay"], b["nf_call_iptables"], b["mtu"], b["mac"]) == (
        True, 4, True, 9000, "02:00:00:00:00:42")
    assert b["addresses"] == ["10.20.0.1/24", "2001:db8:20::1/64"]


def test_vlan_filtering_or_skip_with_reason(netns):
    probe = netns.run("ip", "link", "add", "vfprobe", "type", "bridge", "vlan_filtering", "1", check=False)
    if probe.returncode != 0:
        pytest.skip("kernel has no bridge VLAN filtering: %s" % probe.stderr.strip())
    netns.run("ip", "link", "del", "vfprobe")
    br = "br" + short_id()
    res = four_step(netns, M, {"name": br, "vlan_filtering": True}, "bridge")
    assert res["bridge"]["vlan_filtering"] is True


def test_vlan_filtering_false_is_accepted_everywhere(netns):
    br = "br" + short_id()
    res = four_step(netns, M, {"name": br, "vlan_filtering": False}, "bridge")
    assert res["bridge"]["vlan_filtering"] is False


def test_ports_add_then_purge_and_traffic(netns, make_netns):
    """Two guests on veth ports reach the bridge address and each other."""
    br = "br" + short_id()
    g1, g2 = make_netns("hn-g1"), make_netns("hn-g2")
    ports = []
    for idx, guest in enumerate((g1, g2), start=1):
        port = "vp%d%s" % (idx, short_id(4))
        netns.run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", guest.name)
        netns.run("ip", "link", "set", port, "up")
        guest.run("ip", "addr", "add", "192.168.100.%d/24" % (idx + 1), "dev", "eth0")
        guest.run("ip", "link", "set", "eth0", "up")
        ports.append(port)
    res = four_step(netns, M, {"name": br, "addresses": ["192.168.100.1/24"], "ports": ports}, "bridge")
    assert res["bridge"]["ports"] == sorted(ports)
    assert ["attach %s to %s" % (p, br) for p in ports] == [a for a in res["actions"] if a.startswith("attach")]
    g1.run("ping", "-c", "2", "-W", "2", "192.168.100.1")
    g1.run("ping", "-c", "2", "-W", "2", "192.168.100.3")
    g2.run("ping", "-c", "2", "-W", "2", "192.168.100.2")

    # adding a list without purge keeps the others; purge detaches the unlisted one
    res = four_step(netns, M, {"name": br, "ports": [ports[0]], "purge_ports": True}, "bridge")
    assert res["actions"] == ["detach %s from %s" % (ports[1], br)]
    assert res["bridge"]["ports"] == [ports[0]]
    assert g2.run("ping", "-c", "1", "-W", "1", "192.168.100.1", check=False).returncode != 0
    g1.run("ping", "-c", "1", "-W", "2", "192.168.100.1")


def test_addresses_add_and_purge_keep_link_local(netns):
    br = "br" + short_id()
    port, peer = "pa" + short_id(), "pb" + short_id()
    veth(netns, port, peer)
    netns.run("ip", "link", "set", peer, "up")
    netns.run("ip", "link", "set", port, "up")
    netns.module(M, {"name": br, "ports": [port], "addresses": ["192.168.100.1/24", "2001:db8::1/64"]})
    # wait for the kernel's IPv6 link-local (the bridge has carrier through the port)
    for _attempt in range(50):
        addrs = netns.json("ip", "-j", "addr", "show", "dev", br)[0]["addr_info"]
        if any(a["local"].startswith("fe80") for a in addrs):
            break
        netns.run("sleep", "0.1")
    link_local = [a for a in addrs if a["local"].startswith("fe80")]
    assert link_local, addrs
    # add (no purge): both old ones stay
    res = four_step(netns, M, {"name": br, "addresses": ["198.51.100.1/24", "2001:DB8:1::1/64"]}, "bridge")
    assert res["actions"] == ["add address 198.51.100.1/24 to %s" % br, "add address 2001:db8:1::1/64 to %s" % br]
    assert {"192.168.100.1/24", "2001:db8::1/64", "198.51.100.1/24", "2001:db8:1::1/64"} <= set(res["bridge"]["addresses"])
    # purge: exactly the list plus the link-local
    res = four_step(netns, M, {"name": br, "addresses": ["198.51.100.1/24"], "purge_addresses": True}, "bridge")
    assert sorted(res["actions"]) == sorted([
        "remove address 192.168.100.1/24 from %s" % br, "remove address 2001:db8::1/64 from %s" % br,
        "remove address 2001:db8:1::1/64 from %s" % br])
    left = netns.json("ip", "-j", "addr", "show", "dev", br)[0]["addr_info"]
    assert sorted(a["local"] for a in left) == sorted(["198.51.100.1", link_local[0]["local"]])


def test_new_bridge_gets_a_stable_mac_and_port_mtu(netns):
    """A re-created bridge keeps its MAC (guests' ARP caches stay valid)."""
    br = "br" + short_id()
    port, peer = "pm" + short_id(), "pn" + short_id()
    veth(netns, port, peer, mtu=1380)
    res = four_step(netns, M, {"name": br, "ports": [port]}, "bridge")
    mac = res["bridge"]["mac"]
    assert res["bridge"]["mtu"] == 1380
    assert int(mac[:2], 16) & 0x03 == 0x02  # locally administered unicast
    four_step(netns, M, {"name": br, "state": "absent"}, "bridge")
    again = four_step(netns, M, {"name": br, "ports": [port]}, "bridge")
    assert again["bridge"]["mac"] == mac


def test_existing_bridge_mtu_nobody_set_follows_its_ports(netns):
    """The kernel derives an unset bridge MTU from its ports: check mode, diff and the
    result predict that, and the result is the read-back (was: 1500 everywhere, 1400 real)."""
    netns.run("ip", "link", "add", "brmtu", "type", "bridge")
    port, peer = "pu" + short_id(), "pv" + short_id()
    veth(netns, port, peer, mtu=1400)
    res = four_step(netns, M, {"name": "brmtu", "ports": [port]}, "bridge")
    assert res["bridge"]["mtu"] == 1400 == netns.json("ip", "-j", "link", "show", "brmtu")[0]["mtu"]
    assert json.loads(res["diff"][0]["after"])["mtu"] == 1400
    # an MTU the user set stays when ports come
    netns.run("ip", "link", "set", "brmtu", "mtu", "1300")
    other, other_peer = "pw" + short_id(), "px" + short_id()
    veth(netns, other, other_peer, mtu=1450)
    res = four_step(netns, M, {"name": "brmtu", "ports": [port, other]}, "bridge")
    assert res["bridge"]["mtu"] == 1300 == netns.json("ip", "-j", "link", "show", "brmtu")[0]["mtu"]


def test_hand_made_bridge_mac_follows_ports_in_check_mode(netns):
    """A bridge created elsewhere with a random MAC adopts the lowest port MAC."""
    netns.run("ip", "link", "add", "brhand", "type", "bridge")
    port, peer = "ph" + short_id(), "pi" + short_id()
    veth(netns, port, peer)
    netns.run("ip", "link", "set", port, "address", "02:00:00:00:00:01")
    res = four_step(netns, M, {"name": "brhand", "ports": [port]}, "bridge")
    assert res["bridge"]["mac"] == "02:00:00:00:00:01"


@pytest.mark.parametrize("args,needle", [
    ({"name": "averyveryverylongbridge"}, "name='averyveryverylongbridge'"),
    ({"name": "brbad", "addresses": ["192.168.100.300/24"]}, "addresses='192.168.100.300/24'"),
    ({"name": "brbad", "addresses": ["192.168.100.1"]}, "addresses='192.168.100.1'"),
    ({"name": "brbad", "addresses": ["10.0.0.1/24"], "ports": ["nosuchport0"]}, "ports='nosuchport0'"),
    ({"name": "brbad", "mac": "01:00:5e:00:00:01"}, "mac='01:00:5e:00:00:01'"),
    ({"name": "brbad", "stp": True, "forward_delay": 1}, "forward_delay=1"),
    ({"name": "brbad", "mtu": 20}, "mtu=20"),
])
def test_bad_input_fails_before_any_change(netns, args, needle):
    veth(netns, "keep0", "keep1")
    before = netns.snapshot()
    for check_mode in (True, False):
        res = netns.module(M, args, check_mode=check_mode)
        assert res["rc"] != 0 and res.get("failed") is True, res
        assert needle in res["msg"], res["msg"]
        assert res["msg"].startswith("linux_bridge: ")
    assert netns.snapshot() == before


def test_existing_non_bridge_is_refused(netns):
    veth(netns, "notabr0", "notabr1")
    before = netns.snapshot()
    for state in ("present", "absent"):
        res = netns.module(M, {"name": "notabr0", "state": state})
        assert res["rc"] != 0 and "veth" in res["msg"] and "not a bridge" in res["msg"], res
    assert netns.snapshot() == before


def test_port_of_another_bridge_is_refused(netns):
    netns.run("ip", "link", "add", "foreignbr", "type", "bridge")
    veth(netns, "fp0", "fp1")
    netns.run("ip", "link", "set", "fp0", "master", "foreignbr")
    before = netns.snapshot()
    res = netns.module(M, {"name": "brmine", "ports": ["fp0"]})
    assert res["rc"] != 0 and "already belongs to foreignbr" in res["msg"], res
    assert netns.snapshot() == before


def test_failure_halfway_is_rolled_back(netns):
    """The kernel refuses to enslave loopback after the bridge was created: undo it."""
    before = netns.snapshot()
    res = netns.module(M, {"name": "brroll", "addresses": ["192.0.2.1/24"], "ports": ["lo"]})
    assert res["rc"] != 0, res
    assert "failed to attach lo to brroll" in res["msg"], res
    assert res["applied_actions"] == ["create bridge brroll"]
    assert res["rolled_back_actions"] == ["undo: create bridge brroll"]
    assert netns.snapshot() == before
