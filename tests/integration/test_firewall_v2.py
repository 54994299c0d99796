# -*- coding: utf-8 -*-
"""Firewall v2 regressions: names Linux accepts, interface names that are rule syntax,
another tool writing while we apply, two of our runs at once, kill -9 mid-apply, and
drift repair that touches only what was lost. Real netfilter inside namespaces."""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import four_step

BACKENDS = ["nftables", "iptables"]
HV = "203.0.113.1"
G1 = "192.168.100.2"


def forwards(base, count, **extra):
    return [dict({"port": base + i, "to_addr": G1, "to_port": 80}, **extra) for i in range(count)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_names_with_dash_and_dot_work_everywhere(nat_lab, backend):
    lab = nat_lab
    lab.serve(lab.g1, "tcp", 80)
    lab.hv.run("ip", "link", "set", "up0", "name", "up-0.1")
    masq = {"name": "br-guests.v2", "source": "192.168.100.0/24", "out_interface": "up-0.1", "backend": backend}
    four_step(lab.hv, "masquerade", masq, "rules")
    dnat = {"name": "br-guests", "backend": backend,
            "forwards": [{"port": 8080, "to_addr": G1, "to_port": 80, "in_interface": "up-0.1"}]}
    four_step(lab.hv, "iptables_dnat", dnat, "rules")
    assert lab.connect(lab.wan, "tcp", HV, 8080) == "peer=203.0.113.2"
    for module, args in (("iptables_dnat", dnat), ("masquerade", masq)):
        four_step(lab.hv, module, {"name": args["name"], "state": "absent", "backend": backend}, "rules")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", ["!up0", "up+", "up*", 'up"0', "\u00e9" * 15])
def test_interface_names_never_become_rule_syntax(nat_lab, backend, value):
    lab = nat_lab
    before = lab.ruleset()
    res = lab.hv.module("masquerade", {"name": "lan", "source": "192.168.100.0/24", "out_interface": value,
                                       "backend": backend})
    assert res["rc"] != 0 and "out_interface=" in res["msg"], res
    res = lab.hv.module("iptables_dnat", {"name": "web", "backend": backend,
                                          "forwards": [{"port": 1, "to_addr": G1, "in_interface": value}]})
    assert res["rc"] != 0 and "forwards[0].in_interface=" in res["msg"], res
    assert lab.ruleset() == before


def _foreign_writer(ns, command, stop, log):
    """Add and replace rules in a chain of 'another tool' until told to stop."""
    n = 0
    while not stop.is_set():
        n += 1
        for argv in (["-A", "FOREIGN", "-s", "10.9.%d.%d" % (n // 250, n % 250), "-j", "RETURN"],
                     ["-R", "FOREIGN", "1", "-m", "comment", "--comment", "v%d" % n, "-j", "RETURN"]):
            proc = ns.run(command, "-w", *argv, check=False)
            log.append((argv, proc.returncode, proc.stderr))


@pytest.mark.parametrize("backend,command", [("iptables", "iptables-legacy"), ("nftables", "iptables-nft")])
def test_foreign_writer_loses_nothing_and_our_runs_do_not_fail(nat_lab, backend, command):
    lab = nat_lab
    for argv in (["-N", "FOREIGN"], ["-A", "FOREIGN", "-j", "RETURN"], ["-A", "FORWARD", "-j", "FOREIGN"]):
        lab.hv.run(command, *argv)
    stop, log = threading.Event(), []
    writer = threading.Thread(target=_foreign_writer, args=(lab.hv, command, stop, log))
    writer.start()
    failures = []
    try:
        for run in range(50):
            res = lab.hv.module("iptables_dnat", {"name": "web", "backend": backend,
                                                  "forwards": forwards(10000 + 100 * (run % 2), 20)})
            if res["rc"] != 0 or res["changed"] is not True:
                failures.append(res)
    finally:
        stop.set()
        writer.join()
    assert not failures, failures[:2]
    assert log and all(rc == 0 for _argv, rc, _err in log), [l for l in log if l[1]][:3]
    rules = [l for l in lab.hv.run(command + "-save", "-t", "filter").stdout.splitlines() if l.startswith("-A FOREIGN")]
    appended = [argv for argv, _rc, _err in log if argv[0] == "-A"]
    last = [argv for argv, _rc, _err in log if argv[0] == "-R"][-1]
    assert len(rules) == 1 + len(appended)  # every foreign rule survived
    print("%s: %d foreign writes during 50 applies, none lost" % (command, len(log)))
    assert '--comment %s ' % last[6] in rules[0]  # and the last replacement is what holds
    # our accepts joined that FORWARD, ahead of the foreign jump
    forward = [l for l in lab.hv.run(command + "-save", "-t", "filter").stdout.splitlines() if l.startswith("-A FORWARD")]
    assert forward[0].endswith("-j HN-FN-web") and forward[1] == "-A FORWARD -j FOREIGN"


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_of_our_runs_at_once_both_land(nat_lab, backend):
    lab = nat_lab
    results = {}

    def run(name, base):
        results[name] = lab.hv.module("iptables_dnat", {"name": name, "backend": backend,
                                                        "forwards": forwards(base, 200)})
    threads = [threading.Thread(target=run, args=(n, b)) for n, b in (("one", 20000), ("two", 30000))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r["rc"] == 0 and r["changed"] for r in results.values()), results
    for name, base in (("one", 20000), ("two", 30000)):
        again = lab.hv.module("iptables_dnat", {"name": name, "backend": backend, "forwards": forwards(base, 200)})
        assert again["changed"] is False, again["actions"][:5]
    lab.serve(lab.g1, "tcp", 80)
    assert lab.connect(lab.wan, "tcp", HV, 20199) == "peer=203.0.113.2"
    assert lab.connect(lab.wan, "tcp", HV, 30199) == "peer=203.0.113.2"


def _dnat_ports(ns, backend):
    """Host ports our set 'web' translates now, as the kernel holds them."""
    if backend == "iptables":
        out = ns.run("iptables-legacy-save", "-t", "nat", check=False).stdout
        return frozenset(int(l.split("--dport ")[1].split()[0]) for l in out.splitlines()
                         if l.startswith("-A HN-DN-web ") and "-j DNAT" in l)
    proc = ns.run("nft", "-j", "list", "map", "ip", "hypervisor_networking", "dnat_web_addr_0", check=False)
    if proc.returncode != 0:
        return frozenset()
    elems = json.loads(proc.stdout)["nftables"][1]["map"].get("elem", [])
    # each element counts its connections: its key is listed as {"elem": {"val": ..., "counter": ...}}
    return frozenset(e[0].get("elem", {}).get("val", e[0])["concat"][1] for e in elems)


def _start_module(ns, name, args):
    # runtime only, as every namespace test (conftest's Namespace.module)
    payload = dict(args, persist=False, _ansible_check_mode=False, _ansible_diff=False)
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
    handle.close()
    env = dict(os.environ, PYTHONPATH=ns.collections)
    proc = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, "-m",
                             "ansible_collections.hypervisor.networking.plugins.modules.%s" % name, handle.name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return proc, handle.name


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_mid_apply_leaves_old_or_new_never_a_mix(nat_lab, backend):
    lab = nat_lab
    rnd = random.Random(12)  # seeded: the same kill points every run
    sets = [forwards(10000, 1000), forwards(20000, 1000)]
    ports = [frozenset(f["port"] for f in s) for s in sets]
    # how long a whole switch takes here: kill points are spread over it
    start = time.monotonic()
    assert lab.hv.module("iptables_dnat", {"name": "web", "backend": backend, "forwards": sets[1]})["rc"] == 0
    assert lab.hv.module("iptables_dnat", {"name": "web", "backend": backend, "forwards": sets[0]})["rc"] == 0
    duration = (time.monotonic() - start) / 2
    current, outcomes = 0, []
    for attempt in range(10):
        target = 1 - current
        proc, path = _start_module(lab.hv, "iptables_dnat", {"name": "web", "backend": backend,
                                                             "forwards": sets[target]})
        time.sleep(rnd.uniform(0.3, 1.1) * duration)
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.wait()
        os.unlink(path)
        time.sleep(0.3)  # a restore the module had fed completely finishes on its own
        found = _dnat_ports(lab.hv, backend)
        assert found in (ports[0], ports[1]), (attempt, len(found))
        current = ports.index(found)
        outcomes.append(current == target)
    # a re-run converges, whatever the kills left
    res = lab.hv.module("iptables_dnat", {"name": "web", "backend": backend, "forwards": sets[1]})
    assert res["rc"] == 0
    assert lab.hv.module("iptables_dnat", {"name": "web", "backend": backend, "forwards": sets[1]})["changed"] is False
    assert _dnat_ports(lab.hv, backend) == ports[1]
    print("kill -9 during a %.2f s apply, new set landed: %s" % (duration, outcomes))


@pytest.mark.parametrize("backend", BACKENDS)
def test_repairing_ten_of_a_thousand_touches_only_those(nat_lab, backend):
    lab = nat_lab
    lab.serve(lab.g1, "tcp", 80)
    args = {"name": "web", "backend": backend, "forwards": forwards(10000, 1000)}
    assert lab.hv.module("iptables_dnat", args)["rc"] == 0
    lost = [10000 + 100 * i + 7 for i in range(10)]
    if backend == "iptables":
        out = lab.hv.run("iptables-legacy-save", "-t", "nat").stdout
        for line in out.splitlines():
            if line.startswith("-A HN-DN-web ") and int(line.split("--dport ")[1].split()[0]) in lost:
                lab.hv.run("iptables-legacy", "-t", "nat", "-D", *shlex.split(line[3:]))
    else:
        for port in lost:
            for m in ("addr", "port"):
                lab.hv.run("nft", "delete", "element", "ip", "hypervisor_networking", "dnat_web_%s_0" % m,
                           "{ tcp . %d }" % port)
    assert lab.connect(lab.wan, "tcp", HV, lost[3], timeout=1) is None
    res = lab.hv.module("iptables_dnat", args)
    assert res["changed"] is True
    assert len(res["actions"]) <= 40 and all(" add to " in a for a in res["actions"]), res["actions"]
    assert lab.connect(lab.wan, "tcp", HV, lost[3]) == "peer=203.0.113.2"
    assert lab.hv.module("iptables_dnat", args)["changed"] is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_native_nft_forward_drop_is_named_in_a_warning(nat_lab, backend, tmp_path):
    """No rule of ours can overrule another nft table's drop on the forward hook: say so."""
    lab = nat_lab
    rules = tmp_path / "drop.nft"
    rules.write_text("table inet filter {\n chain forward { type filter hook forward priority 0; policy drop; }\n}\n")
    lab.hv.run("nft", "-f", str(rules))
    res = lab.hv.module("masquerade", {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0",
                                       "backend": backend})
    assert res["rc"] == 0 and "inet filter forward drops forwarded packets" in json.dumps(res.get("warnings")), res
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 9, timeout=1) is None  # and it does drop
    lab.hv.run("nft", "delete", "table", "inet", "filter")
    res = lab.hv.module("masquerade", {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0",
                                       "backend": backend})
    assert "drops forwarded packets" not in json.dumps(res.get("warnings") or []), res


@pytest.mark.parametrize("forwards", ["notalist", ["notadict"]])
def test_forwards_not_a_list_of_dicts_names_the_option(nat_lab, forwards):
    """ansible-core's own first error here named nothing ("dictionary requested, ...")."""
    lab = nat_lab
    before = lab.ruleset()
    for check_mode in (True, False):
        res = lab.hv.module("iptables_dnat", {"name": "web", "forwards": forwards}, check_mode=check_mode)
        assert res["rc"] != 0 and "option 'forwards'" in res["msg"], res["msg"]
    assert lab.ruleset() == before


def test_auto_keeps_the_backend_that_holds_our_sets(nat_lab):
    """Beside tools that write iptables-legacy after our first run (or merely load its
    tables), auto stays with the backend our sets are in: no second copy, no flip."""
    lab = nat_lab
    lab.serve(lab.g1, "tcp", 80)
    masq = {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0"}
    dnat = {"name": "lan", "forwards": [{"port": 8080, "to_addr": G1, "to_port": 80}]}
    for module, args in (("masquerade", masq), ("iptables_dnat", dnat)):
        res = lab.hv.module(module, args)
        assert res["rc"] == 0 and res["backend"] == "nftables", res
    # someone else's rules in iptables-legacy (0.2 moved to it on the next run)
    lab.hv.run("iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s", "10.8.8.0/24", "-j", "MASQUERADE")
    lab.hv.run("iptables-legacy", "-A", "FORWARD", "-s", "10.9.9.0/24", "-j", "DROP")
    for module, args in (("masquerade", masq), ("iptables_dnat", dnat)):
        res = lab.hv.module(module, args)
        # our accepts join the FORWARD that now exists there (its drop would cut guests off)
        assert res["rc"] == 0 and res["backend"] == "nftables", res
        assert not [a for a in res["actions"] if "nat" in a and "iptables-legacy" in a], res["actions"]
        again = lab.hv.module(module, args)
        assert again["backend"] == "nftables" and again["changed"] is False, again
    assert "HN-" not in lab.hv.run("iptables-legacy-save", "-t", "nat").stdout
    assert lab.connect(lab.wan, "tcp", HV, 8080) == "peer=203.0.113.2"
    for module, args in (("iptables_dnat", dnat), ("masquerade", masq)):
        res = lab.hv.module(module, dict(args, state="absent"))
        assert res["rc"] == 0 and res["changed"] is True, res
    nft, legacy = lab.ruleset()
    assert "hypervisor_networking" not in nft and "HN-" not in legacy.replace("HN-FB", ""), (nft, legacy)


def test_a_forced_iptables_backend_on_an_iptables_nft_host_warns(nat_lab):
    lab = nat_lab
    res = lab.hv.module("masquerade", {"name": "lan", "source": "192.168.100.0/24", "backend": "iptables"},
                        check_mode=True)
    assert res["rc"] == 0, res
    if os.path.basename(os.path.realpath(shutil.which("iptables"))).find("legacy") >= 0:
        pytest.skip("this machine's iptables is iptables-legacy: nothing to warn of")
    assert "iptables command is iptables-nft" in json.dumps(res.get("warnings", [])), res


@pytest.mark.parametrize("backend,command", [("iptables", "iptables-legacy"), ("nftables", "iptables-nft")])
def test_the_admins_chain_hn_user_comes_before_our_accepts(nat_lab, backend, command):
    """HN-USER (as Docker's DOCKER-USER): created empty where a FORWARD chain of our sets is,
    jumped to before our accepts, never written by us; the admin's rules there hold (on
    iptables-nft beside a Docker-like FORWARD drop too) and survive our runs; it goes with
    our last set only while empty."""
    lab = nat_lab
    if backend == "nftables":
        lab.hv.run("iptables-nft", "-P", "FORWARD", "DROP")  # Docker's policy: our accepts go there
    lab.serve(lab.wan, "tcp", 7000)
    lab.serve(lab.g1, "tcp", 80)
    masq = {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0", "backend": backend}
    dnat = {"name": "lan", "backend": backend, "forwards": [{"port": 8080, "to_addr": G1, "to_port": 80}]}
    for module, args in (("masquerade", masq), ("iptables_dnat", dnat)):
        res = lab.hv.module(module, args)
        assert res["rc"] == 0, res
    saved = lab.hv.run(command + "-save", "-t", "filter").stdout
    assert ":HN-USER - [0:0]" in saved and "-A HN-USER" not in saved, saved
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 7000) == "peer=203.0.113.1"
    assert lab.connect(lab.g2, "tcp", "203.0.113.2", 7000) == "peer=203.0.113.1"
    # the admin keeps g1 off the wan's port 7000, and the wan off the published port
    lab.hv.run(command, "-A", "HN-USER", "-s", G1, "-d", "203.0.113.2", "-p", "tcp", "--dport", "7000", "-j", "DROP")
    lab.hv.run(command, "-A", "HN-USER", "-s", "203.0.113.2", "-d", G1, "-p", "tcp", "--dport", "80", "-j", "DROP")
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 7000, timeout=1) is None
    assert lab.connect(lab.g2, "tcp", "203.0.113.2", 7000) == "peer=203.0.113.1"
    assert lab.connect(lab.wan, "tcp", HV, 8080, timeout=1) is None
    user = [l for l in lab.hv.run(command + "-save", "-t", "filter").stdout.splitlines() if "HN-USER" in l]
    for module, args in (("masquerade", masq), ("iptables_dnat", dnat)):
        again = lab.hv.module(module, args)
        assert again["rc"] == 0 and again["changed"] is False, again
    for module, args in (("iptables_dnat", dnat), ("masquerade", masq)):
        assert lab.hv.module(module, dict(args, state="absent"))["rc"] == 0
    left = [l for l in lab.hv.run(command + "-save", "-t", "filter").stdout.splitlines() if "HN-USER" in l]
    assert [l for l in user if l.startswith((":HN-USER", "-A HN-USER"))] == left  # the admin's, untouched
    lab.hv.run(command, "-F", "HN-USER")
    for module, args in (("masquerade", masq), ("iptables_dnat", dnat)):
        assert lab.hv.module(module, args)["rc"] == 0
    for module, args in (("iptables_dnat", dnat), ("masquerade", masq)):
        res = lab.hv.module(module, dict(args, state="absent"))
        assert res["rc"] == 0, res
    assert "HN-" not in lab.hv.run(command + "-save", "-t", "filter", check=False).stdout
