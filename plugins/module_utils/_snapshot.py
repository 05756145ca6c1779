# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: a verified etcd snapshot streamed to the controller,
what etcd_wrapper.ops.etcd_snapshot does.

The etcd maintenance / disaster recovery guides take a snapshot with `etcdctl snapshot save` from
one member and check it with `etcdutl snapshot status` (etcd-io/website content/en/docs/v3.6/
op-guide/recovery.md "Snapshotting the keyspace"); this feature does that in the debug container
of one healthy member (a follower when there is one: the snapshot streams the whole database out of
the member it is taken from, so it keeps that load off the leader), hashes the file there
(sha256sum), streams it to the controller in chunks through _exec.stream (binary, never whole in
memory), hashes it again while writing, compares, and always removes the file in the container.

First the pure part (naming, member choice, status parsing, the compare), then the flow."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import tempfile
import time
import uuid

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _druid, _exec, _member
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError, last_line

# etcdctl: `etcdctl snapshot save` in a follower's debug container, streamed here. backup-restore:
# the leading backup-restore sidecar takes an out-of-schedule full snapshot into its backup store
# (its /snapshot/full, what etcd-druid's EtcdOpsTask onDemandSnapshot asks for).
METHODS = ("etcdctl", "backup-restore")
# etcdctl --command-timeout of the save, seconds. etcd-druid's on-demand full snapshot task
# (EtcdOpsTask onDemandSnapshot, docs/usage/using-etcdopstask.md) times out after 900 s, and
# backup-restore's --etcd-snapshot-timeout defaults to 15 minutes as well: a full snapshot of a
# large database takes minutes, not etcdctl's default 5 s.
DEFAULT_TIMEOUT = 900
# seconds per endpoint health / status probe while choosing the member: etcd-wrapper's readiness
# check gives its linearizable Get 5 s (internal/app/readycheck.go)
PROBE_TIMEOUT = 5
TMP_DIR = "/work"  # $HOME (and WORKDIR) of the debug image (ops/Dockerfile), writable by UID 65532
TMP_PREFIX = "etcd-ops-snapshot-"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


# ---------------------------------------------------------------- naming

def path_part(text: str) -> str:
    """One safe path component: anything but letters, digits, '.', '_' and '-' becomes '_'
    (a context may be 'user@cluster' or a URL); '.' and '..' never stand alone."""
    part = re.sub(r"[^A-Za-z0-9._-]", "_", str(text or "")).strip()
    if part in ("", ".", ".."):
        part = part.replace(".", "_") or "_"
    return part


def stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime(STAMP_FORMAT)


def snapshot_path(dest: str, cluster: str, namespace: str, etcd: str, moment: datetime.datetime, revision) -> str:
    """<dest>/<cluster>/<namespace>/<etcd>/<YYYYmmddTHHMMSSZ>-rev<revision>.db"""
    return os.path.join(dest, path_part(cluster), path_part(namespace), path_part(etcd),
                        f"{stamp(moment)}-rev{int(revision)}.db")


def free_path(path: str) -> str:
    """path, or path with -1, -2, ... before .db when a snapshot of the same second and revision exists."""
    if not os.path.exists(path):
        return path
    base = path[:-len(".db")]
    n = 1
    while os.path.exists(f"{base}-{n}.db"):
        n += 1
    return f"{base}-{n}.db"


def kubeconfig_context(kubeconfig) -> str | None:
    """The current-context of a kubeconfig (an inline dict, else the first file of the path list,
    else $KUBECONFIG / ~/.kube/config), None when there is none."""
    if isinstance(kubeconfig, dict):
        return kubeconfig.get("current-context") or None
    import yaml  # ansible-core's dependency; only read when no context was given
    paths = str(kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config"))
    for path in paths.split(os.pathsep):
        path = os.path.expanduser(path)
        if path and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as handle:
                    data = yaml.safe_load(handle) or {}
            except (OSError, yaml.YAMLError):
                return None
            return (data.get("current-context") or None) if isinstance(data, dict) else None
    return None


def cluster_name(params: dict) -> str:
    """The cluster's name in the path: `cluster`, else the context (as _k8s.cluster_label names the
    cluster in messages), else the kubeconfig's current-context, else 'in-cluster'."""
    if params.get("cluster"):
        return params["cluster"]
    if params.get("context"):
        return params["context"]
    kubeconfig = params.get("kubeconfig")
    if isinstance(kubeconfig, str) and kubeconfig.lstrip().startswith("{"):
        import json
        try:
            kubeconfig = json.loads(kubeconfig)
        except ValueError:
            kubeconfig = None
    if kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        context = kubeconfig_context(kubeconfig)
        if context:
            return context
    return "in-cluster"


def check_dest(dest: str) -> str:
    """dest as an absolute path, after making sure a snapshot can be written there: an existing
    directory we can create files in, or a path whose nearest existing parent is one. A probe file
    is created and removed (nothing else is touched before the snapshot is taken)."""
    dest = os.path.abspath(os.path.expanduser(dest))
    existing = dest
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        what = "dest" if existing == dest else f"dest's parent {existing}"
        raise UsageError(f"{what} is not a directory: {dest}")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise UsageError(f"dest {dest} is not writable: {exc.strerror or exc} ({existing})") from None
    return dest


def private_dirs(path: str) -> None:
    """Create path and its missing parents, each 0700 (os.makedirs gives the parents the umask's
    mode): a snapshot holds every Secret of the cluster."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)  # the umask may have taken bits off
        except FileExistsError:
            if not os.path.isdir(folder):
                raise UsageError(f"cannot create {folder}: a file is in the way") from None
        except OSError as exc:
            raise UsageError(f"cannot create {folder}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------- member choice

def pod_names(pods: list) -> list[str]:
    """Pod names from names or etcd_cluster_info's pod dicts ({'name': ...}), duplicates dropped:
    one snapshot is taken from one member, so a pod named twice changes nothing."""
    return list(dict.fromkeys(_member.pod_names(pods)))


def _first(doc):
    if isinstance(doc, list):
        return doc[0] if doc and isinstance(doc[0], dict) else None
    return doc if isinstance(doc, dict) else None


def assess(pod: str, health: dict | None = None, status: dict | None = None, error: str | None = None) -> dict:
    """One member's fitness from `etcdctl endpoint health -w json` and `endpoint status -w json`
    (Member.etcdctl results: rc, stderr, json) run against its own endpoint, or the error that
    kept us from asking. {'pod', 'healthy', 'reason', 'member_id', 'leader_id', 'is_leader', 'revision'}."""
    out = {"pod": pod, "healthy": False, "reason": error, "member_id": None, "leader_id": None, "is_leader": None,
           "revision": None}
    if error:
        return out
    entry = _first((health or {}).get("json"))
    ok, why = _member.health_ok(entry)  # a NOSPACE alarm alone does not stop a snapshot: reads still work
    if not ok:
        why = (entry or {}).get("error") or last_line((health or {}).get("stderr")) or "endpoint health is not true"
        out["reason"] = f"unhealthy: {why}"
        return out
    st = (_first((status or {}).get("json")) or {}).get("Status") or {}
    header = st.get("header") or {}
    if not header.get("member_id") or (status or {}).get("rc") not in (0, None):
        out["reason"] = f"endpoint status failed: {last_line((status or {}).get('stderr')) or 'no status'}"
        return out
    out.update(healthy=True, reason=None, member_id=header["member_id"], leader_id=st.get("leader") or None,
               is_leader=bool(st.get("leader")) and st.get("leader") == header["member_id"], revision=header.get("revision"))
    return out


def pick(assessed: list[dict]) -> dict | None:
    """The member to snapshot: the first healthy follower, else the healthy leader (a snapshot
    streams the whole database out of its member: keep that load off the leader), else None."""
    healthy = [a for a in assessed if a["healthy"]]
    followers = [a for a in healthy if not a["is_leader"]]
    return (followers or healthy or [None])[0]


# ---------------------------------------------------------------- what the container says

def parse_status(doc) -> dict:
    """`etcdutl snapshot status -w json` (or the deprecated `etcdctl snapshot status -w json`, the
    same shape in 3.5: {"hash","revision","totalKey","totalSize"}) -> {hash, revision, total_keys, total_size}."""
    if not isinstance(doc, dict) or not all(k in doc for k in ("hash", "revision", "totalKey")):
        raise OpsError(f"snapshot status gave no hash, revision and totalKey: {str(doc)[:200]}")
    return {"hash": int(doc["hash"]), "revision": int(doc["revision"]), "total_keys": int(doc["totalKey"]),
            "total_size": int(doc.get("totalSize") or 0)}


def parse_sum(stdout: str) -> tuple[int, str]:
    """(size, sha256) from `stat -c %s FILE; sha256sum FILE`."""
    lines = [line.split() for line in (stdout or "").splitlines() if line.strip()]
    if len(lines) != 2 or not lines[0][0].isdigit() or not re.fullmatch(r"[0-9a-f]{64}", lines[1][0]):
        raise OpsError(f"cannot read the snapshot's size and sha256 in the container: {(stdout or '').strip()[:200]!r}")
    return int(lines[0][0]), lines[1][0]


def verify(remote_size: int, remote_sha: str, local_size: int, local_sha: str) -> str | None:
    """None when the copy is the file, else why not (one line)."""
    if remote_size != local_size:
        return f"size mismatch: {remote_size} bytes in the container, {local_size} received"
    if remote_sha != local_sha:
        return f"sha256 mismatch: {remote_sha} in the container, {local_sha} received"
    return None


# ---------------------------------------------------------------- the flow

def choose(api, params: dict, where: str, want: str = "follower") -> tuple[_member.Member, dict, list[dict]]:
    """(Member, its assessment, all assessments): the pods in order (`pod` alone when given),
    stopping at the first healthy follower (want='follower': pick() then prefers it) or at the
    healthy leader (want='leader': only the leader is chosen)."""
    namespace, container = params["namespace"], params["container"]
    pods = [params["pod"]] if params.get("pod") else pod_names(params["pods"])
    tls = "auto" if params.get("tls") is None else params["tls"]
    assessed, members, attachable = [], {}, 0
    for pod in pods:
        try:
            member = _member.Member(api, namespace, pod, container, where, tls)
        except K8sError as exc:  # no such pod, no debug container, not running (a bad tls is a UsageError: raised)
            assessed.append(assess(pod, error=exc.msg))
            continue
        attachable += 1
        try:
            health = member.etcdctl(["endpoint", "health"], PROBE_TIMEOUT)
            healthy = _member.health_ok(_first(health.get("json")))[0]
            status = member.etcdctl(["endpoint", "status"], PROBE_TIMEOUT) if healthy else None
        except K8sError as exc:  # the exec itself failed (timed out, refused): this member is out
            found = assess(pod, error=f"probe failed: {exc.msg}")
        else:
            found = assess(pod, health, status)
        assessed.append(found)
        members[pod] = member
        if found["healthy"] and bool(found["is_leader"]) == (want == "leader"):
            break
    if want == "leader":
        chosen = next((a for a in assessed if a["healthy"] and a["is_leader"]), None)
    else:
        chosen = pick(assessed)
    etcd = f"{namespace}/{params['etcd']}"
    reasons = "; ".join(f"{a['pod']}: {a['reason']}" for a in assessed if a["reason"])
    if not attachable:
        raise K8sError(f"no member of {etcd} has a running debug container '{container}' ({reasons}); "
                       "attach one with etcd_wrapper.ops.etcd_ephemeral_container", members=assessed)
    if chosen is None and want == "leader":
        led = sorted({f"{a['leader_id']:x}" for a in assessed if a["healthy"] and a["leader_id"]})
        where_leader = f" (the members name leader {', '.join(led)}: is its pod in pods, with a running debug container?)" if led else ""
        raise OpsError(f"no healthy leader of {etcd} among {', '.join(pods)} to ask for a backup-restore snapshot"
                       f"{where_leader}{' (' + reasons + ')' if reasons else ''}", members=assessed)
    if chosen is None:
        raise OpsError(f"no healthy member of {etcd} to snapshot ({reasons})", members=assessed)
    return members[chosen["pod"]], chosen, assessed


def _stream(member, argv: list[str], timeout: float, sink) -> dict:
    return _exec.stream(member.api, member.namespace, member.pod, member.container, argv, timeout, sink)


def _status(member, tmp: str, timeout: int) -> tuple[dict, str]:
    """(parsed status, tool): etcdutl when the debug image has it, else etcdctl's deprecated twin."""
    out = member.run(["bash", "-c", 'command -v etcdutl >/dev/null || exit 127; exec etcdutl snapshot status "$1" -w json',
                      "etcd-ops", tmp], timeout, etcd_files=False)
    tool = "etcdutl"
    if out["rc"] == 127:
        out, tool = member.etcdctl(["snapshot", "status", tmp], timeout), "etcdctl"
    if out["rc"] != 0:
        raise OpsError(f"{tool} snapshot status of {tmp} in {member.namespace}/{member.pod} exited with rc {out['rc']}: "
                       f"{last_line(out['stderr']) or last_line(out['stdout'])}")
    try:
        doc = _member.parse_json(out["stdout"])
    except ValueError:
        raise OpsError(f"{tool} snapshot status printed no JSON: {last_line(out['stdout'])[:200]}") from None
    return parse_status(doc), tool


def _receive(member, tmp: str, final: str, size: int, sha: str, timeout: int) -> tuple[int, str]:
    """Stream `cat tmp` into final + '.part' (0600), hashing while writing; compare; rename.
    The partial file never survives a failure."""
    part = final + ".part"
    digest = hashlib.sha256()

    def cannot_write(exc: OSError) -> OpsError:
        return OpsError(f"writing the snapshot to {part} failed: {exc.strerror or exc}")

    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise cannot_write(exc) from None
    done = False

    def sink(chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:  # unbuffered: nothing is left to flush when the disk is full
            try:
                view = view[os.write(fd, view):]
            except OSError as exc:  # a full disk, a quota: one line, and the stream stops
                raise cannot_write(exc) from None
        digest.update(chunk)

    try:
        try:
            try:
                out = _stream(member, ["cat", tmp], timeout, sink)
            except K8sError as exc:
                raise OpsError(f"streaming the snapshot from {member.namespace}/{member.pod} failed after "
                               f"{exc.details.get('bytes', 0)} of {size} bytes: {exc.msg}") from None
            if out["rc"] != 0:
                raise OpsError(f"cat {tmp} in {member.namespace}/{member.pod} exited with rc {out['rc']}: "
                               f"{last_line(out['stderr'])}")
            try:
                os.fsync(fd)
            except OSError as exc:
                raise cannot_write(exc) from None
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
        local_sha = digest.hexdigest()
        mismatch = verify(size, sha, out["bytes"], local_sha)
        if mismatch:
            raise OpsError(f"the snapshot copied from {member.namespace}/{member.pod} is corrupt ({mismatch}); deleted")
        os.replace(part, final)
        done = True
        return out["bytes"], local_sha
    finally:
        if not done:
            try:
                os.unlink(part)
            except OSError:
                pass


def _remove(member, tmp: str) -> str | None:
    """Remove the snapshot (and etcdctl's .part of it) in the container; why not, or None."""
    try:
        removed = member.run(["rm", "-f", tmp, tmp + ".part"], 60, etcd_files=False)
    except OpsError as exc:
        return f"{tmp} was not removed in {member.namespace}/{member.pod}: {exc.msg}"
    if removed["rc"] != 0:
        return f"{tmp} was not removed in {member.namespace}/{member.pod}: {last_line(removed['stderr']) or 'rc ' + str(removed['rc'])}"
    return None


def take(member, params: dict, dest: str, cluster: str, clock=None) -> dict:
    """Save, hash, check and stream one snapshot; the file in the container is removed in every case."""
    clock = clock or (lambda: datetime.datetime.now(datetime.timezone.utc))
    timeout = params["timeout"]
    tmp = f"{TMP_DIR}/{TMP_PREFIX}{uuid.uuid4().hex[:12]}.db"
    moment = clock()
    result, warnings = {}, []
    cleaned = False
    try:
        saved = member.etcdctl(["snapshot", "save", tmp], timeout, output="raw")
        result["cmd"] = saved["cmd"]
        if saved["rc"] != 0:
            raise OpsError(f"etcdctl snapshot save in {member.namespace}/{member.pod} exited with rc {saved['rc']}: "
                           f"{last_line(saved['stderr']) or last_line(saved['stdout']) or 'no output'}", cmd=saved["cmd"])
        summed = member.run(["bash", "-c", 'stat -c %s "$1" && sha256sum "$1"', "etcd-ops", tmp], timeout, etcd_files=False)
        if summed["rc"] != 0:
            raise OpsError(f"sha256sum of {tmp} in {member.namespace}/{member.pod} exited with rc {summed['rc']}: "
                           f"{last_line(summed['stderr'])}")
        size, sha = parse_sum(summed["stdout"])
        status, tool = _status(member, tmp, timeout)
        final = free_path(snapshot_path(dest, cluster, member.namespace, params["etcd"], moment, status["revision"]))
        private_dirs(os.path.dirname(final))
        received, local_sha = _receive(member, tmp, final, size, sha, timeout)
        result.update(path=final, size=received, sha256=local_sha, revision=status["revision"], hash=status["hash"],
                      total_keys=status["total_keys"], total_size=status["total_size"], status_tool=tool, container_file=tmp)
    except OpsError as exc:
        left, cleaned = _remove(member, tmp), True
        if left:  # the error stays one line; the leftover file is named in it
            exc.msg += f"; {left}"
            exc.args = (exc.msg,)
        raise
    finally:
        if not cleaned:  # success, or a defect: the file goes either way
            left = _remove(member, tmp)
            if left:
                warnings.append(left)
    if warnings:
        result["warnings"] = warnings
    return result


# ---------------------------------------------------------------- method backup-restore

# Runs in the leader's debug container: POST <backup-restore>/snapshot/full, as etcd-druid's
# EtcdOpsTask does (internal/controller/etcdopstask/handler/ondemandsnapshot/ondemandsnapshot.go:
# http.MethodPost to <scheme>://<client service>.<ns>:<backup port>/snapshot/full, no body). Here
# the sidecar is asked at the address the wrapper uses (--backup-restore-host-port), from inside
# the pod. Its CA may live only in the etcd container's volumes: read through the etcd process's
# root then. After a 200, GET /snapshot/latest: the full snapshot's answer carries an empty
# `prefix` (upstream and the stand-in alike, see tests/unit/plugins/module_utils/fixtures/
# backup_restore), the latest-snapshot listing says where in the store it went. Prints each body,
# a newline and its HTTP status code, the two separated by BR_SEPARATOR.
BR_SEPARATOR = "--etcd-ops-latest--"
BR_SNAPSHOT_SCRIPT = _druid.FIND_ETCD_PID + r"""url=$1 ca=$2 to=$3
if [ -n "$ca" ] && [ ! -r "$ca" ] && [ -n "$pid" ] && [ -r "/proc/$pid/root$ca" ]; then ca=/proc/$pid/root$ca; fi
a=(curl -sS --max-time "$to" -w '\n%{http_code}')
[ -n "$ca" ] && a+=(--cacert "$ca")
out=$("${a[@]}" -X POST "$url/snapshot/full") || exit $?
printf '%s\n' "$out"
[ "${out##*$'\n'}" = 200 ] || exit 0
printf '%s\n' """ + BR_SEPARATOR + r"""
"${a[@]}" "$url/snapshot/latest" || true
"""


def parse_br_answer(stdout: str) -> tuple[int | None, object]:
    """(HTTP status, parsed JSON body or the raw text) of one answer: the body, a newline, the code."""
    body, _sep, code = (stdout or "").rstrip("\n").rpartition("\n")
    if not code.strip().isdigit():
        return None, (stdout or "").strip()
    text = body.strip()
    try:
        return int(code), json.loads(text) if text else None
    except ValueError:
        return int(code), text


def parse_br_output(stdout: str) -> tuple[tuple[int | None, object], tuple[int | None, object] | None]:
    """(the /snapshot/full answer, the /snapshot/latest answer or None) from BR_SNAPSHOT_SCRIPT's output."""
    full, sep, latest = (stdout or "").partition("\n" + BR_SEPARATOR + "\n")
    return parse_br_answer(full), (parse_br_answer(latest) if sep else None)


def br_failure(code: int | None, body, pod: str, namespace: str) -> str:
    """Why backup-restore took no snapshot, in one line, after upstream's serveFullSnapshotTrigger
    (etcd-backup-restore pkg/server/httpAPI.go): 405 = no snapshotter and no storage provider (no
    backups configured), or a non-leading sidecar could not hand the request to the leading one
    (delegateReqToLeader); 500 = the snapshotter is not active (yet) or the snapshot failed (its
    snapshotter then restarts); 400 = a bad `final` parameter (never sent here)."""
    logs = f"kubectl -n {namespace} logs {pod} -c {_druid.BACKUP_CONTAINER} --tail=50"
    why = {
        405: "it runs no snapshotter: no backup store is configured for this etcd (no --storage-provider), "
             "or it could not hand the request to the leading sidecar",
        500: "the snapshotter is not active (yet) or the full snapshot failed",
        400: "it refused the request",
    }.get(code, "unexpected answer")
    shown = body if isinstance(body, str) else json.dumps(body)
    detail = f": {last_line(shown)[:200]}" if shown and shown != "null" else ""
    return f"backup-restore in {namespace}/{pod} answered {code}{detail} - {why}; see {logs}"


def br_store(spec: dict) -> dict:
    """The backup store the sidecar writes to, from its container (etcd-druid's statefulset builder
    passes --storage-provider and --store-prefix as args and the bucket as env STORAGE_CONTAINER)."""
    cont = _druid.container(spec, _druid.BACKUP_CONTAINER) or {}
    args = _druid.args_of(cont)
    env = {e.get("name"): e.get("value") for e in cont.get("env") or [] if isinstance(e, dict)}
    return {"provider": args.get("--storage-provider") or None,
            "container": args.get("--store-container") or env.get("STORAGE_CONTAINER") or None,
            "prefix": args.get("--store-prefix") or None}


def br_location(store: dict, snap: dict, latest=None) -> tuple[str, bool]:
    """('<provider>: <where>', listed): where the snapshot went - the store path /snapshot/latest
    gives for it (its `prefix`, the store's directory, + snapDir + snapName) when that listing has
    it as the latest full snapshot (listed=True), else what the sidecar's args say
    (<bucket>/<prefix>/<snapName>, listed=False)."""
    provider = store.get("provider") or "backup store"
    full = (latest or {}).get("fullSnapshot") if isinstance(latest, dict) else None
    if isinstance(full, dict) and full.get("snapName") == snap.get("snapName") and full.get("prefix"):
        parts = [str(x) for x in (full["prefix"], full.get("snapDir"), full["snapName"]) if x]
        return f"{provider}: " + "/".join([parts[0].rstrip("/")] + [p.strip("/") for p in parts[1:]]), True
    parts = [store.get("container"), store.get("prefix"), snap.get("snapDir"), snap.get("snapName")]
    key = "/".join(str(p).strip("/") for p in parts if p)
    return f"{provider}: {key}", False


def via_backup_restore(api, params: dict, check_mode: bool, where: str, started: float) -> dict:
    """method backup-restore: ask the leading backup-restore sidecar for a full snapshot."""
    member, chosen, assessed = choose(api, params, where, want="leader")
    etcd = f"{params['namespace']}/{params['etcd']}"
    br = _druid.backup_restore(member.spec, member.endpoint, member.tls)
    if br is None:
        raise OpsError(f"{etcd}: pod {member.pod} has no '{_druid.BACKUP_CONTAINER}' container to ask for a snapshot; "
                       "use method etcdctl", members=assessed)
    url = br["base"] + "/snapshot/full"
    store = br_store(member.spec)
    result = {"changed": True, "member": member.pod, "member_id": f"{chosen['member_id']:x}", "is_leader": True,
              "method": "backup-restore", "tls_source": member.tls_source, "members": assessed, "url": url,
              "backup_restore_source": br["source"], "storage_provider": store["provider"]}
    if check_mode:
        result.update(revision=chosen["revision"], duration=round(time.monotonic() - started, 3),
                      msg=f"check mode: would ask backup-restore of {etcd} in {member.pod} (the leader, revision "
                          f"{chosen['revision']}) for a full snapshot: POST {url}")
        return result
    out = member.run(["bash", "-c", BR_SNAPSHOT_SCRIPT, "etcd-ops", br["base"], br["cacert"], str(params["timeout"])],
                     2 * params["timeout"] + 10, etcd_files=False)
    if out["rc"] != 0:
        raise OpsError(f"asking backup-restore at {url} from {member.namespace}/{member.pod} failed (curl rc {out['rc']}): "
                       f"{last_line(out['stderr']) or 'no output'}", members=assessed)
    (code, body), latest = parse_br_output(out["stdout"])
    if code != 200 or not isinstance(body, dict) or "snapName" not in body:
        raise OpsError(br_failure(code, body, member.pod, member.namespace), members=assessed, url=url)
    location, listed = br_location(store, body, latest[1] if latest and latest[0] == 200 else None)
    result.update(snapshot=body, revision=body.get("lastRevision"), snap_name=body.get("snapName"),
                  location=location, listed_as_latest=listed, duration=round(time.monotonic() - started, 3))
    result["msg"] = (f"backup-restore of {etcd} (leader {member.pod}) took a full snapshot at revision "
                     f"{result['revision']}: {result['location']}")
    return result


def execute(api, params: dict, check_mode: bool, where: str) -> dict:
    """Everything etcd_wrapper.ops.etcd_snapshot does; returns the result."""
    started = time.monotonic()
    method = params.get("method") or "etcdctl"
    if method not in METHODS:
        raise UsageError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not params.get("pod") and not pod_names(params.get("pods")):
        raise UsageError(f"pods is empty: {params['namespace']}/{params['etcd']} has no member pod to snapshot (hibernated?)")
    if params["timeout"] < 1:
        raise UsageError(f"timeout must be at least 1 second, got {params['timeout']}")
    if method == "backup-restore":
        return via_backup_restore(api, params, check_mode, where, started)
    if not params.get("dest"):
        raise UsageError("dest is required with method etcdctl (the controller directory the snapshot is streamed to)")
    dest = check_dest(params["dest"])
    cluster = cluster_name(params)
    member, chosen, assessed = choose(api, params, where)
    result = {"changed": True, "member": member.pod, "member_id": f"{chosen['member_id']:x}", "is_leader": chosen["is_leader"],
              "method": method, "tls_source": member.tls_source, "cluster": cluster, "members": assessed}
    role = "the leader" if chosen["is_leader"] else "a follower"
    if check_mode:
        planned = snapshot_path(dest, cluster, params["namespace"], params["etcd"],
                                datetime.datetime.now(datetime.timezone.utc), chosen["revision"])
        result.update(path=planned, revision=chosen["revision"],
                      msg=f"check mode: would save a snapshot of {params['namespace']}/{params['etcd']} from {member.pod} "
                          f"({role}, revision {chosen['revision']}) to {planned}",
                      duration=round(time.monotonic() - started, 3))
        return result
    result.update(take(member, params, dest, cluster))
    result["duration"] = round(time.monotonic() - started, 3)
    result["msg"] = (f"saved {result['size']} bytes of {params['namespace']}/{params['etcd']} at revision {result['revision']} "
                     f"from {member.pod} ({role}) to {result['path']} (sha256 {result['sha256']}, the same on both sides)")
    return result
