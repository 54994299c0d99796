# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TUN/TAP ioctls on /dev/net/tun, private to this collection.

The kernel creates and configures TAP devices only through ioctls on /dev/net/tun
(rtnetlink can read and delete them, not create them). Opening /dev/net/tun in a
network namespace creates the device there.
"""

from __future__ import annotations

import fcntl
import os
import struct

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNSETOWNER = 0x400454CC
TUNSETGROUP = 0x400454CE
IFF_TAP = 0x0002
IFF_MULTI_QUEUE = 0x0100
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_DEVICE = "/dev/net/tun"


def tap_flags(multi_queue, vnet_hdr):
    """TUNSETIFF flags for a TAP as QEMU opens it (no packet information header)."""
    flags = IFF_TAP | IFF_NO_PI
    if multi_queue:
        flags |= IFF_MULTI_QUEUE
    if vnet_hdr:
        flags |= IFF_VNET_HDR
    return flags


def configure_tap(name, uid, gid, multi_queue, vnet_hdr, persist=True):
    """Create (or attach to) TAP ``name``, set owner, group and persistence, detach.

    Attaching to an existing persistent TAP with TUNSETIFF also rewrites its vnet_hdr
    flag, which is how that flag changes in place; multi_queue must match the device
    (EINVAL otherwise), and a single-queue TAP held open by a process answers EBUSY.
    ``uid``/``gid`` None leave owner/group as they are (none, on a new TAP): the kernel
    refuses (uid_t)-1, so an owner, once set, can be changed but not cleared.
    """
    fd = os.open(TUN_DEVICE, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    try:
        # names are bytes to the kernel: any UTF-8 name ifname() accepted fits in 15 bytes
        request = struct.pack("16sH", name.encode("utf-8"), tap_flags(multi_queue, vnet_hdr))
        fcntl.ioctl(fd, TUNSETIFF, request)
        if uid is not None:
            fcntl.ioctl(fd, TUNSETOWNER, uid)
        if gid is not None:
            fcntl.ioctl(fd, TUNSETGROUP, gid)
        fcntl.ioctl(fd, TUNSETPERSIST, 1 if persist else 0)
    finally:
        os.close(fd)
