# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.networking.plugins.filter.host_packages import PACKAGES, FilterModule


host_packages = FilterModule().filters()["host_packages"]


def test_debian_names_in_order_each_once():
    assert host_packages(["pyroute2", "nftables", "iptables", "bridge-utils", "dnsmasq"], "Debian") == [
        "python3-pyroute2", "nftables", "python3-nftables", "iptables", "bridge-utils", "dnsmasq-base"]


def test_redhat_names():
    assert host_packages(["pyroute2", "nftables", "dnsmasq"], "RedHat") == [
        "python3-pyroute2", "nftables", "python3-nftables", "dnsmasq"]
    # iptables-legacy is EPEL's; bridge-utils belongs to ifupdown, which RHEL does not have
    assert host_packages(["iptables", "bridge-utils"], "RedHat") == ["iptables-legacy"]


def test_every_need_names_every_family():
    families = set(PACKAGES["pyroute2"])
    for need, by_family in PACKAGES.items():
        assert set(by_family) == families, need
        assert by_family["Debian"], "Debian meets %s" % need


def test_duplicates_collapse():
    assert host_packages(["nftables", "nftables", "pyroute2"], "Debian") == [
        "nftables", "python3-nftables", "python3-pyroute2"]


@pytest.mark.parametrize("needs, family, words", [
    (["pyroute2"], "Suse", ["OS family 'Suse'", "Debian, RedHat", "pyroute2"]),
    (["pyroute"], "Debian", ["unknown need 'pyroute'"]),
    ("pyroute2", "Debian", ["needs must be a list"]),
])
def test_refusals_name_the_value(needs, family, words):
    with pytest.raises(AnsibleFilterError) as err:
        host_packages(needs, family)
    for word in words:
        assert word in str(err.value)
