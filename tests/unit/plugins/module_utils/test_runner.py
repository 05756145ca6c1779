# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one runner: what reaches fail_json / exit_json for each way an action ends."""

from __future__ import annotations

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._docker import EngineError
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError, first_line, run_module


class _Exit(Exception):
    pass


class _Module:
    """Records what AnsibleModule's fail_json / exit_json / warn receive (they end the module)."""

    def __init__(self):
        self.warnings, self.outcome = [], None

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, **kwargs):
        self.outcome = ("failed", kwargs)
        raise _Exit()

    def exit_json(self, **kwargs):
        self.outcome = ("ok", kwargs)
        raise _Exit()


def run(action, library=("kubernetes", True, None)):
    module = _Module()
    with pytest.raises(_Exit):
        run_module(module, action, library)
    return module


def test_result_and_warnings():
    module = run(lambda m: {"changed": True, "warnings": ["careful"]})
    assert module.outcome == ("ok", {"changed": True}) and module.warnings == ["careful"]


@pytest.mark.parametrize("error", [K8sError("pod 'x' not found", container="c"), EngineError("no engine"),
                                   UsageError("concurrency must be at least 1"), OpsError("rc 2")])
def test_every_ops_error_is_its_message_and_details(error):
    def action(_module):
        raise error
    kind, result = run(action).outcome
    assert kind == "failed" and result == {"msg": error.msg, **error.details}
    assert "exception" not in result


def test_a_defect_is_one_line_with_the_traceback_for_vvv():
    def action(_module):
        return {}["missing"]
    kind, result = run(action).outcome
    assert kind == "failed" and result["msg"] == "unexpected KeyError: 'missing'"
    assert "Traceback" in result["exception"]  # Ansible prints it only at -vvv


def test_missing_library():
    kind, result = run(lambda m: {}, ("docker", False, "ImportError: No module named 'docker'")).outcome
    assert kind == "failed" and "docker" in result["msg"] and result["exception"].startswith("ImportError")


def test_first_line():
    assert first_line("\n  HTTP 403: forbidden\nTraceback (most recent call last):") == "HTTP 403: forbidden"
