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

# rule set names end up in nft chain names and iptables chain names (28 chars max)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,19}$")


def set_name(option, value):
    """A rule-set name usable in every backend's chain names."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValidationError(option, value, "use 1-20 letters, digits or underscores, starting with a letter or digit")
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
    """Source NAT of ``source`` out of ``out_interface`` (any when None)."""

    __slots__ = ("name", "source", "out_interface", "exclude", "forward")

    def __init__(self, name, source, out_interface=None, exclude=(), forward=True):
        self.name = name
        self.source = source
        self.out_interface = out_interface
        self.exclude = list(exclude)
        self.forward = forward

    @classmethod
    def from_params(cls, params):
        """Validate module parameters into a Masquerade."""
        out = params.get("out_interface")
        return cls(
            name=set_name("name", params["name"]),
            source=ipv4_network("source", params["source"]),
            out_interface=v.ifname("out_interface", out) if out else None,
            exclude=ipv4_networks("exclude_destinations", params.get("exclude_destinations")),
            forward=bool(params.get("forward", True)),
        )

    def as_dict(self):
        """The module's ``rule`` return value."""
        return {"name": self.name, "source": self.source, "out_interface": self.out_interface,
                "exclude_destinations": list(self.exclude), "forward": self.forward}
