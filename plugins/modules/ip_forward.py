#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ip_forward
short_description: Enable or disable IP forwarding, now and across reboots
version_added: 0.3.0
description:
  - Sets C(net.ipv4.ip_forward) and, when asked, C(net.ipv6.conf.all.forwarding) (as
    C(sysctl -w net.ipv4.ip_forward=1) does) by writing C(/proc/sys) directly, in the network
    namespace the module runs in; no C(sysctl) command is needed.
  - With O(persist=true) the same values go into a sysctl.d drop-in, written atomically, so
    they survive a reboot. The runtime facet and the persistent facet are decided and
    reported separately (RV(changed_runtime), RV(changed_persistent)).
author:
  - Hypervisor Networking Contributors (@hypervisor-networking)
extends_documentation_fragment:
  - hypervisor.networking.attributes
options:
  ipv4:
    description: Value of C(net.ipv4.ip_forward).
    type: bool
    default: true
  ipv6:
    description:
      - Value of C(net.ipv6.conf.all.forwarding).
      - Left out, IPv6 forwarding is left alone, at runtime and in the drop-in.
      - Enabling it would make the kernel ignore router advertisements on links with its default
        C(accept_ra=1), and drop the default routes it learnt from them. Each link that has such
        a route keeps it - its C(accept_ra) becomes 2 (advertisements taken while forwarding)
        before forwarding goes on, at runtime and in the drop-in, and RV(ra_uplinks) names it.
        V(false) sets them back to 1 and removes their lines.
    type: bool
  persist:
    description:
      - Also write the values to O(sysctl_file) so they survive a reboot.
      - V(false) touches no file, not even an existing drop-in.
    type: bool
    default: true
  sysctl_file:
    description: The drop-in this module owns. Its directory must exist.
    type: path
    default: /etc/sysctl.d/90-hypervisor-networking.conf
"""

EXAMPLES = r"""
- name: IPv4 forwarding on (sysctl -w net.ipv4.ip_forward=1), persistent
  hypervisor.networking.ip_forward:

- name: IPv4 and IPv6 forwarding at runtime only
  hypervisor.networking.ip_forward:
    ipv4: true
    ipv6: true
    persist: false
"""

RETURN = r"""
ra_uplinks:
  description:
    - Links whose default route is learnt from router advertisements and that keep taking them while
      IPv6 forwarding is on (C(accept_ra=2), set by this module).
  returned: always
  type: list
  elements: str
  sample: [eth0]
actions:
  description: One line per change made (or planned, in check mode); runtime first, then persistent.
  returned: always
  type: list
  elements: str
  sample: ["set net.ipv4.ip_forward = 1 (runtime, was 0)",
           "write /etc/sysctl.d/90-hypervisor-networking.conf (persistent: net.ipv4.ip_forward = 1)"]
forwarding:
  description: Forwarding as it is after the run (would be, in check mode); C(ipv6) is null when IPv6 is disabled.
  returned: always
  type: dict
  sample: {ipv4: true, ipv6: false}
persisted:
  description: The drop-in path when O(persist=true), else null.
  returned: always
  type: str
  sample: /etc/sysctl.d/90-hypervisor-networking.conf
changed_runtime:
  description: Whether the runtime values changed (would change).
  returned: always
  type: bool
changed_persistent:
  description: Whether the drop-in changed (would change).
  returned: always
  type: bool
"""


from ansible_collections.hypervisor.networking.plugins.module_utils import _engine, _module, _persist, _sysctl
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker, Plan

KEYS = {"ipv4": "net.ipv4.ip_forward", "ipv6": "net.ipv6.conf.all.forwarding"}

ARGUMENT_SPEC = dict(
    ipv4=dict(type="bool", default=True),
    ipv6=dict(type="bool"),
    persist=dict(type="bool", default=True),
    sysctl_file=dict(type="path", default="/etc/sysctl.d/90-hypervisor-networking.conf"),
)


def run(module):
    """Plan both facets, apply unless check mode, report them separately."""
    params = module.params
    path = _sysctl.check_dropin_path("sysctl_file", params["sysctl_file"]) if params["persist"] else None
    desired = dict((KEYS[k], None if params[k] is None else int(params[k])) for k in ("ipv4", "ipv6"))
    old_text = _persist.read_text(path) if path else None
    # uplinks that learn their default route from router advertisements keep it: accept_ra=2
    # set before forwarding goes on (the kernel drops those routes then unless it is 2)
    ra_keys, dropped, ra_uplinks = _sysctl.plan_ra_uplinks(params["ipv6"], old_text)
    if params["ipv6"]:
        desired = dict(list(ra_keys.items()) + list(desired.items()))
    else:
        desired.update(ra_keys)
    current = dict((key, _sysctl.read_runtime(key)) for key in desired)
    runtime = _sysctl.plan_runtime(desired, current)
    # IPv6 forwarding off: the links go back to 1 at runtime, and their lines out of the file
    lines = dict((key, None if key in dropped else value) for key, value in desired.items())
    persistent, new_text = _sysctl.plan_persistent(lines, path, old_text, dropped) if path else (Plan(), None)
    plan = Plan(runtime.actions + persistent.actions)
    if plan and not module.check_mode:
        _engine.apply(plan, _engine.Executor(module), context="")
    after = dict(current, **dict((k, val) for k, val in desired.items() if val is not None))
    if not module.check_mode:
        after = dict((key, _sysctl.read_runtime(key)) for key in current)
    forwarding = dict((k, None if after[key] is None else bool(after[key])) for k, key in KEYS.items())
    result = {"changed": bool(plan), "actions": plan.lines(), "forwarding": forwarding, "persisted": path,
              "changed_runtime": bool(runtime), "changed_persistent": bool(persistent), "ra_uplinks": ra_uplinks}
    if module._diff:
        before, after = {"forwarding": current}, {"forwarding": after}
        if path:
            before["files"], after["files"] = {path: old_text}, {path: new_text}
        result["diff"] = DiffTracker(before, after).diff()
    return result


def main():
    _module.main("ip_forward", run, ARGUMENT_SPEC, pyroute2=False)


if __name__ == "__main__":
    main()
