# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables backend, private to this collection.

Everything lives in this collection's own table, ``ip hypervisor_networking``: base
chains hook into netfilter and hold only jumps; each rule set owns chains named
``<kind>_<name>_<hook>``. A change to a rule set is one ``nft -f`` script, which the
kernel applies as one transaction: nothing is ever half-applied. Rules are compared in
the exact text ``nft list`` prints, so a re-run that finds the same text changes nothing.
"""

from __future__ import annotations

import re

TABLE = "hypervisor_networking"
FAMILY = "ip"
# base chain name -> its declaration; rule-set chains are <kind>_<name>_<suffix>
BASE_CHAINS = {
    "prerouting": "type nat hook prerouting priority dstnat; policy accept;",
    "output": "type nat hook output priority -100; policy accept;",
    "postrouting": "type nat hook postrouting priority srcnat; policy accept;",
    "forward": "type filter hook forward priority filter; policy accept;",
}
SUFFIX_BASE = {"pre": "prerouting", "out": "output", "post": "postrouting", "fwd": "forward"}
_CHAIN_RE = re.compile(r"^\s*chain (\S+) \{")
_HANDLE_RE = re.compile(r"^(.*?)\s*# handle (\d+)$")


def addr_text(cidr):
    """How nft prints a prefix: /32 dropped."""
    return cidr[:-3] if cidr.endswith("/32") else cidr


def set_text(cidrs):
    """One element bare, several in braces (nft sorts and prints them this way)."""
    items = [addr_text(c) for c in cidrs]
    return items[0] if len(items) == 1 else "{ %s }" % ", ".join(items)


def masquerade_chains(rule):
    """Masquerade -> {chain: [rule text as nft prints it]}."""
    prefix = "masq_%s_" % rule.name
    out = ' oifname "%s"' % rule.out_interface if rule.out_interface else ""
    back = ' iifname "%s"' % rule.out_interface if rule.out_interface else ""
    exclude = " ip daddr != %s" % set_text(rule.exclude) if rule.exclude else ""
    chains = {prefix + "post": ["ip saddr %s%s%s masquerade" % (addr_text(rule.source), out, exclude)]}
    if rule.forward:
        chains[prefix + "fwd"] = [
            "ip saddr %s%s accept" % (addr_text(rule.source), out),
            "ip daddr %s%s ct state established,related accept" % (addr_text(rule.source), back),
        ]
    return chains


def parse_table(text):
    """``nft -a list table`` output -> {chain: {"base": bool, "rules": [(text, handle)]}}."""
    chains, current = {}, None
    for line in (text or "").splitlines():
        stripped = line.strip()
        match = _CHAIN_RE.match(line)
        if match:
            current = chains.setdefault(match.group(1), {"base": False, "rules": []})
        elif current is None:
            continue
        elif stripped == "}":
            current = None
        elif stripped.startswith("type ") and " hook " in stripped:
            current["base"] = True
        else:
            match = _HANDLE_RE.match(stripped)
            if match:
                current["rules"].append((match.group(1), int(match.group(2))))
    return chains


_BLOCK_RE = re.compile(r"^\s*(map|set) (\S+) \{")


def parse_maps(text):
    """Named maps and sets of an ``nft list table`` output -> {name: {kind, type, elements}}."""
    result, current, buf = {}, None, None
    for line in (text or "").splitlines():
        stripped = line.split(" # handle")[0].strip()
        match = _BLOCK_RE.match(line)
        if match:
            current = result.setdefault(match.group(2), {"kind": match.group(1), "type": "", "elements": []})
            buf = None
        elif current is None:
            continue
        elif buf is not None:
            buf.append(stripped)
            if stripped.endswith("}"):
                current["elements"] = _elements(" ".join(buf))
                buf = None
        elif stripped.startswith("type "):
            current["type"] = stripped[5:]
        elif stripped.startswith("elements = {"):
            buf = [stripped[len("elements = {"):]]
            if stripped.endswith("}"):
                current["elements"] = _elements(buf[0])
                buf = None
        elif stripped == "}":
            current = None
    return result


def _elements(text):
    """'a . b : c, d . e : f }' -> sorted element strings."""
    return sorted(e.strip() for e in text.rstrip("}").split(",") if e.strip())


def set_maps(maps, prefix):
    """The current maps/sets of one rule set: {name: (kind, type, [elements])}."""
    return dict((name, (m["kind"], m["type"], m["elements"])) for name, m in maps.items() if name.startswith(prefix))


def set_rules(chains, prefix):
    """The current rules of one rule set: {chain: [text]}."""
    return dict((name, [text for text, _handle in chain["rules"]])
                for name, chain in chains.items() if name.startswith(prefix) and not chain["base"])


def _jumps(chains):
    """{base chain: {target chain: handle}} of the jump rules in our base chains."""
    result = {}
    for name, chain in chains.items():
        if chain["base"]:
            result[name] = dict((text[5:], handle) for text, handle in chain["rules"] if text.startswith("jump "))
    return result


def plan_set(chains, prefix, desired, maps=None, desired_maps=None):
    """Current table + desired rule set -> (lines, script or None).

    ``desired`` is {chain: [rules]}, ``desired_maps`` {name: (kind, type, [elements])};
    ``lines`` describe the change rule by rule and element by element; ``script`` is the
    one nft transaction that makes it (None when the table already says exactly this).
    """
    desired_maps = desired_maps or {}
    current = set_rules(chains, prefix)
    current_maps = set_maps(maps or {}, prefix)
    jumps = _jumps(chains)
    missing_jumps = [c for c in desired if c not in jumps.get(SUFFIX_BASE[c.rsplit("_", 1)[1]], {})]
    if current == desired and current_maps == desired_maps and not missing_jumps:
        return [], None
    lines = []
    for chain in sorted(set(current) | set(desired)):
        old, new = current.get(chain, []), desired.get(chain, [])
        lines.extend("nftables: remove from %s: %s" % (chain, r) for r in old if r not in new)
        lines.extend("nftables: add to %s: %s" % (chain, r) for r in new if r not in old)
        if old != new and sorted(old) == sorted(new):
            lines.append("nftables: reorder %s" % chain)
    for name in sorted(set(current_maps) | set(desired_maps)):
        old = set(current_maps.get(name, (None, None, []))[2])
        new = set(desired_maps.get(name, (None, None, []))[2])
        lines.extend("nftables: remove from %s: %s" % (name, e) for e in sorted(old - new))
        lines.extend("nftables: add to %s: %s" % (name, e) for e in sorted(new - old))
    others = [n for n, c in chains.items() if not c["base"] and not n.startswith(prefix)]
    if not desired and not others:
        if chains:
            lines.append("nftables: delete table %s %s (nothing of ours left)" % (FAMILY, TABLE))
        return lines, ("delete table %s %s\n" % (FAMILY, TABLE)) if chains else None
    return lines, _script(chains, current, desired, jumps, current_maps, desired_maps)


def _script(chains, current, desired, jumps, current_maps, desired_maps):
    """The nft -f text for one rule set's change. Order matters inside the transaction:
    chains are emptied before the maps they reference go, maps exist before rules use them."""
    head = "%s %s" % (FAMILY, TABLE)
    out = ["add table %s" % head]
    needed = set(SUFFIX_BASE[c.rsplit("_", 1)[1]] for c in desired)
    for base in sorted(needed):
        out.append("add chain %s %s { %s }" % (head, base, BASE_CHAINS[base]))
    for chain in sorted(desired):
        out.append("add chain %s %s" % (head, chain))
        out.append("flush chain %s %s" % (head, chain))
    for chain in sorted(current):
        if chain not in desired:
            base = SUFFIX_BASE[chain.rsplit("_", 1)[1]]
            if chain in jumps.get(base, {}):
                out.append("delete rule %s %s handle %d" % (head, base, jumps[base][chain]))
            out.append("flush chain %s %s" % (head, chain))
            out.append("delete chain %s %s" % (head, chain))
    for name in sorted(current_maps):
        if name not in desired_maps or desired_maps[name][:2] != current_maps[name][:2]:
            out.append("delete %s %s %s" % (current_maps[name][0], head, name))
    for name, (kind, type_, elements) in sorted(desired_maps.items()):
        out.append("add %s %s %s { type %s; }" % (kind, head, name, type_))
        out.append("flush %s %s %s" % (kind, head, name))
        if elements:
            out.append("add element %s %s { %s }" % (head, name, ", ".join(elements)))
    for chain in sorted(desired):
        out.extend("add rule %s %s %s" % (head, chain, rule) for rule in desired[chain])
        base = SUFFIX_BASE[chain.rsplit("_", 1)[1]]
        if chain not in jumps.get(base, {}):
            out.append("add rule %s %s jump %s" % (head, base, chain))
    # a base chain whose last jump went away goes with it
    for base in sorted(n for n, c in chains.items() if c["base"] and n not in needed):
        if all(t in current and t not in desired for t in jumps.get(base, {})):
            out.append("delete chain %s %s" % (head, base))
    return "\n".join(out) + "\n"


class NftRunner(object):
    """Runs nft scripts: libnftables (python3-nftables) when importable, else ``nft -f -``."""

    def __init__(self, run_command, get_bin_path):
        self._run_command = run_command
        self._nft = get_bin_path("nft")
        try:
            import nftables  # distro package, not on PyPI
            self._lib = nftables.Nftables()
            self._lib.set_handle_output(True)
        except ImportError:
            self._lib = None

    def available(self):
        """True when libnftables or the nft command is there."""
        return self._lib is not None or self._nft is not None

    def _cmd(self, argv, script=None):
        """(rc, out, err) of one nft invocation (library or command, no shell)."""
        if self._lib is not None:
            return self._lib.cmd(script if script is not None else " ".join(argv))
        if self._nft is None:
            return 1, "", "nft is not installed"
        if script is not None:
            return self._run_command([self._nft, "-f", "-"], data=script, binary_data=True)
        return self._run_command([self._nft, "-a"] + argv)

    def list_tables(self):
        """['ip filter', 'inet firewalld', ...] of this namespace."""
        rc, out, _err = self._cmd(["list", "tables"])
        return [line.split(None, 1)[1] for line in out.splitlines() if rc == 0 and line.startswith("table ")]

    def list_table(self):
        """``nft -a list table`` text, or '' when our table does not exist."""
        rc, out, _err = self._cmd(["list", "table", FAMILY, TABLE])
        return out if rc == 0 else ""

    def apply(self, script):
        """Apply one script as one transaction; return (ok, error text)."""
        rc, _out, err = self._cmd(None, script)
        return rc == 0, err


def _dnat_rule(fwd, pair=None, local=True):
    """One filtered forward (or one port of it) as nft prints it."""
    parts = []
    if fwd.in_interface and not local:
        parts.append('iifname "%s"' % fwd.in_interface)
    if fwd.sources:
        parts.append("ip saddr %s" % set_text(fwd.sources))
    parts.append("ip daddr %s" % fwd.destination if fwd.destination else "fib daddr type local")
    if pair is None:
        parts.append("%s dport %d-%d" % (fwd.proto, fwd.port[0], fwd.port[1]) if fwd.port[0] != fwd.port[1]
                     else "%s dport %d" % (fwd.proto, fwd.port[0]))
        parts.append("dnat to %s" % fwd.to_addr)  # ports kept as they are
    else:
        parts.append("%s dport %d" % (fwd.proto, pair[0]))
        parts.append("dnat to %s:%d" % (fwd.to_addr, pair[1]))
    return " ".join(parts)


def _filtered_rules(forwards, local):
    """Rules for forwards narrowed by interface/destination/source (output hook: local)."""
    rules = []
    for fwd in forwards:
        if not fwd.filtered or (local and fwd.in_interface):
            continue
        if fwd.port == fwd.to_port:
            rules.append(_dnat_rule(fwd, None, local))
        else:
            rules.extend(_dnat_rule(fwd, pair, local) for pair in fwd.pairs())
    return rules


def dnat_ruleset(fset, hairpin_subnets):
    """ForwardSet -> ({chain: [rules]}, {map/set: (kind, type, [elements])}).

    Unfiltered forwards are one map lookup keyed by protocol and port, whatever their
    number; forwards narrowed by interface, destination or source get a rule each.
    ``hairpin_subnets``: [(subnet, interface)] the targets are reached on.
    """
    prefix = "dnat_%s_" % fset.name
    maps, chains = {}, {}
    ports = sorted(set("%s . %d : %s . %d" % (f.proto, hp, f.to_addr, tp)
                       for f in fset.forwards if not f.filtered for hp, tp in f.pairs()))
    lookup = ["fib daddr type local dnat ip to meta l4proto . th dport map @%sports" % prefix] if ports else []
    if ports:
        maps[prefix + "ports"] = ("map", "inet_proto . inet_service : ipv4_addr . inet_service", ports)
    pre = lookup + _filtered_rules(fset.forwards, local=False)
    if pre:
        chains[prefix + "pre"] = pre
    out = lookup + _filtered_rules(fset.forwards, local=True) if fset.localhost else []
    if out:
        chains[prefix + "out"] = out
    post = []
    if fset.hairpin and fset.forwards:
        post.extend('ip saddr %s oifname "%s" ct status dnat masquerade' % (addr_text(net), ifname)
                    for net, ifname in sorted(hairpin_subnets))
    if fset.localhost and fset.forwards:
        post.append("ip saddr 127.0.0.0/8 ct status dnat masquerade")
    if post:
        chains[prefix + "post"] = post
    targets = sorted(set("%s . %s . %d" % (f.to_addr, f.proto, tp) for f in fset.forwards for _hp, tp in f.pairs()))
    if fset.forward and targets:
        maps[prefix + "targets"] = ("set", "ipv4_addr . inet_proto . inet_service", targets)
        chains[prefix + "fwd"] = [
            "ct status dnat ip daddr . meta l4proto . th dport @%stargets accept" % prefix,
            "ct status dnat ip saddr . meta l4proto . th sport @%stargets accept" % prefix,
        ]
    return chains, maps
