# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_packages: the distribution packages that give a host what this collection's
modules need, by the host's OS family (the roles install them when a module reports
``missing_dependency``)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# need -> OS family -> packages. A need a family cannot meet from its own repositories
# is left out for that family (the module then names what is missing).
#   pyroute2      netlink (every module)
#   nftables      the nftables backend: the nft tools and the libnftables binding
#   iptables      the iptables backend: iptables-legacy-save/-restore
#   bridge-utils  ifupdown's bridge hook (bridge_ports); ifupdown2 brings bridges up itself
#   dnsmasq       the guests' DHCP and DNS (the binary; its service stays off)
PACKAGES = {
    "pyroute2": {"Debian": ["python3-pyroute2"], "RedHat": ["python3-pyroute2"]},
    "nftables": {"Debian": ["nftables", "python3-nftables"], "RedHat": ["nftables", "python3-nftables"]},
    # RHEL 8/9 ship iptables-nft only; iptables-legacy comes from EPEL
    "iptables": {"Debian": ["iptables"], "RedHat": ["iptables-legacy"]},
    "bridge-utils": {"Debian": ["bridge-utils"], "RedHat": []},
    # Debian's dnsmasq package starts a host-wide instance; dnsmasq-base is the binary alone
    "dnsmasq": {"Debian": ["dnsmasq-base"], "RedHat": ["dnsmasq"]},
}


def host_packages(needs, os_family):
    """['pyroute2', 'dnsmasq'], 'Debian' -> ['python3-pyroute2', 'dnsmasq-base']: in the
    order of ``needs``, each package once."""
    if not isinstance(needs, (list, tuple)):
        raise AnsibleFilterError("host_packages: needs must be a list, got %r" % (needs,))
    families = sorted(PACKAGES["pyroute2"])
    if os_family not in families:
        raise AnsibleFilterError("host_packages: no package names for OS family %r (known: %s); install %s "
                                 "yourself and turn the role's *_install_deps off"
                                 % (os_family, ", ".join(families), ", ".join(needs)))
    packages = []
    for need in needs:
        if need not in PACKAGES:
            raise AnsibleFilterError("host_packages: unknown need %r (known: %s)"
                                     % (need, ", ".join(sorted(PACKAGES))))
        packages.extend(p for p in PACKAGES[need][os_family] if p not in packages)
    return packages


class FilterModule:
    """hypervisor.networking's filters."""

    def filters(self):
        return {"host_packages": host_packages}
