# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables-legacy backend over iptables-legacy-save/-restore, private to this collection.

IPv6 sets live in ip6tables-legacy, written the same way. Each rule set owns chains
``HN-<hook><kind>-<name>`` (``RuleSet.xt_chain``: 28 characters at most; longer names end
in a digest), reached by one jump tagged ``hypervisor.networking`` at the top of the
built-in chain. One ``*-legacy-restore --noflush --wait`` run per change and family,
tables ordered so that a run cut off between them opens nothing the final state does
not: nat before filter when adding (a DNAT or masquerade without its accept is closed;
an accept without its masquerade would forward guests' private addresses), filter before
nat when the accepts go. Where iptables-nft's FORWARD exists too (Docker, libvirt and
firewalld write there), the same accepts go into our chain there, or its drop would win.
"""

from __future__ import annotations

import re

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import DependencyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._backend import FirewallBackend
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    CT_MARK,
    FAMILIES,
    IPV4,
    IPV6,
    KINDS,
    DnatSet,
    MasqueradeSet,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

HOOKS = {"post": ("nat", "POSTROUTING"), "pre": ("nat", "PREROUTING"),
         "out": ("nat", "OUTPUT"), "fwd": ("filter", "FORWARD"), "in": ("filter", "INPUT")}
SET_CHAIN = re.compile(r"^HN-[PDOFI][MN]-")  # a chain of one of our rule sets
COMMAND = {IPV4: "iptables-legacy", IPV6: "ip6tables-legacy"}
HOST_BITS = {IPV4: "/32", IPV6: "/128"}


def masquerade_rules(rset):
    """MasqueradeSet -> {suffix: [tokens]}: excluded destinations RETURN first."""
    rule = rset.model
    out = ["-o", rule.out_interface] if rule.out_interface else []
    chains = {}
    if rule.nat:
        chains["post"] = [["-d", net, "-j", "RETURN"] for net in rule.exclude] + \
            [["-s", rule.source] + out + ["-j", "MASQUERADE"]]
    fwd = rset.accept_rules()
    if fwd:
        chains["fwd"] = fwd
    return chains


def _port(rng):
    """(lo, hi) -> '80' or '5000:5010'."""
    return str(rng[0]) if rng[0] == rng[1] else "%d:%d" % rng


def _dnat_rules(fwd, family, local, mark):
    """One forward: per source (and per port where a range is shifted), the connmark
    rule (with ``mark``) then the DNAT, both with the same match."""
    if local and fwd.in_interface:
        return []
    to_addr = fwd.to_addr if family == IPV4 else "[%s]" % fwd.to_addr
    if fwd.port == fwd.to_port:
        targets = [(fwd.port, fwd.to_addr)]
    else:
        targets = [((hp, hp), "%s:%d" % (to_addr, tp)) for hp, tp in fwd.pairs()]
    rules = []
    for src in fwd.sources or [None]:
        for ports, to in targets:
            match = ["-s", src] if src else []
            match += ["-d", fwd.destination + HOST_BITS[family]] if fwd.destination else []
            match += ["-i", fwd.in_interface] if fwd.in_interface and not local else []
            match += ["-p", fwd.proto]
            match += [] if fwd.destination else ["-m", "addrtype", "--dst-type", "LOCAL"]
            match += ["-m", fwd.proto, "--dport", _port(ports)]
            if mark:
                rules.append(match + ["-j", "CONNMARK", "--set-xmark", "0x%x/0x%x" % (CT_MARK, CT_MARK)])
            rules.append(match + ["-j", "DNAT", "--to-destination", to])
    return rules


def dnat_rules(rset):
    """DnatSet -> {suffix: [tokens]}; the nat chains see only a connection's first packet.
    Connections the host opens to 127.0.0.0/8 (``localhost``) are IPv4 only."""
    fset, family = rset.model, rset.family
    chains = {}
    pre = [r for f in fset.forwards for r in _dnat_rules(f, family, False, fset.forward)]
    if pre:
        chains["pre"] = pre
    out = [r for f in fset.forwards for r in _dnat_rules(f, family, True, False)] if fset.localhost else []
    if out:
        chains["out"] = out
    post = []
    if fset.hairpin and fset.forwards:
        post.extend(["-s", net, "-o", ifname, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"]
                    for net, ifname in rset.hairpin)
    if fset.localhost and fset.forwards and family == IPV4:
        post.append(["-s", "127.0.0.0/8", "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"])
        # route_localnet lets any interface reach 127.0.0.0/8: only our DNAT's may
        chains["in"] = [["-d", "127.0.0.0/8", "!", "-i", "lo", "-m", "conntrack", "!", "--ctstate", "DNAT",
                         "-j", "DROP"]]
    if post:
        chains["post"] = post
    fwd = rset.accept_rules()
    if fwd:
        chains["fwd"] = fwd
    return chains


_RENDER = {MasqueradeSet: masquerade_rules, DnatSet: dnat_rules}  # the sets with chains of their own here


def render(rset):
    """The rule set's chains as {suffix: [tokens]} (empty when the set is to go or has none)."""
    return _RENDER[type(rset)](rset) if rset and type(rset) in _RENDER else {}


def _chain_edits(rset):
    """[ChainEdit] of the set's own chains, one per hook (empty ones: the chain goes)."""
    chains = render(rset)
    return [_xtables.ChainEdit(HOOKS[suffix][0], rset.xt_chain(suffix), HOOKS[suffix][1], chains.get(suffix, []))
            for suffix in sorted(HOOKS)]


class IptablesBackend(FirewallBackend):
    """Rule sets in iptables-legacy (IPv4) and ip6tables-legacy (IPv6), each written with
    one ``*-restore`` run."""

    name = "iptables"

    def __init__(self, run_command, get_bin_path, xts):
        super(IptablesBackend, self).__init__(run_command, get_bin_path)
        self.xts = xts  # {family: Xtables}
        self.xt = xts[IPV4]

    def available(self):
        return self.xt.usable

    def state(self, family=IPV4, counters=False):
        """Our family's tables as they are now (absent legacy tables are not read: that
        creates them)."""
        xt = self.xts[family]
        if not xt.usable:
            return {}
        return xt.save([t for t in ("nat", "filter") if t in _xtables.legacy_tables(xt.stem)], counters)

    desired = staticmethod(render)

    @classmethod
    def own_accepts(cls, rset):
        return COMMAND[rset.family] if type(rset) in _RENDER else None

    def legacy_world(self, stem):
        return dict((xt.stem, xt) for xt in self.xts.values()).get(stem)

    def present(self, rset):
        # its nat chains: a FORWARD chain of the same name may be the accepts an nftables
        # set keeps in iptables-legacy's FORWARD, not a set of this backend
        state = self.state(rset.family)
        return any(rset.xt_chain(s) in state.get(t, {}).get("rules", {}) for s, (t, _b) in HOOKS.items()
                   if t == "nat")

    def plan(self, fw, rulesets):
        """Our chains of every set: one restore per family (nat, then filter)."""
        plan = Plan()
        for family in FAMILIES:
            sets = [r for r in rulesets if r.family == family and type(r) in _RENDER]
            if family == IPV4:
                state = self.state(family)
                mine = set(r.xt_chain("out") for r in sets if isinstance(r, DnatSet))
                # connections the host opens to 127.0.0.0/8 (IPv4 only): other sets of ours
                fw.localhost_elsewhere = any(c.startswith("HN-ON-") and c not in mine
                                             for c in state.get("nat", {}).get("rules", {}))
            elif not sets:
                continue
            elif not self.xts[family].usable:
                if any(sets):
                    raise DependencyError("IPv6 rule sets on the iptables backend need ip6tables-legacy-save and "
                                          "ip6tables-legacy-restore (Debian: package iptables)", "ip6tables")
                continue
            else:
                state = self.state(family)
            plan.extend(self._plan_family(fw, family, state, sets))
        return plan

    def _plan_family(self, fw, family, state, sets):
        xt = self.xts[family]
        ops, undo = {"nat": [], "filter": []}, {"nat": [], "filter": []}
        for rset in sets:
            for edit in _chain_edits(rset):
                lines, edit_ops = edit.plan(state.get(edit.table))
                fw.lines.extend("%s: %s" % ("iptables" if family == IPV4 else xt.stem, l) for l in lines)
                key = edit.chain if family == IPV4 else "%s %s" % (xt.stem, edit.chain)
                if edit.view(state.get(edit.table)):
                    fw.before[key] = edit.view(state.get(edit.table))
                if edit.rules:
                    fw.after[key] = [r for _c, r in edit.rules]
                if edit_ops:
                    ops[edit.table].extend(edit_ops)
                    undo[edit.table].extend(_xtables.undo_ops(edit.chain, edit.builtin, state.get(edit.table),
                                                              bool(edit.rules)))
        fwd = [r.xt_chain("fwd") for r in sets]
        filled = [c for r, c in zip(sets, fwd) if r.accept_rules()]
        change = _xtables.user_chain_change(state.get("filter"), filled, [c for c in fwd if c not in filled])
        if change:
            ops["filter"], undo["filter"] = _xtables.with_user_chain(change, ops["filter"], undo["filter"])
            fw.lines.append("%s: %s" % ("iptables" if family == IPV4 else xt.stem, _xtables.USER_LINES[change]))
        plan = Plan()
        text = _xtables.payload([(t, ops[t]) for t in ("nat", "filter")])
        if text:
            fw.add_world(xt)
            plan.add("%s: one restore of our chains (%d lines)" % (xt.command, len(ops["nat"]) + len(ops["filter"])),
                     "xt_restore", {"command": xt.command, "payload": text},
                     undo=("xt_restore", {"command": xt.command,
                                          "payload": _xtables.payload([(t, undo[t]) for t in ("filter", "nat")])}))
        return plan

    @classmethod
    def boot_load(cls, rulesets):
        """{command: [ChainEdit]} of the stored sets' own chains."""
        edits = {}
        for rset in rulesets:
            if rset and type(rset) in _RENDER:
                edits.setdefault(COMMAND[rset.family], []).extend(e for e in _chain_edits(rset) if e.rules)
        return edits

    def running(self, names=()):
        """Our sets as they run, counters summed over their chains; chain names are read
        back through the sets of ``names`` (their digest-shortened chains included)."""
        sets = {}
        for family in FAMILIES:
            chains = {}
            for name in names:
                for cls in _RENDER:
                    rset = cls(name, None, family)
                    chains.update((rset.xt_chain(s), (rset.kind, name)) for s in HOOKS)
            for table in self.state(family, counters=True).values():
                for chain, rules in table["rules"].items():
                    match = re.match(r"^HN-[PDOFI]([MN])-(.+)\Z", chain)
                    if not match:
                        continue
                    kind, name = chains.get(chain) or (_KIND_OF_LETTER[match.group(1)], match.group(2))
                    entry = sets.setdefault((family, kind, name),
                                            {"rules": 0, "packets": 0, "bytes": 0, "translates": False})
                    entry["rules"] += len(rules)
                    entry["translates"] = entry["translates"] or any(
                        re.search(r"-j (MASQUERADE|DNAT)\b", r) for r in rules)
                    for packets, nbytes in table.get("counters", {}).get(chain, []):
                        entry["packets"] += packets
                        entry["bytes"] += nbytes
        return [dict(entry, kind=KINDS[k].shown, name=n, family=f, backend=self.name)
                for (f, k, n), entry in sorted(sets.items())]

    def forward_rows(self, names=()):
        """Each published port of our forward sets as it runs (one row per DNAT rule: per
        source, and per port where a range is shifted), with its packets (connections)."""
        rows = []
        for family in FAMILIES:
            chains = dict((DnatSet(n, None, family).xt_chain("pre"), n) for n in names)
            nat = self.state(family, counters=True).get("nat", {})
            for chain, lines in sorted(nat.get("rules", {}).items()):
                if not chain.startswith("HN-DN-"):
                    continue
                counters = nat.get("counters", {}).get(chain) or [(0, 0)] * len(lines)
                for line, (packets, nbytes) in zip(lines, counters):
                    match = re.search(r"-p (\w+) .*--dport (\d+(?::\d+)?) .*-j DNAT --to-destination (\S+)$", line)
                    if not match:
                        continue
                    to_addr, to_port = _target(match.group(3))
                    narrowing = dict((key, found.group(1)) for key, found in (
                        (k, re.search(r"(?:^| )%s (\S+)" % flag, line)) for k, flag in (
                            ("in_interface", "-i"), ("sources", "-s"), ("destination", "-d"))) if found)
                    port = match.group(2).replace(":", "-")
                    rows.append({"set": chains.get(chain, chain[len("HN-DN-"):]), "family": family,
                                 "backend": self.name, "proto": match.group(1),
                                 "port": int(port) if port.isdigit() else port, "to_addr": to_addr,
                                 "to_port": to_port or (int(port) if port.isdigit() else port), "match": narrowing,
                                 "packets": packets, "bytes": nbytes})
        return rows

    def forward_target(self, name, port, proto="tcp", families=FAMILIES):
        for family in families:
            xt = self.xts[family]
            if not xt.usable or "nat" not in _xtables.legacy_tables(xt.stem):
                continue
            lines = xt.save(["nat"]).get("nat", {}).get("rules", {}).get(DnatSet(name, None, family).xt_chain("pre"))
            for line in lines or []:
                match = re.search(r"-p %s .*--dport (\d+)(?::(\d+))? .*-j DNAT --to-destination (\S+)$" % proto, line)
                if match and int(match.group(1)) <= port <= int(match.group(2) or match.group(1)):
                    to_addr, to_port = _target(match.group(3))
                    narrowed = bool(re.search(r"(^| )(-i|-s|-d) ", line))
                    return to_addr, (to_port + port - int(match.group(1))) if to_port else port, narrowed
        return None


def _target(text):
    """'10.0.0.2:80', '[fd00::2]:80', 'fd00::2' -> (address, port or None)."""
    if text.startswith("["):
        addr, _sep, port = text[1:].partition("]")
        return addr, int(port[1:]) if port else None
    if text.count(":") == 1:
        addr, port = text.split(":")
        return addr, int(port)
    return text, None


_KIND_OF_LETTER = dict((cls.letter, cls.kind) for cls in _RENDER)
