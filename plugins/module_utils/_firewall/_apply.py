# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall modules' common run, private to this collection: under our lock, select
the backend, plan one rule set as Actions of one Plan, apply it unless in check mode,
read back."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time

from ansible_collections.hypervisor.networking.plugins.module_utils import _engine, _persist, _rundir, _sysctl
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _backend, _boot, _tx
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker, Plan

LOCK_DIR = _rundir.RUN_DIR
LOCK_FILE = os.path.join(LOCK_DIR, "firewall.lock")
LOCK_TIMEOUT = 120


@contextlib.contextmanager
def firewall_lock(path=LOCK_FILE, timeout=LOCK_TIMEOUT):
    """Serialise our own runs on this host: two at once would each read the tables, and
    the second's plan would be stale by the time it applies."""
    fd = _rundir.open_fd(path, os.O_RDWR | os.O_CREAT)
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


def converge(module, sets, requested, persist=True):
    """Make the rule sets ``sets`` (one set's RuleSets, one per family: model None where it
    goes) exactly so on the backend, and with ``persist`` in the boot-time load: one Plan
    (the boot files first, then the sets' transaction and accepts, then route_localnet as
    the forward sets need it), applied by the one executor, undone whole when a step fails."""
    label = "%s %s" % (sets[0].kind, sets[0].name)
    with firewall_lock():
        backend, other, warnings = _backend.select_backend(requested, module)
        nft = backend if backend.name == "nftables" else other
        if any(rset and rset.model.forward for rset in sets) and nft is not None:
            warnings.extend("nftables chain %s drops forwarded packets by policy, and no rule in another table "
                            "can overrule that: the guests' forwarded traffic flows only if that chain accepts "
                            "it (firewalld: a policy or zone for the guest bridge)" % chain
                            for chain in nft.native_forward_drops())
        for warning in warnings:
            module.warn(warning)
        backends = [backend]
        if requested == "auto" and other is not None and any(not rset and other.present(rset) for rset in sets):
            backends.append(other)  # removal: the set may have been created under the other backend
        files = Plan()
        if persist:
            files = _boot.plan(dict((rset, _boot.record_text(rset, backend.name) if rset else None) for rset in sets),
                               module.get_bin_path)
        files_before = _persist.texts_before(files)
        fws = [_tx.plan_sets(which, sets if which is backend else [r for r in sets if not r], nft, module.run_command,
                             module.get_bin_path, accepts=which is backend) for which in backends]
        plan = Plan(files.actions)
        for fw in fws:
            plan.extend(fw.plan)
        extra = Plan()
        if any(rset.may_use_localnet for rset in sets):
            extra = _sysctl.plan_route_localnet(any(rset.localhost for rset in sets)
                                                or any(fw.localhost_elsewhere for fw in fws), _boot.SYSCTL_FILE)
        plan.extend(extra)
        after = dict((fw.backend.name, fw.after) for fw in fws)
        if plan and not module.check_mode:
            worlds = [xt for fw in fws for xt in fw.worlds]
            _engine.apply(plan, _engine.Executor(module, None, nft, worlds), label)
            if files:
                _boot.daemon_reload(module, files)
                _boot.prune()
            # what the tables now hold, not the prediction
            after[backend.name] = _tx.plan_sets(backend, sets, nft, module.run_command, module.get_bin_path).before
    runtime = [l for fw in fws for l in fw.lines] + extra.lines()
    result = {"changed": bool(plan), "actions": runtime + files.lines(), "backend": backend.name,
              "rules": after[backend.name], "changed_runtime": bool(runtime),
              "changed_persistent": bool(files), "persisted": [a.args["path"] for a in files]}
    if module._diff:
        before = dict((fw.backend.name, fw.before) for fw in fws)
        if persist:
            before, after = dict(before, files=files_before), dict(after, files=_persist.texts_after(files))
        result["diff"] = DiffTracker(before, after).diff(label)
    return result
