# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an etcd-druid pod's spec says about its etcd, on pod specs recorded from the fleet
(fixtures/druid/*.json: `GET /api/v1/namespaces/<ns>/pods/<pod>` of each layout variant)."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _druid

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "druid")


def spec(name: str) -> dict:
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)["spec"]


def test_args_of_both_spellings():
    cont = {"command": ["etcd"], "args": ["--a=1", "--b", "2", "--flag", "--c=x=y", "word"]}
    assert _druid.args_of(cont) == {"--a": "1", "--b": "2", "--flag": "true", "--c": "x=y"}
    assert _druid.args_of(None) == {}


def test_v023_pod_everything_from_args():
    pod = spec("v023_ha_prefixed_etcd_events_0")
    assert _druid.is_wrapper(pod)
    assert _druid.client_port(pod) == (2379, "args --etcd-client-port")
    tls = _druid.client_tls(pod)
    assert (tls["cacert"], tls["cert"], tls["key"]) == ("/var/etcd/ssl/ca/bundle.crt", "/var/etcd/ssl/client/tls.crt",
                                                        "/var/etcd/ssl/client/tls.key")
    assert tls["source"].startswith("args of container 'backup-restore'")
    assert _druid.endpoint(pod, "https") == ("https://etcd-events-local:2379", "args of container 'backup-restore' (--endpoints)")
    assert _druid.config_candidates(pod) == (["/home/nonroot/etcd.conf.yaml"], "etcd-wrapper writes $HOME/etcd.conf.yaml")
    assert _druid.quota_from_args(pod) == 8 * 1024 ** 3
    br = _druid.backup_restore(pod, "https://etcd-events-local:2379", tls)
    assert br["base"] == "https://etcd-events-local:8080" and br["cacert"] == "/var/etcdbr/ssl/ca/bundle.crt"
    assert "--backup-restore-ca-cert-bundle-path" in br["source"]


def test_v022_pod_old_paths_from_args():
    pod = spec("v022_etcd_main_0")
    tls = _druid.client_tls(pod)
    assert tls["cacert"] == "/var/etcd/ssl/client/ca/ca.crt" and tls["cert"] == "/var/etcd/ssl/client/client/tls.crt"
    assert _druid.client_port(pod)[0] == 2379
    br = _druid.backup_restore(pod, "https://etcd-main-local:2379", tls)
    assert br["base"] == "https://etcd-main-local:8080" and br["cacert"] == "/var/etcd/ssl/client/ca/ca.crt"


def test_wrapper_args_when_backup_restore_says_nothing():
    pod = copy.deepcopy(spec("v023_ha_prefixed_etcd_events_0"))
    br = _druid.container(pod, "backup-restore")
    br["args"] = [a for a in br["args"] if not a.startswith(("--cacert", "--cert", "--key", "--endpoints"))]
    # etcd-wrapper names its client cert, but its CA is backup-restore's (/var/etcdbr/ssl/ca): not
    # trusted as the etcd CA, so the args say nothing and callers fall back to the mount layout
    assert _druid.client_tls(pod) is None
    v22 = copy.deepcopy(spec("v022_etcd_main_0"))
    br = _druid.container(v22, "backup-restore")
    br["args"] = [a for a in br["args"] if not a.startswith(("--cacert", "--cert", "--key"))]
    tls = _druid.client_tls(v22)  # v0.22: the wrapper's CA is the etcd client CA volume
    assert tls["cacert"] == "/var/etcd/ssl/client/ca/ca.crt" and tls["source"].startswith("args of container 'etcd'")


def test_self_hosted_events_port_and_plain_etcd():
    pod = copy.deepcopy(spec("v023_ha_prefixed_etcd_events_0"))
    etcd = _druid.container(pod, "etcd")
    etcd["args"] = [a if not a.startswith("--etcd-client-port") else "--etcd-client-port=2382" for a in etcd["args"]]
    br = _druid.container(pod, "backup-restore")
    br["args"] = [a for a in br["args"] if not a.startswith("--endpoints")]
    assert _druid.client_port(pod) == (2382, "args --etcd-client-port")
    assert _druid.endpoint(pod, "https")[0] == "https://etcd-events-local:2382"
    plain = {"containers": [{"name": "etcd", "command": ["etcd", "--config-file=/etc/etcd/e.yaml",
                                                         "--listen-client-urls=https://0.0.0.0:4001"]}]}
    assert _druid.client_port(plain) == (4001, "args --listen-client-urls")
    assert _druid.config_candidates(plain) == (["/etc/etcd/e.yaml"], "args --config-file")
    assert _druid.client_tls(plain) is None and _druid.quota_from_args(plain) is None
    assert _druid.backup_restore(plain, "https://x:4001", None) is None
    assert _druid.endpoint(plain, "http") == ("http://127.0.0.1:4001", "127.0.0.1, port from args --listen-client-urls")


@pytest.mark.parametrize("member, pods, pod", [
    # recorded `member list -w json` entries: prefixed names (memberNamePrefix), URLs name the pod
    ({"name": "testbed-1-etcd-main-2", "peerURLs": ["https://etcd-main-2.etcd-main-peer.ns.svc:2380"],
      "clientURLs": ["https://etcd-main-2.etcd-main-peer.ns.svc:2379"]}, ["etcd-main-0", "etcd-main-2"], "etcd-main-2"),
    ({"name": "etcd-main-1", "peerURLs": [], "clientURLs": []}, ["etcd-main-1"], "etcd-main-1"),
    # a member that has not started yet has no name and no client URLs
    ({"name": "", "peerURLs": ["https://etcd-main-2.etcd-main-peer.ns.svc:2380"]}, ["etcd-main-2"], "etcd-main-2"),
    ({"name": "seed-etcd-main-0", "peerURLs": ["https://10.0.0.1:2380"]}, ["etcd-main-0"], "etcd-main-0"),
    ({"name": "other", "peerURLs": ["https://10.0.0.1:2380"]}, ["etcd-main-0"], None),
])
def test_member_pod_by_url_then_name(member, pods, pod):
    assert _druid.member_pod(member, pods) == pod


def test_mounted():
    cont = {"volumeMounts": [{"mountPath": "/var/etcd/ssl/ca"}, {"mountPath": "/var/etcd/ssl/client/"}]}
    assert _druid.mounted(cont, "/var/etcd/ssl/ca/bundle.crt") and _druid.mounted(cont, "/var/etcd/ssl/client/tls.key")
    assert not _druid.mounted(cont, "/var/etcd/ssl/cab/x") and not _druid.mounted(None, "/x")
