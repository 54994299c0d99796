# -*- coding: utf-8 -*-
"""After the role (persist: true), reboot with no Ansible run: the bridge, the TAP, the
forwarding, the masquerade, the published port and the network's dnsmasq come back, a
QEMU guest started at boot by a unit gets its fixed lease, resolves its own name through
the gateway, reaches the internet and is reached; the seed's `qemu -nic bridge` path
works; the manager's own tools leave the state as the role made it; a second run changes
nothing; absent plus a reboot leaves nothing of ours and Docker's rules as they were.

A reboot is `podman restart`: a fresh network namespace, systemd as PID 1 again. The
seconds from the restart to the first answer through the published port are written to
$HN_RESULTS (default /tmp/hn-results)/reboot-times.txt (and printed).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import testinfra

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "reboot_physical", "tests"))
from test_reboot_physical import restart, revive_cgroup  # noqa: E402  pylint: disable=wrong-import-position

HVS = ["hn-rb-12ifu", "hn-rb-12nd", "hn-rb-13ifu", "hn-rb-13nd"]
testinfra_hosts = ["podman://%s" % name for name in HVS]
WAN = testinfra.get_host("podman://hn-rb-wan")
FETCH = ("python3 -c 'import sys, urllib.request; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())' %s")
GUEST = ("qemu-system-x86_64 -accel tcg -m 192 -display none -no-reboot -monitor none"
         " -kernel /opt/guest/vmlinuz -initrd /opt/guest/initrd.gz")
MANAGER = {"hn-rb-12ifu": "ifupdown", "hn-rb-12nd": "networkd", "hn-rb-13ifu": "ifupdown", "hn-rb-13nd": "networkd"}
BACKEND = {"hn-rb-12ifu": "nftables", "hn-rb-12nd": "iptables", "hn-rb-13ifu": "iptables", "hn-rb-13nd": "nftables"}
DOCKER = {"hn-rb-12ifu", "hn-rb-12nd"}
OURS = ["/etc/network/interfaces.d/hypervisor-networking-1-br0", "/etc/network/interfaces.d/hypervisor-networking-2-vm1-tap",
        "/etc/network/if-up.d/hypervisor-networking",
        "/etc/systemd/network/00-hypervisor-networking-br0.netdev",
        "/etc/systemd/network/00-hypervisor-networking-br0.network",
        "/etc/systemd/network/00-hypervisor-networking-tap-vm1-tap.netdev",
        "/etc/systemd/network/00-hypervisor-networking-tap-vm1-tap.network",
        "/etc/hypervisor-networking", "/etc/systemd/system/hypervisor-networking-firewall.service",
        "/etc/systemd/system/sysinit.target.wants/hypervisor-networking-firewall.service",
        "/etc/systemd/system/hypervisor-networking-dnsmasq@.service",
        "/etc/systemd/system/multi-user.target.wants/hypervisor-networking-dnsmasq@br0.service",
        "/var/lib/hypervisor-networking"]


def name_of(host):
    return host.backend.get_hostname()


@pytest.fixture(autouse=True)
def _exec_works(host):
    revive_cgroup(name_of(host))


def ipv4(host, dev="eth0"):
    return json.loads(host.check_output("ip -j -4 addr show dev %s" % dev))[0]["addr_info"][0]["local"]


def fetch(host, url):
    out = host.run(FETCH % url)
    return out.stdout.strip() if out.rc == 0 else None


def reboot(host):
    """Restart the container; return the seconds from its start to the first answer of
    the guest through the published port (None: never within 180 s)."""
    name = name_of(host)
    subprocess.run(["podman", "stop", "-t", "20", name], check=True, capture_output=True)
    subprocess.run(["podman", "start", name], check=True, capture_output=True)
    started = time.monotonic()
    fresh = testinfra.get_host("podman://%s" % name)
    for _attempt in range(600):
        revive_cgroup(name)
        if fresh.run("test -S /run/systemd/private").rc == 0:
            break
        time.sleep(0.2)
    url = "http://%s:8080/cgi-bin/who" % ipv4(fresh)
    while time.monotonic() - started < 180:
        if fetch(WAN, url):
            return round(time.monotonic() - started, 1)
        time.sleep(0.5)
    return None


def record(line):
    # not molecule's ephemeral directory: destroy empties it
    directory = os.environ.get("HN_RESULTS", "/tmp/hn-results")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "reboot-times.txt"), "a") as handle:
        handle.write(line + "\n")
    print(line)


def our_playbook(name, state, check=False):
    """The scenario's converge for this host only -> (changed count, output)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    scenario = env.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
    argv = ["ansible-playbook", "-i", env["MOLECULE_INVENTORY_FILE"], "--limit", "%s,hn-rb-wan" % name,
            os.path.join(scenario, "converge.yml"), "-e", "nat_bridge_state=%s" % state]
    proc = subprocess.run(argv + (["--check"] if check else []), capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    recap = re.search(r"^%s\s*: ok=\d+\s+changed=(\d+)" % re.escape(name), proc.stdout, re.M)
    return int(recap.group(1)), proc.stdout


def network_as_made(host):
    """The bridge with its address, the TAP on it owned by qemu-user, forwarding on."""
    br0 = json.loads(host.check_output("ip -d -j addr show dev br0"))[0]
    assert "UP" in br0["flags"]
    assert [(a["local"], a["prefixlen"]) for a in br0["addr_info"] if a["family"] == "inet"] == [("192.168.100.1", 24)]
    tap = json.loads(host.check_output("ip -d -j link show dev vm1-tap"))[0]
    assert tap["master"] == "br0" and tap["linkinfo"]["info_data"]["user"] in ("qemu-user", 1500)
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"


def docker_rules(host):
    """Docker's chains in iptables-nft (counters aside), where Docker writes."""
    out = host.check_output("iptables-nft-save")
    return [re.sub(r"\[\d+:\d+\]$", "", l) for l in out.splitlines() if "DOCKER" in l and "HN-" not in l]


def test_files_in_the_hosts_manager(host):
    name = name_of(host)
    files = OURS[:3] if MANAGER[name] == "ifupdown" else OURS[3:7]
    for path in files + OURS[7:]:
        assert host.file(path).exists, path
    for path in OURS[3:7] if MANAGER[name] == "ifupdown" else OURS[:3]:
        assert not host.file(path).exists, path
    for path in files:
        assert host.file(path).content_string.startswith(("# Managed by the hypervisor.networking collection",
                                                          "#!/bin/sh\n# Managed by the hypervisor.networking"))
    if MANAGER[name] == "ifupdown":
        assert "br0" in host.check_output("ifquery --list")
    assert "net.ipv4.ip_forward = 1" in host.file("/etc/sysctl.d/90-hypervisor-networking.conf").content_string


def test_reboot_brings_the_guest_network_back(host):
    name = name_of(host)
    seconds = reboot(host)
    record("%s (%s, %s): first answer through the published port %s s after the container started"
           % (name, MANAGER[name], BACKEND[name], seconds))
    assert seconds is not None, host.run("journalctl -b --no-pager | tail -n 80").stdout
    host = testinfra.get_host("podman://%s" % name)
    network_as_made(host)
    log = host.check_output("cat /var/lib/hn-guest/console.log")
    # the guest started at boot got its fixed lease from our dnsmasq, started at boot by its unit
    assert host.check_output("systemctl is-active hypervisor-networking-dnsmasq@br0.service") == "active"
    lease = re.search(r"^HN-LEASE (.*?)\r?$", log, re.M)
    assert lease and lease.group(1).startswith("192.168.100.10 router 192.168.100.1 dns 192.168.100.1 domain "
                                               "lab.test lease 3600 after "), log[-2000:]
    record("%s: guest console after the reboot: HN-LEASE %s" % (name, lease.group(1)))
    assert "HN-DNS vm1.lab.test 192.168.100.10" in log, log[-2000:]
    # the guest started at boot reached the internet, which saw the hypervisor's address
    assert "HN-NAT hello from the internet; you came from %s" % ipv4(host) in log, log[-2000:]
    # Docker may be starting now (it rewrites FORWARD's head): a few tries, never a lasting loss
    answers = []
    for _attempt in range(10):
        answers.append(fetch(WAN, "http://%s:8080/cgi-bin/who" % ipv4(host)))
        if answers[-1]:
            break
        time.sleep(0.5)
    record("%s: fetches through the published port after the checks: %d" % (name, len(answers)))
    assert answers[-1] == "guest 192.168.100.10 saw %s" % ipv4(WAN), (answers, host.check_output("iptables-nft-save"))
    assert host.check_output("systemctl is-active hypervisor-networking-firewall.service") == "active"
    # a FORWARD drop was set after our unit (and Docker); the guests forward all the same
    assert ":FORWARD DROP" in host.check_output("iptables-nft-save -t filter")
    if name in DOCKER:
        assert host.check_output("systemctl is-active docker.service") == "active"


def test_seed_bridge_helper_guest_after_reboot(host):
    run = host.run(
        "timeout 150 %s -nic bridge,br=br0,model=virtio-net-pci,mac=52:54:00:64:00:0b"
        " -append 'console=ttyS0 panic=-1 quiet hn.ip=192.168.100.11/24 hn.gw=192.168.100.1"
        " hn.wan=http://%s:8000/' -serial file:/tmp/guest2.log" % (GUEST, ipv4(WAN)))
    log = host.run("cat /tmp/guest2.log").stdout
    assert run.rc == 0 and "HN-NAT hello from the internet; you came from %s" % ipv4(host) in log, \
        (run.stderr, log[-2000:])


def test_the_managers_own_tools_agree(host):
    name = name_of(host)
    if MANAGER[name] == "ifupdown":
        host.check_output("ifdown br0 && ifup br0")
    else:
        host.check_output("networkctl reload && networkctl reconfigure br0 vm1-tap")
        for _attempt in range(50):
            if "configured" in host.check_output("networkctl status br0 --no-pager | grep State:"):
                break
            time.sleep(0.1)
    network_as_made(host)
    url = "http://%s:8080/cgi-bin/who" % ipv4(host)
    answer = None
    for _attempt in range(20):  # the bridge re-learns the guest's MAC
        answer = fetch(WAN, url)
        if answer:
            break
        time.sleep(0.5)
    assert answer == "guest 192.168.100.10 saw %s" % ipv4(WAN)


def test_second_run_after_reboot_changes_nothing(host):
    changed, out = our_playbook(name_of(host), "present")
    assert changed == 0, out[-4000:]


def test_absent_and_reboot_leave_nothing_of_ours(host):
    name = name_of(host)
    before = docker_rules(host) if name in DOCKER else None
    # the guest goes first: the module never cuts a running guest off without force
    host.check_output("systemctl disable --now hn-guest.service")
    our_playbook(name, "absent")
    host = restart(name)
    for path in OURS:
        assert not host.file(path).exists, path
    assert host.run("ip link show br0").rc != 0 and host.run("ip link show vm1-tap").rc != 0
    assert host.run("nft list table ip hypervisor_networking").rc != 0
    for save in ("iptables-nft-save", "iptables-legacy-save"):
        assert "hypervisor.networking" not in host.check_output(save)
    if before is not None:
        assert docker_rules(host) == before
