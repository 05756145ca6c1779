"""The report's Prometheus text pushed to a real Pushgateway (Debian's prometheus-pushgateway on
127.0.0.1, started here) through the real `ansible` / `ansible-playbook` CLIs, then scraped back from
the gateway's /metrics: the series, labels and values that were pushed are there; a second push
replaces the group (PUT); check mode pushes nothing; a closed port and wrong credentials fail the task
with one line while the report files are written. The last test sweeps testbed-3 with
health_sweep.yml (its start time noted by the playbook) and pushes the result."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_module

PUSHGATEWAY = shutil.which("prometheus-pushgateway")
FIXTURE = REPO / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "health_report" / "etcd_health_testbed-3_faults.json"
STARTED = "2026-12-01T01:44:20Z"
USER, PASSWORD = "etcdops", "Push-Pa55-" + uuid.uuid4().hex[:8]

pytestmark = pytest.mark.skipif(PUSHGATEWAY is None, reason="prometheus-pushgateway not installed (tests/tools/install-system-deps.sh)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(tmp: Path, auth: bool = False) -> tuple[str, subprocess.Popen]:
    port = free_port()
    # Debian's default --persistence.file is /var/lib/prometheus/pushgateway.data: none here
    argv = [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file=", "--log.level=warn"]
    if auth:  # exporter-toolkit's web config: basic_auth_users with bcrypt hashes (htpasswd -B makes them)
        hashed = subprocess.run(["htpasswd", "-nbBC", "10", USER, PASSWORD], capture_output=True, text=True, check=True).stdout
        (tmp / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed.strip().split(":", 1)[1]}}))
        argv.append(f"--web.config.file={tmp / 'web.yml'}")
    log = open(tmp / f"pushgateway-{port}.log", "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=2)  # noqa: S310 (our own http://127.0.0.1)
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # behind basic auth: up
                break
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (tmp / f"pushgateway-{port}.log").read_text()
        time.sleep(0.1)
    return url, proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def gateway(tmp_path):
    url, proc = start_gateway(tmp_path)
    yield url
    stop(proc)


@pytest.fixture
def auth_gateway(tmp_path):
    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd (apache2-utils) not installed: no bcrypt hash for the gateway's web config")
    url, proc = start_gateway(tmp_path, auth=True)
    yield url
    stop(proc)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str, prefix: str = "etcd_wrapper_ops_") -> dict[tuple, float]:
    """{(name, ((label, value), ...)): value} of the sample lines whose name starts with prefix."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(prefix):
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, labels, value = match.groups()
        out[(name, tuple(sorted(LABEL.findall(labels or ""))))] = float(value)
    return out


def scrape(url: str, auth: tuple[str, str] | None = None) -> str:
    request = urllib.request.Request(f"{url}/metrics")
    if auth:
        import base64
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (our own http://127.0.0.1)
        return resp.read().decode()


def pushed_as(file_text: str, **group: str) -> dict[tuple, float]:
    """What the file's series look like on the gateway: the grouping labels added (and instance="" when
    the group has none: prometheus/pushgateway README.md, "About the job and instance labels")."""
    group.setdefault("instance", "")
    return {(name, tuple(sorted(dict(labels, **group).items()))): value for (name, labels), value in samples(file_text).items()}


def report_args(dest: Path, **more) -> dict:
    return {"results": [json.loads(FIXTURE.read_text())], "dest": str(dest), "formats": ["json", "prom"], "started_at": STARTED, **more}


def test_push_then_scrape_back_what_was_pushed(gateway, tmp_path):
    dest = tmp_path / "out"
    result = run_module("etcd_health_report", report_args(dest, pushgateway={"url": gateway, "job": "etcd_it",
                                                                             "grouping": {"fleet": "it/one", "site": "a b"}}))
    assert result.cli_rc == 0, result.stdout
    assert result["push"]["pushed"] is True and result["push"]["status"] == 200
    assert result["push"]["url"] == f"{gateway}/metrics/job/etcd_it/fleet@base64/aXQvb25l/site/a%20b"
    text = (dest / "health_report.prom").read_text()
    expected = pushed_as(text, job="etcd_it", fleet="it/one", site="a b")
    assert len(expected) == result["push"]["series"] > 50
    scraped = samples(scrape(gateway))
    assert scraped == expected  # every series, label and value, and nothing else of ours
    # spot checks on what the recorded faults mean
    ha = (("cluster", "testbed-3"), ("etcd", "etcd-events"), ("fleet", "it/one"), ("instance", ""), ("job", "etcd_it"),
          ("namespace", "shoot--prod--charlie-ha"), ("site", "a b"))
    assert scraped[("etcd_wrapper_ops_etcd_leader_present", ha)] == 0
    assert scraped[("etcd_wrapper_ops_finding_members", tuple(sorted(ha + (("code", "MEMBER_UNREACHABLE"), ("severity", "critical")))))] == 2
    group_labels = (("fleet", "it/one"), ("instance", ""), ("job", "etcd_it"), ("site", "a b"))
    # from started_at to the report's generated_at (the time of this run)
    report = json.loads((dest / "health_report.json").read_text())
    assert scraped[("etcd_wrapper_ops_sweep_duration_seconds", group_labels)] == \
           datetime.datetime.fromisoformat(report["generated_at"]).timestamp() - datetime.datetime.fromisoformat(STARTED).timestamp()
    # the gateway's own bookkeeping for the group: a successful push, no failed one
    group = '{fleet="it/one",instance="",job="etcd_it",site="a b"}'
    assert re.search(r"^push_time_seconds" + re.escape(group) + r" [1-9]", scrape(gateway), re.M)
    assert re.search(r"^push_failure_time_seconds" + re.escape(group) + r" 0$", scrape(gateway), re.M)


def test_a_second_push_replaces_the_group(gateway, tmp_path):
    """PUT: a finding that is gone from the next sweep is gone from the gateway (POST would keep it)."""
    options = {"url": gateway, "grouping": {"fleet": "replace"}}
    assert run_module("etcd_health_report", report_args(tmp_path / "a", pushgateway=options)).cli_rc == 0
    assert any(name == "etcd_wrapper_ops_finding" for name, _l in samples(scrape(gateway)))
    healthy = {"host": "testbed-9", "cluster": "testbed-9", "etcds": [], "findings": [], "duration_s": 1.5}
    second = run_module("etcd_health_report", {"results": [healthy], "dest": str(tmp_path / "b"), "formats": ["prom"], "pushgateway": options})
    assert second.cli_rc == 0
    scraped = samples(scrape(gateway))
    assert scraped == pushed_as((tmp_path / "b" / "health_report.prom").read_text(), job="etcd_wrapper_ops", fleet="replace")
    assert not any(name == "etcd_wrapper_ops_finding" for name, _l in scraped)
    assert scraped[("etcd_wrapper_ops_cluster_reachable", (("cluster", "testbed-9"), ("fleet", "replace"), ("instance", ""),
                                                           ("job", "etcd_wrapper_ops")))] == 1


def test_check_mode_pushes_nothing(gateway, tmp_path):
    result = run_module("etcd_health_report", report_args(tmp_path / "out", pushgateway={"url": gateway}), check=True)
    assert result.cli_rc == 0 and result["changed"] is False
    assert result["push"]["pushed"] is False and result["push"]["url"] == f"{gateway}/metrics/job/etcd_wrapper_ops"
    assert result["push"]["series"] > 50
    assert samples(scrape(gateway)) == {} and "push_time_seconds" not in scrape(gateway)
    assert not (tmp_path / "out").exists()


def test_closed_port_fails_in_one_line_after_writing_the_files(tmp_path):
    port = free_port()
    result = run_module("etcd_health_report", report_args(tmp_path / "out", pushgateway={"url": f"http://127.0.0.1:{port}", "timeout": 5}))
    assert result.failed
    assert result["msg"].startswith(f"cannot push the metrics to http://127.0.0.1:{port}/metrics/job/etcd_wrapper_ops: ")
    assert "Connection refused" in result["msg"] and "\n" not in result["msg"]
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"health_report.json", "health_report.prom"}
    assert result["files"]["prom"] == str(tmp_path / "out" / "health_report.prom")


def test_basic_auth(auth_gateway, tmp_path):
    wrong = run_module("etcd_health_report", report_args(tmp_path / "w", pushgateway={"url": auth_gateway, "username": USER,
                                                                                      "password": "not-" + PASSWORD}), verbosity=3)
    assert wrong.failed
    assert wrong["msg"].startswith(f"cannot push the metrics to {auth_gateway}/metrics/job/etcd_wrapper_ops: HTTP 401 Unauthorized")
    assert "\n" not in wrong["msg"] and "not-" + PASSWORD not in wrong.stdout + wrong.stderr
    assert (tmp_path / "w" / "health_report.prom").is_file()
    right = run_module("etcd_health_report", report_args(tmp_path / "r", pushgateway={"url": auth_gateway, "username": USER,
                                                                                      "password": PASSWORD}), verbosity=3)
    assert right.cli_rc == 0 and right["push"]["pushed"] is True
    assert PASSWORD not in right.stdout + right.stderr
    assert samples(scrape(auth_gateway, (USER, PASSWORD))) == pushed_as((tmp_path / "r" / "health_report.prom").read_text(),
                                                                        job="etcd_wrapper_ops")


def test_health_sweep_pushes_with_its_start_time(gateway, tmp_path, fleet, fleet_debug_image):
    """health_sweep.yml on the fleet's last cluster (whatever state it is in): the playbook notes when
    it started, the report pushes what it wrote, and the duration is that of this run."""
    inventory = tmp_path / "fleet.kubeconfig.yml"
    inventory.write_text(yaml.safe_dump({"plugin": "etcd_wrapper.ops.kubeconfig", "kubeconfigs": [str(fleet["kubeconfig"])],
                                         "include_contexts": [fleet["contexts"][-1]]}))
    dest = tmp_path / "report"
    extra = {"debug_container_image": fleet_debug_image, "fleet_report_dir": str(dest), "fleet_report_fail_on": "never",
             "fleet_report_formats": ["json", "prom"], "fleet_report_pushgateway": {"url": gateway, "grouping": {"fleet": "testbed"}}}
    start = time.time()
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks" / "health_sweep.yml"), "-e", json.dumps(extra)],
                          capture_output=True, text=True, timeout=900, check=False, env={**os.environ})
    wall = time.time() - start
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "pushed: " in proc.stdout and f"{gateway}/metrics/job/etcd_wrapper_ops/fleet/testbed" in proc.stdout
    text = (dest / "health_report.prom").read_text()
    report = json.loads((dest / "health_report.json").read_text())
    assert samples(scrape(gateway)) == pushed_as(text, job="etcd_wrapper_ops", fleet="testbed")
    duration = samples(text)[("etcd_wrapper_ops_sweep_duration_seconds", ())]
    assert 0 < duration <= wall + 1  # the playbook's start to the report, within this run (second precision)
    assert samples(text)[("etcd_wrapper_ops_sweep_findings", (("severity", "critical"),))] == report["summary"]["findings"]["critical"]
    etcds = {(e["namespace"], e["etcd"]): e["status"] for c in report["clusters"] for e in c["etcds"]}
    status = {(dict(labels)["namespace"], dict(labels)["etcd"]): dict(labels)["status"]
              for (name, labels), value in samples(text).items() if name == "etcd_wrapper_ops_etcd_status" and value == 1}
    assert status == etcds and len(etcds) >= 8
