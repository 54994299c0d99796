# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Armed reverts for linux_bridge ``rollback_timeout`` / ``confirm``, private to this collection.

Before a migration changes anything, the way back (the plan's undo steps, newest first,
as ``ip`` argument lists) is written to a file under /run, and a reverter process is
started in its own session: it does not depend on the module, the Ansible connection or
the controller. When the timeout passes and the file is still there, it runs the steps
and removes the file. ``confirm`` removes the file and stops the reverter. Files are
keyed by bridge and network namespace (namespaces share /run).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError

STATE_DIR = "/run/hypervisor-networking"

# the reverter: plain Python and `ip`, nothing of this collection or Ansible
REVERTER = r"""
import json, os, subprocess, sys, time
path = sys.argv[1]
with open(path) as handle:
    state = json.load(handle)
time.sleep(max(0, state["deadline"] - time.time()))
try:
    with open(path) as handle:
        if json.load(handle).get("token") != state["token"]:
            sys.exit(0)
except (IOError, OSError, ValueError):
    sys.exit(0)  # confirmed meanwhile
results = []
for step in state["steps"]:
    argv, data = (step["argv"], step["input"]) if isinstance(step, dict) else (step, None)
    proc = subprocess.run(argv, input=data, capture_output=True, text=True)
    results.append({"argv": argv, "rc": proc.returncode, "stderr": proc.stderr.strip()})
with open(path + ".reverted", "w") as handle:
    json.dump({"at": time.time(), "results": results}, handle)
os.unlink(path)
"""


def state_path(bridge):
    """The armed-revert file of ``bridge`` in this network namespace."""
    netns = os.stat("/proc/self/ns/net").st_ino
    return os.path.join(STATE_DIR, "rollback-%s-%d.json" % (bridge, netns))


def ip_steps(undo_actions):
    """The plan's undo (op, args) pairs, newest first -> `ip` argument lists."""
    steps = []
    for op, args in undo_actions:
        try:
            steps.append(_ip_argv(op, args))
        except ValueError as exc:
            # refused before arming, hence before any change
            raise StateError("rollback_timeout: cannot arm a revert for this change (%s); run it without "
                             "rollback_timeout, then migrate" % exc)
    return steps


def _ip_argv(op, args):
    """One executor operation as the `ip` command that does the same."""
    name = args.get("name")
    if op == "link_del":
        return ["ip", "link", "del", "dev", name]
    if op == "link_master":
        return ["ip", "link", "set", "dev", name] + (["master", args["master"]] if args["master"] else ["nomaster"])
    if op == "link_set" and set(args) == {"name", "up"}:
        return ["ip", "link", "set", "dev", name, "up" if args["up"] else "down"]
    if op in ("addr_add", "addr_del"):
        iface = ipaddress.ip_interface(args["cidr"])
        argv = ["ip", "addr", "add" if op == "addr_add" else "del", iface.with_prefixlen, "dev", name]
        if op == "addr_add" and iface.version == 4 and iface.network.prefixlen < 31:
            argv[4:4] = ["brd", "+"]
        if op == "addr_add" and iface.version == 6 and args.get("nodad"):
            argv.append("nodad")
        return argv
    if op == "route_replace":
        return _route_argv(args["route"], name)
    raise ValueError("no ip command for %s %s" % (op, args))


def _route_argv(route, dev):
    """ip route replace for a route dict from Netlink.routes()."""
    argv = ["ip", "-6" if route["family"] == 10 else "-4", "route", "replace", route["dst"]]
    if route["gateway"]:
        argv += ["via", route["gateway"]]
    argv += ["dev", dev, "table", str(route["table"]), "proto", str(route["proto"]), "scope", str(route["scope"])]
    if route["metric"] is not None:
        argv += ["metric", str(route["metric"])]
    if route["prefsrc"]:
        argv += ["src", route["prefsrc"]]
    return argv


def arm(bridge, undo_actions, timeout, extra_steps=()):
    """Write the way back (the undo actions, then ``extra_steps``: {argv, input} dicts) and
    start the reverter; return the state file's path."""
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    path = state_path(bridge)
    state = {"bridge": bridge, "deadline": time.time() + timeout, "token": os.urandom(8).hex(),
             "steps": ip_steps(undo_actions) + list(extra_steps)}
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle)
    os.rename(tmp, path)
    with open(os.devnull, "r+b") as null:
        proc = subprocess.Popen([sys.executable, "-c", REVERTER, path], stdin=null, stdout=null, stderr=null,
                                close_fds=True, start_new_session=True)
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
    if state.get("pid"):
        try:
            os.kill(state["pid"], signal.SIGTERM)
        except OSError:  # already gone
            pass
    return True
