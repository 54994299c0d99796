# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""python-iptables fixes, private to this collection.

Tables: python-iptables decides whether a rule's target is a chain by asking every
table whether it exists, and it asks by opening it, which makes the kernel instantiate
it: reading one rule leaves empty mangle, raw and security tables behind (and on an
nftables host, "iptables-legacy tables present" warnings). A table counts as available
here when the kernel lists it, read at each call: a table our backend opens (nat,
filter) is listed at once, so jumps to our chains are still recognised.

Option tables, on libxtables 1.8.11:

python-iptables (1.0.1 in Debian 13, 1.2.0 on PyPI) declares ``struct xt_option_entry``
as 48 bytes; libxtables 1.8.11 (Debian 13) lays it out in 56. The library walks an
extension's option table in Python with its own stride, so only the first option of each
extension is found: ``addrtype --dst-type`` and ``multiport --dports`` fail with "no such
parameter". The walk is replaced by one that measures the real stride; the entry handed
to libxtables is the real one in memory, so the C side reads its own layout.
"""

from __future__ import annotations

import ctypes

# the table's first entry has a name; the next entry's name pointer sits one stride
# later and points close to the first name (an extension's option names share rodata)
_CANDIDATE_STRIDES = (48, 56, 64)
_NEAR = 64 * 1024
_TABLE_NAMES = {"ip4tc": ("is_table_available", "/proc/net/ip_tables_names"),
                "ip6tc": ("is_table6_available", "/proc/net/ip6_tables_names")}


def listed_tables(path):
    """The legacy tables the kernel holds in this network namespace."""
    try:
        with open(path) as handle:
            return handle.read().split()
    except (IOError, OSError):  # no table module loaded: no table exists
        return []


def _patch_table_lookup(iptc):
    """is_table_available / is_table6_available that never instantiate a table."""
    for module_name, (function, path) in _TABLE_NAMES.items():
        module = getattr(iptc, module_name, None)
        if module is None or not hasattr(module, function):
            continue

        def available(name, _path=path):
            """True when the kernel already holds the table."""
            return name in listed_tables(_path)

        setattr(module, function, available)


def entry_stride(base, declared):
    """The real size of one xt_option_entry in the table at address base."""
    first = ctypes.c_uint64.from_address(base).value
    for stride in _CANDIDATE_STRIDES:
        # readable: a table holds at least one entry and a terminator of >= 48 bytes each
        word = ctypes.c_uint64.from_address(base + stride).value
        if word and abs(word - first) < _NEAR:
            return stride
    # one option only (the next entry is the terminator): any stride finds it
    return declared


def patch(iptc):
    """Apply both fixes to the imported python-iptables (idempotent)."""
    _patch_table_lookup(iptc)
    _patch_option_lookup(iptc)


def _patch_option_lookup(iptc):
    """Make python-iptables find every option of an extension."""
    xtables = getattr(getattr(iptc, "xtables", None), "xtables", None)
    entry_type = getattr(getattr(iptc, "xtables", None), "xt_option_entry", None)
    if xtables is None or entry_type is None or getattr(xtables, "_hn_stride_patched", False):
        return
    declared = ctypes.sizeof(entry_type)

    def option_lookup(self, entries, name):  # pylint: disable=unused-argument
        """xtables._option_lookup, walking the table with its real stride."""
        base = ctypes.cast(entries, ctypes.c_void_p).value
        if not base:
            return None
        stride = entry_stride(base, declared)
        for index in range(256):
            entry = entry_type.from_address(base + index * stride)
            if not entry.name:
                return None
            if entry.name == name:
                return entry
        return None

    xtables._option_lookup = option_lookup
    xtables._hn_stride_patched = True
