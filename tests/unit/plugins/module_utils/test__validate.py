# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError


@pytest.mark.parametrize("value,expected", [
    ("192.168.100.1/24", "192.168.100.1/24"),
    (" 10.0.0.1/8 ", "10.0.0.1/8"),
    ("2001:DB8:0:0::1/64", "2001:db8::1/64"),
    ("fe80::1/64", "fe80::1/64"),
])
def test_interface_cidr_canonical(value, expected):
    assert v.interface_cidr("addresses", value) == expected


@pytest.mark.parametrize("value", ["192.168.100.1", "192.168.100.300/24", "10.0.0.1/33", "nonsense/24", "::1/129"])
def test_interface_cidr_rejects(value):
    with pytest.raises(ValidationError) as err:
        v.interface_cidr("addresses", value)
    assert err.value.option == "addresses" and repr(value) in err.value.msg


@pytest.mark.parametrize("value,expected", [
    ("52:54:00:AB:cd:EF", "52:54:00:ab:cd:ef"),
    ("02-00-00-00-00-01", "02:00:00:00:00:01"),
])
def test_mac_canonical(value, expected):
    assert v.mac("mac", value) == expected


@pytest.mark.parametrize("value,reason", [
    ("01:00:5e:00:00:01", "multicast"),
    ("00:00:00:00:00:00", "all-zero"),
    ("52:54:00:ab:cd", "expected a MAC"),
    ("zz:54:00:ab:cd:ef", "expected a MAC"),
])
def test_mac_rejects(value, reason):
    with pytest.raises(ValidationError, match=reason):
        v.mac("mac", value)


@pytest.mark.parametrize("value,ok", [
    ("br0", True), ("a" * 15, True), ("a" * 16, False), ("", False),
    ("bad/name", False), ("bad name", False), ("bad:0", False), ("..", False),
])
def test_ifname(value, ok):
    if ok:
        assert v.ifname("name", value) == value
    else:
        with pytest.raises(ValidationError) as err:
            v.ifname("name", value)
        assert err.value.msg.startswith("name=")


def test_network_cidr_requires_zero_host_bits():
    assert v.network_cidr("source", "192.168.100.0/24") == "192.168.100.0/24"
    with pytest.raises(ValidationError):
        v.network_cidr("source", "192.168.100.1/24")


@pytest.mark.parametrize("value,ok", [(None, True), (68, True), (9000, True), (67, False), (65536, False)])
def test_mtu(value, ok):
    if ok:
        assert v.mtu("mtu", value) == value
    else:
        with pytest.raises(ValidationError, match="mtu="):
            v.mtu("mtu", value)


def test_unique_names_the_duplicate():
    with pytest.raises(ValidationError, match="listed twice"):
        v.unique("ports", ["a", "b", "a"])
