# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A guest network across hypervisors, private to this collection: the bridge's VXLAN
port (``vxlan<vni>``), its flooding list (static head-end replication) or the FRR EVPN
settings (no learning, ARP/ND suppression), the MTU the overlay leaves the guests, and
the anycast gateway's MAC.

Every hypervisor of the network runs the same gateway (address and MAC, derived from the
VNI): a guest that moves keeps its gateway. What must stay local is kept off the tunnel
by the network's guard (``_model.GuardSet``): the gateway's own frames (ARP replies,
router advertisements, DHCP answers) never leave through the VXLAN port, DHCP and
DHCPv6 never cross it in either direction, so each hypervisor's dnsmasq answers its own
guests only.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket

from ansible_collections.hypervisor.networking.plugins.module_utils import _persist
from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._bridge import MANAGED_ALIAS
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

SPEC = dict(
    vni=dict(type="int", required=True),
    control_plane=dict(type="str", choices=["static", "evpn"], default="static"),
    peers=dict(type="list", elements="str", default=[]),
    local=dict(type="str", default=""),
    port=dict(type="int", default=4789),
    mtu=dict(type="int"),
)
VNI_MAX = 2 ** 24 - 1
OVERHEAD = {4: 50, 6: 70}  # outer IP + UDP + VXLAN + inner Ethernet headers
ZERO_MAC = "00:00:00:00:00:00"  # the flooding entries of head-end replication


def _address(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class Overlay(object):
    """The ``overlay`` option, checked."""

    def __init__(self, params, option="overlay"):
        self.vni = params["vni"]
        if not isinstance(self.vni, int) or not 1 <= self.vni <= VNI_MAX:
            raise ValidationError(option + ".vni", self.vni, "must be between 1 and %d" % VNI_MAX)
        self.control_plane = params.get("control_plane") or "static"
        self.port = params.get("port") or 4789
        if not 1 <= self.port <= 65535:
            raise ValidationError(option + ".port", self.port, "must be a UDP port (1-65535)")
        self.mtu = v.mtu(option + ".mtu", params.get("mtu"), minimum=576) if params.get("mtu") else None
        peers = []
        for pos, text in enumerate(params.get("peers") or []):
            addr = _address(str(text).strip())
            if addr is None or addr.is_multicast or addr.is_unspecified or addr.is_loopback:
                raise ValidationError("%s.peers[%d]" % (option, pos), text, "must be a unicast IP address")
            peers.append(addr)
        if len(set(peers)) != len(peers):
            raise ValidationError(option + ".peers", params["peers"], "lists an address twice")
        if len(set(p.version for p in peers)) > 1:
            raise ValidationError(option + ".peers", params["peers"], "mixes IPv4 and IPv6: one underlay family")
        if self.control_plane == "evpn" and peers:
            raise ValidationError(option + ".peers", params["peers"], "control_plane=evpn learns the tunnel "
                                  "endpoints from BGP (the fabric role's peers): leave peers out")
        self.peers = [str(p) for p in peers]
        local = str(params.get("local") or "").strip()
        self.local_address = _address(local)
        if local and self.local_address is None:
            v.ifname(option + ".local", local)
        elif self.local_address is not None and peers and self.local_address.version != peers[0].version:
            raise ValidationError(option + ".local", local, "is not of the peers' address family")
        self.local = local
        self.option = option

    @property
    def link(self):
        """The VXLAN port's name."""
        return "vxlan%d" % self.vni

    @property
    def evpn(self):
        return self.control_plane == "evpn"

    def as_dict(self):
        return {"vni": self.vni, "control_plane": self.control_plane, "peers": list(self.peers),
                "local": self.local, "port": self.port, "mtu": self.mtu}


def anycast_mac(vni):
    """The gateway's MAC on every hypervisor of the network: locally administered, from
    the VNI alone."""
    digest = bytearray(hashlib.sha256(("hypervisor.networking anycast gateway %d" % vni).encode()).digest()[:6])
    digest[0] = (digest[0] & 0xFE) | 0x02
    return ":".join("%02x" % b for b in digest)


def port_mac(vni, machine_id):
    """The VXLAN port's own MAC (never on the wire): stable, so check mode knows it."""
    digest = bytearray(hashlib.sha256(("%s/vxlan%d" % (machine_id, vni)).encode()).digest()[:6])
    digest[0] = (digest[0] & 0xFE) | 0x02
    return ":".join("%02x" % b for b in digest)


def underlay(ov, links, addrs, default_interface):
    """(local address, interface holding it, that interface's MTU) on this host: ``local``
    as given (an address of the host, or an interface's first global address), else the
    default-route interface's."""
    names = dict((link["index"], name) for name, link in links.items())
    family = ipaddress.ip_address(ov.peers[0]).version if ov.peers else None
    if ov.local_address is not None:
        for index, cidrs in addrs.items():
            if any(ipaddress.ip_interface(c).ip == ov.local_address for c in cidrs):
                name = names.get(index)
                return str(ov.local_address), name, links[name]["mtu"]
        raise StateError("%s.local: %s is not an address of this host" % (ov.option, ov.local))
    name = ov.local or default_interface
    if not name or name not in links:
        raise StateError("%s.local: %s" % (ov.option, "no interface %s on this host" % name if name else
                                           "empty, and this host has no IPv4 default route: set local"))
    for cidr in addrs.get(links[name]["index"], []):
        ip = ipaddress.ip_interface(cidr).ip
        if not ip.is_link_local and (family is None or ip.version == family):
            return str(ip), name, links[name]["mtu"]
    raise StateError("%s.local: %s has no global %saddress for the tunnel" % (
        ov.option, name, "IPv%d " % family if family else ""))


def overlay_mtu(ov, local, underlay_mtu):
    """The guests' MTU: as set, else the underlay's less the encapsulation."""
    if ov.mtu:
        return ov.mtu
    return underlay_mtu - OVERHEAD[ipaddress.ip_address(local).version]


def port_view(link, fdb):
    """The VXLAN port as the kernel has it (None when absent)."""
    if link is None:
        return None
    vx = link.get("vxlan") or {}
    port = link.get("brport") or {}
    return {"name": link["name"], "vni": vx.get("id"), "local": vx.get("local"), "port": vx.get("port"),
            "learning": vx.get("learning"), "mtu": link["mtu"], "master": link["master"], "up": link["up"],
            "mac": link["mac"], "neigh_suppress": port.get("neigh_suppress"), "port_learning": port.get("learning"),
            "flood": sorted(e["dst"] for e in fdb if e["mac"] == ZERO_MAC and e.get("dst"))}


def _ours(link, persisted):
    """A VXLAN port is ours when we marked it, or when our files made it at boot."""
    return link.get("alias") == MANAGED_ALIAS or link["name"] == persisted


def plan_port(ov, bridge, links, fdb, local, mtu, machine_id, persisted=None):
    """-> (Plan, view after): the bridge's VXLAN port as ``ov`` says. The tunnel's
    identity (VNI, local address, UDP port, learning) is the link's at creation: a change
    recreates it; the MTU, the bridge, the port flags and the flooding list change in place."""
    name = ov.link
    link = links.get(name)
    plan = Plan()
    if link is not None and not _ours(link, persisted):
        raise StateError("%s exists and was not made by this collection (overlay.vni %d): not taking it over"
                         % (name, ov.vni))
    if link is not None and link["kind"] != "vxlan":
        raise StateError("%s is a %s link, not a VXLAN port" % (name, link["kind"] or "physical"))
    if link is not None and link["master"] not in (None, bridge):
        raise StateError("%s is the overlay port of bridge %s: VNI %d serves one network on a host"
                         % (name, link["master"], ov.vni))
    before = port_view(link, fdb)
    identity = {"vni": ov.vni, "local": local, "port": ov.port, "learning": not ov.evpn}
    mac = port_mac(ov.vni, machine_id)
    create = {"name": name, "kind": "vxlan", "alias": MANAGED_ALIAS, "mac": mac, "mtu": mtu,
              "vxlan": identity}
    if before is not None and any(before[k] != val for k, val in identity.items()):
        plan.add("recreate %s (%s)" % (name, ", ".join("%s %s -> %s" % (k, before[k], identity[k])
                                                       for k in sorted(identity) if before[k] != identity[k])),
                 "link_del", {"name": name}, undo=_restore(before))
        before = None
    if before is None:
        plan.add("create %s (VXLAN %d, local %s, UDP %d%s)" % (name, ov.vni, local, ov.port,
                                                               ", learning through EVPN" if ov.evpn else ""),
                 "link_add", create, undo=("link_del", {"name": name}))
        current = {"mtu": mtu, "master": None, "up": False, "neigh_suppress": False, "port_learning": True,
                   "flood": [], "mac": mac}
    else:
        current = before
        if before["mtu"] != mtu:
            plan.add("set %s mtu %d" % (name, mtu), "link_set", {"name": name, "mtu": mtu},
                     undo=("link_set", {"name": name, "mtu": before["mtu"]}))
    if current["master"] != bridge:
        plan.add("attach %s to %s" % (name, bridge), "link_master", {"name": name, "master": bridge},
                 undo=("link_master", {"name": name, "master": current["master"]}))
        # a port that joins starts with the kernel's flags
        current = dict(current, neigh_suppress=False, port_learning=True)
    # ARP/ND for the gateway (and, with EVPN, for guests FRR knows) answered here, not
    # flooded through the tunnel; with EVPN the MACs come from BGP, not from learning
    flags = {"neigh_suppress": True, "learning": not ov.evpn}
    have = {"neigh_suppress": current["neigh_suppress"], "learning": current["port_learning"]}
    if flags != have:
        plan.add("set %s %s" % (name, " ".join("%s %s" % (k, "on" if val else "off") for k, val in sorted(flags.items()))),
                 "brport_set", dict(flags, name=name), undo=("brport_set", dict(have, name=name)))
    flood = [] if ov.evpn else [p for p in ov.peers if p != local]
    if not ov.evpn:
        # static: the flooding list is ours alone; with EVPN, zebra writes it
        for dst in current["flood"]:
            if dst not in flood:
                plan.add("remove %s from the flooding list of %s" % (dst, name), "fdb_flood",
                         {"name": name, "dst": dst, "present": False},
                         undo=("fdb_flood", {"name": name, "dst": dst, "present": True}))
        for dst in flood:
            if dst not in current["flood"]:
                plan.add("add %s to the flooding list of %s" % (dst, name), "fdb_flood",
                         {"name": name, "dst": dst, "present": True},
                         undo=("fdb_flood", {"name": name, "dst": dst, "present": False}))
    if not current["up"]:
        plan.add("set %s up" % name, "link_set", {"name": name, "up": True}, undo=("link_set", {"name": name, "up": False}))
    after = {"name": name, "vni": ov.vni, "local": local, "port": ov.port, "control_plane": ov.control_plane,
             "mtu": mtu, "mac": current["mac"], "bridge": bridge,
             "peers": flood}  # ours (EVPN: none, zebra's are in net_info)
    return plan, after


def ours_on(bridge, links, persisted=None):
    """The VXLAN ports of ours on ``bridge`` (what an absent network, or one that dropped
    its overlay or changed its VNI, leaves behind)."""
    return sorted(n for n, link in links.items() if link["kind"] == "vxlan" and _ours(link, persisted)
                  and link["master"] == bridge)


def _restore(view):
    """The undo of a VXLAN port's deletion: the port as it was, on its bridge, with its
    flags and flooding list."""
    identity = dict(vni=view["vni"], local=view["local"], port=view["port"], learning=view["learning"])
    return ("overlay_restore", {"link": dict(view, alias=MANAGED_ALIAS, vxlan=identity)})


def plan_removal(names, links, fdb):
    """Delete the VXLAN ports ``names``; the undo recreates each as it was."""
    plan = Plan()
    for name in names:
        plan.add("delete %s" % name, "link_del", {"name": name},
                 undo=_restore(port_view(links[name], [e for e in fdb if e["name"] == name])))
    return plan


NTF_EXT_LEARNED = 0x10  # an FDB entry a control plane installed (FRR's zebra from BGP EVPN)


def bgp_sessions(run_command, get_bin_path):
    """[{peer, state, uptime_ms, prefixes}] of FRR's EVPN sessions, or None when FRR's BGP
    does not answer here (not installed, not running)."""
    vtysh = get_bin_path("vtysh")
    if not vtysh:
        return None
    rc, out, _err = run_command([vtysh, "-c", "show bgp l2vpn evpn summary json"])
    try:
        peers = json.loads(out).get("peers", {}) if rc == 0 else None
    except ValueError:
        peers = None
    if peers is None:
        return None
    return [{"peer": peer, "state": data.get("state"), "uptime_ms": data.get("peerUptimeMsec", 0),
             "prefixes": data.get("pfxRcd", 0)} for peer, data in sorted(peers.items())]


def overlay_views(links, fdb, sessions, warnings):
    """net_info's ``overlay``: per VXLAN port, its network (the bridge), VNI, tunnel
    endpoints (the flooding list), remote MACs and how they were learnt; the BGP sessions."""
    out = []
    for name in sorted(n for n, link in links.items() if link["kind"] == "vxlan"):
        link, entries = links[name], [e for e in fdb if e["name"] == name]
        view = port_view(link, entries)
        managed = _ours(link, _persist.persisted_overlay_port(view["master"]) if view["master"] else None)
        evpn = view["learning"] is False
        remote = sorted(({"mac": e["mac"], "vtep": e["dst"],
                          "learnt": "bgp" if e["flags"] & NTF_EXT_LEARNED else "traffic"}
                         for e in entries if e["mac"] != ZERO_MAC and e.get("dst")),
                        key=lambda r: (r["vtep"], r["mac"]))
        out.append({"network": view["master"], "port": name, "vni": view["vni"], "local": view["local"],
                    "udp_port": view["port"], "control_plane": "evpn" if evpn else "static", "mtu": view["mtu"],
                    "up": view["up"], "neigh_suppress": view["neigh_suppress"], "vteps": view["flood"],
                    "remote_macs": remote, "managed": managed})
        if managed and not view["up"]:
            warnings.append("%s (VXLAN %s of %s) is down: the network ends at this hypervisor"
                            % (name, view["vni"], view["master"]))
        if evpn and not view["flood"] and not any(s["state"] == "Established" for s in sessions or []):
            warnings.append("%s learns through EVPN but FRR has no established BGP session: no other hypervisor "
                            "is known (run the fabric role, check the underlay)" % name)
    return {"networks": out, "bgp": sessions}


def udp_listens(local, peer, port, wait=0.5):
    """True when nothing refused a VXLAN datagram to ``peer``:``port`` within ``wait`` s (a
    host without a VXLAN socket there answers ICMP port unreachable), False when refused.
    The datagram carries a VXLAN header for VNI 0 and no frame: a VXLAN port drops it."""
    family = socket.AF_INET6 if ":" in peer else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((local, 0))
        sock.connect((peer, port))
        sock.settimeout(wait)
        sock.send(b"\x08\x00\x00\x00\x00\x00\x00\x00")
        try:
            sock.recv(64)
        except socket.timeout:
            return True
        except ConnectionRefusedError:
            return False
        return True
    except OSError:
        return False
    finally:
        sock.close()


def check_underlay(run_command, get_bin_path, local, peer, port, size):
    """(ok, evidence) of the path to another hypervisor: a don't-fragment ping of ``size``
    bytes (the underlay's MTU less IP and ICMP headers) from ``local``, and the UDP port."""
    ping = get_bin_path("ping")
    if ping is None:
        return None, "no ping command here to test the path to %s" % peer
    rc, _out, _err = run_command([ping, "-c", "1", "-W", "1", "-M", "do", "-s", str(size), "-I", local, peer])
    if rc != 0:
        rc_small, _o, _e = run_command([ping, "-c", "1", "-W", "1", "-I", local, peer])
        if rc_small != 0:
            return False, "%s does not answer ping from %s: the underlay does not reach it" % (peer, local)
        return False, ("%s answers small pings but not %d-byte ones with don't-fragment set: the underlay path is "
                       "narrower than this host's uplink, so full-size guest frames are lost" % (peer, size))
    if not udp_listens(local, peer, port):
        return False, "%s refuses UDP %d: it has no VXLAN port on it (the network is not there, or another port)" % (
            peer, port)
    return True, "%s answers %d-byte don't-fragment pings from %s and does not refuse UDP %d" % (peer, size, local, port)
