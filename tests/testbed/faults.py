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
    _record(state, {"kind": "nospace", "cluster": index, "namespace": ns, "etcd": etcd})
    for attempt in range(1, 7):
        _recreate(state, index, etcd, SMALL_QUOTA, ns)
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
        if kind == "history":
            return f"testbed-{index}: {ns}/{etcd} NOSPACE alarm raised (quota {SMALL_QUOTA} bytes)"
        # keys: the live data must stay above the recovery's margin (0.80 of the quota) after a defrag.
        # etcd raises NOSPACE on the file size, bbolt's high-water mark (etcd v3.5.35
        # server/etcdserver/quota.go, backendQuota.Available: Backend().Size() + cost < quota),
        # which can run well ahead of the data in use: a CI run (2026-12-01) stopped at 1.6 MiB in use of 2 MiB, and the recovery
        # then passed. Refill until the data in use is at least 0.85 of the quota.
        in_use = min((used for _size, used in db_sizes(state, index, etcd, ns)[0]), default=0)
        if in_use >= 0.85 * SMALL_QUOTA:
            return (f"testbed-{index}: {ns}/{etcd} NOSPACE alarm raised (quota {SMALL_QUOTA} bytes, "
                    f"{in_use} in use, attempt {attempt})")
    raise procs.TestbedError(f"{ns}/{etcd}: NOSPACE with only {in_use} of {SMALL_QUOTA} bytes in use after 6 fills")


def db_sizes(state: Path, index: int, etcd: str, ns: str) -> tuple[list[tuple[int, int]], str]:
    """(dbSize, dbSizeInUse) of every member that answers `endpoint status` (none when the output
    does not parse), and etcdctl's stderr."""
    status = etcdctl(state, index, etcd, "endpoint", "status", "-w", "json", all_members=True, namespace=ns)
    try:
        return [(e["Status"]["dbSize"], e["Status"]["dbSizeInUse"]) for e in json.loads(status.stdout)], status.stderr
    except (ValueError, LookupError, TypeError):
        return [], status.stderr


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
    # more writes until every member shows the free pages: bbolt hands the compacted pages to the
    # freelist at a later write transaction (not while an older read transaction holds them), and only
    # then does that member's dbSizeInUse drop. Measured: without a write the followers' stayed put;
    # after one write a leader once kept 8.4 of 12.1 MB in use (CI, 2026-12-01) while its followers
    # were down to 16 KiB, and its defrag plan then left the leader out.
    want = mib * 1024 * 1024 // 2
    deadline = time.monotonic() + 30
    while True:
        etcdctl(state, index, etcd, "put", "/fault/fragment-tick", "x", namespace=ns)
        etcdctl(state, index, etcd, "del", "/fault/fragment-tick", namespace=ns)
        sizes, stderr = db_sizes(state, index, etcd, ns)
        free = [size - used for size, used in sizes]
        if free and min(free) >= want:
            return f"testbed-{index}: {ns}/{etcd} fragmented ({mib} MiB written, deleted and compacted)"
        if time.monotonic() > deadline:
            raise procs.TestbedError(f"{ns}/{etcd}: members still hold their compacted pages after 30s "
                                     f"(free bytes {free}, want {want} each): {stderr.strip()}")
        time.sleep(0.5)


# ---------------------------------------------------------------- metrics faults (etcd-mixin alerts, _metrics)
# Real fault makers for the /metrics rules of plugins/module_utils/_metrics.py (etcd-io/etcd
# contrib/mixin/alerts/alerts.libsonnet). Those that run for a while return a Background: stop() ends
# the stream and returns its counts; heal() is stop() plus undoing the fault (as `with ...:` does).


def member_metrics(state: Path, index: int, etcd: str, member: int, namespace: str | None = None,
                   timeout: float = 10) -> str:
    """One member's own etcd /metrics text, read from the host with curl over the pod network with
    the etcd's client certificate (as etcdctl_argv: pod IP, --insecure-skip-tls-verify as -k: the
    server certificates carry no pod IP), the way the debug container reads https://<etcd>-local:2379."""
    cluster = fleet.Cluster(index, state)
    ns = namespace or workloads.namespace_for(index)
    tls = cluster.dir / "workload-pki" / ns
    url = _member_endpoint(_api(state, cluster), ns, f"{etcd}-{member}") + "/metrics"
    argv = ["curl", "-sS", "-k", "--max-time", str(int(timeout)), "--cacert", str(tls / "ca" / "ca.crt"),
            "--cert", str(tls / etcd / "client" / "tls.crt"), "--key", str(tls / etcd / "client" / "tls.key"), url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5, check=False)
    if proc.returncode != 0:
        raise procs.TestbedError(f"curl {url} failed (rc {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


class Background:
    """A fault that runs in a daemon thread until stop() or its deadline: `counts` says what it did
    (e.g. moves, errors), `last_error` the last failure's stderr line."""

    def __init__(self, name: str, seconds: float | None, step, undo=None, finish=None):
        import threading
        self.name, self.counts, self.last_error = name, {}, None
        self._stop, self._undo, self._finish = threading.Event(), undo, finish
        self._deadline = None if seconds is None else time.monotonic() + seconds
        self._thread = threading.Thread(target=self._run, args=(step,), name=name, daemon=True)
        self._thread.start()

    def _run(self, step) -> None:
        while not self._stop.is_set() and (self._deadline is None or time.monotonic() < self._deadline):
            try:
                pause = step(self)
            except Exception as exc:  # pylint: disable=broad-except  # a stream of faults must not die on one
                self.count("exceptions")
                self.last_error, pause = f"{type(exc).__name__}: {exc}", 1.0
            self._stop.wait(pause or 0)
        if self._finish:
            self._finish(self)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30) -> dict:
        self._stop.set()
        self._thread.join(timeout)
        return dict(self.counts)

    def heal(self) -> str:
        counts = self.stop()
        undone = self._undo() if self._undo else None
        return f"{self.name} stopped ({counts})" + (f"; {undone}" if undone else "")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.heal()


def _statuses(argv: list[str]) -> list[dict]:
    proc = subprocess.run([*argv, "endpoint", "status", "-w", "json"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "ETCDCTL_API": "3"}, check=False)
    try:
        return [s["Status"] for s in json.loads(proc.stdout or "[]")]
    except (ValueError, LookupError):
        return []


def leader_flap(state: Path, index: int, etcd: str, seconds: float | None = 60, interval: float = 1.0,
                namespace: str | None = None) -> Background:
    """Move the leadership to another member (`etcdctl move-leader`, round robin over the members)
    every `interval` seconds, for `seconds` (None: until stop()). Every member's
    etcd_server_leader_changes_seen_total counts each move (etcd server/etcdserver/raft.go counts a
    new non-empty leader). A move is a clean transfer (no election timeout), so has_leader stays 1.
    Nothing to heal: the last leader stays leader. counts: moves, errors."""
    argv = etcdctl_argv(state, index, etcd, all_members=True, namespace=namespace)
    env = {**os.environ, "ETCDCTL_API": "3"}

    def step(bg: Background) -> float:
        statuses = _statuses(argv)
        ids = sorted({s["header"]["member_id"] for s in statuses})
        leader = next((s["leader"] for s in statuses if s.get("leader")), None)
        if len(ids) < 2 or leader is None:
            bg.count("errors")
            bg.last_error = f"no leader or fewer than 2 members answered ({len(ids)})"
            return interval
        others = [i for i in ids if i != leader]
        target = others[bg.counts.get("moves", 0) % len(others)]
        proc = subprocess.run([*argv, "move-leader", f"{target:x}"], capture_output=True, text=True, timeout=30,
                              env=env, check=False)
        if proc.returncode == 0:
            bg.count("moves")
        else:
            bg.count("errors")
            bg.last_error = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return interval

    return Background(f"leader-flap {etcd}", seconds, step)


# the gRPC codes etcd-mixin's etcdHighNumberOfFailedGRPCRequests counts (alerts.libsonnet)
MIXIN_GRPC_ERROR_CODES = ("Unknown", "FailedPrecondition", "ResourceExhausted", "Internal", "Unavailable", "DataLoss",
                          "DeadlineExceeded")


def grpc_errors(state: Path, index: int, etcd: str, seconds: float | None = 60, kind: str = "auth",
                interval: float = 0.2, member: int = 0, namespace: str | None = None) -> Background:
    """A stream of client requests that one member answers with one of the mixin's error codes, one
    etcdctl call every `interval` seconds against member `member`, for `seconds` (None: until stop()).
    kind 'auth': `etcdctl --user` on an etcd without auth: each call's Authenticate fails with
      FailedPrecondition ("authentication is not enabled", etcd api/v3rpc/rpctypes/error.go
      ErrGRPCAuthNotEnabled; etcd server/etcdserver/v3_server.go Authenticate); the client then reads
      on (a Range OK). Grouped as the mixin groups (per grpc_service/grpc_method), Auth/Authenticate
      fails 100 %. Read-only: nothing to heal.
    kind 'nospace': nospace() first (recreates the etcd with a small quota until etcd raises NOSPACE),
      then puts that fail with ResourceExhausted ("database space exceeded", ErrGRPCNoSpace) on
      KV/Put. heal() recreates the etcd with the default quota (faults.heal does it too).
    counts: calls, failed (etcdctl rc != 0)."""
    if kind not in ("auth", "nospace"):
        raise procs.TestbedError(f"grpc_errors kind must be auth or nospace, got {kind!r}")
    ns = namespace or workloads.namespace_for(index)
    undo = None
    if kind == "nospace":
        nospace(state, index, etcd, namespace=ns)

        def _undo() -> str:
            _recreate(state, index, etcd, workloads.DEFAULT_QUOTA, ns)
            _forget(state, {"kind": "nospace", "cluster": index, "namespace": ns, "etcd": etcd})
            return f"{ns}/{etcd} recreated with the default quota"
        undo = _undo
    argv = etcdctl_argv(state, index, etcd, namespace=ns)
    if member:
        cluster = fleet.Cluster(index, state)
        ep = _member_endpoint(_api(state, cluster), ns, f"{etcd}-{member}")
        argv = [f"--endpoints={ep}" if a.startswith("--endpoints=") else a for a in argv]
    request = ["--user=etcd-ops-fault:nopass", "get", "/fault/grpc-errors"] if kind == "auth" \
        else ["put", "/fault/grpc-errors", "x"]
    env = {**os.environ, "ETCDCTL_API": "3"}

    def step(bg: Background) -> float:
        proc = subprocess.run([*argv, *request], capture_output=True, text=True, timeout=30, env=env, check=False)
        bg.count("calls")
        if proc.returncode != 0:
            bg.count("failed")
            bg.last_error = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return interval

    return Background(f"grpc-errors {kind} {etcd}", seconds, step, undo)


def _forget(state: Path, fault: dict) -> None:
    path = state / "fleet" / "faults.json"
    if path.exists():
        path.write_text(json.dumps([f for f in json.loads(path.read_text()) if f != fault], indent=1))


def write_load(state: Path, index: int, etcd: str, seconds: float | None = 60, interval: float = 0.0,
               keys: int = 10, value_bytes: int = 1024, concurrency: int = 1, member: int = 0,
               namespace: str | None = None) -> Background:
    """Not a fault by itself: a write load through one member (`member`), so the WAL fsync and
    backend commit histograms fill. Each call is one etcdctl process: `keys` > 1 puts them in one
    txn (one proposal), `keys` 1 is a plain put (with etcdctl's --command-timeout, which txn does not
    honour). Up to `concurrency` calls run at once; a new one starts every `interval` seconds while
    fewer run (against a member without quorum each waits for etcd's request timeout, so concurrency
    sets how many proposals fail per second). Writes under /fault/load/ (the same keys each round:
    history grows, live data does not). counts: calls, puts, failed."""
    argv = etcdctl_argv(state, index, etcd, namespace=namespace)
    if member:
        ns = namespace or workloads.namespace_for(index)
        ep = _member_endpoint(_api(state, fleet.Cluster(index, state)), ns, f"{etcd}-{member}")
        argv = [f"--endpoints={ep}" if a.startswith("--endpoints=") else a for a in argv]
    env = {**os.environ, "ETCDCTL_API": "3"}
    value = "v" * value_bytes
    request, stdin = ([*argv, "put", "/fault/load/0", value], None) if keys == 1 else \
        ([*argv, "txn"], "\n" + "".join(f"put /fault/load/{i} {value}\n" for i in range(keys)) + "\n\n")
    running: list[subprocess.Popen] = []

    def reap(bg: Background, wait: bool = False) -> None:
        for proc in list(running):
            if wait and proc.poll() is None:
                proc.kill()
            if proc.poll() is None and not wait:
                continue
            err = proc.communicate()[1]
            running.remove(proc)
            bg.count("calls")
            if proc.returncode == 0:
                bg.count("puts", keys)
            else:
                bg.count("failed")
                bg.last_error = (err.strip().splitlines() or [f"rc {proc.returncode}"])[-1]

    def step(bg: Background) -> float:
        reap(bg)
        if len(running) < concurrency:
            proc = subprocess.Popen(request, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            if stdin:
                proc.stdin.write(stdin)
                proc.stdin.close()
            running.append(proc)
        return max(interval, 0.01)

    return Background(f"write-load {etcd}", seconds, step, finish=lambda bg: reap(bg, wait=True))


def pause_member(state: Path, index: int, etcd: str, member: int, namespace: str | None = None) -> Background:
    """SIGSTOP one member's etcd process (the etcd container's etcd-wrapper, which runs etcd
    embedded), as a hung disk or a stalled VM would: the process stays, its TCP connections stay
    open, nothing answers. heal() sends SIGCONT. Nothing runs in the background; counts is empty."""
    import signal
    cluster = fleet.Cluster(index, state)
    ns = namespace or workloads.namespace_for(index)
    cid = _container(state, cluster, ns, f"{etcd}-{member}", "etcd")
    pid = int(engine.podman(state, "inspect", "--format", "{{.State.Pid}}", cid).stdout.decode().strip())
    os.kill(pid, signal.SIGSTOP)

    def undo() -> str:
        os.kill(pid, signal.SIGCONT)
        return f"{ns}/{etcd}-{member} etcd (pid {pid}) continued"

    return Background(f"pause {etcd}-{member} (pid {pid})", 0, lambda bg: 0, undo)


def quorum_loss(state: Path, index: int, etcd: str, namespace: str | None = None) -> Background:
    """Stop a majority of one HA etcd's members (stop_member on members 1..n//2+1, held stopped):
    member 0 stays up without a leader (etcd_server_has_leader 0; proposals sent to it fail).
    heal() restarts exactly these members (faults.heal(state, index) would too, with every other
    fault of that cluster). Nothing runs in the background; counts is empty."""
    cluster = fleet.Cluster(index, state)
    ns = namespace or workloads.namespace_for(index)
    replicas = workloads.find_shoot(cluster.dir, ns).etcd(etcd).replicas
    if replicas < 3:
        raise procs.TestbedError(f"{ns}/{etcd} has {replicas} member(s): quorum loss needs an HA etcd")
    members = list(range(1, replicas // 2 + 2))
    for member in members:
        stop_member(state, index, etcd, member, ns)

    def undo() -> str:
        pods = [f"{etcd}-{m}" for m in members]
        for member, pod in zip(members, pods):
            _hold_file(state, cluster, ns, pod, "etcd").unlink(missing_ok=True)  # the node restarts it
            _forget(state, {"kind": "stop-member", "cluster": index, "namespace": ns, "etcd": etcd, "member": member})
        kube.wait_pods_running(_api(state, cluster), ns, pods, timeout=90)
        return f"{ns}/{', '.join(pods)} restarted"

    return Background(f"quorum-loss {etcd} ({len(members)} of {replicas} stopped)", 0, lambda bg: 0, undo)
