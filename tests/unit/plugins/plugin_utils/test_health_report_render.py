# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller-side renderings of the health report (Jinja2 templates beside _health_report_render.py):
escaping of values from the clusters, the templates and assets found wherever the collection is,
one-line errors, and the module file that defers to its action plugin."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _health_report
from ansible_collections.etcd_wrapper.ops.plugins.modules import etcd_health_report
from ansible_collections.etcd_wrapper.ops.plugins.plugin_utils import _health_report_render

from ansible_collections.etcd_wrapper.ops.tests.unit.plugins.module_utils.test_health_report import NOW, fleet

EVIL = "<script>alert(1)</script>|x"


@pytest.fixture
def report() -> dict:
    return _health_report.build_report(fleet(), NOW, collection_version="0.1.0")


def with_evil_message(report: dict) -> dict:
    rep = copy.deepcopy(report)
    finding = rep["clusters"][0]["etcds"][1]["findings"][0]  # the flat list holds copies: set both
    finding["message"] = rep["findings"][0]["message"] = EVIL
    assert rep["findings"][0]["code"] == finding["code"] == "MEMBER_UNREACHABLE"
    return rep


def test_finding_message_is_escaped_in_html(report):
    text = _health_report_render.render_html(with_evil_message(report))
    assert EVIL not in text and "alert(1)</script>" not in text
    assert text.count("<script>") == 1  # only the page's own
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;|x</td>" in text


def test_finding_message_is_escaped_in_markdown(report):
    text = _health_report_render.render_markdown(with_evil_message(report))
    assert EVIL not in text and "<script>" not in text
    assert "| MEMBER_UNREACHABLE | &lt;script&gt;alert(1)&lt;/script&gt;\\|x |" in text


def test_quotes_and_ampersands_escaped_as_html_escape_does(report):
    rep = copy.deepcopy(report)
    rep["clusters"][0]["etcds"][0]["namespace"] = "a'b\"c&d"
    html = _health_report_render.render_html(rep)
    assert 'data-etcd="a&#x27;b&quot;c&amp;d/etcd-main"' in html and ">a&#x27;b&quot;c&amp;d/etcd-main</a>" in html
    assert "&#34;" not in html and "&#39;" not in html  # markupsafe's entities would mean a value skipped the finalize
    # Markdown is not HTML-escaped beyond < and >: quotes and & stay as they are
    assert "| testbed-1 | a'b\"c&d/etcd-main | OK |" in _health_report_render.render_markdown(rep)


def test_markdown_cells_stay_one_line(report):
    rep = copy.deepcopy(report)
    rep["findings"][0]["message"] = "two\nlines \\ and\ttabs"
    assert "| two lines \\\\ and tabs |" in _health_report_render.render_markdown(rep)


def test_templates_and_assets_beside_the_renderer(report, tmp_path, monkeypatch):
    assert _health_report_render.TEMPLATES == os.path.join(os.path.dirname(os.path.abspath(_health_report_render.__file__)), "report_templates")
    assert sorted(os.listdir(_health_report_render.TEMPLATES)) == [
        "health_report.css", "health_report.html.j2", "health_report.js", "health_report.md.j2"]
    monkeypatch.chdir(tmp_path)  # not found through the working directory
    text = _health_report_render.render_html(report)
    for asset in ("health_report.css", "health_report.js"):
        with open(os.path.join(_health_report_render.TEMPLATES, asset), encoding="utf-8") as fh:
            assert fh.read().strip() in text  # inlined as it is: the page fetches nothing
    assert text.endswith("</html>\n") and _health_report_render.render_markdown(report).endswith("  ```\n")  # the remedies close it


def test_empty_report(tmp_path):
    rep = _health_report.build_report([], NOW)
    assert _health_report_render.render_markdown(rep).endswith("## Findings\n\nNo findings.\n")
    text = _health_report_render.render_html(rep)
    assert '<p class="mut">No findings.</p>' in text and '<p class="mut">No etcd found.</p>' in text


def test_missing_template_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(_health_report_render._MARKDOWN.loader, "searchpath", [str(tmp_path)])
    monkeypatch.setattr(_health_report_render._MARKDOWN, "cache", None)  # not the template compiled by an earlier test
    params = {"results": fleet(), "hosts": [], "dest": str(tmp_path / "out"), "formats": ["json", "md"],
              "fail_on": "critical", "thresholds": {}, "title": "t"}
    result, error = _health_report_render.run_or_error(params, False)
    assert result is None and "\n" not in error
    assert error.startswith("cannot render the report: TemplateNotFound: 'health_report.md.j2' not found")
    assert not (tmp_path / "out").exists()  # rendered before anything is written


def test_module_main_says_it_runs_through_the_action_plugin(tmp_path, capsys):
    with patch_module_args({"results": [], "dest": str(tmp_path)}), pytest.raises(SystemExit) as exited:
        etcd_health_report.main()
    assert exited.value.code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] is True and "runs on the controller through its action plugin" in out["msg"]
    assert "\n" not in out["msg"] and os.listdir(tmp_path) == []


def test_missing_asset_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(_health_report_render, "TEMPLATES", str(tmp_path))  # where _asset reads the CSS and JS
    params = {"results": fleet(), "hosts": [], "dest": str(tmp_path / "out"), "formats": ["html"],
              "fail_on": "critical", "thresholds": {}, "title": "t"}
    result, error = _health_report_render.run_or_error(params, False)
    assert result is None and "\n" not in error and not (tmp_path / "out").exists()
    assert error == f"cannot render the report: TemplateNotFound: 'health_report.css' not found in '{tmp_path}': No such file or directory"


def test_remedies_listed_once_per_etcd_with_its_codes_and_escaped_in_html():
    results = fleet()
    results[1]["host"] = "seed <1>"  # -l names the inventory host, which may need quoting and escaping
    rep = _health_report.build_report(results, NOW, remedies={"inventory": ["fleet.yml"], "extra_vars": {"debug_container_image": "r/i:1"}})
    stopped = [f for f in rep["findings"] if f["namespace"] == "shoot--dev--beta"]
    assert stopped and {f["remedy"] for f in stopped} == {
        "ansible-playbook -i fleet.yml etcd_wrapper.ops.diagnose -l 'seed <1>' -e etcd_namespace=shoot--dev--beta "
        "-e etcd_name=etcd-main -e debug_container_image=r/i:1"}
    assert all(f["remedy"] is None for f in rep["findings"] if f["code"] == "CLUSTER_UNREACHABLE")
    md = _health_report_render.render_markdown(rep)
    assert md.count("etcd_namespace=shoot--dev--beta") == 1 and "## Remedies" in md
    html = _health_report_render.render_html(rep)
    assert "-l &#x27;seed &lt;1&gt;&#x27;" in html and "seed <1>" not in html
