# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""net_info's views, private to this collection: routes as `route -n` shows them, bridges
as `brctl show` does, and the plain sentences of its warnings. Pure functions over the
dicts the netlink adapter and the firewall backends return."""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import socket

from ansible_collections.hypervisor.networking.plugins.module_utils import _persist, _sysctl, _tap
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import HypervisorNetworkingError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot, _iptables, _nft, _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._backend import select_backend
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import CT_MARK

# rtm_type, rtm_protocol and rtm_scope names as iproute2 prints them
ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
               7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
PROTOCOLS = {0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra", 10: "mrt",
             11: "zebra", 12: "bird", 13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp", 42: "babel",
             186: "bgp", 187: "isis", 188: "ospf", 189: "rip", 192: "eigrp"}
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
TABLES = {253: "default", 254: "main", 255: "local"}


def route_flags(route):
    """The flags `route -n` prints, computed as the kernel's /proc/net/route does:
    U for every route it lists, G with a gateway, H for a host route (/32, /128), ! for
    unreachable and prohibit routes (which it shows instead of U)."""
    flags = "!" if route["type"] in ("unreachable", "prohibit") else "U"
    if route.get("gateway"):
        flags += "G"
    if route["prefix"] == (32 if route["family"] == "ipv4" else 128):
        flags += "H"
    return flags


def genmask(family, prefix):
    """255.255.255.0 for an IPv4 /24 (IPv6 has none: the prefix length says it)."""
    if family != "ipv4":
        return None
    return str(ipaddress.IPv4Network("0.0.0.0/%d" % prefix).netmask)


def route_view(msg_fields, names):
    """One route (the adapter's raw fields) as net_info returns it."""
    family = "ipv4" if msg_fields["family"] == socket.AF_INET else "ipv6"
    dst, prefix = msg_fields["dst"], msg_fields["dst_len"]
    if dst is None:
        dst = "0.0.0.0" if family == "ipv4" else "::"
    view = {
        "family": family,
        "destination": dst,
        "prefix": prefix,
        "genmask": genmask(family, prefix),
        "gateway": msg_fields.get("gateway") or ("0.0.0.0" if family == "ipv4" else None),
        "metric": msg_fields.get("priority") or 0,
        "iface": names.get(msg_fields.get("oif")),
        "table": TABLES.get(msg_fields["table"], str(msg_fields["table"])),
        # iproute2's JSON leaves these out when they are the defaults: here they are always said
        "protocol": PROTOCOLS.get(msg_fields["proto"], str(msg_fields["proto"])),
        "scope": SCOPES.get(msg_fields["scope"], str(msg_fields["scope"])),
        "type": ROUTE_TYPES.get(msg_fields["type"], str(msg_fields["type"])),
    }
    if view["gateway"] == "0.0.0.0" and family == "ipv4":
        view["flags"] = route_flags(dict(view, gateway=None))
    else:
        view["flags"] = route_flags(view)
    if msg_fields.get("prefsrc"):
        view["source"] = msg_fields["prefsrc"]
    return view


def route_sort_key(route):
    """`route -n` order: longest prefix first, then metric."""
    return (route["family"] != "ipv4", route["table"] != "main", -route["prefix"], route["metric"],
            route["destination"])


def route_table_text(routes):
    """The IPv4 main-table routes as `route -n` prints them."""
    row = "%-15s %-15s %-15s %-5s %-6s %-3s %-6s %s"
    lines = ["Kernel IP routing table", row % ("Destination", "Gateway", "Genmask", "Flags", "Metric", "Ref", "Use",
                                               "Iface")]
    listed = ("unicast", "unreachable", "prohibit", "blackhole")
    for r in routes:
        if r["family"] != "ipv4" or r["table"] != "main" or r["type"] not in listed:
            continue
        lines.append("%-15s %-15s %-15s %-5s %-6d %-3d %-6d %s" % (
            r["destination"], r["gateway"], r["genmask"], r["flags"], r["metric"], 0, 0, r["iface"] or "*"))
    return lines


def bridge_id(priority, mac):
    """brctl's bridge id: the priority in hex, a dot, the MAC without colons."""
    return "%04x.%s" % (priority, (mac or "").replace(":", ""))


def bridges_text(bridges):
    """The bridges as `brctl show` prints them."""
    lines = ["%-16s%-24s%-16s%s" % ("bridge name", "bridge id", "STP enabled", "interfaces")]
    for br in bridges:
        ports = br["ports"] or [""]
        lines.append("%-16s%-24s%-16s%s" % (br["name"], br["bridge_id"], "yes" if br["stp"] else "no", ports[0]))
        lines.extend("%-16s%-24s%-16s%s" % ("", "", "", p) for p in ports[1:])
    return lines


def bridges_view(links, addrs):
    out = []
    for name in sorted(n for n, l in links.items() if l["kind"] == "bridge"):
        link, opts = links[name], links[name].get("bridge") or {}
        out.append({
            "name": name, "bridge_id": bridge_id(link.get("priority") or 0x8000, link["mac"]),
            "stp": bool(opts.get("stp")), "ports": sorted(n for n, l in links.items() if l["master"] == name),
            "addresses": list(addrs.get(link["index"], [])), "up": link["up"], "mtu": link["mtu"],
            "mac": link["mac"], "forward_delay": opts.get("forward_delay"),
            "vlan_filtering": opts.get("vlan_filtering"), "nf_call_iptables": opts.get("nf_call_iptables"),
            "managed": link.get("alias") == _tap.MANAGED_ALIAS,
        })
    return out


def _legacy_backend(module):
    """The iptables backend, to read what it holds (both families)."""
    return _iptables.IptablesBackend(module.run_command, module.get_bin_path, dict(
        (family, _xtables.Xtables(module.run_command, module.get_bin_path, command))
        for family, command in _iptables.COMMAND.items()))


def our_sets(module, nft=None, tables=None):
    """This collection's masquerades and forward sets as they run, on both backends, in
    both families (read through the backends that write them)."""
    return _read(module, "running", nft, tables)


def _read(module, what, nft=None, tables=None):
    """What both backends hold (``running``: the sets; ``forward_rows``: the published ports)."""
    nft = nft or _nft.NftBackend(module.run_command, module.get_bin_path)
    names = _boot.stored_names()
    found = []
    if nft.available():
        found.extend(nft.running(names, tables) if what == "running" else nft.forward_rows(names))
    legacy = _legacy_backend(module)
    if legacy.available():
        found.extend(getattr(legacy, what)(names))
    return found


def forward_table_text(rows):
    """The published ports as ``iptables -t nat -L -n -v`` shows them: one line each."""
    out = ["%8s %10s  %-5s %-4s %-11s %-28s %s" % ("pkts", "bytes", "fam", "prot", "port", "to", "set (match)")]
    for row in rows:
        target = ("[%s]:%s" if row["family"] == "ipv6" else "%s:%s") % (row["to_addr"], row["to_port"])
        match = ", ".join("%s %s" % kv for kv in sorted(row["match"].items()))
        label = row["set"] + (" (%s)" % match if match else "")
        out.append("%8d %10d  %-5s %-4s %-11s %-28s %s" % (
            row["packets"], row["bytes"], row["family"][2:], row["proto"], row["port"], target, label))
    return out


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
    view["sets"] = our_sets(module, nft, tables)
    view["forwards"] = _read(module, "forward_rows", nft, tables)
    view["forward_table"] = forward_table_text(view["forwards"])
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
            rules = filt["rules"].get("FORWARD", [])
            first_ours = min([i for i, r in enumerate(rules) if "-j HN-F" in r] or [len(rules)])
            before = [r for r in rules[:first_ours] if re.search(r"-j (DROP|REJECT)\b", r)]
            view["forward"].append({"world": command, "policy": policy, "our_accepts": sorted(ours),
                                    "drops_before_ours": before})
            for rule in before:
                warnings.append("%s's FORWARD drops before this collection's accepts (-A FORWARD %s): guests' "
                                "forwarded traffic matching it is dropped" % (command, rule))
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


def persistence_view(links, addrs, warnings, sets=(), nm_active=None):
    """Our persisted files and each difference between them and what runs (``sets``: our
    firewall sets as they run; ``nm_active``: NetworkManager's active profiles, where it runs)."""
    view = {"renderer": None, "files": [], "drift": []}
    running = set((s["kind"], s["family"], s["name"], s["backend"]) for s in sets if s["translates"])
    for path in sorted(glob.glob(_boot.STORE_DIR + "/*.json")):
        try:
            rset, backend = _boot.load_record(_persist.read_text(path))
        except (ValueError, KeyError, TypeError, HypervisorNetworkingError):
            view["drift"].append("%s is not a record this collection can read" % path)
            continue
        if rset.translates and (rset.shown, rset.family, rset.name, backend) not in running:
            view["drift"].append("%s is persisted (%s) but does not run on %s: it comes back at the next boot, "
                                 "or run its module again" % (rset.label, path, backend))
    try:
        view["renderer"] = _persist.detect("auto")
    except HypervisorNetworkingError as exc:
        view["renderer_error"] = exc.msg
    patterns = [_persist.IFUPDOWN_DIR + "/hypervisor-networking-*", _persist.NETWORKD_DIR + "/*hypervisor-networking*",
                _persist.NM_DIR + "/hypervisor-networking-*", _boot.STORE_DIR + "/*.json", _boot.UNIT_FILE]
    view["files"] = sorted(p for pattern in patterns for p in glob.glob(pattern)
                           if p.endswith(".json") or _persist.is_ours(_persist.read_text(p)))
    persisted_taps = set()
    for renderer in ("ifupdown", "networkd", _persist.NM):
        for path, name, text in _persist.our_bridge_files(renderer):
            if name not in links:
                view["drift"].append("bridge %s is persisted (%s) but does not exist: it comes back at the next "
                                     "boot, or run the role" % (name, path))
                continue
            running = set(addrs.get(links[name]["index"], []))
            # ifupdown `address A`, networkd `Address=A`, NetworkManager `addressN=A`
            persisted = set(re.findall(r"^\s*(?:address\s+|Address=|address\d+=)(\S+)$", text, re.M))
            for addr in sorted(persisted - running):
                view["drift"].append("%s: %s is persisted but not configured now" % (name, addr))
            for addr in sorted(a for a in running - persisted if not a.startswith("fe80:")):
                view["drift"].append("%s: %s is configured now but not persisted: it is lost at the next reboot, "
                                     "and %s may refuse to take the interface down" % (
                                         name, addr, {"ifupdown": "ifdown", _persist.NM: "NetworkManager"}.get(
                                             renderer, "networkd")))
        taps = _persist.our_tap_names(renderer)
        persisted_taps.update(taps)
        for tap in taps:
            if tap not in links:
                view["drift"].append("TAP %s is persisted but does not exist" % tap)
    for name, link in sorted(links.items()):
        if link["kind"] == "tun" and link.get("alias") == _tap.MANAGED_ALIAS and name not in persisted_taps \
                and view["files"]:
            view["drift"].append("TAP %s runs but is not persisted: it is lost at the next reboot" % name)
    if nm_active is not None:
        view["drift"].extend(nm_drift(links, nm_active))
    warnings.extend(view["drift"])
    return view


def nm_active_profiles(module):
    """{profile UUID: device} of NetworkManager's active connections; None where it does not
    run (read-only: nmcli lists, changes nothing)."""
    nmcli = module.get_bin_path("nmcli")
    if nmcli is None or not os.path.isdir(_persist.NM_RUN):
        return None
    rc, out, _err = module.run_command([nmcli, "-t", "-f", "UUID,DEVICE", "connection", "show", "--active"])
    if rc != 0:
        return None
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def nm_drift(links, nm_active):
    """Our NetworkManager profiles that do not run on their link: NetworkManager does not
    manage that link as persisted (another profile holds it, or none: it is external)."""
    drift = []
    for path in sorted(glob.glob(os.path.join(_persist.NM_DIR, "hypervisor-networking-*.nmconnection"))):
        name, uuid = _persist.nm_link(_persist.read_text(path)), _persist.nm_uuid(path)
        if name in links and nm_active.get(uuid) != name:
            others = sorted(u for u, dev in nm_active.items() if dev == name)
            drift.append("%s: NetworkManager does not run our profile %s on it (%s): it manages the link otherwise "
                         "until the next boot or `nmcli connection up %s`" % (
                             name, path, "active there: %s" % ", ".join(others) if others else "no profile active",
                             uuid))
    return drift


def forward_target(module, name, port, proto="tcp", families=("ipv4", "ipv6")):
    """(to_addr, to_port, narrowed) of host port ``port`` in our forward set ``name``, on
    either backend and in either family, or None; ``narrowed``: the forward matches only
    some interface, sources or destination."""
    nft = _nft.NftBackend(module.run_command, module.get_bin_path)
    for backend in ([nft] if nft.available() else []) + [_legacy_backend(module)]:
        if backend.available():
            found = backend.forward_target(name, port, proto, families)
            if found:
                return found
    return None
