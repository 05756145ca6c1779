"""Faults injected into the fleet's etcd clusters, for tests and the demo. Each is real:
a stopped etcd process, a NOSPACE alarm raised by etcd itself under a small quota, and
backup-restore faults switched in the sidecar stand-in (`etcdbrctl testbed-fault`): /healthz
unhealthy, a failing snapshotter, a stale delta or full snapshot. `heal` undoes all of them.
Every fault takes the namespace (default: the cluster's first, workloads.namespace_for)."""

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


def stop_member(state: Path, index: int, etcd: str, member: int, namespace: str | None = None) -> str:
    """Stop one member's etcd process; the node holds it stopped (no restart) until healed."""
    cluster = fleet.Cluster(index, state)
    ns = namespace or workloads.namespace_for(index)
    pod = f"{etcd}-{member}"
    hold = _hold_file(state, cluster, ns, pod, "etcd")
    hold.parent.mkdir(parents=True, exist_ok=True)
    hold.write_text("fault stop-member\n")
    engine.podman(state, "stop", "-t", "10", _container(state, cluster, ns, pod, "etcd"))
    _record(state, {"kind": "stop-member", "cluster": index, "namespace": ns, "etcd": etcd, "member": member})
    return f"{cluster.name}: {ns}/{pod} etcd stopped"


BACKUP_FAULTS = {"backup-unhealthy": "unhealthy", "snapshotter-failing": "snapshotter-failing",
                 "stale-delta": "stale-delta", "stale-full": "stale-full"}


def backup_fault(state: Path, index: int, etcd: str, kind: str = "backup-unhealthy", namespace: str | None = None,
                 heal_it: bool = False) -> str:
    """Switch a backup-restore fault on (or all off) in every member's sidecar of one etcd."""
    if kind not in BACKUP_FAULTS:
        raise procs.TestbedError(f"backup fault must be one of {', '.join(BACKUP_FAULTS)}, got {kind!r}")
    cluster = fleet.Cluster(index, state)
    ns = namespace or workloads.namespace_for(index)
    shoot = workloads.find_shoot(cluster.dir, ns)
    api = _api(state, cluster)
    what = "heal" if heal_it else BACKUP_FAULTS[kind]
    for pod in kube.pods(api, ns, workloads.selector(etcd, shoot.layout)):
        rc, out, err = kube.exec_argv(api, ns, pod.metadata.name, "backup-restore", ["/etcdbrctl", "testbed-fault", what])
        if rc != 0:
            raise procs.TestbedError(f"testbed-fault {what} in {ns}/{pod.metadata.name} failed (rc {rc}): {err or out}")
    if not heal_it:
        _record(state, {"kind": kind, "cluster": index, "namespace": ns, "etcd": etcd})
    return f"{cluster.name}: {ns}/{etcd} backup-restore {'healed' if heal_it else kind}"


def backup_unhealthy(state: Path, index: int, etcd: str, healthy: bool = False, namespace: str | None = None) -> str:
    """Every member's backup-restore /healthz answers {"health": false} (or the faults are healed)."""
    return backup_fault(state, index, etcd, "backup-unhealthy", namespace, heal_it=healthy)


def _recreate(state: Path, index: int, etcd: str, quota: int, namespace: str | None = None) -> None:
    """Recreate an etcd's members with a new quota: fresh members, fresh data (emptyDir). The
    quota goes where druid puts it: the ConfigMap and backup-restore's --embedded-etcd-quota-bytes."""
    import dataclasses
    cluster = fleet.Cluster(index, state)
    ns = namespace or workloads.namespace_for(index)
    shoot = workloads.find_shoot(cluster.dir, ns)
    api = _api(state, cluster)
    core = client.CoreV1Api(api)
    selector = workloads.selector(etcd, shoot.layout)
    images, members = {}, []
    for pod in kube.pods(api, ns, selector):
        images = {c.name: c.image for c in pod.spec.containers}
        images.update({c.name: c.image for c in pod.spec.init_containers or []})
        members.append(pod.metadata.name)
        core.delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
    fleet.wait_all(lambda: not kube.pods(api, ns, selector), f"{etcd} pods deleted", 60)
    changed = dataclasses.replace(shoot, etcds=tuple(dataclasses.replace(e, quota=quota) if e.name == etcd else e
                                                     for e in shoot.etcds))
    refs = {"etcd-wrapper": images["etcd"], "backup-restore": images["backup-restore"],
            "init": images.get("change-permissions", "")}
    objs = workloads.manifests(changed, refs, cluster.node_name, cluster.dir / "workload-pki" / ns)
    for obj in objs:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == f"{etcd}-config":
            core.replace_namespaced_config_map(obj["metadata"]["name"], ns, obj)
        elif obj["kind"] == "Pod" and obj["metadata"]["name"] in members:
            kube.create(api, obj)
    kube.wait_pods_running(api, ns, members, timeout=180)


def _member_endpoint(api, ns: str, pod: str) -> str:
    ip = client.CoreV1Api(api).read_namespaced_pod(pod, ns).status.pod_ip
    return f"https://{ip}:2379"


def etcdctl_argv(state: Path, index: int, etcd: str, *args: str, all_members: bool = False,
                 namespace: str | None = None) -> list[str]:
    """The argv `etcdctl` runs (endpoints looked up now, by pod IP): for callers that run the same
    command many times and must not pay the API lookups each time (run it with ETCDCTL_API=3)."""
    cluster = fleet.Cluster(index, state)
    ns = namespace or workloads.namespace_for(index)
    api = _api(state, cluster)
    tls = cluster.dir / "workload-pki" / ns
    layout = workloads.find_shoot(cluster.dir, ns).layout
    pods = sorted(p.metadata.name for p in kube.pods(api, ns, workloads.selector(etcd, layout))) if all_members else [f"{etcd}-0"]
    endpoints = ",".join(_member_endpoint(api, ns, pod) for pod in pods)
    return ["etcdctl", f"--endpoints={endpoints}", f"--cacert={tls / 'ca' / 'ca.crt'}",
            f"--cert={tls / etcd / 'client' / 'tls.crt'}", f"--key={tls / etcd / 'client' / 'tls.key'}",
            "--insecure-skip-tls-verify", "--command-timeout=10s", *args]


def etcdctl(state: Path, index: int, etcd: str, *args: str, all_members: bool = False,
            timeout: float = 30, stdin: str | None = None, namespace: str | None = None) -> subprocess.CompletedProcess:
    """The host's etcdctl over the pod network with the etcd's client cert, against member 0 or
    every member by pod IP (the host cannot resolve the members' advertised peer DNS names,
    so --cluster does not work from here)."""
    argv = etcdctl_argv(state, index, etcd, *args, all_members=all_members, namespace=namespace)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin,
                          env={**os.environ, "ETCDCTL_API": "3"}, check=False)


def nospace(state: Path, index: int, etcd: str, namespace: str | None = None, kind: str = "history") -> str:
    """Recreate the etcd with a small quota and write until etcd raises its NOSPACE alarm.
    kind 'history': one key rewritten, the space is taken by old revisions (what compaction frees:
    the case etcd's maintenance guide recovers, and the common one when compaction lags);
    'keys': distinct keys, the space is live data (compaction frees nothing)."""
    if kind not in ("history", "keys"):
        raise procs.TestbedError(f"nospace kind must be history or keys, got {kind!r}")
    ns = namespace or workloads.namespace_for(index)
    _recreate(state, index, etcd, SMALL_QUOTA, ns)
    _record(state, {"kind": "nospace", "cluster": index, "namespace": ns, "etcd": etcd})
    deadline = time.monotonic() + 60
    for i in range(200 if kind == "history" else 600):
        # history: 512 KiB, new each time; keys: 16 KiB, so the live data fills the quota closely
        value = secrets.token_hex(256 * 1024 if kind == "history" else 8 * 1024)
        key = "/fault/nospace" if kind == "history" else f"/fault/nospace/{i}"
        proc = etcdctl(state, index, etcd, "put", key, stdin=value, namespace=ns)  # too long for argv
        if "database space exceeded" in proc.stderr:
            break
        if proc.returncode != 0 and time.monotonic() > deadline:
            raise procs.TestbedError(f"put failed without NOSPACE: {proc.stderr.strip()}")
    alarms = etcdctl(state, index, etcd, "alarm", "list", namespace=ns)
    if "NOSPACE" not in alarms.stdout:
        raise procs.TestbedError(f"no NOSPACE alarm after filling {etcd}: {alarms.stdout or alarms.stderr}")
    return f"testbed-{index}: {ns}/{etcd} NOSPACE alarm raised (quota {SMALL_QUOTA} bytes)"


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
        elif fault["kind"] in BACKUP_FAULTS:
            backup_fault(state, fault["cluster"], fault["etcd"], fault["kind"], fault["namespace"], heal_it=True)
        elif fault["kind"] == "nospace":
            _recreate(state, fault["cluster"], fault["etcd"], workloads.DEFAULT_QUOTA, fault["namespace"])
        done.append(f"healed {fault['kind']} on {cluster.name} {fault['namespace']}/{fault['etcd']}")
    (state / "fleet").mkdir(parents=True, exist_ok=True)
    (state / "fleet" / "faults.json").write_text(json.dumps(left, indent=1))
    return done


def fragment(state: Path, index: int, etcd: str, mib: int, namespace: str | None = None) -> str:
    """Leave free pages in every member's database: write `mib` MiB under /fault/fragment/ (512 KiB
    values), delete them, and compact to the current revision (physical), so dbSizeInUse drops while
    dbSize stays (what `etcdctl defrag` gives back). Nothing to heal: the keys are gone and a defrag
    (or nothing) follows; the DB stays far below the health sweep's DB_FRAGMENTED minimum."""
    ns = namespace or workloads.namespace_for(index)
    value = secrets.token_hex(256 * 1024)  # 512 KiB
    for i in range(max(1, mib * 2)):
        proc = etcdctl(state, index, etcd, "put", f"/fault/fragment/{i}", stdin=value, namespace=ns)
        if proc.returncode != 0:
            raise procs.TestbedError(f"put /fault/fragment/{i} in {ns}/{etcd} failed: {proc.stderr.strip()}")
    proc = etcdctl(state, index, etcd, "del", "--prefix", "/fault/fragment/", namespace=ns)
    if proc.returncode != 0:
        raise procs.TestbedError(f"del /fault/fragment/ in {ns}/{etcd} failed: {proc.stderr.strip()}")
    status = etcdctl(state, index, etcd, "endpoint", "status", "-w", "json", namespace=ns)
    try:
        revision = json.loads(status.stdout)[0]["Status"]["header"]["revision"]
    except (ValueError, LookupError):
        raise procs.TestbedError(f"no revision from {ns}/{etcd}: {status.stderr.strip() or status.stdout}") from None
    proc = etcdctl(state, index, etcd, "compaction", "--physical", str(revision), namespace=ns)
    if proc.returncode != 0 and "has been compacted" not in proc.stderr:
        raise procs.TestbedError(f"compaction of {ns}/{etcd} failed: {proc.stderr.strip()}")
    # one more write: bbolt hands the compacted pages to the freelist at the next write transaction,
    # and only then does each member's dbSizeInUse drop (measured: the followers' stayed put without it)
    etcdctl(state, index, etcd, "put", "/fault/fragment-tick", "x", namespace=ns)
    etcdctl(state, index, etcd, "del", "/fault/fragment-tick", namespace=ns)
    return f"testbed-{index}: {ns}/{etcd} fragmented ({mib} MiB written, deleted and compacted)"
