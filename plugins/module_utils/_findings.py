# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: health findings of one etcd cluster from what
etcdctl and backup-restore reported (pure logic; the health role feeds it).

An observation is a dict:
  cluster, namespace, etcd       where it is
  pods                           member pod names found by discovery
  endpoint_status                parsed `endpoint status -w json` entries (list) or None; an entry's
                                 optional "pod" key names its member (else taken from its Endpoint)
  endpoint_status_stderr         its stderr (members it could not reach are named there)
  endpoint_health                parsed `endpoint health -w json` entries (list, optional "pod") or None
  member_list                    parsed `member list -w json` (dict) or None
  alarm_list                     parsed `alarm list -w json` (dict) or None
  backup_health                  {pod: {"status": http code, "health": bool, "metrics": {name: value}}}
                                 (optional): backup-restore's /healthz and its etcdbr_* /metrics
  quota_bytes                    quota-backend-bytes from the etcd config, None if unreadable
  replicas                       the StatefulSet's replicas when known (0: hibernated)
  now                            the time (epoch seconds) the members were asked, for snapshot ages
  metrics                        {pod: _metrics.summarize(...)} (optional): the member's own /metrics, read
                                 twice a window apart, for the etcd-mixin rules (_metrics.findings)
  debug_failed                   {pod: message} for debug containers that could not start
  unreachable                    message when the cluster's API server could not be reached
"""

from __future__ import annotations

import shlex

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _metrics
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._druid import member_pod, pod_of_url

DEFAULT_QUOTA = 8 * 1024 ** 3

DEFAULT_THRESHOLDS = {
    "db_quota_warning": 0.80,
    "db_quota_critical": 0.95,
    "db_fragmented_ratio": 0.50,           # dbSizeInUse / dbSize below this: defragment
    "db_fragmented_min_bytes": 64 * 1024 ** 2,  # ... but only for databases at least this big
    "revision_skew": 1000,
    "raft_index_skew": 1000,
    # gardener's alerts on backup-restore (pkg/component/etcd/etcd/etcd.go, formerly monitoring.go, KubeEtcdDeltaBackupFailed,
    # KubeEtcdFullBackupFailed): the leader's latest snapshot older than these, while one is required
    "backup_delta_max_age": 900,
    "backup_full_max_age": 86400,
    # etcd-mixin's rules over each member's /metrics (_metrics.RULES says which rule and what differs)
    **_metrics.DEFAULT_THRESHOLDS,
}

ALARMS = {1: "NOSPACE", 2: "CORRUPT"}
SEVERITIES = ("critical", "warning", "info")


# The remedy of each finding code: the collection's playbook for that one etcd, and whether it
# writes to etcd (then the command carries allow_write=true, and the docs say: run it with --check
# first for the plan). Codes not named here have no playbook that fixes them: diagnose.yml shows
# what is wrong and the commands to paste next.
REMEDIES = {
    "DB_FRAGMENTED": ("defrag", True),
    "DB_QUOTA_HIGH": ("defrag", True),
    "ALARM_NOSPACE": ("recover_nospace", True),
}
NO_REMEDY = {"CLUSTER_UNREACHABLE", "ETCD_HIBERNATED"}


def remedy(f: dict, inventory: list[str] | None = None, extra_vars: dict | None = None) -> str | None:
    """The exact ansible-playbook command for one finding's etcd (None for cluster-level findings
    and codes without one): -i the sweep's inventory sources, -l the cluster (its inventory host),
    the etcd by -e etcd_namespace / etcd_name, the caller's extra vars (e.g. the debug image)."""
    code = f.get("code")
    if code in NO_REMEDY or not f.get("namespace") or not f.get("etcd") or not f.get("cluster"):
        return None
    playbook, writes = REMEDIES.get(code, ("diagnose", False))
    argv = ["ansible-playbook"]
    for source in inventory or []:
        argv += ["-i", str(source)]
    argv += [f"etcd_wrapper.ops.{playbook}", "-l", f["cluster"], "-e", f"etcd_namespace={f['namespace']}",
             "-e", f"etcd_name={f['etcd']}"]
    for key, value in sorted((extra_vars or {}).items()):
        if value not in (None, ""):
            argv += ["-e", f"{key}={value}"]
    if writes:
        argv += ["-e", "allow_write=true"]
    return " ".join(shlex.quote(a) for a in argv)


def status_of(findings: list[dict]) -> str:
    """critical, warning or ok: the most severe finding (info counts as ok)."""
    severities = {f.get("severity") for f in findings}
    return "critical" if "critical" in severities else "warning" if "warning" in severities else "ok"


# codes whose value is worse when lower (the in-use share of the database); every other value is
# worse when higher
LOWER_IS_WORSE = {"DB_FRAGMENTED"}


def _worse_first(f: dict):
    value = f.get("value")
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    rank = 0 if number is None else (number if f.get("code") in LOWER_IS_WORSE else -number)
    return (SEVERITIES.index(f["severity"]) if f.get("severity") in SEVERITIES else 1, number is None, rank, f.get("pod") or "")


def group(findings: list[dict]) -> list[dict]:
    """One finding per (cluster, namespace, etcd, code), as an operator reads them: the worst
    member's finding (most severe, then the worst value) with `members` (the pods it was seen on,
    sorted), `pod` (that pod when there is one, else None), its message (with "; also on <pods>"
    when there are more) and `by_member` (every member's own severity, value and message, for
    machines). Findings that are already grouped group again to the same thing."""
    groups: dict[tuple, list[dict]] = {}
    for f in findings:
        groups.setdefault((f.get("cluster"), f.get("namespace"), f.get("etcd"), f.get("code")), []).append(f)
    out = []
    for items in groups.values():
        detail = []
        for f in items:
            detail.extend(f.get("by_member") or [{"pod": f.get("pod"), "severity": f.get("severity"), "value": f.get("value"),
                                                  "threshold": f.get("threshold"), "message": f.get("message")}])
        detail.sort(key=lambda d: _worse_first(dict(d, code=items[0].get("code"))))
        worst = detail[0]
        pods = sorted({d["pod"] for d in detail if d.get("pod")})
        others = [p for p in pods if p != worst.get("pod")]
        message = worst.get("message") or items[0].get("code")
        if others and "; also on " not in message:
            message += f"; also on {', '.join(others)}"
        merged = dict(items[0], severity=worst.get("severity"), pod=worst.get("pod") if len(pods) == 1 else None,
                      members=pods, message=message, value=worst.get("value"), threshold=worst.get("threshold"),
                      by_member=detail)
        out.append(merged)
    return sorted(out, key=lambda f: (SEVERITIES.index(f["severity"]) if f["severity"] in SEVERITIES else 1, f.get("code") or ""))


def finding(obs: dict, code: str, severity: str, message: str, pod: str | None = None,
            value=None, threshold=None) -> dict:
    return {"code": code, "severity": severity, "cluster": obs.get("cluster"), "namespace": obs.get("namespace"),
            "etcd": obs.get("etcd"), "pod": pod, "message": message, "value": value, "threshold": threshold}


def pod_of_endpoint(endpoint: str) -> str:
    """https://etcd-main-1.etcd-main-peer.ns.svc:2379 -> etcd-main-1"""
    return pod_of_url(endpoint)


def _pod(item: dict, key: str = "Endpoint") -> str:
    """The pod an endpoint status/health entry is about: named by the collector, else from its URL."""
    return item.get("pod") or pod_of_endpoint(item.get(key) or "")


def _members(obs: dict) -> dict[int, dict]:
    return {m["ID"]: m for m in (obs.get("member_list") or {}).get("members") or [] if "ID" in m}


def _member_pod(members: dict[int, dict], member_id, pods: list[str] | None = None) -> str | None:
    """The pod of a member: by the host of its URLs (names may carry druid's memberNamePrefix)."""
    member = members.get(member_id)
    if member is None:
        return None
    return member_pod(member, pods) or member.get("name")


def leader_pod(obs: dict) -> str | None:
    """The pod of the member the majority of answering members call leader."""
    members = _members(obs)
    votes: dict = {}
    for status in obs.get("endpoint_status") or []:
        leader = ((status or {}).get("Status") or {}).get("leader")
        if leader:
            votes[leader] = votes.get(leader, 0) + 1
    if not votes:
        return None
    leader = max(votes, key=votes.get)
    pod = _member_pod(members, leader, obs.get("pods"))
    if pod:
        return pod
    for status in obs.get("endpoint_status") or []:  # no member list: the member that says it leads
        st = status.get("Status") or {}
        if (st.get("header") or {}).get("member_id") == leader:
            return _pod(status)
    return None


def evaluate(obs: dict, thresholds: dict | None = None) -> list[dict]:
    """Every finding for one etcd cluster, most severe first."""
    t = dict(DEFAULT_THRESHOLDS, **(thresholds or {}))
    out: list[dict] = []
    if obs.get("unreachable"):
        return [finding(obs, "CLUSTER_UNREACHABLE", "critical", f"cluster unreachable: {obs['unreachable']}")]
    if not obs.get("pods") and obs.get("replicas") == 0:
        return [finding(obs, "ETCD_HIBERNATED", "info", "scaled to 0 replicas (hibernated): nothing to check", value=0)]
    for pod, message in sorted((obs.get("debug_failed") or {}).items()):
        out.append(finding(obs, "DEBUG_CONTAINER_FAILED", "warning", f"no check through a debug container: {message}", pod=pod))

    members = _members(obs)
    statuses = [s for s in obs.get("endpoint_status") or [] if isinstance(s, dict) and s.get("Status")]
    pods = sorted(obs.get("pods") or [])

    if members and pods and len(members) != len(pods):
        out.append(finding(obs, "MEMBER_COUNT_MISMATCH", "warning",
                           f"{len(pods)} pods but {len(members)} etcd members", value=len(members), threshold=len(pods)))
    for member_id, member in sorted(members.items()):
        if member.get("isLearner"):
            out.append(finding(obs, "LEARNER_PRESENT", "warning", f"member {member.get('name') or member_id} is a learner",
                               pod=_member_pod(members, member_id, pods)))

    reached = {_pod(s) for s in statuses}
    failed = obs.get("debug_failed") or {}
    # who should have answered: the listed members; without a member list, every pod we could exec into
    expected = [_member_pod(members, member_id, pods) for member_id in sorted(members)] if members \
        else [pod for pod in pods if pod not in failed]
    for pod in expected:
        if pod and pod not in reached:
            out.append(finding(obs, "MEMBER_UNREACHABLE", "critical", f"member {pod} did not answer endpoint status"
                               + _stderr_hint(obs.get("endpoint_status_stderr"), pod, failed), pod=pod))
    unreachable = {f["pod"] for f in out if f["code"] == "MEMBER_UNREACHABLE"}
    alarmed = bool((obs.get("alarm_list") or {}).get("alarms"))
    for health in obs.get("endpoint_health") or []:
        if isinstance(health, dict) and health.get("health") is False:
            pod = _pod(health, "endpoint")
            error = health.get("error") or "health false"
            # one cause, one finding: a member that did not answer at all is MEMBER_UNREACHABLE; a
            # health check failing only on an active alarm is the ALARM_* finding below
            if pod in unreachable or (alarmed and error.strip().startswith("Active Alarm(s)")):
                continue
            out.append(finding(obs, "MEMBER_UNHEALTHY", "critical", f"member {pod} unhealthy: {error}", pod=pod))

    if statuses:
        leaders = {s["Status"].get("leader") for s in statuses}
        if leaders <= {0, None}:
            out.append(finding(obs, "NO_LEADER", "critical", "no member reports a leader"))
        elif len(leaders - {0, None}) > 1:
            named = ", ".join(sorted(str(_member_pod(members, lid, pods) or lid) for lid in leaders - {0, None}))
            out.append(finding(obs, "SPLIT_LEADER", "critical", f"members disagree on the leader: {named}",
                               value=len(leaders - {0, None}), threshold=1))
        elif members and next(iter(leaders)) not in members:
            out.append(finding(obs, "NO_LEADER", "critical", "the reported leader is not a member"))
        out.extend(_db_findings(obs, statuses, t))
        out.extend(_skew_findings(obs, statuses, t))

    for alarm in (obs.get("alarm_list") or {}).get("alarms") or []:
        kind = ALARMS.get(alarm.get("alarm"), str(alarm.get("alarm")))
        pod = _member_pod(members, alarm.get("memberID"), pods)
        code = {"NOSPACE": "ALARM_NOSPACE", "CORRUPT": "ALARM_CORRUPT"}.get(kind)
        if code:
            advice = (" (compact, defragment, then 'etcdctl alarm disarm')" if kind == "NOSPACE"
                      else " (a member's data is inconsistent: restore or replace it)")
            out.append(finding(obs, code, "critical", f"alarm {kind} raised by {pod or alarm.get('memberID')}{advice}", pod=pod))

    out.extend(_backup_findings(obs, t))
    out.extend(finding(obs, f["code"], f["severity"], f["message"], pod=f.get("pod"), value=f.get("value"), threshold=f.get("threshold"))
               for f in _metrics.findings({p: m for p, m in (obs.get("metrics") or {}).items() if not m.get("error")}, t))
    return sorted(out, key=lambda f: (SEVERITIES.index(f["severity"]), f["code"], f["pod"] or ""))


def _backup_findings(obs: dict, t: dict) -> list[dict]:
    """backup-restore judged the way it works (gardener/etcd-backup-restore pkg/server/
    backuprestoreserver.go, httpAPI.go): /healthz starts at 503 and only the sidecar beside the
    etcd leader turns 200, so followers' 503 is normal; the snapshotter runs in that sidecar only,
    so snapshot ages and failures come from its /metrics (gardener's alert thresholds)."""
    backups = obs.get("backup_health") or {}
    if not backups:
        return []
    leader = leader_pod(obs)
    if leader is None:
        return []  # NO_LEADER (or nothing answered) already says it; no sidecar can be healthy then
    br = backups.get(leader)
    if br is None or (br.get("status") is None and not br.get("metrics")):
        answered = [p for p, b in backups.items() if b.get("status") is not None]
        if answered:
            return []  # the leader's pod was not checked (its debug container failed): said elsewhere
        why = (br or {}).get("error") or "no answer"
        return [finding(obs, "BACKUP_RESTORE_UNHEALTHY", "critical",
                        f"no backup-restore sidecar answered /healthz (leader {leader}: {why})", pod=leader)]
    out = []
    metrics = br.get("metrics") or {}
    now = obs.get("now")
    failures = metrics.get("etcdbr_snapshotter_failure")
    stale = []
    for kind, code, limit_key, what in (("Incr", "BACKUP_DELTA_STALE", "backup_delta_max_age", "delta"),
                                        ("Full", "BACKUP_FULL_STALE", "backup_full_max_age", "full")):
        stamp = metrics.get(f'etcdbr_snapshot_latest_timestamp{{kind="{kind}"}}')
        required = metrics.get(f'etcdbr_snapshot_required{{kind="{kind}"}}')
        if not stamp or now is None or not required:
            # as gardener's rule: only while backup-restore says a snapshot is required; a 0 timestamp
            # is "none taken since the sidecar started", no age (its failures are counted below)
            continue
        age = now - stamp
        if age > t[limit_key]:
            stale.append(code)
            out.append(finding(obs, code, "critical",
                               f"latest {what} snapshot is {_age(age)} old (limit {_age(t[limit_key])}), "
                               f"taken by the leader's backup-restore in {leader}", pod=leader,
                               value=round(age), threshold=t[limit_key]))
    unhealthy = not br.get("health")
    owed = any(v for k, v in metrics.items() if k.startswith("etcdbr_snapshot_required"))
    if failures:
        # one reading, not gardener's rate over 5 min: failures count as current while a snapshot
        # is owed (backup-restore's snapshot_required), stale or the sidecar unhealthy
        if unhealthy or stale or owed:
            out.append(finding(obs, "BACKUP_SNAPSHOTTER_FAILING", "critical",
                               f"the snapshotter of the leader's backup-restore failed {failures:g} time(s)"
                               + (f" and /healthz says unhealthy (HTTP {br.get('status')})" if unhealthy else ""),
                               pod=leader, value=failures, threshold=0))
        else:
            out.append(finding(obs, "BACKUP_SNAPSHOTTER_FAILING", "info",
                               f"{failures:g} snapshotter failure(s) since backup-restore started; no snapshot is "
                               "owed now and /healthz is healthy", pod=leader, value=failures, threshold=0))
    elif unhealthy:
        out.append(finding(obs, "BACKUP_RESTORE_UNHEALTHY", "critical",
                           f"the leader's backup-restore /healthz says unhealthy (HTTP {br.get('status')})"
                           + (f": {br['error']}" if br.get("error") else ""), pod=leader, value=br.get("status")))
    return out


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 7200:
        return f"{seconds // 3600}h"
    if seconds >= 120:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _stderr_hint(stderr: str | None, pod: str | None = None, debug_failed: dict | None = None) -> str:
    """The stderr line about this member: '<pod>: ...' from the collector, else etcdctl's own,
    else why no debug container could look at it."""
    lines = (stderr or "").splitlines()
    for line in lines:
        if pod and line.startswith(f"{pod}: "):
            return f" ({line[len(pod) + 2:].strip()[:200]})"
    for line in lines:
        if "Failed to get the status of endpoint" in line:
            return f" ({line.strip()[:200]})"
    if pod and (debug_failed or {}).get(pod):
        return f" ({debug_failed[pod][:200]})"
    return ""


def running_quotas(obs: dict) -> dict[str, int]:
    """{pod: the quota the member's etcd runs with} from its /metrics (etcd_server_quota_backend_bytes)."""
    out = {}
    for pod, m in (obs.get("metrics") or {}).items():
        value = (m or {}).get("quota_backend_bytes")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            out[pod] = int(value)
    return out


def _quota_findings(obs: dict) -> list[dict]:
    """etcd-mixin's etcdDatabaseQuotaLowSpace divides by etcd_server_quota_backend_bytes, the quota the
    process runs with; the sweep reads the etcd config. They differ when the config changed and the
    member has not been restarted since (etcd-wrapper fetches the config at start): the quota the
    operator set is not in force."""
    configured = obs.get("quota_bytes")
    if not configured or str(obs.get("quota_source") or "").startswith("etcd /metrics"):
        return []
    return [finding(obs, "QUOTA_MISMATCH", "warning",
                    f"etcd runs with a quota of {running} bytes (etcd_server_quota_backend_bytes) but its config says "
                    f"{configured} ({obs.get('quota_source') or 'etcd config'}): restart the member to apply it",
                    pod=pod, value=running, threshold=configured)
            for pod, running in sorted(running_quotas(obs).items()) if running != configured]


def _db_findings(obs: dict, statuses: list[dict], t: dict) -> list[dict]:
    out = _quota_findings(obs)
    running = running_quotas(obs)
    for status in statuses:
        st, pod = status["Status"], _pod(status)
        # the quota this member's etcd runs with when its /metrics said, else the configured one
        quota = running.get(pod) or obs.get("quota_bytes") or DEFAULT_QUOTA
        source = ("etcd_server_quota_backend_bytes" if pod in running else "etcd config") if obs.get("quota_bytes") or pod in running \
            else "default 8 GiB"
        size, in_use = st.get("dbSize") or 0, st.get("dbSizeInUse") or 0
        ratio = size / quota if quota else 0
        if ratio >= t["db_quota_warning"]:
            severity = "critical" if ratio >= t["db_quota_critical"] else "warning"
            limit = t["db_quota_critical"] if severity == "critical" else t["db_quota_warning"]
            out.append(finding(obs, "DB_QUOTA_HIGH", severity,
                               f"database {size} bytes is {ratio:.0%} of the quota {quota} bytes ({source})",
                               pod=pod, value=round(ratio, 4), threshold=limit))
        if size >= t["db_fragmented_min_bytes"] and size and in_use / size < t["db_fragmented_ratio"]:
            out.append(finding(obs, "DB_FRAGMENTED", "warning",
                               f"only {in_use / size:.0%} of the {size} byte database is in use: defragment "
                               "(etcdctl defrag, one member at a time)", pod=pod,
                               value=round(in_use / size, 4), threshold=t["db_fragmented_ratio"]))
    return out


def _skew_findings(obs: dict, statuses: list[dict], t: dict) -> list[dict]:
    out = []
    for code, getter, limit in (
        ("REVISION_SKEW", lambda s: (s.get("header") or {}).get("revision"), t["revision_skew"]),
        ("RAFT_INDEX_SKEW", lambda s: s.get("raftIndex"), t["raft_index_skew"]),
    ):
        values = {_pod(s): getter(s["Status"]) for s in statuses}
        values = {k: v for k, v in values.items() if isinstance(v, int)}
        if len(values) > 1:
            skew = max(values.values()) - min(values.values())
            if skew > limit:
                lagging = min(values, key=values.get)
                out.append(finding(obs, code, "warning", f"{lagging} lags the others by {skew}", pod=lagging,
                                   value=skew, threshold=limit))
    return out
