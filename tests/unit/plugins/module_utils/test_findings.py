# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health findings on etcdctl output recorded from the local fleet (etcd 3.4.23, 3 members, TLS):
healthy, one member stopped, NOSPACE alarm under a 2 MiB quota, backup-restore unhealthy."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._findings import evaluate, leader_pod, pod_of_endpoint, remedy

from ansible_collections.etcd_wrapper.ops.tests.unit.plugins.module_utils.etcd_fixtures import PODS, healthz, observation, parsed


def codes(findings):
    return sorted((f["code"], f["severity"], f["pod"]) for f in findings)


def test_healthy_cluster_has_no_findings():
    assert evaluate(observation()) == []


def test_stopped_member():
    findings = evaluate(observation("stopped_member"))
    # one cause, one finding: its failed health check is part of MEMBER_UNREACHABLE
    assert codes(findings) == [("MEMBER_UNREACHABLE", "critical", "etcd-main-2")]
    unreachable = next(f for f in findings if f["code"] == "MEMBER_UNREACHABLE")
    assert "Failed to get the status of endpoint" in unreachable["message"]
    # a member that answers status but fails its health check is MEMBER_UNHEALTHY
    obs = observation("stopped_member")
    obs["endpoint_health"] = copy.deepcopy(obs["endpoint_health"])
    for h in obs["endpoint_health"]:
        if pod_of_endpoint(h["endpoint"]) == "etcd-main-0":
            h.update(health=False, error="context deadline exceeded")
    assert ("MEMBER_UNHEALTHY", "critical", "etcd-main-0") in codes(evaluate(obs))
    assert all(f["cluster"] == "testbed-1" and f["etcd"] == "etcd-main" for f in findings)


def test_nospace_alarm_names_the_member():
    obs = observation("nospace", etcd="etcd-events", member_list=None, alarm_list=parsed("nospace_alarm_list"),
                      quota_bytes=2 * 1024 * 1024)
    # map the alarm's member ID to a pod through the member list recorded from the same etcd
    obs["member_list"] = {"members": [{"ID": s["Status"]["header"]["member_id"], "name": pod_of_endpoint(s["Endpoint"])}
                                      for s in obs["endpoint_status"]]}
    findings = evaluate(obs)
    nospace = [f for f in findings if f["code"] == "ALARM_NOSPACE"]
    assert len(nospace) == 1 and nospace[0]["pod"] == "etcd-events-0" and nospace[0]["severity"] == "critical"
    assert "alarm disarm" in nospace[0]["message"]
    # 1.6 MB of a 2 MiB quota: 76 % < 80 %, no quota finding yet; at 1.5 MiB quota it is critical
    assert not [f for f in findings if f["code"] == "DB_QUOTA_HIGH"]
    high = evaluate(dict(obs, quota_bytes=1600000))
    assert {f["severity"] for f in high if f["code"] == "DB_QUOTA_HIGH"} == {"critical"}
    warn = evaluate(dict(obs, quota_bytes=1900000))
    assert {f["severity"] for f in warn if f["code"] == "DB_QUOTA_HIGH"} == {"warning"}
    assert next(f for f in warn if f["code"] == "DB_QUOTA_HIGH")["threshold"] == 0.8


def test_quota_default_when_config_unreadable():
    obs = observation(quota_bytes=None)
    obs["endpoint_status"] = copy.deepcopy(obs["endpoint_status"])
    obs["endpoint_status"][0]["Status"]["dbSize"] = int(8 * 1024 ** 3 * 0.96)
    finding = next(f for f in evaluate(obs) if f["code"] == "DB_QUOTA_HIGH")
    assert finding["severity"] == "critical" and "default 8 GiB" in finding["message"]


def test_backup_restore_unhealthy_counts_on_the_leader_only():
    obs = observation(backup_health={p: healthz("unhealthy_backup_healthz") for p in PODS})
    leader = leader_pod(obs)
    findings = evaluate(obs)
    assert codes(findings) == [("BACKUP_RESTORE_UNHEALTHY", "critical", leader)]
    assert findings[0]["value"] == 503
    # followers answer 503 in a healthy HA etcd (only the leading sidecar turns 200)
    standby = {p: healthz("unhealthy_backup_healthz") for p in PODS}
    standby[leader] = healthz("healthy_backup_healthz")
    assert evaluate(observation(backup_health=standby)) == []


def test_alarm_corrupt():
    members = parsed("healthy_member_list")
    first = members["members"][0]
    findings = evaluate(observation(alarm_list={"alarms": [{"memberID": first["ID"], "alarm": 2}]}))
    assert codes(findings) == [("ALARM_CORRUPT", "critical", first["name"])]


def test_leader_split_and_missing():
    obs = observation()
    statuses = copy.deepcopy(obs["endpoint_status"])
    other = next(m["ID"] for m in obs["member_list"]["members"] if m["ID"] != statuses[0]["Status"]["leader"])
    statuses[0]["Status"]["leader"] = other
    assert [f["code"] for f in evaluate(dict(obs, endpoint_status=statuses))] == ["SPLIT_LEADER"]
    for s in statuses:
        s["Status"]["leader"] = 0
    assert [f["code"] for f in evaluate(dict(obs, endpoint_status=statuses))] == ["NO_LEADER"]


def test_member_count_learner_and_skews():
    obs = observation(pods=PODS + ["etcd-main-3"])
    assert ("MEMBER_COUNT_MISMATCH", "warning", None) in codes(evaluate(obs))
    members = copy.deepcopy(obs["member_list"])
    members["members"][1]["isLearner"] = True
    assert ("LEARNER_PRESENT", "warning", members["members"][1]["name"]) in codes(evaluate(observation(member_list=members)))
    statuses = copy.deepcopy(obs["endpoint_status"])
    statuses[2]["Status"]["header"]["revision"] += 5000
    statuses[2]["Status"]["raftIndex"] += 5000
    skews = evaluate(observation(endpoint_status=statuses), {"revision_skew": 1000, "raft_index_skew": 10000})
    assert [f["code"] for f in skews] == ["REVISION_SKEW"] and skews[0]["value"] == 5000


def test_fragmented_database():
    statuses = copy.deepcopy(observation()["endpoint_status"])
    statuses[0]["Status"].update(dbSize=1000 * 1024 ** 2, dbSizeInUse=200 * 1024 ** 2)
    found = [f for f in evaluate(observation(endpoint_status=statuses)) if f["code"] == "DB_FRAGMENTED"]
    assert len(found) == 1 and found[0]["value"] == 0.2 and "defrag" in found[0]["message"]
    # small databases are never reported
    statuses[0]["Status"].update(dbSize=1024 ** 2, dbSizeInUse=1024)
    assert not [f for f in evaluate(observation(endpoint_status=statuses)) if f["code"] == "DB_FRAGMENTED"]


@pytest.mark.parametrize("obs, code", [
    ({"cluster": "testbed-3", "unreachable": "connection refused"}, "CLUSTER_UNREACHABLE"),
])
def test_unreachable_cluster(obs, code):
    findings = evaluate(obs)
    assert [f["code"] for f in findings] == [code] and findings[0]["severity"] == "critical"


def test_debug_container_failed():
    findings = evaluate(observation(debug_failed={"etcd-main-1": "ErrImagePull: manifest unknown"}))
    assert codes(findings) == [("DEBUG_CONTAINER_FAILED", "warning", "etcd-main-1")]


# ---------------------------------------------------------------- one home for the thresholds

def test_the_thresholds_shown_elsewhere_are_the_findings_defaults():
    """_findings.DEFAULT_THRESHOLDS is the source; the role's defaults and its argument spec show
    the same numbers to users and must not drift from it (the AWX survey: test_awx_survey.py)."""
    from pathlib import Path

    import yaml

    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._findings import DEFAULT_THRESHOLDS

    root = Path(__file__).resolve().parents[4]
    role_defaults = yaml.safe_load((root / "roles" / "etcd_health" / "defaults" / "main.yml").read_text())
    spec = yaml.safe_load((root / "roles" / "etcd_health" / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    for key, value in DEFAULT_THRESHOLDS.items():
        var = f"etcd_health_{key}"
        assert role_defaults[var] == value, var
        assert spec[var]["default"] == value, var


# ---------------------------------------------------------------- remedies

def _f(code: str, **kw) -> dict:
    return dict({"code": code, "cluster": "seed-1", "namespace": "shoot--dev--alpha", "etcd": "etcd-main", "pod": None}, **kw)


def test_remedy_of_a_fragmented_etcd_is_the_defrag_playbook_with_allow_write():
    cmd = remedy(_f("DB_FRAGMENTED"), ["/inv/fleet.kubeconfig.yml"], {"debug_container_image": "reg:5000/etcd-debug:1"})
    assert cmd == ("ansible-playbook -i /inv/fleet.kubeconfig.yml etcd_wrapper.ops.defrag -l seed-1 "
                   "-e etcd_namespace=shoot--dev--alpha -e etcd_name=etcd-main "
                   "-e debug_container_image=reg:5000/etcd-debug:1 -e allow_write=true")


def test_remedy_of_nospace_is_recovery_and_of_other_etcd_findings_diagnose():
    assert " etcd_wrapper.ops.recover_nospace " in remedy(_f("ALARM_NOSPACE"))
    assert " etcd_wrapper.ops.defrag " in remedy(_f("DB_QUOTA_HIGH"))
    diagnose = remedy(_f("MEMBER_UNREACHABLE", pod="etcd-main-1"))
    assert " etcd_wrapper.ops.diagnose " in diagnose and "allow_write" not in diagnose
    assert not diagnose.startswith("ansible-playbook -i")  # no inventory given, none invented


def test_no_remedy_for_cluster_level_and_hibernated_findings():
    assert remedy(_f("CLUSTER_UNREACHABLE", namespace=None, etcd=None)) is None
    assert remedy(_f("ETCD_HIBERNATED")) is None
    assert remedy(_f("MEMBER_COUNT_MISMATCH", namespace=None)) is None


def test_remedy_quotes_what_a_shell_would_split():
    cmd = remedy(_f("DB_FRAGMENTED", cluster="my seed"), ["a b.yml"], {"x": "$(rm -rf /)", "empty": ""})
    assert "-i 'a b.yml'" in cmd and "-l 'my seed'" in cmd and "-e 'x=$(rm -rf /)'" in cmd and "empty" not in cmd


# ---------------------------------------------------------------- the quota etcd runs with (its /metrics)

def test_quota_in_force_is_the_one_etcd_reports():
    """A member whose etcd runs with another quota than its config says (the config changed, the
    member was not restarted): QUOTA_MISMATCH, and DB_QUOTA_HIGH is judged against the quota in force
    (etcd_server_quota_backend_bytes, what etcd-mixin's etcdDatabaseQuotaLowSpace divides by)."""
    obs = observation()
    sizes = {pod_of_endpoint(s["Endpoint"]): s["Status"]["dbSize"] for s in obs["endpoint_status"]}
    small = min(sizes.values()) + 1  # every member's database is ~100 % of this
    pods = sorted(sizes)
    obs["metrics"] = {pods[0]: {"quota_backend_bytes": small}, pods[1]: {"quota_backend_bytes": obs["quota_bytes"]}}
    found = evaluate(obs)
    mismatch = [f for f in found if f["code"] == "QUOTA_MISMATCH"]
    assert [(f["pod"], f["severity"], f["value"], f["threshold"]) for f in mismatch] == [(pods[0], "warning", small, obs["quota_bytes"])]
    assert "restart the member" in mismatch[0]["message"]
    high = [f for f in found if f["code"] == "DB_QUOTA_HIGH"]
    assert [(f["pod"], f["severity"]) for f in high] == [(pods[0], "critical")]
    assert "(etcd_server_quota_backend_bytes)" in high[0]["message"]
    # the same quota everywhere, or no /metrics: nothing new
    obs["metrics"] = {p: {"quota_backend_bytes": obs["quota_bytes"]} for p in pods}
    assert not {"QUOTA_MISMATCH", "DB_QUOTA_HIGH"} & {f["code"] for f in evaluate(obs)}
