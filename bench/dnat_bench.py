# -*- coding: utf-8 -*-
"""Benchmark: N DNAT forwards in one iptables_dnat call, per backend, inside network
namespaces built like the integration tests' topology. Measures the first apply, the
no-change re-run, and the time to connect to the first vs the last forward (the
per-packet cost of dispatch). Not a test: it prints wall times.

usage: python bench/dnat_bench.py [--count 1000] [--connects 200]
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from conftest import Namespace, build_nat_lab  # noqa: E402  pylint: disable=wrong-import-position

CONNECT_LOOP = r"""
import socket, sys, time
host, ports, n = sys.argv[1], [int(p) for p in sys.argv[2].split(",")], int(sys.argv[3])
for port in ports:  # warm-up: ARP, conntrack, caches
    for _ in range(20):
        socket.create_connection((host, port), timeout=2).close()
for port in ports:
    start = time.perf_counter()
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=2)
        s.recv(64)
        s.close()
    print("%d %.1f" % (port, (time.perf_counter() - start) / n * 1e6))
"""


def make_ns(prefix, coll):
    name = "%s-%s" % (prefix, secrets.token_hex(3))
    subprocess.run(["ip", "netns", "add", name], check=True)
    ns = Namespace(name, coll)
    ns.run("ip", "link", "set", "lo", "up")
    return ns


def lab(coll):
    """hv, wan and one guest, wired like the integration tests' NatLab."""
    return build_nat_lab(make_ns("hn-bhv", coll), make_ns("hn-bwan", coll), [make_ns("hn-bg", coll)])


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--connects", type=int, default=200)
    opts = parser.parse_args()
    coll = tempfile.mkdtemp(prefix="hn-bench-")
    os.makedirs(os.path.join(coll, "ansible_collections", "hypervisor"))
    os.symlink(REPO, os.path.join(coll, "ansible_collections", "hypervisor", "networking"))
    print("machine: %d cores, kernel %s, python %s" % (os.cpu_count(), os.uname().release, sys.version.split()[0]))
    forwards = [{"port": 10000 + i, "to_addr": "192.168.100.2", "to_port": 80} for i in range(opts.count)]
    for backend in ("nftables", "iptables"):
        topo = lab(coll)
        try:
            topo.serve(topo.g1, "tcp", 80)
            args = {"name": "bench", "forwards": forwards, "backend": backend}
            first, res = timed(lambda: topo.hv.module("iptables_dnat", args))
            assert res["rc"] == 0 and res["changed"], res.get("msg")
            again, res = timed(lambda: topo.hv.module("iptables_dnat", args))
            assert res["changed"] is False
            ports = "%d,%d" % (10000, 10000 + opts.count - 1)
            out = topo.wan.run(sys.executable, "-c", CONNECT_LOOP, "203.0.113.1", ports, str(opts.connects)).stdout
            lat = dict(line.split() for line in out.splitlines())
            print("\n%s, %d forwards in one call:" % (backend, opts.count))
            print("  %-34s %7.2f s" % ("first apply", first))
            print("  %-34s %7.2f s" % ("no-change re-run", again))
            print("  %-34s %7s us" % ("connect+reply, first forward", lat["10000"]))
            print("  %-34s %7s us" % ("connect+reply, last forward", lat[str(10000 + opts.count - 1)]))
        finally:
            topo.stop()
            for ns in (topo.hv, topo.wan, topo.g1):
                subprocess.run(["ip", "netns", "del", ns.name], check=False)


if __name__ == "__main__":
    main()
