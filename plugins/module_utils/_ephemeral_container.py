# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: attaching a debug container (kubectl debug
--target), what etcd_wrapper.ops.etcd_ephemeral_container does. First the pure part (profiles,
the container and patch bodies, which name to use, PodSecurity messages), then the API flow
(one PATCH of pods/ephemeralcontainers, waiting until the container runs). Pods and container
states come from _pod."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _pod
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import ApiException, K8sError, api_message, forbidden, k8s_path, rest
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError

DEFAULT_COMMAND = ["sleep", "infinity"]

# The securityContext kubectl debug gives an ephemeral container for each --profile.
PROFILES = {
    "general": {"capabilities": {"add": ["SYS_PTRACE"]}},
    "baseline": {},
    "restricted": {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "netadmin": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
    "sysadmin": {"privileged": True},
}


def security_context(profile: str) -> dict:
    import copy
    return copy.deepcopy(PROFILES[profile])


def build_container(name: str, image: str, target: str, target_spec: dict, profile: str,
                    command: list[str] | None = None, env: dict | None = None,
                    image_pull_policy: str | None = None, mount_target_volumes: bool = True) -> dict:
    """The ephemeral container kubectl debug --target would add, plus the target's volumeMounts
    (read-only, same paths) so TLS material is where etcd sees it."""
    container = {
        "name": name,
        "image": image,
        "targetContainerName": target,
        "command": list(command or DEFAULT_COMMAND),
        "stdin": False,
        "tty": False,
        "terminationMessagePolicy": "File",
    }
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    if env:
        container["env"] = [{"name": str(k), "value": str(v)} for k, v in sorted(env.items())]
    sc = security_context(profile)
    if sc:
        container["securityContext"] = sc
    if mount_target_volumes:
        mounts = []
        for mount in target_spec.get("volumeMounts") or []:
            copy = {"name": mount["name"], "mountPath": mount["mountPath"], "readOnly": True}
            if mount.get("subPath"):
                copy["subPath"] = mount["subPath"]
            mounts.append(copy)
        if mounts:
            container["volumeMounts"] = mounts
    return container


def patch_body(container: dict) -> dict:
    """Pod-shaped strategic-merge patch for pods/ephemeralcontainers (a bare container adds nothing)."""
    return {"spec": {"ephemeralContainers": [container]}}


def choose_name(base: str, image: str, specs: list[dict], statuses: list[dict]) -> tuple[str, str]:
    """Which ephemeral container to use: (name, action) with action 'reuse' (same name and
    image, running or starting) or 'create' (free name). A name whose container terminated or
    runs another image is skipped for <base>-2, <base>-3, ...: ephemeral containers can never
    be removed, so one is added only when none can serve."""
    spec_by_name = {s.get("name"): s for s in specs}
    status_by_name = {s.get("name"): s for s in statuses}
    for n in range(1, 1000):
        name = base if n == 1 else f"{base}-{n}"
        spec = spec_by_name.get(name)
        if spec is None:
            return name, "create"
        if spec.get("image") != image:
            continue
        state, _reason, _message = _pod.state_of(status_by_name.get(name))
        if state in ("running", "waiting", "unknown"):
            return name, "reuse"
    raise ValueError(f"no free ephemeral container name left for '{base}'")


_PSA_RE = re.compile(r'violates PodSecurity "(?P<level>[a-z]+):(?P<version>[^"]+)": (?P<why>.*)')


def admission_message(message: str, profile: str) -> str:
    """One line for a PodSecurity rejection, naming the profile that would pass."""
    match = _PSA_RE.search(message or "")
    if not match:
        return f"admission rejected the debug container: {message}"
    level = match.group("level")
    passing = {"restricted": "restricted", "baseline": "baseline"}.get(level, "restricted")
    return (f"PodSecurity '{level}' admission rejected profile '{profile}' ({match.group('why')}); "
            f"use profile: {passing}")


# ---------------------------------------------------------------- the API flow

def wait_running(api, namespace: str, pod_name: str, name: str, timeout: float, where: str) -> tuple[dict, dict]:
    """Poll until the ephemeral container runs; fail fast on pull/config errors or exit."""
    deadline = time.monotonic() + timeout
    status = None
    while True:
        pod = _pod.read_pod(api, namespace, pod_name, where)
        status = _pod.status(pod, name, "ephemeral")
        state, reason, message = _pod.state_of(status)
        if state == "running":
            return pod, status
        if _pod.cannot_start(status):
            raise K8sError(f"debug container {name} in {namespace}/{pod_name} cannot start: {reason}: {message or 'no message'}",
                           status=status, container=name)
        if state == "terminated":
            raise K8sError(f"debug container {name} in {namespace}/{pod_name} exited: {_pod.describe(status)}", status=status, container=name)
        if time.monotonic() >= deadline:
            raise K8sError(f"timed out after {timeout:g}s waiting for debug container {name} in {namespace}/{pod_name} "
                           f"to run; last status: {_pod.describe(status) if status else 'none reported yet'}",
                           status=status, container=name)
        time.sleep(0.5)


def ensure(api, params: dict, check_mode: bool, where: str) -> dict:
    """Everything etcd_wrapper.ops.etcd_ephemeral_container does; returns the result."""

    namespace, pod_name = params["namespace"], params["pod"]
    pod = _pod.read_pod(api, namespace, pod_name, where)
    spec, pstatus = pod.get("spec") or {}, pod.get("status") or {}
    result = {"changed": False, "created": False, "pod": pod_name, "namespace": namespace,
              "node": spec.get("nodeName"), "container": None, "status": None}
    phase = pstatus.get("phase")
    if phase != "Running":
        raise K8sError(f"pod {namespace}/{pod_name} is {phase or 'in an unknown phase'}, not Running: "
                       "a debug container can only join a running pod")
    target = _pod.container(pod, params["target_container"])
    if target is None:
        names = ", ".join(n or "?" for n in _pod.names(pod))
        raise K8sError(f"pod {namespace}/{pod_name} has no container '{params['target_container']}' (containers: {names})")
    name, action = choose_name(params["name"], params["image"], _pod.specs(pod, "ephemeral"), _pod.statuses(pod, "ephemeral"))
    target_status = _pod.status(pod, params["target_container"])
    shared = bool(spec.get("shareProcessNamespace"))
    if action == "create" and not shared and target_status is not None and not _pod.running(target_status):
        # a container joining a stopped process namespace cannot start: adding one would only pile up.
        # Pods sharing one PID namespace (etcd-druid's) are different: the kubelet joins the pod's
        # namespace (kuberuntime: TARGET mode only without shareProcessNamespace), so it starts.
        raise K8sError(f"container '{params['target_container']}' in {namespace}/{pod_name} is not running "
                       f"({_pod.describe(target_status)}): a debug container cannot join it; no container added")
    result["container"] = name
    if name != params["name"]:
        result["message"] = (f"ephemeral container '{params['name']}' exists but is terminated or runs another image "
                             "(ephemeral containers cannot be removed); using '" + name + "'")
    if action == "reuse":
        status = _pod.status(pod, name, "ephemeral")
        result["status"] = status
        state, reason, message = _pod.state_of(status)
        if _pod.cannot_start(status):
            raise K8sError(f"debug container {name} in {namespace}/{pod_name} cannot start: {reason}: {message or 'no message'}",
                           status=status, container=name)
        if state != "running" and params["wait"] and not check_mode:
            pod, result["status"] = wait_running(api, namespace, pod_name, name, params["wait_timeout"], where)
        return result
    body = build_container(name, params["image"], params["target_container"], target, params["profile"],
                           command=params.get("command"), env=params.get("env"),
                           image_pull_policy=params.get("image_pull_policy"),
                           mount_target_volumes=params["mount_target_volumes"])
    result.update(changed=True, created=True, spec=body)
    if check_mode:
        return result
    try:
        rest(api, "PATCH", k8s_path("api/v1/namespaces", namespace, "pods", pod_name, "ephemeralcontainers"), body=patch_body(body),
             content_type="application/strategic-merge-patch+json")
    except ApiException as exc:
        text = api_message(exc)
        if exc.status == 404:
            raise K8sError(f"ephemeral containers are not enabled on {where}: pods/ephemeralcontainers answered 404 "
                           f"for {namespace}/{pod_name}, which exists") from None
        if exc.status == 403 and "violates PodSecurity" in text:
            raise K8sError(admission_message(text, params["profile"])) from None
        if exc.status == 403:
            raise forbidden(exc, "patch", "pods/ephemeralcontainers", namespace) from None
        raise K8sError(f"adding debug container {name} to {namespace}/{pod_name} failed: HTTP {exc.status} {text}") from None
    if params["wait"]:
        pod, result["status"] = wait_running(api, namespace, pod_name, name, params["wait_timeout"], where)
    else:
        result["status"] = _pod.status(_pod.read_pod(api, namespace, pod_name, where), name, "ephemeral")
    return result


def split_pods(entries: list[str], namespace: str | None) -> list[tuple[str, str]]:
    """[(namespace, pod)] from `pod` / `<namespace>/<pod>` entries, duplicates dropped, order kept."""
    targets = []
    for entry in entries:
        ns, sep, pod = str(entry).strip().rpartition("/")
        ns = ns if sep else namespace
        if not pod or not ns:
            raise UsageError(f"pods entry '{entry}' names no namespace: set namespace or write <namespace>/<pod>")
        targets.append((ns, pod))
    return list(dict.fromkeys(targets))


def ensure_many(api, params: dict, check_mode: bool, where: str) -> dict:
    """ensure() on every pod of params['pods'] (each in its own namespace), at most params['concurrency'] at
    a time. One pod's failure does not stop the others; the module fails when any pod failed
    (the sweep reads the per-pod results from RV(containers) and reports them as findings)."""
    pods = split_pods(params["pods"], params.get("namespace"))

    def one(target: tuple[str, str]) -> dict:
        namespace, pod_name = target
        try:
            out = ensure(api, dict(params, namespace=namespace, pod=pod_name), check_mode, where)
            out["failed"] = False
        except OpsError as exc:
            out = {"pod": pod_name, "namespace": namespace, "container": exc.details.get("container"),
                   "changed": False, "created": False, "failed": True, "msg": exc.msg}
        except Exception as exc:  # noqa: BLE001 - one pod's connection error must not hide the others' results
            out = {"pod": pod_name, "namespace": namespace, "container": None, "changed": False,
                   "created": False, "failed": True, "msg": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        out.pop("spec", None)
        return out

    with ThreadPoolExecutor(max_workers=max(1, min(params["concurrency"], len(pods) or 1))) as pool:
        containers = list(pool.map(one, pods))
    failed = [c for c in containers if c["failed"]]
    result = {"changed": any(c.get("changed") for c in containers), "namespace": params["namespace"],
              "containers": containers}
    if failed:
        detail = "; ".join(f"{c['namespace']}/{c['pod']}: {c['msg']}" for c in failed)
        raise K8sError(f"debug container failed on {len(failed)} of {len(containers)} pods: {detail}", **result)
    return result


def ensure_module(api, params: dict, check_mode: bool, where: str) -> dict:
    """The module's entry: one pod (O(pod)) or many (O(pods))."""
    if params.get("pods") is not None:
        if params["concurrency"] < 1:
            raise UsageError("concurrency must be at least 1")
        if not params["pods"]:
            return {"changed": False, "namespace": params["namespace"], "containers": []}
        return ensure_many(api, params, check_mode, where)
    return ensure(api, params, check_mode, where)
