"""The health sweep, diagnose.yml and etcdctl.yml against the seed-shaped local fleet with real
faults, each on another variant (HA, non-HA, member name prefix, v0.22 layout): a NOSPACE alarm,
a stopped member, an unhealthy backup-restore, a stale delta and full snapshot, a failing
snapshotter, a stopped API server - and nothing else reported on a healthy seed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import yaml
from kubernetes import client as k8s_client

from conftest import REPO, run_module

sys.path.insert(0, str(Path(__file__).parent))
import chromium  # noqa: E402

from testbed import faults, procs  # noqa: E402
from testbed import fleet as fleet_mod  # noqa: E402
from testbed import workloads  # noqa: E402

PLAYBOOKS = REPO / "playbooks"
ARTIFACTS = REPO / "build" / "test-artifacts"
NS1, NS2 = workloads.namespace_for(1), workloads.namespace_for(2)
# cluster 2's other namespaces (workloads.shoots_for): non-HA, HA with member name prefix, v0.22 layout
NONHA2, PREFIX2, OLD2 = "shoot--prod--bravo", "shoot--prod--bravo-ha", "shoot--old--bravo"


def inventory(tmp_path: Path, fleet: dict) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "fleet.kubeconfig.yml"
    path.write_text(yaml.safe_dump({"plugin": "etcd_wrapper.ops.kubeconfig", "kubeconfigs": [str(fleet["kubeconfig"])],
                                    "include_contexts": fleet["contexts"]}))
    return path


def playbook(name: str, inv: Path, extra: dict, *args: str) -> subprocess.CompletedProcess:
    argv = ["ansible-playbook", "-i", str(inv), str(PLAYBOOKS / name), "-f", "10", "-e", json.dumps(extra), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "MODULE FAILURE" not in out, out
    return proc


def sweep(tmp_path: Path, fleet: dict, image: str, **extra) -> tuple[subprocess.CompletedProcess, dict]:
    dest = tmp_path / "report"
    proc = playbook("health_sweep.yml", inventory(tmp_path, fleet),
                    {"debug_container_image": image, "fleet_report_dir": str(dest), **extra})
    report = json.loads((dest / "health_report.json").read_text())
    return proc, report


def by_etcd(report: dict) -> dict[tuple[str, str, str], dict]:
    return {(c["name"], e["namespace"], e["etcd"]): e for c in report["clusters"] for e in c["etcds"]}


class Statuses(HTMLParser):
    """data-status of every cluster block and etcd chip in the DOM Chromium rendered."""

    def __init__(self):
        super().__init__()
        self.clusters, self.etcds = {}, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-cluster" in a and "data-status" in a:
            self.clusters[a["data-cluster"]] = a["data-status"]
        if "data-etcd" in a and "data-status" in a:
            self.etcds[a["data-etcd"]] = a["data-status"]


@pytest.fixture(scope="module")
def faulty(fleet, state, fleet_debug_image):
    """One fault of each kind, each on another variant of the seed shape."""
    c1, c2 = fleet["contexts"][:2]
    try:
        faults.nospace(state, 1, "etcd-main")
        faults.stop_member(state, 1, "etcd-events", 1)
        faults.backup_unhealthy(state, 2, "etcd-events")
        faults.backup_fault(state, 2, "etcd-main", "stale-delta", PREFIX2)
        faults.backup_fault(state, 2, "etcd-events", "stale-full", NONHA2)
        faults.backup_fault(state, 2, "etcd-main", "snapshotter-failing", OLD2)
        time.sleep(2)  # the sidecars read their fault state every second
        yield {(c1, NS1, "etcd-main"): {"ALARM_NOSPACE"},
               (c1, NS1, "etcd-events"): {"MEMBER_UNREACHABLE"},
               (c2, NS2, "etcd-events"): {"BACKUP_RESTORE_UNHEALTHY"},
               (c2, PREFIX2, "etcd-main"): {"BACKUP_DELTA_STALE"},
               (c2, NONHA2, "etcd-events"): {"BACKUP_FULL_STALE"},
               (c2, OLD2, "etcd-main"): {"BACKUP_SNAPSHOTTER_FAILING"}}
    finally:
        faults.heal(state)


def test_a_healthy_seed_has_info_findings_only(fleet, state, fleet_debug_image, tmp_path):
    """Every variant, no fault: no warning, no critical (hibernated etcds are info)."""
    assert not faults.active(state), faults.active(state)
    proc, report = sweep(tmp_path, fleet, fleet_debug_image)
    assert proc.returncode == 0, proc.stdout
    assert [f for f in report["findings"] if f["severity"] != "info"] == [], json.dumps(report["findings"], indent=1)
    # (a sidecar that failed snapshots earlier in this fleet's life says so as info: its counter stays)
    info = {(f["cluster"], f["namespace"], f["etcd"], f["code"]) for f in report["findings"] if f["code"] == "ETCD_HIBERNATED"}
    assert info == {(c, s.namespace, e.name, "ETCD_HIBERNATED") for c in fleet["contexts"]
                    for s in workloads.shoots_for(int(c.rsplit("-", 1)[1]), fleet["etcds"], fleet["members"])
                    for e in s.etcds if not e.replicas}
    for (cluster, ns, etcd), entry in by_etcd(report).items():
        if not entry["pods"]:
            continue
        assert entry["leader"] and entry["quota_source"] == "etcd config /home/nonroot/etcd.conf.yaml", entry
        # one row per member, members matched to pods by URL even with a member name prefix
        assert [m["pod"] for m in entry["members"]] == entry["pods"]
        assert all(m["reachable"] and m["health"] for m in entry["members"])
        roles = sorted(m["backup_restore"]["role"] for m in entry["members"])
        assert roles == ["follower"] * (len(entry["pods"]) - 1) + ["leader"]
        if ns == PREFIX2:
            assert all(m["name"] == f"{cluster}-{m['pod']}" for m in entry["members"])


def test_sweep_finds_each_fault_on_the_right_etcd(faulty, fleet, fleet_debug_image, tmp_path):
    proc, report = sweep(tmp_path, fleet, fleet_debug_image)
    assert proc.returncode == 2, proc.stdout  # fail_on: critical, at the end, after every cluster was checked
    assert "Fail the sweep when findings meet fail_on" in proc.stdout
    severe = {}
    for f in report["findings"]:
        if f["severity"] in ("critical", "warning"):
            severe.setdefault((f["cluster"], f["namespace"], f["etcd"]), set()).add(f["code"])
    # each fault's finding on its etcd and no other warning or critical anywhere; the filled etcd is
    # over its quota too, and the stopped member may have had no debug container before it stopped
    nospace, stopped = (fleet["contexts"][0], NS1, "etcd-main"), (fleet["contexts"][0], NS1, "etcd-events")
    assert set(severe) == set(faulty), json.dumps(report["findings"], indent=1)
    for key, codes in faulty.items():
        allowed = codes | ({"DB_QUOTA_HIGH"} if key == nospace else {"DEBUG_CONTAINER_FAILED"} if key == stopped else set())
        assert codes <= severe[key] <= allowed, (key, severe[key])
    etcds = by_etcd(report)
    events1 = etcds[stopped]
    assert ("MEMBER_UNREACHABLE", "etcd-events-1") in {(f["code"], f["pod"]) for f in events1["findings"]}
    assert [m["pod"] for m in events1["members"] if not m["reachable"]] == ["etcd-events-1"]
    backup = [f for f in etcds[(fleet["contexts"][1], NS2, "etcd-events")]["findings"] if f["code"] == "BACKUP_RESTORE_UNHEALTHY"]
    leader = etcds[(fleet["contexts"][1], NS2, "etcd-events")]["leader"]
    assert [(f["pod"], f["value"]) for f in backup] == [(leader, 503)]  # the leader's sidecar, not its standby followers
    stale = etcds[(fleet["contexts"][1], PREFIX2, "etcd-main")]
    assert [f["pod"] for f in stale["findings"] if f["code"] == "BACKUP_DELTA_STALE"] == [stale["leader"]]
    main1 = etcds[nospace]
    assert main1["quota_bytes"] == faults.SMALL_QUOTA and main1["quota_source"] == "etcd config /home/nonroot/etcd.conf.yaml"
    # everything else is green, and every member of a healthy etcd was seen with a leader
    for key, entry in etcds.items():
        if key not in faulty and entry["pods"]:
            assert entry["status"] == "ok", entry
            assert entry["leader"] and all(m["reachable"] and m["health"] for m in entry["members"])
    assert report["summary"]["failed"] is True and report["summary"]["clusters"] == len(fleet["contexts"])

    # the JSON validates against the shipped schema
    schema = json.loads((REPO / "docs" / "health_report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    # JUnit: a testcase per etcd, a failure per critical finding
    suites = ET.parse(tmp_path / "report" / "junit.xml").getroot()
    cases = {(c.get("classname"), c.get("name")): c for s in suites.iter("testsuite") for c in s.iter("testcase")}
    assert {(f"{c}.{ns}", e) for c, ns, e in etcds} <= set(cases), sorted(cases)
    for (c, ns, e), entry in etcds.items():
        failures = cases[(f"{c}.{ns}", e)].findall("failure")
        assert len(failures) == sum(1 for f in entry["findings"] if f["severity"] == "critical"), (c, ns, e)
    # the HTML as a browser shows it: the failing clusters red, the others green
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "report" / "health_report.html", ARTIFACTS / "health_report.html")
    dom = chromium.render(tmp_path / "report" / "health_report.html", ARTIFACTS / "health_report.png")
    parsed = Statuses()
    parsed.feed(dom)
    assert parsed.clusters[fleet["contexts"][0]] == "critical" and parsed.clusters[fleet["contexts"][1]] == "critical"
    assert all(parsed.clusters[c] == "ok" for c in fleet["contexts"][2:])
    assert (ARTIFACTS / "health_report.png").stat().st_size > 10_000
    assert 'data-sortable="true"' in dom  # the table's script ran
    # the terminal summary names the failing etcds
    assert f"{NS1}/etcd-main" in proc.stdout and "ALARM_NOSPACE" in proc.stdout


def _ephemeral(fleet, context: str, namespace: str, pod: str) -> list[str]:
    from kubernetes import client
    spec = client.CoreV1Api(fleet["api"](context)).read_namespaced_pod(pod, namespace).spec
    return [c.name for c in spec.ephemeral_containers or []]


def test_repeat_sweep_reuses_debug_containers(faulty, fleet, fleet_debug_image, tmp_path):
    stopped_before = _ephemeral(fleet, fleet["contexts"][0], NS1, "etcd-events-1")
    first = sweep(tmp_path / "a", fleet, fleet_debug_image, fleet_report_fail_on="never")[0]
    again, report = sweep(tmp_path / "b", fleet, fleet_debug_image, fleet_report_fail_on="never")
    assert first.returncode == 0 and again.returncode == 0, again.stdout
    attach = [line for line in again.stdout.splitlines() if "Attach the debug container" in line]
    assert attach
    # no container added on the second run: the attach task reports ok, not changed, on every cluster
    assert "changed: [" not in again.stdout.split("Attach the debug container")[1].split("TASK [")[0], again.stdout
    # the stopped member's pod got no container that could never start, on either run
    assert _ephemeral(fleet, fleet["contexts"][0], NS1, "etcd-events-1") == stopped_before
    assert report["summary"]["failed"] is False  # fail_on: never


def diagnose(tmp_path: Path, fleet: dict, image: str, index: int, namespace: str, etcd: str) -> subprocess.CompletedProcess:
    """diagnose.yml on one etcd of cluster `index` (0-based), its report in tmp_path/diag."""
    return playbook("diagnose.yml", inventory(tmp_path, fleet),
                    {"etcd_namespace": namespace, "etcd_name": etcd, "debug_container_image": image,
                     "fleet_report_dir": str(tmp_path / "diag")}, "-l", fleet["contexts"][index])


def test_diagnose_faulty_etcd(faulty, fleet, fleet_debug_image, tmp_path):
    proc = diagnose(tmp_path, fleet, fleet_debug_image, 0, NS1, "etcd-events")
    out = proc.stdout
    assert proc.returncode == 2, out
    assert "etcd-events-1: id" in out and "UNREACHABLE" in out
    assert "CRITICAL MEMBER_UNREACHABLE etcd-events-1" in out
    assert "last etcd log lines:" in out and "rafthttp" in out  # the healthy members complain about the stopped peer
    assert f"-n {NS1} logs etcd-events-1 -c etcd --tail=200 --previous" in out
    assert f"-n {NS1} describe pod etcd-events-1" in out
    assert "endpoint status --cluster (from " in out and "IS LEADER" in out
    assert "cheatsheet (print-etcd-cheatsheet in " in out
    report = json.loads((tmp_path / "diag" / "health_report.json").read_text())
    assert [(e["namespace"], e["etcd"]) for c in report["clusters"] for e in c["etcds"]] == [(NS1, "etcd-events")]


def test_diagnose_healthy_etcd(faulty, fleet, fleet_debug_image, tmp_path):
    proc = diagnose(tmp_path, fleet, fleet_debug_image, 1, NS2, "etcd-main")
    out = proc.stdout
    assert proc.returncode == 0, out
    assert f"{NS2}/etcd-main on {fleet['contexts'][1]}: OK, leader etcd-main-" in out
    assert out.count("(leader)") == 1 and "healthy (HTTP 200)" in out
    assert "% of quota" in out and "quota 8.00 GB (etcd config /home/nonroot/etcd.conf.yaml)" in out
    assert f"--context {fleet['contexts'][1]} -n {NS2} exec etcd-main-" in out and "endpoint health --cluster -w table" in out
    assert "CRITICAL" not in out.split("PLAY RECAP")[0].split("Show each member")[1]


def test_diagnose_needs_one_cluster_and_a_namespace(fleet, fleet_debug_image, tmp_path):
    proc = playbook("diagnose.yml", inventory(tmp_path, fleet), {"debug_container_image": fleet_debug_image})
    assert proc.returncode == 2
    assert "diagnose needs one cluster" in proc.stdout


def test_etcdctl_playbook_reads_and_guards_writes(fleet, state, fleet_debug_image, tmp_path):
    inv = inventory(tmp_path, fleet)
    base = {"etcd_namespace": NS2, "etcd_pod": "etcd-main-0", "debug_container_image": fleet_debug_image}
    limit = ("-l", fleet["contexts"][1])
    listed = playbook("etcdctl.yml", inv, dict(base, etcdctl="member list"), *limit)
    assert listed.returncode == 0, listed.stdout
    assert all(f'"name": "etcd-main-{i}"' in listed.stdout for i in range(3))
    refused = playbook("etcdctl.yml", inv, dict(base, etcdctl="put /etcd-ops-it/key value-1"), *limit)
    assert refused.returncode == 2
    assert "refusing to run 'etcdctl put'" in refused.stdout
    assert "value-1" not in faults.etcdctl(state, 2, "etcd-main", "get", "/etcd-ops-it/key").stdout
    written = playbook("etcdctl.yml", inv, dict(base, etcdctl=["put", "/etcd-ops-it/key", "value 2"], allow_write=True), *limit)
    assert written.returncode == 0, written.stdout
    got = playbook("etcdctl.yml", inv, dict(base, etcdctl="get /etcd-ops-it/key", output="raw"), *limit)
    assert "value 2" in got.stdout


def test_unreachable_cluster_does_not_stop_the_sweep(fleet, state, fleet_debug_image, tmp_path):
    second = fleet_mod.Cluster(2, state)
    procs.stop(second.proc("apiserver"), state, timeout=10)
    try:
        proc, report = sweep(tmp_path, fleet, fleet_debug_image)
    finally:
        pki_root = fleet_mod.fleet_pki(state)
        fleet_mod.start_apiserver(second, pki_root)
        fleet_mod.wait_ready(second, pki_root)
    assert proc.returncode == 2, proc.stdout  # CLUSTER_UNREACHABLE is critical
    clusters = {c["name"]: c for c in report["clusters"]}
    down = clusters[fleet["contexts"][1]]
    assert down["status"] == "critical" and down["etcds"] == []
    assert [f["code"] for f in down["findings"]] == ["CLUSTER_UNREACHABLE"]
    assert "cannot reach the API server" in down["unreachable"] and second.server in down["unreachable"]
    for name in fleet["contexts"][:1] + fleet["contexts"][2:]:
        shoots = workloads.shoots_for(int(name.rsplit("-", 1)[1]), fleet["etcds"], fleet["members"])
        assert clusters[name]["unreachable"] is None and len(clusters[name]["etcds"]) == sum(len(x.etcds) for x in shoots)
        assert all(m["reachable"] for e in clusters[name]["etcds"] for m in e["members"] if e["status"] == "ok")
    assert "rescued=1" in proc.stdout  # the dead cluster's discovery was rescued, not failed


# ---------------------------------------------------------------- the modules' own error paths


def test_cluster_info_filters(fleet):
    auth = {"kubeconfig": str(fleet["kubeconfig"]), "context": fleet["contexts"][0]}
    shoots = workloads.shoots_for(1, fleet["etcds"], fleet["members"])
    every = run_module("etcd_cluster_info", dict(auth, namespaces=["shoot--*--alpha*"]))
    assert [(e["namespace"], e["name"], len(e["pods"])) for e in every["etcds"]] == \
        sorted((x.namespace, e.name, e.replicas) for x in shoots for e in x.etcds)
    assert every["pod_count"] == sum(len(x.pods()) for x in shoots) and every["changed"] is False
    hibernated = [e for e in every["etcds"] if not e["pods"]]
    assert hibernated and all(e["replicas"] == 0 for e in hibernated)
    mine = run_module("etcd_cluster_info", dict(auth, namespaces=[NS1]))
    assert [(e["namespace"], e["name"], len(e["pods"])) for e in mine["etcds"]] == [(NS1, "etcd-events", 3), (NS1, "etcd-main", 3)]
    pod = mine["etcds"][1]["pods"][0]
    assert pod["name"] == "etcd-main-0" and pod["phase"] == "Running" and pod["ip"]
    only = run_module("etcd_cluster_info", dict(auth, namespaces=[NS1], etcds=["etcd-m*"]))
    assert [e["name"] for e in only["etcds"]] == ["etcd-main"]
    none = run_module("etcd_cluster_info", dict(auth, exclude_namespaces=["shoot--*"]))
    assert none["etcds"] == [] and none["pod_count"] == 0
    legacy = run_module("etcd_cluster_info", dict(auth, selectors=["name=etcd,instance"], namespaces=["shoot--*--alpha*"]))
    old = [x for x in shoots if x.layout == "v0.22"][0]
    assert {(e["namespace"], e["name"]) for e in legacy["etcds"]} == {(old.namespace, e.name) for e in old.etcds}
    bad = run_module("etcd_cluster_info", dict(auth, namespaces=["no-such-namespace"]))
    assert not bad.failed and bad["etcds"] == []


def test_attach_many_pods_reports_each(fleet, fleet_debug_image):
    auth = {"kubeconfig": str(fleet["kubeconfig"]), "context": fleet["contexts"][1]}
    result = run_module("etcd_ephemeral_container", dict(auth, namespace=NS2, pods=["etcd-main-0", "no-such-pod", "etcd-main-1"],
                                                         image=fleet_debug_image, profile="restricted", concurrency=2))
    assert result.failed
    assert result["msg"].startswith(f"debug container failed on 1 of 3 pods: {NS2}/no-such-pod: pod 'no-such-pod' not found")
    assert [(c["pod"], c["failed"]) for c in result["containers"]] == [("etcd-main-0", False), ("no-such-pod", True),
                                                                       ("etcd-main-1", False)]
    # <namespace>/<pod> entries: no namespace option needed (one task for a whole cluster)
    spread = run_module("etcd_ephemeral_container", dict(auth, pods=[f"{NS2}/etcd-events-0", f"{NS2}/etcd-main-0"],
                                                         image=fleet_debug_image, profile="restricted"))
    assert not spread.failed and [(c["namespace"], c["pod"]) for c in spread["containers"]] == [(NS2, "etcd-events-0"), (NS2, "etcd-main-0")]
    name = "bad-" + uuid.uuid4().hex[:6]
    unnamed = run_module("etcd_ephemeral_container", dict(auth, pods=[f"{NS2}/etcd-events-1", "etcd-main-2"], image=fleet_debug_image,
                                                          profile="restricted", name=name))
    assert unnamed.failed and unnamed["msg"] == "pods entry 'etcd-main-2' names no namespace: set namespace or write <namespace>/<pod>"
    pod = fleet["api"](fleet["contexts"][1]).sanitize_for_serialization(
        k8s_client.CoreV1Api(fleet["api"](fleet["contexts"][1])).read_namespaced_pod("etcd-events-1", NS2))
    assert name not in [c["name"] for c in pod["spec"].get("ephemeralContainers") or []]  # bad input changed nothing
    zero = run_module("etcd_ephemeral_container", dict(auth, namespace=NS2, pods=["etcd-main-0"], image=fleet_debug_image,
                                                       concurrency=0))
    assert zero.failed and zero["msg"] == "concurrency must be at least 1"
    both = run_module("etcd_ephemeral_container", dict(auth, namespace=NS2, pod="etcd-main-0", pods=["etcd-main-1"],
                                                       image=fleet_debug_image))
    assert both.failed and "mutually exclusive: pod|pods" in both["msg"]


def test_health_module_bad_input_and_cluster_error(fleet, tmp_path):
    auth = {"kubeconfig": str(fleet["kubeconfig"]), "context": fleet["contexts"][0]}
    missing = run_module("etcd_health", dict(auth, etcds=[{"name": "etcd-main"}]))
    assert missing.failed and missing["msg"] == "every entry of etcds needs namespace and name (the etcds of etcd_cluster_info)"
    zero = run_module("etcd_health", dict(auth, concurrency=0))
    assert zero.failed and zero["msg"] == "concurrency must be at least 1"
    # a cluster the discovery could not reach: one finding, nothing contacted (not even a kubeconfig that does not exist)
    down = run_module("etcd_health", {"kubeconfig": str(tmp_path / "nope"), "cluster": "seed-9",
                                      "cluster_error": "cannot reach the API server"})
    assert not down.failed
    assert [(f["code"], f["severity"], f["cluster"]) for f in down["findings"]] == [("CLUSTER_UNREACHABLE", "critical", "seed-9")]
    # a cluster the module itself cannot configure or reach: the same result, its own error the reason
    gone = run_module("etcd_health", {"kubeconfig": str(tmp_path / "nope"), "cluster": "seed-9"})
    assert not gone.failed and "nope" in gone["unreachable_reason"], gone
    assert [(f["code"], f["cluster"]) for f in gone["findings"]] == [("CLUSTER_UNREACHABLE", "seed-9")]
    assert gone["findings"][0]["message"].endswith(gone["unreachable_reason"]), gone["findings"]
    # no debug container in the pod: a finding, not a crash
    nodebug = run_module("etcd_health", dict(auth, container="no-such-debug",
                                             etcds=[{"namespace": NS1, "name": "etcd-main", "pods": ["etcd-main-0"]}]))
    assert not nodebug.failed
    assert [f["code"] for f in nodebug["findings"]] == ["DEBUG_CONTAINER_FAILED"]
    assert "no debug container 'no-such-debug' in the pod" in nodebug["findings"][0]["message"]
