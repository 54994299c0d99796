# -*- coding: utf-8 -*-
"""_rtnl on crafted netlink answers (the real kernel: tests/integration/test_rtnl.py)."""
from __future__ import annotations

import struct

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _rtnl


def attr(kind, payload):
    return struct.pack("=HH", 4 + len(payload), kind) + payload + b"\0" * (-len(payload) % 4)


def newlink(seq, index, name, flags=0, extra=b""):
    body = struct.pack("=BxHiII", 0, 1, index, 1, 0) + attr(_rtnl.IFNAME, name.encode() + b"\0") + extra
    return struct.pack("=IHHII", 16 + len(body), _rtnl.RTM_NEWLINK, 0x2 | flags, seq, 0) + body


def done(seq, flags=0):
    return struct.pack("=IHHII", 20, _rtnl.NLMSG_DONE, 0x2 | flags, seq, 0) + struct.pack("=i", 0)


def error(seq, code):
    return struct.pack("=IHHII", 36, _rtnl.NLMSG_ERROR, 0, seq, 0) + struct.pack("=i", -code) + b"\0" * 16


class FakeSocket(object):
    """Answers each request with the next of ``answers`` (a function of the sequence number)."""

    def __init__(self, answers):
        self.answers, self.sent, self.pending = list(answers), [], []

    def send(self, data):
        self.sent.append(data)
        seq = struct.unpack_from("=IHHII", data)[3]
        self.pending = list(self.answers.pop(0)(seq))

    def recv(self, _size):
        return self.pending.pop(0)


def session(answers):
    s = _rtnl.Session()
    s._sock = FakeSocket(answers)
    return s


def test_a_dump_the_kernel_marks_interrupted_is_taken_again():
    s = session([lambda seq: [newlink(seq, 2, "br0", _rtnl.NLM_F_DUMP_INTR) + done(seq, _rtnl.NLM_F_DUMP_INTR)],
                 lambda seq: [newlink(seq, 2, "br0") + newlink(seq, 3, "vm1-tap"), done(seq)]])
    links = s.dump()
    assert [(index, _rtnl.name_of(a)) for index, _f, a in links] == [(2, "br0"), (3, "vm1-tap")]
    assert len(s._sock.sent) == 2


def test_answers_of_an_earlier_request_are_skipped_and_errors_raise():
    s = session([lambda seq: [newlink(seq - 1, 9, "stale") + newlink(seq, 2, "br0")],
                 lambda seq: [error(seq, 19)],  # ENODEV: no such link
                 lambda seq: [error(seq, 1)]])  # EPERM
    assert [_rtnl.name_of(a) for _i, _f, a in s.get("br0")] == ["br0"]
    assert s.get("nosuch0") == []
    with pytest.raises(_rtnl.RtnlError) as err:
        s.set_link(2, up=True)
    assert err.value.errno == 1


def test_a_link_decodes_only_what_the_modules_use():
    data = attr(_rtnl.TUN_OWNER, struct.pack("=I", 64055)) + attr(_rtnl.TUN_TYPE, b"\x02") \
        + attr(_rtnl.TUN_NUM_QUEUES, struct.pack("=I", 1))
    tun = attr(_rtnl.INFO_KIND, b"tun\0") + attr(_rtnl.INFO_DATA, data)
    raw = {_rtnl.IFNAME: b"vm1-tap\0", _rtnl.MTU: struct.pack("=I", 1500), _rtnl.MASTER: struct.pack("=I", 2),
           _rtnl.ADDRESS: bytes([0x52, 0x54, 0, 0, 0, 1]), _rtnl.LINKINFO: tun}
    link = _rtnl.link((5, 1, raw), {2: "br0"})
    assert link == {"index": 5, "name": "vm1-tap", "kind": "tun", "up": True, "mtu": 1500, "mac": "52:54:00:00:00:01",
                    "master": "br0", "alias": None,
                    "tun": {"mode": "tap", "owner": 64055, "group": None, "multi_queue": False, "vnet_hdr": False,
                            "persist": False, "in_use": True}}


def test_set_link_sends_one_request_with_the_attributes_given():
    s = session([lambda seq: [error(seq, 0)]])  # the ACK
    s.set_link(7, up=True, mac="52:54:00:00:00:02", alias="managed-by=hypervisor.networking", master=2)
    sent = s._sock.sent[0]
    length, kind, flags = struct.unpack_from("=IHH", sent)
    assert length == len(sent) and kind == _rtnl.RTM_NEWLINK and flags & _rtnl.NLM_F_ACK
    _family, _type, index, ifflags, change = struct.unpack_from("=BxHiII", sent, 16)
    assert (index, ifflags, change) == (7, 1, 1)
    got = _rtnl.attrs(sent, 32)
    assert got[_rtnl.ADDRESS] == bytes([0x52, 0x54, 0, 0, 0, 2]) and struct.unpack("=I", got[_rtnl.MASTER])[0] == 2
    assert got[_rtnl.IFALIAS] == b"managed-by=hypervisor.networking" and _rtnl.MTU not in got
