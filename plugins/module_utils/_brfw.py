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
top of FORWARD, each table written in one ``*-restore --noflush`` transaction (see
_firewall._xtables). They are placed whether or not the switch is on now: Docker loads
br_netfilter (switch on) and sets its drop when it starts, which may be after our run;
iptables-nft's IPv4 ``ip filter`` is created for them when absent, so that drop finds
them first (and is removed with them when nothing else came to use it).
"""

from __future__ import annotations

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _nft, _xtables


def chain_name(bridge):
    """HN-FB-br0: at most 21 characters for a 15-character bridge name."""
    return "HN-FB-%s" % bridge


def accept_rules(bridge):
    """The chain's rules as tokens: frames bridged between ports of ``bridge`` (routed
    traffic in and out of the bridge is not matched)."""
    return [["-i", bridge, "-o", bridge, "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"]]


class Plan(object):
    """The FORWARD changes for one bridge: lines, apply, undo, and the revert steps."""

    def __init__(self):
        self.items = []  # (Xtables, payload, undo payload)
        self.accepts = []  # the ForwardAccepts behind them (seeding and its cleanup)
        self.lines = []
        self.before, self.after = {}, {}

    def __bool__(self):
        return bool(self.items)

    __nonzero__ = __bool__

    def apply(self):
        """Each table in one transaction; if a later one is refused, the earlier are undone."""
        for accepts in self.accepts:
            accepts.before_write()
        self._write()
        for accepts in self.accepts:
            accepts.after_write()

    def _write(self):
        done = []
        for xt, payload, undo in self.items:
            try:
                xt.restore(payload)
            except ApplyError:
                for xt_done, undo_done in reversed(done):
                    xt_done.restore(undo_done)
                raise
            done.append((xt, undo))

    def undo(self):
        """Put every table back as it was (after a later failure)."""
        for xt, _payload, undo in reversed(self.items):
            xt.restore(undo)

    def revert_steps(self):
        """The undo as {argv, input} steps for an armed revert, last change first."""
        return [{"argv": xt.restore_argv(), "input": undo} for xt, _payload, undo in reversed(self.items)]


def _undo_ops(chain, state, placed):
    """Restore lines putting our chain back as ``state`` holds it, after a change that
    ``placed`` the chain and its jump (else removed both)."""
    rules = (state or {}).get("rules", {})
    jump = " ".join(_xtables.JUMP + ["-j", chain])
    had_jump = jump in rules.get("FORWARD", [])
    if chain not in rules:
        return ["-D FORWARD " + jump, "-F " + chain, "-X " + chain]
    ops = [":%s - [0:0]" % chain] + ["-A %s %s" % (chain, r) for r in rules[chain]]
    if placed:
        return ops + ([] if had_jump else ["-D FORWARD " + jump])
    return ops + (["-I FORWARD 1 " + jump] if had_jump else [])


def plan(bridge, want, run_command, get_bin_path):
    """Plan our FORWARD chains for ``bridge``: present where wanted, else gone.

    ``want``: the bridge's frames are to skip iptables (nf_call_iptables false, state
    present). ``before``/``after`` map "<command>" to the chain's rules, for the diff.
    """
    result = Plan()
    chain = chain_name(bridge)
    nft = _nft.NftBackend(run_command, get_bin_path)
    exists = nft.chain_exists if nft.available() else (lambda *a: False)
    for stem in ("iptables", "ip6tables"):
        worlds = _xtables.forward_worlds(run_command, get_bin_path, exists, seed=want and nft.available(), stem=stem)
        accepts = _xtables.ForwardAccepts(worlds, chain, accept_rules(bridge) if want else [], nft)
        for xt, lines, ops, before, after in accepts.items:
            if before or after:
                result.before[xt.command], result.after[xt.command] = before, after
            if ops:
                state = accepts.states[xt.command]
                result.lines.extend(lines)
                result.items.append((xt, _xtables.payload([("filter", ops)]),
                                     _xtables.payload([("filter", _undo_ops(chain, state, bool(want)))])))
        result.accepts.append(accepts)
    return result
