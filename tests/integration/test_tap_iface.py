# -*- coding: utf-8 -*-
"""tap_iface against real TUN/TAP and netlink in throw-away namespaces."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile

import pytest

from conftest import four_step, short_id

M = "tap_iface"
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tap_helper.py")
NOBODY = 65534  # Debian's nobody/nogroup
OTHER_UID = 4242


@pytest.fixture(scope="module")
def tun_node():
    """A world-openable /dev/net/tun twin (char 10:200): this host's node is 0600, and
    unprivileged QEMU needs the node itself open to it; the TAP's owner decides the rest."""
    path = os.path.join(tempfile.mkdtemp(prefix="hn-tun-"), "tun")
    os.chmod(os.path.dirname(path), 0o755)
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(10, 200))
    os.chmod(path, 0o666)
    yield path
    os.unlink(path)
    os.rmdir(os.path.dirname(path))


def helper(ns, *args, tun=None):
    """Run tap_helper.py in ns; return (rc, output)."""
    cmd = ["ip", "netns", "exec", ns.name, sys.executable, HELPER] + list(args)
    env = dict(os.environ, TUN_DEVICE=tun) if tun else None
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False, env=env)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


class Holder(object):
    """A process holding a TAP open, as a running QEMU guest does."""

    def __init__(self, ns, name, multi_queue=False, vnet_hdr=False):
        env = dict(os.environ, TAP_MULTI_QUEUE="1" if multi_queue else "0", TAP_VNET_HDR="1" if vnet_hdr else "0")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, HELPER, "hold", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout.readline().strip() == "ready"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def bridge(ns, name="br0"):
    ns.run("ip", "link", "add", name, "type", "bridge")
    ns.run("ip", "link", "set", name, "up")
    return name


def tun_info(ns, name):
    return ns.json("ip", "-d", "-j", "link", "show", name)[0]


def test_one_tap_owner_bridge_and_delete(netns):
    br = bridge(netns)
    tap = "vm" + short_id()
    res = four_step(netns, M, {"name": tap, "owner": "nobody", "group": "nogroup", "bridge": br}, "taps")
    assert res["actions"] == ["create TAP %s (owner %d, group %d, on %s)" % (tap, NOBODY, NOBODY, br)]
    view = res["taps"][0]
    assert (view["owner"], view["group"], view["bridge"], view["up"], view["managed"]) == (NOBODY, NOBODY, br, True, True)
    info = tun_info(netns, tap)
    assert info["linkinfo"]["info_kind"] == "tun"
    assert info["linkinfo"]["info_data"]["type"] == "tap"
    assert info["linkinfo"]["info_data"]["user"] in ("nobody", NOBODY)
    assert info["master"] == br and info["ifalias"] == "managed-by=hypervisor.networking"
    assert info["address"].startswith("fe:")

    gone = four_step(netns, M, {"name": tap, "state": "absent"}, "taps")
    assert gone["actions"] == ["delete TAP %s" % tap] and gone["taps"] == [{"name": tap, "state": "absent"}]


def test_ownership_as_qemu_uses_it(netns, tun_node):
    """The owner uid can open the TAP (TUNSETIFF); another uid cannot."""
    tap = "vo" + short_id()
    netns.module(M, {"name": tap, "owner": str(NOBODY)})
    assert helper(netns, "--uid", str(NOBODY), "open", tap, tun=tun_node) == (0, "opened")
    rc, out = helper(netns, "--uid", str(OTHER_UID), "open", tap, tun=tun_node)
    assert rc == 1 and out == "open failed: EPERM"
    # hand the TAP to the other uid in place: now it is the other way round
    res = four_step(netns, M, {"name": tap, "owner": str(OTHER_UID)}, "taps")
    assert res["actions"] == ["set TAP %s owner %d->%d" % (tap, NOBODY, OTHER_UID)]
    assert helper(netns, "--uid", str(OTHER_UID), "open", tap, tun=tun_node) == (0, "opened")
    assert helper(netns, "--uid", str(NOBODY), "open", tap, tun=tun_node)[0] == 1


def test_a_tap_without_owner_is_roots_only(netns, tun_node):
    """No owner given: uid 0 owns it; another uid can neither open it nor attach a second
    queue to a multi-queue TAP that a root process holds (read and inject guest frames)."""
    tap, mq = "vn" + short_id(), "vq" + short_id()
    res = netns.module(M, {"taps": [{"name": tap}, {"name": mq, "multi_queue": True}]})
    assert [t["owner"] for t in res["taps"]] == [0, 0], res
    assert tun_info(netns, tap)["linkinfo"]["info_data"]["user"] in ("root", 0)
    rc, out = helper(netns, "--uid", str(NOBODY), "open", tap, tun=tun_node)
    assert (rc, out) == (1, "open failed: EPERM")
    holder = Holder(netns, mq, multi_queue=True)
    try:
        proc = subprocess.run(["ip", "netns", "exec", netns.name, sys.executable, HELPER, "--uid", str(NOBODY),
                               "open", mq], capture_output=True, text=True, timeout=30, check=False,
                              env=dict(os.environ, TUN_DEVICE=tun_node, TAP_MULTI_QUEUE="1"))
        assert (proc.returncode, proc.stdout.strip()) == (1, "open failed: EPERM")
    finally:
        holder.close()


def test_an_ownerless_tap_gets_root_and_one_in_use_is_reported(netns, tun_node):
    """A TAP made without owner (as 0.2 did) is given to root in place; one that a guest
    holds is left as it is with a warning (recreating it would cut the guest off)."""
    free, held = "vf" + short_id(), "vh" + short_id()
    for name in (free, held):
        netns.run("ip", "tuntap", "add", "dev", name, "mode", "tap")
        netns.run("ip", "link", "set", name, "alias", "managed-by=hypervisor.networking")
    assert helper(netns, "--uid", str(NOBODY), "open", free, tun=tun_node) == (0, "opened")
    res = four_step(netns, M, {"name": free, "up": False}, "taps")
    assert res["actions"] == ["set TAP %s owner None->0" % free]
    assert helper(netns, "--uid", str(NOBODY), "open", free, tun=tun_node)[0] == 1
    holder = Holder(netns, held)
    try:
        for check_mode in (True, False):
            res = netns.module(M, {"name": held, "up": False}, check_mode=check_mode)
            assert res["rc"] == 0 and res["changed"] is False, res
            assert "%s: this TAP has no owner" % held in json.dumps(res["warnings"]), res
    finally:
        holder.close()


def test_frames_cross_tap_and_bridge(netns, tun_node):
    """A 'guest' on the TAP's far end ARPs for the bridge address and gets the answer."""
    br = bridge(netns)
    netns.run("ip", "addr", "add", "192.168.100.1/24", "dev", br)
    tap = "va" + short_id()
    netns.module(M, {"name": tap, "owner": str(NOBODY), "bridge": br})
    rc, out = helper(netns, "--uid", str(NOBODY), "arp", tap, "52:54:00:12:34:56", "192.168.100.2",
                     "192.168.100.1", tun=tun_node)
    br_mac = tun_info(netns, br)["address"]
    assert rc == 0 and out == "reply from %s" % br_mac


@pytest.mark.parametrize("option,value,expected_action", [
    ("group", "nogroup", "set TAP {tap} group None->65534"),
    ("mtu", 9000, "set {tap} mtu 1500->9000"),
    ("mac", "FE:00:00:00:00:AA", "set {tap} mac {mac}->fe:00:00:00:00:aa"),
    ("up", False, "set {tap} down"),
    ("vnet_hdr", True, "set TAP {tap} vnet_hdr False->True"),
    ("bridge", "br0", "attach {tap} to br0"),
    ("multi_queue", True, "recreate TAP {tap} (owner 65534, multi_queue)"),
])
def test_each_option_changes_in_place_or_recreates(netns, option, value, expected_action):
    bridge(netns)
    tap = "vx" + short_id()
    created = netns.module(M, {"name": tap, "owner": "nobody"})["taps"][0]
    res = four_step(netns, M, {"name": tap, "owner": "nobody", option: value}, "taps")
    expected = expected_action.format(tap=tap, mac=created["mac"])
    assert expected in res["actions"], res["actions"]
    after = res["taps"][0]
    assert after[option] == (NOBODY if option == "group" else value.lower() if option == "mac" else value)
    data = tun_info(netns, tap)["linkinfo"]["info_data"]
    if option == "multi_queue":
        assert data["multi_queue"] is True
        assert res["actions"] == ["delete TAP %s to recreate it (multi_queue)" % tap, expected]
        assert after["mac"] == created["mac"]  # the recreated TAP keeps its MAC
    if option == "vnet_hdr":
        assert data["vnet_hdr"] is True


def test_bulk_then_drift_only_missing_recreated(netns):
    br = bridge(netns)
    names = ["vb%02d%s" % (i, short_id(3)) for i in range(20)]
    args = {"taps": [{"name": n} for n in names], "owner": "nobody", "bridge": br}
    res = four_step(netns, M, args, "taps")
    assert len(res["actions"]) == 20 and [t["name"] for t in res["taps"]] == names
    ports = netns.json("ip", "-j", "link", "show", "master", br)
    assert sorted(p["ifname"] for p in ports) == sorted(names)
    for name in names[3:5]:
        netns.run("ip", "link", "del", name)
    res = four_step(netns, M, args, "taps")
    assert res["actions"] == ["create TAP %s (owner %d, on %s)" % (n, NOBODY, br) for n in names[3:5]]


def test_purge_spares_hand_made_taps(netns):
    keep, drop = "vk" + short_id(), "vd" + short_id()
    hand = "vh" + short_id()  # a managed-looking name, created by hand
    netns.module(M, {"taps": [{"name": keep}, {"name": drop}]})
    netns.run("ip", "tuntap", "add", "dev", hand, "mode", "tap")
    hand_before = tun_info(netns, hand)
    res = four_step(netns, M, {"taps": [{"name": keep}], "purge": True}, "taps")
    assert res["actions"] == ["delete TAP %s" % drop] and res["purged"] == [drop]
    assert tun_info(netns, hand) == hand_before
    assert netns.run("ip", "link", "show", drop, check=False).returncode != 0


def test_taps_not_a_list_of_dicts_names_the_option(netns):
    before = netns.snapshot()
    res = netns.module(M, {"taps": ["vm1"]})
    assert res["rc"] != 0 and "option 'taps'" in res["msg"], res["msg"]
    assert netns.snapshot() == before


def test_a_tap_caught_mid_creation_is_finished_and_purgeable(netns):
    """A run killed between the TUN ioctl and the netlink request left an unmarked TAP:
    its journal names it, the next run marks it and gives it the stable MAC."""
    tap = "vc" + short_id()
    netns.run("ip", "tuntap", "add", "dev", tap, "mode", "tap")  # what the ioctl alone leaves
    inode = netns.run("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
    journal = "/run/hypervisor-networking/taps-creating-%s.json" % inode
    os.makedirs(os.path.dirname(journal), exist_ok=True)
    with open(journal, "w") as handle:
        json.dump([tap], handle)
    try:
        res = four_step(netns, M, {"taps": [{"name": tap}]}, "taps")
        assert res["actions"][0].startswith("finish TAP %s: mark it" % tap), res["actions"]
        assert res["taps"][0]["managed"] is True and not os.path.exists(journal)
        mac = res["taps"][0]["mac"]
        # the stable MAC a fresh creation gets: delete and create again
        netns.module(M, {"name": tap, "state": "absent"})
        assert netns.module(M, {"taps": [{"name": tap}]})["taps"][0]["mac"] == mac
        # and purge can remove it once unlisted
        assert netns.module(M, {"taps": [], "purge": True})["purged"] == [tap]
    finally:
        if os.path.exists(journal):
            os.unlink(journal)


def test_without_a_journal_a_hand_made_tap_is_not_adopted(netns):
    tap = "vn" + short_id()
    netns.run("ip", "tuntap", "add", "dev", tap, "mode", "tap")
    res = netns.module(M, {"taps": [{"name": tap}]})
    assert res["actions"] == ["set TAP %s owner None->0" % tap, "set %s up" % tap]
    assert res["taps"][0]["managed"] is False
    assert netns.module(M, {"taps": [], "purge": True})["purged"] == []


def test_a_guest_that_sets_vnet_hdr_is_not_drift(netns):
    """QEMU's virtio-net opens the TAP with IFF_VNET_HDR; a re-run while the guest runs
    (the usual CD run, or the first run after a reboot) is no change and no error."""
    tap = "vh" + short_id()
    netns.module(M, {"name": tap, "owner": "nobody"})
    holder = Holder(netns, tap, vnet_hdr=True)
    try:
        for check_mode in (True, False):
            res = netns.module(M, {"name": tap, "owner": "nobody"}, check_mode=check_mode)
            assert res["rc"] == 0 and res["changed"] is False, res
            assert res["taps"][0]["vnet_hdr"] is True and res["taps"][0]["in_use"] is True
    finally:
        holder.close()
    # nobody holds it: the option's value again
    res = netns.module(M, {"name": tap, "owner": "nobody"})
    assert res["changed"] is True and res["taps"][0]["vnet_hdr"] is False


def test_running_guest_is_not_cut_off_without_force(netns):
    tap = "vr" + short_id()
    netns.module(M, {"name": tap, "owner": "nobody"})
    holder = Holder(netns, tap)
    try:
        before = netns.snapshot()
        view = netns.module(M, {"name": tap, "owner": "nobody"})["taps"][0]
        assert view["in_use"] is True
        for args, needle in (
            ({"name": tap, "multi_queue": True}, "multi_queue can only change by recreating the TAP"),
            ({"name": tap, "owner": str(OTHER_UID)}, "owner can only change by recreating the TAP"),
            ({"name": tap, "state": "absent"}, "a process holds this TAP open"),
        ):
            for check_mode in (True, False):
                res = netns.module(M, args, check_mode=check_mode)
                assert res["rc"] != 0 and needle in res["msg"] and tap in res["msg"], res
                assert "force: true" in res["msg"]
        assert netns.snapshot() == before
        # in-place settings are fine while the guest runs
        res = netns.module(M, {"name": tap, "owner": "nobody", "mtu": 1400})
        assert res["changed"] and res["taps"][0]["in_use"] is True
        # force: recreated, in use no more
        res = four_step(netns, M, {"name": tap, "owner": "nobody", "multi_queue": True, "force": True}, "taps")
        assert res["actions"][0] == "delete TAP %s to recreate it (multi_queue)" % tap
        assert res["taps"][0]["mtu"] == 1400 and res["taps"][0]["in_use"] is False
    finally:
        holder.close()


@pytest.mark.parametrize("args,needle", [
    ({"name": "vmbad", "bridge": "nosuchbr"}, "vmbad: bridge nosuchbr does not exist"),
    ({"name": "vmbad", "owner": "no-such-user-x"}, "owner='no-such-user-x': no such user"),
    ({"name": "vmbad", "group": "no-such-group-x"}, "group='no-such-group-x': no such group"),
    ({"name": "a-very-long-tap-name"}, "name='a-very-long-tap-name'"),
    ({"name": "keep0"}, "keep0: the name is used by a veth link, not a TAP"),
    ({"taps": [{"name": "vmok"}, {"name": "vmbad2", "bridge": "nosuchbr"}]}, "vmbad2: bridge nosuchbr does not exist"),
    ({"taps": [{"name": "vmok"}, {"name": "vmok"}]}, "taps[1].name='vmok': listed twice"),
    ({"taps": [{"name": "vmok"}], "mac": "fe:00:00:00:00:01"}, "mac='fe:00:00:00:00:01'"),
    ({"name": "vmok", "purge": True}, "purge=True"),
    ({"name": "vmok", "owner": "99999999999"}, "owner='99999999999': ids are 0-4294967294"),
    ({"name": "vmok", "group": "4294967295"}, "group='4294967295': ids are 0-4294967294"),
])
def test_bad_input_fails_before_any_change(netns, args, needle):
    netns.run("ip", "link", "add", "keep0", "type", "veth", "peer", "name", "keep1")
    before = netns.snapshot()
    for check_mode in (True, False):
        res = netns.module(M, args, check_mode=check_mode)
        if check_mode and "bridge nosuchbr does not exist" in needle:
            # check mode cannot know whether an earlier task would create the bridge
            assert res["rc"] == 0 and "bridge nosuchbr does not exist yet" in json.dumps(res["warnings"])
            continue
        assert res["rc"] != 0 and needle in res["msg"], res["msg"]
        assert res["msg"].startswith("tap_iface: ")
    assert netns.snapshot() == before


def test_a_persisted_tap_without_owner_comes_back_as_roots(netns, make_netns, tun_node, collections_path):
    """What boot makes of a TAP given no owner: the ifupdown stanza rendered from the
    module's result (its pre-up commands, as ifup runs them) in a fresh namespace gives a
    TAP that uid 65534 cannot open (networkd's .netdev says User=0: unit tests)."""
    sys.path.insert(0, collections_path)
    try:
        from ansible_collections.hypervisor.networking.plugins.module_utils import _persist
    finally:
        sys.path.remove(collections_path)
    res = netns.module(M, {"name": "vp0"})
    assert res["rc"] == 0 and res["taps"][0]["owner"] == 0, res
    ((_path, stanza),) = _persist.tap_files("ifupdown", res["taps"][0]).items()
    boot = make_netns("hn-boot")
    for line in stanza.splitlines():
        words = line.split()
        if words[:1] == ["pre-up"] and words[1:2] == ["ip"]:
            boot.run(*words[1:])
    assert " user 0" in stanza and tun_info(boot, "vp0")["linkinfo"]["info_data"]["user"] in ("root", 0)
    rc, out = helper(boot, "--uid", str(NOBODY), "open", "vp0", tun=tun_node)
    assert (rc, out) == (1, "open failed: EPERM")
