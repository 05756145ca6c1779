# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: collect the health of every etcd of a cluster
with ONE exec per member (a fixed bash script in the debug container runs endpoint status,
endpoint health, member list, alarm list, reads the quota from the etcd config and asks
backup-restore's /healthz), all members in parallel, then evaluate the findings."""

from __future__ import annotations

import json
import secrets
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _druid, _exec, _findings, _metrics, _pod
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import (
    HAS_K8S, K8S_IMPORT_ERROR, ApiException, K8sError, api_message, k8s_action, k8s_path, new_api_client, rest)
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import run_module as _runner_run

# Runs in the debug container as:
#   bash -c SCRIPT etcd-ops MARKER TIMEOUT DETAIL TLSVIA CACERT CERT KEY ENDPOINT QUOTA_ARG BR_BASE BR_CA METRICS_MS METRICS_ERE CONFIG...
# METRICS_MS: the window between the two reads of the member's /metrics in milliseconds (0: one
# read, "off": none); METRICS_ERE keeps only the lines the rules read (_metrics.GREP_ERE_COMPACT).
# Every value arrives as a positional argument: nothing from the cluster is ever spliced into shell text.
# A member that does not answer endpoint status is not asked anything else (each would wait for the
# timeout; the other members answer for the cluster).
# The etcd process is found by name (etcd-wrapper, else etcd), never assumed to be PID 1: etcd-druid
# pods share one PID namespace, where PID 1 is the pause process. Files the debug container does not
# mount (TLSVIA=proc, the wrapper's config) are read through that process's /proc/<pid>/root.
SCRIPT = r"""
m=$1 to=$2 detail=$3 via=$4 ca=$5 cert=$6 key=$7 ep=$8 qarg=$9 br=${10} brca=${11} mw=${12} mre=${13}
shift 13
t=$(mktemp -d 2>/dev/null) || { echo "$m FATAL cannot create a temporary directory"; exit 90; }
trap 'rm -rf "$t"' EXIT
""" + _druid.FIND_ETCD_PID + r"""root=/proc/${pid:-1}/root
printf '%s PROC %s %s\n' "$m" "${pid:-none}" "$(cat "/proc/${pid:-1}/comm" 2>/dev/null)"
if [ "$via" = proc ]; then ca=$root$ca cert=$root$cert key=$root$key; fi
if [ -n "$brca" ] && [ ! -r "$brca" ] && [ -r "$root$brca" ]; then brca=$root$brca; fi
set -- "$@" --
confs=()
while [ "$1" != -- ]; do confs+=("$1"); shift; done
shift
e=(etcdctl "--endpoints=$ep" "--command-timeout=${to}s")
[ -n "$ca" ] && e+=("--cacert=$ca" "--cert=$cert" "--key=$key")
run() {
  n=$1; shift
  "$@" >"$t/o" 2>"$t/e"; rc=$?
  printf '%s BEGIN %s %s\n' "$m" "$n" "$rc"; cat "$t/o"
  printf '\n%s STDERR %s\n' "$m" "$n"; cat "$t/e"
  printf '\n%s END %s\n' "$m" "$n"
}
# conf KEY: "VALUE FILE" from the first etcd config that sets KEY, each read in the etcd process
# root first, then here (quotes, blanks and YAML list brackets dropped from VALUE)
conf() {
  for f in "${confs[@]}"; do
    for p in "$root$f" "$f"; do
      if [ -r "$p" ]; then
        v=$(sed -n "s/^$1:[[:space:]]*//p" "$p" | tr -d "'\" []")
        [ -n "$v" ] && { printf '%s %s\n' "$v" "$f"; return 0; }
      fi
    done
  done
  return 1
}
quota() {
  if c=$(conf quota-backend-bytes); then echo "${c%% *} config ${c#* }"; return 0; fi
  [ -n "$qarg" ] && { echo "$qarg args"; return 0; }
  echo "no readable etcd config at ${confs[*]} (in the etcd process root $root or here)" >&2; return 1
}
get() {
  if [ -n "$brca" ]; then curl -sS --max-time "$to" --cacert "$brca" -w '\n%{http_code}' "$br$1"
  else curl -sS --max-time "$to" -w '\n%{http_code}' "$br$1"; fi
}
# etcd's own /metrics: on its client URL (etcd serves /metrics on every client listener), or the
# first of listen-metrics-urls when the etcd config names one (0.0.0.0 read as 127.0.0.1: the debug
# container shares the pod's network). The first output line is when it was read (ms since epoch).
murl="$ep/metrics"
if c=$(conf listen-metrics-urls); then
  c=${c%% *}; murl=$(printf '%s' "${c%%,*}" | sed -E 's#://(0\.0\.0\.0|::)(:|/|$)#://127.0.0.1\2#')/metrics
fi
mc=(curl -sS --max-time "$to")
[ -n "$ca" ] && mc+=(--cacert "$ca" --cert "$cert" --key "$key")
mread() {
  date +%s%3N
  "${mc[@]}" -o "$t/mraw" "$murl" || return $?
  grep -E "$mre" "$t/mraw"
  return 0
}
brmetrics() {
  get /metrics >"$t/m" || return 1
  grep -E '^(etcdbr_snapshot_latest_timestamp|etcdbr_snapshot_required|etcdbr_snapshotter_failure)' "$t/m"
  tail -n 1 "$t/m"
}
if [ "$mw" != off ]; then mstart=$(date +%s%3N); run metrics1 mread; fi
run status "${e[@]}" endpoint status -w json
if [ "$rc" = 0 ]; then
  run health "${e[@]}" endpoint health -w json
  run members "${e[@]}" member list -w json
  run alarms "${e[@]}" alarm list -w json
fi
run quota quota
run now date +%s
if [ -n "$br" ]; then run backup get /healthz; run brmetrics brmetrics; fi
if [ "$mw" != off ] && [ "$mw" -gt 0 ] 2>/dev/null; then
  left=$((mstart + mw - $(date +%s%3N)))
  [ "$left" -gt 0 ] && sleep "$((left / 1000)).$(printf %03d $((left % 1000)))"
  run metrics2 mread
fi
if [ "$detail" = 1 ]; then
  run table "${e[@]}" endpoint status --cluster -w table
  command -v print-etcd-cheatsheet >/dev/null 2>&1 && run cheatsheet print-etcd-cheatsheet
fi
exit 0
"""


# ---------------------------------------------------------------- pure logic

def member_plan(spec: dict, debug: dict, target: str = "etcd") -> dict:
    """What one member's health exec needs, from the pod spec (etcd-druid args first, guesses
    last): client TLS and how the debug container reaches it, the endpoint, the config paths, the
    quota from the args, backup-restore's address. Each value says where it came from."""
    tls = _druid.resolve_tls({"tls": "auto"}, spec, debug)
    scheme = "https" if tls else "http"
    ep, ep_source = _druid.endpoint(spec, scheme, target)
    configs, config_source = _druid.config_candidates(spec, target)
    br = _druid.backup_restore(spec, ep, tls)
    return {"tls": tls, "endpoint": ep, "endpoint_source": ep_source, "configs": configs, "config_source": config_source,
            "quota_arg": _druid.quota_from_args(spec, target), "backup": br}


def script_argv(plan: dict, marker: str, timeout: int, detail: bool, backup: bool, window) -> list[str]:
    """bash -c SCRIPT with its positional arguments for one member, from member_plan (backup: ask
    backup-restore; window: metrics_window). benchmarks/limit.py runs the same."""
    tls, br = plan["tls"] or {}, (plan["backup"] if backup else None) or {}
    return ["bash", "-c", SCRIPT, "etcd-ops", marker, str(timeout), "1" if detail else "0",
            tls.get("via", "mount"), *[tls.get(k, "") for k in ("cacert", "cert", "key")],
            plan["endpoint"], str(plan["quota_arg"] or ""), br.get("base", ""), br.get("cacert", ""),
            metrics_ms(window), _metrics.GREP_ERE_COMPACT, *plan["configs"]]


def metrics_ms(window) -> str:
    """The script's METRICS_MS: 'off' for a negative (or no) window, else milliseconds."""
    if window is None or window < 0:
        return "off"
    return str(int(round(window * 1000)))


def metrics_view(first: dict | None, second: dict | None) -> dict:
    """One member's /metrics reads (sections 'metrics1'/'metrics2': the time in ms on the first line,
    then the kept lines) -> _metrics.summarize's summary, or {'error': ...} when the first read failed."""
    def split(section):
        if not section:
            return None, None, None
        lines = section["out"].splitlines()
        stamp = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        if section["rc"] != 0:
            return stamp, None, (section["err"] or f"curl rc {section['rc']}").splitlines()[-1][:300]
        return stamp, "\n".join(lines[1:]) + "\n", None

    t1, text1, error = split(first)
    if error or text1 is None:
        return {"error": error or "no /metrics read"}
    t2, text2, error2 = split(second)
    window = (t2 - t1) / 1000.0 if t1 is not None and t2 is not None and text2 is not None else 0.0
    stamp = t2 if text2 is not None and t2 is not None else t1
    summary = _metrics.summarize(text1, text2, window, now=stamp / 1000.0 if stamp else None)
    if error2:
        summary["second_read_error"] = error2
    return summary


def parse_sections(stdout: str, marker: str) -> dict[str, dict]:
    """{name: {rc, out, err}} from the script's marked output."""
    sections: dict[str, dict] = {}
    current, part = None, None
    for line in stdout.splitlines():
        if line.startswith(marker + " "):
            words = line[len(marker) + 1:].split()
            if len(words) >= 3 and words[0] == "BEGIN":
                current, part = words[1], "out"
                sections[current] = {"rc": int(words[2]) if words[2].lstrip("-").isdigit() else None, "out": [], "err": []}
            elif len(words) >= 2 and words[0] == "STDERR" and current == words[1]:
                part = "err"
            elif words and words[0] == "END":
                current, part = None, None
            elif words and words[0] == "FATAL":
                sections["fatal"] = {"rc": None, "out": [], "err": [" ".join(words[1:])]}
            elif words and words[0] == "PROC":
                sections["proc"] = {"rc": 0, "out": [" ".join(words[1:])], "err": []}
            continue
        if current is not None:
            sections[current][part].append(line)
    return {name: {"rc": s["rc"], "out": "\n".join(s["out"]).strip(), "err": "\n".join(s["err"]).strip()}
            for name, s in sections.items()}


def _json(text: str):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first(value):
    if isinstance(value, list):
        return value[0] if value and isinstance(value[0], dict) else None
    return value if isinstance(value, dict) else None


def parse_metrics(text: str) -> dict[str, float]:
    """{'name{labels}': value} from Prometheus text lines (the last line, curl's HTTP code, and
    anything unparsable are skipped); the same series summed (etcdbr_snapshotter_failure is
    counted per kind in some versions: summed under its bare name too)."""
    out: dict[str, float] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or " " not in line:
            continue
        name, _sep, value = line.rpartition(" ")
        try:
            number = float(value)
        except ValueError:
            continue
        out[name] = out.get(name, 0.0) + number
        bare = name.split("{", 1)[0]
        if bare != name and bare == "etcdbr_snapshotter_failure":
            out[bare] = out.get(bare, 0.0) + number
    return out


def member_view(sections: dict[str, dict]) -> dict:
    """One member's own answers, parsed."""
    def sec(name):
        return sections.get(name) or {"rc": None, "out": "", "err": ""}

    view = {
        "status": _first(_json(sec("status")["out"])) if sec("status")["rc"] == 0 else None,
        "status_error": sec("status")["err"] if sec("status")["rc"] != 0 else None,
        "health": _first(_json(sec("health")["out"])),
        "health_error": sec("health")["err"] or None,
        "members": _json(sec("members")["out"]) if sec("members")["rc"] == 0 else None,
        "alarms": _json(sec("alarms")["out"]) if sec("alarms")["rc"] == 0 else None,
        "quota": None,
        "backup": None,
    }
    quota = sec("quota")["out"].split()
    if sec("quota")["rc"] == 0 and quota and quota[0].isdigit():
        view["quota"] = int(quota[0])
        view["quota_source"] = "etcd config " + quota[2] if quota[1:2] == ["config"] and len(quota) > 2 \
            else "args of container 'backup-restore' (--embedded-etcd-quota-bytes)"
    elif sec("quota")["err"]:
        view["quota_error"] = sec("quota")["err"].splitlines()[-1]
    if sec("now")["out"].strip().isdigit():
        view["now"] = int(sec("now")["out"].strip())
    proc = (sections.get("proc") or {}).get("out", "").split()
    view["etcd_process"] = {"pid": int(proc[0]), "name": proc[1] if len(proc) > 1 else None} \
        if proc and proc[0].isdigit() else None
    if "backup" in sections:
        backup = sections["backup"]
        lines = backup["out"].splitlines()
        code = int(lines[-1]) if lines and lines[-1].strip().isdigit() else None
        body = _json("\n".join(lines[:-1]))
        healthy = bool(body.get("health")) if isinstance(body, dict) and "health" in body else code == 200
        view["backup"] = {"status": code or None, "health": backup["rc"] == 0 and code == 200 and healthy,
                          "error": backup["err"] or None, "metrics": parse_metrics(sec("brmetrics")["out"])}
    if "metrics1" in sections:
        view["metrics"] = metrics_view(sections["metrics1"], sections.get("metrics2"))
    for name in ("table", "cheatsheet"):
        if name in sections:
            view[name] = sections[name]["out"] or sections[name]["err"]
    return view


def observation(cluster: str, namespace: str, etcd: str, pods: list[str], views: dict[str, dict],
                debug_failed: dict[str, str], replicas: int | None = None) -> dict:
    """What _findings.evaluate reads, from every member's own view."""
    obs = {"cluster": cluster, "namespace": namespace, "etcd": etcd, "pods": pods, "debug_failed": dict(debug_failed),
           "replicas": replicas,
           "endpoint_status": [], "endpoint_health": [], "member_list": None, "alarm_list": None,
           "backup_health": {}, "quota_bytes": None}
    errors, alarms = [], {}
    for pod in sorted(views):
        view = views[pod]
        if view.get("status"):
            obs["endpoint_status"].append(dict(view["status"], pod=pod))
        elif view.get("status_error"):
            errors.append(f"{pod}: {view['status_error'].splitlines()[-1]}")
        if view.get("health"):
            obs["endpoint_health"].append(dict(view["health"], pod=pod))
        if obs["member_list"] is None and isinstance(view.get("members"), dict):
            obs["member_list"] = view["members"]
        if isinstance(view.get("alarms"), dict):
            for alarm in view["alarms"].get("alarms") or []:
                alarms[(alarm.get("memberID"), alarm.get("alarm"))] = alarm
        if view.get("backup") is not None:
            obs["backup_health"][pod] = view["backup"]
        if view.get("quota"):
            obs["quota_bytes"] = max(obs["quota_bytes"] or 0, view["quota"])
            obs["quota_source"] = view.get("quota_source")
        if view.get("now"):
            obs["now"] = max(obs.get("now") or 0, view["now"])
        if isinstance(view.get("metrics"), dict):
            obs.setdefault("metrics", {})[pod] = view["metrics"]
    running = _findings.running_quotas(obs)
    if not obs["quota_bytes"] and running:
        # no readable etcd config: the quota etcd itself runs with (etcd_server_quota_backend_bytes)
        obs["quota_bytes"], obs["quota_source"] = max(running.values()), "etcd /metrics (etcd_server_quota_backend_bytes)"
    if any(isinstance(v.get("alarms"), dict) for v in views.values()):
        obs["alarm_list"] = {"alarms": list(alarms.values())}
    obs["endpoint_status_stderr"] = "\n".join(errors)
    return obs


def backup_row(backup: dict | None, leader: bool, now: int | None) -> dict | None:
    """A member's backup-restore as reports show it: /healthz, its role (only the leader's
    sidecar serves 200 and snapshots), snapshot ages and snapshotter failures from /metrics."""
    if not backup:
        return None
    metrics = backup.get("metrics") or {}

    def age(kind):
        stamp = metrics.get(f'etcdbr_snapshot_latest_timestamp{{kind="{kind}"}}')
        return int(now - stamp) if stamp and now else None

    return {"status": backup.get("status"), "health": backup.get("health"), "role": "leader" if leader else "follower",
            "full_snapshot_age_s": age("Full"), "delta_snapshot_age_s": age("Incr"),
            "snapshotter_failures": metrics.get("etcdbr_snapshotter_failure")}


def member_rows(obs: dict, views: dict[str, dict], debug: dict[str, str | None]) -> list[dict]:
    """Per member detail for reports: one row per pod and per listed member without a pod."""
    members = (obs.get("member_list") or {}).get("members") or []
    pods = list(obs.get("pods") or [])
    by_pod = {}
    for m in members:
        by_pod.setdefault(_druid.member_pod(m, pods) or m.get("name") or str(m.get("ID")), m)
    leader = _findings.leader_pod(obs)
    status_by_pod = {s["pod"]: s for s in obs.get("endpoint_status") or []}
    health_by_pod = {h["pod"]: h for h in obs.get("endpoint_health") or []}
    quota = obs.get("quota_bytes") or _findings.DEFAULT_QUOTA
    rows = []
    for pod in sorted(set(pods) | set(by_pod)):
        member, status = by_pod.get(pod) or {}, (status_by_pod.get(pod) or {}).get("Status") or {}
        header = status.get("header") or {}
        member_id = member.get("ID") or header.get("member_id")
        health = health_by_pod.get(pod)
        size = status.get("dbSize")
        rows.append({
            "pod": pod, "id": f"{member_id:x}" if isinstance(member_id, int) else None, "name": member.get("name"),
            "is_leader": bool(status) and status.get("leader") == header.get("member_id"),
            "is_learner": bool(member.get("isLearner")), "reachable": bool(status),
            "health": health.get("health") if health else None,
            "health_error": (health or {}).get("error") or (views.get(pod) or {}).get("health_error"),
            "db_size": size, "db_size_in_use": status.get("dbSizeInUse"),
            "db_quota_ratio": round(size / quota, 4) if isinstance(size, int) and quota else None,
            "revision": header.get("revision"), "raft_index": status.get("raftIndex"),
            "raft_term": status.get("raftTerm"), "version": status.get("version"),
            "backup_restore": backup_row((views.get(pod) or {}).get("backup"), pod == leader, obs.get("now")),
            "etcd_process": (views.get(pod) or {}).get("etcd_process"),
            "metrics": (views.get(pod) or {}).get("metrics"),
            "debug_container": debug.get(pod),
            "debug_error": (obs.get("debug_failed") or {}).get(pod),
        })
    return rows


def next_commands(kubectl: str, namespace: str, etcd: str, rows: list[dict], findings: list[dict],
                  container: str | None, etcdctl: str) -> list[str]:
    """Commands an operator can paste next; those that write to etcd say so."""
    q = shlex.quote
    up = [r for r in rows if r["reachable"] and r.get("debug_container")]
    pod = (next((r for r in up if r["is_leader"]), None) or (up[0] if up else None) or {"pod": f"{etcd}-0"})["pod"]
    cont = next((r["debug_container"] for r in rows if r["pod"] == pod and r.get("debug_container")), container or "etcd-debug")
    ex = f"{kubectl} -n {q(namespace)} exec {q(pod)} -c {q(cont)} -- {etcdctl}"
    out = [f"{ex} endpoint status --cluster -w table",
           f"{ex} endpoint health --cluster -w table",
           f"{ex} member list -w table",
           f"{ex} alarm list"]
    codes = {f["code"]: f for f in findings}
    for f in findings:
        if f["code"] in ("MEMBER_UNREACHABLE", "MEMBER_UNHEALTHY") and f.get("pod"):
            out.append(f"{kubectl} -n {q(namespace)} describe pod {q(f['pod'])}")
            out.append(f"{kubectl} -n {q(namespace)} logs {q(f['pod'])} -c etcd --tail=200 --previous")
        if f["code"] == "BACKUP_RESTORE_UNHEALTHY" and f.get("pod"):
            out.append(f"{kubectl} -n {q(namespace)} logs {q(f['pod'])} -c backup-restore --tail=200")
    if "ALARM_NOSPACE" in codes or "DB_QUOTA_HIGH" in codes or "DB_FRAGMENTED" in codes:
        out.append(f"# WRITES to etcd, one member at a time: {ex} defrag")
    if "ALARM_NOSPACE" in codes:
        out.append(f"# WRITES to etcd, after compaction+defrag freed space: {ex} alarm disarm")
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------- the API flow

class _Clients:
    """One ApiClient per worker thread: each holds its own connection pool and websocket state,
    so concurrent execs (_exec.run) never share one."""

    def __init__(self, params: dict, first):
        """first: the module's own client (closed by the runner), given to the first worker."""
        self.params, self.local, self.made, self.lock, self.first = params, threading.local(), [], threading.Lock(), first

    def get(self):
        api = getattr(self.local, "api", None)
        if api is None:
            with self.lock:
                api, self.first = self.first, None
            if api is None:
                api = new_api_client(self.params)
                with self.lock:
                    self.made.append(api)
            self.local.api = api
        return api

    def close(self):
        for api in self.made:
            api.close()


def _debug_name(pod: dict, wanted: str | None, base: str) -> tuple[str | None, str | None]:
    """(container, error): the named debug container or the newest running <base>[-N]."""
    names = _pod.names(pod, "ephemeral")
    candidates = [wanted] if wanted else [n for n in reversed(names) if n == base or (n or "").startswith(base + "-")]
    for name in candidates:
        if _pod.running(_pod.status(pod, name, "ephemeral")):
            return name, None
    if not candidates or candidates == [None]:
        return None, f"no debug container '{base}' in the pod"
    return None, f"debug container {candidates[0]} is {_pod.describe(_pod.status(pod, candidates[0], 'ephemeral'))}"


def collect_member(api, namespace: str, pod_name: str, wanted: str | None, params: dict, where: str,
                   failed: str | None = None) -> dict:
    """{'container', 'error', 'view', 'logs'} for one member pod: one GET and one exec (none when
    its debug container failed; with detail its logs are read either way)."""
    out = {"container": None, "error": failed, "view": None, "logs": None}
    if params.get("detail"):
        out["logs"] = read_logs(api, namespace, pod_name, params["target_container"], params["log_lines"])
    if failed:
        return out
    pod = _pod.read_pod(api, namespace, pod_name, where)
    spec = pod.get("spec") or {}
    name, error = _debug_name(pod, wanted, params["container"])
    out["container"] = name
    if error:
        out["error"] = error
        return out
    debug = _pod.container(pod, name, "ephemeral")
    plan = member_plan(spec, debug, params["target_container"])
    tls, br = plan["tls"], plan["backup"] if params["backup_restore"] else None
    marker = "ETCDOPS-" + secrets.token_hex(8)
    script = script_argv(plan, marker, params["timeout"], bool(params.get("detail")), bool(params["backup_restore"]),
                         params.get("metrics_window"))
    argv = ["etcdctl", f"--endpoints={plan['endpoint']}"]
    if tls:
        argv += [f"--{k}={tls['display'][k]}" for k in ("cacert", "cert", "key")]
    window = max(0.0, params.get("metrics_window") or 0.0)
    res = _exec.run(api, namespace, pod_name, name, script, params["timeout"] * 8 + 10 + window)
    sections = parse_sections(res["stdout"], marker)
    if "fatal" in sections or "status" not in sections:
        why = (sections.get("fatal") or {}).get("err") or res["stderr"].strip() or f"rc {res['rc']}, no output"
        out["error"] = f"health script failed in {name}: {why.splitlines()[-1][:300]}"
        return out
    out["view"] = member_view(sections)
    out["view"]["sources"] = {"tls": (tls or {}).get("source", "none"), "endpoint": plan["endpoint_source"],
                              "config": plan["config_source"], "backup_restore": (br or {}).get("source")}
    out["etcdctl"] = " ".join(shlex.quote(a) for a in argv)
    return out


def read_logs(api, namespace: str, pod: str, container: str, lines: int) -> str:

    where = k8s_path("api/v1/namespaces", namespace, "pods", pod, "log")
    try:
        return rest(api, "GET", where, {"container": container, "tailLines": lines}, raw=True)
    except ApiException as exc:
        if exc.status == 403:
            return f"(forbidden: needs get on pods/log in {namespace}: {api_message(exc)})"
        if exc.status == 400:  # not running now: its last run's output
            try:
                return rest(api, "GET", where, {"container": container, "tailLines": lines, "previous": True}, raw=True)
            except ApiException as again:
                return f"(no logs: {api_message(again)})"
        return f"(no logs: HTTP {exc.status} {api_message(exc)})"


def _with_cluster_name(params: dict) -> dict:
    """params with 'cluster' set: the given name, else the context, else the host."""
    return dict(params, cluster=params.get("cluster") or params.get("context") or params.get("host") or "default")


def cluster_unreachable(params: dict, reason: str | None = None) -> dict:
    """The result for a cluster that cannot be read (reason, else params' cluster_error): the same
    shape as check()'s, with one CLUSTER_UNREACHABLE finding. The one place that finding is made."""
    params = _with_cluster_name(params)
    reason = reason or params["cluster_error"]
    findings = _findings.evaluate({"cluster": params["cluster"], "unreachable": reason})
    return {"changed": False, "cluster": params["cluster"], "unreachable_reason": reason, "etcds": [],
            "findings": findings, "summary": _summary(findings, []), "thresholds": _thresholds(params), "duration_s": 0.0}


def _thresholds(params: dict) -> dict:
    return dict(_findings.DEFAULT_THRESHOLDS, **{k: v for k, v in (params.get("thresholds") or {}).items() if v is not None})


def run_module(module) -> None:
    """etcd_wrapper.ops.etcd_health through the one runner. A cluster discovery could not read
    (cluster_error), or that cannot be configured or reached now, is a result, not a failure:
    the sweep reports it and goes on; bad input still fails."""
    checked = k8s_action(check)

    def action(mod) -> dict:
        if mod.params.get("cluster_error"):
            return cluster_unreachable(mod.params)  # nothing to contact, not even the kubeconfig
        try:
            return checked(mod)
        except K8sError as exc:
            return cluster_unreachable(mod.params, exc.msg)

    _runner_run(module, action, ("kubernetes", HAS_K8S, K8S_IMPORT_ERROR))


def _summary(findings: list[dict], etcds: list[dict]) -> dict:
    return {"status": _findings.status_of(findings), "etcds": len(etcds), "members": sum(len(e["pods"]) for e in etcds),
            **{s: sum(1 for f in findings if f["severity"] == s) for s in _findings.SEVERITIES}}


def check(api, params: dict, check_mode: bool, where: str) -> dict:
    """Everything etcd_wrapper.ops.etcd_health does; returns the result."""
    started = time.monotonic()
    params = _with_cluster_name(params)
    if params["concurrency"] < 1:
        raise UsageError("concurrency must be at least 1")
    wanted = {}
    debug_failed: dict[tuple[str, str], str] = {}
    for item in params.get("debug_containers") or []:
        key = (item.get("namespace"), item.get("pod"))
        if item.get("failed"):
            debug_failed[key] = item.get("msg") or "failed"
        elif item.get("container"):
            wanted[key] = item["container"]
    etcds = []
    for item in params["etcds"]:
        pods = [p["name"] if isinstance(p, dict) else str(p) for p in item.get("pods") or []]
        if not item.get("namespace") or not item.get("name"):
            raise UsageError("every entry of etcds needs namespace and name (the etcds of etcd_cluster_info)")
        etcds.append({"namespace": item["namespace"], "name": item["name"], "pods": pods, "replicas": item.get("replicas")})
    jobs = [(e["namespace"], pod) for e in etcds for pod in e["pods"]
            if params.get("detail") or (e["namespace"], pod) not in debug_failed]
    clients = _Clients(params, api)

    def one(job):
        namespace, pod = job
        try:
            return job, collect_member(clients.get(), namespace, pod, wanted.get(job), params, where, debug_failed.get(job))
        except OpsError as exc:
            return job, {"container": wanted.get(job), "error": exc.msg, "view": None, "logs": None}
        except Exception as exc:  # noqa: BLE001 - one member's connection error must not hide the others
            text = str(getattr(exc, "reason", None) or exc).splitlines()
            return job, {"container": wanted.get(job), "error": f"{type(exc).__name__}: {text[0] if text else ''}",
                         "view": None, "logs": None}

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(params["concurrency"], len(jobs) or 1))) as pool:
            collected = dict(pool.map(one, jobs))
    finally:
        clients.close()

    results, all_findings = [], []
    thresholds = _thresholds(params)
    kubectl = "kubectl" + (f" --kubeconfig {shlex.quote(params['kubeconfig'])}" if isinstance(params.get("kubeconfig"), str)
                           and not params["kubeconfig"].lstrip().startswith("{") else "") \
        + (f" --context {shlex.quote(params['context'])}" if params.get("context") else "")
    for etcd in etcds:
        ns = etcd["namespace"]
        views = {pod: collected[(ns, pod)]["view"] for pod in etcd["pods"] if (collected.get((ns, pod)) or {}).get("view")}
        failed = {pod: debug_failed[(ns, pod)] for pod in etcd["pods"] if (ns, pod) in debug_failed}
        failed.update({pod: collected[(ns, pod)]["error"] for pod in etcd["pods"] if (collected.get((ns, pod)) or {}).get("error")})
        debug = {pod: (collected.get((ns, pod)) or {}).get("container") or wanted.get((ns, pod)) for pod in etcd["pods"]}
        obs = observation(params["cluster"], ns, etcd["name"], etcd["pods"], views, failed, etcd.get("replicas"))
        findings = _findings.evaluate(obs, thresholds)
        rows = member_rows(obs, views, debug)
        leader = next((r["pod"] for r in rows if r["is_leader"]), None)
        entry = {"cluster": params["cluster"], "namespace": ns, "etcd": etcd["name"], "status": _findings.status_of(findings),
                 "pods": etcd["pods"], "replicas": etcd.get("replicas"), "leader": leader,
                 "quota_bytes": obs["quota_bytes"] or _findings.DEFAULT_QUOTA,
                 "quota_source": obs.get("quota_source") or "default 8 GiB",
                 "sources": next((v["sources"] for v in views.values() if v.get("sources")), None),
                 "members": rows, "findings": findings}
        if params.get("detail"):
            etcdctl = next((collected[(ns, p)].get("etcdctl") for p in etcd["pods"] if (collected.get((ns, p)) or {}).get("etcdctl")),
                           "etcdctl")
            for row in rows:
                view = views.get(row["pod"]) or {}
                row["endpoint_status_table"] = view.get("table")
                row["cheatsheet"] = view.get("cheatsheet")
                row["logs"] = (collected.get((ns, row["pod"])) or {}).get("logs")
            entry["next_commands"] = next_commands(kubectl, ns, etcd["name"], rows, findings, params["container"], etcdctl)
        results.append(entry)
        all_findings.extend(findings)
    if not etcds:
        all_findings.append(_findings.finding({"cluster": params["cluster"]}, "NO_ETCD_FOUND", "info",
                                              "no etcd pods matched the discovery selectors"))
    all_findings.sort(key=lambda f: (_findings.SEVERITIES.index(f["severity"]), f["namespace"] or "", f["etcd"] or "",
                                     f["code"], f["pod"] or ""))
    return {"changed": False, "cluster": params["cluster"], "unreachable_reason": None, "etcds": results,
            "findings": all_findings, "summary": _summary(all_findings, etcds), "thresholds": thresholds,
            "duration_s": round(time.monotonic() - started, 3)}
