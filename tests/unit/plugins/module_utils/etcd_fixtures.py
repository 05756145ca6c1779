# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""etcdctl and backup-restore output recorded from the local fleet (fixtures/etcd/), and the
health observation of one etcd built from it -- shared by the findings and report tests."""

from __future__ import annotations

import json
import os

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "etcd")
PODS = ["etcd-main-0", "etcd-main-1", "etcd-main-2"]


def rec(name: str) -> dict:
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)


def parsed(name: str):
    return json.loads(rec(name)["stdout"])


def healthz(name: str) -> dict:
    body, code = rec(name)["stdout"].rsplit("\n", 1)
    return {"status": int(code), "health": json.loads(body)["health"]}


def observation(prefix: str = "healthy", etcd: str = "etcd-main", cluster: str = "testbed-1",
                namespace: str = "shoot--dev--alpha", **over) -> dict:
    obs = {
        "cluster": cluster, "namespace": namespace, "etcd": etcd, "pods": [p.replace("etcd-main", etcd) for p in PODS],
        "endpoint_status": parsed(f"{prefix}_endpoint_status"),
        "endpoint_status_stderr": rec(f"{prefix}_endpoint_status")["stderr"],
        "endpoint_health": parsed(f"{prefix}_endpoint_health"),
        "member_list": parsed("stopped_member_member_list" if prefix == "stopped_member" else "healthy_member_list"),
        "alarm_list": parsed("healthy_alarm_list"),
        "backup_health": {p: healthz("healthy_backup_healthz") for p in PODS},
        "quota_bytes": 8 * 1024 ** 3,
    }
    obs.update(over)
    return obs
