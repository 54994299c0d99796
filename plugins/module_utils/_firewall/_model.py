# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend-neutral firewall rule model, private to this collection.

Value objects built from module parameters (validated and normalised here, before any
backend is touched). Backends only translate them into their own syntax.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError

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


def ipv4_network(option, value):
    """An IPv4 network in canonical form (host bits must be zero)."""
    text = v.network_cidr(option, value)
    if ipaddress.ip_network(text).version != 4:
        raise ValidationError(option, value, "only IPv4 is supported here")
    return text


def ipv4_networks(option, values):
    """IPv4 networks, collapsed (overlaps merged) and sorted, as nft prints a set."""
    nets = [ipaddress.ip_network(ipv4_network(option, value)) for value in values or []]
    return [n.with_prefixlen for n in ipaddress.collapse_addresses(nets)]


class Masquerade(object):
    """Source NAT of ``source`` out of ``out_interface`` (any when None). ``bridge``: the
    guests' bridge of a NAT network (libvirt's isolation): only it may source ``source``,
    and nothing from outside reaches it but replies and our published ports."""

    __slots__ = ("name", "source", "out_interface", "exclude", "forward", "bridge")

    def __init__(self, name, source, out_interface=None, exclude=(), forward=True, bridge=None):
        self.name = name
        self.source = source
        self.out_interface = out_interface
        self.exclude = list(exclude)
        self.forward = forward
        self.bridge = bridge

    @classmethod
    def from_params(cls, params):
        """Validate module parameters into a Masquerade."""
        out = params.get("out_interface")
        return cls(
            name=set_name("name", params["name"]),
            source=ipv4_network("source", params["source"]),
            out_interface=v.rule_ifname("out_interface", out) if out else None,
            exclude=ipv4_networks("exclude_destinations", params.get("exclude_destinations")),
            forward=bool(params.get("forward", True)),
            bridge=v.rule_ifname("bridge", params["bridge"]) if params.get("bridge") else None,
        )

    def as_dict(self):
        """The module's ``rule`` return value."""
        out = {"name": self.name, "source": self.source, "out_interface": self.out_interface,
               "exclude_destinations": list(self.exclude), "forward": self.forward}
        if self.bridge:
            out["bridge"] = self.bridge
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


def ipv4_address(option, value):
    """A single IPv4 address."""
    try:
        addr = ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ValidationError(option, value, "not a valid IPv4 address")
    if addr.version != 4:
        raise ValidationError(option, value, "only IPv4 is supported here")
    return str(addr)


class Forward(object):
    """One published port: proto + host port(s) -> to_addr:to_port(s), optionally narrowed."""

    __slots__ = ("proto", "port", "to_addr", "to_port", "in_interface", "destination", "sources")

    def __init__(self, proto, port, to_addr, to_port, in_interface=None, destination=None, sources=()):
        self.proto, self.port, self.to_addr, self.to_port = proto, port, to_addr, to_port
        self.in_interface, self.destination, self.sources = in_interface, destination, list(sources)

    @classmethod
    def from_item(cls, where, item):
        """Validate one ``forwards`` item."""
        unknown = set(item) - set(("proto", "port", "to_addr", "to_port", "in_interface", "destination", "sources"))
        if unknown:
            raise ValidationError(where, sorted(unknown), "unknown option(s) in a forward")
        proto = item.get("proto") or "tcp"
        if proto not in PROTOCOLS:
            raise ValidationError(where + ".proto", proto, "must be tcp or udp")
        if item.get("port") is None:
            raise ValidationError(where + ".port", None, "required")
        port = port_range(where + ".port", item["port"])
        to_port = port if item.get("to_port") is None else port_range(where + ".to_port", item["to_port"])
        if to_port[1] - to_port[0] != port[1] - port[0]:
            raise ValidationError(where + ".to_port", item["to_port"],
                                  "the range must be as long as port %s" % port_text(port))
        if item.get("to_addr") is None:
            raise ValidationError(where + ".to_addr", None, "required")
        if item.get("sources") is not None and not item["sources"]:
            # an empty templated list must not publish the port to everyone
            raise ValidationError(where + ".sources", item["sources"],
                                  "an empty list allows no source; leave sources out to allow any")
        iif = item.get("in_interface")
        return cls(proto, port, ipv4_address(where + ".to_addr", item["to_addr"]), to_port,
                   v.rule_ifname(where + ".in_interface", iif) if iif else None,
                   ipv4_address(where + ".destination", item["destination"]) if item.get("destination") else None,
                   ipv4_networks(where + ".sources", item.get("sources")))

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
            scope = (fwd.proto, fwd.in_interface, fwd.destination, tuple(fwd.sources))
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
