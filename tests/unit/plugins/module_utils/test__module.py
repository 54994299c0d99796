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


CHECKED_SPEC = dict(SPEC, name=dict(type="str"), checked=dict(type="str"))


def test_items_are_checked_once_where_the_action_plugin_checked_them(monkeypatch):
    """With the digest of the very options the action plugin validated, the items of list
    options are not checked again; any other digest, or none, means the full spec."""
    from ansible_collections.hypervisor.networking.plugins.module_utils import _module
    from ansible_collections.hypervisor.networking.plugins.module_utils._validate import args_digest

    def given(args):
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
        return _module.spec_for(CHECKED_SPEC)

    args = {"name": "br0", "forwards": [{"port": 80}]}
    light = given(dict(args, checked=args_digest(args), _ansible_check_mode=True))
    assert light is not CHECKED_SPEC and "options" not in light["forwards"] and light["forwards"]["elements"] == "dict"
    assert given(dict(args, checked=args_digest(dict(args, name="br1")))) is CHECKED_SPEC  # other options
    assert given(dict(args, checked="0" * 64)) is CHECKED_SPEC
    assert given(args) is CHECKED_SPEC
    assert _module.spec_for(SPEC) is SPEC  # a module without an action plugin


def test_invocation_echoes_long_lists_as_size_and_digest():
    from ansible_collections.hypervisor.networking.plugins.module_utils import _module

    class Fake(object):
        params = {"name": "br0", "taps": [{"name": "t%d" % i} for i in range(1000)], "ports": ["a"]}
        items_checked = "on the controller"
        _verbosity = 0

    echo = _module.invocation(Fake())
    taps = echo["module_args"]["taps"]
    assert taps["items"] == 1000 and len(taps["sha256"]) == 64 and echo["module_args"]["ports"] == ["a"]
    assert len(json.dumps(echo)) < 400 and echo["items_checked"] == "on the controller"
    Fake._verbosity = 3
    assert _module.invocation(Fake())["module_args"]["taps"] == Fake.params["taps"]
