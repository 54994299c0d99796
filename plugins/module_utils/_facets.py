# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planners of a bridge and of TAPs, runtime and persistent facets, private to this
collection: linux_bridge, tap_iface and guest_network plan with the same code."""

from __future__ import annotations

import os
import shutil

from ansible_collections.hypervisor.networking.plugins.module_utils import _bridge, _migrate, _persist
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import (
    DependencyError, HypervisorNetworkingError, StateError, ValidationError)
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import BridgeSet
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

BRIDGE_UTILS_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"


def bridge_plan(desired, nl, links, addrs):
    """-> (Plan, predicted bridge, gateway probe or None) for a plain bridge, a migration
    or the way back from one."""
    name, nic = desired["name"], desired["migrate_from"]
    if not nic:
        plan, after = _bridge.plan_bridge(desired, links, addrs, _bridge.read_machine_id())
        return plan, after, None
    _migrate.read_dynamic(desired, nl, links)
    if desired["state"] == "present":
        # a missing NIC has no routes; the planner refuses it with a message naming the option
        routes = nl.routes(nic) if nic in links else []
        return _migrate.plan_migration(desired, links, addrs, routes, _bridge.read_machine_id())
    # the way back restores what the host had before: no probe (the bridge it could
    # fall back to is deleted by the last step)
    plan, _gateway = _migrate.plan_restore(desired, links, addrs, nl.routes(name) if name in links else [])
    return plan, {}, None


def bridge_renderer(persist, requested, desired):
    """The renderer when the change is to persist (None: runtime only); names checked."""
    if not persist:
        return None
    _persist.persist_name("name", desired["name"])
    for port in desired["ports"] or []:
        _persist.persist_name("ports", port)
    if desired["migrate_from"]:
        _persist.persist_name("migrate_from", desired["migrate_from"])
    if desired["state"] == "absent" and requested == "auto":
        # removing needs no manager: our files are found wherever either would read them
        try:
            return _persist.detect("auto")
        except HypervisorNetworkingError:
            return _persist.ANY
    renderer = _persist.detect(requested)
    _persist.check_renderer(renderer)
    delay = desired["bridge"]["forward_delay"]
    if renderer == _persist.NM and desired["state"] == "present" and delay is not None and delay < 2:
        # NetworkManager reads 0 as its default, 15 s: each activation would undo this run
        raise ValidationError("forward_delay", delay, "NetworkManager persists forward delays of 2 to 30 seconds; "
                              "leave it unset, or set persist=false")
    if renderer == "ifupdown" and not _persist.is_ifupdown2() and not shutil.which("brctl", path=BRIDGE_UTILS_PATH):
        # ifupdown brings bridges up at boot only through bridge-utils' hook
        raise DependencyError("renderer=ifupdown: bridges come up at boot through bridge-utils' ifupdown hook; "
                              "install it (Debian: package bridge-utils)", "bridge-utils")
    return renderer


def _networkd_first(bridge, mac, nic, ports):
    """Refuse, before any change, a host's .network file that networkd would apply to the
    bridge or one of its ports instead of ours (it matches and sorts first): after a reboot
    the port would not be in the bridge, or the bridge not configured as persisted."""
    links = [(bridge, mac, _persist.bridge_paths("networkd", bridge)[-1])]
    links += [(port, mac if port == nic else None, _persist.port_paths("networkd", port)[0]) for port in ports]
    for link, link_mac, ours in links:
        found = _persist.networkd_file_before(ours, link, link_mac)
        if found:
            raise StateError("%s matches %s and its name sorts before %s: systemd-networkd applies the first "
                             "matching file, so after a reboot %s would not be configured as persisted; rename "
                             "it to sort after %s, narrow its [Match], or set persist=false"
                             % (found, link, os.path.basename(ours), link, os.path.basename(ours)))


def bridge_files(renderer, desired, after, routes, get_bin_path, firewall=True):
    """The persistent facet: our files for this bridge as the run leaves it (``firewall``:
    with its bridged frames' accepts in the boot-time load)."""
    if renderer is None:
        return Plan()
    name, nic = desired["name"], desired["migrate_from"]
    if renderer == _persist.ANY:
        want = {}
        for each in ("ifupdown", "networkd", _persist.NM):
            want.update(_persist.bridge_want(each, name, None, [], []))
        files = _persist.plan_files(want, "bridge %s" % name)
        for each in _persist.noted_nics(name):  # the NICs' own ifupdown stanzas, given back
            files.extend(_persist.plan_nic_stanza(each, name, False))
        if firewall:
            files.extend(_boot.plan({BridgeSet(name, None): None}, get_bin_path))
        return files
    view = None
    ports = list(desired["ports"] or [])
    if desired["state"] == "present":
        view = dict(after, mtu_declared=desired["mtu"])
        if nic and nic not in ports:
            ports.insert(0, nic)
        if nic:
            # the NIC's IPv6 autoconfiguration goes to the bridge, and stays in our files once
            # there (after a reboot the NIC, a port, takes no advertisements of its own)
            view["ipv6_autoconf"] = bool(_persist.persisted_autoconf(renderer, name)) or _persist.nic_uses_slaac(nic)
            # and its IPv4 addressing: DHCP as the NIC had it (sticky once written, as the
            # lease may have lapsed by the next run), or as the task says
            view["dhcp"] = _migrate.addressing(desired) == "dhcp" or (
                (desired.get("addressing") or "auto") == "auto" and bool(_persist.persisted_dhcp(renderer, name)))
            if view["dhcp"]:
                view["dhcp_identity"] = _persist.dhcp_identity(renderer, name, nic)
                # the NIC's IPv4 addresses are its lease's (a client's, the next boot's too):
                # only those the task declares are written down
                view["addresses"] = [a for a in view.get("addresses", [])
                                     if ":" in a or a in (desired["addresses"] or [])]
        if renderer == "networkd":
            _networkd_first(name, after.get("mac"), nic, ports)
    label = "bridge %s, %s" % (name, renderer)
    files = _persist.plan_files(_persist.bridge_want(renderer, name, view, ports, routes), label)
    if renderer in ("ifupdown", _persist.ANY) and (nic or desired["state"] == "absent"):
        # the host's own stanza of the NIC: `inet manual` while it is our port (ifupdown
        # would configure it twice at boot otherwise), given back with the bridge
        for each in ([nic] if nic else _persist.noted_nics(name)):
            files.extend(_persist.plan_nic_stanza(each, name, desired["state"] == "present"))
    nf_call = desired["bridge"]["nf_call_iptables"]
    if firewall and (nf_call is not None or desired["state"] == "absent"):
        # the accepts for frames bridged within the bridge come back with our firewall sets
        rset = BridgeSet(name, True if desired["state"] == "present" and nf_call is False else None)
        files.extend(_boot.plan({rset: _boot.record_text(rset, None) if rset else None}, get_bin_path))
    return files


def tap_files(params, taps, after, purged, option="taps[].name"):
    """(renderer, file Plan): the persistent facet of the listed TAPs as the run leaves them,
    purged TAPs' files (and with purge, files of ours naming TAPs not listed) removed."""
    if not params["persist"]:
        return None, Plan()
    for tap in taps:
        _persist.persist_name(option, tap["name"])
        if tap["bridge"]:
            _persist.persist_name("bridge", tap["bridge"])
    declared = dict((t["name"], t) for t in taps)
    renderers = None
    if params["renderer"] == "auto" and all(t["state"] == "absent" for t in taps):
        # removing needs no manager: our files are found wherever either would read them
        try:
            renderers = [_persist.detect("auto")]
        except HypervisorNetworkingError:
            renderers = ["ifupdown", "networkd", _persist.NM]
    if renderers is None:
        renderers = [_persist.detect(params["renderer"])]
        _persist.check_renderer(renderers[0])
    plan = Plan()
    for renderer in renderers:
        plan.extend(_tap_renderer_files(params["purge"], renderer, declared, after, purged))
    return (renderers[0] if len(renderers) == 1 else _persist.ANY), plan


def _tap_renderer_files(purge, renderer, declared, after, purged):
    """One manager's files for plan_files."""
    # the files say what was asked (a guest's process may have set vnet_hdr on its open)
    keep = [dict(view, **dict((k, v) for k, v in declared[view["name"]].items()
                              if k in ("mtu", "vnet_hdr", "multi_queue", "up") or (v is not None and k != "state")))
            for view in after if declared[view["name"]]["state"] == "present"]
    gone = [t["name"] for t in declared.values() if t["state"] == "absent"] + list(purged)
    if purge:
        gone += [n for n in _persist.our_tap_names(renderer) if n not in declared and n not in gone]
    want = _persist.tap_want(renderer, keep, gone)
    label = "TAPs, %s" % renderer
    return _persist.plan_files(want, label, modes={_persist.IFUPDOWN_TAP_HOOK: 0o755})
