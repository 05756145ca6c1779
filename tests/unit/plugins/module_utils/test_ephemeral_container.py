# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ephemeral container logic: profiles, the container and patch bodies, name choice."""

from __future__ import annotations

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._ephemeral_container import (
    PROFILES,
    admission_message,
    build_container,
    choose_name,
    patch_body,
    split_pods,
)
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._pod import container as container_spec
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._pod import state_of
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import UsageError

# the etcd container of an etcd-druid >= v0.23 pod, as the fleet's API server returns it
ETCD_POD_SPEC = {
    "containers": [
        {"name": "etcd", "image": "127.0.0.1:5000/testbed/etcd:3.4.23",
         "volumeMounts": [
             {"name": "etcd-config-file", "mountPath": "/var/etcd/config/"},
             {"name": "etcd-main", "mountPath": "/var/etcd/data/"},
             {"name": "etcd-ca", "mountPath": "/var/etcd/ssl/ca", "readOnly": True},
             {"name": "etcd-client-tls", "mountPath": "/var/etcd/ssl/client", "readOnly": True},
             {"name": "etcd-peer-ca", "mountPath": "/var/etcd/ssl/peer/ca", "readOnly": True, "subPath": "x"},
         ]},
        {"name": "backup-restore", "image": "127.0.0.1:5000/testbed/etcd-backup-restore:stub"},
    ]
}


def test_profiles_match_kubectl_debug():
    assert PROFILES["general"] == {"capabilities": {"add": ["SYS_PTRACE"]}}
    assert PROFILES["baseline"] == {}
    assert PROFILES["restricted"] == {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                      "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert PROFILES["netadmin"] == {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}
    assert PROFILES["sysadmin"] == {"privileged": True}


def test_build_container_mounts_target_volumes_read_only():
    target = container_spec(ETCD_POD_SPEC, "etcd")
    c = build_container("etcd-debug", "reg/etcd-debug:1", "etcd", target, "restricted", env={"B": 2, "A": "x"},
                        image_pull_policy="IfNotPresent")
    assert c["targetContainerName"] == "etcd" and c["command"] == ["sleep", "infinity"]
    assert c["stdin"] is False and c["tty"] is False
    assert c["env"] == [{"name": "A", "value": "x"}, {"name": "B", "value": "2"}]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["securityContext"] == PROFILES["restricted"]
    assert [m["mountPath"] for m in c["volumeMounts"]] == [
        "/var/etcd/config/", "/var/etcd/data/", "/var/etcd/ssl/ca", "/var/etcd/ssl/client", "/var/etcd/ssl/peer/ca"]
    assert all(m["readOnly"] is True for m in c["volumeMounts"])
    assert c["volumeMounts"][-1]["subPath"] == "x"
    # the profile dict is copied, never shared
    c["securityContext"]["capabilities"]["drop"].append("X")
    assert PROFILES["restricted"]["capabilities"]["drop"] == ["ALL"]


def test_build_container_without_mounts_or_profile_fields():
    c = build_container("d", "img", "etcd", container_spec(ETCD_POD_SPEC, "etcd"), "baseline",
                        command=["bash", "-c", "sleep 1d"], mount_target_volumes=False)
    assert "volumeMounts" not in c and "securityContext" not in c and "env" not in c
    assert c["command"] == ["bash", "-c", "sleep 1d"]
    assert container_spec(ETCD_POD_SPEC, "nope") is None


def test_patch_body_is_pod_shaped():
    assert patch_body({"name": "x"}) == {"spec": {"ephemeralContainers": [{"name": "x"}]}}


RUNNING = {"name": "etcd-debug", "state": {"running": {"startedAt": "2026-11-27T13:00:00Z"}}}
TERMINATED = {"name": "etcd-debug", "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}


@pytest.mark.parametrize("specs, statuses, expected", [
    ([], [], ("etcd-debug", "create")),
    ([{"name": "etcd-debug", "image": "img:1"}], [RUNNING], ("etcd-debug", "reuse")),
    ([{"name": "etcd-debug", "image": "img:1"}], [], ("etcd-debug", "reuse")),  # starting, no status yet
    ([{"name": "etcd-debug", "image": "img:1"}], [TERMINATED], ("etcd-debug-2", "create")),
    ([{"name": "etcd-debug", "image": "other:1"}], [RUNNING], ("etcd-debug-2", "create")),
    ([{"name": "etcd-debug", "image": "img:1"}, {"name": "etcd-debug-2", "image": "img:1"}],
     [TERMINATED, dict(RUNNING, name="etcd-debug-2")], ("etcd-debug-2", "reuse")),
    ([{"name": "etcd-debug", "image": "other"}, {"name": "etcd-debug-2", "image": "other"}], [], ("etcd-debug-3", "create")),
])
def test_choose_name(specs, statuses, expected):
    assert choose_name("etcd-debug", "img:1", specs, statuses) == expected


def test_state_of():
    assert state_of(RUNNING) == ("running", None, None)
    assert state_of(TERMINATED) == ("terminated", "Error", None)
    assert state_of({"state": {"waiting": {"reason": "ErrImagePull", "message": "manifest unknown"}}}) == \
        ("waiting", "ErrImagePull", "manifest unknown")
    assert state_of(None) == ("unknown", None, None)


def test_admission_message_names_passing_profile():
    # recorded from the fleet's kube-apiserver v1.36.5 (restricted namespace, privileged debug container)
    msg = ('pods "etcd-main-2" is forbidden: violates PodSecurity "restricted:latest": privileged (container "rec-priv" '
           'must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "rec-priv" must set '
           'securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "rec-priv" must set '
           'securityContext.capabilities.drop=["ALL"])')
    out = admission_message(msg, "sysadmin")
    assert out.startswith("PodSecurity 'restricted' admission rejected profile 'sysadmin' (privileged (container")
    assert out.endswith("; use profile: restricted")
    assert admission_message("denied by webhook", "general") == "admission rejected the debug container: denied by webhook"


def test_split_pods_across_namespaces():
    assert split_pods(["shoot--a--x/etcd-main-0", "etcd-main-1", "shoot--a--x/etcd-main-0"], "garden") == [
        ("shoot--a--x", "etcd-main-0"), ("garden", "etcd-main-1")]
    with pytest.raises(UsageError, match="pods entry 'etcd-main-1' names no namespace"):
        split_pods(["shoot--a--x/etcd-main-0", "etcd-main-1"], None)
    with pytest.raises(UsageError, match="names no namespace"):
        split_pods(["shoot--a--x/"], None)
