# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guests' view without logging into a guest, private to this collection: a
temporary network namespace on the guest bridge (a veth port, a free address of the
guests' subnet, the bridge's address as its default gateway) from which the diagnose
module sends what a guest would send. Removed before the module returns."""

from __future__ import annotations

import glob
import ipaddress
import os
import secrets
import signal
import sys
import time

from ansible_collections.hypervisor.networking.plugins.module_utils import _deps, _migrate, _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError

# a signal (SIGTERM, or SIGHUP from a dropped SSH session) ends the run through the
# probe's cleanup instead of leaving the namespace and its port on the bridge behind
SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

# run inside the probe namespace (`ip netns exec NS python3 -c PROBE ...`): fixed text, the
# values come as arguments. Prints one line: "ok <detail>" or "fail <reason>".
PROBE = r"""
import socket, struct, sys, time
kind, host, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
start = time.monotonic()
try:
    if kind == "tcp":
        s = socket.create_connection((host, port), timeout=3)
        s.close()
        print("ok connected in %.0f ms" % ((time.monotonic() - start) * 1000))
    else:
        qname = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p) + b"\0"
        query = struct.pack("!HHHHHH", 0x4e48, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(query, (host, port))
        data, _peer = s.recvfrom(4096)
        rcode, count = data[3] & 0x0F, struct.unpack("!H", data[6:8])[0]
        answers, pos = [], 12 + len(qname) + 4
        for _i in range(count):
            while pos < len(data) and data[pos] not in (0,) and data[pos] < 0xC0:
                pos += data[pos] + 1
            pos += 2 if pos < len(data) and data[pos] >= 0xC0 else 1
            rtype, _cls, _ttl, length = struct.unpack("!HHIH", data[pos:pos + 10])
            if rtype == 1 and length == 4:
                answers.append(socket.inet_ntoa(data[pos + 10:pos + 14]))
            pos += 10 + length
        print("ok rcode=%d answers=%s in %.0f ms" % (rcode, ",".join(answers) or "-",
                                                    (time.monotonic() - start) * 1000))
except (OSError, socket.timeout) as exc:
    print("fail %s" % (exc.strerror or exc.__class__.__name__ if isinstance(exc, OSError) else "timeout"))
"""


def run_probe(module, netns, kind, host, port, name="."):
    """(ok, detail) of one probe from ``netns`` (None: the host's own namespace)."""
    argv = [sys.executable, "-c", PROBE, kind, host, str(port), name]
    if netns:
        argv = [module.get_bin_path("ip", required=True), "netns", "exec", netns] + argv
    rc, out, err = module.run_command(argv)
    line = (out.strip().splitlines() or [""])[-1]
    if rc != 0 or not line:
        return False, (err.strip() or "the probe did not run")
    verdict, _sep, detail = line.partition(" ")
    return verdict == "ok", detail


def free_address(bridge, mac, gateway, network, taken):
    """The highest address of the subnet that nobody answers ARP for (None: none found
    among the last 8)."""
    hosts = list(ipaddress.IPv4Network(network).hosts())
    for addr in reversed(hosts[-8:]):
        text = str(addr)
        if text in taken or text == gateway:
            continue
        if _migrate.arp_probe(bridge, mac, gateway, text, timeout=0.6) is None:
            return text
    return None


class Interrupted(StateError):
    """A signal ended the run while a probe existed (it was removed)."""


def _interrupter(owner):
    """A handler that ends the run ``owner`` (a pid) through the probe's cleanup. pyroute2
    forks helpers (NetNS) that inherit it and are stopped with SIGTERM: in them the
    signal keeps its default action, or a helper would run the module's code on."""
    def interrupt(signum, _frame):
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Interrupted("stopped by signal %d; the probe was removed" % signum)
    return interrupt


def _note_path(token):
    return os.path.join(_rundir.RUN_DIR, "probe-%s.json" % token)


def sweep_dead():
    """Remove the probes of runs that died without cleaning up (SIGKILL, a crash): each
    probe has a note naming its run (pid and start time); a probe whose run is gone goes,
    its namespace always, its port when it is in this network namespace. Returns the
    namespaces removed."""
    removed = []
    for path in sorted(glob.glob(_note_path("*"))):
        note = _rundir.read_json(path)
        if not isinstance(note, dict):
            _rundir.remove(path)
            continue
        if _rundir.process_start(note.get("pid", 0)) == note.get("start"):
            continue  # its run is alive (a diagnose running beside this one)
        here = note.get("netns") == _rundir.netns_inode()
        if not here and note.get("netns") in _rundir.live_namespaces():
            continue  # its port lives in another namespace: a run there removes it
        _remove(note["name"], note["port"] if here else None)
        _rundir.remove(path)
        removed.append(note["name"])
    return removed


def _remove(name, port):
    """Delete a probe's veth (``port``, None: not here) and its namespace."""
    netns, IPRoute, _NetNS = _deps.netns_tools()
    if port:
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=port)
            if found:
                ipr.link("del", index=found[0])
    if name in netns.listnetns():
        netns.remove(name)


class _Probe(object):
    """Context manager: a namespace whose eth0 is the peer of a veth ``port`` in the host's
    namespace; ``host_side(ipr, index)`` and ``inside(ns, eth0)`` configure the two ends.
    Everything is removed on exit (the veth takes its routes along), also when a signal
    ends the run; a note under /run lets the next run remove what a killed one left."""

    prefix = "hnp"

    def __init__(self):
        self.token = secrets.token_hex(3)
        self.name, self.port = "hn-diag-%s" % self.token, "%s%s" % (self.prefix, self.token)
        self._handlers = {}

    def host_side(self, ipr, index):
        raise NotImplementedError

    def inside(self, inner, eth0):
        raise NotImplementedError

    def __enter__(self):
        netns, IPRoute, NetNS = _deps.netns_tools()
        sweep_dead()
        _rundir.write_json(_note_path(self.token), {
            "pid": os.getpid(), "start": _rundir.process_start(os.getpid()), "netns": _rundir.netns_inode(),
            "name": self.name, "port": self.port})
        handler = _interrupter(os.getpid())
        self._handlers = dict((sig, signal.signal(sig, handler)) for sig in SIGNALS)
        netns.create(self.name)
        try:
            with IPRoute() as ipr:
                ipr.link("add", ifname=self.port, kind="veth", peer={"ifname": "eth0", "net_ns_fd": self.name})
                self.host_side(ipr, ipr.link_lookup(ifname=self.port)[0])
            inner = NetNS(self.name)
            try:
                for ifname in ("lo", "eth0"):
                    inner.link("set", index=inner.link_lookup(ifname=ifname)[0], state="up")
                self.inside(inner, inner.link_lookup(ifname="eth0")[0])
            finally:
                inner.close()
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # the cleanup itself is not cut short
        try:
            _remove(self.name, self.port)
            _rundir.remove(_note_path(self.token))
        finally:
            for sig, handler in self._handlers.items():
                signal.signal(sig, handler)
        return False


class ProbeNamespace(_Probe):
    """A guest's twin: eth0 a port of ``bridge`` at ``address``/``prefix``, default route
    via ``gateway``."""

    prefix = "hnd"

    def __init__(self, bridge, address, prefix, gateway):
        super().__init__()
        self.bridge, self.address, self.plen, self.gateway = bridge, address, prefix, gateway

    def host_side(self, ipr, index):
        ipr.link("set", index=index, master=ipr.link_lookup(ifname=self.bridge)[0])
        ipr.link("set", index=index, state="up")

    def inside(self, inner, eth0):
        inner.addr("add", index=eth0, address=self.address, prefixlen=self.plen)
        inner.route("add", dst="0.0.0.0/0", gateway=self.gateway)
        time.sleep(0.2)  # the bridge port starts forwarding (no STP delay on ours)


class SlaacProbe(_Probe):
    """A guest's IPv6 twin that configures itself as a guest would: eth0 a port of
    ``bridge`` with nothing but what router advertisements on the bridge give it (the
    kernel solicits one as the link comes up). ``learnt(seconds)`` waits for them."""

    prefix = "hn6"

    def __init__(self, bridge):
        super().__init__()
        self.bridge = bridge

    def host_side(self, ipr, index):
        ipr.link("set", index=index, master=ipr.link_lookup(ifname=self.bridge)[0])
        ipr.link("set", index=index, state="up")

    def inside(self, inner, eth0):
        self.eth0 = eth0

    def learnt(self, seconds=4.0):
        """(default routers, prefixes, global addresses) the advertisements gave, waiting up
        to ``seconds`` for a default route (a router that advertises none is told by the
        prefixes it gives)."""
        _netns, _IPRoute, NetNS = _deps.netns_tools()
        deadline = time.monotonic() + seconds
        while True:
            inner = NetNS(self.name)
            try:
                routes = [r for r in inner.get_routes(family=10) if r["proto"] == 9]  # RTPROT_RA
                addrs = [a.get_attr("IFA_ADDRESS") for a in inner.get_addr(family=10, index=self.eth0)
                         if a["scope"] == 0 and not (a.get_attr("IFA_FLAGS") or a["flags"]) & 0x40]  # tentative
            finally:
                inner.close()
            routers = [r.get_attr("RTA_GATEWAY") for r in routes if r["dst_len"] == 0]
            prefixes = ["%s/%d" % (r.get_attr("RTA_DST"), r["dst_len"]) for r in routes if r["dst_len"] > 0]
            if (routers and addrs) or time.monotonic() > deadline:
                return routers, prefixes, addrs
            time.sleep(0.2)


OUTSIDE_CANDIDATES = ("198.51.100.254", "203.0.113.254", "192.0.2.254")  # documentation ranges


class OutsideProbe(_Probe):
    """A client outside the guests' subnet, joined to the host by a veth pair of its own
    (not the bridge): ``address``/32 there, a /32 route to it on the host. A guest answers
    it only through its default route."""

    prefix = "hno"

    def __init__(self, address):
        super().__init__()
        self.address = address

    def host_side(self, ipr, index):
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst="%s/32" % self.address, oif=index)

    def inside(self, inner, eth0):
        inner.addr("add", index=eth0, address=self.address, prefixlen=32)
        inner.route("add", dst="0.0.0.0/0", oif=eth0, scope=253)  # on-link: the host answers ARP


def outside_address(routes):
    """A documentation address no route of the host covers more closely than the default."""
    for candidate in OUTSIDE_CANDIDATES:
        addr = ipaddress.IPv4Address(candidate)
        covered = [r for r in routes if r["family"] == 2 and r["dst_len"] > 0 and r["dst"]
                   and addr in ipaddress.IPv4Network("%s/%d" % (r["dst"], r["dst_len"]), strict=False)]
        if not covered:
            return candidate
    return None


def resolvers(path="/etc/resolv.conf"):
    """The host's nameservers a guest could use (loopback ones are the host's own stub)."""
    found = []
    try:
        with open(path) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    found.append(parts[1])
    except (IOError, OSError):
        pass
    return [r for r in found if ":" not in r and not r.startswith("127.")]
