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
