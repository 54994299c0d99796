# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend selection, private to this collection: use what the host already uses."""

from __future__ import annotations

import os
import shutil

from ansible_collections.hypervisor.networking.plugins.module_utils import _deps
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import DependencyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _ipt, _nft


def legacy_has_rules(iptc):
    """True when an iptables-legacy table holds a rule or a non-ACCEPT policy."""
    names = _ipt.legacy_tables()
    if not names or iptc is None:
        return bool(names)
    for name in names:
        table = iptc.Table(name)
        for chain in table.chains:
            if chain.rules or (chain.is_builtin() and chain.get_policy().name != "ACCEPT"):
                return True
    return False


def alternative_is_legacy(path=None):
    """Debian's iptables alternative points at iptables-legacy."""
    path = path or shutil.which("iptables")
    # /usr/sbin/iptables -> /etc/alternatives/iptables -> /usr/sbin/iptables-legacy, itself a
    # link to the multi-call binary: the chain ends at xtables-legacy-multi (or -nft-multi)
    return "-legacy" in os.path.basename(os.path.realpath(path)) if path else False


def foreign_nft_tables(runner):
    """nftables tables other than ours (iptables-nft's included)."""
    return [t for t in runner.list_tables() if t != "%s %s" % (_nft.FAMILY, _nft.TABLE)]


def select_backend(requested, runner):
    """auto/nftables/iptables -> (backend name, [warnings])."""
    iptc = _deps.iptc_module()
    warnings = []
    legacy = legacy_has_rules(iptc)
    foreign = foreign_nft_tables(runner)
    if legacy and foreign:
        warnings.append("rules exist both in iptables-legacy (%s) and in nftables (%s): the two sets are "
                        "evaluated independently, and a drop in either drops the packet"
                        % (", ".join(_ipt.legacy_tables()), ", ".join(foreign)))
    name = requested
    if requested == "auto":
        name = "iptables" if (legacy or alternative_is_legacy()) else "nftables"
    if name == "iptables" and iptc is None:
        raise DependencyError(_deps.IPTC_MISSING, "python-iptables", _deps.iptc_import_error())
    if name == "nftables" and not runner.available():
        raise DependencyError("the nftables backend needs python3-nftables or the nft command", "nftables")
    return name, warnings


def ipt_backend():
    """The iptables backend over the imported python-iptables module."""
    return _ipt.IptBackend(_deps.iptc_module())
