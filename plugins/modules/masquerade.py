#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: masquerade
short_description: Source NAT (masquerade) for a guest subnet, with the matching FORWARD rules
version_added: 0.3.0
description:
  - Translates traffic from O(source) leaving through O(out_interface) to the host's address
    (as C(iptables -t nat -A POSTROUTING -o enp4s0 -j MASQUERADE) does), and with O(forward)
    lets that traffic and its replies through FORWARD, nothing wider (no blanket ACCEPT).
  - The rule set named O(name) is exactly what the task says; changing an option updates it in
    place, O(state=absent) removes every trace of it (and this collection's table or chains
    when nothing of ours is left). Rules of other tools and of the user are never touched.
author:
  - Hypervisor Networking Contributors (@hypervisor-networking)
extends_documentation_fragment:
  - hypervisor.networking.attributes
  - hypervisor.networking.firewall
  - hypervisor.networking.firewall.PERSIST
options:
  name:
    description: Identity of the rule set (1-64 letters, digits, V(-), V(_) or V(.); a bridge name works).
    type: str
    required: true
  state:
    description: V(absent) removes the rule set.
    type: str
    choices: [present, absent]
    default: present
  source:
    description: IPv4 subnet to translate, for example V(192.168.100.0/24). Required when O(state=present).
    type: str
  out_interface:
    description:
      - Uplink the translated traffic leaves through. Left out, any interface.
      - Matched literally; a name containing V(!), V(+), V(*), quotes or a backslash is refused,
        since iptables or nftables would read it as negation, a wildcard or quoting.
    type: str
  exclude_destinations:
    description:
      - IPv4 destinations not translated (for example the source subnet itself, V(224.0.0.0/24),
        V(255.255.255.255/32)). Overlapping entries are merged.
    type: list
    elements: str
    default: []
  forward:
    description: Also accept O(source) -> O(out_interface) and established/related traffic back in FORWARD.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: NAT for the guest bridge, out of the uplink
  hypervisor.networking.masquerade:
    name: br0
    source: 192.168.100.0/24
    out_interface: enp4s0
    exclude_destinations: [192.168.100.0/24, 224.0.0.0/24, 255.255.255.255/32]

- name: Remove it
  hypervisor.networking.masquerade:
    name: br0
    state: absent
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
  description: One line per rule added or removed (or, in check mode, to be), with the backend.
  returned: always
  type: list
  elements: str
  sample: ['nftables: add to masq_br0_post: ip saddr 192.168.100.0/24 oifname "enp4s0" masquerade']
rule:
  description: The normalised rule set (V(null) options when absent).
  returned: always
  type: dict
  sample: {name: br0, state: present, source: 192.168.100.0/24, out_interface: enp4s0,
           exclude_destinations: [192.168.100.0/24], forward: true}
backend:
  description: The backend used (V(auto) resolved).
  returned: always
  type: str
  sample: nftables
rules:
  description: The set's rules per chain after the run (would be, in check mode), as the backend prints them.
  returned: always
  type: dict
"""


from ansible_collections.hypervisor.networking.plugins.module_utils import _module
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import ValidationError
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall import _apply
from ansible_collections.hypervisor.networking.plugins.module_utils._firewall._model import (
    Masquerade,
    masquerade_sets,
    set_name,
)

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    source=dict(type="str"),
    out_interface=dict(type="str"),
    exclude_destinations=dict(type="list", elements="str", default=[]),
    forward=dict(type="bool", default=True),
    backend=dict(type="str", choices=["auto", "nftables", "iptables"], default="auto"),
    persist=dict(type="bool", default=True),
)


def run(module):
    """Validate, pick the backend, plan the set's rules, apply as one transaction."""
    params = module.params
    name = set_name("name", params["name"])
    rule = None
    if params["state"] == "present":
        if not params["source"]:
            raise ValidationError("source", params["source"], "required when state is present")
        rule = Masquerade.from_params(params)
    result = _apply.converge(module, masquerade_sets(name, rule), params["backend"], params["persist"])
    result["rule"] = dict(rule.as_dict(), state="present") if rule else {"name": name, "state": "absent"}
    return result


def main():
    _module.main("masquerade", run, ARGUMENT_SPEC, pyroute2=False)


if __name__ == "__main__":
    main()
