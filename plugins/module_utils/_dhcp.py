# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DHCP and DNS for a NAT network's guests, private to this collection: one dnsmasq per
bridge, ours, as libvirt runs one per network.

Its configuration is split so that a change of the fixed leases is a reload, not a
restart: the main file (interface, range, lease time, domain, DNS on or off) is read at
start only; the fixed leases (``dhcp-hostsfile``) and the guests' names (``addn-hosts``)
are read again on SIGHUP. A restart keeps the leases too: dnsmasq reads its lease file
when it starts.

dnsmasq binds the bridge's addresses only (``bind-dynamic``, ``except-interface=lo``), so
it coexists with libvirt's instances, a distribution-wide dnsmasq that binds its own
addresses, and systemd-resolved. It reads no file but ours (``--conf-file``: not
/etc/dnsmasq.conf, not /etc/dnsmasq.d, not /etc/hosts) and forwards what it does not
know to the resolvers of the host's /etc/resolv.conf.

Where it runs: with ``persist``, the configuration is under ETC_DIR and a systemd
template unit starts one instance per bridge at boot; where systemd is PID 1 of this
network namespace, the run starts and reloads it through systemd too. Without
``persist`` (or without systemd here: a container, a test's namespace), the run starts
dnsmasq itself with the same command line, and without ``persist`` the configuration
and leases live under /run (gone at reboot, as the runtime links are).
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import signal
import time

from ansible_collections.hypervisor.networking.plugins.module_utils import _persist, _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import (
    ApplyError,
    DependencyError,
    ValidationError,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

SPEC = dict(
    range=dict(type="str"),
    range6=dict(type="str"),
    lease_time=dict(type="str", default="1h"),
    hosts=dict(type="list", elements="dict", default=[], options=dict(
        mac=dict(type="str", required=True),
        address=dict(type="str", required=True),
        address6=dict(type="str"),
        name=dict(type="str"),
    )),
    dns=dict(type="bool", default=True),
    domain=dict(type="str"),
)

ETC_DIR = "/etc/hypervisor-networking/dnsmasq"
RUN_DIR = "/run/hypervisor-networking/dnsmasq"
LEASE_DIR = "/var/lib/hypervisor-networking/dnsmasq"
UNIT_TEMPLATE = "hypervisor-networking-dnsmasq@.service"
UNIT_FILE = os.path.join("/etc/systemd/system", UNIT_TEMPLATE)
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
MIN_LEASE = 120  # dnsmasq's floor, in seconds
_LEASE_RE = re.compile(r"^(infinite|([0-9]+)([smhdw]?))\Z")
_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def unit(bridge):
    """The systemd instance of ``bridge``'s dnsmasq."""
    return "hypervisor-networking-dnsmasq@%s.service" % bridge


def paths(bridge, persist):
    """{role: path} of the files of ``bridge``'s dnsmasq (with ``persist``: under /etc)."""
    conf_dir = ETC_DIR if persist else RUN_DIR
    return {"conf": os.path.join(conf_dir, "%s.conf" % bridge),
            "hosts": os.path.join(conf_dir, "%s.hosts" % bridge),
            "names": os.path.join(conf_dir, "%s.names" % bridge),
            "leases": os.path.join(LEASE_DIR if persist else RUN_DIR, "%s.leases" % bridge),
            "pid": os.path.join(RUN_DIR, "%s.pid" % bridge),
            "wants": os.path.join(WANTS_DIR, unit(bridge))}


# ---- what is wanted ---------------------------------------------------------------------

# what dnsmasq's router advertisements say per ipv6_ra: the dhcp-range mode (with DNS:
# ra-names, the SLAAC guests' names from their DHCPv4 leases answer AAAA too)
RA_RANGE = {"slaac": ("ra-only", "ra-names"), "stateless": ("ra-stateless", "ra-stateless,ra-names")}
RA_ONLY = {"range": None, "range6": None, "lease_time": "1h", "hosts": [], "dns": False, "domain": None}


class Dhcp(object):
    """The ``dhcp`` option, checked against the bridge's gateway addresses; ``ra``: the
    router advertisements of the bridge's IPv6 subnets (``ipv6_ra``; none without one).
    Router advertisements alone (no ``dhcp``): ``Dhcp(RA_ONLY, ...)``."""

    def __init__(self, value, addresses, ra="none"):
        self.lease_time = _lease_time(value["lease_time"])
        self.dns = bool(value["dns"])
        self.domain = _domain(value["domain"]) if value.get("domain") else None
        interfaces = [ipaddress.ip_interface(a) for a in addresses]
        gateways = [g for g in interfaces if g.version == 4]
        gateways6 = [g for g in interfaces if g.version == 6 and not g.ip.is_link_local]
        self.ra = ra if gateways6 else "none"
        self.mtu = None  # the guests' MTU when the network says it (an overlay's, option 26)
        self.overlay = False  # a network across hypervisors: renewals of other hosts' leases not refused
        self.subnets6 = sorted(set(g.network for g in gateways6), key=str) if self.ra != "none" else []
        self.range = _range(value["range"], gateways) if value.get("range") else None
        self.range6 = _range(value["range6"], gateways6, "dhcp.range6", 6) if value.get("range6") else None
        self.hosts = _hosts(value["hosts"] or [], gateways, gateways6)
        six = [("dhcp.range6", value.get("range6"))] + [("dhcp.hosts[%d].address6" % i, h["address6"])
                                                        for i, h in enumerate(self.hosts) if h["address6"]]
        six = [(option, given) for option, given in six if given]
        if six and self.ra != "stateful":
            raise ValidationError(six[0][0], six[0][1], "DHCPv6 addresses are handed out with ipv6_ra=stateful "
                                  "only (and an IPv6 gateway address)")
        if self.ra == "stateful" and not six:
            raise ValidationError("ipv6_ra", "stateful", "hands out DHCPv6 addresses: give dhcp.range6 or "
                                  "dhcp.hosts[].address6")
        if self.range is None and not self.hosts and not self.dns and self.ra == "none":
            raise ValidationError("dhcp", value, "no range, no hosts and dns=false leave nothing to serve; "
                                                 "leave dhcp out")
        # one dhcp-range per subnet served: the dynamic one, and a static one for every
        # other subnet holding fixed addresses
        self.subnets = []
        if self.range:
            self.subnets.append(self.range[2])
        for host in self.hosts:
            net = _subnet_of(ipaddress.ip_address(host["address"]), gateways).network
            if net not in self.subnets:
                self.subnets.append(net)

    def as_dict(self):
        """The normalised option, as returned."""
        return {"range": "%s-%s" % self.range[:2] if self.range else None, "lease_time": self.lease_time,
                "hosts": [dict(h) for h in self.hosts], "dns": self.dns, "domain": self.domain,
                "range6": "%s-%s" % self.range6[:2] if self.range6 else None, "ipv6_ra": self.ra}


def _lease_time(value):
    text = str(value).lower()
    match = _LEASE_RE.match(text)
    if not match:
        raise ValidationError("dhcp.lease_time", value, "a number with an optional unit s, m, h, d or w "
                                                        "(45m, 1h, 3600) or 'infinite'")
    if match.group(2) is not None and int(match.group(2)) * _SECONDS[match.group(3)] < MIN_LEASE:
        raise ValidationError("dhcp.lease_time", value, "dnsmasq's shortest lease is 2m (120 s)")
    return text


def _domain(value):
    text = str(value).lower().rstrip(".")
    labels = text.split(".")
    if not text or len(text) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise ValidationError("dhcp.domain", value, "a DNS domain: labels of letters, digits and '-' "
                                                    "joined by '.', like lab.example")
    return text


def _subnet_of(address, gateways):
    """The gateway interface whose subnet holds ``address`` (None: none)."""
    for gateway in gateways:
        if address in gateway.network:
            return gateway
    return None


def _usable(option, value, address, gateways):
    """``address`` checked as a guest's address of one of the bridge's subnets."""
    gateway = _subnet_of(address, gateways)
    if gateway is None:
        raise ValidationError(option, value, "outside the bridge's subnet%s %s" % (
            "s" if len(gateways) > 1 else "", ", ".join(g.network.with_prefixlen for g in gateways)))
    net = gateway.network
    if net.prefixlen < 31 and address in (net.network_address, net.broadcast_address):
        raise ValidationError(option, value, "the network or broadcast address of %s" % net.with_prefixlen)
    if address == gateway.ip:
        raise ValidationError(option, value, "the gateway's own address")
    return gateway


_RANGE_EXAMPLE = {4: "192.168.100.100-192.168.100.199", 6: "fd00:100::100-fd00:100::1ff"}


def _range(value, gateways, option="dhcp.range", version=4):
    """(first, last, network) of a range 'A-B'."""
    parts = str(value).replace(" ", "").split("-")
    try:
        if len(parts) != 2:
            raise ValueError("not two addresses")
        first, last = ipaddress.ip_address(parts[0]), ipaddress.ip_address(parts[1])
        if first.version != version or last.version != version:
            raise ValueError("another family")
    except ValueError:
        raise ValidationError(option, value, "two IPv%d addresses joined by '-', like %s" % (
            version, _RANGE_EXAMPLE[version]))
    if first > last:
        raise ValidationError(option, value, "the first address comes after the last")
    gateway = _usable(option, value, first, gateways)
    if _usable(option, value, last, gateways) is not gateway:
        raise ValidationError(option, value, "its ends are in different subnets")
    if first <= gateway.ip <= last:
        raise ValidationError(option, value, "holds the gateway's own address %s" % gateway.ip)
    return str(first), str(last), gateway.network


def _hosts(items, gateways, gateways6=()):
    hosts, seen = [], {"mac": {}, "address": {}, "address6": {}, "name": {}}
    for pos, item in enumerate(items):
        option = "dhcp.hosts[%d]" % pos
        mac = v.mac(option + ".mac", item["mac"])
        try:
            address = ipaddress.IPv4Address(str(item["address"]).strip())
        except ValueError:
            raise ValidationError(option + ".address", item["address"], "an IPv4 address")
        _usable(option + ".address", item["address"], address, gateways)
        address6 = None
        if item.get("address6"):
            try:
                address6 = ipaddress.IPv6Address(str(item["address6"]).strip())
            except ValueError:
                raise ValidationError(option + ".address6", item["address6"], "an IPv6 address")
            _usable(option + ".address6", item["address6"], address6, gateways6)
        name = item.get("name")
        if name is not None:
            name = str(name).lower()
            if not _LABEL_RE.match(name):
                raise ValidationError(option + ".name", item["name"], "a host name: 1-63 letters, digits and "
                                                                      "'-', not starting or ending with '-'")
        host = {"mac": mac, "address": str(address), "address6": str(address6) if address6 else None, "name": name}
        for key in ("mac", "address", "address6", "name"):
            if host[key] is not None and host[key] in seen[key]:
                raise ValidationError("%s.%s" % (option, key), item[key], "also given by dhcp.hosts[%d]"
                                      % seen[key][host[key]])
            seen[key][host[key]] = pos
        hosts.append(host)
    return hosts


# ---- the files ----------------------------------------------------------------------------

def render(bridge, want, persist):
    """{path: text} of ``bridge``'s configuration for ``want`` (a Dhcp)."""
    where = paths(bridge, persist)
    head = _persist.header("guest_network", "DHCP and DNS for the guests on %s" % bridge)
    conf = [
        "interface=%s" % bridge,
        "except-interface=lo",
        "bind-dynamic",
        "pid-file=%s" % where["pid"],
        "dhcp-leasefile=%s" % where["leases"],
        "dhcp-hostsfile=%s" % where["hosts"],
        "addn-hosts=%s" % where["names"],
        # the host's /etc/hosts names the host, not its guests
        "no-hosts",
        "domain-needed",
    ]
    if want.domain:
        conf += ["domain=%s" % want.domain, "local=/%s/" % want.domain]
    if not want.dns:
        conf.append("port=0")  # DHCP only; clients are then told of no DNS server
    if want.subnets:
        if not want.overlay:
            conf.append("dhcp-authoritative")  # the only DHCP server on this bridge
        # (an overlay's: a guest that moved here renews a lease another hypervisor gave, not
        # refused with a NAK; its fixed lease, the same everywhere, is served here)
        if want.mtu:
            conf.append("dhcp-option=option:mtu,%d" % want.mtu)
        for net in want.subnets:
            if want.range and net == want.range[2]:
                conf.append("dhcp-range=%s,%s,%s,%s" % (want.range[0], want.range[1], net.netmask, want.lease_time))
            else:
                conf.append("dhcp-range=%s,static,%s,%s" % (net.network_address, net.netmask, want.lease_time))
        # every address of the subnets served (not the number of fixed leases: adding one
        # stays a reload)
        conf.append("dhcp-lease-max=%d" % sum(max(net.num_addresses - 2, 1) for net in want.subnets))
    if want.subnets6:
        # router advertisements carrying the bridge's MTU (read from it: a change follows),
        # every 60 s, the router good for 30 min; with DNS, the gateway as resolver (RDNSS)
        conf += ["enable-ra", "ra-param=%s,mtu:%s,60,1800" % (bridge, bridge)]
        for net in want.subnets6:
            if want.ra == "stateful":
                if want.range6 and net == want.range6[2]:
                    conf.append("dhcp-range=%s,%s,%d,%s" % (want.range6[0], want.range6[1], net.prefixlen,
                                                            want.lease_time))
                else:
                    conf.append("dhcp-range=%s,static,%d,%s" % (net.network_address, net.prefixlen, want.lease_time))
            else:
                conf.append("dhcp-range=%s,%s,%d,%s" % (net.network_address, RA_RANGE[want.ra][want.dns],
                                                        net.prefixlen, want.lease_time))
    hosts = ["%s,%s%s%s,%s" % (h["mac"], h["address"], ",[%s]" % h["address6"] if h["address6"] else "",
                               "," + h["name"] if h["name"] else "", want.lease_time) for h in want.hosts]
    names = []
    for h in want.hosts:
        if h["name"]:
            for address in [h["address"]] + ([h["address6"]] if h["address6"] else []):
                names.append(" ".join([address] + (["%s.%s" % (h["name"], want.domain)] if want.domain else [])
                                      + [h["name"]]))
    return {where["conf"]: head + "\n".join(conf) + "\n",
            where["hosts"]: head + "".join(line + "\n" for line in hosts),
            where["names"]: head + "".join(line + "\n" for line in names)}


def unit_text(dnsmasq):
    """The template unit: one instance per bridge, its configuration named by the instance."""
    conf = os.path.join(ETC_DIR, "%i.conf")
    return "\n".join([
        "# " + _persist.HEADER[2:] + " (guest_network: DHCP and DNS for the guests on a bridge).",
        "# Removed with the last bridge that has DHCP or DNS.",
        "[Unit]",
        "Description=hypervisor.networking DHCP and DNS for the guests on %i",
        "Documentation=man:dnsmasq(8)",
        "After=network.target hypervisor-networking-firewall.service",
        "",
        "[Service]",
        "Type=forking",
        "PIDFile=%s" % os.path.join(RUN_DIR, "%i.pid"),
        "RuntimeDirectory=hypervisor-networking/dnsmasq",
        "RuntimeDirectoryPreserve=yes",
        "StateDirectory=hypervisor-networking/dnsmasq",
        "ExecStartPre=%s --test --conf-file=%s" % (dnsmasq, conf),
        "ExecStart=%s --conf-file=%s" % (dnsmasq, conf),
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


# ---- what runs --------------------------------------------------------------------------

def systemd_here():
    """systemd is PID 1 and this process shares its network namespace (a unit's dnsmasq
    would bind this namespace's bridge)."""
    if not os.path.isdir("/run/systemd/system"):
        return False
    try:
        return os.stat("/proc/1/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


def running(bridge):
    """(pid, configuration path) of our dnsmasq for ``bridge`` in this network namespace,
    or None: the pid file's process, if it is a dnsmasq reading one of our files here."""
    try:
        with open(paths(bridge, False)["pid"]) as handle:
            pid = int(handle.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().decode("utf-8", "replace").split("\0")
        same_ns = os.stat("/proc/%d/ns/net" % pid).st_ino == os.stat("/proc/self/ns/net").st_ino
    except (OSError, ValueError):
        return None
    confs = [a.split("=", 1)[1] for a in argv if a.startswith("--conf-file=")]
    ours = [paths(bridge, p)["conf"] for p in (True, False)]
    if not same_ns or not argv or os.path.basename(argv[0]) != "dnsmasq" or not confs or confs[0] not in ours:
        return None
    return pid, confs[0]


def serves_dns(bridge):
    """Our dnsmasq of ``bridge`` runs here and answers DNS (the guests' resolver is then the
    bridge's gateway address)."""
    found = running(bridge)
    text = _persist.read_text(found[1]) if found else None
    return text is not None and "port=0" not in text.splitlines()


class DnsmasqExecutor(object):
    """Starts, reloads and stops our dnsmasq of a bridge: through systemd where it is PID 1
    here, else directly (the same command line; dnsmasq reports a failed start by its
    exit status once it has bound its sockets)."""

    def __init__(self, module):
        self.module = module

    def _systemctl(self, *args):
        systemctl = self.module.get_bin_path("systemctl", required=True)
        rc, _out, err = self.module.run_command([systemctl] + list(args))
        if rc != 0:
            raise ApplyError("systemctl %s failed: %s" % (" ".join(args), err.strip()))

    def dnsmasq_start(self, bridge, conf, systemd, units=False):
        """Start ``bridge``'s dnsmasq reading ``conf`` (``units``: the template unit was just
        written: systemd reads it first)."""
        _rundir.ensure(RUN_DIR)
        for directory in (os.path.dirname(conf), LEASE_DIR if conf.startswith(ETC_DIR) else RUN_DIR):
            os.makedirs(directory, mode=0o755, exist_ok=True)
        if systemd:
            if units:
                self._systemctl("daemon-reload")
            self._systemctl("start", unit(bridge))
            return
        dnsmasq = self.module.get_bin_path("dnsmasq", required=True)
        rc, _out, err = self.module.run_command([dnsmasq, "--conf-file=%s" % conf])
        if rc != 0:
            raise ApplyError("dnsmasq for %s did not start (exit %d): %s" % (bridge, rc, err.strip()))

    def dnsmasq_stop(self, bridge, systemd):
        """Stop ``bridge``'s dnsmasq (and wait until it is gone)."""
        if systemd:
            self._systemctl("stop", unit(bridge))
        found = running(bridge)
        if found is None:
            return
        os.kill(found[0], signal.SIGTERM)
        deadline = time.time() + 10
        while os.path.exists("/proc/%d" % found[0]) and time.time() < deadline:
            time.sleep(0.02)
        if os.path.exists("/proc/%d" % found[0]):
            raise ApplyError("dnsmasq for %s (pid %d) did not stop within 10 s" % (bridge, found[0]))
        _persist.FileExecutor.file_remove(paths(bridge, False)["pid"])

    def dnsmasq_reload(self, bridge, systemd):
        """SIGHUP: dnsmasq reads its fixed leases and names again (and keeps every lease)."""
        if systemd:
            self._systemctl("reload", unit(bridge))
            return
        found = running(bridge)
        if found is None:
            raise ApplyError("dnsmasq for %s is not running" % bridge)
        os.kill(found[0], signal.SIGHUP)

    def dnsmasq_restart(self, bridge, conf, systemd, units=False):
        """Stop, then start with ``conf`` (leases kept: they are read from the lease file)."""
        self.dnsmasq_stop(bridge, systemd)
        self.dnsmasq_start(bridge, conf, systemd, units)

    @staticmethod
    def dnsmasq_keep(bridge):
        """Nothing: the marker whose undo puts the previous instance back after the files."""
        return bridge

    def dnsmasq_restore(self, bridge, conf, systemd, pid, restart):
        """The undo of a change whose files are back: the previous files read again - by a
        restart if the process ``pid`` was restarted, else by a reload (a SIGHUP that comes
        before or after the change's own one reads the same files)."""
        found = running(bridge)
        if not restart:
            self.dnsmasq_reload(bridge, systemd)
        elif found is None or found[0] != pid:
            self.dnsmasq_restart(bridge, conf, systemd)


def prune():
    """Remove our directories that the last bridge's removal left empty."""
    for directory in (ETC_DIR, os.path.dirname(ETC_DIR), LEASE_DIR, os.path.dirname(LEASE_DIR), RUN_DIR):
        try:
            os.rmdir(directory)
        except OSError:
            continue  # not empty (or someone else's files), or gone already


def finish(module, applied):
    """After an applied plan: our directories pruned, and systemd told of a template unit
    written or removed that no start of this plan has told it of."""
    prune()
    if not any(a.args.get("units") for a in applied):
        _boot.daemon_reload(module, [a for a in applied if "path" in a.args], UNIT_FILE)


def _unit_active(module, bridge):
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return False
    rc, _out, _err = module.run_command([systemctl, "is-active", "--quiet", unit(bridge)])
    return rc == 0


# ---- the plan ---------------------------------------------------------------------------

def plan(module, bridge, want, persist):
    """-> (Plan, its file actions, before, after): ``bridge``'s dnsmasq made to serve ``want``
    (a Dhcp; None: none). The order keeps every failure undoable: a stop comes before the files go, a
    start, restart or reload after they are written; a marker before the files restores
    the previous instance once their undo has put the previous files back."""
    systemd = systemd_here()
    found = running(bridge)
    managed = bool(found) and systemd and _unit_active(module, bridge)
    files = {}
    for keep in (True, False):
        where = paths(bridge, keep)
        for role in ("conf", "hosts", "names", "leases"):
            files[where[role]] = None
    wants_path = paths(bridge, True)["wants"]
    want_files = {}
    if want is not None:
        want_files = render(bridge, want, persist)
        files.update(want_files)
        files.pop(paths(bridge, persist)["leases"])  # dnsmasq's own: kept while it serves
    others = [p for p in glob.glob(os.path.join(ETC_DIR, "*.conf")) if p != paths(bridge, True)["conf"]]
    dnsmasq = module.get_bin_path("dnsmasq") if want is not None else None
    if want is not None and dnsmasq is None:
        raise DependencyError("dhcp needs dnsmasq (Debian: package dnsmasq-base, the binary alone; "
                              "RHEL family: dnsmasq)", "dnsmasq")
    if want is not None and persist:
        files[UNIT_FILE] = unit_text(dnsmasq)
    elif not others:
        files[UNIT_FILE] = None
    conf = paths(bridge, persist)["conf"] if want is not None else None
    file_plan = Plan()
    for facet, prefix in (("persistent", "/etc/"), ("runtime", RUN_DIR + "/"), ("leases", LEASE_DIR + "/")):
        file_plan.extend(_persist.plan_files(dict((p, t) for p, t in files.items() if p.startswith(prefix)),
                                             "DHCP and DNS of %s" % bridge, ours=(ETC_DIR, RUN_DIR, LEASE_DIR),
                                             facet=facet))
    link = os.path.islink(wants_path)
    if want is not None and persist and not link:
        file_plan.add("enable %s (persistent: DHCP and DNS of %s)" % (unit(bridge), bridge), "symlink",
                      {"path": wants_path, "target": UNIT_FILE}, undo=("file_remove", {"path": wants_path}))
    elif not (want is not None and persist) and link:
        file_plan.actions.insert(0, Plan().add("disable %s (persistent: DHCP and DNS of %s)" % (unit(bridge), bridge),
                                               "file_remove", {"path": wants_path},
                                               undo=("symlink", {"path": wants_path, "target": UNIT_FILE})))
    use_systemd = systemd and persist
    result = Plan()
    changed = set(a.args["path"] for a in file_plan)
    was = found is not None
    if found and (want is None or found[1] != conf or managed != use_systemd):
        # stopped before its files go (or before another way of running it starts)
        result.add("stop dnsmasq of %s" % bridge, "dnsmasq_stop", {"bridge": bridge, "systemd": managed},
                   undo=("dnsmasq_start", {"bridge": bridge, "conf": found[1], "systemd": managed}))
        found = None
    elif found and changed & set(want_files):
        restart = conf in changed
        result.add("keep dnsmasq of %s until its files are written" % bridge, "dnsmasq_keep", {"bridge": bridge},
                   undo=("dnsmasq_restore", {"bridge": bridge, "conf": conf, "systemd": managed, "pid": found[0],
                                             "restart": restart}))
    result.extend(file_plan)
    if want is not None and not found:
        result.add("start dnsmasq of %s (DHCP and DNS)" % bridge, "dnsmasq_start",
                   {"bridge": bridge, "conf": conf, "systemd": use_systemd,
                    "units": use_systemd and UNIT_FILE in changed},
                   undo=("dnsmasq_stop", {"bridge": bridge, "systemd": use_systemd}))
    elif want is not None and changed & set(want_files):
        if conf in changed:
            result.add("restart dnsmasq of %s (its configuration changed; leases are kept)" % bridge,
                       "dnsmasq_restart", {"bridge": bridge, "conf": conf, "systemd": managed,
                                           "units": managed and UNIT_FILE in changed})
        else:
            result.add("reload dnsmasq of %s (fixed leases and names changed)" % bridge, "dnsmasq_reload",
                       {"bridge": bridge, "systemd": managed})
    before = {"running": was}
    after = {"running": want is not None}
    if want is not None:
        after.update(want.as_dict())
    return result, file_plan, before, after
