# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan/apply engine, private to this collection.

A planner compares the current state with the desired one and returns a Plan: an
ordered list of Actions. ``changed`` is ``bool(plan)``, so check mode and a real run
agree by construction. Each Action names an operation of an executor (for example
the netlink adapter) and, where the previous state is known, the operation that
undoes it; a failure halfway undoes what was applied, newest first.
"""

from __future__ import annotations

import json

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import (
    ApplyError,
    HypervisorNetworkingError,
)


class Action(object):
    """One change: a human-readable line, an executor call and its undo call."""

    __slots__ = ("summary", "op", "args", "undo")

    def __init__(self, summary, op, args=None, undo=None):
        self.summary = summary
        self.op = op
        self.args = dict(args or {})
        # undo: (op, args) or None when the change cannot be reverted
        self.undo = undo

    def __repr__(self):
        return "Action(%r, %r, %r)" % (self.summary, self.op, self.args)

    def __eq__(self, other):
        return isinstance(other, Action) and (self.summary, self.op, self.args, self.undo) == (
            other.summary, other.op, other.args, other.undo)


class Plan(object):
    """Ordered actions; applied in order, undone in reverse on failure."""

    def __init__(self, actions=None):
        self.actions = list(actions or [])
        self.warnings = []  # what the planner left alone and the user must hear of

    def warn(self, text):
        """Record a warning the module passes on (changes nothing)."""
        self.warnings.append(text)

    def add(self, summary, op, args=None, undo=None):
        """Append an action and return it."""
        action = Action(summary, op, args, undo)
        self.actions.append(action)
        return action

    def extend(self, other):
        """Append another plan's actions (and its warnings)."""
        self.actions.extend(other.actions)
        self.warnings.extend(getattr(other, "warnings", []))

    def __bool__(self):
        return bool(self.actions)

    __nonzero__ = __bool__

    def __len__(self):
        return len(self.actions)

    def __iter__(self):
        return iter(self.actions)

    def lines(self):
        """The human-readable ``actions`` return value."""
        return [a.summary for a in self.actions]

    def apply(self, executor, context=""):
        """Run every action on ``executor``; on failure undo and raise ApplyError."""
        done = []
        for action in self.actions:
            try:
                getattr(executor, action.op)(**action.args)
            except Exception as exc:  # the kernel's refusal, whatever library raised it
                rolled_back = self._undo(executor, done)
                detail = exc.msg if isinstance(exc, HypervisorNetworkingError) else str(exc)
                prefix = "%s: " % context if context else ""
                raise ApplyError(
                    "%sfailed to %s: %s" % (prefix, action.summary, detail),
                    applied=[a.summary for a in done],
                    rolled_back=rolled_back,
                )
            done.append(action)
        return [a.summary for a in done]

    def undo_all(self, executor):
        """Undo every action of an applied plan, newest first (a check after apply failed)."""
        return self._undo(executor, list(self.actions))

    @staticmethod
    def _undo(executor, done):
        """Best-effort revert of applied actions, newest first."""
        reverted = []
        for action in reversed(done):
            if action.undo is None:
                continue
            op, args = action.undo
            try:
                getattr(executor, op)(**args)
            except Exception:  # keep undoing the rest; the report says what was reverted
                continue
            reverted.append("undo: %s" % action.summary)
        return reverted


FILE_KEYS = ("files", "dhcp_files")


def _text(value):
    """A part of the state as diff text: files as they are, the rest as indented JSON."""
    if value is None or value == {}:
        return ""
    if isinstance(value, str):
        return value if value.endswith("\n") or not value else value + "\n"
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


class DiffTracker(object):
    """Ansible's diff as a list that reads like a patch: one entry per file (its path as the
    header, its text before and after; empty where it does not exist) and one per part of the
    state (JSON text, headed by the object and the part), only where something differs.

    ``before`` and ``after`` are dicts; their ``files`` and ``dhcp_files`` are {path: text}.
    With ``parts`` each other key is an entry of its own, else they form one entry."""

    def __init__(self, before, after, parts=True):
        self.before = before
        self.after = after
        self.parts = parts

    def has_difference(self):
        """True when before and after differ."""
        return self.before != self.after

    def diff(self, name=""):
        """The ``diff`` return value: a list of {before, after, before_header, after_header}."""
        entries = []

        def add(header, before, after):
            if before != after:
                entries.append({"before_header": header, "after_header": header,
                                "before": _text(before), "after": _text(after)})

        keys = [k for k in list(self.before) + [k for k in self.after if k not in self.before] if k not in FILE_KEYS]
        if self.parts:
            for key in keys:
                add(("%s %s" % (name, key)).strip(), self.before.get(key), self.after.get(key))
        else:
            add(name or "state", dict((k, self.before[k]) for k in keys if k in self.before),
                dict((k, self.after[k]) for k in keys if k in self.after))
        for key in FILE_KEYS:
            old, new = self.before.get(key) or {}, self.after.get(key) or {}
            for path in sorted(set(old) | set(new)):
                add(path, old.get(path), new.get(path))
        return entries
