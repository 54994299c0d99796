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
import hashlib
import json
import os
import sys

from ansible_collections.hypervisor.networking.plugins.module_utils import _persist
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import (
    HypervisorNetworkingError,
    StateError,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _xtables
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._iptables import IptablesBackend
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import IPV4, KINDS
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._nft import TABLE, NftBackend
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import Plan

ETC_DIR = "/etc/hypervisor-networking"
STORE_DIR = os.path.join(ETC_DIR, "firewall.d")
NFT_FILE = os.path.join(ETC_DIR, "nftables.json")
UNIT_NAME = "hypervisor-networking-firewall.service"
UNIT_FILE = os.path.join("/etc/systemd/system", UNIT_NAME)
WANTS_LINK = os.path.join("/etc/systemd/system/sysinit.target.wants", UNIT_NAME)
# what the boot files were rendered from (the store, the tools, the rendering code) and the
# digest of each file rendered: a run whose records are stored already skips the rendering
# while every file is as rendered (a file edited by hand is rendered again)
STAMP_FILE = os.path.join(ETC_DIR, "boot-files.digest")
RENDER_CODE = ("_boot", "_nft", "_iptables", "_xtables", "_model")
RENDER_TOOLS = ("nft", "iptables-legacy", "iptables-legacy-restore", "ip6tables-legacy", "ip6tables-legacy-restore",
                "iptables-nft", "iptables-nft-restore", "ip6tables-nft", "ip6tables-nft-restore")
SYSCTL_FILE = "/etc/sysctl.d/90-hypervisor-networking-route-localnet.conf"
ROUTE_LOCALNET = "net.ipv4.conf.all.route_localnet"


def store_path(rset):
    """The record of a rule set."""
    return os.path.join(STORE_DIR, rset.record_name)


def record_text(rset, backend):
    """A set's desired state as stored (sorted keys: equal states give equal text)."""
    record = {"managed_by": "hypervisor.networking", "kind": rset.kind, "name": rset.name,
              "backend": (rset.own_backend or backend) if rset.in_backend else None,
              "model": rset.data(), "hairpin_subnets": [list(pair) for pair in rset.hairpin]}
    if rset.family not in (IPV4, None) and len(rset.families) > 1:
        record["family"] = rset.family  # IPv4 records as 0.2 wrote them
    return json.dumps(record, indent=1, sort_keys=True) + "\n"


def load_record(text):
    """(RuleSet, backend) of a stored record, validated like module input."""
    record = json.loads(text)
    cls = KINDS[record["kind"]]
    family = record.get("family", IPV4) if len(cls.families) > 1 else cls.families[0]
    rset = cls.load(record["name"], record["model"], family, [tuple(pair) for pair in record["hairpin_subnets"]])
    return rset, record["backend"]


def read_store(overrides):
    """{set key: (RuleSet, backend)} of every stored set, with ``overrides`` ({RuleSet:
    record text or None}) applied: the store as it is once this run's records are written."""
    records = {}
    for path in sorted(glob.glob(os.path.join(STORE_DIR, "*.json"))):
        text = _persist.read_text(path)
        try:
            rset, backend = load_record(text)
        except (ValueError, KeyError, TypeError, HypervisorNetworkingError) as exc:
            raise StateError("%s is not a rule set record this collection can read (%s); remove it, "
                             "or run its module again" % (path, getattr(exc, "msg", exc)))
        records[rset.key] = (rset, backend)
    for rset, text in overrides.items():
        records.pop(rset.key, None)
        if text is not None:
            records[rset.key] = load_record(text)
    return records


def stored_names():
    """The names of the sets in the store (unreadable records skipped)."""
    names = set()
    for path in glob.glob(os.path.join(STORE_DIR, "*.json")):
        try:
            names.add(load_record(_persist.read_text(path))[0].name)
        except (ValueError, KeyError, TypeError, HypervisorNetworkingError):
            continue
    return sorted(names)


def prune():
    """Remove our directories once the last set left them empty."""
    for directory in (STORE_DIR, _persist.NIC_NOTES, ETC_DIR):
        try:
            os.rmdir(directory)
        except OSError:
            continue  # not empty, or gone already


def _restore_texts(store, nft_usable, legacy_alternative):
    """{command: (start text, stop text)} for *-restore --noflush of our chains: the
    iptables backend's sets in iptables-legacy and ip6tables-legacy, and every set's FORWARD
    accepts in the world the host's ``iptables`` command writes (where Docker and libvirt
    set their drops; IPv4), and where our own legacy chains make a filter table exist."""
    own = [(rset, IptablesBackend.boot_load([rset]) if backend == "iptables" else {}) for rset, backend in store]
    legacy_filter = set(command for _r, chains in own for command, chain_edits in chains.items()
                        if any(e.table == "filter" for e in chain_edits))
    edits = {}
    for rset, chains in own:
        for command, chain_edits in sorted(chains.items()):
            edits.setdefault(command, []).extend(chain_edits)
        rules = rset.accept_rules()
        inside = IptablesBackend.own_accepts(rset) if chains else None
        for stem in rset.stems if rules else ():
            # the world the host's iptables command writes is made for our accepts (Docker and
            # libvirt set their drops there later), IPv4's only, as at runtime
            # (_xtables.forward_worlds); and a legacy filter table our own chains make
            worlds = {stem + ("-legacy" if legacy_alternative else "-nft")} if stem == "iptables" else set()
            worlds |= {stem + "-legacy"} & legacy_filter
            for world in sorted(worlds - {inside}):
                if world.endswith("-nft") and not nft_usable:
                    continue
                edits.setdefault(world, []).append(_xtables.ChainEdit("filter", rset.xt_chain("fwd"), "FORWARD", rules))
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
    store = [records[key] for key in sorted(records, key=lambda k: (k[0], k[1] or "", k[2]))]
    exec_start, exec_stop = [], []
    nft_bin = get_bin_path("nft")
    commands, families = NftBackend.boot_load([rset for rset, backend in store if backend == "nftables"])
    if commands is not None:
        want[NFT_FILE] = json.dumps(commands, indent=1, sort_keys=True) + "\n"
        exec_start.append([nft_bin or "/usr/sbin/nft", "-j", "-f", NFT_FILE])
        exec_stop.extend([nft_bin or "/usr/sbin/nft", "delete", "table", family, TABLE] for family in families)
    texts = _restore_texts(store, nft_bin is not None, legacy_alternative)
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
    if any(rset.localhost for rset, _backend in store):
        want[SYSCTL_FILE] = ("# " + _persist.HEADER[2:] + " (iptables_dnat: localhost forwards).\n"
                             "%s = 1\n" % ROUTE_LOCALNET)
    if exec_start:
        want[UNIT_FILE] = _unit_text(exec_start, exec_stop)
    return want


def _digest(text):
    return None if text is None else hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def render_inputs(get_bin_path, records=None):
    """The digest of everything the boot files are rendered from: every stored record (with
    ``records``, {RuleSet: text or None}, as they are once written), the tools' paths, the
    iptables alternative, and the rendering code itself."""
    texts = dict((path, _persist.read_text(path)) for path in glob.glob(os.path.join(STORE_DIR, "*.json")))
    texts.update((store_path(rset), text) for rset, text in (records or {}).items())
    h = hashlib.sha256()
    for path in sorted(p for p, text in texts.items() if text is not None):
        h.update(("%s\0%s\0" % (path, texts[path])).encode("utf-8", "surrogateescape"))
    h.update(json.dumps([get_bin_path(t) for t in RENDER_TOOLS] + [_xtables.alternative_is_legacy()]).encode())
    for name in RENDER_CODE:
        module = sys.modules["ansible_collections.hypervisor.networking.plugins.module_utils._firewall." + name]
        source = module.__loader__.get_source(module.__name__)
        h.update((source or "").encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _rendered_as_stamped(inputs):
    """The boot files are what the stamp says was rendered from ``inputs``."""
    try:
        stamp = json.loads(_persist.read_text(STAMP_FILE) or "null")
        return stamp["inputs"] == inputs and all(_digest(_persist.read_text(path)) == digest
                                                 for path, digest in stamp["files"].items())
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def plan(records, get_bin_path):
    """The Plan of file changes making the store hold the sets' records ({RuleSet: record
    text or None: removed}) and the boot files (and the unit's wants/ link) match the
    whole store, rendered once. When the records are stored already and the boot files are
    still what the stamp says was rendered from the same inputs, nothing is read or
    rendered again."""
    same = all(_persist.read_text(store_path(rset)) == record for rset, record in records.items())
    if same and _rendered_as_stamped(render_inputs(get_bin_path)):
        want = {}
        unit = _persist.read_text(UNIT_FILE)
    else:
        store = read_store(records)
        want = render(store, get_bin_path, _xtables.alternative_is_legacy())
        unit = want[UNIT_FILE]
        rendered = dict((path, _digest(text)) for path, text in want.items())
        for rset, record in records.items():
            want[store_path(rset)] = record
        if unit is None:
            want[STAMP_FILE] = None
        else:
            # the inputs once this run's records are written
            inputs = render_inputs(get_bin_path, records)
            want[STAMP_FILE] = json.dumps({"inputs": inputs, "files": rendered}, indent=1, sort_keys=True) + "\n"
    files = _persist.plan_files(want, "firewall boot load", ours=(ETC_DIR,))
    link = os.path.islink(WANTS_LINK)
    if unit is not None and not link:
        files.add("enable %s (persistent: firewall boot load)" % UNIT_NAME, "symlink",
                  {"path": WANTS_LINK, "target": UNIT_FILE}, undo=("file_remove", {"path": WANTS_LINK}))
    elif unit is None and link and os.readlink(WANTS_LINK) == UNIT_FILE:
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
