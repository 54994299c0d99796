# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several rule sets as Actions of one Plan, private to this collection.

A network's rule sets (its masquerades, its published ports, in both families, and its
bridge's accepts: ``_model.RuleSet`` objects) are planned together against one reading
of the tables:
- the backend's own tables or chains: ``backend.plan`` (one nft JSON transaction, or one
  ``*-legacy-restore`` run per family);
- our chains in other tools' iptables FORWARD chains (Docker's, libvirt's, firewalld's,
  IPv4 and IPv6), one restore per world and set: the ones that go before the backend's
  transaction, the ones that come after it.
Each Action carries its undo as data.
"""

from __future__ import annotations

import os

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import DependencyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan


class FirewallPlan(object):
    """The Actions and what the user sees of them (lines, before/after per chain)."""

    def __init__(self, backend, run_command, get_bin_path):
        self.backend = backend
        self.run_command, self.get_bin_path = run_command, get_bin_path
        self.plan = Plan()
        self.lines = []
        self.accept_lines = []  # after the table's lines (the order the modules always reported)
        self.before, self.after = {}, {}
        self.worlds = []  # Xtables the actions write through
        # a forward set of ours that this plan leaves alone has localhost forwards (it
        # needs route_localnet as much as the planned ones)
        self.localhost_elsewhere = False

    def __bool__(self):
        return bool(self.plan)

    __nonzero__ = __bool__

    def add_world(self, xt):
        """Note an iptables world the actions write through (the executor's writers)."""
        if xt.command not in [w.command for w in self.worlds]:
            self.worlds.append(xt)


def _accepts(fw, sets, nft):
    """[(chain, rules, ForwardAccepts)] of every set: its accepts in each iptables world's
    FORWARD of its family (or both, for a bridge's)."""
    found = []
    known, saved = {}, {}  # each FORWARD asked about, each world's filter table read, once for all sets

    def exists(*chain):
        if chain not in known:
            known[chain] = nft is not None and nft.chain_exists(*chain)
        return known[chain]

    if nft is None and any(sets) and _xtables.Xtables(fw.run_command, fw.get_bin_path, "iptables-nft").usable:
        # iptables-nft's ip filter table (Docker's, libvirt's) is read through nft: without
        # it our accepts would be left out of that FORWARD, and a later run would add them
        raise DependencyError("accepts in iptables-nft's FORWARD (where Docker and libvirt write) need the nft "
                              "tools or python3-nftables to read that table (Debian and RHEL family: package "
                              "nftables)", "nftables")
    backend = fw.backend
    # our iptables-legacy chains create its filter table in this run: the accepts of the sets
    # that have no chain of their own there (a bridge's) belong there too (a second run would add them)
    coming = set(r.stems[0] for r in sets if backend is not None and backend.own_accepts(r) and r.accept_rules())
    for rset in sets:
        rules = rset.accept_rules()
        chain = rset.xt_chain("fwd")
        # a set of the iptables backend keeps its accepts in its own legacy chain
        skip = (backend.own_accepts(rset),) if backend is not None and backend.own_accepts(rset) else ()
        for stem in rset.stems:
            worlds = _xtables.forward_worlds(fw.run_command, fw.get_bin_path, exists, skip=skip,
                                             seed=bool(rules) and nft is not None, stem=stem)
            own = backend.legacy_world(stem) if backend is not None and not skip and stem in coming and rules else None
            if own is not None and own.command not in [xt.command for xt, _e in worlds]:
                worlds.append((own, False))
            found.append((chain, rules, _xtables.ForwardAccepts(worlds, chain, rules, saved)))
    return found


def _elsewhere(rset, backend):
    """The set lives in a backend of its own, not the host's (an overlay's guard)."""
    return rset.own_backend is not None and (backend is None or rset.own_backend != backend.name)


def _guards(fw, sets, nft):
    """The plan of the sets held by nftables whatever the host's backend (the overlays'
    guards, in nftables' bridge table)."""
    if not sets:
        return Plan()
    if nft is None:
        if any(sets):
            raise DependencyError("an overlay network's guard (DHCP and the anycast gateway's frames kept off the "
                                  "tunnel) is an nftables bridge table: it needs the nft tools or python3-nftables "
                                  "(Debian and RHEL family: package nftables)", "nftables")
        return Plan()
    return nft.plan(fw, sets)


def _accept_actions(fw, chain, rules, accepts, carriers):
    """Actions writing one set's accepts into each world that changes (with HN-USER's
    creation or removal where this chain carries it)."""
    plan = Plan()
    if accepts.seed:
        path, text = _xtables.seed_note()
        plan.add("note that iptables-nft's ip filter table is ours", "seed_mark", {"path": path, "text": text},
                 undo=("unseed_ip_filter", {}))
    for xt, lines, ops, before, after in accepts.items:
        if before:
            fw.before["%s %s" % (xt.command, chain)] = before
        if after:
            fw.after["%s %s" % (xt.command, chain)] = after
        if not ops:
            continue
        fw.accept_lines.extend(lines)
        fw.add_world(xt)
        undo = _xtables.undo_ops(chain, "FORWARD", accepts.states[xt.command], bool(rules))
        change, carrier = carriers.get(xt.command, (None, None))
        if carrier == chain:
            ops, undo = _xtables.with_user_chain(change, ops, undo)
            fw.accept_lines.append("%s: %s" % (xt.command, _xtables.USER_LINES[change]))
        plan.add("%s: %s our accepts in FORWARD (%s)" % (xt.command, "write" if rules else "remove", chain),
                 "xt_restore", {"command": xt.command, "payload": _xtables.payload([("filter", ops)])},
                 undo=("xt_restore", {"command": xt.command, "payload": _xtables.payload([("filter", undo)])}))
    return plan


def _user_chain_carriers(accepts):
    """{world: (change, chain)}: per iptables world, the accept chain whose restore carries
    HN-USER's creation (the first one filled) or removal (the last one emptied)."""
    worlds = {}
    for chain, rules, each in accepts:
        if not _xtables.SET_FORWARD.match(chain):
            continue  # the bridges' accepts do not jump to the admin's chain
        for xt, _l, ops, _b, _a in each.items:
            world = worlds.setdefault(xt.command, [each.states.get(xt.command), [], []])
            if ops:
                world[1 if rules else 2].append(chain)
    carriers = {}
    for command, (state, filled, emptied) in worlds.items():
        change = _xtables.user_chain_change(state, filled, emptied)
        if change:
            carriers[command] = (change, filled[0] if change == "create" else emptied[-1])
    return carriers


def plan_sets(backend, sets, nft, run_command, get_bin_path, accepts=True):
    """[RuleSet] -> FirewallPlan: the sets exactly as their models say (None: gone).
    ``nft``: the nft backend where
    nftables is usable (it holds iptables-nft's FORWARD), else None. ``backend`` None:
    bridge sets only (no table of ours). ``accepts`` False: the table only (a second
    backend's copy of a set goes; the accepts are planned with the first)."""
    fw = FirewallPlan(backend, run_command, get_bin_path)
    accepts = _accepts(fw, sets, nft) if accepts else []
    # the ip filter table we created goes when the last of our chains leaves it (all sets
    # together: each set alone sees the others' chains there)
    states = [each.states["iptables-nft"] for _c, _r, each in accepts if each.states.get("iptables-nft")]
    chains = [chain for chain, _r, _e in accepts]
    unseed = bool(nft is not None and states and not any(rules for _c, rules, _e in accepts)
                  and os.path.exists(_xtables.seed_note()[0])
                  and all(_xtables.only_ours(state, chains) for state in states))
    seen, seeding = set(), False
    for _chain, _rules, each in accepts:
        each.seed, seeding = each.seed and not seeding, seeding or each.seed  # one note, by the first
        for xt, lines, _o, _b, _a in each.items:
            # "create iptables-nft's ip filter table" once, not once per set
            lines[:] = [l for l in lines if not (l.startswith(xt.command + ": create") and l in seen)]
            seen.update(lines)
    table = Plan() if backend is None else backend.plan(fw, [r for r in sets if not _elsewhere(r, backend)])
    table.extend(_guards(fw, [r for r in sets if _elsewhere(r, backend)], nft))
    carriers = _user_chain_carriers(accepts)
    # accepts that go leave before the rules they let through, new ones come after them
    for chain, rules, each in accepts:
        if not rules:
            fw.plan.extend(_accept_actions(fw, chain, rules, each, carriers))
    fw.plan.extend(table)
    for chain, rules, each in accepts:
        if rules:
            fw.plan.extend(_accept_actions(fw, chain, rules, each, carriers))
    fw.lines.extend(fw.accept_lines)
    if unseed:
        fw.lines.append("iptables-nft: delete iptables-nft's ip filter table (created by this collection, now empty)")
        fw.plan.add("delete iptables-nft's ip filter table (ours, now empty)", "unseed_ip_filter", {})
    return fw
