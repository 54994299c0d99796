# -*- coding: utf-8 -*-
from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.hypervisor.networking.plugins.module_utils import _network

NAMES = {"name": "nat_bridge_name", "addresses": "nat_bridge_address", "taps": "nat_bridge_taps",
         "forwards": "nat_bridge_forwards", "masquerade_exclude": "nat_bridge_masquerade_exclude"}


def nat(**kwargs):
    args = {"name": "br0", "addresses": ["192.168.100.1/24"], "option_names": NAMES}
    args.update(kwargs)
    return args


@pytest.mark.parametrize("args,needle", [
    (nat(), ""),
    (nat(taps=[{"name": "vm1-tap", "owner": "qemu-user"}, {"name": "vm2-tap", "owner": "1000", "group": "kvm"}],
         forwards=[{"port": 8080, "to_addr": "192.168.100.10", "to_port": 80},
                   {"proto": "udp", "port": "5000-5010", "to_addr": "192.168.100.11"}]), ""),
    (nat(forwards=[{"port": 8080, "to_addr": "192.168.100.300"}]), "nat_bridge_forwards[0].to_addr"),
    (nat(forwards=[{"port": 8080, "to_addr": "192.168.100.10"}, {"port": 70000, "to_addr": "192.168.100.10"}]),
     "nat_bridge_forwards[1].port"),
    (nat(forwards=[{"proto": "icmp", "port": 1, "to_addr": "192.168.100.10"}]), "nat_bridge_forwards"),
    (nat(forwards="8080"), "nat_bridge_forwards"),
    (nat(taps=[{"name": "x" * 16}]), "nat_bridge_taps[0].name"),
    (nat(taps=[{"name": "a"}, {"name": "a"}]), "nat_bridge_taps[1].name"),
    (nat(taps=[{"name": "a", "owner": " "}]), "nat_bridge_taps[0].owner"),
    (nat(taps=[{"name": "a", "mtu": 10}]), "nat_bridge_taps[0].mtu"),
    (nat(taps=[{"name": "a", "colour": "red"}]), "colour"),
    (nat(taps=[{"name": "a", "bridge": "br1"}]), "nat_bridge_taps[0].bridge"),
    (nat(addresses=["192.168.100.0/24"]), "nat_bridge_address"),
    (nat(addresses=["300.1.1.1/24"]), "nat_bridge_address"),
    (nat(addresses=["fd00::1/64"]), "IPv4 gateway"),
    (nat(name="br/0"), "nat_bridge_name"),
    (nat(masquerade_exclude=["224.0.0.0/33"]), "nat_bridge_masquerade_exclude"),
    ({"name": "br0", "mode": "bridged", "forwards": [{"port": 1, "to_addr": "10.0.0.2"}]}, "mode=nat and routed only"),
    ({"name": "br0", "rollback_timeout": 5, "addresses": ["10.0.0.1/24"]}, "mode=bridged only"),
    ({"name": "br0", "mode": "bridged", "rollback_timeout": -1}, "rollback_timeout"),
    ({"name": "br0"}, "addresses"),
    ({"name": "br0", "state": "absent"}, ""),
])
def test_check_names_the_role_variable(args, needle):
    msg = _network.check(args)
    assert (msg == "") if needle == "" else (needle in msg), msg


def test_acl_text_edits_only_our_block():
    theirs = "allow virbr0\n"
    ours = _network.acl_text(theirs, "br0", True, "nat_bridge")
    assert ours == ("allow virbr0\n# BEGIN hypervisor.networking nat_bridge br0\nallow br0\n"
                    "# END hypervisor.networking nat_bridge br0\n")
    assert _network.acl_text(ours, "br0", True, "nat_bridge") == ours
    assert _network.acl_text(ours, "br0", False, "nat_bridge") == theirs
    assert _network.acl_text(None, "br0", False, "nat_bridge") is None
    # absent removes the bridge's block whichever of our roles wrote it (guest_networks' purge
    # of a network nat_bridge made), and no other bridge's
    other = _network.acl_text(ours, "br1", True, "guest_network")
    only_br1 = _network.acl_text(theirs, "br1", True, "guest_network")
    assert _network.acl_text(other, "br0", False, "guest_network") == only_br1


def test_acl_blocks_keep_their_places():
    # physical_bridge's block, then nat_bridge's: a re-run of either rewrites nothing
    first = _network.acl_text(None, "br-lan", True, "physical_bridge")
    both = _network.acl_text(first, "br0", True, "nat_bridge")
    assert both.index("physical_bridge br-lan") < both.index("nat_bridge br0")
    assert _network.acl_text(both, "br-lan", True, "physical_bridge") == both
    assert _network.acl_text(both, "br0", True, "nat_bridge") == both
    nat_only = _network.acl_text(None, "br0", True, "nat_bridge")
    assert _network.acl_text(both, "br-lan", False, "physical_bridge") == nat_only


def test_hairpin_pairs_are_the_bridge_subnets_holding_targets():
    want = _network.Desired(dict(_network_defaults(), addresses=["192.168.100.1/24", "10.9.0.1/16"],
                                 forwards=[{"port": 80, "to_addr": "10.9.3.4"}]), host=False,
                            resolver=lambda option, value: value)
    assert want.hairpin() == [("10.9.0.0/16", "br0")]


def _network_defaults():
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    return ArgumentSpecValidator(_network.ARGUMENT_SPEC).validate({"name": "br0"}).validated_parameters


@pytest.mark.parametrize("args,needle", [
    ({"mode": "isolated", "forwards": [{"port": 1, "to_addr": "192.168.100.2"}]}, "forwards="),
    ({"mode": "nat", "allow_inbound": [{"port": 22}]}, "applies to mode=routed only"),
    ({"mode": "routed", "allow_inbound": [{"port": 22, "to_addr": "10.9.9.9"}]}, "is not in the bridge's subnets"),
    ({"mode": "routed", "masquerade_exclude": ["10.0.0.0/8"]}, "applies to mode=nat only"),
])
def test_modes_refuse_what_they_do_not_do(args, needle):
    message = _network.check(dict({"name": "br0", "addresses": ["192.168.100.1/24"]}, **args))
    assert needle in message, message


def test_routed_and_isolated_egress_per_family():
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    params = ArgumentSpecValidator(_network.ARGUMENT_SPEC).validate({
        "name": "br0", "mode": "routed", "addresses": ["192.168.100.1/24", "fd00:100::1/64"],
        "allow_inbound": [{"port": 22}, {"port": 80, "to_addr": "fd00:100::2"}]}).validated_parameters
    want = _network.Desired(params, resolver=_network._syntax_resolver, host=False)
    v4, v6 = want.masquerades("up0")
    assert (v4.mode, v6.mode, v4.exclude) == ("routed", "routed", [])
    assert [a.port for a in v4.allow] == [(22, 22)] and [a.port for a in v6.allow] == [(22, 22), (80, 80)]


ROLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "roles")


def _calls(tasks):
    """Every guest_network call's options in a role's tasks (blocks and rescues walked)."""
    for task in tasks:
        for key in ("block", "rescue", "always"):
            yield from _calls(task.get(key, []))
        if "hypervisor.networking.guest_network" in task:
            yield task["hypervisor.networking.guest_network"]


def test_the_roles_pass_only_guest_network_options():
    """The roles pass guest_network's options one by one (no templated `args`); guest_networks
    passes every one of them, and refuses an item's key that is none."""
    options = set(_network.ARGUMENT_SPEC) - {"checked"}
    for role in ("nat_bridge", "physical_bridge", "guest_networks"):
        with open(os.path.join(ROLES, role, "tasks", "main.yml")) as handle:
            calls = list(_calls(yaml.safe_load(handle)))
        assert calls and all(isinstance(call, dict) and set(call) <= options for call in calls), role
    with open(os.path.join(ROLES, "guest_networks", "vars", "main.yml")) as handle:
        assert set(yaml.safe_load(handle)["__guest_networks_options"]) == options
    listed = [call for call in calls if "__guest_networks_item" in str(call)]
    assert len(listed) == 2 and all(set(call) == options for call in listed)
