# -*- coding: utf-8 -*-
"""NetworkManager carries the nat_bridge role's network: it lists and runs our profiles,
leaves the running state as the run made it (also when it restarts), and brings
everything back after a reboot with no Ansible run; the admin's own profile of the uplink
stays theirs, byte for byte, through absent."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "reboot_physical", "tests"))
from test_reboot_physical import restart, revive_cgroup  # noqa: E402  pylint: disable=wrong-import-position

NAME = "hn-nm-12"
testinfra_hosts = ["podman://%s" % NAME]
PROFILES = {"hypervisor-networking-bridge-br0": "br0", "hypervisor-networking-port-eth2": "eth2",
            "hypervisor-networking-tap-vm1-tap": "vm1-tap", "hypervisor-networking-overlay-br0": "vxlan100",
            "uplink": "eth1"}
FETCH = ("ip netns exec %s python3 -c 'import sys, urllib.request; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())' %s")


def active(host, starting=False):
    """{profile: device} of NetworkManager's active connections; while ``starting`` (just
    after a boot), none while NetworkManager does not answer yet."""
    out = host.run("nmcli -t -f NAME,DEVICE connection show --active")
    if out.rc != 0 and starting:
        return {}
    assert out.rc == 0, out.stderr
    return dict(line.rsplit(":", 1) for line in out.stdout.splitlines() if line)


def state(host):
    """What NetworkManager must leave alone: links (index, master, up, MAC), addresses."""
    links = [(l["ifname"], l["ifindex"], l.get("master"), "UP" in l["flags"], l["address"])
             for l in json.loads(host.check_output("ip -j link show"))]
    addrs = [(a["ifname"], sorted((i["local"], i["prefixlen"]) for i in a["addr_info"]))
             for a in json.loads(host.check_output("ip -j addr show"))]
    return sorted(links), sorted(addrs)


def fetch(host, netns, url, tries=20):
    out = None
    for _attempt in range(tries):
        out = host.run(FETCH % (netns, url))
        if out.rc == 0:
            return out.stdout.strip()
        time.sleep(0.5)
    return out.stderr


def network_as_made(host):
    profiles = {}
    for _attempt in range(60):  # NetworkManager may still be activating after a boot
        profiles = active(host, starting=True)
        if all(profiles.get(k) == v for k, v in PROFILES.items()):
            break
        time.sleep(0.5)
    assert all(profiles.get(k) == v for k, v in PROFILES.items()), profiles
    br0 = json.loads(host.check_output("ip -j addr show dev br0"))[0]
    assert [(a["local"], a["prefixlen"]) for a in br0["addr_info"] if a["family"] == "inet"] == [("192.168.100.1", 24)]
    tap = json.loads(host.check_output("ip -d -j link show dev vm1-tap"))[0]
    assert tap["master"] == "br0" and tap["linkinfo"]["info_data"]["user"] in ("root", 0)
    assert json.loads(host.check_output("ip -j link show dev eth2"))[0]["master"] == "br0"
    assert "hypervisor_networking" in host.check_output("nft list tables")
    # the overlay's port: NetworkManager's profile, the dispatcher script's port settings
    vxlan = json.loads(host.check_output("ip -d -j link show dev vxlan100"))[0]
    assert vxlan["master"] == "br0" and vxlan["mtu"] == 1450 and vxlan["linkinfo"]["info_data"]["id"] == 100
    for _attempt in range(20):  # the dispatcher runs after the activation
        vxlan = json.loads(host.check_output("ip -d -j link show dev vxlan100"))[0]
        if vxlan["linkinfo"]["info_slave_data"]["neigh_suppress"]:
            break
        time.sleep(0.5)
    assert vxlan["linkinfo"]["info_slave_data"]["neigh_suppress"] is True
    assert "00:00:00:00:00:00 dst 198.51.100.1 self permanent" in host.check_output("bridge fdb show dev vxlan100")
    assert "dst 198.51.100.2" not in host.check_output("bridge fdb show dev vxlan100")
    # both ways: the guest reaches the internet (masqueraded: wan has no route back to
    # 192.168.100.0/24), the internet reaches the guest's service through the forward
    assert fetch(host, "guest", "http://198.51.100.1/") == "wan"
    assert fetch(host, "wan", "http://198.51.100.2:8080/") == "guest"


def test_networkmanager_runs_our_profiles(host):
    revive_cgroup(NAME)
    for profile in PROFILES:
        if profile != "uplink":
            path = "/etc/NetworkManager/system-connections/%s.nmconnection" % profile
            assert host.file(path).mode == 0o600 and host.file(path).user == "root"
    network_as_made(host)


def drift(name):
    """net_info's persistence drift, run as a user would run it."""
    env = dict(os.environ)
    proc = subprocess.run(["ansible", "-i", env["MOLECULE_INVENTORY_FILE"], name, "-m", "hypervisor.networking.net_info",
                           "-a", "gather=persistence", "-o"], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result, _end = json.JSONDecoder().raw_decode(proc.stdout.split(" => ", 1)[1])
    return result["persistence"]["drift"]


def test_net_info_reports_networkmanager_drift(host):
    revive_cgroup(NAME)
    assert drift(NAME) == []
    # the admin takes the guest's port out of NetworkManager's hands: drift names it
    host.run_test("nmcli connection down hypervisor-networking-port-eth2")
    try:
        (found,) = drift(NAME)
        assert found.startswith("eth2: NetworkManager does not run our profile"), found
    finally:
        host.run_test("nmcli --wait 20 connection up hypervisor-networking-port-eth2")
    assert drift(NAME) == []


def test_networkmanager_leaves_the_running_state_alone(host):
    revive_cgroup(NAME)
    before = state(host)
    host.run_test("systemctl restart NetworkManager.service")
    host.run_test("nmcli --wait 30 general reload && nm-online -s -q -t 30")
    time.sleep(3)
    assert state(host) == before
    assert all(active(host).get(k) == v for k, v in PROFILES.items())


def test_reboot_brings_it_back(host):
    host = restart(NAME)
    network_as_made(host)


def test_absent_leaves_the_admins_profile(host):
    revive_cgroup(NAME)
    playbook("converge.yml", "-e", "nat_bridge_state=absent")
    assert host.run("ip link show br0").rc != 0 and host.run("ip link show vm1-tap").rc != 0
    assert host.run("ls /etc/NetworkManager/system-connections/hypervisor-networking-*").rc != 0
    assert not host.file("/etc/NetworkManager/dispatcher.d/90-hypervisor-networking-overlay").exists
    assert host.run("ip link show vxlan100").rc != 0
    assert "hypervisor-networking" not in host.check_output("nmcli -t -f NAME connection show")
    assert host.file("/etc/NetworkManager/system-connections/uplink.nmconnection").content_string == \
        host.file("/root/uplink.nmconnection").content_string
    assert active(host).get("uplink") == "eth1"
    # eth2, a port no more, is NetworkManager's again: no profile of ours holds it
    assert "master" not in json.loads(host.check_output("ip -j link show dev eth2"))[0]


def playbook(name, *extra):
    """ansible-playbook of this scenario -> its PLAY RECAP line for this host."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    scenario = env.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.run(["ansible-playbook", "-i", env["MOLECULE_INVENTORY_FILE"], "--limit", NAME,
                           os.path.join(scenario, name)] + list(extra),
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if NAME in line and "changed=" in line][-1]


def uplink_on(host, dev):
    """The host's address and default route are on ``dev`` and reach the internet."""
    view = json.loads(host.check_output("ip -j addr show dev %s" % dev))[0]
    assert [a["local"] for a in view["addr_info"] if a["family"] == "inet"] == ["198.51.100.2"]
    routes = json.loads(host.check_output("ip -j route show default"))
    assert [(r["gateway"], r["dev"]) for r in routes] == [("198.51.100.1", dev)]
    host.run_test("ping -c 1 -W 2 198.51.100.1")


def test_physical_bridge_takes_the_admins_uplink_and_gives_it_back(host):
    revive_cgroup(NAME)
    mac = json.loads(host.check_output("ip -j link show dev eth1"))[0]["address"]
    assert "changed=0" not in playbook("physical.yml")
    ours = {"hypervisor-networking-bridge-br1": "br1", "hypervisor-networking-port-eth1": "eth1"}
    assert all(active(host).get(k) == v for k, v in ours.items()) and "uplink" not in active(host)
    uplink_on(host, "br1")
    assert json.loads(host.check_output("ip -j link show dev br1"))[0]["address"] == mac
    assert "changed=0" in playbook("physical.yml")
    # at boot our port profile (priority 999), not the admin's, takes eth1
    host = restart(NAME)
    for _attempt in range(60):
        if all(active(host, starting=True).get(k) == v for k, v in ours.items()):
            break
        time.sleep(0.5)
    assert all(active(host).get(k) == v for k, v in ours.items()), active(host)
    uplink_on(host, "br1")
    playbook("physical.yml", "-e", "physical_bridge_state=absent")
    for _attempt in range(60):  # NetworkManager brings the admin's profile back by itself
        if active(host).get("uplink") == "eth1":
            break
        time.sleep(0.5)
    assert active(host).get("uplink") == "eth1" and host.run("ip link show br1").rc != 0
    uplink_on(host, "eth1")
    assert host.file("/etc/NetworkManager/system-connections/uplink.nmconnection").content_string == \
        host.file("/root/uplink.nmconnection").content_string
