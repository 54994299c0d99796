# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""python-iptables on libxtables 1.8.11, private to this collection.

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
    """Make python-iptables find every option of an extension (idempotent)."""
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
