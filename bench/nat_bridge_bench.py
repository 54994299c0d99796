# -*- coding: utf-8 -*-
"""Benchmark: the nat_bridge workload four ways, inside network namespaces.

Workload: bridge br0 (192.168.100.1/24), N TAPs owned by nobody on br0, IPv4
forwarding, masquerade of 192.168.100.0/24 out of up0, N DNAT forwards (tcp 20000+i to
192.168.100.10:80). Ways:
  role      ansible-playbook with the nat_bridge role (this collection), runtime only
  persist   the same with nat_bridge_persist (systemd-networkd files, the firewall's boot
            load), /etc an overlay of the benchmark's own (tests/integration/etc_sandbox.py)
  shell     the seed's commands made idempotent (ip link show / iptables -C before each add)
  builtin   ansible builtin modules in loops (command, ansible.builtin.iptables, sysctl)
  floor     one `ip -batch` plus one `iptables-restore` (first run only: not idempotent)
  carry     Ansible's own floor for this data: ansible-playbook with one task of a module
            (bench/library/hn_carry.py) that takes the role's N TAPs and N forwards from the
            same variables and returns a view of each, as guest_network does, and does nothing
            else (two runs; nothing is built, so no drift run)
For each: first run, no-change re-run, and a drift run after 1% of the TAPs and of the
forwards were deleted by hand; each way's result is checked (N TAPs on br0, N forwards).
Not a test: it prints wall times as a Markdown table.

The drift run must touch only what drifted: every TAP that was not deleted keeps its
ifindex (it was not recreated), and so does every TAP in a no-change run.
--before REV[,REV...] adds the ways "persist@REV": the same as persist with the collection as
it was at git revision REV, in the same run (before/after on one machine, one load; several
revisions in order show what each step bought).
The load average is printed before and after. --repeat R takes R no-change runs and R drift
runs per way and N and prints their medians (a shared machine's noise is larger than a step);
the ways of one N take turns, so a change of the machine's speed meets all of them alike.

usage: python bench/nat_bridge_bench.py [--counts 10,200,1000] [--ways role,persist,shell,builtin,floor,carry]
                                         [--before REV[,REV...]] [--repeat R]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = tempfile.mkdtemp(prefix="hn-nbbench-")
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(WORK, "collections"), ANSIBLE_NOCOLOR="1",
           ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="false",
           PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def sh(*argv, check=True, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, check=check, **kwargs)


def taps(n):
    return ["t%05d" % i for i in range(n)]


def ports(n):
    return [20000 + i for i in range(n)]


def sandbox():
    """hv (uplink up0 203.0.113.1, default route) and wan (203.0.113.2) namespaces."""
    hv, wan = "hn-bh-%s" % secrets.token_hex(3), "hn-bw-%s" % secrets.token_hex(3)
    for ns in (hv, wan):
        sh("ip", "netns", "add", ns)
    sh("ip", "-n", hv, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", wan)
    sh("ip", "-n", hv, "addr", "add", "203.0.113.1/24", "dev", "up0")
    sh("ip", "-n", hv, "link", "set", "up0", "up")
    sh("ip", "-n", hv, "route", "add", "default", "via", "203.0.113.2")
    return hv, wan


SANDBOX = os.path.join(REPO, "tests", "integration", "etc_sandbox.py")


def playbook(hv, path, extra=(), etc=None, env=None):
    inventory = os.path.join(WORK, "inventory")
    with open(inventory, "w") as handle:
        handle.write("[hypervisors]\nbench ansible_connection=local ansible_become=false\n")
    wrap = ["unshare", "--mount", "--propagation", "private", sys.executable, SANDBOX, etc, "--"] if etc else []
    proc = sh("ip", "netns", "exec", hv, *wrap, os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
              "-i", inventory, path, *extra, check=False, env=env or ENV)
    if proc.returncode != 0:
        raise SystemExit("playbook %s failed:\n%s" % (path, proc.stdout[-3000:]))
    return proc.stdout


def role_way(hv, n, persist=False, env=None):
    data = {"nat_bridge_persist": persist, "nat_bridge_renderer": "networkd",
            "nat_bridge_taps": [{"name": t, "owner": "nobody"} for t in taps(n)],
            "nat_bridge_forwards": [{"port": p, "to_addr": "192.168.100.10", "to_port": 80} for p in ports(n)],
            "nat_bridge_qemu_acl_file": os.path.join(WORK, "bridge.conf"),
            "nat_bridge_sysctl_file": os.path.join(WORK, "sysctl.d", "90-hn.conf")}
    path = os.path.join(WORK, "role-vars-%d-%s.json" % (n, persist))
    with open(path, "w") as handle:
        json.dump(data, handle)
    etc = os.path.join(WORK, "etc-%s" % hv) if persist else None
    return lambda: playbook(hv, "hypervisor.networking.nat_bridge", ["-e", "@" + path], etc=etc, env=env)


def persist_way(hv, n):
    return role_way(hv, n, persist=True)


def shell_way(hv, n):
    lines = ["set -e",
             "ip link show br0 >/dev/null 2>&1 || ip link add name br0 type bridge",
             "ip -4 addr show dev br0 | grep -q 'inet 192.168.100.1/24' || ip addr add 192.168.100.1/24 brd + dev br0",
             "ip link set br0 up",
             "sysctl -qw net.ipv4.ip_forward=1",
             "iptables -C FORWARD -i br0 -j ACCEPT 2>/dev/null || iptables -A FORWARD -i br0 -j ACCEPT",
             "iptables -C FORWARD -o br0 -j ACCEPT 2>/dev/null || iptables -A FORWARD -o br0 -j ACCEPT",
             "iptables -t nat -C POSTROUTING -s 192.168.100.0/24 -o up0 -j MASQUERADE 2>/dev/null"
             " || iptables -t nat -A POSTROUTING -s 192.168.100.0/24 -o up0 -j MASQUERADE"]
    for tap in taps(n):
        lines.append("ip link show %s >/dev/null 2>&1 || { ip tuntap add dev %s mode tap user nobody;"
                     " ip link set %s master br0; ip link set %s up; }" % (tap, tap, tap, tap))
    for port in ports(n):
        rule = "PREROUTING -p tcp --dport %d -j DNAT --to-destination 192.168.100.10:80" % port
        lines.append("iptables -t nat -C %s 2>/dev/null || iptables -t nat -A %s" % (rule, rule))
    path = os.path.join(WORK, "seed-%d.sh" % n)
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return lambda: sh("ip", "netns", "exec", hv, "bash", path)


def builtin_way(hv, n):
    exists = "{{ r.rc != 0 and r.stderr is not search('%s') }}"
    tasks = [
        {"name": "bridge", "ansible.builtin.command": "ip link add name br0 type bridge", "register": "r",
         "changed_when": "r.rc == 0", "failed_when": exists % "exists"},
        {"name": "address", "ansible.builtin.command": "ip addr add 192.168.100.1/24 brd + dev br0", "register": "r",
         "changed_when": "r.rc == 0", "failed_when": exists % "exists|assigned"},
        {"name": "up", "ansible.builtin.command": "ip link set br0 up", "changed_when": False},
        {"name": "forwarding", "ansible.posix.sysctl": {"name": "net.ipv4.ip_forward", "value": "1",
                                                        "sysctl_file": os.path.join(WORK, "builtin-sysctl.conf")}},
        {"name": "taps", "ansible.builtin.command": "ip tuntap add dev {{ item }} mode tap user nobody",
         "register": "r", "changed_when": "r.rc == 0", "failed_when": exists % "busy", "loop": taps(n)},
        {"name": "ports", "ansible.builtin.command": "ip link set {{ item }} master br0 up", "changed_when": False,
         "loop": taps(n)},
        {"name": "forward out", "ansible.builtin.iptables": {"chain": "FORWARD", "in_interface": "br0", "jump": "ACCEPT"}},
        {"name": "forward in", "ansible.builtin.iptables": {"chain": "FORWARD", "out_interface": "br0", "jump": "ACCEPT"}},
        {"name": "masquerade", "ansible.builtin.iptables": {"table": "nat", "chain": "POSTROUTING", "out_interface": "up0",
                                                            "source": "192.168.100.0/24", "jump": "MASQUERADE"}},
        {"name": "dnat", "ansible.builtin.iptables": {"table": "nat", "chain": "PREROUTING", "protocol": "tcp",
                                                      "destination_port": "{{ item }}", "jump": "DNAT",
                                                      "to_destination": "192.168.100.10:80"}, "loop": ports(n)},
    ]
    path = os.path.join(WORK, "builtin-%d.yml" % n)
    with open(path, "w") as handle:
        json.dump([{"hosts": "hypervisors", "gather_facts": False, "tasks": tasks}], handle)
    return lambda: playbook(hv, path)


def floor_way(hv, n):
    batch = ["link add name br0 type bridge", "addr add 192.168.100.1/24 brd + dev br0", "link set br0 up"]
    for tap in taps(n):
        batch += ["tuntap add dev %s mode tap user nobody" % tap, "link set %s master br0 up" % tap]
    rules = ["*filter", "-A FORWARD -i br0 -j ACCEPT", "-A FORWARD -o br0 -j ACCEPT", "COMMIT", "*nat",
             "-A POSTROUTING -s 192.168.100.0/24 -o up0 -j MASQUERADE"]
    rules += ["-A PREROUTING -p tcp --dport %d -j DNAT --to-destination 192.168.100.10:80" % p for p in ports(n)]
    rules.append("COMMIT")
    bpath, rpath = os.path.join(WORK, "floor-%d.batch" % n), os.path.join(WORK, "floor-%d.rules" % n)
    with open(bpath, "w") as handle:
        handle.write("\n".join(batch) + "\n")
    with open(rpath, "w") as handle:
        handle.write("\n".join(rules) + "\n")

    def run():
        sh("ip", "-n", hv, "-batch", bpath)
        sh("ip", "netns", "exec", hv, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "netns", "exec", hv, "iptables-restore", "--noflush", rpath)
    return run


def carry_way(hv, n):
    data = {"nat_bridge_taps": [{"name": t, "owner": "nobody"} for t in taps(n)],
            "nat_bridge_forwards": [{"port": p, "to_addr": "192.168.100.10", "to_port": 80} for p in ports(n)]}
    path, play = os.path.join(WORK, "carry-vars-%d.json" % n), os.path.join(WORK, "carry.yml")
    with open(path, "w") as handle:
        json.dump(data, handle)
    with open(play, "w") as handle:
        json.dump([{"hosts": "hypervisors", "gather_facts": False, "tasks": [
            {"name": "carry", "hn_carry": {"taps": "{{ nat_bridge_taps }}", "forwards": "{{ nat_bridge_forwards }}"}}]}],
            handle)
    env = dict(ENV, ANSIBLE_LIBRARY=os.path.join(REPO, "bench", "library"))
    # through the same /etc sandbox as the persist way (it writes nothing there)
    etc = os.path.join(WORK, "etc-%s" % hv)
    return lambda: playbook(hv, play, ["-e", "@" + path], etc=etc, env=env)


def before_way(rev):
    """The persist way with the collection as it was at git revision ``rev``."""
    root = os.path.join(WORK, "before-" + rev)
    if not os.path.isdir(root):
        target = os.path.join(root, "ansible_collections", "hypervisor", "networking")
        os.makedirs(target)
        archive = subprocess.run(["git", "-C", REPO, "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    env = dict(ENV, ANSIBLE_COLLECTIONS_PATH=root)
    return lambda hv, n: role_way(hv, n, persist=True, env=env)


def tap_indexes(hv):
    """{TAP: ifindex} of the TAPs on br0."""
    links = json.loads(sh("ip", "-n", hv, "-j", "link", "show", "master", "br0").stdout)
    return dict((l["ifname"], l["ifindex"]) for l in links if l["ifname"].startswith("t"))


def counts(hv):
    """(TAPs on br0, DNAT forwards) as the kernel holds them, whichever firewall holds them."""
    links = json.loads(sh("ip", "-n", hv, "-j", "link", "show", "master", "br0").stdout)
    # firewall v2: forwards without filters are elements of the shape-0 maps (address, port)
    nft = sh("ip", "netns", "exec", hv, "nft", "list", "map", "ip", "hypervisor_networking", "dnat_br0_port_0",
             check=False).stdout
    ipt = sh("ip", "netns", "exec", hv, "iptables-save", "-t", "nat", check=False).stdout
    return len(links), len(re.findall(r"tcp \. \d+ :", nft)) + len(re.findall(r"-j DNAT", ipt))


def drift(hv, way, n):
    """Delete 1% of the TAPs and of the forwards by hand."""
    k = max(1, n // 100)
    for tap in taps(n)[::max(1, n // k)][:k]:
        sh("ip", "-n", hv, "link", "del", tap)
    for port in ports(n)[::max(1, n // k)][:k]:
        if way in ("role", "persist"):
            for table_map in ("dnat_br0_addr_0", "dnat_br0_port_0"):
                sh("ip", "netns", "exec", hv, "nft", "delete", "element", "ip", "hypervisor_networking", table_map,
                   "{ tcp . %d }" % port)
        else:
            sh("ip", "netns", "exec", hv, "iptables", "-t", "nat", "-D", "PREROUTING", "-p", "tcp", "--dport", str(port),
               "-j", "DNAT", "--to-destination", "192.168.100.10:80")
    return k


def timed(fn):
    start = time.monotonic()
    fn()
    return time.monotonic() - start


WAYS = {"role": role_way, "persist": persist_way, "shell": shell_way, "builtin": builtin_way, "floor": floor_way,
        "carry": carry_way}


class Trial(object):
    """One way at one N, in namespaces of its own."""

    def __init__(self, way, n):
        self.way, self.n = way, n
        self.kind = "role" if way.startswith("persist") else way
        self.hv, self.wan = sandbox()
        self.run = WAYS[way](self.hv, n)

    def first(self):
        seconds = timed(self.run)
        if self.way != "carry":  # carry builds nothing
            assert counts(self.hv) == (self.n, self.n), (self.way, self.n, counts(self.hv))
        return seconds

    def again(self):
        """A no-change run: no TAP is recreated."""
        if self.way == "carry":  # no TAPs
            return timed(self.run)
        before = tap_indexes(self.hv)
        seconds = timed(self.run)
        assert tap_indexes(self.hv) == before, (self.way, self.n, "a no-change run recreated TAPs")
        return seconds

    def drift(self):
        """A run after 1% of the TAPs and forwards were deleted: only those are recreated."""
        n = self.n
        k = drift(self.hv, self.kind, n)
        assert counts(self.hv) == (n - k, n - k), (self.way, n, counts(self.hv))
        kept = tap_indexes(self.hv)
        seconds = timed(self.run)
        assert counts(self.hv) == (n, n), (self.way, n, counts(self.hv))
        after = tap_indexes(self.hv)
        assert all(after[t] == index for t, index in kept.items()), (self.way, n, "the drift run touched other TAPs")
        return seconds

    def close(self):
        for ns in (self.hv, self.wan):
            sh("ip", "netns", "del", ns, check=False)


def measure(ways, n, repeat=1):
    """{way: {first, again, drift}}: seconds of each way's first run, and the medians of its
    ``repeat`` no-change re-runs and ``repeat`` drift runs. The ways take turns (one re-run
    of each, then the next round), so a change of the machine's speed meets all of them."""
    trials = []
    try:
        rows = {}
        for way in ways:
            trials.append(Trial(way, n))
            rows[way] = {"first": trials[-1].first()}
        again = dict((t.way, []) for t in trials if t.way != "floor")
        drifted = dict((t.way, []) for t in trials if t.way not in ("floor", "carry"))
        for attempt in range(repeat):
            for trial in trials:
                if trial.way in again:
                    again[trial.way].append(trial.again())
        for attempt in range(repeat):
            for trial in trials:
                if trial.way in drifted:
                    drifted[trial.way].append(trial.drift())
        for way, seconds in again.items():
            rows[way]["again"] = statistics.median(seconds)
        for way, seconds in drifted.items():
            rows[way]["drift"] = statistics.median(seconds)
        return rows
    finally:
        for trial in trials:
            trial.close()


def startup():
    """One ansible-playbook start-up: an empty play on localhost."""
    path = os.path.join(WORK, "empty.yml")
    with open(path, "w") as handle:
        handle.write("- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    return timed(lambda: sh(os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local", path, env=ENV))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="10,200,1000")
    parser.add_argument("--ways", default="role,persist,shell,builtin,floor")
    parser.add_argument("--before", help="git revisions (comma-separated) to measure as the ways persist@REV")
    parser.add_argument("--repeat", type=int, default=1,
                        help="no-change and drift runs per way and N; their medians are printed (default 1)")
    opts = parser.parse_args()
    ways = opts.ways.split(",")
    revs = opts.before.split(",") if opts.before else []
    for rev in revs:
        WAYS["persist@" + rev] = before_way(rev)
    # the revisions, in the order given, just before the current persist way
    at = ways.index("persist") if "persist" in ways else 0
    ways[at:at] = ["persist@" + rev for rev in revs]
    os.makedirs(os.path.join(WORK, "collections", "ansible_collections", "hypervisor"))
    os.makedirs(os.path.join(WORK, "sysctl.d"))
    os.symlink(REPO, os.path.join(WORK, "collections", "ansible_collections", "hypervisor", "networking"))
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2.0 ** 30
    print("machine: %d cores, %.0f GiB, kernel %s, python %s, playbook start-up %.2f s\n"
          % (os.cpu_count(), mem, os.uname().release, sys.version.split()[0], startup()))
    print("load average at the start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    median = " (median of %d)" % opts.repeat if opts.repeat > 1 else ""
    print("| N | way | first run (s) | no-change re-run%s (s) | drift run, 1%% deleted%s (s) |\n|---|---|---|---|---|"
          % (median, median))
    for n in [int(c) for c in opts.counts.split(",")]:
        rows = measure(ways, n, opts.repeat)
        for way in ways:
            cells = ["%.3f" % rows[way][k] if k in rows[way] else "n/a" for k in ("first", "again", "drift")]
            print("| %d | %s | %s |" % (n, way, " | ".join(cells)), flush=True)
    print("load average at the end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
