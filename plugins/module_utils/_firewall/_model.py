# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend-neutral firewall rule model, private to this collection.

Value objects built from module parameters (validated and normalised here, before any
backend is touched). Backends only translate them into their own syntax.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re

from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._xtables import USER_CHAIN

# rule set names: what Linux, libvirt and Docker use for bridges and networks; backends
# derive chain names that fit their limits from them (iptables: a digest past 28 chars)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")

# a forward item's argument spec (iptables_dnat's forwards, guest_network's forwards)
FORWARD_SPEC = dict(
    proto=dict(type="str", choices=["tcp", "udp"], default="tcp"),
    port=dict(type="raw", required=True),
    to_addr=dict(type="str", required=True),
    to_port=dict(type="raw"),
    in_interface=dict(type="str"),
    destination=dict(type="str"),
    sources=dict(type="list", elements="str"),
)


def set_name(option, value):
    """A rule-set name usable in every backend's chain names."""
    if not isinstance(value, str) or not _NAME_RE.match(value) or value in (".", ".."):
        raise ValidationError(option, value, "use 1-64 letters, digits, '-', '_' or '.' (not '.' or '..')")
    return value


IPV4, IPV6 = "ipv4", "ipv6"
FAMILIES = (IPV4, IPV6)
BRIDGE = "bridge"  # frames on a bridge, before or beside IP (an overlay network's guard)
_VERSION = {4: IPV4, 6: IPV6}


@functools.lru_cache(maxsize=4096)
def family_of(text):
    """'ipv4' or 'ipv6' of an address or network in canonical text (a thousand forwards
    ask about the same few addresses: each is parsed once)."""
    return _VERSION[ipaddress.ip_network(text, strict=False).version]


def network(option, value, family=None):
    """A network in canonical form (host bits must be zero), of ``family`` when given."""
    text = v.network_cidr(option, value)
    if family and family_of(text) != family:
        raise ValidationError(option, value, "must be %s like the rest of this rule" % family.replace("ip", "IP"))
    return text


def networks(option, values, family):
    """Networks of ``family``, collapsed (overlaps merged) and sorted, as nft prints a set."""
    nets = [ipaddress.ip_network(network(option, value, family)) for value in values or []]
    return [n.with_prefixlen for n in ipaddress.collapse_addresses(nets)]


def address(option, value, family=None):
    """A single address (of ``family`` when given)."""
    try:
        addr = ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ValidationError(option, value, "not a valid IPv4 or IPv6 address")
    if family and _VERSION[addr.version] != family:
        raise ValidationError(option, value, "must be %s like the rest of this forward" % family.replace("ip", "IP"))
    return str(addr)


MODES = ("nat", "routed", "isolated")  # a guest network's egress (guest_network's modes but bridged)


def _port_item(where, item, known, what):
    """The protocol of a port item (a forward, an allow_inbound item), after the checks
    they share: no unknown key, tcp or udp, a port, no empty ``sources`` (an empty templated
    list must not open the port to everyone)."""
    unknown = set(item) - set(known)
    if unknown:
        raise ValidationError(where, sorted(unknown), "unknown option(s) in %s" % what)
    proto = item.get("proto") or "tcp"
    if proto not in PROTOCOLS:
        raise ValidationError(where + ".proto", proto, "must be tcp or udp")
    if item.get("port") is None:
        raise ValidationError(where + ".port", None, "required")
    if item.get("sources") is not None and not item["sources"]:
        raise ValidationError(where + ".sources", item["sources"],
                              "an empty list allows no source; leave sources out to allow any")
    return proto


class Allow(object):
    """An inbound port a routed network opens to its guests: proto, port range, the guest
    (None: every guest) and the clients (none: any)."""

    __slots__ = ("proto", "port", "to_addr", "sources")

    def __init__(self, proto, port, to_addr=None, sources=()):
        self.proto, self.port, self.to_addr, self.sources = proto, port, to_addr, list(sources)

    @property
    def family(self):
        """'ipv4', 'ipv6', or None (every guest, any client: both families)."""
        return family_of(self.to_addr or (self.sources or [None])[0]) if self.to_addr or self.sources else None

    @classmethod
    def from_item(cls, where, item):
        """Validate one ``allow_inbound`` item."""
        proto = _port_item(where, item, cls.__slots__, "an allow_inbound item")
        to_addr = address(where + ".to_addr", item["to_addr"]) if item.get("to_addr") else None
        family = family_of(to_addr) if to_addr else None
        sources = [network(where + ".sources", s, family) for s in item.get("sources") or []]
        if not family and sources:
            family = family_of(sources[0])
            sources = networks(where + ".sources", sources, family)
        return cls(proto, port_range(where + ".port", item["port"]), to_addr, sources)

    def as_dict(self):
        return {"proto": self.proto, "port": port_text(self.port) if self.port[0] != self.port[1] else self.port[0],
                "to_addr": self.to_addr, "sources": list(self.sources)}


class Masquerade(object):
    """Source NAT of ``source`` out of ``out_interface`` (any when None). ``bridge``: the
    guests' bridge of a guest network (libvirt's isolation): only it may source ``source``,
    and nothing from outside reaches it but replies, our published ports and, routed,
    what ``allow`` names. ``mode``: ``nat``; ``routed`` - the same without the translation
    (the upstream routes the guests' subnet here; guest_network's ``mode: routed`` and
    ``ipv6_nat: false``); ``isolated`` - nothing forwarded beyond the bridge at all."""

    __slots__ = ("name", "source", "out_interface", "exclude", "forward", "bridge", "mode", "allow")

    @property
    def family(self):
        """'ipv4' or 'ipv6': the source's."""
        return family_of(self.source)

    def __init__(self, name, source, out_interface=None, exclude=(), forward=True, bridge=None, mode="nat",
                 allow=()):
        self.name = name
        self.source = source
        self.out_interface = out_interface
        self.exclude = list(exclude)
        self.forward = forward
        self.bridge = bridge
        self.mode = mode
        self.allow = list(allow)

    @property
    def nat(self):
        """True when the subnet is translated."""
        return self.mode == "nat"

    @classmethod
    def from_params(cls, params):
        """Validate module parameters into a Masquerade."""
        out = params.get("out_interface")
        source = network("source", params["source"])
        return cls(
            name=set_name("name", params["name"]),
            source=source,
            out_interface=v.rule_ifname("out_interface", out) if out else None,
            exclude=networks("exclude_destinations", params.get("exclude_destinations"), family_of(source)),
            forward=bool(params.get("forward", True)),
            bridge=v.rule_ifname("bridge", params["bridge"]) if params.get("bridge") else None,
            mode=params.get("mode") or "nat",
            allow=[a if isinstance(a, Allow) else Allow.from_item("allow_inbound[%d]" % i, a)
                   for i, a in enumerate(params.get("allow") or [])],
        )

    def as_dict(self):
        """The module's ``rule`` return value."""
        out = {"name": self.name, "source": self.source, "out_interface": self.out_interface,
               "exclude_destinations": list(self.exclude), "forward": self.forward}
        if self.bridge:
            out["bridge"] = self.bridge
        if self.mode != "nat":
            out["mode"] = self.mode  # absent: nat (the records 0.2 wrote)
        if self.allow:
            out["allow"] = [a.as_dict() for a in self.allow]
        return out


PROTOCOLS = ("tcp", "udp")
MAX_EXPANDED = 65536  # port-by-port entries one forward set may expand to


def port_range(option, value):
    """80 or "5000-5010" -> (lo, hi), each 1-65535, lo <= hi."""
    text = str(value).strip()
    lo_text, sep, hi_text = text.partition("-")
    try:
        lo = int(lo_text)
        hi = int(hi_text) if sep else lo
    except ValueError:
        raise ValidationError(option, value, "expected a port (1-65535) or a range like 5000-5010")
    for port in (lo, hi):
        if not 1 <= port <= 65535:
            raise ValidationError(option, value, "ports are 1-65535")
    if lo > hi:
        raise ValidationError(option, value, "reversed range (first port must not exceed the last)")
    return lo, hi


def port_text(rng, sep="-"):
    """(lo, hi) -> '80' or '5000-5010' (sep ':' for iptables)."""
    return str(rng[0]) if rng[0] == rng[1] else "%d%s%d" % (rng[0], sep, rng[1])


class Forward(object):
    """One published port: proto + host port(s) -> to_addr:to_port(s), optionally narrowed."""

    __slots__ = ("proto", "port", "to_addr", "to_port", "in_interface", "destination", "sources")

    @property
    def family(self):
        """'ipv4' or 'ipv6': the target's (the published port is of the same family)."""
        return family_of(self.to_addr)

    def __init__(self, proto, port, to_addr, to_port, in_interface=None, destination=None, sources=()):
        self.proto, self.port, self.to_addr, self.to_port = proto, port, to_addr, to_port
        self.in_interface, self.destination, self.sources = in_interface, destination, list(sources)

    @classmethod
    def from_item(cls, where, item):
        """Validate one ``forwards`` item."""
        proto = _port_item(where, item, cls.__slots__, "a forward")
        port = port_range(where + ".port", item["port"])
        to_port = port if item.get("to_port") is None else port_range(where + ".to_port", item["to_port"])
        if to_port[1] - to_port[0] != port[1] - port[0]:
            raise ValidationError(where + ".to_port", item["to_port"],
                                  "the range must be as long as port %s" % port_text(port))
        if item.get("to_addr") is None:
            raise ValidationError(where + ".to_addr", None, "required")
        iif = item.get("in_interface")
        to_addr = address(where + ".to_addr", item["to_addr"])
        family = family_of(to_addr)
        return cls(proto, port, to_addr, to_port, v.rule_ifname(where + ".in_interface", iif) if iif else None,
                   address(where + ".destination", item["destination"], family) if item.get("destination") else None,
                   networks(where + ".sources", item.get("sources"), family))

    @property
    def filtered(self):
        """True when the forward narrows by interface, destination or source."""
        return bool(self.in_interface or self.destination or self.sources)

    def pairs(self):
        """[(host port, target port)] one by one (ranges expanded)."""
        return [(p, self.to_port[0] + (p - self.port[0])) for p in range(self.port[0], self.port[1] + 1)]

    def as_dict(self):
        """Normalised form for the ``forwards`` return value."""
        return {"proto": self.proto, "port": port_text(self.port) if self.port[0] != self.port[1] else self.port[0],
                "to_addr": self.to_addr,
                "to_port": port_text(self.to_port) if self.to_port[0] != self.to_port[1] else self.to_port[0],
                "in_interface": self.in_interface, "destination": self.destination, "sources": list(self.sources)}


class ForwardSet(object):
    """The forward set ``name``: exactly ``forwards``, with hairpin/localhost/forward."""

    __slots__ = ("name", "forwards", "hairpin", "localhost", "forward")

    def __init__(self, name, forwards, hairpin=True, localhost=False, forward=True):
        self.name, self.forwards = name, list(forwards)
        self.hairpin, self.localhost, self.forward = hairpin, localhost, forward

    @classmethod
    def from_params(cls, params):
        """Validate module parameters; overlapping host ports in the same scope are refused."""
        forwards = [Forward.from_item("forwards[%d]" % i, item or {})
                    for i, item in enumerate(params.get("forwards") or [])]
        seen, expanded = {}, 0
        for idx, fwd in enumerate(forwards):
            scope = (fwd.family, fwd.proto, fwd.in_interface, fwd.destination, tuple(fwd.sources))
            for port in range(fwd.port[0], fwd.port[1] + 1):
                if (scope, port) in seen:
                    raise ValidationError("forwards[%d].port" % idx, port_text(fwd.port),
                                          "%s port %d is already forwarded by forwards[%d]"
                                          % (fwd.proto, port, seen[(scope, port)]))
                seen[(scope, port)] = idx
            expanded += fwd.port[1] - fwd.port[0] + 1
        if expanded > MAX_EXPANDED:
            raise ValidationError("forwards", "%d ports" % expanded, "at most %d ports per set" % MAX_EXPANDED)
        return cls(set_name("name", params["name"]), forwards, bool(params.get("hairpin", True)),
                   bool(params.get("localhost", False)), bool(params.get("forward", True)))

    def part(self, family):
        """The same set with the forwards of ``family`` only."""
        return ForwardSet(self.name, [f for f in self.forwards if f.family == family], self.hairpin,
                          self.localhost, self.forward)

    def as_dict(self):
        """The set's normalised form (records, return values)."""
        return {"name": self.name, "forwards": [f.as_dict() for f in self.forwards], "hairpin": self.hairpin,
                "localhost": self.localhost, "forward": self.forward}


# conntrack mark bit our DNAT sets on the connections it translates (with forward: true);
# every FORWARD accept we own for published ports is one rule matching it
CT_MARK = 0x00200000
CHAIN_MAX = 28  # iptables: XT_EXTENSION_MAXNAMELEN - 1
_HOOK_LETTER = {"post": "P", "pre": "D", "out": "O", "fwd": "F", "in": "I"}


class RuleSet(object):
    """One rule set of ours in one address family: what a backend writes, the boot load
    stores and net_info reads. ``model``: the set's desired state (None: the set goes);
    ``hairpin``: (subnet, interface) pairs of forward targets. Subclasses say what the
    set is; backends ask them, never test a kind."""

    kind = None  # the word in our nft chain names and record files
    letter = None  # the letter in our iptables chain names
    shown = None  # the word net_info shows
    families = FAMILIES  # the families a set of this kind may have
    may_use_localnet = False  # a set of this kind may need route_localnet (localhost forwards)
    in_backend = True  # the set has a part in the backend's own tables (a bridge's accepts have none)
    own_backend = None  # the backend holding the set whatever the host's (None: the host's)

    def __init__(self, name, model, family=IPV4, hairpin=()):
        self.name, self.model, self.family = name, model, family
        self.hairpin = sorted(tuple(pair) for pair in hairpin)

    def __repr__(self):
        return "%s(%r, %s, %s)" % (type(self).__name__, self.name, self.family, "present" if self else "absent")

    def __bool__(self):
        """True when the set is wanted (False: it goes)."""
        return self.model is not None

    __nonzero__ = __bool__

    @property
    def key(self):
        """(kind, family, name): what identifies the set."""
        return self.kind, self.family, self.name

    @property
    def record_name(self):
        """The stored record's file name: masq-lan.json, masq6-lan.json (IPv6)."""
        return "%s%s-%s.json" % (self.kind, "6" if self.family == IPV6 else "", self.name)

    @property
    def label(self):
        """'masquerade lan', 'forwards lan (IPv6)': the set in messages."""
        return "%s %s%s" % (self.shown, self.name, " (IPv6)" if self.family == IPV6 else "")

    def nft_chain(self, suffix):
        """Our nft chain or map ``<kind>_<name>_<suffix>`` (in the family's table)."""
        return "%s_%s_%s" % (self.kind, self.name, suffix)

    def xt_chain(self, suffix):
        """HN-PM-lan style iptables chain name, shortened with a digest when it would not fit."""
        chain = "HN-%s%s-%s" % (_HOOK_LETTER[suffix], self.letter, self.name)
        if len(chain) <= CHAIN_MAX:
            return chain
        return chain[:CHAIN_MAX - 9] + "-" + hashlib.sha1(self.name.encode("utf-8")).hexdigest()[:8]

    @property
    def stems(self):
        """The iptables commands' stems of the family (iptables, ip6tables)."""
        return ("ip6tables",) if self.family == IPV6 else ("iptables",)

    @property
    def translates(self):
        """True when the set rewrites addresses (a masquerade, published ports)."""
        return bool(self)

    @property
    def localhost(self):
        """True when the set DNATs connections the host opens to 127.0.0.0/8."""
        return False

    def accept_rules(self):
        """Our FORWARD accepts as iptables tokens (in our chain, or another tool's FORWARD)."""
        return []

    def data(self):
        """The model as stored (JSON-ready)."""
        return self.model.as_dict()

    @classmethod
    def load(cls, name, data, family, hairpin):
        """The set from a stored record's model (validated like module input)."""
        raise NotImplementedError


class MasqueradeSet(RuleSet):
    """A Masquerade: the subnet out of the uplink, and established/related back; for a NAT
    network's bridge also the drops that isolate its guests (after the accepts)."""

    kind, letter, shown = "masq", "M", "masquerade"

    @property
    def translates(self):
        return bool(self) and self.model.nat

    def accept_rules(self):
        rule = self.model
        if rule is None or not rule.forward:
            return []
        if rule.mode == "isolated":
            # nothing leaves the bridge, nothing reaches it (guests reach each other and the host)
            return [["-i", rule.bridge, "!", "-o", rule.bridge, "-j", "DROP"],
                    ["!", "-i", rule.bridge, "-o", rule.bridge, "-j", "DROP"]]
        out = ["-o", rule.out_interface] if rule.out_interface else []
        back = ["-i", rule.out_interface] if rule.out_interface else []
        guests = ["-i", rule.bridge] if rule.bridge else []
        to_guests = ["-o", rule.bridge] if rule.bridge else []
        # the admin's restrictions (HN-USER) come before our accepts
        rules = [["-j", USER_CHAIN], ["-s", rule.source] + guests + out + ["-j", "ACCEPT"],
                 ["-d", rule.source] + back + to_guests + ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                                                           "-j", "ACCEPT"]]
        for allow in rule.allow:  # routed: what the admin opens to the guests
            for src in allow.sources or [None]:
                rules.append((["-s", src] if src else []) + ["-d", allow.to_addr or rule.source] + to_guests
                             + ["-p", allow.proto, "-m", allow.proto, "--dport", port_text(allow.port, ":"),
                                "-j", "ACCEPT"])
        if rule.bridge:
            # only the bridge sources the guests' subnet; nothing unsolicited reaches the guests
            # (replies, and connections our DNAT marked, pass)
            rules += [["-s", rule.source, "!", "-i", rule.bridge, "-j", "DROP"],
                      ["!", "-i", rule.bridge, "-o", rule.bridge, "-m", "conntrack", "!", "--ctstate",
                       "RELATED,ESTABLISHED", "-m", "connmark", "!", "--mark", "0x%x/0x%x" % (CT_MARK, CT_MARK),
                       "-j", "DROP"]]
        return rules

    @classmethod
    def load(cls, name, data, family, hairpin):
        model = Masquerade.from_params(data)
        if model.family != family:
            raise ValidationError("source", model.source, "is not %s" % family)
        return cls(name, model, family)


class DnatSet(RuleSet):
    """A ForwardSet's forwards of one family: published ports, one FORWARD accept matching
    the conntrack mark our DNAT sets, whatever their number."""

    kind, letter, shown = "dnat", "N", "forwards"
    may_use_localnet = True

    @property
    def translates(self):
        return bool(self) and bool(self.model.forwards)

    @property
    def localhost(self):
        # IPv6 has no route_localnet, and ::1 never leaves the host
        return self.translates and self.model.localhost and self.family == IPV4

    def accept_rules(self):
        if self.model is None or not self.model.forward or not self.model.forwards:
            return []
        return [["-j", USER_CHAIN], ["-m", "connmark", "--mark", "0x%x/0x%x" % (CT_MARK, CT_MARK), "-j", "ACCEPT"]]

    @classmethod
    def load(cls, name, data, family, hairpin):
        # the normalised form says "any source" as []: what a user must spell by leaving it out
        data = dict(data, forwards=[dict((k, val) for k, val in f.items() if not (k == "sources" and val == []))
                                    for f in data["forwards"]])
        model = ForwardSet.from_params(data)
        if any(f.family != family for f in model.forwards):
            raise ValidationError("forwards", data["forwards"], "are not all %s" % family)
        return cls(name, model, family, hairpin)


class BridgeSet(RuleSet):
    """Bridged frames past other tools' FORWARD drops (linux_bridge, nf_call_iptables false).

    A bridge's ``nf_call_iptables`` flag only adds to the namespace-wide switch
    net.bridge.bridge-nf-call-iptables: the kernel passes a bridged frame to iptables when
    either is on. br_netfilter turns the switch on in every namespace as it loads, and
    Docker loads it and sets the FORWARD policy to DROP, so on such a host the frames of a
    bridge with ``nf_call_iptables: false`` still meet that drop. Turning the switch off
    would change Docker's own setting; instead, wherever a FORWARD chain exists (iptables-nft
    or iptables-legacy, IPv4 and IPv6), the bridge gets our chain ``HN-FB-<bridge>`` accepting
    the frames bridged within it, reached by one jump tagged ``hypervisor.networking`` at the
    top of FORWARD. They are placed whether or not the switch is on now: Docker loads
    br_netfilter (switch on) and sets its drop when it starts, which may be after our run;
    iptables-nft's IPv4 ``ip filter`` is created for them when absent, so that drop finds
    them first (and is removed with them when nothing else came to use it). ``model``:
    True (placed) or None (removed); the set has no family (both are covered) and nothing
    in a backend's own table.
    """

    kind, letter, shown = "bridge", "B", None
    families = (None,)
    in_backend = False

    def __init__(self, name, model, family=None, hairpin=()):
        super(BridgeSet, self).__init__(name, model, None)

    def xt_chain(self, suffix="fwd"):
        """HN-FB-br0: at most 21 characters for a 15-character bridge name."""
        return "HN-FB-%s" % self.name

    @property
    def stems(self):
        return ("iptables", "ip6tables")

    @property
    def translates(self):
        return False

    def accept_rules(self):
        """Frames bridged between ports of the bridge (routed traffic in and out of the
        bridge is not matched)."""
        if not self:
            return []
        return [["-i", self.name, "-o", self.name, "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"]]

    def data(self):
        return {"name": self.name}

    @classmethod
    def load(cls, name, data, family, hairpin):
        return cls(v.ifname("name", data["name"]), True)


class GuardSet(RuleSet):
    """An overlay network's guard on its bridge: the anycast gateway's own frames (ARP and
    ND answers, router advertisements, DHCP answers) never leave through the VXLAN port,
    none of another hypervisor's gateway comes in, and DHCP and DHCPv6 never cross the
    tunnel, so each hypervisor's dnsmasq answers its own guests only. Frames are filtered
    by nftables' bridge family on every host (the iptables backend's worlds have no
    bridge filter here: this kernel has no ebtables-legacy); ``model``: {port, mac}."""

    kind, letter, shown = "guard", "G", "overlay guard"
    families = (BRIDGE,)
    own_backend = "nftables"

    def __init__(self, name, model, family=BRIDGE, hairpin=()):
        super(GuardSet, self).__init__(name, model, BRIDGE)

    @property
    def stems(self):
        return ()

    @property
    def translates(self):
        return False

    def data(self):
        return dict(self.model)

    @classmethod
    def load(cls, name, data, family, hairpin):
        return cls(name, {"port": v.ifname("port", data["port"]), "mac": v.mac("mac", data["mac"])})


KINDS = dict((cls.kind, cls) for cls in (MasqueradeSet, DnatSet, BridgeSet, GuardSet))


def masquerade_sets(name, rule):
    """The masquerade ``name`` in each family: ``rule`` in its own, gone from the other
    (a set that changed family moves)."""
    return [MasqueradeSet(name, rule if rule is not None and rule.family == family else None, family)
            for family in FAMILIES]


def masquerades(name, rules):
    """A network's masquerades (one per family at most) as its rule sets."""
    by_family = dict((rule.family, rule) for rule in rules)
    return [MasqueradeSet(name, by_family.get(family), family) for family in FAMILIES]


def forward_sets(fset, hairpin=(), name=None, keep_empty=False):
    """A ForwardSet (None: gone) as its rule sets, one per family, each None without
    forwards of its family; ``keep_empty``: the IPv4 one holds the set all the same (a
    present set of no forwards is stored, iptables_dnat)."""
    out = []
    for family in FAMILIES:
        part = fset.part(family) if fset is not None else None
        if part is not None and not part.forwards and not (keep_empty and family == IPV4):
            part = None
        pairs = [p for p in hairpin if family_of(p[0]) == family]
        out.append(DnatSet(name or fset.name, part, family, pairs))
    return out
