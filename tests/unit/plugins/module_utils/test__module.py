# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module.fail_json: argument errors name the option; later failures pass through."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils import basic
from ansible_collections.hypervisor.networking.plugins.module_utils._module import Module

SPEC = dict(forwards=dict(type="list", elements="dict", options=dict(port=dict(type="int"))))


def run(args, monkeypatch, capsys, after=None):
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    with pytest.raises(SystemExit):
        module = Module(argument_spec=SPEC)
        after(module)
    return json.loads(capsys.readouterr().out)


def test_list_of_dicts_given_a_string_names_the_option(monkeypatch, capsys):
    result = run({"forwards": "web"}, monkeypatch, capsys)
    assert "forwards" in result["msg"]
    assert not result["msg"].startswith("dictionary requested")


def test_failure_after_valid_arguments_keeps_its_message(monkeypatch, capsys):
    result = run({"forwards": [{"port": 80}]}, monkeypatch, capsys,
                 after=lambda module: module.fail_json(msg="group='x': bad"))
    assert result["msg"] == "group='x': bad"
    assert result["failed"] is True


def test_missing_pyroute2_is_reported_as_a_missing_dependency(monkeypatch, capsys):
    # the roles install packages only on missing_dependency; the bare-host molecule
    # scenario proves the whole path with the package really absent
    from ansible_collections.hypervisor.networking.plugins.module_utils import _deps
    monkeypatch.setattr(_deps, "HAS_PYROUTE2", False)
    result = run({}, monkeypatch, capsys, after=_deps.require_pyroute2)
    assert result["missing_dependency"] == "pyroute2"
    assert "python3-pyroute2" in result["msg"]


def test_too_old_pyroute2_is_a_missing_dependency(monkeypatch, capsys):
    from ansible_collections.hypervisor.networking.plugins.module_utils import _deps
    monkeypatch.setattr(_deps, "pyroute2_version", lambda: "0.6.9")
    result = run({}, monkeypatch, capsys, after=_deps.require_pyroute2)
    assert result["missing_dependency"] == "pyroute2"
    assert "found 0.6.9" in result["msg"]
