"""etcd-mixin's rules from the members' own /metrics, through the sweep as an operator runs it
(health_sweep.yml, one exec per member reading /metrics twice, 3 s apart): a healthy HA etcd gives
no metrics finding; faults the fleet can make real give theirs - leadership moved back and forth
(LEADER_CHANGES), requests a member refuses with one of the mixin's codes (GRPC_ERRORS), and a
majority of members stopped (NO_LEADER from etcd_server_has_leader, with proposals failing). The
report groups them: one finding per etcd and code with the members it was seen on. What the fleet
cannot make (slow disks, slow peers) is covered by recorded reads in tests/unit."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import yaml

from testbed import faults, workloads

INDEX = 2
NS = "shoot--prod--bravo-ha"   # HA etcds with a member name prefix (workloads.shoots_for, seed shape)
ETCD = "etcd-events"
METRICS_CODES = {"NO_LEADER", "LEADER_CHANGES", "PROPOSALS_FAILING", "WAL_FSYNC_SLOW", "BACKEND_COMMIT_SLOW", "PEER_RTT_SLOW",
                 "GRPC_ERRORS"}


def sweep(tmp_path: Path, fleet: dict, image: str, name: str) -> dict:
    inv = tmp_path / "fleet.kubeconfig.yml"
    inv.write_text(yaml.safe_dump({"plugin": "etcd_wrapper.ops.kubeconfig", "kubeconfigs": [str(fleet["kubeconfig"])],
                                   "include_contexts": [f"testbed-{INDEX}"]}))
    dest = tmp_path / name
    extra = {"debug_container_image": image, "fleet_report_dir": str(dest), "fleet_report_fail_on": "never",
             "etcd_discover_namespaces": [NS], "etcd_discover_etcds": [ETCD]}
    proc = subprocess.run(["ansible-playbook", "-i", str(inv), "etcd_wrapper.ops.health_sweep", "-e", json.dumps(extra)],
                          capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path, env={**os.environ, "PWD": str(tmp_path)})
    assert "Traceback" not in proc.stdout + proc.stderr and proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads((dest / "health_report.json").read_text())
    (etcd,) = [e for c in report["clusters"] for e in c["etcds"] if (e["namespace"], e["etcd"]) == (NS, ETCD)]
    return {"report": report, "etcd": etcd, "prom": (dest / "health_report.prom").read_text()}


def findings(etcd: dict) -> dict[str, dict]:
    out = {}
    for f in etcd["findings"]:
        assert f["code"] not in out, f"two findings for one code: {etcd['findings']}"  # grouped per etcd and code
        out[f["code"]] = f
    return out


def wait_healthy(state, timeout: float = 120) -> None:
    argv = faults.etcdctl_argv(state, INDEX, ETCD, all_members=True, namespace=NS)
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run([*argv, "endpoint", "health", "-w", "json"], capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "ETCDCTL_API": "3"})
        try:
            if proc.returncode == 0 and all(h["health"] for h in json.loads(proc.stdout)):
                return
        except ValueError:
            pass
        assert time.monotonic() < deadline, f"{NS}/{ETCD} not healthy again: {proc.stdout} {proc.stderr}"
        time.sleep(2)


def test_healthy_etcd_gives_no_metrics_finding(fleet, fleet_debug_image, state, tmp_path):
    wait_healthy(state)
    got = sweep(tmp_path, fleet, fleet_debug_image, "healthy")
    etcd = got["etcd"]
    assert not METRICS_CODES & set(findings(etcd)), etcd["findings"]
    for m in etcd["members"]:
        metrics = m["metrics"]
        assert metrics and not metrics.get("error"), m
        assert 2.5 <= metrics["window_seconds"] <= 10, metrics  # two reads, the window apart
        assert metrics["has_leader"] is True and metrics["quota_backend_bytes"] == etcd["quota_bytes"], metrics
        assert metrics["db_total_size"] == m["db_size"] or abs(metrics["db_total_size"] - m["db_size"]) < 1024 * 1024, (metrics, m)
    assert sum(1 for m in etcd["members"] if m["metrics"]["is_leader"]) == 1


def test_leader_moved_back_and_forth(fleet, fleet_debug_image, state, tmp_path):
    wait_healthy(state)
    flap = faults.leader_flap(state, INDEX, ETCD, seconds=None, interval=0.5, namespace=NS)
    try:
        time.sleep(3)
        got = sweep(tmp_path, fleet, fleet_debug_image, "flap")
    finally:
        counts = flap.heal()
    found = findings(got["etcd"])
    assert "LEADER_CHANGES" in found, (counts, got["etcd"]["findings"])
    f = found["LEADER_CHANGES"]
    # every member counts each change: one finding, every member listed, the worst window count as value
    assert f["members"] == sorted(m["pod"] for m in got["etcd"]["members"]) and len(f["by_member"]) == 3, f
    assert f["severity"] in ("warning", "critical") and f["value"] >= 1, f
    assert 'etcd_wrapper_ops_finding{code="LEADER_CHANGES"' in got["prom"]
    # every member counted the changes since it started (LEADER_CHANGES "since start" stays until the
    # average over the uptime falls): fresh members, so later sweeps of the fleet find it quiet
    faults._recreate(state, INDEX, ETCD, workloads.DEFAULT_QUOTA, NS)  # pylint: disable=protected-access
    wait_healthy(state)


def test_requests_refused_with_a_mixin_code(fleet, fleet_debug_image, state, tmp_path):
    wait_healthy(state)
    errors = faults.grpc_errors(state, INDEX, ETCD, seconds=None, kind="auth", interval=0.05, member=0, namespace=NS)
    try:
        time.sleep(2)
        got = sweep(tmp_path, fleet, fleet_debug_image, "grpc")
    finally:
        errors.heal()
    found = findings(got["etcd"])
    assert "GRPC_ERRORS" in found, got["etcd"]["findings"]
    f = found["GRPC_ERRORS"]
    # only member 0 is asked (Auth/Authenticate answers FailedPrecondition, etcd's ErrGRPCAuthNotEnabled)
    assert f["members"] == [f"{ETCD}-0"] and f["pod"] == f"{ETCD}-0" and f["severity"] == "critical", f
    assert "Authenticate" in f["message"] and "FailedPrecondition" in json.dumps(got["etcd"]["members"][0]["metrics"]["grpc"]), f


def test_quorum_lost(fleet, fleet_debug_image, state, tmp_path):
    wait_healthy(state)
    lost = faults.quorum_loss(state, INDEX, ETCD, namespace=NS)
    load = None
    try:
        # writes sent to the member left: each waits for etcd's request timeout and fails
        load = faults.write_load(state, INDEX, ETCD, seconds=None, interval=0.1, keys=1, concurrency=20, member=0, namespace=NS)
        time.sleep(8)
        got = sweep(tmp_path, fleet, fleet_debug_image, "quorum")
    finally:
        if load is not None:
            load.stop()
        lost.heal()
    found = findings(got["etcd"])
    assert found["NO_LEADER"]["severity"] == "critical", got["etcd"]["findings"]
    # the member left reports it from its own /metrics (etcd_server_has_leader 0)
    assert f"{ETCD}-0" in found["NO_LEADER"]["members"], found["NO_LEADER"]
    left = next(m for m in got["etcd"]["members"] if m["pod"] == f"{ETCD}-0")
    assert left["metrics"]["has_leader"] is False, left["metrics"]
    assert "PROPOSALS_FAILING" in found or left["metrics"]["proposals_failed_window"], left["metrics"]
    wait_healthy(state)
