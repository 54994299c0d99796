# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bridged frames past other tools' FORWARD drops, private to this collection.

A bridge's ``nf_call_iptables`` flag only adds to the namespace-wide switch
net.bridge.bridge-nf-call-iptables: the kernel passes a bridged frame to iptables when
either is on. br_netfilter turns the switch on in every namespace as it loads, and
Docker loads it and sets the FORWARD policy to DROP, so on such a host the frames of a
bridge with ``nf_call_iptables: false`` still meet that drop. Turning the switch off
would change Docker's own setting; instead, wherever a FORWARD chain exists (iptables-nft
or iptables-legacy, IPv4 and IPv6), the bridge gets our chain ``HN-FB-<bridge>`` accepting
the frames bridged within it, reached by one jump tagged ``hypervisor.networking`` at the
top of FORWARD, each table written in one ``*-restore --noflush`` transaction (planned
by _firewall._tx with the firewall sets). They are placed whether or not the switch is on now: Docker loads
br_netfilter (switch on) and sets its drop when it starts, which may be after our run;
iptables-nft's IPv4 ``ip filter`` is created for them when absent, so that drop finds
them first (and is removed with them when nothing else came to use it).
"""

from __future__ import annotations


def chain_name(bridge):
    """HN-FB-br0: at most 21 characters for a 15-character bridge name."""
    return "HN-FB-%s" % bridge


def accept_rules(bridge):
    """The chain's rules as tokens: frames bridged between ports of ``bridge`` (routed
    traffic in and out of the bridge is not matched)."""
    return [["-i", bridge, "-o", bridge, "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"]]
