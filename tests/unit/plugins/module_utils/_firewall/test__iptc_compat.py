# -*- coding: utf-8 -*-
from __future__ import annotations

import ctypes
import types

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _iptc_compat

NAMES = [b"src-type", b"dst-type", b"limit-iface-in", b"limit-iface-out"]


def table(stride, names):
    """An option table laid out like libxtables': a name pointer at the start of each
    entry, a small integer after it, a zeroed terminator entry at the end."""
    pool = ctypes.create_string_buffer(b"\0".join(names) + b"\0")
    buf = ctypes.create_string_buffer(stride * (len(names) + 1))
    offset = 0
    for index, name in enumerate(names):
        ctypes.c_uint64.from_buffer(buf, index * stride).value = ctypes.addressof(pool) + offset
        ctypes.c_int.from_buffer(buf, index * stride + 8).value = 10
        offset += len(name) + 1
    return buf, pool


@pytest.mark.parametrize("stride", [48, 56, 64])
def test_entry_stride_is_measured(stride):
    buf, _pool = table(stride, NAMES)
    assert _iptc_compat.entry_stride(ctypes.addressof(buf), 48) == stride


def test_single_option_table_keeps_the_declared_stride():
    buf, _pool = table(56, NAMES[:1])
    assert _iptc_compat.entry_stride(ctypes.addressof(buf), 48) == 48


def test_table_lookup_only_reports_tables_the_kernel_holds(tmp_path, monkeypatch):
    listing = tmp_path / "ip_tables_names"
    listing.write_text("filter\n")
    monkeypatch.setitem(_iptc_compat._TABLE_NAMES, "ip4tc", ("is_table_available", str(listing)))
    fake = types.SimpleNamespace(ip4tc=types.SimpleNamespace(is_table_available=None))
    _iptc_compat._patch_table_lookup(fake)
    available = fake.ip4tc.is_table_available
    assert available("filter") and not available("raw")
    listing.write_text("nat\nfilter\n")  # a table opened later counts at once: no cache
    assert available("nat")
    listing.unlink()
    assert not available("filter")
