# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' common entry point, private to this collection: AnsibleModule with
argument errors that name the option, respawn, and one way failures are reported."""

from __future__ import annotations

import sys
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import respawn
from ansible.module_utils.errors import NoLogError

from ansible_collections.hypervisor.networking.plugins.module_utils import _deps, _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils._errors import (
    DependencyError,
    HypervisorNetworkingError,
    ValidationError,
)


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


SYSTEM_PYTHONS = ("/usr/bin/python3",)


def _respawn_for(libraries):
    """Re-run the module under the system Python when a distribution-only binding
    (python3-pyroute2, python3-nftables) is missing from the interpreter Ansible picked
    and the system Python has it (Ansible's respawn; once, under AnsiballZ only)."""
    main_module = sys.modules.get("__main__")
    if respawn.has_respawned() or not hasattr(main_module, "_module_fqn"):
        return
    for library in libraries:
        try:
            __import__(library)
        except ImportError:
            interpreter = respawn.probe_interpreters_for_module(list(SYSTEM_PYTHONS), library)
            if interpreter:
                respawn.respawn_module(interpreter)


def main(name, run, argument_spec, pyroute2=True, **kwargs):
    """A module's whole life: arguments, its libraries (respawned under the system Python
    where only that one has them), ``run(module)``, and every failure as one clean
    fail_json naming the module (the library's traceback with a dependency failure)."""
    module = Module(argument_spec=argument_spec, supports_check_mode=True, **kwargs)
    _respawn_for(("pyroute2", "nftables") if pyroute2 else ("nftables",))
    if pyroute2:
        _deps.require_pyroute2(module)
    try:
        if not module.check_mode:
            _rundir.sweep()  # notes of network namespaces that are gone
        result = run(module)
    except DependencyError as exc:
        module.fail_json(exception=exc.exception or traceback.format_exc(), missing_dependency=exc.library,
                         **exc.fail_kwargs(name))
    except HypervisorNetworkingError as exc:
        kwargs = exc.fail_kwargs(name)
        names = module.params.get("option_names")
        if names and isinstance(exc, ValidationError):
            from ansible_collections.hypervisor.networking.plugins.module_utils._network import renamed
            kwargs["msg"] = "%s: %s" % (name, renamed(exc.msg, names))
        module.fail_json(**kwargs)
    except _deps.NetlinkError as exc:
        module.fail_json(msg="%s: the kernel refused a netlink request: %s" % (name, exc),
                         exception=traceback.format_exc())
    except (IOError, OSError) as exc:
        module.fail_json(msg="%s: %s%s" % (name, exc.strerror or exc, ": %s" % exc.filename if exc.filename else ""),
                         exception=traceback.format_exc())
    module.exit_json(**result)
