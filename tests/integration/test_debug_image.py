"""etcd_wrapper.ops.etcd_debug_image against podman's Docker-compatible API, real registries
and kind-shaped containerd nodes."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid

import pytest
from conftest import AUTH_PASSWORD, AUTH_USER, KIND_CLUSTER, REPO, recap, run_module, run_playbook
from testbed import engine, kindnode
from testbed import registry as reg


def fresh_tag() -> str:
    return "t-" + uuid.uuid4().hex[:10]


def tags_in(registry: str, repo: str, auth: tuple[str, str] | None = None) -> list[str]:
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/tags/list")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read()).get("tags") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def local_tags(docker_client, name: str) -> list[str]:
    return [t for img in docker_client.images.list(name=name) for t in img.tags]


# ---------------------------------------------------------------- the image itself


def run_in_image(docker_client, image: str, script: str, **kwargs) -> str:
    return docker_client.containers.run(image, entrypoint=["/bin/bash", "-c", script], remove=True,
                                        stderr=True, **kwargs).decode()


def test_image_tools_work_as_uid_65532(docker_client, debug_image):
    out = run_in_image(docker_client, debug_image,
                       "id -u; etcdctl version; jq --version; curl --version | head -1; openssl version; "
                       "ps --version; touch /work/probe && echo work-writable; command -v print-etcd-cheatsheet")
    lines = out.splitlines()
    assert lines[0] == "65532"
    assert "etcdctl version: 3.5.35" in out  # the fleet's etcd source: etcdctl v3.5 like upstream's ops image
    assert "jq-1." in out
    assert out.count("curl ") >= 1 and "OpenSSL" in out and "procps-ng" in out
    assert "work-writable" in out
    assert lines[-1] == "/usr/local/bin/print-etcd-cheatsheet"
    # etcdutl came along (the etcd image has it); an image without one is built without it (unit test of the Dockerfile's stage)
    assert run_in_image(docker_client, debug_image, "command -v etcdutl").strip() == "/usr/local/bin/etcdutl"


# ---------------------------------------------------------------- build / push / rerun / check mode


def test_build_push_rerun_and_check_mode(docker_client, infra, build_args):
    registry = infra["TESTBED_REGISTRY"]
    name = f"{registry}/etcd-wrapper/etcd-debug"
    tag = fresh_tag()
    args = {"name": name, "tag": tag, "push": True, "build": {"args": build_args, "network": "host"}}

    # check mode first: reports a build and a push, does neither
    check = run_module("etcd_debug_image", args, check=True)
    assert check["changed"] is True and check["built"] is True and check["pushed"] is True, check
    assert check["image"] is None
    assert f"{name}:{tag}" not in local_tags(docker_client, name)
    assert tag not in tags_in(registry, "etcd-wrapper/etcd-debug")

    first = run_module("etcd_debug_image", args, verbosity=1)
    assert first["changed"] is True and first["built"] is True and first["pushed"] is True, first
    manifest = reg.manifest(registry, "etcd-wrapper/etcd-debug", tag)
    assert manifest is not None
    assert first["digest"] == manifest["_digest"]
    assert first["image"]["id"] == manifest["config"]["digest"]
    assert f"{name}:{tag}" in first["image"]["tags"]
    # progress of the long steps is in the result, shown at -v
    assert any(p.startswith("build: ") and "STEP" in p for p in first["progress"])
    assert any(p.startswith("pushing ") for p in first["progress"])
    assert "build: " in first.stdout

    second = run_module("etcd_debug_image", args)
    assert second["changed"] is False and second["built"] is False and second["pushed"] is False, second
    assert second["digest"] == first["digest"]

    # check mode on an up-to-date image predicts no change
    assert run_module("etcd_debug_image", args, check=True)["changed"] is False

    # force_build rebuilds (cached layers give the same image, so nothing to push)
    forced = run_module("etcd_debug_image", dict(args, force_build=True))
    assert forced["built"] is True and forced["changed"] is True and forced["pushed"] is False, forced


def test_source_local_pushes_existing_image(docker_client, infra, debug_image):
    registry = infra["TESTBED_REGISTRY"]
    name, tag = debug_image.rsplit(":", 1)
    result = run_module("etcd_debug_image", {"name": name, "tag": tag, "source": "local", "push": True})
    assert result["built"] is False and result["pushed"] is True, result
    assert tag in tags_in(registry, "etcd-wrapper/etcd-debug")


# ---------------------------------------------------------------- registries with auth / read-only


def test_push_with_htpasswd_auth(docker_client, auth_registry, debug_image):
    name = f"{auth_registry}/etcd-wrapper/etcd-debug"
    tag = fresh_tag()
    docker_client.images.get(debug_image).tag(name, tag)
    base = {"name": name, "tag": tag, "source": "local", "push": True}

    wrong = run_module("etcd_debug_image", dict(base, registry_auth={"username": AUTH_USER, "password": "wrong-" + AUTH_PASSWORD}),
                       verbosity=3)
    assert wrong.failed
    assert wrong["msg"] == f"registry {auth_registry} refused user '{AUTH_USER}' (HTTP 401): check registry_auth"
    assert tags_in(auth_registry, "etcd-wrapper/etcd-debug", (AUTH_USER, AUTH_PASSWORD)).count(tag) == 0

    anonymous = run_module("etcd_debug_image", base)
    assert anonymous.failed
    assert anonymous["msg"] == f"registry {auth_registry} requires authentication: set registry_auth"

    right = run_module("etcd_debug_image", dict(base, registry_auth={"username": AUTH_USER, "password": AUTH_PASSWORD}),
                       verbosity=3)
    assert right["pushed"] is True and right["changed"] is True, right
    assert tag in tags_in(auth_registry, "etcd-wrapper/etcd-debug", (AUTH_USER, AUTH_PASSWORD))
    again = run_module("etcd_debug_image", dict(base, registry_auth={"username": AUTH_USER, "password": AUTH_PASSWORD}))
    assert again["changed"] is False, again

    # the password is no_log: never in output, even at -vvv
    for run in (wrong, right):
        assert AUTH_PASSWORD not in run.stdout + run.stderr
        assert AUTH_PASSWORD not in json.dumps(dict(run))


def test_push_refused_by_registry_is_reported(docker_client, readonly_registry, debug_image):
    """The SDK's push never raises: the error is read from the stream."""
    name = f"{readonly_registry}/etcd-wrapper/etcd-debug"
    tag = fresh_tag()
    docker_client.images.get(debug_image).tag(name, tag)
    result = run_module("etcd_debug_image", {"name": name, "tag": tag, "source": "local", "push": True})
    assert result.failed
    assert result["msg"].startswith(f"push to {readonly_registry} refused: "), result["msg"]
    assert "\n" not in result["msg"]
    assert tags_in(readonly_registry, "etcd-wrapper/etcd-debug") == []


# ---------------------------------------------------------------- kind load


def test_kind_load_into_node_containers(state, docker_client, kind_nodes, debug_image):
    name, tag = debug_image.rsplit(":", 1)
    first_node, second_node = kind_nodes
    args = {"name": name, "tag": tag, "source": "local", "kind_load": {"cluster_name": KIND_CLUSTER}}

    check = run_module("etcd_debug_image", args, check=True)
    assert check["changed"] is True and sorted(check["loaded_nodes"]) == sorted(kind_nodes), check
    assert debug_image not in kindnode.images_in(state, first_node)

    one = run_module("etcd_debug_image", dict(args, kind_load={"cluster_name": KIND_CLUSTER, "nodes": [first_node]}))
    assert one["loaded_nodes"] == [first_node] and one["changed"] is True, one
    assert debug_image in kindnode.images_in(state, first_node)
    assert debug_image not in kindnode.images_in(state, second_node)

    both = run_module("etcd_debug_image", args)
    assert both["loaded_nodes"] == [second_node] and both["skipped_nodes"] == [first_node], both
    assert debug_image in kindnode.images_in(state, second_node)

    again = run_module("etcd_debug_image", args)
    assert again["changed"] is False and again["loaded_nodes"] == [] and sorted(again["skipped_nodes"]) == sorted(kind_nodes)

    # what ctr imported is this very image: its config digest is the local image ID
    ctr_ls = engine.podman(state, "exec", first_node, "ctr", "-n", "k8s.io", "images", "ls").stdout.decode()
    assert docker_client.images.get(debug_image).id in ctr_ls


def test_kind_load_errors(kind_nodes, debug_image):
    name, tag = debug_image.rsplit(":", 1)
    base = {"name": name, "tag": tag, "source": "local"}
    missing = run_module("etcd_debug_image", dict(base, kind_load={"cluster_name": "no-such-cluster"}))
    assert missing["msg"] == ("no kind nodes found for cluster 'no-such-cluster' "
                              "(no running container labelled io.x-k8s.kind.cluster=no-such-cluster)")
    bad_node = run_module("etcd_debug_image", dict(base, kind_load={"cluster_name": KIND_CLUSTER, "nodes": ["nope"]}))
    assert bad_node["msg"].startswith(f"kind cluster '{KIND_CLUSTER}' has no node(s) nope (nodes: ")


# ---------------------------------------------------------------- errors: one clear line, nothing changed


@pytest.fixture()
def failing_context(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo step-output-before-failure && false\n")
    return tmp_path


def test_error_engine_unreachable(tmp_path):
    result = run_module("etcd_debug_image", {"name": "127.0.0.1:5000/x/y", "tag": "1",
                                             "docker_host": f"unix://{tmp_path}/no.sock"})
    assert result["msg"].startswith(f"cannot reach the container engine at unix://{tmp_path}/no.sock: ")
    assert "\n" not in result["msg"]


def test_error_dockerfile_missing(docker_client, infra):
    name = f"{infra['TESTBED_REGISTRY']}/x/missing-dockerfile"
    result = run_module("etcd_debug_image", {"name": name, "tag": "1", "build": {"dockerfile": "ops/Nope"}})
    # the default context is the collection's root, wherever Ansible found the collection
    assert re.fullmatch(r"Dockerfile /\S+/ansible_collections/etcd_wrapper/ops/ops/Nope does not exist", result["msg"]), result["msg"]
    assert local_tags(docker_client, name) == []


def test_error_build_step_failure(docker_client, infra, failing_context, build_args):
    name = f"{infra['TESTBED_REGISTRY']}/x/fails"
    result = run_module("etcd_debug_image", {"name": name, "tag": "1", "push": True,
                                             "build": {"context": str(failing_context), "dockerfile": "Dockerfile",
                                                       "args": {"BASE_IMAGE": build_args["BASE_IMAGE"]}}})
    assert result["msg"].startswith("build failed at STEP 2/2: RUN echo step-output-before-failure && false: ")
    assert "exit status 1" in result["msg"] and "output tail: step-output-before-failure" in result["msg"]
    assert "step-output-before-failure" in result["build_output_tail"]
    assert local_tags(docker_client, name) == []
    assert tags_in(infra["TESTBED_REGISTRY"], "x/fails") == []


def test_error_registry_unreachable(docker_client, debug_image):
    name = "127.0.0.1:5999/etcd-wrapper/etcd-debug"
    docker_client.images.get(debug_image).tag(name, "1")
    result = run_module("etcd_debug_image", {"name": name, "tag": "1", "source": "local", "push": True})
    assert result["msg"].startswith("registry 127.0.0.1:5999 is unreachable: ")
    assert "Connection refused" in result["msg"] or "connection refused" in result["msg"]


def test_error_image_missing_without_build(infra):
    name = f"{infra['TESTBED_REGISTRY']}/x/never-built"
    result = run_module("etcd_debug_image", {"name": name, "tag": "1", "source": "local", "push": True})
    assert result["msg"] == f"image {name}:1 is not present on the engine and source=local does not build it"
    assert tags_in(infra["TESTBED_REGISTRY"], "x/never-built") == []


@pytest.mark.parametrize("args, message", [
    ({"name": "127.0.0.1:5000/x/y:tag", "tag": "1"}, "name '127.0.0.1:5000/x/y:tag' must be a repository without a tag"),
    ({"name": "127.0.0.1:5000/X/Y", "tag": "1"}, "repository 'X/Y' in name '127.0.0.1:5000/X/Y' is not valid"),
    ({"name": "127.0.0.1:5000/x/y", "tag": "no spaces"}, "tag 'no spaces' is not a valid image tag"),
])
def test_error_bad_reference(infra, args, message):
    result = run_module("etcd_debug_image", args)
    assert result["msg"].startswith(message), result["msg"]


# ---------------------------------------------------------------- role + playbook


def test_build_image_playbook(infra, build_args, kind_nodes):
    name = f"{infra['TESTBED_REGISTRY']}/etcd-wrapper/etcd-debug"
    tag = fresh_tag()
    extra = {"debug_image_name": name, "debug_image_tag": tag, "debug_image_push": True,
             "debug_image_build_args": build_args, "debug_image_build_network": "host",
             "debug_image_kind_cluster": KIND_CLUSTER, "debug_image_kind_nodes": [kind_nodes[0]]}
    playbook = REPO / "playbooks" / "build_image.yml"
    first = run_playbook(playbook, extra)
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap(first.stdout)["changed"] == 1
    assert f"kind nodes loaded: {kind_nodes[0]}" in first.stdout
    assert tag in tags_in(infra["TESTBED_REGISTRY"], "etcd-wrapper/etcd-debug")
    second = run_playbook(playbook, extra)
    assert second.returncode == 0 and recap(second.stdout)["changed"] == 0, second.stdout
    # the role validates its arguments
    bad = run_playbook(playbook, {"debug_image_name": name, "debug_image_source": "nope"})
    assert bad.returncode != 0 and "debug_image_source" in bad.stdout
