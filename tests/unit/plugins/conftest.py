# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _persist, _rundir


@pytest.fixture(autouse=True)
def own_run_dir(tmp_path, monkeypatch):
    """Every unit test gets a run directory of its own, with no file stamps known or seen: a
    test that runs a module's main() must not write the host's /run/hypervisor-networking."""
    monkeypatch.setattr(_rundir, "RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setattr(_persist, "_stamps", {"known": None, "seen": {}})
