"""etcd_health_report through Ansible: an action plugin that builds and writes the report in the
controller's process (no module shipped or started), with the module's argument spec, check mode
and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import run_module

RESULTS = [{"host": "c1", "cluster": "c1", "etcds": [], "findings": [], "summary": {}}]
FILES = {"health_report.json", "health_report.md", "health_report.html", "junit.xml", "health_report.prom"}


def test_writes_every_format_and_reports_hosts_without_result(tmp_path):
    dest = tmp_path / "out"
    result = run_module("etcd_health_report", {"results": RESULTS, "hosts": ["c1", "c2"], "dest": str(dest)})
    assert result.cli_rc == 0 and result["changed"] is True
    assert {p.name for p in dest.iterdir()} == FILES
    assert set(result["files"]) == {"json", "md", "html", "junit", "prom"}
    report = json.loads((dest / "health_report.json").read_text())
    codes = {(f["cluster"], f["code"]) for f in report["findings"]}
    assert ("c2", "CLUSTER_UNREACHABLE") in codes
    assert result["summary"]["failed"] is True and "FAILED" in result["summary_line"]


def test_check_mode_writes_nothing(tmp_path):
    dest = tmp_path / "out"
    result = run_module("etcd_health_report", {"results": RESULTS, "dest": str(dest), "formats": ["json"]}, check=True)
    assert result.cli_rc == 0 and result["changed"] is False
    assert result["files"] == {"json": str(dest / "health_report.json")}
    assert not dest.exists()


def test_unwritable_dest_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_module("etcd_health_report", {"results": RESULTS, "dest": str(blocker / "out")})
    assert result.failed and result["msg"].startswith(f"cannot write the report to {blocker / 'out'}: ")
    assert "\n" not in result["msg"]
    assert blocker.read_text() == "not a directory"


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path):
    dest = tmp_path / "out"
    bad_choice = run_module("etcd_health_report", {"results": RESULTS, "dest": str(dest), "fail_on": "sometimes"})
    assert bad_choice.failed and "fail_on" in bad_choice["msg"] and "must be one of" in bad_choice["msg"]
    unknown = run_module("etcd_health_report", {"results": RESULTS, "dest": str(dest), "colour": "red"})
    assert unknown.failed and "Unsupported parameters" in unknown["msg"] and "colour" in unknown["msg"]
    missing = run_module("etcd_health_report", {"dest": str(dest)})
    assert missing.failed and "results" in missing["msg"]
    assert not dest.exists()


def test_runs_on_the_controller_without_a_connection(tmp_path):
    """A host behind an SSH connection that cannot be reached: the report is still written on the
    controller, because nothing is sent to the host."""
    dest = tmp_path / "out"
    proc = subprocess.run(
        ["ansible", "nowhere", "-i", "nowhere,", "-e", "ansible_connection=ssh ansible_host=192.0.2.1",
         "-e", f"ansible_python_interpreter={sys.executable}", "-m", "etcd_wrapper.ops.etcd_health_report",
         "-a", json.dumps({"results": RESULTS, "dest": str(dest), "formats": ["json"]})],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "UNREACHABLE" not in proc.stdout
    assert (dest / "health_report.json").is_file()
