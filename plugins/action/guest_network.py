# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""guest_network's action: the module's own validation of every option on the controller
(one pass, before anything reaches the host), then the module."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.hypervisor.networking.plugins.module_utils._network import check


class ActionModule(ActionBase):
    """Validate, then run hypervisor.networking.guest_network on the host."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        message = check(self._task.args)
        if message:
            result.update(failed=True, changed=False, msg="guest_network: %s" % message)
            return result
        result.update(self._execute_module(module_name="hypervisor.networking.guest_network",
                                           module_args=self._task.args, task_vars=task_vars))
        return result
