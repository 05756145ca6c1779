# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: the pure logic of attaching a debug container
(kubectl debug --target) -- profiles, the container and patch bodies, which name to use,
how to read a container status. No API calls here."""

from __future__ import annotations

import re

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

# Waiting reasons a kubelet reports that will not resolve by waiting longer.
FAIL_FAST_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                     "CreateContainerConfigError", "CreateContainerError", "RunContainerError")


def security_context(profile: str) -> dict:
    import copy
    return copy.deepcopy(PROFILES[profile])


def container_spec(pod_spec: dict, target: str) -> dict | None:
    for container in pod_spec.get("containers") or []:
        if container.get("name") == target:
            return container
    return None


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


def state_of(status: dict | None) -> tuple[str, str | None, str | None]:
    """(running | waiting | terminated | unknown, reason, message) of a container status dict."""
    if not status:
        return "unknown", None, None
    state = status.get("state") or {}
    for key in ("running", "waiting", "terminated"):
        if state.get(key) is not None:
            detail = state[key] or {}
            return key, detail.get("reason"), detail.get("message")
    return "unknown", None, None


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
        state, _reason, _message = state_of(status_by_name.get(name))
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
