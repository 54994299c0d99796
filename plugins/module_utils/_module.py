# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AnsibleModule with argument errors that name the option, private to this collection."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.errors import NoLogError


class Module(AnsibleModule):
    """ansible-core scans suboptions for no_log values before it checks types; for a
    list-of-dicts option given a string, that scan's error ("dictionary requested, could
    not parse JSON or key=value") comes first and names nothing, while the type check's
    error after it names the option: that one is reported."""

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        result = getattr(self, "validation_result", None)
        errors = result.errors.errors if result is not None else []
        if errors and msg == errors[0].msg:
            named = [e.msg for e in errors if not isinstance(e, NoLogError)]
            msg = named[0] if named else msg
        super().fail_json(msg=msg, **kwargs)
