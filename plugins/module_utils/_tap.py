# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tap_iface desired state and planner, private to this collection.

Pure apart from user/group resolution (injected): (desired list, links) -> (Plan,
predicted TAP views). Every TAP in the request is validated before any action is
planned, so one bad item fails the whole call before any change.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd

from ansible_collections.hypervisor.networking.plugins.module_utils import _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._bridge import MANAGED_ALIAS
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

ITEM_OPTIONS = ("state", "owner", "group", "bridge", "up", "mtu", "mac", "multi_queue", "vnet_hdr")
DEFAULTS = {"state": "present", "up": True, "multi_queue": False, "vnet_hdr": False}
# a TAP item's argument spec (tap_iface's taps, guest_network's taps)
ITEM_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"]),
    owner=dict(type="str"),
    group=dict(type="str"),
    bridge=dict(type="str"),
    up=dict(type="bool"),
    mtu=dict(type="int"),
    mac=dict(type="str"),
    multi_queue=dict(type="bool"),
    vnet_hdr=dict(type="bool"),
)
DEFAULT_MTU = 1500
MAX_ID = 4294967294  # uid_t/gid_t; (uid_t)-1 is "no owner" to TUNSETOWNER
ROOT = 0


def resolve_id(option, value, lookup, id_field):
    """User/group name or numeric id -> numeric id, resolved on the managed host."""
    if value is None:
        return None
    text = str(value)
    if text.isascii() and text.isdigit():
        if int(text) > MAX_ID:
            raise ValidationError(option, value, "ids are 0-%d (%d means unset to the kernel)" % (MAX_ID, MAX_ID + 1))
        return int(text)
    try:
        return getattr(lookup(text), id_field)
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise ValidationError(option, value, "no such %s on this host" % ("user" if id_field == "pw_uid" else "group"))


def host_resolver(option, value):
    """Resolve owner/group against the host's passwd and group databases."""
    if option.endswith("group"):
        return resolve_id(option, value, grp.getgrnam, "gr_gid")
    return resolve_id(option, value, pwd.getpwnam, "pw_uid")


def desired_taps(params, resolver=host_resolver):
    """Module parameters -> list of canonical TAP dicts (raises ValidationError)."""
    if params.get("taps") is None:
        items, prefix = [dict((k, params.get(k)) for k in ("name",) + ITEM_OPTIONS)], ""
    else:
        if params.get("mac") is not None:
            raise ValidationError("mac", params["mac"], "a MAC belongs to one TAP; set it per item in taps")
        items, prefix = params["taps"], "taps"
    result, names = [], set()
    for pos, item in enumerate(items):
        where = "%s[%d]." % (prefix, pos) if prefix else ""
        unknown = set(item) - set(("name",) + ITEM_OPTIONS)
        if unknown:
            raise ValidationError(where.rstrip("."), sorted(unknown), "unknown option(s) in a TAP item")
        merged = dict(DEFAULTS)
        merged.update(dict((k, params.get(k)) for k in ITEM_OPTIONS if params.get(k) is not None))
        merged.update(dict((k, val) for k, val in item.items() if val is not None))
        tap = _canonical(where, merged, resolver)
        if tap["name"] in names:
            raise ValidationError(where + "name", tap["name"], "listed twice")
        names.add(tap["name"])
        result.append(tap)
    return result


def _canonical(where, item, resolver):
    """One merged item -> canonical TAP dict."""
    if item.get("state") not in ("present", "absent"):
        raise ValidationError(where + "state", item.get("state"), "must be present or absent")
    for key in ("up", "multi_queue", "vnet_hdr"):
        if not isinstance(item[key], bool):
            raise ValidationError(where + key, item[key], "must be true or false")
    return {
        "name": v.ifname(where + "name", item.get("name")),
        "state": item["state"],
        # an absent TAP is found by name; its former owner may no longer exist. No owner
        # given means root's: a TAP with neither owner nor group set can be opened by any
        # local user (/dev/net/tun is 0666), who then reads and injects the guests' frames
        "owner": _owner(where, item, resolver) if item["state"] == "present" else None,
        "group": resolver(where + "group", item.get("group")) if item["state"] == "present" else None,
        "bridge": v.ifname(where + "bridge", item["bridge"]) if item.get("bridge") is not None else None,
        "up": item["up"],
        "mtu": v.mtu(where + "mtu", item.get("mtu")),
        "mac": v.mac(where + "mac", item["mac"]) if item.get("mac") is not None else None,
        "multi_queue": item["multi_queue"],
        "vnet_hdr": item["vnet_hdr"],
    }


def _owner(where, item, resolver):
    """The TAP owner's uid: the one given, else root (0)."""
    if item.get("owner") is None:
        return ROOT
    return resolver(where + "owner", item["owner"])


def stable_tap_mac(name, machine_id):
    """fe:xx:.. MAC from host and name: stable, and high enough that a bridge never
    adopts it as its own address (libvirt gives host-side TAPs fe: MACs for that reason)."""
    digest = bytearray(hashlib.sha256(("tap/%s/%s" % (machine_id, name)).encode("utf-8")).digest()[:6])
    digest[0] = 0xFE
    return ":".join("%02x" % b for b in digest)


def tap_view(link):
    """The module's view of one TAP link."""
    tun = link["tun"]
    return {
        "name": link["name"], "state": "present", "owner": tun["owner"], "group": tun["group"],
        "bridge": link["master"], "up": link["up"], "mtu": link["mtu"], "mac": link["mac"],
        "multi_queue": tun["multi_queue"], "vnet_hdr": tun["vnet_hdr"],
        "in_use": tun["in_use"], "managed": link.get("alias") == MANAGED_ALIAS,
    }


def _absent_view(name):
    return {"name": name, "state": "absent"}


def is_tap(link):
    return link["kind"] == "tun" and link["tun"]["mode"] == "tap"


def _validate_against_host(taps, links, bridges_later):
    """Host-dependent checks for every item, before anything is planned.

    ``bridges_later`` (check mode): a missing bridge may be one an earlier task of the same
    check run would have created, so it is returned for a warning instead of failing.
    """
    missing = []
    for tap in taps:
        link = links.get(tap["name"])
        if link is not None and not is_tap(link):
            kind = "TUN-mode tun" if link["kind"] == "tun" else (link["kind"] or "physical")
            raise StateError("%s: the name is used by a %s link, not a TAP" % (tap["name"], kind))
        bridge = tap["bridge"]
        if tap["state"] == "present" and bridge is not None:
            if bridge not in links:
                if not bridges_later:
                    raise StateError("%s: bridge %s does not exist" % (tap["name"], bridge))
                missing.append(bridge)
            elif links[bridge]["kind"] != "bridge":
                raise StateError("%s: %s is a %s link, not a bridge" % (
                    tap["name"], bridge, links[bridge]["kind"] or "physical"))
    return sorted(set(missing))


def purge_candidates(taps, links):
    """Names of TAPs this collection created that the list does not name."""
    listed = set(t["name"] for t in taps)
    return [name for name in sorted(links) if name not in listed and is_tap(links[name])
            and links[name].get("alias") == MANAGED_ALIAS]


def plan_taps(taps, links, purge=False, force=False, machine_id="", bridges_later=False, pending=()):
    """Desired TAPs + current links -> (Plan, [predicted view per listed TAP], [missing bridges]).

    ``pending``: TAPs an earlier run was creating when it was cut off (their journal):
    created by ioctl but maybe not yet marked and configured, they are finished here.
    """
    missing = _validate_against_host(taps, links, bridges_later)
    plan, views = Plan(), []
    for name in purge_candidates(taps, links) if purge else []:
        _plan_delete(plan, tap_view(links[name]), force, "purge")
    for tap in taps:
        link = links.get(tap["name"])
        if tap["state"] == "absent":
            if link is not None:
                _plan_delete(plan, tap_view(link), force, "state=absent")
            views.append(_absent_view(tap["name"]))
        elif link is None:
            views.append(_plan_create(plan, tap, machine_id))
        else:
            current = tap_view(link)
            if not current["managed"] and tap["name"] in pending:
                current = _plan_finish(plan, tap, current, machine_id)
            views.append(_plan_update(plan, tap, current, force, machine_id))
    return plan, views, missing


def _plan_finish(plan, tap, current, machine_id):
    """Mark (and give the stable MAC) a TAP whose creation by an earlier run was cut off
    between the ioctl that made it and the netlink request that marks it."""
    name = current["name"]
    mac = tap["mac"] or stable_tap_mac(name, machine_id)
    plan.add("finish TAP %s: mark it as created by this collection (an earlier run was cut off)" % name,
             "link_set", {"name": name, "alias": MANAGED_ALIAS, "mac": mac},
             undo=("link_set", {"name": name, "alias": "", "mac": current["mac"]}))
    return dict(current, managed=True, mac=mac)


def created(plan):
    """Names of the TAPs a plan creates (what the creation journal lists while it runs)."""
    return sorted(a.args["name"] for a in plan if a.op == "tap_create")


def _plan_delete(plan, current, force, why):
    """Delete one TAP, refusing to cut a running guest off without force."""
    name = current["name"]
    if current["in_use"] and not force:
        raise StateError("%s: a process holds this TAP open (a running guest?); %s would delete it: "
                         "set force: true to do so" % (name, why))
    plan.add("delete TAP %s%s" % (name, " (in use)" if current["in_use"] else ""), "link_del", {"name": name})


def _plan_create(plan, tap, machine_id, summary=None):
    """Create one TAP with every setting in one action; return its predicted view."""
    name = tap["name"]
    mac = tap["mac"] or stable_tap_mac(name, machine_id)
    args = {"name": name, "uid": tap["owner"], "gid": tap["group"], "multi_queue": tap["multi_queue"],
            "vnet_hdr": tap["vnet_hdr"], "alias": MANAGED_ALIAS, "mtu": tap["mtu"], "mac": mac,
            "master": tap["bridge"], "up": tap["up"]}
    plan.add(summary or "create TAP %s%s" % (name, _describe(tap)), "tap_create", args,
             undo=("link_del", {"name": name}))
    return {"name": name, "state": "present", "owner": tap["owner"], "group": tap["group"],
            "bridge": tap["bridge"], "up": tap["up"], "mtu": tap["mtu"] or DEFAULT_MTU, "mac": mac,
            "multi_queue": tap["multi_queue"], "vnet_hdr": tap["vnet_hdr"], "in_use": False, "managed": True}


def _describe(tap):
    """' (owner 1000, on br0, multi_queue)' style detail for a create line."""
    parts = []
    if tap["owner"] is not None:
        parts.append("owner %s" % tap["owner"])
    if tap["group"] is not None:
        parts.append("group %s" % tap["group"])
    if tap["bridge"]:
        parts.append("on %s" % tap["bridge"])
    parts.extend(k for k in ("multi_queue", "vnet_hdr") if tap[k])
    if not tap["up"]:
        parts.append("down")
    return " (%s)" % ", ".join(parts) if parts else ""


def _plan_update(plan, tap, current, force, machine_id):
    """Change an existing TAP in place where the kernel allows, else recreate it."""
    name = current["name"]
    want = dict((k, tap[k]) for k in ("owner", "group") if tap[k] is not None)
    if not current["in_use"]:
        # whoever opens a TAP sets its own vnet_hdr (QEMU does, for virtio-net): while a
        # process holds it, the flag read is that process's choice, not drift
        want["vnet_hdr"] = tap["vnet_hdr"]
    tun_changes = dict((k, val) for k, val in want.items() if current[k] != val)
    if current["in_use"] and current["owner"] is None and tun_changes.get("owner") == ROOT and not force:
        # an ownerless TAP made before 0.3 and held by a running guest: giving it to root
        # needs a new device, which would cut the guest off; say so instead of failing
        plan.warn("%s: this TAP has no owner, so any local user can open it; it is in use, and setting "
                  "its owner to root needs recreating it: restart its guest, or set force: true" % name)
        del tun_changes["owner"]
    if tap["multi_queue"] != current["multi_queue"] or (tun_changes and current["in_use"]):
        # TUNSETIFF cannot flip multi_queue, and a TAP held open answers EBUSY: only a new
        # device can carry the change, which cuts whatever has it open
        what = "multi_queue" if tap["multi_queue"] != current["multi_queue"] else ", ".join(sorted(tun_changes))
        if current["in_use"] and not force:
            raise StateError("%s: %s can only change by recreating the TAP, and a process holds it open "
                             "(a running guest?): set force: true to recreate it" % (name, what))
        plan.add("delete TAP %s to recreate it (%s)" % (name, what), "link_del", {"name": name})
        keep = dict(tap)
        for key in ("owner", "group", "bridge", "mtu"):
            if keep[key] is None:
                keep[key] = current[key]
        keep["mac"] = keep["mac"] or current["mac"]
        return _plan_create(plan, keep, machine_id, "recreate TAP %s%s" % (name, _describe(keep)))
    after = dict(current)
    if tun_changes:
        uid = want.get("owner", current["owner"])
        gid = want.get("group", current["group"])
        plan.add("set TAP %s %s" % (name, _changes_text(tun_changes, current)), "tap_configure",
                 {"name": name, "uid": uid, "gid": gid, "multi_queue": current["multi_queue"],
                  "vnet_hdr": tap["vnet_hdr"]},
                 undo=("tap_configure", {"name": name, "uid": current["owner"], "gid": current["group"],
                                         "multi_queue": current["multi_queue"], "vnet_hdr": current["vnet_hdr"]}))
        after.update(tun_changes)
    _plan_link(plan, tap, current, after)
    return after


def _plan_link(plan, tap, current, after):
    """Netlink-side settings: MTU, MAC, bridge, link state."""
    name = current["name"]
    change = dict((k, tap[k]) for k in ("mtu", "mac") if tap[k] is not None and tap[k] != current[k])
    if change:
        plan.add("set %s %s" % (name, _changes_text(change, current)), "link_set", dict(change, name=name),
                 undo=("link_set", dict(((k, current[k]) for k in change), name=name)))
        after.update(change)
    if tap["bridge"] is not None and tap["bridge"] != current["bridge"]:
        plan.add("attach %s to %s" % (name, tap["bridge"]), "link_master", {"name": name, "master": tap["bridge"]},
                 undo=("link_master", {"name": name, "master": current["bridge"]}))
        after["bridge"] = tap["bridge"]
    if tap["up"] != current["up"]:
        plan.add("set %s %s" % (name, "up" if tap["up"] else "down"), "link_set", {"name": name, "up": tap["up"]},
                 undo=("link_set", {"name": name, "up": current["up"]}))
        after["up"] = tap["up"]


def _changes_text(change, current):
    """'owner 0->1000 mtu 1500->9000' for an action line."""
    return " ".join("%s %s->%s" % (k, current[k], change[k]) for k in sorted(change))


def touched(plan):
    """Names of the links a plan changes (each action's first argument is a link name)."""
    return sorted(set(action.args["name"] for action in plan))


def settled(views):
    """Read-back predicate: every TAP read back is present/absent as predicted."""
    def check(links, _addrs):
        """True once the kernel shows the predicted presence, bridge and link state."""
        for view in views:
            link = links.get(view["name"])
            if (link is None) != (view["state"] == "absent"):
                return False
            if link is not None and (link["master"], link["up"]) != (view["bridge"], view["up"]):
                return False
        return True
    return check


class Journal(object):
    """The TAPs a run is creating, kept under /run (per network namespace) while it runs:
    a run killed between a TAP's ioctl and its marking leaves the name here, so the next
    run knows the unmarked TAP is ours and finishes it."""

    def __init__(self, directory=_rundir.RUN_DIR):
        self.path = os.path.join(directory, "taps-creating-%d.json" % _rundir.netns_inode())

    def read(self):
        """Names listed by a run that did not finish (empty when none)."""
        return set(_rundir.read_json(self.path) or [])

    @contextlib.contextmanager
    def creating(self, names):
        """List ``names`` (with what an unfinished run left) while the block runs; a run
        that completes leaves no journal (a failed one keeps it for the next run)."""
        left = self.read()
        if not names and not left:
            yield
            return
        _rundir.write_json(self.path, sorted(left | set(names)))
        yield
        _rundir.remove(self.path)

    def forget(self, existing):
        """After a failed run was undone: keep only the names that still exist."""
        left = sorted(name for name in self.read() if name in existing)
        if left:
            _rundir.write_json(self.path, left)
        else:
            _rundir.remove(self.path)
