# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the roles use to validate their variables on the controller, before any change.

They run the same validation code as the modules (module_utils), so a role refuses
exactly what the module would refuse, only earlier: before the first module changes
anything on the host.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import ForwardSet
from ansible_collections.hypervisor.networking.plugins.module_utils._tap import desired_taps


def _syntax_only(option, value):
    """Owner/group check without the host's user database (the host is checked later)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        raise ValidationError(option, value, "a user or group name or numeric id")
    return int(text) if text.isdigit() else text


def subnet(value):
    """'192.168.100.1/24' -> '192.168.100.0/24' (the network of an interface address)."""
    try:
        return ipaddress.ip_interface(str(value).strip()).network.with_prefixlen
    except ValueError as exc:
        raise AnsibleFilterError("subnet: %r is not an address with a prefix length (%s)" % (value, exc))


def default_route_interface(route_table):
    """The interface of the lowest-metric IPv4 default route in /proc/net/route text, or ''."""
    best = None
    for line in str(route_table).splitlines()[1:]:
        fields = line.split()
        # Iface Destination Gateway Flags RefCnt Use Metric Mask ...; flags 0x1 = RTF_UP
        if len(fields) < 8 or fields[1] != "00000000" or fields[7] != "00000000" or not int(fields[3], 16) & 1:
            continue
        if best is None or int(fields[6]) < best[0]:
            best = (int(fields[6]), fields[0])
    return best[1] if best else ""


def forwards_error(forwards, option="forwards"):
    """'' when the list is valid as iptables_dnat ``forwards``, else the message naming the item."""
    if not isinstance(forwards, list):
        return "%s must be a list of forwards, got %r" % (option, forwards)
    try:
        ForwardSet.from_params({"name": "check", "forwards": forwards})
    except ValidationError as exc:
        return "%s%s" % (option, str(exc)[len("forwards"):]) if str(exc).startswith("forwards") else str(exc)
    return ""


def taps_error(taps, option="taps"):
    """'' when the list is valid as tap_iface ``taps``, else the message naming the item."""
    if not isinstance(taps, list) or not all(isinstance(item, dict) for item in taps):
        return "%s must be a list of TAP items (dicts with at least name), got %r" % (option, taps)
    try:
        desired_taps({"taps": taps}, resolver=_syntax_only)
    except ValidationError as exc:
        return "%s%s" % (option, str(exc)[len("taps"):]) if str(exc).startswith("taps") else str(exc)
    return ""


class FilterModule(object):
    """hypervisor.networking validation filters."""

    def filters(self):
        return {"subnet": subnet, "forwards_error": forwards_error, "taps_error": taps_error,
                "default_route_interface": default_route_interface}
