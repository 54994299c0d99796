# -*- coding: utf-8 -*-
"""Benchmark: N DNAT forwards in one iptables_dnat call, per backend and layout, inside
network namespaces built like the integration tests' topology. Measures the first apply,
the no-change re-run, a drift run (10 forwards deleted by hand first), and the time to
connect to the first vs the last forward (the per-packet cost of dispatch). Layouts:
plain forwards, forwards with in_interface, with sources, and plain forwards on a host
whose iptables-nft FORWARD drops (Docker-like: our accepts go there too). Not a test: it
prints wall times and the load average.

usage: python bench/dnat_bench.py [--count 1000] [--connects 200] [--layouts plain,iif,sources,drop]
       [--backends nftables,iptables]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
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


LAYOUTS = {
    "plain": {},
    "iif": {"in_interface": "up0"},
    "sources": {"sources": ["203.0.113.0/24"]},
    "drop": {},
}


def drift(hv, backend, ports):
    """Delete the forwards of ``ports`` by hand, the way an operator's mistake would."""
    if backend == "iptables":
        for line in hv.run("iptables-legacy-save", "-t", "nat").stdout.splitlines():
            if line.startswith("-A HN-DN-bench ") and int(line.split("--dport ")[1].split()[0]) in ports:
                hv.run("iptables-legacy", "-t", "nat", "-D", *shlex.split(line[3:]))
        return
    listing = json.loads(hv.run("nft", "-j", "list", "table", "ip", "hypervisor_networking").stdout)
    for obj in listing["nftables"]:
        found = obj.get("map")
        if found and found["name"].startswith("dnat_bench_"):
            # the address maps count per element: their keys are listed as {"elem": {"val": ...}}
            keys = [e[0].get("elem", {}).get("val", e[0]) for e in found.get("elem", [])]
            gone = [k for k in keys if k["concat"][-1] in ports]
            if gone:
                cmd = {"nftables": [{"delete": {"element": {"family": "ip", "table": "hypervisor_networking",
                                                            "name": found["name"], "elem": gone}}}]}
                subprocess.run(["ip", "netns", "exec", hv.name, "nft", "-j", "-f", "-"],
                               input=json.dumps(cmd), text=True, check=True)


def one(coll, backend, layout, count, connects):
    """(first, again, drift, first forward us, last forward us) of one backend x layout."""
    topo = lab(coll)
    try:
        topo.serve(topo.g1, "tcp", 80)
        if layout == "drop":
            for argv in (["-N", "DOCKER-USER"], ["-A", "DOCKER-USER", "-j", "RETURN"],
                         ["-A", "FORWARD", "-j", "DOCKER-USER"], ["-P", "FORWARD", "DROP"]):
                topo.hv.run("iptables-nft", *argv)
        forwards = [dict({"port": 10000 + i, "to_addr": "192.168.100.2", "to_port": 80}, **LAYOUTS[layout])
                    for i in range(count)]
        args = {"name": "bench", "forwards": forwards, "backend": backend}
        first, res = timed(lambda: topo.hv.module("iptables_dnat", args))
        assert res["rc"] == 0 and res["changed"], res.get("msg")
        again, res = timed(lambda: topo.hv.module("iptables_dnat", args))
        assert res["changed"] is False
        drift(topo.hv, backend, set(10000 + 100 * i + 7 for i in range(10)))
        repair, res = timed(lambda: topo.hv.module("iptables_dnat", args))
        assert res["changed"] is True and len(res["actions"]) <= 40, res["actions"][:5]
        ports = "%d,%d" % (10000, 10000 + count - 1)
        out = topo.wan.run(sys.executable, "-c", CONNECT_LOOP, "203.0.113.1", ports, str(connects)).stdout
        lat = dict(line.split() for line in out.splitlines())
        return first, again, repair, float(lat["10000"]), float(lat[str(10000 + count - 1)])
    finally:
        topo.stop()
        for ns in (topo.hv, topo.wan, topo.g1):
            subprocess.run(["ip", "netns", "del", ns.name], check=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--connects", type=int, default=200)
    parser.add_argument("--layouts", default="plain,iif,sources,drop")
    parser.add_argument("--backends", default="nftables,iptables")
    opts = parser.parse_args()
    coll = tempfile.mkdtemp(prefix="hn-bench-")
    os.makedirs(os.path.join(coll, "ansible_collections", "hypervisor"))
    os.symlink(REPO, os.path.join(coll, "ansible_collections", "hypervisor", "networking"))
    print("machine: %d cores, kernel %s, python %s; load average before: %s"
          % (os.cpu_count(), os.uname().release, sys.version.split()[0], os.getloadavg()))
    print("%d forwards in one call\n" % opts.count)
    print("| backend | layout | apply s | no-change s | 10-drift s | first forward us | last forward us | last/first |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in opts.backends.split(","):
        for layout in opts.layouts.split(","):
            first, again, repair, lat0, lat1 = one(coll, backend, layout, opts.count, opts.connects)
            print("| %s | %s | %.2f | %.2f | %.2f | %.1f | %.1f | %.2f |"
                  % (backend, layout, first, again, repair, lat0, lat1, lat1 / lat0))
            sys.stdout.flush()
    print("\nload average after: %s" % (os.getloadavg(),))


if __name__ == "__main__":
    main()
