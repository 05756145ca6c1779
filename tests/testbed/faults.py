"""Faults injected into the fleet's etcd clusters, for tests and the demo. Each is real:
a stopped etcd process, a NOSPACE alarm raised by etcd itself under a small quota, a
backup-restore sidecar that answers unhealthy. `heal` undoes all of them."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

from kubernetes import client

from . import engine, fleet, kube, procs, workloads

SMALL_QUOTA = 2 * 1024 * 1024  # bytes: a few puts of 512 KiB values exhaust it


def _record(state: Path, fault: dict) -> None:
    path = state / "fleet" / "faults.json"
    faults = json.loads(path.read_text()) if path.exists() else []
    if fault not in faults:
        faults.append(fault)
    path.write_text(json.dumps(faults, indent=1))


def active(state: Path) -> list[dict]:
    path = state / "fleet" / "faults.json"
    return json.loads(path.read_text()) if path.exists() else []


def _container(state: Path, cluster: fleet.Cluster, namespace: str, pod: str, container: str) -> str:
    argv = ["ps", "-q", "--filter", f"label=io.etcdops.node={cluster.node_name}",
            "--filter", f"label=io.etcdops.namespace={namespace}", "--filter", f"label=io.etcdops.pod={pod}",
            "--filter", f"label=io.etcdops.container={container}"]
    ids = engine.podman(state, *argv).stdout.decode().split()
    if not ids:
        raise procs.TestbedError(f"no podman container for {namespace}/{pod}/{container} on {cluster.node_name}")
    return ids[0]


def _api(state: Path, cluster: fleet.Cluster):
    return kube.api_client(fleet.kubeconfig_path(state), cluster.name)


def _hold_file(state: Path, cluster: fleet.Cluster, namespace: str, pod: str, container: str) -> Path:
    """The node's test hook: a container with a hold file is not restarted after it exits."""
    uid = client.CoreV1Api(_api(state, cluster)).read_namespaced_pod(pod, namespace).metadata.uid
    return cluster.dir / "node" / "pods" / uid / "hold" / container


def stop_member(state: Path, index: int, etcd: str, member: int) -> str:
    """Stop one member's etcd process; the node holds it stopped (no restart) until healed."""
    cluster = fleet.Cluster(index, state)
    ns = workloads.namespace_for(index)
    pod = f"{etcd}-{member}"
    hold = _hold_file(state, cluster, ns, pod, "etcd")
    hold.parent.mkdir(parents=True, exist_ok=True)
    hold.write_text("fault stop-member\n")
    engine.podman(state, "stop", "-t", "10", _container(state, cluster, ns, pod, "etcd"))
    _record(state, {"kind": "stop-member", "cluster": index, "namespace": ns, "etcd": etcd, "member": member})
    return f"{cluster.name}: {ns}/{pod} etcd stopped"


def backup_unhealthy(state: Path, index: int, etcd: str, healthy: bool = False) -> str:
    """Switch every member's backup-restore /healthz to {"health": false} (or back)."""
    cluster = fleet.Cluster(index, state)
    ns = workloads.namespace_for(index)
    api = _api(state, cluster)
    for pod in kube.pods(api, ns, f"app.kubernetes.io/name={etcd}"):
        rc, out, err = kube.exec_argv(api, ns, pod.metadata.name, "backup-restore",
                                      ["etcdbrctl", "set-health", "true" if healthy else "false", "--state", "/var/etcd/backup/health"])
        if rc != 0:
            raise procs.TestbedError(f"set-health in {ns}/{pod.metadata.name} failed (rc {rc}): {err or out}")
    if not healthy:
        _record(state, {"kind": "backup-unhealthy", "cluster": index, "namespace": ns, "etcd": etcd})
    return f"{cluster.name}: {ns}/{etcd} backup-restore {'healthy' if healthy else 'unhealthy'}"


def _recreate(state: Path, index: int, etcd: str, quota: int) -> None:
    """Recreate an etcd's members with a new quota: fresh members, fresh data (emptyDir)."""
    cluster = fleet.Cluster(index, state)
    ns = workloads.namespace_for(index)
    api = _api(state, cluster)
    core = client.CoreV1Api(api)
    images = {}
    members = []
    for pod in kube.pods(api, ns, f"app.kubernetes.io/name={etcd}"):
        images = {c.name: c.image for c in pod.spec.containers}
        members.append(pod.metadata.name)
        core.delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
    fleet.wait_all(lambda: not kube.pods(api, ns, f"app.kubernetes.io/name={etcd}"), f"{etcd} pods deleted", 60)
    objs = workloads.manifests(ns, [etcd], len(members), {"etcd": images["etcd"], "backup-restore": images["backup-restore"]},
                               cluster.node_name, cluster.dir / "workload-pki" / ns, quotas={etcd: quota})
    for obj in objs:
        if obj["kind"] == "ConfigMap":
            core.replace_namespaced_config_map(obj["metadata"]["name"], ns, obj)
        elif obj["kind"] == "Pod":
            kube.create(api, obj)
    kube.wait_pods_running(api, ns, members, timeout=120)


def _member_endpoint(api, ns: str, pod: str) -> str:
    ip = client.CoreV1Api(api).read_namespaced_pod(pod, ns).status.pod_ip
    return f"https://{ip}:2379"


def etcdctl(state: Path, index: int, etcd: str, *args: str, all_members: bool = False,
            timeout: float = 30, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The host's etcdctl over the pod network with the etcd's client cert, against member 0 or
    every member by pod IP (the host cannot resolve the members' advertised peer DNS names,
    so --cluster does not work from here)."""
    cluster = fleet.Cluster(index, state)
    ns = workloads.namespace_for(index)
    api = _api(state, cluster)
    tls = cluster.dir / "workload-pki" / ns
    pods = sorted(p.metadata.name for p in kube.pods(api, ns, f"app.kubernetes.io/name={etcd}")) if all_members else [f"{etcd}-0"]
    endpoints = ",".join(_member_endpoint(api, ns, pod) for pod in pods)
    argv = ["etcdctl", f"--endpoints={endpoints}", f"--cacert={tls / 'ca' / 'ca.crt'}",
            f"--cert={tls / etcd / 'client' / 'tls.crt'}", f"--key={tls / etcd / 'client' / 'tls.key'}",
            "--insecure-skip-tls-verify", "--command-timeout=10s", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin,
                          env={**os.environ, "ETCDCTL_API": "3"}, check=False)


def nospace(state: Path, index: int, etcd: str) -> str:
    """Recreate the etcd with a small quota and write until etcd raises its NOSPACE alarm."""
    _recreate(state, index, etcd, SMALL_QUOTA)
    _record(state, {"kind": "nospace", "cluster": index, "namespace": workloads.namespace_for(index), "etcd": etcd})
    value = secrets.token_hex(256 * 1024)  # 512 KiB
    deadline = time.monotonic() + 60
    for i in range(200):
        proc = etcdctl(state, index, etcd, "put", f"/fault/nospace/{i}", stdin=value)  # too long for argv
        if "database space exceeded" in proc.stderr:
            break
        if proc.returncode != 0 and time.monotonic() > deadline:
            raise procs.TestbedError(f"put failed without NOSPACE: {proc.stderr.strip()}")
    alarms = etcdctl(state, index, etcd, "alarm", "list")
    if "NOSPACE" not in alarms.stdout:
        raise procs.TestbedError(f"no NOSPACE alarm after filling {etcd}: {alarms.stdout or alarms.stderr}")
    return f"testbed-{index}: {workloads.namespace_for(index)}/{etcd} NOSPACE alarm raised (quota {SMALL_QUOTA} bytes)"


def heal(state: Path, index: int | None = None) -> list[str]:
    done, left = [], []
    for fault in active(state):
        if index is not None and fault["cluster"] != index:
            left.append(fault)
            continue
        cluster = fleet.Cluster(fault["cluster"], state)
        if fault["kind"] == "stop-member":
            pod = f"{fault['etcd']}-{fault['member']}"
            _hold_file(state, cluster, fault["namespace"], pod, "etcd").unlink(missing_ok=True)  # the node restarts it
            kube.wait_pods_running(_api(state, cluster), fault["namespace"], [pod], timeout=60)
        elif fault["kind"] == "backup-unhealthy":
            backup_unhealthy(state, fault["cluster"], fault["etcd"], healthy=True)
        elif fault["kind"] == "nospace":
            _recreate(state, fault["cluster"], fault["etcd"], workloads.DEFAULT_QUOTA)
        done.append(f"healed {fault['kind']} on {cluster.name} {fault['namespace']}/{fault['etcd']}")
    (state / "fleet").mkdir(parents=True, exist_ok=True)
    (state / "fleet" / "faults.json").write_text(json.dumps(left, indent=1))
    return done
