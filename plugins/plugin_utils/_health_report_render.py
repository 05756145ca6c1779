# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection, controller side: the health report as Markdown and
as a self-contained HTML page (Jinja2 templates in report_templates/ beside this file), writing
the report files, and what the etcd_health_report action plugin runs.

The report itself (building it, JSON, JUnit, the terminal table) is module_utils/_health_report.py;
the Prometheus text and the Pushgateway push are _health_report_prom.py beside this file.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import tempfile

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from markupsafe import Markup

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _health_report
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._findings import DEFAULT_QUOTA, status_of
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._version import COLLECTION_VERSION
from ansible_collections.etcd_wrapper.ops.plugins.plugin_utils import _health_report_prom

# found beside this file wherever the collection is installed (checkout, tarball, execution environment)
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report_templates")


# ---------------------------------------------------------------- escaping: every {{ }} of a template

def _plain(value) -> str:
    return "" if value is None else str(value)


def _md(value) -> str:
    """A value as text in a Markdown table cell: one line, with \\ | < > escaped."""
    text = " ".join(_plain(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _html(value):
    """A value as HTML text or attribute: escaped as html.escape does (&quot; and &#x27; for quotes).
    Jinja's autoescape then leaves the Markup as it is."""
    return value if isinstance(value, Markup) else Markup(html.escape(_plain(value), quote=True))


# ---------------------------------------------------------------- text the templates show

def _cluster_note(c: dict) -> str:
    return "; ".join(f"{f['code']}: {f['message']}" for f in c["findings"]) or "no etcd found"


def _cluster_counts(c: dict) -> str:
    n = _health_report.counts(_health_report.all_findings(c))
    return f"{len(c['etcds'])} etcd{'s' if len(c['etcds']) != 1 else ''} · {n['critical']} critical · {n['warning']} warning"


def _etcd_head(c: dict, e: dict) -> str:
    n = _health_report.counts(e["findings"])
    quota = f"{_health_report.human_bytes(e['quota_bytes'] or DEFAULT_QUOTA)} ({e['quota_source']})"
    return (f"{e['status'].upper()} {c['name']} {e['namespace']}/{e['etcd']}: {len(e['members'])} members, "
            f"leader {e['leader'] or 'none'}, quota {quota}, {n['critical']} critical, {n['warning']} warning")


def _meta(report: dict) -> str:
    meta = f"Generated {report['generated_at']}"
    if report.get("collection_version"):
        meta += f" by etcd_wrapper.ops {report['collection_version']}"
    return meta + f" · schema v{report['schema_version']}"


def _role(m: dict) -> str:
    return "leader" if m["is_leader"] else ("learner" if m["is_learner"] else ("follower" if m["reachable"] else "unknown"))


def _debug(m: dict) -> str:
    debug = m["debug_container"] or ""
    return f"{debug} failed: {m['debug_error']}".strip() if m.get("debug_error") else debug


def _pods(e: dict) -> str:
    return ", ".join(e["pods"]) or "none"


def _asset(name: str) -> Markup:
    """A file of report_templates/ as it is (CSS, JS: ours, inlined into the page, not a template)."""
    try:
        with open(os.path.join(TEMPLATES, name), encoding="utf-8") as fh:
            return Markup(fh.read().strip())
    except OSError as exc:
        raise TemplateNotFound(name, f"{name!r} not found in {TEMPLATES!r}: {exc.strerror}") from None


def _environment(autoescape: bool, finalize) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=autoescape, finalize=finalize,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals.update(
        summary_line=_health_report.summary_line, counts=_health_report.counts, status_of=status_of, human_bytes=_health_report.human_bytes,
        percent=_health_report.percent, member_health=_health_report.member_health, backup=_health_report.backup_text,
        SEVERITIES=_health_report.SEVERITIES, cluster_note=_cluster_note, cluster_counts=_cluster_counts, etcd_head=_etcd_head,
        meta=_meta, role=_role, debug=_debug, pods=_pods, asset=_asset)
    return env


_MARKDOWN = _environment(False, _md)
_HTML = _environment(True, _html)


# ---------------------------------------------------------------- the renderings

def render_markdown(report: dict) -> str:
    return _MARKDOWN.get_template("health_report.md.j2").render(report=report)


def render_html(report: dict) -> str:
    """One self-contained HTML5 page: inline CSS and JS, no external references."""
    etcds = [(c, e) for c in report["clusters"] for e in c["etcds"]]
    anchors = {id(e): f"etcd-{index}" for index, (_c, e) in enumerate(etcds, 1)}
    return _HTML.get_template("health_report.html.j2").render(
        report=report, status=report["summary"]["status"], etcds=etcds, anchor=lambda e: anchors[id(e)])


RENDERERS = {"json": _health_report.render_json, "md": render_markdown, "html": render_html, "junit": _health_report.render_junit,
             "prom": _health_report_prom.render_prom}


def render_reports(report: dict, formats=("json", "md", "html", "junit"), started_at: str | None = None) -> dict[str, str]:
    """{format: text} of the chosen renderings (the Prometheus text also takes when the sweep started)."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(map(str, unknown))} (known: {', '.join(RENDERERS)})")
    return {fmt: _health_report_prom.render_prom(report, started_at) if fmt == "prom" else RENDERERS[fmt](report) for fmt in formats}


# ---------------------------------------------------------------- files

def _write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_reports(report: dict, dest_dir: str, formats=("json", "md", "html", "junit"), started_at: str | None = None,
                  texts: dict[str, str] | None = None) -> dict[str, str]:
    """Write the chosen renderings (texts: already rendered) into dest_dir (created), each atomically
    (a temporary file in dest_dir renamed over the file: node_exporter's textfile collector never reads
    half a health_report.prom, and reads only *.prom, not the temporary .tmp); {format: path}.
    Everything is rendered before the first file is written."""
    texts = texts if texts is not None else render_reports(report, formats, started_at)
    dest_dir = os.path.abspath(os.path.expanduser(str(dest_dir)))
    os.makedirs(dest_dir, exist_ok=True)
    written = {}
    for fmt, text in texts.items():
        path = os.path.join(dest_dir, _health_report.FILENAMES[fmt])
        _write_atomic(path, text)
        written[fmt] = path
    return written


# ---------------------------------------------------------------- the action plugin

def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def option_error(params: dict) -> str | None:
    """The one-line error of options that would make the run fail half-way (checked before anything is written)."""
    if params.get("started_at") and _health_report_prom.epoch(params["started_at"]) is None:
        return f"started_at must be an ISO 8601 time such as 2026-11-27T15:00:00Z, not {params['started_at']!r}"
    if params.get("pushgateway"):
        try:
            _health_report_prom.push_url(params["pushgateway"])
        except _health_report_prom.PushError as exc:
            return str(exc)
    return None


def run_or_error(params: dict, check_mode: bool) -> tuple[dict | None, str | None]:
    """(result, None); (None, the one-line error) when the report cannot be written; (result, the
    one-line error) when the files are written but the push failed."""
    error = option_error(params)
    if error:
        return None, error
    try:
        result = run(params, check_mode, utc_now(), COLLECTION_VERSION)
        return result, (result.get("push") or {}).get("error")
    except _health_report.PartialReportError as exc:
        return None, str(exc)
    except TemplateError as exc:  # a template of report_templates/ missing or broken
        return None, f"cannot render the report: {type(exc).__name__}: {' '.join(str(exc).split())}"
    except (OSError, ValueError) as exc:
        return None, f"cannot write the report to {params['dest']}: {exc}"


def load_partials(partials: list) -> list[dict]:
    """Partial reports as documents: dicts as given, strings as paths of health_report.json files
    on the controller (each remembered as its _source for messages)."""
    docs = []
    for item in partials or []:
        if isinstance(item, dict):
            docs.append(item)
            continue
        path = os.path.expanduser(str(item))
        try:
            with open(path, encoding="utf-8") as handle:
                doc = json.load(handle)
        except OSError as exc:
            raise _health_report.PartialReportError(f"cannot read partial report {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise _health_report.PartialReportError(f"partial report {path} is not JSON: {exc}") from None
        if isinstance(doc, dict):
            doc["_source"] = path
        docs.append(doc if isinstance(doc, dict) else {"_source": path})
    return docs


def run(params: dict, check_mode: bool, now: str, collection_version: str | None) -> dict:
    """Everything etcd_wrapper.ops.etcd_health_report does; returns the result."""
    results = [r for r in params["results"] if isinstance(r, dict)]
    merged, partial_thresholds = _health_report.results_of_partials(load_partials(params.get("partials")))
    clash = {r.get("host") or r.get("cluster") for r in results} & {r["host"] for r in merged}
    if clash:
        raise _health_report.PartialReportError(f"cluster {sorted(clash)[0]} is both in results and in a partial report")
    results += merged
    have = {r.get("host") or r.get("cluster") for r in results}
    for host in params.get("hosts") or []:
        if host not in have:  # the host failed before its health result existed: never drop it silently
            results.append({"host": host, "cluster": host,
                            "unreachable": "no health result: the sweep failed on this host before the health check"})
    # the thresholds the findings were evaluated with travel in each etcd_health result
    thresholds = params.get("thresholds") or next((r["thresholds"] for r in results if r.get("thresholds")), {}) or partial_thresholds
    report = _health_report.build_report(results, now, fail_on=params["fail_on"], thresholds=thresholds,
                                         collection_version=collection_version, title=params["title"],
                                         remedies=params.get("remedies"))
    started_at = params.get("started_at")
    texts = render_reports(report, params["formats"], started_at)
    files = {fmt: os.path.join(params["dest"], _health_report.FILENAMES[fmt]) for fmt in params["formats"]}
    if not check_mode:
        files = write_reports(report, params["dest"], params["formats"], texts=texts)
    pushed = None
    if params.get("pushgateway"):  # after the files: a failed push leaves them written
        prom = texts.get("prom") or _health_report_prom.render_prom(report, started_at)
        try:
            pushed = _health_report_prom.push(prom, params["pushgateway"], check_mode)
        except _health_report_prom.PushError as exc:
            pushed = dict(_health_report_prom.plan(prom, params["pushgateway"]), error=str(exc))
    failing = {"critical"} if params["fail_on"] == "critical" else {"critical", "warning"}
    failed_findings = [f for f in report["findings"] if f["severity"] in failing] if report["summary"]["failed"] else []
    result = {"changed": not check_mode, "files": files, "summary": report["summary"], "summary_line": _health_report.summary_line(report),
              "table": _health_report.table_lines(report), "failed_findings": failed_findings}
    if pushed is not None:
        result["push"] = pushed
    if params.get("return_report"):
        result["report"] = report
    if params.get("partials"):
        result["merged"] = len(params["partials"])
    return result
