#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iptables_dnat
short_description: Publish guest ports on the host (DNAT), with hairpin and localhost access
version_added: 0.3.0
description:
  - Forwards host ports to guests (C(iptables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT
    --to-destination 192.168.100.2:80)), as a named set that is exactly O(forwards); a forward
    dropped from the list is removed, a changed one updated in place.
  - With the nftables backend, forwards are dispatched through maps keyed by the fields they
    match on (protocol and port, plus O(forwards[].in_interface), O(forwards[].sources) and
    O(forwards[].destination) where set), so the cost per packet does not grow with their number;
    forwards narrowed by more fields are looked up first. Our DNAT marks the connections it
    translates (conntrack mark bit C(0x00200000)) and every FORWARD accept for them is one rule
    matching that mark, in our own table or chains and, where iptables FORWARD chains of other
    tools exist (Docker, libvirt), in a chain of ours jumped to from their top.
  - With the iptables backend (iptables-legacy), each forward is two rules in our own nat chain
    (evaluated for the first packet of a connection only) and the FORWARD accept is one rule.
  - O(hairpin) lets guests reach a forward through the host's address (their replies are
    masqueraded so they come back through the host); O(localhost) lets the host itself reach
    forwards via its own addresses and 127.0.0.1. That needs C(net.ipv4.conf.all.route_localnet=1),
    which would let any interface reach the host's 127.0.0.0/8 services, so a rule of ours drops
    packets to 127.0.0.0/8 that did not arrive on C(lo) and were not translated by our DNAT, and
    the value goes back to what it was once no forward set of ours needs it.
  - Rules of other tools and of the user are never touched.
author:
  - Hypervisor Networking Contributors (@hypervisor-networking)
extends_documentation_fragment:
  - hypervisor.networking.attributes
  - hypervisor.networking.firewall
  - hypervisor.networking.firewall.PERSIST
options:
  name:
    description: Identity of the forward set (1-64 letters, digits, V(-), V(_) or V(.); a bridge name works).
    type: str
    required: true
  state:
    description: V(absent) removes the whole set.
    type: str
    choices: [present, absent]
    default: present
  forwards:
    description: The forwards of the set; the set is exactly this list.
    type: list
    elements: dict
    default: []
    suboptions:
      proto:
        description: Protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
      port:
        description: Host port, or a range V(5000-5010).
        type: raw
        required: true
      to_addr:
        description: Guest IPv4 address.
        type: str
        required: true
      to_port:
        description: Guest port or range (as long as O(forwards[].port)); defaults to O(forwards[].port).
        type: raw
      in_interface:
        description:
          - Only traffic arriving on this interface. Matched literally; a name containing V(!), V(+),
            V(*), quotes or a backslash is refused (rule syntax in iptables or nftables).
        type: str
      destination:
        description: Only traffic to this host address (default any local address).
        type: str
      sources:
        description:
          - Only clients from these IPv4 networks. Left out, any source.
          - An empty list is refused (an empty templated variable must not publish the port to everyone).
        type: list
        elements: str
  hairpin:
    description: Guests reach forwards through the host's address and get replies.
    type: bool
    default: true
  localhost:
    description: The host itself reaches forwards via its own addresses and 127.0.0.1 (IPv4 only).
    type: bool
    default: false
  forward:
    description: Accept the translated flows (and their replies) in FORWARD.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Publish a guest's web server and DNS on the host
  hypervisor.networking.iptables_dnat:
    name: web
    forwards:
      - {port: 8080, to_addr: 192.168.100.2, to_port: 80}
      - {proto: udp, port: 53, to_addr: 192.168.100.3}
      - {port: 2222, to_addr: 192.168.100.2, to_port: 22, sources: [198.51.100.0/24]}
      - {port: 5000-5010, to_addr: 192.168.100.4}
"""

RETURN = r"""
changed_runtime:
  description: The running rules changed (or would, in check mode).
  returned: always
  type: bool
changed_persistent:
  description: The boot-time load changed (or would, in check mode).
  returned: always
  type: bool
persisted:
  description: The files written or removed by this run (that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/hypervisor-networking/firewall.d/masq-br0.json, /etc/hypervisor-networking/nftables.json]
actions:
  description: One line per rule or map element added or removed (or, in check mode, to be).
  returned: always
  type: list
  elements: str
forwards:
  description: The forwards, normalised.
  returned: always
  type: list
  elements: dict
  sample: [{proto: tcp, port: 8080, to_addr: 192.168.100.2, to_port: 80, in_interface: null,
            destination: null, sources: []}]
backend:
  description: The backend used (V(auto) resolved).
  returned: always
  type: str
rules:
  description: The set's rules per chain, and map/set elements, after the run (would be, in check mode).
  returned: always
  type: dict
"""


from ansible_collections.hypervisor.networking.plugins.module_utils import _deps, _module
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _apply
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    FORWARD_SPEC,
    ForwardSet,
    forward_sets,
    set_name,
)
from ansible_collections.hypervisor.networking.plugins.module_utils._netlink import Netlink

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    forwards=dict(type="list", elements="dict", options=FORWARD_SPEC, default=[]),
    hairpin=dict(type="bool", default=True),
    localhost=dict(type="bool", default=False),
    forward=dict(type="bool", default=True),
    backend=dict(type="str", choices=["auto", "nftables", "iptables"], default="auto"),
    persist=dict(type="bool", default=True),
)


def hairpin_subnets(module, fset):
    """[(subnet, interface)] the forwards' targets sit on, read from the routing table."""
    if not (fset.hairpin and fset.forwards):
        return []
    if not _deps.HAS_PYROUTE2:
        module.warn("hairpin needs pyroute2 to find the guests' subnets; no hairpin rule was planned")
        return []
    found = set()
    with Netlink() as nl:
        for addr in sorted(set(f.to_addr for f in fset.forwards)):
            subnet = nl.on_link_subnet(addr)
            if subnet is None:
                module.warn("hairpin: %s is not on a directly connected subnet (yet); no hairpin rule for it" % addr)
            else:
                found.add(subnet)
    return sorted(found)


def run(module):
    """Validate, find hairpin subnets, plan the set on the backend, apply as one transaction."""
    params = module.params
    name = set_name("name", params["name"])
    present = params["state"] == "present"
    fset = ForwardSet.from_params(params) if present else ForwardSet(name, [])
    subnets = hairpin_subnets(module, fset) if present else []
    result = _apply.converge(module, forward_sets(fset if present else None, subnets, name, keep_empty=True), params["backend"],
                             params["persist"])
    result["forwards"] = [f.as_dict() for f in fset.forwards]
    return result


def main():
    _module.main("iptables_dnat", run, ARGUMENT_SPEC, pyroute2=False)


if __name__ == "__main__":
    main()
