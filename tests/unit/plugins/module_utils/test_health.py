# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health collector's pure logic on output recorded from the local fleet: the one-exec
script's sections, each member's view, the merged observation and the findings."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _findings, _health

FIXTURES = Path(__file__).parent / "fixtures" / "health"
MARKER = "ETCDOPS-0123456789abcdef"  # the marker the recording ran with


def recorded(name: str) -> dict:
    return _health.parse_sections((FIXTURES / f"{name}.stdout").read_text(), MARKER)


def pod() -> dict:
    return json.loads((FIXTURES / "healthy_pod.json").read_text())


def test_sections_of_the_recorded_script_output():
    sections = recorded("healthy")
    assert list(sections) == ["status", "health", "members", "alarms", "quota", "backup", "table", "cheatsheet"]
    assert all(s["rc"] == 0 for s in sections.values())
    assert sections["quota"]["out"] == "8589934592"
    assert sections["backup"]["out"].splitlines()[-1] == "200"


def test_a_forged_marker_is_text_not_a_section():
    text = (FIXTURES / "healthy.stdout").read_text().replace(MARKER, "ETCDOPS-ffffffffffffffff", 2)
    sections = _health.parse_sections(text, MARKER)
    assert "status" not in sections and "health" in sections


def test_member_view_healthy():
    view = _health.member_view(recorded("healthy"))
    assert view["status"]["Status"]["dbSize"] > 0 and view["status_error"] is None
    assert view["health"]["health"] is True
    assert [m["name"] for m in view["members"]["members"]] == ["etcd-main-0", "etcd-main-1", "etcd-main-2"]
    assert view["alarms"] == {}
    assert view["quota"] == 8 * 1024 ** 3
    assert view["backup"] == {"status": 200, "health": True, "error": None}
    assert "IS LEADER" in view["table"] and "TLS layout" in view["cheatsheet"]


def test_member_view_backup_unhealthy():
    view = _health.member_view(recorded("backup_unhealthy"))
    assert view["backup"]["status"] == 503 and view["backup"]["health"] is False
    assert "table" not in view  # recorded without detail


def test_member_view_of_a_failed_status_and_missing_sections():
    sections = recorded("healthy")
    sections["status"] = {"rc": 1, "out": "", "err": "Error: context deadline exceeded"}
    del sections["quota"]
    view = _health.member_view(sections)
    assert view["status"] is None and view["status_error"] == "Error: context deadline exceeded"
    assert view["quota"] is None


def _views():
    healthy = _health.member_view(recorded("healthy"))
    unhealthy = _health.member_view(recorded("backup_unhealthy"))
    return {"etcd-main-0": healthy, "etcd-main-1": unhealthy}


def test_observation_and_findings_from_two_members_and_a_failed_third():
    views = _views()
    pods = ["etcd-main-0", "etcd-main-1", "etcd-main-2"]
    obs = _health.observation("seed", "shoot--dev--bravo", "etcd-main", pods, views,
                              {"etcd-main-2": "container 'etcd' is not running"})
    assert [s["pod"] for s in obs["endpoint_status"]] == ["etcd-main-0", "etcd-main-1"]
    assert obs["quota_bytes"] == 8 * 1024 ** 3 and obs["alarm_list"] == {"alarms": []}
    findings = _findings.evaluate(obs)
    codes = [(f["code"], f["pod"]) for f in findings]
    assert ("MEMBER_UNREACHABLE", "etcd-main-2") in codes
    assert ("DEBUG_CONTAINER_FAILED", "etcd-main-2") in codes
    assert ("BACKUP_RESTORE_UNHEALTHY", "etcd-main-1") in codes
    unreachable = next(f for f in findings if f["code"] == "MEMBER_UNREACHABLE")
    assert "container 'etcd' is not running" in unreachable["message"]
    assert findings[0]["severity"] == "critical" and findings[-1]["severity"] == "warning"


def test_member_rows_name_the_leader_once_and_hex_ids():
    views = _views()
    pods = ["etcd-main-0", "etcd-main-1", "etcd-main-2"]
    obs = _health.observation("seed", "ns", "etcd-main", pods, views, {})
    rows = _health.member_rows(obs, views, {"etcd-main-0": "etcd-debug", "etcd-main-1": "etcd-debug", "etcd-main-2": None})
    assert [r["pod"] for r in rows] == pods
    members = {m["name"]: m["ID"] for m in views["etcd-main-0"]["members"]["members"]}
    assert [r["id"] for r in rows] == [f"{members[p]:x}" for p in pods]
    assert not rows[2]["reachable"] and rows[2]["db_size"] is None
    # the recorded members are followers: each names the same leader, which is not among them
    leader_id = views["etcd-main-0"]["status"]["Status"]["leader"]
    assert views["etcd-main-1"]["status"]["Status"]["leader"] == leader_id
    assert [r["is_leader"] for r in rows] == [members[p] == leader_id and r["reachable"] for p, r in zip(pods, rows)]
    assert rows[1]["backup_restore"] == {"status": 503, "health": False}


def test_split_leader_from_member_views():
    views = copy.deepcopy(_views())
    views["etcd-main-1"]["status"]["Status"]["leader"] = views["etcd-main-1"]["status"]["Status"]["header"]["member_id"]
    obs = _health.observation("seed", "ns", "etcd-main", ["etcd-main-0", "etcd-main-1"], views, {})
    assert "SPLIT_LEADER" in [f["code"] for f in _findings.evaluate(obs)]


def test_config_path_and_backup_restore_url_from_the_recorded_pod():
    spec = pod()["spec"]
    assert _health.config_path(spec) == "/var/etcd/config/etcd.conf.yaml"
    assert _health.config_path({"containers": [{"name": "etcd", "args": ["--config-file", "/etc/e.yaml"]}]}) == "/etc/e.yaml"
    assert _health.config_path({"containers": [{"name": "etcd"}]}) == _health.DEFAULT_CONFIG
    tls = {"cacert": "/var/etcd/ssl/ca/bundle.crt"}
    assert _health.backup_restore_url(spec, "https://etcd-main-local:2379", tls) == ("http://127.0.0.1:8080/healthz", "")
    served = copy.deepcopy(spec)
    br = next(c for c in served["containers"] if c["name"] == "backup-restore")
    br["args"].append("--server-cert=/var/etcd/ssl/server/tls.crt")
    assert _health.backup_restore_url(served, "https://etcd-main-local:2379", tls) == \
        ("https://etcd-main-local:8080/healthz", "/var/etcd/ssl/ca/bundle.crt")
    served["containers"] = [c for c in served["containers"] if c["name"] != "backup-restore"]
    assert _health.backup_restore_url(served, "https://x:2379", tls) == ("", "")


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
