"""Least privilege, proven: the sweep bound to exactly the shipped ClusterRole succeeds; with
each rule removed the failing step says which permission it needs, and the other cluster is
still reported. diagnose.yml without pods/log still runs and says what is missing."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import REPO

from testbed import rbac, workloads

NS1 = workloads.namespace_for(1)


def sweep(tmp_path: Path, kubeconfigs: list[Path], image: str, playbook: str = "health_sweep.yml", **extra):
    inv = tmp_path / "fleet.kubeconfig.yml"
    inv.write_text(yaml.safe_dump({"plugin": "etcd_wrapper.ops.kubeconfig", "kubeconfigs": [str(k) for k in kubeconfigs]}))
    dest = tmp_path / "report"
    variables = {"debug_container_image": image, "debug_container_name": "rbac-" + uuid.uuid4().hex[:6],
                 "fleet_report_dir": str(dest), "fleet_report_fail_on": "never", **extra}
    proc = subprocess.run(["ansible-playbook", "-i", str(inv), str(REPO / "playbooks" / playbook), "-f", "10",
                           "-e", json.dumps(variables)], capture_output=True, text=True, timeout=900, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    report = json.loads((dest / "health_report.json").read_text()) if (dest / "health_report.json").exists() else None
    return proc, report


def test_sweep_with_exactly_the_shipped_role(fleet, state, fleet_debug_image, tmp_path):
    scoped = rbac.scoped_kubeconfig(state, fleet["kubeconfig"], [1, 2], rbac.shipped_rules(), "etcd-ops-full")
    proc, report = sweep(tmp_path, [scoped], fleet_debug_image)
    assert proc.returncode == 0, proc.stdout
    codes = {f["code"] for f in report["findings"]}
    assert not codes & {"CLUSTER_UNREACHABLE", "DEBUG_CONTAINER_FAILED", "MEMBER_UNREACHABLE"}, report["findings"]
    pods = sum(len(x.pods()) for i in (1, 2) for x in workloads.shoots_for(i, fleet["etcds"], fleet["members"]))
    assert report["summary"]["clusters"] == 2 and report["summary"]["members"] == pods
    assert "ETCD_HIBERNATED" in codes  # StatefulSets listed: hibernated etcds reported
    assert "changed: [testbed-1]" in proc.stdout  # the debug containers were really added (patch allowed)


def test_without_listing_statefulsets_hibernated_etcds_go_unreported_with_a_warning(fleet, state, fleet_debug_image, tmp_path):
    rules = [r for r in rbac.shipped_rules() if "statefulsets" not in r["resources"]]
    assert len(rules) == len(rbac.shipped_rules()) - 1
    reduced = rbac.scoped_kubeconfig(state, fleet["kubeconfig"], [1], rules, "etcd-ops-no-statefulsets")
    proc, report = sweep(tmp_path, [reduced], fleet_debug_image)
    assert proc.returncode == 0, proc.stdout
    out = " ".join((proc.stdout + proc.stderr).split())  # a warning on stderr, wrapped
    assert "forbidden: needs list on statefulsets.apps in all namespaces" in out, out
    assert "etcds scaled to 0 (hibernated) are not reported" in out
    codes = {f["code"] for f in report["findings"]}
    assert "ETCD_HIBERNATED" not in codes and not codes & {"CLUSTER_UNREACHABLE", "DEBUG_CONTAINER_FAILED"}, codes
    assert report["summary"]["etcds"] == sum(1 for x in workloads.shoots_for(1, fleet["etcds"], fleet["members"])
                                             for e in x.etcds if e.replicas)


@pytest.mark.parametrize("drop, message", [
    ("pods", "forbidden: needs list on pods in all namespaces"),
    ("pods/ephemeralcontainers", f"forbidden: needs patch on pods/ephemeralcontainers in {NS1}"),
    ("pods/exec", f"forbidden: needs get and create on pods/exec in {NS1}"),
])
def test_each_rule_is_needed_and_named(fleet, state, fleet_debug_image, tmp_path, drop, message):
    rules = [r for r in rbac.shipped_rules() if drop not in r["resources"]]
    assert len(rules) == len(rbac.shipped_rules()) - 1
    name = "etcd-ops-no-" + drop.replace("/", "-")
    reduced = rbac.scoped_kubeconfig(state, fleet["kubeconfig"], [1], rules, name)
    full = rbac.scoped_kubeconfig(state, fleet["kubeconfig"], [2], rbac.shipped_rules(), "etcd-ops-full")
    proc, report = sweep(tmp_path, [reduced, full], fleet_debug_image)
    assert report is not None, proc.stdout
    clusters = {c["name"]: c for c in report["clusters"]}
    texts = [f["message"] for f in report["findings"] if f["cluster"] == "testbed-1"]
    assert any(message in t for t in texts), texts
    assert "Traceback" not in json.dumps(report)
    # the other cluster is complete and healthy
    other = clusters["testbed-2"]
    etcds = sum(len(x.etcds) for x in workloads.shoots_for(2, fleet["etcds"], fleet["members"]))
    assert other["unreachable"] is None and len(other["etcds"]) == etcds and other["status"] == "ok", other


def test_diagnose_without_pods_log_says_what_is_missing(fleet, state, fleet_debug_image, tmp_path):
    rules = [r for r in rbac.shipped_rules() if "pods/log" not in r["resources"]]
    scoped = rbac.scoped_kubeconfig(state, fleet["kubeconfig"], [1], rules, "etcd-ops-no-pods-log")
    proc = sweep(tmp_path, [scoped], fleet_debug_image, playbook="diagnose.yml",
                 etcd_namespace=NS1, etcd_name="etcd-main")[0]
    assert proc.returncode == 0, proc.stdout
    assert f"(forbidden: needs get on pods/log in {NS1}" in proc.stdout
    assert "etcd-main-0" in proc.stdout and "(leader)" in proc.stdout
