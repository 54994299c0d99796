# -*- coding: utf-8 -*-
"""After the physical_bridge role (armed, confirmed, persisted), reboot with no Ansible
run: eth0 is a port of br0, br0 carries the address, MAC and default route eth0 had, and
the peer reaches the host's service on that address; on the ifupdown host, its own stanza
of eth0 is a marked `inet manual`. The container's runtime gives eth0
an address of its own at every start (as firmware or an old configuration might): the
persisted bridge takes eth0 over all the same. Absent plus a reboot: no bridge, eth0 as
the host's own configuration makes it, /etc/network/interfaces as it was."""
from __future__ import annotations

import json
import os
import subprocess
import time

import testinfra

HVS = ["hn-rp-12ifu", "hn-rp-13nd"]
testinfra_hosts = ["podman://%s" % name for name in HVS]
PEER = testinfra.get_host("podman://hn-rp-peer")
FETCH = ("python3 -c 'import sys, urllib.request; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())' %s")


def name_of(host):
    return host.backend.get_hostname()


def revive_cgroup(name):
    """Work around this machine, not the collection: on a hybrid-cgroup host, systemd 257
    (Debian 13) as a container's PID 1 leaves podman's name=systemd cgroup of the
    container, which then gets removed, and every later `podman exec` fails to join it.
    Recreating the (empty) directory lets exec join it again."""
    cid = subprocess.run(["podman", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True,
                         check=True).stdout.strip()
    path = "/sys/fs/cgroup/systemd/libpod_parent/libpod-%s" % cid
    if os.path.isdir("/sys/fs/cgroup/systemd/libpod_parent") and not os.path.isdir(path):
        os.mkdir(path)


def restart(name):
    subprocess.run(["podman", "stop", "-t", "20", name], check=True, capture_output=True)
    subprocess.run(["podman", "start", name], check=True, capture_output=True)
    host = testinfra.get_host("podman://%s" % name)
    booted(host, name)
    return host


def booted(host, name):
    """Wait until systemd has finished booting the container. The answer, not the exit
    code, says so: before systemd listens, `is-system-running` says "offline" with the
    exit code "degraded" has too."""
    for _attempt in range(300):
        revive_cgroup(name)
        if host.run("systemctl is-system-running --wait").stdout.strip() in ("running", "degraded"):
            return
        time.sleep(0.2)
    raise AssertionError("%s did not finish booting: %s" % (name, host.run("systemctl is-system-running").stdout))


def link(host, dev):
    return json.loads(host.check_output("ip -j addr show dev %s" % dev))[0]


def v4(view):
    return [a["local"] for a in view["addr_info"] if a["family"] == "inet"]


def test_reboot_keeps_the_host_on_its_address_through_br0(host):
    name = name_of(host)
    revive_cgroup(name)
    br0 = link(host, "br0")
    address, mac = v4(br0)[0], br0["address"]
    gateway = json.loads(host.check_output("ip -j route show default"))[0]["gateway"]
    host = restart(name)
    answer = None
    for _attempt in range(60):
        out = PEER.run(FETCH % ("http://%s:8000/" % address))
        if out.rc == 0:
            answer = out.stdout.strip()
            break
        time.sleep(0.5)
    assert answer == name, host.run("journalctl -b --no-pager | tail -n 60").stdout
    br0, eth0 = link(host, "br0"), link(host, "eth0")
    assert eth0["master"] == "br0" and v4(eth0) == [], eth0
    assert v4(br0) == [address] and br0["address"] == mac
    routes = json.loads(host.check_output("ip -j route show default"))
    assert [(r["gateway"], r["dev"]) for r in routes] == [(gateway, "br0")]
    if name == "hn-rp-12ifu":
        # the host's own stanza of eth0 is a marked `inet manual` (as Proxmox writes it)
        interfaces = host.file("/etc/network/interfaces").content_string
        assert "# BEGIN hypervisor.networking: eth0 is a bridge port" in interfaces
        assert "iface eth0 inet manual" in interfaces and "iface eth0 inet static" not in interfaces


def test_absent_and_reboot_give_eth0_back(host):
    name = name_of(host)
    revive_cgroup(name)
    env = dict(os.environ)
    scenario = env.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.run(["ansible-playbook", "-i", env["MOLECULE_INVENTORY_FILE"], "--limit", name,
                           os.path.join(scenario, "converge.yml"), "-e", "physical_bridge_state=absent"],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    host = restart(name)
    assert host.run("ip link show br0").rc != 0
    for pattern in ("/etc/network/interfaces.d/hypervisor-networking-*", "/etc/systemd/network/*hypervisor-networking*",
                    "/etc/hypervisor-networking"):
        assert host.run("ls -d %s" % pattern).rc != 0, pattern
    if name == "hn-rp-12ifu":
        assert host.file("/etc/network/interfaces").content_string == \
            host.file("/root/interfaces.host").content_string  # given back byte for byte
    # the host's own configuration of eth0 applies again (networkd may still be replacing
    # the address the container runtime gave with the one its file says)
    answers, eth0 = [], None
    for _attempt in range(60):
        eth0 = link(host, "eth0")
        answers = [PEER.run(FETCH % ("http://%s:8000/" % a)) for a in v4(eth0)]
        if "master" not in eth0 and any(out.rc == 0 and out.stdout.strip() == name for out in answers):
            break
        time.sleep(0.5)
    assert "master" not in eth0 and any(out.rc == 0 and out.stdout.strip() == name for out in answers), eth0
