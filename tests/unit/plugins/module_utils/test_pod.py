# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pod room: container and status lookups, container states; and the layering of
module_utils (rooms below, features above, features never importing each other)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _pod

# an etcd-druid pod as the fleet's API server returns it, trimmed: a debug container that
# terminated, a newer one that runs, and the etcd container waiting on a pull error
POD = {
    "spec": {"containers": [{"name": "etcd"}, {"name": "backup-restore"}],
             "ephemeralContainers": [{"name": "etcd-debug", "image": "old"}, {"name": "etcd-debug-2", "image": "new"}]},
    "status": {
        "containerStatuses": [
            {"name": "etcd", "ready": False, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}},
            {"name": "backup-restore", "ready": True, "state": {"running": {"startedAt": "2026-11-30T19:00:00Z"}}}],
        "ephemeralContainerStatuses": [
            {"name": "etcd-debug", "state": {"terminated": {"reason": "Error", "exitCode": 137}}},
            {"name": "etcd-debug-2", "state": {"running": {"startedAt": "2026-11-30T19:01:00Z"}}}],
    },
}


def test_lookups_by_kind():
    assert _pod.names(POD) == ["etcd", "backup-restore"]
    assert _pod.names(POD, "ephemeral") == ["etcd-debug", "etcd-debug-2"]
    assert _pod.container(POD, "etcd-debug") is None and _pod.container(POD, "etcd-debug", "ephemeral")["image"] == "old"
    assert _pod.container(POD["spec"], "backup-restore") == {"name": "backup-restore"}  # a spec works as well as a pod
    assert _pod.status(POD, "etcd-debug-2", "ephemeral")["state"]["running"]
    assert _pod.status(POD, "nope") is None


def test_find_any_prefers_ephemeral_then_containers():
    spec, status = _pod.find_any(POD, "etcd-debug-2")
    assert spec["image"] == "new" and _pod.running(status)
    spec, status = _pod.find_any(POD, "backup-restore")
    assert spec == {"name": "backup-restore"} and _pod.running(status)
    assert _pod.find_any(POD, "nope") == (None, None)


def test_states_in_words():
    etcd, debug = _pod.status(POD, "etcd"), _pod.status(POD, "etcd-debug", "ephemeral")
    assert _pod.state_text(etcd) == "waiting (ImagePullBackOff)" and _pod.cannot_start(etcd)
    assert _pod.describe(etcd) == "waiting (ImagePullBackOff): Back-off pulling image"
    assert _pod.describe(debug) == "terminated (Error 137)" and not _pod.cannot_start(debug)
    assert _pod.state_of(None) == ("unknown", None, None) and _pod.state_text({"state": {}}) == "unknown"


# ---------------------------------------------------------------- layering

MODULE_UTILS = Path(_pod.__file__).resolve().parent
ROOMS = {"_runner", "_k8s", "_exec", "_pod", "_druid", "_findings", "_docker", "_registry", "_version", "_member", "_metrics"}
FEATURES = {"_cluster_info", "_ephemeral_container", "_etcdctl_exec", "_health", "_health_report", "_debug_image", "_snapshot", "_defrag"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and "etcd_wrapper.ops.plugins.module_utils" in node.module:
            if node.module.endswith("module_utils"):
                names.update(a.name for a in node.names)
            else:
                names.add(node.module.rsplit(".", 1)[1])
    return names


def test_every_module_util_is_a_room_or_a_feature():
    assert {p.stem for p in MODULE_UTILS.glob("_*.py")} == ROOMS | FEATURES


def test_features_import_only_rooms():
    for feature in sorted(FEATURES):
        sideways = _imports(MODULE_UTILS / f"{feature}.py") & FEATURES
        assert not sideways, f"{feature} imports the feature(s) {sorted(sideways)}: move what they share into a room"


def test_container_lookups_live_in_the_pod_room():
    lookup = re.compile(r"""\.get\(["'](containers|containerStatuses|ephemeralContainers|ephemeralContainerStatuses)["']\)""")
    for path in MODULE_UTILS.glob("_*.py"):
        if path.stem != "_pod":
            found = lookup.findall(path.read_text())
            assert not found, f"{path.name} walks {found} itself: ask _pod"
