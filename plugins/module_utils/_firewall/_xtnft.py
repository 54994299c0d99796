# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""FORWARD accepts for the nftables backend on hosts whose iptables-nft FORWARD drops.

In nftables an accept in our table does not stop another table's base chain from
dropping the packet: on a host where Docker (or anything using iptables-nft) set the
``ip filter`` FORWARD policy to DROP, our forwarded flows would die there. This is the
one place where we add to another tool's table, the way the iptables backend does: our
own chain ``HN-F?-<name>`` in ``ip filter``, reached by one jump tagged
``hypervisor.networking`` at the top of FORWARD, written with iptables-nft-restore
--noflush (one transaction for that table), so iptables-nft keeps reading the table and
every rule it holds stays byte-identical. Private to this collection.
"""

from __future__ import annotations

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _ipt

JUMP = '-m comment --comment "%s" -j %%s' % _ipt.JUMP_COMMENT


class XtNft(object):
    """iptables-nft-save/-restore through run_command with argument lists.

    ``command`` names the pair: ``iptables-nft`` (the default), ``ip6tables-nft``, or the
    ``-legacy`` ones, for our FORWARD chains in the tables other tools use (see _brfw).
    """

    def __init__(self, run_command, get_bin_path, command="iptables-nft"):
        self._run = run_command
        self.command = command
        self._save = get_bin_path(command + "-save")
        self._restore = get_bin_path(command + "-restore")

    def forward_exists(self, get_bin_path):
        """The filter table has a FORWARD chain, read without creating anything. A legacy
        filter table always has one (the caller checks the table exists); for the nft pair,
        nft itself is asked (iptables-nft-save prints a FORWARD that is not there)."""
        if self._save is None or self._restore is None:
            return False
        if "-nft" not in self.command:
            return True
        nft = get_bin_path("nft")
        family = "ip6" if self.command.startswith("ip6") else "ip"
        return nft is not None and self._run([nft, "list", "chain", family, "filter", "FORWARD"])[0] == 0

    def forward_state(self, nft_runner):
        """(iptables-nft ``ip filter`` FORWARD exists, it has policy drop)."""
        rc, out, _err = nft_runner._cmd(["list", "chain", "ip", "filter", "FORWARD"])  # pylint: disable=protected-access
        usable = rc == 0 and self._save is not None and self._restore is not None
        return usable, usable and "policy drop;" in out

    def read(self, chain):
        """(rules of our chain as iptables-save prints them, jump present, chain exists)."""
        if self._save is None:
            return [], False, False
        rc, out, _err = self._run([self._save, "-t", "filter"])
        if rc != 0:
            return [], False, False
        lines = out.splitlines()
        rules = [l[len("-A %s " % chain):] for l in lines if l.startswith("-A %s " % chain)]
        jump = "-A FORWARD %s" % (JUMP % chain) in lines
        return rules, jump, (":%s - " % chain) in out

    def plan(self, chain, desired):
        """(lines, restore payload or None, undo payload or None) for our chain."""
        current, jump, exists = self.read(chain)
        if current == desired and jump == bool(desired) and exists == bool(desired):
            return [], None, None
        lines = ["%s: remove from %s: %s" % (self.command, chain, r) for r in current if r not in desired]
        lines += ["%s: add to %s: %s" % (self.command, chain, r) for r in desired if r not in current]
        # the undo puts back the rules there were (none: the chain goes) after the change
        undo = self._payload(chain, current if exists else [], bool(desired))
        return lines, self._payload(chain, desired, jump), undo

    @staticmethod
    def _payload(chain, rules, jump_present):
        """iptables-restore --noflush text making the chain hold exactly ``rules``."""
        out = ["*filter"]
        if rules:
            out.append(":%s - [0:0]" % chain)  # declared: created, or flushed if it exists
            out.extend("-A %s %s" % (chain, r) for r in rules)
            if not jump_present:
                out.append("-I FORWARD 1 %s" % (JUMP % chain))
        else:
            if jump_present:
                out.append("-D FORWARD %s" % (JUMP % chain))
            out.append(":%s - [0:0]" % chain)
            out.append("-X %s" % chain)
        out.append("COMMIT")
        return "\n".join(out) + "\n"

    def apply(self, payload):
        """One iptables-nft-restore --noflush run."""
        rc, _out, err = self._run(self.restore_argv(), data=payload, binary_data=True)
        if rc != 0:
            raise ApplyError("%s-restore refused the FORWARD accepts, nothing changed: %s" % (self.command, err.strip()))

    def restore_argv(self):
        """The argument list apply() runs (for an armed revert, fed the payload on stdin)."""
        return [self._restore, "--noflush"]
