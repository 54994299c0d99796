# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent facet of links, private to this collection: the host's own network manager
(ifupdown, systemd-networkd or NetworkManager) carries bridges and TAPs across a reboot, from
files this collection writes and alone removes.

Every file starts with HEADER; a file without it is someone else's and is never written
over or removed. Files are planned as a Plan of file_write/file_remove actions (with their
undo), applied after the runtime change succeeded.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import os
import re
import stat
import tempfile
import uuid

from ansible_collections.hypervisor.networking.plugins.module_utils import _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

HEADER = "# Managed by the hypervisor.networking collection"
RENDERERS = ("auto", "ifupdown", "networkd", "networkmanager")
ANY = "any"  # removal where no manager can be told: our files in either manager's place

RTPROT_DHCP = 16
IFUPDOWN_MAIN = "/etc/network/interfaces"
IFUPDOWN_DIR = "/etc/network/interfaces.d"
IFUPDOWN_BRIDGE_HOOK = "/etc/network/if-pre-up.d/bridge"  # bridge-utils: bridge_ports & co
IFUPDOWN_TAP_HOOK = "/etc/network/if-up.d/hypervisor-networking"
NETWORKD_DIR = "/etc/systemd/network"
# NetworkManager's keyfiles: read by every NetworkManager (the RHEL family's ifcfg-rh plugin
# included), root's alone (mode 0600, or NetworkManager ignores them)
NM = "networkmanager"
NM_DIR = "/etc/NetworkManager/system-connections"
NM_RUN = "/run/NetworkManager"
NM_MODE = 0o600
# profiles' UUIDs are derived from their file names: the same on every run and every host
_NM_UUIDS = uuid.UUID("5b0f3c1e-6a43-4c8e-9d1e-2f6b7c0a9e11")

# names that go into file names and manager syntax: what set names and bridges accept
_PERSIST_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}\Z")
_IFACE_RE = re.compile(r"^\s*iface\s+(\S+)\s")
_SOURCE_RE = re.compile(r"^\s*(source|source-directory)\s+(\S+)")


def header(owner, what):
    """First lines of a file we write: who owns it, what it describes, how it goes away."""
    return ("%s (%s: %s).\n# Its next run rewrites this file; state=absent removes it.\n" % (HEADER, owner, what))


def is_ours(text):
    """A file we wrote (None: no file); a script has its #! line first."""
    return text is not None and any(HEADER in line for line in text.splitlines()[:2])


def read_text(path):
    """File text, or None when it does not exist."""
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


# What our files held when a run last read them, by the file's identity: device, inode,
# size, mtime and ctime (no write leaves the ctime as it was, and no tool can set it back).
# A file whose identity is the recorded one still holds the recorded text, so a run that
# plans that text again need not read it: a thousand TAPs' files are a thousand stats, not
# a thousand reads. Any change by hand changes the identity, and the file is read again.
# Under /run: a cache, gone at a reboot, shared by the network namespaces of one host (an
# entry holds only while the identity does, so another mount namespace's /etc never matches).
FILE_STAMPS = "file-stamps.json"
_stamps = {"known": None, "seen": {}}


def _identity(st):
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _digest(text):
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _known():
    if _stamps["known"] is None:
        known = _rundir.read_json(os.path.join(_rundir.RUN_DIR, FILE_STAMPS))
        _stamps["known"] = known if isinstance(known, dict) else {}
    return _stamps["known"]


def _read_stamped(path):
    """The text of ``path`` (None when it does not exist), noting its identity when nothing
    changed it while it was read."""
    try:
        with open(path) as handle:
            before = _identity(os.fstat(handle.fileno()))
            text = handle.read()
            if _identity(os.fstat(handle.fileno())) == before:
                _stamps["seen"][path] = before + [_digest(text)]
            return text
    except (IOError, OSError):
        return None


def planned_text(path, text):
    """The current text of ``path`` (None: no such file), for a plan that wants ``text`` there:
    not read when the file's identity is the one recorded with that text."""
    if text is not None:
        entry = _known().get(path)
        try:
            if isinstance(entry, list) and len(entry) == 6 and entry[5] == _digest(text) \
                    and entry[:5] == _identity(os.stat(path)):
                return text
        except OSError:
            pass
    return _read_stamped(path)


def remember_files():
    """Record the identities noted this run (files read whole, and files written and read
    back); nothing is written when they are the ones recorded already, and nothing is read
    when the run noted none (a module that plans no files)."""
    seen = _stamps["seen"]
    if not seen:
        return
    known = _known()
    if any(known.get(path) != entry for path, entry in seen.items()):
        known.update(seen)
        for path in [path for path, entry in known.items() if entry is None]:
            del known[path]  # removed this run
        try:
            _rundir.write_json(os.path.join(_rundir.RUN_DIR, FILE_STAMPS), known)
        except (IOError, OSError):
            pass  # a cache: the next run reads the files
    _stamps["seen"] = {}


def persist_name(option, value):
    """An interface name that can go into a file name and the managers' syntax as it is."""
    if not _PERSIST_NAME_RE.match(value or ""):
        raise ValidationError(option, value, "a persisted interface name is 1-15 letters, digits, '-', '_' or '.' "
                                             "(set persist=false to keep other names at runtime only)")
    return value


# ---- which manager ------------------------------------------------------------------

def _systemd_enabled(unit):
    """The unit is enabled (a wants/ symlink under /etc/systemd/system)."""
    return bool(glob.glob("/etc/systemd/system/*.wants/%s" % unit))


def _sourced(line, path):
    """The glob a `source` / `source-directory` line of file ``path`` reads, or None."""
    match = _SOURCE_RE.match(line)
    if not match:
        return None
    where = match.group(2)
    if not os.path.isabs(where):
        where = os.path.join(os.path.dirname(path), where)
    if match.group(1) == "source-directory":
        where = os.path.join(os.path.normpath(where), "*")
    return where


def ifupdown_interfaces(path=IFUPDOWN_MAIN, _seen=None):
    """{iface: file} of the stanzas in /etc/network/interfaces and what it sources."""
    seen = _seen if _seen is not None else set()
    found = {}
    if path in seen:
        return found
    seen.add(path)
    for line in (read_text(path) or "").splitlines():
        match = _IFACE_RE.match(line)
        if match:
            found.setdefault(match.group(1), path)
            continue
        where = _sourced(line, path)
        for sub in sorted(glob.glob(where)) if where else []:
            if os.path.isfile(sub):
                found.update((k, v) for k, v in ifupdown_interfaces(sub, seen).items() if k not in found)
    return found


def nm_runs():
    """NetworkManager runs here (its runtime directory exists) or starts at boot."""
    return os.path.isdir(NM_RUN) or _systemd_enabled("NetworkManager.service")


def detect(requested):
    """'ifupdown', 'networkd' or 'networkmanager' for ``renderer`` (auto: the manager that
    manages this host)."""
    if requested != "auto":
        return requested
    networkd = _systemd_enabled("systemd-networkd.service") or os.path.exists("/run/systemd/netif/state")
    ifupdown = os.path.exists("/sbin/ifup") and os.path.exists(IFUPDOWN_MAIN)
    ifupdown_used = ifupdown and any(i != "lo" and not is_ours(read_text(p))
                                     for i, p in ifupdown_interfaces().items())
    nm = nm_runs()
    if networkd and nm:
        raise StateError("renderer=auto: both NetworkManager and systemd-networkd run here; set renderer to the one "
                         "that should carry the bridge")
    if networkd and not ifupdown_used:
        return "networkd"
    if nm and not ifupdown_used:
        return NM
    if ifupdown and not networkd:
        # Debian's NetworkManager leaves the interfaces ifupdown configures to ifupdown
        return "ifupdown"
    if networkd and ifupdown_used:
        raise StateError("renderer=auto: both ifupdown (%s) and systemd-networkd configure interfaces here; "
                         "set renderer to the one that should carry the bridge" % IFUPDOWN_MAIN)
    raise StateError("renderer=auto: neither ifupdown, systemd-networkd nor NetworkManager manages this host; "
                     "set renderer or persist=false")


IFUPDOWN2_DIR = "/usr/share/ifupdown2"


def is_ifupdown2():
    """True where ifupdown2 (Proxmox VE, Cumulus) provides ifup: the ifupdown renderer's files
    serve it too, and it makes bridges itself (no bridge-utils hook)."""
    return os.path.isdir(IFUPDOWN2_DIR)


def check_renderer(renderer):
    """Refuse a manager that cannot carry our files, before any change."""
    if renderer == "ifupdown":
        if not os.path.exists("/sbin/ifup"):
            raise StateError("renderer=ifupdown: ifupdown is not installed (/sbin/ifup)")
        if not _ifupdown_reads(bridge_paths("ifupdown", "br0")[0]):
            raise StateError("renderer=ifupdown: %s does not read %s (add 'source %s/*')"
                             % (IFUPDOWN_MAIN, IFUPDOWN_DIR, IFUPDOWN_DIR))
        if not is_ifupdown2() and not os.path.exists(IFUPDOWN_BRIDGE_HOOK):
            raise StateError("renderer=ifupdown: bridges need the bridge-utils package (%s is missing)"
                             % IFUPDOWN_BRIDGE_HOOK)
    elif renderer == "networkd" and not os.path.isdir(NETWORKD_DIR):
        raise StateError("renderer=networkd: %s does not exist (is systemd-networkd installed?)" % NETWORKD_DIR)
    elif renderer == NM and not os.path.isdir(NM_DIR):
        raise StateError("renderer=networkmanager: %s does not exist (is NetworkManager installed?)" % NM_DIR)


def _ifupdown_reads(path):
    """/etc/network/interfaces sources a file at ``path`` (source glob or source-directory)."""
    patterns = [_sourced(line, IFUPDOWN_MAIN) for line in (read_text(IFUPDOWN_MAIN) or "").splitlines()]
    return any(fnmatch.fnmatchcase(path, p) for p in patterns if p)


# ---- file names ---------------------------------------------------------------------

def _file_key(name):
    # source-directory reads run-parts names only: letters, digits, '-' and '_'
    return name.replace(".", "_")


# networkd applies the first .network file (by file name, across its directories) that
# matches a link: ours start with "00-" so a host's own file for the NIC ("10-eth0.network",
# "50-cloud-init.network") does not win over the bridge port's. 0.2 named them 10-/20-: those
# are still recognised, and replaced.
NETWORKD_PREFIX = "00-hypervisor-networking-"
NETWORKD_OLD = ("10-hypervisor-networking-", "20-hypervisor-networking-")


def _networkd_base(kind, name, prefix=NETWORKD_PREFIX):
    return os.path.join(NETWORKD_DIR, prefix + {"bridge": "", "port": "port-", "tap": "tap-",
                                                "overlay": "overlay-"}[kind] + name)


def old_networkd_paths(kind, name):
    """The names 0.2 gave our networkd files of ``kind`` ('bridge', 'port', 'tap')."""
    old = NETWORKD_OLD[1] if kind == "tap" else NETWORKD_OLD[0]
    base = _networkd_base(kind, name, old)
    return [base + ".network"] if kind == "port" else [base + ".netdev", base + ".network"]


def _nm_path(kind, name):
    # the kind's word first: a bridge called "port-eth0" and the port eth0 get two names
    return os.path.join(NM_DIR, "hypervisor-networking-%s-%s.nmconnection" % (kind, name))


def nm_id(path):
    """The id of our profile in file ``path``: the file's name without .nmconnection."""
    return os.path.basename(path)[:-len(".nmconnection")]


def nm_uuid(path):
    """The UUID of our profile in file ``path``."""
    return str(uuid.uuid5(_NM_UUIDS, os.path.basename(path)))


def our_bridge_files(renderer):
    """(path, bridge name, text) of each bridge file of ours for ``renderer`` (ifupdown
    stanzas, networkd .network files, NetworkManager profiles)."""
    paths = glob.glob(bridge_paths(renderer, "*")[-1])
    if renderer == "networkd":
        paths += glob.glob(old_networkd_paths("bridge", "*")[-1])
    for path in paths:
        text = read_text(path)
        match = re.search(r"^# bridge (\S+)$", text or "", re.M)
        if match and is_ours(text):
            yield path, match.group(1), text


def bridge_paths(renderer, name):
    """Files describing bridge ``name``."""
    if renderer == NM:
        return [_nm_path("bridge", name)]
    if renderer == "ifupdown":
        return [os.path.join(IFUPDOWN_DIR, "hypervisor-networking-1-" + _file_key(name))]
    base = _networkd_base("bridge", name)
    return [base + ".netdev", base + ".network"]


def port_paths(renderer, name):
    """networkd, NetworkManager: a declared port's own file (ifupdown lists ports in the bridge)."""
    if renderer == NM:
        return [_nm_path("port", name)]
    if renderer == "ifupdown":
        return []
    return [_networkd_base("port", name) + ".network"]


def tap_paths(renderer, name):
    """Files describing TAP ``name``."""
    if renderer == NM:
        return [_nm_path("tap", name)]
    if renderer == "ifupdown":
        return [os.path.join(IFUPDOWN_DIR, "hypervisor-networking-2-" + _file_key(name))]
    base = _networkd_base("tap", name)
    return [base + ".netdev", base + ".network"]


def overlay_paths(renderer, bridge):
    """Files describing the VXLAN port of ``bridge``'s overlay (named by the bridge: a new
    VNI rewrites them)."""
    if renderer == NM:
        return [_nm_path("overlay", bridge)]
    if renderer == "ifupdown":
        # after the bridge's file (1-), so ifupdown brings the bridge up first
        return [os.path.join(IFUPDOWN_DIR, "hypervisor-networking-2-overlay-" + _file_key(bridge))]
    base = _networkd_base("overlay", bridge)
    return [base + ".netdev", base + ".network"]


NM_OVERLAY_HOOK = "/etc/NetworkManager/dispatcher.d/90-hypervisor-networking-overlay"
# Fixed text: the values come from our own keyfiles (addresses checked when they were written).
NM_OVERLAY_HOOK_TEXT = "#!/bin/sh\n" + header("guest_network", "an overlay port's bridge settings at activation") + r"""
[ "$2" = up ] || exit 0
for f in /etc/NetworkManager/system-connections/hypervisor-networking-overlay-*.nmconnection; do
    [ -f "$f" ] || continue
    grep -qx "interface-name=$1" "$f" || continue
    learning=$(sed -n 's/^# port-learning \(on\|off\)$/\1/p' "$f")
    bridge link set dev "$1" neigh_suppress on learning "${learning:-on}"
    for dst in $(sed -n 's/^# flood \([0-9A-Fa-f.:]*\)$/\1/p' "$f"); do
        bridge fdb append 00:00:00:00:00:00 dev "$1" dst "$dst"
    done
done
exit 0
"""


def nm_overlay_hook(bridge, present):
    """The dispatcher script's text while an overlay profile of ours remains (this
    bridge's when ``present``, or another bridge's), else None."""
    mine = overlay_paths(NM, bridge)[0]
    others = [p for p in glob.glob(overlay_paths(NM, "*")[0]) if p != mine and is_ours(read_text(p))]
    return NM_OVERLAY_HOOK_TEXT if present or others else None


def persisted_overlay_port(bridge):
    """The VXLAN port our files persist for ``bridge`` (in any manager's place), or None:
    made at boot by the manager, it is ours although it carries no mark of ours."""
    for renderer in ("ifupdown", "networkd", NM):
        for path in overlay_paths(renderer, bridge):
            text = read_text(path)
            match = re.search(r"^# overlay (\S+)$", text or "", re.M) if is_ours(text) else None
            if match:
                return match.group(1)
    return None


def overlay_files(renderer, port):
    """{path: text} persisting an overlay's VXLAN port view (name, vni, local, port,
    control_plane, mtu, mac, bridge, peers: the flooding list of head-end replication)."""
    name, bridge, evpn = port["name"], port["bridge"], port["control_plane"] == "evpn"
    head = header("guest_network", "overlay %s (VXLAN %d) of bridge %s" % (name, port["vni"], bridge)) + \
        "# overlay %s\n" % name
    if renderer == NM:
        # NetworkManager has no keys for a bridge port's suppression and learning nor for a
        # flooding list: NM_OVERLAY_HOOK applies them from these comment lines at activation
        head += "# port-learning %s\n" % ("off" if evpn else "on")
        head += "".join("# flood %s\n" % dst for dst in port["peers"])
        path = overlay_paths(NM, bridge)[0]
        return {path: _keyfile(head, path, "vxlan", name, [
            ("connection", [("autoconnect", "true"), ("master", bridge), ("slave-type", "bridge")]),
            ("ethernet", [("cloned-mac-address", port["mac"]), ("mtu", str(port["mtu"]))]),
            ("vxlan", [("id", str(port["vni"])), ("local", port["local"]), ("destination-port", str(port["port"])),
                       ("learning", _true(not evpn))])])}
    if renderer == "ifupdown":
        create = ["ip", "link", "add", name, "type", "vxlan", "id", str(port["vni"]), "local", port["local"],
                  "dstport", str(port["port"])] + (["nolearning"] if evpn else [])
        lines = ["auto %s" % name, "iface %s inet manual" % name, "    pre-up %s" % " ".join(create),
                 "    pre-up ip link set dev %s address %s mtu %d alias managed-by=hypervisor.networking"
                 % (name, port["mac"], port["mtu"]),
                 "    up ip link set dev %s master %s" % (name, bridge),
                 "    up bridge link set dev %s neigh_suppress on learning %s" % (name, "off" if evpn else "on")]
        lines += ["    up bridge fdb append 00:00:00:00:00:00 dev %s dst %s" % (name, dst) for dst in port["peers"]]
        lines += ["    up ip link set dev %s up" % name, "    post-down ip link del dev %s" % name]
        return {overlay_paths(renderer, bridge)[0]: head + "\n".join(lines) + "\n"}
    netdev = ["[NetDev]", "Name=%s" % name, "Kind=vxlan", "MACAddress=%s" % port["mac"], "MTUBytes=%d" % port["mtu"],
              "", "[VXLAN]", "VNI=%d" % port["vni"], "Local=%s" % port["local"], "DestinationPort=%d" % port["port"],
              "MacLearning=%s" % _yes(not evpn), "Independent=yes"]
    network = ["[Match]", "Name=%s" % name, "", "[Link]", "RequiredForOnline=no", "", "[Network]",
               "Bridge=%s" % bridge, "ConfigureWithoutCarrier=yes", "LinkLocalAddressing=no", "IPv6AcceptRA=no",
               "", "[Bridge]", "NeighborSuppression=yes", "Learning=%s" % _yes(not evpn)]
    for dst in port["peers"]:
        network += ["", "[BridgeFDB]", "MACAddress=00:00:00:00:00:00", "Destination=%s" % dst]
    netdev_path, network_path = overlay_paths(renderer, bridge)
    return {netdev_path: head + "\n".join(netdev) + "\n", network_path: head + "\n".join(network) + "\n"}


# where systemd-networkd reads .network files; a name in an earlier directory hides the same
# name in later ones
NETWORKD_DIRS = (NETWORKD_DIR, "/run/systemd/network", "/usr/local/lib/systemd/network", "/usr/lib/systemd/network",
                 "/lib/systemd/network")


def _networkd_files(before=None):
    """{file name: path} of the .network files networkd reads (masked ones left out); with
    ``before``, only those whose name sorts before it (read only those: a host with a
    thousand TAP files of ours would otherwise read each of them)."""
    found = {}
    for directory in NETWORKD_DIRS:
        for path in glob.glob(os.path.join(directory, "*.network")):
            if before is None or os.path.basename(path) < before:
                found.setdefault(os.path.basename(path), path)
    return dict((name, path) for name, path in found.items()
                if os.path.realpath(path) != "/dev/null" and (read_text(path) or "").strip())


def _match_section(text):
    """{key: (negated, [patterns])} of a .network file's [Match]: a key's lists add up, an
    empty assignment resets it, a list starting with '!' inverts the test."""
    match, section = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section != "[Match]" or "=" not in line:
            continue
        key, value = [part.strip() for part in line.split("=", 1)]
        if not value:
            match.pop(key, None)
            continue
        negated = value.startswith("!")
        old = match.get(key, (negated, []))
        match[key] = (negated, old[1] + value.lstrip("!").split())
    return match


def _network_matches(text, name, mac):
    """True when a .network file's [Match] may match link ``name`` with MAC ``mac`` (None:
    unknown): conditions other than names and MAC addresses count as met."""
    for key, (negated, patterns) in _match_section(text).items():
        if key in ("Name", "OriginalName"):
            hit = any(fnmatch.fnmatchcase(name, p) for p in patterns)
        elif key in ("MACAddress", "PermanentMACAddress") and mac:
            hit = mac.lower() in [p.lower() for p in patterns]
        else:
            continue
        if hit == negated:
            return False
    return True


def networkd_file_before(path, name, mac=None):
    """The host's .network file that systemd-networkd would apply to link ``name`` instead of
    our ``path`` (it matches and its file name sorts first), or None."""
    ours = os.path.basename(path)
    for _base, found in sorted(_networkd_files(before=ours).items()):
        text = read_text(found) or ""
        if not is_ours(text) and _network_matches(text, name, mac):
            return found
    return None


def our_taps(renderer):
    """{name: file text} of the TAPs we persisted (names from our files' headers)."""
    found = {}
    paths = glob.glob(tap_paths(renderer, "*")[0])
    if renderer == "networkd":
        paths += glob.glob(old_networkd_paths("tap", "*")[0])
    for path in sorted(paths):
        text = read_text(path)
        match = re.search(r"^# tap (\S+)$", text or "", re.M) if is_ours(text) else None
        if match:
            found[match.group(1)] = text
    return found


def our_tap_names(renderer):
    """Names of the TAPs we persisted."""
    return sorted(our_taps(renderer))


# ---- renderers ----------------------------------------------------------------------

def _yes(flag):
    return "yes" if flag else "no"


def _true(flag):
    return "true" if flag else "false"


def _keyfile(head, path, kind, name, sections):
    """A NetworkManager keyfile of ours: its profile named and identified after the file."""
    conn = [("id", nm_id(path)), ("uuid", nm_uuid(path)), ("type", kind),
            ("interface-name", name)]
    lines = []
    for section, pairs in [("connection", conn + sections[0][1])] + list(sections[1:]):
        lines += ([""] if lines else []) + ["[%s]" % section] + ["%s=%s" % pair for pair in pairs]
    return head + "\n".join(lines) + "\n"


def _nm_ip(family, addresses, routes, autoconf=False):
    """[ipv4] or [ipv6] of a bridge profile: its addresses and the routes moved onto it
    (``autoconf``: IPv4 by DHCP, IPv6 by SLAAC)."""
    inet6 = family == "ipv6"
    pairs = []
    for num, addr in enumerate(addresses, 1):
        pairs.append(("address%d" % num, addr))
    num = 0
    for route in routes:
        if (":" in route["dst"]) != inet6 or not route.get("gateway"):
            continue
        if route["dst"] in ("0.0.0.0/0", "::/0"):
            pairs.append(("gateway", route["gateway"]))
            if route.get("metric"):
                pairs.append(("route-metric", str(route["metric"])))
            continue
        num += 1
        pairs.append(("route%d" % num, ",".join([route["dst"], route["gateway"]] +
                                                ([str(route["metric"])] if route.get("metric") else []))))
    if inet6:
        # SLAAC and the link-local address as the kernel makes them (from the MAC), not
        # NetworkManager's stable-privacy default: the NIC's SLAAC address stays the bridge's
        method = "auto" if autoconf else ("manual" if addresses else "ignore")
        return [("method", method)] + ([("addr-gen-mode", "eui64")] if method != "ignore" else []) + pairs
    return [("method", "auto" if autoconf else "manual" if addresses else "disabled")] + pairs


def _nm_bridge(name, head, view, ports, routes, v4, v6):
    """NetworkManager profiles of a bridge and its declared ports."""
    path = bridge_paths(NM, name)[0]
    ethernet = ([("cloned-mac-address", view["mac"])] if view.get("mac") else []) + (
        [("mtu", str(view["mtu_declared"]))] if view.get("mtu_declared") else [])
    bridge = [("stp", _true(view.get("stp")))]
    if (view.get("forward_delay") or 0) >= 2:
        # NetworkManager's range starts at 2 s (a 0 there is its default, 15 s); without
        # STP the delay holds no frame back
        bridge.append(("forward-delay", str(view["forward_delay"])))
    if view.get("vlan_filtering"):
        bridge.append(("vlan-filtering", "true"))
    sections = [("connection", [("autoconnect", "true")])] + ([("ethernet", ethernet)] if ethernet else []) + [
        ("bridge", bridge), ("ipv4", _nm_ip("ipv4", v4, routes, view.get("dhcp"))),
        ("ipv6", _nm_ip("ipv6", v6, routes, view.get("ipv6_autoconf")))]
    files = {path: _keyfile(head, path, "bridge", name, sections)}
    for port in ports:
        port_path = port_paths(NM, port)[0]
        # the highest priority: at boot this profile, not the host's own for the NIC, takes it
        files[port_path] = _keyfile(
            header("linux_bridge", "port %s of bridge %s" % (port, name)) + "# port %s\n" % port, port_path,
            "ethernet", port, [("connection", [("autoconnect", "true"), ("autoconnect-priority", "999"),
                                               ("master", name), ("slave-type", "bridge")])])
    return files


def bridge_files(renderer, view, ports=(), routes=()):
    """{path: text} persisting bridge ``view`` (name, addresses, mac, mtu, stp,
    forward_delay, vlan_filtering), its declared ``ports`` and ``routes`` (each dst, gateway,
    metric: the routes a migration moved onto it)."""
    name = view["name"]
    head = header("linux_bridge", "bridge %s" % name) + "# bridge %s\n" % name
    v4 = [a for a in view.get("addresses", []) if ":" not in a]
    v6 = [a for a in view.get("addresses", []) if ":" in a]
    if renderer == NM:
        return _nm_bridge(name, head, view, ports, routes, v4, v6)
    dhcp = view.get("dhcp")
    if renderer == "ifupdown":
        lines = ["auto %s" % name, "iface %s inet %s" % (name, "dhcp" if dhcp else "static" if v4 else "manual")]
        for port in ports:
            # a port carries no address or route of its own: what an earlier configuration
            # of a migrated NIC left (firmware, DHCP, a hand-made address) goes first
            lines += ["    pre-up ip addr flush dev %s scope global" % port, "    pre-up ip route flush dev %s" % port]
        lines.append("    bridge_ports %s" % (" ".join(ports) or "none"))
        # ifupdown2 (ifreload -a, ifup of the bridge) detaches every port bridge_ports does not
        # list, the guests' TAPs included, unless this keeps them; ifupdown ignores it
        lines.append("    bridge_ports_condone_regex .*")
        lines.append("    bridge_stp %s" % ("on" if view.get("stp") else "off"))
        lines.append("    bridge_fd %d" % (view.get("forward_delay") or 0))
        lines.append("    bridge_maxwait 0")
        if view.get("vlan_filtering"):
            lines.append("    bridge_vlan_aware yes")
        if view.get("mac"):
            lines.append("    bridge_hw %s" % view["mac"])
        if view.get("mtu_declared"):
            lines.append("    mtu %d" % view["mtu_declared"])
        if v4 and not dhcp:
            lines.append("    address %s" % v4[0])
        if v4 or dhcp:
            lines.extend(_ifupdown_routes(routes, inet6=False))
        for extra in (v4 if dhcp else v4[1:]):
            lines.extend(["", "iface %s inet static" % name, "    address %s" % extra])
        for num, addr in enumerate(v6):
            lines.extend(["", "iface %s inet6 static" % name, "    address %s" % addr])
            if num == 0:
                lines.extend(_ifupdown_routes(routes, inet6=True))
        if view.get("ipv6_autoconf"):
            # SLAAC, as the NIC had it (router advertisements accepted, addresses made from them)
            lines.extend(["", "iface %s inet6 auto" % name])
        return {bridge_paths(renderer, name)[0]: head + "\n".join(lines) + "\n"}
    netdev = ["[NetDev]", "Name=%s" % name, "Kind=bridge"]
    if view.get("mac"):
        netdev.append("MACAddress=%s" % view["mac"])
    if view.get("mtu_declared"):
        netdev.append("MTUBytes=%d" % view["mtu_declared"])
    netdev += ["", "[Bridge]", "STP=%s" % _yes(view.get("stp")),
               "ForwardDelaySec=%d" % (view.get("forward_delay") or 0)]
    if view.get("vlan_filtering"):
        netdev.append("VLANFiltering=yes")
    network = ["[Match]", "Name=%s" % name, "", "[Link]", "RequiredForOnline=no", "", "[Network]"]
    network += ["Address=%s" % a for a in view.get("addresses", [])]
    if dhcp:
        network.append("DHCP=yes")
    # a bridge whose ports have no carrier yet (TAPs without a guest) still gets its addresses
    network += ["ConfigureWithoutCarrier=yes", "IgnoreCarrierLoss=yes",
                "IPv6AcceptRA=%s" % _yes(view.get("ipv6_autoconf")), "LinkLocalAddressing=ipv6"]
    identity = view.get("dhcp_identity") if dhcp else None
    if identity:
        # the identity the NIC's client had: the server keeps the lease for the bridge
        network += ["", "[DHCPv4]", "ClientIdentifier=%s" % identity[0]]
        if identity[1] is not None:
            network.append("IAID=%d" % identity[1])
    for route in routes:
        network += ["", "[Route]", "Destination=%s" % route["dst"]]
        if route.get("gateway"):
            network.append("Gateway=%s" % route["gateway"])
        if route.get("metric"):
            network.append("Metric=%d" % route["metric"])
    netdev_path, network_path = bridge_paths(renderer, name)
    files = {netdev_path: head + "\n".join(netdev) + "\n", network_path: head + "\n".join(network) + "\n"}
    for port in ports:
        files[port_paths(renderer, port)[0]] = (
            header("linux_bridge", "port %s of bridge %s" % (port, name)) + "# port %s\n" % port
            + "[Match]\nName=%s\n\n[Link]\nRequiredForOnline=no\n\n[Network]\nBridge=%s\n"
            "ConfigureWithoutCarrier=yes\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n" % (port, name))
    return files


def _ifupdown_routes(routes, inet6):
    lines = []
    for route in routes:
        if (":" in route["dst"]) != inet6 or not route.get("gateway"):
            continue
        metric = " metric %d" % route["metric"] if route.get("metric") else ""
        if route["dst"] in ("0.0.0.0/0", "::/0"):
            lines.append("    gateway %s" % route["gateway"])
        else:
            lines.append("    up ip %sroute replace %s via %s%s dev $IFACE"
                         % ("-6 " if inet6 else "", route["dst"], route["gateway"], metric))
    return lines


def tap_files(renderer, tap):
    """{path: text} persisting one TAP view (name, owner, group, bridge, mac, mtu, up,
    multi_queue, vnet_hdr). Owner and group are written as numeric ids; no owner is root's
    (a TAP with neither is open to every local user)."""
    name = tap["name"]
    owner = tap["owner"] if tap.get("owner") is not None else 0
    head = header("tap_iface", "TAP %s" % name) + "# tap %s\n" % name
    if renderer == NM:
        return {tap_paths(NM, name)[0]: _nm_tap(head, tap, owner)}
    if renderer == "ifupdown":
        # ifupdown has no TAP method: the device is made by ip tuntap in pre-up
        create = ["ip", "tuntap", "add", "dev", name, "mode", "tap"]
        create += ["user", str(owner)]
        if tap.get("group") is not None:
            create += ["group", str(tap["group"])]
        if tap.get("multi_queue"):
            create.append("multi_queue")
        if tap.get("vnet_hdr"):
            create.append("vnet_hdr")
        lines = ["%s %s" % ("auto" if tap.get("up", True) else "allow-hypervisor-networking", name),
                 "iface %s inet manual" % name,
                 "    pre-up %s" % " ".join(create),
                 # udev's MACAddressPolicy would write over a MAC set before it handled the link
                 "    pre-up udevadm wait --timeout=5 /sys/class/net/%s || true" % name,
                 "    pre-up ip link set dev %s address %s" % (name, tap["mac"])]
        if tap.get("mtu"):
            lines.append("    pre-up ip link set dev %s mtu %d" % (name, tap["mtu"]))
        if tap.get("bridge"):
            lines.append("    up ip link set dev %s master %s" % (name, tap["bridge"]))
        lines += ["    up ip link set dev %s up" % name, "    post-down ip link del dev %s" % name]
        if tap.get("bridge"):
            lines.insert(0, "# on bridge %s" % tap["bridge"])
        return {tap_paths(renderer, name)[0]: head + "\n".join(lines) + "\n"}
    # networkd ignores MACAddress= of a TAP's .netdev: the .network's [Link] sets it
    netdev = ["[NetDev]", "Name=%s" % name, "Kind=tap"]
    if tap.get("mtu"):
        netdev.append("MTUBytes=%d" % tap["mtu"])
    netdev += ["", "[Tap]"]
    netdev.append("User=%d" % owner)
    if tap.get("group") is not None:
        netdev.append("Group=%d" % tap["group"])
    netdev += ["MultiQueue=%s" % _yes(tap.get("multi_queue")), "VNetHeader=%s" % _yes(tap.get("vnet_hdr"))]
    # a TAP has no carrier until a guest opens it: configure it (enslave it) regardless
    network = ["[Match]", "Name=%s" % name, "", "[Link]", "MACAddress=%s" % tap["mac"], "RequiredForOnline=no"]
    if not tap.get("up", True):
        network.append("ActivationPolicy=down")
    network += ["", "[Network]", "ConfigureWithoutCarrier=yes", "LinkLocalAddressing=no", "IPv6AcceptRA=no"]
    if tap.get("bridge"):
        network.append("Bridge=%s" % tap["bridge"])
    netdev_path, network_path = tap_paths(renderer, name)
    return {netdev_path: head + "\n".join(netdev) + "\n", network_path: head + "\n".join(network) + "\n"}


def _nm_tap(head, tap, owner):
    """A TAP's NetworkManager profile (NetworkManager makes it at boot, udev done, MAC set)."""
    path = tap_paths(NM, tap["name"])[0]
    conn = [("autoconnect", _true(tap.get("up", True)))]
    if tap.get("bridge"):
        conn += [("master", tap["bridge"]), ("slave-type", "bridge")]
    ethernet = [("cloned-mac-address", tap["mac"])] + ([("mtu", str(tap["mtu"]))] if tap.get("mtu") else [])
    tun = [("mode", "2"), ("owner", str(owner))]
    if tap.get("group") is not None:
        tun.append(("group", str(tap["group"])))
    tun += [("multi-queue", _true(tap.get("multi_queue"))), ("pi", "false"), ("vnet-hdr", _true(tap.get("vnet_hdr")))]
    sections = [("connection", conn), ("ethernet", ethernet), ("tun", tun)]
    if not tap.get("bridge"):
        sections += [("ipv4", [("method", "disabled")]), ("ipv6", [("method", "ignore")])]
    return _keyfile(head, path, "tun", tap["name"], sections)


# ifdown/ifup of a bridge (bridge-utils deletes and re-creates it) releases its TAPs; this
# hook puts the TAPs our files place on that bridge back. Fixed text: no value of ours in it.
TAP_HOOK = "#!/bin/sh\n" + header("tap_iface", "re-enslave persisted TAPs when their bridge comes up") + r"""
[ "$MODE" = start ] || exit 0
for f in /etc/network/interfaces.d/hypervisor-networking-2-*; do
    [ -f "$f" ] || continue
    tap=$(sed -n 's/^# tap \([A-Za-z0-9_.-]*\)$/\1/p' "$f")
    bridge=$(sed -n 's/^# on bridge \([A-Za-z0-9_.-]*\)$/\1/p' "$f")
    if [ -n "$tap" ] && [ "$bridge" = "$IFACE" ] && [ -e "/sys/class/net/$tap" ]; then
        ip link set dev "$tap" master "$bridge" && ip link set dev "$tap" up
    fi
done
exit 0
"""


# ---- IPv6 autoconfiguration (SLAAC) of a NIC that becomes a bridge port ---------------

IF_INET6 = "/proc/net/if_inet6"
IFA_F_PERMANENT = 0x80


def _sysctl_int(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return None


def inet6_addresses(name):
    """[(address in hex, scope, flags, prefix length)] of link ``name`` as /proc/net/if_inet6
    lists them (scope 0: global, 0x20: link; flags: IFA_F_*)."""
    found = []
    for line in (read_text(IF_INET6) or "").splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[5] == name:
            found.append((fields[0], int(fields[3], 16), int(fields[4], 16), int(fields[2], 16)))
    return found


def accepts_ra(nic):
    """True when ``nic`` takes router advertisements (its default route, SLAAC)."""
    return (_sysctl_int("/proc/sys/net/ipv6/conf/%s/accept_ra" % nic) or 0) > 0


def nic_uses_slaac(nic):
    """True when ``nic`` takes IPv6 addresses from router advertisements now: it holds a
    global /64 that expires unless the next advertisement renews it (not permanent), made
    either by the kernel (it accepts advertisements and autoconfigures from them) or by the
    manager's own client (systemd-networkd and NetworkManager take advertisements in user
    space: the kernel's accept_ra is 0 there)."""
    kernel = accepts_ra(nic) and _sysctl_int("/proc/sys/net/ipv6/conf/%s/autoconf" % nic) == 1
    return any(scope == 0 and not flags & IFA_F_PERMANENT and (kernel or length == 64)
               for _a, scope, flags, length in inet6_addresses(nic))


# what our bridge files say when they take IPv6 by SLAAC / IPv4 by DHCP, per manager
_AUTO_MARKS = {"ipv6": {"networkd": "\nIPv6AcceptRA=yes\n", NM: "\n[ipv6]\nmethod=auto\n",
                        "ifupdown": "\niface %s inet6 auto\n"},
               "ipv4": {"networkd": "\nDHCP=yes\n", NM: "\n[ipv4]\nmethod=auto\n", "ifupdown": "\niface %s inet dhcp\n"}}


def _persisted_auto(renderer, bridge, family):
    """Whether our persisted files of ``bridge`` configure ``family`` automatically (None: no
    file of ours yet)."""
    text = read_text(bridge_paths(renderer, bridge)[-1])
    if text is None or not is_ours(text):
        return None
    mark = _AUTO_MARKS[family][renderer]
    return (mark % bridge if "%s" in mark else mark) in text + "\n"


def persisted_autoconf(renderer, bridge):
    """Whether our persisted files of ``bridge`` take SLAAC (None: no file of ours yet)."""
    return _persisted_auto(renderer, bridge, "ipv6")


def persisted_dhcp(renderer, bridge):
    """Whether our persisted files of ``bridge`` take IPv4 by DHCP (None: no file of ours)."""
    return _persisted_auto(renderer, bridge, "ipv4")


def ifupdown_dhcp(nic):
    """ifupdown configures ``nic`` by DHCP (`iface <nic> inet dhcp`): its dhclient makes the
    lease's address permanent, so only the stanza tells a lease from a static address."""
    path = ifupdown_interfaces().get(nic)
    if path is None or not os.path.exists("/sbin/ifup"):
        return False
    return bool(re.search(r"^\s*iface\s+%s\s+inet\s+dhcp\s*$" % re.escape(nic), read_text(path) or "", re.M))


NETWORKD_LEASES = "/run/systemd/netif/leases"


def dhcp_identity(renderer, bridge, nic):
    """networkd: the DHCP client identity the bridge keeps, so that the server sees the NIC's
    client again and keeps its lease: ('mac', None) or ('duid', IAID), read from the NIC's
    networkd lease, else from our file of the bridge; None: networkd's default. (networkd's
    default identifier derives its IAID from the interface's name: the bridge would be a new
    client. ifupdown's dhclient sends no identifier and NetworkManager's internal client the
    MAC by default: the bridge has the NIC's MAC.)"""
    if renderer != "networkd":
        return None
    index = read_text("/sys/class/net/%s/ifindex" % nic)
    lease = read_text(os.path.join(NETWORKD_LEASES, index.strip())) if index else None
    match = re.search(r"^CLIENTID=([0-9a-fA-F]+)$", lease or "", re.M)
    if match:
        client_id = match.group(1).lower()
        if client_id.startswith("01"):
            return ("mac", None)
        if client_id.startswith("ff") and len(client_id) >= 10:
            return ("duid", int(client_id[2:10], 16))
        return None
    text = read_text(bridge_paths(renderer, bridge)[-1]) or ""
    if not is_ours(text):
        return None
    kind = re.search(r"^ClientIdentifier=(mac|duid)$", text, re.M)
    iaid = re.search(r"^IAID=(\d+)$", text, re.M)
    return (kind.group(1), int(iaid.group(1)) if iaid else None) if kind else None


# ---- the host's own ifupdown stanza of a NIC that becomes a bridge port ---------------

# What Proxmox's installer writes: the NIC `inet manual`, the bridge carrying its address. Its
# stanzas go into a note of ours (given back by state=absent), the file keeps a marked block.
NIC_NOTES = "/etc/hypervisor-networking/ifupdown-nics"
_STANZA_RE = re.compile(r"^\s*(iface|auto|allow-\S+|mapping|source|source-directory|rename|no-auto-down|"
                        r"no-scripts|template)(\s|$)")


def _nic_markers(nic):
    return ("# BEGIN hypervisor.networking: %s is a bridge port" % nic, "# END hypervisor.networking: %s" % nic)


def nic_note_path(nic):
    return os.path.join(NIC_NOTES, nic + ".json")


def _nic_block(nic, bridge):
    begin, end = _nic_markers(nic)
    return [begin, "# (of %s, which carries its addresses; its own stanza is kept in %s, and" % (bridge, nic_note_path(nic)),
            "# state=absent of the bridge gives it back)", "iface %s inet manual" % nic, end]


def _split_nic(text, nic):
    """(other lines, our block's index or None, [the NIC's own stanza lines], index of its
    first stanza or None) of an interfaces file."""
    begin, end = _nic_markers(nic)
    out, stanza, block_at, first, inside, ours = [], [], None, None, False, False
    for line in text.splitlines():
        if line == begin:
            ours, block_at = True, len(out)
            continue
        if ours:
            ours = line != end
            continue
        match = _IFACE_RE.match(line)
        if match:
            inside = match.group(1) == nic
        elif _STANZA_RE.match(line):
            inside = False
        if inside:
            first = len(out) if first is None else first
            stanza.append(line)
        else:
            out.append(line)
    return out, block_at, stanza, first


def nic_stanza_want(nic, bridge, present):
    """{path: text} of the host's interfaces file that configures ``nic`` (its stanzas made a
    marked `inet manual` block, or given back) and of our note keeping them; {} when there
    is nothing to do. Refused: the NIC configured again beside our block."""
    note_path = nic_note_path(nic)
    note = read_text(note_path)
    note = json.loads(note) if note else None
    if not present:
        if note is None or note.get("bridge") != bridge:
            return {}
        current = read_text(note["file"])
        out, block_at, stanza, _first = _split_nic(current or "", nic)
        if block_at is None:
            return {note_path: None}  # the admin took our block out: theirs as it is now
        lines = out[:block_at] + note["stanza"].splitlines() + out[block_at:]
        return {note["file"]: "\n".join(lines) + "\n", note_path: None}
    path = ifupdown_interfaces().get(nic)
    if path is None and note is not None:
        path = note["file"]  # only our block left: ifupdown_interfaces finds it there too
    if path is None or is_ours(read_text(path)):
        return {}
    current = read_text(path) or ""
    out, block_at, stanza, first = _split_nic(current, nic)
    if block_at is not None and stanza:
        raise StateError("%s configures %s again beside our block (it is a port of %s): remove that stanza, or "
                         "set persist=false" % (path, nic, bridge))
    if block_at is not None:
        if note is not None and note.get("bridge") != bridge:
            raise StateError("%s is a port of bridge %s by %s; remove that bridge first" % (nic, note["bridge"], path))
        text = "\n".join(out[:block_at] + _nic_block(nic, bridge) + out[block_at:]) + "\n"
        return {path: text} if text != current else {}
    text = "\n".join(out[:first] + _nic_block(nic, bridge) + out[first:]) + "\n"
    saved = json.dumps({"file": path, "nic": nic, "bridge": bridge, "stanza": "\n".join(stanza) + "\n"},
                       indent=1, sort_keys=True) + "\n"
    return {path: text, note_path: saved}


def noted_nics(bridge):
    """NICs whose own stanza we keep as ports of ``bridge``."""
    found = []
    for path in sorted(glob.glob(nic_note_path("*"))):
        try:
            note = json.loads(read_text(path) or "{}")
        except ValueError:
            continue
        if note.get("bridge") == bridge:
            found.append(note.get("nic"))
    return found


def plan_nic_stanza(nic, bridge, present):
    """Plan of the edit nic_stanza_want describes: the host's file is written whole (its
    mode kept), our note beside it; each undone by the text before."""
    plan = Plan()
    for path, text in sorted(nic_stanza_want(nic, bridge, present).items()):
        current = read_text(path)
        if text == current:
            continue
        mode = stat.S_IMODE(os.stat(path).st_mode) if current is not None else 0o644
        if text is None:
            plan.add("remove %s (the note of %s's stanza)" % (path, nic), "file_remove", {"path": path},
                     undo=("file_write", {"path": path, "content": current, "mode": mode}))
            continue
        what = ("note %s's own stanza" % nic) if path.startswith(NIC_NOTES + "/") else (
            "make %s `inet manual` there, as a port of %s" % (nic, bridge) if present else
            "give %s its own stanza back" % nic)
        undo = ("file_remove", {"path": path}) if current is None else (
            "file_write", {"path": path, "content": current, "mode": mode})
        plan.add("%s %s (%s)" % ("write" if current is None else "edit", path, what), "file_write",
                 {"path": path, "content": text, "mode": mode}, undo=undo)
    return plan


# ---- planning files -------------------------------------------------------------------

def plan_files(want, label, modes=None, ours=(), facet="persistent"):
    """{path: text or None (remove)} -> Plan of writes and removals of our files.
    A file that exists without our header is someone else's: refused, before any change
    (files under the directories ``ours`` are ours by their place)."""
    plan = Plan()
    for path in sorted(want):
        text, current = want[path], planned_text(path, want[path])
        if current is not None and not is_ours(current) and not any(path.startswith(d + "/") for d in ours):
            raise StateError("%s exists and was not written by hypervisor.networking; move it away or set "
                             "persist=false" % path)
        if text == current:
            continue
        mode = (modes or {}).get(path, NM_MODE if path.startswith(NM_DIR + "/") else 0o644)
        if text is None:
            plan.add("remove %s (%s: %s)" % (path, facet, label), "file_remove", {"path": path},
                     undo=("file_write", {"path": path, "content": current, "mode": mode}))
        else:
            undo = ("file_remove", {"path": path}) if current is None else (
                "file_write", {"path": path, "content": current, "mode": mode})
            plan.add("%s %s (%s: %s)" % ("write" if current is None else "update", path, facet, label),
                     "file_write", {"path": path, "content": text, "mode": mode}, undo=undo)
    return plan


class FileExecutor(object):
    """Executor for file plans: atomic writes (temp file in the same directory, rename)."""

    def __init__(self, module):
        self.module = module

    def file_write(self, path, content, mode=0o644):
        """Write ``content`` to ``path`` atomically with ``mode``."""
        directory = os.path.dirname(path)
        if directory.startswith(_rundir.RUN_DIR):
            _rundir.ensure(directory)  # a directory under /run another user could have made first
        elif not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755)
        # the temp file in the same directory gets the directory's SELinux context, as a
        # file of ours written there should; rename(2) replaces the old one atomically
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _read_stamped(path)  # read back: its identity now, for the next run's plan

    @staticmethod
    def file_remove(path):
        """Remove a file (or symlink) of ours."""
        if os.path.lexists(path):
            os.unlink(path)
        _stamps["seen"][path] = None

    @staticmethod
    def symlink(path, target):
        """Make ``path`` a symlink to ``target`` (a unit's wants/ link)."""
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), mode=0o755)
        os.symlink(target, path)


def _route_dst(route):
    if route["dst"] != "default":
        return route["dst"]
    return "::/0" if route.get("family") == 10 else "0.0.0.0/0"  # AF_INET6


def _leased_route(route):
    """An IPv4 route a DHCP client made: the default route, or one of proto dhcp."""
    return route.get("family", 2) == 2 and (route["dst"] in ("default", "0.0.0.0/0")
                                            or route.get("proto") == RTPROT_DHCP)


def bridge_want(renderer, name, view, ports, routes):
    """{path: text or None} for bridge ``name``: its files (``view`` None: none), and the
    networkd port files of ours naming this bridge that ``ports`` no longer lists."""
    want = dict((path, None) for path in bridge_paths(renderer, name))
    if renderer in ("networkd", NM):
        old = []
        if renderer == "networkd":
            want.update((path, None) for path in old_networkd_paths("bridge", name))
            old = glob.glob(old_networkd_paths("port", "*")[0])
        for path in glob.glob(port_paths(renderer, "*")[0]) + old:
            text = read_text(path)
            if is_ours(text) and re.search(r"^# Managed by .*: port \S+ of bridge %s\)\.$" % re.escape(name), text, re.M):
                want[path] = None
    if view is not None:
        # a DHCP bridge's client installs the routes of its lease: the default route and
        # what a DHCP client made (proto dhcp) are not written down
        moved = [dict(r, dst=_route_dst(r)) for r in routes
                 if r.get("table") in (None, 254) and not (view.get("dhcp") and _leased_route(r))]
        want.update(bridge_files(renderer, view, ports, moved))
    return want


def tap_want(renderer, taps, gone):
    """{path: text or None} for TAP views ``taps`` (written) and names ``gone`` (removed);
    with ifupdown, the hook that re-enslaves TAPs after an ifdown/ifup of their bridge
    is there exactly while a TAP file of ours names a bridge."""
    want = {}
    for name in list(gone) + ([t["name"] for t in taps] if renderer == "networkd" else []):
        want.update((path, None) for path in tap_paths(renderer, name))
        if renderer == "networkd":
            want.update((path, None) for path in old_networkd_paths("tap", name))
    for tap in taps:
        want.update(tap_files(renderer, tap))
    if renderer == "ifupdown":
        # the listed TAPs usually decide; the files of the others are read only when they do not
        listed = set(gone) | set(t["name"] for t in taps)
        bridged = any(t.get("bridge") for t in taps) or any(
            "\n# on bridge " in text for name, text in our_taps(renderer).items() if name not in listed)
        want[IFUPDOWN_TAP_HOOK] = TAP_HOOK if bridged else None
    return want


def _shown(path):
    """A file's text, a symlink as '-> target', None when absent (for diff)."""
    return "-> " + os.readlink(path) if os.path.islink(path) else read_text(path)


def texts_before(plan):
    """{path: text before} of a file plan (for diff): None where the file did not exist."""
    return dict((a.args["path"], _shown(a.args["path"])) for a in plan)


def texts_after(plan):
    """{path: text after} of a file plan (for diff): None where the file goes."""
    return dict((a.args["path"], "-> " + a.args["target"] if a.op == "symlink" else a.args.get("content"))
                for a in plan)


def _networkd_reload(module):
    """Let a running systemd-networkd read the files we changed (it manages the links it
    matches from then on; what it applies is what the runtime facet already made)."""
    networkctl = module.get_bin_path("networkctl")
    if networkctl is None or not os.path.exists("/run/systemd/netif/state"):
        return
    rc, _out, err = module.run_command([networkctl, "reload"])
    if rc != 0:
        module.warn("networkctl reload failed (%s): systemd-networkd reads the new files at its next start"
                    % err.strip())


_NM_ORDER = ("bridge", "port", "tap", "overlay")


def _nm_changes(plan):
    """[(path, text or None)] of our NetworkManager profiles a file plan writes or removes,
    bridges first (a port's profile activates its bridge's)."""
    found = [(a.args["path"], a.args.get("content")) for a in plan
             if a.op in ("file_write", "file_remove") and a.args["path"].startswith(NM_DIR + "/")]
    return sorted(found, key=lambda change: (_NM_ORDER.index(os.path.basename(change[0]).split("-")[2]), change[0]))


def nm_link(text):
    """The link a profile of ours comes up on (it autoconnects), or None: not ours, or a
    profile left down (a TAP with up=false)."""
    if not is_ours(text) or "\nautoconnect=true\n" not in text:
        return None
    match = re.search(r"^interface-name=(\S+)$", text, re.M)
    return match.group(1) if match else None


def manager_lines(renderer, plan):
    """What tell_manager does after ``plan`` (for the actions list, check mode included)."""
    changes = _nm_changes(plan) if renderer in (NM, ANY) else []
    if not changes:
        return []
    lines = ["NetworkManager: load %s" % ", ".join(os.path.basename(p) for p, _t in changes)]
    for path, text in changes:
        if nm_link(text):
            lines.append("NetworkManager: activate profile %s on %s" % (nm_id(path), nm_link(text)))
    return lines


DHCLIENT_LEASES = "/var/lib/dhcp"
IFUPDOWN_STATE = "/run/network"


def _dhclient_paths(ifname):
    """(pid file, lease file) of ifupdown's dhclient for ``ifname`` (what ifup gives it)."""
    return "/run/dhclient.%s.pid" % ifname, os.path.join(DHCLIENT_LEASES, "dhclient.%s.leases" % ifname)


def _bridge_dhcp_change(plan, bridge):
    """(before, after) of 'our ifupdown file of ``bridge`` takes DHCP' across a file plan."""
    path = bridge_paths("ifupdown", bridge)[0]
    for action in plan:
        if action.args.get("path") == path:
            undo = action.undo[1] if action.undo else {}
            before = undo.get("content") if action.undo and action.undo[0] == "file_write" else None
            marker = "\niface %s inet dhcp\n" % bridge
            return (before is not None and marker in before,
                    action.args.get("content") is not None and marker in action.args["content"])
    return None


def _move_lease(module, source, target):
    """dhclient's lease of ``source`` as ``target``'s (the bridge has the NIC's MAC: the same
    client to the server), so that the client started there asks for the same address."""
    text = read_text(_dhclient_paths(source)[1])
    if text:
        text = text.replace('interface "%s";' % source, 'interface "%s";' % target)
        FileExecutor(module).file_write(_dhclient_paths(target)[1], text, 0o644)


def _dhclient_stop(module, dhclient, ifname):
    """Stop ifupdown's dhclient of ``ifname`` without releasing its lease (-x)."""
    pid_file = _dhclient_paths(ifname)[0]
    if os.path.exists(pid_file):
        rc, _out, err = module.run_command([dhclient, "-4", "-x", "-pf", pid_file, ifname])
        if rc != 0:
            module.warn("dhclient -x of %s failed (%s)" % (ifname, err.strip()))


def ifupdown_dhcp_handover(module, plan, nic, bridge, present):
    """ifupdown has no daemon to tell: when our files make a migrated NIC's bridge take DHCP
    (or give it back), the DHCP client moves here. To the bridge: the NIC's dhclient stops
    without releasing (-x), its lease becomes the bridge's, `ifup <bridge>` starts the
    bridge's client as ifupdown does at boot (it finds the bridge, its port and its address as
    the run made them). Back: the bridge's client stops, the lease becomes the NIC's, and the
    NIC's client starts as ifup starts it."""
    change = _bridge_dhcp_change(plan, bridge)
    dhclient = module.get_bin_path("dhclient")
    if change is None or dhclient is None:
        return
    before, after = change
    if present and after and not before:
        _dhclient_stop(module, dhclient, nic)
        _move_lease(module, nic, bridge)
        ifup = module.get_bin_path("ifup")
        if ifup and not (read_text(os.path.join(IFUPDOWN_STATE, "ifstate.%s" % bridge)) or "").strip():
            rc, _out, err = module.run_command([ifup, bridge])
            if rc != 0:
                module.warn("ifup %s failed (%s): the bridge keeps the lease's address until it expires; its "
                            "DHCP client starts at the next boot" % (bridge, err.strip()))
    elif not present and before:
        _dhclient_stop(module, dhclient, bridge)
        _move_lease(module, bridge, nic)
        pid_file, lease_file = _dhclient_paths(nic)
        rc, _out, err = module.run_command([dhclient, "-4", "-v", "-i", "-pf", pid_file, "-lf", lease_file, nic])
        if rc != 0:
            module.warn("dhclient of %s failed (%s): its DHCP client starts at the next boot" % (nic, err.strip()))


def tell_manager(module, renderer, plan, migration=None):
    """After a file plan was applied: the running manager reads what changed. networkd
    reloads; NetworkManager loads our changed profiles (a removed file's profile goes) and
    activates the written ones, so that it manages our links as persisted. An activation
    finds the links as the run made them: it re-applies the same addresses and ports.
    ``migration``: (NIC, bridge, present) of a physical bridge, whose DHCP client ifupdown
    cannot move itself."""
    if renderer == "networkd":
        _networkd_reload(module)
        return
    if renderer == "ifupdown" and migration and migration[0]:
        ifupdown_dhcp_handover(module, plan, *migration)
        return
    changes = _nm_changes(plan) if renderer in (NM, ANY) else []
    nmcli = module.get_bin_path("nmcli")
    if not changes or nmcli is None or not os.path.isdir(NM_RUN):
        return  # NetworkManager reads them at its next start
    rc, _out, err = module.run_command([nmcli, "connection", "load"] + [p for p, _t in changes])
    if rc != 0:
        module.warn("nmcli connection load failed (%s): NetworkManager reads our profiles at its next start"
                    % err.strip())
        return
    for path, text in changes:
        if not nm_link(text):
            continue
        # NetworkManager may have activated it already (a port, when its bridge came up; a
        # profile it autoconnected on load): `up` again would detach and re-attach the link
        rc, out, _err = module.run_command([nmcli, "-g", "GENERAL.STATE", "connection", "show", "uuid", nm_uuid(path)])
        if rc == 0 and out.strip() in ("activated", "activating"):
            continue
        rc, _out, err = module.run_command([nmcli, "--wait", "30", "connection", "up", "uuid", nm_uuid(path)])
        if rc != 0:
            module.warn("NetworkManager did not activate %s (%s): the links run as this run made them, and "
                        "come up from the profile at the next boot" % (path, err.strip()))
