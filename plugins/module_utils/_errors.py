# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exception hierarchy, private to this collection.

Only modules turn these into ``fail_json``; module_utils raise, never exit.
"""

from __future__ import annotations


class HypervisorNetworkingError(Exception):
    """Base class: a message for the user plus what was already applied."""

    def __init__(self, msg, applied=None, rolled_back=None):
        super().__init__(msg)
        self.msg = msg
        self.applied = list(applied or [])
        self.rolled_back = list(rolled_back or [])

    def fail_kwargs(self, module_name=""):
        """Keyword arguments for ``AnsibleModule.fail_json``, message prefixed by the module name."""
        kwargs = {"msg": "%s: %s" % (module_name, self.msg) if module_name else self.msg}
        if self.applied or self.rolled_back:
            kwargs["applied_actions"] = self.applied
            kwargs["rolled_back_actions"] = self.rolled_back
        return kwargs


class ValidationError(HypervisorNetworkingError):
    """Bad input, detected before any change."""

    def __init__(self, option, value, reason):
        super().__init__("%s=%r: %s" % (option, value, reason))
        self.option = option
        self.value = value


class StateError(HypervisorNetworkingError):
    """The host is not in a state the request can start from (detected before any change)."""


class ApplyError(HypervisorNetworkingError):
    """The kernel refused a change while a plan was being applied."""


class DependencyError(HypervisorNetworkingError):
    """A Python library the module needs is missing or too old."""

    def __init__(self, msg, library, exception=None):
        super().__init__(msg)
        self.library = library
        self.exception = exception
