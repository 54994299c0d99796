# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall modules' common run, private to this collection: under our lock, select
the backend, plan one rule set, apply it unless in check mode, read back."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _backend
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker

LOCK_DIR = "/run/hypervisor-networking"
LOCK_FILE = os.path.join(LOCK_DIR, "firewall.lock")
LOCK_TIMEOUT = 120


@contextlib.contextmanager
def firewall_lock(path=LOCK_FILE, timeout=LOCK_TIMEOUT):
    """Serialise our own runs on this host: two at once would each read the tables, and
    the second's plan would be stale by the time it applies."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise StateError("another hypervisor.networking run has held %s for %d s" % (path, timeout))
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def converge(module, kind, name, model, hairpin, requested):
    """Make rule set ``kind``/``name`` exactly ``model`` (None: removed) on the backend."""
    with firewall_lock():
        backend, other, warnings = _backend.select_backend(requested, module)
        nft = backend if backend.name == "nftables" else other
        if model is not None and model.forward and nft is not None:
            warnings.extend("nftables chain %s drops forwarded packets by policy, and no rule in another table "
                            "can overrule that: the guests' forwarded traffic flows only if that chain accepts "
                            "it (firewalld: a policy or zone for the guest bridge)" % chain
                            for chain in nft.native_forward_drops())
        for warning in warnings:
            module.warn(warning)
        backends = [backend]
        if model is None and requested == "auto" and other is not None and other.present(kind, name):
            backends.append(other)  # removal: the set may have been created under the other backend
        actions, before, after = [], {}, {}
        for which in backends:
            change = which.plan(kind, name, model, hairpin)
            actions.extend(change.lines)
            before[which.name], after[which.name] = change.before, change.after
            if change and not module.check_mode:
                which.apply(change)
                after[which.name] = which.plan(kind, name, model, hairpin).before
    result = {"changed": bool(actions), "actions": actions, "backend": backend.name, "rules": after[backend.name]}
    if module._diff:
        result["diff"] = DiffTracker(before, after).diff("%s %s" % (kind, name))
    return result
