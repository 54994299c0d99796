# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _rollback
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError

ROUTE = {"family": 2, "table": 254, "proto": 3, "scope": 0, "dst": "default", "gateway": "198.51.100.1",
         "metric": 100, "prefsrc": None}


@pytest.mark.parametrize("op,args,argv", [
    ("link_del", {"name": "br0"}, ["ip", "link", "del", "dev", "br0"]),
    ("link_master", {"name": "eth0", "master": None}, ["ip", "link", "set", "dev", "eth0", "nomaster"]),
    ("link_master", {"name": "eth0", "master": "br0"}, ["ip", "link", "set", "dev", "eth0", "master", "br0"]),
    ("link_set", {"name": "br0", "up": False}, ["ip", "link", "set", "dev", "br0", "down"]),
    ("addr_add", {"name": "eth0", "cidr": "198.51.100.10/24", "nodad": True},
     ["ip", "addr", "add", "198.51.100.10/24", "brd", "+", "dev", "eth0"]),
    ("addr_add", {"name": "eth0", "cidr": "2001:db8:1::10/64", "nodad": True},
     ["ip", "addr", "add", "2001:db8:1::10/64", "dev", "eth0", "nodad"]),
    ("addr_del", {"name": "br0", "cidr": "198.51.100.10/24"}, ["ip", "addr", "del", "198.51.100.10/24", "dev", "br0"]),
    ("route_replace", {"route": ROUTE, "name": "eth0"},
     ["ip", "-4", "route", "replace", "default", "via", "198.51.100.1", "dev", "eth0", "table", "254", "proto", "3",
      "scope", "0", "metric", "100"]),
    ("route_replace", {"route": dict(ROUTE, family=10, dst="2001:db8:9::/48", gateway=None, metric=None,
                                     prefsrc="2001:db8:1::10"), "name": "eth0"},
     ["ip", "-6", "route", "replace", "2001:db8:9::/48", "dev", "eth0", "table", "254", "proto", "3", "scope", "0",
      "src", "2001:db8:1::10"]),
])
def test_undo_steps_as_ip_commands(op, args, argv):
    assert _rollback.ip_steps([(op, args)]) == [argv]


def test_unknown_step_is_refused_before_arming():
    with pytest.raises(StateError, match="rollback_timeout: cannot arm"):
        _rollback.ip_steps([("link_set", {"name": "br0", "mtu": 9000})])
