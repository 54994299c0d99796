# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Persistence of links (bridges, TAPs) through the host's network manager."""

    DOCUMENTATION = r"""
options:
  persist:
    description:
      - Also write the change into the configuration of the host's network manager, so that it
        survives a reboot and the manager's own tools (C(ifquery), C(ifup), C(ifdown);
        C(networkctl)) agree with what runs.
      - The runtime facet and the persistent facet are planned and reported separately
        (RV(changed_runtime), RV(changed_persistent)); files are written after the runtime change
        succeeded, atomically, and a failure undoes the runtime change too.
      - Every file starts with a header naming this collection; a file at one of our paths without
        it is refused, never written over. O(state=absent) removes our files only.
      - V(false) changes the running system only (and leaves files of earlier runs alone).
    type: bool
    default: true
"""

    # the network manager option (guest_network describes its own persist)
    RENDERER = r"""
options:
  renderer:
    description:
      - Which network manager carries the persisted configuration.
      - V(ifupdown) - a file per interface in C(/etc/network/interfaces.d/) (C(hypervisor-networking-1-<bridge>),
        C(hypervisor-networking-2-<tap>)); bridges use bridge-utils' C(bridge_*) keywords (package
        C(bridge-utils)); TAPs are made by C(ip tuntap) in C(pre-up), as ifupdown has no TAP method.
        C(/etc/network/interfaces) must source that directory (Debian's default does). The same files
        serve ifupdown2 (Proxmox VE), which needs no bridge-utils; bridge stanzas carry
        C(bridge_ports_condone_regex .*) so its C(ifreload -a) keeps the guests' TAPs in the bridge.
      - V(networkd) - C(.netdev) and C(.network) files in C(/etc/systemd/network/) (prefix
        C(00-hypervisor-networking-) for bridges and their ports, C(00-hypervisor-networking-tap-) for
        TAPs); carrier-less bridges and TAPs are configured anyway (C(ConfigureWithoutCarrier)), and a
        running networkd is told with C(networkctl reload).
      - systemd-networkd applies the first matching C(.network) by file name, so the host's own file
        for a NIC that becomes a bridge port, such as C(10-eth0.network), does not win over ours; a file
        of the host's that matches the bridge or a port and still sorts first is refused, naming it.
      - V(networkmanager) - keyfiles in C(/etc/NetworkManager/system-connections/)
        (C(hypervisor-networking-bridge-<bridge>.nmconnection), C(-port-<nic>), C(-tap-<tap>), mode
        0600) - a C(bridge), an C(ethernet) port with C(autoconnect-priority=999) (it, not the admin's
        own profile of the NIC, takes the NIC at boot), a C(tun) profile in tap mode per TAP. A running
        NetworkManager loads the changed profiles and activates them (C(nmcli connection load), C(up)),
        which re-applies the same addresses and ports; the admin's profiles are never edited or deleted.
        A bridge's C(forward_delay) below 2 is refused (NetworkManager's range is 2 to 30 seconds).
      - V(auto) picks systemd-networkd when it is enabled and ifupdown configures nothing but C(lo),
        else NetworkManager when it runs and ifupdown configures nothing but C(lo), else ifupdown
        when installed; it fails, naming both, when ifupdown and networkd (or NetworkManager and
        networkd) both manage interfaces. Removal (O(state=absent)) needs no manager - where none
        can be told, our files are looked for in every manager's place.
    type: str
    choices: [auto, ifupdown, networkd, networkmanager]
    default: auto
"""
