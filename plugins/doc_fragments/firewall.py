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
      - V(nftables) keeps every rule in this collection's own table C(ip hypervisor_networking)
        and applies a change as one nftables transaction (python3-nftables, else the C(nft) command).
      - V(iptables) uses python-iptables, which writes iptables-legacy tables, into this collection's
        own chains, reached by one jump each (comment C(hypervisor.networking)) from the built-in chains.
      - V(auto) uses what the host already uses, V(iptables) when iptables-legacy rules exist or the
        C(iptables) alternative points at iptables-legacy, else V(nftables). It warns when rules
        exist in both worlds, where a drop in either drops the packet.
      - With O(state=absent) and V(auto), the rule set is removed from whichever backend holds it.
      - On nftables, an accept in one table cannot overrule a drop in another. Where the
        iptables-nft C(ip filter) FORWARD chain has policy drop (Docker on an nftables host), the
        FORWARD accepts also go into this collection's own chain in that table, reached by one
        jump tagged C(hypervisor.networking) and written with C(iptables-nft-restore --noflush),
        so iptables-nft and Docker keep working and their rules stay as they are.
    type: str
    choices: [auto, nftables, iptables]
    default: auto
requirements:
  - nftables backend - python3-nftables (distribution package) or the C(nft) command.
  - iptables backend - python-iptables (Debian C(python3-iptables)) and iptables-legacy.
"""
