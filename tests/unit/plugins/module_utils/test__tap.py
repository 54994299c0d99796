# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _tap
from ansible_collections.hypervisor.networking.plugins.module_utils._bridge import MANAGED_ALIAS
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError

USERS = {"qemu": 64055, "kvm": 993}


def resolver(option, value):
    """Table-driven stand-in for the host's passwd/group lookups."""
    if value is None:
        return None
    if str(value).isdigit():
        return int(value)
    if value not in USERS:
        raise ValidationError(option, value, "no such user on this host")
    return USERS[value]


def params(**kwargs):
    base = {"name": None, "taps": None, "state": "present", "owner": None, "group": None, "bridge": None,
            "up": True, "mtu": None, "mac": None, "multi_queue": False, "vnet_hdr": False}
    base.update(kwargs)
    return base


def tap_link(name, owner=0, group=None, master=None, up=True, mtu=1500, mac="fe:00:00:00:00:01",
             multi_queue=False, vnet_hdr=False, in_use=False, alias=MANAGED_ALIAS, mode="tap"):
    return {"index": 5, "name": name, "kind": "tun", "up": up, "mtu": mtu, "mac": mac, "master": master,
            "alias": alias,
            "tun": {"mode": mode, "owner": owner, "group": group, "multi_queue": multi_queue,
                    "vnet_hdr": vnet_hdr, "persist": True, "in_use": in_use}}


BR = {"index": 2, "name": "br0", "kind": "bridge", "up": True, "mtu": 1500, "mac": "02:00:00:00:00:02",
      "master": None, "alias": None}


def host(*links):
    return dict((link["name"], link) for link in links)


def plan(p, links, **kwargs):
    taps = _tap.desired_taps(p, resolver)
    return _tap.plan_taps(taps, links, machine_id="m", **kwargs)


def test_top_level_options_are_item_defaults_and_items_override():
    taps = _tap.desired_taps(params(taps=[{"name": "a"}, {"name": "b", "owner": "0", "mtu": 9000}],
                                    owner="qemu", bridge="br0"), resolver)
    assert [(t["name"], t["owner"], t["bridge"], t["mtu"]) for t in taps] == [
        ("a", 64055, "br0", None), ("b", 0, "br0", 9000)]


def test_absent_tap_needs_no_existing_owner():
    # the role removes TAPs with the items it created them from; the user may be gone
    taps = _tap.desired_taps(params(taps=[{"name": "a", "owner": "gone-user", "state": "absent"}]), resolver)
    assert (taps[0]["name"], taps[0]["state"], taps[0]["owner"]) == ("a", "absent", None)


@pytest.mark.parametrize("p,needle", [
    (params(name="x" * 16), "name="),
    (params(taps=[{"name": "a"}, {"name": "a"}]), "taps[1].name='a': listed twice"),
    (params(taps=[{"name": "a"}], mac="fe:00:00:00:00:01"), "set it per item"),
    (params(name="a", owner="nobody-here"), "owner='nobody-here'"),
    (params(taps=[{"name": "a", "bogus": 1}]), "unknown option"),
    (params(name="a", mtu=10), "mtu=10"),
])
def test_desired_rejects(p, needle):
    with pytest.raises(ValidationError) as err:
        _tap.desired_taps(p, resolver)
    assert needle in err.value.msg


@pytest.mark.parametrize("p,links,kwargs,expected", [
    (params(name="vm1", owner="qemu", bridge="br0"), host(BR), {},
     ["create TAP vm1 (owner 64055, on br0)"]),
    (params(name="vm1", owner="qemu", bridge="br0"), host(BR, tap_link("vm1", owner=64055, master="br0")), {}, []),
    (params(name="vm1", owner="kvm"), host(tap_link("vm1", owner=64055)), {},
     ["set TAP vm1 owner 64055->993"]),
    (params(name="vm1", vnet_hdr=True, mtu=9000, up=False), host(tap_link("vm1")), {},
     ["set TAP vm1 vnet_hdr False->True", "set vm1 mtu 1500->9000", "set vm1 down"]),
    (params(name="vm1", owner="7", multi_queue=True), host(tap_link("vm1", owner=7, master="br0"), BR), {},
     ["delete TAP vm1 to recreate it (multi_queue)", "recreate TAP vm1 (owner 7, on br0, multi_queue)"]),
    (params(name="vm1", owner="kvm"), host(tap_link("vm1", owner=1, in_use=True)), {"force": True},
     ["delete TAP vm1 to recreate it (owner)", "recreate TAP vm1 (owner 993)"]),
    (params(name="vm1", mtu=9000), host(tap_link("vm1", in_use=True)), {}, ["set vm1 mtu 1500->9000"]),
    (params(name="vm1", state="absent"), host(tap_link("vm1")), {}, ["delete TAP vm1"]),
    (params(name="vm1", state="absent"), host(), {}, []),
    (params(taps=[{"name": "keep"}]), host(tap_link("keep"), tap_link("old"), tap_link("hand", alias=None)),
     {"purge": True}, ["delete TAP old"]),
    (params(taps=[{"name": "keep"}]), host(tap_link("keep"), tap_link("old")), {}, []),
])
def test_plan_lines(p, links, kwargs, expected):
    result, _views, _missing = plan(p, links, **kwargs)
    assert result.lines() == expected


def test_recreate_keeps_mac_owner_and_bridge():
    result, views, _missing = plan(params(name="vm1", owner="7", multi_queue=True),
                                   host(BR, tap_link("vm1", owner=7, master="br0")))
    create = result.actions[1]
    assert create.args["mac"] == "fe:00:00:00:00:01" and create.args["uid"] == 7 and create.args["master"] == "br0"
    assert views[0]["multi_queue"] is True and views[0]["mac"] == "fe:00:00:00:00:01"


@pytest.mark.parametrize("p,links,kwargs,needle", [
    (params(name="vm1", multi_queue=True), host(tap_link("vm1", in_use=True)), {},
     "vm1: multi_queue can only change by recreating the TAP"),
    (params(name="vm1", state="absent"), host(tap_link("vm1", in_use=True)), {}, "state=absent would delete it"),
    (params(taps=[{"name": "a"}]), host(tap_link("old", in_use=True)), {"purge": True}, "purge would delete it"),
    (params(name="vm1", bridge="br9"), host(), {}, "vm1: bridge br9 does not exist"),
    (params(name="vm1", bridge="eth0"), host(dict(BR, name="eth0", kind=None)), {}, "eth0 is a physical link"),
    (params(name="vm1"), host(tap_link("vm1", mode="tun")), {}, "TUN-mode tun link, not a TAP"),
    (params(name="eth0"), host(dict(BR, name="eth0", kind="veth")), {}, "used by a veth link"),
])
def test_plan_refuses(p, links, kwargs, needle):
    with pytest.raises(StateError) as err:
        plan(p, links, **kwargs)
    assert needle in err.value.msg


def test_new_tap_prediction_and_undo():
    result, views, _missing = plan(params(name="vm1"), host())
    assert views[0] == {"name": "vm1", "state": "present", "owner": 0, "group": None, "bridge": None, "up": True,
                        "mtu": 1500, "mac": _tap.stable_tap_mac("vm1", "m"), "multi_queue": False,
                        "vnet_hdr": False, "in_use": False, "managed": True}
    assert views[0]["mac"].startswith("fe:")
    assert result.actions[0].undo == ("link_del", {"name": "vm1"})


def test_missing_bridge_is_a_warning_in_check_mode_only():
    result, views, missing = plan(params(name="vm1", bridge="br7"), host(), bridges_later=True)
    assert missing == ["br7"] and result.lines() == ["create TAP vm1 (owner 0, on br7)"]
    with pytest.raises(StateError):
        plan(params(name="vm1", bridge="br7"), host())


def test_settled_predicate():
    views = [{"name": "a", "state": "present", "bridge": "br0", "up": True}, {"name": "b", "state": "absent"}]
    check = _tap.settled(views)
    assert check(host(tap_link("a", master="br0")), None)
    assert not check(host(tap_link("a", master="br0"), tap_link("b")), None)
    assert not check(host(tap_link("a")), None)


@pytest.mark.parametrize("in_use,force,expected,warned", [
    (False, False, ["set TAP vm1 owner None->0"], False),
    (True, False, [], True),
    (True, True, ["delete TAP vm1 to recreate it (owner)", "recreate TAP vm1 (owner 0)"], False),
])
def test_an_ownerless_tap_goes_to_root(in_use, force, expected, warned):
    """No owner given is root's; a TAP left without one (0.2) is fixed, or reported while held."""
    result, _views, _missing = plan(params(name="vm1"), host(tap_link("vm1", owner=None, in_use=in_use)), force=force)
    assert result.lines() == expected
    assert bool(result.warnings) is warned and all("any local user can open it" in w for w in result.warnings)
