# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel parameters, private to this collection: a runtime facet (/proc/sys of the
current network namespace) and a persistent facet (a sysctl.d drop-in), planned and
reported separately, in the manner of ansible.posix.sysctl.
"""

from __future__ import annotations

import glob
import json
import os
import re

from ansible_collections.hypervisor.networking.plugins.module_utils import _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._persist import FileExecutor, read_text
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

PROC_SYS = "/proc/sys"
HEADER = ("# Managed by the hypervisor.networking collection (ip_forward module).\n"
          "# Changes here are overwritten on its next run.\n")


def proc_path(key, root=PROC_SYS):
    """net.ipv4.ip_forward -> /proc/sys/net/ipv4/ip_forward; a key naming an interface is
    written with '/' (net/ipv6/conf/eth0.100/accept_ra: the name may hold dots)."""
    return os.path.join(root, *key.split("/" if "/" in key else "."))


def read_runtime(key, root=PROC_SYS):
    """Current integer value, or None when the key does not exist (IPv6 disabled)."""
    try:
        with open(proc_path(key, root)) as handle:
            return int(handle.read().split()[0])
    except (IOError, OSError):
        return None


def parse_dropin(text):
    """key = value lines of a sysctl.d file -> ordered dict-like list of pairs."""
    pairs = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        pairs.append((key.strip().lstrip("-"), value.strip()))
    return pairs


def render_dropin(pairs):
    """Ordered (key, value) pairs -> file text with our header."""
    return HEADER + "".join("%s = %s\n" % (key, value) for key, value in pairs)


def check_dropin_path(option, path):
    """An absolute path in an existing directory."""
    v.file_path(option, path)
    if not os.path.isdir(os.path.dirname(path)):
        raise ValidationError(option, path, "its directory does not exist")
    if os.path.isdir(path):
        raise ValidationError(option, path, "is a directory")
    return path


def plan_runtime(desired, current):
    """{key: int} desired vs current runtime values -> Plan (keys with None are left alone)."""
    plan = Plan()
    for key, value in desired.items():
        if value is None:
            continue
        if current.get(key) is None:
            raise StateError("%s does not exist in this kernel or namespace (IPv6 disabled?)" % key)
        if current[key] != value:
            plan.add("set %s = %d (runtime, was %d)" % (key, value, current[key]), "sysctl_write",
                     {"key": key, "value": value}, undo=("sysctl_write", {"key": key, "value": current[key]}))
    return plan


def plan_persistent(desired, path, current_text, drop=()):
    """Desired values merged into the drop-in -> (Plan, new text). Keys with None keep
    whatever line the file has; other keys' lines are kept as they are, but those in
    ``drop`` go. A file we did not write (no header of ours) is refused: rewriting it would
    drop its comments and its '-' prefixes, and it is the admin's."""
    if current_text is not None and not current_text.startswith(HEADER.splitlines()[0]):
        raise StateError("%s exists and was not written by this collection: choose another sysctl_file, "
                         "or move its lines elsewhere and remove it" % path)
    pairs = [(key, value) for key, value in parse_dropin(current_text) if key not in drop]
    merged = dict(pairs)
    order = [key for key, _value in pairs]
    for key, value in desired.items():
        if value is None:
            continue
        if key not in merged:
            order.append(key)
        merged[key] = str(value)
    text = render_dropin([(key, merged[key]) for key in order])
    plan = Plan()
    if text != current_text:
        verb = "write" if current_text is None else "update"
        undo = ("file_remove", {"path": path}) if current_text is None else (
            "file_write", {"path": path, "content": current_text})
        plan.add("%s %s (persistent: %s)" % (verb, path, ", ".join("%s = %s" % (k, merged[k]) for k in order)),
                 "file_write", {"path": path, "content": text}, undo=undo)
    return plan, text


IPV6_ROUTE = "/proc/net/ipv6_route"
RTF_ADDRCONF = 0x40000  # a route learnt from a router advertisement
_ACCEPT_RA_RE = re.compile(r"^net/ipv6/conf/([^/]+)/accept_ra\Z")


def accept_ra_key(link):
    return "net/ipv6/conf/%s/accept_ra" % link


def ra_default_links(route_file=IPV6_ROUTE):
    """Links whose IPv6 default route the kernel learnt from router advertisements."""
    found = set()
    for line in (read_text(route_file) or "").splitlines():
        fields = line.split()  # dst, dst length, src, src length, gateway, metric, refs, use, flags, link
        if len(fields) == 10 and int(fields[1], 16) == 0 and int(fields[8], 16) & RTF_ADDRCONF:
            found.add(fields[9])
    return sorted(found)


def plan_ra_uplinks(ipv6, current_text, root=PROC_SYS, route_file=IPV6_ROUTE):
    """IPv6 forwarding makes the kernel ignore router advertisements on links with
    accept_ra=1, and drop the default routes learnt from them: a host whose uplink takes its
    default route that way would lose it. -> ({key: value} to set before forwarding goes
    on (accept_ra=2: advertisements taken while forwarding), [keys our drop-in drops],
    [links kept]). IPv6 forwarding on: every link with such a route and accept_ra=1, and
    the links our drop-in already keeps. Off: those links back to 1, their lines gone."""
    ours = [key for key, value in parse_dropin(current_text) if _ACCEPT_RA_RE.match(key) and value == "2"]
    if ipv6 is None:
        return {}, [], [_ACCEPT_RA_RE.match(key).group(1) for key in ours]
    if not ipv6:
        back = dict((key, 1) for key in ours if read_runtime(key, root) == 2)
        return back, ours, []
    keys = list(ours) + [accept_ra_key(link) for link in ra_default_links(route_file)
                         if read_runtime(accept_ra_key(link), root) == 1 and accept_ra_key(link) not in ours]
    return dict((key, 2) for key in keys if read_runtime(key, root) is not None), [], \
        sorted(_ACCEPT_RA_RE.match(key).group(1) for key in keys)


class SysctlExecutor(FileExecutor):
    """Executor for sysctl plans: /proc/sys writes and atomic file writes."""

    def __init__(self, module, root=PROC_SYS):
        super().__init__(module)
        self.root = root

    def sysctl_write(self, key, value):
        """Write one runtime value."""
        with open(proc_path(key, self.root), "w") as handle:
            handle.write("%d\n" % value)


def _note_path(key):
    """The note saying we turned ``key`` on from 0 (per network namespace, under /run)."""
    return os.path.join(_rundir.RUN_DIR, "sysctl-%s-%d.json" % (key, _rundir.netns_inode()))


def ours_to_release(key):
    """(True, the accept_ra keys we set with it) when ``key`` is on because a run of ours
    turned it on from 0 (its note under /run says so: after a reboot, or when the admin had
    it on, it stays)."""
    note = _rundir.read_json(_note_path(key))
    if not isinstance(note, dict) or note.get("before") != 0 or read_runtime(key) != 1:
        return False, []
    return True, [k for k in note.get("accept_ra", []) if _ACCEPT_RA_RE.match(k)]


def plan_note(key, current, desired, ra_keys=()):
    """The note's change: written when ``key`` goes from 0 to 1 (with the accept_ra keys
    set with it), removed when it goes back."""
    plan, path = Plan(), _note_path(key)
    note = _rundir.read_json(path)
    if desired == 1 and current == 0:
        text = json.dumps({"before": 0, "accept_ra": sorted(ra_keys)})
        plan.add("note %s = 0 under /run (back to it when no network of ours needs it)" % key, "file_write",
                 {"path": path, "content": text, "mode": 0o600}, undo=("file_remove", {"path": path}))
    elif desired == 0 and note is not None:
        plan.add("remove the note of %s's earlier value" % key, "file_remove", {"path": path},
                 undo=("file_write", {"path": path, "content": json.dumps(note), "mode": 0o600}))
    return plan


ROUTE_LOCALNET = "net.ipv4.conf.all.route_localnet"


def localnet_note():
    """The note holding route_localnet's value from before we turned it on (per namespace)."""
    return os.path.join(_rundir.RUN_DIR, "route-localnet-%d.json" % _rundir.netns_inode())


def _set_elsewhere(ours):
    """A sysctl.d file other than ``ours`` sets route_localnet (the admin's)."""
    for directory in ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"):
        for path in glob.glob(os.path.join(directory, "*.conf")):
            if path != ours and any(k == ROUTE_LOCALNET for k, _v in parse_dropin(read_text(path))):
                return True
    return any(k == ROUTE_LOCALNET for k, _v in parse_dropin(read_text("/etc/sysctl.conf")))


def plan_route_localnet(needed, boot_file):
    """route_localnet (runtime) as forwards the host itself reaches via 127.0.0.1 need it:
    DNAT of a loopback-sourced packet to a guest needs it routed off the host. On while a
    set of ours has such forwards (the earlier value noted under /run); back to that value
    when none has. Without a note (a reboot, or an earlier release) it was ours when our
    boot-time drop-in ``boot_file`` set it and no other file does: then it goes back to 0."""
    plan = Plan()
    current, note_path = read_runtime(ROUTE_LOCALNET), localnet_note()
    note = _rundir.read_json(note_path)
    if needed:
        if current == 0:
            plan.add("note %s = 0 under /run (restored when no forward needs it)" % ROUTE_LOCALNET, "file_write",
                     {"path": note_path, "content": json.dumps({"before": 0}), "mode": 0o600},
                     undo=("file_remove", {"path": note_path}))
            plan.add("set %s = 1 (runtime)" % ROUTE_LOCALNET, "sysctl_write", {"key": ROUTE_LOCALNET, "value": 1},
                     undo=("sysctl_write", {"key": ROUTE_LOCALNET, "value": 0}))
        return plan
    before = note.get("before") if isinstance(note, dict) else None
    if before is None and os.path.exists(boot_file) and not _set_elsewhere(boot_file):
        before = 0
    if current == 1 and before == 0:
        plan.add("set %s = 0 (runtime: no forward of ours needs it any more)" % ROUTE_LOCALNET, "sysctl_write",
                 {"key": ROUTE_LOCALNET, "value": 0}, undo=("sysctl_write", {"key": ROUTE_LOCALNET, "value": 1}))
    if note is not None:
        plan.add("remove the note of %s's earlier value" % ROUTE_LOCALNET, "file_remove", {"path": note_path},
                 undo=("file_write", {"path": note_path, "content": json.dumps(note), "mode": 0o600}))
    return plan
