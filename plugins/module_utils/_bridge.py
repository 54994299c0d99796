# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""linux_bridge desired state and planner, private to this collection.

Pure functions: (desired, links, addresses) -> (Plan, predicted bridge view). The
runtime facet is planned here; a persistent facet (configuration that survives a
reboot) will be planned beside it and reported separately.
"""

from __future__ import annotations

import hashlib
import ipaddress

from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

MANAGED_ALIAS = "managed-by=hypervisor.networking"
BRIDGE_OPT_NAMES = ("stp", "forward_delay", "vlan_filtering", "nf_call_iptables")
DEFAULT_MTU = 1500
# what the kernel gives a new bridge for options the task leaves alone
KERNEL_DEFAULTS = {"stp": False, "forward_delay": 15, "vlan_filtering": False, "nf_call_iptables": False}
_LINK_LOCAL6 = ipaddress.ip_network("fe80::/10")


def desired_state(params):
    """Module parameters -> canonical desired state (raises ValidationError)."""
    desired = {
        # the bridge's name reaches rules (its accepts, hairpin): iptables reads '+' as a
        # wildcard ("br+" accepted every br* bridge, Docker's included) and '!' as negation
        "name": v.rule_ifname("name", params["name"]),
        "state": params.get("state") or "present",
        "up": params.get("up", True),
        "purge_addresses": bool(params.get("purge_addresses")),
        "purge_ports": bool(params.get("purge_ports")),
        "mtu": v.mtu("mtu", params.get("mtu")),
        "mac": v.mac("mac", params["mac"]) if params.get("mac") is not None else None,
        "addresses": None,
        "ports": None,
        "bridge": dict((opt, params.get(opt)) for opt in BRIDGE_OPT_NAMES),
        "migrate_from": v.ifname("migrate_from", params["migrate_from"]) if params.get("migrate_from") else None,
    }
    if params.get("addresses") is not None:
        desired["addresses"] = v.unique("addresses", [v.interface_cidr("addresses", a) for a in params["addresses"]])
    if params.get("ports") is not None:
        ports = v.unique("ports", [v.ifname("ports", p) for p in params["ports"]])
        if desired["name"] in ports:
            raise ValidationError("ports", desired["name"], "a bridge cannot be its own port")
        desired["ports"] = ports
    desired["addressing"] = params.get("addressing") or "auto"
    if desired["addressing"] != "auto" and not desired["migrate_from"]:
        raise ValidationError("addressing", desired["addressing"], "applies together with migrate_from only")
    desired["rollback_timeout"] = params.get("rollback_timeout") or 0
    desired["confirm"] = bool(params.get("confirm"))
    if desired["rollback_timeout"] < 0 or (desired["rollback_timeout"] and not desired["migrate_from"]):
        raise ValidationError("rollback_timeout", desired["rollback_timeout"],
                              "must be 0, or a number of seconds together with migrate_from")
    delay = desired["bridge"]["forward_delay"]
    if delay is not None and not 0 <= delay <= 30:
        raise ValidationError("forward_delay", delay, "must be between 0 and 30 seconds")
    if desired["bridge"]["stp"] and delay is not None and delay < 2:
        # the kernel refuses (ERANGE) forward delays under 2 s while STP runs
        raise ValidationError("forward_delay", delay, "must be at least 2 seconds when stp is true")
    return desired


def bridge_view(name, links, addrs):
    """The module's ``bridge`` return value for an existing bridge, or {}."""
    link = links.get(name)
    if link is None:
        return {}
    view = {
        "name": name,
        "up": link["up"],
        "addresses": sorted((a for a in addrs.get(link["index"], []) if not _is_link_local6(a)), key=_addr_key),
        "ports": sorted(n for n, other in links.items() if other["master"] == name),
        "mtu": link["mtu"],
        "mac": link["mac"],
    }
    view.update(link.get("bridge") or {})
    return view


def _check_present(desired, links):
    """Refuse requests the host cannot satisfy, before any change."""
    name = desired["name"]
    existing = links.get(name)
    if existing is not None and existing["kind"] != "bridge":
        raise StateError("%s exists and is a %s link, not a bridge" % (name, existing["kind"] or "physical"))
    for port in desired["ports"] or []:
        link = links.get(port)
        if link is None:
            raise ValidationError("ports", port, "no such interface")
        if link["master"] not in (None, name):
            raise StateError("%s: port %s already belongs to %s; detach it there first" % (name, port, link["master"]))
        if link["kind"] == "bridge":
            raise ValidationError("ports", port, "a bridge cannot be a port of another bridge")


def read_machine_id(path="/etc/machine-id"):
    """The host's machine id, or '' when there is none (minimal containers)."""
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return ""


def stable_mac(name, machine_id):
    """A locally administered unicast MAC derived from the host and the bridge name.

    A new bridge would otherwise get a random MAC (unknowable in check mode, and a
    different one after every re-creation, which stales guests' ARP caches); this is
    the idea of systemd's MACAddressPolicy=persistent.
    """
    digest = bytearray(hashlib.sha256(("%s/%s" % (machine_id, name)).encode("utf-8")).digest()[:6])
    digest[0] = (digest[0] & 0xFE) | 0x02
    return ":".join("%02x" % b for b in digest)


def plan_bridge(desired, links, addrs, machine_id=""):
    """Current state + desired state -> (Plan, predicted bridge view)."""
    name = desired["name"]
    existing = links.get(name)
    plan = Plan()
    if desired["state"] == "absent":
        if existing is None:
            return plan, {}
        if existing["kind"] != "bridge":
            raise StateError("%s is a %s link, not a bridge; not removing it" % (name, existing["kind"] or "physical"))
        plan.add("delete bridge %s" % name, "link_del", {"name": name})
        return plan, {}

    _check_present(desired, links)
    wanted_opts = dict((k, val) for k, val in desired["bridge"].items() if val is not None)
    if existing is None:
        mac = desired["mac"] or stable_mac(name, machine_id)
        # options equal to the kernel default are not sent: kernels without VLAN
        # filtering refuse even vlan_filtering=0 in a create request
        create_opts = dict((k, val) for k, val in wanted_opts.items() if KERNEL_DEFAULTS[k] != val)
        plan.add(("create bridge %s %s" % (name, _with_opts(create_opts))).strip(), "link_add",
                 {"name": name, "kind": "bridge", "bridge": create_opts, "alias": MANAGED_ALIAS, "mac": mac},
                 undo=("link_del", {"name": name}))
        before = {"name": name, "up": False, "addresses": [], "ports": [], "mtu": None, "mac": mac}
        before.update(KERNEL_DEFAULTS)
        after = dict(before, **wanted_opts)
    else:
        before = bridge_view(name, links, addrs)
        after = dict(before)
        changed = dict((k, val) for k, val in wanted_opts.items() if before.get(k) != val)
        if changed:
            plan.add("set bridge %s %s" % (name, _with_opts(changed, before)), "link_set",
                     {"name": name, "kind": "bridge", "bridge": changed},
                     undo=("link_set", {"name": name, "kind": "bridge",
                                        "bridge": dict((k, before[k]) for k in changed)}))
            after.update(changed)

    _plan_ports(plan, desired, before, after)
    _plan_link_attrs(plan, desired, existing, links, before, after)
    _plan_addresses(plan, desired, addrs.get(existing["index"], []) if existing else [], after)
    if desired["up"] is not None and before["up"] != desired["up"]:
        state = "up" if desired["up"] else "down"
        plan.add("set %s %s" % (name, state), "link_set", {"name": name, "up": desired["up"]},
                 undo=("link_set", {"name": name, "up": before["up"]}))
        after["up"] = desired["up"]
    return plan, after


def _plan_ports(plan, desired, before, after):
    """Detach unlisted ports (purge_ports), then attach missing ones."""
    name, wanted = desired["name"], desired["ports"]
    if wanted is None and not desired["purge_ports"]:
        return
    wanted = wanted or []
    current = before["ports"]
    if desired["purge_ports"]:
        for port in current:
            if port not in wanted:
                plan.add("detach %s from %s" % (port, name), "link_master", {"name": port, "master": None},
                         undo=("link_master", {"name": port, "master": name}))
    for port in wanted:
        if port not in current:
            plan.add("attach %s to %s" % (port, name), "link_master", {"name": port, "master": name},
                     undo=("link_master", {"name": port, "master": None}))
    after["ports"] = sorted(set(wanted) | (set() if desired["purge_ports"] else set(current)))


def _plan_link_attrs(plan, desired, existing, links, before, after):
    """MTU and MAC, after the ports: attaching a port re-derives both unless set."""
    name = desired["name"]
    change, undo = {}, {}
    for key in ("mtu", "mac"):
        if desired[key] is not None and before[key] != desired[key]:
            change[key], undo[key] = desired[key], before[key]
    port_links = [links[p] for p in after["ports"] if p in links]
    # predict what the kernel derives when the task leaves a value alone: a bridge whose
    # MTU nobody set follows the smallest port MTU (1500 without ports) whenever a port
    # comes or goes. Netlink does not say whether a user set it; an MTU equal to what the
    # kernel would derive from the current ports is taken as derived.
    derived = min([links[p]["mtu"] for p in before["ports"] if p in links] or [DEFAULT_MTU])
    auto = existing is None or before["mtu"] == derived
    if desired["mtu"] is None and auto and (existing is None or after["ports"] != before["ports"]):
        after["mtu"] = min([p["mtu"] for p in port_links] or [DEFAULT_MTU])
    if desired["mac"] is None and port_links and existing and not existing.get("mac_set_by_user"):
        after["mac"] = min(p["mac"] for p in port_links)
    if change:
        text = " ".join("%s %s" % (k, change[k]) for k in sorted(change))
        undo = dict((k, val) for k, val in undo.items() if val is not None)
        plan.add("set %s %s" % (name, text), "link_set", dict(change, name=name),
                 undo=("link_set", dict(undo, name=name)) if undo else None)
        after.update(change)


def _plan_addresses(plan, desired, current, after):
    """Remove unlisted addresses (purge_addresses, IPv6 link-local kept), add missing.

    ``current`` is the kernel's full list; the reported view leaves link-local out.
    """
    name, wanted = desired["name"], desired["addresses"]
    if wanted is None and not desired["purge_addresses"]:
        return
    wanted = wanted or []
    kept = []
    for cidr in current:
        if cidr in wanted or not desired["purge_addresses"] or _is_link_local6(cidr):
            kept.append(cidr)
        else:
            plan.add("remove address %s from %s" % (cidr, name), "addr_del", {"name": name, "cidr": cidr},
                     undo=("addr_add", {"name": name, "cidr": cidr}))
    added = [cidr for cidr in wanted if cidr not in current]
    for cidr in added:
        plan.add("add address %s to %s" % (cidr, name), "addr_add", {"name": name, "cidr": cidr},
                 undo=("addr_del", {"name": name, "cidr": cidr}))
    after["addresses"] = sorted((a for a in kept + added if not _is_link_local6(a)), key=_addr_key)


def _addr_key(cidr):
    """Sort key: IPv4 before IPv6, then numerically."""
    iface = ipaddress.ip_interface(cidr)
    return (iface.version, int(iface.ip), iface.network.prefixlen)


def _is_link_local6(cidr):
    """True for fe80::/10 addresses (kernel-managed, never purged)."""
    iface = ipaddress.ip_interface(cidr)
    return iface.version == 6 and iface.ip in _LINK_LOCAL6


def _with_opts(opts, before=None):
    """'br0 stp=True forward_delay=4' style summary, with old values when known."""
    parts = []
    for key in BRIDGE_OPT_NAMES:
        if key in opts:
            old = "" if before is None else "%s->" % before.get(key)
            parts.append("%s=%s%s" % (key, old, opts[key]))
    return " ".join(parts)


def settled(desired, after):
    """Predicate for read-back polling: the kernel shows what the plan applied."""
    name = desired["name"]

    def check(links, addrs):
        """True once addresses, ports and link state match the prediction."""
        if desired["state"] == "absent":
            return name not in links
        view = bridge_view(name, links, addrs)
        return bool(view) and all(view.get(k) == after.get(k) for k in ("up", "ports", "addresses"))
    return check
