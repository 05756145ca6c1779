# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: find the etcd pods of a cluster by label and
group them into etcd clusters (etcd-main, etcd-events, ...) per namespace."""

from __future__ import annotations

import fnmatch
import re

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _pod
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import ApiException, K8sError, api_message, forbidden, k8s_path, rest

# etcd-druid >= v0.23, Gardener's own labels on every etcd, and the older druid labels.
DEFAULT_SELECTORS = [
    "app.kubernetes.io/managed-by=etcd-druid,app.kubernetes.io/component=etcd-statefulset",
    "gardener.cloud/role=controlplane,app=etcd-statefulset",
    "name=etcd,instance",
]
# which label names the etcd cluster a pod belongs to, in order of trust
GROUP_LABELS = ("app.kubernetes.io/part-of", "instance")
_ORDINAL = re.compile(r"-\d+$")
_GLOB = re.compile(r"[*?\[]")


def is_pattern(text: str) -> bool:
    return bool(_GLOB.search(text))


def matches(name: str, include: list[str] | None, exclude: list[str] | None) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in exclude or [])


def _group_label(meta: dict) -> str | None:
    """The etcd an object's labels name (part-of, else instance), None if none."""
    labels = meta.get("labels") or {}
    return next((labels[key] for key in GROUP_LABELS if labels.get(key)), None)


def etcd_name(pod: dict) -> str:
    """The etcd cluster a pod belongs to: its part-of/instance label, its StatefulSet, or its
    name without the ordinal."""
    meta = pod.get("metadata") or {}
    if _group_label(meta):
        return _group_label(meta)
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "StatefulSet" and owner.get("name"):
            return owner["name"]
    return _ORDINAL.sub("", meta.get("name") or "?")


def pod_summary(pod: dict, target: str) -> dict:
    """What the sweep needs to know about one member pod (no spec dump, nothing secret)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    target_status = _pod.status(pod, target)
    containers = _pod.statuses(pod)
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "phase": status.get("phase"),
        "ready": all(s.get("ready") for s in containers) and bool(containers),
        "ip": status.get("podIP"),
        "node": spec.get("nodeName"),
        "etcd_state": _pod.state_text(target_status),
        "restarts": (target_status or {}).get("restartCount", 0),
        "ephemeral_containers": [{"name": c.get("name"), "image": c.get("image"),
                                  "state": _pod.state_text(_pod.status(pod, c.get("name"), "ephemeral"))}
                                 for c in _pod.specs(pod, "ephemeral")],
    }


def group(pods: list[dict], target: str, etcd_include: list[str] | None = None,
          etcd_exclude: list[str] | None = None) -> list[dict]:
    """[{namespace, name, pods: [...]}] sorted; pods without the target container are skipped
    (druid's compaction jobs carry the same labels)."""
    etcds: dict[tuple[str, str], list[dict]] = {}
    seen = set()
    for pod in pods:
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"))
        if key in seen:
            continue
        seen.add(key)
        if _pod.container(pod, target) is None:
            continue
        name = etcd_name(pod)
        if not matches(name, etcd_include, etcd_exclude):
            continue
        etcds.setdefault((meta.get("namespace"), name), []).append(pod)
    return [{"namespace": ns, "name": name,
             "pods": [pod_summary(p, target) for p in sorted(members, key=lambda p: p["metadata"]["name"])]}
            for (ns, name), members in sorted(etcds.items())]


def _list(api, selector: str, namespace: str | None, kind: str = "pods") -> list[dict]:

    base = "api/v1" if kind == "pods" else "apis/apps/v1"
    where = k8s_path(f"{base}/namespaces", namespace, kind) if namespace else f"/{base}/{kind}"
    try:
        items = rest(api, "GET", where, {"labelSelector": selector})
    except ApiException as exc:
        if exc.status == 403:
            raise forbidden(exc, "list", kind if kind == "pods" else f"{kind}.apps", namespace or "all namespaces") from None
        raise K8sError(f"listing {kind} ({selector}) failed: HTTP {exc.status} {api_message(exc)}") from None
    return items.get("items") or []


def add_statefulsets(etcds: list[dict], statefulsets: list[dict], etcd_include=None, etcd_exclude=None) -> list[dict]:
    """Each etcd with its StatefulSet's replicas; StatefulSets scaled to 0 (a hibernated shoot:
    gardener botanist/etcd.go) become etcds without pods, so the sweep can say so."""
    replicas: dict[tuple[str, str], int] = {}
    for sts in statefulsets:
        meta = sts.get("metadata") or {}
        name = _group_label(meta) or meta.get("name")  # the StatefulSet is named after its etcd
        if matches(name, etcd_include, etcd_exclude):
            replicas[(meta.get("namespace"), name)] = (sts.get("spec") or {}).get("replicas", 1)
    out = [dict(e, replicas=replicas.get((e["namespace"], e["name"]))) for e in etcds]
    have = {(e["namespace"], e["name"]) for e in etcds}
    out.extend({"namespace": ns, "name": name, "pods": [], "replicas": 0}
               for (ns, name), count in replicas.items() if count == 0 and (ns, name) not in have)
    return sorted(out, key=lambda e: (e["namespace"], e["name"]))


def patterns(values) -> list[str]:
    """A pattern list as given: entries trimmed, empty ones dropped (a survey's "a, b" arrives
    as ["a", " b"]; an empty answer as [""], which means no filter, not "match nothing")."""
    return [str(v).strip() for v in values or [] if str(v).strip()]


def discover(api, params: dict, check_mode: bool, where: str) -> dict:
    """Everything etcd_wrapper.ops.etcd_cluster_info does; returns the result."""
    include, exclude = patterns(params.get("namespaces")), patterns(params.get("exclude_namespaces"))
    selectors = patterns(params.get("selectors")) or DEFAULT_SELECTORS
    # exact namespace names: list in each (works with a namespaced Role); patterns: list everywhere once
    scopes = include if include and not any(is_pattern(n) for n in include) else [None]
    pods, statefulsets, warnings = [], [], []
    for scope in scopes:
        for selector in selectors:
            pods.extend(p for p in _list(api, selector, scope)
                        if matches((p.get("metadata") or {}).get("namespace") or "", include, exclude))
            if not warnings:
                try:
                    statefulsets.extend(s for s in _list(api, selector, scope, "statefulsets")
                                        if matches((s.get("metadata") or {}).get("namespace") or "", include, exclude))
                except K8sError as exc:  # hibernated etcds then go unreported; everything else works
                    warnings.append(f"{exc.msg}: etcds scaled to 0 (hibernated) are not reported")
    etcd_include, etcd_exclude = patterns(params.get("etcds")), patterns(params.get("exclude_etcds"))
    etcds = add_statefulsets(group(pods, params["target_container"], etcd_include, etcd_exclude),
                             statefulsets, etcd_include, etcd_exclude)
    result = {"changed": False, "etcds": etcds,
              "namespaces": sorted({e["namespace"] for e in etcds}),
              "pod_count": sum(len(e["pods"]) for e in etcds)}
    if warnings:
        result["warnings"] = warnings
    return result
