# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs etcd_wrapper.ops.etcd_debug_image with build.context defaulting to the collection's
own root on the controller, so the shipped ops/Dockerfile builds without any path."""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        build = args.get("build")
        source = args.get("source", "build")
        if (build is None or isinstance(build, dict)) and source == "build" and not (build or {}).get("context"):
            if self._connection.transport != "local":
                result.update(failed=True, msg=(
                    "build.context is required when etcd_debug_image runs on a remote host: the default "
                    "(the collection's root) exists only on the controller; or use delegate_to: localhost"))
                return result
            build = dict(build or {})
            build["context"] = COLLECTION_ROOT
            args["build"] = build
        result.update(self._execute_module(module_name=self._task.resolved_action or "etcd_wrapper.ops.etcd_debug_image",
                                           module_args=args, task_vars=task_vars))
        return result
