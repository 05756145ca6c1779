# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: rule-based rolling defragmentation of one etcd
cluster, what etcd_wrapper.ops.etcd_defrag does. First the pure part (each member's figures read
from its own etcdctl JSON, the selection rule, the gate, the plan, the timeout), then the calls:
every member through its own debug container (_member), one at a time.

Upstream this mirrors or departs from on purpose:
- etcd's maintenance guide (etcd-io/website content/en/docs/v3.6/op-guide/maintenance.md):
  defragmentation "blocks the system from reading and writing data", is not replicated (so it is
  run against each member's own endpoint), and is done one member at a time; NOSPACE recovery is
  compact to the current revision -> defragment -> `alarm disarm`.
- `etcdctl defrag --cluster` (etcdctl/ctlv3/command/defrag_command.go) goes in member-list order
  with no health gate, includes learners and keeps the 5 s default --command-timeout
  (etcd-io/etcd#8260): not used here.
- etcd-backup-restore (pkg/etcdutil/etcdutil.go DefragmentData callers) defragments followers one
  by one, then the leader, without MoveLeader; etcd-druid passes it --etcd-defrag-timeout=15m
  (internal/component/statefulset/builder.go). Moving leadership away first is what
  gardener/etcd-backup-restore#1052 (PR #1062) asks for.
- OpenShift's defrag controller (openshift/cluster-etcd-operator pkg/operator/defragcontroller/
  defragcontroller.go) gates on cluster health before and after each member, defragments the
  leader last and only at >= 45 % fragmentation of a >= 100 MB database.
- ahrtr/etcd-defrag: a NOSPACE alarm does not stop the run (defragmentation is the cure), a
  CORRUPT one does; learners are left out.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _druid, _findings, _member
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import new_api_client
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError, last_line

# OpenShift's defrag controller: defragment at >= 45 % fragmentation (free / dbSize) ...
DEFAULT_MIN_FRAGMENTATION = 0.45
# ... and 100 MB (its minDefragBytes = 100 * 1024 * 1024, compared with dbSize there; here with the
# free bytes, which are what a defragmentation gives back: free >= 100 MiB implies dbSize >= 100 MiB)
DEFAULT_MIN_FREE_BYTES = 100 * 1024 * 1024
# etcd-druid runs backup-restore's defragmentation with --etcd-defrag-timeout=15m
MIN_COMMAND_TIMEOUT = 15 * 60
# A defragmentation rewrites the database into a new file: allow 2 min per GiB of dbSize on top of the
# 15 min floor (about 8.5 MiB/s; a druid default 8 GiB quota then gets 16 min)
SECONDS_PER_GIB = 120
# etcdctl reads (endpoint status/health, member list, alarm list): seconds each
READ_TIMEOUT = 10
# between two reads while waiting for a gate
POLL_INTERVAL = 1.0

MIB = 1024 ** 2


def _mib(value) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    return f"{value / MIB:.1f} MiB" if value >= MIB else f"{value / 1024:.0f} KiB"


def hex_id(member_id) -> str:
    """etcdctl's spelling of a member ID (%x): what `etcdctl move-leader` parses (base 16)."""
    return format(int(member_id), "x") if member_id is not None else ""


def _last_line(text: str) -> str:
    """_runner.last_line, at most 300 characters (it goes into one-line messages)."""
    return last_line(text)[:300]


def _parsed(rec: dict | None):
    if not rec or not (rec.get("stdout") or "").strip():
        return None
    try:
        return _member.parse_json(rec["stdout"])
    except ValueError:
        return None


def _error_of(rec: dict | None, what: str) -> str:
    if rec is None:
        return f"{what}: not asked"
    return f"{what} rc {rec.get('rc')}: {_last_line(rec.get('stderr')) or _last_line(rec.get('stdout')) or 'no output'}"


def figures(pod: str, recs: dict) -> dict:
    """One member's figures from its own `endpoint status`, `endpoint health`, `member list` and
    `alarm list` (-w json) records ({'rc', 'stdout', 'stderr'} each, any may be missing)."""
    fig = {"pod": pod, "id": None, "member_id": "", "leader": None, "db_size": None, "in_use": None, "free": None,
           "fragmentation": None, "raft_index": None, "applied": None, "revision": None, "version": None,
           "healthy": False, "health_error": None, "alarms": [], "members": None, "error": None}
    status = _parsed(recs.get("status"))
    entry = status[0] if isinstance(status, list) and status and isinstance(status[0], dict) else None
    st = (entry or {}).get("Status") or {}
    if not st or (recs.get("status") or {}).get("rc") not in (0, None):
        fig["error"] = _error_of(recs.get("status"), "endpoint status")
        return fig
    header = st.get("header") or {}
    size, in_use = st.get("dbSize"), st.get("dbSizeInUse")
    fig.update(id=header.get("member_id"), member_id=hex_id(header.get("member_id")), leader=st.get("leader"),
               db_size=size, in_use=in_use, raft_index=st.get("raftIndex"), applied=st.get("raftAppliedIndex"),
               revision=header.get("revision"), version=st.get("version"))
    if isinstance(size, int) and isinstance(in_use, int):
        fig["free"] = max(0, size - in_use)
        fig["fragmentation"] = round(fig["free"] / size, 4) if size else 0.0
    health = _parsed(recs.get("health"))
    h_entry = health[0] if isinstance(health, list) and health and isinstance(health[0], dict) else None
    fig["healthy"] = None  # not asked
    if "health" in recs:
        ok, why = _member.health_ok(h_entry)
        fig["healthy"] = ok
        fig["health_error"] = None if ok else (why if h_entry else _error_of(recs.get("health"), "endpoint health"))
    members = _parsed(recs.get("members"))
    if isinstance(members, dict):
        fig["members"] = members.get("members") or []
    alarms = _parsed(recs.get("alarms"))
    if isinstance(alarms, dict):
        fig["alarms"] = [{"member_id": hex_id(a.get("memberID")), "id": a.get("memberID"),
                          "alarm": _findings.ALARMS.get(a.get("alarm"), str(a.get("alarm")))}
                         for a in alarms.get("alarms") or []]
    elif "alarms" in recs:
        fig["error"] = _error_of(recs.get("alarms"), "alarm list")
    if "members" in recs and fig["members"] is None and not fig["error"]:
        fig["error"] = _error_of(recs.get("members"), "member list")
    return fig


def rule_text(min_fragmentation: float, min_free_bytes: int) -> str:
    return f"fragmentation >= {min_fragmentation:g} and free >= {_mib(min_free_bytes)}"


def selected(fig: dict, min_fragmentation: float, min_free_bytes: int, force: bool = False,
             every: str | None = None) -> tuple[bool, str]:
    """(defragment this member, why): force or `every` (NOSPACE recovery) takes every member;
    else fragmentation (free / dbSize) >= min_fragmentation AND free >= min_free_bytes."""
    frag, free = fig.get("fragmentation") or 0.0, fig.get("free") or 0
    figures_text = f"fragmentation {frag:.2f}, free {_mib(free)} of {_mib(fig.get('db_size'))}"
    if force:
        return True, f"force: every member ({figures_text})"
    if every:
        return True, f"{every} ({figures_text})"
    if frag >= min_fragmentation and free >= min_free_bytes:
        return True, f"{figures_text}: meets {rule_text(min_fragmentation, min_free_bytes)}"
    return False, f"{figures_text}: below {rule_text(min_fragmentation, min_free_bytes)}"


def command_timeout(db_sizes: list, override: int | None = None) -> int:
    """etcdctl --command-timeout for a defragmentation: the option when given, else at least
    druid's 15 min, more for a big database (SECONDS_PER_GIB per GiB of the largest dbSize)."""
    if override:
        return int(override)
    biggest = max([s for s in db_sizes if isinstance(s, int)] or [0])
    return max(MIN_COMMAND_TIMEOUT, int(math.ceil(biggest / 1024 ** 3 * SECONDS_PER_GIB)))


def member_pods(figs: dict[str, dict], pods: list[str]) -> dict:
    """member ID -> pod, from the member list the answering members agree on (by the host of the
    member's URLs: druid's member names may carry a prefix)."""
    listing = next((f["members"] for f in figs.values() if f.get("members")), None) or []
    return {m.get("ID"): _druid.member_pod(m, pods) for m in listing if "ID" in m}


def gate(figs: dict[str, dict], pods: list[str]) -> str | None:
    """Why the cluster may not be defragmented now (one line naming the member), None when it may:
    every member answers and is healthy, no learner, one leader every member agrees on, no CORRUPT
    alarm (NOSPACE does not block: defragmentation is part of its cure)."""
    for pod in pods:
        fig = figs.get(pod) or {"error": "not read"}
        if fig.get("error"):
            return f"member {pod} did not answer: {fig['error']}"
    for pod in pods:
        if not figs[pod]["healthy"]:
            return f"member {pod} is unhealthy: {figs[pod]['health_error'] or 'health false'}"
    listing = next((figs[p]["members"] for p in pods if figs[p].get("members")), None) or []
    by_id = member_pods(figs, pods)
    for member in listing:
        name = member.get("name") or hex_id(member.get("ID"))
        if member.get("isLearner"):
            return (f"member {by_id.get(member.get('ID')) or name} ({hex_id(member.get('ID'))}) is a learner: "
                    "promote or remove it first (a learner is not defragmented here)")
        if by_id.get(member.get("ID")) is None:
            return f"member {name} ({hex_id(member.get('ID'))}) of the member list has no pod among {', '.join(pods)}"
    ids = {figs[p]["id"]: p for p in pods}
    for pod in pods:
        if listing and figs[pod]["id"] not in {m.get("ID") for m in listing}:
            return f"member {pod} ({figs[pod]['member_id']}) is not in the member list"
    for pod in pods:
        for alarm in figs[pod]["alarms"]:
            if alarm["alarm"] != "NOSPACE":
                owner = ids.get(alarm["id"]) or alarm["member_id"]
                return f"member {owner} has a {alarm['alarm']} alarm: restore or replace it, do not defragment"
    leaders = {figs[p]["leader"] for p in pods}
    if leaders <= {0, None}:
        return "no member reports a leader"
    if len(leaders) > 1:
        named = ", ".join(f"{p} says {ids.get(figs[p]['leader']) or hex_id(figs[p]['leader'])}" for p in pods)
        return f"members disagree on the leader ({named})"
    leader = next(iter(leaders))
    if leader not in ids:
        return f"the leader {hex_id(leader)} is not one of the member pods {', '.join(pods)}"
    return None


def step(fig: dict, leader: bool, action: str, reason: str, **extra) -> dict:
    return dict({"pod": fig["pod"], "member_id": fig["member_id"], "role": "leader" if leader else "follower",
                 "action": action, "reason": reason}, **extra)


def plan(figs: dict[str, dict], pods: list[str], params: dict) -> dict:
    """The plan for a cluster that passed the gate: {'steps', 'skipped', 'skip_reason', 'leader',
    'command_timeout', 'msg'}. Followers one at a time (pod order), then leadership moved to a
    follower (one just defragmented, the most caught-up), then the former leader."""
    leader_id = figs[pods[0]]["leader"]
    leader = next(p for p in pods if figs[p]["id"] == leader_id)
    followers = [p for p in pods if p != leader]
    nospace = bool(params.get("compact") or params.get("disarm"))
    every = "NOSPACE recovery (compact/disarm): every member" if nospace else None
    min_frag = params.get("min_fragmentation")
    min_frag = DEFAULT_MIN_FRAGMENTATION if min_frag is None else min_frag
    min_free = params.get("min_free_bytes")
    min_free = DEFAULT_MIN_FREE_BYTES if min_free is None else min_free
    choice = {p: selected(figs[p], min_frag, min_free, bool(params.get("force")), every) for p in pods}
    timeout = command_timeout([figs[p]["db_size"] for p in pods], params.get("command_timeout"))
    out = {"steps": [], "skipped": False, "skip_reason": None, "leader": leader, "command_timeout": timeout,
           "left_out": [{"pod": p, "member_id": figs[p]["member_id"], "reason": choice[p][1]} for p in pods if not choice[p][0]]}
    chosen = [p for p in pods if choice[p][0]]
    if len(pods) == 1 and chosen and not params.get("allow_single_member"):
        out.update(skipped=True, skip_reason=(
            f"{pods[0]} is the only member: defragmenting it blocks every request of this control plane for the "
            "duration; set allow_single_member: true to do it anyway"))
        out["left_out"] = [{"pod": pods[0], "member_id": figs[pods[0]]["member_id"], "reason": out["skip_reason"]}]
        return out
    if not chosen:
        return out
    if params.get("compact"):
        out["steps"].append(step(figs[leader], True, "compact", (
            "NOSPACE recovery: compact to the current revision (physical) before defragmenting; this drops the "
            "history kube-apiserver keeps for watches (watchers must relist)")))
    done_followers = []
    for pod in followers:
        if choice[pod][0]:
            out["steps"].append(step(figs[pod], False, "defragment", choice[pod][1]))
            done_followers.append(pod)
    if choice[leader][0]:
        if followers and params.get("move_leader", True):
            # a defragmented follower first, then the most caught-up, then by name
            target = sorted(followers, key=lambda p: (p not in done_followers, -(figs[p]["applied"] or 0), p))[0]
            out["steps"].append(step(figs[leader], True, "move-leader",
                                     f"leader last: move leadership to {target} first (a defragmenting leader stalls "
                                     "every write: etcd-backup-restore#1052)", target=target,
                                     target_member_id=figs[target]["member_id"]))
            out["steps"].append(step(figs[leader], True, "defragment",
                                     f"{choice[leader][1]}; former leader, defragmented last"))
        else:
            why = "the only member" if not followers else "leadership not moved (move_leader: false)"
            out["steps"].append(step(figs[leader], True, "defragment", f"{choice[leader][1]}; leader last, {why}"))
    if params.get("disarm"):
        out["steps"].append(step(figs[leader], True, "disarm", (
            "NOSPACE recovery: after every member is defragmented, alarm disarm, then verify no alarm remains "
            "and every database is below the quota margin")))
    return out


def summary(etcd: str, namespace: str, steps: list[dict], check_mode: bool) -> str:
    """One line: what the plan does (or did), in order."""
    parts = []
    for s in steps:
        if s["action"] == "defragment":
            parts.append(f"defragment {s['pod']} ({s['role']})")
        elif s["action"] == "move-leader":
            parts.append(f"move leadership {s['pod']} -> {s['target']}")
        else:
            parts.append(s["action"])
    return f"{'check mode: would ' if check_mode else ''}{'; '.join(parts)} in {namespace}/{etcd}"


def caught_up(target: dict, leader_applied: int | None, figs: dict[str, dict]) -> str | None:
    """Why the member is not back yet after its defragmentation (None when it is): its endpoint
    healthy, exactly one leader all members agree on, its applied index at least the leader's as
    read after the defragmentation."""
    if target.get("error"):
        return f"{target['pod']} does not answer: {target['error']}"
    if not target["healthy"]:
        return f"{target['pod']} is unhealthy: {target['health_error'] or 'health false'}"
    bad = [f["pod"] for f in figs.values() if f.get("error")]
    if bad:
        return f"{', '.join(sorted(bad))} did not answer endpoint status"
    leaders = {f["leader"] for f in figs.values()}
    if len(leaders) != 1 or leaders <= {0, None}:
        return f"no single leader (members report {', '.join(sorted(hex_id(x) if x else 'none' for x in leaders))})"
    if leader_applied is not None and (target["applied"] or 0) < leader_applied:
        return f"{target['pod']} applied index {target['applied']} behind the leader's {leader_applied}"
    return None


def quota_problems(figs: dict[str, dict], quotas: dict[str, int], margin: float) -> list[str]:
    """Members whose database is still at or above `margin` of the quota after defragmentation."""
    out = []
    for pod, fig in sorted(figs.items()):
        quota = quotas.get(pod) or _findings.DEFAULT_QUOTA
        if isinstance(fig.get("db_size"), int) and fig["db_size"] >= margin * quota:
            out.append(f"{pod} {_mib(fig['db_size'])} is {fig['db_size'] / quota:.0%} of the quota {_mib(quota)}")
    return out


# ---------------------------------------------------------------- the API flow

class Cluster:
    """The member pods of one etcd, each through its own debug container and its own API client
    (concurrent execs never share a websocket client)."""

    def __init__(self, api, params: dict, where: str):
        self.params, self.made = params, []
        self.members: dict[str, _member.Member] = {}
        tls = params.get("tls")
        try:
            for i, pod in enumerate(params["pods"]):
                client = api if i == 0 else new_api_client(params)
                if client is not api:
                    self.made.append(client)
                self.members[pod] = _member.Member(client, params["namespace"], pod, params["container"], where,
                                                   "auto" if tls is None else tls)
        except BaseException:
            self.close()
            raise

    def close(self):
        for client in self.made:
            client.close()
        self.made = []

    def read(self, pod: str, what=("status", "health", "members", "alarms")) -> dict:
        """One member's figures; a member that does not answer endpoint status is asked nothing else
        (each question would wait for the timeout)."""
        member = self.members[pod]
        args = {"status": ["endpoint", "status"], "health": ["endpoint", "health"],
                "members": ["member", "list"], "alarms": ["alarm", "list"]}
        recs = {}
        for key in what:
            try:
                recs[key] = member.etcdctl(args[key], READ_TIMEOUT)
            except OpsError as exc:
                recs[key] = {"rc": None, "stdout": "", "stderr": exc.msg}
                if key == "status":
                    recs[key]["rc"] = -1
            if key == "status" and (recs[key].get("rc") != 0 or not (recs[key].get("stdout") or "").strip()):
                break
        return figures(pod, recs)

    def read_all(self, what=("status", "health", "members", "alarms")) -> dict[str, dict]:
        pods = list(self.members)
        with ThreadPoolExecutor(max_workers=len(pods)) as pool:
            return dict(zip(pods, pool.map(lambda p: self.read(p, what), pods)))


def public(fig: dict) -> dict:
    """A member's figures for the result: IDs in hex as etcdctl prints them (uint64 IDs lose digits
    in JSON readers that use doubles), without the member list."""
    out = {k: v for k, v in fig.items() if k not in ("members", "id", "leader")}
    out["leader_id"] = hex_id(fig["leader"]) if fig.get("leader") else None
    out["alarms"] = [{"member_id": a["member_id"], "alarm": a["alarm"]} for a in fig.get("alarms") or []]
    return out


class GateFailed(OpsError):
    """The step was done (etcd changed), but the gate after it did not pass: the run stops, and the
    step is listed as done with `gate` saying why."""

    def __init__(self, msg: str, why: str, record: dict):
        super().__init__(msg)
        self.why, self.record = why, record


def _fail(msg: str, result: dict, steps: list[dict], done: list[dict]) -> OpsError:
    not_done = steps[len(done):]
    details = {k: v for k, v in result.items() if k not in ("msg", "changed", "failed")}
    details.update(done=done, not_done=not_done)
    return OpsError(msg, changed=bool(done), **details)


def _validate(params: dict) -> None:
    pods = params.get("pods") or []
    if not pods:
        raise UsageError("pods must name the etcd's member pods (the pods of etcd_cluster_info's etcds)")
    if len(set(pods)) != len(pods):
        raise UsageError(f"pods lists a pod twice: {', '.join(pods)}")
    foreign = [p for p in pods if not p.startswith(params["etcd"] + "-")]
    if foreign:
        raise UsageError(f"pod {foreign[0]} is not a member pod of etcd {params['etcd']} (<etcd>-<ordinal>)")
    for name in ("min_fragmentation", "quota_margin"):
        value = params.get(name)
        if value is not None and not 0 <= value <= 1:
            raise UsageError(f"{name} must be between 0 and 1, got {value:g}")
    for name in ("min_free_bytes", "command_timeout", "gate_timeout"):
        value = params.get(name)
        if value is not None and value < 0:
            raise UsageError(f"{name} must not be negative, got {value}")


def execute(api, params: dict, check_mode: bool, where: str) -> dict:
    """Everything etcd_wrapper.ops.etcd_defrag does; returns the result."""
    started = time.monotonic()
    params = dict(params)
    params["pods"] = _member.pod_names(params.get("pods"))  # a pod named twice is refused in _validate
    _validate(params)
    if not check_mode and not params.get("allow_write"):
        raise UsageError(f"refusing to defragment {params['namespace']}/{params['etcd']}: defragmentation, "
                         "move-leader, compaction and alarm disarm write to etcd; set allow_write: true "
                         "(or run in check mode for the plan)")
    ns, etcd, pods = params["namespace"], params["etcd"], sorted(params["pods"])
    cluster = Cluster(api, dict(params, pods=pods), where)
    try:
        return _run(cluster, params, ns, etcd, pods, check_mode, started)
    finally:
        cluster.close()


def _run(cluster: Cluster, params: dict, ns: str, etcd: str, pods: list[str], check_mode: bool, started: float) -> dict:
    figs = cluster.read_all()
    result = {"changed": False, "namespace": ns, "etcd": etcd, "members": [public(figs[p]) for p in pods],
              "plan": [], "done": [], "not_done": [], "left_out": [], "skipped": False}
    blocked = gate(figs, pods)
    if blocked:
        raise OpsError(f"not defragmenting {ns}/{etcd}: {blocked}; nothing done",
                       **{k: v for k, v in result.items() if k != "changed"})
    the_plan = plan(figs, pods, params)
    steps = the_plan["steps"]
    margin = params.get("quota_margin")
    margin = _findings.DEFAULT_THRESHOLDS["db_quota_warning"] if margin is None else margin
    result.update(plan=steps, not_done=[], left_out=the_plan["left_out"], leader=the_plan["leader"],
                  command_timeout=the_plan["command_timeout"], quota_margin=margin,
                  rule={"min_fragmentation": params.get("min_fragmentation"), "min_free_bytes": params.get("min_free_bytes"),
                        "force": bool(params.get("force"))})
    if the_plan["skipped"]:
        result.update(skipped=True, skip_reason=the_plan["skip_reason"],
                      msg=f"skipped {ns}/{etcd}: {the_plan['skip_reason']}")
        return result
    if not steps:
        result["msg"] = f"nothing to defragment in {ns}/{etcd}: " + "; ".join(f"{o['pod']} {o['reason']}" for o in the_plan["left_out"])
        return result
    if check_mode:
        result.update(changed=True, not_done=steps, msg=summary(etcd, ns, steps, True))
        return result
    done: list[dict] = []
    leader = the_plan["leader"]
    for item in steps:
        t0 = time.monotonic()
        try:
            record = _do(cluster, item, figs, params, the_plan["command_timeout"], leader, margin)
        except OpsError as exc:
            if isinstance(exc, GateFailed):  # the step itself was done: say so, and that its gate did not pass
                done.append(dict(item, duration_s=round(time.monotonic() - t0, 2), gate=exc.why, **exc.record))
            result.update(changed=bool(done), after=[public(cluster.read(p, ("status",))) for p in pods])
            raise _fail(f"{item['action']} of {item['pod']} in {ns}/{etcd} failed: {exc.msg}; "
                        f"{len(done)} of {len(steps)} step(s) done, stopped", result, steps, done) from None
        if item["action"] == "move-leader":
            leader = item["target"]
        done.append(dict(item, duration_s=round(time.monotonic() - t0, 2), **record))
    after = cluster.read_all(("status",))
    result.update(changed=True, done=done, not_done=[], after=[public(after[p]) for p in pods],
                  leader_after=next((p for p in pods if after[p]["id"] == after[p]["leader"]), None),
                  duration_s=round(time.monotonic() - started, 2))
    sizes = "; ".join(f"{p} {_mib(figs[p]['db_size'])} -> {_mib(after[p]['db_size'])}"
                      for p in pods if any(d["pod"] == p and d["action"] == "defragment" for d in done))
    result["msg"] = summary(etcd, ns, steps, False) + f": done ({sizes})"
    return result


def _do(cluster: Cluster, item: dict, figs: dict, params: dict, timeout: int, leader: str, margin: float) -> dict:
    """One step, verified; returns what to record; raises OpsError with one line when it fails."""
    gate_timeout = 60 if params.get("gate_timeout") is None else params["gate_timeout"]
    member = cluster.members[item["pod"]]
    if item["action"] == "compact":
        status = cluster.read(leader, ("status",))
        if status.get("error") or status.get("revision") is None:
            raise OpsError(f"no current revision from {leader}: {status.get('error')}")
        out = member.etcdctl(["compaction", "--physical", str(status["revision"])], timeout, output="raw")
        # etcd 3.5: "etcdserver: mvcc: required revision has been compacted" when nothing was written since
        # the last compaction to this revision: nothing left to compact, not a failure
        if out["rc"] != 0 and "has been compacted" not in out["stderr"]:
            raise OpsError(f"etcdctl compaction rc {out['rc']}: {_last_line(out['stderr']) or _last_line(out['stdout'])}")
        return {"revision": status["revision"], "output": _last_line(out["stdout"] or out["stderr"])}
    if item["action"] in ("move-leader", "defragment"):
        # leadership may change on its own during a run (an election): never defragment a member that
        # leads now while leadership could be moved, and move it only from the member that leads
        now = cluster.read(item["pod"], ("status",))
        if now.get("error"):
            raise OpsError(f"{item['pod']} does not answer: {now['error']}")
        leads = now["id"] == now["leader"]
        if item["action"] == "move-leader" and not leads:
            raise OpsError(f"{item['pod']} no longer leads (leader now {hex_id(now['leader']) or 'none'}): leadership "
                           "changed during the run; re-run to plan again")
        if item["action"] == "defragment" and leads and len(cluster.members) > 1 and params.get("move_leader", True):
            raise OpsError(f"{item['pod']} leads now (leadership changed during the run); a leader is not defragmented "
                           "before leadership is moved: re-run to plan again")
    if item["action"] == "move-leader":
        # against the leader's own endpoint from the leader's own debug container: etcdctl move-leader
        # sends MoveLeader to the endpoint it finds leading (etcdctl/ctlv3/command/move_leader_command.go)
        out = member.etcdctl(["move-leader", item["target_member_id"]], READ_TIMEOUT * 3, output="raw")
        if out["rc"] != 0:
            raise OpsError(f"etcdctl move-leader rc {out['rc']}: {_last_line(out['stderr']) or _last_line(out['stdout'])}")
        deadline = time.monotonic() + gate_timeout
        while True:
            now = cluster.read_all(("status",))
            leaders = {f["leader"] for f in now.values()}
            target_id = figs[item["target"]]["id"]
            if leaders == {target_id}:
                return {"output": _last_line(out["stdout"]), "leader_after": item["target"]}
            if time.monotonic() > deadline:
                raise OpsError(f"leadership did not move to {item['target']} within {gate_timeout}s "
                               f"(members report {', '.join(sorted(hex_id(x) if x else 'none' for x in leaders))})")
            time.sleep(POLL_INTERVAL)
    if item["action"] == "defragment":
        before = now
        out = member.etcdctl(["defrag"], timeout, output="raw")
        if out["rc"] != 0 or "Finished defragmenting" not in out["stdout"]:
            raise OpsError(f"etcdctl defrag rc {out['rc']}: {_last_line(out['stderr']) or _last_line(out['stdout'])}")
        # the gate after the member: healthy, one leader, caught up (within gate_timeout)
        deadline = time.monotonic() + gate_timeout
        lead = cluster.read(leader, ("status",))
        leader_applied = lead.get("applied")
        while True:
            now = cluster.read_all(("status",))
            now[item["pod"]] = cluster.read(item["pod"], ("status", "health"))
            why = caught_up(now[item["pod"]], leader_applied, now)
            if why is None:
                return {"db_size_before": before.get("db_size"), "db_size_after": now[item["pod"]]["db_size"],
                        "output": _last_line(out["stdout"])}
            if time.monotonic() > deadline:
                raise GateFailed(f"defragmented, but the gate after it did not pass within {gate_timeout}s: {why}", why,
                                 {"db_size_before": before.get("db_size"), "db_size_after": now[item["pod"]].get("db_size"),
                                  "output": _last_line(out["stdout"])})
            time.sleep(POLL_INTERVAL)
    if item["action"] == "disarm":
        out = member.etcdctl(["alarm", "disarm"], READ_TIMEOUT * 3, output="raw")
        if out["rc"] != 0:
            raise OpsError(f"etcdctl alarm disarm rc {out['rc']}: {_last_line(out['stderr']) or _last_line(out['stdout'])}")
        now = cluster.read_all(("status", "alarms"))
        left = sorted({f"{a['alarm']} on {a['member_id']}" for f in now.values() for a in f["alarms"]})
        if left:
            raise OpsError(f"alarms remain after alarm disarm: {', '.join(left)}")
        quotas = {p: _druid.quota_from_args(m.spec) or _findings.DEFAULT_QUOTA for p, m in cluster.members.items()}
        problems = quota_problems(now, quotas, margin)
        if problems:
            raise OpsError(f"alarm disarmed, but {problems[0]} (quota_margin {margin:g}): delete keys or raise "
                           "the quota, or NOSPACE comes back")
        return {"output": _last_line(out["stdout"]), "quotas": quotas}
    raise OpsError(f"unknown step {item['action']}")
