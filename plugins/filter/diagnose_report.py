# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""diagnose_report: net_diagnose's verdict on a picture of the guest network (net_info's
``topology``), as one self-contained HTML page: inline SVG and CSS, no script, nothing
fetched. The broken hop is drawn red and named; each step follows with its evidence."""

from __future__ import annotations

import html
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.networking.plugins.module_utils._topology import tap_use

# columns of the picture (x of each node's left edge) and the node size
X_OUTSIDE = 20
X_UPLINK = 220
X_BRIDGE = 560
X_LEAF = 880
X_PEER = 1160
W = 190  # node width
H = 46  # node height
GAP = 62  # from one node of a column to the next
TOP = 60


def _fit(line, width=30):
    """A line that fits a node (the full text is in the table and the Mermaid text)."""
    return line if len(line) <= width else line[:width - 1] + "\u2026"


def _addresses(addresses):
    """'192.168.100.1/24 +1' for a node's second line."""
    return addresses[0] + (" +%d" % (len(addresses) - 1) if len(addresses) > 1 else "") if addresses else ""


def _element(step):
    """The picture's element a step is about: ('node'|'edge', id), or None."""
    name = step["name"]
    rules = [
        (r"^guest network -> outside", ("edge", "outside-uplink")),
        (r"^guest network ", ("node", "bridge")),
        (r"^(IPv6 )?forwarding$|^NAT66$", ("edge", "uplink-bridge")),
        (r"^host -> guest ", ("edge", "bridge-guest")),
        (r"^service ", ("node", "guest")),
        (r"^DNS name ", ("node", "outside")),
        (r"^published port (\d+)", ("edge", "forward-%s")),
        (r"^(overlay |BGP EVPN sessions$|underlay$)", ("node", "overlay")),
        (r"^underlay -> (\S+)", ("edge", "vtep-%s")),
    ]
    for pattern, (kind, ident) in rules:
        match = re.match(pattern, name)
        if match:
            return kind, ident % match.group(1) if "%s" in ident else ident
    return None


class _Svg(object):
    """Nodes and edges with the marks of the steps about them."""

    def __init__(self, marks):
        self.marks, self.parts, self.height = marks, [], 0

    def _cls(self, kind, ident):
        return {True: " ok", False: " broken"}.get(self.marks.get((kind, ident)), "")

    def node(self, ident, x, y, lines, shape="box"):
        cls = "node" + self._cls("node", ident)
        self.height = max(self.height, y + H)
        if shape == "cloud":
            body = '<ellipse cx="%d" cy="%d" rx="%d" ry="%d"/>' % (x + 70, y + H // 2, 70, H // 2 + 6)
            cx = x + 70
        else:
            body = '<rect x="%d" y="%d" width="%d" height="%d" rx="6"/>' % (x, y, W, H)
            cx = x + W // 2
        text = "".join('<text x="%d" y="%d"%s>%s</text>' % (
            cx, y + 19 + 16 * i - 8 * (len(lines) - 1) + 4, ' class="sub"' if i else "", html.escape(_fit(line)))
            for i, line in enumerate(lines[:2]))
        mark = ""
        if "broken" in cls:
            mark = '<text class="flag" x="%d" y="%d">&#x2716; broken here</text>' % (cx, y - 6)
        self.parts.append('<g id="%s" class="%s">%s%s%s</g>' % (html.escape("node-" + ident), cls, body, text, mark))

    def edge(self, ident, a, b, label="", dashed=False, sag=0):
        """A line from a to b; with ``sag``, a curve that far below them (published ports)."""
        (x1, y1), (x2, y2) = a, b
        cls = "edge" + self._cls("edge", ident) + (" dashed" if dashed else "")
        mx, my = (x1 + x2) // 2, (y1 + y2) // 2
        if sag:
            my = max(y1, y2) + sag
            out = '<path d="M%d %d Q%d %d %d %d"/>' % (x1, y1, mx, my + sag, x2, y2)
            self.height = max(self.height, my + 36)
        else:
            out = '<path d="M%d %d L%d %d"/>' % (x1, y1, x2, y2)
        if label:
            out += '<text x="%d" y="%d">%s</text>' % (mx, my + 14 if sag else my - 6, html.escape(label))
        if "broken" in cls:
            out += '<text class="flag" x="%d" y="%d">&#x2716; broken here</text>' % (mx, my + 30 if sag else my + 18)
        self.parts.insert(0, '<g id="%s" class="%s">%s</g>' % (html.escape("edge-" + ident), cls, out))


def _picture(topology, network, steps, guest):
    """The SVG of one network (the others are listed by name under it)."""
    marks = {}
    for step in steps:
        element = _element(step)
        if element and element not in marks or (element and step["ok"] is False):
            marks[element] = step["ok"]
    svg = _Svg(marks)
    net = next((n for n in topology.get("networks", []) if n["name"] == network), None)
    uplink = topology.get("uplink")
    mid = TOP + H // 2
    svg.node("outside", X_OUTSIDE, TOP, ["outside", "resolver, internet"], shape="cloud")
    if uplink:
        svg.node("uplink", X_UPLINK, TOP, [uplink["name"], _addresses(uplink["addresses"])])
        svg.edge("outside-uplink", (X_OUTSIDE + 140, mid), (X_UPLINK, mid))
    if net is None:
        svg.node("bridge", X_BRIDGE, TOP, [network, "not found on this host"])
        return svg, marks
    kind = "NAT" if net["nat"] else "bridge"
    svg.node("bridge", X_BRIDGE, TOP, ["%s (%s)" % (net["name"], kind), _addresses(net["addresses"])])
    if uplink:
        svg.edge("uplink-bridge", (X_UPLINK + W, mid), (X_BRIDGE, mid), "masquerade" if net["nat"] else "routed")
    forwards = list(net["forwards"])
    ports_asked = [int(re.match(r"^published port (\d+)", s["name"]).group(1)) for s in steps
                   if re.match(r"^published port \d+", s["name"])]
    for port in ports_asked:
        if not any(int(f["port"]) == port for f in forwards):
            forwards.append({"proto": "tcp", "port": port, "to_addr": None, "to_port": None})
    for i, forward in enumerate(forwards):
        target = "published %s %s -> %s" % (forward["proto"], forward["port"], "%s:%s" % (
            forward["to_addr"], forward["to_port"] or forward["port"]) if forward["to_addr"] else "no forward")
        svg.edge("forward-%s" % forward["port"], (X_UPLINK + W // 2, TOP + H), (X_BRIDGE + W // 2, TOP + H),
                 target, dashed=True, sag=30 + 34 * i)
    leaves = [("guest", ["guest " + guest, "the service's host"]) if guest else None]
    leaves += [("tap-" + t["name"], [t["name"], tap_use(t)]) for t in net["taps"]]
    leaves += [("port-" + p, [p, "port"]) for p in net["ports"]]
    overlay = net.get("overlay")
    if overlay:
        leaves.append(("overlay", ["%s VNI %s" % (overlay["port"], overlay["vni"]), overlay["control_plane"]]))
    for i, leaf in enumerate(l for l in leaves if l):
        ident, lines = leaf
        y = TOP + i * GAP
        svg.node(ident, X_LEAF, y, lines)
        svg.edge("bridge-" + ident, (X_BRIDGE + W, mid), (X_LEAF, y + H // 2))
        if ident == "overlay":
            for j, vtep in enumerate(overlay["vteps"]):
                vy = y + j * GAP
                svg.node("vtep-" + vtep, X_PEER, vy, ["hypervisor", vtep])
                svg.edge("vtep-" + vtep, (X_LEAF + W, y + H // 2), (X_PEER, vy + H // 2), "VXLAN", dashed=True)
    return svg, marks


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2329}
h1{font-size:20px;margin:0 0 4px} .meta{color:#5b6670;margin-bottom:14px}
.verdict{padding:12px 16px;border-radius:6px;margin-bottom:18px;font-weight:600}
.verdict.bad{background:#fde8e8;border:2px solid #c62828;color:#8e1c1c}
.verdict.good{background:#e6f4ea;border:2px solid #2e7d32;color:#1b5e20}
svg{border:1px solid #d6dbe0;border-radius:6px;background:#fbfcfd}
.node rect,.node ellipse{fill:#fff;stroke:#5b6670;stroke-width:1.5}
.node text{font-size:13px;text-anchor:middle;fill:#1d2329} .node text.sub{font-size:11px;fill:#5b6670}
.node.ok rect,.node.ok ellipse{stroke:#2e7d32;stroke-width:2.5}
.node.broken rect,.node.broken ellipse{stroke:#c62828;stroke-width:4;fill:#fde8e8}
.edge path{stroke:#8a949c;stroke-width:2;fill:none} .edge.dashed path{stroke-dasharray:6 4}
.edge text{font-size:11px;fill:#3c464f;text-anchor:middle}
.edge.ok path{stroke:#2e7d32;stroke-width:3} .edge.broken path{stroke:#c62828;stroke-width:5}
text.flag{fill:#c62828;font-weight:700;font-size:13px;text-anchor:middle}
table{border-collapse:collapse;margin-top:18px;width:100%} td,th{border-bottom:1px solid #e3e7ea;padding:6px 8px;
text-align:left;vertical-align:top;font-size:14px} tr.broken td{background:#fde8e8} .st{width:90px;font-weight:600}
tr.ok .st{color:#2e7d32} tr.broken .st{color:#c62828} tr.undecided .st{color:#8a6d00}
pre{background:#f3f5f7;padding:10px;border-radius:6px;overflow:auto;font-size:12px}
"""


def diagnose_report(topology, diagnose, host="", network="", guest=""):
    """The HTML page: net_info's ``topology``, net_diagnose's result (``steps``, ``verdict``,
    ``healthy``), the host's and the network's names and the guest asked about."""
    if not isinstance(topology, dict) or not isinstance(diagnose, dict) or "steps" not in diagnose:
        raise AnsibleFilterError("diagnose_report: needs net_info's topology and net_diagnose's result (steps), "
                                 "got %s and %s" % (type(topology).__name__, type(diagnose).__name__))
    steps = diagnose["steps"]
    svg, _marks = _picture(topology, network, steps, guest)
    width, height = X_PEER + W + 20, svg.height + 40
    picture = ('<svg xmlns="http://www.w3.org/2000/svg" id="topology" width="%d" height="%d" viewBox="0 0 %d %d">'
               '%s</svg>' % (width, height, width, height, "".join(svg.parts)))
    healthy = bool(diagnose.get("healthy"))
    verdict = "healthy: every check passed" if healthy else (diagnose.get("verdict") or "not healthy")
    rows = []
    for step in steps:
        status = {True: ("ok", "passed"), False: ("broken", "FAILED")}.get(step["ok"], ("undecided", "undecided"))
        rows.append('<tr class="%s"><td class="st">%s</td><td>%s</td><td>%s</td></tr>' % (
            status[0], status[1], html.escape(step["name"]), html.escape(str(step.get("evidence") or ""))))
    others = [n["name"] for n in topology.get("networks", []) if n["name"] != network]
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>%s</title><style>%s</style></head><body>" % (
            html.escape("diagnose %s on %s" % (network, host)), STYLE),
        "<h1>Guest network %s on %s</h1>" % (html.escape(network), html.escape(host)),
        '<div class="meta">hypervisor.networking diagnose report%s</div>' % (
            html.escape("; other bridges on the host: " + ", ".join(others)) if others else ""),
        '<div class="verdict %s" id="verdict">%s</div>' % ("good" if healthy else "bad", html.escape(verdict)),
        picture,
        "<table id=\"steps\"><tr><th>result</th><th>check</th><th>evidence</th></tr>%s</table>" % "".join(rows),
        "<details><summary>The topology as Mermaid text</summary><pre>%s</pre></details>" % html.escape(
            topology.get("mermaid", "")),
        "</body></html>\n"])


class FilterModule:
    """hypervisor.networking's report filter."""

    def filters(self):
        return {"diagnose_report": diagnose_report}
