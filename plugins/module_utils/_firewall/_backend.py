# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall backend interface and its selection, private to this collection.

A backend reads this collection's rules and writes transactions of them; _tx plans a
rule model (a Masquerade or a ForwardSet, or None to remove the set) against it
(community.crypto's module_backends pattern). ``select_backend()`` checks the dependency and returns an
instance: ``auto`` keeps the backend that holds this collection's sets; on a host with
none yet it follows the host (iptables-legacy when it holds someone's rules or is the
``iptables`` alternative, else nftables).
"""

from __future__ import annotations

import shutil

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import DependencyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._xtables import alternative_is_legacy

# conntrack mark bit our DNAT sets on the connections it translates (with forward: true);
# every FORWARD accept we own for published ports is one rule matching it
CT_MARK = 0x00200000


class FirewallBackend(object):
    """What a backend offers the firewall modules."""

    name = None

    def __init__(self, run_command, get_bin_path):
        self.run_command, self.get_bin_path = run_command, get_bin_path

    def present(self, kind, name):
        """True when anything of the set exists under this backend."""
        raise NotImplementedError


def accept_rules(kind, model):
    """Our FORWARD accepts as iptables tokens (our chain, or another tool's FORWARD).

    Published ports: one rule matching the conntrack mark our DNAT sets, whatever their
    number. Masquerade: the subnet out of the uplink, and established/related back; for a
    NAT network's bridge also the drops that isolate its guests (after the accepts).
    """
    if model is None or not model.forward:
        return []
    user = ["-j", _xtables.USER_CHAIN]  # the admin's restrictions come before our accepts
    if kind == "dnat":
        if not model.forwards:
            return []
        return [user, ["-m", "connmark", "--mark", "0x%x/0x%x" % (CT_MARK, CT_MARK), "-j", "ACCEPT"]]
    out = ["-o", model.out_interface] if model.out_interface else []
    back = ["-i", model.out_interface] if model.out_interface else []
    guests = ["-i", model.bridge] if model.bridge else []
    to_guests = ["-o", model.bridge] if model.bridge else []
    rules = [user, ["-s", model.source] + guests + out + ["-j", "ACCEPT"],
             ["-d", model.source] + back + to_guests + ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                                                        "-j", "ACCEPT"]]
    if model.bridge:
        # only the bridge sources the guests' subnet; nothing unsolicited reaches the guests
        # (replies, and connections our DNAT marked, pass)
        rules += [["-s", model.source, "!", "-i", model.bridge, "-j", "DROP"],
                  ["!", "-i", model.bridge, "-o", model.bridge, "-m", "conntrack", "!", "--ctstate",
                   "RELATED,ESTABLISHED", "-m", "connmark", "!", "--mark", "0x%x/0x%x" % (CT_MARK, CT_MARK),
                   "-j", "DROP"]]
    return rules


def legacy_state(xt):
    """(someone's rules: an iptables-legacy table holds a rule or a non-ACCEPT policy that
    is not ours; ours: a rule set of ours lives there) of this namespace."""
    from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _iptables

    names = _xtables.legacy_tables()
    if not names or not xt.usable:
        return bool(names), False
    foreign = ours = False
    for state in xt.save(names).values():
        for chain, rules in state["rules"].items():
            if _iptables.SET_CHAIN.match(chain) and rules:
                ours = True
            elif not chain.startswith("HN-") and [r for r in rules if _xtables.MARK not in r]:
                foreign = True  # a jump of ours carries our comment; the bridges' accepts are HN-FB
        if any(p not in ("ACCEPT", "-") for p in state["policies"].values()):
            foreign = True
    return foreign, ours


def select_backend(requested, module):
    """auto/nftables/iptables -> (FirewallBackend instance, other instance or None, warnings).

    The other backend is returned when it is usable, so a set created under it can be
    found and removed when ``auto`` now picks differently.
    """
    from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _iptables, _nft

    nft = _nft.NftBackend(module.run_command, module.get_bin_path)
    legacy_xt = _xtables.Xtables(module.run_command, module.get_bin_path, "iptables-legacy")
    legacy, legacy_ours = legacy_state(legacy_xt)
    warnings = []
    tables, ours = (nft.list_tables() if nft.available() else []), "%s %s" % (_nft.FAMILY, _nft.TABLE)
    foreign = [t for t in tables if t != ours]
    if "ip filter" in foreign and _xtables.seeded_table_only_ours(module.run_command, module.get_bin_path):
        foreign.remove("ip filter")  # made by us to hold our accepts: not another ruleset
    if legacy and foreign:
        warnings.append("rules exist both in iptables-legacy (%s) and in nftables (%s): the two sets are "
                        "evaluated independently, and a drop in either drops the packet"
                        % (", ".join(_xtables.legacy_tables()), ", ".join(foreign)))
    name = requested
    nft_ours = ours in tables  # one listing of the tables for both questions
    if requested == "auto":
        # once chosen for a host, a backend stays chosen: the one holding our sets (other
        # tools reading or writing iptables-legacy later must not move ours)
        if nft_ours or legacy_ours:
            name = "nftables" if nft_ours else "iptables"
            if nft_ours and legacy_ours:
                warnings.append("rule sets of this collection exist in both nftables and iptables-legacy; "
                                "nftables is used: remove and re-add the sets once to clean iptables-legacy")
        else:
            name = "iptables" if (legacy or alternative_is_legacy()) else "nftables"
    elif requested == "iptables" and not alternative_is_legacy() and shutil.which("iptables"):
        warnings.append("backend=iptables writes iptables-legacy, but this host's iptables command is "
                        "iptables-nft: `iptables -L` does not show these rules (iptables-legacy-save does), "
                        "and Docker's or libvirt's rules are in the other ruleset")
    if name == "iptables" and not legacy_xt.usable:
        raise DependencyError("the iptables backend needs iptables-legacy-save and iptables-legacy-restore "
                              "(Debian: package iptables)", "iptables")
    if name == "nftables" and not nft.available():
        raise DependencyError("the nftables backend needs python3-nftables or the nft command", "nftables")
    ipt = _iptables.IptablesBackend(module.run_command, module.get_bin_path, legacy_xt, nft) \
        if legacy_xt.usable else None
    chosen, other = (nft, ipt) if name == "nftables" else (ipt, nft if nft.available() else None)
    return chosen, other, warnings
