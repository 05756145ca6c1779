# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""etcd-mixin rules from two reads of a member's /metrics, on texts recorded from the fleet's etcd
3.5.35 (testbed-3, 3 members, TLS; fixtures/metrics/README.md says how each pair was made)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _metrics
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._metrics import (
    DEFAULT_THRESHOLDS, FAMILIES, GREP_ERE, GREP_ERE_COMPACT, HISTOGRAMS, RULES, bucket_quantile, findings, parse, summarize)

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
INDEX = json.loads((FIXTURES / "index.json").read_text())
FULL = "idle_etcd-main-2_1.txt"  # the one read kept whole (every family, # HELP/# TYPE lines)


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def pair(scenario: str, pod: str) -> tuple[str, str, float, float]:
    entry = INDEX["scenarios"][scenario][pod]
    return text(entry["first"]), text(entry["second"]), entry["window"], entry["now"]


def summaries(scenario: str, **kw) -> dict:
    return {pod: summarize(*pair(scenario, pod), **kw) for pod in INDEX["scenarios"][scenario]}


def codes(found: list[dict]) -> list[tuple]:
    return sorted((f["code"], f["severity"], f["pod"]) for f in found)


def line_value(name: str, series: str) -> float:
    """One sample's value, read from the fixture text itself (so the hand computations below use the file's numbers)."""
    for line in text(name).splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in {name}")


# ---------------------------------------------------------------- healthy

@pytest.mark.parametrize("scenario", ["idle", "write_load", "restarted"])
def test_healthy_fixtures_have_no_findings(scenario):
    assert findings(summaries(scenario)) == []


def test_idle_3_members_summary():
    s = summaries("idle")
    assert [p for p in s if s[p]["is_leader"]] == ["etcd-main-2"]
    for pod, one in s.items():
        assert one["error"] is None and one["version"] == "3.5.35" and one["has_leader"] is True
        assert one["leader_changes_total"] == 1  # a fresh member: its first election counts as a change
        assert one["leader_changes_window"] == 0 and one["proposals_failed_window"] == 0
        assert one["wal_fsync_p99"] == {"seconds": None, "samples": 0, "note": "not enough data: 0 < 20 samples"}
        assert one["grpc"]["worst_method"] is None and one["grpc"]["note"].startswith("not enough data")
        assert one["quota_backend_bytes"] == 8 * 1024 ** 3 and one["db_total_size"] == 20480
        assert 0 < one["uptime_seconds"] < 3600
        json.dumps(one)  # JSON-able
    assert s["etcd-main-2"]["member_id"] == "2cfff32e10a8112e"


def test_write_load_quantiles_by_hand():
    """p99 of the window's bucket deltas, computed here from the fixture's own bucket lines."""
    first, second = "write_load_etcd-main-2_1.txt", "write_load_etcd-main-2_2.txt"
    fam = "etcd_disk_wal_fsync_duration_seconds_bucket"
    bounds = ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "+Inf"]
    delta = {b: line_value(second, f'{fam}{{le="{b}"}}') - line_value(first, f'{fam}{{le="{b}"}}') for b in bounds}
    # the recorded numbers: 122-83, 221-146, 259-166, 277-180, 289-187, 292-189, 294-189, 294-189
    assert list(delta.values()) == [39, 75, 93, 97, 102, 103, 105, 105]
    rank = 0.99 * 105                                  # 103.95: above 103 (le 0.032), within 105 (le 0.064)
    expected = 0.032 + (0.064 - 0.032) * (rank - 103) / (105 - 103)
    s = summarize(*pair("write_load", "etcd-main-2"))
    assert s["wal_fsync_p99"] == {"seconds": pytest.approx(expected, abs=1e-6), "samples": 105, "note": None}
    # backend commit: 5, 12, 17, 20, 26, 28, 29 (+Inf 29): rank 28.71 lies in (0.032, 0.064] holding 1
    fam = "etcd_disk_backend_commit_duration_seconds_bucket"
    assert line_value(second, f'{fam}{{le="0.032"}}') - line_value(first, f'{fam}{{le="0.032"}}') == 28
    assert line_value(second, f'{fam}{{le="+Inf"}}') - line_value(first, f'{fam}{{le="+Inf"}}') == 29
    assert s["backend_commit_p99"]["seconds"] == pytest.approx(0.032 + 0.032 * (0.99 * 29 - 28) / 1, abs=1e-6)
    assert s["proposals_committed_window"] == 105 and s["is_leader"] is True
    # the load went through etcd-main-0: its KV/Txn calls (1 txn = 1 proposal), none failed
    txn = 'grpc_server_handled_total{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"}'
    calls = line_value("write_load_etcd-main-0_2.txt", txn) - line_value("write_load_etcd-main-0_1.txt", txn)
    member0 = summarize(*pair("write_load", "etcd-main-0"))["grpc"]
    assert member0["worst_method"] == {"method": "etcdserverpb.KV/Txn", "handled": calls, "failed": 0, "ratio": 0.0, "codes": {}}
    assert calls >= 20 and s["grpc"]["worst_method"] is None


def test_peer_rtt_uses_the_window_not_the_lifetime():
    """idle_35s: the leader's histogram for peer 71884a37a76642a0 still holds slow RTTs from an earlier
    pause of that peer (lifetime p99 ~0.79 s); within the 35 s window it saw 2 fast ones."""
    first, second = "idle_35s_etcd-main-2_1.txt", "idle_35s_etcd-main-2_2.txt"
    fam = 'etcd_network_peer_round_trip_time_seconds_bucket{To="71884a37a76642a0",le="%s"}'
    cum = {b: line_value(second, fam % b) - line_value(first, fam % b) for b in ("0.0064", "0.0128", "0.0256", "+Inf")}
    assert cum == {"0.0064": 1, "0.0128": 1, "0.0256": 2, "+Inf": 2}
    rank = 0.99 * 2                                    # 1.98: in (0.0128, 0.0256], which holds 1
    s = summarize(*pair("idle_35s", "etcd-main-2"), thresholds={"metrics_peer_rtt_min_samples": 1})
    assert s["peer_rtt_p99"]["peers"]["71884a37a76642a0"] == {"seconds": pytest.approx(0.0128 + 0.0128 * (rank - 1) / 1),
                                                              "samples": 2}
    lifetime = [(float(labels["le"]), v) for labels, v in parse(text(second))["etcd_network_peer_round_trip_time_seconds_bucket"]
                if labels["To"] == "71884a37a76642a0"]
    # since start: 14 of 16 by 0.4096, 16 by 0.8192: rank 15.84 -> 0.4096 + 0.4096 * 1.84 / 2
    assert bucket_quantile(0.99, lifetime) == pytest.approx(0.4096 + 0.4096 * 1.84 / 2)
    assert findings({"etcd-main-2": s}) == []


# ---------------------------------------------------------------- each rule on its fixture

def test_quorum_loss_no_leader_proposals_and_grpc():
    found = findings(summaries("quorum_loss"))
    assert codes(found) == [("GRPC_ERRORS", "critical", "etcd-main-0"), ("NO_LEADER", "critical", "etcd-main-0"),
                            ("PROPOSALS_FAILING", "warning", "etcd-main-0")]
    by = {f["code"]: f for f in found}
    assert "in both reads, over 3 s" in by["NO_LEADER"]["message"]
    failed = line_value("quorum_loss_etcd-main-0_2.txt", "etcd_server_proposals_failed_total") \
        - line_value("quorum_loss_etcd-main-0_1.txt", "etcd_server_proposals_failed_total")
    assert failed == 40 and by["PROPOSALS_FAILING"]["value"] == pytest.approx(40 / 3.0, abs=1e-3)
    assert by["PROPOSALS_FAILING"]["message"] == ("40 proposals failed over 3 s (13.3/s; threshold 5/s = 15 in the window, "
                                                  "etcd-mixin)")
    # puts waiting for a leader end in Unknown (a mixin code) on KV/Put
    assert "40 of 40 etcdserverpb.KV/Put calls failed (100.0%: Unknown 40) over 3 s" in by["GRPC_ERRORS"]["message"]


def test_proposals_threshold_scales_with_the_window():
    s = summarize(*pair("quorum_loss", "etcd-main-0"))
    assert [f["code"] for f in findings({"m": dict(s, window_seconds=7.9)}) if f["code"] == "PROPOSALS_FAILING"]
    assert not [f for f in findings({"m": dict(s, window_seconds=8.0)}) if f["code"] == "PROPOSALS_FAILING"]  # 40/8 = 5, not > 5


def test_leader_flap_is_critical_and_a_paused_leader_a_warning():
    flap = findings(summaries("leader_flap"))
    assert codes(flap) == [("LEADER_CHANGES", "critical", "etcd-main-0"), ("LEADER_CHANGES", "critical", "etcd-main-2")]
    changes = line_value("leader_flap_etcd-main-0_2.txt", "etcd_server_leader_changes_seen_total") \
        - line_value("leader_flap_etcd-main-0_1.txt", "etcd_server_leader_changes_seen_total")
    assert changes == 6 and flap[0]["value"] == 6 and flap[0]["threshold"] == 3 and "over 3.1 s" in flap[0]["message"]
    paused = findings(summaries("paused_leader"))
    assert codes(paused) == [("LEADER_CHANGES", "warning", "etcd-main-0"), ("LEADER_CHANGES", "warning", "etcd-main-1")]
    assert all(f["value"] == 1 for f in paused)
    # the survivor that took over
    assert summaries("paused_leader")["etcd-main-1"]["is_leader"] is True


def test_leader_changes_since_start():
    """grpc_auth was recorded after the flap: 14 changes in ~326 s of uptime, none within the window."""
    s = summaries("grpc_auth")
    one = s["etcd-main-1"]
    assert one["leader_changes_window"] == 0 and one["leader_changes_total"] == 14
    lifetime = [f for f in findings(s) if f["code"] == "LEADER_CHANGES"]
    assert {f["pod"] for f in lifetime} == {"etcd-main-0", "etcd-main-1"}
    f = next(f for f in lifetime if f["pod"] == "etcd-main-1")
    assert f["severity"] == "warning" and "since start" in f["message"] and "over" not in f["message"]
    assert f["value"] == pytest.approx(13 * 900 / one["uptime_seconds"], abs=0.01)
    # the first election is not a change: 4 changes in total (3 since the first) stay quiet at any uptime
    assert not findings({"m": dict(one, leader_changes_total=4, uptime_seconds=60)})
    assert findings({"m": dict(one, leader_changes_total=5, uptime_seconds=60)})[0]["code"] == "LEADER_CHANGES"
    # ... and 40 changes over a week are below 4 per 15 min
    assert not findings({"m": dict(one, leader_changes_total=40, uptime_seconds=7 * 86400)})


def test_grpc_errors_auth_and_nospace():
    auth = findings(summaries("grpc_auth"))
    grpc = [f for f in auth if f["code"] == "GRPC_ERRORS"]
    assert [(f["pod"], f["severity"]) for f in grpc] == [("etcd-main-0", "critical")]
    assert "etcdserverpb.Auth/Authenticate" in grpc[0]["message"] and "FailedPrecondition 24" in grpc[0]["message"]
    s = summaries("grpc_auth")["etcd-main-0"]["grpc"]
    # overall: 24 failed Authenticate + 26 Range OK + ... ; the mixin judges per method
    assert s["failed"] == 24 and s["ratio"] < 0.5 and s["worst_method"]["ratio"] == 1.0
    nospace = findings(summaries("grpc_nospace"))
    assert codes(nospace) == [("GRPC_ERRORS", "critical", "etcd-main-0")]
    assert "ResourceExhausted 24" in nospace[0]["message"] and "KV/Put" in nospace[0]["message"]
    nospace_summary = summaries("grpc_nospace")["etcd-main-0"]
    assert nospace_summary["quota_backend_bytes"] == 2 * 1024 * 1024 and nospace_summary["db_total_size"] == 1601536


def test_grpc_warning_band_and_minimum_calls():
    s = summarize(*pair("grpc_nospace", "etcd-main-0"))
    worst = dict(s["grpc"]["worst_method"], failed=1, ratio=1 / 24)   # 4.2 %: warning (> 1 %), not critical (> 5 %)
    f = findings({"m": dict(s, grpc=dict(s["grpc"], worst_method=worst))})
    assert [(x["code"], x["severity"], x["threshold"]) for x in f] == [("GRPC_ERRORS", "warning", 0.01)]
    # 24 calls are below a minimum of 25: no judgement, and the summary says why
    strict = summarize(*pair("grpc_nospace", "etcd-main-0"), thresholds={"metrics_grpc_min_handled": 25})
    assert strict["grpc"]["worst_method"] is None and strict["grpc"]["note"].startswith("not enough data")
    assert findings({"m": strict}) == []
    assert findings({"m": s}, {"metrics_grpc_min_handled": 25}) == []


def test_wal_fsync_slow_derived():
    """Derived: 2 observations of ~1.5 s added to the write-load leader's second read (README)."""
    s = summarize(*pair("wal_fsync_slow", "etcd-main-2"))
    # deltas as in test_write_load_quantiles_by_hand plus 2 in (1.024, 2.048]: 107 in all, 105 by 1.024
    rank = 0.99 * 107
    expected = 1.024 + (2.048 - 1.024) * (rank - 105) / 2
    assert s["wal_fsync_p99"] == {"seconds": pytest.approx(expected, abs=1e-6), "samples": 107, "note": None}
    found = findings({"etcd-main-2": s})
    assert codes(found) == [("WAL_FSYNC_SLOW", "critical", "etcd-main-2")]
    assert found[0]["threshold"] == 1.0 and "over 3.1 s" in found[0]["message"] and "107 samples" in found[0]["message"]
    # below the critical line it is a warning
    assert findings({"m": s}, {"metrics_wal_fsync_p99_critical": 2.0})[0]["severity"] == "warning"


def test_backend_commit_slow_derived():
    s = summarize(*pair("backend_commit_slow", "etcd-main-2"))
    expected = 0.256 + (0.512 - 0.256) * (0.99 * 30 - 29) / 1   # 29 real ones by 0.064, 1 added in (0.256, 0.512]
    assert s["backend_commit_p99"]["seconds"] == pytest.approx(expected, abs=1e-6)
    assert codes(findings({"etcd-main-2": s})) == [("BACKEND_COMMIT_SLOW", "warning", "etcd-main-2")]


def test_peer_rtt_slow_derived():
    # 2 observations in 35 s (two per 30 s): below the default minimum of 3, not judged
    default = summarize(*pair("peer_rtt_slow", "etcd-main-2"))
    assert default["peer_rtt_p99"]["seconds"] is None and default["peer_rtt_p99"]["note"] == "not enough data: 2 < 3 samples"
    assert findings({"etcd-main-2": default}) == []
    lower = {"metrics_peer_rtt_min_samples": 2}
    s = summarize(*pair("peer_rtt_slow", "etcd-main-2"), thresholds=lower)
    assert s["peer_rtt_p99"]["peer"] == "71884a37a76642a0" and s["peer_rtt_p99"]["samples"] == 2
    assert s["peer_rtt_p99"]["seconds"] == pytest.approx(0.2048 + 0.2048 * (0.99 * 2 - 0) / 2)
    found = findings({"etcd-main-2": s}, lower)
    assert codes(found) == [("PEER_RTT_SLOW", "warning", "etcd-main-2")]
    assert "to peer 71884a37a76642a0" in found[0]["message"] and "over 35.1 s" in found[0]["message"]


def test_a_paused_follower_is_invisible_to_its_peers_within_seconds():
    """SIGSTOP of etcd-main-1 for ~11 s: the others' /metrics moved not at all in the window."""
    s = summaries("paused_follower")
    for one in s.values():
        assert one["leader_changes_window"] == 0 and one["has_leader"] is True
        assert set(one["peer_sent_failures_window"].values()) <= {0}  # no series at all until a send fails
    assert [f for f in findings(s) if "over" in f["message"]] == []


# ---------------------------------------------------------------- not measured

def test_not_enough_data():
    s = summarize(*pair("leader_flap", "etcd-main-0"))
    assert s["wal_fsync_p99"] == {"seconds": None, "samples": 12, "note": "not enough data: 12 < 20 samples"}
    lower = summarize(*pair("leader_flap", "etcd-main-0"), thresholds={"metrics_min_samples": 10})
    assert lower["wal_fsync_p99"]["seconds"] is not None and lower["wal_fsync_p99"]["note"] is None
    # findings apply their own minimum too: a summary made with a lower one is not judged below it
    slow = dict(lower, wal_fsync_p99=dict(lower["wal_fsync_p99"], seconds=3.0))
    wal = [f for f in findings({"m": slow}) if f["code"] == "WAL_FSYNC_SLOW"]
    assert wal == [] and "WAL_FSYNC_SLOW" in {f["code"] for f in findings({"m": slow}, {"metrics_min_samples": 10})}
    assert summarize(*pair("write_load", "etcd-main-0"))["peer_rtt_p99"]["note"] == "not enough data: 0 < 3 samples"


def test_counter_reset_between_reads():
    s = summarize(*pair("restarted", "etcd-main-1"))  # a real restart: process_start_time_seconds moved
    assert s["restarted_between_reads"] is True and s["leader_changes_total"] == 1
    assert s["leader_changes_window"] is None and s["proposals_failed_window"] is None
    assert s["notes"]["leader_changes_window"] == _metrics.RESET
    for field in ("wal_fsync_p99", "backend_commit_p99", "peer_rtt_p99"):
        assert s[field]["seconds"] is None and s[field]["note"] == _metrics.RESET
    assert s["grpc"]["note"] == _metrics.RESET
    # a counter that went down with the same start time (edited): that figure alone is not measured
    first, second, window, now = pair("write_load", "etcd-main-2")
    second = re.sub(r"^(etcd_disk_wal_fsync_duration_seconds_bucket\{le=\"0.001\"\}) \d+", r"\1 1", second, flags=re.M)
    second = re.sub(r"^etcd_server_leader_changes_seen_total \d+", "etcd_server_leader_changes_seen_total 0", second, flags=re.M)
    s = summarize(first, second, window, now)
    assert s["restarted_between_reads"] is False and s["wal_fsync_p99"]["note"] == _metrics.RESET
    assert s["backend_commit_p99"]["seconds"] is not None
    assert s["leader_changes_window"] is None and s["notes"]["leader_changes_window"] == _metrics.RESET


def test_window_zero_gauges_and_lifetime_only():
    first, _second, _window, now = pair("quorum_loss", "etcd-main-0")
    s = summarize(first, None, 0, now=now)
    assert s["window_seconds"] == 0.0 and s["has_leader"] is False and s["proposals_failed_total"] == 75
    assert s["leader_changes_window"] is None and s["notes"]["leader_changes_window"] == _metrics.NOT_MEASURED
    assert s["notes"]["proposals_failed_window"] == _metrics.NOT_MEASURED
    for field in ("wal_fsync_p99", "backend_commit_p99", "peer_rtt_p99"):
        assert s[field]["note"] == "not measured (window 0)"
    assert s["grpc"]["note"] == "not measured (window 0)" and s["grpc"]["since_start"]["codes"]["Unknown"] > 0
    found = findings({"etcd-main-0": s})
    assert codes(found) == [("NO_LEADER", "critical", "etcd-main-0")] and "window 0" in found[0]["message"]
    # the same with a second text but window 0: one read (the latest)
    assert summarize(first, first, 0, now=now)["window_seconds"] == 0.0
    # lifetime leader changes still count from one read
    one = summarize(text("grpc_auth_etcd-main-1_1.txt"), None, 0, now=INDEX["scenarios"]["grpc_auth"]["etcd-main-1"]["now"])
    assert codes(findings({"etcd-main-1": one})) == [("LEADER_CHANGES", "warning", "etcd-main-1")]


def test_no_metrics_in_the_answer():
    s = summarize("curl: (28) Operation timed out\n", "", 3)
    assert s["error"] and s["has_leader"] is None and findings({"m": s}) == []
    assert summarize(None, None, 3)["error"]
    json.dumps(s)


# ---------------------------------------------------------------- Prometheus math and parsing

def test_bucket_quantile_as_prometheus():
    inf = math.inf
    # 10 observations: 5 by 1, 9 by 2, 10 by +Inf; rank 9.9 lies in +Inf: the highest finite bound
    assert bucket_quantile(0.99, [(1, 5), (2, 9), (inf, 10)]) == 2
    # rank 0.99 * 100 = 99 in (0.5, 1] holding 100 - 90 = 10: 0.5 + 0.5 * 9 / 10
    assert bucket_quantile(0.99, [(0.5, 90), (1, 100), (inf, 100)]) == pytest.approx(0.95)
    # the first bucket interpolates from 0: rank 50 of 100, all by 0.1: 0.1 * 50 / 100
    assert bucket_quantile(0.5, [(0.1, 100), (inf, 100)]) == pytest.approx(0.05)
    assert bucket_quantile(0.99, [(1, 0), (inf, 0)]) is None          # no observations: NaN in Prometheus
    assert bucket_quantile(0.99, [(1, 5), (2, 9)]) is None            # no +Inf bucket
    assert bucket_quantile(0.99, [(inf, 9)]) is None                  # fewer than 2 buckets
    # unsorted input and a non-monotonic count (forced monotonic): (1, 5), (2, 5), (+Inf, 10) -> +Inf
    assert bucket_quantile(0.99, [(inf, 10), (2, 4), (1, 5)]) == 2
    assert bucket_quantile(0.5, [(inf, 10), (2, 4), (1, 5)]) == pytest.approx(1.0)  # rank 5 reached by le 1


def test_parse_robustness():
    sample = "\n".join([
        "# HELP x a help line with { and \"",
        "# TYPE x counter",
        'x{a="p\\"q",b="back\\\\slash",c="new\\nline",d="},{=",} 3 1700000000000',
        "y 1.79608903297e+09",
        'z{le="+Inf"} +Inf',
        "nan_metric NaN",
        "junk line without a value",
        "{no_name=\"x\"} 1",
        'unterminated{a="x} 1',
        'bad_sep{a="x" b="y"} 1',
        "no_value{a=\"x\"}",
        "glued{a=\"x\"}1",
        "not_a_number abc",
        "   ",
        "w 5",
    ])
    parsed = parse(sample)
    assert parsed["x"] == [({"a": 'p"q', "b": "back\\slash", "c": "new\nline", "d": "},{="}, 3.0)]
    assert parsed["y"] == [({}, 1796089032.97)] and parsed["w"] == [({}, 5.0)]
    assert parsed["z"][0][1] == math.inf and math.isnan(parsed["nan_metric"][0][1])
    assert set(parsed) == {"x", "y", "z", "nan_metric", "w"}
    assert parse("") == {} and parse(None) == {}


def test_full_fixture_parses():
    parsed = parse(text(FULL))
    assert len(parsed["grpc_server_handled_total"]) == 748   # every method x code pre-registered by go-grpc-prometheus
    assert parsed["etcd_server_version"] == [({"server_version": "3.5.35"}, 1.0)]


# ---------------------------------------------------------------- the grep filter

def _family_samples(body: str) -> list[str]:
    """The sample lines of FAMILIES, chosen here by parsing each line's name (not by the ERE)."""
    wanted = {f for f in FAMILIES if f not in HISTOGRAMS} | {f"{h}_{s}" for h in HISTOGRAMS for s in ("bucket", "sum", "count")}
    return [line for line in body.splitlines() if not line.startswith("#") and set(parse(line)) & wanted]


@pytest.mark.skipif(not shutil.which("grep"), reason="needs grep")
def test_grep_ere_keeps_exactly_the_families():
    body = text(FULL)
    kept = subprocess.run(["grep", "-E", GREP_ERE], input=body, capture_output=True, text=True, check=True).stdout.splitlines()
    assert kept == _family_samples(body)
    assert not [line for line in kept if line.startswith("#")]
    names = {re.split(r"[{ ]", line)[0] for line in kept}
    assert {n.rsplit("_", 1)[0] if n.rsplit("_", 1)[0] in HISTOGRAMS else n for n in names} == set(FAMILIES)
    assert len(kept) < len([line for line in body.splitlines() if line and not line.startswith("#")])
    # the compact filter: the same without grpc_server_handled_total samples that are 0
    compact = subprocess.run(["grep", "-E", GREP_ERE_COMPACT], input=body, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert compact == [line for line in kept if not (line.startswith("grpc_server_handled_total") and line.endswith(" 0"))]
    assert 0 < len([line for line in compact if line.startswith("grpc_server_handled_total")]) < 10


@pytest.mark.skipif(not shutil.which("grep"), reason="needs grep")
def test_filters_give_the_same_summary():
    first, second, window, now = pair("idle", "etcd-main-2")
    assert first == text(FULL)
    for ere in (GREP_ERE, GREP_ERE_COMPACT):
        filtered = subprocess.run(["grep", "-E", ere], input=first, capture_output=True, text=True, check=True).stdout
        assert summarize(filtered, second, window, now) == summarize(first, second, window, now)
        assert summarize(filtered, None, 0, now) == summarize(first, None, 0, now)


# ---------------------------------------------------------------- the contract

def test_every_fixture_summary_is_json_and_messages_are_one_line():
    seen = set()
    lower = {"metrics_peer_rtt_min_samples": 2}  # the recorded windows hold 2 RTT observations (two per 30 s)
    for scenario in INDEX["scenarios"]:
        found = findings(summaries(scenario, thresholds=lower), lower)
        json.dumps(summaries(scenario))
        for f in found:
            seen.add(f["code"])
            assert set(f) == {"code", "severity", "pod", "message", "value", "threshold"}
            assert "\n" not in f["message"] and f["severity"] in ("critical", "warning")
            assert re.search(r"over \d+(\.\d+)? s|since start", f["message"]), f["message"]
            assert "threshold" in f["message"]
    assert seen == {r["code"] for r in RULES}   # every rule fires on some fixture


def test_rules_document_their_thresholds():
    for rule in RULES:
        assert {"code", "mixin", "expr", "thresholds", "differs"} <= set(rule)
        assert set(rule["thresholds"]) <= set(DEFAULT_THRESHOLDS)
    assert all(key.startswith("metrics_") for key in DEFAULT_THRESHOLDS)
    assert DEFAULT_THRESHOLDS["metrics_wal_fsync_p99_warning"] == 0.5 and DEFAULT_THRESHOLDS["metrics_grpc_errors_critical"] == 0.05


def test_the_rules_page_says_what_rules_holds():
    """docs/metrics_rules.md is written from RULES and DEFAULT_THRESHOLDS: every rule, its mixin
    expression, what differs and each threshold's default are on it as the code has them."""
    page = (Path(__file__).resolve().parents[4] / "docs" / "metrics_rules.md").read_text()
    for rule in RULES:
        assert f"## `{rule['code']}`" in page and f"`{rule['expr']}`" in page and rule["differs"] in page, rule["code"]
        for key in rule["thresholds"]:
            assert f"`etcd_health_{key}` ({DEFAULT_THRESHOLDS[key]})" in page, key
