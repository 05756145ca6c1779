"""Fixtures for integration tests against real parts on 127.0.0.1: podman's Docker-compatible
API, Debian's docker-registry (plain, htpasswd and read-only), kind-shaped containerd nodes.
The infrastructure and the fleet (`state`, `infra`, `fleet`, `fleet_debug_image`) come from
tests/conftest.py, shared with the fleet's own tests in tests/testbed.

Modules run through the real `ansible` / `ansible-playbook` CLIs with the collection on
ANSIBLE_COLLECTIONS_PATH (the Makefile links the checkout there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from testbed import infra as testbed_infra  # noqa: E402
from testbed import kindnode, registry  # noqa: E402

AUTH_USER = "etcdops"
AUTH_PASSWORD = "Registry-Pa55-" + uuid.uuid4().hex[:8]
KIND_CLUSTER = "etcdops-it"


@pytest.fixture(scope="session")
def docker_client(infra):
    import docker
    return docker.DockerClient(base_url=infra["DOCKER_HOST"], timeout=600)


@pytest.fixture(scope="session")
def auth_registry(infra, state) -> str:
    port = testbed_infra.auth_registry_port()
    yield registry.up(state, port, htpasswd=(AUTH_USER, AUTH_PASSWORD))
    registry.down(state, port)


@pytest.fixture(scope="session")
def readonly_registry(infra, state) -> str:
    """A registry that serves reads but refuses every push (maintenance read-only mode)."""
    port = testbed_infra.readonly_registry_port()
    yield registry.up(state, port, readonly=True)
    registry.down(state, port)


@pytest.fixture(scope="session")
def kind_nodes(infra, state) -> list[str]:
    nodes = kindnode.up(state, KIND_CLUSTER, count=2, log=lambda m: print(m, file=sys.stderr))
    yield nodes
    kindnode.down(state, KIND_CLUSTER)


@pytest.fixture(scope="session")
def build_args(infra) -> dict[str, str]:
    return {"BASE_IMAGE": infra["TESTBED_BASE_IMAGE"], "ETCD_IMAGE": infra["TESTBED_ETCD_IMAGE"]}


@pytest.fixture(scope="session")
def debug_image(infra, build_args) -> str:
    """The debug image built once per session from ops/Dockerfile through the module."""
    ref_name = f"{infra['TESTBED_REGISTRY']}/etcd-wrapper/etcd-debug"
    tag = "it-" + uuid.uuid4().hex[:8]
    result = run_module("etcd_debug_image", {"name": ref_name, "tag": tag,
                                             "build": {"args": build_args, "network": "host"}})
    assert result["built"] is True, result
    return f"{ref_name}:{tag}"


class ModuleRun(dict):
    """The module's result dict, plus the CLI's stdout/stderr and rc."""


def run_module(module: str, args: dict, check: bool = False, verbosity: int = 0, env: dict | None = None) -> ModuleRun:
    """Run etcd_wrapper.ops.<module> ad hoc on localhost; returns its result (ok, failed or skipped)."""
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp, "result.json")
        argv = ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", f"etcd_wrapper.ops.{module}",
                "-a", json.dumps(args), "-e", f"ansible_python_interpreter={sys.executable}"]
        if check:
            argv.append("--check")
        if verbosity:
            argv.append("-" + "v" * verbosity)
        run_env = {**os.environ, **(env or {}), "RESULT_FILE": str(result_file),
                   "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
                   "ANSIBLE_CALLBACKS_ENABLED": "result_file", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
        proc = subprocess.run(argv, capture_output=True, text=True, env=run_env, timeout=1200, check=False)
        try:
            result = ModuleRun(json.loads(result_file.read_text()))
        except (OSError, ValueError):
            raise AssertionError(f"no result from {module}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None
    result.cli_rc, result.stdout, result.stderr = proc.returncode, proc.stdout, proc.stderr
    result.failed = proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "MODULE FAILURE" not in proc.stdout, proc.stdout
    return result


def run_playbook(playbook: Path, extra_vars: dict, check: bool = False, verbosity: int = 0) -> subprocess.CompletedProcess:
    argv = ["ansible-playbook", str(playbook), "-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if verbosity:
        argv.append("-" + "v" * verbosity)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def recap(stdout: str) -> dict[str, int]:
    """The PLAY RECAP counters for localhost."""
    for line in stdout.splitlines():
        if line.startswith("localhost") and "ok=" in line:
            return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}
    raise AssertionError("no PLAY RECAP in:\n" + stdout)
