# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs etcd_wrapper.ops.etcd_health_report in the controller's Ansible process: the report is
built and written on the controller, where it belongs, without shipping and starting a module
(a Python interpreter, ~0.3-0.9 s of CPU on the machine the sweep is measured on). The Markdown and
HTML renderings use Jinja2 templates that ship in plugin_utils, which only the controller has; the
Pushgateway push (ansible.module_utils.urls.open_url) goes from the controller too."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._health_report import ARGUMENT_SPEC
from ansible_collections.etcd_wrapper.ops.plugins.plugin_utils._health_report_render import run_or_error


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=str(exc.message))
            return result
        report, error = run_or_error(params, bool(self._task.check_mode))
        if report:  # also when only the push failed: the files are written, the result says which
            result.update(report)
        if error:
            result.update(failed=True, msg=error)
        return result
