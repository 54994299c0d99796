# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pyroute2 adapter, private to this collection: plain dicts in and out.

Works with pyroute2 0.7.x (Debian 12/13) and 0.9.x (PyPI): attributes are read with
``get_attr`` only (0.7.2's ``msg.get('ifname')`` returns None) and results are
iterated, never compared to list literals (0.7 returns lists, 0.9 tuples).
One IPRoute socket per module run, opened when first needed (reads go through ``_rtnl``) and
closed by ``with``; NDB is not used (it starts a thread and an SQL cache for a process that
lives a second).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import time

from ansible_collections.hypervisor.networking.plugins.module_utils import _deps, _rtnl, _tuntap
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError

IFA_F_PERMANENT = 0x80  # set on configured addresses, not on kernel-generated ones
IFA_F_NODAD = 0x02
RTPROT_KERNEL = 2  # routes the kernel derives from addresses
RTPROT_RA = 9  # routes the kernel learnt from router advertisements
RT_TABLE_LOCAL = 255
RT_TABLE_MAIN = 254
USER_HZ = 100  # IFLA_BR_FORWARD_DELAY is in clock_t (centiseconds)
NET_ADDR_SET = 3  # addr_assign_type: the MAC was set by a user, the kernel keeps it

# our name for a bridge option -> pyroute2 keyword and IFLA_BR_* attribute
BRIDGE_OPTS = {
    "stp": ("br_stp_state", "IFLA_BR_STP_STATE"),
    "forward_delay": ("br_forward_delay", "IFLA_BR_FORWARD_DELAY"),
    "vlan_filtering": ("br_vlan_filtering", "IFLA_BR_VLAN_FILTERING"),
    "nf_call_iptables": ("br_nf_call_iptables", "IFLA_BR_NF_CALL_IPTABLES"),
}


def _bridge_value(opt, raw):
    """Kernel value -> our value (bools, seconds)."""
    if raw is None:
        return None
    if opt == "forward_delay":
        return int(raw) // USER_HZ
    return bool(raw)


def _bridge_raw(opt, value):
    """Our value -> kernel value."""
    if opt == "forward_delay":
        return int(value) * USER_HZ
    return 1 if value else 0


UDEV_CONTROL = "/run/udev/control"
UDEV_DATA = "/run/udev/data"
UDEV_WAIT = 2.0  # seconds: udev handles a new link's event in milliseconds


def udev_processed(index, timeout=UDEV_WAIT):
    """Wait until a running udev has handled the new link ``index`` (its database entry
    exists). A TAP is born by ioctl with a random MAC: udev's MACAddressPolicy=persistent
    (systemd's 99-default.link) would give it its own, and if it read the link before our
    MAC was set, it writes its MAC over ours after. Once udev is done, ours stays (the
    kernel then says the MAC was set). Without udev (containers) there is nothing to wait for."""
    if not os.path.exists(UDEV_CONTROL):
        return
    path = os.path.join(UDEV_DATA, "n%d" % index)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.002)


class Netlink(object):
    """One rtnetlink session; every method takes and returns plain data."""

    def __init__(self):
        self._socket = None
        self._rt = _rtnl.Session()
        self._index = {}

    @property
    def _ipr(self):
        """pyroute2's IPRoute, opened (and pyroute2 imported) on the first write or
        pyroute2 read: a run that only reads through _rtnl never needs it."""
        if self._socket is None:
            self._socket = _deps.iproute()
        return self._socket

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._rt.close()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        return False

    # ---- reading -------------------------------------------------------------

    def links(self, only=None):
        """Links of this namespace: {name: link dict}.

        Without ``only``: every link, one dump. With ``only`` (names): one RTM_GETLINK per
        name, missing ones left out. Read by ``_rtnl``, which decodes only the attributes
        used here (pyroute2 decodes all of them: most of a second for a thousand TAPs).
        """
        if only is None:
            raw = self._rt.dump()
            names = dict((index, _rtnl.name_of(attrs)) for index, _flags, attrs in raw)
            self._index = dict((name, index) for index, name in names.items())
        else:
            raw = [msg for name in only for msg in self._rt.get(name)]
            for index, _flags, attrs in raw:
                self._index[_rtnl.name_of(attrs)] = index
            names = dict((index, name) for name, index in self._index.items())
        result = {}
        for msg in raw:
            link = self._link_dict(msg, names)
            result[link["name"]] = link
        return result

    def addresses(self):
        """Configured addresses: {ifindex: [cidr, ...]}, one dump, kernel order.

        Addresses the kernel generates (IPv6 link-local, SLAAC) lack IFA_F_PERMANENT:
        they are the kernel's to manage and are left out, so they are never purged
        and never make a check-mode prediction wrong.
        """
        result = {}
        for addr in self._rt.addresses():
            if not addr["flags"] & IFA_F_PERMANENT:
                continue
            # IPv4: IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on
            # point-to-point links)
            ip = (addr["local"] or addr["address"]) if addr["family"] == socket.AF_INET else addr["address"]
            cidr = ipaddress.ip_interface("%s/%d" % (ip, addr["prefixlen"])).with_prefixlen
            result.setdefault(addr["index"], []).append(cidr)
        return result

    @staticmethod
    def _link_dict(msg, names):
        """One link as the modules see it: bridge options in our units, and whether the
        bridge's MAC was set by a user."""
        link = _rtnl.link(msg, names)
        if link["kind"] == "bridge":
            link["bridge"] = dict((opt, _bridge_value(opt, raw)) for opt, raw in link["bridge"].items())
            link["mac_set_by_user"] = _addr_assign_type(link["name"]) == NET_ADDR_SET
        return link

    def fdb(self, names):
        """[{name, mac, dst, flags, state}] of the forwarding entries of links ``names``
        (VXLAN ports: ``dst`` is the remote tunnel endpoint); the names come from links()."""
        wanted = dict((self._idx(n), n) for n in names)
        out = []
        if not wanted:
            return out
        for msg in self._ipr.fdb("dump"):
            name = wanted.get(msg["ifindex"])
            if name is None:
                continue
            out.append({"name": name, "mac": (msg.get_attr("NDA_LLADDR") or "").lower(), "dst": msg.get_attr("NDA_DST"),
                        "flags": msg["flags"], "state": msg["state"]})
        return out

    # ---- writing (executor operations named by plan actions) -----------------

    def _idx(self, name):
        """Interface index by name (refreshed on a miss: links created this run)."""
        if name not in self._index:
            # a single RTM_GETLINK by name: link_lookup() dumps every link on some
            # pyroute2 versions, which is quadratic over a thousand TAPs
            found = self._rt.get(name)
            if not found:
                raise ApplyError("interface %s does not exist" % name)
            self._index[name] = found[0][0]
        return self._index[name]

    def link_add(self, name, kind, bridge=None, alias=None, mac=None, mtu=None, vxlan=None):
        """Create a link; an existing one of that name is an answer, not a failure."""
        kwargs = {"ifname": name, "kind": kind}
        if mac is not None:
            kwargs["address"] = mac
        if mtu is not None:
            kwargs["mtu"] = mtu
        if vxlan:
            local = vxlan["local"]
            kwargs.update({"vxlan_id": vxlan["vni"], "vxlan_port": vxlan["port"],
                           "vxlan_learning": 1 if vxlan["learning"] else 0,
                           ("vxlan_local6" if ":" in local else "vxlan_local"): local})
        kwargs.update(self._bridge_kwargs(bridge))
        try:
            self._ipr.link("add", **kwargs)
        except _deps.NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        self._index.pop(name, None)
        if alias is not None:
            # the kernel ignores IFLA_IFALIAS in a create request; set it afterwards
            self._ipr.link("set", index=self._idx(name), ifalias=alias)

    def link_del(self, name):
        """Delete a link; one already gone is an answer, not a failure."""
        try:
            self._ipr.link("del", index=self._idx(name))
        except ApplyError:
            return
        except _deps.NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise
        self._index.pop(name, None)

    def link_set(self, name, kind=None, up=None, mtu=None, mac=None, bridge=None, alias=None):
        """Change link attributes in one request (only those given; alias "" clears it)."""
        kwargs = {"index": self._idx(name)}
        if alias is not None:
            kwargs["ifalias"] = alias
        if mtu is not None:
            kwargs["mtu"] = mtu
        if mac is not None:
            kwargs["address"] = mac
        if bridge:
            kwargs["kind"] = kind or "bridge"
            kwargs.update(self._bridge_kwargs(bridge))
        if len(kwargs) > 1:
            self._ipr.link("set", **kwargs)
        if up is not None:
            self._ipr.link("set", index=kwargs["index"], state="up" if up else "down")

    def tap_create(self, name, uid, gid, multi_queue, vnet_hdr, alias, mtu=None, mac=None, master=None, up=True):
        """Create a persistent TAP by ioctl, then mark and configure it in one netlink request."""
        _tuntap.configure_tap(name, uid, gid, multi_queue, vnet_hdr)
        self._index.pop(name, None)
        index = self._idx(name)
        if mac is not None:
            udev_processed(index)
        # one request on the run's own rtnetlink session (through pyroute2 each costs a
        # millisecond of encoding: a second for a thousand TAPs)
        self._rt.set_link(index, up=bool(up), mtu=mtu, mac=mac, alias=alias,
                          master=self._idx(master) if master is not None else None)

    @staticmethod
    def tap_configure(name, uid, gid, multi_queue, vnet_hdr):
        """Change owner, group and vnet_hdr of an existing, unopened persistent TAP."""
        _tuntap.configure_tap(name, uid, gid, multi_queue, vnet_hdr)

    def brport_set(self, name, neigh_suppress, learning):
        """A bridge port's ARP/ND suppression and MAC learning."""
        self._ipr.brport("set", index=self._idx(name), neigh_suppress=1 if neigh_suppress else 0,
                         learning=1 if learning else 0)

    def fdb_flood(self, name, dst, present):
        """Add (append) or remove a flooding entry (all-zero MAC) to ``dst`` on VXLAN port
        ``name``; one already there (or gone) is an answer, not a failure."""
        try:
            self._ipr.fdb("append" if present else "del", ifindex=self._idx(name), lladdr="00:00:00:00:00:00",
                          dst=dst)
        except _deps.NetlinkError as exc:
            if exc.code not in (errno.EEXIST, errno.ENOENT):
                raise

    def overlay_restore(self, link):
        """A deleted VXLAN port back as it was (the undo of its deletion)."""
        name = link["name"]
        self.link_add(name, "vxlan", alias=link["alias"], mac=link["mac"], mtu=link["mtu"],
                      vxlan=link["vxlan"])
        if link["master"]:
            self.link_master(name, link["master"])
            self.brport_set(name, link["neigh_suppress"], link["port_learning"])
        for dst in link["flood"]:
            self.fdb_flood(name, dst, True)
        if link["up"]:
            self.link_set(name, up=True)

    def link_master(self, name, master):
        """Enslave ``name`` to ``master``, or release it when master is None."""
        self._ipr.link("set", index=self._idx(name), master=self._idx(master) if master else 0)

    def addr_add(self, name, cidr, nodad=False, lifetimes=None):
        """Add an address; IPv4 gets the subnet broadcast (``brd +``).

        ``nodad``: an address moved from another of our interfaces is known to be ours;
        skipping IPv6 duplicate address detection spares it a second of being tentative.
        ``lifetimes``: (valid, preferred) seconds of a DHCP lease's address, which expires
        as the lease does unless its client renews it (None: permanent).
        """
        iface = ipaddress.ip_interface(cidr)
        kwargs = {"index": self._idx(name), "address": str(iface.ip), "prefixlen": iface.network.prefixlen}
        if iface.version == 4 and iface.network.prefixlen < 31:
            kwargs["broadcast"] = str(iface.network.broadcast_address)
        if nodad and iface.version == 6:
            kwargs["flags"] = IFA_F_NODAD
        if lifetimes:
            # pyroute2 >= 0.8 reads valid_lft/preferred_lft; 0.7 (Debian 12, 13) reads the
            # cacheinfo dict, which must come after them (their filter resets it)
            kwargs["valid_lft"], kwargs["preferred_lft"] = int(lifetimes[0]), int(lifetimes[1])
            kwargs["cacheinfo"] = {"valid": int(lifetimes[0]), "preferred": int(lifetimes[1])}
        try:
            self._ipr.addr("add", **kwargs)
        except _deps.NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise

    def addr_del(self, name, cidr):
        """Remove an address; one already gone is an answer, not a failure."""
        iface = ipaddress.ip_interface(cidr)
        try:
            self._ipr.addr("del", index=self._idx(name), address=str(iface.ip), prefixlen=iface.network.prefixlen)
        except _deps.NetlinkError as exc:
            if exc.code not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                raise

    @staticmethod
    def _bridge_kwargs(bridge):
        """Our bridge options -> pyroute2 keywords (only those given)."""
        return dict(
            (BRIDGE_OPTS[opt][0], _bridge_raw(opt, value))
            for opt, value in (bridge or {}).items()
            if value is not None
        )

    def on_link_subnet(self, addr):
        """(subnet, interface) through which ``addr`` is directly reachable, or None
        (routed via a gateway, local, or no route yet)."""
        try:
            routes = list(self._ipr.route("get", dst=addr))
        except _deps.NetlinkError:
            return None
        if not routes or routes[0].get_attr("RTA_GATEWAY") or routes[0]["type"] != 1:  # RTN_UNICAST
            return None
        oif = routes[0].get_attr("RTA_OIF")
        target = ipaddress.ip_address(addr)
        for msg in self._ipr.get_addr(index=oif, family=socket.AF_INET6 if target.version == 6 else socket.AF_INET):
            net = ipaddress.ip_interface("%s/%d" % (msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"),
                                                    msg["prefixlen"])).network
            if target in net:
                names = list(self._ipr.get_links(oif))
                return net.with_prefixlen, names[0].get_attr("IFLA_IFNAME")
        return None

    def dynamic_addresses(self, name):
        """IPv4 addresses of ``name`` that expire (a DHCP client's: not IFA_F_PERMANENT):
        [(cidr, valid seconds, preferred seconds)]; addresses() leaves them out."""
        found = []
        for msg in self._ipr.get_addr(index=self._idx(name), family=socket.AF_INET):
            flags = msg.get_attr("IFA_FLAGS")
            info = msg.get_attr("IFA_CACHEINFO")
            if (msg["flags"] if flags is None else flags) & IFA_F_PERMANENT or info is None:
                continue
            addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            cidr = ipaddress.ip_interface("%s/%d" % (addr, msg["prefixlen"])).with_prefixlen
            found.append((cidr, info["ifa_valid"], info["ifa_preferred"]))
        return found

    def routes(self, name):
        """Routes through ``name`` that someone configured (static, DHCP): list of dicts.
        Kernel-made routes (prefix routes of addresses, proto kernel), the local table, and
        routes learnt from router advertisements (proto ra: the kernel's, learnt again on
        whichever link takes the advertisements; one of them moved by hand makes the kernel
        refuse every later advertisement on that link) are left out."""
        result = []
        index = self._idx(name)
        for family in (socket.AF_INET, socket.AF_INET6):
            for route in self._rt.routes(family):
                if route["proto"] in (RTPROT_KERNEL, RTPROT_RA) or route["table"] == RT_TABLE_LOCAL \
                        or route["type"] != 1 or route["oif"] != index or route["multipath"]:
                    continue
                dst = route["dst"]
                result.append({
                    "family": family, "table": route["table"], "proto": route["proto"], "scope": route["scope"],
                    "dst": "%s/%d" % (dst, route["dst_len"]) if dst else "default",
                    "gateway": route["gateway"], "metric": route["priority"], "prefsrc": route["prefsrc"],
                })
        return result

    def dump_routes(self, all_tables=False):
        """Every route of the main table (``all_tables``: of every table), IPv4 and IPv6,
        kernel-made ones included, as plain dicts of their fields (net_info)."""
        return [route for family in (socket.AF_INET, socket.AF_INET6) for route in self._rt.routes(family)
                if all_tables or route["table"] == RT_TABLE_MAIN]

    def route_replace(self, route, name):
        """Install ``route`` (a dict from routes()) through ``name``, replacing the same
        route through another interface in one kernel operation."""
        kwargs = {"family": route["family"], "table": route["table"], "proto": route["proto"],
                  "scope": route["scope"], "oif": self._idx(name)}
        if route["dst"] != "default":
            dst, _sep, length = route["dst"].partition("/")
            kwargs.update(dst=dst, dst_len=int(length))
        else:
            kwargs["dst_len"] = 0
        for key, arg in (("gateway", "gateway"), ("metric", "priority"), ("prefsrc", "prefsrc")):
            if route[key] is not None:
                kwargs[arg] = route[key]
        self._ipr.route("replace", **kwargs)

    # ---- read-back -----------------------------------------------------------

    def wait_until(self, predicate, timeout=2.0, interval=0.05, addresses=True, only=None):
        """Re-read until predicate(links, addresses) holds or timeout; return the last read.

        A netlink change can become visible a moment after the request succeeded
        (addresses, carrier-dependent flags), so results are polled, not assumed.
        """
        deadline = time.monotonic() + timeout
        while True:
            links = self.links(only)
            addrs = self.addresses() if addresses else None
            if predicate(links, addrs) or time.monotonic() >= deadline:
                return links, addrs
            time.sleep(interval)


def _addr_assign_type(name):
    """/sys/class/net/NAME/addr_assign_type, or None when unreadable."""
    try:
        with open("/sys/class/net/%s/addr_assign_type" % name) as handle:
            return int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return None
