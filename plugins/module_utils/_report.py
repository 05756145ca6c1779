# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: the health sweep report (one JSON document,
described by docs/health_report.schema.json) and its renderings as Markdown, a self-contained
HTML page and JUnit XML.

Pure functions on plain dicts (the per-cluster results come from Ansible hostvars, so every key
is optional); only the standard library and the collection's own _findings and _version are used.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import os
import re
import tempfile
import xml.etree.ElementTree as ET

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._findings import DEFAULT_QUOTA, DEFAULT_THRESHOLDS, status_of
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._version import COLLECTION_VERSION

SCHEMA_ID = "https://etcd-wrapper.ops/schemas/health_report/v1"
SCHEMA_VERSION = 1

STATUSES = ("critical", "warning", "ok")
SEVERITIES = ("critical", "warning", "info")
FAIL_ON = ("critical", "warning", "never")
FINDING_KEYS = ("code", "severity", "cluster", "namespace", "etcd", "pod", "message", "value", "threshold")
MEMBER_KEYS = ("pod", "id", "name", "is_leader", "is_learner", "reachable", "health", "health_error",
               "db_size", "db_size_in_use", "db_quota_ratio", "revision", "raft_index", "raft_term", "version",
               "backup_restore", "debug_container", "debug_error")
FILENAMES = {"json": "health_report.json", "md": "health_report.md", "html": "health_report.html", "junit": "junit.xml"}


# ---------------------------------------------------------------- building the report

def _str(value) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _num(value):
    """int/float from a number or a numeric string (hostvars may carry either), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        text = str(value).strip()
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else _num(float(text))
    except ValueError:
        return None


def _int(value, minimum=None):
    number = _num(value)
    if number is None:
        return None
    number = int(number)
    return None if minimum is not None and number < minimum else number


def _nonneg(number):
    return number if number is not None and number >= 0 else None


def _bool(value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        return None
    return bool(value)


def _scalar(value):
    """A finding's value/threshold: number, string, bool or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def worst(statuses) -> str:
    """Worst of statuses (critical > warning > ok); unknown values are ignored; empty -> ok."""
    known = [s for s in statuses if s in STATUSES]
    return min(known, key=STATUSES.index) if known else "ok"


def _finding(raw, context: dict) -> dict:
    raw = raw if isinstance(raw, dict) else {"message": str(raw)}
    out = {key: raw.get(key) for key in FINDING_KEYS}
    for key in ("cluster", "namespace", "etcd"):
        if out[key] is None:
            out[key] = context.get(key)
    out["code"] = _str(out["code"]) or "UNKNOWN"
    severity = str(out["severity"] or "").lower()
    out["severity"] = severity if severity in SEVERITIES else "warning"
    out["message"] = str(out["message"]) if out["message"] is not None else out["code"]
    for key in ("cluster", "namespace", "etcd", "pod"):
        out[key] = _str(out[key])
    out["value"], out["threshold"] = _scalar(out["value"]), _scalar(out["threshold"])
    return out


def _member(raw, quota) -> dict:
    raw = raw if isinstance(raw, dict) else {"pod": str(raw)}
    out = dict(raw)  # members may carry more than the documented keys
    for key in MEMBER_KEYS:
        out.setdefault(key, None)
    out["pod"] = _str(out["pod"]) or _str(out["name"]) or "?"
    if isinstance(out["id"], int) and not isinstance(out["id"], bool):
        out["id"] = format(out["id"], "x")
    for key in ("id", "name", "health_error", "version", "debug_container", "debug_error"):
        out[key] = _str(out[key])
    out["is_leader"] = bool(_bool(out["is_leader"]))
    out["is_learner"] = bool(_bool(out["is_learner"]))
    out["reachable"], out["health"] = _bool(out["reachable"]), _bool(out["health"])
    for key in ("db_size", "db_size_in_use", "revision", "raft_index", "raft_term"):
        out[key] = _int(out[key])
    out["db_quota_ratio"] = _num(out["db_quota_ratio"])
    if out["db_quota_ratio"] is None and out["db_size"] is not None and quota:
        out["db_quota_ratio"] = round(out["db_size"] / quota, 4)
    backup = out["backup_restore"]
    if isinstance(backup, dict):
        out["backup_restore"] = dict(backup, status=_int(backup.get("status")), health=_bool(backup.get("health")))
    elif backup is not None:
        out["backup_restore"] = None
    return out


def _etcd(raw: dict, cluster: str) -> dict:
    raw = raw if isinstance(raw, dict) else {}
    context = {"cluster": _str(raw.get("cluster")) or cluster, "namespace": _str(raw.get("namespace")),
               "etcd": _str(raw.get("etcd"))}
    quota = _int(raw.get("quota_bytes"), minimum=0)
    members = [_member(m, quota or DEFAULT_QUOTA) for m in raw.get("members") or []]
    members.sort(key=lambda m: m["pod"])
    findings = sorted((_finding(f, context) for f in raw.get("findings") or []), key=_finding_key)
    leader = _str(raw.get("leader")) or next((m["pod"] for m in members if m["is_leader"]), None)
    status = worst([status_of(findings), str(raw.get("status") or "").lower()])
    return {
        "cluster": context["cluster"], "namespace": context["namespace"] or "", "etcd": context["etcd"] or "",
        "status": status,
        "pods": sorted(str(p) for p in raw.get("pods") or []),
        "leader": leader,
        "quota_bytes": quota,
        "quota_source": _str(raw.get("quota_source")) or ("etcd config" if quota else "default 8 GiB"),
        "members": members,
        "findings": findings,
    }


def _cluster(raw: dict) -> dict:
    raw = raw if isinstance(raw, dict) else {}
    host = _str(raw.get("host"))
    name = _str(raw.get("cluster")) or host or "?"
    unreachable = _str(raw.get("unreachable"))
    if unreachable:
        unreachable = " ".join(unreachable.split())  # one line
    # the cluster's own findings: etcd_health's top-level list also repeats every etcd's findings
    findings = [_finding(f, {"cluster": name}) for f in raw.get("findings") or [] if isinstance(f, dict) and not f.get("etcd")]
    if unreachable and not any(f["code"] == "CLUSTER_UNREACHABLE" for f in findings):
        findings.append(_finding({"code": "CLUSTER_UNREACHABLE", "severity": "critical",
                                  "message": f"cluster unreachable: {unreachable}"}, {"cluster": name}))
    findings.sort(key=_finding_key)
    etcds = sorted((_etcd(e, name) for e in raw.get("etcds") or []), key=lambda e: (e["namespace"], e["etcd"]))
    status = worst([e["status"] for e in etcds] + [status_of(findings)])
    return {"name": name, "host": host or name, "server": _str(raw.get("server")), "status": status,
            "unreachable": unreachable, "duration_s": _nonneg(_num(raw.get("duration_s"))), "findings": findings, "etcds": etcds}


def _finding_key(f: dict):
    return (SEVERITIES.index(f["severity"]), f["cluster"] or "", f["namespace"] or "", f["etcd"] or "",
            f["code"], f["pod"] or "")


def build_report(results: list[dict], generated_at: str, fail_on: str = "critical", thresholds: dict | None = None,
                 collection_version: str | None = None, title: str = "etcd health sweep") -> dict:
    """The report document (see docs/health_report.schema.json) from one result per cluster."""
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    clusters = sorted((_cluster(r) for r in results or []), key=lambda c: (c["name"], c["host"]))
    flat = [f for c in clusters for f in c["findings"] + [f for e in c["etcds"] for f in e["findings"]]]
    flat.sort(key=_finding_key)
    counts = {s: sum(1 for f in flat if f["severity"] == s) for s in SEVERITIES}
    by_code: dict[str, int] = {}
    for f in flat:
        by_code[f["code"]] = by_code.get(f["code"], 0) + 1
    failed = (fail_on == "critical" and counts["critical"] > 0) or \
             (fail_on == "warning" and counts["critical"] + counts["warning"] > 0)
    summary = {
        "status": worst(c["status"] for c in clusters),
        "clusters": len(clusters),
        "clusters_unreachable": sum(1 for c in clusters if c["unreachable"]),
        "etcds": sum(len(c["etcds"]) for c in clusters),
        "members": sum(len(e["members"]) for c in clusters for e in c["etcds"]),
        "findings": counts,
        "by_code": dict(sorted(by_code.items())),
        "failed": failed,
    }
    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "title": str(title),
        "generated_at": str(generated_at),
        "collection_version": _str(collection_version),
        "fail_on": fail_on,
        "thresholds": {str(k): _num(v) for k, v in dict(DEFAULT_THRESHOLDS, **(thresholds or {})).items() if _num(v) is not None},
        "summary": summary,
        "clusters": clusters,
        "findings": flat,
    }


# ---------------------------------------------------------------- shared text helpers

def summary_line(report: dict) -> str:
    s = report["summary"]
    n = s["findings"]
    unreachable = f" ({s['clusters_unreachable']} unreachable)" if s["clusters_unreachable"] else ""
    verdict = "FAILED" if s["failed"] else "passed"
    return (f"{s['status'].upper()}: {s['clusters']} clusters{unreachable}, {s['etcds']} etcds, {s['members']} members; "
            f"{n['critical']} critical, {n['warning']} warning, {n['info']} info findings; "
            f"fail_on={report['fail_on']}: {verdict}")


def human_bytes(value) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def _percent(ratio) -> str:
    return "" if ratio is None else f"{ratio * 100:.1f}%"


def _text(value) -> str:
    return "" if value is None else str(value)


def _member_health(m: dict) -> str:
    if m.get("health") is True:
        return "healthy"
    if m.get("health") is False:
        return "unhealthy" + (f": {m['health_error']}" if m.get("health_error") else "")
    if m.get("reachable") is False:
        return "unreachable"
    return "unknown"


def _backup(m: dict) -> str:
    b = m.get("backup_restore")
    if not isinstance(b, dict):
        return ""
    code = f"HTTP {b.get('status')}" if b.get("status") is not None else ""
    if b.get("role") == "follower" and not b.get("health"):  # only the leader's sidecar turns 200
        return "standby" + (f" ({code}, follower)" if code else " (follower)")
    return ("healthy" if b.get("health") else "unhealthy") + (f" ({code})" if code else "")


def _counts(findings) -> dict:
    return {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITIES}


def _all_findings(cluster: dict) -> list[dict]:
    return cluster["findings"] + [f for e in cluster["etcds"] for f in e["findings"]]


# ---------------------------------------------------------------- Markdown

def _md(value) -> str:
    text = " ".join(_text(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _md_row(cells) -> str:
    return "| " + " | ".join(_md(c) for c in cells) + " |"


def render_markdown(report: dict) -> str:
    lines = [f"# {_md(report['title'])}", "",
             f"Generated {_md(report['generated_at'])}"
             + (f" by etcd_wrapper.ops {_md(report['collection_version'])}" if report.get("collection_version") else ""),
             "", f"**{_md(summary_line(report))}**", "", "## Clusters", "",
             "| Cluster | Etcd | Status | Members | Leader | Critical | Warning | Note |",
             "|---|---|---|---|---|---|---|---|"]
    for c in report["clusters"]:
        n = _counts(c["findings"])
        if c["unreachable"]:
            lines.append(_md_row([c["name"], "(unreachable)", c["status"].upper(), "", "", n["critical"], n["warning"], c["unreachable"]]))
        elif not c["etcds"] or c["findings"]:
            status = status_of(c["findings"]).upper()
            note = "; ".join(f"{f['code']}: {f['message']}" for f in c["findings"]) or "no etcd found"
            lines.append(_md_row([c["name"], "(cluster)", status, "", "", n["critical"], n["warning"], note]))
        for e in c["etcds"]:
            n = _counts(e["findings"])
            lines.append(_md_row([c["name"], f"{e['namespace']}/{e['etcd']}", e["status"].upper(), len(e["members"]) or len(e["pods"]),
                                  e["leader"] or "none", n["critical"], n["warning"], ""]))
    lines += ["", "## Findings", ""]
    if report["findings"]:
        lines += ["| Severity | Cluster | Namespace | Etcd | Pod | Code | Message |", "|---|---|---|---|---|---|---|"]
        lines += [_md_row([f["severity"].upper(), f["cluster"], f["namespace"], f["etcd"], f["pod"], f["code"], f["message"]])
                  for f in report["findings"]]
    else:
        lines.append("No findings.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- HTML

_CSS = """
:root{--crit:#c62828;--warn:#f9a825;--ok:#2e7d32;--fg:#1b1b1b;--bg:#fafafa;--mut:#666;--line:#ddd}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:16px 24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.meta{color:var(--mut);margin:0 0 8px}
.summary{font-size:15px;font-weight:600;padding:8px 12px;border-radius:6px;color:#fff;display:inline-block}
[data-status=critical].summary,.cluster[data-status=critical]{background:var(--crit);color:#fff}
[data-status=warning].summary,.cluster[data-status=warning]{background:var(--warn);color:#1b1b1b}
[data-status=ok].summary,.cluster[data-status=ok]{background:var(--ok);color:#fff}
.grid{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}
.cluster{border-radius:8px;padding:10px 12px;min-width:220px;max-width:420px;box-shadow:0 1px 3px rgba(0,0,0,.25)}
.cluster .name{font-weight:700;font-size:15px}
.cluster .counts{font-size:12px;opacity:.95;margin:2px 0 6px}
.cluster .server{font-size:11px;opacity:.85;margin:-4px 0 6px;word-break:break-all}
.cluster .msg{font-size:12px;background:rgba(0,0,0,.2);padding:4px 6px;border-radius:4px;word-break:break-word}
.chips{display:flex;flex-wrap:wrap;gap:4px}
.chip{display:inline-block;font-size:12px;padding:2px 8px;border-radius:10px;border:2px solid #fff;text-decoration:none;font-weight:600}
.chip[data-status=critical]{background:#ffcdd2;color:#7f0000}
.chip[data-status=warning]{background:#fff3c4;color:#5d4300}
.chip[data-status=ok]{background:#c8e6c9;color:#0b3d0e}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eee;position:sticky;top:0}
#findings th{cursor:pointer;user-select:none;white-space:nowrap}
#findings th[aria-sort=ascending]::after{content:" \\25B2"}
#findings th[aria-sort=descending]::after{content:" \\25BC"}
td.sev{font-weight:700;white-space:nowrap}
tr.critical td.sev{color:var(--crit)}tr.warning td.sev{color:#a66f00}tr.info td.sev{color:var(--mut)}
td.nw{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
details{margin:6px 0;background:#fff;border:1px solid var(--line);border-left-width:6px;border-radius:4px;padding:4px 8px}
details[data-status=critical]{border-left-color:var(--crit)}details[data-status=warning]{border-left-color:var(--warn)}
details[data-status=ok]{border-left-color:var(--ok)}
summary{cursor:pointer;font-weight:600}
.mut{color:var(--mut)}
"""

_JS = """
(function () {
  var table = document.getElementById("findings");
  if (!table || !table.tHead) { return; }
  var heads = table.tHead.rows[0].cells;
  function key(cell) {
    var v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent.trim() : v;
  }
  function isNum(s) { return s !== "" && isFinite(Number(s)); }
  function cmp(a, b) {
    if (isNum(a) && isNum(b)) { return Number(a) - Number(b); }
    if (a === "" && b !== "") { return 1; }
    if (b === "" && a !== "") { return -1; }
    return a.localeCompare(b, undefined, {numeric: true, sensitivity: "base"});
  }
  function sortBy(index) {
    var th = heads[index];
    var asc = th.getAttribute("aria-sort") !== "ascending";
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (x, y) { var r = cmp(key(x.cells[index]), key(y.cells[index])); return asc ? r : -r; });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(heads, function (th, index) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(index); });
    th.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(index); } });
  });
  table.setAttribute("data-sortable", "true");
})();
"""


def _e(value) -> str:
    return html.escape(_text(value), quote=True)


def _td(value, sort=None, cls=None) -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' data-sort="{_e(sort)}"' if sort is not None else "")
    return f"<td{attrs}>{_e(value)}</td>"


def _cluster_block(c: dict, etcd_ids: dict) -> str:
    n = _counts(_all_findings(c))
    counts = f"{len(c['etcds'])} etcd{'s' if len(c['etcds']) != 1 else ''} · {n['critical']} critical · {n['warning']} warning"
    parts = [f'<div class="cluster" data-status="{_e(c["status"])}" data-cluster="{_e(c["name"])}">',
             f'<div class="name">{_e(c["name"])}</div>', f'<div class="counts">{_e(counts)}</div>']
    if c["server"]:
        parts.append(f'<div class="server">{_e(c["server"])}</div>')
    if c["unreachable"]:
        parts.append(f'<div class="msg">UNREACHABLE: {_e(c["unreachable"])}</div>')
    elif not c["etcds"]:
        parts.append('<div class="msg">no etcd found</div>')
    for f in c["findings"]:
        if f["code"] != "CLUSTER_UNREACHABLE":
            parts.append(f'<div class="msg">{_e(f["severity"].upper())} {_e(f["code"])}: {_e(f["message"])}</div>')
    parts.append('<div class="chips">')
    for e in c["etcds"]:
        label = f"{e['namespace']}/{e['etcd']}"
        parts.append(f'<a class="chip" href="#{etcd_ids[id(e)]}" data-status="{_e(e["status"])}" data-etcd="{_e(label)}" '
                     f'title="{_e(e["status"].upper())}">{_e(label)}</a>')
    parts.append("</div></div>")
    return "".join(parts)


def _findings_table(findings: list[dict]) -> str:
    heads = ("Severity", "Cluster", "Namespace", "Etcd", "Pod", "Code", "Message", "Value", "Threshold")
    rows = []
    for f in findings:
        rows.append(f'<tr class="{_e(f["severity"])}">'
                    + _td(f["severity"].upper(), sort=SEVERITIES.index(f["severity"]), cls="sev")
                    + "".join(_td(f[k], cls="nw") for k in ("cluster", "namespace", "etcd", "pod", "code")) + _td(f["message"])
                    + "".join(_td(f[k], cls="num" if isinstance(f[k], (int, float)) else None) for k in ("value", "threshold"))
                    + "</tr>")
    return ('<table id="findings"><thead><tr>' + "".join(f'<th scope="col">{h}</th>' for h in heads)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            + ("" if findings else '<p class="mut">No findings.</p>'))


def _etcd_details(c: dict, e: dict, anchor: str) -> str:
    n = _counts(e["findings"])
    quota = f"{human_bytes(e['quota_bytes'] or DEFAULT_QUOTA)} ({e['quota_source']})"
    head = (f"{e['status'].upper()} {c['name']} {e['namespace']}/{e['etcd']}: {len(e['members'])} members, "
            f"leader {e['leader'] or 'none'}, quota {quota}, {n['critical']} critical, {n['warning']} warning")
    out = [f'<details id="{anchor}" data-status="{_e(e["status"])}"{"" if e["status"] == "ok" else " open"}>',
           f"<summary>{_e(head)}</summary>"]
    if e["members"]:
        heads = ("Pod", "ID", "Role", "Health", "DB size", "In use", "Quota", "Revision", "Raft index", "Raft term", "Version",
                 "Backup-restore", "Debug container")
        out.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead><tbody>")
        for m in e["members"]:
            role = "leader" if m["is_leader"] else ("learner" if m["is_learner"] else ("follower" if m["reachable"] else "unknown"))
            debug = m["debug_container"] or ""
            if m.get("debug_error"):
                debug = f"{debug} failed: {m['debug_error']}".strip()
            out.append("<tr>" + _td(m["pod"], cls="nw") + _td(m["id"]) + _td(role) + _td(_member_health(m))
                       + _td(human_bytes(m["db_size"]), cls="num") + _td(human_bytes(m["db_size_in_use"]), cls="num")
                       + _td(_percent(m["db_quota_ratio"]), cls="num") + _td(m["revision"], cls="num")
                       + _td(m["raft_index"], cls="num") + _td(m["raft_term"], cls="num") + _td(m["version"])
                       + _td(_backup(m)) + _td(debug) + "</tr>")
        out.append("</tbody></table>")
    else:
        pods = ", ".join(e["pods"]) or "none"
        out.append(f'<p class="mut">No member details (pods: {_e(pods)}).</p>')
    out.append("</details>")
    return "".join(out)


def render_html(report: dict) -> str:
    """One self-contained HTML5 page: inline CSS and JS, no external references."""
    etcd_ids, index = {}, 0
    for c in report["clusters"]:
        for e in c["etcds"]:
            index += 1
            etcd_ids[id(e)] = f"etcd-{index}"
    status = report["summary"]["status"]
    meta = f"Generated {report['generated_at']}"
    if report.get("collection_version"):
        meta += f" by etcd_wrapper.ops {report['collection_version']}"
    meta += f" · schema v{report['schema_version']}"
    body = [f'<h1>{_e(report["title"])}</h1>', f'<p class="meta">{_e(meta)}</p>',
            f'<div class="summary" data-status="{_e(status)}" id="summary">{_e(summary_line(report))}</div>',
            '<h2>Clusters</h2><div class="grid" id="clusters">']
    body += [_cluster_block(c, etcd_ids) for c in report["clusters"]]
    body.append("</div>")
    body.append(f'<h2>Findings ({len(report["findings"])})</h2>')
    body.append(_findings_table(report["findings"]))
    body.append('<h2>Members</h2><div id="members">')
    details = [_etcd_details(c, e, etcd_ids[id(e)]) for c in report["clusters"] for e in c["etcds"]]
    body += details or ['<p class="mut">No etcd found.</p>']
    body.append("</div>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(status.upper())} {_e(report['title'])}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{_JS}</script>\n</body></html>\n")


# ---------------------------------------------------------------- JUnit

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(value) -> str:
    return _XML_INVALID.sub("?", _text(value))


def _testcase(suite, classname: str, name: str, findings: list[dict], passed_note: str | None = None) -> bool:
    case = ET.SubElement(suite, "testcase", classname=_x(classname), name=_x(name))
    failed = False
    for f in findings:
        if f["severity"] == "critical":
            failed = True
            node = ET.SubElement(case, "failure", type=_x(f["code"]), message=_x(f["message"]))
            node.text = _x(f["message"] + (f"\npod: {f['pod']}" if f["pod"] else ""))
    out = [f"{f['severity'].upper()} {f['code']}" + (f" [{f['pod']}]" if f["pod"] else "") + f": {f['message']}"
           for f in findings if f["severity"] != "critical"]
    if passed_note:
        out.insert(0, passed_note)
    if out:
        ET.SubElement(case, "system-out").text = _x("\n".join(out))
    return failed


def render_junit(report: dict) -> str:
    root = ET.Element("testsuites", name=_x(report["title"]))
    total = failures = 0
    for c in report["clusters"]:
        suite = ET.SubElement(root, "testsuite", name=_x(c["name"]), timestamp=_x(report["generated_at"]))
        if c["duration_s"] is not None:
            suite.set("time", f"{c['duration_s']:.3f}")
        props = ET.SubElement(suite, "properties")
        for key in ("host", "server", "status"):
            if c[key] is not None:
                ET.SubElement(props, "property", name=key, value=_x(c[key]))
        results = []
        if c["unreachable"] or c["findings"]:
            results.append(_testcase(suite, c["name"], "cluster", c["findings"]))
        if not c["etcds"] and not c["unreachable"]:
            results.append(_testcase(suite, c["name"], "discovery", [], passed_note="no etcd found in this cluster"))
        for e in c["etcds"]:
            results.append(_testcase(suite, f"{c['name']}.{e['namespace']}", e["etcd"], e["findings"]))
        suite.set("tests", str(len(results)))
        suite.set("failures", str(sum(results)))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total += len(results)
        failures += sum(results)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------- files

def render_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"


RENDERERS = {"json": render_json, "md": render_markdown, "html": render_html, "junit": render_junit}


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


def write_reports(report: dict, dest_dir: str, formats=("json", "md", "html", "junit")) -> dict[str, str]:
    """Write the chosen renderings into dest_dir (created), each atomically; {format: path}."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(map(str, unknown))} (known: {', '.join(RENDERERS)})")
    dest_dir = os.path.abspath(os.path.expanduser(str(dest_dir)))
    os.makedirs(dest_dir, exist_ok=True)
    written = {}
    for fmt in formats:
        path = os.path.join(dest_dir, FILENAMES[fmt])
        _write_atomic(path, RENDERERS[fmt](report))
        written[fmt] = path
    return written


# ---------------------------------------------------------------- the module

def table_lines(report: dict) -> list[str]:
    """The summary as fixed-width lines for the terminal (what the sweep prints at the end)."""
    rows = [("CLUSTER", "ETCD", "STATUS", "CRIT", "WARN", "NOTE")]
    for c in report["clusters"]:
        if c["unreachable"] or not c["etcds"]:
            n = _counts(c["findings"])
            rows.append((c["name"], "-", c["status"].upper(), str(n["critical"]), str(n["warning"]),
                         (c["unreachable"] or "no etcd found")[:90]))
        for e in c["etcds"]:
            n = _counts(e["findings"])
            codes = ", ".join(dict.fromkeys(f["code"] for f in e["findings"] if f["severity"] != "info"))
            rows.append((c["name"], f"{e['namespace']}/{e['etcd']}", e["status"].upper(), str(n["critical"]),
                         str(n["warning"]), codes))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return [("  ".join(cell.ljust(w) for cell, w in zip(r[:5], widths)) + "  " + r[5]).rstrip() for r in rows]


# shared by the module (documentation, direct use) and its action plugin (what tasks run)
ARGUMENT_SPEC = dict(
    results=dict(type="list", elements="dict", required=True),
    hosts=dict(type="list", elements="str", default=[]),
    dest=dict(type="path", required=True),
    formats=dict(type="list", elements="str", choices=["json", "md", "html", "junit"], default=["json", "md", "html", "junit"]),
    fail_on=dict(type="str", choices=["critical", "warning", "never"], default="critical"),
    thresholds=dict(type="dict", default={}),
    title=dict(type="str", default="etcd health sweep"),
)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def run_or_error(params: dict, check_mode: bool) -> tuple[dict | None, str | None]:
    """(result, None), or (None, the one-line error) when the report cannot be written."""
    try:
        return run(params, check_mode, utc_now(), COLLECTION_VERSION), None
    except (OSError, ValueError) as exc:
        return None, f"cannot write the report to {params['dest']}: {exc}"


def run(params: dict, check_mode: bool, now: str, collection_version: str | None) -> dict:
    """Everything etcd_wrapper.ops.etcd_health_report does; returns the result."""
    results = [r for r in params["results"] if isinstance(r, dict)]
    have = {r.get("host") or r.get("cluster") for r in results}
    for host in params.get("hosts") or []:
        if host not in have:  # the host failed before its health result existed: never drop it silently
            results.append({"host": host, "cluster": host,
                            "unreachable": "no health result: the sweep failed on this host before the health check"})
    # the thresholds the findings were evaluated with travel in each etcd_health result
    thresholds = params.get("thresholds") or next((r["thresholds"] for r in results if r.get("thresholds")), {})
    report = build_report(results, now, fail_on=params["fail_on"], thresholds=thresholds,
                          collection_version=collection_version, title=params["title"])
    files = {fmt: os.path.join(params["dest"], FILENAMES[fmt]) for fmt in params["formats"]}
    if not check_mode:
        files = write_reports(report, params["dest"], params["formats"])
    failing = {"critical"} if params["fail_on"] == "critical" else {"critical", "warning"}
    failed_findings = [f for f in report["findings"] if f["severity"] in failing] if report["summary"]["failed"] else []
    return {"changed": not check_mode, "files": files, "summary": report["summary"], "summary_line": summary_line(report),
            "table": table_lines(report), "failed_findings": failed_findings}
