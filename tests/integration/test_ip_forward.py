# -*- coding: utf-8 -*-
"""ip_forward against the /proc/sys of throw-away namespaces, and traffic through them."""

from __future__ import annotations

import os
import stat
import time

import pytest

from conftest import four_step

M = "ip_forward"
V4, V6 = "net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"


def proc(ns, key):
    return int(ns.run("cat", "/proc/sys/" + key).stdout)


def set_proc(ns, key, value):
    ns.run("sh", "-c", "echo %d > /proc/sys/%s" % (value, key))


@pytest.fixture
def dropin(tmp_path):
    return str(tmp_path / "90-hypervisor-networking.conf")


@pytest.mark.parametrize("start,args,expect", [
    ((0, 0), {"ipv4": True}, (1, 0)),
    ((1, 0), {"ipv4": False}, (0, 0)),
    ((0, 0), {"ipv4": True, "ipv6": True}, (1, 1)),
    ((1, 1), {"ipv4": True, "ipv6": False}, (1, 0)),
])
def test_runtime_and_dropin(netns, dropin, start, args, expect):
    set_proc(netns, V4, start[0])
    set_proc(netns, V6, start[1])
    res = four_step(netns, M, dict(args, sysctl_file=dropin), "forwarding")
    assert (proc(netns, V4), proc(netns, V6)) == expect
    assert res["forwarding"] == {"ipv4": bool(expect[0]), "ipv6": bool(expect[1])}
    assert res["changed_persistent"] is True and res["persisted"] == dropin
    lines = [l for l in open(dropin).read().splitlines() if not l.startswith("#")]
    wanted = ["net.ipv4.ip_forward = %d" % expect[0]]
    if "ipv6" in args:
        wanted.append("net.ipv6.conf.all.forwarding = %d" % expect[1])
    assert lines == wanted
    assert stat.S_IMODE(os.stat(dropin).st_mode) == 0o644


def test_runtime_and_persistent_facets_reported_separately(netns, dropin):
    set_proc(netns, V4, 1)
    res = netns.module(M, {"sysctl_file": dropin})
    assert (res["changed_runtime"], res["changed_persistent"]) == (False, True)
    assert res["actions"] == ["write %s (persistent: net.ipv4.ip_forward = 1)" % dropin]
    set_proc(netns, V4, 0)
    res = netns.module(M, {"sysctl_file": dropin})
    assert (res["changed_runtime"], res["changed_persistent"]) == (True, False)
    assert res["actions"] == ["set net.ipv4.ip_forward = 1 (runtime, was 0)"]


def test_ipv6_omitted_keeps_its_dropin_line(netns, dropin):
    netns.module(M, {"ipv6": True, "sysctl_file": dropin})
    res = four_step(netns, M, {"ipv4": False, "sysctl_file": dropin}, "forwarding")
    assert "net.ipv6.conf.all.forwarding = 1" in open(dropin).read()
    assert res["forwarding"]["ipv6"] is True


def test_persist_false_touches_no_file(netns, tmp_path):
    set_proc(netns, V4, 0)
    absent = str(tmp_path / "absent.conf")
    res = four_step(netns, M, {"persist": False, "sysctl_file": absent}, "forwarding")
    assert res["persisted"] is None and not os.path.exists(absent)
    existing = tmp_path / "existing.conf"
    existing.write_text("net.ipv4.ip_forward = 0\n")
    before = os.stat(str(existing))
    set_proc(netns, V4, 0)
    res = netns.module(M, {"persist": False, "sysctl_file": str(existing)})
    assert res["changed_persistent"] is False and existing.read_text() == "net.ipv4.ip_forward = 0\n"
    assert os.stat(str(existing)).st_mtime_ns == before.st_mtime_ns


def test_bad_sysctl_file_fails_before_any_change(netns, tmp_path):
    set_proc(netns, V4, 0)
    for path, needle in ((str(tmp_path / "no" / "such.conf"), "directory does not exist"),
                         ("relative.conf", "absolute path"), (str(tmp_path), "is a directory")):
        res = netns.module(M, {"sysctl_file": path})
        assert res["rc"] != 0 and "sysctl_file=" in res["msg"] and needle in res["msg"], res
        assert proc(netns, V4) == 0


def test_an_admins_dropin_is_refused_not_rewritten(netns, tmp_path):
    """A sysctl_file holding an admin's lines (a comment, a '-' prefix) is never rewritten
    with our header: refused before any change, runtime included, also by guest_network."""
    set_proc(netns, V4, 0)
    foreign = tmp_path / "99-admin.conf"
    text = "# the admin's tuning\n-net.ipv4.ip_forward = 0\nvm.swappiness = 10\n"
    foreign.write_text(text)
    for check_mode in (True, False):
        res = netns.module(M, {"sysctl_file": str(foreign)}, check_mode=check_mode)
        assert res["rc"] != 0 and "was not written by this collection" in res["msg"] and str(foreign) in res["msg"]
    netns.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1")
    res = netns.module("guest_network", {"name": "brs", "addresses": ["192.168.100.1/24"], "uplink": "up0",
                                         "persist": True, "renderer": "networkd", "sysctl_file": str(foreign),
                                         "qemu_acl": False},
                       etc=str(tmp_path / "etc"))
    assert res["rc"] != 0 and "was not written by this collection" in res["msg"], res
    assert foreign.read_text() == text and proc(netns, V4) == 0
    assert "brs" not in netns.run("ip", "link", "show").stdout


def test_forwarding_moves_packets_between_subnets(netns, make_netns):
    """A router namespace forwards between two TEST-NET subnets only with ip_forward on."""
    left, right = make_netns("hn-l"), make_netns("hn-r")
    for peer, subnet in ((left, "192.0.2"), (right, "198.51.100")):
        netns.run("ip", "link", "add", "to-" + peer.name[3:4], "type", "veth", "peer", "name", "eth0",
                  "netns", peer.name)
        netns.run("ip", "addr", "add", subnet + ".1/24", "dev", "to-" + peer.name[3:4])
        netns.run("ip", "link", "set", "to-" + peer.name[3:4], "up")
        peer.run("ip", "addr", "add", subnet + ".2/24", "dev", "eth0")
        peer.run("ip", "link", "set", "eth0", "up")
        peer.run("ip", "route", "add", "default", "via", subnet + ".1")
    netns.module(M, {"ipv4": False, "persist": False})
    assert left.run("ping", "-c", "1", "-W", "1", "198.51.100.2", check=False).returncode != 0
    res = netns.module(M, {"ipv4": True, "persist": False})
    assert res["changed"] is True
    left.run("ping", "-c", "2", "-W", "2", "198.51.100.2")


def ra_default_routes(ns):
    return [(r["dev"], r.get("protocol")) for r in ns.json("ip", "-j", "-6", "route", "show", "default")]


def test_an_uplink_with_an_ra_default_route_keeps_it(netns, make_netns, dropin, tmp_path):
    """IPv6 forwarding on: the kernel ignores advertisements on accept_ra=1 links and drops
    the default routes learnt from them, unless accept_ra is 2 first; off again: 1."""
    import test_migrate  # pylint: disable=import-outside-toplevel
    peer = make_netns("hn-rtr")
    netns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer.name)
    for ns in (netns, peer):
        ns.run("ip", "link", "set", "eth0", "up")
    set_proc(netns, V6, 0)
    set_proc(netns, "net/ipv6/conf/eth0/accept_ra", 1)
    key = "net/ipv6/conf/eth0/accept_ra"
    with test_migrate.router_advertisements(peer, tmp_path):
        for _attempt in range(60):
            if ra_default_routes(netns):
                break
            time.sleep(0.25)
        assert ra_default_routes(netns) == [("eth0", "ra")]
        args = {"ipv4": True, "ipv6": True, "sysctl_file": dropin}
        check = netns.module(M, args, check_mode=True)
        res = netns.module(M, args)
        assert res["rc"] == 0 and res["actions"] == check["actions"] and res["ra_uplinks"] == ["eth0"], res
        assert res["actions"].index("set %s = 2 (runtime, was 1)" % key) < res["actions"].index(
            "set net.ipv6.conf.all.forwarding = 1 (runtime, was 0)")
        assert proc(netns, key) == 2 and proc(netns, V6) == 1
        assert ra_default_routes(netns) == [("eth0", "ra")]  # not dropped
        with open(dropin) as handle:
            assert "%s = 2\n" % key in handle.read()
        again = netns.module(M, args)
        assert again["changed"] is False and again["ra_uplinks"] == ["eth0"], again
        # forwarding off: the link takes advertisements as the kernel's default, the line goes
        off = netns.module(M, dict(args, ipv6=False))
        assert off["rc"] == 0 and off["ra_uplinks"] == [] and proc(netns, key) == 1 and proc(netns, V6) == 0, off
        with open(dropin) as handle:
            assert "accept_ra" not in handle.read()
        assert netns.module(M, dict(args, ipv6=False))["changed"] is False
