# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: etcd-mixin's alert rules evaluated from two reads of
one member's own etcd /metrics, a window apart (pure logic; no I/O, no other module_utils).

Sources:
- [MIX] etcd-io/etcd contrib/mixin/alerts/alerts.libsonnet @c34dc7e: the expressions, label
  groupings, gRPC codes and thresholds mirrored here (RULES says which and what differs).
- [GAR] gardener/gardener pkg/component/etcd/etcd/etcd.go @b312835 (the rules of the former
  monitoring.go, merged there in 9f3b254): KubeEtcd3<Role>NoLeader `sum(etcd_server_has_leader) <
  count(etcd_server_has_leader)` for 10m/15m, critical; its other etcd rules are DB size (7.5/8.59 GB,
  _findings' business with db_total_size) and backup-restore (etcdbr_*, not etcd's /metrics).
- [PQL] prometheus/prometheus promql/quantile.go bucketQuantile: histogram_quantile's semantics.
- [ETCD] etcd-io/etcd server/etcdserver/raft.go (leader_changes_seen_total counts every new non-empty
  leader, the first election included), server/etcdserver/v3_server.go (proposals_failed_total: a
  proposal dropped or timed out), server/etcdserver/api/rafthttp/probing_status.go (each peer's smoothed
  RTT is observed every 30 s per prober, 2 probers per peer; every 5 s while the peer is unhealthy).

What differs from Prometheus, for every rule: rate()/increase() over minutes become the delta between
two reads N seconds apart (default 3); no `for:` clause can be honoured; histogram quantiles need a
minimum number of observations in the window (fewer: no finding, the note says "not enough data");
a counter that went down between the reads (or a changed process_start_time_seconds) means the
process restarted: that figure is "not measured", never a negative rate. etcdGRPCRequestsSlow is not
evaluated: grpc_server_handling_seconds exists only with etcd --metrics=extensive (absent on the
fleet's etcd 3.5.35 and in druid's default config). etcdMembersDown's peer half
(peer_sent_failures rate > 0.01/s) is reported as peer_sent_failures_window, not judged: measured on
the fleet, a SIGSTOPped or stopped peer did not raise it within seconds.
"""

from __future__ import annotations

import math
import re
import time

QUANTILE = 0.99

# histogram families (kept as <family>_bucket/_sum/_count)
HISTOGRAMS = (
    "etcd_disk_wal_fsync_duration_seconds",
    "etcd_disk_backend_commit_duration_seconds",
    "etcd_network_peer_round_trip_time_seconds",
)
FAMILIES: tuple[str, ...] = (
    "etcd_server_has_leader",
    "etcd_server_is_leader",
    "etcd_server_leader_changes_seen_total",
    "etcd_server_proposals_failed_total",
    "etcd_server_proposals_pending",
    "etcd_server_proposals_committed_total",
    "etcd_server_id",
    "etcd_server_version",
    "process_start_time_seconds",
    "etcd_network_peer_sent_failures_total",
    "grpc_server_handled_total",
    "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "etcd_server_quota_backend_bytes",
) + HISTOGRAMS


def _ere(compact: bool = False) -> str:
    names = [f"{f}_(bucket|sum|count)" if f in HISTOGRAMS else f for f in FAMILIES]
    if not compact:
        return "^(" + "|".join(names) + ")[{ ]"
    names.remove("grpc_server_handled_total")
    return "^((" + "|".join(names) + ")[{ ]|grpc_server_handled_total[{][^}]*[}] [1-9])"


# POSIX ERE for `grep -E`: exactly the sample lines of FAMILIES (no # HELP/TYPE lines, no other family)
GREP_ERE: str = _ere()
# The same minus the grpc_server_handled_total samples that are 0: on etcd 3.5.35 the filtered answer
# is ~104 KB per read, 98 KB of it ~750 zero grpc_server_handled_total series (every method x code is
# pre-registered); this keeps ~6 KB. A series missing from a read counts as 0 (counters start at 0),
# so summarize() gives the same answer for either filter (tested on the recorded fixtures).
GREP_ERE_COMPACT: str = _ere(compact=True)

DEFAULT_THRESHOLDS: dict = {
    # etcdHighFsyncDurations: histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m])) > 0.5 / > 1
    "metrics_wal_fsync_p99_warning": 0.5,
    "metrics_wal_fsync_p99_critical": 1.0,
    # etcdHighCommitDurations: ... etcd_disk_backend_commit_duration_seconds_bucket ... > 0.25 (warning only)
    "metrics_backend_commit_p99_warning": 0.25,
    # etcdMemberCommunicationSlow: ... etcd_network_peer_round_trip_time_seconds_bucket ... > 0.15 (warning)
    "metrics_peer_rtt_p99_warning": 0.15,
    # etcdHighNumberOfFailedGRPCRequests: failed / handled per grpc_service+grpc_method > 1 % / > 5 %
    "metrics_grpc_errors_warning": 0.01,
    "metrics_grpc_errors_critical": 0.05,
    "metrics_grpc_min_handled": 20,        # calls of one method in the window before its ratio is judged
    "metrics_min_samples": 20,             # WAL fsync / backend commit observations in the window for a p99
    # each RTT observation is already a smoothed RTT (an EWMA of probes every 4 s), observed for a
    # peer twice per 30 s (its two stream probers, etcd rafthttp/probing_status.go): a 3 s window has
    # 0 or 2. Two judged on their own made warnings out of a busy 2-core machine (203 ms from 2
    # samples during a 48-member sweep, a fleet the mixin's 10 min would call healthy): at least 3,
    # i.e. PEER_RTT_SLOW is judged with a window of about a minute (etcd_health_metrics_window: 60)
    "metrics_peer_rtt_min_samples": 3,
    # etcdHighNumberOfLeaderChanges: increase(leader_changes_seen_total[15m:1m]) >= 4 (warning)
    "metrics_leader_changes_window": 1,            # changes within the window: warning at this many
    "metrics_leader_changes_window_critical": 3,   # ... critical at this many (re-elections back to back)
    "metrics_leader_changes_per_15m": 4,           # since start: at least this many changes, at this average rate
    # etcdHighNumberOfFailedProposals: rate(etcd_server_proposals_failed_total[15m]) > 5 (warning):
    # failed proposals per second of the window, so the count threshold scales with it (15 over 3 s)
    "metrics_proposals_failed_window": 5.0,
}

# etcdHighNumberOfFailedGRPCRequests' grpc_code=~"..." (alerts.libsonnet)
GRPC_ERROR_CODES = ("Unknown", "FailedPrecondition", "ResourceExhausted", "Internal", "Unavailable", "DataLoss",
                    "DeadlineExceeded")

RULES: list[dict] = [
    {"code": "NO_LEADER", "mixin": "etcdNoLeader (critical, for 1m)",
     "expr": "etcd_server_has_leader == 0", "severity": "critical", "thresholds": [],
     "differs": "read now (both reads when the window is > 0, the message says whether the first read had one); "
                "no for: 1m. gardener's KubeEtcd3<Role>NoLeader (etcd.go) is the same signal over all members, for 10m/15m."},
    {"code": "LEADER_CHANGES", "mixin": "etcdHighNumberOfLeaderChanges (warning, for 5m)",
     "expr": "increase((max without (instance) (etcd_server_leader_changes_seen_total))[15m:1m]) >= 4",
     "severity": "warning; critical at metrics_leader_changes_window_critical changes within the window",
     "thresholds": ["metrics_leader_changes_window", "metrics_leader_changes_window_critical", "metrics_leader_changes_per_15m"],
     "differs": "two checks instead of one 15 min increase. (1) Changes within the window: at the mixin's limit rate "
                "(4 per 15 min, one per 225 s) a 3 s window sees a change 1.3 % of the time, so any change seen is "
                "notable (warning); 3 in one window is a leader re-elected back to back (critical: writes stall at each). "
                "(2) Since the process started: changes - 1 (etcd counts the first election too: a fresh member reports 1) "
                "at least 4 and on average at least 4 per 15 min over the uptime (warning, 'since start')."},
    {"code": "PROPOSALS_FAILING", "mixin": "etcdHighNumberOfFailedProposals (warning, for 15m)",
     "expr": "rate(etcd_server_proposals_failed_total[15m]) > 5", "severity": "warning",
     "thresholds": ["metrics_proposals_failed_window"],
     "differs": "the increase over the window divided by the window, against the same 5/s (15 over 3 s): a burst "
                "fires where the mixin needs 15 min of it. etcd counts a proposal failed when raft drops it or it times "
                "out (request timeout, 7 s by default), so failures trail the cause by seconds; no lifetime judgement."},
    {"code": "WAL_FSYNC_SLOW", "mixin": "etcdHighFsyncDurations (warning > 0.5 s, critical > 1 s, for 10m)",
     "expr": "histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m])) > 0.5 / > 1",
     "severity": "warning / critical",
     "thresholds": ["metrics_wal_fsync_p99_warning", "metrics_wal_fsync_p99_critical", "metrics_min_samples"],
     "differs": "the p99 of the observations made within the window (bucket deltas), at least metrics_min_samples of them"},
    {"code": "BACKEND_COMMIT_SLOW", "mixin": "etcdHighCommitDurations (warning > 0.25 s, for 10m)",
     "expr": "histogram_quantile(0.99, rate(etcd_disk_backend_commit_duration_seconds_bucket[5m])) > 0.25",
     "severity": "warning", "thresholds": ["metrics_backend_commit_p99_warning", "metrics_min_samples"],
     "differs": "as WAL_FSYNC_SLOW (the backend commits at most every 100 ms: ~30 per 3 s under a steady write load)"},
    {"code": "PEER_RTT_SLOW", "mixin": "etcdMemberCommunicationSlow (warning, for 10m)",
     "expr": "histogram_quantile(0.99, rate(etcd_network_peer_round_trip_time_seconds_bucket[5m])) > 0.15",
     "severity": "warning", "thresholds": ["metrics_peer_rtt_p99_warning", "metrics_peer_rtt_min_samples"],
     "differs": "per peer (label To) as the mixin, the worst one reported; etcd observes each peer's smoothed RTT only "
                "twice per 30 s, so it is judged only with at least metrics_peer_rtt_min_samples (3) of them in the "
                "window: with the default 3 s window never (note: not enough data), with etcd_health_metrics_window: 60 "
                "on most sweeps"},
    {"code": "GRPC_ERRORS", "mixin": "etcdHighNumberOfFailedGRPCRequests (warning > 1 % for 10m, critical > 5 % for 5m)",
     "expr": "100 * sum(rate(grpc_server_handled_total{grpc_code=~\"" + "|".join(GRPC_ERROR_CODES) + "\"}[5m])) "
             "without (grpc_type, grpc_code) / sum(rate(grpc_server_handled_total[5m])) without (grpc_type, grpc_code) > 1 / > 5",
     "severity": "warning / critical",
     "thresholds": ["metrics_grpc_errors_warning", "metrics_grpc_errors_critical", "metrics_grpc_min_handled"],
     "differs": "the same codes and grouping (per grpc_service/grpc_method: the worst method is judged) over the "
                "window's increase, only for methods with at least metrics_grpc_min_handled calls in the window"},
]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*\"")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


# ---------------------------------------------------------------- parsing

def _labels(line: str, pos: int) -> tuple[dict, int]:
    """Labels from '{' at pos; returns them and the position after '}'. Raises ValueError on junk."""
    labels: dict[str, str] = {}
    pos += 1
    while True:
        while pos < len(line) and line[pos] in " \t,":
            pos += 1
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        match = _LABEL.match(line, pos)
        if not match:
            raise ValueError("bad label")
        pos, value = match.end(), []
        while True:
            if pos >= len(line):
                raise ValueError("unterminated label value")
            char = line[pos]
            if char == "\\" and pos + 1 < len(line):
                value.append(_ESCAPES.get(line[pos + 1], "\\" + line[pos + 1]))
                pos += 2
            elif char == '"':
                pos += 1
                break
            else:
                value.append(char)
                pos += 1
        labels[match.group(1)] = "".join(value)
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] not in ",}":
            raise ValueError("bad label separator")


def parse(text: str) -> dict:
    """Prometheus text exposition -> {metric_name: [(labels_dict, value), ...]} (histograms under their
    _bucket/_sum/_count names). Comments, blank and malformed lines are skipped, never fatal; label
    values may hold escaped \\\\, \\" and \\n and any of ,={} inside quotes; a trailing timestamp is ignored."""
    out: dict[str, list] = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _NAME.match(line)
        if not match:
            continue
        name, pos, labels = match.group(0), match.end(), {}
        try:
            if pos < len(line) and line[pos] == "{":
                labels, pos = _labels(line, pos)
            rest = line[pos:].split()
            if not rest or (pos < len(line) and line[pos] not in " \t"):
                continue
            value = float(rest[0])
        except ValueError:
            continue
        out.setdefault(name, []).append((labels, value))
    return out


# ---------------------------------------------------------------- Prometheus math

def bucket_quantile(q: float, buckets: list) -> float | None:
    """histogram_quantile(q) over [(upper_bound, cumulative_count), ...] as Prometheus computes it
    (prometheus/prometheus promql/quantile.go bucketQuantile): sorted by bound, the highest must be
    +Inf, counts made monotonic; rank = q * total; linear interpolation inside the bucket holding the
    rank, from 0 for the first bucket (its own bound if <= 0); a rank in the +Inf bucket gives the
    highest finite bound. None where Prometheus gives NaN (no observations, < 2 buckets, no +Inf)."""
    if math.isnan(q):
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = {}
    for bound, count in buckets:
        merged[bound] = merged.get(bound, 0.0) + count  # same bound twice: added (coalesceBuckets)
    ordered = sorted(merged.items())
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return None
    counts, peak = [], 0.0
    for _bound, count in ordered:
        peak = max(peak, count)   # ensureMonotonic
        counts.append(peak)
    total = counts[-1]
    if total == 0:
        return None
    rank = q * total
    b = next((i for i, c in enumerate(counts[:-1]) if c >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return ordered[-2][0]
    if b == 0 and ordered[0][0] <= 0:
        return ordered[0][0]
    start, end, count = 0.0, ordered[b][0], counts[b]
    if b > 0:
        start = ordered[b - 1][0]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


def _key(labels: dict, drop: tuple = ()) -> tuple:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def _series(parsed: dict, name: str, drop: tuple = ()) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for labels, value in parsed.get(name) or []:
        key = _key(labels, drop)
        out[key] = out.get(key, 0.0) + value
    return out


def _scalar(parsed: dict, name: str) -> float | None:
    samples = parsed.get(name) or []
    return samples[0][1] if samples else None


def _histograms(parsed: dict, family: str) -> dict[tuple, dict[float, float]]:
    """{series labels (le dropped): {upper bound: cumulative count}}."""
    out: dict[tuple, dict[float, float]] = {}
    for labels, value in parsed.get(f"{family}_bucket") or []:
        try:
            bound = float(labels.get("le", ""))
        except ValueError:
            continue
        out.setdefault(_key(labels, ("le",)), {})[bound] = value
    return out


def _delta(new: dict, old: dict | None) -> dict | None:
    """new - old per key (a key missing from old counts 0: counters start at 0); None on a decrease (reset)."""
    old = old or {}
    out = {}
    for key, value in new.items():
        diff = value - old.get(key, 0.0)
        if diff < 0:
            return None
        out[key] = diff
    return out


# ---------------------------------------------------------------- summary

NOT_MEASURED = "not measured (window 0)"
RESET = "counter reset between the reads (etcd restarted?): not measured"


def _int(value: float | None) -> int | None:
    return None if value is None or math.isnan(value) else int(round(value))


def _fmt_seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3g} s"


def _histogram_summary(new: dict, old: dict | None, family: str, windowed: bool, restarted: bool,
                       min_samples: int, labels_key: str | None = None) -> dict:
    """p99 of the observations between the two reads, per series; the worst series first."""
    series_new = _histograms(new, family)
    if not windowed:
        return {"seconds": None, "samples": 0, "note": NOT_MEASURED}
    if restarted:
        return {"seconds": None, "samples": 0, "note": RESET}
    if not series_new:
        return {"seconds": None, "samples": 0, "note": f"{family} not in the answer"}
    series_old = _histograms(old, family)
    per: dict[str, dict] = {}
    for key, buckets in series_new.items():
        delta = _delta(buckets, series_old.get(key))
        name = dict(key).get(labels_key, "") if labels_key else ""
        if delta is None:
            per[name] = {"seconds": None, "samples": 0, "note": RESET}
            continue
        samples = _int(delta.get(math.inf, max(delta.values(), default=0.0))) or 0
        if samples < min_samples:
            per[name] = {"seconds": None, "samples": samples,
                         "note": f"not enough data: {samples} < {min_samples} samples"}
            continue
        p99 = bucket_quantile(QUANTILE, list(delta.items()))
        per[name] = {"seconds": None if p99 is None else round(p99, 6), "samples": samples, "note": None}
    judged = {k: v for k, v in per.items() if v["seconds"] is not None}
    if judged:
        worst = max(judged, key=lambda k: (judged[k]["seconds"], judged[k]["samples"]))
    else:
        worst = max(per, key=lambda k: (per[k]["samples"], k))
    out = dict(per[worst])
    if labels_key:
        out["peer"] = worst or None
        out["peers"] = {k: {"seconds": v["seconds"], "samples": v["samples"]} for k, v in sorted(per.items())}
    return out


def _grpc_summary(new: dict, old: dict | None, windowed: bool, restarted: bool, min_handled: int) -> dict:
    """Failed (mixin codes) / handled per grpc_service/grpc_method over the window, as the mixin groups
    (`without (grpc_type, grpc_code)`); the worst method among those with min_handled calls."""
    handled_new = _series(new, "grpc_server_handled_total")
    lifetime: dict[str, int] = {}
    for key, value in handled_new.items():
        code = dict(key).get("grpc_code", "")
        if code in GRPC_ERROR_CODES and value:
            lifetime[code] = lifetime.get(code, 0) + int(value)
    since_start = {"handled": int(sum(handled_new.values())), "failed": sum(lifetime.values()), "codes": lifetime}
    empty = {"handled": None, "failed": None, "ratio": None, "codes": {}, "worst_method": None, "since_start": since_start}
    if not windowed:
        return dict(empty, note=NOT_MEASURED)
    if not handled_new:
        return dict(empty, note="grpc_server_handled_total not in the answer")
    delta = None if restarted else _delta(handled_new, _series(old, "grpc_server_handled_total"))
    if delta is None:
        return dict(empty, note=RESET)
    methods: dict[str, dict] = {}
    codes: dict[str, int] = {}
    for key, value in delta.items():
        labels = dict(key)
        method = f"{labels.get('grpc_service', '?')}/{labels.get('grpc_method', '?')}"
        entry = methods.setdefault(method, {"handled": 0, "failed": 0, "codes": {}})
        entry["handled"] += int(value)
        code = labels.get("grpc_code", "")
        if code in GRPC_ERROR_CODES and value:
            entry["failed"] += int(value)
            entry["codes"][code] = entry["codes"].get(code, 0) + int(value)
            codes[code] = codes.get(code, 0) + int(value)
    handled = sum(m["handled"] for m in methods.values())
    failed = sum(m["failed"] for m in methods.values())
    judged = {k: m for k, m in methods.items() if m["handled"] >= min_handled}
    worst, note = None, None
    if judged:
        name = max(judged, key=lambda k: (judged[k]["failed"] / judged[k]["handled"], judged[k]["failed"], k))
        m = judged[name]
        worst = {"method": name, "handled": m["handled"], "failed": m["failed"],
                 "ratio": round(m["failed"] / m["handled"], 6), "codes": m["codes"]}
    else:
        busiest = max(methods.values(), key=lambda m: m["handled"], default={"handled": 0})
        note = f"not enough data: no method had {min_handled} calls (busiest {busiest['handled']})"
    return {"handled": handled, "failed": failed, "ratio": round(failed / handled, 6) if handled else None,
            "codes": codes, "worst_method": worst, "note": note, "since_start": since_start}


def _read(text: str | None) -> dict:
    return parse(text) if text else {}


def summarize(first: str | None, second: str | None, window_seconds: float, now: float | None = None,
              thresholds: dict | None = None) -> dict:
    """One member's figures from two /metrics texts `window_seconds` apart. With second None (or a
    window of 0): one read, its gauges and lifetime counters only; the window figures are None (the
    histogram and gRPC dicts say so in their note, the scalar ones in notes[<field>]: "not measured
    (window 0)"). `now`: epoch seconds of the (last) read, for uptime_seconds. `thresholds`: only the
    minimum counts (metrics_min_samples, metrics_peer_rtt_min_samples, metrics_grpc_min_handled) matter
    here. JSON-able."""
    t = dict(DEFAULT_THRESHOLDS, **(thresholds or {}))
    windowed = bool(first) and bool(second) and (window_seconds or 0) > 0
    new = _read(second if second else first)
    old = _read(first) if windowed else None
    now = time.time() if now is None else now
    notes: dict[str, str] = {}
    start_new = _scalar(new, "process_start_time_seconds")
    start_old = _scalar(old, "process_start_time_seconds") if old is not None else None
    restarted = windowed and start_new is not None and start_old is not None and abs(start_new - start_old) > 1

    def counter_window(field: str, name: str) -> int | None:
        if not windowed:
            notes[field] = NOT_MEASURED
            return None
        a, b = _scalar(old, name), _scalar(new, name)
        if a is None or b is None:
            notes[field] = f"{name} not in both reads"
            return None
        if restarted or b < a:
            notes[field] = RESET
            return None
        return _int(b - a)

    def gauge(name: str) -> float | None:
        return _scalar(new, name)

    def label(name: str, key: str) -> str | None:
        return (new.get(name) or [({}, 0)])[0][0].get(key)

    def flag(value: float | None) -> bool | None:
        return None if value is None else value == 1

    peer_failures = None
    if windowed and not restarted:
        failures = _delta(_series(new, "etcd_network_peer_sent_failures_total"),
                          _series(old, "etcd_network_peer_sent_failures_total"))
        peer_failures = None if failures is None else {dict(k).get("To", ""): int(v) for k, v in sorted(failures.items())}
    has_leader = gauge("etcd_server_has_leader")
    return {
        "window_seconds": float(window_seconds) if windowed else 0.0,
        "error": None if has_leader is not None else "no etcd metrics in the answer (etcd_server_has_leader missing)",
        "member_id": label("etcd_server_id", "server_id"),
        "version": label("etcd_server_version", "server_version"),
        "has_leader": flag(has_leader),
        "has_leader_first_read": flag(_scalar(old, "etcd_server_has_leader")) if old is not None else None,
        "is_leader": flag(gauge("etcd_server_is_leader")),
        "leader_changes_total": _int(gauge("etcd_server_leader_changes_seen_total")),
        "leader_changes_window": counter_window("leader_changes_window", "etcd_server_leader_changes_seen_total"),
        "uptime_seconds": None if start_new is None else round(max(0.0, now - start_new), 1),
        "restarted_between_reads": bool(restarted),
        "proposals_failed_total": _int(gauge("etcd_server_proposals_failed_total")),
        "proposals_failed_window": counter_window("proposals_failed_window", "etcd_server_proposals_failed_total"),
        "proposals_committed_window": counter_window("proposals_committed_window", "etcd_server_proposals_committed_total"),
        "proposals_pending": _int(gauge("etcd_server_proposals_pending")),
        "wal_fsync_p99": _histogram_summary(new, old, "etcd_disk_wal_fsync_duration_seconds", windowed, restarted,
                                            t["metrics_min_samples"]),
        "backend_commit_p99": _histogram_summary(new, old, "etcd_disk_backend_commit_duration_seconds", windowed,
                                                 restarted, t["metrics_min_samples"]),
        "peer_rtt_p99": _histogram_summary(new, old, "etcd_network_peer_round_trip_time_seconds", windowed, restarted,
                                           t["metrics_peer_rtt_min_samples"], labels_key="To"),
        "peer_sent_failures_window": peer_failures,
        "grpc": _grpc_summary(new, old, windowed, restarted, t["metrics_grpc_min_handled"]),
        "db_total_size": _int(gauge("etcd_mvcc_db_total_size_in_bytes")),
        "db_in_use": _int(gauge("etcd_mvcc_db_total_size_in_use_in_bytes")),
        "quota_backend_bytes": _int(gauge("etcd_server_quota_backend_bytes")),
        "notes": notes,
    }


# ---------------------------------------------------------------- findings

SEVERITIES = ("critical", "warning", "info")


def _over(summary: dict) -> str:
    return f"over {summary['window_seconds']:g} s"


def _finding(code: str, severity: str, pod: str, message: str, value, threshold) -> dict:
    return {"code": code, "severity": severity, "pod": pod, "message": message, "value": value, "threshold": threshold}


def _leader_findings(pod: str, s: dict, t: dict) -> list[dict]:
    out = []
    if s.get("has_leader") is False:
        if not s.get("window_seconds"):
            when = "in the one read (window 0)"
        elif s.get("has_leader_first_read") is False:
            when = f"in both reads, {_over(s)}"
        else:
            when = f"in the last read (1 in the first, {_over(s)}: the leader was lost within the window)"
        out.append(_finding("NO_LEADER", "critical", pod,
                            f"etcd_server_has_leader 0 {when}: this member has no leader (threshold: == 0, "
                            "etcd-mixin etcdNoLeader)", 0, 0))
    changes = s.get("leader_changes_window")
    if changes is not None and changes >= t["metrics_leader_changes_window"]:
        critical = changes >= t["metrics_leader_changes_window_critical"]
        limit = t["metrics_leader_changes_window_critical"] if critical else t["metrics_leader_changes_window"]
        out.append(_finding("LEADER_CHANGES", "critical" if critical else "warning", pod,
                            f"{changes} leader change(s) {_over(s)} (threshold {limit} in the window; etcd-mixin: "
                            f">= {t['metrics_leader_changes_per_15m']} in 15 min)", changes, limit))
        return out
    total, uptime = s.get("leader_changes_total"), s.get("uptime_seconds")
    if total is not None and uptime:
        since = total - 1  # the first election counts as a change on every member
        per_15m = since * 900.0 / uptime
        limit = t["metrics_leader_changes_per_15m"]
        if since >= limit and per_15m >= limit:
            out.append(_finding("LEADER_CHANGES", "warning", pod,
                                f"{since} leader changes since start ({_uptime(uptime)} ago), {per_15m:.1f} per 15 min "
                                f"(threshold {limit} per 15 min, etcd-mixin; the first election not counted)",
                                round(per_15m, 2), limit))
    return out


def _uptime(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 2 * 86400:
        return f"{seconds // 86400}d"
    if seconds >= 7200:
        return f"{seconds // 3600}h"
    if seconds >= 120:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _histogram_finding(pod: str, s: dict, field: str, code: str, what: str, warning_key: str, t: dict,
                       critical_key: str | None = None, min_key: str = "metrics_min_samples") -> list[dict]:
    h = s.get(field) or {}
    p99 = h.get("seconds")
    if p99 is None or (h.get("samples") or 0) < t[min_key]:
        return []
    severity, limit = None, None
    if critical_key and p99 > t[critical_key]:
        severity, limit = "critical", t[critical_key]
    elif p99 > t[warning_key]:
        severity, limit = "warning", t[warning_key]
    if not severity:
        return []
    peer = f" to peer {h['peer']}" if h.get("peer") else ""
    return [_finding(code, severity, pod, f"{what}{peer} p99 {_fmt_seconds(p99)} {_over(s)} ({h['samples']} samples; "
                                          f"threshold {_fmt_seconds(limit)})", p99, limit)]


def _grpc_finding(pod: str, s: dict, t: dict) -> list[dict]:
    worst = (s.get("grpc") or {}).get("worst_method")
    if not worst or not worst.get("failed") or worst["handled"] < t["metrics_grpc_min_handled"]:
        return []
    ratio = worst["ratio"]
    if ratio > t["metrics_grpc_errors_critical"]:
        severity, limit = "critical", t["metrics_grpc_errors_critical"]
    elif ratio > t["metrics_grpc_errors_warning"]:
        severity, limit = "warning", t["metrics_grpc_errors_warning"]
    else:
        return []
    codes = ", ".join(f"{c} {n}" for c, n in sorted(worst["codes"].items(), key=lambda i: -i[1]))
    return [_finding("GRPC_ERRORS", severity, pod,
                     f"{worst['failed']} of {worst['handled']} {worst['method']} calls failed ({ratio:.1%}: {codes}) "
                     f"{_over(s)} (threshold {limit:.0%})", ratio, limit)]


def findings(summaries: dict, thresholds: dict | None = None) -> list[dict]:
    """Findings of the members' summaries ({pod: summarize(...)}), most severe first; each message one
    line with the measured value, the threshold and the window ("over N s") or "since start"."""
    t = dict(DEFAULT_THRESHOLDS, **(thresholds or {}))
    out: list[dict] = []
    for pod, s in sorted((summaries or {}).items()):
        if not isinstance(s, dict) or s.get("error"):
            continue
        out.extend(_leader_findings(pod, s, t))
        failed = s.get("proposals_failed_window")
        if failed is not None and s.get("window_seconds"):
            rate, limit = failed / s["window_seconds"], t["metrics_proposals_failed_window"]
            if rate > limit:
                out.append(_finding("PROPOSALS_FAILING", "warning", pod,
                                    f"{failed} proposals failed {_over(s)} ({rate:.1f}/s; threshold {limit:g}/s = "
                                    f"{limit * s['window_seconds']:g} in the window, etcd-mixin)", round(rate, 3), limit))
        out.extend(_histogram_finding(pod, s, "wal_fsync_p99", "WAL_FSYNC_SLOW", "WAL fsync", "metrics_wal_fsync_p99_warning",
                                      t, "metrics_wal_fsync_p99_critical"))
        out.extend(_histogram_finding(pod, s, "backend_commit_p99", "BACKEND_COMMIT_SLOW", "backend commit",
                                      "metrics_backend_commit_p99_warning", t))
        out.extend(_histogram_finding(pod, s, "peer_rtt_p99", "PEER_RTT_SLOW", "round trip", "metrics_peer_rtt_p99_warning", t,
                                      min_key="metrics_peer_rtt_min_samples"))
        out.extend(_grpc_finding(pod, s, t))
    return sorted(out, key=lambda f: (SEVERITIES.index(f["severity"]), f["code"], f["pod"] or ""))
