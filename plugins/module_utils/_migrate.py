# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Physical bridging, private to this collection: a NIC's addresses, routes and MAC move
onto a bridge, which then enslaves the NIC (linux_bridge ``migrate_from``).

Order, so that the host is unreachable for as short a time as possible:
the bridge is created with the NIC's MAC (neighbours' ARP caches and DHCP reservations
stay valid) and brought up; the NIC's addresses are added to it (IPv6 without duplicate
address detection: the address is ours already); the NIC is enslaved, from which moment
its frames reach the bridge, which owns the same MAC and addresses; each route through
the NIC is replaced by the same route through the bridge (one kernel operation per
route); the addresses are removed from the NIC last. Then the default gateway must
answer ARP on the bridge, or everything is undone.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time

from ansible_collections.hypervisor.networking.plugins.module_utils import _persist
from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._bridge import _is_link_local6, plan_bridge
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

ETH_P_ARP = 0x0806


def check_source(desired, links):
    """Refuse a NIC that cannot be migrated, before any change."""
    nic, name = desired["migrate_from"], desired["name"]
    if nic == name:
        raise ValidationError("migrate_from", nic, "is the bridge itself")
    link = links.get(nic)
    if link is None:
        raise ValidationError("migrate_from", nic, "no such interface")
    if link["kind"] == "bridge":
        raise ValidationError("migrate_from", nic, "is a bridge; name the physical interface")
    if link["master"] not in (None, name):
        raise StateError("%s: %s already belongs to %s; detach it there first" % (name, nic, link["master"]))
    return link


def _route_text(route):
    """'default via 192.0.2.1 metric 100' style summary."""
    text = route["dst"]
    if route["gateway"]:
        text += " via %s" % route["gateway"]
    if route["metric"]:
        text += " metric %s" % route["metric"]
    return text


ADDRESSING = ("auto", "static", "dhcp")


def addressing(desired):
    """'static' or 'dhcp': how the bridge of a migration takes its IPv4 address, now and in
    the files. auto: as the NIC (or, once moved, the bridge) has it now - DHCP where an
    address expires (a DHCP client's), else static."""
    asked = desired.get("addressing") or "auto"
    if asked != "auto":
        return asked
    dynamic = desired.get("dynamic") or {}
    return "dhcp" if any(dynamic.values()) or desired.get("nic_dhcp") else "static"


def read_dynamic(desired, nl, links):
    """Note in ``desired`` the expiring (DHCP) IPv4 addresses of the NIC and of the bridge
    (what addressing() decides by, and what a migration moves with their lifetimes), and
    whether ifupdown configures the NIC by DHCP (its dhclient makes permanent addresses)."""
    nic, name = desired["migrate_from"], desired["name"]
    desired["dynamic"] = dict((link, nl.dynamic_addresses(link)) for link in (nic, name) if link in links)
    desired["nic_dhcp"] = _persist.ifupdown_dhcp(nic)


def plan_migration(desired, links, addrs, routes, machine_id=""):
    """-> (Plan, predicted bridge view, probe) where probe is (source, gateway) or None.
    A DHCP lease's address moves with its remaining lifetimes (addressing dhcp: the client
    that takes over on the bridge renews it) or as a permanent one (addressing static)."""
    nic, name = desired["migrate_from"], desired["name"]
    link = check_source(desired, links)
    moved = [a for a in addrs.get(link["index"], []) if not _is_link_local6(a)]
    leased = list((desired.get("dynamic") or {}).get(nic, []))
    if addressing(desired) == "static":
        moved += [cidr for cidr, _valid, _preferred in leased if cidr not in moved]
        leased = []
    bridge_desired = dict(desired, mac=desired["mac"] or link["mac"])
    if moved:
        bridge_desired["addresses"] = v.unique("addresses", list(desired["addresses"] or []) + moved)
    plan, after = plan_bridge(bridge_desired, links, addrs, machine_id)
    for action in plan:
        if action.op == "addr_add" and action.args["cidr"] in moved:
            action.args["nodad"] = True
    for cidr, valid, preferred in leased:
        # the lifetimes count down: the line names the lease, not the seconds (check == real)
        plan.add("add address %s to %s (a DHCP lease's, with its remaining lifetimes)" % (cidr, name),
                 "addr_add", {"name": name, "cidr": cidr, "nodad": True, "lifetimes": (valid, preferred)},
                 undo=("addr_del", {"name": name, "cidr": cidr}))
    if link["master"] != name:
        plan.add("enslave %s in %s" % (nic, name), "link_master", {"name": nic, "master": name},
                 undo=("link_master", {"name": nic, "master": None}))
        after["ports"] = sorted(set(after["ports"]) | {nic})
    for route in routes:
        plan.add("move route %s from %s to %s" % (_route_text(route), nic, name), "route_replace",
                 {"route": route, "name": name}, undo=("route_replace", {"route": route, "name": nic}))
    for cidr in moved:
        plan.add("remove address %s from %s (now on %s)" % (cidr, nic, name), "addr_del", {"name": nic, "cidr": cidr},
                 undo=("addr_add", {"name": nic, "cidr": cidr, "nodad": True}))
    for cidr, valid, preferred in leased:
        plan.add("remove address %s from %s (now on %s)" % (cidr, nic, name), "addr_del", {"name": nic, "cidr": cidr},
                 undo=("addr_add", {"name": nic, "cidr": cidr, "nodad": True, "lifetimes": (valid, preferred)}))
    return plan, after, _probe_target(routes, moved + [cidr for cidr, _v, _p in leased])


def plan_restore(desired, links, addrs, routes):
    """state=absent with migrate_from: the NIC gets the bridge's addresses and routes
    back, leaves the bridge, and the bridge goes. -> (Plan, probe)."""
    nic, name = desired["migrate_from"], desired["name"]
    plan = Plan()
    bridge = links.get(name)
    if bridge is None:
        return plan, None
    if bridge["kind"] != "bridge":
        raise StateError("%s is a %s link, not a bridge; not removing it" % (name, bridge["kind"] or "physical"))
    link = links.get(nic)
    if link is None:
        raise ValidationError("migrate_from", nic, "no such interface")
    if link["master"] != name:
        raise StateError("%s: %s is not a port of %s; nothing to give back" % (name, nic, name))
    moved = [a for a in addrs.get(bridge["index"], []) if not _is_link_local6(a)]
    present = addrs.get(link["index"], [])
    for cidr in moved:
        if cidr not in present:
            plan.add("add address %s to %s (from %s)" % (cidr, nic, name), "addr_add",
                     {"name": nic, "cidr": cidr, "nodad": True}, undo=("addr_del", {"name": nic, "cidr": cidr}))
    leased = (desired.get("dynamic") or {}).get(name, [])
    on_nic = [cidr for cidr, _v, _p in (desired.get("dynamic") or {}).get(nic, [])]
    for cidr, valid, preferred in leased:
        if cidr not in on_nic:
            plan.add("add address %s to %s (from %s, a DHCP lease's, with its remaining lifetimes)"
                     % (cidr, nic, name), "addr_add",
                     {"name": nic, "cidr": cidr, "nodad": True, "lifetimes": (valid, preferred)},
                     undo=("addr_del", {"name": nic, "cidr": cidr}))
    moved += [cidr for cidr, _v, _p in leased]
    plan.add("release %s from %s" % (nic, name), "link_master", {"name": nic, "master": None},
             undo=("link_master", {"name": nic, "master": name}))
    for route in routes:
        plan.add("move route %s from %s to %s" % (_route_text(route), name, nic), "route_replace",
                 {"route": route, "name": nic}, undo=("route_replace", {"route": route, "name": name}))
    # deleting the bridge takes its addresses and prefix routes along; no undo rebuilds
    # it, so it is the last step
    plan.add("delete bridge %s" % name, "link_del", {"name": name})
    return plan, _probe_target(routes, moved)


def _probe_target(routes, moved):
    """(our IPv4 source, IPv4 default gateway) when the migration moves one, else None."""
    gateways = [r["gateway"] for r in routes if r["family"] == socket.AF_INET and r["gateway"]]
    gateways.sort(key=lambda gw: 0 if any(r["dst"] == "default" and r["gateway"] == gw for r in routes) else 1)
    for gateway in gateways:
        for cidr in moved:
            iface = ipaddress.ip_interface(cidr)
            if iface.version == 4 and ipaddress.ip_address(gateway) in iface.network:
                return str(iface.ip), gateway
    return None


def takes_advertisements(desired, plan):
    """True when this run moves a NIC that takes IPv6 router advertisements into the bridge
    (read before the move)."""
    return bool(plan) and desired["state"] == "present" and bool(desired["migrate_from"]) and \
        _persist.accepts_ra(desired["migrate_from"])


def settle(name, mac, probe, solicit):
    """After the change: False when the gateway ``probe`` names does not answer ARP on the
    bridge; with ``solicit`` (the NIC took router advertisements), the bridge then asks for
    them, so the kernel learns the IPv6 default route and SLAAC addresses there now."""
    if probe and arp_probe(name, mac, probe[0], probe[1]) is None:
        return False
    if solicit:
        solicit_routers(name)
    return True


IFA_F_TENTATIVE = 0x40


def _link_local_ready(ifname):
    return any(addr.startswith("fe80") and not flags & IFA_F_TENTATIVE
               for addr, _scope, flags, _length in _persist.inet6_addresses(ifname))


def solicit_routers(ifname, timeout=3.0):
    """Router solicitations on ``ifname`` from its link-local address, once that has passed
    duplicate address detection. The kernel sends none of its own here (the bridge came up
    already holding the NIC's static IPv6 addresses), and the routers' next periodic
    advertisement may be minutes away. Best effort: without IPv6 nothing is sent."""
    deadline = time.monotonic() + timeout
    while not _link_local_ready(ifname):
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except (IOError, OSError):
        return
    try:
        index = socket.if_nametoindex(ifname)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # RFC 4861: 255 or dropped
        for attempt in range(2):
            # type 133, code 0, checksum (the kernel's), reserved
            sock.sendto(struct.pack("!BBHI", 133, 0, 0, 0), ("ff02::2", 0, 0, index))
            if attempt == 0:
                time.sleep(0.5)
    except (IOError, OSError):
        return
    finally:
        sock.close()


def arp_probe(ifname, mac, source, target, timeout=3.0):
    """Ask ``target`` for its MAC on ``ifname``; return the answer or None after timeout."""
    own = bytes.fromhex(mac.replace(":", ""))
    request = (b"\xff" * 6 + own + struct.pack("!H", ETH_P_ARP)
               + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + own + socket.inet_aton(source)
               + b"\x00" * 6 + socket.inet_aton(target))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((ifname, 0))
        deadline = time.monotonic() + timeout
        next_send = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                sock.send(request)
                next_send = time.monotonic() + 0.5
            sock.settimeout(max(0.01, min(next_send, deadline) - time.monotonic()))
            try:
                frame = sock.recv(128)
            except socket.timeout:
                continue
            # an ARP reply (op 2) from the target
            if len(frame) >= 42 and frame[20:22] == b"\x00\x02" and frame[28:32] == socket.inet_aton(target):
                return ":".join("%02x" % b for b in frame[22:28])
        return None
    finally:
        sock.close()
