# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run reads of the kernel's network state, straight from rtnetlink: private to
this collection.

Every run reads every link of the namespace (a thousand TAPs on a big hypervisor), the
addresses and the routes. pyroute2 decodes every attribute of every message into objects,
which costs most of a second at that size, and importing it a tenth of a second; this reader
walks the messages once and decodes only the attributes the modules use into plain dicts.
A run that changes nothing does not import pyroute2 at all; writes stay with pyroute2
(``_netlink``).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_TYPE_MASK = 0x3fff  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

# IFLA_*
ADDRESS, IFNAME, MTU, MASTER, LINKINFO, IFALIAS, CARRIER = 1, 3, 4, 10, 18, 20, 33
# IFLA_INFO_*
INFO_KIND, INFO_DATA, INFO_SLAVE_DATA = 1, 2, 5
# IFLA_BR_* (bridge data)
BR_FORWARD_DELAY, BR_STP_STATE, BR_PRIORITY, BR_VLAN_FILTERING, BR_NF_CALL_IPTABLES = 1, 5, 6, 7, 36
# IFLA_TUN_*
TUN_OWNER, TUN_GROUP, TUN_TYPE, TUN_VNET_HDR, TUN_PERSIST, TUN_MULTI_QUEUE = 1, 2, 3, 5, 6, 7
TUN_NUM_QUEUES, TUN_NUM_DISABLED_QUEUES = 8, 9
# IFLA_VXLAN_*
VXLAN_ID, VXLAN_LOCAL, VXLAN_LEARNING, VXLAN_PORT, VXLAN_LOCAL6 = 1, 4, 7, 15, 17
# IFLA_BRPORT_*
BRPORT_LEARNING, BRPORT_NEIGH_SUPPRESS = 8, 32
# IFA_*
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
# RTA_*
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 6, 7, 9, 15

_HDR = struct.Struct("=IHHII")  # nlmsghdr
_IFI = struct.Struct("=BxHiII")  # ifinfomsg
_IFA = struct.Struct("=BBBBI")  # ifaddrmsg
_RTM = struct.Struct("=BBBBBBBBI")  # rtmsg
_NH = struct.Struct("=HBBi")  # rtnexthop
_ATTR = struct.Struct("=HH")  # rtattr


class RtnlError(OSError):
    """The kernel answered a request with an error (errno in ``.errno``)."""


def attrs(data, start=0, end=None):
    """{type: payload} of the netlink attributes in ``data[start:end]`` (the last of a type)."""
    out = {}
    end = len(data) if end is None else end
    pos = start
    while pos + 4 <= end:
        length, kind = _ATTR.unpack_from(data, pos)
        if length < 4:
            break
        out[kind & NLA_TYPE_MASK] = data[pos + 4:pos + length]
        pos += (length + 3) & ~3
    return out


def _u(raw, fmt="=I"):
    return struct.unpack(fmt, raw[:struct.calcsize(fmt)])[0] if raw is not None else None


def _str(raw):
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape") if raw is not None else None


def _mac(raw):
    return ":".join("%02x" % b for b in raw) if raw else None


def _ip(raw):
    if not raw:
        return None
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def name_of(attr):
    """The interface name in a link's attributes."""
    return _str(attr.get(IFNAME))


def link(msg, names):
    """One RTM_NEWLINK message (``(index, flags, attributes)``) -> the link dict of ``_netlink``."""
    index, flags, attr = msg
    info = attrs(attr[LINKINFO]) if LINKINFO in attr else {}
    kind = _str(info.get(INFO_KIND))
    master = _u(attr.get(MASTER))
    out = {
        "index": index,
        "name": _str(attr.get(IFNAME)),
        "kind": kind,
        "up": bool(flags & 0x1),
        "mtu": _u(attr.get(MTU)),
        "mac": _mac(attr.get(ADDRESS)),
        "master": names.get(master) if master else None,
        "alias": _str(attr.get(IFALIAS)),
    }
    data = attrs(info[INFO_DATA]) if INFO_DATA in info else None
    if kind == "bridge":
        data = data or {}
        out["bridge"] = {"stp": _u(data.get(BR_STP_STATE)), "forward_delay": _u(data.get(BR_FORWARD_DELAY)),
                         "vlan_filtering": _u(data.get(BR_VLAN_FILTERING), "=B"),
                         "nf_call_iptables": _u(data.get(BR_NF_CALL_IPTABLES), "=B")}
        out["priority"] = _u(data.get(BR_PRIORITY), "=H")
    elif kind == "tun":
        data = data or {}
        queues = (_u(data.get(TUN_NUM_QUEUES)) or 0) + (_u(data.get(TUN_NUM_DISABLED_QUEUES)) or 0)
        out["tun"] = {
            "mode": "tap" if _u(data.get(TUN_TYPE), "=B") == 2 else "tun",
            "owner": _u(data.get(TUN_OWNER)), "group": _u(data.get(TUN_GROUP)),
            "multi_queue": bool(_u(data.get(TUN_MULTI_QUEUE), "=B")),
            "vnet_hdr": bool(_u(data.get(TUN_VNET_HDR), "=B")),
            "persist": bool(_u(data.get(TUN_PERSIST), "=B")),
            # held open by a process (a running guest): the kernel reports attached queues
            # only for multi-queue TAPs, and turns carrier on while any queue is attached
            "in_use": queues > 0 or bool(_u(attr.get(CARRIER), "=B")),
        }
    elif kind == "vxlan":
        data = data or {}
        out["vxlan"] = {"id": _u(data.get(VXLAN_ID)), "port": _u(data.get(VXLAN_PORT), ">H"),
                        "local": _ip(data.get(VXLAN_LOCAL)) or _ip(data.get(VXLAN_LOCAL6)),
                        "learning": bool(_u(data.get(VXLAN_LEARNING), "=B"))}
        if master and INFO_SLAVE_DATA in info:
            port = attrs(info[INFO_SLAVE_DATA])
            out["brport"] = {"neigh_suppress": bool(_u(port.get(BRPORT_NEIGH_SUPPRESS), "=B")),
                             "learning": bool(_u(port.get(BRPORT_LEARNING), "=B"))}
    return out


NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10  # the table changed while it was dumped: the dump may miss or repeat entries
DUMP_TRIES = 5
IFF_UP = 0x1


def _attr(kind, payload):
    """One netlink attribute, padded."""
    return _ATTR.pack(4 + len(payload), kind) + payload + b"\0" * (-len(payload) % 4)


def _text(value):
    return value.encode("utf-8", "surrogateescape") + b"\0"


class Session(object):
    """One rtnetlink socket for a run's reads (and the TAPs' link settings); requests are
    answered in order, each with its own sequence number."""

    def __init__(self):
        self._sock = None
        self._seq = 0

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _request(self, kind, payload, flags, answer=None, header=None):
        """Send one request; return its ``answer`` messages as (header fields, attributes),
        ``header`` being the struct of their fixed part. An error answer raises RtnlError. A
        dump the kernel marks as interrupted (another tool changed links, addresses or routes
        meanwhile) is taken again."""
        for _attempt in range(DUMP_TRIES - 1):
            out, interrupted = self._exchange(kind, payload, flags, answer, header)
            if not interrupted:
                return out
        return self._exchange(kind, payload, flags, answer, header)[0]

    def _exchange(self, kind, payload, flags, answer, header):
        """One request and its answer: (messages, whether the kernel marked the dump interrupted)."""
        if self._sock is None:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self._sock.bind((0, 0))
        self._seq += 1
        seq = self._seq
        self._sock.send(_HDR.pack(_HDR.size + len(payload), kind, NLM_F_REQUEST | flags, seq, 0) + payload)
        out, interrupted = [], False
        while True:
            data = self._sock.recv(1 << 16)
            pos = 0
            while pos + _HDR.size <= len(data):
                length, msg_type, msg_flags, msg_seq, _pid = _HDR.unpack_from(data, pos)
                if msg_seq != seq:  # the tail of an earlier, abandoned answer
                    pos += (length + 3) & ~3
                    continue
                interrupted = interrupted or bool(msg_flags & NLM_F_DUMP_INTR)
                if msg_type == NLMSG_DONE:
                    return out, interrupted
                if msg_type == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, pos + _HDR.size)[0]
                    if code:
                        raise RtnlError(code, "%s (rtnetlink)" % os.strerror(code))
                    return out, interrupted
                if msg_type == answer:
                    fields = header.unpack_from(data, pos + _HDR.size)
                    out.append((fields, attrs(data, pos + _HDR.size + header.size, pos + length)))
                pos += (length + 3) & ~3
            if not flags & NLM_F_DUMP and out:
                return out, interrupted

    def _links(self, payload, flags):
        """RTM_GETLINK -> [(index, flags, attributes)]."""
        return [(fields[2], fields[3], attr)
                for fields, attr in self._request(RTM_GETLINK, payload, flags, RTM_NEWLINK, _IFI)]

    def dump(self):
        """Every link of this network namespace, one dump."""
        return self._links(_IFI.pack(socket.AF_UNSPEC, 0, 0, 0, 0), NLM_F_DUMP)

    def get(self, name):
        """The link named ``name``, or [] when there is none."""
        try:
            return self._links(_IFI.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFNAME, _text(name)), 0)
        except RtnlError as exc:
            if exc.errno == errno.ENODEV:
                return []
            raise

    def set_link(self, index, up=None, mtu=None, mac=None, alias=None, master=None):
        """Change a link's state, MTU, MAC, alias and master in one request (those given)."""
        payload = b"".join([
            _attr(IFALIAS, alias.encode("utf-8", "surrogateescape")) if alias is not None else b"",
            _attr(MTU, struct.pack("=I", mtu)) if mtu is not None else b"",
            _attr(ADDRESS, bytes(int(b, 16) for b in mac.split(":"))) if mac is not None else b"",
            _attr(MASTER, struct.pack("=I", master)) if master is not None else b""])
        head = _IFI.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up is not None else 0)
        self._request(RTM_NEWLINK, head + payload, NLM_F_ACK)

    def addresses(self):
        """Every address: [{family, prefixlen, flags, index, address, local}] (IFA_FLAGS,
        where the kernel gives it, in ``flags``)."""
        out = []
        for (family, prefixlen, flags, _scope, index), attr in self._request(
                RTM_GETADDR, _IFA.pack(socket.AF_UNSPEC, 0, 0, 0, 0), NLM_F_DUMP, RTM_NEWADDR, _IFA):
            extended = _u(attr.get(IFA_FLAGS))
            out.append({"family": family, "prefixlen": prefixlen, "index": index,
                        "flags": flags if extended is None else extended,
                        "address": _ip(attr.get(IFA_ADDRESS)), "local": _ip(attr.get(IFA_LOCAL))})
        return out

    def routes(self, family):
        """Every route of ``family`` (all tables): the fields net_info and the uplink lookup
        use; a multipath route stands for its first nexthop."""
        out = []
        for fields, attr in self._request(RTM_GETROUTE, _RTM.pack(family, 0, 0, 0, 0, 0, 0, 0, 0), NLM_F_DUMP,
                                          RTM_NEWROUTE, _RTM):
            _family, dst_len, _src_len, _tos, table, proto, scope, kind, _flags = fields
            oif, gateway = _u(attr.get(RTA_OIF)), _ip(attr.get(RTA_GATEWAY))
            hops = attr.get(RTA_MULTIPATH)
            if oif is None and hops and len(hops) >= _NH.size:
                length, _nh_flags, _nh_hops, oif = _NH.unpack_from(hops, 0)
                gateway = gateway or _ip(attrs(hops, _NH.size, length).get(RTA_GATEWAY))
            out.append({"family": family, "dst": _ip(attr.get(RTA_DST)), "dst_len": dst_len, "gateway": gateway,
                        "multipath": bool(hops), "priority": _u(attr.get(RTA_PRIORITY)), "oif": oif,
                        "table": _u(attr.get(RTA_TABLE)) or table, "proto": proto, "scope": scope, "type": kind,
                        "prefsrc": _ip(attr.get(RTA_PREFSRC))})
        return out
