#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: net_diagnose
short_description: Which hop of a guest network's path is broken, with the evidence
version_added: 0.3.0
description:
  - Runs the troubleshooting checks in order - the guest network itself, forwarding, host to guest,
    guest network to the outside (through the guests' resolver), the DNS name, the published
    port to the guest's service - each with its evidence, and ends with one verdict naming the
    first broken hop and what to change. The engine of the C(diagnose) role.
  - The guests' own view comes from a temporary network namespace on the guest bridge with a
    free address of the guests' subnet (the highest one nobody answers ARP for) and the
    bridge's address as its gateway - no login into a guest. It is removed before the module
    returns; nothing else changes.
  - A check that cannot decide (no resolver known, no guest address given) says so and is
    neither passed nor failed.
author:
  - Hypervisor Networking Contributors (@hypervisor-networking)
extends_documentation_fragment:
  - hypervisor.networking.attributes.PYROUTE2
attributes:
  check_mode:
    support: partial
    description: The module acts the same in check mode, and reports C(changed=false) in both modes.
    details:
      - The checks read the host's state. The guest-side checks also create a temporary network namespace
        with a veth port on the bridge (the probe) and remove both before the module returns, in check mode
        too. Nothing of the network's own configuration is changed.
  diff_mode:
    support: none
    description: Nothing is changed.
  platform:
    support: full
    platforms: linux
    description: Linux hosts; runs as root.
options:
  network:
    description: The guest network's bridge.
    type: str
    default: br0
  guest:
    description:
      - A guest's address. IPv4 - host to guest is checked with ARP on the bridge.
      - IPv6 - the flow checks the bridge's IPv6 address of the guest's subnet, IPv6 forwarding, the router
        advertisements a guest configures itself from (a probe on the bridge solicits one; the verdict names
        a missing advertisement or one without a default route), the guest (ICMPv6 echo), NAT66 (or the
        routed subnet), the way out from an address the advertisements gave, and O(port).
    type: str
  port:
    description: A published host port (the "502 on port 80" case); its target is looked up in this collection's forward set named after the bridge.
    type: int
  name:
    description: A DNS name a guest fails to resolve.
    type: str
  resolver:
    description: The resolver the guests use; empty - the network's own DNS (the gateway address, when
      M(hypervisor.networking.guest_network)'s O(hypervisor.networking.guest_network#module:dhcp) serves DNS
      on it), else the host's own (non-loopback) resolvers.
    type: str
seealso:
  - module: hypervisor.networking.net_info
"""

EXAMPLES = r"""
- name: Why does the guest's web service answer 502?
  hypervisor.networking.net_diagnose:
    network: br0
    guest: 192.168.100.10
    port: 8080
    name: api.example.com
  register: diagnosis
"""

RETURN = r"""
healthy:
  description: Every check that could decide passed.
  returned: always
  type: bool
verdict:
  description: One sentence - healthy, or the first broken hop and what to change.
  returned: always
  type: str
steps:
  description: The checks in order, each with C(name), C(ok) (true, false, or null when it could not decide) and C(evidence).
  returned: always
  type: list
  elements: dict
route_table:
  description: C(route -n) of the host, when a route is at fault.
  returned: when the verdict is about forwarding or the outside path
  type: list
  elements: str
report:
  description: What people read - the verdict, then each step as C([ok]), C([FAILED]) or C([undecided]) with its evidence, then the tables.
  returned: always
  type: list
  elements: str
bridge_table:
  description: C(brctl show), when the bridge is at fault.
  returned: when the verdict is about the bridge
  type: list
  elements: str
"""

import ipaddress

from ansible_collections.hypervisor.networking.plugins.module_utils import (
    _dhcp,
    _info,
    _migrate,
    _module,
    _overlay,
    _persist,
    _probe,
    _sysctl,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink

ARGUMENT_SPEC = dict(
    network=dict(type="str", default="br0"),
    guest=dict(type="str"),
    port=dict(type="int"),
    name=dict(type="str"),
    resolver=dict(type="str"),
)


def _address(option, value):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValidationError(option, value, "an IPv4 or IPv6 address is expected")


class Report(object):
    """The steps so far and the first failure's verdict."""

    def __init__(self):
        self.steps, self.verdict, self.extra = [], None, {}

    def add(self, name, ok, evidence, fix=None):
        self.steps.append({"name": name, "ok": ok, "evidence": evidence})
        if ok is False and self.verdict is None:
            self.verdict = "%s: %s%s" % (name, evidence, (" - " + fix) if fix else "")
        return ok


def check_outside(module, report, probe_ns, resolver, name, network, links):
    """Guest network -> outside, through the resolver; then the name."""
    ok, detail = _probe.run_probe(module, probe_ns, "dns", resolver, 53, name or ".")
    if ok:
        report.add("guest network -> outside (DNS to %s)" % resolver, True,
                   "a query from the guests' subnet to %s:53 was answered (%s)" % (resolver, detail))
        return detail
    host_ok, host_detail = _probe.run_probe(module, None, "dns", resolver, 53, name or ".")
    if not host_ok:
        report.add("guest network -> outside (DNS to %s)" % resolver, False,
                   "%s:53 does not answer from the guests' subnet (%s) nor from the host itself (%s): the DNS "
                   "server is unreachable or down" % (resolver, detail, host_detail),
                   "point the guests at a resolver that answers (diagnose_resolver), or repair the host's uplink")
        return None
    warnings = []
    fw = _info.firewall_view(module, links, None, warnings)
    masq = [s for s in fw["sets"] if s["kind"] == "masquerade" and s["name"] == network and s["translates"]]
    drops = [w["world"] for w in fw["forward"] if w["policy"] == "DROP" and not w["our_accepts"]]
    early = ["%s's FORWARD rule -A FORWARD %s" % (w["world"], r) for w in fw["forward"] for r in w["drops_before_ours"]]
    if not masq:
        why, fix = "no masquerade of this collection translates the guests' subnet", "run the nat_bridge role again"
    elif early:
        why = "%s drops them before this collection's accepts" % "; ".join(early)
        fix = "remove that rule or let the guests' subnet through before it (the tool that added it owns it)"
    elif drops or fw["nftables_forward_drops"]:
        why = "forwarded packets are dropped by %s" % ", ".join(drops + fw["nftables_forward_drops"])
        fix = "run the role again (it puts its accepts there) or allow the guests' traffic in that chain"
    else:
        why = ("the masquerade %s exists, so a rule of another tool drops or misroutes the guests' forwarded "
               "packets" % masq[0]["name"])
        fix = "look for a drop in FORWARD (iptables -L FORWARD -n -v, nft list ruleset) or a policy route"
    report.add("guest network -> outside (DNS to %s)" % resolver, False,
               "the host reaches %s:53 (%s) but the guests' subnet does not (%s): %s" % (
                   resolver, host_detail, detail, why), fix)
    report.extra["route_table"] = True
    return None


def check_overlay(module, report, network, tunnels, links, addrs, fdb):
    """The network across hypervisors: its VXLAN port, FRR's sessions (EVPN), and the
    underlay to each other hypervisor (full-size packets, the UDP port). False: broken."""
    for name in tunnels:
        view = _overlay.port_view(links[name], [e for e in fdb if e["name"] == name])
        bridge_mtu = links[network]["mtu"]
        if not report.add("overlay %s" % name, view["up"] and bridge_mtu <= view["mtu"],
                          "VXLAN %s from %s, UDP %s, MTU %s (%s %s)" % (view["vni"], view["local"], view["port"],
                                                                        view["mtu"], network, bridge_mtu)
                          if view["up"] and bridge_mtu <= view["mtu"] else
                          ("%s is down" % name) if not view["up"] else
                          "%s's MTU %d is above the tunnel's %d: bigger frames are dropped silently" % (
                              network, bridge_mtu, view["mtu"]),
                          "run the nat_bridge role again"):
            return False
        evpn = view["learning"] is False
        if evpn:
            sessions = _overlay.bgp_sessions(module.run_command, module.get_bin_path)
            up = [s["peer"] for s in sessions or [] if s["state"] == "Established"]
            down = ["%s %s" % (s["peer"], s["state"]) for s in sessions or [] if s["state"] != "Established"]
            if not report.add("BGP EVPN sessions", bool(up),
                              "established with %s%s" % (", ".join(up), ("; not with " + ", ".join(down)) if down else "")
                              if up else ("FRR's BGP does not answer here" if sessions is None else
                                          "none established (%s)" % (", ".join(down) or "no neighbour")),
                              "run the fabric role; check that the underlay reaches the peers on TCP 179"):
                return False
        if not view["flood"]:
            report.add("underlay", False, "%s knows no other hypervisor (its flooding list is empty)" % name,
                       "list the other hypervisors in overlay.peers" if not evpn else "check the BGP sessions")
            return False
        holder = [n for n, l in links.items() for a in addrs.get(l["index"], [])
                  if a.split("/")[0] == view["local"]]
        mtu = links[holder[0]]["mtu"] if holder else 1500
        size = mtu - (48 if ":" in view["local"] else 28)
        for peer in view["flood"]:
            ok, evidence = _overlay.check_underlay(module.run_command, module.get_bin_path, view["local"], peer,
                                                   view["port"], size)
            if report.add("underlay -> %s" % peer, ok, evidence,
                          "lower overlay.mtu (or raise the path's MTU), open UDP %s between the hypervisors"
                          % view["port"]) is False:
                return False
    return True


def run(module):
    params = module.params
    network = v.ifname("network", params["network"])
    guest = _address("guest", params["guest"]) if params["guest"] else None
    resolver = _address("resolver", params["resolver"]) if params["resolver"] else None
    port = params["port"]
    if port is not None and not 1 <= port <= 65535:
        raise ValidationError("port", port, "must be 1-65535")
    report = Report()
    with Netlink() as nl:
        links, addrs = nl.links(), nl.addresses()
        routes = nl.dump_routes()
        tunnels = sorted(n for n, l in links.items() if l["kind"] == "vxlan" and l["master"] == network)
        fdb = nl.fdb(tunnels) if tunnels else []
    names = dict((l["index"], n) for n, l in links.items())
    if guest and ":" in guest:
        return run6(module, report, network, guest, resolver, port, links, addrs, routes, names)
    bridge = links.get(network)
    v4 = [a for a in addrs.get(bridge["index"], []) if ":" not in a] if bridge else []
    if bridge is None or bridge["kind"] != "bridge":
        report.add("guest network %s" % network, False, "%s does not exist as a bridge" % network,
                   "run the nat_bridge role (or linux_bridge) for it")
    elif not bridge["up"] or not v4:
        report.add("guest network %s" % network, False, "%s is %s" % (
            network, "down" if not bridge["up"] else "up but has no IPv4 address (the guests' gateway)"),
            "run the nat_bridge role again")
    else:
        ports = sorted(n for n, l in links.items() if l["master"] == network)
        report.add("guest network %s" % network, True, "%s is up with %s, ports %s" % (
            network, ", ".join(v4), ", ".join(ports) or "none"))
    if report.verdict:
        report.extra["bridge_table"] = True
        return finish(report, links, addrs, routes, names)
    if tunnels and not check_overlay(module, report, network, tunnels, links, addrs, fdb):
        return finish(report, links, addrs, routes, names)
    gateway, prefix = v4[0].split("/")
    subnet = str(ipaddress.IPv4Interface(v4[0]).network)
    forwarding = _sysctl.read_runtime("net.ipv4.ip_forward")
    if not report.add("forwarding", forwarding == 1, "net.ipv4.ip_forward = %s" % forwarding,
                      "set it to 1 (the ip_forward module; the nat_bridge role does it)"):
        report.extra["route_table"] = True
        return finish(report, links, addrs, routes, names)
    if guest:
        if ipaddress.IPv4Address(guest) not in ipaddress.IPv4Network(subnet):
            report.add("host -> guest %s" % guest, False, "%s is not in %s's subnet %s" % (guest, network, subnet),
                       "give the guest an address of %s" % subnet)
            return finish(report, links, addrs, routes, names)
        mac = _migrate.arp_probe(network, bridge["mac"], gateway, guest, timeout=2.0)
        if not report.add("host -> guest %s" % guest, mac is not None,
                          ("%s answers ARP on %s from %s" % (guest, network, mac)) if mac else
                          "%s does not answer ARP on %s" % (guest, network),
                          "start the guest, check its address, and that its TAP is a port of %s" % network):
            return finish(report, links, addrs, routes, names)
    # the guests' resolver: the one given, else the network's own DNS (guest_network's dhcp),
    # else the host's
    resolver = resolver or (gateway if _dhcp.serves_dns(network) else None) or (_probe.resolvers() or [None])[0]
    need_probe = resolver or port is not None
    if not need_probe:
        report.add("guest network -> outside", None, "no resolver is known (the host's are loopback only or none): "
                   "give diagnose_resolver to check the way out")
        return finish(report, links, addrs, routes, names)
    address = _probe.free_address(network, bridge["mac"], gateway, subnet, [guest] if guest else [])
    if address is None:
        report.add("guest network -> outside", None, "no free address in %s for the probe (the last 8 answer ARP)"
                   % subnet)
        return finish(report, links, addrs, routes, names)
    with _probe.ProbeNamespace(network, address, int(prefix), gateway) as probe:
        if resolver:
            answer = check_outside(module, report, probe.name, resolver, params["name"], network, links)
            if answer is not None and params["name"]:
                rcode = answer.split("rcode=")[1].split()[0]
                ips = answer.split("answers=")[1].split()[0]
                report.add("DNS name %s" % params["name"], rcode == "0" and ips != "-",
                           "%s answers %s for %s" % (resolver, ("rcode %s" % rcode) if rcode != "0" else ips,
                                                     params["name"]),
                           "the name does not exist at that resolver: check the name or the resolver")
        else:
            report.add("guest network -> outside", None, "no resolver is known: give diagnose_resolver")
        if port is not None and report.verdict is None:
            target = _info.forward_target(module, network, port)
            if not report.add("published port %d" % port, target is not None,
                              ("host port %d forwards to %s:%d" % (port, target[0], target[1])) if target else
                              "no forward of this collection's set %s publishes port %d" % (network, port),
                              "add it to nat_bridge_forwards and run the role"):
                return finish(report, links, addrs, routes, names)
            ok, detail = _probe.run_probe(module, probe.name, "tcp", target[0], target[1])
            report.add("service %s:%d" % target[:2], ok,
                       ("%s:%d accepts connections (%s)" % (target[0], target[1], detail)) if ok else
                       "%s:%d does not accept connections from the guests' subnet (%s): the guest's service is down "
                       "or listens elsewhere - what a proxy in front of it reports as 502" % (
                           target[0], target[1], detail),
                       "start the service in the guest, or correct to_port of the forward")
    if port is not None and report.verdict is None:
        check_from_outside(module, report, port, target, routes, names, addrs, links, gateway)
    return finish(report, links, addrs, routes, names)


def run6(module, report, network, guest, resolver, port, links, addrs, routes, names):
    """The same flow for an IPv6 guest: its subnet on the bridge, IPv6 forwarding, the
    router advertisements a guest configures itself from (a default route in them), the
    guest, NAT66 (or the routed subnet), the way out, the published port."""
    bridge = links.get(network)
    target = ipaddress.IPv6Address(guest)
    mine = [a for a in addrs.get(bridge["index"], []) if ":" in a and target in ipaddress.IPv6Interface(a).network] \
        if bridge and bridge["kind"] == "bridge" else []
    if not report.add("guest network %s" % network, bool(mine and bridge["up"]),
                      ("%s is up with %s" % (network, ", ".join(mine))) if mine and bridge["up"] else
                      "%s %s" % (network, "does not exist as a bridge" if not bridge or bridge["kind"] != "bridge" else
                                 "is down" if not bridge["up"] else "has no IPv6 address of %s's subnet" % guest),
                      "give the network an IPv6 gateway address of the guest's subnet (nat_bridge_ipv6_address) "
                      "and run the role"):
        report.extra["bridge_table"] = True
        return finish(report, links, addrs, routes, names)
    gateway6, subnet6 = mine[0].split("/")[0], str(ipaddress.IPv6Interface(mine[0]).network)
    forwarding = _sysctl.read_runtime("net.ipv6.conf.all.forwarding")
    if not report.add("IPv6 forwarding", forwarding == 1, "net.ipv6.conf.all.forwarding = %s" % forwarding,
                      "turn it on (guest_network does for a network with an IPv6 address; the ip_forward module)"):
        report.extra["route_table"] = True
        return finish(report, links, addrs, routes, names)
    found = _dhcp.running(network)
    conf = _persist.read_text(found[1]) if found else None
    with _probe.SlaacProbe(network) as probe:
        routers, prefixes, own = probe.learnt()
        step = "router advertisements on %s" % network
        if conf is not None and "enable-ra" not in conf.splitlines():
            report.add(step, None, "this collection's dnsmasq of %s sends none (ipv6_ra: none): guests need a static "
                       "IPv6 address and default route via %s" % (network, gateway6))
        elif not prefixes and not routers:
            report.add(step, False, "no router advertisement on %s within 4 s: a guest that configures itself gets "
                       "no IPv6 address and no default route" % network,
                       "set nat_bridge_ipv6_ra (guest_network ipv6_ra) to slaac, stateless or stateful")
        elif not routers:
            report.add(step, False, "an advertisement on %s gives %s but no default route (router lifetime 0): "
                       "guests reach their subnet only" % (network, ", ".join(prefixes)),
                       "let the advertising router announce itself as default router (this collection's dnsmasq does)")
        else:
            report.add(step, True, "a guest configuring itself gets %s and a default route via %s" % (
                ", ".join(own or prefixes), routers[0]))
        if report.verdict:
            return finish(report, links, addrs, routes, names)
        ping = module.get_bin_path("ping")
        if ping:
            rc, _out, _err = module.run_command([ping, "-6", "-c", "1", "-W", "2", guest])
            if not report.add("host -> guest %s" % guest, rc == 0, "%s %s ICMPv6 echo" % (
                    guest, "answers" if rc == 0 else "does not answer"),
                    "start the guest, check its IPv6 address, and that its TAP is a port of %s" % network):
                return finish(report, links, addrs, routes, names)
        warnings = []
        fw = _info.firewall_view(module, links, None, warnings)
        sets = [s for s in fw["sets"] if s["kind"] == "masquerade" and s["family"] == "ipv6" and s["name"] == network]
        if sets:
            evidence = ("%s is masqueraded out of the uplink (%s)" % (subnet6, sets[0]["backend"]) if sets[0]["translates"]
                        else "%s is routed (no NAT66): the upstream must route it to this host" % subnet6)
        if not report.add("NAT66", bool(sets), evidence if sets else
                          "no IPv6 set of this collection for %s: its guests' IPv6 traffic is neither masqueraded nor "
                          "let through" % network, "run the nat_bridge role (guest_network) again"):
            return finish(report, links, addrs, routes, names)
        resolver = resolver or (gateway6 if _dhcp.serves_dns(network) else None)
        if resolver and own:
            ok, detail = _probe.run_probe(module, probe.name, "dns", resolver, 53, ".")
            report.add("guest network -> outside (DNS to %s)" % resolver, ok,
                       "a query from %s to [%s]:53 %s (%s)" % (own[0], resolver, "was answered" if ok else
                                                               "got no answer", detail),
                       "check the resolver and the firewall's FORWARD chains (net_info)")
        else:
            report.add("guest network -> outside", None, "no IPv6 resolver is known: give diagnose_resolver")
        if port is not None and report.verdict is None and own:
            found = _info.forward_target(module, network, port, families=("ipv6",))
            if report.add("published port %d" % port, found is not None,
                          ("host port %d forwards to %s:%d" % (port, found[0], found[1])) if found else
                          "no forward of this collection's set %s publishes port %d" % (network, port),
                          "add it to nat_bridge_forwards and run the role"):
                ok, detail = _probe.run_probe(module, probe.name, "tcp", found[0], found[1])
                report.add("service [%s]:%d" % found[:2], ok, "%s (%s)" % (
                    "accepts connections" if ok else "does not accept connections from the guests' subnet", detail),
                    "start the service in the guest, or correct to_port of the forward")
    return finish(report, links, addrs, routes, names)


def check_from_outside(module, report, port, target, routes, names, addrs, links, gateway):
    """A client outside the guests' subnet through the published port: the guest answers it
    only through its default route (the host)."""
    step = "published port %d from outside" % port
    uplinks = [names.get(r["oif"]) for r in routes if r["family"] == 2 and r["dst_len"] == 0 and r["table"] == 254]
    uplink = links.get(uplinks[0]) if uplinks and uplinks[0] else None
    host_addr = ([a.split("/")[0] for a in addrs.get(uplink["index"], []) if ":" not in a] or [None])[0] \
        if uplink else None
    outside = _probe.outside_address(routes)
    if target[2] or host_addr is None or outside is None:
        report.add(step, None, "cannot decide from the host: %s" % (
            "the forward matches only some interface, sources or destination" if target[2] else
            "no IPv4 default route to name the host's address" if host_addr is None else
            "every documentation range is routed here"))
        return
    with _probe.OutsideProbe(outside) as probe:
        ok, detail = _probe.run_probe(module, probe.name, "tcp", host_addr, port)
    report.add(step, ok, ("a client at %s reached %s:%d through %s:%d (%s)" % (
        outside, target[0], target[1], host_addr, port, detail)) if ok else
        "%s:%d answers the guests' subnet, but a client at %s gets no answer through %s:%d (%s): the guest "
        "has no default route, or one that does not lead to %s" % (target[0], target[1], outside, host_addr,
                                                                   port, detail, gateway),
        "give the guest %s as its default gateway" % gateway)


def finish(report, links, addrs, routes, names):
    result = {"changed": False, "steps": report.steps, "healthy": report.verdict is None}
    decided = [s for s in report.steps if s["ok"] is not None]
    result["verdict"] = report.verdict or ("healthy: %d checks passed%s" % (
        len(decided), "" if len(decided) == len(report.steps) else
        ", %d could not decide" % (len(report.steps) - len(decided))))
    if report.extra.get("route_table"):
        result["route_table"] = _info.route_table_text(sorted((_info.route_view(r, names) for r in routes),
                                                              key=_info.route_sort_key))
    if report.extra.get("bridge_table"):
        result["bridge_table"] = _info.bridges_text(_info.bridges_view(links, addrs))
    marks = {True: "ok", False: "FAILED", None: "undecided"}
    result["report"] = ([result["verdict"], ""] + ["[%s] %s: %s" % (marks[s["ok"]], s["name"], s["evidence"])
                                                   for s in report.steps]
                        + ([""] + result["route_table"] if "route_table" in result else [])
                        + ([""] + result["bridge_table"] if "bridge_table" in result else []))
    return result


def main():
    _module.main("net_diagnose", run, ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
