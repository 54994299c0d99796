#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: net_info
short_description: What the host's network is - routes, bridges, TAPs, forwarding, firewall, persistence
version_added: 0.2.0
description:
  - Read-only. Reports what the seed's looking commands show (C(route -n), C(brctl show),
    C(iptables -L -n -v -t nat)), in one structure, whichever firewall backend holds this
    collection's rules, plus the foreign state that decides whether guests' traffic flows and
    the differences between the running network and its persisted configuration.
  - One netlink session, one read per firewall world. Check mode changes nothing (nothing ever
    changes).
author:
  - Hypervisor Networking Contributors (@hypervisor-networking)
extends_documentation_fragment:
  - hypervisor.networking.attributes
  - hypervisor.networking.attributes.PYROUTE2
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to compare.
options:
  gather:
    description: The parts to read.
    type: list
    elements: str
    choices: [routes, bridges, taps, forwarding, firewall, persistence]
    default: [routes, bridges, taps, forwarding, firewall, persistence]
  tables:
    description: V(main) - routes of the main table (what C(route -n) shows); V(all) - every table.
    type: str
    choices: [main, all]
    default: main
notes:
  - Route flags are computed as the kernel's C(/proc/net/route) does (what C(route -n) prints) - V(U)
    for every listed route, V(G) with a gateway, V(H) for a host route (/32, /128), V(!) instead of
    V(U) for unreachable and prohibit routes.
seealso:
  - module: hypervisor.networking.linux_bridge
  - module: hypervisor.networking.masquerade
"""

EXAMPLES = r"""
- name: Look at the host's network
  hypervisor.networking.net_info:
  register: net

- name: Show it as route -n does
  ansible.builtin.debug:
    msg: "{{ net.route_table }}"

- name: Only the firewall part
  hypervisor.networking.net_info:
    gather: [firewall]
"""

RETURN = r"""
routes:
  description: Routes, IPv4 then IPv6, longest prefix first.
  returned: when routes are gathered
  type: list
  elements: dict
  sample: [{family: ipv4, destination: 0.0.0.0, prefix: 0, genmask: 0.0.0.0, gateway: 192.0.2.1, flags: UG,
            metric: 0, iface: eth0, table: main, protocol: static, scope: global, type: unicast}]
route_table:
  description: The IPv4 main table as C(route -n) prints it, one line per entry.
  returned: when routes are gathered
  type: list
  elements: str
bridges:
  description: Bridges as C(brctl show) lists them (name, bridge_id, stp, ports) with addresses and options.
  returned: when bridges are gathered
  type: list
  elements: dict
bridge_table:
  description: The bridges as C(brctl show) prints them.
  returned: when bridges are gathered
  type: list
  elements: str
taps:
  description: TAP devices with owner, group, bridge, in_use (a process holds it), multi_queue, vnet_hdr.
  returned: when taps are gathered
  type: list
  elements: dict
forwarding:
  description: IPv4 and IPv6 forwarding (null where the namespace has no IPv6).
  returned: when forwarding is gathered
  type: dict
  sample: {ipv4: true, ipv6: false}
firewall:
  description:
    - C(backend) (what this collection uses here), C(mark) (the conntrack bit its DNAT sets),
      C(sets) (each masquerade and forward set of ours with its backend, rule count and packet and
      byte counters), C(forward) (per iptables world and family that exists, the FORWARD policy and
      whether our accepts are in it), C(nftables_forward_drops) (native chains dropping forwarded
      packets by policy), C(peers) (Docker, libvirt, firewalld found), C(br_netfilter) (loaded, and
      its switches), C(split_ruleset), C(rp_filter) of the uplink.
  returned: when firewall is gathered
  type: dict
persistence:
  description:
    - C(renderer) (the network manager that carries persisted links, null when none can be told,
      with C(renderer_error)), C(files) (this collection's persisted files), C(drift) (one sentence
      per difference between what runs and what is persisted).
  returned: when persistence is gathered
  type: dict
warnings_found:
  description: One plain sentence per problem found (also given as Ansible warnings).
  returned: always
  type: list
  elements: str
"""

import glob
import os
import re

from ansible_collections.hypervisor.networking.plugins.module_utils import _deps, _info, _persist, _sysctl, _tap
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import HypervisorNetworkingError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot, _nft, _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._backend import CT_MARK, select_backend
from ansible_collections.hypervisor.networking.plugins.module_utils._module import Module
from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink

PARTS = ["routes", "bridges", "taps", "forwarding", "firewall", "persistence"]
ARGUMENT_SPEC = dict(
    gather=dict(type="list", elements="str", choices=PARTS, default=list(PARTS)),
    tables=dict(type="str", choices=["main", "all"], default="main"),
)
_NFT_CHAIN_RE = re.compile(r"^(masq|dnat)_(.+)_(pre|mark|out|post|fwd)$")
_KINDS = {"masq": "masquerade", "dnat": "forwards", "M": "masquerade", "N": "forwards"}


def bridges_view(links, addrs):
    out = []
    for name in sorted(n for n, l in links.items() if l["kind"] == "bridge"):
        link, opts = links[name], links[name].get("bridge") or {}
        out.append({
            "name": name, "bridge_id": _info.bridge_id(link.get("priority") or 0x8000, link["mac"]),
            "stp": bool(opts.get("stp")), "ports": sorted(n for n, l in links.items() if l["master"] == name),
            "addresses": list(addrs.get(link["index"], [])), "up": link["up"], "mtu": link["mtu"],
            "mac": link["mac"], "forward_delay": opts.get("forward_delay"),
            "vlan_filtering": opts.get("vlan_filtering"), "nf_call_iptables": opts.get("nf_call_iptables"),
            "managed": link.get("alias") == _tap.MANAGED_ALIAS,
        })
    return out


def _nft_sets(nft):
    """Our sets in our nftables table, with counters summed over their rules."""
    sets = {}
    for obj in nft.table_objects():
        rule = obj.get("rule")
        if rule is None:
            continue
        match = _NFT_CHAIN_RE.match(rule["chain"])
        if not match:
            continue
        entry = sets.setdefault((match.group(1), match.group(2)), {"rules": 0, "packets": 0, "bytes": 0})
        entry["rules"] += 1
        for stmt in rule["expr"]:
            counter = stmt.get("counter") if isinstance(stmt, dict) else None
            if isinstance(counter, dict):
                entry["packets"] += counter.get("packets", 0)
                entry["bytes"] += counter.get("bytes", 0)
    return [dict(v, kind=_KINDS[k], name=n, backend="nftables") for (k, n), v in sorted(sets.items())]


def _legacy_sets(state):
    """Our sets in iptables-legacy's nat and filter tables (chains HN-<hook><kind>-<name>)."""
    sets = {}
    for table in state.values():
        for chain, rules in table["rules"].items():
            match = re.match(r"^HN-([PDOF])([MN])-(.+)$", chain)
            if not match:
                continue
            entry = sets.setdefault((match.group(2), match.group(3)), {"rules": 0, "packets": 0, "bytes": 0})
            entry["rules"] += len(rules)
            for packets, nbytes in table.get("counters", {}).get(chain, []):
                entry["packets"] += packets
                entry["bytes"] += nbytes
    return [dict(v, kind=_KINDS[k], name=n, backend="iptables") for (k, n), v in sorted(sets.items())]


def firewall_view(module, links, uplink, warnings):
    view = {"mark": "0x%08x" % CT_MARK, "sets": [], "forward": [], "nftables_forward_drops": []}
    try:
        backend, _other, split = select_backend("auto", module)
        view["backend"] = backend.name
    except HypervisorNetworkingError as exc:
        view["backend"], split = None, []
        warnings.append("no firewall backend is usable: %s" % exc.msg)
    view["split_ruleset"] = bool(split)
    warnings.extend(split)
    nft = _nft.NftBackend(module.run_command, module.get_bin_path)
    tables = nft.list_tables() if nft.available() else []
    if "%s %s" % (_nft.FAMILY, _nft.TABLE) in tables:
        view["sets"].extend(_nft_sets(nft))
    legacy = _xtables.Xtables(module.run_command, module.get_bin_path, "iptables-legacy")
    if legacy.usable:
        present = [t for t in ("nat", "filter") if t in _xtables.legacy_tables()]
        view["sets"].extend(_legacy_sets(legacy.save(present, counters=True)))
    # who decides whether forwarded packets pass: every FORWARD chain there is
    foreign_chains = set()
    for stem in ("iptables", "ip6tables"):
        for command in (stem + "-nft", stem + "-legacy"):
            xt = _xtables.Xtables(module.run_command, module.get_bin_path, command)
            if not xt.usable:
                continue
            if command.endswith("-nft"):
                family = "ip6" if stem == "ip6tables" else "ip"
                exists = "%s filter" % family in tables and nft.chain_exists(family, "filter", "FORWARD")
            else:
                exists = "filter" in _xtables.legacy_tables(stem)
            if not exists:
                continue
            filt = xt.save(["filter"]).get("filter") or {"policies": {}, "rules": {}}
            foreign_chains.update(filt["rules"])
            ours = [c for c in filt["rules"] if c.startswith("HN-F")]
            policy = filt["policies"].get("FORWARD")
            view["forward"].append({"world": command, "policy": policy, "our_accepts": sorted(ours)})
            if policy == "DROP" and not ours:
                warnings.append("%s's FORWARD drops by policy and holds none of this collection's accepts: guests' "
                                "forwarded traffic is dropped there (run the role or module again)" % command)
    if nft.available():
        drops = nft.native_forward_drops()
        view["nftables_forward_drops"] = drops
        warnings.extend("nftables chain %s drops forwarded packets by policy; no rule in another table can "
                        "overrule that: allow the guests' traffic there" % chain for chain in drops)
    view["peers"] = {
        "docker": "docker0" in links or "DOCKER" in foreign_chains,
        "libvirt": any(n.startswith("virbr") for n in links) or any(c.startswith("LIBVIRT_") for c in foreign_chains),
        "firewalld": "inet firewalld" in tables or os.path.isdir("/run/firewalld"),
    }
    loaded = os.path.isdir("/proc/sys/net/bridge")
    view["br_netfilter"] = {"loaded": loaded,
                            "call_iptables": _sysctl.read_runtime("net.bridge.bridge-nf-call-iptables"),
                            "call_ip6tables": _sysctl.read_runtime("net.bridge.bridge-nf-call-ip6tables")}
    if uplink:
        rp = _sysctl.read_runtime("net.ipv4.conf.%s.rp_filter" % uplink)
        rp_all = _sysctl.read_runtime("net.ipv4.conf.all.rp_filter")
        view["rp_filter"] = {"uplink": uplink, "value": max(rp or 0, rp_all or 0)}
    return view


def persistence_view(links, addrs, warnings):
    view = {"renderer": None, "files": [], "drift": []}
    try:
        view["renderer"] = _persist.detect("auto")
    except HypervisorNetworkingError as exc:
        view["renderer_error"] = exc.msg
    patterns = [_persist.IFUPDOWN_DIR + "/hypervisor-networking-*", _persist.NETWORKD_DIR + "/*hypervisor-networking*",
                _boot.STORE_DIR + "/*.json", _boot.UNIT_FILE]
    view["files"] = sorted(p for pattern in patterns for p in glob.glob(pattern)
                           if p.endswith(".json") or _persist.is_ours(_persist.read_text(p)))
    for renderer in ("ifupdown", "networkd"):
        for path in glob.glob(_persist.bridge_paths(renderer, "*")[-1]):  # ifupdown stanzas, .network
            text = _persist.read_text(path)
            match = re.search(r"^# bridge (\S+)$", text or "", re.M)
            if not match or not _persist.is_ours(text):
                continue
            name = match.group(1)
            if name not in links:
                view["drift"].append("bridge %s is persisted (%s) but does not exist: it comes back at the next "
                                     "boot, or run the role" % (name, path))
                continue
            running = set(addrs.get(links[name]["index"], []))
            persisted = set(re.findall(r"^\s*(?:address|Address=)\s*(\S+)$", text.replace("Address=", "address "),
                                       re.M))
            for addr in sorted(persisted - running):
                view["drift"].append("%s: %s is persisted but not configured now" % (name, addr))
            for addr in sorted(a for a in running - persisted if not a.startswith("fe80:")):
                view["drift"].append("%s: %s is configured now but not persisted: it is lost at the next reboot, "
                                     "and %s may refuse to take the interface down" % (
                                         name, addr, "ifdown" if renderer == "ifupdown" else "networkd"))
        for tap in _persist.our_tap_names(renderer):
            if tap not in links:
                view["drift"].append("TAP %s is persisted but does not exist" % tap)
    persisted_taps = set(_persist.our_tap_names("ifupdown")) | set(_persist.our_tap_names("networkd"))
    for name, link in sorted(links.items()):
        if link["kind"] == "tun" and link.get("alias") == _tap.MANAGED_ALIAS and name not in persisted_taps \
                and view["files"]:
            view["drift"].append("TAP %s runs but is not persisted: it is lost at the next reboot" % name)
    warnings.extend(view["drift"])
    return view


def run(module):
    params = module.params
    parts = set(params["gather"])
    result = {"changed": False}
    warnings = []
    with Netlink() as nl:
        links = nl.links()
        addrs = nl.addresses() if parts & {"bridges", "persistence"} else {}
        raw = nl.dump_routes(params["tables"] == "all") if parts & {"routes", "firewall"} else []
    names = dict((l["index"], n) for n, l in links.items())
    routes = sorted((_info.route_view(r, names) for r in raw), key=_info.route_sort_key)
    defaults = [r for r in routes if r["family"] == "ipv4" and r["prefix"] == 0 and r["table"] == "main"
                and r["type"] == "unicast"]
    uplink = defaults[0]["iface"] if defaults else None
    if "routes" in parts:
        result["routes"] = routes
        result["route_table"] = _info.route_table_text(routes)
    if "bridges" in parts:
        result["bridges"] = bridges_view(links, addrs)
        result["bridge_table"] = _info.bridges_text(result["bridges"])
    if "taps" in parts:
        result["taps"] = [_tap.tap_view(l) for n, l in sorted(links.items()) if _tap.is_tap(l)]
    forwarding = {"ipv4": _sysctl.read_runtime("net.ipv4.ip_forward"),
                  "ipv6": _sysctl.read_runtime("net.ipv6.conf.all.forwarding")}
    if "forwarding" in parts:
        result["forwarding"] = dict((k, None if v is None else bool(v)) for k, v in forwarding.items())
        if forwarding["ipv4"] == 0:
            warnings.append("IPv4 forwarding is off (net.ipv4.ip_forward = 0): guests reach nothing beyond the host")
    if "firewall" in parts:
        result["firewall"] = firewall_view(module, links, uplink, warnings)
    if "persistence" in parts:
        result["persistence"] = persistence_view(links, addrs, warnings)
    result["warnings_found"] = warnings
    for warning in warnings:
        module.warn(warning)
    return result


def main():
    module = Module(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    _deps.require_pyroute2(module)
    try:
        result = run(module)
    except HypervisorNetworkingError as exc:
        module.fail_json(**exc.fail_kwargs("net_info"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
