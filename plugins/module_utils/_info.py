# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""net_info's views, private to this collection: routes as `route -n` shows them, bridges
as `brctl show` does, and the plain sentences of its warnings. Pure functions over the
dicts the netlink adapter and the firewall backends return."""

from __future__ import annotations

import ipaddress
import socket

# rtm_type, rtm_protocol and rtm_scope names as iproute2 prints them
ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
               7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
PROTOCOLS = {0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra", 10: "mrt",
             11: "zebra", 12: "bird", 13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp", 42: "babel",
             186: "bgp", 187: "isis", 188: "ospf", 189: "rip", 192: "eigrp"}
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
TABLES = {253: "default", 254: "main", 255: "local"}


def route_flags(route):
    """The flags `route -n` prints, computed as the kernel's /proc/net/route does:
    U for every route it lists, G with a gateway, H for a host route (/32, /128), ! for
    unreachable and prohibit routes (which it shows instead of U)."""
    flags = "!" if route["type"] in ("unreachable", "prohibit") else "U"
    if route.get("gateway"):
        flags += "G"
    if route["prefix"] == (32 if route["family"] == "ipv4" else 128):
        flags += "H"
    return flags


def genmask(family, prefix):
    """255.255.255.0 for an IPv4 /24 (IPv6 has none: the prefix length says it)."""
    if family != "ipv4":
        return None
    return str(ipaddress.IPv4Network("0.0.0.0/%d" % prefix).netmask)


def route_view(msg_fields, names):
    """One route (the adapter's raw fields) as net_info returns it."""
    family = "ipv4" if msg_fields["family"] == socket.AF_INET else "ipv6"
    dst, prefix = msg_fields["dst"], msg_fields["dst_len"]
    if dst is None:
        dst = "0.0.0.0" if family == "ipv4" else "::"
    view = {
        "family": family,
        "destination": dst,
        "prefix": prefix,
        "genmask": genmask(family, prefix),
        "gateway": msg_fields.get("gateway") or ("0.0.0.0" if family == "ipv4" else None),
        "metric": msg_fields.get("priority") or 0,
        "iface": names.get(msg_fields.get("oif")),
        "table": TABLES.get(msg_fields["table"], str(msg_fields["table"])),
        # iproute2's JSON leaves these out when they are the defaults: here they are always said
        "protocol": PROTOCOLS.get(msg_fields["proto"], str(msg_fields["proto"])),
        "scope": SCOPES.get(msg_fields["scope"], str(msg_fields["scope"])),
        "type": ROUTE_TYPES.get(msg_fields["type"], str(msg_fields["type"])),
    }
    if view["gateway"] == "0.0.0.0" and family == "ipv4":
        view["flags"] = route_flags(dict(view, gateway=None))
    else:
        view["flags"] = route_flags(view)
    if msg_fields.get("prefsrc"):
        view["source"] = msg_fields["prefsrc"]
    return view


def route_sort_key(route):
    """`route -n` order: longest prefix first, then metric."""
    return (route["family"] != "ipv4", route["table"] != "main", -route["prefix"], route["metric"],
            route["destination"])


def route_table_text(routes):
    """The IPv4 main-table routes as `route -n` prints them."""
    row = "%-15s %-15s %-15s %-5s %-6s %-3s %-6s %s"
    lines = ["Kernel IP routing table", row % ("Destination", "Gateway", "Genmask", "Flags", "Metric", "Ref", "Use",
                                               "Iface")]
    listed = ("unicast", "unreachable", "prohibit", "blackhole")
    for r in routes:
        if r["family"] != "ipv4" or r["table"] != "main" or r["type"] not in listed:
            continue
        lines.append("%-15s %-15s %-15s %-5s %-6d %-3d %-6d %s" % (
            r["destination"], r["gateway"], r["genmask"], r["flags"], r["metric"], 0, 0, r["iface"] or "*"))
    return lines


def bridge_id(priority, mac):
    """brctl's bridge id: the priority in hex, a dot, the MAC without colons."""
    return "%04x.%s" % (priority, (mac or "").replace(":", ""))


def bridges_text(bridges):
    """The bridges as `brctl show` prints them."""
    lines = ["%-16s%-24s%-16s%s" % ("bridge name", "bridge id", "STP enabled", "interfaces")]
    for br in bridges:
        ports = br["ports"] or [""]
        lines.append("%-16s%-24s%-16s%s" % (br["name"], br["bridge_id"], "yes" if br["stp"] else "no", ports[0]))
        lines.extend("%-16s%-24s%-16s%s" % ("", "", "", p) for p in ports[1:])
    return lines
