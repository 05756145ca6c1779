# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: the health sweep report (one JSON document,
described by docs/health_report.schema.json), its JSON and JUnit XML renderings, the terminal table
and the argument spec of etcd_wrapper.ops.etcd_health_report.

Pure functions on plain dicts (the per-cluster results come from Ansible hostvars, so every key
is optional); only the standard library and the collection's own _findings are used. The Markdown
and HTML renderings (Jinja2 templates) and writing the files are controller-side:
plugins/plugin_utils/_health_report_render.py.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._findings import (
    DEFAULT_QUOTA, DEFAULT_THRESHOLDS, SEVERITIES, evaluate, group, remedy, status_of)

SCHEMA_ID = "https://etcd-wrapper.ops/schemas/health_report/v2"
# 2: findings grouped one per (cluster, namespace, etcd, code) with `members` and `by_member`;
# counts per etcd and per cluster; summary.etcds_by_status and summary.member_findings (the
# per-member count schema 1 called findings); members[].findings
SCHEMA_VERSION = 2

STATUSES = ("critical", "warning", "ok")
FAIL_ON = ("critical", "warning", "never")
FINDING_KEYS = ("code", "severity", "cluster", "namespace", "etcd", "pod", "message", "value", "threshold")
MEMBER_KEYS = ("pod", "id", "name", "is_leader", "is_learner", "reachable", "health", "health_error",
               "db_size", "db_size_in_use", "db_quota_ratio", "revision", "raft_index", "raft_term", "version",
               "backup_restore", "debug_container", "debug_error")
FILENAMES = {"json": "health_report.json", "md": "health_report.md", "html": "health_report.html", "junit": "junit.xml",
             "prom": "health_report.prom"}


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
    if isinstance(raw.get("by_member"), list):  # already grouped (a merged or re-read report)
        out["by_member"] = [{"pod": _str(d.get("pod")), "severity": d.get("severity") if d.get("severity") in SEVERITIES else out["severity"],
                             "value": _scalar(d.get("value")), "threshold": _scalar(d.get("threshold")),
                             "message": str(d.get("message") if d.get("message") is not None else out["message"])}
                            for d in raw["by_member"] if isinstance(d, dict)]
    return out


def _grouped(findings: list[dict]) -> list[dict]:
    """The normalised findings grouped per (cluster, namespace, etcd, code), most severe first."""
    return sorted(group(findings), key=_finding_key)


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
    findings = _grouped([_finding(f, context) for f in raw.get("findings") or []])
    for m in members:
        m["findings"] = sorted({f["code"] for f in findings if m["pod"] in f["members"]})
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
        "counts": counts(findings),
        "findings": findings,
    }


def _cluster(raw: dict) -> dict:
    raw = raw if isinstance(raw, dict) else {}
    host = _str(raw.get("host"))
    name = _str(raw.get("cluster")) or host or "?"
    # etcd_health's unreachable_reason as it is (a task result cannot carry `unreachable`: Ansible
    # reserves it), or `unreachable` from other producers
    unreachable = _str(raw.get("unreachable_reason") or raw.get("unreachable"))
    if unreachable:
        unreachable = " ".join(unreachable.split())  # one line
    # the cluster's own findings: etcd_health's top-level list also repeats every etcd's findings
    findings = [_finding(f, {"cluster": name}) for f in raw.get("findings") or [] if isinstance(f, dict) and not f.get("etcd")]
    if unreachable and not any(f["code"] == "CLUSTER_UNREACHABLE" for f in findings):
        # a producer that did not say it as a finding: the rule in _findings says it
        findings.extend(_finding(f, {"cluster": name}) for f in evaluate({"cluster": name, "unreachable": unreachable}))
    findings = _grouped(findings)
    etcds = sorted((_etcd(e, name) for e in raw.get("etcds") or []), key=lambda e: (e["namespace"], e["etcd"]))
    status = worst([e["status"] for e in etcds] + [status_of(findings)])
    return {"name": name, "host": host or name, "server": _str(raw.get("server")), "status": status,
            "unreachable": unreachable, "duration_s": _nonneg(_num(raw.get("duration_s"))),
            "counts": counts(findings + [f for e in etcds for f in e["findings"]]), "findings": findings, "etcds": etcds}


def _finding_key(f: dict):
    return (SEVERITIES.index(f["severity"]), f["cluster"] or "", f["namespace"] or "", f["etcd"] or "",
            f["code"], f["pod"] or "")


def build_report(results: list[dict], generated_at: str, fail_on: str = "critical", thresholds: dict | None = None,
                 collection_version: str | None = None, title: str = "etcd health sweep",
                 remedies: dict | None = None) -> dict:
    """The report document (see docs/health_report.schema.json) from one result per cluster.
    remedies: {'inventory': [sources], 'extra_vars': {...}} for each finding's remedy command."""
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    clusters = sorted((_cluster(r) for r in results or []), key=lambda c: (c["name"], c["host"]))
    remedies = remedies or {}
    for c in clusters:
        for f in c["findings"] + [f for e in c["etcds"] for f in e["findings"]]:
            # -l names the inventory host the sweep ran for (the cluster's host)
            f["remedy"] = remedy(dict(f, cluster=c["host"]), remedies.get("inventory"), remedies.get("extra_vars"))
    flat = [f for c in clusters for f in c["findings"] + [f for e in c["etcds"] for f in e["findings"]]]
    flat.sort(key=_finding_key)
    counts = {s: sum(1 for f in flat if f["severity"] == s) for s in SEVERITIES}
    by_code: dict[str, int] = {}
    for f in flat:
        by_code[f["code"]] = by_code.get(f["code"], 0) + 1
    failed = (fail_on == "critical" and counts["critical"] > 0) or \
             (fail_on == "warning" and counts["critical"] + counts["warning"] > 0)
    etcds = [e for c in clusters for e in c["etcds"]]
    summary = {
        "status": worst(c["status"] for c in clusters),
        "clusters": len(clusters),
        "clusters_unreachable": sum(1 for c in clusters if c["unreachable"]),
        "etcds": len(etcds),
        "etcds_by_status": {s: sum(1 for e in etcds if e["status"] == s) for s in STATUSES},
        "members": sum(len(e["members"]) for e in etcds),
        "findings": counts,
        "member_findings": {s: sum(1 for f in flat for d in f.get("by_member") or [f] if d.get("severity") == s) for s in SEVERITIES},
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


# ---------------------------------------------------------------- merging partial reports

class PartialReportError(ValueError):
    """A partial report that cannot be merged (one line)."""


def results_of_partials(partials: list) -> tuple[list[dict], dict]:
    """(per-cluster results, thresholds) from partial reports - health_report.json documents of
    sweeps over parts of one fleet (AWX job slices: each slice sweeps every N-th host). A report's
    clusters are results build_report reads again (grouping is idempotent), so the merged report
    has the findings, summary and fail-on decision the unsliced sweep would have. A cluster (host)
    in two partials, or a document that is not a report, is a ValueError with one line."""
    results, thresholds, seen = [], {}, {}
    for index, doc in enumerate(partials or [], 1):
        what = doc.get("_source") if isinstance(doc, dict) and doc.get("_source") else f"partial report {index}"
        if not isinstance(doc, dict) or not isinstance(doc.get("clusters"), list) or "summary" not in doc:
            raise PartialReportError(f"{what} is not a health report (no clusters and summary)")
        version = doc.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise PartialReportError(f"{what} has schema_version {version!r}; this collection reads 1 to {SCHEMA_VERSION}")
        for cluster in doc["clusters"]:
            if not isinstance(cluster, dict):
                continue
            host = _str(cluster.get("host")) or _str(cluster.get("name")) or "?"
            if host in seen:
                raise PartialReportError(f"cluster {host} is in both {seen[host]} and {what}: slices must not overlap")
            seen[host] = what
            results.append(dict(cluster, cluster=cluster.get("name") or host, host=host))
        if not thresholds and isinstance(doc.get("thresholds"), dict):
            thresholds = doc["thresholds"]
    return results, thresholds


# ---------------------------------------------------------------- text shared by the renderings

def summary_line(report: dict) -> str:
    s = report["summary"]
    n = s["findings"]
    unreachable = f" ({s['clusters_unreachable']} unreachable)" if s["clusters_unreachable"] else ""
    verdict = "FAILED" if s["failed"] else "passed"
    by = s.get("etcds_by_status") or {}
    faulty = ", ".join(f"{by[k]} {k}" for k in ("critical", "warning") if by.get(k))
    return (f"{s['status'].upper()}: {s['clusters']} clusters{unreachable}, {s['etcds']} etcds"
            f"{' (' + faulty + ')' if faulty else ''}, {s['members']} members; "
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


def percent(ratio) -> str:
    return "" if ratio is None else f"{ratio * 100:.1f}%"


def _text(value) -> str:
    return "" if value is None else str(value)


def member_health(m: dict) -> str:
    if m.get("health") is True:
        return "healthy"
    if m.get("health") is False:
        return "unhealthy" + (f": {m['health_error']}" if m.get("health_error") else "")
    if m.get("reachable") is False:
        return "unreachable"
    return "unknown"


def backup_text(m: dict) -> str:
    b = m.get("backup_restore")
    if not isinstance(b, dict):
        return ""
    code = f"HTTP {b.get('status')}" if b.get("status") is not None else ""
    if b.get("role") == "follower" and not b.get("health"):  # only the leader's sidecar turns 200
        return "standby" + (f" ({code}, follower)" if code else " (follower)")
    return ("healthy" if b.get("health") else "unhealthy") + (f" ({code})" if code else "")


def counts(findings) -> dict:
    return {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITIES}


def _pods(f: dict) -> list[str]:
    """The pods a finding was seen on (grouped findings list them; a single one names its pod)."""
    return list(f.get("members") or ([f["pod"]] if f.get("pod") else []))


def all_findings(cluster: dict) -> list[dict]:
    return cluster["findings"] + [f for e in cluster["etcds"] for f in e["findings"]]


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
            node.text = _x(f["message"] + (f"\nmembers: {', '.join(_pods(f))}" if _pods(f) else ""))
    out = [f"{f['severity'].upper()} {f['code']}" + (f" [{', '.join(_pods(f))}]" if _pods(f) else "") + f": {f['message']}"
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


# ---------------------------------------------------------------- JSON

def render_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"


# ---------------------------------------------------------------- the terminal and the module

def table_lines(report: dict) -> list[str]:
    """The summary as fixed-width lines for the terminal (what the sweep prints at the end)."""
    rows = [("CLUSTER", "ETCD", "STATUS", "CRIT", "WARN", "NOTE")]
    for c in report["clusters"]:
        if c["unreachable"] or not c["etcds"]:
            n = counts(c["findings"])
            rows.append((c["name"], "-", c["status"].upper(), str(n["critical"]), str(n["warning"]),
                         (c["unreachable"] or "no etcd found")[:90]))
        for e in c["etcds"]:
            n = counts(e["findings"])
            codes = ", ".join(f["code"] + (f" ({len(_pods(f))} members)" if len(_pods(f)) > 1 else "")
                              for f in e["findings"] if f["severity"] != "info")
            rows.append((c["name"], f"{e['namespace']}/{e['etcd']}", e["status"].upper(), str(n["critical"]),
                         str(n["warning"]), codes))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return [("  ".join(cell.ljust(w) for cell, w in zip(r[:5], widths)) + "  " + r[5]).rstrip() for r in rows]


# shared by the module (documentation) and its action plugin (what tasks run)
ARGUMENT_SPEC = dict(
    results=dict(type="list", elements="dict", required=True),
    hosts=dict(type="list", elements="str", default=[]),
    dest=dict(type="path", required=True),
    formats=dict(type="list", elements="str", choices=["json", "md", "html", "junit", "prom"], default=["json", "md", "html", "junit", "prom"]),
    fail_on=dict(type="str", choices=["critical", "warning", "never"], default="critical"),
    thresholds=dict(type="dict", default={}),
    title=dict(type="str", default="etcd health sweep"),
    remedies=dict(type="dict", default={}, options=dict(
        inventory=dict(type="list", elements="str", default=[]),
        extra_vars=dict(type="dict", default={}),
    )),
    started_at=dict(type="str"),
    partials=dict(type="list", elements="raw", default=[]),
    return_report=dict(type="bool", default=False),
    pushgateway=dict(type="dict", required_together=[["username", "password"]], options=dict(
        url=dict(type="str", required=True),
        job=dict(type="str", default="etcd_wrapper_ops"),
        grouping=dict(type="dict", default={}),
        timeout=dict(type="int", default=30),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path"),
    )),
)
