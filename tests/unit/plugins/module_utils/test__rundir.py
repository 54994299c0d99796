# -*- coding: utf-8 -*-
"""Notes under /run: a directory we do not own or that others can write is refused,
symlinks are never followed, a reused pid is never signalled, stale notes are swept.
Real files and real processes in a temporary directory standing in for /run."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _rollback, _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _apply


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    path = str(tmp_path / "hypervisor-networking")
    monkeypatch.setattr(_rundir, "RUN_DIR", path)
    monkeypatch.setattr(_rollback, "STATE_DIR", path)
    return path


def test_the_directory_is_made_ours(run_dir):
    assert _rundir.ensure(run_dir) == run_dir
    st = os.stat(run_dir)
    assert st.st_uid == os.geteuid() and st.st_mode & 0o777 == 0o755


@pytest.mark.parametrize("setup,needle", [
    (lambda p, other: os.symlink(other, p), "is not a directory"),
    (lambda p, other: (os.mkdir(p), os.chmod(p, 0o777)), "mode 0777"),
    (lambda p, other: (os.mkdir(p), os.chown(p, 65534, 65534)), "owned by uid 65534"),
])
def test_a_directory_that_is_not_ours_is_refused(run_dir, tmp_path, setup, needle):
    other = tmp_path / "elsewhere"
    other.mkdir()
    setup(run_dir, str(other))
    with pytest.raises(StateError, match=needle):
        _rundir.ensure(run_dir)
    with pytest.raises(StateError):
        _rundir.write_json(os.path.join(run_dir, "note-1.json"), {})
    assert os.listdir(str(other)) == []


def test_the_lock_and_notes_never_follow_a_symlink(run_dir, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    _rundir.ensure(run_dir)
    lock = os.path.join(run_dir, "firewall.lock")
    os.symlink(str(victim), lock)
    with pytest.raises(OSError) as err:
        with _apply.firewall_lock(path=lock):
            pass
    assert err.value.errno == errno.ELOOP
    note = os.path.join(run_dir, "taps-creating-1.json")
    os.symlink(str(victim), note)
    assert _rundir.read_json(note) is None
    _rundir.write_json(note, ["vm1"])  # replaces the link, never writes through it
    assert not os.path.islink(note) and _rundir.read_json(note) == ["vm1"]
    assert victim.read_text() == "precious\n"


def test_disarm_never_signals_a_reused_pid(run_dir):
    """The state file names a pid that is now someone else's (a sleep): it lives on."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        _rundir.ensure(run_dir)
        path = _rollback.state_path("br0")
        for start in (None, _rundir.process_start(sleeper.pid), 1):
            state = {"bridge": "br0", "pid": sleeper.pid, "token": "t", "actions": []}
            if start is not None:
                state["pid_start"] = start
            _rundir.write_json(path, state)
            assert _rollback.disarm("br0") is True
            time.sleep(0.1)
            assert sleeper.poll() is None, "an unrelated process was signalled"
            assert not os.path.exists(path)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_disarm_stops_its_own_reverter(run_dir):
    _rundir.ensure(run_dir)
    path = _rollback.arm("br0", [], 60)
    state = json.loads(open(path).read())
    assert _rollback.is_reverter(state)
    assert _rollback.disarm("br0") is True
    for _attempt in range(50):
        if _rundir.process_start(state["pid"]) is None or not _rollback.is_reverter(state):
            break
        time.sleep(0.1)
    assert not _rollback.is_reverter(state)


def test_sweep_removes_notes_of_gone_namespaces_only(run_dir):
    _rundir.ensure(run_dir)
    mine = _rundir.netns_inode()
    gone = 4026999999  # no namespace has this inode
    names = ["taps-creating-%d.json" % mine, "taps-creating-%d.json" % gone,
             "rollback-br0-%d.json.reverted" % gone, "seeded-ip-filter-%d" % gone,
             "seeded-ip-filter-%d" % mine, "firewall.lock", "reverter-77-%d.zip" % gone,
             "probe-123456.json",  # a probe's note names its run, not a namespace (_probe sweeps it)
             "taps-creating-%d.json.tmp-99" % mine, "taps-creating-%d.json.tmp-98" % mine]
    for name in names:
        _rundir.write_text(os.path.join(run_dir, name), "x")
    old_tmp = os.path.join(run_dir, "taps-creating-%d.json.tmp-98" % mine)
    os.utime(old_tmp, (time.time() - 3600, time.time() - 3600))  # a writer killed an hour ago
    swept = [n for n in names if str(gone) in n] + [os.path.basename(old_tmp)]
    assert sorted(_rundir.sweep(run_dir)) == sorted(swept)
    assert sorted(os.listdir(run_dir)) == sorted(n for n in names if n not in swept)


def test_process_start_of_a_live_and_a_missing_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert isinstance(_rundir.process_start(proc.pid), int)
    finally:
        proc.kill()
        proc.wait()
    assert _rundir.process_start(2 ** 22 + 1) is None
