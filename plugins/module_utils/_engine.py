# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One executor for every kind of Action, private to this collection.

guest_network plans netlink operations, sysctl writes, firewall transactions and file
changes as Actions of one ``_plan.Plan``; this executor carries them all out, so one
``Plan.apply`` applies them in order and undoes the applied ones newest first when one
fails. Every Action's arguments are plain data (names, numbers, texts, nft JSON, restore
input): an undo replays them with the same code.

A failpoint lets the tests make any Action fail for real, as a refused kernel call
would: ``HYPERVISOR_NETWORKING_FAILPOINT=<text>`` fails the first Action whose summary
contains the text, before it runs (``<text>@<n>``: the n-th such Action; ``#<n>``: the
n-th Action of the plan).
"""

from __future__ import annotations

import os

from ansible_collections.hypervisor.networking.plugins.module_utils import _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils._dhcp import DnsmasqExecutor
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._persist import FileExecutor
from ansible_collections.hypervisor.networking.plugins.module_utils._sysctl import SysctlExecutor

FAILPOINT_ENV = "HYPERVISOR_NETWORKING_FAILPOINT"


class Executor(object):
    """Netlink ops go to the session, sysctl, file and dnsmasq ops to their executors, firewall ops
    to the backends' writers (``nft_run`` and ``xt_restore``)."""

    def __init__(self, module, nl=None, nft=None, worlds=None):
        self.module = module
        self.nl = nl
        self.sysctl = SysctlExecutor(module)
        self.files = FileExecutor(module)
        self.dnsmasq = DnsmasqExecutor(module)
        self.nft = nft
        self.worlds = dict((xt.command, xt) for xt in worlds or ())

    def __getattr__(self, op):
        for target in (self.sysctl, self.files, self.dnsmasq, self.nl):
            if target is not None and hasattr(target, op):
                return getattr(target, op)
        raise AttributeError(op)

    def nft_run(self, commands):
        """One nft JSON transaction (our table only)."""
        self.nft.run(commands)

    def xt_restore(self, command, payload):
        """One ``<command>-restore --noflush`` of our chains."""
        if command not in self.worlds:
            self.worlds[command] = _xtables.Xtables(self.module.run_command, self.module.get_bin_path, command)
        self.worlds[command].restore(payload)

    def unseed_ip_filter(self):
        """Delete iptables-nft's ip filter table we created (with the note saying so), if
        nobody else uses it now."""
        if self.nft is None:
            from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._nft import NftBackend
            self.nft = NftBackend(self.module.run_command, self.module.get_bin_path)
        _xtables.unseed(self.nft)

    @staticmethod
    def seed_mark(path, text):
        """Note that we create iptables-nft's ip filter table (we alone remove it again)."""
        _rundir.write_text(path, text)


class _Failing(object):
    """An executor whose n-th Action matching the failpoint raises before it runs."""

    def __init__(self, executor, plan, failpoint):
        self._executor = executor
        if failpoint.startswith("#"):
            text, nth = "", failpoint[1:]
        else:
            text, _sep, nth = failpoint.partition("@")
        matching = [a for a in plan if text in a.summary]
        self._victim = matching[int(nth or 1) - 1] if len(matching) >= int(nth or 1) else None
        self._plan = plan
        self._next = iter(plan.actions)

    def __getattr__(self, op):
        action = next(self._next, None)
        if action is not None and action is self._victim:
            self._victim = None
            self._next = iter(())

            def refuse(**_kwargs):
                raise ApplyError("failpoint %s: refused" % os.environ.get(FAILPOINT_ENV))
            return refuse
        return getattr(self._executor, op)


def apply(plan, executor, context):
    """Apply ``plan`` on ``executor``: every Action in order, the applied ones undone newest
    first when one fails (ApplyError says what was applied and what was undone)."""
    failpoint = os.environ.get(FAILPOINT_ENV)
    if failpoint:
        # the undo calls come after the failure: they pass through unchanged
        executor = _Failing(executor, plan, failpoint)
    return plan.apply(executor, context=context)
