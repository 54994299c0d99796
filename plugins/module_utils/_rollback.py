# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Armed reverts for linux_bridge and guest_network ``rollback_timeout`` / ``confirm``,
private to this collection.

Before a migration changes anything, the way back - the plan's undo Actions, newest first,
as plain data (executor operation and arguments) - is written to a file under /run, and a
reverter process is started in its own session: it does not depend on the module, the
Ansible connection or the controller. When the timeout passes and the file is still there,
it replays the Actions with the same executor code the module applied them with
(``_engine.Executor``: one netlink session, ``*-restore`` for firewall chains), and
removes the file. The collection's code it needs is copied next to the file first (under
Ansible the module's payload lives in a directory removed when the module exits).
``confirm`` removes the file and stops the reverter. Files are keyed by bridge and network
namespace (namespaces share /run).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from ansible_collections.hypervisor.networking.plugins.module_utils import _rundir

STATE_DIR = _rundir.RUN_DIR

REVERTER = r"""
import json, os, sys, time
path, code = sys.argv[1], sys.argv[2]
def read():
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as handle:
        return json.load(handle)
state = read()
time.sleep(max(0, state["deadline"] - time.time()))
try:
    if read().get("token") != state["token"]:
        sys.exit(0)
except (IOError, OSError, ValueError):
    sys.exit(0)  # confirmed meanwhile
if code:
    sys.path.insert(0, code)
from ansible_collections.hypervisor.networking.plugins.module_utils import _rollback, _rundir
results = _rollback.replay(state["actions"])
_rundir.write_json(path + ".reverted", {"at": time.time(), "results": results})
os.unlink(path)
if code.startswith(os.path.dirname(path) + os.sep):
    os.unlink(code)
"""


def state_path(bridge):
    """The armed-revert file of ``bridge`` in this network namespace."""
    return os.path.join(STATE_DIR, "rollback-%s-%d.json" % (bridge, _rundir.netns_inode()))


class _Standalone(object):
    """What the executors ask of a module, for the reverter that runs after it."""

    @staticmethod
    def run_command(argv, data=None, binary_data=False):
        proc = subprocess.run(argv, input=data, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    @staticmethod
    def get_bin_path(name):
        return shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")

    @staticmethod
    def atomic_move(src, dest):
        os.rename(src, dest)


def replay(actions):
    """Run undo Actions ([op, args], newest first) with the module's executor; every one is
    tried, and each result is reported."""
    from ansible_collections.hypervisor.networking.plugins.module_utils import _engine
    from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink

    results = []
    with Netlink() as nl:
        executor = _engine.Executor(_Standalone(), nl)
        for op, args in actions:
            try:
                getattr(executor, op)(**args)
                results.append({"op": op, "ok": True})
            except Exception as exc:  # keep reverting the rest; the report says what failed
                results.append({"op": op, "ok": False, "error": str(exc)})
    return results


def _code_root():
    """Where the reverter imports the collection from: a copy of the module's payload
    (Ansible removes its own when the module exits), or the directory holding
    ansible_collections when the code is installed as files."""
    main = sys.modules.get("__main__")
    payload = getattr(main, "_modlib_path", None)
    if payload and os.path.isfile(payload):
        copy = os.path.join(STATE_DIR, "reverter-%d-%d.zip" % (os.getpid(), _rundir.netns_inode()))
        with open(payload, "rb") as source, os.fdopen(_rundir.open_fd(
                copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as target:
            shutil.copyfileobj(source, target)
        return copy
    here = os.path.abspath(__file__)
    return here[:here.index(os.sep + "ansible_collections" + os.sep)]


def arm(bridge, undo_actions, timeout):
    """Write the way back (the undo Actions, newest first, as (op, args)) and start the
    reverter; return the state file's path."""
    _rundir.ensure()
    path = state_path(bridge)
    _rundir.remove(path + ".reverted")  # a report of an earlier revert of this bridge
    state = {"bridge": bridge, "deadline": time.time() + timeout, "token": os.urandom(8).hex(),
             "actions": [list(action) for action in undo_actions], "code": _code_root()}
    _rundir.write_json(path, state)
    with open(os.devnull, "r+b") as null:
        proc = subprocess.Popen([sys.executable, "-c", REVERTER, path, state["code"]], stdin=null, stdout=null,
                                stderr=null, close_fds=True, start_new_session=True)
    # pids are reused: disarm signals this pid only while it is still this reverter
    state["pid"], state["pid_start"] = proc.pid, _rundir.process_start(proc.pid)
    _rundir.write_json(path, state)
    return path


def pending(bridge):
    """The armed revert of ``bridge`` (dict) or None."""
    return _rundir.read_json(state_path(bridge))


def disarm(bridge):
    """Remove the armed revert and stop its reverter (the change stays)."""
    state = pending(bridge)
    if state is None:
        return False
    _rundir.remove(state_path(bridge))
    code = state.get("code") or ""
    if code.startswith(STATE_DIR + os.sep):
        _rundir.remove(code)  # the reverter's copy of the collection's code
    if is_reverter(state):
        try:
            os.kill(state["pid"], signal.SIGTERM)
        except OSError:  # gone meanwhile
            pass
    return True


def is_reverter(state):
    """The process ``state`` names is still its reverter: the same start time, and our
    reverter's command line naming this state file (a reused pid is someone else)."""
    pid = state.get("pid")
    if not pid or state.get("pid_start") is None or _rundir.process_start(pid) != state["pid_start"]:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().split(b"\0")
    except (IOError, OSError):
        return False
    return state_path(state["bridge"]).encode() in argv and REVERTER.encode() in argv


def forget(bridge):
    """Remove what an earlier revert of ``bridge`` left (its report): the network is gone."""
    _rundir.remove(state_path(bridge) + ".reverted")
