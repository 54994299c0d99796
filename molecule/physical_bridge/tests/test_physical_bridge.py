# -*- coding: utf-8 -*-
"""After the role: br0 carries the host's address, MAC and routes, eth0 is its port, and
the peer never lost the host (ping loss measured, TCP session alive). A guest on the
bridge reaching LAN peers directly is proven in tests/integration/test_migrate.py: this
machine's podman (CNI bridge) network does not deliver frames from addresses it did not
assign, so a guest address cannot be tested here."""
from __future__ import annotations

import json
import time

import testinfra

HVS = ["hn-pb-12", "hn-pb-13"]
testinfra_hosts = ["podman://%s" % name for name in HVS]
PEER = testinfra.get_host("podman://hn-pb-peer")


def name_of(host):
    return host.backend.get_hostname()


def before(host):
    return json.loads(host.file("/root/before.json").content_string)


def now(host):
    host.run_test("python3 /usr/local/lib/netstate.py /root/now.json")
    return json.loads(host.file("/root/now.json").content_string)


def test_bridge_holds_the_hosts_identity(host):
    old, new = before(host), now(host)
    assert old["dev"] == "eth0" and new["dev"] == "br0"
    assert new["addresses"] == old["addresses"] and new["mac"] == old["mac"]
    assert new["routes"] == [[dst, gw, "br0" if dev == "eth0" else dev, metric] for dst, gw, dev, metric in old["routes"]]
    eth0 = json.loads(host.check_output("ip -j link show dev eth0"))[0]
    assert eth0["master"] == "br0"
    tap = json.loads(host.check_output("ip -j link show dev vm1-tap"))[0]
    assert tap["master"] == "br0"
    assert "\nallow br0\n" in host.file("/etc/qemu/bridge.conf").content_string


def test_the_revert_was_confirmed(host):
    assert host.run("ls /run/hypervisor-networking/rollback-br0-*.json").rc != 0


def test_peer_never_lost_the_host(host):
    name = name_of(host)
    PEER.run("pkill -INT -f 'ping -n -q -i 0.05 -w 600 %s$'" % before(host)["addresses"][0].split("/")[0])
    for _attempt in range(50):
        log = PEER.run("cat /root/ping-%s.log" % name).stdout
        if "packets transmitted" in log:
            break
        time.sleep(0.1)
    summary = [line for line in log.splitlines() if "packets transmitted" in line][0]
    sent, received = int(summary.split()[0]), int(summary.split()[3])
    print("%s: ping during check, converge, idempotence and check: %s" % (name, summary))
    assert sent > 100 and sent - received <= 20, summary
    tcp = PEER.run("cat /root/tcp-%s.log" % name).stdout.split("\n")
    print("%s: TCP session: %s" % (name, [line for line in tcp if line][-1:]))
    assert not any(line.startswith("FAIL") for line in tcp), tcp[-3:]
    assert any(line.startswith("ok") for line in tcp)
