# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall modules' common run: select the backend, plan one rule set, apply it
as one transaction unless in check mode, read back. Private to this collection."""

from __future__ import annotations

from ansible_collections.hypervisor.networking.plugins.module_utils import _deps
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _backend, _nft
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker


def _nft_view(chains, maps):
    """Rules per chain plus elements per map/set: what the module reports."""
    view = dict(chains)
    view.update(dict((name, list(m[2])) for name, m in maps.items()))
    return view


def _nft_converge(module, runner, prefix, desired):
    """(lines, before rules, after rules) for the nftables backend; desired = (chains, maps)."""
    want_chains, want_maps = desired
    listing = runner.list_table()
    chains, maps = _nft.parse_table(listing), _nft.parse_maps(listing)
    before = _nft_view(_nft.set_rules(chains, prefix), _nft.set_maps(maps, prefix))
    lines, script = _nft.plan_set(chains, prefix, want_chains, maps, want_maps)
    if not script:
        return lines, before, before
    if module.check_mode:
        return lines, before, _nft_view(want_chains, want_maps)
    ok, err = runner.apply(script)
    if not ok:
        raise ApplyError("the nftables transaction was refused, nothing changed: %s" % err.strip())
    listing = runner.list_table()
    return lines, before, _nft_view(_nft.set_rules(_nft.parse_table(listing), prefix),
                                    _nft.set_maps(_nft.parse_maps(listing), prefix))


def _ipt_converge(module, kind, name, desired):
    """(lines, before rules, after rules) for the iptables backend."""
    ipt = _backend.ipt_backend()
    before = ipt.rules_text(kind, name)
    lines, apply = ipt.plan_set(kind, name, desired)
    if apply is None:
        return lines, before, before
    if module.check_mode:
        return lines, before, ipt.desired_text(kind, name, desired)
    apply()
    return lines, before, ipt.rules_text(kind, name)


def converge(module, kind, name, desired, requested):
    """Make rule set ``kind``/``name`` what ``desired`` ({backend: chains}) says."""
    runner = _nft.NftRunner(module.run_command, module.get_bin_path)
    backend, warnings = _backend.select_backend(requested, runner)
    for warning in warnings:
        module.warn(warning)
    backends = [backend]
    if requested == "auto" and not (desired[backend][0] if backend == "nftables" else desired[backend]):
        # removal: the set may have been created under the other backend
        other = "iptables" if backend == "nftables" else "nftables"
        if (other == "nftables" and runner.available()) or (other == "iptables" and _deps.iptc_module()):
            backends.append(other)
    actions, before, after = [], {}, {}
    for which in backends:
        if which == "nftables":
            lines, old, new = _nft_converge(module, runner, "%s_%s_" % (kind, name), desired[which])
        else:
            lines, old, new = _ipt_converge(module, kind, name, desired[which])
        actions.extend(lines)
        before[which], after[which] = old, new
    result = {"changed": bool(actions), "actions": actions, "backend": backend, "rules": after[backend]}
    if module._diff:
        result["diff"] = DiffTracker(before, after).diff("%s %s" % (kind, name))
    return result
