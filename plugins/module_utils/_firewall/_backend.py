# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall backend interface and its selection, private to this collection.

A backend reads this collection's rules and writes transactions of them; _tx plans
typed rule sets (``_model.RuleSet``: a kind, a family, a name, a model or None to remove
the set) against it (community.crypto's module_backends pattern). ``select_backend()`` checks the dependency and returns an
instance: ``auto`` keeps the backend that holds this collection's sets; on a host with
none yet it follows the host (iptables-legacy when it holds someone's rules or is the
``iptables`` alternative, else nftables).
"""

from __future__ import annotations

import abc
import shutil

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import DependencyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import IPV4, IPV6
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._xtables import alternative_is_legacy


class FirewallBackend(abc.ABC):
    """What a backend offers the firewall modules: every rule set kind and family goes
    through these, and nothing outside the backend knows its syntax or its chain names.

    - ``desired(rset)``: the set in the backend's own terms;
    - ``present(rset)``: anything of the set exists under this backend;
    - ``plan(fw, rulesets)``: the Actions (with their undo) making the backend's own
      tables or chains hold exactly ``rulesets``, in ONE transaction per writer, with the
      lines and before/after views the user sees, added to the FirewallPlan ``fw``;
    - ``boot_load(rulesets)``: what the boot unit loads for the stored sets of this backend;
    - ``running()``, ``forward_rows()``: the sets and each published port as they run, with
      their counters (net_info);
    - ``forward_target(name, port, proto)``: where a published port leads (diagnose).
    """

    name = None

    def __init__(self, run_command, get_bin_path):
        self.run_command, self.get_bin_path = run_command, get_bin_path

    @abc.abstractmethod
    def available(self):
        """The backend's tools are installed."""

    @staticmethod
    @abc.abstractmethod
    def desired(rset):
        """The set in the backend's terms."""

    @abc.abstractmethod
    def present(self, rset):
        """True when anything of the set exists under this backend."""

    @abc.abstractmethod
    def plan(self, fw, rulesets):
        """A Plan of the backend's own change for ``rulesets`` (views and lines into ``fw``)."""

    @classmethod
    @abc.abstractmethod
    def boot_load(cls, rulesets):
        """What the boot unit loads for these stored sets."""

    @abc.abstractmethod
    def running(self, names=()):
        """[{kind, name, family, backend, rules, packets, bytes, translates}] as they run."""

    @abc.abstractmethod
    def forward_rows(self, names=()):
        """[{set, family, backend, proto, port, to_addr, to_port, match, packets, bytes}]: each
        published port as it runs, with what it translated."""

    @abc.abstractmethod
    def forward_target(self, name, port, proto="tcp", families=("ipv4", "ipv6")):
        """(to_addr, to_port, narrowed) of a published port of set ``name``, or None."""

    def own_accepts(self, rset):
        """The iptables world whose FORWARD the backend's own chains give the set's
        accepts in (None: the accepts go into the worlds other tools write)."""
        return None

    def legacy_world(self, stem):
        """The backend's own iptables world of ``stem`` (iptables, ip6tables), or None."""
        return None


def legacy_state(xt, xt6=None):
    """(someone's rules: an iptables-legacy table holds a rule or a non-ACCEPT policy that
    is not ours; ours: a rule set of ours lives there, IPv4 or IPv6) of this namespace."""
    from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _iptables

    ours6 = False
    names6 = _xtables.legacy_tables("ip6tables")
    if xt6 is not None and xt6.usable and names6:
        ours6 = any(_iptables.SET_CHAIN.match(chain) and rules for state in xt6.save(names6).values()
                    for chain, rules in state["rules"].items())
    names = _xtables.legacy_tables()
    if not names or not xt.usable:
        return bool(names), ours6
    foreign, ours = False, ours6
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
    legacy6_xt = _xtables.Xtables(module.run_command, module.get_bin_path, "ip6tables-legacy")
    legacy, legacy_ours = legacy_state(legacy_xt, legacy6_xt)
    warnings = []
    tables, ours = (nft.list_tables() if nft.available() else []), nft.our_tables()
    # an overlay's guard is in nftables' bridge table on every backend: neither foreign nor
    # a sign of the nftables backend
    foreign = [t for t in tables if t not in nft.our_tables(_nft.TABLE_FAMILIES)]
    if "ip filter" in foreign and _xtables.seeded_table_only_ours(module.run_command, module.get_bin_path):
        foreign.remove("ip filter")  # made by us to hold our accepts: not another ruleset
    if legacy and foreign:
        warnings.append("rules exist both in iptables-legacy (%s) and in nftables (%s): the two sets are "
                        "evaluated independently, and a drop in either drops the packet"
                        % (", ".join(_xtables.legacy_tables()), ", ".join(foreign)))
    name = requested
    nft_ours = any(t in tables for t in ours)  # one listing of the tables for both questions
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
    ipt = _iptables.IptablesBackend(module.run_command, module.get_bin_path, {IPV4: legacy_xt, IPV6: legacy6_xt}) \
        if legacy_xt.usable else None
    chosen, other = (nft, ipt) if name == "nftables" else (ipt, nft if nft.available() else None)
    return chosen, other, warnings
