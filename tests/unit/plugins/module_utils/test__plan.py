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
    tracker = DiffTracker({"a": 1}, {"a": 2})
    assert tracker.has_difference()
    assert tracker.diff("br0") == {"before": {"a": 1}, "after": {"a": 2}, "before_header": "br0", "after_header": "br0"}
    assert not DiffTracker({}, {}).has_difference()
