# -*- coding: utf-8 -*-
"""A minimal DHCP client and DNS query for the tests (the host has neither udhcpc nor dig).

usage:
  dhcp_client.py lease IFACE [HOSTNAME]   DISCOVER, OFFER, REQUEST, ACK on IFACE (its own
                                          MAC), then the address goes on IFACE with the
                                          router as default route; prints the lease as JSON
  dhcp_client.py renew IFACE ADDRESS      REQUEST of ADDRESS (INIT-REBOOT); prints the answer
  dhcp_client.py offers IFACE [SECONDS]   one DISCOVER; prints every OFFER heard in SECONDS
  dhcp_client.py query SERVER NAME [AAAA]  an A (or AAAA) query; prints the addresses as
                                          JSON, or the rcode, or "timeout"
"""
from __future__ import annotations

import json
import os
import random
import socket
import struct
import subprocess
import sys
import time

MAGIC = b"\x63\x82\x53\x63"
TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 5: "ACK", 6: "NAK"}


def _mac(iface):
    with open("/sys/class/net/%s/address" % iface) as handle:
        return bytes.fromhex(handle.read().strip().replace(":", ""))


def _packet(xid, mac, kind, requested=None, server=None, hostname=None):
    # op, htype, hlen, hops, xid, secs, flags (broadcast: no address to unicast to yet)
    head = struct.pack("!BBBBIHH", 1, 1, 6, 0, xid, 0, 0x8000) + b"\0" * 16 + mac + b"\0" * 10 + b"\0" * 192
    opts = bytes([53, 1, kind, 55, 6, 1, 3, 6, 15, 51, 26])
    if requested:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server:
        opts += bytes([54, 4]) + socket.inet_aton(server)
    if hostname:
        opts += bytes([12, len(hostname)]) + hostname.encode()
    return head + MAGIC + opts + b"\xff"


def _parse(data):
    yiaddr = socket.inet_ntoa(data[16:20])
    opts, pos = {}, 240
    while pos < len(data) and data[pos] != 255:
        if data[pos] == 0:
            pos += 1
            continue
        code, size = data[pos], data[pos + 1]
        opts[code] = data[pos + 2:pos + 2 + size]
        pos += 2 + size
    return yiaddr, opts


def _exchange(sock, xid, packet, want, timeout=10):
    deadline = time.time() + timeout
    sock.sendto(packet, ("255.255.255.255", 67))
    resend = time.time() + 2
    while time.time() < deadline:
        sock.settimeout(max(0.05, min(resend, deadline) - time.time()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            if time.time() >= resend:
                sock.sendto(packet, ("255.255.255.255", 67))
                resend = time.time() + 2
            continue
        if len(data) < 240 or struct.unpack("!I", data[4:8])[0] != xid or data[236:240] != MAGIC:
            continue
        yiaddr, opts = _parse(data)
        kind = opts.get(53, b"\0")[0]
        if kind in want:
            return kind, yiaddr, opts
    return None, None, {}


def _socket(iface):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.bind(("", 68))
    return sock


def _describe(kind, yiaddr, opts):
    def addrs(code):
        return [socket.inet_ntoa(opts[code][i:i + 4]) for i in range(0, len(opts.get(code, b"")), 4)]
    return {"type": TYPES.get(kind, kind), "address": yiaddr, "router": addrs(3), "dns": addrs(6),
            "server": addrs(54)[0] if 54 in opts else None,
            "lease": struct.unpack("!I", opts[51])[0] if 51 in opts else None,
            "domain": opts.get(15, b"").decode(),
            "mtu": struct.unpack("!H", opts[26])[0] if 26 in opts else None}


def lease(iface, hostname=None):
    start = time.time()
    mac, xid = _mac(iface), random.getrandbits(32)
    sock = _socket(iface)
    kind, offered, opts = _exchange(sock, xid, _packet(xid, mac, 1, hostname=hostname), (2,))
    if kind is None:
        return {"type": "timeout"}
    server = socket.inet_ntoa(opts[54])
    kind, yiaddr, opts = _exchange(sock, xid, _packet(xid, mac, 3, offered, server, hostname), (5, 6))
    result = _describe(kind, yiaddr, opts)
    result["seconds"] = round(time.time() - start, 3)
    if kind == 5:
        prefix = bin(struct.unpack("!I", opts[1])[0]).count("1")
        subprocess.run(["ip", "addr", "replace", "%s/%d" % (yiaddr, prefix), "dev", iface], check=True)
        if result["router"]:
            subprocess.run(["ip", "route", "replace", "default", "via", result["router"][0]], check=True)
    return result


def renew(iface, address):
    mac, xid = _mac(iface), random.getrandbits(32)
    kind, yiaddr, opts = _exchange(_socket(iface), xid, _packet(xid, mac, 3, address), (5, 6))
    return _describe(kind, yiaddr, opts) if kind else {"type": "timeout"}


def offers(iface, seconds="3"):
    """The OFFERs answering a DISCOVER (sent again each second, as clients do), one per
    address offered: one server per network is what a guest expects."""
    mac, xid = _mac(iface), random.getrandbits(32)
    sock = _socket(iface)
    deadline, found, resend = time.time() + float(seconds), {}, 0.0
    while time.time() < deadline:
        if time.time() >= resend:
            sock.sendto(_packet(xid, mac, 1), ("255.255.255.255", 67))
            resend = time.time() + 1
        sock.settimeout(max(0.05, min(resend, deadline) - time.time()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            continue
        if len(data) < 240 or struct.unpack("!I", data[4:8])[0] != xid or data[236:240] != MAGIC:
            continue
        yiaddr, opts = _parse(data)
        if opts.get(53, b"\0")[0] == 2:
            found[yiaddr] = _describe(2, yiaddr, opts)
    return [found[a] for a in sorted(found)]


def query(server, name, qtype="A", timeout=3):
    ident = random.getrandbits(16)
    code = {"A": 1, "AAAA": 28}[qtype]
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", code, 1)
    sock = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.sendto(struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question, (server, 53))
        data = sock.recv(4096)
    except socket.timeout:
        return "timeout"
    except OSError as exc:  # ICMP port unreachable: nothing listens there
        return "refused (%s)" % os.strerror(exc.errno)
    rcode, count = struct.unpack("!H", data[2:4])[0] & 0xF, struct.unpack("!H", data[6:8])[0]
    if rcode:
        return {3: "NXDOMAIN", 5: "REFUSED", 2: "SERVFAIL"}.get(rcode, "rcode %d" % rcode)
    pos, answers = 12 + len(question), []
    for _record in range(count):
        while data[pos] not in (0,) and data[pos] < 0xC0:
            pos += data[pos] + 1
        pos += 2 if data[pos] >= 0xC0 else 1
        rtype, _cls, _ttl, size = struct.unpack("!HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == code:
            answers.append(socket.inet_ntop(socket.AF_INET if code == 1 else socket.AF_INET6, data[pos:pos + size]))
        pos += size
    return answers


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    print(json.dumps({"lease": lease, "renew": renew, "offers": offers, "query": query}[mode](*args)), flush=True)
