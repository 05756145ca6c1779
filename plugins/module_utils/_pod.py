# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: the room for pods and their containers -- reading
a pod (one GET, a 404 told apart into "no such namespace" and "no such pod"), finding a container
or ephemeral container and its status, and saying what state a container is in. Pods are the
API's JSON as plain dicts; every other module_utils asks here instead of walking them itself.

Only read_pod talks to the API, so only it imports _k8s (and with it the kubernetes client): the
pure helpers serve _druid, _findings and the report, which the controller's etcd_health_report action
loads, without costing that process the client's import (0.4 s of CPU per sweep, measured)."""

from __future__ import annotations

# Waiting reasons a kubelet reports that will not resolve by waiting longer.
FAIL_FAST_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                     "CreateContainerConfigError", "CreateContainerError", "RunContainerError")

# (spec list, status list) of each kind of container in a pod
_KINDS = {"containers": ("containers", "containerStatuses"),
          "ephemeral": ("ephemeralContainers", "ephemeralContainerStatuses")}


def read_pod(api, namespace: str, pod: str, where: str) -> dict:
    """The pod as a dict; a 404 says whether the namespace or the pod is missing."""
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import (  # pylint: disable=import-outside-toplevel
        ApiException, K8sError, api_message, forbidden, k8s_path, rest)

    try:
        return rest(api, "GET", k8s_path("api/v1/namespaces", namespace, "pods", pod))
    except ApiException as exc:
        if exc.status == 403:
            raise forbidden(exc, "get", "pods", namespace) from None
        if exc.status != 404:
            raise K8sError(f"reading pod {namespace}/{pod} in {where} failed: HTTP {exc.status} {api_message(exc)}") from None
    try:
        rest(api, "GET", k8s_path("api/v1/namespaces", namespace))
    except ApiException as exc:
        if exc.status == 404:
            raise K8sError(f"namespace '{namespace}' not found in {where}") from None
        # 403: no right to read namespaces; the pod is missing either way
        raise K8sError(f"pod '{pod}' not found in namespace '{namespace}' of {where} (or the namespace does not exist)") from None
    raise K8sError(f"pod '{pod}' not found in namespace '{namespace}' of {where}")


def specs(pod_or_spec: dict, kind: str = "containers") -> list[dict]:
    """The container specs of one kind ('containers' or 'ephemeral') of a pod (or of its spec)."""
    spec = pod_or_spec["spec"] if "spec" in pod_or_spec else pod_or_spec
    return list((spec or {}).get(_KINDS[kind][0]) or [])


def names(pod_or_spec: dict, kind: str = "containers") -> list[str]:
    return [c.get("name") for c in specs(pod_or_spec, kind)]


def container(pod_or_spec: dict, name: str, kind: str = "containers") -> dict | None:
    """The spec of container `name` of one kind, None if the pod has none by that name."""
    return next((c for c in specs(pod_or_spec, kind) if c.get("name") == name), None)


def statuses(pod: dict, kind: str = "containers") -> list[dict]:
    return list((pod.get("status") or {}).get(_KINDS[kind][1]) or [])


def status(pod: dict, name: str, kind: str = "containers") -> dict | None:
    """The status of container `name` of one kind, None when the kubelet reported none yet."""
    return next((s for s in statuses(pod, kind) if s.get("name") == name), None)


def find_any(pod: dict, name: str) -> tuple[dict | None, dict | None]:
    """(spec, status) of `name` among the ephemeral containers, then the containers."""
    for kind in ("ephemeral", "containers"):
        spec = container(pod, name, kind)
        if spec is not None:
            return spec, status(pod, name, kind)
    return None, None


def state_of(container_status: dict | None) -> tuple[str, str | None, str | None]:
    """(running | waiting | terminated | unknown, reason, message) of a container status dict."""
    if not container_status:
        return "unknown", None, None
    state = container_status.get("state") or {}
    for key in ("running", "waiting", "terminated"):
        if state.get(key) is not None:
            detail = state[key] or {}
            return key, detail.get("reason"), detail.get("message")
    return "unknown", None, None


def running(container_status: dict | None) -> bool:
    return state_of(container_status)[0] == "running"


def state_text(container_status: dict | None) -> str:
    """'running', 'waiting (CrashLoopBackOff)', 'terminated (Completed)' or 'unknown'."""
    state, reason, _message = state_of(container_status)
    return f"{state} ({reason})" if reason else state


def describe(container_status: dict | None) -> str:
    """The state with its reason, exit code and message, for error messages."""
    state, reason, message = state_of(container_status)
    if state == "terminated":
        code = ((container_status or {}).get("state") or {}).get("terminated", {}).get("exitCode")
        return f"terminated ({reason or 'exit'} {code})" + (f": {message}" if message else "")
    if state == "waiting":
        return f"waiting ({reason or 'no reason'})" + (f": {message}" if message else "")
    return state


def cannot_start(container_status: dict | None) -> bool:
    """Waiting for a reason waiting longer will not cure (image pull, config errors)."""
    state, reason, _message = state_of(container_status)
    return state == "waiting" and reason in FAIL_FAST_REASONS
