# -*- coding: utf-8 -*-
"""The persistent facet of every module that changes links or rules, run for real in a
network namespace with /etc as an overlay over the host's (tests/integration/etc_sandbox.py):
check mode and diff predict the files exactly, a second run changes nothing on either
facet, absent removes only our files, a file of someone else's is refused before any
change, and a write that fails undoes the runtime change too. Loading the rendered boot
files: test_firewall_boot.py; the reboot: molecule/reboot."""

from __future__ import annotations

import json
import os

import pytest
from conftest import diff_files

NETWORKD = "/etc/systemd/network/"
BRIDGE = {"name": "br0", "addresses": ["192.168.100.1/24"], "persist": True, "renderer": "networkd"}
TAPS = {"taps": [{"name": "vm1-tap", "bridge": "br0"}, {"name": "vm2-tap", "bridge": "br0", "multi_queue": True}],
        "persist": True, "renderer": "networkd"}
MASQ = {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0", "persist": True}


def upper(etc, path):
    """The overlay's copy of /etc/<path> (what the module wrote), or None."""
    full = os.path.join(str(etc), "upper", os.path.relpath(path, "/etc"))
    if os.path.islink(full):
        return "-> " + os.readlink(full)
    if not os.path.isfile(full):
        return None
    with open(full) as handle:
        return handle.read()


def runs(ns, module, args, etc):
    """check, apply, again, check again: both facets predicted and then stable."""
    check = ns.module(module, args, check_mode=True, etc=etc)
    assert check["rc"] == 0 and check["changed"] is True, check
    assert all(upper(etc, p) is None for p in check["persisted"]), "check mode wrote a file"
    applied = ns.module(module, args, etc=etc)
    assert applied["rc"] == 0, applied
    for key in ("actions", "persisted", "changed_runtime", "changed_persistent"):
        assert check[key] == applied[key], (key, check[key], applied[key])
    # the diff predicted the files' text exactly
    assert diff_files(check) == diff_files(applied)
    for path, text in diff_files(applied).items():
        assert upper(etc, path) == text or (text is None and upper(etc, path) is None), path
    again = ns.module(module, args, etc=etc)
    assert again["rc"] == 0 and again["changed"] is False and again["persisted"] == [], again
    assert ns.module(module, args, check_mode=True, etc=etc)["changed"] is False
    return applied


def test_bridge_and_taps_persist_in_networkd_files(netns, tmp_path):
    etc = tmp_path / "etc"
    res = runs(netns, "linux_bridge", BRIDGE, etc)
    assert res["changed_runtime"] and res["changed_persistent"] and res["renderer"] == "networkd"
    assert sorted(res["persisted"]) == [NETWORKD + "00-hypervisor-networking-br0.netdev",
                                        NETWORKD + "00-hypervisor-networking-br0.network"]
    network = upper(etc, NETWORKD + "00-hypervisor-networking-br0.network")
    assert "Address=192.168.100.1/24" in network and "ConfigureWithoutCarrier=yes" in network
    mac = json.loads(netns.run("ip", "-j", "link", "show", "br0").stdout)[0]["address"]
    assert "MACAddress=%s" % mac in upper(etc, NETWORKD + "00-hypervisor-networking-br0.netdev")
    res = runs(netns, "tap_iface", TAPS, etc)
    assert len(res["persisted"]) == 4
    tap = json.loads(netns.run("ip", "-j", "link", "show", "vm2-tap").stdout)[0]
    network = upper(etc, NETWORKD + "00-hypervisor-networking-tap-vm2-tap.network")
    assert "Bridge=br0" in network and "MACAddress=%s" % tap["address"] in network
    assert "MultiQueue=yes" in upper(etc, NETWORKD + "00-hypervisor-networking-tap-vm2-tap.netdev")
    # net_info tells the running state from the persisted one (the seed's ifdown lesson)
    netns.run("ip", "addr", "add", "192.168.100.254/24", "dev", "br0")
    netns.run("ip", "link", "del", "vm1-tap")
    info = netns.module("net_info", {"gather": ["persistence"]}, etc=etc)
    assert NETWORKD + "00-hypervisor-networking-br0.network" in info["persistence"]["files"]
    assert "br0: 192.168.100.254/24 is configured now but not persisted: it is lost at the next reboot, and " \
           "networkd may refuse to take the interface down" in info["persistence"]["drift"]
    assert "TAP vm1-tap is persisted but does not exist" in info["persistence"]["drift"]
    netns.run("ip", "addr", "del", "192.168.100.254/24", "dev", "br0")
    netns.module("tap_iface", TAPS, etc=etc)
    assert netns.module("net_info", {"gather": ["persistence"]}, etc=etc)["persistence"]["drift"] == []
    # purge: the TAP and its files go; the listed one stays
    res = netns.module("tap_iface", dict(TAPS, taps=TAPS["taps"][:1], purge=True), etc=etc)
    assert res["purged"] == ["vm2-tap"] and upper(etc, NETWORKD + "00-hypervisor-networking-tap-vm2-tap.netdev") \
        is None and upper(etc, NETWORKD + "00-hypervisor-networking-tap-vm1-tap.netdev") is not None
    # absent: only our files go, a file of the host's stays
    (etc / "upper" / "systemd" / "network" / "50-host.network").write_text("[Match]\nName=eth0\n")
    res = netns.module("linux_bridge", dict(BRIDGE, state="absent"), etc=etc)
    assert res["changed_persistent"] and upper(etc, NETWORKD + "00-hypervisor-networking-br0.network") is None
    assert upper(etc, NETWORKD + "50-host.network") == "[Match]\nName=eth0\n"


NM = "/etc/NetworkManager/system-connections/"


def test_bridge_and_taps_persist_in_networkmanager_keyfiles(netns, tmp_path):
    etc = tmp_path / "etc"
    (etc / "upper" / "NetworkManager" / "system-connections").mkdir(parents=True)  # NetworkManager installed
    bridge, taps = dict(BRIDGE, renderer="networkmanager"), dict(TAPS, renderer="networkmanager")
    netns.run("ip", "link", "add", "vp0", "type", "veth", "peer", "name", "vp1")
    res = runs(netns, "linux_bridge", dict(bridge, ports=["vp0"]), etc)
    assert res["renderer"] == "networkmanager"
    assert sorted(res["persisted"]) == [NM + "hypervisor-networking-bridge-br0.nmconnection",
                                        NM + "hypervisor-networking-port-vp0.nmconnection"]
    # NetworkManager does not run in this namespace's host: the actions say what a running one is told
    assert res["actions"][-3:] == [
        "NetworkManager: load hypervisor-networking-bridge-br0.nmconnection, hypervisor-networking-port-vp0.nmconnection",
        "NetworkManager: activate profile hypervisor-networking-bridge-br0 on br0",
        "NetworkManager: activate profile hypervisor-networking-port-vp0 on vp0"]
    profile = upper(etc, NM + "hypervisor-networking-bridge-br0.nmconnection")
    mac = json.loads(netns.run("ip", "-j", "link", "show", "br0").stdout)[0]["address"]
    assert "\naddress1=192.168.100.1/24\n" in profile and "\ncloned-mac-address=%s\n" % mac in profile
    mode = os.stat(os.path.join(str(etc), "upper", "NetworkManager", "system-connections",
                                "hypervisor-networking-bridge-br0.nmconnection")).st_mode & 0o777
    assert mode == 0o600  # NetworkManager ignores keyfiles others can read
    res = runs(netns, "tap_iface", taps, etc)
    assert len(res["persisted"]) == 2
    tap = json.loads(netns.run("ip", "-j", "link", "show", "vm2-tap").stdout)[0]
    profile = upper(etc, NM + "hypervisor-networking-tap-vm2-tap.nmconnection")
    assert "\nmaster=br0\n" in profile and "\ncloned-mac-address=%s\n" % tap["address"] in profile
    assert "\nmulti-queue=true\n" in profile and "\nowner=0\n" in profile
    netns.run("ip", "addr", "add", "192.168.100.254/24", "dev", "br0")
    drift = netns.module("net_info", {"gather": ["persistence"]}, etc=etc)["persistence"]["drift"]
    assert "br0: 192.168.100.254/24 is configured now but not persisted: it is lost at the next reboot, and " \
           "NetworkManager may refuse to take the interface down" in drift
    netns.run("ip", "addr", "del", "192.168.100.254/24", "dev", "br0")
    # NetworkManager reads forward delays under 2 s as its default: refused before any change
    refused = netns.module("linux_bridge", dict(bridge, forward_delay=0), etc=etc)
    assert refused["rc"] != 0 and "forward_delay" in refused["msg"] and "NetworkManager" in refused["msg"]
    for module, args in (("tap_iface", dict(taps, taps=[dict(t, state="absent") for t in taps["taps"]])),
                         ("linux_bridge", dict(bridge, ports=["vp0"], state="absent"))):
        assert netns.module(module, args, etc=etc)["rc"] == 0
    assert os.listdir(os.path.join(str(etc), "upper", "NetworkManager", "system-connections")) == []


def test_foreign_file_is_refused_before_any_change(netns, tmp_path):
    etc = tmp_path / "etc"
    theirs = etc / "upper" / "systemd" / "network"
    theirs.mkdir(parents=True)
    (theirs / "00-hypervisor-networking-br0.network").write_text("[Match]\nName=br0\n")
    res = netns.module("linux_bridge", BRIDGE, etc=etc)
    assert res["rc"] != 0 and "not written by hypervisor.networking" in res["msg"], res
    assert netns.run("ip", "link", "show", "br0", check=False).returncode != 0


def test_failed_write_undoes_the_runtime_change(netns, tmp_path):
    etc = tmp_path / "etc"
    # a directory where our .network file goes: the write fails after the bridge was made
    (etc / "upper" / "systemd" / "network" / "00-hypervisor-networking-br0.network" / "x").mkdir(parents=True)
    res = netns.module("linux_bridge", BRIDGE, etc=etc)
    assert res["rc"] != 0 and res["rolled_back_actions"], res
    assert netns.run("ip", "link", "show", "br0", check=False).returncode != 0
    assert upper(etc, NETWORKD + "00-hypervisor-networking-br0.netdev") is None


def test_bad_persisted_name_fails_naming_the_option(netns, tmp_path):
    res = netns.module("linux_bridge", dict(BRIDGE, name="br$0"), etc=tmp_path / "etc")
    assert res["rc"] != 0 and res["msg"].startswith("linux_bridge: name='br$0'"), res
    assert netns.run("ip", "link", "show", "br$0", check=False).returncode != 0


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_firewall_sets_persist_in_our_boot_load(netns, tmp_path, backend):
    etc = tmp_path / "etc"
    args = dict(MASQ, backend=backend)
    res = runs(netns, "masquerade", args, etc)
    assert res["changed_runtime"] and res["changed_persistent"]
    unit = "/etc/systemd/system/hypervisor-networking-firewall.service"
    assert "/etc/hypervisor-networking/firewall.d/masq-lan.json" in res["persisted"] and unit in res["persisted"]
    assert upper(etc, "/etc/systemd/system/sysinit.target.wants/hypervisor-networking-firewall.service") == \
        "-> " + unit
    record = json.loads(upper(etc, "/etc/hypervisor-networking/firewall.d/masq-lan.json"))
    assert record["backend"] == backend and record["model"]["source"] == "192.168.100.0/24"
    # the same set at runtime only: the boot load keeps it
    assert netns.module("masquerade", dict(args, persist=False), etc=etc)["changed"] is False
    # net_info: a persisted set that no longer runs is drift
    netns.module("masquerade", dict(args, state="absent", persist=False), etc=etc)
    drift = netns.module("net_info", {"gather": ["persistence"]}, etc=etc)["persistence"]["drift"]
    assert any(d.startswith("masquerade lan is persisted") for d in drift), drift
    assert netns.module("masquerade", args, etc=etc)["changed_runtime"] is True
    assert netns.module("net_info", {"gather": ["persistence"]}, etc=etc)["persistence"]["drift"] == []
    # a forward set joins the same boot load
    dnat = {"name": "web", "forwards": [{"port": 8080, "to_addr": "192.168.100.2"}], "backend": backend,
            "persist": True}
    res = netns.module("iptables_dnat", dnat, etc=etc)
    assert res["rc"] == 0 and "/etc/hypervisor-networking/firewall.d/dnat-web.json" in res["persisted"]
    # a re-run trusts the stamp of the rendered boot files (nothing rendered again), but a boot
    # file edited by hand, or a record, is found and put back
    assert netns.module("iptables_dnat", dnat, etc=etc)["changed"] is False
    stamp = json.loads(upper(etc, "/etc/hypervisor-networking/boot-files.digest"))
    assert unit in stamp["files"] and stamp["inputs"]
    boot_file = next(p for p, digest in stamp["files"].items() if digest and p.startswith("/etc/hypervisor-networking/"))
    rendered = upper(etc, boot_file)
    with open(os.path.join(str(etc), "upper", os.path.relpath(boot_file, "/etc")), "a") as handle:
        handle.write("# edited by hand\n")
    res = netns.module("iptables_dnat", dnat, etc=etc)
    assert res["changed_persistent"] and boot_file in res["persisted"] and upper(etc, boot_file) == rendered, res
    assert netns.module("iptables_dnat", dnat, etc=etc)["changed"] is False
    # absent of both: the unit, its link, the files, the stamp and our directory go
    for module, name in (("masquerade", "lan"), ("iptables_dnat", "web")):
        res = netns.module(module, {"name": name, "state": "absent", "backend": backend, "persist": True}, etc=etc)
        assert res["rc"] == 0 and res["changed_persistent"], res
    assert upper(etc, unit) is None
    assert upper(etc, "/etc/systemd/system/sysinit.target.wants/hypervisor-networking-firewall.service") is None
    assert not os.path.exists(os.path.join(str(etc), "upper", "hypervisor-networking"))


def test_absent_needs_no_manager(netns, tmp_path):
    """Where no manager can be told (auto fails on this machine), removal still finds our
    files in either manager's place."""
    etc = tmp_path / "etc"
    assert netns.module("linux_bridge", BRIDGE, etc=etc)["rc"] == 0
    assert netns.module("tap_iface", TAPS, etc=etc)["rc"] == 0
    present = netns.module("linux_bridge", dict(BRIDGE, renderer="auto"), etc=etc)
    assert present["rc"] != 0 and "renderer=auto" in present["msg"], present
    for module, args in (("tap_iface", {"taps": [dict(t, state="absent") for t in TAPS["taps"]], "persist": True}),
                         ("linux_bridge", {"name": "br0", "state": "absent", "persist": True})):
        res = netns.module(module, args, etc=etc)
        assert res["rc"] == 0 and res["changed_persistent"] and res["renderer"] is None, res
    assert not [p for p in os.listdir(os.path.join(str(etc), "upper", "systemd", "network"))
                if "hypervisor-networking" in p]


def host_network_file(etc, name, text):
    theirs = etc / "upper" / "systemd" / "network"
    theirs.mkdir(parents=True, exist_ok=True)
    (theirs / name).write_text(text)


def test_host_file_for_a_port_sorts_after_ours(netns, tmp_path):
    """The host's own 10-<nic>.network (a common name) loses to our port file: networkd
    applies the first match by file name, and ours start with 00-."""
    etc = tmp_path / "etc"
    host_network_file(etc, "10-vp0.network", "[Match]\nName=vp0\n\n[Network]\nDHCP=yes\n")
    netns.run("ip", "link", "add", "vp0", "type", "veth", "peer", "name", "vp0p")
    res = runs(netns, "linux_bridge", dict(BRIDGE, ports=["vp0"]), etc)
    port = NETWORKD + "00-hypervisor-networking-port-vp0.network"
    assert port in res["persisted"] and "Bridge=br0" in upper(etc, port)
    assert sorted(["10-vp0.network", os.path.basename(port)])[0] == os.path.basename(port)
    assert upper(etc, NETWORKD + "10-vp0.network").endswith("DHCP=yes\n")  # theirs, untouched


@pytest.mark.parametrize("name, match", [("00-all-vp.network", "Name=vp*"),
                                         ("00-by-mac.network", "MACAddress=02:00:00:00:00:aa")])
def test_host_file_that_would_still_win_is_refused(netns, tmp_path, name, match):
    etc = tmp_path / "etc"
    host_network_file(etc, name, "[Match]\n%s\n\n[Network]\nDHCP=yes\n" % match)
    netns.run("ip", "link", "add", "vp0", "address", "02:00:00:00:00:aa", "type", "veth", "peer", "name", "vp0p")
    args = dict(BRIDGE, ports=["vp0"], mac="02:00:00:00:00:aa")
    res = netns.module("linux_bridge", args, etc=etc)
    assert res["rc"] != 0 and name in res["msg"] and "sorts before" in res["msg"], res
    assert netns.run("ip", "link", "show", "br0", check=False).returncode != 0
    assert not os.path.exists(str(etc / "upper" / "systemd" / "network" / "00-hypervisor-networking-br0.netdev"))


def test_files_under_the_old_names_are_replaced(netns, tmp_path):
    """0.2 named our files 10-/20-: a run renames them (the same text under 00-)."""
    etc = tmp_path / "etc"
    runs(netns, "linux_bridge", BRIDGE, etc)
    runs(netns, "tap_iface", TAPS, etc)
    ours = etc / "upper" / "systemd" / "network"
    for path in sorted(ours.iterdir()):
        old = path.name.replace("00-hypervisor-networking-tap-", "20-hypervisor-networking-tap-") \
            .replace("00-hypervisor-networking-", "10-hypervisor-networking-")
        path.rename(ours / old)
    for module, args in (("linux_bridge", BRIDGE), ("tap_iface", TAPS)):
        res = netns.module(module, args, etc=etc)
        assert res["rc"] == 0 and res["changed_persistent"] and not res["changed_runtime"], res
        assert netns.module(module, args, etc=etc)["changed"] is False
    assert sorted(p.name for p in ours.iterdir()) == [
        "00-hypervisor-networking-br0.netdev", "00-hypervisor-networking-br0.network",
        "00-hypervisor-networking-tap-vm1-tap.netdev", "00-hypervisor-networking-tap-vm1-tap.network",
        "00-hypervisor-networking-tap-vm2-tap.netdev", "00-hypervisor-networking-tap-vm2-tap.network"]
