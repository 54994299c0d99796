# -*- coding: utf-8 -*-
"""The link reader (_rtnl, through _netlink.Netlink.links) against pyroute2's own decoding
of the same dump, on real links of every kind the modules look at: a bridge with options
set, TAPs (owner, group, multi-queue, vnet_hdr, one held open by a process), a VXLAN port
with its bridge-port flags, veths, loopback; a single link by name; a missing name."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tap_helper.py")

# pyroute2's decoding, written out here as the reference (what _netlink did before _rtnl)
REFERENCE = r'''
import json, sys
from pyroute2 import IPRoute
from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink


def a(msg, key):
    return msg.get_attr(key) if msg is not None else None


def ref(msg, names):
    info = msg.get_attr("IFLA_LINKINFO")
    kind = a(info, "IFLA_INFO_KIND")
    data = a(info, "IFLA_INFO_DATA")
    master = msg.get_attr("IFLA_MASTER")
    out = {"index": msg["index"], "name": msg.get_attr("IFLA_IFNAME"), "kind": kind, "up": bool(msg["flags"] & 1),
           "mtu": msg.get_attr("IFLA_MTU"), "mac": (msg.get_attr("IFLA_ADDRESS") or "").lower() or None,
           "master": names.get(master) if master else None, "alias": msg.get_attr("IFLA_IFALIAS")}
    if kind == "bridge":
        out["bridge"] = {"stp": bool(a(data, "IFLA_BR_STP_STATE")),
                         "forward_delay": a(data, "IFLA_BR_FORWARD_DELAY") // 100,
                         "vlan_filtering": bool(a(data, "IFLA_BR_VLAN_FILTERING")),
                         "nf_call_iptables": bool(a(data, "IFLA_BR_NF_CALL_IPTABLES"))}
        out["priority"] = a(data, "IFLA_BR_PRIORITY")
    elif kind == "tun":
        queues = (a(data, "IFLA_TUN_NUM_QUEUES") or 0) + (a(data, "IFLA_TUN_NUM_DISABLED_QUEUES") or 0)
        out["tun"] = {"mode": "tap" if a(data, "IFLA_TUN_TYPE") == 2 else "tun", "owner": a(data, "IFLA_TUN_OWNER"),
                      "group": a(data, "IFLA_TUN_GROUP"), "multi_queue": bool(a(data, "IFLA_TUN_MULTI_QUEUE")),
                      "vnet_hdr": bool(a(data, "IFLA_TUN_VNET_HDR")), "persist": bool(a(data, "IFLA_TUN_PERSIST")),
                      "in_use": queues > 0 or bool(msg.get_attr("IFLA_CARRIER"))}
    elif kind == "vxlan":
        out["vxlan"] = {"id": a(data, "IFLA_VXLAN_ID"), "port": a(data, "IFLA_VXLAN_PORT"),
                        "local": a(data, "IFLA_VXLAN_LOCAL") or a(data, "IFLA_VXLAN_LOCAL6"),
                        "learning": bool(a(data, "IFLA_VXLAN_LEARNING"))}
        port = a(info, "IFLA_INFO_SLAVE_DATA")
        if master and port is not None:
            out["brport"] = {"neigh_suppress": bool(a(port, "IFLA_BRPORT_NEIGH_SUPPRESS")),
                             "learning": bool(a(port, "IFLA_BRPORT_LEARNING"))}
    return out


with IPRoute() as ipr:
    msgs = list(ipr.get_links())
names = dict((m["index"], m.get_attr("IFLA_IFNAME")) for m in msgs)
reference = dict((names[m["index"]], ref(m, names)) for m in msgs)
with Netlink() as nl:
    ours = nl.links()
    one = nl.links(only=["vm1-tap", "nosuch0"])
for link in ours.values():
    link.pop("mac_set_by_user", None)
for link in one.values():
    link.pop("mac_set_by_user", None)
print(json.dumps({"reference": reference, "ours": ours, "one": one}))
'''


def test_the_reader_agrees_with_pyroute2_on_every_link(netns):
    ns = netns
    ns.run("ip", "link", "add", "br0", "type", "bridge", "stp_state", "1", "forward_delay", "700",
           "nf_call_iptables", "1", "priority", "4096")  # this kernel has no vlan_filtering
    ns.run("ip", "link", "set", "br0", "alias", "managed-by=hypervisor.networking", "mtu", "1400", "up")
    ns.run("ip", "tuntap", "add", "dev", "vm1-tap", "mode", "tap", "user", "nobody", "group", "nogroup", "vnet_hdr")
    ns.run("ip", "tuntap", "add", "dev", "vm2-tap", "mode", "tap", "multi_queue")
    ns.run("ip", "tuntap", "add", "dev", "tun0", "mode", "tun")
    for tap in ("vm1-tap", "vm2-tap"):
        ns.run("ip", "link", "set", tap, "master", "br0", "up")
    ns.run("ip", "link", "add", "ve0", "type", "veth", "peer", "name", "ve1")
    ns.run("ip", "addr", "add", "10.250.0.1/24", "dev", "ve0")
    ns.run("ip", "link", "add", "vxlan100", "type", "vxlan", "id", "100", "local", "10.250.0.1", "dstport", "4789",
           "nolearning")
    ns.run("ip", "link", "set", "vxlan100", "master", "br0")
    ns.run("bridge", "link", "set", "dev", "vxlan100", "neigh_suppress", "on", "learning", "off")
    ns.run("ip", "link", "add", "vxlan6", "type", "vxlan", "id", "6", "local", "fd00::1", "dstport", "4790")
    # a process holds vm2-tap open (a running guest)
    holder = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, HELPER, "hold", "vm2-tap"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, TAP_MULTI_QUEUE="1"))
    try:
        for _attempt in range(100):
            if ns.json("ip", "-d", "-j", "link", "show", "vm2-tap")[0].get("linkinfo", {}).get(
                    "info_data", {}).get("numqueues"):
                break
            time.sleep(0.02)
        env = dict(os.environ, PYTHONPATH=ns.collections)
        proc = subprocess.run(["ip", "netns", "exec", ns.name, sys.executable, "-c", REFERENCE],
                              capture_output=True, text=True, env=env, timeout=60, check=False)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    reference, ours = got["reference"], got["ours"]
    assert ours == reference
    assert sorted(ours) == ["br0", "lo", "tun0", "ve0", "ve1", "vm1-tap", "vm2-tap", "vxlan100", "vxlan6"]
    # the cases are really there: the comparison covers each decoded field
    assert ours["br0"]["bridge"] == {"stp": True, "forward_delay": 7, "vlan_filtering": False,
                                     "nf_call_iptables": True} and ours["br0"]["priority"] == 4096
    assert ours["br0"]["alias"] == "managed-by=hypervisor.networking" and ours["br0"]["mtu"] == 1400
    assert ours["vm1-tap"]["tun"]["owner"] == 65534 and ours["vm1-tap"]["tun"]["vnet_hdr"]
    assert ours["vm2-tap"]["tun"]["multi_queue"] and ours["vm2-tap"]["tun"]["in_use"]
    assert not ours["vm1-tap"]["tun"]["in_use"] and ours["vm2-tap"]["tun"]["owner"] is None
    assert ours["tun0"]["tun"]["mode"] == "tun" and ours["vm1-tap"]["master"] == "br0"
    assert ours["vxlan100"]["vxlan"] == {"id": 100, "port": 4789, "local": "10.250.0.1", "learning": False}
    assert ours["vxlan100"]["brport"] == {"neigh_suppress": True, "learning": False}
    assert ours["vxlan6"]["vxlan"]["local"] == "fd00::1" and ours["vxlan6"]["vxlan"]["port"] == 4790
    assert got["one"] == {"vm1-tap": ours["vm1-tap"]}
