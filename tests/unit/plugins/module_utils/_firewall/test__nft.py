# -*- coding: utf-8 -*-
from __future__ import annotations

from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _nft
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import ForwardSet, Masquerade

LISTING = """table ip hypervisor_networking { # handle 4
\tchain forward { # handle 2
\t\ttype filter hook forward priority filter; policy accept;
\t\tjump masq_lan_fwd # handle 12
\t}

\tchain postrouting { # handle 1
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tjump masq_lan_post # handle 11
\t\tjump masq_dmz_post # handle 14
\t}

\tchain masq_lan_post { # handle 3
\t\tip saddr 192.168.100.0/24 masquerade # handle 6
\t}

\tchain masq_lan_fwd { # handle 4
\t\tip saddr 192.168.100.0/24 accept # handle 9
\t\tip daddr 192.168.100.0/24 ct state established,related accept # handle 10
\t}

\tchain masq_dmz_post { # handle 13
\t\tip saddr 10.9.0.0/16 masquerade # handle 15
\t}
}
"""


def test_parse_table():
    chains = _nft.parse_table(LISTING)
    assert chains["postrouting"]["base"] and not chains["masq_lan_post"]["base"]
    assert chains["postrouting"]["rules"] == [("jump masq_lan_post", 11), ("jump masq_dmz_post", 14)]
    assert _nft.set_rules(chains, "masq_lan_") == {
        "masq_lan_post": ["ip saddr 192.168.100.0/24 masquerade"],
        "masq_lan_fwd": ["ip saddr 192.168.100.0/24 accept",
                         "ip daddr 192.168.100.0/24 ct state established,related accept"]}


def test_masquerade_chains_render_as_nft_prints():
    rule = Masquerade("lan", "192.168.100.0/24", "eth0", ["192.168.100.0/24", "255.255.255.255/32"], True)
    assert _nft.masquerade_chains(rule) == {
        "masq_lan_post": ['ip saddr 192.168.100.0/24 oifname "eth0" ip daddr != '
                          '{ 192.168.100.0/24, 255.255.255.255 } masquerade'],
        "masq_lan_fwd": ['ip saddr 192.168.100.0/24 oifname "eth0" accept',
                         'ip daddr 192.168.100.0/24 iifname "eth0" ct state established,related accept']}
    single = Masquerade("lan", "10.0.0.0/8", None, ["10.0.0.0/8"], False)
    assert _nft.masquerade_chains(single) == {"masq_lan_post": ["ip saddr 10.0.0.0/8 ip daddr != 10.0.0.0/8 masquerade"]}


def test_no_change_no_script():
    chains = _nft.parse_table(LISTING)
    desired = _nft.set_rules(chains, "masq_lan_")
    assert _nft.plan_set(chains, "masq_lan_", desired) == ([], None)


def test_update_is_one_script_flushing_only_this_set():
    chains = _nft.parse_table(LISTING)
    desired = {"masq_lan_post": ['ip saddr 192.168.100.0/24 oifname "eth0" masquerade']}
    lines, script = _nft.plan_set(chains, "masq_lan_", desired)
    assert lines == ["nftables: remove from masq_lan_fwd: ip saddr 192.168.100.0/24 accept",
                     "nftables: remove from masq_lan_fwd: ip daddr 192.168.100.0/24 ct state established,related accept",
                     "nftables: remove from masq_lan_post: ip saddr 192.168.100.0/24 masquerade",
                     'nftables: add to masq_lan_post: ip saddr 192.168.100.0/24 oifname "eth0" masquerade']
    assert "delete rule ip hypervisor_networking forward handle 12" in script
    assert "delete chain ip hypervisor_networking masq_lan_fwd" in script
    assert "delete chain ip hypervisor_networking forward" in script  # its last jump went
    assert "flush chain ip hypervisor_networking masq_lan_post" in script
    assert "masq_dmz" not in script


def test_last_set_removes_the_table_and_first_set_creates_it():
    only = _nft.parse_table(LISTING.replace("\t\tjump masq_dmz_post # handle 14\n", "").replace(
        "\tchain masq_dmz_post { # handle 13\n\t\tip saddr 10.9.0.0/16 masquerade # handle 15\n\t}\n", ""))
    lines, script = _nft.plan_set(only, "masq_lan_", {})
    assert script == "delete table ip hypervisor_networking\n" and lines[-1].startswith("nftables: delete table")
    lines, script = _nft.plan_set({}, "masq_new_", {"masq_new_post": ["ip saddr 10.0.0.0/8 masquerade"]})
    assert script.splitlines() == [
        "add table ip hypervisor_networking",
        "add chain ip hypervisor_networking postrouting { type nat hook postrouting priority srcnat; policy accept; }",
        "add chain ip hypervisor_networking masq_new_post",
        "flush chain ip hypervisor_networking masq_new_post",
        "add rule ip hypervisor_networking masq_new_post ip saddr 10.0.0.0/8 masquerade",
        "add rule ip hypervisor_networking postrouting jump masq_new_post"]
    assert _nft.plan_set({}, "masq_new_", {}) == ([], None)


MAP_LISTING = """table ip hypervisor_networking {
\tmap dnat_web_ports { # handle 5
\t\ttype inet_proto . inet_service : ipv4_addr . inet_service
\t\telements = { udp . 53 : 192.168.100.3 . 53,
\t\t\t     tcp . 8080 : 192.168.100.2 . 80 }
\t}

\tset dnat_web_targets { # handle 6
\t\ttype ipv4_addr . inet_proto . inet_service
\t\telements = { 192.168.100.3 . udp . 53 }
\t}
}
"""


def test_parse_maps_and_element_diff():
    maps = _nft.parse_maps(MAP_LISTING)
    assert maps["dnat_web_ports"] == {"kind": "map", "type": "inet_proto . inet_service : ipv4_addr . inet_service",
                                      "elements": ["tcp . 8080 : 192.168.100.2 . 80", "udp . 53 : 192.168.100.3 . 53"]}
    assert maps["dnat_web_targets"]["elements"] == ["192.168.100.3 . udp . 53"]
    want = {"dnat_web_ports": ("map", "inet_proto . inet_service : ipv4_addr . inet_service",
                               ["tcp . 8080 : 192.168.100.2 . 80"])}
    lines, script = _nft.plan_set({}, "dnat_web_", {}, maps, want)
    assert "nftables: remove from dnat_web_ports: udp . 53 : 192.168.100.3 . 53" in lines
    assert "nftables: remove from dnat_web_targets: 192.168.100.3 . udp . 53" in lines


def test_dnat_ruleset_uses_one_map_for_unfiltered_forwards():
    fset = ForwardSet.from_params({"name": "web", "forwards": [
        {"port": 8080, "to_addr": "192.168.100.2", "to_port": 80},
        {"proto": "udp", "port": "5000-5001", "to_addr": "192.168.100.3"},
        {"port": 22, "to_addr": "192.168.100.2", "sources": ["198.51.100.0/24"]}]})
    chains, maps = _nft.dnat_ruleset(fset, [("192.168.100.0/24", "br0")])
    assert chains["dnat_web_pre"] == [
        "fib daddr type local dnat ip to meta l4proto . th dport map @dnat_web_ports",
        "ip saddr 198.51.100.0/24 fib daddr type local tcp dport 22 dnat to 192.168.100.2"]
    assert maps["dnat_web_ports"][2] == ["tcp . 8080 : 192.168.100.2 . 80", "udp . 5000 : 192.168.100.3 . 5000",
                                         "udp . 5001 : 192.168.100.3 . 5001"]
    assert chains["dnat_web_post"] == ['ip saddr 192.168.100.0/24 oifname "br0" ct status dnat masquerade']
    assert "dnat_web_out" not in chains and len(chains["dnat_web_fwd"]) == 2
