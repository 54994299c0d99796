# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input normalisers, private to this collection.

Each returns the canonical form used in comparisons, so idempotence does not break on
spelling, or raises ValidationError naming the option and the value.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError

IFNAMSIZ = 15  # kernel limit on interface names, without the trailing NUL
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")


def ifname(option, value):
    """A valid Linux interface name, as the kernel's dev_valid_name() decides: 1-15 bytes
    (UTF-8 counts bytes, not characters), not '.' or '..', no '/', ':' or whitespace."""
    if not isinstance(value, str) or not value:
        raise ValidationError(option, value, "an interface name is a non-empty string")
    if len(value.encode("utf-8")) > IFNAMSIZ:
        raise ValidationError(option, value, "interface names are at most %d bytes (Linux limit)" % IFNAMSIZ)
    if value in (".", "..") or any(c in value for c in "/:") or any(c.isspace() for c in value) \
            or not value.isprintable():
        raise ValidationError(option, value, "interface names cannot be '.' or '..' or contain '/', ':', "
                                             "whitespace or control characters")
    return value


# characters the rule languages read as syntax in an interface match: iptables' '!'
# (negation) and '+' (wildcard), nft's '*' (wildcard), quotes and escapes
RULE_SYNTAX = '!+*"\'\\'


def rule_ifname(option, value):
    """An interface name a firewall rule can match literally in every backend."""
    value = ifname(option, value)
    bad = sorted(set(c for c in value if c in RULE_SYNTAX))
    if bad:
        raise ValidationError(option, value, "%s would be read as rule syntax (negation, wildcard or quoting) "
                                             "by iptables or nftables; rename the interface to match it"
                              % " ".join(repr(c) for c in bad))
    return value


def file_path(option, value):
    """An absolute file path without control characters (a newline or NUL in a path we
    write is never what the user meant)."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValidationError(option, value, "must be an absolute path")
    if not value.isprintable():
        raise ValidationError(option, value, "a path cannot contain control characters (newline, NUL, ...)")
    return value


def interface_cidr(option, value):
    """An interface address with prefix (host bits kept), canonical text form."""
    text = str(value).strip()
    if "/" not in text:
        raise ValidationError(option, value, "expected an address with a prefix length, e.g. 192.168.100.1/24")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as exc:
        raise ValidationError(option, value, "not a valid IPv4 or IPv6 CIDR (%s)" % exc)
    return iface.with_prefixlen


def network_cidr(option, value):
    """A network (host bits must be zero), canonical text form."""
    try:
        return ipaddress.ip_network(str(value).strip(), strict=True).with_prefixlen
    except ValueError as exc:
        raise ValidationError(option, value, "not a valid IPv4 or IPv6 network (%s)" % exc)


def mac(option, value):
    """A unicast Ethernet address, lower case with colons."""
    text = str(value).strip().lower().replace("-", ":")
    if not _MAC_RE.match(text):
        raise ValidationError(option, value, "expected a MAC address like 52:54:00:12:34:56")
    if int(text[:2], 16) & 1:
        raise ValidationError(option, value, "multicast MAC addresses cannot be assigned to an interface")
    if text == "00:00:00:00:00:00":
        raise ValidationError(option, value, "the all-zero MAC address cannot be assigned")
    return text


def mtu(option, value, minimum=68, maximum=65535):
    """An MTU within what Ethernet-like links accept."""
    if value is None:
        return None
    if not minimum <= int(value) <= maximum:
        raise ValidationError(option, value, "MTU must be between %d and %d" % (minimum, maximum))
    return int(value)


def unique(option, values):
    """Reject duplicates after normalisation (they hide typos)."""
    seen = set()
    for value in values:
        if value in seen:
            raise ValidationError(option, value, "listed twice")
        seen.add(value)
    return list(values)


CHECKED = "checked"  # the option an action plugin sets to the digest of the options it validated


def args_digest(params):
    """The digest of a module's options (not Ansible's internal ones, not ``checked``), the
    same for the options the action plugin validated and for the options the module gets."""
    plain = dict((k, v) for k, v in params.items() if not k.startswith("_ansible_") and k != CHECKED)
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
