# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persisted link files: what each manager gets, ownership of files, detection inputs."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _persist, _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError

BRIDGE = {"name": "br0", "addresses": ["192.168.100.1/24", "fd00:100::1/64"], "mac": "02:11:22:33:44:55",
          "stp": False, "forward_delay": 0, "vlan_filtering": False, "mtu_declared": None}
TAP = {"name": "vm1-tap", "owner": 1500, "group": None, "bridge": "br0", "mac": "fe:00:00:00:00:01",
       "mtu": None, "up": True, "multi_queue": True, "vnet_hdr": True}


@pytest.fixture
def file_stamps(tmp_path):
    """The file stamps' path (conftest gives each test a run directory of its own)."""
    return os.path.join(_rundir.RUN_DIR, _persist.FILE_STAMPS)


def body(text):
    """The file without its header lines."""
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_ifupdown_bridge_stanzas():
    (path, text), = _persist.bridge_files("ifupdown", BRIDGE).items()
    assert path == "/etc/network/interfaces.d/hypervisor-networking-1-br0"
    assert _persist.is_ours(text)
    assert body(text) == [
        "auto br0", "iface br0 inet static", "    bridge_ports none", "    bridge_ports_condone_regex .*",
        "    bridge_stp off", "    bridge_fd 0", "    bridge_maxwait 0", "    bridge_hw 02:11:22:33:44:55",
        "    address 192.168.100.1/24", "", "iface br0 inet6 static", "    address fd00:100::1/64"]


def test_slaac_of_the_nic_goes_to_the_bridge_in_both_managers(tmp_path, monkeypatch):
    (_path, text), = _persist.bridge_files("ifupdown", dict(BRIDGE, ipv6_autoconf=True)).items()
    assert body(text)[-2:] == ["", "iface br0 inet6 auto"]
    files = _persist.bridge_files("networkd", dict(BRIDGE, ipv6_autoconf=True))
    assert "IPv6AcceptRA=yes" in body(files["/etc/systemd/network/00-hypervisor-networking-br0.network"])
    files = _persist.bridge_files("networkd", BRIDGE)
    assert "IPv6AcceptRA=no" in body(files["/etc/systemd/network/00-hypervisor-networking-br0.network"])
    # what our files say is read back (it stays once there)
    monkeypatch.setattr(_persist, "NETWORKD_DIR", str(tmp_path))
    monkeypatch.setattr(_persist, "IFUPDOWN_DIR", str(tmp_path))
    assert _persist.persisted_autoconf("networkd", "br0") is None
    for renderer in ("networkd", "ifupdown"):
        for slaac in (True, False):
            for path, content in _persist.bridge_files(renderer, dict(BRIDGE, ipv6_autoconf=slaac)).items():
                (tmp_path / os.path.basename(path)).write_text(content)
            assert _persist.persisted_autoconf(renderer, "br0") is slaac, (renderer, slaac)


def test_ifupdown_migrated_bridge_carries_the_nic_and_its_routes():
    view = dict(BRIDGE, addresses=["10.0.0.5/24"])
    routes = [{"dst": "0.0.0.0/0", "gateway": "10.0.0.1", "metric": None},
              {"dst": "10.9.0.0/16", "gateway": "10.0.0.254", "metric": 20}]
    text = list(_persist.bridge_files("ifupdown", view, ["eth0"], routes).values())[0]
    assert "    bridge_ports eth0" in text and "    gateway 10.0.0.1" in text
    assert "    pre-up ip addr flush dev eth0 scope global" in text and "    pre-up ip route flush dev eth0" in text
    assert "    up ip route replace 10.9.0.0/16 via 10.0.0.254 metric 20 dev $IFACE" in text


def test_networkd_bridge_and_port_files():
    files = _persist.bridge_files("networkd", BRIDGE, ["eth0"], [{"dst": "0.0.0.0/0", "gateway": "10.0.0.1"}])
    netdev = body(files["/etc/systemd/network/00-hypervisor-networking-br0.netdev"])
    network = body(files["/etc/systemd/network/00-hypervisor-networking-br0.network"])
    port = body(files["/etc/systemd/network/00-hypervisor-networking-port-eth0.network"])
    assert netdev[:4] == ["[NetDev]", "Name=br0", "Kind=bridge", "MACAddress=02:11:22:33:44:55"]
    assert "STP=no" in netdev and "ForwardDelaySec=0" in netdev
    # carrier-less bridges keep their addresses; wait-online does not wait for them
    for line in ("Address=192.168.100.1/24", "Address=fd00:100::1/64", "ConfigureWithoutCarrier=yes",
                 "RequiredForOnline=no", "Gateway=10.0.0.1", "Destination=0.0.0.0/0"):
        assert line in network
    assert "Bridge=br0" in port and "Name=eth0" in port


def test_tap_files_for_both_managers():
    (path, text), = _persist.tap_files("ifupdown", TAP).items()
    assert path == "/etc/network/interfaces.d/hypervisor-networking-2-vm1-tap"
    assert "    pre-up ip tuntap add dev vm1-tap mode tap user 1500 multi_queue vnet_hdr" in text
    assert text.index("udevadm wait --timeout=5 /sys/class/net/vm1-tap") < text.index("address fe:00:00:00:00:01")
    assert "    up ip link set dev vm1-tap master br0" in text and "# on bridge br0" in text
    assert "# tap vm1-tap" in text
    files = _persist.tap_files("networkd", TAP)
    netdev = body(files["/etc/systemd/network/00-hypervisor-networking-tap-vm1-tap.netdev"])
    network = body(files["/etc/systemd/network/00-hypervisor-networking-tap-vm1-tap.network"])
    assert ["[Tap]", "User=1500", "MultiQueue=yes", "VNetHeader=yes"] == netdev[netdev.index("[Tap]"):]
    assert "Bridge=br0" in network and "ConfigureWithoutCarrier=yes" in network
    assert "MACAddress=fe:00:00:00:00:01" in network and not [l for l in netdev if l.startswith("MAC")]
    down = _persist.tap_files("networkd", dict(TAP, up=False))
    assert "ActivationPolicy=down" in list(down.values())[1]


def test_a_tap_without_owner_is_persisted_as_roots():
    ownerless = dict(TAP, owner=None)
    (_path, text), = _persist.tap_files("ifupdown", ownerless).items()
    assert "    pre-up ip tuntap add dev vm1-tap mode tap user 0 multi_queue vnet_hdr" in text
    files = _persist.tap_files("networkd", ownerless)
    assert "User=0" in body(files["/etc/systemd/network/00-hypervisor-networking-tap-vm1-tap.netdev"])


def test_persisted_names_are_plain():
    assert _persist.persist_name("name", "br-guests.1") == "br-guests.1"
    with pytest.raises(ValidationError, match="name='br\\$x'"):
        _persist.persist_name("name", "br$x")
    # ifupdown's source-directory reads run-parts names only
    assert _persist.bridge_paths("ifupdown", "br.1") == ["/etc/network/interfaces.d/hypervisor-networking-1-br_1"]


def test_plan_files_writes_ours_and_refuses_theirs(tmp_path):
    ours, theirs, gone = tmp_path / "ours", tmp_path / "theirs", tmp_path / "gone"
    ours.write_text(_persist.header("t", "x") + "old\n")
    theirs.write_text("auto eth0\n")
    plan = _persist.plan_files({str(ours): _persist.header("t", "x") + "new\n", str(gone): None}, "label")
    assert plan.lines() == ["update %s (persistent: label)" % ours]
    with pytest.raises(StateError, match="not written by hypervisor.networking"):
        _persist.plan_files({str(theirs): "x"}, "label")
    assert str(theirs) in _persist.plan_files({str(theirs): "x"}, "label", ours=(str(tmp_path),)).lines()[0]


class FakeModule(object):
    """atomic_move as ansible-core's: a new file gets the umask's mode."""

    @staticmethod
    def atomic_move(src, dest):
        os.rename(src, dest)
        os.chmod(dest, 0o644)


def test_file_plan_applies_and_undoes(tmp_path):
    path = tmp_path / "sub" / "f"
    plan = _persist.plan_files({str(path): "# Managed by the hypervisor.networking collection\n"}, "l",
                               modes={str(path): 0o755})
    executor = _persist.FileExecutor(FakeModule())
    plan.apply(executor)
    assert oct(path.stat().st_mode & 0o777) == "0o755"
    plan.undo_all(executor)
    assert not path.exists()


def test_ifupdown_interfaces_follows_sources(tmp_path, monkeypatch):
    main, sub = tmp_path / "interfaces", tmp_path / "interfaces.d"
    sub.mkdir()
    main.write_text("auto lo\niface lo inet loopback\nsource %s/*\n" % sub)
    (sub / "eth0").write_text("allow-hotplug eth0\niface eth0 inet dhcp\n")
    assert _persist.ifupdown_interfaces(str(main)) == {"lo": str(main), "eth0": str(sub / "eth0")}
    monkeypatch.setattr(_persist, "IFUPDOWN_MAIN", str(main))
    monkeypatch.setattr(_persist, "IFUPDOWN_DIR", str(sub))
    assert _persist._ifupdown_reads(str(sub / "hypervisor-networking-1-br0"))
    main.write_text("auto lo\niface lo inet loopback\n")
    assert not _persist._ifupdown_reads(str(sub / "hypervisor-networking-1-br0"))


NM = "/etc/NetworkManager/system-connections/"


def keyfile(text):
    """{section: {key: value}} of a keyfile, its header lines checked and dropped."""
    assert _persist.is_ours(text)
    found, section = {}, None
    for line in body(text):
        if line.startswith("["):
            section = found.setdefault(line.strip("[]"), {})
        elif line:
            key, value = line.split("=", 1)
            section[key] = value
    return found


def test_networkmanager_bridge_profile_and_its_ports():
    routes = [{"dst": "0.0.0.0/0", "gateway": "192.168.100.254", "metric": 100},
              {"dst": "10.9.0.0/16", "gateway": "192.168.100.253"}]
    files = _persist.bridge_files("networkmanager", dict(BRIDGE, mtu_declared=9000), ["eth0"], routes)
    assert sorted(files) == [NM + "hypervisor-networking-bridge-br0.nmconnection",
                             NM + "hypervisor-networking-port-eth0.nmconnection"]
    bridge = keyfile(files[NM + "hypervisor-networking-bridge-br0.nmconnection"])
    assert bridge["connection"] == {
        "id": "hypervisor-networking-bridge-br0", "uuid": _persist.nm_uuid("hypervisor-networking-bridge-br0.nmconnection"),
        "type": "bridge", "interface-name": "br0", "autoconnect": "true"}
    assert bridge["ethernet"] == {"cloned-mac-address": "02:11:22:33:44:55", "mtu": "9000"}
    assert bridge["bridge"] == {"stp": "false"}  # NetworkManager reads forward-delay=0 as 15 s
    assert bridge["ipv4"] == {"method": "manual", "address1": "192.168.100.1/24", "gateway": "192.168.100.254",
                              "route-metric": "100", "route1": "10.9.0.0/16,192.168.100.253"}
    assert bridge["ipv6"] == {"method": "manual", "addr-gen-mode": "eui64", "address1": "fd00:100::1/64"}
    port = keyfile(files[NM + "hypervisor-networking-port-eth0.nmconnection"])
    assert port["connection"]["master"] == "br0" and port["connection"]["slave-type"] == "bridge"
    assert port["connection"]["autoconnect-priority"] == "999" and port["connection"]["type"] == "ethernet"
    assert set(port) == {"connection"}


def test_networkmanager_bridge_without_addresses_leaves_ipv6_to_the_kernel_and_takes_slaac_when_asked():
    files = _persist.bridge_files("networkmanager", dict(BRIDGE, addresses=[], forward_delay=4, stp=True))
    bridge = keyfile(files[NM + "hypervisor-networking-bridge-br0.nmconnection"])
    assert bridge["bridge"] == {"stp": "true", "forward-delay": "4"}
    assert bridge["ipv4"] == {"method": "disabled"} and bridge["ipv6"] == {"method": "ignore"}
    files = _persist.bridge_files("networkmanager", dict(BRIDGE, addresses=[], ipv6_autoconf=True))
    (text,) = files.values()
    assert keyfile(text)["ipv6"] == {"method": "auto", "addr-gen-mode": "eui64"}


def test_networkmanager_tap_profile():
    (path, text), = _persist.tap_files("networkmanager", TAP).items()
    assert path == NM + "hypervisor-networking-tap-vm1-tap.nmconnection"
    tap = keyfile(text)
    assert tap["connection"]["type"] == "tun" and tap["connection"]["master"] == "br0"
    assert tap["ethernet"] == {"cloned-mac-address": "fe:00:00:00:00:01"}
    assert tap["tun"] == {"mode": "2", "owner": "1500", "multi-queue": "true", "pi": "false", "vnet-hdr": "true"}
    assert "ipv4" not in tap  # a port has no addresses of its own
    (_path, text), = _persist.tap_files("networkmanager", dict(TAP, owner=None, group=107, bridge=None,
                                                               up=False, multi_queue=False)).items()
    tap = keyfile(text)
    assert tap["connection"]["autoconnect"] == "false" and "master" not in tap["connection"]
    assert tap["tun"]["owner"] == "0" and tap["tun"]["group"] == "107"  # no owner: root's, never everyone's
    assert tap["ipv4"] == {"method": "disabled"} and tap["ipv6"] == {"method": "ignore"}


def test_networkmanager_profiles_are_root_only_and_activated_bridge_first(tmp_path, monkeypatch):
    monkeypatch.setattr(_persist, "NM_DIR", str(tmp_path))
    want = _persist.tap_want("networkmanager", [TAP], [])
    want.update(_persist.bridge_want("networkmanager", "br0", BRIDGE, [], []))
    plan = _persist.plan_files(want, "test")
    assert [a.args["mode"] for a in plan] == [0o600, 0o600]
    assert _persist.manager_lines("networkmanager", plan) == [
        "NetworkManager: load hypervisor-networking-bridge-br0.nmconnection, "
        "hypervisor-networking-tap-vm1-tap.nmconnection",
        "NetworkManager: activate profile hypervisor-networking-bridge-br0 on br0",
        "NetworkManager: activate profile hypervisor-networking-tap-vm1-tap on vm1-tap"]
    assert _persist.manager_lines("networkd", plan) == []


def test_networkmanager_is_picked_where_it_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(_persist, "NM_RUN", str(tmp_path))
    monkeypatch.setattr(_persist, "IFUPDOWN_MAIN", str(tmp_path / "interfaces"))
    monkeypatch.setattr(_persist, "_systemd_enabled", lambda unit: False)
    monkeypatch.setattr(os.path, "exists", lambda p, real=os.path.exists: p != "/run/systemd/netif/state" and real(p))
    assert _persist.detect("auto") == "networkmanager"
    monkeypatch.setattr(_persist, "_systemd_enabled", lambda unit: unit == "systemd-networkd.service")
    with pytest.raises(StateError, match="both NetworkManager and systemd-networkd"):
        _persist.detect("auto")


def test_ifupdown_hook_is_there_while_a_tap_file_names_a_bridge(tmp_path, monkeypatch):
    monkeypatch.setattr(_persist, "IFUPDOWN_DIR", str(tmp_path))
    hook = _persist.IFUPDOWN_TAP_HOOK
    assert _persist.tap_want("ifupdown", [TAP], [])[hook] == _persist.TAP_HOOK
    # another run, for a TAP on no bridge: the file of ours that names br0 keeps the hook
    (path, text), = _persist.tap_files("ifupdown", TAP).items()
    (tmp_path / os.path.basename(path)).write_text(text)
    assert _persist.our_tap_names("ifupdown") == ["vm1-tap"]
    other = dict(TAP, name="vm2-tap", bridge=None)
    assert _persist.tap_want("ifupdown", [other], [])[hook] == _persist.TAP_HOOK
    # that TAP gone too: no bridged TAP file is left, the hook goes
    assert _persist.tap_want("ifupdown", [other], ["vm1-tap"])[hook] is None


@pytest.mark.parametrize("text, name, mac, hit", [
    ("[Match]\nName=eth0\n", "eth0", None, True),
    ("[Match]\nName=en* eth*\n", "eth0", None, True),
    ("[Match]\nName=!eth*\n", "eth0", None, False),
    ("[Match]\nName=eth1\nName=\nName=br*\n", "eth0", None, False),  # an empty assignment resets
    ("[Match]\nName=eth1\nName=eth0\n", "eth0", None, True),  # lists add up
    ("[Match]\nMACAddress=02:00:00:00:00:AA\n", "br0", "02:00:00:00:00:aa", True),
    ("[Match]\nMACAddress=02:00:00:00:00:bb\n", "br0", "02:00:00:00:00:aa", False),
    ("[Match]\nMACAddress=02:00:00:00:00:bb\n", "vp0", None, True),  # MAC unknown: may match
    ("[Match]\nName=eth0\nType=ether\n", "eth0", None, True),  # other conditions count as met
    ("[Network]\nDHCP=yes\n", "eth0", None, True),  # no [Match]: every link
    ("[Match]\n# Name=eth0\nName=eth1\n[Network]\nName=eth0\n", "eth0", None, False),
])
def test_network_file_match(text, name, mac, hit):
    assert _persist._network_matches(text, name, mac) is hit


def test_first_matching_host_file_by_name_across_directories(tmp_path, monkeypatch):
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    etc.mkdir()
    lib.mkdir()
    monkeypatch.setattr(_persist, "NETWORKD_DIRS", (str(etc), str(lib)))
    ours = "/etc/systemd/network/00-hypervisor-networking-port-eth0.network"
    (lib / "10-eth0.network").write_text("[Match]\nName=eth0\n")
    assert _persist.networkd_file_before(ours, "eth0") is None  # sorts after ours
    (lib / "00-eth0.network").write_text("[Match]\nName=eth0\n")
    assert _persist.networkd_file_before(ours, "eth0") == str(lib / "00-eth0.network")
    (etc / "00-eth0.network").symlink_to("/dev/null")  # masked by the admin
    assert _persist.networkd_file_before(ours, "eth0") is None
    (lib / "00-a.network").write_text(_persist.HEADER + "\n[Match]\nName=eth0\n")  # ours: not the host's
    assert _persist.networkd_file_before(ours, "eth0") is None


def test_dhcp_bridge_in_every_manager():
    view = dict(BRIDGE, addresses=[], dhcp=True, dhcp_identity=("duid", 3158064683))
    (_path, text), = _persist.bridge_files("ifupdown", view, ["eth0"]).items()
    assert "iface br0 inet dhcp" in body(text) and not any(l.strip().startswith("address") for l in body(text))
    files = _persist.bridge_files("networkd", view, ["eth0"])
    network = body(files["/etc/systemd/network/00-hypervisor-networking-br0.network"])
    assert "DHCP=yes" in network and network[network.index("[DHCPv4]"):][:3] == [
        "[DHCPv4]", "ClientIdentifier=duid", "IAID=3158064683"]
    files = _persist.bridge_files("networkmanager", view, ["eth0"])
    assert keyfile(files[NM + "hypervisor-networking-bridge-br0.nmconnection"])["ipv4"] == {"method": "auto"}
    # a static address beside the lease stays, as its own stanza in ifupdown
    (_path, text), = _persist.bridge_files("ifupdown", dict(view, addresses=["10.0.0.1/24"]), ["eth0"]).items()
    assert body(text)[-3:] == ["", "iface br0 inet static", "    address 10.0.0.1/24"]


def test_a_dhcp_bridge_persists_no_route_its_lease_brings():
    routes = [{"dst": "default", "family": 2, "gateway": "198.51.100.1", "metric": 100, "proto": 3, "table": 254},
              {"dst": "203.0.113.0/24", "family": 2, "gateway": "198.51.100.1", "metric": None, "proto": 16,
               "table": 254},
              {"dst": "192.0.2.0/24", "family": 2, "gateway": "198.51.100.9", "metric": None, "proto": 4,
               "table": 254}]
    view = dict(BRIDGE, addresses=[], dhcp=True)
    want = _persist.bridge_want("networkd", "br0", view, ["eth0"], routes)
    network = want["/etc/systemd/network/00-hypervisor-networking-br0.network"]
    assert "Destination=192.0.2.0/24" in network and "0.0.0.0/0" not in network and "203.0.113" not in network


@pytest.mark.parametrize("lease, ours, identity", [
    ("CLIENTID=ffbc3b2f2b000200005ab2e1c8e0f1\n", None, ("duid", 0xbc3b2f2b)),
    ("CLIENTID=01020000000011\n", None, ("mac", None)),
    (None, "[DHCPv4]\nClientIdentifier=duid\nIAID=7\n", ("duid", 7)),  # moved already: our file says
    (None, None, None),
])
def test_networkd_dhcp_identity_carries_over(tmp_path, monkeypatch, lease, ours, identity):
    monkeypatch.setattr(_persist, "NETWORKD_LEASES", str(tmp_path))
    monkeypatch.setattr(_persist, "NETWORKD_DIR", str(tmp_path))
    real = _persist.read_text
    monkeypatch.setattr(_persist, "read_text", lambda p: "7\n" if p == "/sys/class/net/eth0/ifindex" else real(p))
    if lease:
        (tmp_path / "7").write_text("# This is private data. Do not parse.\nADDRESS=198.51.100.10\n" + lease)
    if ours:
        path = _persist.bridge_paths("networkd", "br0")[-1]
        with open(path, "w") as handle:
            handle.write(_persist.header("linux_bridge", "bridge br0") + ours)
    assert _persist.dhcp_identity("networkd", "br0", "eth0") == identity
    assert _persist.dhcp_identity("ifupdown", "br0", "eth0") is None


@pytest.mark.parametrize("renderer", ["ifupdown", "networkd", "networkmanager"])
def test_persisted_dhcp_and_slaac_are_read_back_from_our_files(tmp_path, monkeypatch, renderer):
    for name in ("IFUPDOWN_DIR", "NETWORKD_DIR", "NM_DIR"):
        monkeypatch.setattr(_persist, name, str(tmp_path))
    assert _persist.persisted_dhcp(renderer, "br0") is None  # no file of ours yet
    for dhcp, autoconf in ((True, False), (False, True)):
        view = dict(BRIDGE, addresses=[], dhcp=dhcp, ipv6_autoconf=autoconf)
        for path, text in _persist.bridge_files(renderer, view, ["eth0"]).items():
            with open(path, "w") as handle:
                handle.write(text)
        assert _persist.persisted_dhcp(renderer, "br0") is dhcp
        assert _persist.persisted_autoconf(renderer, "br0") is autoconf


def _reads(monkeypatch):
    """The paths plan_files reads, in order (stat-only checks are not reads)."""
    reads, read = [], _persist._read_stamped

    def counting(path):
        reads.append(path)
        return read(path)
    monkeypatch.setattr(_persist, "_read_stamped", counting)
    return reads


def _next_run(monkeypatch):
    monkeypatch.setattr(_persist, "_stamps", {"known": None, "seen": {}})


def test_a_file_read_once_is_not_read_again_while_it_is_unchanged(tmp_path, monkeypatch, file_stamps):
    path = str(tmp_path / "t1.netdev")
    text = _persist.header("t", "x") + "[NetDev]\n"
    with open(path, "w") as handle:
        handle.write(text)
    reads = _reads(monkeypatch)
    assert not _persist.plan_files({path: text}, "l")
    _persist.remember_files()
    assert reads == [path] and os.path.exists(file_stamps)
    _next_run(monkeypatch)
    assert not _persist.plan_files({path: text}, "l")
    assert reads == [path]  # the stat matched: not read
    # another text wanted there: read, and planned
    assert _persist.plan_files({path: text + "x\n"}, "l").lines() == ["update %s (persistent: l)" % path]
    assert reads == [path, path]


def test_an_edit_by_hand_is_found_even_with_the_size_and_mtime_put_back(tmp_path, monkeypatch):
    path = str(tmp_path / "t1.network")
    text = _persist.header("t", "x") + "Bridge=br0\n"
    with open(path, "w") as handle:
        handle.write(text)
    _persist.plan_files({path: text}, "l")
    _persist.remember_files()
    st = os.stat(path)
    with open(path, "w") as handle:
        handle.write(text.replace("br0", "br1"))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # the mtime as it was: the ctime moves on
    _next_run(monkeypatch)
    reads = _reads(monkeypatch)
    assert _persist.plan_files({path: text}, "l").lines() == ["update %s (persistent: l)" % path]
    assert reads == [path]


def test_written_files_are_known_to_the_next_run_and_removed_ones_forgotten(tmp_path, monkeypatch, file_stamps):
    keep, gone = str(tmp_path / "keep"), str(tmp_path / "gone")
    texts = {keep: _persist.header("t", "keep"), gone: _persist.header("t", "gone")}
    executor = _persist.FileExecutor(FakeModule())
    _persist.plan_files(texts, "l").apply(executor)
    _persist.remember_files()
    assert set(_rundir.read_json(file_stamps)) == {keep, gone}
    _next_run(monkeypatch)
    reads = _reads(monkeypatch)
    plan = _persist.plan_files({keep: texts[keep], gone: None}, "l")
    assert plan.lines() == ["remove %s (persistent: l)" % gone] and reads == [gone]
    plan.apply(executor)
    _persist.remember_files()
    assert set(_rundir.read_json(file_stamps)) == {keep}


def test_a_stamp_file_that_is_not_ours_to_trust_is_ignored(tmp_path, monkeypatch, file_stamps):
    path = str(tmp_path / "f")
    text = _persist.header("t", "x")
    with open(path, "w") as handle:
        handle.write("someone else's\n")
    st = os.stat(path)
    for stamps in ("not json", '{"%s": [1, 2]}' % path, '["a list"]',
                   # the identity right, the text wrong: the digest does not match
                   '{"%s": %s}' % (path, [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, "0" * 64])):
        os.makedirs(os.path.dirname(file_stamps), exist_ok=True)
        with open(file_stamps, "w") as handle:
            handle.write(stamps.replace("'", '"'))
        _next_run(monkeypatch)
        with pytest.raises(StateError, match="not written by hypervisor.networking"):
            _persist.plan_files({path: text}, "l")


def test_a_run_that_planned_no_files_does_not_read_the_stamps(monkeypatch, file_stamps):
    os.makedirs(os.path.dirname(file_stamps))
    with open(file_stamps, "w") as handle:
        handle.write("{}")
    reads = []
    monkeypatch.setattr(_rundir, "read_json", lambda path: reads.append(path) or {})
    _persist.remember_files()
    assert reads == []
