# -*- coding: utf-8 -*-
"""Benchmark: N TAPs (owner set, on a bridge) in one tap_iface call, inside a network
namespace. Measures the first run, a no-change re-run, and a run after 1% of the TAPs
were deleted by hand (only those must be recreated). Not a test: it prints wall times.

usage: python bench/tap_bench.py [--count 1000] [--playbook]
  --playbook  also time the same call through ansible-playbook (adds Ansible start-up)
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


def collections_dir():
    root = tempfile.mkdtemp(prefix="hn-bench-")
    os.makedirs(os.path.join(root, "ansible_collections", "hypervisor"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "hypervisor", "networking"))
    return root


def run_module(ns, coll, args):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    start = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m",
                           "ansible_collections.hypervisor.networking.plugins.modules.tap_iface", handle.name],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=coll), check=False)
    elapsed = time.monotonic() - start
    os.unlink(handle.name)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result.get("failed"):
        raise SystemExit("tap_iface failed: %s" % result["msg"])
    return elapsed, result


def run_playbook(ns, coll, args):
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"hypervisor.networking.tap_iface": args, "register": "r"},
                       {"ansible.builtin.debug": {"msg": "changed={{ r.changed }} actions={{ r.actions | length }}"}}]}]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        json.dump(play, handle)
    start = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", ns, "ansible-playbook", "-i", "localhost,", handle.name],
                          capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=coll,
                                   ANSIBLE_PYTHON_INTERPRETER=sys.executable))
    elapsed = time.monotonic() - start
    os.unlink(handle.name)
    if proc.returncode != 0:
        raise SystemExit("playbook failed: %s" % proc.stdout[-2000:])
    return elapsed


def scenario(ns, coll, count, runner):
    names = ["vm%05d" % i for i in range(count)]
    args = {"taps": [{"name": n} for n in names], "owner": "nobody", "bridge": "br0"}
    rows = []
    elapsed = runner(ns, coll, args)
    rows.append(("first run (create %d)" % count, elapsed))
    rows.append(("no-change re-run", runner(ns, coll, args)))
    drift = names[:: max(1, count // (count // 100 or 1))][: max(1, count // 100)]
    for name in drift:
        sh("ip", "-n", ns, "link", "del", name)
    rows.append(("after %d deleted by hand" % len(drift), runner(ns, coll, args)))
    return rows, drift, args


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--playbook", action="store_true")
    opts = parser.parse_args()
    coll = collections_dir()
    print("machine: %d cores, kernel %s, python %s" % (os.cpu_count(), os.uname().release, sys.version.split()[0]))
    runners = [("module", lambda ns, c, a: run_module(ns, c, a)[0])]
    if opts.playbook:
        runners.append(("ansible-playbook", run_playbook))
    for label, runner in runners:
        ns = "hn-bench-%s" % secrets.token_hex(3)
        sh("ip", "netns", "add", ns)
        try:
            sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
            rows, drift, args = scenario(ns, coll, opts.count, runner)
            # the drift run must have recreated exactly the deleted TAPs
            _t, check = run_module(ns, coll, dict(args, _ansible_check_mode=True))
            assert check["changed"] is False, check["actions"][:5]
            links = json.loads(subprocess.run(["ip", "-n", ns, "-j", "link", "show", "master", "br0"],
                                              capture_output=True, text=True, check=True).stdout)
            assert len(links) == opts.count, len(links)
            print("\n%s, %d TAPs with owner on br0, one call:" % (label, opts.count))
            for what, secs in rows:
                print("  %-28s %7.2f s" % (what, secs))
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
