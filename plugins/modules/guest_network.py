#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: guest_network
short_description: A whole guest network (bridge, TAPs, forwarding, NAT, published ports) in one call
version_added: 0.3.0
description:
  - The declarative form of a guest network, as libvirt's and Incus' network objects are. O(mode=nat)
    builds a NAT network (bridge with the gateway address, IPv4 forwarding,
    masquerade out of the uplink, published ports, the guests' TAPs); O(mode=bridged) their physical
    bridging (the NIC's addresses, routes and MAC moved onto a bridge that holds it as a port).
  - Everything is planned together against one reading of the host and applied as one plan in one
    process - one netlink session, one firewall transaction for this collection's own table or
    chains - and persisted together. When any step fails, every step already applied is undone,
    newest first, and links, rules, sysctls and files are as they were.
  - Check mode and diff run the same planner and show exactly what the real run would do.
  - What the roles P(hypervisor.networking.nat_bridge#role) and P(hypervisor.networking.physical_bridge#role)
    build, each in a single call of this module.
author:
  - Hypervisor Networking Contributors (@hypervisor-networking)
extends_documentation_fragment:
  - hypervisor.networking.attributes
  - hypervisor.networking.attributes.PYROUTE2
  - hypervisor.networking.firewall
  - hypervisor.networking.persist.RENDERER
options:
  name:
    description: The bridge; it also names the network's firewall sets.
    type: str
    required: true
  state:
    description:
      - V(absent) removes exactly what this network created - its firewall sets, the TAPs of this
        collection on the bridge, the bridge, the files and the ACL line. IPv4 forwarding is left on
        (other networks and containers may rely on it); IPv6 forwarding goes back off when this run's
        network was the last of ours to need it and it was off before a run of ours turned it on (the
        uplinks' C(accept_ra) back to 1 with it).
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - V(nat) - the guests' subnets are masqueraded out of the uplink; nothing from outside reaches a guest
        but replies to what it opened and published ports (O(forwards)), in both families.
      - V(routed) - no NAT in either family (the upstream routes the guests' subnets to this host); inbound
        the same as V(nat), plus what O(allow_inbound) names (libvirt's C(<forward mode='route'/>)).
      - V(isolated) - nothing is forwarded beyond the bridge in either direction; the guests reach each other,
        the host and the network's DHCP and DNS (libvirt's network without C(<forward>)). Forwarding is not
        turned on for it.
      - V(bridged) - the NIC's own network, see the description.
    type: str
    choices: [nat, routed, isolated, bridged]
    default: nat
  allow_inbound:
    description:
      - V(routed) only. Ports the guests are open on from outside, beside replies and published ports.
    type: list
    elements: dict
    default: []
    suboptions:
      proto: {description: Protocol., type: str, choices: [tcp, udp], default: tcp}
      port: {description: "A port or a range V(low-high).", type: raw, required: true}
      to_addr: {description: "A guest's address (either family); left out, every guest.", type: str}
      sources:
        description: Only clients from these networks; left out, any (an empty list is refused).
        type: list
        elements: str
  addresses:
    description:
      - Not V(bridged). Gateway addresses on the bridge, for example V(192.168.100.1/24); the first IPv4 one's
        subnet is masqueraded.
      - An IPv6 one (for example V(fd00:100::1/64), a /64 with O(ipv6_ra=slaac) or V(stateless)) makes the
        network dual stack - IPv6 forwarding on (an uplink that takes its default route from router
        advertisements keeps it - C(accept_ra=2) there, see RV(ra_uplinks)), router advertisements from the
        network's dnsmasq (O(ipv6_ra)), its subnet masqueraded with O(ipv6_nat), and the same isolation as
        in IPv4 - nothing from outside reaches a guest but replies and published ports.
    type: list
    elements: str
  ipv6_nat:
    description: V(nat) only (other modes translate nothing). Masquerade the IPv6 subnet out of the uplink
      (NAT66, libvirt's C(<nat ipv6='yes'/>), Incus' C(ipv6.nat)); V(false) - the subnet is routed (the
      upstream routes it to this host), with the same isolation.
    type: bool
    default: true
  ipv6_ra:
    description:
      - Not V(bridged), with an IPv6 address in O(addresses). Router advertisements from the network's dnsmasq
        (it runs for them even without O(dhcp)) - V(slaac) (guests configure their addresses themselves),
        V(stateless) (SLAAC, and DNS by DHCPv6), V(stateful) (DHCPv6 addresses from O(dhcp.range6) and
        O(dhcp.hosts[].address6)), V(none).
      - They carry the bridge's MTU and, with O(dhcp.dns), the gateway as resolver (RDNSS); guests that
        configure themselves and have a DHCPv4 lease answer AAAA by their names.
    type: str
    choices: [slaac, stateless, stateful, none]
    default: slaac
  uplink:
    description:
      - V(nat), V(routed) - the interface the guests' traffic leaves by; V(bridged) - the NIC to enslave.
      - Empty - the interface of the host's IPv4 default route.
    type: str
    default: ""
  ports:
    description: Other interfaces to enslave to the bridge.
    type: list
    elements: str
  taps:
    description: The guests' TAPs, as M(hypervisor.networking.tap_iface)'s O(hypervisor.networking.tap_iface#module:taps);
      O(taps[].bridge) is this network's bridge.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: TAP name., type: str, required: true}
      state: {description: V(absent) removes the TAP., type: str, choices: [present, absent]}
      owner: {description: "User allowed to open it (name or uid); left out: root.", type: str}
      group: {description: Group allowed to open it (name or gid)., type: str}
      bridge: {description: Must be O(name) when given., type: str}
      up: {description: Administrative state., type: bool}
      mtu: {description: MTU., type: int}
      mac: {description: MAC of the host side (a stable one is derived when left out)., type: str}
      multi_queue: {description: IFF_MULTI_QUEUE., type: bool}
      vnet_hdr: {description: IFF_VNET_HDR., type: bool}
  purge_taps:
    description: Remove TAPs of this collection on the bridge that O(taps) does not list.
    type: bool
    default: false
  forwards:
    description: V(nat) and V(routed). Published guest ports, as M(hypervisor.networking.iptables_dnat)'s
      O(hypervisor.networking.iptables_dnat#module:forwards).
    type: list
    elements: dict
    default: []
    suboptions:
      proto: {description: Protocol., type: str, choices: [tcp, udp], default: tcp}
      port: {description: Host port or range., type: raw, required: true}
      to_addr: {description: "Guest address; an IPv6 one publishes the port on the host's IPv6 addresses.", type: str, required: true}
      to_port: {description: Guest port or range., type: raw}
      in_interface: {description: Only traffic arriving on this interface., type: str}
      destination: {description: Only traffic to this host address., type: str}
      sources:
        description: Only clients from these networks (of the family of O(forwards[].to_addr)); left out, any (an
          empty list is refused).
        type: list
        elements: str
  hairpin:
    description: V(nat) and V(routed). Guests reach published ports through the host's address.
    type: bool
    default: true
  localhost:
    description: V(nat) and V(routed). The host itself reaches published ports via its addresses and 127.0.0.1.
    type: bool
    default: false
  masquerade_exclude:
    description: V(nat) only. Destinations the guests reach untranslated; left out, V(224.0.0.0/24) and
      V(255.255.255.255/32) (link-local multicast and broadcast).
    type: list
    elements: str
  dhcp:
    description:
      - Not V(bridged). DHCP and DNS for the guests - one dnsmasq instance of this collection per bridge,
        bound to the bridge's addresses only (C(bind-dynamic), C(except-interface=lo)), so that it
        coexists with libvirt's instances, a distribution-wide dnsmasq bound to its own addresses and
        systemd-resolved. It reads only its own files (not C(/etc/dnsmasq.conf), C(/etc/dnsmasq.d) or
        C(/etc/hosts)) and forwards other names to the resolvers of the host's C(/etc/resolv.conf).
      - With O(persist), its files are under C(/etc/hypervisor-networking/dnsmasq) and the leases under
        C(/var/lib/hypervisor-networking/dnsmasq); the systemd unit C(hypervisor-networking-dnsmasq@<bridge>)
        starts it at boot, and starts and reloads it on runs where systemd is PID 1 of the host's network
        namespace. Without O(persist) (or without systemd) the run starts dnsmasq itself; without
        O(persist) its files and leases are under C(/run/hypervisor-networking/dnsmasq).
      - A change of O(dhcp.hosts) reloads dnsmasq (SIGHUP); any other change restarts it. Either way the
        guests keep their leases (dnsmasq keeps them in its lease file).
      - Left out (or O(state=absent)) - this collection's dnsmasq of the bridge is stopped and its files
        and leases are removed.
      - Needs the C(dnsmasq) binary (Debian package C(dnsmasq-base); the package C(dnsmasq) also starts a
        host-wide instance).
    type: dict
    suboptions:
      range:
        description: The dynamic range, for example V(192.168.100.100-192.168.100.199), in the subnet of an
          IPv4 address of O(addresses) and without the gateway address; left out, only O(dhcp.hosts) get
          leases.
        type: str
      lease_time:
        description: Lease time - a number with an optional unit (V(s), V(m), V(h), V(d), V(w)), at least
          2 minutes, or V(infinite).
        type: str
        default: 1h
      range6:
        description: O(ipv6_ra=stateful) only. The DHCPv6 range, for example V(fd00:100::100-fd00:100::1ff), in the
          subnet of an IPv6 address of O(addresses).
        type: str
      hosts:
        description: Fixed leases, one per MAC (a TAP's guest NIC MAC is the usual key); addresses in a subnet
          of O(addresses), each MAC, address and name once.
        type: list
        elements: dict
        default: []
        suboptions:
          mac: {description: The guest NIC's MAC., type: str, required: true}
          address: {description: Its IPv4 address., type: str, required: true}
          address6: {description: "Its DHCPv6 address (O(ipv6_ra=stateful))", type: str}
          name: {description: Its host name (answered by the DNS as C(<name>) and C(<name>.<domain>))., type: str}
      dns:
        description: Answer DNS on the gateway address (guest names from O(dhcp.hosts) and from the guests'
          own DHCP requests, everything else forwarded to the host's resolvers); V(false) - DHCP only, and the
          guests are told of no DNS server.
        type: bool
        default: true
      domain:
        description: The local domain of the guests' names, answered locally and never forwarded.
        type: str
  stp:
    description: Spanning tree on the bridge.
    type: bool
  mtu:
    description: MTU of the bridge (with O(overlay), set O(overlay.mtu) instead).
    type: int
  overlay:
    description:
      - Extends the network to other hypervisors over VXLAN (UDP on the underlay), for O(mode=nat),
        V(routed) and V(isolated). Every hypervisor of the network runs this module with the same
        O(name), O(addresses) and O(overlay.vni); the bridge gets the port C(vxlan<vni>).
      - The gateway is an anycast gateway - the same address and MAC (derived from the VNI) on every
        hypervisor, so a guest that moves keeps its gateway. Each hypervisor masquerades its own guests
        out of its own uplink.
      - DHCP, DHCPv6, router advertisements and every other frame of the gateway never cross the tunnel
        (a guard in nftables' C(bridge hypervisor_networking) table, on either backend), so each
        hypervisor's dnsmasq answers its own guests. Give O(dhcp.hosts) the same on every hypervisor and each one its
        own O(dhcp.range); a moved guest's renewal is not refused.
      - The bridge and the TAPs take the overlay's MTU, and the guests learn it by DHCP (option 26) and
        in the router advertisements.
    type: dict
    suboptions:
      vni:
        description: The VXLAN network identifier (1-16777215), the same on every hypervisor of the network.
        type: int
        required: true
      control_plane:
        description:
          - V(static) - head-end replication - broadcast and unknown frames are copied to each of
            O(overlay.peers); MACs are learnt from the traffic.
          - V(evpn) - BGP EVPN through FRR (role P(hypervisor.networking.fabric#role)) learns the tunnel
            endpoints and the guests' MACs and addresses; the port does not learn, and ARP and neighbour
            discovery are answered on the hypervisor (suppression).
        type: str
        choices: [static, evpn]
        default: static
      peers:
        description: With O(overlay.control_plane=static), the underlay addresses of the network's hypervisors; the
          host's own address is skipped, so one list serves every host.
        type: list
        elements: str
        default: []
      local:
        description: The underlay address of this host, or the interface whose first global address it is; empty
          means the IPv4 default-route interface's.
        type: str
        default: ""
      port:
        description: The UDP port of the tunnel.
        type: int
        default: 4789
      mtu:
        description: The MTU of the bridge, the TAPs and the guests; left out, the underlay interface's less 50
          (IPv4 underlay) or 70 (IPv6).
        type: int
  nf_call_iptables:
    description:
      - Whether frames bridged between the bridge's ports pass iptables (br_netfilter), as
        M(hypervisor.networking.linux_bridge)'s option.
      - Left out - V(false) for O(mode=nat) (guest to guest traffic is accepted in this collection's
        chain of every FORWARD, as libvirt does), unchanged for O(mode=bridged).
    type: bool
  addressing:
    description:
      - V(bridged) only. How the bridge takes the NIC's IPv4 address, now and in the persisted files
        (M(hypervisor.networking.linux_bridge)'s O(hypervisor.networking.linux_bridge#module:addressing)).
      - V(auto) - as the NIC has it now (DHCP when its address expires, else static); V(static); V(dhcp).
    type: str
    choices: [auto, static, dhcp]
    default: auto
  rollback_timeout:
    description: V(bridged) only. Arm a revert of the migration that runs unless a second call with
      O(confirm=true) comes within this many seconds.
    type: int
    default: 0
  confirm:
    description: V(bridged) only. Disarm the pending revert (the migration stays).
    type: bool
    default: false
  qemu_acl:
    description: Keep C(allow <bridge>) in O(qemu_acl_file) for qemu-bridge-helper.
    type: bool
    default: true
  qemu_acl_file:
    description: qemu-bridge-helper's ACL file; only our marked block in it is edited.
    type: path
    default: /etc/qemu/bridge.conf
  qemu_acl_role:
    description: The word in the ACL block's markers (the roles keep the blocks they wrote before).
    type: str
    choices: [guest_network, nat_bridge, physical_bridge]
    default: guest_network
  persist:
    description:
      - Also make the whole network survive a reboot, each part through the host's own mechanism -
      - the links (bridge, ports, TAPs, the VXLAN port of O(overlay)) in the files of the host's network
        manager (O(renderer));
      - the rule sets in this collection's boot-time firewall load (C(/etc/hypervisor-networking/firewall.d/),
        loaded by C(hypervisor-networking-firewall.service) before the network comes up);
      - forwarding (and C(route_localnet) with O(localhost)) in sysctl.d drop-ins (O(sysctl_file));
      - with O(dhcp), the network's dnsmasq files under C(/etc/hypervisor-networking/dnsmasq) and a systemd
        unit that starts it at boot.
      - The QEMU bridge helper's ACL line (O(qemu_acl)) is a file of its own and is written either way.
      - Files are written atomically; a failure at any step puts the files back and undoes the runtime
        change too. Every file starts with a header naming this collection; O(state=absent) removes our files
        only.
      - V(false) changes the running system only, and leaves files of earlier runs alone.
    type: bool
    default: true
  sysctl_file:
    description: The drop-in that keeps IPv4 forwarding on after a reboot (with O(persist)).
    type: path
    default: /etc/sysctl.d/90-hypervisor-networking.conf
  option_names:
    description:
      - "How error messages name the options, for example C(taps: nat_bridge_taps) (the roles name
        their variables)."
    type: dict
    default: {}
  checked:
    description:
      - Set by the module's action plugin, leave it unset - the digest of the options as the action
        plugin validated them on the controller. When it is the digest of the options the module gets,
        the module does not check the types of the items of list and dict options again; every other
        check still runs on the host. Any other value means a full check.
    type: str
notes:
  - Every option is validated on the controller by the module's action plugin, with the module's
    own code, before anything reaches the host; the checks that need the host (owners and groups,
    links, the uplink) follow on the host, still before any change.
"""

EXAMPLES = r"""
- name: A NAT network with one guest and its published web port
  hypervisor.networking.guest_network:
    name: br0
    addresses: [192.168.100.1/24]
    uplink: enp4s0
    taps:
      - {name: tap0, owner: libvirt-qemu}
    forwards:
      - {port: 8080, to_addr: 192.168.100.2, to_port: 80}

- name: The same with DHCP and DNS for the guests (one fixed lease, a dynamic range)
  hypervisor.networking.guest_network:
    name: br0
    addresses: [192.168.100.1/24]
    taps:
      - {name: tap0, owner: libvirt-qemu}
    dhcp:
      range: 192.168.100.100-192.168.100.199
      domain: lab.example
      hosts:
        - {mac: "52:54:00:00:00:02", address: 192.168.100.2, name: web}

- name: One network across three hypervisors (run on each; static head-end replication)
  hypervisor.networking.guest_network:
    name: br0
    addresses: [192.168.100.1/24]
    taps:
      - {name: tap0, owner: libvirt-qemu}
    dhcp:
      range: 192.168.100.100-192.168.100.149  # another range on each hypervisor
    overlay:
      vni: 100
      peers: [198.51.100.1, 198.51.100.2, 198.51.100.3]

- name: The physical bridge, armed to revert unless confirmed within 60 s
  hypervisor.networking.guest_network:
    name: br0
    mode: bridged
    uplink: enp3s0
    rollback_timeout: 60
"""

RETURN = r"""
network:
  description: The network as it now is (would be, in check mode).
  returned: always
  type: dict
  contains:
    bridge: {description: The bridge as M(hypervisor.networking.linux_bridge) reports it., type: dict}
    taps: {description: The listed TAPs as M(hypervisor.networking.tap_iface) reports them., type: list}
    purged: {description: TAPs removed because the list does not name them (or the network goes)., type: list}
    forwards: {description: The published ports (normalised)., type: list}
    masquerade: {description: "The IPv4 egress set (V(null) without one); it translates only with C(mode=nat).", type: dict}
    masquerade6: {description: "The IPv6 one (V(null) without one; C(mode=routed) with O(ipv6_nat=false))", type: dict}
    uplink: {description: The uplink used., type: str}
    overlay:
      description: The VXLAN port (C(name), C(vni), C(local), C(port), C(control_plane), C(mtu), C(mac), C(bridge),
        C(peers) - the flooding list); V(null) without O(overlay).
      type: dict
    dhcp:
      description: The DHCP and DNS service and the router advertisements (normalised O(dhcp), C(ipv6_ra) and
        whether it runs); V(null) without one.
      type: dict
ra_uplinks:
  description: Links that take their IPv6 default route from router advertisements and keep it although IPv6
    forwarding is on (C(accept_ra=2) there, at runtime and in O(sysctl_file)).
  returned: always
  type: list
  elements: str
backend:
  description: The firewall backend used (V(auto) resolved).
  returned: always
  type: str
persisted:
  description: The files written or removed (that would be, in check mode).
  returned: always
  type: list
  elements: str
renderer:
  description: The network manager the links are persisted for (V(null) without O(persist)).
  returned: always
  type: str
actions:
  description: One line per change made (or, in check mode, to be), in the order applied.
  returned: always
  type: list
  elements: str
changed_runtime:
  description: Links, rules or sysctls changed.
  returned: always
  type: bool
changed_persistent:
  description: Files changed.
  returned: always
  type: bool
"""

import signal

from ansible_collections.hypervisor.networking.plugins.module_utils import (
    _module,
    _bridge,
    _dhcp,
    _engine,
    _facets,
    _migrate,
    _network,
    _persist,
    _rollback,
    _tap,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError, DependencyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _backend, _boot
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._apply import firewall_lock
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import MasqueradeSet
from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker

ARGUMENT_SPEC = _network.ARGUMENT_SPEC


def _apply(want, plan, report, executor):
    """Apply the plan (bridged: arm first, ARP-probe the gateway after); the caller's
    check-mode gate has passed."""
    name, desired = want.name, report["desired"]
    if desired["migrate_from"]:
        # the controller's connection may drop while the NIC moves: finish anyway
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if report["arm"]:
        _rollback.arm(name, [a.undo for a in reversed(plan.actions) if a.undo], desired["rollback_timeout"])
    solicit = _migrate.takes_advertisements(desired, report["bridge_plan"])
    try:
        with report["journal"].creating(_tap.created(report["taps_plan"])):
            _engine.apply(plan, executor, context="network %s" % name)
        probe = report["probe"]
        if not _migrate.settle(name, report["bridge_after"].get("mac"), probe, solicit):
            raise ApplyError("%s: the gateway %s did not answer ARP on %s after the migration from %s; every "
                             "change was undone" % (name, probe[1], name, desired["migrate_from"]),
                             applied=plan.lines(), rolled_back=plan.undo_all(executor))
    except Exception:
        if report["arm"]:
            _rollback.disarm(name)  # the plan is undone already
        report["journal"].forget(executor.nl.links())  # the undo deleted what it created
        raise


def _views(want, report, nl):
    """The network as the kernel now holds it (after a real run) or as planned."""
    bridge, taps = report["bridge_after"], report["taps_after"]
    if nl is not None:
        changed = set(_tap.touched(report["taps_plan"]))
        expect = [t for t in taps if t["name"] in changed]
        if report["bridge_plan"] or expect:
            bridge_ok = _bridge.settled(report["desired"], bridge) if want.present and report["bridge_plan"] \
                else (lambda _l, _a: True)
            taps_ok = _tap.settled(expect)
            links, addrs = nl.wait_until(lambda l, a: bridge_ok(l, a) and taps_ok(l, a))
            if want.present:
                bridge = _bridge.bridge_view(want.name, links, addrs)
            taps = [_tap.tap_view(links[t["name"]]) if t["name"] in links else t for t in taps]
    masq = [rset.model.as_dict() for rset in report["sets"] if isinstance(rset, MasqueradeSet) and rset]
    return {"bridge": bridge, "taps": taps, "purged": report["purged"], "uplink": report["uplink"],
            "forwards": [f.as_dict() for f in want.fset.forwards] if want.fset and want.present else [],
            "masquerade": ([m for m in masq if ":" not in m["source"]] or [None])[0],
            "masquerade6": ([m for m in masq if ":" in m["source"]] or [None])[0],
            "dhcp": report["dhcp_after"] if want.dhcp is not None else None, "overlay": report["overlay"]}


def _firewall(module, want):
    """(backend, nft backend or None): a bridged network has no table of ours, only its
    accepts in other tools' FORWARD chains, and runs without either backend."""
    try:
        backend, other, warnings = _backend.select_backend(module.params["backend"], module)
    except DependencyError:
        if want.gateway:
            raise
        return None, None
    for warning in warnings:
        module.warn(warning)
    return backend, backend if backend.name == "nftables" else other


def run(module):
    """Validate everything, then under our lock: read once, plan, apply unless check mode."""
    want = _network.Desired(module.params)
    renderer = None
    if module.params["persist"]:
        renderer = _facets.bridge_renderer(True, module.params["renderer"], want.bridge)
    with firewall_lock():
        backend, nft = _firewall(module, want)
        with Netlink() as nl:
            links, addrs = nl.links(), nl.addresses()
            bridge_before = _bridge.bridge_view(want.name, links, addrs)
            pending = _rollback.pending(want.name) is not None
            plan, report = _network.plan_network(want, module, nl, links, addrs, backend, nft, renderer, pending)
            for warning in plan.warnings:
                module.warn(warning)
            files = report["files"]
            files_before = _persist.texts_before(files)
            dhcp_files_before = _persist.texts_before(report["dhcp_files"])
            confirm = want.params["confirm"] and pending
            executor = _engine.Executor(module, nl, nft, report["fw"].worlds)
            if plan and not module.check_mode:
                _apply(want, plan, report, executor)
            if confirm and not module.check_mode:
                _rollback.disarm(want.name)
            if not want.present and not module.check_mode:
                _rollback.forget(want.name)  # nothing of a removed network stays under /run
            network = _views(want, report, None if module.check_mode or not plan else nl)
    if files and not module.check_mode:
        _boot.daemon_reload(module, files)
        _boot.prune()
        # before dnsmasq (re)starts: NetworkManager's activation puts the bridge's address back
        desired = report["desired"]
        _persist.tell_manager(module, renderer, files,
                              (desired["migrate_from"], want.name, desired["state"] == "present"))
    if report["dhcp"] and not module.check_mode:
        _dhcp.finish(module, report["dhcp"])
    fw = report["fw"]
    runtime = [report[k] for k in ("forwarding", "bridge_plan", "taps_plan", "localnet")]
    actions = list(report["lines"]) + _persist.manager_lines(renderer, files)
    if report["arm"]:
        actions.append("arm a revert of %s in %d s unless confirmed" % (want.name, want.params["rollback_timeout"]))
    if confirm:
        actions.append("confirm %s: disarm the pending revert" % want.name)
    persisted = [a.args["path"] for a in files] + [a.args["path"] for a in report["acl"]] + [
        a.args["path"] for a in report["dhcp_files"]]
    result = {"changed": bool(plan or confirm), "actions": actions, "network": network,
              "backend": backend.name if backend else None, "ra_uplinks": report["ra_uplinks"],
              "persisted": persisted, "renderer": None if renderer == _persist.ANY else renderer,
              "changed_runtime": bool(any(runtime) or fw or report["arm"] or confirm
                                      or any(a.op.startswith("dnsmasq_") for a in report["dhcp"])),
              "changed_persistent": bool(files or report["acl"] or report["dhcp_files"])}
    if module._diff:
        before = {"bridge": bridge_before, "firewall": fw.before, "taps": [
            _tap.tap_view(links[t["name"]]) if t["name"] in links else {"name": t["name"], "state": "absent"}
            for t in report["taps_after"]],
            "sysctl": report["forwarding_before"], "dhcp": report["dhcp_before"], "overlay": report["overlay_before"],
            "files": dict(files_before) if renderer is not None else {}}
        after = {"bridge": network["bridge"], "firewall": fw.after, "taps": network["taps"],
                 "sysctl": report["forwarding_after"], "dhcp": report["dhcp_after"], "overlay": report["overlay"],
                 "files": _persist.texts_after(files) if renderer is not None else {}}
        if want.params["qemu_acl"]:  # a shared file: our block in its text
            before["files"][want.params["qemu_acl_file"]] = report["acl_before"]
            after["files"][want.params["qemu_acl_file"]] = report["acl_after"]
        if report["dhcp_files"]:
            before["dhcp_files"] = dhcp_files_before
            after["dhcp_files"] = _persist.texts_after(report["dhcp_files"])
        result["diff"] = DiffTracker(before, after).diff(want.name)
    return result


def main():
    _module.main("guest_network", run, ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
