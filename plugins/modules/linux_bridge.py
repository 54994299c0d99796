#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linux_bridge
short_description: Manage a Linux bridge, its ports and addresses over netlink
version_added: 0.3.0
description:
  - Creates, changes or removes a Linux bridge with its addresses, ports and bridge
    options, the way C(ip link add name br0 type bridge), C(ip addr add ... brd + dev br0)
    and C(ip link set eth0 master br0) would, but idempotently and in one netlink session.
  - The running bridge is managed over netlink, and with O(persist) (the default) it is also written into
    the configuration of the host's network manager (O(renderer)), so it survives a reboot.
  - A bridge this module creates carries the link alias C(managed-by=hypervisor.networking).
  - If a change fails halfway, the changes already made in this run are undone, newest first,
    and the failure lists what was applied and what was rolled back.
author:
  - Hypervisor Networking Contributors (@hypervisor-networking)
extends_documentation_fragment:
  - hypervisor.networking.attributes
  - hypervisor.networking.attributes.PYROUTE2
  - hypervisor.networking.persist
  - hypervisor.networking.persist.RENDERER
options:
  name:
    description: Bridge name (Linux limit 15 characters).
    type: str
    required: true
  state:
    description: V(absent) deletes the bridge; its ports are released by the kernel.
    type: str
    choices: [present, absent]
    default: present
  up:
    description: Administrative link state (C(ip link set br0 up)).
    type: bool
    default: true
  addresses:
    description:
      - Addresses with prefix length, IPv4 or IPv6, for example V(192.168.100.1/24).
      - IPv4 addresses get the subnet broadcast address (C(brd +)).
      - Added to the bridge; see O(purge_addresses) to make the list exact.
    type: list
    elements: str
  purge_addresses:
    description: Remove addresses not in O(addresses). IPv6 link-local addresses are kept.
    type: bool
    default: false
  ports:
    description:
      - Interfaces to enslave. Each must exist and must not belong to another bridge.
      - The ports' own administrative state is left alone.
    type: list
    elements: str
  purge_ports:
    description: Detach ports not in O(ports).
    type: bool
    default: false
  mtu:
    description: MTU of the bridge. Left alone, the kernel derives it from the ports.
    type: int
  mac:
    description:
      - MAC address of the bridge.
      - Left alone, a bridge this module creates gets a stable, locally administered MAC
        derived from C(/etc/machine-id) and the bridge name (as systemd's
        C(MACAddressPolicy=persistent) does), so re-creating the bridge keeps guests' ARP
        caches valid; an existing bridge keeps the MAC it has.
    type: str
  stp:
    description: Run the kernel's spanning tree protocol on the bridge.
    type: bool
  forward_delay:
    description: STP forward delay in seconds (0-30; at least 2 when O(stp=true)).
    type: int
  vlan_filtering:
    description: VLAN filtering on the bridge. Kernels built without it refuse V(true).
    type: bool
  nf_call_iptables:
    description:
      - Pass bridged IPv4 frames of this bridge through iptables (br_netfilter's per-bridge hook).
      - V(false) keeps bridged LAN frames out of the host firewall. The kernel also passes them
        when the namespace-wide C(net.bridge.bridge-nf-call-iptables) (C(-ip6tables) for IPv6) is on,
        which br_netfilter sets as it loads (Docker loads it and makes FORWARD drop). Then, wherever
        a filter FORWARD chain exists (iptables-nft or iptables-legacy, IPv4 and IPv6), the module adds
        its own chain C(HN-FB-<name>) accepting the frames bridged within this bridge
        (C(-i <name> -o <name> -m physdev --physdev-is-bridged)), reached by one jump tagged
        C(hypervisor.networking) at the top of FORWARD; the switch itself and the other rules stay as
        they are. V(true) and O(state=absent) remove that chain.
      - Omitted, the flag and the FORWARD chains are left alone.
    type: bool
  migrate_from:
    description:
      - Physical bridging. This NIC's global IPv4 and IPv6 addresses, its routes (default route
        included, with metrics) and its MAC move onto the bridge, which then enslaves the NIC.
      - Ordered so that the host is unreachable for as short a time as possible (addresses on the
        bridge first, then the NIC enslaved, routes replaced one kernel operation each, the NIC's
        addresses removed last), in one netlink session.
      - Afterwards the IPv4 default gateway (if one was moved) must answer ARP on the bridge within
        3 seconds; if it does not, every change is undone and the task fails.
      - A second run finds the addresses on the bridge and the NIC enslaved, and changes nothing.
      - With O(state=absent), the way back - the NIC gets the bridge's addresses and routes, leaves
        the bridge (keeping its own MAC, which the bridge had copied), and the bridge is deleted.
    type: str
  addressing:
    description:
      - With O(migrate_from), how the bridge takes its IPv4 address, now and in the persisted files.
      - V(auto) - as the NIC has it now. An address that expires (a DHCP client's) moves with its
        remaining lifetimes and the bridge is persisted with DHCP (ifupdown C(inet dhcp), networkd
        C(DHCP=yes) with the NIC's client identity, NetworkManager C(method=auto)); the bridge has the
        NIC's MAC, so the server sees the same client and keeps the lease. The host's manager takes
        the DHCP client over to the bridge once the files are written (ifupdown - the NIC's dhclient
        stops without releasing its lease, C(ifup) starts the bridge's). Otherwise static. Once
        written, DHCP stays (the lease may have lapsed by the next run).
      - V(static) - the addresses as they are now, made permanent and persisted as static.
      - V(dhcp) - persisted with DHCP whatever the NIC has now.
      - SLAAC follows the NIC whatever this says.
    type: str
    choices: [auto, static, dhcp]
    default: auto
  rollback_timeout:
    description:
      - With O(migrate_from), seconds after which the migration reverts itself unless a later call
        with O(confirm=true) arrives. Before anything changes, the way back is saved on the host
        (under C(/run/hypervisor-networking)) and a reverter is started in its own session, so it
        runs even when the controller's connection is cut by the change.
      - V(0) arms nothing.
    type: int
    default: 0
  confirm:
    description:
      - Disarm a pending revert of this bridge (make it over a new connection, proving the host is
        still reachable). Without a pending revert nothing changes.
    type: bool
    default: false
notes:
  - IPv6 link-local addresses and addresses the kernel configures by itself (SLAAC) are
    neither reported in RV(bridge.addresses) nor purged.
seealso:
  - module: hypervisor.networking.tap_iface
"""

EXAMPLES = r"""
- name: A NAT bridge (ip link add br0 type bridge; ip addr add 192.168.100.1/24 brd + dev br0; up)
  hypervisor.networking.linux_bridge:
    name: br0
    addresses:
      - 192.168.100.1/24

- name: Exact addresses and ports, with STP
  hypervisor.networking.linux_bridge:
    name: br1
    addresses: [10.10.0.1/24, "2001:db8:10::1/64"]
    purge_addresses: true
    ports: [veth-guest1, veth-guest2]
    purge_ports: true
    stp: true
    forward_delay: 4
    mtu: 9000

- name: Physical bridging (ip link set eth0 master br0), keeping the host reachable
  hypervisor.networking.linux_bridge:
    name: br0
    migrate_from: eth0
    nf_call_iptables: false

- name: Remove a bridge
  hypervisor.networking.linux_bridge:
    name: br1
    state: absent
"""

RETURN = r"""
actions:
  description: One line per change made (or planned, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create bridge br0", "add address 192.168.100.1/24 to br0", "set br0 up"]
bridge:
  description: The bridge as it is after the run (as it would be, in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Bridge name.
      type: str
      returned: when present
    up:
      description: Administrative state.
      type: bool
      returned: when present
    addresses:
      description: Configured addresses with prefix length, IPv4 first; IPv6 link-local ones are left out.
      type: list
      elements: str
      returned: when present
    ports:
      description: Enslaved interfaces, sorted by name.
      type: list
      elements: str
      returned: when present
    mtu:
      description: MTU.
      type: int
      returned: when present
    mac:
      description: MAC address.
      type: str
      returned: when present
    stp:
      description: Spanning tree enabled.
      type: bool
      returned: when present
    forward_delay:
      description: Forward delay in seconds.
      type: int
      returned: when present
    vlan_filtering:
      description: VLAN filtering enabled.
      type: bool
      returned: when present
    nf_call_iptables:
      description: Bridged IPv4 frames pass iptables.
      type: bool
      returned: when present
  sample: {name: br0, up: true, addresses: [192.168.100.1/24], ports: [], mtu: 1500, mac: "02:42:ac:11:00:02",
           stp: false, forward_delay: 15, vlan_filtering: false, nf_call_iptables: false}
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
  sample: [/etc/network/interfaces.d/hypervisor-networking-1-br0]
renderer:
  description: The network manager carrying the persisted configuration; null when O(persist=false).
  returned: always
  type: str
  sample: ifupdown
forward_accepts:
  description:
    - Where other tools' FORWARD chains get our accepts for the bridge's frames (O(nf_call_iptables=false)
      while the namespace-wide br_netfilter switch is on), by save/restore command, with the rules of
      C(HN-FB-<name>) as they now are (an empty list where the chain was removed).
  type: dict
  returned: when O(nf_call_iptables) is set or O(state=absent), and such a FORWARD chain exists
  sample: {"iptables-nft": ["-i br0 -o br0 -m physdev --physdev-is-bridged -j ACCEPT"]}
"""

import signal


from ansible_collections.hypervisor.networking.plugins.module_utils import (
    _bridge,
    _engine,
    _facets,
    _migrate,
    _module,
    _persist,
    _rollback,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ApplyError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _boot, _nft, _tx
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._apply import firewall_lock
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import BridgeSet
from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink
from ansible_collections.hypervisor.networking.plugins.module_utils._plan import DiffTracker, Plan

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    up=dict(type="bool", default=True),
    addresses=dict(type="list", elements="str"),
    purge_addresses=dict(type="bool", default=False),
    ports=dict(type="list", elements="str"),
    purge_ports=dict(type="bool", default=False),
    mtu=dict(type="int"),
    mac=dict(type="str"),
    stp=dict(type="bool"),
    forward_delay=dict(type="int"),
    vlan_filtering=dict(type="bool"),
    nf_call_iptables=dict(type="bool"),
    migrate_from=dict(type="str"),
    addressing=dict(type="str", choices=list(_migrate.ADDRESSING), default="auto"),
    rollback_timeout=dict(type="int", default=0),
    confirm=dict(type="bool", default=False),
    persist=dict(type="bool", default=True),
    renderer=dict(type="str", choices=list(_persist.RENDERERS), default="auto"),
)


def _by_command(views):
    """{"iptables-nft HN-FB-br0": rules} -> {"iptables-nft": rules} (one chain per world)."""
    return dict((key.split(" ")[0], rules) for key, rules in views.items())


def run(module):
    """Under our lock: our FORWARD accepts and boot-time files are shared with the firewall
    modules."""
    with firewall_lock():
        return _run(module)


def _run(module):
    """Read once, plan both facets, apply unless check mode, read back; return exit_json kwargs."""
    desired = _bridge.desired_state(module.params)
    name = desired["name"]
    renderer = _facets.bridge_renderer(module.params["persist"], module.params["renderer"], desired)
    fw = nft = None
    nf_call = desired["bridge"]["nf_call_iptables"]
    if nf_call is not None or desired["state"] == "absent":
        # ours only: nothing is read or planned when the task does not say
        nft = _nft.NftBackend(module.run_command, module.get_bin_path)
        nft = nft if nft.available() else None
        keep = True if desired["state"] == "present" and nf_call is False else None
        fw = _tx.plan_sets(None, [BridgeSet(name, keep)], nft, module.run_command, module.get_bin_path)
    with Netlink() as nl:
        links, addrs = nl.links(), nl.addresses()
        before = _bridge.bridge_view(name, links, addrs)
        plan, after, probe = _facets.bridge_plan(desired, nl, links, addrs)
        pending = _rollback.pending(name) is not None
        confirm = desired["confirm"] and pending
        arm = bool(plan) and desired["rollback_timeout"] > 0
        routes = [r for link in (desired["migrate_from"], name) if renderer and link and link in links
                  for r in nl.routes(link)]
        # a migration waiting for its confirmation is not written down: an unconfirmed one
        # reverts, and a reboot before the confirmation must find the NIC as it was
        files = Plan() if arm or (pending and not confirm) else \
            _facets.bridge_files(renderer, desired, after, routes, module.get_bin_path)
        files_before = _persist.texts_before(files)
        executor = _engine.Executor(module, nl, nft, fw.worlds if fw else [])
        # the accepts first (harmless before the bridge exists), the files once the runtime holds
        whole = Plan((fw.plan.actions if fw else []) + plan.actions + files.actions)
        if whole and not module.check_mode:
            if desired["migrate_from"]:
                # the controller's connection may drop while the NIC moves: finish anyway
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
            if arm:
                _rollback.arm(name, [a.undo for a in reversed(whole.actions) if a.undo], desired["rollback_timeout"])
            solicit = _migrate.takes_advertisements(desired, plan)
            try:
                _engine.apply(whole, executor, context=name)
                if not _migrate.settle(name, after.get("mac"), probe, solicit):
                    raise ApplyError("%s: the gateway %s did not answer ARP on %s after the migration from %s; "
                                     "every change was undone" % (name, probe[1], name, desired["migrate_from"]),
                                     applied=whole.lines(), rolled_back=whole.undo_all(executor))
            except Exception:
                if arm:  # the plan is undone already; nothing left to revert
                    _rollback.disarm(name)
                raise
            if plan:
                links, addrs = nl.wait_until(_bridge.settled(desired, after))
                after = _bridge.bridge_view(name, links, addrs)  # what the kernel holds, not the prediction
        if confirm and not module.check_mode:
            _rollback.disarm(name)
        if desired["state"] == "absent" and not module.check_mode:
            _rollback.forget(name)  # nothing of a removed bridge stays under /run
    if files and not module.check_mode:
        _boot.daemon_reload(module, files)
        _boot.prune()
        _persist.tell_manager(module, renderer, files, (desired["migrate_from"], name, desired["state"] == "present"))
    actions = (fw.lines if fw else []) + plan.lines() + files.lines() + _persist.manager_lines(renderer, files)
    if arm:
        actions.append("arm a revert of %s in %d s unless confirmed" % (name, desired["rollback_timeout"]))
    if confirm:
        actions.append("confirm %s: disarm the pending revert" % name)
    result = {"changed": bool(actions), "actions": actions, "bridge": after,
              "changed_runtime": bool(plan or fw or arm or confirm), "changed_persistent": bool(files),
              "persisted": [a.args["path"] for a in files], "renderer": None if renderer == _persist.ANY else renderer}
    shown = bool(fw and (fw.before or fw.after))
    if shown:
        # where a FORWARD of another tool's needs our accepts: {command: rules}
        result["forward_accepts"] = _by_command(fw.after)
    if module._diff:
        if shown:
            before = dict(before, forward_accepts=_by_command(fw.before))
            after = dict(after, forward_accepts=_by_command(fw.after))
        if renderer is not None:
            before, after = dict(before, files=files_before), dict(after, files=_persist.texts_after(files))
        result["diff"] = DiffTracker(before, after, parts=False).diff(name)
    return result


def main():
    _module.main("linux_bridge", run, ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
