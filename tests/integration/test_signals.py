# -*- coding: utf-8 -*-
"""Signals at random points of a changing run: guest_network building a whole NAT
network (bridge, TAPs, firewall sets, DHCP) is stopped by SIGTERM, SIGHUP or SIGKILL at a
random moment; the next run repairs whatever was left (a second one changes nothing,
traffic flows both ways), nothing leaks under /run, and absent gives the namespace back.
The delays come from a seeded generator (printed), so a failure can be replayed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from test_guest_network import host_state, lab, network, settle

SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL]


def _started(ns, args):
    """guest_network as a process of its own; returns (process, argument file)."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"ANSIBLE_MODULE_ARGS": dict(args, persist=False, _ansible_check_mode=False)}, handle)
    handle.close()
    proc = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, "-m",
                             "ansible_collections.hypervisor.networking.plugins.modules.guest_network", handle.name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ns.collections))
    return proc, handle.name


def _leftovers():
    """Temporary files of ours under /run (a run cut off while replacing a note)."""
    found = []
    for root, _dirs, files in os.walk("/run/hypervisor-networking"):
        found.extend(os.path.join(root, f) for f in files if ".tmp" in f)
    return found


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_a_run_stopped_at_any_moment_is_repaired_by_the_next(netns, make_netns, backend):
    nat = lab(netns, make_netns)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print("seed", seed)
    netns.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    args = network(backend, dhcp={"range": "192.168.100.100-192.168.100.120"})
    try:
        start = time.monotonic()
        first = netns.module("guest_network", args)
        took = time.monotonic() - start
        assert first["rc"] == 0, first
        assert netns.module("guest_network", dict(args, state="absent"))["rc"] == 0
        # after one clean run and its removal: a legacy table, once made, stays with the namespace
        before = host_state(netns)
        for attempt in range(6):
            signum = rng.choice(SIGNALS)
            delay = rng.uniform(0.05, took)
            proc, path = _started(netns, args)
            time.sleep(delay)
            proc.send_signal(signum)
            proc.communicate(timeout=60)
            os.unlink(path)
            what = "attempt %d: signal %d after %.2f s (seed %d)" % (attempt, signum, delay, seed)
            repaired = netns.module("guest_network", args)
            assert repaired["rc"] == 0, (what, repaired)
            again = netns.module("guest_network", args)
            assert again["rc"] == 0 and again["changed"] is False, (what, again)
            settle(netns, "br0")
            nat.serve(nat.wan, "tcp", 7000 + attempt)
            if attempt == 0:
                nat.serve(nat.g1, "tcp", 80)
            assert nat.connect(nat.g1, "tcp", "203.0.113.2", 7000 + attempt) == "peer=203.0.113.1", what
            assert nat.connect(nat.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2", what
            assert _leftovers() == [], what
            gone = netns.module("guest_network", dict(args, state="absent"))
            assert gone["rc"] == 0, (what, gone)
            assert host_state(netns) == before, what
    finally:
        netns.module("guest_network", {"name": "br0", "state": "absent", "backend": backend, "qemu_acl": False})
        nat.stop()
