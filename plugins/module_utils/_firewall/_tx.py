# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several rule sets as Actions of one Plan, private to this collection.

A network's masquerade, its published ports and its bridge's accepts are planned
together against one reading of the tables:
- our table (nftables) or our chains (iptables-legacy) in ONE transaction: one nft JSON
  transaction, or one ``iptables-legacy-restore`` run (each table committed whole);
- our chains in other tools' iptables FORWARD chains (Docker's, libvirt's, firewalld's),
  one restore per world and set: the ones that go before the transaction, the ones that
  come after it.
Each Action carries its undo as data: for our nft table the table as it was (replaced
whole, in one transaction), for a chain its rules as they were.
"""

from __future__ import annotations

import os

from ansible_collections.hypervisor.networking.plugins.module_utils import _brfw
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _iptables, _nft, _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import DependencyError
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

    def _world(self, xt):
        if xt.command not in [w.command for w in self.worlds]:
            self.worlds.append(xt)


def _snapshot_commands(objects):
    """nft JSON commands putting our table back exactly as ``objects`` lists it (the
    table replaced in one transaction; no table when it did not exist)."""
    table = {"table": {"family": _nft.FAMILY, "name": _nft.TABLE}}
    cmds = [{"add": table}, {"delete": table}]
    for obj in objects:
        cmds.append(_readd(obj))
    return cmds


def _readd(obj):
    """An object as nft lists it -> the command adding it again (counters included)."""
    kind = next(iter(obj))
    fields = dict((k, v) for k, v in obj[kind].items() if k not in ("handle", "flags" if kind == "table" else ""))
    return {"add": {kind: fields}}


def _touched(cmds):
    """({chain}, {map or set}) a transaction's commands name."""
    chains, maps = set(), set()
    for cmd in cmds:
        for kind, body in next(iter(cmd.values())).items():
            if kind == "chain":
                chains.add(body["name"])
            elif kind == "rule":
                chains.add(body["chain"])
            elif kind in ("map", "set", "element"):
                maps.add(body["name"])
    return chains, maps


def _undo_commands(objects, cmds):
    """The transaction undoing ``cmds`` on our table as ``objects`` listed it before: the
    chains and maps it touched are emptied and refilled as they were (rules with their
    comments and counters), the ones it made are deleted; everything else, and the order
    in which nft lists tables, chains and maps, stays as it is."""
    before = _nft.Current(objects)
    table = {"family": _nft.FAMILY, "table": _nft.TABLE}
    if not before.exists:
        return [{"delete": {"table": {"family": _nft.FAMILY, "name": _nft.TABLE}}}]
    if any("delete" in c and "table" in c["delete"] for c in cmds):
        return _snapshot_commands(objects)
    chains, maps = _touched(cmds)
    undo = [{"add": {"table": {"family": _nft.FAMILY, "name": _nft.TABLE}}}]
    undo += [{"add": {"chain": dict(table, name=c)}} for c in sorted(chains)]  # one that went comes back
    undo += [{"flush": {"chain": dict(table, name=c)}} for c in sorted(chains)]
    refill = []
    for name in sorted(maps):
        old = before.maps.get(name)
        kind = _nft._map_kind(old) if old else "set"
        if old is None:
            undo.append({"delete": {"map" if any(c.get("add", {}).get("map", {}).get("name") == name for c in cmds)
                                    else "set": dict(table, name=name)}})
            continue
        undo.append({"delete": {kind: dict(table, name=name)}}) if name in _recreated(cmds) else \
            undo.append({"flush": {kind: dict(table, name=name)}})
        refill.append(_readd({kind: old}))
    for obj in objects:
        if "chain" in obj and obj["chain"]["name"] in chains and "hook" in obj["chain"]:
            refill.insert(0, _readd(obj))  # a base chain's hook and policy as they were
    undo += [{"delete": {"chain": dict(table, name=c)}} for c in sorted(chains) if c not in before.rules]
    undo += refill
    undo += [_readd(obj) for obj in objects if "rule" in obj and obj["rule"]["chain"] in chains]
    return undo


def _recreated(cmds):
    """Maps a transaction deletes and adds again (their type changed)."""
    deleted = set(b["name"] for c in cmds if "delete" in c for k, b in c["delete"].items() if k in ("map", "set"))
    added = set(b["name"] for c in cmds if "add" in c for k, b in c["add"].items() if k in ("map", "set"))
    return deleted & added


USER_LINES = {"create": "create chain %s for the admin's own rules (jumped to before ours)" % _xtables.USER_CHAIN,
              "remove": "remove the empty chain %s (no chain of ours jumps to it)" % _xtables.USER_CHAIN}


def _accepts(fw, sets, nft):
    """ForwardAccepts of every set, with the chain each one fills."""
    found = []
    known, saved = {}, {}  # each FORWARD asked about, each world's filter table read, once for all sets

    def exists(*chain):
        if chain not in known:
            known[chain] = nft is not None and nft.chain_exists(*chain)
        return known[chain]

    if nft is None and any(model is not None for _k, _n, model, _h in sets) and \
            _xtables.Xtables(fw.run_command, fw.get_bin_path, "iptables-nft").usable:
        # iptables-nft's ip filter table (Docker's, libvirt's) is read through nft: without
        # it our accepts would be left out of that FORWARD, and a later run would add them
        raise DependencyError("accepts in iptables-nft's FORWARD (where Docker and libvirt write) need the nft "
                              "tools or python3-nftables to read that table (Debian and RHEL family: package "
                              "nftables)", "nftables")
    legacy_own = fw.backend is not None and fw.backend.name == "iptables"
    # our iptables-legacy chains create its filter table in this run: the bridge's accepts
    # belong there too (a second run would add them)
    legacy_coming = legacy_own and any(_iptables.render(k, m, h).get("fwd") for k, _n, m, h in sets
                                       if k != "bridge" and m is not None)
    for kind, name, model, hairpin in sets:
        if kind == "bridge":
            for stem in ("iptables", "ip6tables"):
                worlds = _xtables.forward_worlds(fw.run_command, fw.get_bin_path, exists,
                                                 seed=bool(model) and nft is not None, stem=stem)
                if stem == "iptables" and legacy_coming and model and \
                        "iptables-legacy" not in [xt.command for xt, _e in worlds]:
                    worlds.append((fw.backend.xt, False))
                rules = _brfw.accept_rules(name) if model else []
                found.append((_brfw.chain_name(name), rules,
                              _xtables.ForwardAccepts(worlds, _brfw.chain_name(name), rules, saved)))
            continue
        rules = _iptables.render(kind, model, hairpin).get("fwd", [])
        chain = _iptables.chain_name(kind, name, "fwd")
        worlds = _xtables.forward_worlds(fw.run_command, fw.get_bin_path, exists,
                                         skip=("iptables-legacy",) if legacy_own else (),
                                         seed=bool(rules) and nft is not None)
        found.append((chain, rules, _xtables.ForwardAccepts(worlds, chain, rules, saved)))
    return found


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
        fw._world(xt)
        undo = _xtables.undo_ops(chain, "FORWARD", accepts.states[xt.command], bool(rules))
        change, carrier = carriers.get(xt.command, (None, None))
        if carrier == chain:
            ops, undo = _with_user_chain(change, ops, undo)
            fw.accept_lines.append("%s: %s" % (xt.command, USER_LINES[change]))
        plan.add("%s: %s our accepts in FORWARD (%s)" % (xt.command, "write" if rules else "remove", chain),
                 "xt_restore", {"command": xt.command, "payload": _xtables.payload([("filter", ops)])},
                 undo=("xt_restore", {"command": xt.command, "payload": _xtables.payload([("filter", undo)])}))
    return plan


def user_chain_change(state, filled, emptied):
    """'create', 'remove' or None: what HN-USER (the admin's chain) needs in a filter table
    ``state`` once this plan fills the FORWARD chains ``filled`` and empties ``emptied``:
    made where a chain of our sets will jump to it, removed where none will while it is
    empty and nothing else jumps to it."""
    user = _xtables.USER_CHAIN
    rules = (state or {}).get("rules", {})
    ours = set(c for c in rules if _xtables.SET_FORWARD.match(c))
    after = (ours - set(emptied)) | set(filled)
    if after and user not in rules:
        return "create"
    foreign = [c for c, lines in rules.items() if c not in ours and any(l.endswith("-j " + user) for l in lines)]
    if not after and user in rules and not rules[user] and not foreign:
        return "remove"
    return None


def _with_user_chain(change, ops, undo):
    """Restore lines (ops, undo) with HN-USER made first or removed last, in the same
    restore as the chain that needs it (undone with it)."""
    create, delete = ":%s - [0:0]" % _xtables.USER_CHAIN, "-X " + _xtables.USER_CHAIN
    if change == "create":
        return [create] + ops, undo + [delete]
    if change == "remove":
        return ops + [delete], [create] + undo
    return ops, undo


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
        change = user_chain_change(state, filled, emptied)
        if change:
            carriers[command] = (change, filled[0] if change == "create" else emptied[-1])
    return carriers


def _nft_actions(fw, sets):
    """Our nft table's change for every set: one transaction, undone by the table as it was."""
    backend = fw.backend
    objects = backend.table_objects()
    current = _nft.Current(objects)
    prefixes = ["%s_%s_" % (kind, name) for kind, name, _m, _h in sets if kind != "bridge"]
    # exactly the chains these sets own: set lan_b's chains start with set lan's prefix
    owned = set(p + s for p in prefixes for s in _nft.SUFFIX_BASE)
    cmds, wanted = [], False
    planned = set(name for kind, name, _m, _h in sets if kind == "dnat")
    fw.localhost_elsewhere = any(c.startswith("dnat_") and c.endswith("_out") and c[len("dnat_"):-len("_out")]
                                 not in planned for c in current.rules)
    # in the order of their chains' names: new jumps then land where the boot load puts them
    for kind, name, model, hairpin in sorted(sets, key=lambda s: "%s_%s_" % s[:2]):
        if kind == "bridge":
            continue
        prefix = "%s_%s_" % (kind, name)
        want = backend.desired(kind, name, model, hairpin)
        wanted = wanted or bool(want.chains)
        set_cmds, lines = _nft._plan_table(current, prefix, want, siblings=[p for p in prefixes if p != prefix])
        fw.lines.extend(lines)
        cmds.extend(set_cmds)
        fw.before.update(_nft._view(current, prefix, want))
        fw.after.update(_nft._desired_view(want))
    plan = Plan()
    if not cmds:
        return plan
    others = [c for c in current.rules if c not in current.base and c not in owned]
    if not wanted and not others:
        fw.lines.append("nftables: delete table %s %s (nothing of ours left)" % (_nft.FAMILY, _nft.TABLE))
        cmds = [{"delete": {"table": {"family": _nft.FAMILY, "name": _nft.TABLE}}}]
    summary = "nftables: one transaction on table %s %s (%d commands)" % (_nft.FAMILY, _nft.TABLE, len(cmds))
    plan.add(summary, "nft_run", {"commands": cmds}, undo=("nft_run", {"commands": _undo_commands(objects, cmds)}))
    return plan


def _legacy_actions(fw, sets):
    """Our iptables-legacy chains of every set: one restore (nat, then filter)."""
    backend = fw.backend
    state = backend.state()
    mine = set(_iptables.chain_name("dnat", n, "out") for kind, n, _m, _h in sets if kind == "dnat")
    fw.localhost_elsewhere = any(c.startswith("HN-ON-") and c not in mine
                                 for c in state.get("nat", {}).get("rules", {}))
    ops, undo = {"nat": [], "filter": []}, {"nat": [], "filter": []}
    for kind, name, model, hairpin in sets:
        if kind == "bridge":
            continue
        desired = _iptables.render(kind, model, hairpin)
        for suffix in sorted(_iptables.HOOKS):
            table, builtin = _iptables.HOOKS[suffix]
            chain = _iptables.chain_name(kind, name, suffix)
            edit = _xtables.ChainEdit(table, chain, builtin, desired.get(suffix, []))
            lines, edit_ops = edit.plan(state.get(table))
            fw.lines.extend("iptables: " + l for l in lines)
            if edit.view(state.get(table)):
                fw.before[chain] = edit.view(state.get(table))
            if edit.rules:
                fw.after[chain] = [r for _c, r in edit.rules]
            if edit_ops:
                ops[table].extend(edit_ops)
                undo[table].extend(_xtables.undo_ops(chain, builtin, state.get(table), bool(edit.rules)))
    fwd = [_iptables.chain_name(k, n, "fwd") for k, n, _m, _h in sets if k != "bridge"]
    filled = [c for c in fwd if c in fw.after]
    change = user_chain_change(state.get("filter"), filled, [c for c in fwd if c not in filled])
    if change:
        ops["filter"], undo["filter"] = _with_user_chain(change, ops["filter"], undo["filter"])
        fw.lines.append("iptables: " + USER_LINES[change])
    plan = Plan()
    text = _xtables.payload([(t, ops[t]) for t in ("nat", "filter")])
    if text:
        fw._world(backend.xt)
        plan.add("iptables-legacy: one restore of our chains (%d lines)" % (len(ops["nat"]) + len(ops["filter"])),
                 "xt_restore", {"command": backend.xt.command, "payload": text},
                 undo=("xt_restore", {"command": backend.xt.command,
                                      "payload": _xtables.payload([(t, undo[t]) for t in ("filter", "nat")])}))
    return plan


def plan_sets(backend, sets, nft, run_command, get_bin_path, accepts=True):
    """[(kind, name, model or None, hairpin subnets)] -> FirewallPlan: the sets exactly as
    their models say (None: gone). Kinds: masq, dnat, and bridge (model True: our
    accepts for frames bridged within that bridge). ``nft``: the nft backend where
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
    if backend is None:
        table = Plan()
    else:
        table = _nft_actions(fw, sets) if backend.name == "nftables" else _legacy_actions(fw, sets)
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
