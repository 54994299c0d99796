# -*- coding: utf-8 -*-
"""Integration harness: run this collection's modules for real inside throw-away
network namespaces (``ip netns exec NS python -m <module> args.json``)."""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


HOST_FILES = ("/etc/hypervisor-networking", "/etc/systemd/system/hypervisor-networking-firewall.service",
              "/etc/network/interfaces.d/hypervisor-networking-*", "/etc/systemd/network/*hypervisor-networking*",
              "/etc/sysctl.d/90-hypervisor-networking-route-localnet.conf")


def _host_files():
    return sorted(p for pattern in HOST_FILES for p in glob.glob(pattern))


@pytest.fixture(scope="session", autouse=True)
def host_etc_untouched():
    """No test may write our persisted files into the machine's own /etc (they go into
    the etc_sandbox overlay): checked over the whole session."""
    before = _host_files()
    yield
    assert _host_files() == before, "a test wrote into the host's /etc: %s" % sorted(set(_host_files()) - set(before))


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory):
    """A directory holding ansible_collections/hypervisor/networking -> this checkout."""
    root = tmp_path_factory.mktemp("collections")
    ns_dir = root / "ansible_collections" / "hypervisor"
    ns_dir.mkdir(parents=True)
    os.symlink(REPO, str(ns_dir / "networking"))
    return str(root)


def diff_files(result):
    """{path: text after, None where the file goes} from a module's diff (a list of entries;
    a symlink shows as one line, "-> target")."""
    return dict((e["after_header"], (e["after"].rstrip("\n") if e["after"].startswith("-> ") else e["after"]) or None)
                for e in result["diff"] if e["after_header"].startswith("/"))


def short_id(n=5):
    """Random suffix for interface and namespace names (15-char limit)."""
    return secrets.token_hex(8)[:n]


PERSISTING = ("linux_bridge", "tap_iface", "masquerade", "iptables_dnat", "guest_network")
SANDBOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "etc_sandbox.py")


class Namespace(object):
    """A network namespace plus helpers to run commands and modules inside it."""

    def __init__(self, name, collections):
        self.name = name
        self.collections = collections

    def run(self, *argv, check=True, user=None):
        """Run argv inside the namespace; return CompletedProcess (text)."""
        cmd = ["ip", "netns", "exec", self.name] + list(argv)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed (%d): %s%s" % (" ".join(cmd), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def module(self, name, args, check_mode=False, diff=True, pythonpath=None, etc=None, env=None):
        """Run module ``name`` with ``args``; return its JSON result (``pythonpath``: put
        these directories first, e.g. to hide a library). The namespace tests exercise the
        runtime facet: persist defaults to false here, as the files would be the host's own;
        ``etc`` (a test directory) runs the module in a mount namespace of
        its own where /etc is an overlay writing into the test's directory ``etc`` (the
        persistent facet, kept from one run to the next; the reboot itself: molecule/reboot)."""
        if name in PERSISTING and "persist" not in args:
            args = dict(args, persist=False)
        sandbox = []
        if etc:
            sandbox = ["unshare", "--mount", "--propagation", "private", sys.executable, SANDBOX, str(etc), "--"]
        payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
        try:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join((pythonpath or []) + [self.collections]), **(env or {}))
            argv = ["ip", "netns", "exec", self.name] + sandbox + [
                sys.executable, "-m", "ansible_collections.hypervisor.networking.plugins.modules.%s" % name,
                handle.name]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
        finally:
            os.unlink(handle.name)
        try:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise AssertionError("module %s printed no JSON: %s %s" % (name, proc.stdout, proc.stderr))
        result["rc"] = proc.returncode
        return result

    def snapshot(self):
        """Links (detailed, without counters) and addresses: for byte-identical checks."""
        links = json.loads(self.run("ip", "-d", "-j", "link", "show").stdout)
        for link in links:
            link.pop("stats", None)
            link.pop("stats64", None)
            _strip_timers(link)
        # IPv6 duplicate address detection flips flags on its own for a second or two
        # after a link gets carrier: wait until it has finished
        for _attempt in range(40):
            addrs = json.loads(self.run("ip", "-j", "addr", "show").stdout)
            if not any(a.get("tentative") for link in addrs for a in link.get("addr_info", [])):
                break
            time.sleep(0.1)
        return {"links": links, "addrs": addrs}

    def json(self, *argv):
        """Run an ``ip -j`` style command and parse it."""
        return json.loads(self.run(*argv).stdout)


def _strip_timers(link):
    """Bridge timers count down between two reads; they are not configuration."""
    for part in ("info_data", "info_slave_data"):  # the bridge's, and a port's
        data = link.get("linkinfo", {}).get(part)
        if isinstance(data, dict):
            for key in list(data):
                if key.endswith("_timer"):
                    del data[key]


def delete_netns(name):
    """Delete a test namespace with what still runs in it (a network's dnsmasq a test did
    not remove) and that dnsmasq's run files, so no process outlives its namespace."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ValueError, OSError):
            pass
    for pidfile in glob.glob("/run/hypervisor-networking/dnsmasq/*.pid"):
        with open(pidfile) as handle:
            if handle.read().strip() in pids:
                for path in glob.glob(pidfile[:-len(".pid")] + ".*"):
                    os.unlink(path)
    subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def netns(collections_path):
    """A fresh, empty network namespace (loopback up), deleted afterwards."""
    name = "hn-it-%s" % short_id(6)
    subprocess.run(["ip", "netns", "add", name], check=True)
    ns = Namespace(name, collections_path)
    ns.run("ip", "link", "set", "lo", "up")
    try:
        yield ns
    finally:
        delete_netns(name)


@pytest.fixture
def make_netns(collections_path):
    """Factory for extra namespaces (guests, wan), all deleted afterwards."""
    made = []

    def factory(prefix="hn-g"):
        name = "%s-%s" % (prefix, short_id(6))
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        ns = Namespace(name, collections_path)
        ns.run("ip", "link", "set", "lo", "up")
        return ns

    yield factory
    for name in made:
        delete_netns(name)


def four_step(ns, module, args, resource):
    """check, apply, idempotent, idempotent-check; asserts ``changed`` each time.

    Also asserts that check mode predicted exactly the actions and the resource the
    real run produced. Returns the apply result.
    """
    check = ns.module(module, args, check_mode=True)
    assert check["rc"] == 0, check
    assert check["changed"] is True, check
    applied = ns.module(module, args)
    assert applied["rc"] == 0, applied
    assert applied["changed"] is True, applied
    assert applied["actions"] == check["actions"]
    assert check[resource] == applied[resource], (check[resource], applied[resource])
    again = ns.module(module, args)
    assert again["rc"] == 0 and again["changed"] is False, again
    assert again["actions"] == []
    again_check = ns.module(module, args, check_mode=True)
    assert again_check["rc"] == 0 and again_check["changed"] is False, again_check
    assert again[resource] == applied[resource]
    return applied


def without_tables(listing, names):
    """An nft listing without the named tables' blocks."""
    out, skip = [], False
    for line in listing.splitlines():
        if line.startswith("table "):
            skip = any(line.startswith("table %s " % n) for n in names)
        if not skip:
            out.append(line)
        if line == "}":
            skip = False
    return "\n".join(out)


def seeded_only(lab):
    """iptables-nft's filter table holds nothing but our chains, our tagged jumps and
    empty built-in chains that accept (what seeding our accepts creates)."""
    for line in lab.xtnft().splitlines():
        if line in ("*filter", "COMMIT") or "HN-" in line:
            continue
        if line.startswith(":") and line.split()[0][1:] in ("INPUT", "FORWARD", "OUTPUT") and " ACCEPT " in line:
            continue
        return False
    return True


NETPEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netpeer.py")


class NatLab(object):
    """hv (the hypervisor: uplink up0 203.0.113.1/24, bridge br0 192.168.100.1/24),
    wan (203.0.113.2, plays the internet; no route to the guests), guests g1 (.2) and
    g2 (.3) on br0 with hv as their gateway. Forwarding is on in hv. The IPv6 side
    (nat_lab6): up0 2001:db8:1::1/64, wan 2001:db8:1::2, br0 fd00:100::1/64, g1 ::2, g2 ::3."""

    def __init__(self, hv, wan, g1, g2):
        self.hv, self.wan, self.g1, self.g2 = hv, wan, g1, g2
        self.servers = []

    def serve(self, ns, proto, port):
        """Start a netpeer server in ns (stopped at teardown)."""
        proc = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, NETPEER, "serve", proto, str(port)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "listening"
        self.servers.append(proc)

    @staticmethod
    def connect(ns, proto, host, port, timeout=2.0, source=None):
        """'peer=<address the server saw>' or None."""
        argv = [sys.executable, NETPEER, "connect", proto, host, str(port), str(timeout)] + ([source] if source else [])
        proc = ns.run(*argv, check=False)
        out = proc.stdout.strip()
        return out if proc.returncode == 0 else None

    def xtnft(self):
        """iptables-nft-save of hv without timestamps and counters."""
        out = self.hv.run("iptables-nft-save", check=False).stdout
        return "\n".join(re.sub(r"\[\d+:\d+\]$", "[-:-]", l) for l in out.splitlines() if not l.startswith("#"))

    def ruleset(self):
        """(nft ruleset text, iptables-legacy-save and ip6tables-legacy-save without
        timestamps and counters) of hv."""
        nft = self.hv.run("nft", "list", "ruleset").stdout
        legacy = self.hv.run("iptables-legacy-save", check=False).stdout + \
            self.hv.run("ip6tables-legacy-save", check=False).stdout
        # packet counters of built-in chains move with background traffic (IPv6 ND)
        return nft, "\n".join(re.sub(r"\[\d+:\d+\]$", "[-:-]", l) for l in legacy.splitlines()
                              if not l.startswith("#"))

    def stop(self):
        for proc in self.servers:
            proc.kill()
            proc.wait()


def build_nat_lab(hv, wan, guests, ipv6=False):
    """Wire the NatLab topology between existing namespaces (also used by bench/); with
    ``ipv6`` also its IPv6 side (NatLab's docstring)."""
    hv.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", wan.name)
    hv.run("ip", "addr", "add", "203.0.113.1/24", "dev", "up0")
    hv.run("ip", "link", "set", "up0", "up")
    wan.run("ip", "addr", "add", "203.0.113.2/24", "dev", "eth0")
    wan.run("ip", "link", "set", "eth0", "up")
    hv.run("ip", "link", "add", "br0", "type", "bridge")
    hv.run("ip", "addr", "add", "192.168.100.1/24", "dev", "br0")
    hv.run("ip", "link", "set", "br0", "up")
    for idx, guest in enumerate(guests, start=1):
        port = "vg%d" % idx
        hv.run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", guest.name)
        hv.run("ip", "link", "set", port, "master", "br0")
        hv.run("ip", "link", "set", port, "up")
        guest.run("ip", "addr", "add", "192.168.100.%d/24" % (idx + 1), "dev", "eth0")
        guest.run("ip", "link", "set", "eth0", "up")
        guest.run("ip", "route", "add", "default", "via", "192.168.100.1")
    hv.run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
    # bridged frames stay out of iptables (what hypervisors want): otherwise br_netfilter,
    # when loaded on the machine, de-NATs hairpin replies on the bridge and hides bugs
    hv.run("sh", "-c", "[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || "
                       "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables")
    if ipv6:
        hv.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        for ns, dev, addr in [(hv, "up0", HV6 + "/64"), (wan, "eth0", WAN6 + "/64"), (hv, "br0", GW6 + "/64")] + \
                [(g, "eth0", "fd00:100::%d/64" % (i + 2)) for i, g in enumerate(guests)]:
            ns.run("ip", "-6", "addr", "add", addr, "dev", dev, "nodad")
        for guest in guests:
            guest.run("ip", "-6", "route", "add", "default", "via", GW6)
    return NatLab(hv, wan, guests[0], guests[1] if len(guests) > 1 else None)


HV6, WAN6, GW6 = "2001:db8:1::1", "2001:db8:1::2", "fd00:100::1"


@pytest.fixture
def nat_lab6(netns, make_netns):
    """The NatLab in both families."""
    lab = build_nat_lab(netns, make_netns("hn-wan"), [make_netns("hn-g1"), make_netns("hn-g2")], ipv6=True)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def nat_lab(netns, make_netns):
    """The traffic topology of the firewall tests."""
    lab = build_nat_lab(netns, make_netns("hn-wan"), [make_netns("hn-g1"), make_netns("hn-g2")])
    try:
        yield lab
    finally:
        lab.stop()
