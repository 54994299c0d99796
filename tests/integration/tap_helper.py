# -*- coding: utf-8 -*-
"""Play QEMU's side of a TAP: open it (optionally as another uid), hold it, or send an
ARP request through it and wait for the reply. Run inside a namespace by the tests.

usage: tap_helper.py [--uid N] open|hold|arp NAME [GUEST_MAC GUEST_IP TARGET_IP]
"""
from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_MULTI_QUEUE, IFF_VNET_HDR = 0x0002, 0x1000, 0x0100, 0x4000


def attach(name, multi_queue=False):
    """Open /dev/net/tun and attach to TAP ``name`` the way QEMU does."""
    fd = os.open(os.environ.get("TUN_DEVICE", "/dev/net/tun"), os.O_RDWR)
    flags = IFF_TAP | IFF_NO_PI | (IFF_MULTI_QUEUE if multi_queue else 0)
    if os.environ.get("TAP_VNET_HDR") == "1":  # QEMU's virtio-net asks for it
        flags |= IFF_VNET_HDR
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
    return fd


def arp(fd, guest_mac, guest_ip, target_ip, timeout=5.0):
    """Send a who-has for target_ip; return the replying MAC."""
    mac = bytes.fromhex(guest_mac.replace(":", ""))
    frame = (b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
             + mac + socket.inet_aton(guest_ip) + b"\x00" * 6 + socket.inet_aton(target_ip))
    deadline = time.monotonic() + timeout
    next_send = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_send:
            os.write(fd, frame)
            next_send = time.monotonic() + 0.5
        ready, _w, _x = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        data = os.read(fd, 2048)
        # an ARP reply (op 2) from target_ip to us
        if data[12:14] == b"\x08\x06" and data[20:22] == b"\x00\x02" and data[28:32] == socket.inet_aton(target_ip):
            return ":".join("%02x" % b for b in data[22:28])
    return None


def main(argv):
    if argv[0] == "--uid":
        uid = int(argv[1])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        argv = argv[2:]
    action, name = argv[0], argv[1]
    multi_queue = os.environ.get("TAP_MULTI_QUEUE") == "1"
    try:
        fd = attach(name, multi_queue)
    except OSError as exc:
        print("open failed: %s" % errno.errorcode.get(exc.errno, exc.errno))
        return 1
    if action == "open":
        print("opened")
    elif action == "hold":
        print("ready", flush=True)
        sys.stdin.read()  # until the test closes our stdin
    elif action == "arp":
        reply = arp(fd, *argv[2:5])
        print("reply from %s" % reply if reply else "no reply")
        return 0 if reply else 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
