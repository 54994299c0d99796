# -*- coding: utf-8 -*-
"""A tiny DNS server for the tests' "internet": A records from the command line,
NXDOMAIN for other names, an empty answer for the root. Prints "listening" when ready.

usage: dns_peer.py [@BIND_ADDRESS] NAME=ADDRESS [NAME=ADDRESS ...]   (default: 0.0.0.0)
"""
from __future__ import annotations

import socket
import struct
import sys


def qname(data):
    labels, pos = [], 12
    while data[pos]:
        labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
        pos += data[pos] + 1
    return ".".join(labels), pos + 5


def main(records, bind="0.0.0.0"):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, 53))
    print("listening", flush=True)
    while True:
        data, peer = sock.recvfrom(512)
        try:
            answer_to(sock, data, peer, records)
        except OSError:
            continue  # no route back to an untranslated guest: the answer is lost, as on the internet


def answer_to(sock, data, peer, records):
    """One answer."""
    name, end = qname(data)
    question = data[12:end]
    ident = struct.unpack("!H", data[:2])[0]
    if name in records:
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(records[name])
        sock.sendto(struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + answer, peer)
    else:
        rcode = 0 if name == "" else 3
        sock.sendto(struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, 0, 0, 0) + question, peer)


if __name__ == "__main__":
    ARGS = sys.argv[1:]
    BIND = ARGS.pop(0)[1:] if ARGS and ARGS[0].startswith("@") else "0.0.0.0"
    main(dict(arg.split("=", 1) for arg in ARGS), BIND)
