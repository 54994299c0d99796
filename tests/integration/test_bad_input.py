# -*- coding: utf-8 -*-
"""Bad input over the string options of every module that changes something: a newline,
NUL, '#', quotes, '=', '!', '+', '*', a space, 16+ bytes and non-ASCII. Each value is
either refused before any change, by a message naming the option, or taken literally
where it is data (an interface name the kernel accepts); links, addresses, rules and
files are compared before and after. Real runs (not check mode) in a namespace."""

from __future__ import annotations

import copy
import json

import pytest

BAD = ["x\n", "x\x00", "x#", 'x"', "x'", "x=", "!x", "x+", "x*", "x y", "a" * 16, "\u00e9" * 8]
G1 = "192.168.100.2"
NET = {"name": "gq", "addresses": ["192.168.100.1/24"], "uplink": "up0", "qemu_acl": True,
       "qemu_acl_file": "/run/hn-bad-input-bridge.conf",
       "dhcp": {"range": "192.168.100.100-192.168.100.120", "domain": "lab.test",
                "hosts": [{"mac": "52:54:00:00:00:01", "address": "192.168.100.5", "name": "vm"}]},
       "taps": [{"name": "tq1"}], "forwards": [{"port": 80, "to_addr": G1}]}
CASES = {
    "linux_bridge": ({"name": "brq"}, ["ports[]", "addresses[]", "mac", "migrate_from"]),
    "tap_iface": ({"name": "tq"}, ["owner", "group", "mac"]),
    "masquerade": ({"name": "m", "source": "192.168.100.0/24"},
                   ["source", "exclude_destinations[]"]),
    "iptables_dnat": ({"name": "d", "forwards": [{"port": 80, "to_addr": G1}]},
                      ["forwards.port", "forwards.to_addr", "forwards.to_port", "forwards.destination",
                       "forwards.sources[]"]),
    "guest_network": (NET, ["addresses[]", "masquerade_exclude[]", "qemu_acl_role", "dhcp.range",
                            "dhcp.domain", "dhcp.lease_time", "dhcp.hosts.name", "dhcp.hosts.mac",
                            "dhcp.hosts.address", "taps.owner", "forwards.to_addr", "forwards.sources[]"]),
}
# names of things this collection matches in rules or writes into files: no rule or file
# syntax gets through (interface names the kernel accepts are data elsewhere, see below)
RULE_NAMES = {
    "linux_bridge": ["name"], "masquerade": ["name", "out_interface"],
    "iptables_dnat": ["name", "forwards.in_interface"], "guest_network": ["name", "uplink"],
}
RULE_SYNTAX = ["x\n", "x\x00", 'x"', "x'", "!x", "x+", "x*", "x y"]


def with_value(args, option, value):
    """``args`` with ``option`` (``a.b`` inside the first item or dict, ``a[]`` as a list) set."""
    args = copy.deepcopy(args)
    key, sub = (option.split(".", 1) + [None])[:2]
    if sub is None:
        args[key.rstrip("[]")] = [value] if key.endswith("[]") else value
        return args
    target = args[key] if isinstance(args[key], dict) else args[key][0]
    if sub.startswith("hosts."):
        target, sub = target["hosts"][0], sub[len("hosts."):]
    target[sub.rstrip("[]")] = [value] if sub.endswith("[]") else value
    return args


def state(ns):
    """Links, addresses, rules of both backends, and our files under /run of this
    namespace and of network gq (/run is shared with other namespaces)."""
    inode = ns.run("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
    files = ns.run("sh", "-c", "ls -R /run/hypervisor-networking 2>/dev/null; true").stdout.split()
    acl = ns.run("sh", "-c", "cat /run/hn-bad-input-bridge.conf 2>/dev/null; true").stdout
    return (ns.snapshot(), ns.run("nft", "list", "ruleset").stdout, ns.run("iptables-legacy-save", check=False).stdout,
            sorted(f for f in files if inode in f or f.startswith("gq.")), acl)


def refused(ns, module, args, option):
    res = ns.module(module, args)
    leaf = option.split(".")[-1].rstrip("[]")
    assert res["rc"] != 0, (module, option, args, res)
    assert leaf in res["msg"] and "Traceback" not in res["msg"], (module, option, res["msg"])
    return res


@pytest.fixture
def uplink(netns):
    netns.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1")
    netns.run("ip", "addr", "add", "203.0.113.1/24", "dev", "up0")
    netns.run("ip", "link", "set", "up0", "up")
    return netns


@pytest.mark.parametrize("module", sorted(CASES))
def test_bad_strings_are_refused_before_any_change(uplink, module):
    ns = uplink
    args, options = CASES[module]
    before = state(ns)
    seen = 0
    try:
        for option in options:
            for value in BAD:
                if option in ("dhcp.hosts.name", "dhcp.domain") and value == "a" * 16:
                    continue  # a 16-letter DNS label is a valid one
                refused(ns, module, with_value(args, option, value), option)
                seen += 1
        for option in RULE_NAMES.get(module, []):
            for value in RULE_SYNTAX:
                refused(ns, module, with_value(args, option, value), option)
                seen += 1
        assert state(ns) == before
    finally:
        if module == "guest_network":  # a value wrongly taken would leave a dnsmasq running
            ns.module(module, {"name": NET["name"], "state": "absent", "qemu_acl_file": NET["qemu_acl_file"]})
    assert seen >= len(options) * (len(BAD) - 1)


@pytest.mark.parametrize("name", ["tap\u00e9", "t#q", "t=q", "!tq", "tq+", "tq*"])
def test_a_tap_name_the_kernel_accepts_is_taken_literally(netns, name):
    """TAP names reach no rule and, without persist, no file: what the kernel accepts is
    made under exactly that name (a non-ASCII one failed with an encoding error)."""
    res = netns.module("tap_iface", {"name": name})
    assert res["rc"] == 0 and res["changed"] is True, res
    names = [l["ifname"] for l in json.loads(netns.run("ip", "-j", "link", "show").stdout)]
    assert name in names
    again = netns.module("tap_iface", {"name": name})
    assert again["rc"] == 0 and again["changed"] is False, again
    gone = netns.module("tap_iface", {"name": name, "state": "absent"})
    assert gone["rc"] == 0 and gone["changed"] is True
    assert name not in [l["ifname"] for l in json.loads(netns.run("ip", "-j", "link", "show").stdout)]
