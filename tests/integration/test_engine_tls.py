"""etcd_wrapper.ops.etcd_debug_image against a real Docker Engine (Debian's dockerd) over TLS with
client-certificate verification (dockerd --tlsverify), started by tests/testbed/dockerd.py.

Not here: kind load. The kind-shaped nodes are podman containers; dockerd does not see them.
"""

from __future__ import annotations

import sys
import uuid

import pytest
from conftest import run_module
from testbed import infra as testbed_infra
from testbed import dockerd
from testbed import registry as reg

DOCKERFILE = "ops/Dockerfile"


@pytest.fixture(scope="module")
def engine(infra, state) -> dict:
    """dockerd with TLS on 127.0.0.1 and 127.0.0.2 (not in its certificate), the base images
    copied in from podman; stopped when this module's tests are done."""
    info = dockerd.up(state, testbed_infra.insecure_registries())
    try:
        dockerd.load_images(state, infra["DOCKER_HOST"], [infra["TESTBED_BASE_IMAGE"], infra["TESTBED_ETCD_IMAGE"]],
                            log=lambda m: print(m, file=sys.stderr))
        yield info
    finally:
        dockerd.down(state)


@pytest.fixture(scope="module")
def engine_client(engine):
    """The test's own view of dockerd, through its Unix socket."""
    import docker
    return docker.DockerClient(base_url=engine["socket"], timeout=600)


@pytest.fixture(scope="module")
def podman_client(infra):
    import docker
    return docker.DockerClient(base_url=infra["DOCKER_HOST"], timeout=600)


def verified(engine, **over) -> dict:
    """Connection options for TLS with verification and a client certificate."""
    certs = engine["client_dir"]
    return {"docker_host": engine["tcp"], "validate_certs": True, "ca_path": str(certs / "ca.pem"),
            "client_cert": str(certs / "cert.pem"), "client_key": str(certs / "key.pem"), **over}


def fresh_tag() -> str:
    return "tls-" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def tls_image(engine, infra, build_args) -> str:
    """The debug image built on dockerd from ops/Dockerfile through the module, over verified TLS."""
    ref_name = f"{infra['TESTBED_REGISTRY']}/etcd-wrapper/etcd-debug-dockerd"
    tag = fresh_tag()
    result = run_module("etcd_debug_image", {"name": ref_name, "tag": tag, **verified(engine),
                                             "build": {"args": build_args, "network": "host", "dockerfile": DOCKERFILE}})
    assert not result.failed, result["msg"]
    assert result["built"] is True, result
    return f"{ref_name}:{tag}"


@pytest.fixture(scope="module")
def probe_image(engine_client, infra) -> str:
    """An image only dockerd has (the base image under a fresh tag): the connection tests use it
    with source=local, so they need no build and a run that reached another engine fails."""
    ref = f"{infra['TESTBED_REGISTRY']}/etcd-wrapper/tls-probe:{fresh_tag()}"
    engine_client.images.get(infra["TESTBED_BASE_IMAGE"]).tag(ref)
    yield ref
    engine_client.images.remove(ref)  # the tag only


def local_args(image: str) -> dict:
    """Use the image that only dockerd has: a run that reached another engine fails."""
    name, tag = image.rsplit(":", 1)
    return {"name": name, "tag": tag, "source": "local"}


def assert_reached_dockerd(result, engine_client, image: str) -> None:
    assert not result.failed, result.get("msg")
    assert result["changed"] is False and result["image"]["id"] == engine_client.images.get(image).id, result


def assert_fails(args: dict, env: dict | None = None) -> str:
    """The module fails with one line (run_module checks there is no traceback)."""
    result = run_module("etcd_debug_image", args, env=env)
    assert result.failed and result.get("failed") is True, result
    assert result.get("changed") is not True
    assert result["msg"] and "\n" not in result["msg"], result["msg"]
    return result["msg"]


# ---------------------------------------------------------------- the image over verified TLS


def test_build_push_rerun_and_check_mode(engine, engine_client, podman_client, infra, build_args):
    registry = infra["TESTBED_REGISTRY"]
    name = f"{registry}/etcd-wrapper/etcd-debug-dockerd"
    tag = fresh_tag()
    args = {"name": name, "tag": tag, "push": True, **verified(engine),
            "build": {"args": build_args, "network": "host", "dockerfile": DOCKERFILE}}

    check = run_module("etcd_debug_image", args, check=True)
    assert check["changed"] is True and check["built"] is True and check["pushed"] is True, check
    assert engine_client.images.list(name=f"{name}:{tag}") == []

    first = run_module("etcd_debug_image", args)
    assert not first.failed, first["msg"]
    assert first["built"] is True and first["pushed"] is True and first["changed"] is True, first
    image = engine_client.images.get(f"{name}:{tag}")
    assert first["image"]["id"] == image.id
    assert podman_client.images.list(name=f"{name}:{tag}") == []  # built by dockerd, not podman
    manifest = reg.manifest(registry, "etcd-wrapper/etcd-debug-dockerd", tag)
    assert manifest is not None and first["digest"] == manifest["_digest"]
    assert manifest["config"]["digest"] == image.id

    second = run_module("etcd_debug_image", args)
    assert second["changed"] is False and second["built"] is False and second["pushed"] is False, second
    assert second["digest"] == first["digest"]
    assert run_module("etcd_debug_image", args, check=True)["changed"] is False


def test_source_local_push(engine, engine_client, infra, tls_image):
    registry = infra["TESTBED_REGISTRY"]
    name = f"{registry}/etcd-wrapper/etcd-debug-dockerd"
    tag = fresh_tag()
    engine_client.images.get(tls_image).tag(name, tag)
    result = run_module("etcd_debug_image", {"name": name, "tag": tag, "source": "local", "push": True,
                                             **verified(engine)})
    assert result["built"] is False and result["pushed"] is True and result["changed"] is True, result
    assert reg.manifest(registry, "etcd-wrapper/etcd-debug-dockerd", tag)["config"]["digest"] == \
        engine_client.images.get(tls_image).id


def test_image_tools_work_as_uid_65532_on_dockerd(engine_client, tls_image):
    out = engine_client.containers.run(
        tls_image, entrypoint=["/bin/bash", "-c", "id -u; etcdctl version; jq --version; curl --version | head -1; "
                                                  "command -v print-etcd-cheatsheet; touch /work/probe && echo work-writable"],
        network_mode="none", remove=True, stderr=True).decode()
    lines = out.splitlines()
    assert lines[0] == "65532", out
    assert "etcdctl version: 3.5.35" in out and "jq-1." in out and "curl " in out
    assert "/usr/local/bin/print-etcd-cheatsheet" in lines and "work-writable" in lines


# ---------------------------------------------------------------- the other ways to connect


def test_docker_cert_path_env_only(engine, engine_client, probe_image):
    env = {"DOCKER_HOST": engine["tcp"], "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(engine["client_dir"])}
    assert_reached_dockerd(run_module("etcd_debug_image", local_args(probe_image), env=env), engine_client, probe_image)
    # DOCKER_TLS_HOSTNAME too: the address not in the certificate, the name that is
    env_other = dict(env, DOCKER_HOST=engine["tcp_mismatch"], DOCKER_TLS_HOSTNAME="engine.etcdops.test")
    assert_reached_dockerd(run_module("etcd_debug_image", local_args(probe_image), env=env_other), engine_client, probe_image)


def test_docker_cert_path_without_files(engine, probe_image, tmp_path):
    env = {"DOCKER_HOST": engine["tcp"], "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    msg = assert_fails(local_args(probe_image), env=env)
    assert msg == f"TLS parameter error: ca_path {tmp_path}/ca.pem (from DOCKER_CERT_PATH) does not exist"
    missing = assert_fails(dict(local_args(probe_image), **verified(engine, client_cert=str(tmp_path / "nope.pem"))))
    assert missing == f"TLS parameter error: client_cert {tmp_path}/nope.pem does not exist"


def test_tls_without_verification(engine, engine_client, probe_image):
    certs = engine["client_dir"]
    # ca_path of an unrelated CA is not used without validate_certs: this connects only unverified
    args = dict(local_args(probe_image), docker_host=engine["tcp_mismatch"], tls=True,
                ca_path=str(engine["other_client_dir"] / "ca.pem"),
                client_cert=str(certs / "cert.pem"), client_key=str(certs / "key.pem"))
    assert_reached_dockerd(run_module("etcd_debug_image", args), engine_client, probe_image)

    no_cert = assert_fails(dict(local_args(probe_image), docker_host=engine["tcp"], tls=True))
    assert no_cert == (f"cannot reach the container engine at {engine['tcp']}: the engine refused the TLS client "
                       "certificate (no client_cert): set client_cert and client_key to a certificate signed by "
                       "the CA the engine trusts (dockerd --tlscacert)")


def test_client_certificate_of_another_ca(engine, probe_image):
    other = engine["other_client_dir"]
    certs = {"client_cert": str(other / "cert.pem"), "client_key": str(other / "key.pem")}
    msg = assert_fails(dict(local_args(probe_image), **verified(engine, **certs)))
    assert msg.startswith(f"cannot reach the container engine at {engine['tcp']}: the engine "), msg
    assert f"client certificate (client_cert {other}/cert.pem): set client_cert and client_key" in msg


def test_wrong_ca(engine, probe_image):
    other_ca = engine["other_client_dir"] / "ca.pem"
    msg = assert_fails(dict(local_args(probe_image), **verified(engine, ca_path=str(other_ca))))
    assert msg == (f"cannot reach the container engine at {engine['tcp']}: TLS certificate verify failed "
                   f"(unable to get local issuer certificate) against {other_ca}: "
                   "set ca_path to the CA that signed the engine's certificate")
    system = assert_fails(dict(local_args(probe_image), **verified(engine, ca_path=None)))
    assert "certificate verify failed" in system and "against the system CAs" in system, system


def test_hostname_mismatch_and_tls_hostname(engine, engine_client, probe_image):
    args = dict(local_args(probe_image), **verified(engine, docker_host=engine["tcp_mismatch"]))
    msg = assert_fails(args)
    assert msg == (f"cannot reach the container engine at {engine['tcp_mismatch']}: the engine's TLS certificate "
                   "is not valid for host name '127.0.0.2' (it names 'localhost', 'engine.etcdops.test', '127.0.0.1'): "
                   "set tls_hostname to a name in the certificate")
    assert_reached_dockerd(run_module("etcd_debug_image", dict(args, tls_hostname="engine.etcdops.test")),
                           engine_client, probe_image)
    # a name the certificate does not have is refused even where the address would match
    wrong = assert_fails(dict(local_args(probe_image), **verified(engine, tls_hostname="other.etcdops.test")))
    assert "not valid for host name 'other.etcdops.test'" in wrong


def test_plain_http_to_the_tls_port(engine, probe_image):
    msg = assert_fails(dict(local_args(probe_image), docker_host=engine["tcp"]))
    assert msg == (f"cannot reach the container engine at {engine['tcp']}: "
                   "the engine expects TLS: set validate_certs (or tls) and the certificate options")


def test_api_version(engine, engine_client, probe_image):
    pinned = run_module("etcd_debug_image", dict(local_args(probe_image), **verified(engine, api_version="1.41")))
    assert_reached_dockerd(pinned, engine_client, probe_image)
    too_new = assert_fails(dict(local_args(probe_image), **verified(engine, docker_api_version="9.99")))
    assert too_new == (f"the container engine at {engine['tcp']} refused the request: client version 9.99 is too new. "
                       "Maximum supported API version is 1.41 (api_version 9.99)")
    env = {"DOCKER_API_VERSION": "latest"}
    assert assert_fails(dict(local_args(probe_image), **verified(engine)), env=env) == \
        "api_version must be 'auto' or a Docker API version like 1.41, not 'latest'"


def test_build_image_playbook_over_tls(engine, infra, tls_image):
    """The role's TLS variables reach the module: build_image.yml pushes the dockerd-built image
    over verified TLS; without the client certificate it fails with the one-line reason."""
    from conftest import REPO, recap, run_playbook
    name, tag = tls_image.rsplit(":", 1)
    certs = engine["client_dir"]
    extra = {"debug_image_name": name, "debug_image_tag": tag, "debug_image_source": "local", "debug_image_push": True,
             "debug_image_docker_host": engine["tcp"], "debug_image_validate_certs": True,
             "debug_image_ca_path": str(certs / "ca.pem"), "debug_image_client_cert": str(certs / "cert.pem"),
             "debug_image_client_key": str(certs / "key.pem"), "debug_image_api_version": "1.41"}
    playbook = REPO / "playbooks" / "build_image.yml"
    proc = run_playbook(playbook, extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap(proc.stdout)["changed"] == 1 and "pushed: True" in proc.stdout, proc.stdout
    assert reg.manifest(infra["TESTBED_REGISTRY"], "etcd-wrapper/etcd-debug-dockerd", tag) is not None
    no_cert = run_playbook(playbook, {k: v for k, v in extra.items() if k not in ("debug_image_client_cert", "debug_image_client_key")})
    assert no_cert.returncode != 0
    assert "the engine refused the TLS client certificate (no client_cert)" in no_cert.stdout, no_cert.stdout
