# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' common entry point, private to this collection: AnsibleModule with
argument errors that name the option, respawn, and one way failures are reported."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import traceback

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import respawn
from ansible.module_utils.errors import NoLogError

from ansible_collections.hypervisor.networking.plugins.module_utils import _deps, _persist, _rundir
from ansible_collections.hypervisor.networking.plugins.module_utils._validate import CHECKED, args_digest
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
ECHO_ITEMS = 20  # lists longer than this are echoed as their size and digest


def invocation(module):
    """The ``invocation`` Ansible echoes back: the arguments as given, except that a long
    list (a thousand TAPs or forwards: most of the result's size) is its size and the digest
    of its items; with -vvv or more, every argument as given."""
    if module._verbosity >= 3:
        return {"module_args": module.params, "items_checked": module.items_checked}
    args = {}
    for key, value in module.params.items():
        if isinstance(value, list) and len(value) > ECHO_ITEMS:
            text = json.dumps(value, sort_keys=True, default=str).encode("utf-8", "surrogateescape")
            value = {"items": len(value), "sha256": hashlib.sha256(text).hexdigest(), "shown": "with -vvv"}
        args[key] = value
    return {"module_args": args, "items_checked": module.items_checked}


def _respawn_for(libraries):
    """Re-run the module under the system Python when a distribution-only binding
    (python3-pyroute2, python3-nftables) is missing from the interpreter Ansible picked
    and the system Python has it (Ansible's respawn; once, under AnsiballZ only)."""
    main_module = sys.modules.get("__main__")
    if respawn.has_respawned() or not hasattr(main_module, "_module_fqn"):
        return
    for library in libraries:
        # found, not imported: importing pyroute2 costs a tenth of a second a run may not need
        if importlib.util.find_spec(library) is None:
            interpreter = respawn.probe_interpreters_for_module(list(SYSTEM_PYTHONS), library)
            if interpreter:
                respawn.respawn_module(interpreter)


def spec_for(argument_spec):
    """The argument spec to check the given options with. Where the module's action plugin
    validated these very options on the controller (``checked`` is their digest), the items
    of list and dict options are not checked again (a thousand TAPs and forwards: each item
    once per run); the options' own types, and every check of the module's code, stay."""
    if CHECKED not in argument_spec:
        return argument_spec
    given = basic._load_params()
    if not isinstance(given, dict) or not given.get(CHECKED) or given[CHECKED] != args_digest(given):
        return argument_spec
    return dict((key, dict((k, v) for k, v in spec.items() if k not in ("options", "apply_defaults")))
                for key, spec in argument_spec.items())


def main(name, run, argument_spec, pyroute2=True, **kwargs):
    """A module's whole life: arguments, its libraries (respawned under the system Python
    where only that one has them), ``run(module)``, and every failure as one clean
    fail_json naming the module (the library's traceback with a dependency failure)."""
    spec = spec_for(argument_spec)
    module = Module(argument_spec=spec, supports_check_mode=True, **kwargs)
    # where the items of list options were checked: by the action plugin, or here
    module.items_checked = "on the controller" if spec is not argument_spec else "on the host"
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
    if not module.check_mode:
        _persist.remember_files()
    result.setdefault("invocation", invocation(module))
    module.exit_json(**result)
