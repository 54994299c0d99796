# -*- coding: utf-8 -*-
"""Check mode predicts the real run, on seeded random inputs, for every module that
changes something: each round draws new arguments (so most rounds change what the last
one built), runs check mode, then the real run, and requires the same actions and the same
resource; the run after it changes nothing. guest_network's own rounds:
test_guest_network.py. A failing seed reproduces with the same seed."""

from __future__ import annotations

import random

import pytest

ROUNDS = 6


def bridge_args(rng):
    args = {"name": "br0", "addresses": rng.sample(["192.168.100.1/24", "10.5.0.1/16", "fd00:5::1/64"],
                                                   rng.randint(0, 3)),
            "purge_addresses": rng.random() < 0.5, "ports": rng.sample(["vp1", "vp2", "vp3"], rng.randint(0, 3)),
            "purge_ports": rng.random() < 0.5, "up": rng.random() < 0.8}
    for key, choices in (("mtu", [1400, 1500]), ("stp", [True, False]), ("forward_delay", [2, 4, 15]),
                         ("nf_call_iptables", [True, False])):
        if rng.random() < 0.4:
            args[key] = rng.choice(choices)
    if rng.random() < 0.1:
        args = {"name": "br0", "state": "absent"}
    return args


def taps_args(rng):
    taps = []
    for name in rng.sample(["r%d" % i for i in range(10)], rng.randint(1, 6)):
        tap = {"name": name, "bridge": rng.choice([None, "brx"])}
        for key, choices in (("owner", ["0", "65534"]), ("mtu", [1400, 1500]), ("multi_queue", [True, False]),
                             ("vnet_hdr", [True, False]), ("up", [True, False]), ("state", ["present", "absent"])):
            if rng.random() < 0.3:
                tap[key] = rng.choice(choices)
        taps.append(dict((k, v) for k, v in tap.items() if v is not None))
    return {"taps": taps, "purge": rng.random() < 0.4}


def masquerade_args(rng):
    if rng.random() < 0.15:
        return {"name": "lan", "state": "absent", "backend": rng.choice(["nftables", "iptables"])}
    return {"name": "lan", "source": rng.choice(["192.168.100.0/24", "10.5.0.0/16"]),
            "out_interface": rng.choice([None, "up0"]), "forward": rng.random() < 0.7,
            "exclude_destinations": rng.sample(["224.0.0.0/24", "255.255.255.255/32", "10.0.0.0/8"],
                                               rng.randint(0, 3)),
            "backend": rng.choice(["nftables", "iptables"])}


def dnat_args(rng):
    forwards = []
    for port in rng.sample(range(30000, 30040), rng.randint(0, 8)):
        fwd = {"port": port, "to_addr": "192.168.100.%d" % rng.randint(2, 50), "proto": rng.choice(["tcp", "udp"])}
        if rng.random() < 0.3:
            fwd["to_port"] = rng.randint(1, 65535)
        if rng.random() < 0.2:
            fwd["sources"] = rng.sample(["198.51.100.0/24", "203.0.113.0/25"], rng.randint(1, 2))
        if rng.random() < 0.2:
            fwd["in_interface"] = "up0"
        if rng.random() < 0.1:
            fwd["destination"] = "203.0.113.1"
        forwards.append(fwd)
    return {"name": "web", "forwards": forwards, "hairpin": rng.random() < 0.6, "localhost": rng.random() < 0.3,
            "forward": rng.random() < 0.8, "backend": rng.choice(["nftables", "iptables"])}


def forward_args(rng):
    return {"ipv4": rng.random() < 0.5, "ipv6": rng.choice([None, True, False]), "persist": False}


MODULES = {
    "linux_bridge": (bridge_args, "bridge"),
    "tap_iface": (taps_args, "taps"),
    "masquerade": (masquerade_args, "rules"),
    "iptables_dnat": (dnat_args, "rules"),
    "ip_forward": (forward_args, "forwarding"),
}


@pytest.mark.parametrize("module", sorted(MODULES))
@pytest.mark.parametrize("seed", [3, 17])
def test_check_mode_equals_the_real_run(netns, module, seed):
    draw, resource = MODULES[module]
    for port in ("vp1", "vp2", "vp3"):
        netns.run("ip", "link", "add", port, "type", "veth", "peer", "name", port + "p")
    netns.run("ip", "link", "add", "brx", "type", "bridge")
    netns.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1")
    netns.run("ip", "addr", "add", "203.0.113.1/24", "dev", "up0")
    netns.run("ip", "link", "set", "up0", "up")
    netns.run("ip", "addr", "add", "192.168.100.1/24", "dev", "brx")
    netns.run("ip", "link", "set", "brx", "up")
    for table in ("filter", "nat"):  # where the iptables backend runs, the host has them
        netns.run("iptables-legacy", "-t", table, "-n", "-L")
    rng = random.Random("%s-%d" % (module, seed))
    for round_ in range(ROUNDS):
        args = draw(rng)
        check = netns.module(module, args, check_mode=True)
        applied = netns.module(module, args)
        where = (module, seed, round_, args)
        assert check["rc"] == 0 and applied["rc"] == 0, (where, check.get("msg"), applied.get("msg"))
        assert check["changed"] == applied["changed"], where
        assert check["actions"] == applied["actions"], where
        assert check[resource] == applied[resource], where
        again = netns.module(module, args)
        assert again["rc"] == 0 and again["changed"] is False, (where, again["actions"])
