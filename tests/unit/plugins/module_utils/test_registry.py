# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Image references, WWW-Authenticate parsing and manifest comparison (recorded registry output)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._registry import (
    ImageReference,
    is_loopback,
    local_matches,
    parse_www_authenticate,
    pick_platform,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
# the local image that was pushed (podman 4.3, Docker-compatible API): its ID and RepoDigests
PODMAN_IMAGE_ID = "sha256:7f3ed583f52a9b97ba013ff9a04fc4799dcc79c7f79f72390c7a6397381b5d4f"
PODMAN_REPO_DIGESTS = ["127.0.0.1:5000/etcd-wrapper/etcd-debug@sha256:840cddc0f5da613a4811a27c4d54e263c94ab81c53681515eb9276e0783d867e"]


def recorded_manifest():
    with open(os.path.join(FIXTURES, "registry_manifest_podman_push.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    return manifest, manifest.pop("_digest")


@pytest.mark.parametrize("name, tag, registry, repository, normalized", [
    ("127.0.0.1:5000/etcd-wrapper/etcd-debug", "0.1.0", "127.0.0.1:5000", "etcd-wrapper/etcd-debug",
     "127.0.0.1:5000/etcd-wrapper/etcd-debug:0.1.0"),
    ("registry.example.com/ops/etcd-debug", "v1", "registry.example.com", "ops/etcd-debug",
     "registry.example.com/ops/etcd-debug:v1"),
    ("localhost/etcd-debug", "dev", "localhost", "etcd-debug", "localhost/etcd-debug:dev"),
    ("etcd-debug", "dev", "docker.io", "library/etcd-debug", "docker.io/library/etcd-debug:dev"),
    ("gardener/etcd-debug", "dev", "docker.io", "gardener/etcd-debug", "docker.io/gardener/etcd-debug:dev"),
    ("localhost:5000/a/b/c", "1.2.3-rc.1", "localhost:5000", "a/b/c", "localhost:5000/a/b/c:1.2.3-rc.1"),
])
def test_reference_parts(name, tag, registry, repository, normalized):
    ref = ImageReference(name, tag)
    assert ref.registry == registry
    assert ref.repository == repository
    assert ref.normalized == normalized
    assert ref.ref == f"{name}:{tag}"


@pytest.mark.parametrize("name, tag, message", [
    ("127.0.0.1:5000/etcd-debug:1.0", "1.0", "without a tag"),
    ("etcd-debug@sha256:abc", "1.0", "without a digest"),
    ("Registry.example.com/Ops/Etcd", "1", "is not valid"),
    ("etcd-debug", "bad tag", "not a valid image tag"),
    ("etcd-debug", "", "not a valid image tag"),
    ("", "1", "must not be empty"),
    ("reg_istry.example.com/x", "1", "not valid"),
])
def test_reference_rejects(name, tag, message):
    with pytest.raises(ValueError, match=message):
        ImageReference(name, tag)


def test_www_authenticate():
    assert parse_www_authenticate('Basic realm="etcdops-test"') == ("basic", {"realm": "etcdops-test"})
    scheme, params = parse_www_authenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/debian:pull"}
    assert parse_www_authenticate("") == ("", {})


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1:5000", True), ("localhost", True), ("localhost:5000", True), ("127.8.9.1", True),
    ("[::1]:5000", True), ("registry.example.com", False), ("10.0.0.1:5000", False), ("localhost.example.com", False),
])
def test_loopback(host, expected):
    assert is_loopback(host) is expected


def test_podman_push_matches_by_config_digest():
    """podman does not record the pushed digest in RepoDigests; the config digest is the image ID."""
    manifest, digest = recorded_manifest()
    assert digest not in PODMAN_REPO_DIGESTS[0]
    assert local_matches(manifest, digest, PODMAN_IMAGE_ID, PODMAN_REPO_DIGESTS)


def test_another_image_does_not_match():
    manifest, digest = recorded_manifest()
    other = "sha256:" + "0" * 64
    assert not local_matches(manifest, digest, other, PODMAN_REPO_DIGESTS)
    assert not local_matches(None, None, PODMAN_IMAGE_ID, PODMAN_REPO_DIGESTS)


def test_docker_engine_matches_by_repo_digest():
    """Docker Engine records the pushed manifest digest in RepoDigests (its config may differ with containerd store)."""
    manifest, digest = recorded_manifest()
    manifest = dict(manifest, config={"digest": "sha256:" + "1" * 64})
    assert local_matches(manifest, digest, "sha256:" + "2" * 64, [f"127.0.0.1:5000/etcd-wrapper/etcd-debug@{digest}"])


def test_pick_platform():
    index = {"manifests": [
        {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
        {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
    ]}
    assert pick_platform(index, "linux", "amd64") == "sha256:amd"
    assert pick_platform(index, "linux", "s390x") is None
    assert pick_platform({}, "linux", "amd64") is None
