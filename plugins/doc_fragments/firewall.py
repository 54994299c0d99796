# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The firewall backend option."""

    DOCUMENTATION = r"""
options:
  backend:
    description:
      - V(nftables) keeps every rule in this collection's own table C(ip hypervisor_networking),
        read as JSON and changed as one nftables transaction that touches only the rules and map
        elements that differ (python3-nftables, else the C(nft) command).
      - V(iptables) writes iptables-legacy with C(iptables-legacy-save) and
        C(iptables-legacy-restore --noflush --wait) into this collection's own chains, reached by one
        jump each (comment C(hypervisor.networking)) from the built-in chains; a change edits only
        the rules that differ, in one restore run under the xtables lock.
      - Every rule of ours carries a comment starting with C(hypervisor.networking).
      - V(auto) uses what the host already uses, V(iptables) when iptables-legacy rules exist or the
        C(iptables) alternative points at iptables-legacy, else V(nftables). It warns when rules
        exist in both worlds, where a drop in either drops the packet.
      - With O(state=absent) and V(auto), the rule set is removed from whichever backend holds it.
      - An accept in one table cannot overrule a drop in another. Wherever an iptables FORWARD
        chain of another world exists (iptables-nft's C(ip filter) written by Docker or libvirt,
        or iptables-legacy's filter table), the FORWARD accepts also go into this collection's own
        chain there, reached by one jump tagged C(hypervisor.networking) at the top of FORWARD and
        written with that world's C(-restore --noflush), so its drops cannot cut our flows and
        its rules stay as they are.
      - Runs of this collection on one host are serialised by a lock under C(/run/hypervisor-networking).
    type: str
    choices: [auto, nftables, iptables]
    default: auto
requirements:
  - nftables backend - python3-nftables (distribution package) or the C(nft) command.
  - iptables backend - C(iptables-legacy-save) and C(iptables-legacy-restore) (Debian package C(iptables)).
"""

    # the firewall modules' persist (guest_network describes its own)
    PERSIST = r"""
options:
  persist:
    description:
      - Also load the rule set at boot. The set's desired state is kept as JSON under
        C(/etc/hypervisor-networking/firewall.d/); from all sets kept there, this collection renders
        C(/etc/hypervisor-networking/nftables.json) (one transaction that replaces the table
        C(ip hypervisor_networking) and nothing else) and, for iptables chains and FORWARD accepts,
        C(/etc/hypervisor-networking/<command>.rules) (C(-restore --noflush) input for our chains only),
        loaded by its own unit C(hypervisor-networking-firewall.service) (enabled under
        C(sysinit.target), after C(nftables.service), C(netfilter-persistent.service) and
        C(firewalld.service), before C(network-pre.target), Docker and libvirt). Rules match
        interfaces by name, so they load before the bridges exist.
      - Forward sets with C(hairpin) keep the bridge subnets found at this run; with C(localhost)
        (iptables_dnat) C(net.ipv4.conf.all.route_localnet = 1) goes into
        C(/etc/sysctl.d/90-hypervisor-networking-route-localnet.conf).
      - The files are written before the runtime change and put back if it fails. The last set's
        removal removes the unit and the files. V(false) changes the running rules only.
    type: bool
    default: true
"""
