#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: net_info
short_description: What the host's network is - routes, bridges, TAPs, forwarding, firewall, persistence
version_added: 0.3.0
description:
  - Read-only. Reports what the usual looking commands show (C(route -n), C(brctl show),
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
    choices: [routes, bridges, taps, forwarding, firewall, persistence, overlay, topology]
    default: [routes, bridges, taps, forwarding, firewall, persistence, overlay, topology]
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
      C(sets) (each masquerade and forward set of ours with its backend, family, rule count and packet
      and byte counters), C(forwards) (each published port - set, family, proto, port, C(to_addr),
      C(to_port), what it is narrowed to - with the connections it translated, packets and bytes, as
      C(iptables -t nat -L -n -v) shows them; C(forward_table) the same as text lines), C(forward) (per
      iptables world and family that exists, the FORWARD policy and whether our accepts are in it),
      C(nftables_forward_drops) (native chains dropping forwarded packets by policy), C(peers) (Docker,
      libvirt, firewalld found), C(br_netfilter) (loaded, and its switches), C(split_ruleset), C(rp_filter)
      of the uplink.
  returned: when firewall is gathered
  type: dict
persistence:
  description:
    - C(renderer) (the network manager that carries persisted links, null when none can be told,
      with C(renderer_error)), C(files) (this collection's persisted files), C(drift) (one sentence
      per difference between what runs and what is persisted; on a NetworkManager host also each
      profile of ours that NetworkManager does not run on its link).
  returned: when persistence is gathered
  type: dict
overlay:
  description:
    - C(networks) - per VXLAN port, its network (bridge), C(vni), C(local) and C(udp_port), C(control_plane)
      (V(evpn) where the port does not learn), C(mtu), C(vteps) (the other hypervisors it floods to), C(remote_macs)
      (each MAC behind another hypervisor, with C(vtep) and C(learnt) - V(bgp) or V(traffic)), C(managed).
    - C(bgp) - FRR's EVPN sessions (C(peer), C(state), C(uptime_ms), C(prefixes)); V(null) where FRR's BGP does not
      answer.
  returned: when overlay is gathered
  type: dict
topology:
  description:
    - The host's guest networks as a picture - C(uplink) (the IPv4 default route's interface, its C(addresses)),
      C(networks) (per bridge - C(name), C(ours), C(addresses), C(nat), C(taps) with C(owner), C(group) and
      C(in_use), other C(ports), C(forwards) as published ports with their targets, C(overlay) with its C(vni)
      and C(vteps) or V(null)).
    - C(mermaid) - the same as a Mermaid flowchart (paste it into a Markdown file on GitHub or GitLab, or
      mermaid.live). The C(diagnose) role draws it into its HTML report.
  returned: when topology is gathered
  type: dict
  sample:
    uplink: {name: enp4s0, addresses: [203.0.113.1/24], up: true}
    networks:
      - name: br0
        ours: true
        addresses: [192.168.100.1/24]
        up: true
        nat: true
        uplink: enp4s0
        taps: [{name: vm1-tap, owner: libvirt-qemu, group: null, in_use: true, up: true}]
        ports: []
        forwards: [{proto: tcp, port: 8080, to_addr: 192.168.100.2, to_port: 80, family: ipv4}]
        overlay: null
    mermaid: "flowchart LR\n  outside((\"outside\"))\n  ..."
warnings_found:
  description: One plain sentence per problem found (also given as Ansible warnings).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.hypervisor.networking.plugins.module_utils import _info, _module, _overlay, _persist, _sysctl, _tap, _topology
from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink

PARTS = ["routes", "bridges", "taps", "forwarding", "firewall", "persistence", "overlay", "topology"]
ARGUMENT_SPEC = dict(
    gather=dict(type="list", elements="str", choices=PARTS, default=list(PARTS)),
    tables=dict(type="str", choices=["main", "all"], default="main"),
)


def run(module):
    params = module.params
    parts = set(params["gather"])
    topology = "topology" in parts
    result = {"changed": False}
    warnings = []
    with Netlink() as nl:
        links = nl.links()
        addrs = nl.addresses() if parts & {"bridges", "persistence", "topology"} else {}
        raw = nl.dump_routes(params["tables"] == "all") if parts & {"routes", "firewall", "topology"} else []
        ports = [n for n, link in links.items() if link["kind"] == "vxlan"] if parts & {"overlay", "topology"} else []
        fdb = nl.fdb(ports) if ports else []
    names = dict((l["index"], n) for n, l in links.items())
    routes = sorted((_info.route_view(r, names) for r in raw), key=_info.route_sort_key)
    defaults = [r for r in routes if r["family"] == "ipv4" and r["prefix"] == 0 and r["table"] == "main"
                and r["type"] == "unicast"]
    uplink = defaults[0]["iface"] if defaults else None
    if "routes" in parts:
        result["routes"] = routes
        result["route_table"] = _info.route_table_text(routes)
    if "bridges" in parts:
        result["bridges"] = _info.bridges_view(links, addrs)
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
        result["firewall"] = _info.firewall_view(module, links, uplink, warnings)
    if "persistence" in parts:
        sets = result["firewall"]["sets"] if "firewall" in result else _info.our_sets(module)
        result["persistence"] = _info.persistence_view(links, addrs, warnings, sets,
                                                       _info.nm_active_profiles(module))
    if "overlay" in parts:
        sessions = _overlay.bgp_sessions(module.run_command, module.get_bin_path)
        result["overlay"] = _overlay.overlay_views(links, fdb, sessions, warnings)
    if topology:
        # what the picture needs, read once more only where those parts were not asked for
        firewall = result.get("firewall") or _info.firewall_view(module, links, uplink, [])
        overlays = (result.get("overlay") or _overlay.overlay_views(links, fdb, [], []))["networks"]
        persisted = set(name for renderer in ("ifupdown", "networkd", _persist.NM)
                        for _path, name, _text in _persist.our_bridge_files(renderer))
        view = _topology.topology_view(links, addrs, uplink, firewall["sets"], firewall["forwards"], overlays,
                                       persisted)
        result["topology"] = dict(view, mermaid=_topology.mermaid(view))
    result["warnings_found"] = warnings
    for warning in warnings:
        module.warn(warning)
    return result


def main():
    _module.main("net_info", run, ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
