# -*- coding: utf-8 -*-
"""The NAT network the role built, proven with traffic: real QEMU guests (TCG) on the
role's TAP and through qemu-bridge-helper, configured by the network's DHCP and resolving
through its DNS, and a namespace guest for UDP, port ranges, the sources allow-list and
localhost access. `wan` plays the internet (with its DNS server) and the LAN client.
The guests' lease and DNS lines are appended to $HN_RESULTS (default /tmp/hn-results)/guest-dhcp.txt
(molecule's ephemeral directory is emptied at destroy)."""
from __future__ import annotations

import json
import os
import re
import time

import pytest
import testinfra

HVS = ["hn-nb-12nft", "hn-nb-12ipt", "hn-nb-13nft", "hn-nb-13ipt"]
LOCALHOST_ON = {"hn-nb-12nft", "hn-nb-13ipt"}  # host_vars in molecule.yml
testinfra_hosts = ["podman://%s" % name for name in HVS]

WAN = testinfra.get_host("podman://hn-nb-wan")
WAN6 = "2001:db8:100::2"  # molecule.yml's wan6
NETPEER = "python3 /usr/local/lib/netpeer.py"
GUEST = ("qemu-system-x86_64 -accel tcg -m 192 -display none -no-reboot -monitor none"
         " -kernel /opt/guest/vmlinuz -initrd /opt/guest/initrd.gz")


def name_of(host):
    return host.backend.get_hostname()


def ipv4(host, dev="eth0"):
    return json.loads(host.check_output("ip -j -4 addr show dev %s" % dev))[0]["addr_info"][0]["local"]


def background(host, command):
    """Start a long-running command, detached from the podman exec session."""
    host.run_test("setsid sh -c %s </dev/null >/dev/null 2>&1 &" % _quote(command))


def _quote(text):
    return "'%s'" % text.replace("'", "'\\''")


def wait_for(host, path, marker, timeout=150):
    """Poll a guest console log until it shows marker; return the log."""
    deadline = time.monotonic() + timeout
    log = ""
    while time.monotonic() < deadline:
        log = host.run("cat %s" % path).stdout
        if marker in log:
            return log
        time.sleep(1)
    raise AssertionError("%s never showed %s:\n%s" % (path, marker, log[-3000:]))


def console_value(log, key):
    """The text after 'HN-<key> ' on the guest console."""
    found = re.search(r"^HN-%s (.*?)\r?$" % key, log, re.M)
    assert found, "no HN-%s line:\n%s" % (key, log[-3000:])
    return found.group(1)


def connect(peer, proto, addr, port, timeout=3):
    """netpeer's answer ('peer=<address the server saw>') or None."""
    res = peer.run("%s connect %s %s %d %s" % (NETPEER, proto, addr, port, timeout))
    return res.stdout.strip() if res.rc == 0 else None


@pytest.fixture(scope="session")
def wan_server():
    """The internet's web server: says which client address it saw."""
    if WAN.run("ss -ltn 'sport = :8000' | grep -q LISTEN").rc != 0:
        background(WAN, "python3 /usr/local/lib/http_echo.py 8000 'hello from the internet'")
        for _attempt in range(50):
            if WAN.run("ss -ltn 'sport = :8000' | grep -q LISTEN").rc == 0:
                break
            time.sleep(0.1)
    return "http://www.example.test:8000/"


def record(host, log):
    """The guest's lease and DNS lines, for the closing note."""
    directory = os.environ.get("HN_RESULTS", "/tmp/hn-results")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "guest-dhcp.txt"), "a") as handle:
        for line in log.splitlines():
            if line.startswith(("HN-LEASE", "HN-DNS", "HN-NAT", "HN-SLAAC")):
                handle.write("%s: %s\n" % (name_of(host), line.strip()))


@pytest.fixture
def guest1(host, wan_server):
    """QEMU as qemu-user on the role's TAP vm1-tap, no address of its own: DHCP gives it
    its fixed lease 192.168.100.10; it resolves the internet's name through the gateway
    and serves port 80."""
    booted = host.run("test -f /tmp/guest1.pid && kill -0 $(cat /tmp/guest1.pid)").rc != 0
    if booted:
        host.run_test("rm -f /tmp/guest1.log /tmp/guest1.pid")
        host.run_test(
            "setpriv --reuid=1500 --regid=1500 --clear-groups %s -append 'console=ttyS0 panic=-1 quiet"
            " hn.ip=dhcp hn.name=vm1 hn.lookup=www.example.test hn.wan=%s hn.wan6=http://[%s]:8000/"
            " hn.serve=1 hn.stay=1'"
            " -netdev tap,id=n0,ifname=vm1-tap,script=no,downscript=no"
            " -device virtio-net-pci,netdev=n0,mac=52:54:00:64:00:0a"
            " -serial file:/tmp/guest1.log -daemonize -pidfile /tmp/guest1.pid" % (GUEST, wan_server, WAN6))
    log = wait_for(host, "/tmp/guest1.log", "HN-READY")
    if booted:
        record(host, log)
    return log


@pytest.fixture
def g3_servers(host):
    """netpeer servers in the namespace guest g3 (192.168.100.20)."""
    for proto, port in (("udp", 5353), ("tcp", 7000), ("tcp", 7002), ("tcp", 9000)):
        listening = "ip netns exec g3 ss -lnH %s 'sport = :%d'" % ("-u" if proto == "udp" else "-t", port)
        if not host.run(listening).stdout.strip():
            background(host, "ip netns exec g3 %s serve %s %d" % (NETPEER, proto, port))
            for _attempt in range(50):
                if host.run(listening).stdout.strip():
                    break
                time.sleep(0.1)


def test_bridge_taps_forwarding_and_acl(host):
    br0 = json.loads(host.check_output("ip -d -j addr show dev br0"))[0]
    assert "UP" in br0["flags"]
    assert [(a["local"], a["prefixlen"]) for a in br0["addr_info"] if a["family"] == "inet"] == [("192.168.100.1", 24)]
    tap = json.loads(host.check_output("ip -d -j link show dev vm1-tap"))[0]
    assert tap["master"] == "br0" and tap["linkinfo"]["info_data"]["user"] in ("qemu-user", 1500)
    assert json.loads(host.check_output("ip -j link show dev vg3"))[0]["master"] == "br0"
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
    # nat_bridge_persist: false here (runtime only): no drop-in; molecule/reboot checks it
    assert not host.file("/etc/sysctl.d/90-hypervisor-networking.conf").exists
    # our dnsmasq, started by the run (no systemd here), bound to the bridge only
    assert host.file("/run/hypervisor-networking/dnsmasq/br0.conf").exists
    listening = host.check_output("ss -H -lnup")
    assert "192.168.100.1:53 " in listening and "0.0.0.0%br0:67 " in listening
    assert not [l for l in listening.splitlines() if "dnsmasq" in l and ("*:53 " in l or "0.0.0.0:53 " in l)]
    assert "\nallow br0\n" in host.file("/etc/qemu/bridge.conf").content_string


def test_backend_follows_the_host(host):
    nft = host.run("nft list table ip hypervisor_networking")
    legacy = host.check_output("iptables-legacy-save")
    if name_of(host).endswith("nft"):
        assert nft.rc == 0 and "masq_br0_post" in nft.stdout
        assert "HN-" not in legacy
    else:
        assert nft.rc != 0
        assert ":HN-PM-br0" in legacy and "-j MASQUERADE" in legacy


def test_qemu_guest_on_owned_tap_reaches_the_internet_through_nat(host, guest1):
    qemu_user = host.check_output("ps -o user= -p $(cat /tmp/guest1.pid)").strip()
    assert qemu_user in ("qemu-user", "1500")
    assert console_value(guest1, "UP").startswith("192.168.100.10 ")
    # its fixed lease, the gateway as router and DNS server, the network's domain
    lease = console_value(guest1, "LEASE")
    assert re.match(r"192\.168\.100\.10 router 192\.168\.100\.1 dns 192\.168\.100\.1 domain lab\.test "
                    r"lease 3600 after [0-9.]+ s$", lease), lease
    # the internet's name, resolved by our dnsmasq forwarding to the host's resolver
    assert console_value(guest1, "DNS") == "www.example.test %s" % ipv4(WAN)
    # the internet saw the hypervisor's address, not the guest's
    assert console_value(guest1, "NAT") == "hello from the internet; you came from %s" % ipv4(host)


def test_qemu_guest_configures_ipv6_by_slaac_and_reaches_the_internet_through_nat66(host, guest1):
    slaac = console_value(guest1, "SLAAC")
    assert slaac.startswith("fd00:100::") and slaac.endswith("/64"), slaac  # from our dnsmasq's advertisements
    # the internet saw the hypervisor's IPv6 address on the uplink, not the guest's
    uplink6 = [a["local"] for a in json.loads(host.check_output("ip -j -6 addr show dev eth0 scope global"))[0]
               ["addr_info"] if a.get("local")]  # iproute2 lists the other scopes as {}
    assert console_value(guest1, "NAT6") == "hello from the internet; you came from %s" % uplink6[0]
    assert host.file("/proc/sys/net/ipv6/conf/all/forwarding").content_string.strip() == "1"


def test_wan_reaches_the_guest_through_the_published_port(host, guest1):
    out = WAN.check_output("python3 -c \"import urllib.request; print(urllib.request.urlopen("
                           "'http://%s:8080/cgi-bin/who', timeout=10).read().decode())\"" % ipv4(host))
    # DNAT only: the guest sees the real client
    assert out.strip() == "guest 192.168.100.10 saw %s" % ipv4(WAN)


def test_seed_style_guest_through_bridge_helper_and_hairpin(host, guest1, wan_server):
    denied = host.run("timeout 20 %s -nic bridge,br=br9,model=virtio-net-pci -append 'console=ttyS0'" % GUEST)
    assert denied.rc != 0 and "acl" in (denied.stderr + denied.stdout).lower()
    host.run_test("rm -f /tmp/guest2.log")
    run = host.run(
        "timeout 150 %s -nic bridge,br=br0,model=virtio-net-pci,mac=52:54:00:64:00:0b"
        " -append 'console=ttyS0 panic=-1 quiet hn.ip=dhcp hn.name=vm2 hn.lookup=vm1.lab.test hn.wan=%s"
        " hn.hairpin=http://%s:8080/cgi-bin/who' -serial file:/tmp/guest2.log" % (GUEST, wan_server, ipv4(host)))
    log = host.run("cat /tmp/guest2.log").stdout
    assert run.rc == 0 and "HN-DONE" in log, (run.stderr, log[-3000:])
    record(host, log)
    # a dynamic lease in the range; the first guest by its name
    lease = console_value(log, "LEASE").split()
    assert 100 <= int(lease[0].rsplit(".", 1)[1]) <= 199 and lease[1:4] == ["router", "192.168.100.1", "dns"], lease
    assert console_value(log, "DNS") == "vm1.lab.test 192.168.100.10"
    # dnsmasq knows the second guest by the name it asked with
    assert " vm2 " in host.file("/run/hypervisor-networking/dnsmasq/br0.leases").content_string
    assert console_value(log, "NAT") == "hello from the internet; you came from %s" % ipv4(host)
    # the second guest reached the first through the host's address; the reply came back
    # because hairpin masquerades it behind the bridge address
    assert console_value(log, "HAIRPIN") == "guest 192.168.100.10 saw 192.168.100.1"


def test_udp_forward(host, g3_servers):
    assert connect(WAN, "udp", ipv4(host), 5353) == "peer=%s" % ipv4(WAN)


def test_port_range(host, g3_servers):
    for port in (7000, 7002):
        assert connect(WAN, "tcp", ipv4(host), port) == "peer=%s" % ipv4(WAN)
    assert connect(WAN, "tcp", ipv4(host), 7003, timeout=1) is None


def test_sources_allow_list(host, g3_servers):
    assert connect(WAN, "tcp", ipv4(host), 9000) == "peer=%s" % ipv4(WAN)
    # 9001 forwards to the same server but only for 198.51.100.0/24
    assert connect(WAN, "tcp", ipv4(host), 9001, timeout=2) is None


def test_localhost_switch(host, g3_servers):
    # 7000 has no sources allow-list (9000's would refuse 127.0.0.1 whatever the switch)
    answer = connect(host, "tcp", "127.0.0.1", 7000, timeout=2)
    if name_of(host) in LOCALHOST_ON:
        assert answer is not None and answer.startswith("peer=")
    else:
        assert answer is None


def test_stop_guest(host):
    host.run("test -f /tmp/guest1.pid && kill $(cat /tmp/guest1.pid)")
