# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection, controller side: the health report in the Prometheus
text exposition format (version 0.0.4), for node_exporter's textfile collector and a Pushgateway,
and the push itself.

What both consumers require (and render_prom gives):
- no sample timestamps: node_exporter skips the whole file ("contains unsupported client-side
  timestamps", prometheus/node_exporter collector/textfile.go) and the Pushgateway refuses the push
  with 400 ("pushed metrics must not have timestamps", prometheus/pushgateway README.md "About
  timestamps"); the time of the sweep is a value, etcd_wrapper_ops_sweep_timestamp_seconds;
- no two samples with the same name and label set (node_exporter drops the file, the Pushgateway
  answers 400), every family's samples together, one # HELP and one # TYPE per family;
- label values escaped (backslash, double quote, line feed), HELP text escaped (backslash, line feed).
"""

from __future__ import annotations

import base64
import datetime
import http.client
import math
import re
import urllib.error
from urllib.parse import quote, unquote, urlsplit, urlunsplit


PREFIX = "etcd_wrapper_ops_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("ok", "warning", "critical")
SEVERITIES = ("critical", "warning", "info")
# the labels of the series: a grouping label of the same name would overwrite them on the Pushgateway
SERIES_LABELS = ("cluster", "namespace", "etcd", "code", "severity", "status", "fail_on")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
DEFAULT_JOB = "etcd_wrapper_ops"

# name (without PREFIX) -> HELP; every family is a gauge: each value is the state at the sweep's end
FAMILIES = {
    "finding": "A finding of the last sweep (1 while it exists), one series per cluster, namespace, etcd, code "
               "and severity: findings that would give the same labels are one series. Cluster-level findings "
               "have namespace and etcd empty.",
    "finding_members": "Members (pods) a finding was seen on; only for findings of members.",
    "etcd_status": "Status of the etcd in the last sweep: 1 for the current status, 0 for the other two (ok, warning, critical).",
    "etcd_db_size_bytes": "Largest database size (dbSize) among the etcd's members that answered.",
    "etcd_db_quota_ratio": "Largest database size / quota-backend-bytes among the etcd's members that answered.",
    "etcd_members": "Members of the etcd in the report (0: hibernated, no pods).",
    "etcd_members_healthy": "Members of the etcd whose endpoint health was true.",
    "etcd_leader_present": "1 when the etcd had a leader, 0 when not; absent for an etcd without members (hibernated).",
    "cluster_reachable": "1 when the cluster's API server could be reached by the sweep, else 0.",
    "cluster_duration_seconds": "How long the health check of the cluster took.",
    "sweep_timestamp_seconds": "When the report was generated (Unix time), at the end of the sweep.",
    "sweep_duration_seconds": "From the start of the sweep (the started_at option) to the report; absent when the start is unknown.",
    "sweep_findings": "Findings of the last sweep by severity.",
    "sweep_failed": "1 when the findings meet fail_on (the sweep fails), else 0.",
}


class PushError(Exception):
    """A push that failed or cannot be made: one line, without credentials."""


# ---------------------------------------------------------------- the text format

def _escape_label(value) -> str:
    return ("" if value is None else str(value)).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value) -> str | None:
    """A sample value as the text format writes it; None for what is not a finite number."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)
    return None


def epoch(text) -> float | None:
    """Unix time of an ISO 8601 time (Z or an offset; a naive time is taken as UTC), else None."""
    try:
        moment = datetime.datetime.fromisoformat(str(text).strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _max(values):
    numbers = [v for v in values if _number(v) is not None and not isinstance(v, bool)]
    return max(numbers) if numbers else None


def samples(report: dict, started_at: str | None = None) -> dict[str, dict[tuple, object]]:
    """{family: {((label, value), ...): value}} from the report; what render_prom writes."""
    out: dict[str, dict[tuple, object]] = {name: {} for name in FAMILIES}
    members_of: dict[tuple, set] = {}
    for f in report.get("findings") or []:
        labels = (("code", f.get("code")), ("severity", f.get("severity")), ("cluster", f.get("cluster")),
                  ("namespace", f.get("namespace") or ""), ("etcd", f.get("etcd") or ""))
        out["finding"][labels] = 1
        pods = set(f.get("members") or ([f["pod"]] if f.get("pod") else []))
        if pods:
            members_of.setdefault(labels, set()).update(pods)
    for labels, pods in members_of.items():
        out["finding_members"][labels] = len(pods)
    for c in report.get("clusters") or []:
        out["cluster_reachable"][(("cluster", c.get("name")),)] = 0 if c.get("unreachable") else 1
        if c.get("duration_s") is not None:
            out["cluster_duration_seconds"][(("cluster", c.get("name")),)] = c["duration_s"]
        for e in c.get("etcds") or []:
            where = (("cluster", e.get("cluster") or c.get("name")), ("namespace", e.get("namespace") or ""), ("etcd", e.get("etcd") or ""))
            # one series per possible status, 1 for the current one, as kube-state-metrics' kube_pod_status_phase
            # (kubernetes/kube-state-metrics internal/store/pod.go): `== 1` selects, sum by (status) counts, and a
            # change of status changes values, not series (no series vanishes and reappears with another label)
            for status in STATUSES:
                out["etcd_status"][where + (("status", status),)] = 1 if e.get("status") == status else 0
            members = e.get("members") or []
            for family, key in (("etcd_db_size_bytes", "db_size"), ("etcd_db_quota_ratio", "db_quota_ratio")):
                value = _max(m.get(key) for m in members)
                if value is not None:
                    out[family][where] = value
            out["etcd_members"][where] = len(members)
            out["etcd_members_healthy"][where] = sum(1 for m in members if m.get("health") is True)
            if members:
                out["etcd_leader_present"][where] = 1 if e.get("leader") else 0
    generated = epoch(report.get("generated_at"))
    if generated is not None:
        out["sweep_timestamp_seconds"][()] = generated
        started = epoch(started_at) if started_at else None
        if started is not None and generated >= started:
            out["sweep_duration_seconds"][()] = round(generated - started, 3)
    counts = (report.get("summary") or {}).get("findings") or {}
    for severity in SEVERITIES:
        out["sweep_findings"][(("severity", severity),)] = int(counts.get(severity) or 0)
    out["sweep_failed"][(("fail_on", report.get("fail_on")),)] = 1 if (report.get("summary") or {}).get("failed") else 0
    return out


def render_prom(report: dict, started_at: str | None = None) -> str:
    """The report as a Prometheus text exposition (0.0.4): gauges only, no timestamps, series sorted."""
    lines = []
    for name, series in samples(report, started_at).items():
        rendered = []
        for labels, value in series.items():
            text = _number(value)
            if text is None:
                continue
            pairs = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
            rendered.append(f"{PREFIX}{name}{{{pairs}}} {text}" if pairs else f"{PREFIX}{name} {text}")
        if not rendered:
            continue  # a family without samples says nothing (promtool: "no samples" is fine, but HELP alone is noise)
        lines.append(f"# HELP {PREFIX}{name} {_escape_help(FAMILIES[name])}")
        lines.append(f"# TYPE {PREFIX}{name} gauge")
        lines.extend(sorted(rendered))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the Pushgateway

def redact(url: str) -> str:
    """The URL without user:password@."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _segment(name: str, value) -> str:
    """One /<label>/<value> of a grouping key as prometheus/pushgateway README.md ("URL") wants it: an empty
    value as <label>@base64/= , a value holding '/' base64url-encoded (even URI-encoded it would split
    the path), anything else percent-encoded (a space as %20: client_python's quote_plus sends '+', which
    the Pushgateway keeps as a literal '+')."""
    value = "" if value is None else str(value)
    if value == "":
        return f"/{name}@base64/="
    if "/" in value:
        return f"/{name}@base64/" + base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii")
    return f"/{name}/" + quote(value, safe="")


def push_url(options: dict) -> str:
    """<url>/metrics/job/<job>[/<label>/<value>...] (grouping labels sorted), or PushError."""
    url = str(options.get("url") or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError(f"pushgateway.url must be an http:// or https:// URL, not {redact(url)!r}")
    if parts.query or parts.fragment:
        raise PushError(f"pushgateway.url must not carry a query or fragment: {redact(url)!r}")
    job = options.get("job") if options.get("job") is not None else DEFAULT_JOB
    if str(job) == "":
        raise PushError("pushgateway.job must not be empty (the Pushgateway refuses an empty job)")
    grouping = options.get("grouping") or {}
    for name in grouping:
        if not LABEL_NAME.fullmatch(str(name)) or str(name).startswith("__") or name == "job":
            raise PushError(f"pushgateway.grouping: {name!r} is not a label name the Pushgateway accepts "
                            "([a-zA-Z_][a-zA-Z0-9_]*, not __*, not job: that is pushgateway.job)")
        if name in SERIES_LABELS:
            raise PushError(f"pushgateway.grouping: {name!r} is a label of the pushed series; the Pushgateway would "
                            f"overwrite it in every series (labels used: {', '.join(SERIES_LABELS)})")
    return (url.rstrip("/") + "/metrics" + _segment("job", job)
            + "".join(_segment(str(k), v) for k, v in sorted(grouping.items(), key=lambda kv: str(kv[0]))))


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def plan(text: str, options: dict) -> dict:
    """What a push of text sends where (the URL without credentials); PushError for options that cannot work."""
    return {"url": redact(push_url(options)), "method": "PUT", "job": str(options.get("job") or DEFAULT_JOB),
            "grouping": {str(k): str(v) for k, v in (options.get("grouping") or {}).items()},
            "series": sum(1 for line in text.splitlines() if line and not line.startswith("#")),
            "bytes": len(text.encode("utf-8")), "pushed": False}


def push(text: str, options: dict, check_mode: bool = False) -> dict:
    """PUT text to the Pushgateway (replacing the whole group of this job and grouping key); returns
    plan() with pushed true and the HTTP status (check mode: plan() only, nothing sent).
    PushError: one line, the password never in it."""
    result = plan(text, options)
    if check_mode:
        return result
    # imported here: only a push needs them, and every sweep's report loads this file (0.14 s of CPU)
    from ansible.module_utils.urls import ConnectionError as UrlsConnectionError  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.urls import SSLValidationError, open_url  # pylint: disable=import-outside-toplevel

    url, shown = push_url(options), result["url"]
    # user:password@ in the URL when the options name no user (open_url would keep it in the host otherwise)
    parts = urlsplit(url)
    username, password = options.get("username"), options.get("password")
    if not username and parts.username is not None:
        username, password = unquote(parts.username), unquote(parts.password or "")
    secrets = [str(p) for p in (options.get("password"), parts.password, password) if p]

    def clean(message) -> str:
        message = _one_line(message)
        for secret in secrets:
            message = message.replace(secret, "********")
        return message

    try:
        response = open_url(shown, data=text.encode("utf-8"), method="PUT", headers={"Content-Type": CONTENT_TYPE},
                            url_username=username, url_password=password, force_basic_auth=bool(username), timeout=options.get("timeout") or 30,
                            validate_certs=options.get("validate_certs", True), ca_path=options.get("ca_path"),
                            client_cert=options.get("client_cert"), client_key=options.get("client_key"),
                            http_agent="etcd_wrapper.ops")
        status = response.getcode()
        response.read()
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            body = ""
        raise PushError(clean(f"cannot push the metrics to {shown}: HTTP {exc.code} {exc.reason}"
                              + (f": {body}" if body.strip() else ""))) from None
    except urllib.error.URLError as exc:
        raise PushError(clean(f"cannot push the metrics to {shown}: {exc.reason}")) from None
    except (UrlsConnectionError, SSLValidationError, http.client.HTTPException, OSError, ValueError) as exc:
        raise PushError(clean(f"cannot push the metrics to {shown}: {type(exc).__name__}: {exc}")) from None
    result.update(pushed=True, status=status)
    return result
