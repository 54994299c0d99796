# -*- coding: utf-8 -*-
"""After nat_bridge_state: absent, nothing of the role's is left and everything that was
there before it (other tools' bridges, nft tables, iptables-legacy rules, ACL lines) is
byte-identical to the snapshot taken before the role first ran."""
from __future__ import annotations

import json

testinfra_hosts = ["podman://hn-nba-12nft", "podman://hn-nba-13ipt"]


def test_nothing_of_ours_is_left(host):
    for name in ("br0", "vm1-tap", "vm2-tap"):
        assert host.run("ip link show dev %s" % name).rc != 0, name
    assert host.run("nft list table ip hypervisor_networking").rc != 0
    assert "HN-" not in host.check_output("iptables-legacy-save")
    acl = host.file("/etc/qemu/bridge.conf").content_string
    assert "hypervisor.networking" not in acl and "allow br0" not in acl


def test_everything_else_is_as_before(host):
    host.run_test("python3 /usr/local/lib/snapshot.py /root/foreign-after.json")
    before = json.loads(host.file("/root/foreign-before.json").content_string)
    after = json.loads(host.file("/root/foreign-after.json").content_string)
    for key in sorted(before):
        assert after[key] == before[key], key


def test_the_role_really_ran(host):
    # the snapshot comparison means something only if the role had built its network:
    # prepare's run left its marks in places absent does not undo (forwarding stays on)
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
