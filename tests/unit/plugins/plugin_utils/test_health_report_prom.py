# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health report as Prometheus text (node_exporter's textfile collector) and its push to a
Pushgateway, on a report built from a real etcd_health result: testbed-3 of the local fleet recorded
with `python -m testbed fault` faults on (fixtures/health_report/etcd_health_testbed-3_faults.json):
one member of shoot--dev--charlie/etcd-events stopped, two of the three of
shoot--prod--charlie-ha/etcd-events stopped (no quorum, no leader), a stale delta snapshot on
shoot--prod--charlie-ha/etcd-main, a hibernated namespace. promtool (Debian's prometheus) checks the
text when it is installed."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _health_report
from ansible_collections.etcd_wrapper.ops.plugins.plugin_utils import _health_report_prom as prom
from ansible_collections.etcd_wrapper.ops.plugins.plugin_utils import _health_report_render

from ansible_collections.etcd_wrapper.ops.tests.unit.plugins.module_utils.test_health_report import NOW, fleet

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "module_utils", "fixtures", "health_report", "etcd_health_testbed-3_faults.json")
GENERATED = "2026-12-01T01:45:00Z"
STARTED = "2026-12-01T01:44:20Z"
HA, DEV, HIB = "shoot--prod--charlie-ha", "shoot--dev--charlie", "shoot--prod--charlie-hib"


def recorded() -> dict:
    with open(FIXTURE, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture
def report() -> dict:
    return _health_report.build_report([recorded()], GENERATED)


# ---------------------------------------------------------------- a strict reader of the text format

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')  # no third field: no timestamp
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r'\\([\\"n])', lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse(text: str) -> dict[str, dict]:
    """{family: {"help", "type", "samples": {frozenset(labels): value}}}; fails on what node_exporter's
    expfmt parser or the Pushgateway would refuse: a sample timestamp, a duplicate series, a family
    split in two, HELP/TYPE twice or after samples."""
    families: dict[str, dict] = {}
    current = None
    assert text.endswith("\n") and "\r" not in text
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6].lower(), *line[7:].split(" ", 1)
            fam = families.setdefault(name, {"samples": {}})
            assert kind not in fam and not fam["samples"], f"{kind} of {name} twice or after its samples"
            fam[kind] = rest
            current = name
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line (or one with a timestamp): {line!r}"
        name, labels, value = match.groups()
        assert name == current, f"{name} outside its family block"
        pairs, pos = [], 0
        while labels and pos < len(labels):
            m = LABEL.match(labels, pos)
            assert m, f"bad label at {labels[pos:]!r}"
            pairs.append((m.group(1), _unescape(m.group(2))))
            pos = m.end()
        key = frozenset(pairs)
        assert len(key) == len(pairs), f"a label twice: {line}"
        assert key not in families[name]["samples"], f"duplicate series: {line}"
        families[name]["samples"][key] = float(value)
    for name, fam in families.items():
        assert fam.get("help") and fam.get("type") == "gauge" and fam["samples"], name
        assert name.startswith("etcd_wrapper_ops_")
    return families


def series(families: dict, name: str) -> dict[tuple, float]:
    """{sorted (label, value) pairs: value} of one family (empty when it is absent)."""
    return {tuple(sorted(k)): v for k, v in families.get(f"etcd_wrapper_ops_{name}", {"samples": {}})["samples"].items()}


def where(cluster: str, namespace: str, etcd: str, **more) -> tuple:
    return tuple(sorted({"cluster": cluster, "namespace": namespace, "etcd": etcd, **more}.items()))


# ---------------------------------------------------------------- the text of a real report

def test_findings_one_series_per_label_set(report):
    families = parse(prom.render_prom(report, STARTED))
    expected = {where(f["cluster"], f["namespace"] or "", f["etcd"] or "", code=f["code"], severity=f["severity"])
                for f in report["findings"]}
    assert set(series(families, "finding")) == expected and set(series(families, "finding").values()) == {1.0}
    # what the faults gave, as the etcd_health result recorded it
    assert where("testbed-3", HA, "etcd-events", code="NO_LEADER", severity="critical") in expected
    assert where("testbed-3", HA, "etcd-main", code="BACKUP_DELTA_STALE", severity="critical") in expected
    assert where("testbed-3", HIB, "etcd-main", code="ETCD_HIBERNATED", severity="info") in expected
    # members affected: the two stopped members of the HA etcd are one series with 2, NO_LEADER is not a member finding
    members = series(families, "finding_members")
    assert members[where("testbed-3", HA, "etcd-events", code="MEMBER_UNREACHABLE", severity="critical")] == 2
    assert members[where("testbed-3", DEV, "etcd-events", code="MEMBER_UNREACHABLE", severity="critical")] == 1
    assert where("testbed-3", HA, "etcd-events", code="NO_LEADER", severity="critical") not in members


def test_per_etcd_gauges_follow_the_members(report):
    families = parse(prom.render_prom(report, STARTED))
    raw = {(e["namespace"], e["etcd"]): e for e in recorded()["etcds"]}
    status = series(families, "etcd_status")
    for e in report["clusters"][0]["etcds"]:
        at = ("testbed-3", e["namespace"], e["etcd"])
        # one series per possible status, 1 for the etcd's own (kube-state-metrics' phase gauges)
        assert {s: status[where(*at, status=s)] for s in ("ok", "warning", "critical")} == \
               {s: float(s == e["status"]) for s in ("ok", "warning", "critical")}
        members = raw[(e["namespace"], e["etcd"])]["members"]
        assert series(families, "etcd_members")[where(*at)] == len(members)
        assert series(families, "etcd_members_healthy")[where(*at)] == sum(1 for m in members if m.get("health") is True)
        sizes = [m["db_size"] for m in members if m.get("db_size") is not None]
        assert series(families, "etcd_db_size_bytes").get(where(*at)) == (max(sizes) if sizes else None)
    leader = series(families, "etcd_leader_present")
    assert leader[where("testbed-3", HA, "etcd-events")] == 0  # two of three stopped: no quorum
    assert leader[where("testbed-3", DEV, "etcd-events")] == 1  # one of three stopped: still a leader
    assert where("testbed-3", HIB, "etcd-main") not in leader  # hibernated: no members, no leader expected
    assert series(families, "etcd_members")[where("testbed-3", HIB, "etcd-main")] == 0
    assert series(families, "etcd_db_quota_ratio")[where("testbed-3", DEV, "etcd-main")] >= 0


def test_sweep_and_cluster_gauges(report):
    families = parse(prom.render_prom(report, STARTED))
    assert series(families, "sweep_timestamp_seconds") == {(): 1796089500.0}  # 2026-12-01T01:45:00Z
    assert series(families, "sweep_duration_seconds") == {(): 40.0}
    counts = report["summary"]["findings"]
    assert series(families, "sweep_findings") == {(("severity", s),): float(counts[s]) for s in ("critical", "warning", "info")}
    assert counts["critical"] > 0 and series(families, "sweep_failed") == {(("fail_on", "critical"),): 1.0}
    assert series(families, "cluster_reachable") == {(("cluster", "testbed-3"),): 1.0}
    assert series(families, "cluster_duration_seconds") == {(("cluster", "testbed-3"),): recorded()["duration_s"]}
    never = parse(prom.render_prom(_health_report.build_report([recorded()], GENERATED, fail_on="never")))
    assert series(never, "sweep_failed") == {(("fail_on", "never"),): 0.0}
    assert series(never, "sweep_duration_seconds") == {}  # no start, no duration (not a guess)
    assert "etcd_wrapper_ops_sweep_duration_seconds" not in prom.render_prom(report)


def test_unreachable_cluster_and_cluster_level_findings():
    families = parse(prom.render_prom(_health_report.build_report(fleet(), NOW)))
    assert series(families, "cluster_reachable")[(("cluster", "testbed-3"),)] == 0
    assert series(families, "cluster_reachable")[(("cluster", "testbed-4"),)] == 1
    assert where("testbed-3", "", "", code="CLUSTER_UNREACHABLE", severity="critical") in series(families, "finding")


def test_no_timestamps_and_every_family_typed(report):
    text = prom.render_prom(report, STARTED)
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples and all(len(re.sub(r"\{.*\}", "", line).split(" ")) == 2 for line in samples)  # name and value, nothing after
    names = {line.split("{")[0].split(" ")[0] for line in samples}
    assert names == {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert text == prom.render_prom(copy.deepcopy(report), STARTED)  # stable order


def test_label_values_and_help_are_escaped(report):
    rep = copy.deepcopy(report)
    odd = 'we"ird\\name\nspace'
    for f in rep["findings"]:
        f["namespace"] = odd
    text = prom.render_prom(rep)
    assert 'namespace="we\\"ird\\\\name\\nspace"' in text
    found = {dict(k)["namespace"] for k in parse(text)["etcd_wrapper_ops_finding"]["samples"]}
    assert odd in found  # read back as it was
    assert prom._escape_help("a\\b\nc") == "a\\\\b\\nc"


def test_same_labels_twice_are_one_series(report):
    rep = copy.deepcopy(report)
    first = next(f for f in rep["findings"] if f["code"] == "MEMBER_UNREACHABLE" and f["namespace"] == HA)
    twin = dict(first, members=["etcd-events-9"], pod="etcd-events-9", message="the same finding once more")
    rep["findings"].append(twin)
    families = parse(prom.render_prom(rep))
    key = where("testbed-3", HA, "etcd-events", code="MEMBER_UNREACHABLE", severity="critical")
    assert list(series(families, "finding")).count(key) == 1
    assert series(families, "finding_members")[key] == len(set(first["members"] or [first["pod"]]) | {"etcd-events-9"})


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus; tests/tools/install-system-deps.sh)")
@pytest.mark.parametrize("odd", [False, True])
def test_promtool_check_metrics_passes(report, odd):
    rep = copy.deepcopy(report)
    if odd:
        for f in rep["findings"]:
            f["message"], f["namespace"] = "x", 'q"uo\\te\nnl ü'
    text = prom.render_prom(rep, STARTED)
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus; tests/tools/install-system-deps.sh)")
def test_promtool_refuses_what_we_never_write():
    """The check is not a rubber stamp: a sample timestamp and a duplicate series fail it."""
    for bad in ("# HELP a_b x\n# TYPE a_b gauge\na_b 1 1700000000000\n", "# HELP a_b x\n# TYPE a_b gauge\na_b 1\na_b 2\n"):
        proc = subprocess.run(["promtool", "check", "metrics"], input=bad, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode != 0, bad


# ---------------------------------------------------------------- files and check mode

def params(tmp_path, **over) -> dict:
    base = {"results": [recorded()], "hosts": [], "dest": str(tmp_path / "out"), "formats": ["json", "prom"], "fail_on": "critical",
            "thresholds": {}, "title": "etcd health sweep", "remedies": {}, "started_at": STARTED, "pushgateway": None}
    base.update(over)
    return base


def test_prom_file_written_atomically(tmp_path):
    result = _health_report_render.run(params(tmp_path), False, GENERATED, "0.1.0")
    path = tmp_path / "out" / "health_report.prom"
    assert result["files"]["prom"] == str(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["health_report.json", "health_report.prom"]  # no temp file left
    assert oct(path.stat().st_mode & 0o777) == "0o644"  # node_exporter runs as another user
    assert series(parse(path.read_text()), "sweep_duration_seconds") == {(): 40.0}
    assert "push" not in result


def test_check_mode_renders_writes_and_pushes_nothing(tmp_path):
    gateway = {"url": "http://user:s3cret-pw@127.0.0.1:9/base/", "job": "etcd", "grouping": {"fleet": "prod"}, "password": "pw2"}
    result = _health_report_render.run(params(tmp_path, pushgateway=gateway), True, GENERATED, "0.1.0")
    assert not (tmp_path / "out").exists()
    text = prom.render_prom(_health_report.build_report([recorded()], GENERATED), STARTED)
    assert result["push"] == {"url": "http://127.0.0.1:9/base/metrics/job/etcd/fleet/prod", "method": "PUT", "job": "etcd",
                              "grouping": {"fleet": "prod"}, "series": sum(1 for line in text.splitlines() if not line.startswith("#")),
                              "bytes": len(text.encode()), "pushed": False}
    assert "s3cret" not in json.dumps(result)


def test_options_are_checked_before_anything_is_written(tmp_path):
    for bad, why in ((dict(started_at="yesterday"), "started_at must be an ISO 8601 time"),
                     (dict(pushgateway={"url": "ftp://gw"}), "pushgateway.url must be an http:// or https:// URL"),
                     (dict(pushgateway={"url": "http://gw", "grouping": {"cluster": "x"}}), "'cluster' is a label of the pushed series"),
                     (dict(pushgateway={"url": "http://gw", "job": ""}), "pushgateway.job must not be empty")):
        result, error = _health_report_render.run_or_error(params(tmp_path, **bad), False)
        assert result is None and why in error, error
        assert "\n" not in error
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the push URL

@pytest.mark.parametrize("job, grouping, path", [
    (None, {}, "/metrics/job/etcd_wrapper_ops"),
    ("etcd", {"fleet": "prod", "az": "eu-1"}, "/metrics/job/etcd/az/eu-1/fleet/prod"),  # sorted
    ("nightly/etcd", {}, "/metrics/job@base64/bmlnaHRseS9ldGNk"),  # '/' only in base64 form
    ("etcd", {"path": "/var/tmp"}, "/metrics/job/etcd/path@base64/L3Zhci90bXA="),  # the README's example
    ("etcd", {"empty": ""}, "/metrics/job/etcd/empty@base64/="),  # an empty value needs the single '='
    ("etcd", {"name": "Προμηθεύς a+b c"}, "/metrics/job/etcd/name/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82%20a%2Bb%20c"),
])
def test_push_url(job, grouping, path):
    assert prom.push_url({"url": "https://gw.example.org:9091/", "job": job, "grouping": grouping}) == "https://gw.example.org:9091" + path


@pytest.mark.parametrize("name", ["job", "__name__", "1x", "a-b", "severity", "etcd"])
def test_grouping_label_names_refused(name):
    with pytest.raises(prom.PushError) as exc:
        prom.push_url({"url": "http://gw", "grouping": {name: "v"}})
    assert repr(name) in str(exc.value) and "\n" not in str(exc.value)


def test_redact():
    assert prom.redact("https://u:p@[::1]:9091/x") == "https://[::1]:9091/x"
    assert prom.redact("http://gw:9091") == "http://gw:9091"


# ---------------------------------------------------------------- pushing, against a local HTTP server

class Gateway(BaseHTTPRequestHandler):
    """Answers as a Pushgateway would: 200 to a good PUT, 400 with its message to a bad one, 401
    without the right basic auth; records what it got."""
    got: list = []
    answer = (200, b"")

    def do_PUT(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).got.append({"path": self.path, "auth": self.headers.get("Authorization"), "type": self.headers.get("Content-Type"),
                               "body": body.decode()})
        code, text = type(self).answer
        self.send_response(code)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    Gateway.got, Gateway.answer = [], (200, b"")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_push_puts_the_text_with_basic_auth(report, gateway):
    text = prom.render_prom(report, STARTED)
    result = prom.push(text, {"url": gateway, "job": "etcd", "grouping": {"fleet": "a b"}, "username": "u", "password": "pw", "timeout": 5})
    assert result["pushed"] is True and result["status"] == 200
    (got,) = Gateway.got
    assert got["path"] == "/metrics/job/etcd/fleet/a%20b" and got["body"] == text
    assert got["type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert got["auth"] == "Basic dTpwdw=="  # u:pw, sent with the first request
    prom.push(text, {"url": gateway.replace("http://", "http://u:pw@"), "timeout": 5})  # or from the URL
    assert Gateway.got[1]["auth"] == "Basic dTpwdw==" and Gateway.got[1]["path"] == "/metrics/job/etcd_wrapper_ops"


def test_push_refused_is_one_line_with_status_and_message_without_password(report, gateway):
    password = "Pa55-in-the-body"
    Gateway.answer = (400, f"pushed metrics are invalid or inconsistent with existing metrics: echo {password}\nsecond line".encode())
    with pytest.raises(prom.PushError) as exc:
        prom.push(prom.render_prom(report), {"url": gateway.replace("http://", "http://u:other-secret@"), "username": "u",
                                             "password": password, "timeout": 5})
    msg = str(exc.value)
    assert msg.startswith(f"cannot push the metrics to {gateway}/metrics/job/etcd_wrapper_ops: HTTP 400 Bad Request: pushed metrics are invalid")
    assert "\n" not in msg and password not in msg and "other-secret" not in msg and "********" in msg


def test_failed_push_leaves_the_files_and_fails(tmp_path):
    """A closed port: the files are written, the result says where it tried, one error line."""
    with ThreadingHTTPServer(("127.0.0.1", 0), Gateway) as probe:
        closed = probe.server_address[1]
    gateway = {"url": f"http://127.0.0.1:{closed}", "job": "etcd_wrapper_ops", "grouping": {}, "timeout": 5, "password": None}
    result, error = _health_report_render.run_or_error(params(tmp_path, pushgateway=gateway), False)
    assert (tmp_path / "out" / "health_report.prom").is_file() and (tmp_path / "out" / "health_report.json").is_file()
    assert error.startswith(f"cannot push the metrics to http://127.0.0.1:{closed}/metrics/job/etcd_wrapper_ops: ") and "refused" in error
    assert "\n" not in error
    assert result["push"]["pushed"] is False and result["push"]["error"] == error and result["files"]["prom"]


# ---------------------------------------------------------------- the README's alert expressions

README = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "README.md")


def readme_exprs() -> list[str]:
    with open(README, encoding="utf-8") as fh:
        blocks = re.findall(r"^```promql\n(.*?)^```", fh.read(), flags=re.S | re.M)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_alert_expressions_name_our_series():
    exprs = readme_exprs()
    assert exprs
    for expr in exprs:
        names = set(re.findall(r"etcd_wrapper_ops_[a-z_]+", expr))
        assert names and all(n[len(prom.PREFIX):] in prom.FAMILIES for n in names), expr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus; tests/tools/install-system-deps.sh)")
def test_readme_alert_expressions_are_valid_rules(tmp_path):
    rules = {"groups": [{"name": "etcd-wrapper-ops", "rules": [{"alert": f"EtcdHealth{i}", "expr": e} for i, e in enumerate(readme_exprs())]}]}
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    proc = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and f"SUCCESS: {len(readme_exprs())} rules found" in proc.stdout, proc.stdout + proc.stderr
