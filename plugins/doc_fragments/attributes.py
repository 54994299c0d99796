# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Shared attribute and requirement text."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Check mode plans every step and returns the state the host would be in.
  diff_mode:
    support: full
    description: Returns structured before/after dictionaries of the managed resource.
  platform:
    support: full
    platforms: linux
    description: Linux hosts; runs as root.
"""

    PYROUTE2 = r"""
options: {}
requirements:
  - pyroute2 >= 0.7.2 on the managed host (Debian's C(python3-pyroute2) or PyPI).
"""
