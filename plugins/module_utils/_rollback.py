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

import json
import os
import shutil
import signal
import subprocess
import sys
import time

STATE_DIR = "/run/hypervisor-networking"

REVERTER = r"""
import json, os, sys, time
path, code = sys.argv[1], sys.argv[2]
with open(path) as handle:
    state = json.load(handle)
time.sleep(max(0, state["deadline"] - time.time()))
try:
    with open(path) as handle:
        if json.load(handle).get("token") != state["token"]:
            sys.exit(0)
except (IOError, OSError, ValueError):
    sys.exit(0)  # confirmed meanwhile
if code:
    sys.path.insert(0, code)
from ansible_collections.hypervisor.networking.plugins.module_utils import _rollback
results = _rollback.replay(state["actions"])
with open(path + ".reverted", "w") as handle:
    json.dump({"at": time.time(), "results": results}, handle)
os.unlink(path)
if code.startswith(os.path.dirname(path) + os.sep):
    os.unlink(code)
"""


def state_path(bridge):
    """The armed-revert file of ``bridge`` in this network namespace."""
    netns = os.stat("/proc/self/ns/net").st_ino
    return os.path.join(STATE_DIR, "rollback-%s-%d.json" % (bridge, netns))


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
        copy = os.path.join(STATE_DIR, "reverter-%d.zip" % os.getpid())
        shutil.copyfile(payload, copy)
        return copy
    here = os.path.abspath(__file__)
    return here[:here.index(os.sep + "ansible_collections" + os.sep)]


def arm(bridge, undo_actions, timeout):
    """Write the way back (the undo Actions, newest first, as (op, args)) and start the
    reverter; return the state file's path."""
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    path = state_path(bridge)
    state = {"bridge": bridge, "deadline": time.time() + timeout, "token": os.urandom(8).hex(),
             "actions": [list(action) for action in undo_actions], "code": _code_root()}
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle)
    os.rename(tmp, path)
    with open(os.devnull, "r+b") as null:
        proc = subprocess.Popen([sys.executable, "-c", REVERTER, path, state["code"]], stdin=null, stdout=null,
                                stderr=null, close_fds=True, start_new_session=True)
    state["pid"] = proc.pid
    with open(tmp, "w") as handle:
        json.dump(state, handle)
    os.rename(tmp, path)
    return path


def pending(bridge):
    """The armed revert of ``bridge`` (dict) or None."""
    try:
        with open(state_path(bridge)) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def disarm(bridge):
    """Remove the armed revert and stop its reverter (the change stays)."""
    state = pending(bridge)
    if state is None:
        return False
    os.unlink(state_path(bridge))
    code = state.get("code") or ""
    if code.startswith(STATE_DIR + os.sep) and os.path.exists(code):
        os.unlink(code)  # the reverter's copy of the collection's code
    if state.get("pid"):
        try:
            os.kill(state["pid"], signal.SIGTERM)
        except OSError:  # already gone
            pass
    return True
