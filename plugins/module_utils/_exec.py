# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: exec of an argv in a container through the API
server (pods/exec), with a hard timeout, complete output and the real exit code."""

from __future__ import annotations

import json
import time

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError

try:
    from kubernetes import client as k8s_client
    from kubernetes.client.rest import ApiException
    from kubernetes.stream import stream as k8s_stream
except ImportError:  # reported by the module through missing_required_lib
    k8s_client = k8s_stream = None

    class ApiException(Exception):  # keeps the except clause valid; never raised without the library
        pass


def exit_code(status_text: str | None) -> int | None:
    """The rc in the exec status channel: Success -> 0, NonZeroExitCode -> its ExitCode cause.
    An empty, malformed or unknown status is None, never 0."""
    if not status_text:
        return None
    try:
        status = json.loads(status_text)
    except ValueError:
        return None
    if not isinstance(status, dict):
        return None
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    return None
    return None


def status_message(status_text: str | None) -> str:
    try:
        return (json.loads(status_text or "") or {}).get("message") or ""
    except (ValueError, AttributeError):
        return ""


def run(api, namespace: str, pod: str, container: str, argv: list[str], timeout: float) -> dict:
    """{'rc', 'stdout', 'stderr'}; raises K8sError on timeout or when no exit status arrives."""
    core = k8s_client.CoreV1Api(api)
    try:
        resp = k8s_stream(core.connect_get_namespaced_pod_exec, pod, namespace, container=container,
                          command=argv, stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False)
    except ApiException as exc:
        # a refused websocket handshake arrives as status 0 with the 403 in its reason
        if getattr(exc, "status", None) == 403 or "Handshake status 403" in str(exc):
            raise K8sError(f"forbidden: needs get and create on pods/exec in {namespace} "
                           f"(the exec is a websocket GET; API servers >= 1.35 also check create)") from None
        raise
    out, err = [], []
    deadline = time.monotonic() + timeout
    try:
        while resp.is_open():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise K8sError(f"exec of {argv[0]} in {namespace}/{pod}/{container} timed out after {timeout:g}s",
                               stdout="".join(out), stderr="".join(err))
            resp.update(timeout=min(1.0, remaining))
            if resp.peek_stdout():
                out.append(resp.read_stdout())
            if resp.peek_stderr():
                err.append(resp.read_stderr())
        # drain what arrived with the close
        if resp.peek_stdout():
            out.append(resp.read_stdout())
        if resp.peek_stderr():
            err.append(resp.read_stderr())
        status = resp.read_channel(3)
    finally:
        resp.close()
    rc = exit_code(status)
    if rc is None:
        detail = status_message(status) or (status or "").strip() or "the stream closed without a status"
        raise K8sError(f"exec of {argv[0]} in {namespace}/{pod}/{container} ended without an exit code: {detail}",
                       stdout="".join(out), stderr="".join(err))
    return {"rc": rc, "stdout": "".join(out), "stderr": "".join(err)}
