# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables worlds through ``*-save`` / ``*-restore --noflush``, private to this collection.

The one writer for every iptables table we touch: the iptables-legacy backend's own
chains, and our accepts in the FORWARD chains other tools own (iptables-nft and legacy,
IPv4 and IPv6). It is how iptables' own tools, Docker, CNI and libvirt write: argument
lists, the xtables lock (``--wait``), one restore per run, each table committed whole by
the kernel. Only chains named by the caller are edited; other chains are never declared
(in --noflush mode declaring a chain flushes it).

Our rules are recognised by their comment, never by how a version of iptables-save
prints them: every rule we own carries ``hypervisor.networking <tag>``, where the tag is
a digest of the rule as we render it, so a changed rule is a different rule.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import time

from ansible_collections.hypervisor.networking.plugins.module_utils import _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError

MARK = "hypervisor.networking"
# the admin's own chain (as Docker's DOCKER-USER): every FORWARD chain of our rule sets jumps
# to it first; we create it, never write a rule into it, and remove it only while empty
USER_CHAIN = "HN-USER"
SET_FORWARD = re.compile(r"^HN-F[MN]-")  # our rule sets' FORWARD chains (they jump to it)
JUMP = ["-m", "comment", "--comment", '"%s"' % MARK]  # as iptables-save prints it
WAIT_SECONDS = 10
RETRIES = 5  # restores refused because another writer committed in between (EAGAIN)
_COMMENT_RE = re.compile(r'-m comment --comment (?:"((?:[^"\\]|\\.)*)"|(\S+))')
_COUNTED_RE = re.compile(r"^\[(\d+):(\d+)\] -A (.*)\Z")
_TABLES_FILE = {"iptables": "/proc/net/ip_tables_names", "ip6tables": "/proc/net/ip6_tables_names"}


def rule_comment(tokens):
    """The comment our rule carries: the mark plus a digest of its tokens."""
    return "%s %s" % (MARK, hashlib.sha1(" ".join(tokens).encode("utf-8")).hexdigest()[:12])


def render(tokens):
    """Rule tokens -> one restore line body with our comment as the last match, before the
    target: the order iptables-save prints (rules are written in its spelling)."""
    target = tokens.index("-j")
    comment = ["-m", "comment", "--comment", '"%s"' % rule_comment(tokens)]
    return " ".join(tokens[:target] + comment + tokens[target:])


def comment_of(line):
    """The comment of an iptables-save rule line (None without one)."""
    match = _COMMENT_RE.search(line)
    if not match:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def legacy_tables(stem="iptables"):
    """iptables-legacy tables that exist in this namespace (reading one creates it)."""
    try:
        with open(_TABLES_FILE[stem]) as handle:
            return sorted(set(handle.read().split()))
    except (IOError, OSError):
        return []


def parse_save(text):
    """iptables-save text -> {table: {"policies": {chain: policy}, "rules": {chain: [line]}}}."""
    tables, current = {}, None
    for line in (text or "").splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), {"policies": {}, "rules": {}})
        elif current is None or line.startswith("#") or line == "COMMIT":
            continue
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            current["policies"][name] = policy
            current["rules"].setdefault(name, [])
        else:
            match = _COUNTED_RE.match(line)
            if match:  # saved with -c: "[packets:bytes] -A CHAIN ..."
                chain, _sep, rest = match.group(3).partition(" ")
                current.setdefault("counters", {}).setdefault(chain, []).append(
                    (int(match.group(1)), int(match.group(2))))
                current["rules"].setdefault(chain, []).append(rest)
            elif line.startswith("-A "):
                chain, _sep, rest = line[3:].partition(" ")
                current["rules"].setdefault(chain, []).append(rest)
    return tables


def edit_ops(chain, current, desired):
    """Restore lines turning our chain's rules ``current`` into ``desired``.

    Both are lists of (comment, rule line body); only rules that differ are deleted or
    inserted (by position, in our own chain), so repairing 10 of 1000 rules is 20 lines.
    """
    ops, offset = [], 0
    matcher = difflib.SequenceMatcher(None, [c for c, _r in current], [c for c, _r in desired], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        pos = i1 + offset + 1
        if tag in ("delete", "replace"):
            ops.extend("-D %s %d" % (chain, pos) for _i in range(i2 - i1))
            offset -= i2 - i1
        if tag in ("insert", "replace"):
            ops.extend("-I %s %d %s" % (chain, pos + k, desired[j1 + k][1]) for k in range(j2 - j1))
            offset += j2 - j1
    return ops


class ChainEdit(object):
    """Our chain ``chain`` in ``table``, made to hold ``rules`` (tokens) and reached by one
    tagged jump from ``builtin`` at its top (no rules: chain and jump go)."""

    def __init__(self, table, chain, builtin, rules):
        self.table, self.chain, self.builtin = table, chain, builtin
        self.rules = [(rule_comment(t), render(t)) for t in rules]

    def plan(self, state):
        """(lines for the user, restore lines) against ``state`` (parse_save of the table)."""
        rules = state["rules"] if state else {}
        exists = self.chain in rules
        current = [(comment_of(r), r) for r in rules.get(self.chain, [])]
        jump = " ".join(JUMP + ["-j", self.chain])
        jumps = [r for r in rules.get(self.builtin, []) if r == jump]
        where = "%s %s" % (self.table, self.chain)
        if not self.rules:
            if not exists and not jumps:
                return [], []
            out = ["-D %s %s" % (self.builtin, jump) for _j in jumps]
            return ["remove %s (%d rules)" % (where, len(current))], out + ["-F " + self.chain, "-X " + self.chain]
        lines = ["remove from %s: %s" % (where, r) for c, r in current if c not in dict(self.rules)]
        lines += ["add to %s: %s" % (where, r) for c, r in self.rules if c not in dict(current)]
        out = [] if exists else [":%s - [0:0]" % self.chain]
        out += edit_ops(self.chain, current, self.rules)
        if out and not lines:
            lines.append("reorder %s" % where)
        if not jumps:
            lines.append("jump to %s from %s" % (where, self.builtin))
            out.append("-I %s 1 %s" % (self.builtin, jump))
        elif len(jumps) > 1:
            lines.append("remove duplicate jumps to %s" % where)
            out.extend("-D %s %s" % (self.builtin, jump) for _j in jumps[1:])
        return lines, out

    def view(self, state):
        """Our chain's rule lines in ``state`` (for before/after reports)."""
        return list(((state or {}).get("rules") or {}).get(self.chain, []))


class Xtables(object):
    """One iptables world: ``iptables-legacy``, ``iptables-nft``, ``ip6tables-legacy``, ..."""

    def __init__(self, run_command, get_bin_path, command):
        self._run = run_command
        self.command = command
        self.stem = command.split("-")[0]
        self._save = get_bin_path(command + "-save")
        self._restore = get_bin_path(command + "-restore")

    @property
    def usable(self):
        """Both binaries are installed."""
        return self._save is not None and self._restore is not None

    def tables_present(self):
        """Tables that exist: legacy ones listed by the kernel; for -nft, those nft lists
        (iptables-nft-save of an absent table prints an empty one, reading nothing)."""
        if "-legacy" in self.command:
            return legacy_tables(self.stem)
        return None  # the caller asks nft

    def save(self, tables, counters=False):
        """{table: parse_save state} of the listed tables (absent tables: not read); with
        ``counters``, each state also has "counters": {chain: [(packets, bytes)]}."""
        result = {}
        for table in tables:
            rc, out, err = self._run([self._save, "-t", table] + (["-c"] if counters else []))
            if rc != 0:
                raise ApplyError("%s-save -t %s failed: %s" % (self.command, table, err.strip()))
            result.update(parse_save(out))
        return result

    def restore(self, payload):
        """One ``*-restore --noflush`` run under the xtables lock; retried (bounded) when
        the kernel refused the commit because another writer committed in between."""
        argv = self.restore_argv()
        for attempt in range(RETRIES):
            rc, _out, err = self._run(argv, data=payload, binary_data=True)
            if rc == 0:
                return
            if "temporarily unavailable" not in err or attempt == RETRIES - 1:
                raise ApplyError("%s-restore refused the change: %s" % (self.command, err.strip()))
            time.sleep(0.05 * (attempt + 1))

    def restore_argv(self):
        """The argument list restore() runs (also what an armed revert runs)."""
        return [self._restore, "--noflush", "--wait=%d" % WAIT_SECONDS]


def payload(table_ops):
    """[(table, [restore lines])] -> restore input, tables in the given order."""
    out = []
    for table, ops in table_ops:
        if ops:
            out.append("*" + table)
            out.extend(ops)
            out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def alternative_is_legacy(path=None):
    """Debian's iptables alternative points at iptables-legacy."""
    path = path or shutil.which("iptables")
    # /usr/sbin/iptables -> /etc/alternatives/iptables -> /usr/sbin/iptables-legacy, itself a
    # link to the multi-call binary: the chain ends at xtables-legacy-multi (or -nft-multi)
    return "-legacy" in os.path.basename(os.path.realpath(path)) if path else False


SEED_DIR = _rundir.RUN_DIR
BUILTIN = ("INPUT", "FORWARD", "OUTPUT")


def _seed_marker():
    """The file saying this collection created iptables-nft's ``ip filter`` table in this
    network namespace (to hold its accepts before Docker or libvirt come)."""
    return os.path.join(SEED_DIR, "seeded-ip-filter-%d" % _rundir.netns_inode())


def forward_worlds(run_command, get_bin_path, nft_chain_exists, skip=(), seed=False, stem="iptables"):
    """[(Xtables, exists)] for the iptables worlds whose filter FORWARD holds our accepts.

    A world counts when its FORWARD exists: iptables-legacy's when the kernel lists its
    filter table (reading an absent legacy table would create it), iptables-nft's when nft
    has the chain (its save prints a FORWARD that is not there). With ``seed``, the world
    the host's ``iptables`` command writes (Debian's alternative: where Docker and libvirt
    will write) counts even before it exists, so a drop they set after our run finds our
    accepts first. IPv4 only: Docker and libvirt rarely set an IPv6 FORWARD policy.
    """
    seeded = (stem + "-legacy" if alternative_is_legacy() else stem + "-nft") if seed and stem == "iptables" else None
    worlds = []
    for command in (stem + "-nft", stem + "-legacy"):
        if command in skip:
            continue
        xt = Xtables(run_command, get_bin_path, command)
        if not xt.usable:
            continue
        if command.endswith("-nft"):
            exists = nft_chain_exists("ip6" if stem == "ip6tables" else "ip", "filter", "FORWARD")
        else:
            exists = "filter" in legacy_tables(stem)
        if exists or command == seeded:
            worlds.append((xt, exists))
    return worlds


def only_ours(state, chains=None):
    """True when a filter table holds nothing but our chains (``chains``, or every HN-
    chain), their jumps, and built-in chains that accept."""
    rules = dict((state or {}).get("rules", {}))
    ours = [c for c in rules if c.startswith("HN-") and c != USER_CHAIN] if chains is None else list(chains)
    if USER_CHAIN in rules and not rules[USER_CHAIN]:
        ours.append(USER_CHAIN)  # ours while it holds none of the admin's rules
    jumps = set(" ".join(JUMP + ["-j", c]) for c in ours)
    for chain in ours:
        rules.pop(chain, None)
    for name, lines in rules.items():
        if name not in BUILTIN or [l for l in lines if l not in jumps]:
            return False
    return all(p in ("ACCEPT", "-") for n, p in (state or {}).get("policies", {}).items() if n in BUILTIN)


def seeded_table_only_ours(run_command, get_bin_path):
    """True when iptables-nft's ip filter is the one we created and holds only ours."""
    if not os.path.exists(_seed_marker()):
        return False
    xt = Xtables(run_command, get_bin_path, "iptables-nft")
    return xt.usable and only_ours(xt.save(["filter"]).get("filter"))


class ForwardAccepts(object):
    """Our accepts in other tools' FORWARD chains: one chain of ours per world and set.
    ``saved``: {world: its filter table as read}, shared by the sets planned together, so
    each world is read once."""

    def __init__(self, worlds, chain, rules, saved=None):
        self.items = []  # (Xtables, lines, restore ops, before, after)
        self.states = {}  # world -> its filter table as read (None: absent)
        self.seed = False
        saved = {} if saved is None else saved
        for xt, exists in worlds:
            edit = ChainEdit("filter", chain, "FORWARD", rules)
            if exists and xt.command not in saved:
                saved[xt.command] = xt.save(["filter"]).get("filter")
            state = self.states[xt.command] = saved[xt.command] if exists else None
            lines, ops = edit.plan(state)
            before = edit.view(state)
            after = [r for _c, r in edit.rules]
            if xt.command.endswith("-legacy") and ops and not exists:
                lines.append("create iptables-legacy's filter table (the host's iptables: Docker and libvirt "
                             "write there)")
            if xt.command == "iptables-nft" and ops and not exists:
                lines.append("create iptables-nft's ip filter table (Docker and libvirt add to it later)")
                self.seed = True
            self.items.append((xt, ["%s: %s" % (xt.command, l) for l in lines], ops, before, after))

    @property
    def lines(self):
        """Every world's lines."""
        return [l for item in self.items for l in item[1]]

    def views(self):
        """({world: rules before}, {world: rules after}) where anything is or will be."""
        before = dict((xt.command, b) for xt, _l, _o, b, _a in self.items if b)
        after = dict((xt.command, a) for xt, _l, _o, _b, a in self.items if a)
        return before, after


def unseed(nft):
    """Delete iptables-nft's ip filter table that we created, unless another tool has put
    a rule there meanwhile (deleting a chain that is not empty fails, and the transaction
    with it)."""
    if "ip filter" in nft.list_tables():
        cmds = [{"delete": {"chain": {"family": "ip", "table": "filter", "name": n}}}
                for n in BUILTIN if nft.chain_exists("ip", "filter", n)]
        try:
            nft.run(cmds + [{"delete": {"table": {"family": "ip", "name": "filter"}}}])
        except ApplyError:
            return
    if os.path.exists(_seed_marker()):
        os.unlink(_seed_marker())


def seed_note():
    """(path, text) of the note saying we create iptables-nft's ip filter table."""
    return _seed_marker(), "ip filter was created by hypervisor.networking for its FORWARD accepts\n"


def undo_ops(chain, builtin, state, placed):
    """Restore lines putting our chain ``chain`` (jumped to from ``builtin``) back as
    ``state`` holds it, after a change that ``placed`` the chain and its jump (else
    removed both)."""
    rules = (state or {}).get("rules", {})
    jump = " ".join(JUMP + ["-j", chain])
    had_jump = jump in rules.get(builtin, [])
    if chain not in rules:
        return ["-D %s %s" % (builtin, jump), "-F " + chain, "-X " + chain]
    ops = [":%s - [0:0]" % chain] + ["-A %s %s" % (chain, r) for r in rules[chain]]
    if placed:
        return ops + ([] if had_jump else ["-D %s %s" % (builtin, jump)])
    return ops + (["-I %s 1 %s" % (builtin, jump)] if had_jump else [])


USER_LINES = {"create": "create chain %s for the admin's own rules (jumped to before ours)" % USER_CHAIN,
              "remove": "remove the empty chain %s (no chain of ours jumps to it)" % USER_CHAIN}


def user_chain_change(state, filled, emptied):
    """'create', 'remove' or None: what HN-USER (the admin's chain) needs in a filter table
    ``state`` once this plan fills the FORWARD chains ``filled`` and empties ``emptied``:
    made where a chain of our sets will jump to it, removed where none will while it is
    empty and nothing else jumps to it."""
    rules = (state or {}).get("rules", {})
    ours = set(c for c in rules if SET_FORWARD.match(c))
    after = (ours - set(emptied)) | set(filled)
    if after and USER_CHAIN not in rules:
        return "create"
    foreign = [c for c, lines in rules.items() if c not in ours and any(l.endswith("-j " + USER_CHAIN) for l in lines)]
    if not after and USER_CHAIN in rules and not rules[USER_CHAIN] and not foreign:
        return "remove"
    return None


def with_user_chain(change, ops, undo):
    """Restore lines (ops, undo) with HN-USER made first or removed last, in the same
    restore as the chain that needs it (undone with it)."""
    create, delete = ":%s - [0:0]" % USER_CHAIN, "-X " + USER_CHAIN
    if change == "create":
        return [create] + ops, undo + [delete]
    if change == "remove":
        return ops + [delete], [create] + undo
    return ops, undo
