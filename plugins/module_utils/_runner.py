# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: the one error type and the one way a module hands
off to module_utils. Every failure a user can act on is an OpsError (or a subclass: K8sError,
EngineError, PipelineError, RegistryError, UsageError) whose `msg` is one line and whose
`details` are extra result keys; run_module turns it into fail_json. Anything else is a defect:
it is reported in one line too, with the traceback where Ansible shows tracebacks (-vvv)."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib


class OpsError(Exception):
    """A step failed; `msg` is one line for the user, `details` extra result keys."""

    def __init__(self, msg: str, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class UsageError(OpsError):
    """The task's arguments cannot work (found before anything was changed)."""


def first_line(text) -> str:
    """The first non-empty line of an error text, stripped (never a traceback)."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return str(text).strip()


def last_line(text) -> str:
    """The last non-empty line of a command's output, stripped (where etcdctl and the shell tools
    put the reason they failed)."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_module(module, action, library: tuple[str, bool, str | None]) -> None:
    """Check the library (name, present, import error), run action(module) -> result and report:
    exit_json with the result (its `warnings` as module warnings), or fail_json with one line."""
    name, present, import_error = library
    if not present:
        module.fail_json(msg=missing_required_lib(name), exception=import_error)
    try:
        result = action(module)
    except OpsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except Exception as exc:  # noqa: BLE001 - a defect: one line; Ansible shows the traceback at -vvv
        module.fail_json(msg=f"unexpected {type(exc).__name__}: {first_line(exc) or 'no message'}",
                         exception=traceback.format_exc())
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    module.exit_json(**result)
