# -*- coding: utf-8 -*-
"""net_diagnose on the NAT lab: a healthy network, then one fault at a time (each first
shown to break the guests' traffic), each verdict naming its fault; the host is
byte-identical after every run (the probe namespace is gone)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

M = "net_diagnose"
DNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dns_peer.py")
ARGS = {"network": "br0", "guest": "192.168.100.2", "port": 8080, "name": "api.example.test",
        "resolver": "203.0.113.2"}
# a run that stays on its probe long enough to be signalled there: the resolver is an address of
# the lab's uplink subnet that nobody answers, so the DNS check waits for its timeout
SLOW = dict(ARGS, resolver="203.0.113.99")


@pytest.fixture
def lab(nat_lab):
    lab = nat_lab
    lab.hv.run("ip", "route", "add", "default", "via", "203.0.113.2")  # the internet is beyond wan
    lab.hv.module("masquerade", {"name": "br0", "source": "192.168.100.0/24", "out_interface": "up0"})
    forward = {"port": 8080, "to_addr": "192.168.100.2", "to_port": 80}
    lab.hv.module("iptables_dnat", {"name": "br0", "forwards": [forward]})
    dns = subprocess.Popen(["ip", "netns", "exec", lab.wan.name, sys.executable, DNS, "api.example.test=192.0.2.10"],
                           stdout=subprocess.PIPE, text=True)
    assert dns.stdout.readline().strip() == "listening"
    lab.dns = dns
    lab.serve(lab.g1, "tcp", 80)
    lab.serve(lab.wan, "tcp", 8000)
    yield lab
    if dns.poll() is None:
        dns.kill()
        dns.wait()


def state(lab):
    """Links, addresses and rules of hv; rule counters move with the probe's packets."""
    nft, legacy = lab.ruleset()
    return lab.hv.snapshot(), re.sub(r"counter packets \d+ bytes \d+", "counter", nft), legacy


def diagnose(lab, args=None):
    before = state(lab)
    start = time.monotonic()
    res = lab.hv.module(M, dict(ARGS, **(args or {})))
    took = time.monotonic() - start
    assert res["rc"] == 0, res
    assert state(lab) == before, "the diagnose run changed the host"
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not [n for n in listing.split() if n.startswith("hn-diag-")], listing
    print("%.1f s: %s" % (took, res["verdict"]))
    return res


def first_failing(res):
    return [s["name"] for s in res["steps"] if s["ok"] is False][0]


def test_healthy(lab):
    res = diagnose(lab)
    assert res["healthy"] is True and res["verdict"] == "healthy: 8 checks passed", res
    assert [s["name"] for s in res["steps"]] == [
        "guest network br0", "forwarding", "host -> guest 192.168.100.2", "guest network -> outside (DNS to "
        "203.0.113.2)", "DNS name api.example.test", "published port 8080", "service 192.168.100.2:80",
        "published port 8080 from outside"]


def test_forwarding_off(lab):
    lab.hv.run("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8000, timeout=1) is None
    res = diagnose(lab)
    assert first_failing(res) == "forwarding" and "net.ipv4.ip_forward = 0" in res["verdict"]
    assert res["route_table"][0] == "Kernel IP routing table"


def test_forward_drop_by_another_tool(lab):
    lab.hv.run("iptables-nft", "-I", "FORWARD", "1", "-j", "DROP")
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8000, timeout=1) is None
    res = diagnose(lab)
    assert first_failing(res) == "guest network -> outside (DNS to 203.0.113.2)"
    assert "the host reaches 203.0.113.2:53" in res["verdict"], res["verdict"]
    assert "iptables-nft's FORWARD rule -A FORWARD -j DROP drops them before" in res["verdict"], res["verdict"]


def test_dns_server_unreachable(lab):
    lab.dns.kill()
    lab.dns.wait()
    res = diagnose(lab)
    assert first_failing(res) == "guest network -> outside (DNS to 203.0.113.2)"
    assert "nor from the host itself" in res["verdict"] and "DNS server is unreachable or down" in res["verdict"]


def test_service_down_behind_a_working_forward(lab):
    for proc in lab.servers:
        proc.kill()
        proc.wait()
    lab.servers = []
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080, timeout=1) is None
    res = diagnose(lab)
    assert first_failing(res) == "service 192.168.100.2:80" and "502" in res["verdict"]


def test_forward_deleted_by_hand(lab):
    lab.hv.run("nft", "flush", "map", "ip", "hypervisor_networking", "dnat_br0_addr_0")
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080, timeout=1) is None
    res = diagnose(lab)
    assert first_failing(res) == "published port 8080" and "no forward" in res["verdict"]


def test_masquerade_deleted_by_hand(lab):
    lab.hv.run("nft", "flush", "chain", "ip", "hypervisor_networking", "masq_br0_post")
    lab.hv.run("nft", "delete", "chain", "ip", "hypervisor_networking", "masq_br0_fwd", check=False)
    assert lab.connect(lab.g1, "tcp", "203.0.113.2", 8000, timeout=1) is None
    res = diagnose(lab)
    assert first_failing(res) == "guest network -> outside (DNS to 203.0.113.2)"
    assert "no masquerade" in res["verdict"], res["verdict"]


def test_guest_without_default_route(lab):
    lab.g1.run("ip", "route", "del", "default")
    assert lab.connect(lab.wan, "tcp", "203.0.113.1", 8080, timeout=1) is None
    res = diagnose(lab)
    assert first_failing(res) == "published port 8080 from outside", res["steps"]
    assert "the guest has no default route" in res["verdict"] and "192.168.100.1" in res["verdict"]


def test_unknown_name(lab):
    res = diagnose(lab, {"name": "nope.example.test"})
    assert first_failing(res) == "DNS name nope.example.test" and "rcode 3" in res["verdict"]


def play(lab, tmp_path, **extra):
    """The diagnose role through ansible-playbook inside hv -> (rc, stdout)."""
    path = tmp_path / "diagnose.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [hypervisor.networking.diagnose]\n"
                    "  post_tasks:\n    - ansible.builtin.debug:\n        msg: \"RESULT {{ diagnose_result | to_json }}\"\n")
    variables = dict({"diagnose_guest": "192.168.100.2", "diagnose_port": 8080,
                      "diagnose_resolver": "203.0.113.2", "diagnose_name": "api.example.test"}, **extra)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=lab.hv.collections, ANSIBLE_NOCOLOR="1",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="false")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run(["ip", "netns", "exec", lab.hv.name, playbook, "-i", "localhost,", "-c", "local", str(path),
                           "-e", json.dumps(variables)], capture_output=True, text=True, env=env, check=False)
    return proc.returncode, proc.stdout


def test_role_sets_the_fact_and_gates_on_the_verdict(lab, tmp_path):
    rc, out = play(lab, tmp_path)
    assert rc == 0, out[-3000:]
    result = json.loads(out.split('"msg": "RESULT ')[1].split('"\n')[0].encode().decode("unicode_escape"))
    assert result["healthy"] is True and len(result["steps"]) == 8
    assert "healthy: 8 checks passed" in out
    lab.hv.run("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
    rc, out = play(lab, tmp_path)
    assert rc != 0 and "forwarding: net.ipv4.ip_forward = 0" in out, out[-3000:]
    rc, out = play(lab, tmp_path, diagnose_fail=False)
    assert rc == 0 and '\\"healthy\\": false' in out, out[-3000:]


OUTPUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "output")
RED, GREEN, SVG_BORDER = (198, 40, 40), (46, 125, 50), (214, 219, 224)


def _near(pixel, colour, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour))


def _screenshot(html_path, png_path):
    """Debian's chromium, headless, renders the report to a PNG."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing (scripts/host-deps.sh installs it)"
    proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1400,700", "--screenshot=%s" % png_path, "file://%s" % html_path],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and os.path.exists(png_path), proc.stderr[-2000:]


def test_the_html_report_shows_the_topology_and_marks_the_broken_hop(lab, tmp_path):
    """The role writes the report; a real browser renders it. In the screenshot the edge
    between the uplink and the bridge (forwarding, turned off here) is red with its flag, the
    bridge (its check passed) green, and the TAP's owner is written beside it."""
    from PIL import Image  # python3-pil (scripts/host-deps.sh)

    report = tmp_path / "report.html"
    lab.hv.run("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
    rc, out = play(lab, tmp_path, diagnose_report=str(report), diagnose_fail=True)
    assert rc != 0 and report.exists(), out[-3000:]
    page = report.read_text()
    assert "forwarding: net.ipv4.ip_forward = 0" in page and 'id="edge-uplink-bridge" class="edge broken"' in page
    os.makedirs(OUTPUT, exist_ok=True)
    png = os.path.join(OUTPUT, "diagnose-report.png")
    _screenshot(str(report), png)
    print("diagnose report screenshot: %s" % png)
    image = Image.open(png).convert("RGB")
    width, height = image.size
    pixels = image.load()
    # the picture's top-left corner: the first row below the verdict with a long run of its border colour
    top = next(y for y in range(height) if sum(_near(pixels[x, y], SVG_BORDER, 6) for x in range(60, 900, 4)) > 150)
    left = next(x for x in range(width) if _near(pixels[x, top + 40], SVG_BORDER, 6))
    # the forwarding edge runs from the uplink's box (x 410) to the bridge's (x 560) at y 83 of the picture
    edge = [pixels[left + x, top + y] for x in range(440, 530, 10) for y in range(81, 86)]
    assert sum(_near(p, RED) for p in edge) >= 20, edge
    flag = [pixels[left + x, top + y] for x in range(440, 530) for y in range(92, 106)]
    assert sum(_near(p, RED) for p in flag) >= 30, "no 'broken here' under the edge"
    bridge = [pixels[left + x, top + y] for x in range(600, 700, 5) for y in range(58, 63)]
    assert sum(_near(p, GREEN) for p in bridge) >= 10, "the bridge is not drawn as passed"
    # nothing else in the picture is red: the failure is the one hop
    red = [(x, y) for x in range(0, width - left - 1, 3) for y in range(0, 180, 3)
           if _near(pixels[left + x, top + y], RED, 30)]
    assert red and all(400 <= x <= 570 for x, _y in red), sorted(set(x for x, _y in red))


def _start(lab, args):
    """The module as a process of its own (to be signalled), with its argument file."""
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=False)}, handle)
    handle.close()
    env = dict(os.environ, PYTHONPATH=lab.hv.collections)
    proc = subprocess.Popen(["ip", "netns", "exec", lab.hv.name, sys.executable, "-m",
                             "ansible_collections.hypervisor.networking.plugins.modules.net_diagnose", handle.name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc, handle.name


def _probes(lab):
    """(probe namespaces, probe ports on br0, probe notes) that exist now."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
    ports = [l["ifname"] for l in lab.hv.json("ip", "-j", "link", "show") if l["ifname"].startswith(("hnd", "hno"))]
    notes = [n for n in os.listdir("/run/hypervisor-networking") if n.startswith("probe-")] \
        if os.path.isdir("/run/hypervisor-networking") else []
    return [n for n in names if n.startswith("hn-diag-")], ports, notes


def _wait_for_probe(lab, proc):
    for _attempt in range(200):
        if _probes(lab)[0] and _probes(lab)[1]:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("no probe appeared")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_run_removes_its_probe(lab, signum):
    """SIGTERM, or SIGHUP from a dropped SSH session, while the probe is on the bridge:
    the run removes it on its way out and says why it stopped."""
    before = state(lab)
    proc, path = _start(lab, SLOW)
    try:
        _wait_for_probe(lab, proc)
        proc.send_signal(signum)
        out, _err = proc.communicate(timeout=30)
    finally:
        os.unlink(path)
    result = json.loads(out.strip().splitlines()[-1])
    assert result.get("failed") and "stopped by signal %d" % signum in result["msg"], result
    assert _probes(lab) == ([], [], [])
    assert state(lab) == before


def test_the_next_run_removes_what_a_killed_run_left(lab):
    """SIGKILL leaves the probe (nothing runs on the way out): the next run removes it
    first, and does not take the next free address of the guests' subnet."""
    before = state(lab)
    proc, path = _start(lab, SLOW)
    try:
        _wait_for_probe(lab, proc)
        proc.kill()
        proc.wait()
    finally:
        os.unlink(path)
    left = _probes(lab)
    assert left[0] and left[1] and left[2], left  # leaked, as 0.2 leaked it on any signal
    res = lab.hv.module(M, ARGS)
    assert res["rc"] == 0 and res["healthy"] is True, res
    assert _probes(lab) == ([], [], [])
    assert state(lab) == before
