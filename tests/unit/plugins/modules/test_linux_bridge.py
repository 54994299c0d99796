# -*- coding: utf-8 -*-
"""linux_bridge module flow with a fake netlink that refuses writes in check mode."""
from __future__ import annotations

import json
import os

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
    assert result["diff"][0]["before"] == "" and json.loads(result["diff"][0]["after"])["addresses"] == ["192.168.100.1/24"]
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


HOST_INTERFACES = ("auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 10.0.0.2/24\n"
                   "    gateway 10.0.0.1\n\niface eth0 inet6 auto\n\nsource /etc/network/interfaces.d/*\n")


@pytest.fixture
def host_ifupdown(tmp_path, monkeypatch):
    """The host's /etc/network/interfaces configuring eth0, and our notes' directory."""
    from ansible_collections.hypervisor.networking.plugins.module_utils import _persist
    main = tmp_path / "interfaces"
    main.write_text(HOST_INTERFACES)
    monkeypatch.setattr(_persist, "ifupdown_interfaces", lambda: {"lo": str(main), "eth0": str(main)})
    monkeypatch.setattr(_persist, "NIC_NOTES", str(tmp_path / "notes"))
    return _persist, main


def apply_files(want):
    for path, text in want.items():
        if text is None:
            os.unlink(path)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(text)


def test_ifupdown_nic_stanza_becomes_manual_and_comes_back(host_ifupdown):
    """What Proxmox's installer writes: the NIC's own stanzas (inet and inet6) become one
    marked `inet manual`; a second run changes nothing; absent gives the file back as it was."""
    _persist, main = host_ifupdown
    want = _persist.nic_stanza_want("eth0", "br0", True)
    text = want[str(main)]
    assert "iface eth0 inet manual" in text and "address 10.0.0.2/24" not in text and "inet6" not in text
    assert text.startswith("auto lo\niface lo inet loopback\n\nauto eth0\n# BEGIN hypervisor.networking: eth0")
    assert text.endswith("# END hypervisor.networking: eth0\nsource /etc/network/interfaces.d/*\n")
    apply_files(want)
    assert _persist.nic_stanza_want("eth0", "br0", True) == {}
    with pytest.raises(Exception, match="port of bridge br0"):
        _persist.nic_stanza_want("eth0", "br1", True)
    back = _persist.nic_stanza_want("eth0", "br0", False)
    assert back[str(main)] == HOST_INTERFACES and list(back.values())[1:] == [None]
    apply_files(back)
    assert main.read_text() == HOST_INTERFACES and _persist.nic_stanza_want("eth0", "br0", False) == {}


def test_ifupdown_nic_configured_again_beside_our_block_is_refused(host_ifupdown):
    from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError
    _persist, main = host_ifupdown
    apply_files(_persist.nic_stanza_want("eth0", "br0", True))
    main.write_text(main.read_text() + "iface eth0 inet dhcp\n")
    with pytest.raises(StateError, match="configures eth0 again beside our block"):
        _persist.nic_stanza_want("eth0", "br0", True)
