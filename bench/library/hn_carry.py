# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's ``carry`` way: the least a module task costs that takes the nat_bridge
role's N TAPs and N forwards in and gives a view of each back, as guest_network does (the
same keys, a compact ``invocation``), and does nothing else: no check of the items, no read
of the kernel, no plan. What ansible-core itself spends on that data at each N."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

TAP_VIEW = dict(bridge="br0", group=None, in_use=False, mac="fe:00:00:00:00:00", managed=True, mtu=1500,
                multi_queue=False, owner=65534, state="present", up=True, vnet_hdr=False)


def main():
    module = AnsibleModule(argument_spec=dict(taps=dict(type="list", elements="dict", default=[]),
                                              forwards=dict(type="list", elements="dict", default=[])),
                           supports_check_mode=True)
    taps = [dict(TAP_VIEW, name=tap["name"]) for tap in module.params["taps"]]
    forwards = [dict(destination=None, in_interface=None, proto="tcp", sources=[], **forward)
                for forward in module.params["forwards"]]
    module.exit_json(changed=False, invocation={"module_args": {"taps": len(taps), "forwards": len(forwards)}},
                     network=dict(bridge=dict(name="br0", ports=[tap["name"] for tap in taps]), taps=taps,
                                  forwards=forwards))


if __name__ == "__main__":
    main()
