# -*- coding: utf-8 -*-
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.networking.plugins.filter.diagnose_report import diagnose_report

TOPOLOGY = {
    "uplink": {"name": "up0", "addresses": ["203.0.113.1/24"], "up": True},
    "networks": [{"name": "br0", "ours": True, "addresses": ["192.168.100.1/24"], "up": True, "nat": True,
                  "uplink": "up0", "ports": [], "overlay": None,
                  "taps": [{"name": "vm1-tap", "owner": "libvirt-qemu", "group": None, "in_use": True, "up": True}],
                  "forwards": [{"proto": "tcp", "port": 8080, "to_addr": "192.168.100.2", "to_port": 80}]},
                 {"name": "docker0", "ours": False, "addresses": [], "up": True, "nat": False, "uplink": None,
                  "ports": [], "overlay": None, "taps": [], "forwards": []}],
    "mermaid": "flowchart LR\n",
}


def svg_classes(page):
    """{element id: its class} of the report's picture, parsed as XML."""
    svg = ET.fromstring(re.search(r"<svg .*</svg>", page, re.S).group(0))
    return dict((g.get("id"), g.get("class")) for g in svg.iter("{http://www.w3.org/2000/svg}g"))


def test_the_first_failure_is_drawn_red_and_the_passed_hops_green():
    steps = [{"name": "guest network br0", "ok": True, "evidence": "br0 is up"},
             {"name": "forwarding", "ok": False, "evidence": "net.ipv4.ip_forward = 0"}]
    page = diagnose_report(TOPOLOGY, {"steps": steps, "healthy": False, "verdict": "forwarding: off"}, "hv1", "br0")
    classes = svg_classes(page)
    assert classes["node-bridge"] == "node ok"
    assert classes["edge-uplink-bridge"] == "edge broken"
    assert [i for i, c in classes.items() if "broken" in c] == ["edge-uplink-bridge"]
    assert page.count("broken here") == 1 and "forwarding: off" in page
    assert '<tr class="broken"><td class="st">FAILED</td><td>forwarding</td>' in page
    # the TAP with its owner; the other bridge named only; nothing fetched, no script
    assert "owner libvirt-qemu, in use" in page and "other bridges on the host: docker0" in page
    assert not re.search(r"<script|src=|href=|@import|url\(", page)


def test_a_port_without_forward_gets_a_broken_stub_and_names_are_escaped():
    steps = [{"name": "published port 9090", "ok": False, "evidence": "no forward <of ours>"}]
    page = diagnose_report(TOPOLOGY, {"steps": steps, "healthy": False, "verdict": "x"}, "h<1>", "br0",
                           "192.168.100.9")
    classes = svg_classes(page)
    assert classes["edge-forward-9090"] == "edge broken dashed" and classes["edge-forward-8080"] == "edge dashed"
    assert "published tcp 9090 -&gt; no forward" in page and "h&lt;1&gt;" in page and "<of ours>" not in page
    assert classes["node-guest"] == "node"


def test_healthy_and_a_missing_network():
    page = diagnose_report(TOPOLOGY, {"steps": [{"name": "guest network br9", "ok": False, "evidence": "absent"}],
                                      "healthy": False, "verdict": "guest network br9: absent"}, "hv1", "br9")
    assert svg_classes(page)["node-bridge"] == "node broken" and "not found on this host" in page
    good = diagnose_report(TOPOLOGY, {"steps": [{"name": "guest network br0", "ok": True, "evidence": "up"}],
                                      "healthy": True, "verdict": None}, "hv1", "br0")
    assert 'class="verdict good"' in good and "broken here" not in good


def test_bad_input_names_what_it_needs():
    with pytest.raises(AnsibleFilterError, match="topology.*steps"):
        diagnose_report("x", {}, "h", "br0")
