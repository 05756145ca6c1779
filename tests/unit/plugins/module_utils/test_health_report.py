# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health report (JSON document, Markdown, HTML, JUnit) built from real findings: _findings.evaluate on
etcdctl/backup-restore output recorded from the local fleet (healthy, one member stopped)."""

from __future__ import annotations

import copy
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from jsonschema import Draft202012Validator

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _health_report
from ansible_collections.etcd_wrapper.ops.plugins.plugin_utils import _health_report_render
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._findings import evaluate, pod_of_endpoint

from ansible_collections.etcd_wrapper.ops.tests.unit.plugins.module_utils.etcd_fixtures import observation

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
SCHEMA = os.path.join(REPO, "docs", "health_report.schema.json")
NOW = "2026-11-27T15:00:00Z"


def etcd_result(obs: dict, **over) -> dict:
    """What the health role hands over for one etcd: the findings plus per-member facts."""
    statuses = {pod_of_endpoint(s["Endpoint"]): s["Status"] for s in obs["endpoint_status"]}
    health = {pod_of_endpoint(h["endpoint"]): h for h in obs["endpoint_health"]}
    leader_ids = {s["leader"] for s in statuses.values()}
    members = []
    for m in obs["member_list"]["members"]:
        st = statuses.get(m["name"]) or {}
        h = health.get(m["name"]) or {}
        members.append({
            "pod": m["name"], "id": format(m["ID"], "x"), "name": m["name"], "is_leader": m["ID"] in leader_ids,
            "is_learner": bool(m.get("isLearner")), "reachable": bool(st), "health": h.get("health"), "health_error": h.get("error"),
            "db_size": st.get("dbSize"), "db_size_in_use": st.get("dbSizeInUse"), "revision": (st.get("header") or {}).get("revision"),
            "raft_index": st.get("raftIndex"), "raft_term": st.get("raftTerm"), "version": st.get("version"),
            "backup_restore": obs["backup_health"].get(m["name"]), "debug_container": "etcd-ops-debug", "debug_error": None,
        })
    leader = next((m["pod"] for m in members if m["is_leader"]), None)
    result = {"cluster": obs["cluster"], "namespace": obs["namespace"], "etcd": obs["etcd"], "pods": obs["pods"],
              "leader": leader, "quota_bytes": obs["quota_bytes"], "quota_source": "etcd config", "members": members,
              "findings": evaluate(obs)}
    result.update(over)
    return result


def fleet() -> list[dict]:
    """testbed-1: one healthy etcd, one with a stopped member (2 critical); testbed-2: a debug container
    failed (1 warning); testbed-3: API server unreachable; testbed-4: reachable, no etcd."""
    return [
        {"host": "testbed-4", "cluster": "testbed-4", "server": "https://127.0.0.1:22004", "unreachable": None,
         "duration_s": 0.4, "findings": [], "etcds": []},
        {"host": "testbed-1", "cluster": "testbed-1", "server": "https://127.0.0.1:22001", "unreachable": None, "duration_s": 3.2,
         "findings": [],
         "etcds": [etcd_result(observation("stopped_member", cluster="testbed-1", namespace="shoot--dev--beta")),
                   etcd_result(observation(cluster="testbed-1", namespace="shoot--dev--alpha"))]},
        {"host": "testbed-2", "cluster": "testbed-2", "server": "https://127.0.0.1:22002", "unreachable": None, "duration_s": 2.9,
         "findings": [],
         "etcds": [etcd_result(observation(cluster="testbed-2", namespace="shoot--dev--alpha",
                                           debug_failed={"etcd-main-1": "ErrImagePull: manifest unknown"}))]},
        {"host": "testbed-3", "cluster": "testbed-3", "server": "https://127.0.0.1:22003",
         "unreachable": "dial tcp 127.0.0.1:22003: connect: connection refused", "duration_s": 1.0,
         "findings": evaluate({"cluster": "testbed-3", "unreachable": "dial tcp 127.0.0.1:22003: connect: connection refused"}),
         "etcds": []},
    ]


@pytest.fixture
def report() -> dict:
    return _health_report.build_report(fleet(), NOW, collection_version="0.1.0")


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    with open(SCHEMA, encoding="utf-8") as fh:
        schema = json.load(fh)
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == _health_report.SCHEMA_ID
    return Draft202012Validator(schema)


def errors(validator, doc) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


# ---------------------------------------------------------------- the document

def test_summary_counts_and_statuses(report):
    s = report["summary"]
    assert (s["status"], s["clusters"], s["clusters_unreachable"], s["etcds"], s["members"]) == ("critical", 4, 1, 3, 9)
    assert s["findings"] == {"critical": 2, "warning": 1, "info": 0}
    assert s["by_code"] == {"CLUSTER_UNREACHABLE": 1, "DEBUG_CONTAINER_FAILED": 1, "MEMBER_UNREACHABLE": 1}
    assert s["failed"] is True
    assert [c["name"] for c in report["clusters"]] == ["testbed-1", "testbed-2", "testbed-3", "testbed-4"]
    assert {c["name"]: c["status"] for c in report["clusters"]} == {
        "testbed-1": "critical", "testbed-2": "warning", "testbed-3": "critical", "testbed-4": "ok"}
    t1 = report["clusters"][0]
    assert [(e["namespace"], e["status"]) for e in t1["etcds"]] == [("shoot--dev--alpha", "ok"), ("shoot--dev--beta", "critical")]
    assert t1["etcds"][0]["leader"] == "etcd-main-2" and len(t1["etcds"][0]["members"]) == 3
    assert report["$schema"] == _health_report.SCHEMA_ID and report["schema_version"] == 2 and report["collection_version"] == "0.1.0"
    assert report["thresholds"]["db_quota_critical"] == 0.95


def test_flat_findings_most_severe_first(report):
    flat = [(f["severity"], f["cluster"], f["namespace"], f["code"], f["pod"]) for f in report["findings"]]
    assert flat == [
        ("critical", "testbed-1", "shoot--dev--beta", "MEMBER_UNREACHABLE", "etcd-main-2"),
        ("critical", "testbed-3", None, "CLUSTER_UNREACHABLE", None),
        ("warning", "testbed-2", "shoot--dev--alpha", "DEBUG_CONTAINER_FAILED", "etcd-main-1"),
    ]


def test_status_computed_from_findings_and_info_is_ok():
    info = {"code": "NOTE", "severity": "info", "message": "fyi"}
    warn = {"code": "W", "severity": "warning", "message": "w"}
    crit = {"code": "C", "severity": "critical", "message": "c"}
    rep = _health_report.build_report([{"host": "h", "etcds": [
        {"namespace": "a", "etcd": "e1", "findings": [info]},
        {"namespace": "a", "etcd": "e2", "findings": [info, warn]},
        {"namespace": "a", "etcd": "e3", "status": "ok", "findings": [crit]},  # a stale status cannot hide a critical
        {"namespace": "a", "etcd": "e4", "status": "warning"},
    ]}], NOW)
    assert [e["status"] for e in rep["clusters"][0]["etcds"]] == ["ok", "warning", "critical", "warning"]
    assert rep["clusters"][0]["status"] == "critical" and rep["clusters"][0]["name"] == "h"
    # findings inherit where they are from the etcd they belong to
    assert {(f["cluster"], f["namespace"], f["etcd"]) for f in rep["findings"]} == {("h", "a", "e1"), ("h", "a", "e2"), ("h", "a", "e3")}


def test_cluster_level_finding_and_unreachable_without_finding():
    rep = _health_report.build_report([
        {"host": "a", "cluster": "ctx-a", "findings": [{"code": "RBAC_DENIED", "severity": "warning", "message": "cannot list pods"}]},
        {"host": "b", "unreachable": "timed out\nafter 10s"},
    ], NOW)
    b, a = rep["clusters"]  # sorted by name: "b" < "ctx-a"
    assert (a["name"], a["host"], a["status"]) == ("ctx-a", "a", "warning")
    assert b["status"] == "critical" and b["unreachable"] == "timed out after 10s"
    assert [f["code"] for f in b["findings"]] == ["CLUSTER_UNREACHABLE"]


@pytest.mark.parametrize("fail_on, drop_critical, failed", [
    ("critical", False, True), ("critical", True, False),
    ("warning", False, True), ("warning", True, True),
    ("never", False, False), ("never", True, False),
])
def test_fail_on(fail_on, drop_critical, failed):
    results = fleet()
    if drop_critical:  # keep only the healthy etcd and the one with a warning
        results = [r for r in results if r["host"] == "testbed-2"] + [dict(results[1], etcds=results[1]["etcds"][1:])]
        assert all(f["severity"] != "critical" for r in results for e in r["etcds"] for f in e["findings"])
    rep = _health_report.build_report(results, NOW, fail_on=fail_on)
    assert rep["summary"]["failed"] is failed and rep["fail_on"] == fail_on


def test_fail_on_only_ok_never_fails():
    rep = _health_report.build_report([dict(fleet()[1], etcds=fleet()[1]["etcds"][1:])], NOW, fail_on="warning")
    assert rep["summary"]["status"] == "ok" and rep["summary"]["failed"] is False


def test_fail_on_unknown_is_refused():
    with pytest.raises(ValueError, match="fail_on"):
        _health_report.build_report([], NOW, fail_on="sometimes")


def test_tolerates_missing_and_odd_keys(validator):
    rep = _health_report.build_report([
        {"host": "bare"},
        {"host": "odd", "duration_s": "2.5", "etcds": [{"namespace": "ns", "etcd": "e", "quota_bytes": "2097152", "members": [
            {"pod": "e-0", "id": 4690677177514411075, "db_size": "1048576", "is_leader": "true", "backup_restore": {"status": "503"}},
            {"name": "e-1"}], "findings": [{"code": "X", "severity": "FATAL", "message": None, "value": [1, 2]}]}]},
    ], NOW, thresholds={"revision_skew": "500"})
    assert errors(validator, json.loads(_health_report.render_json(rep))) == []
    odd = rep["clusters"][1]
    m0, m1 = odd["etcds"][0]["members"]
    assert odd["duration_s"] == 2.5 and odd["etcds"][0]["quota_source"] == "etcd config"
    assert (m0["id"], m0["db_size"], m0["db_quota_ratio"], m0["is_leader"]) == ("4118a20a69c74443", 1048576, 0.5, True)
    assert m0["backup_restore"] == {"status": 503, "health": None} and m1["pod"] == "e-1"
    assert odd["etcds"][0]["leader"] == "e-0"
    assert rep["findings"][0]["severity"] == "warning" and rep["findings"][0]["value"] == "[1, 2]"
    assert rep["thresholds"]["revision_skew"] == 500
    assert rep["clusters"][0]["status"] == "ok" and rep["clusters"][0]["etcds"] == []


# ---------------------------------------------------------------- JSON schema

def test_report_validates_against_schema(report, validator):
    assert errors(validator, json.loads(_health_report.render_json(report))) == []


@pytest.mark.parametrize("breakage", [
    lambda r: r["summary"].pop("failed"),
    lambda r: r["findings"][0].update(severity="fatal"),
    lambda r: r["findings"][0].update(extra="not allowed"),
    lambda r: r["summary"].update(extra=1),
    lambda r: r["clusters"][0].update(status="red"),
    lambda r: r["clusters"][0]["etcds"][0].pop("members"),
    lambda r: r.update(schema_version=1),
    lambda r: r["findings"][0].pop("members"),
    lambda r: r["findings"][0]["by_member"][0].update(severity="bad"),
    lambda r: r["summary"]["findings"].update(critical=-1),
])
def test_broken_report_does_not_validate(report, validator, breakage):
    broken = json.loads(_health_report.render_json(report))
    breakage(broken)
    assert errors(validator, broken)


# ---------------------------------------------------------------- JUnit

def test_junit(report):
    root = ET.fromstring(_health_report.render_junit(report))
    assert root.tag == "testsuites" and root.get("name") == "etcd health sweep"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["testbed-1", "testbed-2", "testbed-3", "testbed-4"]
    cases = root.findall("testsuite/testcase")
    assert int(root.get("tests")) == len(cases) == 3 + 1 + 1  # 3 etcds, testbed-3 "cluster", testbed-4 "discovery"
    # one testcase per etcd
    etcd_cases = {(c.get("classname"), c.get("name")) for c in cases if c.get("name") not in ("cluster", "discovery")}
    assert etcd_cases == {(f"{c['name']}.{e['namespace']}", e["etcd"]) for c in report["clusters"] for e in c["etcds"]}
    # one failure per critical finding, typed by code
    failures = root.findall(".//failure")
    assert sorted(f.get("type") for f in failures) == sorted(f["code"] for f in report["findings"] if f["severity"] == "critical")
    assert int(root.get("failures")) == 2  # testcases: testbed-1 beta, testbed-3 cluster
    beta = next(c for c in cases if c.get("classname") == "testbed-1.shoot--dev--beta")
    assert all("members: etcd-main-2" in f.text for f in beta.findall("failure"))
    unreachable = suites["testbed-3"].find("testcase")
    assert unreachable.get("name") == "cluster" and unreachable.find("failure").get("type") == "CLUSTER_UNREACHABLE"
    discovery = suites["testbed-4"].find("testcase")
    assert discovery.get("name") == "discovery" and discovery.find("failure") is None
    assert "no etcd found" in discovery.find("system-out").text
    # warnings go to system-out, not failures
    t2 = suites["testbed-2"].find("testcase")
    assert t2.find("failure") is None and "DEBUG_CONTAINER_FAILED" in t2.find("system-out").text
    assert suites["testbed-2"].get("failures") == "0" and suites["testbed-1"].get("failures") == "1"


def test_junit_survives_control_characters_and_markup(report):
    rep = copy.deepcopy(report)
    rep["findings"][0]["message"] = rep["clusters"][0]["etcds"][1]["findings"][0]["message"] = "bad \x1b[31m <b>&</b>"
    root = ET.fromstring(_health_report.render_junit(rep))
    assert any(f.get("message") == "bad ?[31m <b>&</b>" for f in root.iter("failure"))


# ---------------------------------------------------------------- HTML

class _Collect(HTMLParser):
    """Tags with their attributes, the rows of the findings table, and the text of <style>/<script>."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.findings_rows = 0
        self.code: list[str] = []
        self._table = None
        self._in_body = False
        self._raw = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("id")
        elif tag == "tbody":
            self._in_body = self._table == "findings"
        elif tag == "tr" and self._in_body:
            self.findings_rows += 1
        elif tag in ("style", "script"):
            self._raw = tag

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None
        elif tag == self._raw:
            self._raw = None

    def handle_data(self, data):
        if self._raw:
            self.code.append(data)


def parse_html(text: str) -> _Collect:
    parser = _Collect()
    parser.feed(text)
    parser.close()
    return parser


def test_html_is_self_contained(report):
    text = _health_report_render.render_html(report)
    assert text.startswith("<!DOCTYPE html>")
    parser = parse_html(text)
    tags = parser.tags
    for tag, attrs in tags:
        assert tag not in ("link", "img", "iframe", "object", "embed", "base"), tag
        for name in ("src", "href", "action", "srcset", "poster", "data", "background"):
            if name in attrs:
                assert attrs[name].startswith("#"), (tag, name, attrs[name])
    assert any(t == "a" and a.get("href", "").startswith("#etcd-") for t, a in tags)  # the check above has something to check
    assert "@import" not in text and "url(" not in text
    # URLs (the API servers, etcd endpoints in messages) appear only as text: not in attributes, CSS or JS
    assert parser.code and "getElementById(\"findings\")" in "".join(parser.code)
    assert not [c for c in parser.code if "://" in c or "//" in c.replace("://", "")]
    assert not [(t, a) for t, a in tags if any("://" in (v or "") or (v or "").startswith("//") for v in a.values())]
    assert "https://127.0.0.1:22001" in text  # which would be caught above if it were put into an attribute


def test_html_escapes_messages(report):
    rep = copy.deepcopy(report)
    evil = '<script>alert("x")</script>'
    rep["findings"][0]["message"] = evil
    rep["clusters"][2]["unreachable"] = evil
    rep["clusters"][0]["name"] = evil
    text = _health_report_render.render_html(rep)
    assert evil not in text and "alert(" not in text.replace("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;", "")
    assert text.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 3
    assert text.count("<script>") == 1


def test_html_data_status_and_findings_table(report):
    parser = parse_html(_health_report_render.render_html(report))
    blocks = {a["data-cluster"]: a["data-status"] for t, a in parser.tags if "cluster" in a.get("class", "").split()}
    assert blocks == {c["name"]: c["status"] for c in report["clusters"]}
    chips = [(a["data-etcd"], a["data-status"]) for t, a in parser.tags if "chip" in a.get("class", "").split()]
    assert chips == [(f"{e['namespace']}/{e['etcd']}", e["status"]) for c in report["clusters"] for e in c["etcds"]]
    assert ("shoot--dev--beta/etcd-main", "critical") in chips
    assert parser.findings_rows == len(report["findings"]) == 3
    severities = [a.get("data-sort") for t, a in parser.tags if t == "td" and "sev" in a.get("class", "")]
    assert severities == ["0", "0", "1"]
    assert any(t == "table" and a.get("id") == "findings" for t, a in parser.tags)


def test_html_member_details(report):
    text = _health_report_render.render_html(report)
    assert "leader" in text and "follower" in text and "healthy (HTTP 200)" in text
    assert "unhealthy: context deadline exceeded" in text  # the stopped member
    assert "20.0 KiB" in text and "0.0%" in text


# ---------------------------------------------------------------- Markdown

def test_markdown(report):
    rep = copy.deepcopy(report)
    rep["findings"][0]["message"] = "a | b <i>"
    text = _health_report_render.render_markdown(rep)
    assert text.startswith("# etcd health sweep\n")
    assert "a \\| b &lt;i&gt;" in text
    assert _health_report.summary_line(rep) in text.replace("\\|", "|")
    cells = 0
    for line in text.splitlines():  # every row has its header's number of cells once escaped pipes are ignored
        if line.startswith("| Cluster |") or line.startswith("| Severity |"):
            cells = len(re.split(r"(?<!\\)\|", line))
        elif line.startswith("| "):
            assert len(re.split(r"(?<!\\)\|", line)) == cells, line
    assert cells == 9
    assert "| testbed-1 | shoot--dev--beta/etcd-main | CRITICAL |" in text
    assert "| testbed-3 | (unreachable) | CRITICAL |" in text
    assert "| testbed-4 | (cluster) | OK |  |  | 0 | 0 | no etcd found |" in text
    assert "| CRITICAL | testbed-1 | shoot--dev--beta | etcd-main | etcd-main-2 | MEMBER_UNREACHABLE |" in text


# ---------------------------------------------------------------- files

def test_write_reports(report, tmp_path):
    dest = tmp_path / "out" / "nested"
    written = _health_report_render.write_reports(report, str(dest))
    assert set(written) == {"json", "md", "html", "junit"}
    assert sorted(os.listdir(dest)) == ["health_report.html", "health_report.json", "health_report.md", "junit.xml"]
    assert json.loads((dest / "health_report.json").read_text(encoding="utf-8")) == json.loads(json.dumps(report))
    assert (dest / "health_report.json").read_text(encoding="utf-8").startswith('{\n  "$schema"')
    ET.parse(written["junit"])
    assert open(written["html"], encoding="utf-8").read() == _health_report_render.render_html(report)
    assert open(written["md"], encoding="utf-8").read() == _health_report_render.render_markdown(report)
    # rewriting replaces the files and leaves no temporary file behind
    rep = copy.deepcopy(report)
    rep["title"] = "second run"
    assert _health_report_render.write_reports(rep, str(dest), formats=("md",)) == {"md": str(dest / "health_report.md")}
    assert (dest / "health_report.md").read_text(encoding="utf-8").startswith("# second run")
    assert len(os.listdir(dest)) == 4


def test_write_reports_unknown_format(report, tmp_path):
    with pytest.raises(ValueError, match="pdf"):
        _health_report_render.write_reports(report, str(tmp_path), formats=("json", "pdf"))
    assert os.listdir(tmp_path) == []


def test_module_run_reports_missing_hosts_and_writes_nothing_in_check_mode(tmp_path):
    params = {"results": fleet(), "hosts": ["seed-missing"], "dest": str(tmp_path / "out"), "formats": ["json", "junit"],
              "fail_on": "critical", "thresholds": {}, "title": "t"}
    dry = _health_report_render.run(params, True, "2026-11-27T00:00:00+00:00", "0.1.0")
    assert dry["changed"] is False and not (tmp_path / "out").exists()
    assert dry["files"] == {"json": str(tmp_path / "out" / "health_report.json"), "junit": str(tmp_path / "out" / "junit.xml")}
    assert any(line.startswith("seed-missing") and "CRITICAL" in line for line in dry["table"])
    assert dry["summary"]["clusters_unreachable"] >= 1 and dry["failed_findings"]
    real = _health_report_render.run(params, False, "2026-11-27T00:00:00+00:00", "0.1.0")
    assert real["changed"] is True and sorted(os.listdir(tmp_path / "out")) == ["health_report.json", "junit.xml"]
    written = json.loads((tmp_path / "out" / "health_report.json").read_text())
    assert "seed-missing" in [c["name"] for c in written["clusters"]]
    never = _health_report_render.run(dict(params, fail_on="never"), True, "2026-11-27T00:00:00+00:00", "0.1.0")
    assert never["failed_findings"] == [] and never["summary"]["failed"] is False


def test_module_run_records_the_thresholds_the_results_carry(tmp_path):
    results = fleet()
    results[1]["thresholds"] = {"db_quota_warning": 0.7}
    params = {"results": results, "hosts": [], "dest": str(tmp_path), "formats": ["json"], "fail_on": "never",
              "thresholds": {}, "title": "t"}
    _health_report_render.run(params, False, NOW, "0.1.0")
    written = json.loads((tmp_path / "health_report.json").read_text())
    assert written["thresholds"]["db_quota_warning"] == 0.7
    _health_report_render.run(dict(params, thresholds={"db_quota_warning": 0.6}), False, NOW, "0.1.0")
    assert json.loads((tmp_path / "health_report.json").read_text())["thresholds"]["db_quota_warning"] == 0.6


# ---------------------------------------------------------------- grouping (schema 2)

def nospace_etcd(quota: int) -> dict:
    """The recorded HA etcd-events with a NOSPACE alarm on etcd-events-0 (etcd 3.4.23), under a quota
    that puts all three members' databases (1.6 MB each) over it."""
    from ansible_collections.etcd_wrapper.ops.tests.unit.plugins.module_utils.etcd_fixtures import parsed
    obs = observation("nospace", etcd="etcd-events", alarm_list=parsed("nospace_alarm_list"), quota_bytes=quota)
    obs["member_list"] = {"members": [{"ID": s["Status"]["header"]["member_id"], "name": pod_of_endpoint(s["Endpoint"])}
                                      for s in obs["endpoint_status"]]}
    obs["pods"] = sorted(m["name"] for m in obs["member_list"]["members"])
    return {"host": "testbed-1", "cluster": "testbed-1", "etcds": [
        {"namespace": obs["namespace"], "etcd": "etcd-events", "pods": obs["pods"], "quota_bytes": quota,
         "members": [{"pod": p} for p in obs["pods"]], "findings": evaluate(obs)}]}


def test_one_finding_per_etcd_and_code_with_its_members(validator):
    raw = nospace_etcd(1700000)  # 1601536 / 1700000 = 94 %: warning on every member
    per_member = raw["etcds"][0]["findings"]
    assert sorted(f["code"] for f in per_member) == ["ALARM_NOSPACE", "DB_QUOTA_HIGH", "DB_QUOTA_HIGH", "DB_QUOTA_HIGH"]
    rep = _health_report.build_report([raw], NOW)
    assert errors(validator, json.loads(_health_report.render_json(rep))) == []
    etcd = rep["clusters"][0]["etcds"][0]
    assert [(f["code"], f["severity"], f["pod"], f["members"]) for f in etcd["findings"]] == [
        ("ALARM_NOSPACE", "critical", "etcd-events-0", ["etcd-events-0"]),
        ("DB_QUOTA_HIGH", "warning", None, ["etcd-events-0", "etcd-events-1", "etcd-events-2"])]
    quota = etcd["findings"][1]
    # the worst member's value and message, the others named once; every member's own detail kept
    sizes = {pod_of_endpoint(s["Endpoint"]): s["Status"]["dbSize"] for s in json.loads(
        json.load(open(os.path.join(os.path.dirname(__file__), "fixtures", "etcd", "nospace_endpoint_status.json")))["stdout"])}
    worst_pod = max(sizes, key=sizes.get)
    assert quota["value"] == round(sizes[worst_pod] / 1700000, 4) and quota["threshold"] == 0.8
    others = sorted(set(sizes) - {worst_pod})
    assert quota["message"].endswith(f"; also on {', '.join(others)}") and str(sizes[worst_pod]) in quota["message"]
    assert sorted(d["pod"] for d in quota["by_member"]) == sorted(sizes) and quota["by_member"][0]["pod"] == worst_pod
    assert etcd["counts"] == {"critical": 1, "warning": 1, "info": 0} == rep["clusters"][0]["counts"]
    assert [m["findings"] for m in etcd["members"]] == [["ALARM_NOSPACE", "DB_QUOTA_HIGH"], ["DB_QUOTA_HIGH"], ["DB_QUOTA_HIGH"]]
    s = rep["summary"]
    assert s["findings"] == {"critical": 1, "warning": 1, "info": 0}
    assert s["member_findings"] == {"critical": 1, "warning": 3, "info": 0}
    assert s["etcds_by_status"] == {"critical": 1, "warning": 0, "ok": 0}
    assert _health_report.summary_line(rep).startswith("CRITICAL: 1 clusters, 1 etcds (1 critical), 3 members; 1 critical, 1 warning")
    # one line for the etcd in the terminal table
    assert [line for line in _health_report.table_lines(rep) if "etcd-events" in line] == [
        "testbed-1  shoot--dev--alpha/etcd-events  CRITICAL  1     1     ALARM_NOSPACE, DB_QUOTA_HIGH (3 members)"]


def test_worst_member_decides_severity_and_grouping_is_idempotent():
    raw = nospace_etcd(1600000)  # about 100 % of the quota: critical
    rep = _health_report.build_report([raw], NOW)
    quota = next(f for f in rep["findings"] if f["code"] == "DB_QUOTA_HIGH")
    assert quota["severity"] == max((d["severity"] for d in quota["by_member"]), key=["info", "warning", "critical"].index)
    # a report read back and built again (a merge of slices does this) groups to the same findings
    again = _health_report.build_report([{"host": "testbed-1", "cluster": "testbed-1", "etcds": rep["clusters"][0]["etcds"]}], NOW)

    def strip(findings):
        return [{k: v for k, v in f.items() if k != "remedy"} for f in findings]
    assert strip(again["findings"]) == strip(rep["findings"])


def test_fragmented_worst_is_the_lowest_in_use_share():
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._findings import group
    fs = [{"cluster": "c", "namespace": "n", "etcd": "e", "code": "DB_FRAGMENTED", "severity": "warning", "pod": p,
           "message": f"only {v:.0%} in use", "value": v, "threshold": 0.5} for p, v in (("a", 0.4), ("b", 0.1), ("c", 0.3))]
    (g,) = group(fs)
    assert (g["value"], g["message"], g["members"]) == (0.1, "only 10% in use; also on a, c", ["a", "b", "c"])


# ---------------------------------------------------------------- merging partial reports (sliced sweeps)

def _params(tmp_path, **over) -> dict:
    return dict({"results": [], "hosts": [], "dest": str(tmp_path / "out"), "formats": ["json"], "fail_on": "critical",
                 "thresholds": {}, "title": "etcd health sweep"}, **over)


def test_partial_reports_merge_into_the_whole_report(tmp_path):
    """The fleet swept in two slices (every 2nd host, as AWX slices by name), each slice's report
    written as the sweep writes it; merged - one from a file, one as a document (an AWX artifact) -
    they give the report of the whole fleet: the same summary, findings and remedies."""
    whole = _health_report_render.run(_params(tmp_path, results=fleet(), return_report=True, remedies={"inventory": ["inv.yml"]}), True, NOW,
                                      "0.1.0")
    hosts = sorted(r["host"] for r in fleet())
    parts = []
    for number in (1, 2):
        mine = [r for r in fleet() if r["host"] in hosts[number - 1::2]]
        parts.append(_health_report_render.run(_params(tmp_path, results=mine, return_report=True, fail_on="never"), True, NOW, "0.1.0")["report"])
    path = tmp_path / "slice-1.json"
    path.write_text(_health_report.render_json(parts[0]))
    merged = _health_report_render.run(_params(tmp_path, partials=[str(path), parts[1]], return_report=True,
                                               remedies={"inventory": ["inv.yml"]}), False, NOW, "0.1.0")
    assert merged["merged"] == 2 and parts[0]["summary"]["clusters"] + parts[1]["summary"]["clusters"] == 4
    assert merged["report"]["summary"] == whole["report"]["summary"] and merged["report"]["summary"]["failed"] is True
    assert merged["report"]["findings"] == whole["report"]["findings"]
    assert merged["report"]["clusters"] == whole["report"]["clusters"]
    assert json.loads((tmp_path / "out" / "health_report.json").read_text())["findings"] == whole["report"]["findings"]


def test_partial_reports_that_cannot_be_merged_say_why_in_one_line(tmp_path):
    part = _health_report_render.run(_params(tmp_path, results=fleet()[:1], return_report=True), True, NOW, "0.1.0")["report"]
    (tmp_path / "junk.json").write_text("{not json")
    cases = [
        ([part, part], f"cluster {part['clusters'][0]['host']} is in both partial report 1 and partial report 2: slices must not overlap"),
        ([{"title": "x"}], "partial report 1 is not a health report (no clusters and summary)"),
        ([dict(part, schema_version=3)], "partial report 1 has schema_version 3; this collection reads 1 to 2"),
        ([str(tmp_path / "missing.json")], f"cannot read partial report {tmp_path / 'missing.json'}: No such file or directory"),
    ]
    for partials, message in cases:
        result, error = _health_report_render.run_or_error(_params(tmp_path, partials=partials), False)
        assert (result, error) == (None, message)
    result, error = _health_report_render.run_or_error(_params(tmp_path, partials=[str(tmp_path / "junk.json")]), False)
    assert result is None and error.startswith(f"partial report {tmp_path / 'junk.json'} is not JSON: ") and "\n" not in error
    clash = _health_report_render.run_or_error(_params(tmp_path, results=fleet()[:1], partials=[part]), False)
    assert clash == (None, f"cluster {part['clusters'][0]['host']} is both in results and in a partial report")
    assert not (tmp_path / "out").exists()  # nothing written on any of these
