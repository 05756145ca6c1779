# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health collector's pure logic on output recorded from the local fleet: the one-exec
script's sections, each member's view, the merged observation and the findings."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _findings, _health

FIXTURES = Path(__file__).parent / "fixtures" / "health"
DRUID = Path(__file__).parent / "fixtures" / "druid"
MARKER = "ETCDOPS-0123456789abcdef"  # the marker the recording ran with


def recorded(name: str) -> dict:
    return _health.parse_sections((FIXTURES / f"{name}.stdout").read_text(), MARKER)


def view(name: str) -> dict:
    return _health.member_view(recorded(name))


def pod(name: str = "v023_ha_prefixed_etcd_events_0") -> dict:
    return json.loads((DRUID / f"{name}.json").read_text())


# recorded from shoot--prod--alpha-ha/etcd-events (3 members, memberNamePrefix testbed-1): etcd-events-2 leads
HA = {"etcd-events-0": "v023_prefixed_follower-0", "etcd-events-1": "v023_prefixed_follower-1",
      "etcd-events-2": "v023_prefixed_leader-2"}
HA_PODS = sorted(HA)


def ha_views(**replace) -> dict:
    return {p: view(replace.get(p, name)) for p, name in HA.items()}


def test_sections_of_the_recorded_script_output():
    sections = recorded("v023_prefixed_leader-2")
    assert list(sections) == ["proc", "status", "health", "members", "alarms", "quota", "now", "backup", "brmetrics",
                              "table", "cheatsheet"]
    assert all(s["rc"] == 0 for s in sections.values())
    assert sections["proc"]["out"].split()[1] == "etcd-wrapper"  # found by name; PID 1 is the pause process
    assert sections["quota"]["out"] == "8589934592 config /home/nonroot/etcd.conf.yaml"
    assert sections["backup"]["out"].splitlines()[-1] == "200"


def test_a_forged_marker_is_text_not_a_section():
    text = (FIXTURES / "v023_prefixed_leader-2.stdout").read_text().replace(f"{MARKER} BEGIN", "ETCDOPS-ffffffffffffffff BEGIN", 1)
    sections = _health.parse_sections(text, MARKER)
    assert "status" not in sections and "health" in sections


def test_member_view_of_the_leader():
    v = view("v023_prefixed_leader-2")
    assert v["status"]["Status"]["dbSize"] > 0 and v["status_error"] is None and v["status"]["Status"]["version"] == "3.5.35"
    assert v["health"]["health"] is True
    assert [m["name"] for m in v["members"]["members"]] and all(
        m["name"].startswith("testbed-1-etcd-events-") for m in v["members"]["members"])
    assert "alarms" not in v["alarms"]  # etcdctl 3.5 prints only the header when there is none
    assert v["quota"] == 8 * 1024 ** 3 and v["quota_source"] == "etcd config /home/nonroot/etcd.conf.yaml"
    assert v["etcd_process"]["name"] == "etcd-wrapper" and v["etcd_process"]["pid"] != 1
    assert v["backup"]["status"] == 200 and v["backup"]["health"] is True
    assert v["backup"]["metrics"]['etcdbr_snapshot_latest_timestamp{kind="Full"}'] > 1.7e9
    assert v["backup"]["metrics"]["etcdbr_snapshotter_failure"] == 0
    assert "IS LEADER" in v["table"] and "TLS layout: druid-v0.23" in v["cheatsheet"]


def test_member_view_of_a_follower_and_of_the_older_layout():
    follower = view("v023_prefixed_follower-0")
    assert follower["backup"]["status"] == 503 and follower["backup"]["health"] is False
    assert "table" not in follower  # recorded without detail
    old = view("v022_single")
    assert old["status"]["Status"]["leader"] == old["status"]["Status"]["header"]["member_id"]
    assert old["backup"]["health"] is True and old["quota"] == 8 * 1024 ** 3


def test_member_view_of_a_stopped_member():
    # the debug container outlives a stopped etcd (shared PID namespace): nothing but status is asked
    v = view("v023_stopped_member_self")
    assert v["status"] is None and "Failed to get the status of endpoint" in v["status_error"]
    assert v["health"] is None and v["members"] is None and v["etcd_process"] is None
    assert v["quota"] == 8 * 1024 ** 3 and v["quota_source"].startswith("args of container 'backup-restore'")


def test_healthy_prefixed_ha_etcd_has_no_findings():
    views = ha_views()
    obs = _health.observation("testbed-1", "shoot--prod--alpha-ha", "etcd-events", HA_PODS, views, {}, 3)
    assert _findings.evaluate(obs) == []
    rows = _health.member_rows(obs, views, {p: "etcd-debug" for p in HA_PODS})
    assert [r["pod"] for r in rows] == HA_PODS  # one row per member, not one per name and one per pod
    assert [r["name"] for r in rows] == [f"testbed-1-{p}" for p in HA_PODS]
    assert [r["is_leader"] for r in rows] == [False, False, True]
    assert [r["backup_restore"]["role"] for r in rows] == ["follower", "follower", "leader"]
    assert [r["backup_restore"]["status"] for r in rows] == [503, 503, 200]
    assert rows[2]["backup_restore"]["full_snapshot_age_s"] >= 0 and rows[2]["backup_restore"]["snapshotter_failures"] == 0
    assert all(r["etcd_process"]["name"] == "etcd-wrapper" for r in rows)


def test_stopped_member_of_an_ha_etcd():
    views = {"etcd-main-0": view("v023_stopped_member_peer"), "etcd-main-1": view("v023_stopped_member_self")}
    pods = ["etcd-main-0", "etcd-main-1"]
    obs = _health.observation("testbed-1", "shoot--dev--alpha", "etcd-events", pods, views, {})
    codes = [(f["code"], f["pod"]) for f in _findings.evaluate(obs)]
    assert ("MEMBER_UNREACHABLE", "etcd-events-1") in codes
    assert not [c for c in codes if c[0] in ("MEMBER_UNHEALTHY", "BACKUP_RESTORE_UNHEALTHY")], codes


def test_backup_faults_from_the_leaders_metrics():
    stale = ha_views(**{"etcd-events-2": "v023_stale_delta_leader"})
    obs = _health.observation("testbed-1", "ns", "etcd-events", HA_PODS, stale, {}, 3)
    findings = _findings.evaluate(obs)
    assert [(f["code"], f["severity"], f["pod"]) for f in findings] == [("BACKUP_DELTA_STALE", "critical", "etcd-events-2")]
    assert findings[0]["value"] >= 1200 and findings[0]["threshold"] == 900
    relaxed = _findings.evaluate(obs, {"backup_delta_max_age": 3 * 3600})
    assert relaxed == []
    full = {"etcd-events-0": view("v023_stale_full_single")}
    findings = _findings.evaluate(_health.observation("testbed-1", "ns", "etcd-events", ["etcd-events-0"], full, {}, 1))
    assert [(f["code"], f["severity"]) for f in findings] == [("BACKUP_FULL_STALE", "critical")]
    assert findings[0]["value"] >= 25 * 3600 - 60
    failing = {"etcd-main-0": view("v023_snapshotter_failing_leader")}
    findings = _findings.evaluate(_health.observation("testbed-1", "ns", "etcd-main", ["etcd-main-0"], failing, {}, 1))
    assert [(f["code"], f["severity"]) for f in findings] == [("BACKUP_SNAPSHOTTER_FAILING", "critical")]


def test_backup_failures_in_the_past_are_info():
    failing = view("v023_snapshotter_failing_leader")
    metrics = failing["backup"]["metrics"]
    for key in list(metrics):
        if key.startswith("etcdbr_snapshot_required"):
            metrics[key] = 0.0
    findings = _findings.evaluate(_health.observation("c", "ns", "etcd-main", ["etcd-main-0"], {"etcd-main-0": failing}, {}))
    assert [(f["code"], f["severity"]) for f in findings] == [("BACKUP_SNAPSHOTTER_FAILING", "info")]


def test_the_leaders_sidecar_unhealthy_or_silent():
    views = ha_views()
    views["etcd-events-2"]["backup"].update(status=503, health=False)
    obs = _health.observation("c", "ns", "etcd-events", HA_PODS, views, {})
    assert [(f["code"], f["pod"]) for f in _findings.evaluate(obs)] == [("BACKUP_RESTORE_UNHEALTHY", "etcd-events-2")]
    for v in views.values():
        v["backup"].update(status=None, health=False, metrics={}, error="curl: (7) Failed to connect")
    found = _findings.evaluate(_health.observation("c", "ns", "etcd-events", HA_PODS, views, {}))
    assert [f["code"] for f in found] == ["BACKUP_RESTORE_UNHEALTHY"] and "no backup-restore sidecar answered" in found[0]["message"]


def test_hibernated_etcd_is_info_only():
    obs = _health.observation("c", "shoot--a--hib", "etcd-main", [], {}, {}, 0)
    assert [(f["code"], f["severity"]) for f in _findings.evaluate(obs)] == [("ETCD_HIBERNATED", "info")]


def test_observation_with_a_failed_debug_container():
    views = ha_views()
    del views["etcd-events-1"]
    obs = _health.observation("seed", "ns", "etcd-events", HA_PODS, views, {"etcd-events-1": "container 'etcd' is not running"})
    assert [s["pod"] for s in obs["endpoint_status"]] == ["etcd-events-0", "etcd-events-2"]
    codes = [(f["code"], f["pod"]) for f in _findings.evaluate(obs)]
    assert ("DEBUG_CONTAINER_FAILED", "etcd-events-1") in codes
    # the others saw it answer (it answered them through raft); only its own view is missing
    assert ("MEMBER_UNREACHABLE", "etcd-events-1") in codes


def test_split_leader_from_member_views():
    views = copy.deepcopy(ha_views())
    views["etcd-events-1"]["status"]["Status"]["leader"] = views["etcd-events-1"]["status"]["Status"]["header"]["member_id"]
    obs = _health.observation("seed", "ns", "etcd-events", HA_PODS, views, {})
    assert "SPLIT_LEADER" in [f["code"] for f in _findings.evaluate(obs)]


def test_member_plan_from_the_recorded_pods():
    spec = pod()["spec"]
    debug = next(c for c in spec["ephemeralContainers"] if c["name"] == "etcd-debug")
    plan = _health.member_plan(spec, debug)
    assert plan["endpoint"] == "https://etcd-events-local:2379" and plan["configs"] == ["/home/nonroot/etcd.conf.yaml"]
    assert plan["tls"]["via"] == "mount" and plan["tls"]["source"].startswith("args of container 'backup-restore'")
    assert plan["backup"]["base"] == "https://etcd-events-local:8080" and plan["quota_arg"] == 8 * 1024 ** 3
    bare = dict(debug, volumeMounts=[])
    assert _health.member_plan(spec, bare)["tls"]["via"] == "proc"
    old = pod("v022_etcd_main_0")["spec"]
    plan = _health.member_plan(old, next(c for c in old["ephemeralContainers"] if c["name"] == "etcd-debug"))
    assert plan["tls"]["cacert"] == "/var/etcd/ssl/client/ca/ca.crt" and plan["backup"]["cacert"] == "/var/etcd/ssl/client/ca/ca.crt"


def test_debug_container_choice():
    p = pod()
    assert _health._debug_name(p, None, "etcd-debug") == ("etcd-debug", None)
    assert _health._debug_name(p, None, "other")[1] == "no debug container 'other' in the pod"
    stopped = copy.deepcopy(p)
    for status in stopped["status"]["ephemeralContainerStatuses"]:
        status["state"] = {"terminated": {"reason": "Error", "exitCode": 137}}
    name, error = _health._debug_name(stopped, None, "etcd-debug")
    assert name is None and error.startswith("debug container etcd-debug is terminated (Error 137)")


def test_next_commands_say_which_write():
    rows = [{"pod": "etcd-main-0", "reachable": True, "is_leader": True, "debug_container": "etcd-debug"},
            {"pod": "etcd-main-1", "reachable": False, "is_leader": False, "debug_container": None}]
    findings = [{"code": "ALARM_NOSPACE", "pod": "etcd-main-0"}, {"code": "MEMBER_UNREACHABLE", "pod": "etcd-main-1"}]
    cmds = _health.next_commands("kubectl --context seed", "shoot--a--b", "etcd-main", rows, findings, "etcd-debug", "etcdctl")
    assert cmds[0] == "kubectl --context seed -n shoot--a--b exec etcd-main-0 -c etcd-debug -- etcdctl endpoint status --cluster -w table"
    assert "kubectl --context seed -n shoot--a--b logs etcd-main-1 -c etcd --tail=200 --previous" in cmds
    writes = [c for c in cmds if "defrag" in c or "disarm" in c]
    assert len(writes) == 2 and all(c.startswith("# WRITES to etcd") for c in writes)


def test_unreachable_cluster_result():
    result = _health.cluster_unreachable({"cluster": None, "context": "seed-1", "cluster_error": "cannot reach the API server"})
    assert result["unreachable_reason"] == "cannot reach the API server"
    assert [f["code"] for f in result["findings"]] == ["CLUSTER_UNREACHABLE"]
    assert result["summary"]["status"] == "critical" and "unreachable" not in result  # Ansible reserves that key


# ---------------------------------------------------------------- the member's own /metrics in the exec

def test_metrics_reads_become_the_members_summary_and_findings():
    """The script's metrics1/metrics2 sections (the read's time in ms, then the kept lines: here the
    reads recorded from the fleet while leadership was moved, tests/unit/.../fixtures/metrics) give
    the window from the two stamps, and the observation carries the member's summary to the rules."""
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _metrics
    fixtures = Path(__file__).parent / "fixtures" / "metrics"
    entry = json.loads((fixtures / "index.json").read_text())["scenarios"]["leader_flap"]["etcd-main-0"]
    first, second = (fixtures / entry["first"]).read_text(), (fixtures / entry["second"]).read_text()
    t1 = 1796089400000
    t2 = t1 + int(entry["window"] * 1000)
    sections = {"metrics1": {"rc": 0, "out": f"{t1}\n{first}", "err": ""},
                "metrics2": {"rc": 0, "out": f"{t2}\n{second}", "err": ""}}
    summary = _health.metrics_view(sections["metrics1"], sections["metrics2"])
    assert summary == _metrics.summarize(first, second, entry["window"], now=t2 / 1000)
    assert summary["leader_changes_window"] >= 1
    view = _health.member_view(dict(sections, status={"rc": 1, "out": "", "err": "x"}))
    obs = _health.observation("c", "ns", "etcd-main", ["etcd-main-0"], {"etcd-main-0": view}, {})
    assert obs["metrics"] == {"etcd-main-0": summary}
    assert "LEADER_CHANGES" in {f["code"] for f in _findings.evaluate(obs)}
    # one read (window 0): gauges only; a failed first read: the error, no rules
    assert _health.metrics_view(sections["metrics1"], None)["leader_changes_window"] is None
    failed = _health.metrics_view({"rc": 7, "out": f"{t1}", "err": "curl: (7) Failed to connect to etcd-main-local port 2379"}, None)
    assert failed == {"error": "curl: (7) Failed to connect to etcd-main-local port 2379"}
    assert _health.metrics_ms(3) == "3000" and _health.metrics_ms(0) == "0" and _health.metrics_ms(-1) == "off"


# ---------------------------------------------------------------- the member script's config reading


def run_script(tmp_path: Path, configs: list[str], quota_arg: str = "") -> dict[str, dict]:
    """SCRIPT run here by bash, with etcdctl and curl stubs that print their arguments (no etcd, no
    pod: no etcd process is found, so configs are read in /proc/1/root, then as given)."""
    import os
    import subprocess
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for tool in ("etcdctl", "curl"):
        (stubs / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >&2\nexit 7\n')
        (stubs / tool).chmod(0o755)
    plan = {"tls": None, "endpoint": "http://127.0.0.1:2379", "quota_arg": quota_arg, "backup": None, "configs": configs}
    argv = _health.script_argv(plan, "MK", 2, False, False, 0)
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30,
                         env={"PATH": f"{stubs}:{os.environ['PATH']}"}).stdout
    return _health.parse_sections(out, "MK")


def test_script_reads_quota_and_metrics_url_from_the_first_config_that_sets_them(tmp_path):
    (tmp_path / "druid.yaml").write_text("name: etcd-main-0\nlisten-metrics-urls: 'http://0.0.0.0:2381,http://x:9'\n")
    (tmp_path / "other.yaml").write_text('quota-backend-bytes: "8589934592"\nlisten-metrics-urls: http://y:1\n')
    sections = run_script(tmp_path, [str(tmp_path / "absent.yaml"), str(tmp_path / "druid.yaml"), str(tmp_path / "other.yaml")],
                          quota_arg="123")
    # the quota from the first config that sets it (druid.yaml does not), the args' quota unused
    assert sections["quota"] == {"rc": 0, "out": f"8589934592 config {tmp_path / 'other.yaml'}", "err": ""}
    # listen-metrics-urls from druid.yaml: its first URL, 0.0.0.0 read as 127.0.0.1
    assert re.fullmatch(r"curl -sS --max-time 2 -o /\S+/mraw http://127\.0\.0\.1:2381/metrics", sections["metrics1"]["err"])
    assert sections["status"]["err"] == "etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=2s endpoint status -w json"


def test_script_without_a_config_takes_the_args_quota_or_says_where_it_looked(tmp_path):
    (tmp_path / "plain.yaml").write_text("name: etcd-events-0\n")
    sections = run_script(tmp_path, [str(tmp_path / "plain.yaml")], quota_arg="4294967296")
    assert sections["quota"]["out"] == "4294967296 args"
    assert sections["metrics1"]["err"].endswith(" http://127.0.0.1:2379/metrics")  # etcd's client URL
    sections = run_script(tmp_path, [str(tmp_path / "plain.yaml")])
    where = f"no readable etcd config at {tmp_path / 'plain.yaml'} (in the etcd process root /proc/1/root or here)"
    assert sections["quota"] == {"rc": 1, "out": "", "err": where}
