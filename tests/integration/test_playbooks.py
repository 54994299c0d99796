# -*- coding: utf-8 -*-
"""The README's and the role READMEs' examples, run as they are written through
ansible-playbook in a namespace (an /etc overlay takes the persisted files), and what a
user sees of them: a --check --diff that reads like a patch, a second run that changes
nothing, traffic through the published port; the guest_networks role's purge.
Examples that need several hosts or a real NIC are syntax-checked here (molecule/fabric
and the migration tests run those setups)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import SANDBOX

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def examples(path):
    """The yaml blocks of a Markdown file, in order."""
    with open(os.path.join(ROOT, path)) as handle:
        return re.findall(r"^```yaml\n(.*?)^```", handle.read(), re.S | re.M)


def as_play(block):
    """A block of tasks as a play on the `hypervisors` group; a play stays as it is."""
    data = yaml.safe_load(block)
    if isinstance(data, list) and data and "hosts" in data[0]:
        return block
    return "- hosts: hypervisors\n  gather_facts: false\n  tasks:\n" + "".join(
        "    " + line + "\n" if line else "\n" for line in block.splitlines())


class Host(object):
    """ansible-playbook inside the lab's hv namespace with /etc in an overlay (``etc``): a
    host on systemd-networkd where the user libvirt-qemu of the examples exists."""

    def __init__(self, lab, tmp_path, collections):
        self.lab, self.tmp, self.collections = lab, tmp_path, collections
        self.etc = tmp_path / "etc"
        upper = self.etc / "upper"
        upper.mkdir(parents=True)
        # a host on systemd-networkd (the unit enabled), where renderer=auto finds it
        wants = upper / "systemd" / "system" / "multi-user.target.wants"
        wants.mkdir(parents=True)
        os.symlink("/lib/systemd/system/systemd-networkd.service", str(wants / "systemd-networkd.service"))
        with open("/etc/passwd") as handle:
            (upper / "passwd").write_text(handle.read() + "libvirt-qemu:x:64055:64055:QEMU:/var/lib/libvirt:/bin/false\n")
        self.inventory = tmp_path / "inventory"
        self.inventory.write_text("[hypervisors]\nh ansible_connection=local ansible_python_interpreter=%s\n"
                                  % sys.executable)

    def play(self, text, *extra, name="play.yml"):
        path = self.tmp / name
        path.write_text(text)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=self.collections, ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_DEPRECATION_WARNINGS="false")
        proc = subprocess.run(["ip", "netns", "exec", self.lab.hv.name, "unshare", "--mount", "--propagation",
                               "private", sys.executable, SANDBOX, str(self.etc), "--", PLAYBOOK, "-i",
                               str(self.inventory), str(path)] + list(extra),
                              capture_output=True, text=True, env=env, timeout=600, check=False)
        return proc

    def ok(self, text, *extra, changed=None):
        proc = self.play(text, *extra)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        # as written, the examples and the roles they call warn of nothing but the legacy
        # ruleset the iptables example asks for (a templated `args` would: ansible-core calls it unsafe)
        warnings = [line for line in (proc.stdout + proc.stderr).splitlines()
                    if "[WARNING]" in line and "writes iptables-legacy" not in line]
        assert not warnings, warnings
        if changed is not None:
            recap = re.search(r"changed=(\d+)", proc.stdout.split("PLAY RECAP")[-1]).group(1)
            assert (int(recap) > 0) == changed, proc.stdout[-4000:]
        return proc.stdout

    def upper(self, path):
        return self.etc / "upper" / path.lstrip("/").removeprefix("etc/")


@pytest.fixture
def host(nat_lab, tmp_path, collections_path):
    nat_lab.hv.run("ip", "route", "add", "default", "via", "203.0.113.2")
    h = Host(nat_lab, tmp_path, collections_path)
    yield h
    h.play("- hosts: hypervisors\n  gather_facts: false\n  tasks:\n"
           + "".join("    - hypervisor.networking.guest_network: {name: %s, state: absent}\n" % n
                     for n in ("br0", "virbr-lab")), name="cleanup.yml")
    nat_lab.stop()


def test_the_readme_examples_run_as_written(host):
    """README: the NAT network (its --check --diff first: one entry per file with the file's
    text, no JSON strings), the published port reaching a guest, then the same network in
    both families with DHCP, and the action group's module_defaults; each second run changes
    nothing."""
    blocks = examples("README.md")
    first, both = [as_play("- " + t) for t in re.split(r"^- ", blocks[0], flags=re.M)[1:]]
    preview = host.ok(first, "--check", "--diff", changed=True)
    assert "--- before: br0 bridge" in preview and "+++ after: br0 firewall" in preview, preview[-4000:]
    files = re.findall(r"^\+\+\+ after: (/etc/\S+)$", preview, re.M)
    assert any("/etc/qemu/bridge.conf" == f for f in files) and any("firewall.d" in f for f in files), files
    assert not [l for l in preview.splitlines() if l.startswith(("+", "-")) and "\\n" in l], "JSON strings in diff"
    assert "+allow br0" in preview, preview[-3000:]
    host.ok(first, changed=True)
    for path in files:
        assert host.upper(path).exists() or os.path.islink(host.upper(path)), path
    # the module got the options as the action plugin validated them (their items are not
    # checked twice), and echoes them in full only with -vvv
    verbose = host.ok(first, "-vvv", changed=False)
    assert '"items_checked": "on the controller"' in verbose, verbose[-3000:]
    lab = host.lab
    lab.serve(lab.g1, "tcp", 80)
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
    host.ok(both, changed=True)
    host.ok(both, changed=False)
    assert lab.hv.json("ip", "-j", "-6", "addr", "show", "dev", "br0")[0]["addr_info"][0]["local"] == "fd00:100::1"
    assert os.path.exists("/run/hypervisor-networking/dnsmasq/br0.pid") or host.upper(
        "/etc/hypervisor-networking/dnsmasq/br0.conf").exists()
    # module_defaults through the action group: the same network moves to the iptables backend
    grouped = next(b for b in blocks if "module_defaults" in b)
    out = host.ok(grouped.replace("hosts: hypervisors", "hosts: hypervisors\n  gather_facts: false"), "-v",
                  changed=True)
    assert '"backend": "iptables"' in out, out[-3000:]
    assert "hypervisor.networking" in lab.hv.run("iptables-legacy-save", "-t", "nat").stdout
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"


def test_the_role_examples_and_guest_networks_purge(host):
    """nat_bridge's README example as written, then guest_networks' (two networks); a
    second run changes nothing; with only br0 listed, purge removes virbr-lab (bridge,
    TAP, files) and leaves a foreign bridge and a bridge of ours that holds a veth."""
    lab = host.lab
    nat = examples("roles/nat_bridge/README.md")[0]
    host.ok(nat, changed=True)
    host.ok(nat, changed=False)
    assert lab.hv.json("ip", "-j", "link", "show", "vm2-tap")[0]["master"] == "br0"
    gn = examples("roles/guest_networks/README.md")[0]
    host.ok(gn, changed=True)
    host.ok(gn, changed=False)
    assert lab.hv.json("ip", "-j", "link", "show", "lab1-tap")[0]["master"] == "virbr-lab"
    lab.hv.run("ip", "link", "add", "docker0", "type", "bridge")
    only_br0 = yaml.safe_load(gn)
    only_br0[0]["roles"][0]["vars"]["guest_networks_list"] = only_br0[0]["roles"][0]["vars"]["guest_networks_list"][:1]
    text = yaml.safe_dump(only_br0)
    preview = host.ok(text, "--check", "--diff", changed=True)
    assert "virbr-lab" in preview and lab.hv.run("ip", "link", "show", "virbr-lab", check=False).returncode == 0
    out = host.ok(text, changed=True)
    assert lab.hv.run("ip", "link", "show", "virbr-lab", check=False).returncode != 0, out[-3000:]
    assert lab.hv.run("ip", "link", "show", "lab1-tap", check=False).returncode != 0
    assert lab.hv.run("ip", "link", "show", "docker0", check=False).returncode == 0
    assert not list((host.etc / "upper").rglob("*virbr-lab*")), "virbr-lab's files stayed"
    assert "virbr-lab" not in (host.upper("/etc/qemu/bridge.conf").read_text())
    host.ok(text, changed=False)
    lab.g1.run("ip", "addr", "add", "192.168.100.10/24", "dev", "eth0")  # the example's guest
    lab.serve(lab.g1, "tcp", 80)
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080) == "peer=203.0.113.2"
    # br0 unlisted: it holds the guests' veths, so purge names it and leaves it
    empty = yaml.safe_load(gn)
    empty[0]["roles"][0]["vars"]["guest_networks_list"] = []
    out = host.ok(yaml.safe_dump(empty), changed=False)
    assert "not purged, as they hold ports other than TAPs: br0" in out, out[-3000:]
    assert lab.hv.run("ip", "link", "show", "br0", check=False).returncode == 0


def test_the_multi_host_and_nic_examples_parse(host, tmp_path):
    """The fabric example (inventory + play) and physical_bridge's need several hosts or a
    real NIC (molecule runs those setups): here they must at least be valid playbooks."""
    blocks = examples("README.md")
    inventory = next(b for b in blocks if b.startswith("hypervisors:"))
    play = next(b for b in blocks if "hypervisor.networking.fabric" in b)
    (tmp_path / "fabric-inventory.yml").write_text(inventory)
    for text in (play, examples("roles/physical_bridge/README.md")[0], examples("roles/diagnose/README.md")[0]
                 if examples("roles/diagnose/README.md") else play):
        proc = host.play(text, "--syntax-check", "-i", str(tmp_path / "fabric-inventory.yml"), name="syntax.yml")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    hosts = yaml.safe_load(inventory)["hypervisors"]["hosts"]
    assert sorted(hosts) == ["hv1", "hv2", "hv3"] and json.dumps(hosts)
