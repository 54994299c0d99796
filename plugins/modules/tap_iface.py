#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tap_iface
short_description: Manage persistent TAP devices for guests, one or a thousand per call
version_added: 0.3.0
description:
  - Creates, changes or removes persistent TAP devices (what C(ip tuntap add mode tap) makes)
    for QEMU guests, with owner and group so a non-root QEMU can open them, attached to a bridge.
  - A whole list converges in one call over one netlink session; TAPs already as described cost
    one link dump, nothing more.
  - Settings change in place where the kernel allows (MTU, MAC, bridge, link state, and owner,
    group and vnet_hdr while no process holds the TAP open). Changing O(multi_queue), or owner
    or group of a TAP a process holds open (a running guest), needs a new device; the module
    then fails naming the TAP and the setting unless O(force=true).
  - TAPs this module creates carry the link alias C(managed-by=hypervisor.networking); O(purge)
    only ever deletes TAPs with that mark.
author:
  - Hypervisor Networking Contributors (@hypervisor-networking)
extends_documentation_fragment:
  - hypervisor.networking.attributes
  - hypervisor.networking.attributes.PYROUTE2
  - hypervisor.networking.persist
  - hypervisor.networking.persist.RENDERER
options:
  name:
    description: One TAP. Mutually exclusive with O(taps).
    type: str
  taps:
    description:
      - Many TAPs in one call. Each item takes O(name) (required) and any of O(state), O(owner),
        O(group), O(bridge), O(up), O(mtu), O(mac), O(multi_queue), O(vnet_hdr).
      - The same options given at the top level are defaults for every item.
    type: list
    elements: dict
    suboptions:
      name: {description: TAP name (Linux limit 15 characters)., type: str, required: true}
      state: {description: V(present) or V(absent)., type: str, choices: [present, absent]}
      owner: {description: User (name or id) allowed to open the TAP., type: str}
      group: {description: Group (name or id) allowed to open the TAP., type: str}
      bridge: {description: Bridge to attach the TAP to., type: str}
      up: {description: Administrative link state., type: bool}
      mtu: {description: MTU., type: int}
      mac: {description: MAC address of the host side of the TAP., type: str}
      multi_queue: {description: IFF_MULTI_QUEUE., type: bool}
      vnet_hdr: {description: IFF_VNET_HDR., type: bool}
  state:
    description: V(absent) deletes the TAP.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - User, by name or id, who may open the TAP (a non-root QEMU). Resolved on the managed host.
      - Left out, the TAP belongs to root (uid 0), so only root, or members of O(group), can open it.
        A TAP without any owner could be opened by every local user.
      - An existing ownerless TAP held open by a process is not recreated to fix that without O(force);
        the run warns instead.
    type: str
  group:
    description: Group, by name or id, whose members may open the TAP. Resolved on the managed host.
    type: str
  bridge:
    description:
      - Attach the TAP to this bridge. The bridge must exist; the module fails before any change otherwise.
      - In check mode a missing bridge is a warning, since an earlier task of the same run may create it.
      - Left out, the TAP's bridge membership is left alone.
    type: str
  up:
    description: Administrative link state.
    type: bool
    default: true
  mtu:
    description: MTU of the TAP (new TAPs get 1500 when left out).
    type: int
  mac:
    description:
      - MAC address of the host side of the TAP (not the guest's MAC).
      - Left out, a new TAP gets a stable C(fe:) address derived from C(/etc/machine-id) and its name,
        high enough that a bridge never takes it as its own MAC.
    type: str
  multi_queue:
    description: Create the TAP with IFF_MULTI_QUEUE (for multi-queue virtio-net). Can only change by recreating it.
    type: bool
    default: false
  vnet_hdr:
    description:
      - IFF_VNET_HDR (virtio-net header offloads) the TAP is created with.
      - Whoever opens the TAP sets its own (QEMU does, for virtio-net), so while a process holds the
        TAP the flag is left as that process set it, and reported as it is; the persisted
        configuration keeps this option's value.
    type: bool
    default: false
  purge:
    description:
      - With O(taps), delete TAPs this collection created that are not listed.
      - TAPs created by hand or by QEMU are never touched, whatever their names.
    type: bool
    default: false
  force:
    description:
      - Allow deleting or recreating a TAP that a process holds open. Without it the module fails
        instead of cutting a running guest off.
    type: bool
    default: false
seealso:
  - module: hypervisor.networking.linux_bridge
"""

EXAMPLES = r"""
- name: One TAP for a guest run by the unprivileged user qemu
  hypervisor.networking.tap_iface:
    name: vm1-tap0
    owner: qemu
    bridge: br0

- name: All guests' TAPs in one call; drop the ones no longer listed
  hypervisor.networking.tap_iface:
    owner: libvirt-qemu
    group: kvm
    bridge: br0
    vnet_hdr: true
    purge: true
    taps:
      - name: vm1-tap0
      - name: vm2-tap0
        multi_queue: true
      - name: vm3-tap0
        mtu: 9000
"""

RETURN = r"""
actions:
  description: One line per change made (or planned, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create TAP vm1-tap0 (owner 64055, on br0)"]
changed_runtime:
  description: The running system changed (or would, in check mode).
  returned: always
  type: bool
changed_persistent:
  description: Persisted files were written or removed (or would be, in check mode).
  returned: always
  type: bool
persisted:
  description: The files written or removed by this run (that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/network/interfaces.d/hypervisor-networking-2-vm1]
renderer:
  description: The network manager carrying the persisted configuration; null when O(persist=false).
  returned: always
  type: str
  sample: ifupdown
purged:
  description: Names of TAPs deleted (or, in check mode, to be deleted) by O(purge).
  returned: always
  type: list
  elements: str
  sample: [vm9-tap0]
taps:
  description:
    - The listed TAPs as they are after the run, or would be in check mode.
    - C(in_use) is true while a process (a running guest) holds the TAP open.
    - Absent TAPs are reported as C({name, state=absent}).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: vm1-tap0, state: present, owner: 64055, group: null, bridge: br0, up: true, mtu: 1500,
       mac: "fe:1c:2b:3a:4d:5e", multi_queue: false, vnet_hdr: false, in_use: false, managed: true}
"""


from ansible_collections.hypervisor.networking.plugins.module_utils import _engine, _facets, _module, _persist, _tap
from ansible_collections.hypervisor.networking.plugins.module_utils._bridge import read_machine_id
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker, Plan

ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    taps=dict(type="list", elements="dict", options=_tap.ITEM_SPEC),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    owner=dict(type="str"),
    group=dict(type="str"),
    bridge=dict(type="str"),
    up=dict(type="bool", default=True),
    mtu=dict(type="int"),
    mac=dict(type="str"),
    multi_queue=dict(type="bool", default=False),
    vnet_hdr=dict(type="bool", default=False),
    purge=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
    persist=dict(type="bool", default=True),
    renderer=dict(type="str", choices=list(_persist.RENDERERS), default="auto"),
)


def run(module):
    """Validate all items, read links once, plan, apply unless check mode, read back."""
    params = module.params
    if params["purge"] and params["taps"] is None:
        raise ValidationError("purge", True, "purge needs the full list in taps")
    taps = _tap.desired_taps(params)
    with Netlink() as nl:
        links = nl.links()
        purged = _tap.purge_candidates(taps, links) if params["purge"] else []
        journal = _tap.Journal()
        plan, after, missing = _tap.plan_taps(taps, links, params["purge"], params["force"], read_machine_id(),
                                              bridges_later=module.check_mode, pending=journal.read())
        for bridge in missing:
            module.warn("bridge %s does not exist yet: a real run fails unless an earlier task creates it" % bridge)
        for warning in plan.warnings:
            module.warn(warning)
        before = [_tap.tap_view(links[name]) if name in links else {"name": name, "state": "absent"}
                  for name in purged + [v["name"] for v in after]]
        renderer, files = _facets.tap_files(module.params, taps, after, purged,
                                            "taps[].name" if params["taps"] is not None else "name")
        files_before = _persist.texts_before(files)
        # the files once the runtime holds: one plan, undone whole
        whole = Plan(plan.actions + files.actions)
        if whole and not module.check_mode:
            with journal.creating(_tap.created(plan)):
                _engine.apply(whole, _engine.Executor(module, nl), context="")
        if plan and not module.check_mode:
            # read back only what the plan touched; the rest was just read
            names = _tap.touched(plan)
            expect = [v for v in after if v["name"] in names]
            links, _addrs = nl.wait_until(_tap.settled(expect), addresses=False, only=names)
            after = [_tap.tap_view(links[v["name"]]) if v["name"] in links else v for v in after]
    if files and not module.check_mode:
        _persist.tell_manager(module, renderer, files)
    result = {"changed": bool(plan or files), "taps": after,
              "actions": plan.lines() + files.lines() + _persist.manager_lines(renderer, files),
              "purged": purged, "changed_runtime": bool(plan), "changed_persistent": bool(files),
              "persisted": [a.args["path"] for a in files],
              "renderer": None if renderer == _persist.ANY else renderer}
    if module._diff:
        gone = [{"name": name, "state": "absent"} for name in purged]
        before, after = {"taps": before}, {"taps": gone + after}
        if renderer is not None:
            before["files"], after["files"] = files_before, _persist.texts_after(files)
        result["diff"] = DiffTracker(before, after).diff()
    return result


def main():
    _module.main("tap_iface", run, ARGUMENT_SPEC,
                 mutually_exclusive=[("name", "taps")], required_one_of=[("name", "taps")])


if __name__ == "__main__":
    main()
