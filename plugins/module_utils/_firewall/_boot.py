# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent facet of the firewall sets, private to this collection.

What persists is the desired state each module run hands the backend: one JSON record per
rule set under STORE_DIR. From all records, the files our boot unit loads are rendered by
the same code the backends plan with (an empty table as the starting point): one nftables
JSON transaction that replaces our table only, and one iptables-restore --noflush input per
iptables world for our chains. Nothing flushes a ruleset, nothing touches another table or
chain. The unit runs after the distribution's firewall services (nftables.service starts
with 'flush ruleset') and before network-pre.target, so our sets are there before bridges,
guests, Docker or libvirt come up; rules match interfaces by name, so a bridge made later
is matched all the same.
"""

from __future__ import annotations

import glob
import json
import os

from ansible_collections.hypervisor.networking.plugins.module_utils import _brfw, _persist
from ansible_collections.hypervisor.networking.plugins.module_utils import _validate as v
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import (
    HypervisorNetworkingError,
    StateError,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _iptables, _nft, _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import ForwardSet, Masquerade
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

ETC_DIR = "/etc/hypervisor-networking"
STORE_DIR = os.path.join(ETC_DIR, "firewall.d")
NFT_FILE = os.path.join(ETC_DIR, "nftables.json")
UNIT_NAME = "hypervisor-networking-firewall.service"
UNIT_FILE = os.path.join("/etc/systemd/system", UNIT_NAME)
WANTS_LINK = os.path.join("/etc/systemd/system/sysinit.target.wants", UNIT_NAME)
SYSCTL_FILE = "/etc/sysctl.d/90-hypervisor-networking-route-localnet.conf"
ROUTE_LOCALNET = "net.ipv4.conf.all.route_localnet"


def store_path(kind, name):
    """The record of rule set ``kind``/``name``."""
    return os.path.join(STORE_DIR, "%s-%s.json" % (kind, name))


def record_text(kind, name, backend, model, hairpin):
    """A set's desired state as stored (sorted keys: equal states give equal text)."""
    if kind == "bridge":
        data = {"name": name}  # HN-FB-<bridge>: frames bridged within it
    elif kind == "masq":
        data = model.as_dict()
    else:
        data = {"name": model.name, "forwards": [f.as_dict() for f in model.forwards], "hairpin": model.hairpin,
                "localhost": model.localhost, "forward": model.forward}
    record = {"managed_by": "hypervisor.networking", "kind": kind, "name": name, "backend": backend,
              "model": data, "hairpin_subnets": [list(pair) for pair in hairpin]}
    return json.dumps(record, indent=1, sort_keys=True) + "\n"


def load_record(text):
    """(kind, name, backend, model, hairpin) of a stored record, validated like module input."""
    record = json.loads(text)
    kind, data = record["kind"], record["model"]
    if kind == "bridge":
        model = v.ifname("name", data["name"])
    else:
        if kind == "dnat":
            # the normalised form says "any source" as []: what a user must spell by leaving it out
            data = dict(data, forwards=[dict((k, val) for k, val in f.items() if not (k == "sources" and val == []))
                                        for f in data["forwards"]])
        model = Masquerade.from_params(data) if kind == "masq" else ForwardSet.from_params(data)
    return kind, record["name"], record["backend"], model, [tuple(pair) for pair in record["hairpin_subnets"]]


def read_store(overrides):
    """{(kind, name): record tuple} of every stored set, with ``overrides`` ({(kind, name):
    text or None}) applied: the store as it is once this run's records are written."""
    records = {}
    for path in sorted(glob.glob(os.path.join(STORE_DIR, "*.json"))):
        text = _persist.read_text(path)
        try:
            record = load_record(text)
        except (ValueError, KeyError, TypeError, HypervisorNetworkingError) as exc:
            raise StateError("%s is not a rule set record this collection can read (%s); remove it, "
                             "or run its module again" % (path, getattr(exc, "msg", exc)))
        records[record[:2]] = record
    for key, text in overrides.items():
        records.pop(key, None)
        if text is not None:
            records[key] = load_record(text)
    return records


def prune():
    """Remove our directories once the last set left them empty."""
    for directory in (STORE_DIR, _persist.NIC_NOTES, ETC_DIR):
        try:
            os.rmdir(directory)
        except OSError:
            continue  # not empty, or gone already


def _nft_commands(records):
    """One transaction replacing our table with the stored nftables sets (None: no set)."""
    table = {"table": {"family": _nft.FAMILY, "name": _nft.TABLE}}
    cmds = []
    # in the order of the sets' chain names, as the runs place their jumps (_nft._jump_command)
    for kind, name, _backend, model, hairpin in sorted(records, key=lambda r: "%s_%s_" % r[:2]):
        if kind == "bridge":
            continue
        want = _nft.NftBackend.desired(kind, name, model, hairpin)
        set_cmds, _lines = _nft._plan_table(_nft.Current([]), "%s_%s_" % (kind, name), want)
        cmds.extend(c for c in set_cmds if c != {"add": table})
    if not cmds:
        return None
    # add + delete: the table goes whether or not it exists, in the same transaction
    return {"nftables": [{"add": table}, {"delete": table}, {"add": table}] + cmds}


def _restore_texts(records, nft_usable, legacy_alternative):
    """{command: (start text, stop text)} for iptables-restore --noflush of our chains:
    the iptables backend's sets in iptables-legacy, and every set's FORWARD accepts in the
    world the host's ``iptables`` command writes (where Docker and libvirt set their drops)."""
    accepts_world = "iptables-legacy" if legacy_alternative else "iptables-nft"
    legacy_filter = any(r[2] == "iptables" and _iptables.render(r[0], r[3], r[4]).get("fwd") for r in records)
    edits = {}
    for kind, name, backend, model, hairpin in records:
        if kind == "bridge":
            # linux_bridge's accepts for the bridged frames: where Docker's drop will be, and
            # in iptables-legacy's FORWARD where our own sets make that table exist
            for world in sorted({accepts_world} | ({"iptables-legacy"} if legacy_filter else set())):
                if world == "iptables-nft" and not nft_usable:
                    continue
                edits.setdefault(world, []).append(
                    _xtables.ChainEdit("filter", _brfw.chain_name(name), "FORWARD", _brfw.accept_rules(name)))
            continue
        chains = _iptables.render(kind, model, hairpin)
        if backend == "iptables":
            for suffix, (table, builtin) in sorted(_iptables.HOOKS.items()):
                if chains.get(suffix):
                    edits.setdefault("iptables-legacy", []).append(
                        _xtables.ChainEdit(table, _iptables.chain_name(kind, name, suffix), builtin, chains[suffix]))
            if accepts_world == "iptables-legacy" or not nft_usable:
                continue
        if chains.get("fwd"):
            edits.setdefault(accepts_world, []).append(
                _xtables.ChainEdit("filter", _iptables.chain_name(kind, name, "fwd"), "FORWARD", chains["fwd"]))
    texts = {}
    for command, chain_edits in edits.items():
        start, stop = {"nat": [], "filter": []}, {"nat": [], "filter": []}
        for edit in chain_edits:
            _lines, ops = edit.plan(None)
            start[edit.table].extend(ops)
            jump = " ".join(_xtables.JUMP + ["-j", edit.chain])
            stop[edit.table].extend(["-D %s %s" % (edit.builtin, jump), "-F " + edit.chain, "-X " + edit.chain])
        texts[command] = (_xtables.payload([(t, start[t]) for t in ("nat", "filter")]),
                          _xtables.payload([(t, stop[t]) for t in ("filter", "nat")]))
    return texts


def _unit_text(exec_start, exec_stop):
    lines = [
        "# " + _persist.HEADER[2:] + " (firewall: boot-time load of its own rule sets).",
        "# Rendered from %s/*.json on every change; removed with the last set." % STORE_DIR,
        "[Unit]",
        "Description=hypervisor.networking firewall rule sets (its own table and chains only)",
        "DefaultDependencies=no",
        "Wants=network-pre.target",
        # after whatever loads (and may flush) a whole ruleset; before any interface comes up
        "After=local-fs.target systemd-modules-load.service nftables.service netfilter-persistent.service "
        "firewalld.service",
        "Before=network-pre.target shutdown.target docker.service libvirtd.service",
        "Conflicts=shutdown.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
    ]
    lines += ["ExecStart=%s" % " ".join(argv) for argv in exec_start]
    lines += ["ExecStop=-%s" % " ".join(argv).lstrip("-") for argv in exec_stop]
    lines += ["", "[Install]", "WantedBy=sysinit.target", ""]
    return "\n".join(lines)


def render(records, get_bin_path, legacy_alternative):
    """{path: text or None} of every boot file, for the stored ``records``."""
    paths = [NFT_FILE, UNIT_FILE, SYSCTL_FILE] + glob.glob(os.path.join(ETC_DIR, "*.rules"))
    want = dict((path, None) for path in paths)
    records = [records[key] for key in sorted(records)]
    exec_start, exec_stop = [], []
    nft_bin = get_bin_path("nft")
    commands = _nft_commands([r for r in records if r[2] == "nftables"])
    if commands is not None:
        want[NFT_FILE] = json.dumps(commands, indent=1, sort_keys=True) + "\n"
        exec_start.append([nft_bin or "/usr/sbin/nft", "-j", "-f", NFT_FILE])
        exec_stop.append([nft_bin or "/usr/sbin/nft", "delete", "table", _nft.FAMILY, _nft.TABLE])
    texts = _restore_texts(records, nft_bin is not None, legacy_alternative)
    for command in sorted(texts):
        start, stop = texts[command]
        restore = get_bin_path(command + "-restore") or "/usr/sbin/%s-restore" % command
        for suffix, text in (("rules", start), ("stop.rules", stop)):
            path = os.path.join(ETC_DIR, "%s.%s" % (command, suffix))
            want[path] = text
        if any("-j %s" % _xtables.USER_CHAIN in line for line in start.splitlines()):
            # the admin's chain, made where it is missing (ignored where it exists): declared
            # in the restore file it would be flushed, and netfilter-persistent may have
            # loaded the admin's rules into it; at stop it goes only while empty
            binary = get_bin_path(command) or "/usr/sbin/%s" % command
            exec_start.append(["-" + binary, "-w", "-N", _xtables.USER_CHAIN])
            exec_stop.insert(0, ["-" + binary, "-w", "-X", _xtables.USER_CHAIN])
        exec_start.append([restore, "--noflush", "--wait=10", os.path.join(ETC_DIR, command + ".rules")])
        exec_stop.insert(0, [restore, "--noflush", "--wait=10", os.path.join(ETC_DIR, command + ".stop.rules")])
    if any(kind == "dnat" and model.localhost for kind, _n, _b, model, _h in records):
        want[SYSCTL_FILE] = ("# " + _persist.HEADER[2:] + " (iptables_dnat: localhost forwards).\n"
                             "%s = 1\n" % ROUTE_LOCALNET)
    if exec_start:
        want[UNIT_FILE] = _unit_text(exec_start, exec_stop)
    return want


def plan(kind, name, record, get_bin_path):
    """The Plan of file changes making the store hold ``record`` for the set (None:
    removed) and the boot files (and the unit's wants/ link) match the whole store."""
    return plan_many({(kind, name): record}, get_bin_path)


def plan_many(records, get_bin_path):
    """plan() for several sets at once ({(kind, name): record text or None}): the boot
    files rendered once."""
    store = read_store(records)
    want = render(store, get_bin_path, _xtables.alternative_is_legacy())
    for (kind, name), record in records.items():
        want[store_path(kind, name)] = record
    files = _persist.plan_files(want, "firewall boot load", ours=(ETC_DIR,))
    link = os.path.islink(WANTS_LINK)
    if want[UNIT_FILE] is not None and not link:
        files.add("enable %s (persistent: firewall boot load)" % UNIT_NAME, "symlink",
                  {"path": WANTS_LINK, "target": UNIT_FILE}, undo=("file_remove", {"path": WANTS_LINK}))
    elif want[UNIT_FILE] is None and link and os.readlink(WANTS_LINK) == UNIT_FILE:
        files.actions.insert(0, Plan().add("disable %s (persistent: firewall boot load)" % UNIT_NAME, "file_remove",
                                           {"path": WANTS_LINK}, undo=("symlink", {"path": WANTS_LINK,
                                                                                   "target": UNIT_FILE})))
    return files


def daemon_reload(module, files, unit_file=UNIT_FILE):
    """Tell a running systemd that our unit (``unit_file``) changed."""
    if not any(a.args["path"] == unit_file for a in files) or not os.path.isdir("/run/systemd/system"):
        return
    systemctl = module.get_bin_path("systemctl")
    if systemctl is not None:
        rc, _out, err = module.run_command([systemctl, "daemon-reload"])
        if rc != 0:
            module.warn("systemctl daemon-reload failed: %s" % err.strip())
