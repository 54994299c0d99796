# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.hypervisor.networking.plugins.module_utils import _sysctl
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError

V4, V6 = "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"


@pytest.mark.parametrize("desired,current,expected", [
    ({V4: 1, V6: None}, {V4: 0, V6: 0}, ["set net.ipv4.ip_forward = 1 (runtime, was 0)"]),
    ({V4: 1, V6: None}, {V4: 1, V6: 0}, []),
    ({V4: 0, V6: 1}, {V4: 1, V6: 0}, ["set net.ipv4.ip_forward = 0 (runtime, was 1)",
                                      "set net.ipv6.conf.all.forwarding = 1 (runtime, was 0)"]),
])
def test_plan_runtime(desired, current, expected):
    assert _sysctl.plan_runtime(desired, current).lines() == expected


def test_plan_runtime_ipv6_disabled():
    with pytest.raises(StateError, match="IPv6 disabled"):
        _sysctl.plan_runtime({V6: 1}, {V6: None})


def test_plan_persistent_first_write_and_idempotence():
    plan, text = _sysctl.plan_persistent({V4: 1, V6: None}, "/etc/sysctl.d/x.conf", None)
    assert plan.lines() == ["write /etc/sysctl.d/x.conf (persistent: net.ipv4.ip_forward = 1)"]
    assert plan.actions[0].undo == ("file_remove", {"path": "/etc/sysctl.d/x.conf"})
    assert text.endswith("net.ipv4.ip_forward = 1\n") and text.startswith("# Managed by")
    again, same = _sysctl.plan_persistent({V4: 1, V6: None}, "/etc/sysctl.d/x.conf", text)
    assert not again and same == text


def test_plan_persistent_keeps_lines_it_does_not_govern():
    old = _sysctl.HEADER + "net.ipv6.conf.all.forwarding = 1\nnet.ipv4.ip_forward=0\n"
    plan, text = _sysctl.plan_persistent({V4: 1, V6: None}, "/x.conf", old)
    assert _sysctl.parse_dropin(text) == [(V6, "1"), (V4, "1")]
    assert plan.actions[0].undo == ("file_write", {"path": "/x.conf", "content": old})


def test_plan_persistent_refuses_a_file_it_did_not_write():
    with pytest.raises(StateError, match="/x.conf exists and was not written by this collection"):
        _sysctl.plan_persistent({V4: 1}, "/x.conf", "# the admin's\n-net.ipv4.ip_forward = 1\n")


def test_parse_dropin_ignores_comments_and_blank_lines():
    assert _sysctl.parse_dropin("# c\n; c\n\n-net.a = 1\nnoequals\n") == [("net.a", "1")]


def test_check_dropin_path(tmp_path):
    assert _sysctl.check_dropin_path("sysctl_file", str(tmp_path / "a.conf")) == str(tmp_path / "a.conf")
    for bad in ("rel.conf", str(tmp_path / "missing" / "a.conf"), str(tmp_path)):
        with pytest.raises(ValidationError, match="sysctl_file="):
            _sysctl.check_dropin_path("sysctl_file", bad)


def test_runtime_read_write_under_a_fake_root(tmp_path):
    (tmp_path / "net" / "ipv4").mkdir(parents=True)
    (tmp_path / "net" / "ipv4" / "ip_forward").write_text("0\n")
    assert _sysctl.read_runtime(V4, str(tmp_path)) == 0
    assert _sysctl.read_runtime(V6, str(tmp_path)) is None
    _sysctl.SysctlExecutor(module=None, root=str(tmp_path)).sysctl_write(V4, 1)
    assert _sysctl.read_runtime(V4, str(tmp_path)) == 1


ROUTES = (
    # an RA-learnt default route (RTF_UP|GATEWAY|DEFAULT|ADDRCONF|EXPIRES), a static default, an RA prefix route
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000f09443fffe83625d "
    "00000400 00000001 00000000 00450003     eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 "
    "00000400 00000001 00000000 00000003     eth1\n"
    "20010db8000500000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 "
    "00000100 00000001 00000000 00040001  eth0.100\n")


def test_links_with_an_ra_default_route(tmp_path):
    route_file = tmp_path / "ipv6_route"
    route_file.write_text(ROUTES)
    assert _sysctl.ra_default_links(str(route_file)) == ["eth0"]


def test_ra_uplinks_kept_while_forwarding_and_given_back(tmp_path):
    route_file = tmp_path / "ipv6_route"
    route_file.write_text(ROUTES)
    conf = tmp_path / "net" / "ipv6" / "conf"
    for link, value in (("eth0", 1), ("eth1", 1), ("eth0.100", 2)):
        (conf / link).mkdir(parents=True)
        (conf / link / "accept_ra").write_text("%d\n" % value)
    root = str(tmp_path)
    assert _sysctl.proc_path("net/ipv6/conf/eth0.100/accept_ra", root) == str(conf / "eth0.100" / "accept_ra")
    assert _sysctl.plan_ra_uplinks(True, None, root, str(route_file)) == (
        {"net/ipv6/conf/eth0/accept_ra": 2}, [], ["eth0"])
    ours = _sysctl.render_dropin([("net.ipv6.conf.all.forwarding", "1"), ("net/ipv6/conf/eth0.100/accept_ra", "2")])
    assert _sysctl.plan_ra_uplinks(None, ours, root, str(route_file)) == ({}, [], ["eth0.100"])
    assert _sysctl.plan_ra_uplinks(False, ours, root, str(route_file)) == (
        {"net/ipv6/conf/eth0.100/accept_ra": 1}, ["net/ipv6/conf/eth0.100/accept_ra"], [])
    _plan, text = _sysctl.plan_persistent({"net.ipv6.conf.all.forwarding": 0}, "/x", ours,
                                          ["net/ipv6/conf/eth0.100/accept_ra"])
    assert "accept_ra" not in text and "net.ipv6.conf.all.forwarding = 0" in text
