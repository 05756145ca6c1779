"""print-etcd-cheatsheet inside the debug image, attached to a real etcd (TLS, UID 65532) the way
kubectl debug --target=etcd attaches: sharing its PID (and network) namespace."""

from __future__ import annotations

import json
import os
import shutil
import time

import docker
import pytest
from testbed import pki

# where each etcd-druid layout keeps the client TLS material, as the etcd container sees it
LAYOUTS = {
    "druid-v0.23": {"ca": "/var/etcd/ssl/ca", "ca_file": "bundle.crt", "server": "/var/etcd/ssl/server",
                    "client": "/var/etcd/ssl/client", "client_dir": ""},
    "druid-v0.23-ca.crt": {"ca": "/var/etcd/ssl/ca", "ca_file": "ca.crt", "server": "/var/etcd/ssl/server",
                           "client": "/var/etcd/ssl/client", "client_dir": ""},
    "druid-legacy": {"ca": "/var/etcd/ssl/client/ca", "ca_file": "bundle.crt", "server": "/var/etcd/ssl/client/server",
                     "client": "/var/etcd/ssl/client/client", "client_dir": "client"},
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    ca_crt, ca_key = pki.ca(root / "ca-src")
    pki.issue(root / "server", ca_crt, ca_key, "etcd-main-0", "server,client",
              dns=["localhost", "etcd-main-local"], ips=["127.0.0.1"])
    pki.issue(root / "client", ca_crt, ca_key, "etcd-client", "client")
    return root, ca_crt


def tls_tree(base, certs_root, ca_crt, layout):
    """Host directories holding one layout's files, mounted read-only where etcd expects them."""
    spec = LAYOUTS[layout]
    tree = base / layout
    (tree / "ca").mkdir(parents=True)
    shutil.copy(ca_crt, tree / "ca" / spec["ca_file"])
    shutil.copytree(certs_root / "server", tree / "server")
    shutil.copytree(certs_root / "client", tree / "client")
    for path in tree.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(tree, 0o755)
    return {str(tree / "ca"): {"bind": spec["ca"], "mode": "ro"},
            str(tree / "server"): {"bind": spec["server"], "mode": "ro"},
            str(tree / "client"): {"bind": spec["client"], "mode": "ro"}}


def etcd_config(spec) -> str:
    return f"""name: etcd-main-0
data-dir: /var/etcd/data/new.etcd
listen-client-urls: https://127.0.0.1:2379
advertise-client-urls: "https://127.0.0.1:2379"
listen-peer-urls: http://127.0.0.1:2380
initial-advertise-peer-urls: http://127.0.0.1:2380
initial-cluster: etcd-main-0=http://127.0.0.1:2380
quota-backend-bytes: 8589934592
client-transport-security:
  cert-file: {spec['server']}/tls.crt
  key-file: {spec['server']}/tls.key
  trusted-ca-file: {spec['ca']}/{spec['ca_file']}
  client-cert-auth: true
"""


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_cheatsheet_finds_tls_and_etcdctl_works(docker_client, infra, debug_image, certs, tmp_path, layout):
    certs_root, ca_crt = certs
    spec = LAYOUTS[layout]
    volumes = tls_tree(tmp_path, certs_root, ca_crt, layout)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "etcd.conf.yaml").write_text(etcd_config(spec))
    os.chmod(tmp_path / "config", 0o755)
    os.chmod(tmp_path / "config" / "etcd.conf.yaml", 0o644)
    volumes[str(tmp_path / "config")] = {"bind": "/var/etcd/config", "mode": "ro"}

    etcd = docker_client.containers.run(
        infra["TESTBED_ETCD_IMAGE"], command=["--config-file", "/var/etcd/config/etcd.conf.yaml"],
        user="65532:65532", volumes=volumes, tmpfs={"/var/etcd/data": "mode=1777"}, detach=True)
    try:
        # etcd's image has no shell: the debug container is the only way in
        no_shell = docker_client.api.exec_create(etcd.id, ["sh", "-c", "true"])["Id"]
        try:
            docker_client.api.exec_start(no_shell)
            code = docker_client.api.exec_inspect(no_shell)["ExitCode"]
        except docker.errors.APIError:
            code = None
        assert code != 0
        deadline = time.monotonic() + 30
        script = ("print-etcd-cheatsheet > /work/sheet.txt; echo rc=$?; cat /work/sheet.txt; "
                  "set -a; . /work/etcdctl.env; set +a; echo ===; etcdctl endpoint health -w json; echo ===; "
                  "print-etcd-cheatsheet --env-only; echo ===END")
        while True:
            out = docker_client.containers.run(
                debug_image, entrypoint=["/bin/bash", "-c", script],
                pid_mode=f"container:{etcd.id}", network_mode=f"container:{etcd.id}",
                remove=True, stderr=True).decode()
            # podman's Docker API can hand back the logs of a container that just exited without
            # their tail (seen once in CI): only a complete output counts
            if ('"health":true' in out and out.rstrip().endswith("===END")) or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        etcd.remove(force=True)
    assert out.rstrip().endswith("===END"), out
    out = out.rstrip()[:-len("===END")]

    sheet, health, env_only = out.split("===\n")
    assert "rc=0" in sheet
    expected_layout = "druid-legacy" if layout == "druid-legacy" else "druid-v0.23"
    assert f"TLS layout: {expected_layout}" in sheet
    # etcd is PID 1 of the shared namespace; its files are read through /proc/1/root
    ca_path = f"/proc/1/root{spec['ca']}/{spec['ca_file']}"
    cert_path = f"/proc/1/root{spec['client']}/tls.crt"
    assert f"--cacert={ca_path}" in sheet and f"--cert={cert_path}" in sheet
    assert "configuration: /proc/1/root/var/etcd/config/etcd.conf.yaml" in sheet
    assert "--endpoints=https://127.0.0.1:2379" in sheet
    assert json.loads(health.strip().splitlines()[-1])[0]["health"] is True
    assert env_only.split() == [
        "ETCDCTL_API=3", "ETCDCTL_ENDPOINTS=https://127.0.0.1:2379", f"ETCDCTL_CACERT={ca_path}",
        f"ETCDCTL_CERT={cert_path}", f"ETCDCTL_KEY=/proc/1/root{spec['client']}/tls.key"]


def test_cheatsheet_without_target_fails_clearly(docker_client, debug_image):
    proc = docker_client.containers.run(debug_image, entrypoint=["/bin/bash", "-c", "print-etcd-cheatsheet; echo rc=$?"],
                                        remove=True, stderr=True).decode()
    assert "error: no etcd or etcd-wrapper process visible; attach this container with --target=etcd" in proc
    assert "rc=1" in proc
