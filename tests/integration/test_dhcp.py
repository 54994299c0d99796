# -*- coding: utf-8 -*-
"""guest_network's dhcp for real in network namespaces: our dnsmasq hands a fixed lease to
the guest whose MAC it names and a dynamic one in the range to another, answers the
guests' names on the gateway and forwards the rest to the host's resolver (a DNS server
in the "internet" namespace), never answers on the uplink, leaves a resolver of the host
on 127.0.0.1:53 alone, reloads for new fixed leases and restarts for a new lease time
with every lease kept, and leaves nothing behind when it goes. The boot itself:
molecule/reboot (systemd as PID 1); the QEMU guests: molecule/nat_bridge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "dhcp_client.py")
DNS = os.path.join(HERE, "dns_peer.py")
FAILPOINT = "HYPERVISOR_NETWORKING_FAILPOINT"
RUN = "/run/hypervisor-networking/dnsmasq"
MAC1 = "52:54:00:00:00:10"


class Lab(object):
    """hv: uplink up0 203.0.113.1/24 to wan (203.0.113.2, plays the internet and runs its
    DNS server, www.example.test = 203.0.113.80); guests g1 (MAC1) and g2 on veth ports
    vg1/vg2 of hv, without addresses: they ask DHCP. hv's /etc/resolv.conf (an overlay)
    names the wan's DNS server: the host's own resolver."""

    def __init__(self, hv, make_netns, tmp_path):
        self.hv, self.etc, self.procs = hv, tmp_path / "etc", []
        self.wan = make_netns("hn-wan")
        hv.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", self.wan.name)
        hv.run("ip", "addr", "add", "203.0.113.1/24", "dev", "up0")
        hv.run("ip", "link", "set", "up0", "up")
        hv.run("ip", "route", "add", "default", "via", "203.0.113.2")
        self.wan.run("ip", "addr", "add", "203.0.113.2/24", "dev", "eth0")
        self.wan.run("ip", "link", "set", "eth0", "up")
        self.guests = []
        for idx in (1, 2):
            guest = make_netns("hn-g%d" % idx)
            hv.run("ip", "link", "add", "vg%d" % idx, "type", "veth", "peer", "name", "eth0", "netns", guest.name)
            hv.run("ip", "link", "set", "vg%d" % idx, "up")
            if idx == 1:
                guest.run("ip", "link", "set", "eth0", "address", MAC1)
            guest.run("ip", "link", "set", "eth0", "up")
            self.guests.append(guest)
        (self.etc / "upper").mkdir(parents=True)
        (self.etc / "upper" / "resolv.conf").write_text("nameserver 203.0.113.2\n")
        self.spawn(self.wan, DNS, "www.example.test=203.0.113.80")

    def spawn(self, ns, *argv):
        proc = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable] + list(argv),
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "listening"
        self.procs.append(proc)

    def run(self, args, check_mode=False, env=None):
        return self.hv.module("guest_network", args, check_mode=check_mode, etc=self.etc, env=env)

    @staticmethod
    def client(ns, *argv):
        return json.loads(ns.run(sys.executable, CLIENT, *argv).stdout)

    def dnsmasq(self):
        """pids of the dnsmasq processes in hv."""
        pids = self.hv.run("ip", "netns", "pids", self.hv.name, check=False).stdout.split()
        return [int(p) for p in pids if _comm(p) == "dnsmasq"]

    def stop(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()
        for pid in self.dnsmasq():  # a failed test's leftovers
            os.kill(pid, signal.SIGKILL)


def _comm(pid):
    try:
        with open("/proc/%s/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None


@pytest.fixture
def lab(netns, make_netns, tmp_path):
    made = Lab(netns, make_netns, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def network(**dhcp):
    value = {"range": "192.168.100.100-192.168.100.199", "domain": "lab.test",
             "hosts": [{"mac": MAC1, "address": "192.168.100.10", "name": "vm1"}]}
    value.update(dhcp)
    return {"name": "brd0", "addresses": ["192.168.100.1/24"], "ports": ["vg1", "vg2"], "qemu_acl": False,
            "backend": "nftables", "dhcp": value}


def leases():
    with open(os.path.join(RUN, "brd0.leases")) as handle:
        return handle.read()


def test_fixed_and_dynamic_leases_dns_and_rerun(lab):
    # a resolver of the host on 127.0.0.1:53 before ours starts (a distribution's dnsmasq,
    # unbound, a stub): it keeps answering
    lab.spawn(lab.hv, DNS, "@127.0.0.1", "local.test=127.0.0.7")
    args = network()
    check = lab.run(args, check_mode=True)
    assert check["rc"] == 0 and check["changed"] is True, check
    assert check["network"]["dhcp"]["running"] is True and lab.dnsmasq() == []
    applied = lab.run(args)
    assert applied["rc"] == 0, applied
    assert applied["actions"] == check["actions"] and applied["network"] == check["network"]
    assert applied["actions"][-1] == "start dnsmasq of brd0 (DHCP and DNS)"
    assert applied["network"]["dhcp"] == {"running": True, "range": "192.168.100.100-192.168.100.199",
                                          "lease_time": "1h", "dns": True, "domain": "lab.test",
                                          "range6": None, "ipv6_ra": "none",
                                          "hosts": [{"mac": MAC1, "address": "192.168.100.10", "address6": None,
                                                     "name": "vm1"}]}
    again = lab.run(args)
    assert again["rc"] == 0 and again["changed"] is False and again["actions"] == [], again
    assert lab.run(args, check_mode=True)["changed"] is False

    g1, g2 = lab.guests
    first = lab.client(g1, "lease", "eth0")
    assert first["type"] == "ACK" and first["address"] == "192.168.100.10", first
    assert first["router"] == ["192.168.100.1"] and first["dns"] == ["192.168.100.1"]
    assert first["lease"] == 3600 and first["domain"] == "lab.test"
    second = lab.client(g2, "lease", "eth0", "vm2")
    assert second["type"] == "ACK", second
    assert 100 <= int(second["address"].rsplit(".", 1)[1]) <= 199
    # names: the fixed host's, a guest's own from its DHCP request, the internet's through
    # the host's resolver; nothing else of the local domain is forwarded
    assert lab.client(g2, "query", "192.168.100.1", "vm1.lab.test") == ["192.168.100.10"]
    assert lab.client(g2, "query", "192.168.100.1", "vm1") == ["192.168.100.10"]
    assert lab.client(g1, "query", "192.168.100.1", "vm2.lab.test") == [second["address"]]
    assert lab.client(g1, "query", "192.168.100.1", "www.example.test") == ["203.0.113.80"]
    assert lab.client(g1, "query", "192.168.100.1", "nothere.lab.test") == "NXDOMAIN"
    # not on the uplink: the internet gets no answer from our DNS
    assert lab.client(lab.wan, "query", "203.0.113.1", "vm1.lab.test").startswith(("refused", "timeout"))
    # the host's own resolver on 127.0.0.1 answers as before
    assert lab.client(lab.hv, "query", "127.0.0.1", "local.test") == ["127.0.0.7"]
    listening = lab.hv.run("ss", "-H", "-lnup").stdout
    ours = [line for line in listening.splitlines() if "dnsmasq" in line]
    assert ours and all("192.168.100.1:53" in l or "%brd0:" in l for l in ours), listening
    assert MAC1 in leases() and second["address"] in leases()
    # diagnose without a resolver given checks the network's own DNS, on the gateway
    report = lab.hv.module("net_diagnose", {"network": "brd0", "name": "www.example.test"})
    steps = dict((s["name"], s) for s in report["steps"])
    assert steps["guest network -> outside (DNS to 192.168.100.1)"]["ok"] is True, report
    assert steps["DNS name www.example.test"]["ok"] is True, report


def test_a_change_keeps_the_leases(lab):
    args = network()
    assert lab.run(args)["rc"] == 0
    g1, g2 = lab.guests
    assert lab.client(g1, "lease", "eth0")["address"] == "192.168.100.10"
    dynamic = lab.client(g2, "lease", "eth0", "vm2")["address"]
    before, pid = leases(), lab.dnsmasq()
    # a new fixed lease: a reload (SIGHUP), the same process, the same leases
    more = network(hosts=network()["dhcp"]["hosts"] + [{"mac": "52:54:00:00:00:33", "address": "192.168.100.33",
                                                        "name": "vm3"}])
    check = lab.run(more, check_mode=True)
    changed = lab.run(more)
    assert changed["rc"] == 0 and changed["actions"] == check["actions"], changed
    assert changed["actions"][-1] == "reload dnsmasq of brd0 (fixed leases and names changed)"
    assert lab.dnsmasq() == pid and leases() == before
    assert lab.client(g1, "query", "192.168.100.1", "vm3.lab.test") == ["192.168.100.33"]
    # a new lease time: a restart, and the running leases are still there and renewed
    longer = dict(more, dhcp=dict(more["dhcp"], lease_time="2h"))
    changed = lab.run(longer)
    assert changed["rc"] == 0 and changed["actions"][-1].startswith("restart dnsmasq of brd0"), changed
    assert lab.dnsmasq() != pid and leases() == before
    renewed = lab.client(g2, "renew", "eth0", dynamic)
    assert renewed["type"] == "ACK" and renewed["address"] == dynamic and renewed["lease"] == 7200, renewed
    assert lab.client(g1, "query", "192.168.100.1", "vm2.lab.test") == [dynamic]
    assert lab.run(longer)["changed"] is False
    # the bridge deleted and made again (an ifdown/ifup): the same dnsmasq serves the new one
    pid = lab.dnsmasq()
    lab.hv.run("ip", "link", "del", "brd0")
    assert lab.run(longer)["changed"] is True and lab.dnsmasq() == pid
    assert lab.client(g2, "renew", "eth0", dynamic)["type"] == "ACK"
    assert lab.client(g1, "query", "192.168.100.1", "vm3.lab.test") == ["192.168.100.33"]


def test_dhcp_only_and_absent_leave_nothing(lab):
    args = network(dns=False)
    assert lab.run(args)["rc"] == 0
    lease = lab.client(lab.guests[0], "lease", "eth0")
    assert lease["address"] == "192.168.100.10" and lease["dns"] == [], lease
    assert lab.client(lab.guests[0], "query", "192.168.100.1", "vm1.lab.test").startswith(("refused", "timeout"))
    # dhcp left out: the service goes, the network stays
    plain = dict(args)
    del plain["dhcp"]
    gone = lab.run(plain)
    assert gone["rc"] == 0 and gone["actions"][0] == "stop dnsmasq of brd0", gone
    assert gone["network"]["dhcp"] is None and lab.dnsmasq() == [] and not os.path.exists(RUN)
    assert lab.run(args)["rc"] == 0 and len(lab.dnsmasq()) == 1
    absent = lab.run(dict(args, state="absent"))
    assert absent["rc"] == 0 and absent["actions"][0] == "stop dnsmasq of brd0", absent
    assert lab.dnsmasq() == [] and not os.path.exists(RUN)
    assert not [l for l in lab.hv.run("ss", "-H", "-lnup").stdout.splitlines() if "dnsmasq" in l]
    assert lab.run(dict(args, state="absent"))["changed"] is False


def test_persisted_files_and_unit(lab):
    args = dict(network(), persist=True, renderer="networkd")
    applied = lab.run(args)
    assert applied["rc"] == 0, applied
    upper = lab.etc / "upper"
    conf = (upper / "hypervisor-networking/dnsmasq/brd0.conf").read_text()
    assert conf.startswith("# Managed by the hypervisor.networking collection")
    for line in ("interface=brd0", "except-interface=lo", "bind-dynamic", "no-hosts", "domain=lab.test",
                 "local=/lab.test/", "dhcp-range=192.168.100.100,192.168.100.199,255.255.255.0,1h",
                 "dhcp-leasefile=/var/lib/hypervisor-networking/dnsmasq/brd0.leases"):
        assert line in conf.splitlines(), conf
    assert (upper / "hypervisor-networking/dnsmasq/brd0.hosts").read_text().splitlines()[-1] == \
        MAC1 + ",192.168.100.10,vm1,1h"
    unit = (upper / "systemd/system/hypervisor-networking-dnsmasq@.service").read_text()
    assert "ExecStart=/usr/sbin/dnsmasq --conf-file=/etc/hypervisor-networking/dnsmasq/%i.conf" in unit
    link = upper / "systemd/system/multi-user.target.wants/hypervisor-networking-dnsmasq@brd0.service"
    assert os.readlink(str(link)) == "/etc/systemd/system/hypervisor-networking-dnsmasq@.service"
    # no systemd manages this namespace: the run started dnsmasq itself, from the /etc files
    assert lab.client(lab.guests[0], "lease", "eth0")["address"] == "192.168.100.10"
    assert lab.run(args)["changed"] is False
    absent = lab.run(dict(args, state="absent"))
    assert absent["rc"] == 0, absent
    assert lab.dnsmasq() == []
    left = [os.path.join(r, f) for r, _d, files in os.walk(str(upper)) for f in files]
    assert [p for p in left if "dnsmasq" in p] == [] and not os.path.exists("/var/lib/hypervisor-networking/dnsmasq")


def _state(lab, same_process=True):
    """What a run may change, as text: files, the dnsmasq process, the bridges, the rules
    (without counters: the guests' DHCP traffic moves them)."""
    files = {}
    for root, _dirs, names in os.walk(RUN):
        for name in names:
            if not name.endswith(".pid"):
                with open(os.path.join(root, name)) as handle:
                    files[os.path.join(root, name)] = handle.read()
    bridges = sorted(l["ifname"] for l in lab.hv.json("ip", "-j", "link", "show", "type", "bridge"))
    processes = lab.dnsmasq() if same_process else len(lab.dnsmasq())
    return json.dumps([files, processes, bridges, lab.hv.run("nft", "-s", "list", "ruleset").stdout], indent=1)


@pytest.mark.parametrize("change", ["start", "reload", "restart", "stop"])
def test_a_failure_at_any_step_leaves_dnsmasq_as_it_was(lab, change):
    """Every Action of the dhcp step fails in turn (the failpoint refuses it as a refused
    call would): the files, the process (the same pid; after a stop, a new one from the
    same files) and its leases are as before."""
    base = network()
    target = {"start": base, "reload": network(hosts=[]), "restart": network(lease_time="3h"),
              "stop": dict(base, state="absent")}[change]
    if change != "start":
        assert lab.run(base)["rc"] == 0
        assert lab.client(lab.guests[0], "lease", "eth0")["address"] == "192.168.100.10"
    before = _state(lab, change != "stop")
    steps = [a for a in lab.run(target, check_mode=True)["actions"] if "dnsmasq" in a]
    assert steps
    for step in steps:
        failed = lab.run(target, env={FAILPOINT: step})
        assert failed["rc"] != 0 and "failpoint" in failed["msg"], (step, failed)
        assert _state(lab, change != "stop") == before, step
    if change != "start":
        # the same dnsmasq still serves the guest
        assert lab.client(lab.guests[0], "renew", "eth0", "192.168.100.10")["type"] == "ACK"


@pytest.mark.parametrize("dhcp, message", [
    ({"range": "10.0.0.10-10.0.0.20"}, "dhcp.range='10.0.0.10-10.0.0.20': outside the bridge's subnet"),
    ({"range": "192.168.100.1-192.168.100.20"}, "the gateway's own address"),
    ({"hosts": [{"mac": "52:54:00:00:00:01", "address": "10.1.1.1"}]}, "dhcp.hosts[0].address"),
    ({"hosts": [{"mac": "52:54:00:00:00:01", "address": "192.168.100.5"},
                {"mac": "52:54:00:00:00:01", "address": "192.168.100.6"}]}, "dhcp.hosts[1].mac"),
    ({"hosts": [{"mac": "52:54:00:00:00:01", "address": "192.168.100.5"},
                {"mac": "52:54:00:00:00:02", "address": "192.168.100.5"}]}, "dhcp.hosts[1].address"),
    ({"hosts": [{"mac": "52:54:00:zz:00:01", "address": "192.168.100.5"}]}, "dhcp.hosts[0].mac"),
    ({"lease_time": "30s"}, "dhcp.lease_time"),
])
def test_bad_input_fails_before_any_change(lab, dhcp, message):
    before = _state(lab)
    failed = lab.run(dict(network(), dhcp=dhcp))
    assert failed["rc"] != 0 and message in failed["msg"], failed
    assert _state(lab) == before
