# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables (legacy) backend over python-iptables, private to this collection.

Each rule set owns chains ``HN-<hook><kind>-<name>`` (28 characters at most), reached by
one jump each from the built-in chain, inserted first and tagged with the comment
``hypervisor.networking``. Rules are compared as python-iptables reads them back.
Each table is changed with autocommit off and committed in one go; if the second
table's commit fails, the first table is put back as it was.
"""

from __future__ import annotations

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError

JUMP_COMMENT = "hypervisor.networking"
HOOKS = {"post": ("nat", "POSTROUTING"), "pre": ("nat", "PREROUTING"),
         "out": ("nat", "OUTPUT"), "fwd": ("filter", "FORWARD")}
_HOOK_LETTER = {"post": "P", "pre": "D", "out": "O", "fwd": "F"}
_KIND_LETTER = {"masq": "M", "dnat": "N"}
_ANY = "0.0.0.0/0.0.0.0"
LEGACY_TABLES = "/proc/net/ip_tables_names"  # per network namespace


def legacy_tables():
    """Names of the iptables-legacy tables that exist in this namespace."""
    try:
        with open(LEGACY_TABLES) as handle:
            return sorted(set(handle.read().split()))
    except (IOError, OSError):
        return []


def chain_name(kind, name, suffix):
    """HN-PM-lan style chain name."""
    return "HN-%s%s-%s" % (_HOOK_LETTER[suffix], _KIND_LETTER[kind], name)


def spec(src=None, dst=None, iif=None, oif=None, proto=None, matches=(), target="ACCEPT", target_params=None):
    """A rule as plain data: the desired side of a comparison."""
    return {"src": src, "dst": dst, "iif": iif, "oif": oif, "proto": proto,
            "matches": [(n, dict(p)) for n, p in matches], "target": target,
            "target_params": dict(target_params or {})}


def masquerade_chains(rule):
    """Masquerade -> {suffix: [spec]}: excluded destinations RETURN first."""
    post = [spec(dst=net, target="RETURN") for net in rule.exclude]
    post.append(spec(src=rule.source, oif=rule.out_interface, target="MASQUERADE"))
    chains = {"post": post}
    if rule.forward:
        chains["fwd"] = [
            spec(src=rule.source, oif=rule.out_interface),
            spec(dst=rule.source, iif=rule.out_interface,
                 matches=[("conntrack", {"ctstate": "RELATED,ESTABLISHED"})]),
        ]
    return chains


def _mask_to_prefix(text):
    """'192.168.100.0/255.255.255.0' -> '192.168.100.0/24' for display."""
    addr, _sep, mask = text.partition("/")
    bits = sum(bin(int(octet)).count("1") for octet in mask.split(".")) if mask else 32
    return "%s/%d" % (addr, bits)


def rule_text(key):
    """iptables-save style text of a rule key, for action lines and diffs."""
    src, dst, iif, oif, proto, matches, target, tparams = key
    parts = []
    if src != _ANY:
        parts.append("-s %s" % _mask_to_prefix(src))
    if dst != _ANY:
        parts.append("-d %s" % _mask_to_prefix(dst))
    if iif:
        parts.append("-i %s" % iif)
    if oif:
        parts.append("-o %s" % oif)
    if proto and proto != "ip":
        parts.append("-p %s" % proto)
    for name, params in matches:
        parts.append("-m %s %s" % (name, " ".join("--%s %s" % (k, " ".join(v)) for k, v in params)))
    parts.append("-j %s" % target)
    parts.extend("--%s %s" % (k, " ".join(v)) for k, v in tparams)
    return " ".join(parts)


class IptBackend(object):
    """python-iptables access, with the library imported lazily (it is optional)."""

    def __init__(self, iptc_module):
        self.iptc = iptc_module

    # ---- conversions -------------------------------------------------------------

    def build(self, data, table=None):
        """spec dict -> iptc.Rule.

        With ``table``, a jump target is looked up in that table only: python-iptables
        otherwise opens every table to find the chain, which instantiates the empty
        mangle, raw and security tables on hosts that never had them.
        """
        rule = self.iptc.Rule()
        if table is not None:
            rule = type("OneTableRule", (self.iptc.Rule,), {"tables": property(lambda _self: [table])})()
        for attr, key in (("src", "src"), ("dst", "dst"), ("in_interface", "iif"),
                          ("out_interface", "oif"), ("protocol", "proto")):
            if data[key]:
                setattr(rule, attr, data[key])
        for name, params in data["matches"]:
            match = rule.create_match(name)
            for param, value in params.items():
                match.set_parameter(param, value)
        target = rule.create_target(data["target"])
        for param, value in data["target_params"].items():
            target.set_parameter(param, value)
        return rule

    @staticmethod
    def key(rule):
        """iptc.Rule -> hashable, comparable key."""
        return (rule.src, rule.dst, rule.in_interface, rule.out_interface, rule.protocol,
                tuple((m.name, tuple(sorted((k, tuple(v)) for k, v in m.get_all_parameters().items())))
                      for m in rule.matches),
                rule.target.name,
                tuple(sorted((k, tuple(v)) for k, v in rule.target.get_all_parameters().items())))

    def _table(self, name):
        table = self.iptc.Table(self.iptc.Table.NAT if name == "nat" else self.iptc.Table.FILTER)
        table.autocommit = False
        table.refresh()
        return table

    # ---- reading -----------------------------------------------------------------

    def read_set(self, kind, name):
        """{suffix: [key]} of the set's chains that exist, and {suffix: bool} jump present.

        Tables that do not exist yet are not opened (opening one creates it).
        """
        rules, jumps = {}, {}
        existing = legacy_tables()
        for suffix, (tname, builtin) in sorted(HOOKS.items()):
            if tname not in existing:
                jumps[suffix] = False
                continue
            table = self._table(tname)
            chain = chain_name(kind, name, suffix)
            if table.is_chain(chain):
                rules[suffix] = [self.key(r) for r in self.iptc.Chain(table, chain).rules]
            jumps[suffix] = any(r.target.name == chain for r in self.iptc.Chain(table, builtin).rules)
        return rules, jumps

    def rules_text(self, kind, name, rules=None):
        """{chain: [iptables-save style rule]} of the set (read now unless ``rules`` keys are given)."""
        if rules is None:
            rules, _jumps = self.read_set(kind, name)
        return dict((chain_name(kind, name, s), [rule_text(k) for k in keys]) for s, keys in rules.items())

    # ---- planning and applying ---------------------------------------------------

    def plan_set(self, kind, name, desired):
        """(lines, apply callable or None, before view, predicted view) for making the set's
        chains exactly ``desired``; the tables are read once."""
        current, jumps = self.read_set(kind, name)
        want = dict((suffix, [self.key(self.build(s)) for s in specs]) for suffix, specs in desired.items())
        before, after = self.rules_text(kind, name, current), self.rules_text(kind, name, want)
        missing_jump = [s for s in want if not jumps.get(s)]
        stray_jump = [s for s, present in jumps.items() if present and s not in want]
        if current == want and not missing_jump and not stray_jump:
            return [], None, before, before
        lines = []
        for suffix in sorted(set(current) | set(want)):
            chain = chain_name(kind, name, suffix)
            old, new = current.get(suffix, []), want.get(suffix, [])
            lines.extend("iptables: remove from %s: %s" % (chain, rule_text(k)) for k in old if k not in new)
            lines.extend("iptables: add to %s: %s" % (chain, rule_text(k)) for k in new if k not in old)
            if suffix in missing_jump:
                lines.append("iptables: jump to %s from %s" % (chain, HOOKS[suffix][1]))
            if suffix in stray_jump or (suffix in current and suffix not in want):
                lines.append("iptables: delete chain %s" % chain)
        return lines, lambda: self._apply(kind, name, current, desired), before, after

    def _apply(self, kind, name, current, desired):
        """Write every table the set uses; restore the first if the second fails."""
        done = []
        used = set(HOOKS[s][0] for s in list(desired) + list(current))
        for tname in [t for t in ("filter", "nat") if t in used]:
            suffixes = [s for s, (t, _b) in HOOKS.items() if t == tname]
            table = self._table(tname)
            before = self._snapshot(table, kind, name, suffixes)
            try:
                self._write(table, kind, name, suffixes, desired)
                table.commit()
            except self.iptc.IPTCError as exc:
                for done_table, snapshot in done:
                    self._restore(done_table, kind, name, snapshot)
                raise ApplyError("iptables %s table: %s" % (tname, exc),
                                 rolled_back=["restore iptables %s table" % t for t, _s in done])
            done.append((tname, before))

    def _snapshot(self, table, kind, name, suffixes):
        """Rules (as keys) of our chains in this table, for a restore."""
        snap = {}
        for suffix in suffixes:
            chain = chain_name(kind, name, suffix)
            if table.is_chain(chain):
                snap[suffix] = [self.key(r) for r in self.iptc.Chain(table, chain).rules]
        return snap

    def _write(self, table, kind, name, suffixes, desired):
        """Make our chains in ``table`` as desired (no commit)."""
        for suffix in suffixes:
            chain = chain_name(kind, name, suffix)
            builtin = self.iptc.Chain(table, HOOKS[suffix][1])
            jump_rules = [r for r in builtin.rules if r.target.name == chain]
            if suffix not in desired:
                for rule in jump_rules:
                    builtin.delete_rule(rule)
                if table.is_chain(chain):
                    self.iptc.Chain(table, chain).flush()
                    table.delete_chain(chain)
                continue
            if not table.is_chain(chain):
                table.create_chain(chain)
            ours = self.iptc.Chain(table, chain)
            ours.flush()
            for data in desired[suffix]:
                ours.append_rule(self.build(data))
            if not jump_rules:
                builtin.insert_rule(self.build(spec(matches=[("comment", {"comment": JUMP_COMMENT})],
                                                    target=chain), table), 0)

    def _restore(self, tname, kind, name, snapshot):
        """Put one table's chains of this set back as they were (best effort)."""
        table = self._table(tname)
        specs = dict((suffix, [self._spec_from_key(k) for k in keys]) for suffix, keys in snapshot.items())
        suffixes = [s for s, (t, _b) in HOOKS.items() if t == tname]
        self._write(table, kind, name, suffixes, specs)
        table.commit()

    @staticmethod
    def _spec_from_key(key):
        """Rule key -> spec (for restores)."""
        src, dst, iif, oif, proto, matches, target, tparams = key
        return spec(src=None if src == _ANY else src, dst=None if dst == _ANY else dst, iif=iif, oif=oif,
                    proto=None if proto == "ip" else proto,
                    matches=[(n, dict((k, " ".join(v)) for k, v in params)) for n, params in matches],
                    target=target, target_params=dict((k, " ".join(v)) for k, v in tparams))


def _port_param(rng):
    """(lo, hi) -> '80' or '5000:5010'."""
    return str(rng[0]) if rng[0] == rng[1] else "%d:%d" % rng


def _dnat_specs(fwd, local):
    """One forward as DNAT rules (one per source; ranges with an offset one per port)."""
    if local and fwd.in_interface:
        return []
    dst_match = [] if fwd.destination else [("addrtype", {"dst-type": "LOCAL"})]
    if fwd.port == fwd.to_port:
        targets = [(fwd.port, fwd.to_addr)]
    else:
        targets = [((hp, hp), "%s:%d" % (fwd.to_addr, tp)) for hp, tp in fwd.pairs()]
    specs = []
    for src in fwd.sources or [None]:
        for ports, to in targets:
            specs.append(spec(src=src, dst=fwd.destination, iif=None if local else fwd.in_interface,
                              proto=fwd.proto, matches=dst_match + [(fwd.proto, {"dport": _port_param(ports)})],
                              target="DNAT", target_params={"to-destination": to}))
    return specs


def dnat_chains(fset, hairpin_subnets):
    """ForwardSet -> {suffix: [spec]} (iptables has no maps here: one rule per forward)."""
    chains = {}
    pre = [s for f in fset.forwards for s in _dnat_specs(f, local=False)]
    if pre:
        chains["pre"] = pre
    out = [s for f in fset.forwards for s in _dnat_specs(f, local=True)] if fset.localhost else []
    if out:
        chains["out"] = out
    post = []
    if fset.hairpin and fset.forwards:
        post.extend(spec(src=net, oif=ifname, matches=[("conntrack", {"ctstate": "DNAT"})], target="MASQUERADE")
                    for net, ifname in sorted(hairpin_subnets))
    if fset.localhost and fset.forwards:
        post.append(spec(src="127.0.0.0/8", matches=[("conntrack", {"ctstate": "DNAT"})], target="MASQUERADE"))
    if post:
        chains["post"] = post
    if fset.forward and fset.forwards:
        seen, fwd_rules = set(), []
        for f in fset.forwards:
            key = (f.to_addr, f.proto, f.to_port)
            if key in seen:
                continue
            seen.add(key)
            fwd_rules.append(spec(dst=f.to_addr, proto=f.proto, target="ACCEPT",
                                  matches=[(f.proto, {"dport": _port_param(f.to_port)}),
                                           ("conntrack", {"ctstate": "DNAT"})]))
            fwd_rules.append(spec(src=f.to_addr, proto=f.proto, target="ACCEPT",
                                  matches=[(f.proto, {"sport": _port_param(f.to_port)}),
                                           ("conntrack", {"ctstate": "DNAT"})]))
        chains["fwd"] = fwd_rules
    return chains


def spec_text(data):
    """A spec in the form iptables-save prints (used where python-iptables is not)."""
    parts = []
    for flag, key in (("-s", "src"), ("-d", "dst"), ("-i", "iif"), ("-o", "oif"), ("-p", "proto")):
        if data[key]:
            value = data[key]
            if key in ("src", "dst") and "/" not in value:
                value += "/32"
            parts.append("%s %s" % (flag, value))
    for name, params in data["matches"]:
        parts.append("-m %s %s" % (name, " ".join("--%s %s" % (k, v) for k, v in params.items())))
    parts.append("-j %s" % data["target"])
    parts.extend("--%s %s" % (k, v) for k, v in data["target_params"].items())
    return " ".join(parts)
