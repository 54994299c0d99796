# -*- coding: utf-8 -*-
"""Tiny TCP/UDP peers for traffic tests, run inside namespaces.

serve tcp|udp PORT     answer every client with "peer=<client address>"
connect tcp|udp HOST PORT [TIMEOUT [SOURCE]]   print the answer, exit 1 when there is none
send udp HOST PORT SOURCE COUNT   send datagrams from SOURCE and wait for nothing
"""
from __future__ import annotations

import socket
import sys


def _peer(addr):
    """A client's address as it is: an IPv4 client of the dual-stack socket without ::ffff:."""
    return addr[0][len("::ffff:"):] if addr[0].startswith("::ffff:") else addr[0]


def serve(proto, port):
    """One dual-stack socket: IPv4 and IPv6 clients alike."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    if proto == "tcp":
        sock.listen(16)
    print("listening", flush=True)
    while True:
        if proto == "tcp":
            conn, addr = sock.accept()
            with conn:
                conn.sendall(("peer=%s\n" % _peer(addr)).encode())
        else:
            _data, addr = sock.recvfrom(2048)
            sock.sendto(("peer=%s\n" % _peer(addr)).encode(), addr)


def connect(proto, host, port, timeout, source=None):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
    sock.settimeout(timeout)
    if source:
        sock.bind((source, 0))
    try:
        if proto == "tcp":
            sock.connect((host, port))
            data = sock.recv(256)
        else:
            for _attempt in range(3):  # UDP: a lost first datagram (ARP) is normal
                sock.sendto(b"hello", (host, port))
                try:
                    data, _addr = sock.recvfrom(256)
                    break
                except socket.timeout:
                    data = b""
    except OSError as exc:
        print("no answer: %s" % exc)
        return 1
    print(data.decode().strip() or "no answer")
    return 0 if data else 1


def send(host, port, source, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    for _n in range(count):
        sock.sendto(b"hello", (host, port))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "send":
        sys.exit(send(sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])))
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(connect(sys.argv[2], sys.argv[3], int(sys.argv[4]),
                         float(sys.argv[5]) if len(sys.argv) > 5 else 2.0,
                         sys.argv[6] if len(sys.argv) > 6 else None))
