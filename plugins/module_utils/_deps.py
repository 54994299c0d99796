# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guarded optional imports, private to this collection.

The minimum versions here are the ones the doc fragments state.
"""

from __future__ import annotations

import importlib.util
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import DependencyError

PYROUTE2_MIN = "0.7.2"  # Debian 12's python3-pyroute2

# Found without importing it: importing pyroute2 takes a tenth of a second, and a run that
# changes nothing reads the kernel through _rtnl and never needs it.
HAS_PYROUTE2 = importlib.util.find_spec("pyroute2") is not None
PYROUTE2_IMPORT_ERROR = None if HAS_PYROUTE2 else "No module named 'pyroute2'"


class _Missing(Exception):
    """Stand-in so except clauses stay valid where pyroute2 cannot be imported."""

    code = 0


def __getattr__(name):
    """``NetlinkError``: pyroute2's, imported when an except clause first asks for it."""
    if name == "NetlinkError":
        try:
            from pyroute2.netlink.exceptions import NetlinkError  # pylint: disable=import-outside-toplevel
        except ImportError:
            return _Missing
        return NetlinkError
    raise AttributeError(name)


def iproute():
    """An open pyroute2 IPRoute (pyroute2 imported now); a DependencyError where it cannot
    be imported after all (a broken installation)."""
    try:
        from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise DependencyError("pyroute2 >= %s cannot be imported: %s" % (PYROUTE2_MIN, exc), "pyroute2",
                              exception=traceback.format_exc())
    return IPRoute()


def _version_tuple(text):
    """'0.7.2' -> (0, 7, 2); non-numeric parts count as 0."""
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def pyroute2_version():
    """Installed pyroute2 version: package metadata first (Debian 12's module says 'unknown')."""
    try:
        from importlib.metadata import version as dist_version
        return dist_version("pyroute2")
    except Exception:  # no metadata (vendored copy) or Python without importlib.metadata
        import pyroute2  # pylint: disable=import-outside-toplevel
        return getattr(pyroute2, "__version__", "unknown")


def require_pyroute2(module):
    """Fail the module unless pyroute2 >= PYROUTE2_MIN imports, with ``missing_dependency``
    (the roles install the distribution package on that)."""
    if not HAS_PYROUTE2:
        module.fail_json(
            msg=missing_required_lib("pyroute2 >= %s" % PYROUTE2_MIN,
                                     reason="for netlink (Debian and RHEL family: package python3-pyroute2)"),
            exception=PYROUTE2_IMPORT_ERROR, missing_dependency="pyroute2",
        )
    version = pyroute2_version()
    if version != "unknown" and _version_tuple(version) < _version_tuple(PYROUTE2_MIN):
        module.fail_json(msg="pyroute2 >= %s is required, found %s" % (PYROUTE2_MIN, version),
                         missing_dependency="pyroute2")


def netns_tools():
    """(pyroute2.netns, IPRoute, NetNS): named network namespaces (the diagnose probe)."""
    from pyroute2 import IPRoute, NetNS, netns  # pylint: disable=import-outside-toplevel
    return netns, IPRoute, NetNS
