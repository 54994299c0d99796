# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""guest_network's action: the module's own validation of every option on the controller
(one pass, before anything reaches the host), then the module with the options as validated
and their digest (``checked``), so the module does not check the items' types again."""

from __future__ import annotations

import json

from ansible.plugins.action import ActionBase

from ansible_collections.hypervisor.networking.plugins.module_utils._network import validate
from ansible_collections.hypervisor.networking.plugins.module_utils._validate import CHECKED, args_digest


class ActionModule(ActionBase):
    """Validate, then run hypervisor.networking.guest_network on the host."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        # plain data: the validation copies every item, and copying ansible-core's tagged
        # values of a thousand TAPs and forwards costs a quarter of a second
        args = json.loads(json.dumps(self._task.args, default=str))
        message, params = validate(args)
        if message:
            result.update(failed=True, changed=False, msg="guest_network: %s" % message)
            return result
        params = dict(params)
        params[CHECKED] = args_digest(params)
        result.update(self._execute_module(module_name="hypervisor.networking.guest_network",
                                           module_args=params, task_vars=task_vars))
        return result
