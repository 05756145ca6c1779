"""print-etcd-cheatsheet inside the debug image, attached to etcd-druid-shaped fleet pods the way
`kubectl debug --target=etcd` attaches: no volumes of the target mounted, the pod's one shared
PID namespace (PID 1 is the pause process, etcd-wrapper beside it), UID 65532."""

from __future__ import annotations

import json

import pytest
from conftest import run_module
from testbed import kube

# (namespace in cluster 1, what the cheatsheet must find): etcd-druid >= v0.23 with gardener's
# bundle.crt, and the v0.22 layout with druid's default ca.crt
VARIANTS = {
    "druid-v0.23": ("shoot--prod--alpha", "/var/etcd/ssl/ca/bundle.crt", "/var/etcd/ssl/client/tls.crt",
                    "/var/etcdbr/ssl/ca/bundle.crt"),
    "druid-legacy": ("shoot--old--alpha", "/var/etcd/ssl/client/ca/ca.crt", "/var/etcd/ssl/client/client/tls.crt",
                     "/var/etcd/ssl/client/ca/ca.crt"),
}
SCRIPT = ("print-etcd-cheatsheet > /work/sheet.txt; echo rc=$?; cat /work/sheet.txt; "
          "set -a; . /work/etcdctl.env; set +a; echo ===; etcdctl endpoint health -w json; echo ===; "
          "print-etcd-cheatsheet --env-only; echo ===; ps -eo pid=,comm=")


@pytest.mark.parametrize("layout", sorted(VARIANTS))
def test_cheatsheet_finds_the_wrapper_and_its_files(fleet, fleet_debug_image, layout):
    ns, ca, cert, br_ca = VARIANTS[layout]
    auth = {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-1"}
    name = "cheatsheet-" + layout.replace(".", "")
    attached = run_module("etcd_ephemeral_container", dict(auth, namespace=ns, pod="etcd-main-0", image=fleet_debug_image,
                                                           name=name, mount_target_volumes=False, profile="restricted"))
    assert not attached.failed, attached
    rc, out, err = kube.exec_argv(fleet["api"]("testbed-1"), ns, "etcd-main-0", name, ["bash", "-c", SCRIPT])
    assert rc == 0, err
    sheet, health, env_only, ps = out.split("===\n")
    procs = {comm: int(pid) for pid, comm in (line.split() for line in ps.splitlines())}
    pid = procs["etcd-wrapper"]
    assert pid != 1 and "etcdbrctl" in procs  # shared PID namespace: PID 1 is the pod's pause process
    root = f"/proc/{pid}/root"
    assert "rc=0" in sheet and f"TLS layout: {layout}" in sheet
    assert f"PID {pid} (/etcd-wrapper start-etcd" in sheet
    assert f"backup-restore: PID {procs['etcdbrctl']}\n" in sheet  # once, not twice
    assert f"--cacert={root}{ca}" in sheet and f"--cert={root}{cert}" in sheet
    assert f"configuration: {root}/home/nonroot/etcd.conf.yaml" in sheet  # written by etcd-wrapper, not mounted
    assert "--endpoints=https://etcd-main-local:2379" in sheet
    assert f"curl -sS --cacert {root}{br_ca} https://etcd-main-local:8080/healthz" in sheet
    assert json.loads(health.strip().splitlines()[-1])[0]["health"] is True
    assert env_only.split() == [
        "ETCDCTL_API=3", "ETCDCTL_ENDPOINTS=https://etcd-main-local:2379", f"ETCDCTL_CACERT={root}{ca}",
        f"ETCDCTL_CERT={root}{cert}", f"ETCDCTL_KEY={root}{cert[:-3]}key"]


def test_cheatsheet_without_target_fails_clearly(docker_client, debug_image):
    proc = docker_client.containers.run(debug_image, entrypoint=["/bin/bash", "-c", "print-etcd-cheatsheet; echo rc=$?"],
                                        remove=True, stderr=True).decode()
    assert "error: no etcd or etcd-wrapper process visible; attach this container with --target=etcd" in proc
    assert "rc=1" in proc
