# -*- coding: utf-8 -*-
"""linux_bridge module flow with a fake netlink that refuses writes in check mode."""
from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.hypervisor.networking.plugins.modules import linux_bridge


class FakeNetlink(object):
    """In-memory host. Any write in check mode fails the test."""

    def __init__(self, check_mode, links=None, addrs=None):
        self.check_mode = check_mode
        self._links = links or {}
        self._addrs = addrs or {}
        self.writes = []

    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def links(self):
        return self._links

    def addresses(self):
        return self._addrs

    def wait_until(self, predicate, timeout=2.0):
        return self._links, self._addrs

    def __getattr__(self, op):
        if not op.startswith(("link_", "addr_")):
            raise AttributeError(op)

        def write(**kwargs):
            assert not self.check_mode, "write %s in check mode" % op
            self.writes.append((op, kwargs))
            if op == "link_add":
                self._links[kwargs["name"]] = {
                    "index": 50, "name": kwargs["name"], "kind": "bridge", "up": False, "mtu": 1500,
                    "mac": kwargs["mac"], "master": None, "alias": kwargs["alias"], "mac_set_by_user": True,
                    "bridge": {"stp": False, "forward_delay": 15, "vlan_filtering": False, "nf_call_iptables": False}}
            elif op == "addr_add":
                self._addrs.setdefault(50, []).append(kwargs["cidr"])
            elif op == "link_set" and "up" in kwargs:
                self._links[kwargs["name"]]["up"] = kwargs["up"]
        return write


@pytest.fixture
def run_module(monkeypatch, capsys):
    """Run main() against a fake host; return the JSON it printed."""
    def runner(args, fake):
        monkeypatch.setattr(linux_bridge, "Netlink", fake)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                linux_bridge.main()
        return json.loads(capsys.readouterr().out)
    return runner


def test_check_mode_plans_everything_and_writes_nothing(run_module):
    fake = FakeNetlink(check_mode=True)
    result = run_module({"name": "br0", "persist": False, "addresses": ["192.168.100.1/24"], "_ansible_check_mode": True,
                         "_ansible_diff": True}, fake)
    assert result["changed"] is True
    assert result["actions"] == ["create bridge br0", "add address 192.168.100.1/24 to br0", "set br0 up"]
    assert result["diff"]["before"] == {} and result["diff"]["after"]["addresses"] == ["192.168.100.1/24"]
    assert fake.writes == []


def test_apply_then_report_read_back(run_module):
    fake = FakeNetlink(check_mode=False)
    result = run_module({"name": "br0", "persist": False, "addresses": ["192.168.100.1/24"]}, fake)
    assert result["changed"] is True
    assert [w[0] for w in fake.writes] == ["link_add", "addr_add", "link_set"]
    assert result["bridge"]["up"] is True and result["bridge"]["addresses"] == ["192.168.100.1/24"]
    again = run_module({"name": "br0", "persist": False, "addresses": ["192.168.100.1/24"]}, fake)
    assert again["changed"] is False and again["actions"] == []


def test_bad_input_fails_naming_option_and_value(run_module):
    fake = FakeNetlink(check_mode=True)
    result = run_module({"name": "br0", "addresses": ["300.1.1.1/24"]}, fake)
    assert result["failed"] is True
    assert result["msg"].startswith("linux_bridge: addresses='300.1.1.1/24'")
    assert fake.writes == []


def test_ifupdown_refuses_a_nic_the_host_configures(monkeypatch):
    """physical bridging persisted with ifupdown: a stanza of the host's own for the NIC
    would configure it twice at boot; refused before any change, naming the file."""
    from ansible_collections.hypervisor.networking.plugins.module_utils import _facets, _persist
    from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError
    monkeypatch.setattr(_persist, "ifupdown_interfaces", lambda: {"eth0": "/etc/network/interfaces"})
    monkeypatch.setattr(_persist, "read_text", lambda path: "auto eth0\niface eth0 inet dhcp\n")
    desired = {"name": "br0", "migrate_from": "eth0", "ports": None, "state": "present", "mtu": None,
               "bridge": {"nf_call_iptables": None}}
    with pytest.raises(StateError, match="/etc/network/interfaces configures eth0, which becomes a port of br0"):
        _facets.bridge_files("ifupdown", desired, {"name": "br0", "addresses": []}, [], lambda name: None)
