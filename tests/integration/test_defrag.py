"""etcd_defrag and playbooks/defrag.yml against the local fleet: a real 3-member etcd with TLS and a
member name prefix (testbed-1 shoot--prod--alpha-ha/etcd-events) fragmented by the testbed's fault
(keys written, deleted, compacted), a single-member etcd (shoot--prod--alpha/etcd-events), a stopped
member, a real NOSPACE alarm (compact, defragment, disarm, verify). What the module did is checked
independently with the host's etcdctl over the pod network. Every fault is healed in the test."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
import yaml
from conftest import REPO, run_module
from kubernetes import client
from testbed import faults, kube, workloads
from testbed import fleet as fleet_mod

CONTEXT, INDEX = "testbed-1", 1
NS = "shoot--prod--alpha-ha"          # HA, member name prefix testbed-1-
SINGLE = "shoot--prod--alpha"         # non-HA
ETCD = "etcd-events"
PODS = [f"{ETCD}-{i}" for i in range(3)]
SMALL_RULE = {"min_free_bytes": 1024 * 1024}  # the fault leaves ~20 MiB free per member; the default asks 100 MiB
FRAGMENT_MIB = 8


@pytest.fixture(scope="module", autouse=True)
def fresh_members_afterwards(state):
    """The tests here move the leadership of this etcd many times; each member counts every change
    since it started, and etcd_health reports LEADER_CHANGES "since start" while their average over
    the uptime stays above etcd-mixin's 4 per 15 min. Fresh members at the end, so later sweeps of
    the fleet (test_sweep's healthy fleet) find this etcd quiet."""
    yield
    faults._recreate(state, INDEX, ETCD, workloads.DEFAULT_QUOTA, NS)  # pylint: disable=protected-access


@pytest.fixture(scope="module")
def auth(fleet) -> dict:
    return {"kubeconfig": str(fleet["kubeconfig"]), "context": CONTEXT}


@pytest.fixture(scope="module")
def attached(fleet, fleet_debug_image, auth):
    pods = [f"{NS}/{p}" for p in PODS] + [f"{SINGLE}/{ETCD}-0"]
    result = run_module("etcd_ephemeral_container", dict(auth, pods=pods, image=fleet_debug_image, profile="restricted"))
    assert not result.failed, result
    return result


@pytest.fixture(scope="module")
def fragmented(attached, state):
    faults.fragment(state, INDEX, ETCD, FRAGMENT_MIB, NS)
    return cluster_status(state)


def cluster_status(state, namespace: str = NS) -> dict:
    """{pod: {'db_size', 'in_use', 'leader_pod', 'id'}} from the host's etcdctl (3.4) against every member
    by pod IP - not through the module under test."""
    api = kube.api_client(fleet_mod.kubeconfig_path(state), CONTEXT)
    ips = {p.status.pod_ip: p.metadata.name for p in client.CoreV1Api(api).list_namespaced_pod(namespace).items
           if p.metadata.name.startswith(ETCD + "-")}
    proc = faults.etcdctl(state, INDEX, ETCD, "endpoint", "status", "-w", "json", all_members=True, namespace=namespace)
    assert proc.returncode == 0, proc.stderr
    entries = json.loads(proc.stdout)
    by_id = {e["Status"]["header"]["member_id"]: ips[e["Endpoint"].split("//")[1].rsplit(":", 1)[0]] for e in entries}
    out = {}
    for e in entries:
        st = e["Status"]
        pod = by_id[st["header"]["member_id"]]
        out[pod] = {"db_size": st["dbSize"], "in_use": st["dbSizeInUse"], "leader_pod": by_id.get(st["leader"]),
                    "id": format(st["header"]["member_id"], "x")}
    return out


def defrag(auth, check=False, namespace=NS, pods=None, **extra):
    return run_module("etcd_defrag", dict(auth, namespace=namespace, etcd=ETCD, pods=pods or PODS, **extra), check=check)


def heal_stopped(state, member: int) -> None:
    """Heal this test's stopped member only (faults.heal(state, 1) would also heal faults other tests
    hold on cluster 1 at the same time)."""
    fault = {"kind": "stop-member", "cluster": INDEX, "namespace": NS, "etcd": ETCD, "member": member}
    cluster = fleet_mod.Cluster(INDEX, state)
    faults._hold_file(state, cluster, NS, f"{ETCD}-{member}", "etcd").unlink(missing_ok=True)  # pylint: disable=protected-access
    kube.wait_pods_running(faults._api(state, cluster), NS, [f"{ETCD}-{member}"], timeout=60)  # pylint: disable=protected-access
    path = state / "fleet" / "faults.json"
    path.write_text(json.dumps([f for f in faults.active(state) if f != fault], indent=1))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # back in the cluster: every member answers again
        if faults.etcdctl(state, INDEX, ETCD, "endpoint", "health", all_members=True, namespace=NS).returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"{NS}/{ETCD}-{member} did not come back healthy")


# ---------------------------------------------------------------- plan, refusal


def test_check_mode_plans_and_changes_nothing(fragmented, auth, state):
    before = fragmented
    leader = next(iter({s["leader_pod"] for s in before.values()}))
    followers = sorted(p for p in PODS if p != leader)
    result = defrag(auth, check=True, **SMALL_RULE)
    assert not result.failed and result["changed"] is True, result
    steps = [(s["pod"], s["role"], s["action"]) for s in result["plan"]]
    assert steps == [(followers[0], "follower", "defragment"), (followers[1], "follower", "defragment"),
                     (leader, "leader", "move-leader"), (leader, "leader", "defragment")]
    assert all(s["member_id"] == before[s["pod"]]["id"] for s in result["plan"])   # hex as etcdctl prints it
    move = result["plan"][2]
    assert move["target"] in followers and move["target_member_id"] == before[move["target"]]["id"]
    assert result["done"] == [] and len(result["not_done"]) == 4
    assert result["msg"].startswith(f"check mode: would defragment {followers[0]} (follower)") and "\n" not in result["msg"]
    assert result["command_timeout"] == 900
    after = cluster_status(state)
    assert {p: after[p]["leader_pod"] for p in PODS} == {p: leader for p in PODS}
    assert all(after[p]["db_size"] >= before[p]["db_size"] for p in PODS), (before, after)


def test_default_rule_selects_nothing_on_small_databases(fragmented, auth):
    result = defrag(auth, check=True)
    assert not result.failed and result["changed"] is False and result["plan"] == []
    assert result["msg"].startswith(f"nothing to defragment in {NS}/{ETCD}: ")
    assert [o["pod"] for o in result["left_out"]] == PODS
    assert all("below fragmentation >= 0.45 and free >= 100.0 MiB" in o["reason"] for o in result["left_out"])


def test_no_allow_write_one_line_refusal_nothing_changed(fragmented, auth, state):
    before = cluster_status(state)
    result = defrag(auth, **SMALL_RULE)
    assert result.failed
    assert result["msg"] == (f"refusing to defragment {NS}/{ETCD}: defragmentation, move-leader, compaction and alarm "
                             "disarm write to etcd; set allow_write: true (or run in check mode for the plan)")
    after = cluster_status(state)
    assert {p: after[p]["leader_pod"] for p in PODS} == {p: before[p]["leader_pod"] for p in PODS}
    assert all(after[p]["db_size"] >= before[p]["db_size"] for p in PODS)


# ---------------------------------------------------------------- the real run


def test_defragment_followers_first_leader_moved_then_last(fragmented, auth, state):
    before = cluster_status(state)
    leader = next(iter({s["leader_pod"] for s in before.values()}))
    assert all(before[p]["db_size"] >= FRAGMENT_MIB * 1024 * 1024 for p in PODS), before
    started = time.monotonic()
    result = defrag(auth, allow_write=True, **SMALL_RULE)
    took = time.monotonic() - started
    assert not result.failed, result
    done = [(d["pod"], d["action"]) for d in result["done"]]
    followers = sorted(p for p in PODS if p != leader)
    assert done == [(followers[0], "defragment"), (followers[1], "defragment"), (leader, "move-leader"), (leader, "defragment")]
    move = result["done"][2]
    assert move["output"].startswith(f"Leadership transferred from {before[leader]['id']} to {move['target_member_id']}")
    after = cluster_status(state)
    # leadership moved before the leader's turn, and stayed with the target
    assert {after[p]["leader_pod"] for p in PODS} == {move["target"]} and result["leader_after"] == move["target"]
    for p in PODS:   # the database shrank on every member (~20 MiB -> tens of KiB)
        assert after[p]["db_size"] < before[p]["db_size"] / 4, (p, before[p], after[p])
    for d in result["done"]:
        if d["action"] == "defragment":
            assert d["output"] == "Finished defragmenting etcd member[https://etcd-events-local:2379]"
            assert d["db_size_after"] < d["db_size_before"] / 4
    health = faults.etcdctl(state, INDEX, ETCD, "endpoint", "health", "-w", "json", all_members=True, namespace=NS)
    assert health.returncode == 0 and all(h["health"] for h in json.loads(health.stdout))
    assert result["not_done"] == [] and result["changed"] is True
    print(f"defragmented 3 members in {took:.1f}s (module {result['duration_s']}s)")


def test_second_run_finds_nothing(fragmented, auth):
    result = defrag(auth, allow_write=True, **SMALL_RULE)
    assert not result.failed and result["changed"] is False and result["done"] == []


# ---------------------------------------------------------------- gates and refusals on the fleet


def test_stopped_member_stops_the_gate_nothing_touched(attached, auth, state):
    faults.fragment(state, INDEX, ETCD, 2, NS)
    before = cluster_status(state)
    try:
        faults.stop_member(state, INDEX, ETCD, 2, NS)
        time.sleep(2)
        started = time.monotonic()
        result = defrag(auth, allow_write=True, force=True)
        assert result.failed
        assert result["msg"].startswith(f"not defragmenting {NS}/{ETCD}: member {ETCD}-2 did not answer: endpoint status rc 1: "
                                        "Failed to get the status of endpoint https://etcd-events-local:2379"), result["msg"]
        assert result["msg"].endswith("; nothing done") and "\n" not in result["msg"]
        assert result["done"] == [] and result.get("plan") == []
        assert time.monotonic() - started < 60
        for pod in PODS[:2]:   # the answering members were not defragmented: still holding the free pages
            st = next(m for m in result["members"] if m["pod"] == pod)
            assert st["db_size"] == before[pod]["db_size"] and st["free"] > 1024 * 1024
    finally:
        heal_stopped(state, 2)
    # healed: the members the gate protected are still fragmented (nothing ran), then clean up
    after = defrag(auth, allow_write=True, **SMALL_RULE)
    assert not after.failed and after["changed"] is True, after


def test_single_member_refused_without_the_flag(attached, auth, state):
    args = dict(namespace=SINGLE, pods=[f"{ETCD}-0"], force=True, allow_write=True)
    result = defrag(auth, **args)
    assert not result.failed and result["changed"] is False and result["skipped"] is True
    assert result["skip_reason"] == (f"{ETCD}-0 is the only member: defragmenting it blocks every request of this control "
                                     "plane for the duration; set allow_single_member: true to do it anyway")
    assert result["done"] == [] and result["plan"] == []
    allowed = defrag(auth, allow_single_member=True, **args)
    assert not allowed.failed and allowed["changed"] is True
    assert [(d["pod"], d["role"], d["action"]) for d in allowed["done"]] == [(f"{ETCD}-0", "leader", "defragment")]


def test_pod_of_another_etcd_refused(attached, auth):
    result = defrag(auth, pods=["etcd-main-0", "etcd-main-1"], allow_write=True)
    assert result.failed and result["msg"] == "pod etcd-main-0 is not a member pod of etcd etcd-events (<etcd>-<ordinal>)"


def test_missing_debug_container_one_line(attached, auth):
    result = defrag(auth, namespace=SINGLE, pods=[f"{ETCD}-0"], container="no-such-debug", check=True)
    assert result.failed and "\n" not in result["msg"]
    assert result["msg"].startswith(f"pod {SINGLE}/{ETCD}-0 has no container 'no-such-debug'")


# ---------------------------------------------------------------- the playbook


def test_defrag_playbook(attached, fleet, fleet_debug_image, state, tmp_path):
    faults.fragment(state, INDEX, ETCD, 4, NS)
    before = cluster_status(state)
    inv = tmp_path / "fleet.kubeconfig.yml"
    inv.write_text(yaml.safe_dump({"plugin": "etcd_wrapper.ops.kubeconfig", "kubeconfigs": [str(fleet["kubeconfig"])],
                                   "include_contexts": [CONTEXT]}))
    extra = {"debug_container_image": fleet_debug_image, "etcd_discover_namespaces": [NS, SINGLE],
             "etcd_discover_etcds": [ETCD], "etcd_defrag_min_free_bytes": 1024 * 1024}
    base = ["ansible-playbook", "-i", str(inv), str(REPO / "playbooks" / "defrag.yml"), "-f", "5"]
    plan = subprocess.run(base + ["--check", "-e", json.dumps(extra)], capture_output=True, text=True, timeout=600, check=False)
    assert plan.returncode == 0 and "Traceback" not in plan.stdout + plan.stderr, plan.stdout + plan.stderr
    assert "check mode: would defragment" in plan.stdout and f"in {NS}/{ETCD}" in plan.stdout
    unchanged = cluster_status(state)
    assert all(unchanged[p]["db_size"] >= before[p]["db_size"] for p in PODS)
    proc = subprocess.run(base + ["-e", json.dumps(dict(extra, etcd_defrag_allow_write=True))],
                          capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Traceback" not in out, out
    assert f"in {NS}/{ETCD}: done (" in proc.stdout
    assert f"nothing to defragment in {SINGLE}/{ETCD}" in proc.stdout  # its tiny DB is below the rule: not skipped, not touched
    after = cluster_status(state)
    assert all(after[p]["db_size"] < before[p]["db_size"] / 4 for p in PODS), (before, after)
    refused = subprocess.run(base + ["-e", json.dumps(extra)], capture_output=True, text=True, timeout=600, check=False)
    assert refused.returncode != 0 and f"{NS}/{ETCD}: refusing to defragment {NS}/{ETCD}" in refused.stdout


# ---------------------------------------------------------------- NOSPACE recovery options on a real alarm


def heal_nospace(state) -> None:
    """Recreate the etcd with the default quota (this test's fault only, as faults.heal does it)."""
    fault = {"kind": "nospace", "cluster": INDEX, "namespace": NS, "etcd": ETCD}
    faults._recreate(state, INDEX, ETCD, workloads.DEFAULT_QUOTA, NS)  # pylint: disable=protected-access
    path = state / "fleet" / "faults.json"
    path.write_text(json.dumps([f for f in faults.active(state) if f != fault], indent=1))


def test_nospace_compact_defrag_disarm_verify(fleet, fleet_debug_image, auth, state):
    """A real NOSPACE alarm (2 MiB quota, written full): the gate lets it through, compact + defragment
    every member + disarm clear it; a quota margin the data cannot meet fails after the disarm, naming the
    member and saying keys must be deleted or the quota raised."""
    try:
        faults.nospace(state, INDEX, ETCD, NS)
        attach = run_module("etcd_ephemeral_container", dict(auth, pods=[f"{NS}/{p}" for p in PODS], image=fleet_debug_image,
                                                             profile="restricted"))
        assert not attach.failed, attach
        plan = defrag(auth, check=True, compact=True, disarm=True)
        assert not plan.failed, plan
        assert [s["action"] for s in plan["plan"]] == ["compact", "defragment", "defragment", "move-leader", "defragment", "disarm"]
        assert all(a["alarm"] == "NOSPACE" for m in plan["members"] for a in m["alarms"]) and plan["members"][0]["alarms"]
        # even an empty etcd's database (20 KiB) is above 0.5 % of the 2 MiB quota: the check must fail
        tight = defrag(auth, allow_write=True, compact=True, disarm=True, quota_margin=0.005)
        assert tight.failed
        assert tight["msg"].startswith(f"disarm of {tight['plan'][-1]['pod']} in {NS}/{ETCD} failed: alarm disarmed, but ")
        assert "of the quota 2.0 MiB (quota_margin 0.005): delete keys or raise the quota, or NOSPACE comes back; " \
               "5 of 6 step(s) done, stopped" in tight["msg"]
        alarms = faults.etcdctl(state, INDEX, ETCD, "alarm", "list", namespace=NS)
        assert alarms.returncode == 0 and "NOSPACE" not in alarms.stdout   # disarmed, as the message says
        ok = defrag(auth, allow_write=True, compact=True, disarm=True)
        assert not ok.failed and ok["changed"] is True, ok
        assert [d["action"] for d in ok["done"]][-1] == "disarm"
    finally:
        heal_nospace(state)


def answering(state):
    """A reader of {pod: {'db_size', 'leader_pod'}} for the members that answer right now, from the
    host's etcdctl (it prints the members it reached and names the others on stderr). The endpoints
    are looked up once: each read is one etcdctl process (~0.1 s), fast enough to catch the run
    between two members."""
    api = kube.api_client(fleet_mod.kubeconfig_path(state), CONTEXT)
    ips = {p.status.pod_ip: p.metadata.name for p in client.CoreV1Api(api).list_namespaced_pod(NS).items
           if p.metadata.name.startswith(ETCD + "-")}
    argv = faults.etcdctl_argv(state, INDEX, ETCD, "endpoint", "status", "-w", "json", "--command-timeout=2s",
                               all_members=True, namespace=NS)

    def read() -> dict:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False, env={**os.environ, "ETCDCTL_API": "3"})
        try:
            entries = json.loads(proc.stdout or "[]")
        except ValueError:
            return {}
        by_id = {e["Status"]["header"]["member_id"]: ips[e["Endpoint"].split("//")[1].rsplit(":", 1)[0]] for e in entries}
        return {by_id[e["Status"]["header"]["member_id"]]: {"db_size": e["Status"]["dbSize"], "leader_pod": by_id.get(e["Status"]["leader"])}
                for e in entries}
    return read


def test_member_stopped_mid_run_stops_the_run_nothing_else_touched(auth, state, fleet_debug_image):
    """The issue's fault: a member lost while the run is under way. The first follower is
    defragmented; the moment its database shrinks, the second follower is stopped. The run must
    stop there: no move of leadership, the leader and the stopped member untouched."""
    # attached again: the NOSPACE test above recreates this etcd's pods (and their debug containers go with them)
    attach = run_module("etcd_ephemeral_container", dict(auth, pods=[f"{NS}/{p}" for p in PODS], image=fleet_debug_image,
                                                         profile="restricted"))
    assert not attach.failed, attach
    faults.fragment(state, INDEX, ETCD, 16, NS)
    before = cluster_status(state)
    leader = next(iter({s["leader_pod"] for s in before.values()}))
    first, second = sorted(p for p in PODS if p != leader)  # the module takes followers in pod order
    read = answering(state)
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(defrag(auth, allow_write=True, gate_timeout=10, **SMALL_RULE)))
    runner.start()
    stopped = False
    try:
        deadline = time.monotonic() + 120
        while runner.is_alive() and time.monotonic() < deadline:
            if read().get(first, {}).get("db_size", before[first]["db_size"]) < before[first]["db_size"] / 4:
                faults.stop_member(state, INDEX, ETCD, int(second.rsplit("-", 1)[1]), NS)
                stopped = True
                break
            time.sleep(0.05)
        runner.join(timeout=600)
        assert stopped, f"the first follower's database never shrank while the run was on: {outcome}"
        result = outcome[0]
        assert result.failed, result
        assert "\n" not in result["msg"] and result["msg"].startswith(
            f"defragment of {first} in {NS}/{ETCD} failed: defragmented, but the gate after it did not pass within 10s: "), result["msg"]
        assert result["msg"].endswith("; 1 of 4 step(s) done, stopped"), result["msg"]
        assert [(d["pod"], d["action"]) for d in result["done"]] == [(first, "defragment")], result["done"]
        assert result["done"][0]["gate"] and result["done"][0]["db_size_after"] < result["done"][0]["db_size_before"] / 4
        assert [(s["pod"], s["action"]) for s in result["not_done"]] == [
            (second, "defragment"), (leader, "move-leader"), (leader, "defragment")], result["not_done"]
        now = read()
        assert second not in now and now[leader]["leader_pod"] == leader  # stopped; leadership never moved
        assert now[leader]["db_size"] == before[leader]["db_size"]  # the leader was not defragmented
    finally:
        if stopped:
            heal_stopped(state, int(second.rsplit("-", 1)[1]))
    after = defrag(auth, allow_write=True, **SMALL_RULE)  # healed: the rest is done on a second run
    assert not after.failed and [d["pod"] for d in after["done"] if d["action"] == "defragment"] == [second, leader], after
