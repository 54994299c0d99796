# -*- coding: utf-8 -*-
"""The firewall's boot-time load, without a reboot: the files rendered from the stored
desired state are loaded into a fresh namespace the way our unit loads them (nft -j -f,
iptables-restore --noflush); traffic flows, and the modules, run afterwards with the same
options, find nothing to change (the boot load and the runtime are the same rules). A
second load (a unit restart, after its stop) leaves the same state, and the stop files
remove every rule of ours and nothing else. The reboot itself: molecule/reboot."""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest

MASQ = {"name": "lan", "source": "192.168.100.0/24", "out_interface": "up0"}
DNAT = {"name": "web", "forwards": [{"port": 8080, "to_addr": "192.168.100.2", "to_port": 80, "in_interface": "up0"},
                                    {"proto": "udp", "port": 5353, "to_addr": "192.168.100.3"}]}


@pytest.fixture
def boot(collections_path):
    """The _boot module of the collection under test."""
    sys.path.insert(0, collections_path)
    try:
        from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot
        yield _boot
    finally:
        sys.path.remove(collections_path)


MASQ6 = dict(MASQ, source="fd00:100::/64")
DNAT6 = {"name": "web", "forwards": DNAT["forwards"] + [{"port": 8080, "to_addr": "fd00:100::2", "to_port": 80}]}


def rendered(boot, backend, legacy_alternative=False, ipv6=False):
    """{path: text} of the boot files for MASQ and DNAT (``ipv6``: MASQ6 and DNAT6) stored
    under ``backend``."""
    from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
        BridgeSet,
        ForwardSet,
        Masquerade,
        forward_sets,
        masquerade_sets,
    )
    masq = Masquerade.from_params(dict(MASQ6 if ipv6 else MASQ, exclude_destinations=[], forward=True))
    dnat = ForwardSet.from_params(dict(DNAT6 if ipv6 else DNAT, hairpin=True, localhost=False, forward=True))
    hairpin = [("192.168.100.0/24", "br0"), ("fd00:100::/64", "br0")]
    # linux_bridge's accepts for the frames bridged within br0 (nf_call_iptables: false)
    sets = masquerade_sets("lan", masq) + forward_sets(dnat, hairpin) + [BridgeSet("br0", True)]
    records = dict((r.key, boot.load_record(boot.record_text(r, backend))) for r in sets if r)
    return boot.render(records, shutil.which, legacy_alternative)


def unit_commands(text, key):
    """(failure ignored, argv) of the rendered unit's ExecStart= / ExecStop= lines."""
    return [(line.split("=", 1)[1].startswith("-"), line.split("=", 1)[1].lstrip("-").split())
            for line in text.splitlines() if line.startswith(key + "=")]


def load(ns, files, tmp_path, key):
    """Run the unit's ExecStart (key) or ExecStop commands in ``ns``, files from tmp_path,
    as systemd does ('-': the command's failure is ignored)."""
    for ignored, argv in unit_commands(files["/etc/systemd/system/hypervisor-networking-firewall.service"], key):
        argv = [os.path.join(str(tmp_path), os.path.basename(a)) if a.startswith("/etc/hypervisor-networking/")
                else a for a in argv]
        proc = ns.run(*argv, check=False)
        assert ignored or proc.returncode == 0, proc.stderr


def tables(lab):
    """{(table, chain or set): its lines} of hv's nft ruleset, counters blanked (the
    listing order of chains follows their creation), and the legacy save."""
    nft, legacy = lab.ruleset()
    blocks, table, block = {}, None, None
    for line in re.sub(r"counter packets \d+ bytes \d+", "counter", nft).splitlines():
        if line.startswith("table "):
            table, block = line, None
        elif line.startswith("\t") and not line.startswith("\t\t") and line.strip() != "}":
            block = line.strip()
        blocks.setdefault((table, block), []).append(line)
    return blocks, legacy


def write(files, tmp_path):
    for path, text in files.items():
        if text is not None and path.startswith("/etc/hypervisor-networking/"):
            (tmp_path / os.path.basename(path)).write_text(text)


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "dual-stack"])
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_boot_load_equals_the_runtime_and_restarts_cleanly(nat_lab6, boot, tmp_path, backend, ipv6):
    lab = nat_lab6
    files = rendered(boot, backend, ipv6=ipv6)
    write(files, tmp_path)
    lab.serve(lab.wan, "tcp", 8000)
    lab.serve(lab.g1, "tcp", 80)
    load(lab.hv, files, tmp_path, "ExecStart")
    # the guests reach the internet through the masquerade, the internet the published port
    if ipv6:
        assert lab.connect(lab.g1, "tcp", "2001:db8:1::2", 8000) == "peer=2001:db8:1::1"
        assert lab.connect(lab.wan, "tcp", "2001:db8:1::1", 8080) == "peer=2001:db8:1::2"
    else:
        assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8000) == "peer=203.0.113.1"
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
    # the modules with the same options: nothing to change
    for module, args in (("masquerade", dict(MASQ6 if ipv6 else MASQ, backend=backend)),
                         ("iptables_dnat", dict(DNAT6 if ipv6 else DNAT, backend=backend)),
                         ("linux_bridge", {"name": "br0", "nf_call_iptables": False})):
        res = lab.hv.module(module, args)
        assert res["rc"] == 0 and res["changed"] is False, res
    loaded = tables(lab)
    # a restart: stop, start; the same rules again, no duplicates
    load(lab.hv, files, tmp_path, "ExecStop")
    nft, legacy = lab.ruleset()
    assert "hypervisor" not in nft + legacy and "HN-" not in nft + legacy, (nft, legacy)
    load(lab.hv, files, tmp_path, "ExecStart")
    assert tables(lab) == loaded


def test_nft_load_replaces_our_table_only(nat_lab, boot, tmp_path):
    """Loaded over a drifted table of ours (a start without a stop), the file replaces it
    whole; a table of someone else's stays as it was."""
    lab = nat_lab
    files = rendered(boot, "nftables")
    write(files, tmp_path)
    lab.hv.run("nft", "add table inet theirs; add chain inet theirs c { type filter hook forward priority 5; }; "
                      "add rule inet theirs c ip saddr 198.51.100.1 drop")  # no counter: it would move
    lab.hv.run("nft", "add table ip hypervisor_networking; add chain ip hypervisor_networking stale")
    theirs = lab.hv.run("nft", "list", "table", "inet", "theirs").stdout
    load(lab.hv, files, tmp_path, "ExecStart")
    ours = lab.hv.run("nft", "list", "table", "ip", "hypervisor_networking").stdout
    assert "stale" not in ours and "masq_lan_post" in ours
    assert lab.hv.run("nft", "list", "table", "inet", "theirs").stdout == theirs


def test_render_follows_the_store(boot):
    """No set stored: no unit, no files (the last removal takes them)."""
    files = boot.render({}, shutil.which, False)
    assert files and all(text is None for text in files.values())


def our_chains(lab):
    """{chain or map line: its lines} of our nft table (the table's closing brace, which
    follows whichever block was made last, left out)."""
    blocks, _legacy = tables(lab)
    return dict((block, [line for line in lines if line.startswith("\t")]) for (table, block), lines in blocks.items()
                if table == "table ip hypervisor_networking {" and block)


def jump_targets(lines):
    return [line.split("jump ")[1].split()[0] for line in lines if "jump " in line]


def test_runtime_jump_order_is_the_boot_order(nat_lab, boot, tmp_path):
    """Sets made in any order leave their base chains' jumps in the order the boot load
    recreates them (by the sets' chain names): the masquerade made first, the published
    ports after it, and the loaded table is the runtime one, chain by chain, rule by rule."""
    lab = nat_lab
    for module, args in (("masquerade", dict(MASQ, backend="nftables")),
                         ("iptables_dnat", dict(DNAT, backend="nftables"))):
        res = lab.hv.module(module, args)
        assert res["rc"] == 0 and res["changed"] is True, res
    runtime = our_chains(lab)
    forward = jump_targets(runtime["chain forward {"])
    assert forward == ["dnat_web_fwd", "masq_lan_fwd"], runtime["chain forward {"]  # made the other way round
    lab.hv.run("nft", "delete table ip hypervisor_networking")
    files = rendered(boot, "nftables")
    write(files, tmp_path)
    load(lab.hv, files, tmp_path, "ExecStart")
    assert our_chains(lab) == runtime
