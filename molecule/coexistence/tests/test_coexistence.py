# -*- coding: utf-8 -*-
"""Every party's traffic after every event, beside the real Docker and libvirt.

Parties: our NAT network (g1, g2 on br0; forward 8080 -> g1:80; our dnsmasq: g1's fixed
lease and name, a range), Docker (container `web` publishing 8088, and reaching out),
libvirt (its default NAT network with its own dnsmasq, guest `lg` on virbr0). hn-cx-peers ran Docker and libvirt before our run; hn-cx-us starts them after
it. Each event is followed by the full flow check; our absent ends with the peers' rules
compared to what they were with ours left out (iptables-nft-save, counters aside).
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import testinfra

HVS = ["hn-cx-peers", "hn-cx-us"]
testinfra_hosts = ["podman://%s" % name for name in HVS]
WAN = testinfra.get_host("podman://hn-cx-wan")
FETCH = ("python3 -c 'import sys, urllib.request; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())' %s")


def ipv4(host, dev="eth0"):
    return json.loads(host.check_output("ip -j -4 addr show dev %s" % dev))[0]["addr_info"][0]["local"]


def fetch(host, url, netns=None):
    """The page at ``url`` fetched from ``host`` (inside ``netns``), or None."""
    cmd = FETCH % url
    if netns:
        cmd = "ip netns exec %s %s" % (netns, cmd)
    out = host.run(cmd)
    return out.stdout.strip() if out.rc == 0 else None


def dhcp_server(host, netns):
    """The server that gave ``netns``'s eth0 a lease (busybox udhcpc, the lease not
    applied), or None."""
    out = host.run("ip netns exec %s busybox udhcpc -i eth0 -n -q -t 5 -T 1 -s /bin/true" % netns)
    found = re.search(r"lease of (\S+) obtained from (\S+?),", out.stdout + out.stderr)
    return found.groups() if found else None


def dns_answers(host, netns, server, name):
    """busybox nslookup's addresses for ``name`` from ``server`` (inside ``netns``); [] for a
    name the server says it does not know; None when no server answered."""
    out = host.run("ip netns exec %s busybox nslookup %s %s" % (netns, name, server))
    text = out.stdout + out.stderr
    if "timed out" in text or "no servers could be reached" in text:
        return None
    return re.findall(r"^Address: (\d+\.\d+\.\d+\.\d+)$", text.split("Name:", 1)[1], re.M) if "Name:" in text \
        else []


def flows(host, peers, ours=True):
    """{flow: passed} for every party present; with ``ours`` False our flows must be gone."""
    wan, hv = ipv4(WAN), ipv4(host)
    result = {
        "ours: g1 -> internet (masquerade)": fetch(host, "http://%s/" % wan, "g1") == "hello from wan",
        "ours: g2 -> g1 (bridged on br0)": fetch(host, "http://192.168.100.2/", "g2") == "hello from g1",
        "ours: internet -> :8080 -> g1": fetch(WAN, "http://%s:8080/" % hv) == "hello from g1",
        "ours: g1 <- its fixed lease from our dnsmasq": dhcp_server(host, "g1") == ("192.168.100.2", "192.168.100.1"),
        "ours: g2 <- a lease in the range": (dhcp_server(host, "g2") or ("", ""))[1] == "192.168.100.1",
        "ours: g2 resolves g1.lab.test at the gateway": dns_answers(host, "g2", "192.168.100.1",
                                                                    "g1.lab.test") == ["192.168.100.2"],
    }
    if not ours:
        # after absent: nothing of ours translates any more (g2 -> g1 stays a plain switch)
        result = {"ours gone: g1 -> internet fails": result["ours: g1 -> internet (masquerade)"] is False,
                  "ours gone: internet -> :8080 fails": result["ours: internet -> :8080 -> g1"] is False,
                  "ours gone: no dnsmasq of ours runs": host.run("pgrep -f '[h]ypervisor-networking/dnsmasq'").rc != 0}
    if peers:
        # busybox wget's own -T crashes in this static build: a timeout around it instead
        web = host.run("timeout 5 docker exec web wget -q -O- http://%s:80/" % wan)
        result.update({
            "docker: internet -> :8088 -> web": fetch(WAN, "http://%s:8088/" % hv) == "hello from docker",
            "docker: web -> internet": web.rc == 0 and web.stdout.strip() == "hello from wan",
            "libvirt: lg -> internet (its NAT)": fetch(host, "http://%s/" % wan, "lg") == "hello from wan",
            "libvirt: host -> lg": host.run("ping -c 1 -W 2 192.168.122.10").rc == 0,
            "libvirt: lg <- a lease from libvirt's dnsmasq":
                (dhcp_server(host, "lg") or ("", ""))[1] == "192.168.122.1",
            "libvirt: its dnsmasq answers lg's DNS":
                dns_answers(host, "lg", "192.168.122.1", "nothing.invalid") is not None,
        })
    return result


def peer_rules(host):
    """iptables-nft-save without our chains and jumps, counters and timestamps."""
    out = host.check_output("iptables-nft-save")
    return [re.sub(r"\[\d+:\d+\]$", "[-:-]", l) for l in out.splitlines()
            if not l.startswith("#") and "HN-" not in l]


def restart_docker(host):
    host.check_output("systemctl restart docker.service")
    host.check_output("/usr/local/sbin/hn-peers")  # waits for the container (restart: always)


def restart_libvirt_network(host):
    host.check_output("virsh -q net-destroy default && virsh -q net-start default")
    host.check_output("/usr/local/sbin/hn-peers")  # lg's port back on the new virbr0


def forward_drop(host):
    host.check_output("iptables -P FORWARD DROP")  # iptables-nft here, as Docker writes


def our_playbook(name, state):
    """The collection's playbook (the scenario's converge), for this host only."""
    env = dict(os.environ)
    scenario = env.get("MOLECULE_SCENARIO_DIRECTORY", os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.run(["ansible-playbook", "-i", env["MOLECULE_INVENTORY_FILE"], "--limit", name,
                           os.path.join(scenario, "converge.yml"), "-e", "nat_bridge_state=%s" % state],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def control_without_our_accepts(host, name):
    """The control: with FORWARD dropping, our jump deleted by hand cuts the guests off
    (so the matrix above is not passing by luck); a re-run puts it back."""
    wan = ipv4(WAN)
    host.check_output('iptables -D FORWARD -m comment --comment "hypervisor.networking" -j HN-FM-br0')
    cut = fetch(host, "http://%s/" % wan, "g1") is None
    our_playbook(name, "present")
    return {"control: our jump deleted by hand -> g1 cut off": cut,
            "control: a re-run repairs it -> g1 -> internet": fetch(host, "http://%s/" % wan, "g1") == "hello from wan"}


def test_every_flow_after_every_event(host):
    name = host.backend.get_hostname()
    peers_first = name == "hn-cx-peers"
    events = [("our apply (peers %s)" % ("running" if peers_first else "not installed yet"), None)]
    if not peers_first:
        events.append(("Docker and libvirt start after us", lambda: host.check_output("/usr/local/sbin/hn-peers")))
    events += [("systemctl restart docker", lambda: restart_docker(host)),
               ("virsh net-destroy/net-start default", lambda: restart_libvirt_network(host)),
               ("FORWARD policy DROP set after our run", lambda: forward_drop(host))]
    matrix = []
    for index, (event, action) in enumerate(events):
        if action:
            action()
        matrix.append((event, flows(host, peers=peers_first or index > 0)))
    matrix.append(("a control", control_without_our_accepts(host, name)))
    # our absent: peers' rules exactly as they were with ours left out, their traffic flows
    theirs = peer_rules(host)
    our_playbook(name, "absent")
    after = [re.sub(r"\[\d+:\d+\]$", "[-:-]", l) for l in host.check_output("iptables-nft-save").splitlines()
             if not l.startswith("#")]
    matrix.append(("our absent", flows(host, peers=True, ours=False)))
    print("\n%s (%s):" % (name, "peers first" if peers_first else "us first"))
    for event, result in matrix:
        print("  after %s:" % event)
        for flow, ok in result.items():
            print("    %-40s %s" % (flow, "ok" if ok else "FAILED"))
    diff = [l for l in after if l not in theirs] + ["-" + l for l in theirs if l not in after]
    print("  peers' rules after our absent vs before it without ours: %s" % (diff or "identical"))
    assert all(ok for _event, result in matrix for ok in result.values())
    assert after == theirs, diff
    assert "hypervisor_networking" not in host.check_output("nft list tables")
