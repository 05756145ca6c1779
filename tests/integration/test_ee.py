"""The execution environment (extensions/ee): ansible-builder's build context, then the image built
with podman from the testbed's local Debian base, and the collection used inside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO

SCRIPT = REPO / "tests" / "tools" / "ee_build.sh"
CONTEXT = REPO / "build" / "ee" / "context"
TARBALL = "etcd_wrapper-ops.tar.gz"
TAG = "localhost/etcd_wrapper/ops-ee:it"
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
BIN = Path(sys.executable).parent


def run(argv: list[str], timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def output_of(proc: subprocess.CompletedProcess, lines: int = 60) -> str:
    """The command, its rc and the end of its output, for assertion messages."""
    text = "\n".join((proc.stdout + proc.stderr).splitlines()[-lines:])
    return f"{' '.join(map(str, proc.args))}: rc={proc.returncode}\n{text}"


@pytest.fixture(scope="module")
def context() -> Path:
    proc = run([str(SCRIPT), "create"])
    assert proc.returncode == 0, output_of(proc)
    return CONTEXT


# ---------------------------------------------------------------- (a) the build context


def test_containerfile_takes_the_base_image_as_build_arg(context):
    containerfile = (context / "Containerfile").read_text()
    lines = containerfile.splitlines()
    assert lines[0].startswith('ARG EE_BASE_IMAGE="'), lines[0]
    assert "FROM $EE_BASE_IMAGE AS base" in lines
    # Debian's pip (PEP 668) and the Debian package manager behind ansible-builder's $PKGMGR
    assert "ENV PIP_BREAK_SYSTEM_PACKAGES=1" in lines
    assert 'ARG PKGMGR="/usr/local/sbin/ee-pkgmgr"' in lines
    assert any(line.startswith('ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.19,<2.20 ansible-runner>=2.4') for line in lines), lines
    # the collection is installed from the local tarball, never from a Galaxy server
    assert 'ARG ANSIBLE_GALAXY_CLI_COLLECTION_OPTS="--offline"' in lines
    assert "COPY _build /build" in lines
    assert "LABEL ansible-execution-environment=true" in lines


def test_context_holds_the_collection_tarball(context):
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": f"/build/collections/{TARBALL}", "type": "file"}]
    with tarfile.open(context / "_build" / "collections" / TARBALL) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        names = tar.getnames()
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("etcd_wrapper", "ops", VERSION)
    assert "meta/execution-environment.yml" in names and "bindep.txt" in names and "requirements.txt" in names
    assert not [n for n in names if n.startswith(("build/", ".testbed/", ".venv/", "extensions/ee/context"))]


def test_introspection_finds_the_python_requirements(context, tmp_path):
    """What the builder stage does: install the tarball, run the context's introspect.py on it."""
    proc = run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(tmp_path / "collections"),
                str(context / "_build" / "collections" / TARBALL)])
    assert proc.returncode == 0, output_of(proc)
    pip_file, bindep_file = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    proc = run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect", str(tmp_path / "collections"),
                f"--write-pip={pip_file}", f"--write-bindep={bindep_file}"])
    assert proc.returncode == 0, output_of(proc)
    python = pip_file.read_text().splitlines()
    assert any(line.startswith("kubernetes>=") and line.endswith("# from collection etcd_wrapper.ops") for line in python), python
    assert any(line.startswith("docker>=") and line.endswith("# from collection etcd_wrapper.ops") for line in python), python
    # no system packages: bindep.txt holds comments only, so nothing is written
    assert not bindep_file.exists()


# ---------------------------------------------------------------- (b) the image


@pytest.fixture(scope="module")
def image(infra, context) -> str:
    """The image, built once per module (after the build context tests: same context)."""
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    proc = run([str(SCRIPT), "build"], timeout=1800,
               env={"EE_BASE_IMAGE": infra["TESTBED_BASE_IMAGE"], "EE_TAG": TAG})
    assert proc.returncode == 0, output_of(proc)
    return TAG


def in_image(image_ref: str, *argv: str, user: str | None = None) -> subprocess.CompletedProcess:
    """Run argv in a fresh container through the image's entrypoint, offline."""
    opts = ["--user", user] if user else []
    return run(["podman", "run", "--rm", "--network", "none", *opts, image_ref, *argv], timeout=300)


def test_image_is_an_execution_environment(image):
    proc = run(["podman", "image", "inspect", image])
    assert proc.returncode == 0, output_of(proc)
    config = json.loads(proc.stdout)[0]["Config"]
    assert config["Labels"]["ansible-execution-environment"] == "true"
    assert config["User"] == "1000" and config["WorkingDir"] == "/runner"
    assert config["Entrypoint"] == ["/opt/builder/bin/entrypoint", "dumb-init"]


@pytest.mark.parametrize("argv, expected", [
    (["ansible-galaxy", "collection", "list", "etcd_wrapper.ops"], f"etcd_wrapper.ops {VERSION}"),
    (["python3", "-c", "import kubernetes, docker; print('kubernetes', kubernetes.__version__, 'docker', docker.__version__)"],
     "kubernetes "),
    (["ansible-doc", "etcd_wrapper.ops.etcd_health"], "/usr/share/ansible/collections/ansible_collections/etcd_wrapper/ops/"),
    (["ansible-runner", "--version"], "2.4."),
    (["ansible", "--version"], "ansible [core 2.19."),
], ids=["collection-list", "python-libs", "ansible-doc", "ansible-runner", "ansible-core"])
def test_in_image(image, argv, expected):
    proc = in_image(image, *argv)
    assert proc.returncode == 0, output_of(proc)
    assert expected in proc.stdout, output_of(proc)


def test_arbitrary_uid_like_awx_on_kubernetes(image):
    """AWX on Kubernetes / OpenShift runs the EE with a random UID in group 0."""
    proc = in_image(image, "sh", "-c", "id -u; ansible-galaxy collection list etcd_wrapper.ops", user="4242:0")
    assert proc.returncode == 0, output_of(proc)
    assert proc.stdout.splitlines()[0] == "4242", output_of(proc)
    assert f"etcd_wrapper.ops {VERSION}" in proc.stdout, output_of(proc)


# ---------------------------------------------------------------- (c) the image as a pod: in-cluster configuration


def test_sweep_from_a_pod_under_the_shipped_cluster_role(image, fleet, fleet_debug_image, state):
    """What an AWX container group does: the EE runs as a pod under a ServiceAccount bound to the
    shipped ClusterRole, with no kubeconfig; the modules fall back to the pod's service account
    (kubernetes.core's order) and sweep the cluster the pod runs in; the report comes back."""
    from kubernetes import client

    from testbed import kube, rbac, workloads
    api = fleet["api"]("testbed-1")
    core = client.CoreV1Api(api)
    namespace, account = "etcd-ops-awx", "etcd-ops-sweeper"
    rbac.bind_service_account(api, namespace, account, rbac.shipped_rules())
    kube.publish_root_ca(api, namespace, (state / "fleet" / "pki" / "ca" / "ca.crt").read_text())
    target = workloads.namespace_for(1)
    variables = {"debug_container_image": fleet_debug_image, "debug_container_name": "from-pod", "fleet_report_dir": "/tmp/report",
                 "fleet_report_fail_on": "never", "etcd_discover_namespaces": [target]}
    script = ("ansible-playbook -i localhost, -c local etcd_wrapper.ops.health_sweep -e \"$SWEEP_VARS\" > /tmp/sweep.log 2>&1; "
              "rc=$?; tail -n 30 /tmp/sweep.log; echo '=== report'; cat /tmp/report/health_report.json; echo; echo \"=== rc $rc\"")
    name = "etcd-ops-sweep-" + os.urandom(3).hex()
    node = core.list_node().items[0].metadata.name
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
           # no scheduler runs in the fleet: the pod names its node, as the fleet's etcd pods do
           "spec": {"serviceAccountName": account, "restartPolicy": "Never", "nodeName": node,
                    "containers": [{"name": "ee", "image": image, "imagePullPolicy": "Never",
                                    "command": ["/bin/sh", "-c", script],
                                    "env": [{"name": "SWEEP_VARS", "value": json.dumps(variables)}]}]}}
    assert kube.create(api, pod)
    try:
        deadline = time.monotonic() + 900
        phase = "Pending"
        while time.monotonic() < deadline:
            phase = core.read_namespaced_pod(name, namespace).status.phase
            if phase in ("Succeeded", "Failed"):
                break
            time.sleep(3)
        logs = core.read_namespaced_pod_log(name, namespace, container="ee")
    finally:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    assert phase == "Succeeded", f"{phase}\n{logs[-4000:]}"
    assert "=== rc 0" in logs, logs[-4000:]
    report = json.loads(logs.split("=== report\n", 1)[1].rsplit("=== rc", 1)[0])
    codes = {f["code"] for f in report["findings"]}
    assert not codes & {"CLUSTER_UNREACHABLE", "DEBUG_CONTAINER_FAILED", "MEMBER_UNREACHABLE"}, report["findings"]
    shoot = next(s for s in workloads.shoots_for(1, fleet["etcds"], fleet["members"]) if s.namespace == target)
    assert report["summary"]["clusters"] == 1 and report["summary"]["members"] == len(shoot.pods()), report["summary"]
    assert [c["name"] for c in report["clusters"]] == ["localhost"], report["clusters"]
