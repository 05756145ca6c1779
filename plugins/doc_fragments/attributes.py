# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Descriptions of the attributes every module declares; modules state only their support."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    K8S = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/etcd_wrapper.ops.k8s) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - etcd_wrapper.ops.k8s
"""

    DOCKER = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/etcd_wrapper.ops.docker) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - etcd_wrapper.ops.docker
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - Reads only; runs the same in check mode.
  diff_mode:
    support: N/A
    details:
      - Changes nothing, so there is nothing to diff.
  idempotent:
    support: full
"""
