# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker, Plan


class Recorder(object):
    """Executor that records calls and fails on a chosen operation."""

    def __init__(self, fail_on=None, fail_undo=False):
        self.calls = []
        self.fail_on = fail_on
        self.fail_undo = fail_undo

    def __getattr__(self, op):
        def call(**kwargs):
            if op == self.fail_on or (self.fail_undo and op.startswith("undo")):
                raise OSError(22, "Invalid argument")
            self.calls.append((op, kwargs))
        return call


def test_empty_plan_is_falsy_and_applies_nothing():
    plan = Plan()
    assert not plan and plan.lines() == [] and plan.apply(Recorder()) == []


def test_apply_runs_in_order():
    plan = Plan()
    plan.add("one", "a", {"x": 1})
    plan.add("two", "b", {"y": 2})
    rec = Recorder()
    assert plan.apply(rec) == ["one", "two"]
    assert rec.calls == [("a", {"x": 1}), ("b", {"y": 2})]


def test_failure_undoes_applied_actions_newest_first():
    plan = Plan()
    plan.add("create", "create", {"n": 1}, undo=("delete", {"n": 1}))
    plan.add("attach", "attach", {"p": 1}, undo=("detach", {"p": 1}))
    plan.add("no undo", "set", {}, undo=None)
    plan.add("boom", "explode", {})
    rec = Recorder(fail_on="explode")
    with pytest.raises(ApplyError) as err:
        plan.apply(rec, context="br0")
    assert err.value.msg == "br0: failed to boom: [Errno 22] Invalid argument"
    assert err.value.applied == ["create", "attach", "no undo"]
    assert err.value.rolled_back == ["undo: attach", "undo: create"]
    assert [c[0] for c in rec.calls] == ["create", "attach", "set", "detach", "delete"]
    kwargs = err.value.fail_kwargs()
    assert kwargs["applied_actions"] == ["create", "attach", "no undo"]


def test_failed_undo_is_not_reported_as_rolled_back():
    plan = Plan()
    plan.add("create", "create", {}, undo=("undo_delete", {}))
    plan.add("boom", "explode", {})
    with pytest.raises(ApplyError) as err:
        plan.apply(Recorder(fail_on="explode", fail_undo=True))
    assert err.value.rolled_back == []


def test_diff_tracker():
    tracker = DiffTracker({"a": 1, "b": [1]}, {"a": 2, "b": [1]})
    assert tracker.has_difference()
    assert tracker.diff("br0") == [{"before": "1\n", "after": "2\n", "before_header": "br0 a", "after_header": "br0 a"}]
    assert not DiffTracker({}, {}).has_difference() and DiffTracker({}, {}).diff("x") == []


def test_diff_tracker_reads_like_a_patch():
    """Each file is an entry of its own with its path as the header and its text as it is;
    the rest is one entry (parts=False) of indented JSON."""
    before = {"mtu": 1500, "files": {"/etc/a": "x\n", "/etc/b": None}}
    after = {"mtu": 1400, "files": {"/etc/a": "x\n", "/etc/b": "auto br0\niface br0\n"}}
    entries = DiffTracker(before, after, parts=False).diff("br0")
    assert [e["before_header"] for e in entries] == ["br0", "/etc/b"]
    assert entries[0]["before"] == '{\n  "mtu": 1500\n}\n' and entries[0]["after"] == '{\n  "mtu": 1400\n}\n'
    assert entries[1] == {"before_header": "/etc/b", "after_header": "/etc/b", "before": "",
                          "after": "auto br0\niface br0\n"}
