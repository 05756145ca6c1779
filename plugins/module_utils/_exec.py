# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: exec of an argv in a container through the API
server (pods/exec), with a hard timeout, complete output and the real exit code."""

from __future__ import annotations

import json
import time

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError, auth_headers, k8s_path

try:
    from kubernetes.stream.ws_client import WSClient, get_websocket_url
except ImportError:  # reported by the module through missing_required_lib
    WSClient = get_websocket_url = None


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


def handshake_error(exc) -> str:
    """One line for a failed websocket handshake or connection: the API server's own message
    when it sent a Status body (websocket-client keeps it in resp_body)."""
    code = getattr(exc, "status_code", None)
    body = getattr(exc, "resp_body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    message = status_message(body) if body else ""
    text = message or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return f"HTTP {code}: {text}" if code else text


def run(api, namespace: str, pod: str, container: str, argv: list[str], timeout: float) -> dict:
    """{'rc', 'stdout', 'stderr'}; raises K8sError on timeout or when no exit status arrives."""
    # the websocket directly (as kubernetes.stream does underneath): the generated CoreV1Api
    # would cost ~2 s of CPU to import per module run with kubernetes >= 37
    url = api.configuration.host.rstrip("/") + k8s_path("api/v1/namespaces", namespace, "pods", pod, "exec")
    query = [("command", argv), ("container", container), ("stdin", "false"), ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
    try:
        resp = WSClient(api.configuration, get_websocket_url(url, query), auth_headers(api), True)
    except Exception as exc:  # noqa: BLE001 - websocket-client raises its own classes
        # a refused handshake: websocket-client's WebSocketBadStatusException carries the status
        if getattr(exc, "status_code", None) == 403 or "Handshake status 403" in str(exc):
            raise K8sError(f"forbidden: needs get and create on pods/exec in {namespace} "
                           f"(the exec is a websocket GET; API servers >= 1.35 also check create)") from None
        raise K8sError(f"exec in {namespace}/{pod}/{container} could not start: {handshake_error(exc)}") from None
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
