# -*- coding: utf-8 -*-
"""TAPs and forwarding as the converge left them, and TAPs opened as QEMU would."""
from __future__ import annotations

import json

testinfra_hosts = ["podman://hn-tf-bookworm", "podman://hn-tf-trixie"]


def link(host, name):
    return json.loads(host.check_output("ip -d -j link show %s" % name))[0]


def test_taps_owned_and_bridged(host):
    for name in ("vm1-tap0", "vm2-tap0", "vm3-tap0"):
        info = link(host, name)
        data = info["linkinfo"]["info_data"]
        assert data["type"] == "tap"
        assert data["user"] in ("nobody", 65534) and data["group"] in ("nogroup", 65534)
        assert info["master"] == "br0"
        assert info["ifalias"] == "managed-by=hypervisor.networking"
    assert link(host, "vm2-tap0")["linkinfo"]["info_data"]["multi_queue"] is True
    vm3 = link(host, "vm3-tap0")
    assert vm3["mtu"] == 1400 and "UP" not in vm3["flags"]


def test_hand_made_tap_untouched(host):
    info = link(host, "vm-hand")
    assert "master" not in info and "ifalias" not in info


def test_owner_opens_tap_and_others_cannot(host):
    ok = host.run("setpriv --reuid=65534 --regid=65534 --clear-groups python3 /usr/local/bin/tap_helper.py open vm1-tap0")
    assert ok.rc == 0 and ok.stdout.strip() == "opened", ok.stderr
    denied = host.run("setpriv --reuid=4242 --regid=4242 --clear-groups python3 /usr/local/bin/tap_helper.py open vm1-tap0")
    assert denied.rc == 1 and "EPERM" in denied.stdout


def test_guest_frames_reach_the_bridge(host):
    out = host.check_output("setpriv --reuid=65534 --regid=65534 --clear-groups python3 /usr/local/bin/tap_helper.py"
                            " arp vm1-tap0 52:54:00:00:00:02 192.168.100.2 192.168.100.1")
    assert out.strip() == "reply from %s" % link(host, "br0")["address"]


def test_forwarding_runtime_and_persistent(host):
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
    assert host.file("/proc/sys/net/ipv6/conf/all/forwarding").content_string.strip() == "1"
    dropin = host.file("/etc/sysctl.d/90-hypervisor-networking.conf")
    assert dropin.mode == 0o644
    assert "net.ipv4.ip_forward = 1" in dropin.content_string
    assert "net.ipv6.conf.all.forwarding = 1" in dropin.content_string
