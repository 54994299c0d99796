# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables-legacy backend over iptables-legacy-save/-restore, private to this collection.

Each rule set owns chains ``HN-<hook><kind>-<name>`` (28 characters at most; longer
names end in a digest), reached by one jump tagged ``hypervisor.networking`` at the top
of the built-in chain. One ``iptables-legacy-restore --noflush --wait`` run per change,
tables ordered so that a run cut off between them opens nothing the final state does
not: nat before filter when adding (a DNAT or masquerade without its accept is closed;
an accept without its masquerade would forward guests' private addresses), filter before
nat when the accepts go. Where iptables-nft's FORWARD exists too (Docker, libvirt and
firewalld write there), the same accepts go into our chain there, or its drop would win.
"""

from __future__ import annotations

import hashlib
import re

from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._backend import (
    CT_MARK,
    FirewallBackend,
    accept_rules,
)

HOOKS = {"post": ("nat", "POSTROUTING"), "pre": ("nat", "PREROUTING"),
         "out": ("nat", "OUTPUT"), "fwd": ("filter", "FORWARD"), "in": ("filter", "INPUT")}
_HOOK_LETTER = {"post": "P", "pre": "D", "out": "O", "fwd": "F", "in": "I"}
_KIND_LETTER = {"masq": "M", "dnat": "N"}
CHAIN_MAX = 28  # XT_EXTENSION_MAXNAMELEN - 1
SET_CHAIN = re.compile(r"^HN-[PDOFI][MN]-")  # a chain of one of our rule sets


def chain_name(kind, name, suffix):
    """HN-PM-lan style chain name, shortened with a digest when it would not fit."""
    chain = "HN-%s%s-%s" % (_HOOK_LETTER[suffix], _KIND_LETTER[kind], name)
    if len(chain) <= CHAIN_MAX:
        return chain
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return chain[:CHAIN_MAX - 9] + "-" + digest


def masquerade_rules(rule):
    """Masquerade -> {suffix: [tokens]}: excluded destinations RETURN first."""
    out = ["-o", rule.out_interface] if rule.out_interface else []
    post = [["-d", net, "-j", "RETURN"] for net in rule.exclude]
    post.append(["-s", rule.source] + out + ["-j", "MASQUERADE"])
    chains = {"post": post}
    fwd = accept_rules("masq", rule)
    if fwd:
        chains["fwd"] = fwd
    return chains


def _port(rng):
    """(lo, hi) -> '80' or '5000:5010'."""
    return str(rng[0]) if rng[0] == rng[1] else "%d:%d" % rng


def _dnat_rules(fwd, local, mark):
    """One forward: per source (and per port where a range is shifted), the connmark
    rule (with ``mark``) then the DNAT, both with the same match."""
    if local and fwd.in_interface:
        return []
    if fwd.port == fwd.to_port:
        targets = [(fwd.port, fwd.to_addr)]
    else:
        targets = [((hp, hp), "%s:%d" % (fwd.to_addr, tp)) for hp, tp in fwd.pairs()]
    rules = []
    for src in fwd.sources or [None]:
        for ports, to in targets:
            match = (["-s", src] if src else []) + (["-d", fwd.destination + "/32"] if fwd.destination else [])
            match += ["-i", fwd.in_interface] if fwd.in_interface and not local else []
            match += ["-p", fwd.proto]
            match += [] if fwd.destination else ["-m", "addrtype", "--dst-type", "LOCAL"]
            match += ["-m", fwd.proto, "--dport", _port(ports)]
            if mark:
                rules.append(match + ["-j", "CONNMARK", "--set-xmark", "0x%x/0x%x" % (CT_MARK, CT_MARK)])
            rules.append(match + ["-j", "DNAT", "--to-destination", to])
    return rules


def dnat_rules(fset, hairpin_subnets):
    """ForwardSet -> {suffix: [tokens]}; the nat chains see only a connection's first packet."""
    chains = {}
    mark = fset.forward
    pre = [r for f in fset.forwards for r in _dnat_rules(f, False, mark)]
    if pre:
        chains["pre"] = pre
    out = [r for f in fset.forwards for r in _dnat_rules(f, True, False)] if fset.localhost else []
    if out:
        chains["out"] = out
    post = []
    if fset.hairpin and fset.forwards:
        post.extend(["-s", net, "-o", ifname, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"]
                    for net, ifname in sorted(hairpin_subnets))
    if fset.localhost and fset.forwards:
        post.append(["-s", "127.0.0.0/8", "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"])
        # route_localnet lets any interface reach 127.0.0.0/8: only our DNAT's may
        chains["in"] = [["-d", "127.0.0.0/8", "!", "-i", "lo", "-m", "conntrack", "!", "--ctstate", "DNAT",
                         "-j", "DROP"]]
    if post:
        chains["post"] = post
    fwd = accept_rules("dnat", fset)
    if fwd:
        chains["fwd"] = fwd
    return chains


def render(kind, model, hairpin):
    """The rule set's chains as {suffix: [tokens]} (empty when the set is to go)."""
    if model is None:
        return {}
    return masquerade_rules(model) if kind == "masq" else dnat_rules(model, hairpin)


class IptablesBackend(FirewallBackend):
    """Rule sets in iptables-legacy, written with iptables-legacy-restore."""

    name = "iptables"

    def __init__(self, run_command, get_bin_path, xt, nft):
        super().__init__(run_command, get_bin_path)
        self.xt, self.nft = xt, nft

    def state(self):
        """Our tables as they are now (absent legacy tables are not read: that creates them)."""
        return self.xt.save([t for t in ("nat", "filter") if t in _xtables.legacy_tables()])

    def present(self, kind, name):
        # its nat chains: a FORWARD chain of the same name may be the accepts an nftables
        # set keeps in iptables-legacy's FORWARD, not a set of this backend
        state = self.state()
        return any(chain_name(kind, name, s) in state.get(t, {}).get("rules", {}) for s, (t, _b) in HOOKS.items()
                   if t == "nat")
