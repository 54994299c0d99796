# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""guest_network's planner, private to this collection: the planners of forwarding, the
firewall sets, the bridge and the TAPs composed into ONE Plan, with their persistent
files, applied by one executor (``_engine``) over one netlink session and one firewall
transaction, and undone whole when any step fails."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.hypervisor.networking.plugins.module_utils import (
    _bridge,
    _dhcp,
    _facets,
    _info,
    _migrate,
    _overlay,
    _persist,
    _sysctl,
    _tap,
)
from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot, _tx
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    FORWARD_SPEC,
    MODES,
    Allow,
    BridgeSet,
    ForwardSet,
    GuardSet,
    Masquerade,
    forward_sets,
    family_of,
    masquerade_sets,
    masquerades,
    set_name,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

FORWARD_KEY = "net.ipv4.ip_forward"
FORWARD6_KEY = "net.ipv6.conf.all.forwarding"
ACL_MARKER = "# %s hypervisor.networking %s %s"
ACL_ROLES = ("guest_network", "nat_bridge", "physical_bridge")  # the words our ACL markers carry
_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
DEFAULT_EXCLUDE = ["224.0.0.0/24", "255.255.255.255/32"]  # link-local multicast, broadcast

# guest_network's options (here, so that its action plugin validates with them on the
# controller without importing the module and its libraries)
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    mode=dict(type="str", choices=list(MODES) + ["bridged"], default="nat"),
    addresses=dict(type="list", elements="str"),
    ipv6_nat=dict(type="bool", default=True),
    allow_inbound=dict(type="list", elements="dict", default=[], options=dict(
        proto=dict(type="str", choices=["tcp", "udp"], default="tcp"),
        port=dict(type="raw", required=True),
        to_addr=dict(type="str"),
        sources=dict(type="list", elements="str"),
    )),
    ipv6_ra=dict(type="str", choices=["slaac", "stateless", "stateful", "none"], default="slaac"),
    uplink=dict(type="str", default=""),
    ports=dict(type="list", elements="str"),
    taps=dict(type="list", elements="dict", options=_tap.ITEM_SPEC, default=[]),
    purge_taps=dict(type="bool", default=False),
    forwards=dict(type="list", elements="dict", options=FORWARD_SPEC, default=[]),
    hairpin=dict(type="bool", default=True),
    localhost=dict(type="bool", default=False),
    masquerade_exclude=dict(type="list", elements="str"),
    dhcp=dict(type="dict", options=_dhcp.SPEC),
    stp=dict(type="bool"),
    mtu=dict(type="int"),
    overlay=dict(type="dict", options=_overlay.SPEC),
    nf_call_iptables=dict(type="bool"),
    addressing=dict(type="str", choices=list(_migrate.ADDRESSING), default="auto"),
    rollback_timeout=dict(type="int", default=0),
    confirm=dict(type="bool", default=False),
    qemu_acl=dict(type="bool", default=True),
    qemu_acl_file=dict(type="path", default="/etc/qemu/bridge.conf"),
    qemu_acl_role=dict(type="str", choices=list(ACL_ROLES), default="guest_network"),
    sysctl_file=dict(type="path", default="/etc/sysctl.d/90-hypervisor-networking.conf"),
    persist=dict(type="bool", default=True),
    renderer=dict(type="str", choices=list(_persist.RENDERERS), default="auto"),
    backend=dict(type="str", choices=["auto", "nftables", "iptables"], default="auto"),
    option_names=dict(type="dict", default={}),
    checked=dict(type="str"),
)


def _option_names(names):
    """The roles' variable names for the options, as messages name them: option -> a
    variable name (nothing else reaches a message)."""
    for option, variable in (names or {}).items():
        if option not in ARGUMENT_SPEC or not isinstance(variable, str) or not _VARIABLE_RE.match(variable):
            raise ValidationError("option_names", {option: variable},
                                  "maps an option of this module to a variable name (letters, digits, '_')")
    return names


class Desired(object):
    """Every option checked, before anything is read from the host."""

    def __init__(self, params, resolver=_tap.host_resolver, host=True):
        """``host``: also the checks that need the managed host (False: on the controller,
        with a ``resolver`` that checks owner and group syntax only)."""
        self.params = params
        _option_names(params.get("option_names"))
        self.name = set_name("name", params["name"])
        v.ifname("name", self.name)
        self.present = params["state"] == "present"
        self.mode = params["mode"]
        # the host is the guests' gateway (nat, routed, isolated); bridged: the NIC's network
        self.gateway = self.mode != "bridged"
        if params["uplink"]:
            v.rule_ifname("uplink", params["uplink"])
        v.file_path("qemu_acl_file", params["qemu_acl_file"])
        for option, modes in (("addresses", MODES), ("dhcp", MODES), ("forwards", ("nat", "routed")),
                              ("masquerade_exclude", ("nat",)), ("allow_inbound", ("routed",)),
                              ("overlay", MODES)):
            if params[option] and self.mode not in modes:
                raise ValidationError(option, params[option], "applies to mode=%s only" % " and ".join(
                    (", ".join(modes[:-1]), modes[-1]) if len(modes) > 1 else modes))
        if self.gateway and (params["rollback_timeout"] or params["confirm"] or params["addressing"] != "auto"):
            option = "rollback_timeout" if params["rollback_timeout"] else "confirm" if params["confirm"] else "addressing"
            raise ValidationError(option, params[option], "applies to mode=bridged only")
        if self.gateway and self.present and not params["addresses"]:
            raise ValidationError("addresses", params["addresses"], "mode=%s needs the gateway address(es)" % self.mode)
        nf_call = params["nf_call_iptables"]
        if nf_call is None and self.gateway:
            nf_call = False  # guest <-> guest frames stay out of iptables (as libvirt's FWX)
        if params["rollback_timeout"] < 0:
            raise ValidationError("rollback_timeout", params["rollback_timeout"], "must be 0 or a number of seconds")
        # the NIC of a bridged network is known once the host's routes are read
        self.bridge = _bridge.desired_state(dict(
            name=self.name, state=params["state"], up=True, addresses=params["addresses"] if self.gateway else None,
            ports=params["ports"], mtu=params["mtu"], stp=params["stp"], nf_call_iptables=nf_call,
            confirm=params["confirm"]))
        self.overlay = None
        if params["overlay"] and self.present:
            self.overlay = _overlay.Overlay(params["overlay"])
            if params["mtu"] is not None:
                raise ValidationError("mtu", params["mtu"], "an overlay network's MTU is overlay.mtu (default: the "
                                      "underlay's less the encapsulation)")
            # the anycast gateway: the same MAC (and address) on every hypervisor of the network
            self.bridge["mac"] = _overlay.anycast_mac(self.overlay.vni)
        self.bridge["rollback_timeout"] = params["rollback_timeout"]
        self.bridge["addressing"] = params["addressing"]
        items = []
        for pos, item in enumerate(params["taps"] or []):
            item = dict((k, val) for k, val in item.items() if val is not None)
            if item.get("bridge") not in (None, self.name):
                raise ValidationError("taps[%d].bridge" % pos, item["bridge"],
                                      "a TAP of network %s is on bridge %s; leave bridge out" % (self.name, self.name))
            item["bridge"] = self.name
            if not self.present:
                item["state"] = "absent"
            items.append(item)
        self.taps = _tap.desired_taps(dict(name=None, taps=items, state="present", owner=None, group=None,
                                           bridge=None, up=True, mtu=None, mac=None, multi_queue=False,
                                           vnet_hdr=False), resolver)
        self.fset = None
        self.subnets, self.subnets6 = [], []
        if self.gateway and self.present:
            for cidr in self.bridge["addresses"]:
                iface = ipaddress.ip_interface(cidr)
                if iface.version == 4:
                    if iface.network.prefixlen < 31 and iface.ip in (iface.network.network_address,
                                                                     iface.network.broadcast_address):
                        raise ValidationError("addresses", cidr, "the gateway needs a host address of its subnet, "
                                              "not the network or broadcast address")
                    self.subnets.append(iface.network.with_prefixlen)
                elif not iface.ip.is_link_local:
                    if iface.network.prefixlen != 64 and params["ipv6_ra"] in ("slaac", "stateless"):
                        raise ValidationError("addresses", cidr, "guests configure themselves (SLAAC, ipv6_ra=%s) "
                                              "in a /64 only" % params["ipv6_ra"])
                    if iface.ip == iface.network.network_address:
                        raise ValidationError("addresses", cidr, "the gateway needs a host address of its subnet, "
                                              "not the subnet-router anycast address")
                    self.subnets6.append(iface.network.with_prefixlen)
            if not self.subnets:
                raise ValidationError("addresses", params["addresses"], "mode=%s needs an IPv4 gateway address"
                                      % self.mode)
            exclude = DEFAULT_EXCLUDE if params["masquerade_exclude"] is None else params["masquerade_exclude"]
            allow = [Allow.from_item("allow_inbound[%d]" % i, item or {})
                     for i, item in enumerate(params["allow_inbound"] or [])]
            self.masq_params = []
            six = "routed" if self.mode == "nat" and not params["ipv6_nat"] else self.mode
            for source, mode in [(self.subnets[0], self.mode)] + [(net, six) for net in self.subnets6[:1]]:
                family = family_of(source)
                self.masq_params.append(dict(
                    name=self.name, source=source, out_interface=params["uplink"] or None, forward=True,
                    bridge=self.name, mode=mode, exclude_destinations=[n for n in exclude if _is_family(n, family)]
                    if mode == "nat" else [], allow=[a for a in allow if a.family in (None, family)]))
            for pos, item in enumerate(allow):
                if item.to_addr and not any(ipaddress.ip_address(item.to_addr) in ipaddress.ip_network(net)
                                            for net in self.subnets + self.subnets6):
                    raise ValidationError("allow_inbound[%d].to_addr" % pos, item.to_addr,
                                          "is not in the bridge's subnets %s" % ", ".join(self.subnets + self.subnets6))
            for each in self.masq_params:
                try:
                    # an empty uplink is found on the host: a valid name stands in for it here
                    Masquerade.from_params(dict(each, out_interface=each["out_interface"] or "x"))
                except ValidationError as exc:
                    raise ValidationError(exc.option.replace("exclude_destinations", "masquerade_exclude"),
                                          exc.value, exc.msg.split(": ", 1)[-1])
            self.fset = ForwardSet.from_params(dict(name=self.name, forwards=params["forwards"],
                                                    hairpin=params["hairpin"], localhost=params["localhost"],
                                                    forward=True))
        self.dhcp = None
        if self.gateway and self.present and (params["dhcp"] is not None or (self.subnets6 and params["ipv6_ra"] != "none")):
            # the network's dnsmasq: DHCP and DNS, and the router advertisements of its IPv6 subnets
            self.dhcp = _dhcp.Dhcp(params["dhcp"] or _dhcp.RA_ONLY, self.bridge["addresses"], params["ipv6_ra"])
            self.dhcp.overlay = self.overlay is not None
        if params["persist"]:
            _persist.persist_name("name", self.name)
            if host:
                _sysctl.check_dropin_path("sysctl_file", params["sysctl_file"])

    def masquerades(self, uplink):
        """The masquerades out of ``uplink``, one per family (IPv6: with ``ipv6_nat``, else
        the same accepts and isolation without the translation)."""
        return [Masquerade.from_params(dict(each, out_interface=uplink)) for each in self.masq_params]

    def hairpin(self):
        """(subnet, bridge) pairs holding forward targets: the bridge's own subnets."""
        targets = set(ipaddress.ip_address(f.to_addr) for f in self.fset.forwards)
        return sorted(set((net, self.name) for net in self.subnets + self.subnets6
                          if any(t in ipaddress.ip_network(net) for t in targets)))


def _is_family(text, family):
    """True when ``text`` parses as a network of ``family``; anything else is left to the
    model's validation (of the IPv4 masquerade), which names it."""
    try:
        return family_of(text) == family
    except ValueError:
        return family == "ipv4"


def renamed(message, names):
    """A message naming an option, with the option named as ``names`` maps it (the roles
    pass their variables' names)."""
    for option in sorted(names or {}, key=len, reverse=True):
        if message.startswith(option) and message[len(option):len(option) + 1] in ("=", "[", ".", " ", ":"):
            return names[option] + message[len(option):]
        for pattern in ("'%s'", "found in %s"):
            message = message.replace(pattern % option, pattern % names[option])
    return message


def validate(args):
    """('', the options as validated: types converted, defaults filled) when ``args``
    (guest_network's options) pass its validation, else (the message, None): on the
    controller, the checks that need no host (the action plugin, before the module)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    from ansible.module_utils.errors import NoLogError

    validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(args))
    params = validated.validated_parameters
    names = params.get("option_names") or {}
    if validated.error_messages:
        # the no_log scan's error names nothing; the type check's after it does
        named = [e.msg for e in validated.errors.errors if not isinstance(e, NoLogError)]
        return renamed((named or validated.error_messages)[0], names), None
    try:
        Desired(params, resolver=_syntax_resolver, host=False)
    except ValidationError as exc:
        return renamed(exc.msg, names), None
    return "", params


def check(args):
    """'' when ``args`` pass guest_network's validation on the controller, else the message."""
    return validate(args)[0]


def _syntax_resolver(option, value):
    """Owner and group checked for syntax only (the managed host resolves them)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        raise ValidationError(option, value, "a user or group name or numeric id")
    return int(text) if text.isdigit() else text


def default_route_interface(nl, links):
    """The interface of the IPv4 default route of the main table ('' when there is none)."""
    names = dict((link["index"], name) for name, link in links.items() if "index" in link)
    best = None
    for route in nl.dump_routes():
        if route["family"] == 2 and route["dst_len"] == 0 and route["oif"] is not None and route["type"] == 1:
            key = route["priority"] or 0
            if best is None or key < best[0]:
                best = (key, names.get(route["oif"], ""))
    return best[1] if best else ""


def choose_uplink(want, nl, links):
    """The uplink left empty: the default-route interface; for a bridged network whose
    migration is done (the default route is on the bridge), the bridge's one NIC port."""
    found = default_route_interface(nl, links)
    if not want.gateway and found == want.name:
        nics = [n for n, link in links.items() if link.get("master") == want.name and link.get("kind") != "tun"]
        found = nics[0] if len(nics) == 1 else ""
    if want.gateway and (not want.present or want.mode == "isolated"):
        return found  # nothing goes out: any name will do
    if not found:
        raise StateError("uplink is empty and the %s cannot be told from this host's IPv4 default route: set uplink"
                         % ("uplink" if want.gateway else "NIC to enslave"))
    return found


def acl_text(current, bridge, present, role="guest_network"):
    """/etc/qemu/bridge.conf with our ``allow`` block for ``bridge`` (blockinfile's markers,
    so a block the roles wrote before is found), or without it (absent: the bridge's block
    whichever of our roles wrote it)."""
    roles = [role] if present else list(ACL_ROLES)
    begins = set(ACL_MARKER % ("BEGIN", r, bridge) for r in roles)
    ends = set(ACL_MARKER % ("END", r, bridge) for r in roles)
    block = [ACL_MARKER % ("BEGIN", role, bridge), "allow %s" % bridge, ACL_MARKER % ("END", role, bridge)] \
        if present else []
    lines = (current or "").splitlines()
    kept, inside, placed = [], False, False
    for line in lines:
        if line in begins:
            inside = True
            if not placed:  # where it was: other blocks (another role's, another bridge's) keep their order
                kept += block
                placed = True
        elif line in ends and inside:
            inside = False
        elif not inside:
            kept.append(line)
    if not placed:
        kept += block
    if not kept:
        return None if current is None else ""
    return "\n".join(kept) + "\n"


def plan_acl(path, bridge, present, role):
    """The qemu-bridge-helper ACL's change (a shared file: only our block is edited)."""
    plan = Plan()
    current = _persist.read_text(path)
    text = acl_text(current, bridge, present, role)
    if text == current or (current is None and not present):
        return plan, current, current
    undo = ("file_remove", {"path": path}) if current is None else (
        "file_write", {"path": path, "content": current, "mode": 0o640})
    plan.add("%s allow %s in %s" % ("write" if present else "remove", bridge, path), "file_write",
             {"path": path, "content": text, "mode": 0o640}, undo=undo)
    return plan, current, text


def firewall_sets(want, uplink):
    """[RuleSet] of the network: masquerades, bridged frames' accepts, published ports, in
    each family (model None: gone)."""
    name = want.name
    guard = GuardSet(name, {"port": want.overlay.link, "mac": want.bridge["mac"]} if want.overlay else None)
    if not want.present:
        return masquerade_sets(name, None) + [BridgeSet(name, None)] + forward_sets(None, name=name) + [guard]
    sets = [guard]
    if want.gateway:
        sets.extend(masquerades(name, want.masquerades(uplink)))
    nf_call = want.bridge["bridge"]["nf_call_iptables"]
    if nf_call is not None:
        sets.append(BridgeSet(name, True if nf_call is False else None))
    if want.gateway:
        sets.extend(forward_sets(want.fset, want.hairpin(), name))
    return sets


def plan_forwarding(want, module):
    """-> (Plan, {key: value before}, {key: value after}, [uplinks kept]): forwarding on
    (runtime and drop-in), IPv6's where the network has IPv6 subnets, after accept_ra=2 on
    the links that take their default route from router advertisements (which IPv6
    forwarding would make the kernel drop). IPv4 forwarding stays when the network goes
    (other networks and containers rely on it); IPv6 forwarding is on only while a network
    of ours needs it: the last one to go (or to drop its IPv6 subnet) turns it back off,
    when it was off before we turned it on, and gives the uplinks their accept_ra back."""
    path = want.params["sysctl_file"] if want.params["persist"] else None
    text = _persist.read_text(path) if path else None
    desired, ra_uplinks, dropped = {}, [], []
    routing = want.present and want.mode in ("nat", "routed")  # isolated: nothing forwarded beyond the bridge
    if routing and want.subnets6:
        ra_keys, _dropped, ra_uplinks = _sysctl.plan_ra_uplinks(True, text)
        desired.update(ra_keys)
        desired[FORWARD6_KEY] = 1
    else:
        release, noted = _sysctl.ours_to_release(FORWARD6_KEY)
        if release and not _ipv6_elsewhere(want.name, module):
            # off first, then the uplinks take advertisements as before
            desired[FORWARD6_KEY] = 0
            ra_keys, dropped, _kept = _sysctl.plan_ra_uplinks(False, text)
            desired.update(ra_keys)
            desired.update((key, 1) for key in noted if _sysctl.read_runtime(key) == 2)
            dropped = dropped + [FORWARD6_KEY]
    if routing:
        desired[FORWARD_KEY] = 1
    if not desired:
        return Plan(), {}, {}, []
    current = dict((key, _sysctl.read_runtime(key)) for key in desired)
    plan = _sysctl.plan_runtime(desired, current)
    plan.extend(_sysctl.plan_note(FORWARD6_KEY, current.get(FORWARD6_KEY), desired.get(FORWARD6_KEY),
                                  [k for k in desired if k != FORWARD6_KEY and k != FORWARD_KEY]))
    if path:
        lines = dict((key, None if key in dropped else value) for key, value in desired.items())
        files, _text = _sysctl.plan_persistent(lines, path, text, dropped)
        plan.extend(files)
    return plan, current, desired, ra_uplinks


def _ipv6_elsewhere(name, module):
    """Another guest network of ours routes IPv6 (its IPv6 egress set runs)."""
    return any(s["kind"] == "masquerade" and s["family"] == "ipv6" and s["name"] != name
               for s in _info.our_sets(module))


def plan_localnet(sets, fw):
    """route_localnet as localhost forwards (this network's and other sets of ours) need it;
    without a firewall backend nothing of ours is known, and it is left alone."""
    if fw.backend is None:
        return Plan()
    return _sysctl.plan_route_localnet(any(r.localhost for r in sets) or fw.localhost_elsewhere, _boot.SYSCTL_FILE)


def boot_records(sets, backend):
    """{RuleSet: record text or None} of the sets for the boot-time load (the bridges'
    accepts belong to no backend)."""
    return dict((rset, _boot.record_text(rset, backend) if rset else None) for rset in sets)


def plan_network(want, module, nl, links, addrs, backend, nft, renderer, pending):
    """-> (Plan, report): the whole network's change, in the order a packet needs it
    (absent: the reverse), and what the user sees of it. ``pending``: a migration of this
    bridge waits for its confirmation (its files are written only once confirmed)."""
    name = want.name
    uplink = want.params["uplink"] or choose_uplink(want, nl, links)
    if not want.gateway and uplink == name:
        raise ValidationError("uplink", uplink, "the NIC to enslave must be another interface")
    desired = dict(want.bridge, migrate_from=None if want.gateway else uplink)
    overlay, port_after, taps = plan_overlay(want, nl, links, addrs, desired,
                                             None if want.params["uplink"] else uplink)
    plan = Plan()
    forwarding, forwarding_before, forwarding_after, ra_uplinks = plan_forwarding(want, module)
    sets = firewall_sets(want, uplink)
    fw = _tx.plan_sets(backend, sets, nft, module.run_command, module.get_bin_path)
    bridge_plan, bridge_after, probe = _facets.bridge_plan(desired, nl, links, addrs)
    journal = _tap.Journal()
    # purge and absent reach only TAPs of ours on this bridge (tap_iface's purge: all of ours)
    purged = []
    if want.params["purge_taps"] or not want.present:
        purged = [n for n in _tap.purge_candidates(want.taps, links) if links[n].get("master") == name]
    gone = [dict(_tap.DEFAULTS, name=n, state="absent", owner=None, group=None, bridge=None, mtu=None, mac=None)
            for n in purged]
    taps_plan, taps_after, _missing = _tap.plan_taps(gone + taps, links, False, False, _bridge.read_machine_id(),
                                                     bridges_later=True, pending=journal.read())
    taps_after = taps_after[len(gone):]
    if bridge_after:
        # the bridge's ports once the TAPs are on it (or off it)
        tapped = set(t["name"] for t in taps_after if t.get("bridge") == name and t["state"] == "present")
        off = set(purged) | set(t["name"] for t in taps_after if t["state"] == "absent") | set(overlay["stale"])
        tapped |= set([port_after["name"]] if port_after else [])
        ports = sorted((set(bridge_after.get("ports", [])) | tapped) - off)
        if desired["mtu"] is None:
            # a bridge whose MTU nobody set follows its smallest port's, whenever a port comes,
            # goes or changes its MTU (as _bridge predicts for the ports it attaches itself)
            had = [n for n, link in links.items() if link["master"] == name]
            existing = links.get(name)
            if existing is None or existing["mtu"] == min([links[p]["mtu"] for p in had] or [_bridge.DEFAULT_MTU]):
                mtus = dict((t["name"], t["mtu"]) for t in taps_after if t["state"] == "present")
                bridge_after["mtu"] = min([mtus.get(p) or links[p]["mtu"] for p in ports] or [_bridge.DEFAULT_MTU])
        bridge_after = dict(bridge_after, ports=ports)
    files = Plan()
    arm = bool(bridge_plan) and desired["rollback_timeout"] > 0
    # a migration waiting for its confirmation is not written down: an unconfirmed one
    # reverts, and a reboot before the confirmation must find the NIC as it was
    if renderer is not None and not (arm or (pending and not desired["confirm"])):
        routes = [r for link in (desired["migrate_from"], name) if link and link in links for r in nl.routes(link)]
        files.extend(_facets.bridge_files(renderer, desired, bridge_after, routes, module.get_bin_path,
                                          firewall=False))
        _r, tap_files = _facets.tap_files(dict(persist=True, renderer=want.params["renderer"],
                                               purge=want.params["purge_taps"]),
                                          taps, taps_after, purged)
        files.extend(tap_files)
        files.extend(_persist.plan_files(overlay_want(renderer, name, port_after), "overlay of %s" % name,
                                         modes={_persist.NM_OVERLAY_HOOK: 0o755}))
        files.extend(_boot.plan(boot_records(sets, backend.name if backend else None), module.get_bin_path))
    acl, acl_before, acl_after = Plan(), None, None
    if want.params["qemu_acl"]:
        acl, acl_before, acl_after = plan_acl(want.params["qemu_acl_file"], name, want.present,
                                              want.params["qemu_acl_role"])
    localnet = plan_localnet(sets, fw)
    dhcp, dhcp_files, dhcp_before, dhcp_after = _dhcp.plan(module, name, want.dhcp, want.params["persist"])
    # TAPs go last: a failure before that never has to recreate a deleted TAP (it would
    # come back with another ifindex, and a guest's open file is gone with it)
    # the bridge's MTU set after its TAPs joined: a port joining re-derives the MTU of a
    # bridge whose MTU was not set (what linux_bridge does after the ports it attaches)
    attrs = Plan([a for a in bridge_plan if a.op == "link_set" and a.args.get("name") == name and "mtu" in a.args])
    bridge_plan = Plan([a for a in bridge_plan if a not in attrs.actions])
    recreated = set(a.args["name"] for a in taps_plan if a.op == "tap_create")
    deletions = Plan([a for a in taps_plan if a.op == "link_del" and a.args["name"] not in recreated])
    changes = Plan([a for a in taps_plan if a not in deletions.actions])
    if want.present:
        steps = [("forwarding", forwarding), ("firewall", fw.plan), ("bridge", bridge_plan),
                 ("overlay", overlay["plan"]), ("taps", changes),
                 ("bridge", attrs), ("files", files), ("acl", acl), ("localnet", localnet), ("dhcp", dhcp), ("taps", deletions)]
    else:
        steps = [("dhcp", dhcp), ("firewall", fw.plan), ("localnet", localnet), ("forwarding", forwarding),
                 ("taps", taps_plan), ("overlay", overlay["plan"]),
                 ("bridge", bridge_plan), ("bridge", attrs), ("files", files), ("acl", acl)]
    lines = []
    for kind, step in steps:
        plan.extend(step)
        # the firewall's lines say what changes in each chain and map, its actions per transaction
        lines.extend(fw.lines if kind == "firewall" else step.lines())
    report = {"uplink": uplink, "fw": fw, "bridge_plan": Plan(bridge_plan.actions + attrs.actions),
              "bridge_after": bridge_after,
              "taps_plan": taps_plan, "taps_after": taps_after, "purged": purged, "files": files,
              "forwarding": forwarding, "forwarding_before": forwarding_before, "acl": acl,
              "forwarding_after": forwarding_after, "ra_uplinks": ra_uplinks,
              "acl_before": acl_before, "acl_after": acl_after, "localnet": localnet, "sets": sets,
              "dhcp": dhcp, "dhcp_files": dhcp_files, "dhcp_before": dhcp_before, "dhcp_after": dhcp_after,
              "probe": probe, "arm": arm, "overlay": port_after, "overlay_before": overlay["before"], "desired": desired, "journal": journal, "lines": lines}
    return plan, report


def plan_overlay(want, nl, links, addrs, desired, default_interface=None):
    """-> ({plan, stale, before}, VXLAN port after or None, TAP items): the network's VXLAN
    port as its overlay says, and ours it no longer has (another VNI, no overlay, the
    network gone) removed; the bridge and TAPs take the overlay's MTU (``desired``, the
    items), which dnsmasq also tells the guests. ``default_interface``: the default-route
    interface when the caller has it (the uplink it found), else read here."""
    ov, name, taps = want.overlay, want.name, want.taps
    persisted = _persist.persisted_overlay_port(name)
    stale = [n for n in _overlay.ours_on(name, links, persisted) if ov is None or n != ov.link]
    mine = stale + ([ov.link] if ov is not None and ov.link in links else [])
    fdb = nl.fdb(mine) if mine else []
    plan = _overlay.plan_removal(stale, links, fdb)
    shown = ov.link if ov is not None else (stale or [None])[0]  # the port the diff shows before
    before = _overlay.port_view(links.get(shown), [e for e in fdb if e["name"] == shown])
    port_after = None
    if ov is not None:
        default = default_interface or (None if ov.local else default_route_interface(nl, links))
        local, _dev, underlay_mtu = _overlay.underlay(ov, links, addrs, default)
        mtu = _overlay.overlay_mtu(ov, local, underlay_mtu)
        desired["mtu"] = mtu
        if want.dhcp is not None:
            want.dhcp.mtu = mtu
        taps = [dict(t, mtu=mtu) if t["state"] == "present" and not t.get("mtu") else t for t in taps]
        port_plan, port_after = _overlay.plan_port(ov, name, links, [e for e in fdb if e["name"] == ov.link], local,
                                                   mtu, _bridge.read_machine_id(), persisted)
        plan.extend(port_plan)
    return {"plan": plan, "stale": stale, "before": before}, port_after, taps


def overlay_want(renderer, bridge, port):
    """{path: text or None} of the overlay's persisted VXLAN port (None: none, or removed
    wherever a manager would read it)."""
    renderers = ("ifupdown", "networkd", _persist.NM) if renderer == _persist.ANY else (renderer,)
    want = dict((path, None) for each in renderers for path in _persist.overlay_paths(each, bridge))
    if port is not None:
        want.update(_persist.overlay_files(renderer, port))
    if _persist.NM in renderers:
        want[_persist.NM_OVERLAY_HOOK] = _persist.nm_overlay_hook(bridge, port is not None)
    return want
