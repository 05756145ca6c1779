# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Grouping etcd pods into etcd clusters, on a pod recorded from the local fleet (etcd-druid >= v0.23
labels) and its variants for older druid labels, StatefulSet owners and compaction jobs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _cluster_info

POD = json.loads((Path(__file__).parent / "fixtures" / "druid" / "v023_single_etcd_main_0.json").read_text())


def variant(name: str, namespace: str = "shoot--dev--bravo", labels: dict | None = None, owner: str | None = None,
            containers: list[str] | None = None) -> dict:
    pod = copy.deepcopy(POD)
    pod["metadata"].update(name=name, namespace=namespace)
    if labels is not None:
        pod["metadata"]["labels"] = labels
    if owner:
        pod["metadata"]["ownerReferences"] = [{"kind": "StatefulSet", "name": owner}]
    if containers is not None:
        pod["spec"]["containers"] = [{"name": c} for c in containers]
    return pod


def test_etcd_name_by_label_owner_or_pod_name():
    assert _cluster_info.etcd_name(POD) == "etcd-main"  # app.kubernetes.io/part-of
    assert _cluster_info.etcd_name(variant("etcd-events-0", labels={"instance": "etcd-events", "name": "etcd"})) == "etcd-events"
    assert _cluster_info.etcd_name(variant("x-0", labels={}, owner="etcd-main")) == "etcd-main"
    assert _cluster_info.etcd_name(variant("etcd-events-12", labels={})) == "etcd-events"


def test_group_sorts_dedupes_and_skips_pods_without_etcd():
    pods = [variant("etcd-main-1"), variant("etcd-main-0"), variant("etcd-main-0"),
            variant("etcd-events-0", labels={"instance": "etcd-events", "name": "etcd"}),
            variant("etcd-main-compact-job", containers=["compact-backup"]),
            variant("etcd-main-0", namespace="shoot--dev--alpha")]
    groups = _cluster_info.group(pods, "etcd")
    assert [(g["namespace"], g["name"], [p["name"] for p in g["pods"]]) for g in groups] == [
        ("shoot--dev--alpha", "etcd-main", ["etcd-main-0"]),
        ("shoot--dev--bravo", "etcd-events", ["etcd-events-0"]),
        ("shoot--dev--bravo", "etcd-main", ["etcd-main-0", "etcd-main-1"]),
    ]
    only = _cluster_info.group(pods, "etcd", etcd_include=["etcd-ev*"])
    assert [g["name"] for g in only] == ["etcd-events"]
    assert [g["name"] for g in _cluster_info.group(pods, "etcd", etcd_exclude=["etcd-main"])] == ["etcd-events"]


def test_pod_summary_from_the_recorded_pod():
    summary = _cluster_info.pod_summary(POD, "etcd")
    assert summary["name"] == "etcd-main-0" and summary["namespace"] == POD["metadata"]["namespace"]
    assert summary["phase"] == "Running" and summary["ready"] is True
    assert summary["etcd_state"] == "running" and summary["restarts"] == 0 and summary["ip"].startswith("10.")
    assert summary["ephemeral_containers"] == [{"name": "etcd-debug", "image": POD["spec"]["ephemeralContainers"][0]["image"],
                                                "state": "running"}]
    crashing = copy.deepcopy(POD)
    etcd = next(s for s in crashing["status"]["containerStatuses"] if s["name"] == "etcd")
    etcd["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    etcd["ready"] = False
    assert _cluster_info.pod_summary(crashing, "etcd")["etcd_state"] == "waiting (CrashLoopBackOff)"
    assert _cluster_info.pod_summary(crashing, "etcd")["ready"] is False


def test_namespace_patterns():
    assert _cluster_info.is_pattern("shoot--*") and not _cluster_info.is_pattern("shoot--dev--alpha")
    assert _cluster_info.matches("shoot--dev--alpha", ["shoot--dev--*"], ["*--alpha"]) is False
    assert _cluster_info.matches("shoot--dev--beta", ["shoot--dev--*"], ["*--alpha"]) is True
    assert _cluster_info.matches("garden", [], []) is True


def test_patterns_from_a_comma_separated_answer():
    # AWX survey text "shoot--a-*, shoot--b-*" reaches the module as a list split on commas
    assert _cluster_info.patterns(["shoot--a-*", " shoot--b-*"]) == ["shoot--a-*", "shoot--b-*"]
    assert _cluster_info.patterns([""]) == []
    assert _cluster_info.patterns(None) == []


def test_statefulsets_scaled_to_zero_become_hibernated_etcds():
    # StatefulSets as druid labels them (managed-by, part-of); replicas 0 when the shoot hibernates
    def sts(ns, name, replicas, labels=None):
        return {"metadata": {"namespace": ns, "name": name,
                             "labels": labels if labels is not None else {"app.kubernetes.io/part-of": name}},
                "spec": {"replicas": replicas}}

    groups = _cluster_info.group([variant("etcd-main-0")], "etcd")
    out = _cluster_info.add_statefulsets(groups, [sts("shoot--dev--bravo", "etcd-main", 1),
                                                  sts("shoot--a--hib", "etcd-main", 0),
                                                  sts("shoot--a--hib", "etcd-events", 0, {"instance": "etcd-events", "name": "etcd"}),
                                                  sts("shoot--a--hib", "etcd-other", 0)], etcd_exclude=["etcd-other"])
    assert [(e["namespace"], e["name"], len(e["pods"]), e["replicas"]) for e in out] == [
        ("shoot--a--hib", "etcd-events", 0, 0), ("shoot--a--hib", "etcd-main", 0, 0), ("shoot--dev--bravo", "etcd-main", 1, 1)]
    # a StatefulSet at 0 whose pods are still there (scaling down) is the etcd with its pods, not a second entry
    assert len(_cluster_info.add_statefulsets(groups, [sts("shoot--dev--bravo", "etcd-main", 0)])) == 1
