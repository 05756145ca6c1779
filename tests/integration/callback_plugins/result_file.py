# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only callback: writes the last task result (ok, failed or skipped) as JSON to the file
named by RESULT_FILE, so tests can assert on exactly what a module returned."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "result_file"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, **flags):
        path = os.environ.get("RESULT_FILE")
        if not path:
            return
        data = dict(result._result)
        data.update(flags)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, default=str)

    def v2_runner_on_ok(self, result):
        self._write(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._write(result, skipped=True)
