# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables backend over libnftables' JSON API, private to this collection.

Everything lives in this collection's own tables, ``ip hypervisor_networking`` for IPv4
sets and ``ip6 hypervisor_networking`` for IPv6 ones: base chains hold only jumps; each
rule set owns chains ``<kind>_<name>_<suffix>`` and maps in its family's table.
Published ports are elements, never rules: forwards are grouped by the fields they match
on (in_interface, sources, destination), each group is one rule looking the packet up in
an address map and a port map keyed by exactly those fields plus protocol and port, so
the cost per packet does not grow with the number of forwards. Our DNAT marks the
connections it translates to a target of the set (``CT_MARK``), and every FORWARD
accept for them is one rule matching that mark.

The table is read as JSON and compared as data: rules by the comment each of ours
carries (a digest of the rule as we render it, so nft's printing never matters),
elements in one canonical form. A change is one JSON transaction (both tables) that
touches only the elements and chains that differ, undone by one that puts back what it
touched. Interface names, addresses and set names are JSON
strings, never parsed as nft syntax.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._backend import FirewallBackend
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    BRIDGE,
    CT_MARK,
    FAMILIES,
    IPV4,
    IPV6,
    KINDS,
    DnatSet,
    GuardSet,
    MasqueradeSet,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

TABLE = "hypervisor_networking"
NFT_FAMILY = {"ipv4": "ip", "ipv6": "ip6", "bridge": "bridge"}  # our table's nft family per family
TABLE_FAMILIES = FAMILIES + (BRIDGE,)  # our tables: IPv4, IPv6, and bridged frames (overlay guards)
ADDR_TYPE = {"ipv4": "ipv4_addr", "ipv6": "ipv6_addr"}
MARK = "hypervisor.networking"
# base chain -> (type, hook, priority); "mark" runs right after DNAT (dstnat = -100)
BASE_CHAINS = {
    "prerouting": ("nat", "prerouting", -100),
    "mark": ("filter", "prerouting", -99),
    "output": ("nat", "output", -100),
    "postrouting": ("nat", "postrouting", 100),
    "forward": ("filter", "forward", 0),
    "input": ("filter", "input", 0),
    # the bridge table's (bridge family, frames on a bridge; -200: its filter priority)
    "bprerouting": ("filter", "prerouting", -200),
    "bforward": ("filter", "forward", -200),
    "boutput": ("filter", "output", -200),
}
SUFFIX_BASE = {"pre": "prerouting", "mark": "mark", "out": "output", "post": "postrouting", "fwd": "forward",
               "in": "input", "bpre": "bprerouting", "bfwd": "bforward", "bout": "boutput"}
DHCP_PORTS = [67, 68, 546, 547]  # DHCP server and client, DHCPv6 client and server
# forward shapes: which optional fields a forward matches on (i: in_interface, s: sources,
# d: destination); the most specific shape is looked up first
SHAPES = ("isd", "is", "id", "sd", "i", "s", "d", "0")
XT_TABLES = ("filter", "nat", "mangle", "raw", "security")  # iptables-nft's table names
MAP_SUFFIXES = ["addr_" + s for s in SHAPES] + ["port_" + s for s in SHAPES] + ["targets", "ports"]


def _payload(proto, field):
    return {"payload": {"protocol": proto, "field": field}}


def _meta(key):
    return {"meta": {"key": key}}


def _match(left, right, op="=="):
    return {"match": {"op": op, "left": left, "right": right}}


def _prefix(cidr):
    """'10.0.0.0/8' -> JSON prefix; a /32 (/128) is the bare address."""
    net = ipaddress.ip_network(cidr)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def rule_comment(expr):
    """The comment our rule carries: the mark plus a digest of its expressions."""
    return "%s %s" % (MARK, hashlib.sha1(json.dumps(expr, sort_keys=True).encode("utf-8")).hexdigest()[:12])


def canon(value):
    """One element (or part of one) in a canonical, hashable form, however nft prints it."""
    if isinstance(value, list):
        return tuple(canon(v) for v in value)
    if isinstance(value, dict):
        if "elem" in value:
            return canon(value["elem"]["val"])
        if "concat" in value:
            return tuple(canon(v) for v in value["concat"])
        if "prefix" in value:
            return canon_net("%s/%d" % (value["prefix"]["addr"], value["prefix"]["len"]))
        if "range" in value:
            lo, hi = value["range"]
            try:
                nets = list(ipaddress.summarize_address_range(ipaddress.ip_address(lo), ipaddress.ip_address(hi)))
            except (TypeError, ValueError):
                return "%s-%s" % (canon(lo), canon(hi))
            return canon_net(nets[0].with_prefixlen) if len(nets) == 1 else "%s-%s" % (lo, hi)
    return str(value)


def canon_net(cidr):
    """A network as text, /32 (/128) as the bare address."""
    net = ipaddress.ip_network(cidr)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else net.with_prefixlen


def _shape(fwd):
    code = "".join(c for c, on in (("i", fwd.in_interface), ("s", fwd.sources), ("d", fwd.destination)) if on)
    return code or "0"


def _key_fields(shape, family):
    """JSON key expressions and set types of a shape (protocol and port always last)."""
    fields, types = [], []
    if "i" in shape:
        fields.append(_meta("iifname"))
        types.append("ifname")
    if "s" in shape:
        fields.append(_payload(NFT_FAMILY[family], "saddr"))
        types.append(ADDR_TYPE[family])
    if "d" in shape:
        fields.append(_payload(NFT_FAMILY[family], "daddr"))
        types.append(ADDR_TYPE[family])
    return fields + [_meta("l4proto"), _payload("th", "dport")], types + ["inet_proto", "inet_service"]


def _forward_elements(fwd):
    """[(key parts, to_addr, to_port)] of one forward: per source, per port."""
    out = []
    for src in fwd.sources or [None]:
        for hport, tport in fwd.pairs():
            key = [fwd.in_interface] if fwd.in_interface else []
            key += [_prefix(src)] if src else []
            key += [fwd.destination] if fwd.destination else []
            out.append((key + [fwd.proto, hport], fwd.to_addr, tport))
    return out


class Desired(object):
    """A rule set in nft terms: {chain: [expr]} and {map name: declaration + elements}."""

    def __init__(self):
        self.chains = {}
        self.maps = {}

    def add_rule(self, chain, expr):
        """Append a rule; every rule of ours counts what it matches (net_info reads the
        counters), the counter placed before the rule's last statement."""
        self.chains.setdefault(chain, []).append(expr[:-1] + [{"counter": None}] + expr[-1:])

    def add_map(self, name, types, data=None, interval=False, counter=False):
        """A map (a set without ``data``); ``counter``: each element counts its matches."""
        decl = {"type": types if len(types) > 1 else types[0]}
        if data:
            decl["map"] = data
        if interval:
            decl["flags"] = ["interval"]
        if counter:
            decl["stmt"] = [{"counter": None}]
        self.maps.setdefault(name, {"decl": decl, "elem": {}})
        return self.maps[name]["elem"]


def masquerade_desired(rset):
    """MasqueradeSet -> Desired."""
    want, rule, prefix, ip = Desired(), rset.model, rset.nft_chain(""), NFT_FAMILY[rset.family]
    src = _match(_payload(ip, "saddr"), _prefix(rule.source))
    out = [_match(_meta("oifname"), rule.out_interface)] if rule.out_interface else []
    back = [_match(_meta("iifname"), rule.out_interface)] if rule.out_interface else []
    exclude = [_match(_payload(ip, "daddr"), {"set": [_prefix(n) for n in rule.exclude]}, "!=")] \
        if rule.exclude else []
    if rule.nat:
        want.add_rule(prefix + "post", [src] + out + exclude + [{"masquerade": None}])
    if rule.forward and rule.mode == "isolated":
        # nothing leaves the bridge, nothing reaches it (guests reach each other and the host)
        want.add_rule(prefix + "fwd", [_match(_meta("iifname"), rule.bridge), _match(_meta("oifname"), rule.bridge,
                                                                                     "!="), {"drop": None}])
        want.add_rule(prefix + "fwd", [_match(_meta("iifname"), rule.bridge, "!="), _match(_meta("oifname"),
                                                                                           rule.bridge), {"drop": None}])
        return want
    if rule.forward:
        guests = [_match(_meta("iifname"), rule.bridge)] if rule.bridge else []
        to_guests = [_match(_meta("oifname"), rule.bridge)] if rule.bridge else []
        want.add_rule(prefix + "fwd", guests + [src] + out + [{"accept": None}])
        want.add_rule(prefix + "fwd", [_match(_payload(ip, "daddr"), _prefix(rule.source))] + back + to_guests
                      + [_match({"ct": {"key": "state"}}, ["established", "related"], "in"), {"accept": None}])
        for allow in rule.allow:  # routed: what the admin opens to the guests
            port = allow.port[0] if allow.port[0] == allow.port[1] else {"range": list(allow.port)}
            sources = [_match(_payload(ip, "saddr"), {"set": [_prefix(s) for s in allow.sources]})] \
                if allow.sources else []
            want.add_rule(prefix + "fwd", to_guests + sources + [
                _match(_payload(ip, "daddr"), _prefix(allow.to_addr or rule.source)),
                _match(_meta("l4proto"), allow.proto), _match(_payload(allow.proto, "dport"), port),
                {"accept": None}])
    if rule.forward and rule.bridge:
        # a drop in any table is final: these hold whatever other tables accept
        not_guests = _match(_meta("iifname"), rule.bridge, "!=")
        want.add_rule(prefix + "fwd", [not_guests, src, {"drop": None}])
        want.add_rule(prefix + "fwd", [
            not_guests, to_guests[0], _match({"&": [{"ct": {"key": "state"}}, ["established", "related"]]}, 0),
            _match({"&": [{"ct": {"key": "mark"}}, CT_MARK]}, 0), {"drop": None}])
    return want


def dnat_desired(rset):
    """DnatSet -> Desired: per shape one lookup rule and two maps; targets set, mark.
    Connections the host opens to 127.0.0.0/8 (``localhost``) are IPv4 only: IPv6 has no
    route_localnet, and ::1 never leaves the host."""
    want, fset, prefix, family = Desired(), rset.model, rset.nft_chain(""), rset.family
    ip, addr_type, v4 = NFT_FAMILY[family], ADDR_TYPE[family], family == IPV4
    by_shape = {}
    for fwd in fset.forwards:
        by_shape.setdefault(_shape(fwd), []).extend(_forward_elements(fwd))
    for shape in SHAPES:
        if shape not in by_shape:
            continue
        fields, types = _key_fields(shape, family)
        addr_map, port_map = "%saddr_%s" % (prefix, shape), "%sport_%s" % (prefix, shape)
        # each forward's element counts the connections it translated (net_info's rows)
        addrs = want.add_map(addr_map, types, addr_type, "s" in shape, counter=True)
        ports = want.add_map(port_map, types, "inet_service", "s" in shape)
        for key, to_addr, to_port in by_shape[shape]:
            jkey = {"concat": key}
            addrs[canon([jkey, to_addr])] = [jkey, to_addr]
            ports[canon([jkey, to_port])] = [jkey, to_port]
        key = {"concat": fields}
        local = [] if "d" in shape else [_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")]
        expr = local + [_match(_meta("l4proto"), {"set": ["tcp", "udp"]}),
                        {"dnat": {"family": ip, "addr": {"map": {"key": key, "data": "@" + addr_map}},
                                  "port": {"map": {"key": key, "data": "@" + port_map}}}}]
        want.add_rule(prefix + "pre", expr)
        if fset.localhost and "i" not in shape:
            want.add_rule(prefix + "out", expr)
    if fset.forwards and fset.hairpin:
        for net, ifname in rset.hairpin:
            want.add_rule(prefix + "post", [_match(_payload(ip, "saddr"), _prefix(net)),
                                            _match(_meta("oifname"), ifname),
                                            _match({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None}])
    if fset.forwards and fset.localhost and v4:
        want.add_rule(prefix + "post", [_match(_payload("ip", "saddr"), _prefix("127.0.0.0/8")),
                                        _match({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None}])
        # route_localnet lets any interface reach 127.0.0.0/8: only our DNAT's may
        # (CVE-2020-8558's lesson)
        want.add_rule(prefix + "in", [_match(_meta("iifname"), "lo", "!="),
                                      _match(_payload("ip", "daddr"), _prefix("127.0.0.0/8")),
                                      _match({"&": [{"ct": {"key": "status"}}, "dnat"]}, 0), {"drop": None}])
    if fset.forwards and fset.forward:
        targets = want.add_map(prefix + "targets", [addr_type, "inet_proto", "inet_service"])
        for fwd in fset.forwards:
            for _hp, tport in fwd.pairs():
                item = {"concat": [fwd.to_addr, fwd.proto, tport]}
                targets[canon(item)] = item
        mark = {"ct": {"key": "mark"}}
        want.add_rule(prefix + "mark", [
            _match({"ct": {"key": "status"}}, "dnat", "in"), _match({"ct": {"key": "state"}}, "new", "in"),
            _match({"concat": [_payload(ip, "daddr"), _meta("l4proto"), _payload("th", "dport")]},
                   "@%stargets" % prefix),
            {"mangle": {"key": mark, "value": {"|": [mark, CT_MARK]}}}])
        want.add_rule(prefix + "fwd", [_match({"&": [mark, CT_MARK]}, CT_MARK), {"accept": None}])
    return want


def guard_desired(rset):
    """GuardSet -> Desired (the bridge table): frames of another hypervisor's gateway and
    DHCP stop where they come out of the tunnel, before the bridge learns or delivers them;
    this gateway's own frames and the guests' DHCP never go into it."""
    want, prefix, port = Desired(), rset.nft_chain(""), rset.model["port"]
    gateway = _match(_payload("ether", "saddr"), rset.model["mac"])
    dhcp = [_match(_meta("l4proto"), "udp"), _match(_payload("th", "dport"), {"set": DHCP_PORTS})]
    from_tunnel, to_tunnel = _match(_meta("iifname"), port), _match(_meta("oifname"), port)
    want.add_rule(prefix + "bpre", [from_tunnel, gateway, {"drop": None}])
    want.add_rule(prefix + "bpre", [from_tunnel] + dhcp + [{"drop": None}])
    want.add_rule(prefix + "bout", [to_tunnel, gateway, {"drop": None}])
    want.add_rule(prefix + "bfwd", [to_tunnel] + dhcp + [{"drop": None}])
    return want


def _where(family):
    """The prefix of an action line on our table of ``family``."""
    return "nftables%s: " % {IPV4: "", IPV6: " (ip6)", BRIDGE: " (bridge)"}[family]


class Current(object):
    """Our table as read: base chains, rules per chain (comment, handle), maps."""

    def __init__(self, objects):
        self.exists = False
        self.base = {}
        self.rules = {}
        self.maps = {}
        for obj in objects:
            if "table" in obj:
                self.exists = True
            elif "chain" in obj:
                chain = obj["chain"]
                self.rules.setdefault(chain["name"], [])
                if "hook" in chain:
                    self.base[chain["name"]] = (chain.get("type"), chain["hook"], chain.get("prio"))
            elif "rule" in obj:
                rule = obj["rule"]
                self.rules.setdefault(rule["chain"], []).append((rule.get("comment"), rule["handle"], rule["expr"]))
            else:
                for kind in ("map", "set"):
                    if kind in obj:
                        self.maps[obj[kind]["name"]] = obj[kind]

    def map_decl(self, name):
        """The declaration of a map/set as ours are written (None if absent)."""
        found = self.maps.get(name)
        if found is None:
            return None
        types = found["type"] if isinstance(found["type"], list) else [found["type"]]
        decl = {"type": types if len(types) > 1 else types[0]}
        if "map" in found:
            decl["map"] = found["map"]
        if "interval" in (found.get("flags") or []):
            decl["flags"] = ["interval"]
        if {"counter": None} in (found.get("stmt") or []):
            decl["stmt"] = [{"counter": None}]
        return decl

    def elements(self, name):
        """{canonical form: element as read} of a map/set."""
        return dict((canon(e), e) for e in self.maps.get(name, {}).get("elem") or [])

    def jumps(self):
        """{target chain: [(base chain, handle)]} of the jumps in our base chains."""
        found = {}
        for base in self.base:
            for _comment, handle, expr in self.rules.get(base, []):
                if len(expr) == 1 and "jump" in expr[0]:
                    found.setdefault(expr[0]["jump"]["target"], []).append((base, handle))
        return found


def _element_text(elem):
    """A canonical element for action lines: 'tcp . 8080 : 192.168.100.2'."""
    if all(isinstance(part, str) for part in elem):
        return " . ".join(elem)
    return " : ".join(" . ".join(p) if isinstance(p, tuple) else p for p in elem)


def _obj(kind, family, **fields):
    return {kind: dict({"family": NFT_FAMILY[family], "table": TABLE}, **fields)}


def _table(family):
    return {"table": {"family": NFT_FAMILY[family], "name": TABLE}}


def _jump_command(current, base, chain, family):
    """The command adding base's jump to ``chain`` where it sorts among the jumps already
    there (by target): the order does not depend on the order the sets came in, so the boot
    load, which adds the sets in that order to an empty table, recreates it exactly."""
    later = [handle for _c, handle, expr in current.rules.get(base, [])
             if len(expr) == 1 and "jump" in expr[0] and expr[0]["jump"]["target"] > chain]
    rule = dict(chain=base, expr=[{"jump": {"target": chain}}], comment=MARK)
    if later:
        return {"insert": _obj("rule", family, handle=later[0], **rule)}  # before the first that sorts after it
    return {"add": _obj("rule", family, **rule)}


def _plan_table(current, rset, want, siblings=()):
    """(JSON commands, lines) making the set's chains and maps in its family's table ``want``.

    ``siblings``: prefixes of the other sets planned into the same table; the table is
    deleted only when none of them keeps or gets anything either.

    Order inside the transaction: maps whose declaration changed are emptied of users
    (their chains flushed) and deleted first; then new chains and maps, element and rule
    changes, jumps; chains and maps that go are deleted last, after their jumps.
    """
    family, prefix = rset.family, rset.nft_chain("")
    where = _where(family)
    ours = [prefix + s for s in SUFFIX_BASE]
    have_chains = [c for c in ours if c in current.rules]
    have_maps = [prefix + s for s in MAP_SUFFIXES if prefix + s in current.maps]
    jumps = current.jumps()
    recreate = [m for m in have_maps if m in want.maps and current.map_decl(m) != want.maps[m]["decl"]]
    first = [{"flush": _obj("chain", family, name=c)} for c in have_chains if recreate]
    first += [{"delete": _obj(_map_kind(current.maps[m]), family, name=m)} for m in recreate]
    lines = [where + "recreate %s (its type changed)" % m for m in recreate]
    setup, body, last, bases = [], [], [], set(current.base)
    for name in sorted(want.maps):
        decl, elems = want.maps[name]["decl"], want.maps[name]["elem"]
        fresh = name not in have_maps or name in recreate
        old = {} if fresh else current.elements(name)
        if fresh:
            setup.append({"add": _obj(_map_kind(decl), family, name=name, **decl)})
        gone = [k for k in old if k not in elems]
        new = [k for k in elems if k not in old]
        lines.extend(where + "remove from %s: %s" % (name, _element_text(k)) for k in sorted(gone))
        lines.extend(where + "add to %s: %s" % (name, _element_text(k)) for k in sorted(new))
        if gone:
            body.append({"delete": _obj("element", family, name=name, elem=[old[k] for k in gone])})
        if new:
            body.append({"add": _obj("element", family, name=name, elem=[elems[k] for k in new])})
    for chain in sorted(set(have_chains) | set(want.chains)):
        have = current.rules.get(chain, [])
        if chain not in want.chains:
            last.extend({"delete": _obj("rule", family, chain=b, handle=h)} for b, h in jumps.get(chain, []))
            last.extend([{"flush": _obj("chain", family, name=chain)}, {"delete": _obj("chain", family, name=chain)}])
            lines.append(where + "remove chain %s (%d rules)" % (chain, len(have)))
            continue
        rules = [(rule_comment(e), e) for e in want.chains[chain]]
        if chain not in current.rules:
            setup.append({"add": _obj("chain", family, name=chain)})
        if [c for c, _h, _e in have] != [c for c, _e in rules] or recreate:
            # few rules per chain (one per forward shape): rewritten whole, in the transaction
            body.append({"flush": _obj("chain", family, name=chain)})
            body.extend({"add": _obj("rule", family, chain=chain, expr=e, comment=c)} for c, e in rules)
            old = [c for c, _h, _e in have]
            lines.extend(where + "remove from %s: %s" % (chain, expr_text(e)) for c, _h, e in have
                         if c not in dict(rules))
            lines.extend(where + "add to %s: %s" % (chain, expr_text(e)) for c, e in rules if c not in old)
            if old and not [l for l in lines if chain in l]:
                lines.append(where + "reorder %s" % chain)
        base = SUFFIX_BASE[chain[len(prefix):]]
        if base not in bases:
            typ, hook, prio = BASE_CHAINS[base]
            setup.insert(0, {"add": _obj("chain", family, name=base, type=typ, hook=hook, prio=prio,
                                         policy="accept")})
            bases.add(base)
        if not jumps.get(chain):
            body.append(_jump_command(current, base, chain, family))
            lines.append(where + "jump to %s from %s" % (chain, base))
    for name in have_maps:
        if name not in want.maps:
            last.append({"delete": _obj(_map_kind(current.maps[name]), family, name=name)})
            lines.append(where + "remove %s %s" % (_map_kind(current.maps[name]), name))
    if not lines:
        return [], []
    others = [c for c in current.rules if c not in current.base and c not in ours]
    if not want.chains and not others and not siblings:
        lines.append(where + "delete table %s %s (nothing of ours left)" % (NFT_FAMILY[family], TABLE))
        return [{"delete": _table(family)}], lines
    return [{"add": _table(family)}] + first + setup + body + last, lines


def _map_kind(decl):
    """'map' for a map declaration (or a map as read), else 'set'."""
    return "map" if "map" in decl else "set"


def _snapshot_commands(objects, family):
    """nft JSON commands putting our family's table back exactly as ``objects`` lists it
    (the table replaced in one transaction; no table when it did not exist)."""
    return [{"add": _table(family)}, {"delete": _table(family)}] + [_readd(obj) for obj in objects]


def _readd(obj):
    """An object as nft lists it -> the command adding it again (counters included)."""
    kind = next(iter(obj))
    fields = dict((k, v) for k, v in obj[kind].items() if k not in ("handle", "flags" if kind == "table" else ""))
    return {"add": {kind: fields}}


def _touched(cmds):
    """({chain}, {map or set}) a transaction's commands name."""
    chains, maps = set(), set()
    for cmd in cmds:
        for kind, body in next(iter(cmd.values())).items():
            if kind == "chain":
                chains.add(body["name"])
            elif kind == "rule":
                chains.add(body["chain"])
            elif kind in ("map", "set", "element"):
                maps.add(body["name"])
    return chains, maps


def undo_commands(objects, cmds, family):
    """The transaction undoing ``cmds`` on our family's table as ``objects`` listed it
    before: the chains and maps it touched are emptied and refilled as they were (rules
    with their comments and counters), the ones it made are deleted; everything else, and
    the order in which nft lists tables, chains and maps, stays as it is."""
    before = Current(objects)
    table = {"family": NFT_FAMILY[family], "table": TABLE}
    if not before.exists:
        return [{"delete": _table(family)}]
    if any("delete" in c and "table" in c["delete"] for c in cmds):
        return _snapshot_commands(objects, family)
    chains, maps = _touched(cmds)
    undo = [{"add": _table(family)}]
    undo += [{"add": {"chain": dict(table, name=c)}} for c in sorted(chains)]  # one that went comes back
    undo += [{"flush": {"chain": dict(table, name=c)}} for c in sorted(chains)]
    refill = []
    for name in sorted(maps):
        old = before.maps.get(name)
        kind = _map_kind(old) if old else "set"
        if old is None:
            undo.append({"delete": {"map" if any(c.get("add", {}).get("map", {}).get("name") == name for c in cmds)
                                    else "set": dict(table, name=name)}})
            continue
        undo.append({"delete": {kind: dict(table, name=name)}}) if name in _recreated(cmds) else \
            undo.append({"flush": {kind: dict(table, name=name)}})
        refill.append(_readd({kind: old}))
    for obj in objects:
        if "chain" in obj and obj["chain"]["name"] in chains and "hook" in obj["chain"]:
            refill.insert(0, _readd(obj))  # a base chain's hook and policy as they were
    undo += [{"delete": {"chain": dict(table, name=c)}} for c in sorted(chains) if c not in before.rules]
    undo += refill
    undo += [_readd(obj) for obj in objects if "rule" in obj and obj["rule"]["chain"] in chains]
    return undo


def _recreated(cmds):
    """Maps a transaction deletes and adds again (their type changed)."""
    deleted = set(b["name"] for c in cmds if "delete" in c for k, b in c["delete"].items() if k in ("map", "set"))
    added = set(b["name"] for c in cmds if "add" in c for k, b in c["add"].items() if k in ("map", "set"))
    return deleted & added


def _text(value):
    """One expression or value of ours as nft would print it (for actions and diffs)."""
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if not isinstance(value, dict):
        return '"%s"' % value if isinstance(value, str) and not value[:1].isdigit() and value not in (
            "tcp", "udp", "local", "dnat", "new", "established", "related") else str(value)
    key, arg = next(iter(value.items()))
    if key == "payload":
        return "%s %s" % (arg["protocol"], arg["field"])
    if key in ("meta", "ct"):
        return ("meta %s" % arg["key"]) if key == "meta" and arg["key"] == "l4proto" else \
            ("%s" % arg["key"] if key == "meta" else "ct %s" % arg["key"])
    if key == "fib":
        return "fib %s %s" % (" . ".join(arg["flags"]), arg["result"])
    if key == "concat":
        return " . ".join(_text(v) for v in arg)
    if key == "prefix":
        return "%s/%d" % (arg["addr"], arg["len"])
    if key == "range":
        return "%s-%s" % tuple(arg)
    if key == "set":
        return "{ %s }" % ", ".join(_text(v) for v in arg) if isinstance(arg, list) else _text(arg)
    if key in ("&", "|"):
        return "%s %s 0x%x" % (_text(arg[0]), key, arg[1]) if isinstance(arg[1], int) else \
            "%s %s %s" % (_text(arg[0]), key, _text(arg[1]))
    if key == "map":
        return "%s map %s" % (_text(arg["key"]), arg["data"])
    return "%s %s" % (key, arg) if arg is not None else key


def expr_text(expr):
    """A rule's expressions as one line, roughly as nft prints it."""
    out = []
    for item in expr:
        key, arg = next(iter(item.items()))
        if key == "match":
            op = "" if arg["op"] in ("==", "in") else arg["op"] + " "
            right = "0x%x" % arg["right"] if isinstance(arg["right"], int) else _text(arg["right"])
            out.append("%s %s%s" % (_text(arg["left"]), op, right))
        elif key == "dnat":
            out.append("dnat to %s : %s" % (_text(arg["addr"]), _text(arg["port"])))
        elif key == "mangle":
            out.append("%s set %s" % (_text(arg["key"]), _text(arg["value"])))
        elif key == "jump":
            out.append("jump %s" % arg["target"])
        else:
            out.append(key)
    return " ".join(out)


def _view_key(rset, chain):
    """A chain's or map's key in before/after views: its name (IPv6: 'ip6 <name>')."""
    return chain if rset.family == IPV4 else "%s %s" % (NFT_FAMILY[rset.family], chain)


def _view(current, rset, want=None):
    """The set as it is: rules per chain (as text) and elements per map."""
    known, prefix = {}, rset.nft_chain("")
    for rules in (want.chains.values() if want else []):
        known.update((rule_comment(e), expr_text(e)) for e in rules)
    view = dict((_view_key(rset, prefix + s), [known.get(c) or expr_text(e) for c, _h, e in current.rules[prefix + s]])
                for s in SUFFIX_BASE if prefix + s in current.rules)
    view.update((_view_key(rset, prefix + s), sorted(_element_text(k) for k in current.elements(prefix + s)))
                for s in MAP_SUFFIXES if prefix + s in current.maps)
    return view


def _desired_view(rset, want):
    """The same view of a Desired."""
    view = dict((_view_key(rset, chain), [expr_text(e) for e in rules]) for chain, rules in want.chains.items())
    view.update((_view_key(rset, name), sorted(_element_text(k) for k in m["elem"])) for name, m in want.maps.items())
    return view


_DESIRED = {MasqueradeSet: masquerade_desired, DnatSet: dnat_desired, GuardSet: guard_desired}  # the sets with a part in our table


class NftBackend(FirewallBackend):
    """Rule sets in our own nft tables, one JSON transaction per change."""

    name = "nftables"

    def __init__(self, run_command, get_bin_path):
        super(NftBackend, self).__init__(run_command, get_bin_path)
        self._nft = get_bin_path("nft")
        try:
            import nftables  # distro package (python3-nftables), not on PyPI
            self._lib = nftables.Nftables()
            self._lib.set_json_output(True)
            self._lib.set_handle_output(True)
        except ImportError:
            self._lib = None

    # ---- libnftables or nft -j ---------------------------------------------------

    def available(self):
        """True when libnftables or the nft command is there."""
        return self._lib is not None or self._nft is not None

    def _list(self, *what):
        """JSON objects of an ``nft -j list ...`` (None when it does not exist)."""
        if self._lib is not None:
            rc, out, _err = self._lib.cmd("list " + " ".join(what))  # our own fixed words only
        else:
            rc, out, _err = self.run_command([self._nft, "-j", "-a", "list"] + list(what))
        if rc != 0:
            return None
        return [o for o in json.loads(out or '{"nftables": []}')["nftables"] if "metainfo" not in o]

    def run(self, commands):
        """One JSON transaction; raises ApplyError (nothing changed) when refused."""
        data = {"nftables": commands}
        if self._lib is not None:
            rc, _out, err = self._lib.json_cmd(data)
        else:
            rc, _out, err = self.run_command([self._nft, "-j", "-f", "-"], data=json.dumps(data), binary_data=True)
        if rc != 0:
            raise ApplyError("the nftables transaction was refused, nothing changed: %s" % str(err).strip())

    def list_tables(self):
        """['ip filter', 'inet firewalld', ...] of this namespace."""
        return ["%s %s" % (o["table"]["family"], o["table"]["name"]) for o in self._list("tables") or []
                if "table" in o]

    @staticmethod
    def our_tables(families=FAMILIES):
        """Our tables (by default those holding IP rule sets) as list_tables() names them."""
        return ["%s %s" % (NFT_FAMILY[f], TABLE) for f in families]

    def chain_exists(self, family, table, chain):
        """A chain exists (asked without creating anything)."""
        if "%s %s" % (family, table) not in self.list_tables():
            return False
        return self._list("chain", family, table, chain) is not None

    def native_forward_drops(self):
        """['inet filter forward', ...]: forward base chains with policy drop in tables that
        neither we nor iptables-nft write (no rule in another table can overrule them)."""
        found = []
        for obj in self._list("chains") or []:
            chain = obj.get("chain", {})
            if chain.get("hook") != "forward" or chain.get("policy") != "drop" or chain.get("table") == TABLE:
                continue
            if chain.get("table") in XT_TABLES and chain.get("name", "").isupper():
                continue  # iptables-nft's: our accepts join it
            found.append("%s %s %s" % (chain["family"], chain["table"], chain["name"]))
        return found

    def table_objects(self, family=IPV4):
        """Our family's table as nft -j lists it (rules with their counters), [] when absent."""
        return self._list("table", NFT_FAMILY[family], TABLE) or []

    def read(self, family=IPV4):
        """Our family's table as a Current."""
        return Current(self.table_objects(family))

    # ---- the interface -----------------------------------------------------------

    @staticmethod
    def desired(rset):
        """A rule set's part of our table as a Desired (empty when it goes or has none)."""
        return _DESIRED[type(rset)](rset) if rset and type(rset) in _DESIRED else Desired()

    def present(self, rset):
        current = self.read(rset.family)
        prefix = rset.nft_chain("")
        return any(prefix + s in current.rules for s in SUFFIX_BASE) or \
            any(prefix + s in current.maps for s in MAP_SUFFIXES)

    def plan(self, fw, rulesets):
        """Our tables' change for every set: one transaction, undone by one that puts back
        what it touched."""
        cmds, undo, tables = [], [], []
        ip_sets = not all(r.family == BRIDGE for r in rulesets)  # not the guards alone
        for family in TABLE_FAMILIES:
            sets = sorted((r for r in rulesets if r.family == family and type(r) in _DESIRED),
                          key=lambda r: r.nft_chain(""))
            objects = self.table_objects(family) if sets or (family == IPV4 and ip_sets) else []
            current = Current(objects)
            if family == IPV4 and ip_sets:
                # connections the host opens to 127.0.0.0/8 (IPv4 only): other sets of ours
                planned = set(r.name for r in sets if isinstance(r, DnatSet))
                fw.localhost_elsewhere = any(c.startswith("dnat_") and c.endswith("_out")
                                             and c[len("dnat_"):-len("_out")] not in planned for c in current.rules)
            family_cmds = self._plan_family(fw, current, sets)
            if family_cmds:
                cmds.extend(family_cmds)
                undo.extend(undo_commands(objects, family_cmds, family))
                tables.append(NFT_FAMILY[family])
        plan = Plan()
        if cmds:
            summary = "nftables: one transaction on table%s %s %s (%d commands)" % (
                "s" if len(tables) > 1 else "", ", ".join(tables), TABLE, len(cmds))
            plan.add(summary, "nft_run", {"commands": cmds}, undo=("nft_run", {"commands": undo}))
        return plan

    def _plan_family(self, fw, current, sets):
        """The commands (and lines, views) of the sets of one family's table."""
        prefixes = [r.nft_chain("") for r in sets]
        # exactly the chains these sets own: set lan_b's chains start with set lan's prefix
        owned = set(p + s for p in prefixes for s in SUFFIX_BASE)
        cmds, wanted = [], False
        # in the order of their chains' names: new jumps then land where the boot load puts them
        for rset in sets:
            prefix = rset.nft_chain("")
            want = self.desired(rset)
            wanted = wanted or bool(want.chains)
            set_cmds, lines = _plan_table(current, rset, want, siblings=[p for p in prefixes if p != prefix])
            fw.lines.extend(lines)
            cmds.extend(set_cmds)
            fw.before.update(_view(current, rset, want))
            fw.after.update(_desired_view(rset, want))
        others = [c for c in current.rules if c not in current.base and c not in owned]
        if cmds and not wanted and not others:
            family = sets[0].family
            fw.lines.append("%sdelete table %s %s (nothing of ours left)" % (
                _where(family), NFT_FAMILY[family], TABLE))
            return [{"delete": _table(family)}]
        return cmds

    @classmethod
    def boot_load(cls, rulesets):
        """(one transaction replacing our tables with the stored nftables sets, their nft
        families) or (None, []) when there is none."""
        cmds, families = [], []
        # in the order of the sets' chain names, as the runs place their jumps (_jump_command)
        for family in TABLE_FAMILIES:
            sets = sorted((r for r in rulesets if r.family == family and r and type(r) in _DESIRED),
                          key=lambda r: r.nft_chain(""))
            family_cmds = []
            for rset in sets:
                set_cmds, _lines = _plan_table(Current([]), rset, cls.desired(rset))
                family_cmds.extend(c for c in set_cmds if c != {"add": _table(family)})
            if family_cmds:
                # add + delete: the table goes whether or not it exists, in the same transaction
                cmds += [{"add": _table(family)}, {"delete": _table(family)}, {"add": _table(family)}] + family_cmds
                families.append(NFT_FAMILY[family])
        return ({"nftables": cmds}, families) if cmds else (None, [])

    def running(self, names=(), tables=None):
        """Our sets as they run: [{kind, name, family, rules, packets, bytes, translates}],
        counters summed over their rules."""
        tables = self.list_tables() if tables is None else tables
        sets = {}
        for family in FAMILIES:
            if "%s %s" % (NFT_FAMILY[family], TABLE) not in tables:
                continue
            for obj in self.table_objects(family):
                rule = obj.get("rule")
                match = _CHAIN_RE.match(rule["chain"]) if rule else None
                if not match:
                    continue
                entry = sets.setdefault((family, match.group(1), match.group(2)),
                                        {"rules": 0, "packets": 0, "bytes": 0, "translates": False})
                entry["rules"] += 1
                for stmt in rule["expr"]:
                    if isinstance(stmt, dict) and ("masquerade" in stmt or "dnat" in stmt):
                        entry["translates"] = True
                    counter = stmt.get("counter") if isinstance(stmt, dict) else None
                    if isinstance(counter, dict):
                        entry["packets"] += counter.get("packets", 0)
                        entry["bytes"] += counter.get("bytes", 0)
        return [dict(entry, kind=KINDS[k].shown, name=n, family=f, backend=self.name)
                for (f, k, n), entry in sorted(sets.items())]

    def forward_rows(self, names=()):
        """Each published port of our forward sets as it runs, with the connections its
        element translated (the ``iptables -t nat -L -n -v`` view)."""
        rows = []
        for family in FAMILIES:
            maps = dict((o["map"]["name"], o["map"]) for o in self.table_objects(family) if "map" in o)
            for name, found in sorted(maps.items()):
                match = _ADDR_MAP_RE.match(name)
                if not match:
                    continue
                ports = maps.get("%s_port_%s" % tuple(name.rsplit("_addr_", 1))) or {}
                ports = dict((canon(k), val) for k, val in ports.get("elem") or [])
                for key, addr in found.get("elem") or []:
                    counter = key["elem"].get("counter") or {} if isinstance(key, dict) and "elem" in key else {}
                    parts = canon(key)
                    narrowing = dict(zip([f for f, c in (("in_interface", "i"), ("sources", "s"), ("destination", "d"))
                                          if c in match.group(2)], parts[:-2]))
                    rows.append({"set": match.group(1), "family": family, "backend": self.name, "proto": parts[-2],
                                 "port": int(parts[-1]), "to_addr": addr, "to_port": int(ports.get(canon(key), parts[-1])),
                                 "match": narrowing, "packets": counter.get("packets", 0),
                                 "bytes": counter.get("bytes", 0)})
        return rows

    def forward_target(self, name, port, proto="tcp", families=FAMILIES):
        """(to_addr, to_port, narrowed) of host port ``port`` in our forward set ``name``
        (either family), or None; ``narrowed``: the forward matches only some interface,
        sources or destination."""
        for family in families:
            rset = DnatSet(name, None, family)
            objects = self.table_objects(family)
            maps = dict((o["map"]["name"], o["map"].get("elem", [])) for o in objects if "map" in o)
            for shape in sorted(SHAPES):  # the plain forward first, as 0.2 reported
                ports = dict((canon(k), val) for k, val in maps.get(rset.nft_chain("port_" + shape), []))
                for key, addr in maps.get(rset.nft_chain("addr_" + shape), []):
                    parts = canon(key)  # an element with its counter, or without
                    if parts[-2:] == (proto, str(port)):
                        return addr, ports.get(canon(key), port), shape != "0"
        return None


_ADDR_MAP_RE = re.compile(r"^dnat_(.+)_addr_(%s)\Z" % "|".join(SHAPES))
_CHAIN_RE = re.compile(r"^(%s)_(.+)_(%s)\Z" % ("|".join(k for k, c in KINDS.items() if c in _DESIRED),
                                               "|".join(SUFFIX_BASE)))
