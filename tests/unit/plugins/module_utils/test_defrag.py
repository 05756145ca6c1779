# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The defragmentation planner on etcdctl output recorded from the local fleet through each member's
own debug container (fixtures/defrag/: etcd 3.5.35, etcdctl 3.5.35): figures, selection rule, gate,
order (followers, move-leader, former leader), single member, NOSPACE recovery, timeout sizing;
and the run loop (stop at the first failure with done / not_done) on a scripted cluster."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _defrag, _member
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "defrag")
PODS = ["etcd-events-0", "etcd-events-1", "etcd-events-2"]
# the recorded cluster (shoot--prod--alpha-ha/etcd-events on testbed-1, member name prefix testbed-1-)
LEADER, F1, F2 = "etcd-events-0", "etcd-events-1", "etcd-events-2"
IDS = {LEADER: "7cc6a0df89310186", F1: "2f38f87e82d8a1b0", F2: "3fc8d9b90dca0768"}
DEFAULTS = {"min_fragmentation": 0.45, "min_free_bytes": 104857600, "force": False, "move_leader": True,
            "allow_single_member": False, "command_timeout": None, "gate_timeout": 60, "compact": False,
            "disarm": False, "quota_margin": None}
SMALL = dict(DEFAULTS, min_free_bytes=1024 * 1024)  # the fleet's fragmented DBs hold ~20 MiB free


def recs(name: str) -> dict:
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)


def status_from(name: str, pod: str, leader: str = LEADER, applied: int | None = None) -> dict:
    """pod's recorded `endpoint status` of another recording, with the leader every member reports
    set to `leader` (defragmented_ha was recorded after the real run had moved leadership to F1)."""
    rec = copy.deepcopy(recs(name)[pod]["status"])
    data = json.loads(rec["stdout"])
    data[0]["Status"]["leader"] = int(IDS[leader], 16)
    if applied is not None:
        data[0]["Status"]["raftAppliedIndex"] = applied
    rec["stdout"] = json.dumps(data)
    return rec


def figs(name: str, **patch) -> dict:
    data = recs(name)
    for pod, change in patch.items():
        change(data[pod])
    return {pod: _defrag.figures(pod, r) for pod, r in data.items()}


# ---------------------------------------------------------------- figures


def test_figures_from_recorded_status():
    f = figs("fragmented_ha")
    assert f[LEADER]["member_id"] == IDS[LEADER] and f[F1]["member_id"] == IDS[F1]
    assert {x["leader"] for x in f.values()} == {f[LEADER]["id"]}
    assert f[LEADER]["db_size"] == 22618112 and f[LEADER]["in_use"] == 16384
    assert f[LEADER]["free"] == 22618112 - 16384
    assert f[LEADER]["fragmentation"] == pytest.approx(0.9993, abs=1e-4)
    assert all(x["healthy"] and not x["error"] and x["alarms"] == [] and len(x["members"]) == 3 for x in f.values())


def test_member_ids_stay_exact_and_hex_like_etcdctl():
    f = figs("fragmented_ha")
    # 8991050588031615366 > 2**53: a double would change it; etcdctl prints %x
    assert f[LEADER]["id"] == 8991050588031615366 and _defrag.hex_id(f[LEADER]["id"]) == "7cc6a0df89310186"
    assert "id" not in _defrag.public(f[LEADER]) and _defrag.public(f[F1])["leader_id"] == IDS[LEADER]


def test_stopped_member_figures_carry_the_error():
    f = figs("stopped_member_ha")
    assert f[F2]["error"].startswith("endpoint status rc 1: Failed to get the status of endpoint https://etcd-events-local:2379")
    assert "context deadline exceeded" in f[F2]["error"]
    assert not f[LEADER]["error"] and not f[F1]["error"]


# ---------------------------------------------------------------- selection rule


def test_default_rule_selects_nothing_small():
    """OpenShift's defaults (>= 45 % and >= 100 MiB free): ~20 MiB free is not worth it."""
    f = figs("fragmented_ha")
    p = _defrag.plan(f, PODS, DEFAULTS)
    assert p["steps"] == [] and not p["skipped"]
    assert [o["pod"] for o in p["left_out"]] == PODS
    assert "below fragmentation >= 0.45 and free >= 100.0 MiB" in p["left_out"][0]["reason"]


def test_rule_is_and_of_both_thresholds():
    fig = figs("fragmented_ha")[F1]  # fragmentation 0.999, free 19.1 MiB
    assert _defrag.selected(fig, 0.45, 19 * 1024 * 1024)[0] is True
    assert _defrag.selected(fig, 0.45, 20 * 1024 * 1024)[0] is False    # free too small
    assert _defrag.selected(fig, 0.9995, 1024)[0] is False              # fragmentation too small
    defragmented = figs("defragmented_ha")[F1]                         # 20 KiB file, 16 KiB in use
    assert _defrag.selected(defragmented, 0.45, 0)[0] is False
    assert _defrag.selected(defragmented, 0.45, 0, force=True) == (True, _defrag.selected(defragmented, 0, 0, True)[1])
    assert _defrag.selected(defragmented, 0.45, 0, force=True)[1].startswith("force: every member")


def test_force_selects_every_member_of_a_defragmented_cluster():
    """defragmented_ha is the state the real run left: leadership moved to etcd-events-1."""
    p = _defrag.plan(figs("defragmented_ha"), PODS, dict(DEFAULTS, force=True))
    assert [(s["pod"], s["action"]) for s in p["steps"]] == [(LEADER, "defragment"), (F2, "defragment"),
                                                             (F1, "move-leader"), (F1, "defragment")]


# ---------------------------------------------------------------- order


def test_followers_first_then_move_leader_then_former_leader():
    f = figs("fragmented_ha")
    p = _defrag.plan(f, PODS, SMALL)
    steps = p["steps"]
    assert [(s["pod"], s["role"], s["action"]) for s in steps] == [
        (F1, "follower", "defragment"), (F2, "follower", "defragment"),
        (LEADER, "leader", "move-leader"), (LEADER, "leader", "defragment")]
    move = steps[2]
    assert move["target"] in (F1, F2) and move["target_member_id"] == IDS[move["target"]]
    assert all(s["member_id"] == IDS[s["pod"]] for s in steps)
    assert all(set(s) >= {"pod", "member_id", "role", "action", "reason"} for s in steps)
    assert "former leader" in steps[3]["reason"]
    assert p["leader"] == LEADER


def test_move_target_prefers_a_defragmented_follower():
    """Only F2 is selected: leadership goes to F2 (defragmented just before), not to F1."""
    def shrink(r):  # F1 as the recorded defragmented member reads
        r["status"] = status_from("defragmented_ha", F1)
    f = figs("fragmented_ha", **{F1: shrink})
    steps = _defrag.plan(f, PODS, SMALL)["steps"]
    assert [(s["pod"], s["action"]) for s in steps] == [(F2, "defragment"), (LEADER, "move-leader"), (LEADER, "defragment")]
    assert steps[1]["target"] == F2


def test_move_target_without_defragmented_followers_is_the_most_caught_up():
    def lag(r):
        data = json.loads(r["status"]["stdout"])
        data[0]["Status"]["raftAppliedIndex"] -= 5
        r["status"]["stdout"] = json.dumps(data)

    data = recs("fragmented_ha")
    for pod in (F1, F2):
        data[pod]["status"] = status_from("defragmented_ha", pod)
    lag(data[F1])
    f = {pod: _defrag.figures(pod, r) for pod, r in data.items()}
    steps = _defrag.plan(f, PODS, SMALL)["steps"]
    assert [(s["pod"], s["action"]) for s in steps] == [(LEADER, "move-leader"), (LEADER, "defragment")]
    assert steps[0]["target"] == F2  # F1 lags by 5 applied entries


def test_move_leader_false_keeps_leader_last():
    steps = _defrag.plan(figs("fragmented_ha"), PODS, dict(SMALL, move_leader=False))["steps"]
    assert [(s["pod"], s["action"]) for s in steps][-1] == (LEADER, "defragment")
    assert "move-leader" not in [s["action"] for s in steps]
    assert "leadership not moved (move_leader: false)" in steps[-1]["reason"]


def test_only_followers_selected_means_no_move():
    def shrink(r):
        r["status"] = status_from("defragmented_ha", LEADER)
    steps = _defrag.plan(figs("fragmented_ha", **{LEADER: shrink}), PODS, SMALL)["steps"]
    assert [(s["pod"], s["action"]) for s in steps] == [(F1, "defragment"), (F2, "defragment")]


def test_summary_is_one_line():
    steps = _defrag.plan(figs("fragmented_ha"), PODS, SMALL)["steps"]
    line = _defrag.summary("etcd-events", "ns", steps, True)
    assert "\n" not in line and line.startswith("check mode: would defragment etcd-events-1 (follower)")
    assert "move leadership etcd-events-0 -> " in line


# ---------------------------------------------------------------- single member


def test_single_member_skipped_without_the_flag():
    f = figs("single_member")
    p = _defrag.plan(f, ["etcd-events-0"], dict(DEFAULTS, force=True))
    assert p["skipped"] and p["steps"] == []
    assert "only member" in p["skip_reason"] and "allow_single_member: true" in p["skip_reason"]


def test_single_member_with_the_flag_defragments_without_move():
    p = _defrag.plan(figs("single_member"), ["etcd-events-0"], dict(DEFAULTS, force=True, allow_single_member=True))
    assert not p["skipped"]
    assert [(s["pod"], s["role"], s["action"]) for s in p["steps"]] == [("etcd-events-0", "leader", "defragment")]
    assert "the only member" in p["steps"][0]["reason"]


def test_single_member_not_selected_is_not_skipped():
    p = _defrag.plan(figs("single_member"), ["etcd-events-0"], DEFAULTS)
    assert not p["skipped"] and p["steps"] == []


# ---------------------------------------------------------------- gate


def test_gate_passes_on_a_healthy_cluster():
    assert _defrag.gate(figs("fragmented_ha"), PODS) is None
    assert _defrag.gate(figs("single_member"), ["etcd-events-0"]) is None


def test_gate_names_the_stopped_member():
    why = _defrag.gate(figs("stopped_member_ha"), PODS)
    assert why.startswith(f"member {F2} did not answer: endpoint status rc 1: Failed to get the status")
    assert "\n" not in why


def test_gate_learner_blocks():
    def learner(r):
        data = json.loads(r["members"]["stdout"])
        next(m for m in data["members"] if m["name"].endswith(F2))["isLearner"] = True
        r["members"]["stdout"] = json.dumps(data)
    why = _defrag.gate(figs("fragmented_ha", **{p: learner for p in PODS}), PODS)
    assert why.startswith(f"member {F2} ({IDS[F2]}) is a learner")


def test_gate_corrupt_alarm_blocks_and_nospace_does_not():
    def alarm(kind):
        def change(r):
            head = json.loads(r["alarms"]["stdout"])
            head["alarms"] = [{"memberID": 4596162808555112296, "alarm": kind}]  # alarm list -w json shape
            r["alarms"]["stdout"] = json.dumps(head)
        return change
    assert _defrag.gate(figs("fragmented_ha", **{p: alarm(1) for p in PODS}), PODS) is None
    why = _defrag.gate(figs("fragmented_ha", **{p: alarm(2) for p in PODS}), PODS)
    assert why == f"member {F2} has a CORRUPT alarm: restore or replace it, do not defragment"


def test_gate_split_leader_and_no_leader():
    def other_leader(r):
        data = json.loads(r["status"]["stdout"])
        data[0]["Status"]["leader"] = 3402742740723212720
        r["status"]["stdout"] = json.dumps(data)

    def no_leader(r):
        data = json.loads(r["status"]["stdout"])
        data[0]["Status"]["leader"] = 0
        r["status"]["stdout"] = json.dumps(data)
    why = _defrag.gate(figs("fragmented_ha", **{F2: other_leader}), PODS)
    assert why.startswith("members disagree on the leader (") and f"{F2} says {F1}" in why
    assert _defrag.gate(figs("fragmented_ha", **{p: no_leader for p in PODS}), PODS) == "no member reports a leader"


def test_gate_member_without_pod():
    why = _defrag.gate({p: f for p, f in figs("fragmented_ha").items() if p != F2}, [LEADER, F1])
    assert why == f"member testbed-1-etcd-events-2 ({IDS[F2]}) of the member list has no pod among {LEADER}, {F1}"


def test_health_nospace_alarm_tolerated_other_errors_not():
    assert _member.health_ok({"health": True}) == (True, "")
    assert _member.health_ok({"health": False, "error": "Active Alarm(s): NOSPACE "}) == (True, "")
    assert _member.health_ok({"health": False, "error": "Active Alarm(s): CORRUPT "}) == (False, "Active Alarm(s): CORRUPT")
    stopped = json.loads(recs("stopped_member_ha")[F2]["health"]["stdout"])[0]
    assert _member.health_ok(stopped) == (False, "context deadline exceeded")


# ---------------------------------------------------------------- gate after a member


def test_caught_up_after_defragmentation():
    now = figs("defragmented_ha")
    leader_applied = max(f["applied"] for f in now.values())
    assert _defrag.caught_up(now[F1], now[F1]["applied"], now) is None
    why = _defrag.caught_up(now[F1], now[F1]["applied"] + 3, now)
    assert why == f"{F1} applied index {now[F1]['applied']} behind the leader's {now[F1]['applied'] + 3}"
    assert leader_applied >= now[F1]["applied"]


def test_caught_up_fails_on_unhealthy_or_split():
    stopped = figs("stopped_member_ha")
    assert _defrag.caught_up(stopped[F2], None, stopped).startswith(f"{F2} does not answer: endpoint status rc 1")
    assert _defrag.caught_up(stopped[F1], None, stopped) == f"{F2} did not answer endpoint status"


# ---------------------------------------------------------------- timeout sizing


@pytest.mark.parametrize("sizes, override, expected", [
    ([20480, 22618112], None, 900),                 # small: druid's 15 min floor
    ([8 * 1024 ** 3], None, 960),                   # a full default quota: 8 GiB x 120 s
    ([int(7.5 * 1024 ** 3)], None, 900),
    ([12 * 1024 ** 3, 1024], None, 1440),           # the largest member counts
    ([8 * 1024 ** 3], 60, 60),                      # the option wins
    ([None], None, 900),
])
def test_command_timeout_sizing(sizes, override, expected):
    assert _defrag.command_timeout(sizes, override) == expected


def test_plan_carries_the_timeout():
    assert _defrag.plan(figs("fragmented_ha"), PODS, SMALL)["command_timeout"] == 900
    assert _defrag.plan(figs("fragmented_ha"), PODS, dict(SMALL, command_timeout=1800))["command_timeout"] == 1800


# ---------------------------------------------------------------- NOSPACE recovery plan


def test_compact_and_disarm_take_every_member_in_order():
    p = _defrag.plan(figs("defragmented_ha"), PODS, dict(DEFAULTS, compact=True, disarm=True))
    assert [(s["pod"], s["action"]) for s in p["steps"]] == [
        (F1, "compact"), (LEADER, "defragment"), (F2, "defragment"), (F1, "move-leader"),
        (F1, "defragment"), (F1, "disarm")]
    assert "drops the history kube-apiserver keeps for watches" in p["steps"][0]["reason"]
    assert p["steps"][1]["reason"].startswith("NOSPACE recovery (compact/disarm): every member")


def test_disarm_alone_defragments_every_member_then_disarms():
    p = _defrag.plan(figs("defragmented_ha"), PODS, dict(DEFAULTS, disarm=True))
    assert [s["action"] for s in p["steps"]] == ["defragment", "defragment", "move-leader", "defragment", "disarm"]


def test_quota_margin_check():
    f = figs("fragmented_ha")  # ~21 MiB databases
    quotas = {p: 24 * 1024 * 1024 for p in PODS}
    problems = _defrag.quota_problems(f, quotas, 0.80)
    assert [x.split()[0] for x in problems] == [LEADER, F2]   # 21.6 and 21.1 MiB >= 19.2 MiB; F1 19.1 MiB is not
    assert problems[0] == f"{LEADER} 21.6 MiB is 90% of the quota 24.0 MiB"
    assert _defrag.quota_problems(f, {}, 0.80) == []          # druid's default 8 GiB


# ---------------------------------------------------------------- the run loop on a scripted cluster

DEFRAG_OK = {"rc": 0, "stdout": "Finished defragmenting etcd member[https://etcd-events-local:2379]\n", "stderr": ""}
MOVE_OK = {"rc": 0, "stdout": "Leadership transferred from 7cc6a0df89310186 to 2f38f87e82d8a1b0\n", "stderr": ""}


class ScriptedMember:
    def __init__(self, cluster, pod):
        self.cluster, self.pod, self.spec = cluster, pod, {}

    def etcdctl(self, args, timeout, output="json", endpoints=None):
        self.cluster.calls.append((self.pod, tuple(args), timeout))
        if args[0] == "defrag":
            if self.pod in self.cluster.fail_defrag:
                raise OpsError(f"exec of etcdctl in ns/{self.pod}/etcd-debug timed out after {timeout + 5}s")
            self.cluster.defragged.add(self.pod)
            return dict(DEFRAG_OK)
        if args[0] == "move-leader":
            self.cluster.leader = args[1]
            return dict(MOVE_OK)
        raise AssertionError(args)


class ScriptedCluster(_defrag.Cluster):
    """Members answer with the recorded figures: fragmented before, defragmented after each member's
    defrag; move-leader changes the leader every member reports."""

    def __init__(self, fail_defrag=()):  # pylint: disable=super-init-not-called
        self.calls, self.fail_defrag, self.defragged, self.leader = [], set(fail_defrag), set(), IDS[LEADER]
        self.members = {p: ScriptedMember(self, p) for p in PODS}

    def read(self, pod, what=("status", "health", "members", "alarms")):
        data = copy.deepcopy(recs("fragmented_ha")[pod])
        leader = next(p for p, i in IDS.items() if i == self.leader)
        # every member caught up (the recordings were taken one after another: their indexes differ)
        data["status"] = status_from("defragmented_ha" if pod in self.defragged else "fragmented_ha", pod, leader, 200)
        return _defrag.figures(pod, {k: v for k, v in data.items() if k in what})


def run(cluster, params, check_mode=False):
    return _defrag._run(cluster, dict(dict(SMALL, gate_timeout=2), **params), "ns", "etcd-events", PODS, check_mode, 0.0)  # pylint: disable=protected-access


def test_run_order_and_moves_leader_before_its_turn(monkeypatch):
    monkeypatch.setattr(_defrag, "POLL_INTERVAL", 0)
    cluster = ScriptedCluster()
    result = run(cluster, {"allow_write": True})
    writes = [(pod, args[0]) for pod, args, _timeout in cluster.calls]
    assert writes == [(F1, "defrag"), (F2, "defrag"), (LEADER, "move-leader"), (LEADER, "defrag")]
    move = next(args for pod, args, _timeout in cluster.calls if args[0] == "move-leader")
    assert move == ("move-leader", IDS[F1])
    assert all(t == 900 for pod, args, t in cluster.calls if args[0] == "defrag")
    assert result["changed"] and result["not_done"] == [] and len(result["done"]) == 4
    assert result["leader"] == LEADER and result["leader_after"] == F1
    assert all(d["db_size_after"] < d["db_size_before"] for d in result["done"] if d["action"] == "defragment")
    assert "\n" not in result["msg"] and result["msg"].endswith(")") and ": done (" in result["msg"]


def test_run_stops_at_first_failure_with_done_and_not_done(monkeypatch):
    monkeypatch.setattr(_defrag, "POLL_INTERVAL", 0)
    cluster = ScriptedCluster(fail_defrag={F2})
    with pytest.raises(OpsError) as err:
        run(cluster, {"allow_write": True})
    exc = err.value
    assert exc.msg.startswith(f"defragment of {F2} in ns/etcd-events failed: exec of etcdctl in ns/{F2}/etcd-debug timed out")
    assert exc.msg.endswith("1 of 4 step(s) done, stopped") and "\n" not in exc.msg
    assert [(d["pod"], d["action"]) for d in exc.details["done"]] == [(F1, "defragment")]
    assert [(d["pod"], d["action"]) for d in exc.details["not_done"]] == [
        (F2, "defragment"), (LEADER, "move-leader"), (LEADER, "defragment")]
    assert exc.details["changed"] is True
    assert not any(args[0] == "move-leader" for _pod, args, _timeout in cluster.calls)  # nothing after the failure


def test_run_check_mode_writes_nothing():
    cluster = ScriptedCluster()
    result = run(cluster, {}, check_mode=True)
    assert cluster.calls == []
    assert result["changed"] is True and result["done"] == [] and len(result["not_done"]) == 4
    assert result["msg"].startswith("check mode: would defragment etcd-events-1 (follower)")


def test_run_gate_failure_touches_nothing():
    class Stopped(ScriptedCluster):
        def read(self, pod, what=("status", "health", "members", "alarms")):
            return _defrag.figures(pod, {k: v for k, v in recs("stopped_member_ha")[pod].items() if k in what})
    cluster = Stopped()
    with pytest.raises(OpsError) as err:
        run(cluster, {"allow_write": True})
    assert err.value.msg.startswith(f"not defragmenting ns/etcd-events: member {F2} did not answer: endpoint status rc 1")
    assert err.value.msg.endswith("; nothing done")
    assert cluster.calls == []


def test_move_leader_not_confirmed_fails(monkeypatch):
    monkeypatch.setattr(_defrag, "POLL_INTERVAL", 0)

    class Stuck(ScriptedCluster):
        def __init__(self):
            super().__init__()
            self.members[LEADER].etcdctl = lambda args, timeout, output="json", endpoints=None: (
                self.calls.append((LEADER, tuple(args), timeout)) or (dict(MOVE_OK) if args[0] == "move-leader" else dict(DEFRAG_OK)))
    cluster = Stuck()
    with pytest.raises(OpsError) as err:
        run(cluster, dict(allow_write=True, gate_timeout=0))
    assert err.value.msg.startswith(f"move-leader of {LEADER} in ns/etcd-events failed: leadership did not move to {F1} "
                                    f"within 0s (members report {IDS[LEADER]})")
    assert [d["action"] for d in err.value.details["done"]] == ["defragment", "defragment"]
    assert [(p, a[0]) for p, a, _timeout in cluster.calls][-1] == (LEADER, "move-leader")  # the leader was not defragmented


def test_leadership_changing_on_its_own_stops_the_run(monkeypatch):
    """An election during the run makes F2 the leader before its turn: it is not defragmented as a leader."""
    monkeypatch.setattr(_defrag, "POLL_INTERVAL", 0)
    cluster = ScriptedCluster()
    first = cluster.members[F1].etcdctl

    def defrag_then_election(args, timeout, output="json", endpoints=None):
        out = first(args, timeout, output, endpoints)
        cluster.leader = IDS[F2]
        return out
    cluster.members[F1].etcdctl = defrag_then_election
    with pytest.raises(OpsError) as err:
        run(cluster, {"allow_write": True})
    assert err.value.msg == (f"defragment of {F2} in ns/etcd-events failed: {F2} leads now (leadership changed during the "
                             "run); a leader is not defragmented before leadership is moved: re-run to plan again; "
                             "1 of 4 step(s) done, stopped")
    assert [(p, a[0]) for p, a, _timeout in cluster.calls] == [(F1, "defrag")]


def test_move_leader_only_from_the_member_that_leads(monkeypatch):
    monkeypatch.setattr(_defrag, "POLL_INTERVAL", 0)
    cluster = ScriptedCluster()
    second = cluster.members[F2].etcdctl

    def defrag_then_election(args, timeout, output="json", endpoints=None):
        out = second(args, timeout, output, endpoints)
        cluster.leader = IDS[F1]
        return out
    cluster.members[F2].etcdctl = defrag_then_election
    with pytest.raises(OpsError) as err:
        run(cluster, {"allow_write": True})
    assert err.value.msg == (f"move-leader of {LEADER} in ns/etcd-events failed: {LEADER} no longer leads (leader now "
                             f"{IDS[F1]}): leadership changed during the run; re-run to plan again; 2 of 4 step(s) done, stopped")
    assert [(p, a[0]) for p, a, _timeout in cluster.calls] == [(F1, "defrag"), (F2, "defrag")]


# ---------------------------------------------------------------- refusals before anything is read


@pytest.mark.parametrize("params, message", [
    ({}, "refusing to defragment ns/etcd-events: defragmentation, move-leader, compaction and alarm disarm write to etcd; "
         "set allow_write: true (or run in check mode for the plan)"),
    ({"pods": []}, "pods must name the etcd's member pods (the pods of etcd_cluster_info's etcds)"),
    ({"pods": ["etcd-main-0"]}, "pod etcd-main-0 is not a member pod of etcd etcd-events (<etcd>-<ordinal>)"),
    ({"pods": ["etcd-events-0", "etcd-events-0"]}, "pods lists a pod twice: etcd-events-0, etcd-events-0"),
    ({"min_fragmentation": 1.5, "allow_write": True}, "min_fragmentation must be between 0 and 1, got 1.5"),
    ({"quota_margin": -0.1, "allow_write": True}, "quota_margin must be between 0 and 1, got -0.1"),
    ({"gate_timeout": -1, "allow_write": True}, "gate_timeout must not be negative, got -1"),
    ({"pods": [{"namespace": "ns"}]}, "every entry of pods must be a pod name or a pod dict with a name "
                                      "(as etcd_cluster_info returns), got {'namespace': 'ns'}"),
    ({"pods": [1]}, "every entry of pods must be a pod name or a pod dict with a name (as etcd_cluster_info returns), got 1"),
])
def test_refusals_before_any_call(params, message):
    base = dict(DEFAULTS, namespace="ns", etcd="etcd-events", pods=PODS, container="etcd-debug", tls="auto", allow_write=False)
    with pytest.raises(UsageError) as err:
        _defrag.execute(None, dict(base, **params), False, "cluster 'x'")  # api None: nothing may be called
    assert err.value.msg == message


def test_pod_dicts_from_cluster_info_are_accepted():
    base = dict(DEFAULTS, namespace="ns", etcd="etcd-events", container="etcd-debug", tls="auto", allow_write=False,
                pods=[{"name": p, "namespace": "ns"} for p in PODS])
    with pytest.raises(UsageError) as err:
        _defrag.execute(None, base, False, "cluster 'x'")
    assert err.value.msg.startswith("refusing to defragment")


# ---------------------------------------------------------------- a real NOSPACE alarm (faults.nospace, 2 MiB quota)


def test_real_nospace_alarm_passes_the_gate():
    """etcdctl 3.5 reports health false ("Active Alarm(s): NOSPACE ", rc 1) on every member: the alarm
    defragmentation cures does not block it."""
    f = figs("nospace_ha")
    assert all(json.loads(recs("nospace_ha")[p]["health"]["stdout"])[0]["health"] is False for p in PODS)
    assert all(f[p]["healthy"] and f[p]["alarms"] == [{"member_id": IDS[LEADER], "id": 8991050588031615366, "alarm": "NOSPACE"}]
               for p in PODS)
    assert _defrag.gate(f, PODS) is None


def test_real_nospace_recovery_plan():
    p = _defrag.plan(figs("nospace_ha"), PODS, dict(DEFAULTS, compact=True, disarm=True))
    # the recorded cluster's leader is etcd-events-1 (the fault recreated the members)
    assert [(s["pod"], s["role"], s["action"]) for s in p["steps"]] == [
        (F1, "leader", "compact"), (LEADER, "follower", "defragment"), (F2, "follower", "defragment"),
        (F1, "leader", "move-leader"), (F1, "leader", "defragment"), (F1, "leader", "disarm")]


class NospaceMember:
    """compaction / defrag / move-leader / alarm disarm as etcdctl 3.5 answered them on the fleet."""

    def __init__(self, cluster, pod, quota):
        self.cluster, self.pod = cluster, pod
        self.spec = {"containers": [{"name": "backup-restore", "args": [f"--embedded-etcd-quota-bytes={quota}"]}]}

    def etcdctl(self, args, timeout, output="json", endpoints=None):
        self.cluster.calls.append((self.pod, tuple(args)))
        if args[0] == "compaction":
            # nothing written since the fault's own compaction: etcd says so, not a failure
            return {"rc": 1, "stdout": "", "stderr": "Error: etcdserver: mvcc: required revision has been compacted\n"}
        if args[0] == "defrag":
            return dict(DEFRAG_OK)
        if args[0] == "move-leader":
            self.cluster.leader = args[1]
            return dict(MOVE_OK)
        if args[:2] == ["alarm", "disarm"]:
            self.cluster.disarmed = True
            return {"rc": 0, "stdout": "memberID:8991050588031615366 alarm:NOSPACE \n", "stderr": ""}
        raise AssertionError(args)


class NospaceCluster(_defrag.Cluster):
    def __init__(self, quota):  # pylint: disable=super-init-not-called
        self.calls, self.leader, self.disarmed = [], IDS[F1], False
        self.members = {p: NospaceMember(self, p, quota) for p in PODS}

    def read(self, pod, what=("status", "health", "members", "alarms")):
        data = copy.deepcopy(recs("nospace_ha")[pod])
        leader = next(p for p, i in IDS.items() if i == self.leader)
        data["status"] = status_from("nospace_ha", pod, leader, 100)
        if self.disarmed:
            data["alarms"] = copy.deepcopy(recs("defragmented_ha")[pod]["alarms"])  # recorded without alarms
        return _defrag.figures(pod, {k: v for k, v in data.items() if k in what})


def test_nospace_recovery_run_disarms_and_verifies(monkeypatch):
    monkeypatch.setattr(_defrag, "POLL_INTERVAL", 0)
    cluster = NospaceCluster(quota=8 * 1024 ** 3)
    result = _defrag._run(cluster, dict(DEFAULTS, compact=True, disarm=True, gate_timeout=2),  # pylint: disable=protected-access
                          "ns", "etcd-events", PODS, False, 0.0)
    assert [(p, a[0]) for p, a in cluster.calls] == [
        (F1, "compaction"), (LEADER, "defrag"), (F2, "defrag"), (F1, "move-leader"), (F1, "defrag"), (F1, "alarm")]
    assert cluster.calls[0][1] == ("compaction", "--physical", "3")   # the current revision of the recording
    assert result["done"][-1]["action"] == "disarm" and result["changed"] is True


def test_nospace_recovery_fails_when_the_db_stays_near_the_quota(monkeypatch):
    """The fault's 2 MiB quota and its 1.6 MiB database: 76 % >= a 0.5 margin -> delete keys or raise the quota."""
    monkeypatch.setattr(_defrag, "POLL_INTERVAL", 0)
    cluster = NospaceCluster(quota=2 * 1024 * 1024)
    with pytest.raises(OpsError) as err:
        _defrag._run(cluster, dict(DEFAULTS, compact=True, disarm=True, gate_timeout=2, quota_margin=0.5),  # pylint: disable=protected-access
                     "ns", "etcd-events", PODS, False, 0.0)
    assert err.value.msg == (
        f"disarm of {F1} in ns/etcd-events failed: alarm disarmed, but {LEADER} 1.5 MiB is 76% of the quota 2.0 MiB "
        "(quota_margin 0.5): delete keys or raise the quota, or NOSPACE comes back; 5 of 6 step(s) done, stopped")
    assert [d["action"] for d in err.value.details["not_done"]] == ["disarm"]


def test_alarm_left_after_disarm_fails(monkeypatch):
    monkeypatch.setattr(_defrag, "POLL_INTERVAL", 0)
    cluster = NospaceCluster(quota=8 * 1024 ** 3)
    cluster.members[F1].etcdctl = lambda args, timeout, output="json", endpoints=None: (
        {"rc": 0, "stdout": "", "stderr": ""} if args[:2] == ["alarm", "disarm"] else NospaceMember.etcdctl(cluster.members[F1], args, timeout))
    with pytest.raises(OpsError) as err:
        _defrag._run(cluster, dict(DEFAULTS, disarm=True, gate_timeout=2), "ns", "etcd-events", PODS, False, 0.0)  # pylint: disable=protected-access
    assert err.value.msg.startswith(f"disarm of {F1} in ns/etcd-events failed: alarms remain after alarm disarm: NOSPACE on {IDS[LEADER]};")
