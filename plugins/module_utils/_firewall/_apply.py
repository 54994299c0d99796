# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall modules' common run: select the backend, plan one rule set, apply it
as one transaction unless in check mode, read back. Private to this collection."""

from __future__ import annotations

from ansible_collections.hypervisor.networking.plugins.module_utils import _deps
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _backend, _ipt, _nft, _xtnft
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker


def _nft_view(chains, maps):
    """Rules per chain plus elements per map/set: what the module reports."""
    view = dict(chains)
    view.update(dict((name, list(m[2])) for name, m in maps.items()))
    return view


def _nft_converge(module, runner, prefix, desired, xt_chain, xt_desired):
    """(lines, before rules, after rules) for the nftables backend; desired = (chains, maps).

    ``xt_chain``/``xt_desired``: our FORWARD accepts in iptables-nft's ``ip filter``, needed
    only where that FORWARD drops (see _xtnft); written first, undone if nft refuses.
    """
    want_chains, want_maps = desired
    listing = runner.list_table()
    chains, maps = _nft.parse_table(listing), _nft.parse_maps(listing)
    before = _nft_view(_nft.set_rules(chains, prefix), _nft.set_maps(maps, prefix))
    lines, script = _nft.plan_set(chains, prefix, want_chains, maps, want_maps)
    xt = _xtnft.XtNft(module.run_command, module.get_bin_path)
    exists, drops = xt.forward_state(runner)
    # no FORWARD chain there: nothing of ours can be in that table, skip reading it
    xt_lines, xt_payload, xt_undo = xt.plan(xt_chain, xt_desired if drops else []) if exists else ([], None, None)
    lines = xt_lines + lines
    if not script and not xt_payload:
        return lines, before, before
    if module.check_mode:
        return lines, before, _nft_view(want_chains, want_maps)
    if xt_payload:
        xt.apply(xt_payload)
    if script:
        ok, err = runner.apply(script)
        if not ok:
            if xt_payload:
                xt.apply(xt_undo)
            raise ApplyError("the nftables transaction was refused, nothing changed: %s" % err.strip())
    listing = runner.list_table()
    return lines, before, _nft_view(_nft.set_rules(_nft.parse_table(listing), prefix),
                                    _nft.set_maps(_nft.parse_maps(listing), prefix))


def _ipt_converge(module, kind, name, desired):
    """(lines, before rules, after rules) for the iptables backend."""
    ipt = _backend.ipt_backend()
    lines, apply, before, predicted = ipt.plan_set(kind, name, desired)
    if apply is None:
        return lines, before, before
    if module.check_mode:
        return lines, before, predicted
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
            xt_rules = [_ipt.spec_text(s) for s in desired["iptables"].get("fwd", [])]
            lines, old, new = _nft_converge(module, runner, "%s_%s_" % (kind, name), desired[which],
                                            _ipt.chain_name(kind, name, "fwd"), xt_rules)
        else:
            lines, old, new = _ipt_converge(module, kind, name, desired[which])
        actions.extend(lines)
        before[which], after[which] = old, new
    result = {"changed": bool(actions), "actions": actions, "backend": backend, "rules": after[backend]}
    if module._diff:
        result["diff"] = DiffTracker(before, after).diff("%s %s" % (kind, name))
    return result
