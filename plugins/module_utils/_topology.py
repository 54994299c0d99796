# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""net_info's ``topology``: the host's guest networks as a picture needs them (uplink,
bridges, TAPs with owners and use, published ports, overlay peers) and as Mermaid text.
Private to this collection."""

from __future__ import annotations

import grp
import pwd
import re

from ansible_collections.hypervisor.networking.plugins.module_utils import _tap


def _user(uid, lookup=pwd.getpwuid):
    """A TAP's owner or group by name where the host knows it (None: anyone)."""
    if uid is None:
        return None
    try:
        return lookup(uid)[0]
    except (KeyError, OverflowError):
        return str(uid)


def _global(addresses):
    """The addresses worth drawing (link-local ones are on every interface)."""
    return [a for a in addresses if not a.lower().startswith("fe80:")]


def topology_view(links, addrs, uplink, sets, forwards, overlays, persisted):
    """{uplink, networks}: every bridge with what hangs off it.

    ``sets``/``forwards``: net_info's firewall sets and published ports; ``overlays``:
    net_info's overlay networks; ``persisted``: names of bridges in files of ours. A network
    is ``ours`` when its bridge carries our mark, a file of ours or a rule set named after it."""
    masq = set(s["name"] for s in sets if s["kind"] == "masquerade")
    named = set(s["name"] for s in sets)
    view = {"uplink": None, "networks": []}
    if uplink in links:
        view["uplink"] = {"name": uplink, "addresses": _global(addrs.get(links[uplink]["index"], [])),
                          "up": links[uplink]["up"]}
    for name in sorted(n for n, l in links.items() if l["kind"] == "bridge"):
        link = links[name]
        members = sorted(n for n, l in links.items() if l["master"] == name)
        taps = [links[m] for m in members if _tap.is_tap(links[m])]
        overlay = [o for o in overlays if o["network"] == name]
        view["networks"].append({
            "name": name, "ours": bool(link.get("alias") == _tap.MANAGED_ALIAS or name in persisted or name in named),
            "addresses": _global(addrs.get(link["index"], [])), "up": link["up"],
            "nat": name in masq, "uplink": uplink if name in masq else None,
            "taps": [{"name": t["name"], "owner": _user(t["tun"]["owner"]), "group": _user(t["tun"]["group"], grp.getgrgid),
                      "in_use": t["tun"]["in_use"], "up": t["up"]} for t in taps],
            "ports": [m for m in members if not _tap.is_tap(links[m]) and links[m]["kind"] != "vxlan"],
            "forwards": [dict((k, f.get(k)) for k in ("proto", "port", "to_addr", "to_port", "family"))
                         for f in forwards if f.get("set") == name],
            "overlay": dict((k, overlay[0][k]) for k in ("port", "vni", "control_plane", "vteps", "up"))
            if overlay else None,
        })
    return view


def _id(kind, name):
    return "%s_%s" % (kind, re.sub(r"[^A-Za-z0-9]", "_", name))


def _label(*lines):
    return '"%s"' % "<br/>".join(l.replace('"', "#quot;") for l in lines if l)


def target(forward):
    """'tcp 8080 -> 192.168.100.2:80' (IPv6 targets in brackets)."""
    addr = forward["to_addr"] or "?"
    addr = "[%s]" % addr if ":" in addr else addr
    return "%s %s -> %s:%s" % (forward["proto"], forward["port"], addr, forward["to_port"] or forward["port"])


def tap_use(tap):
    """'owner libvirt-qemu, in use': who may open a TAP, and whether a guest holds it."""
    who = ["owner %s" % tap["owner"]] if tap["owner"] else [] if tap["group"] else ["any user"]
    who += ["group %s" % tap["group"]] if tap["group"] else []
    return ", ".join(who + ["in use" if tap["in_use"] else "not in use"])


def tap_line(tap):
    """'vm1-tap, owner libvirt-qemu, in use'."""
    return "%s, %s" % (tap["name"], tap_use(tap))


def mermaid(view):
    """The topology as a Mermaid flowchart (renders on GitHub, GitLab and in mermaid.live)."""
    lines = ["flowchart LR", '  outside(("outside"))']
    uplink = view["uplink"]
    if uplink:
        up = _id("up", uplink["name"])
        lines.append("  %s[%s]" % (up, _label(uplink["name"] + ("" if uplink["up"] else " (down)"),
                                              ", ".join(uplink["addresses"]))))
        lines.append("  outside --- %s" % up)
    for net in view["networks"]:
        br = _id("br", net["name"])
        kind = "NAT" if net["nat"] else "bridge"
        title = "%s (%s%s%s)" % (net["name"], kind, "" if net["ours"] else ", not ours", "" if net["up"] else ", down")
        lines.append("  %s[%s]" % (br, _label(title, ", ".join(net["addresses"]))))
        if net["nat"] and uplink:
            lines.append('  %s -- "masquerade" --- %s' % (br, up))
        for forward in net["forwards"]:
            if uplink:
                lines.append('  %s -. %s .-> %s' % (up, _label(target(forward)), br))
        for tap in net["taps"]:
            node = _id("tap", tap["name"])
            lines.append("  %s[%s]" % (node, _label(tap_line(tap))))
            lines.append("  %s --- %s" % (br, node))
        for port in net["ports"]:
            node = _id("port", port)
            lines.append("  %s[%s]" % (node, _label(port)))
            lines.append("  %s --- %s" % (br, node))
        overlay = net["overlay"]
        if overlay:
            vx = _id("vx", overlay["port"])
            lines.append("  %s[[%s]]" % (vx, _label("%s VNI %s (%s)" % (overlay["port"], overlay["vni"],
                                                                        overlay["control_plane"]))))
            lines.append("  %s --- %s" % (br, vx))
            for vtep in overlay["vteps"]:
                node = _id("vtep", vtep)
                lines.append("  %s((%s))" % (node, _label("hypervisor " + vtep)))
                lines.append('  %s -. "VXLAN" .- %s' % (vx, node))
    return "\n".join(lines) + "\n"
