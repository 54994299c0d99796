# -*- coding: utf-8 -*-
"""guest_network for real in network namespaces: the whole NAT network in one call carries
the guests' traffic (out through the masquerade, in through a published port, hairpin,
guest to guest) on both backends; check mode predicts the real run exactly, also on
seeded random inputs; a failure injected at every step of the plan (firewall
transaction, accepts, links, addresses, TAPs, persisted files, sysctls) leaves the host
byte-identical; absent removes exactly what the network created."""

from __future__ import annotations

import difflib
import glob
import os
import random
import subprocess
import sys
import time

import pytest

from conftest import NETPEER, NatLab

FAILPOINT = "HYPERVISOR_NETWORKING_FAILPOINT"


def link_to(hv, peer, port, address, peer_address):
    """A veth ``port`` of hv at ``address`` whose other end is ``peer``'s eth0 at
    ``peer_address`` (both with their prefix), up."""
    hv.run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", peer.name)
    hv.run("ip", "addr", "add", address, "dev", port)
    hv.run("ip", "link", "set", port, "up")
    peer.run("ip", "addr", "add", peer_address, "dev", "eth0")
    peer.run("ip", "link", "set", "eth0", "up")


def lab(hv, make_netns):
    """hv: uplink up0 (203.0.113.1/24, default route) to wan (203.0.113.2); guests g1 and
    g2 on veth ports vg1/vg2 in hv (not enslaved: guest_network does that), no bridge."""
    # notes under /run keyed by a namespace inode outlive the namespace: a new one may
    # reuse the inode of one that is gone
    inode = hv.run("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
    for stale in glob.glob("/run/hypervisor-networking/*-%s*" % inode):
        os.unlink(stale)
    wan = make_netns("hn-wan")
    link_to(hv, wan, "up0", "203.0.113.1/24", "203.0.113.2/24")
    hv.run("ip", "route", "add", "default", "via", "203.0.113.2")
    guests = []
    for idx in (1, 2):
        guest = make_netns("hn-g%d" % idx)
        hv.run("ip", "link", "add", "vg%d" % idx, "type", "veth", "peer", "name", "eth0", "netns", guest.name)
        hv.run("ip", "link", "set", "vg%d" % idx, "up")
        guest.run("ip", "addr", "add", "192.168.100.%d/24" % (idx + 1), "dev", "eth0")
        guest.run("ip", "link", "set", "eth0", "up")
        guest.run("ip", "route", "add", "default", "via", "192.168.100.1")
        guests.append(guest)
    return NatLab(hv, wan, guests[0], guests[1])


def settle(ns, bridge):
    """Wait until the bridge has carrier (its ports forwarding): the kernel's own change,
    which a byte-for-byte comparison must not mistake for ours."""
    for _attempt in range(100):
        if ns.json("ip", "-j", "link", "show", bridge)[0]["operstate"] == "UP":
            return
        time.sleep(0.2)
    raise AssertionError("%s got no carrier" % bridge)


def network(backend, **extra):
    args = {"name": "br0", "addresses": ["192.168.100.1/24"], "ports": ["vg1", "vg2"], "backend": backend,
            "taps": [{"name": "vm1-tap"}, {"name": "vm2-tap", "owner": "0", "multi_queue": True}],
            "forwards": [{"port": 8080, "to_addr": "192.168.100.2", "to_port": 80},
                         {"proto": "udp", "port": 5353, "to_addr": "192.168.100.3", "to_port": 53}],
            "qemu_acl": False}
    args.update(extra)
    return args


def host_state(ns, etc=None):
    """Everything a run could change, as text: links, addresses, routes, every ruleset,
    the sysctls, the files of the /etc overlay and our /run entries of this namespace."""
    out = []
    snap = ns.snapshot()
    out.append(repr(snap["links"]))
    out.append(repr(snap["addrs"]))
    out.append(ns.run("ip", "route", "show", "table", "all").stdout)
    out.append(ns.run("nft", "list", "ruleset").stdout)
    for command in ("iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save"):
        text = ns.run(command, check=False).stdout
        out.append("\n".join(l.split(" [")[0] for l in text.splitlines() if not l.startswith("#")))
    out.append(ns.run("sysctl", "net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet").stdout)
    if etc is not None:
        for root, _dirs, files in sorted(os.walk(str(etc / "upper"))):
            for name in sorted(files):
                path = os.path.join(root, name)
                with open(path, "rb") as handle:
                    out.append("%s %o %r" % (path, os.stat(path).st_mode, handle.read()))
    inode = ns.run("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
    run_dir = "/run/hypervisor-networking"
    out.append(repr(sorted(n for n in os.listdir(run_dir) if inode in n) if os.path.isdir(run_dir) else []))
    return "\n".join(out)


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_nat_network_carries_traffic_in_one_call(netns, make_netns, backend):
    nat = lab(netns, make_netns)
    try:
        args = network(backend)
        check = netns.module("guest_network", args, check_mode=True)
        assert check["rc"] == 0 and check["changed"] is True, check
        applied = netns.module("guest_network", args)
        assert applied["rc"] == 0, applied
        assert applied["actions"] == check["actions"]
        assert applied["network"] == check["network"]
        assert applied["backend"] == backend and applied["network"]["uplink"] == "up0"
        again = netns.module("guest_network", args)
        assert again["rc"] == 0 and again["changed"] is False and again["actions"] == [], again
        assert netns.module("guest_network", args, check_mode=True)["changed"] is False

        nat.serve(nat.wan, "tcp", 7000)
        nat.serve(nat.g1, "tcp", 80)
        nat.serve(nat.g2, "udp", 53)
        # out through the masquerade: the internet sees the uplink's address
        assert nat.connect(nat.g1, "tcp", "203.0.113.2", 7000) == "peer=203.0.113.1"
        # in through the published ports, the guest sees the client
        assert nat.connect(nat.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
        assert nat.connect(nat.wan, "udp", "203.0.113.1", 5353) == "peer=203.0.113.2"
        # hairpin: a guest reaches another guest's published port through the host's address
        assert nat.connect(nat.g2, "tcp", "203.0.113.1", 8080) == "peer=192.168.100.1"
        # guest to guest on the bridge
        assert nat.connect(nat.g2, "tcp", "192.168.100.2", 80) == "peer=192.168.100.3"
        links = netns.json("ip", "-d", "-j", "link", "show", "master", "br0")
        assert sorted(l["ifname"] for l in links) == ["vg1", "vg2", "vm1-tap", "vm2-tap"]
    finally:
        nat.stop()


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_absent_removes_exactly_what_the_network_created(netns, make_netns, backend):
    nat = lab(netns, make_netns)
    # someone else's: a bridge, a TAP, an nft table, an iptables-nft rule
    netns.run("ip", "link", "add", "virbr9", "type", "bridge")
    netns.run("ip", "tuntap", "add", "dev", "theirs0", "mode", "tap")
    netns.run("nft", "add", "table", "inet", "theirs")
    netns.run("iptables-nft", "-A", "FORWARD", "-s", "10.9.9.0/24", "-j", "DROP")
    netns.run("iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s", "10.8.8.0/24", "-j", "MASQUERADE")
    # a legacy table, once made, lives as long as the namespace (the kernel's, not a rule):
    # the host where the iptables backend runs has its filter table already
    netns.run("iptables-legacy", "-t", "filter", "-n", "-L", "FORWARD")
    # forwarding stays on after absent (other networks may need it): start with it on, as a
    # new namespace does where the machine has it on
    netns.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    before = host_state(netns)
    res = netns.module("guest_network", network(backend, taps=[{"name": "vm1-tap"}]))
    assert res["rc"] == 0 and res["changed"], res
    # a TAP of ours on the bridge that the list no longer names goes with the network too
    assert netns.module("tap_iface", {"name": "vm9-tap", "bridge": "br0"})["rc"] == 0
    gone = netns.module("guest_network", {"name": "br0", "state": "absent", "backend": backend, "qemu_acl": False})
    assert gone["rc"] == 0 and gone["changed"], gone
    assert sorted(gone["network"]["purged"]) == ["vm1-tap", "vm9-tap"]
    assert host_state(netns) == before
    again = netns.module("guest_network", {"name": "br0", "state": "absent", "backend": backend, "qemu_acl": False})
    assert again["rc"] == 0 and again["changed"] is False, again
    nat.stop()


@pytest.mark.parametrize("backend,renderer", [("nftables", "networkd"), ("iptables", "networkd")])
def test_a_failure_at_any_step_leaves_the_host_byte_identical(netns, make_netns, tmp_path, backend, renderer):
    """The plan's k-th action is refused (as a kernel, nft or a full disk would refuse it),
    for every k: every action before it is undone and the host is as it was."""
    lab(netns, make_netns)
    etc = tmp_path / "etc"
    netns.run("sysctl", "-w", "net.ipv4.ip_forward=0")
    if backend == "iptables":
        # a legacy table, once made, lives as long as the namespace: where the iptables
        # backend runs, the host has them already
        for table in ("filter", "nat"):
            netns.run("iptables-legacy", "-t", table, "-n", "-L")
    args = network(backend, persist=True, renderer=renderer, localhost=True, qemu_acl=True,
                   qemu_acl_file="/etc/qemu/bridge.conf", sysctl_file="/etc/sysctl.d/90-hypervisor-networking.conf")
    before = host_state(netns, etc)
    failed, step = [], 0
    while True:
        step += 1
        res = netns.module("guest_network", args, etc=etc, env={FAILPOINT: "#%d" % step})
        if res["rc"] == 0:
            break  # the failpoint lies past the plan's last action: the run completed
        assert "failpoint" in res["msg"], res
        failed.append(res["msg"].split(": failed to ")[1].split(": failpoint")[0])
        assert host_state(netns, etc) == before, "after a failure at step %d (%s)" % (step, failed[-1])
    steps = " | ".join(failed)
    for needle in ("net.ipv4.ip_forward", "nftables: one transaction" if backend == "nftables" else
                   "iptables-legacy: one restore", "accepts in FORWARD", "create bridge br0", "add address",
                   "attach vg1 to br0", "create TAP vm2-tap", "write /etc/systemd/network/" if renderer == "networkd"
                   else "write /etc/network/interfaces.d/", "/etc/hypervisor-networking/firewall.d/",
                   "hypervisor-networking-firewall.service", "allow br0", "route_localnet"):
        assert needle in steps, (needle, failed)
    assert res["changed_runtime"] and res["changed_persistent"], res
    again = netns.module("guest_network", args, etc=etc)
    assert again["rc"] == 0 and again["changed"] is False, again


def test_failure_undoes_a_change_of_an_existing_network(netns, make_netns):
    """Not only creation: a run that changes a running network and fails halfway leaves it
    running as it was (forwards, TAPs, addresses)."""
    lab(netns, make_netns)
    assert netns.module("guest_network", network("nftables"))["rc"] == 0
    settle(netns, "br0")
    before = host_state(netns)
    changed = network("nftables", addresses=["192.168.100.1/24", "10.77.0.1/16"], purge_taps=True,
                      taps=[{"name": "vm3-tap"}], forwards=[{"port": 9090, "to_addr": "192.168.100.3"}])
    res = netns.module("guest_network", changed, env={FAILPOINT: "create TAP vm3-tap"})
    assert res["rc"] != 0 and "failpoint" in res["msg"], res
    after = host_state(netns)
    lines = [text.replace("}, {", "\n").splitlines() for text in (before, after)]
    assert after == before, "\n".join(difflib.unified_diff(lines[0], lines[1], lineterm=""))


def random_network(rng, backend):
    """A random valid network around br0 (seeded: reproducible)."""
    n_taps = rng.randint(0, 6)
    taps = [{"name": "rt%d" % i} for i in rng.sample(range(12), n_taps)]
    for tap in taps:
        if rng.random() < 0.3:
            tap["owner"] = str(rng.choice([0, 65534]))
        if rng.random() < 0.3:
            tap["multi_queue"] = rng.random() < 0.5
        if rng.random() < 0.2:
            tap["mtu"] = rng.choice([1400, 1500, 9000])
    forwards = []
    for port in rng.sample(range(20000, 20050), rng.randint(0, 8)):
        fwd = {"port": port, "to_addr": "192.168.100.%d" % rng.randint(2, 250), "proto": rng.choice(["tcp", "udp"])}
        if rng.random() < 0.3:
            fwd["to_port"] = rng.randint(1, 65535)
        if rng.random() < 0.2:
            fwd["sources"] = ["198.51.100.0/24"]
        if rng.random() < 0.2:
            fwd["in_interface"] = "up0"
        forwards.append(fwd)
    return {"name": "br0", "backend": backend, "qemu_acl": False, "taps": taps, "forwards": forwards,
            "purge_taps": rng.random() < 0.5, "hairpin": rng.random() < 0.7, "localhost": rng.random() < 0.3,
            "addresses": rng.choice([["192.168.100.1/24"], ["192.168.100.1/24", "fd00:100::1/64"]]),
            "stp": rng.choice([None, False, True]), "mtu": rng.choice([None, 1500]),
            "masquerade_exclude": rng.choice([None, [], ["10.0.0.0/8"]])}


@pytest.mark.parametrize("seed", [11, 29])
def test_check_mode_equals_the_real_run_on_random_networks(netns, make_netns, seed):
    """Seeded random sequences of networks, each after the last: check mode predicts the
    real run's actions and result exactly, and the run after it changes nothing."""
    lab(netns, make_netns)
    rng = random.Random(seed)
    for _round in range(5):
        args = random_network(rng, rng.choice(["nftables", "iptables"]))
        if _round and rng.random() < 0.2:
            args = {"name": "br0", "state": "absent", "backend": args["backend"], "qemu_acl": False}
        check = netns.module("guest_network", args, check_mode=True)
        applied = netns.module("guest_network", args)
        assert check["rc"] == 0 and applied["rc"] == 0, (args, check, applied)
        assert check["actions"] == applied["actions"], (seed, args)
        assert check["network"] == applied["network"], (seed, args)
        assert check["changed"] == applied["changed"]
        again = netns.module("guest_network", args)
        assert again["rc"] == 0 and again["changed"] is False, (seed, args, again["actions"])


def test_bad_input_fails_before_any_change_naming_the_option(netns, make_netns):
    lab(netns, make_netns)
    before = host_state(netns)
    for args, needle in (
            (network("nftables", addresses=["192.168.100.0/24"]), "addresses="),
            (network("nftables", taps=[{"name": "vm1-tap", "owner": "no-such-user-x"}]), "taps[0].owner="),
            (network("nftables", forwards=[{"port": 99999, "to_addr": "192.168.100.2"}]), "forwards[0].port"),
            (network("nftables", uplink="nosuch0", ports=["nosuch1"]), "nosuch1"),
            (network("nftables", taps=[{"name": "vg1"}]), "vg1"),
            (dict(network("nftables"), option_names={"taps": "nat_bridge_taps"},
                  taps=[{"name": "vm1-tap", "owner": "no-such-user-x"}]), "nat_bridge_taps[0].owner=")):
        res = netns.module("guest_network", args)
        assert res["rc"] != 0 and needle in res["msg"], (needle, res["msg"])
        assert host_state(netns) == before, needle


def test_bridged_network_arms_confirms_and_gives_the_nic_back(netns, make_netns):
    """mode=bridged: the NIC's address, route and MAC move onto the bridge (armed, then
    confirmed); absent gives them back; the peer reaches the host throughout."""
    peer = make_netns("hn-peer")
    netns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "p0", "netns", peer.name)
    netns.run("ip", "addr", "add", "198.51.100.10/24", "brd", "+", "dev", "eth0")
    netns.run("ip", "link", "set", "eth0", "up")
    netns.run("ip", "route", "add", "default", "via", "198.51.100.1")
    peer.run("ip", "addr", "add", "198.51.100.1/24", "dev", "p0")
    peer.run("ip", "link", "set", "p0", "up")
    before = host_state(netns)
    mac = netns.json("ip", "-j", "link", "show", "eth0")[0]["address"]
    args = {"name": "br0", "mode": "bridged", "rollback_timeout": 60, "taps": [{"name": "vm1-tap"}],
            "qemu_acl": False}
    check = netns.module("guest_network", args, check_mode=True)
    armed = netns.module("guest_network", args)
    assert armed["rc"] == 0 and armed["actions"] == check["actions"], armed
    assert armed["actions"][-1] == "arm a revert of br0 in 60 s unless confirmed"
    assert armed["network"]["uplink"] == "eth0" and armed["network"]["bridge"]["mac"] == mac
    route = netns.run("ip", "route", "show", "default").stdout
    assert "dev br0" in route, route
    peer.run("ping", "-c", "1", "-W", "2", "198.51.100.10")
    confirmed = netns.module("guest_network", dict(args, rollback_timeout=0, confirm=True))
    assert confirmed["rc"] == 0 and confirmed["actions"] == ["confirm br0: disarm the pending revert"], confirmed
    assert netns.module("guest_network", dict(args, rollback_timeout=0))["changed"] is False
    gone = netns.module("guest_network", {"name": "br0", "mode": "bridged", "state": "absent", "qemu_acl": False})
    assert gone["rc"] == 0 and gone["changed"], gone
    assert host_state(netns) == before
    peer.run("ping", "-c", "1", "-W", "2", "198.51.100.10")


def test_the_role_builds_the_network_in_one_module_call(netns, make_netns, collections_path, tmp_path):
    """nat_bridge through ansible-playbook: one guest_network task, validated on the
    controller (a bad variable fails naming it, before the host is touched)."""
    nat = lab(netns, make_netns)
    inventory = tmp_path / "inventory"
    inventory.write_text("[hypervisors]\nh ansible_connection=local ansible_become=false ansible_python_interpreter=%s\n"
                         % sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

    def play(*extra):
        return subprocess.run(["ip", "netns", "exec", netns.name, playbook, "-i", str(inventory),
                               "hypervisor.networking.nat_bridge", "-e", "nat_bridge_persist=false",
                               "-e", "nat_bridge_qemu_acl=false", "-e", '{"nat_bridge_ports": ["vg1", "vg2"]}']
                              + list(extra), capture_output=True, text=True, env=env, check=False)

    before = host_state(netns)
    bad = play("-e", '{"nat_bridge_taps": [{"name": "a"}, {"name": "a"}]}')
    assert bad.returncode != 0 and "nat_bridge_taps[1].name" in bad.stdout, bad.stdout[-2000:]
    assert host_state(netns) == before
    good = play("-e", '{"nat_bridge_forwards": [{"port": 8080, "to_addr": "192.168.100.2", "to_port": 80}]}')
    assert good.returncode == 0, good.stdout[-3000:]
    assert "guest_network" not in good.stdout or good.stdout.count("TASK [") == 2, good.stdout
    nat.serve(nat.g1, "tcp", 80)
    assert nat.connect(nat.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
    again = play("-e", '{"nat_bridge_forwards": [{"port": 8080, "to_addr": "192.168.100.2", "to_port": 80}]}')
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-2000:]
    nat.stop()


def test_a_python_without_the_bindings_respawns_under_the_system_python(netns, make_netns, collections_path, tmp_path):
    """Ansible picked an interpreter without python3-pyroute2 and python3-nftables (a
    virtualenv, another Python): the module re-runs itself under the system Python that has
    them, and does its work."""
    nat = lab(netns, make_netns)
    venv = tmp_path / "bare"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    bare = str(venv / "bin" / "python")
    assert subprocess.run([bare, "-c", "import pyroute2"], capture_output=True, check=False).returncode != 0
    inventory = tmp_path / "inventory"
    inventory.write_text("h ansible_connection=local ansible_python_interpreter=%s\n" % bare)
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: h\n  gather_facts: false\n  tasks:\n"
                        "    - hypervisor.networking.guest_network:\n"
                        "        name: br0\n        addresses: [192.168.100.1/24]\n        ports: [vg1]\n"
                        "        persist: false\n        qemu_acl: false\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1")
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    run = subprocess.run(["ip", "netns", "exec", netns.name, ansible_playbook, "-i", str(inventory), str(playbook)],
                         capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0 and "changed=1" in run.stdout, run.stdout[-3000:]
    assert netns.json("ip", "-j", "link", "show", "vg1")[0]["master"] == "br0"
    nat.stop()


def _received(ns, port):
    """UDP packets to ``port`` that reached ``ns``'s INPUT (iptables-legacy counter)."""
    out = ns.run("iptables-legacy", "-n", "-v", "-x", "-L", "INPUT").stdout
    return sum(int(l.split()[0]) for l in out.splitlines() if "dpt:%d" % port in l)


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_nat_mode_isolates_the_guests(netns, make_netns, backend):
    """libvirt's NAT isolation: a neighbour on the uplink that routes the guests' subnet via
    the host reaches only published ports (and replies to the guests' own connections),
    also when FORWARD accepts everything; only the bridge may source the guests' subnet."""
    nat = lab(netns, make_netns)
    try:
        netns.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        nat.wan.run("ip", "route", "add", "192.168.100.0/24", "via", "203.0.113.1")
        # a second LAN on the host whose hosts spoof the guests' subnet
        lan2 = make_netns("hn-lan2")
        link_to(netns, lan2, "up1", "198.51.100.1/24", "198.51.100.2/24")
        lan2.run("ip", "addr", "add", "192.168.100.50/32", "dev", "eth0")
        lan2.run("ip", "route", "add", "default", "via", "198.51.100.1")
        for guest in (nat.g1, nat.g2):
            nat.serve(guest, "tcp", 22)
        nat.serve(nat.g1, "tcp", 80)
        nat.serve(nat.wan, "tcp", 7000)
        nat.wan.run("iptables-legacy", "-A", "INPUT", "-p", "udp", "--dport", "7001")

        def flows():
            return {
                "wan -> g1:22 (unpublished)": nat.connect(nat.wan, "tcp", "192.168.100.2", 22, timeout=1),
                "wan -> g2:22 (unpublished)": nat.connect(nat.wan, "tcp", "192.168.100.3", 22, timeout=1),
                "wan -> g1:80 (published as :8080 only)": nat.connect(nat.wan, "tcp", "192.168.100.2", 80, timeout=1),
                "wan -> :8080 -> g1:80": nat.connect(nat.wan, "tcp", "203.0.113.1", 8080, timeout=2),
                "g1 -> wan (masqueraded)": nat.connect(nat.g1, "tcp", "203.0.113.2", 7000, timeout=2),
                "g2 -> g1:22 (same bridge)": nat.connect(nat.g2, "tcp", "192.168.100.2", 22, timeout=2),
            }
        # control: without the network's rules the neighbour reaches everything
        netns.run("ip", "link", "add", "br0", "type", "bridge")
        for port in ("vg1", "vg2"):
            netns.run("ip", "link", "set", port, "master", "br0")
        netns.run("ip", "addr", "add", "192.168.100.1/24", "dev", "br0")
        netns.run("ip", "link", "set", "br0", "up")
        settle(netns, "br0")
        assert flows()["wan -> g1:22 (unpublished)"] == "peer=203.0.113.2"
        netns.run("ip", "link", "del", "br0")
        res = netns.module("guest_network", network(backend, taps=[]))
        assert res["rc"] == 0, res
        settle(netns, "br0")
        assert flows() == {
            "wan -> g1:22 (unpublished)": None, "wan -> g2:22 (unpublished)": None,
            "wan -> g1:80 (published as :8080 only)": None, "wan -> :8080 -> g1:80": "peer=203.0.113.2",
            "g1 -> wan (masqueraded)": "peer=203.0.113.1", "g2 -> g1:22 (same bridge)": "peer=192.168.100.3"}
        # a spoofed guest source from another interface is not forwarded (nor masqueraded)
        before = _received(nat.wan, 7001)
        lan2.run(sys.executable, NETPEER, "send", "udp", "203.0.113.2", "7001", "192.168.100.50", "3")
        time.sleep(0.5)
        assert _received(nat.wan, 7001) == before
        lan2.run(sys.executable, NETPEER, "send", "udp", "203.0.113.2", "7001", "198.51.100.2", "3")
        time.sleep(0.5)
        assert _received(nat.wan, 7001) > before  # the same from its own address passes
        again = netns.module("guest_network", network(backend, taps=[]))
        assert again["rc"] == 0 and again["changed"] is False, again
    finally:
        netns.module("guest_network", {"name": "br0", "state": "absent", "backend": backend, "qemu_acl": False})
        nat.stop()
