# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""etcdctl command classification, TLS discovery, argv building and output parsing."""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._etcdctl_exec import classify_argv, classify_etcdctl
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._member import build_argv, command_words, parse_json, redact
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._druid import discover_tls, endpoint, resolve_tls, runnable
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._exec import exit_code

# etcd-druid >= v0.23 pod spec (as the fleet serves it, trimmed to what matters)
DRUID_NEW = {
    "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["etcd-main-local"]}],
    "containers": [{"name": "etcd", "volumeMounts": [
        {"name": "etcd-config-file", "mountPath": "/var/etcd/config/"},
        {"name": "etcd-ca", "mountPath": "/var/etcd/ssl/ca", "readOnly": True},
        {"name": "etcd-server-tls", "mountPath": "/var/etcd/ssl/server", "readOnly": True},
        {"name": "etcd-client-tls", "mountPath": "/var/etcd/ssl/client", "readOnly": True}]}],
    "volumes": [{"name": "etcd-ca", "secret": {"secretName": "ca-etcd-bundle", "defaultMode": 416}},
                {"name": "etcd-client-tls", "secret": {"secretName": "etcd-main-client-tls"}}],
}
# older etcd-druid layout: everything below /var/etcd/ssl/client/
DRUID_OLD = {
    "containers": [{"name": "etcd", "volumeMounts": [
        {"name": "client-url-ca-etcd", "mountPath": "/var/etcd/ssl/client/ca"},
        {"name": "client-url-etcd-server-tls", "mountPath": "/var/etcd/ssl/client/server"},
        {"name": "client-url-etcd-client-tls", "mountPath": "/var/etcd/ssl/client/client"}]}],
    "volumes": [{"name": "client-url-ca-etcd", "secret": {"secretName": "ca-etcd"}}],
}


@pytest.mark.parametrize("args, kind, name", [
    (["endpoint", "status", "--cluster"], "read", "endpoint status"),
    (["--endpoints", "https://x:2379", "endpoint", "health"], "read", "endpoint health"),
    (["-w", "table", "member", "list"], "read", "member list"),
    (["alarm", "list"], "read", "alarm list"),
    (["get", "", "--prefix", "--keys-only"], "read", "get"),
    (["snapshot", "save", "/work/snap.db"], "write", "snapshot save"),  # a file in the container
    (["put", "k", "v"], "write", "put"),
    (["del", "k"], "write", "del"),
    (["txn"], "write", "txn"),
    (["compaction", "100"], "write", "compaction"),
    (["defrag", "--cluster"], "write", "defrag"),
    (["member", "remove", "8e9e05c52164694d"], "write", "member remove"),
    (["member", "add", "m4", "--peer-urls=https://m4:2380"], "write", "member add"),
    (["member", "promote", "1"], "write", "member promote"),
    (["alarm", "disarm"], "write", "alarm disarm"),
    (["snapshot", "restore", "s.db"], "write", "snapshot restore"),
    (["move-leader", "1"], "write", "move-leader"),
    (["lease", "grant", "10"], "write", "lease grant"),
    (["lease", "revoke", "1"], "write", "lease revoke"),
    (["lock", "l"], "write", "lock"),
    (["elect", "e"], "write", "elect"),
    (["auth", "enable"], "write", "auth enable"),
    (["user", "add", "root"], "write", "user add"),
    (["role", "grant-permission", "r", "read", "k"], "write", "role grant-permission"),
    (["make-mirror", "x"], "write", "make-mirror"),
    (["check", "perf"], "write", "check perf"),
    (["frobnicate"], "write", "frobnicate"),
    ([], "write", "(no command)"),
])
def test_classify_etcdctl(args, kind, name):
    assert classify_etcdctl(args) == (kind, name)


@pytest.mark.parametrize("argv, kind", [
    (["etcdctl", "get", "k"], "read"),
    (["etcdctl", "put", "k", "v"], "write"),
    (["/usr/local/bin/etcdctl", "del", "k"], "write"),
    (["sh", "-c", "etcdctl put k v"], "write"),
    (["bash", "-c", "true"], "write"),
    (["etcdutl", "defrag"], "write"),
    (["curl", "-s", "http://127.0.0.1:8080/healthz"], "read"),
    (["curl", "-X", "POST", "http://127.0.0.1:8080/snapshot/full"], "write"),
    (["curl", "-XDELETE", "http://x"], "write"),
    (["curl", "--request=GET", "http://x"], "read"),
    (["curl", "-d", "x", "http://x"], "write"),
    (["ps", "-ef"], "read"),
    # deny by default: only known readers run without allow_write
    *[([prog, "x"], "read") for prog in ("cat", "ls", "ps", "pgrep", "jq", "print-etcd-cheatsheet", "sleep", "test",
                                         "stat", "du", "df", "head", "tail", "grep", "sha256sum", "seq", "true", "id",
                                         "uname", "getent", "wc", "echo")],
    (["touch", "/proc/17/root/var/etcd/data/x"], "write"),
    (["kill", "-9", "17"], "write"),
    (["rm", "-rf", "/work"], "write"),
    (["cp", "a", "b"], "write"),
    (["date", "-s", "2020-01-01"], "write"),
    (["env", "rm", "x"], "write"),
    (["find", "/", "-delete"], "write"),
    (["sort", "-o", "f", "f"], "write"),
    (["python3", "-c", "1"], "write"),
    ([""], "write"),
    (["openssl", "x509", "-in", "/var/etcd/ssl/client/tls.crt", "-noout", "-text"], "read"),
    (["openssl", "s_client", "-connect", "etcd-main-local:2379"], "read"),
    (["openssl", "x509", "-in", "a.crt", "-out", "b.crt"], "write"),
    (["openssl", "genrsa", "-out", "k.pem"], "write"),
    (["openssl"], "write"),
    (["etcdctl", "snapshot", "save", "/work/s.db"], "write"),  # writes a file: skipped in check mode
    (["etcdctl", "snapshot", "status", "/work/s.db"], "read"),
])
def test_classify_argv(argv, kind):
    assert classify_argv(argv)[0] == kind


def test_command_words_skip_flag_values():
    assert command_words(["--command-timeout", "5s", "--cacert=/a", "endpoint", "status"]) == ("endpoint", "status")
    assert command_words(["get", "endpoint", "status"]) == ("get",)


def test_discover_tls_druid_v023():
    tls = discover_tls(DRUID_NEW)
    assert tls["cacert"] == "/var/etcd/ssl/ca/bundle.crt"
    assert tls["cert"] == "/var/etcd/ssl/client/tls.crt" and tls["key"] == "/var/etcd/ssl/client/tls.key"
    assert tls["source"].startswith("auto: etcd-druid>=v0.23 layout")


def test_discover_tls_ca_crt_and_items():
    spec = copy.deepcopy(DRUID_NEW)
    spec["volumes"][0] = {"name": "etcd-ca", "secret": {"secretName": "ca-etcd"}}
    assert discover_tls(spec)["cacert"] == "/var/etcd/ssl/ca/ca.crt"
    spec["volumes"][0] = {"name": "etcd-ca", "secret": {"secretName": "x", "items": [{"key": "bundle.crt", "path": "bundle.crt"}]}}
    assert discover_tls(spec)["cacert"] == "/var/etcd/ssl/ca/bundle.crt"


def test_discover_tls_older_layout():
    tls = discover_tls(DRUID_OLD)
    assert tls["cacert"] == "/var/etcd/ssl/client/ca/ca.crt"
    assert tls["cert"] == "/var/etcd/ssl/client/client/tls.crt"
    assert "etcd-druid<v0.23" in tls["source"] and "a guess" in tls["source"]


def test_resolve_tls_reads_unmounted_files_through_the_etcd_process_root():
    tls = resolve_tls({"tls": "auto"}, DRUID_OLD, {"volumeMounts": []})
    assert tls["via"] == "proc" and tls["cacert"] == "/var/etcd/ssl/client/ca/ca.crt"
    assert tls["display"]["cacert"] == "/proc/<etcd-pid>/root/var/etcd/ssl/client/ca/ca.crt"
    assert "read through /proc/<etcd-pid>/root" in tls["source"]
    argv = runnable(["etcdctl", "--cacert=@ETCD_ROOT@/var/etcd/ssl/client/ca/ca.crt", "member", "list"], tls)
    assert argv[:2] == ["bash", "-c"] and "etcd-wrapper" in argv[2] and argv[4:] == \
        ["etcdctl", "--cacert=@ETCD_ROOT@/var/etcd/ssl/client/ca/ca.crt", "member", "list"]
    mounted = resolve_tls({"tls": "auto"}, DRUID_OLD, {"volumeMounts": [
        {"mountPath": "/var/etcd/ssl/client/ca"}, {"mountPath": "/var/etcd/ssl/client/client/"}]})
    assert mounted["via"] == "mount" and runnable(["etcdctl"], mounted) == ["etcdctl"]
    given = resolve_tls({"tls": {"cacert": "/a", "cert": "/b", "key": "/c"}}, DRUID_OLD, {})
    assert given["source"] == "given" and runnable(["etcdctl"], given) == ["etcdctl"]
    assert resolve_tls({"tls": "none"}, DRUID_OLD, {}) is None
    with pytest.raises(ValueError):
        resolve_tls({"tls": {"cacert": "/a"}}, DRUID_OLD, {})


def test_discover_tls_none():
    assert discover_tls({"containers": [{"name": "etcd"}]}) is None
    assert discover_tls(DRUID_NEW, target="backup-restore") is None


def test_default_endpoint():
    assert endpoint(DRUID_NEW, "https")[0] == "https://etcd-main-local:2379"
    assert endpoint(DRUID_OLD, "http")[0] == "http://127.0.0.1:2379"


def test_build_argv_adds_connection_flags_and_json():
    tls = discover_tls(DRUID_NEW)
    argv = build_argv(["endpoint", "status", "--cluster"], ["https://etcd-main-local:2379"], tls, 30, "json")
    assert argv == ["etcdctl", "--endpoints=https://etcd-main-local:2379", "--cacert=/var/etcd/ssl/ca/bundle.crt",
                    "--cert=/var/etcd/ssl/client/tls.crt", "--key=/var/etcd/ssl/client/tls.key",
                    "--command-timeout=30s", "endpoint", "status", "--cluster", "-w", "json"]


def test_build_argv_respects_user_flags():
    argv = build_argv(["--endpoints=https://other:2379", "-w", "table", "member", "list"], ["https://x:2379"], None, 5, "json")
    assert argv == ["etcdctl", "--command-timeout=5s", "--endpoints=https://other:2379", "-w", "table", "member", "list"]
    assert build_argv(["version"], ["http://x:2379"], None, 5, "json")[-1] == "version"  # no -w for version
    assert build_argv(["get", "k"], None, None, 5, "raw")[-1] == "k"


def test_redact():
    assert redact(["etcdctl", "--user=root:pw", "--password", "s3cret", "get", "k"]) == \
        ["etcdctl", "--user=********", "--password", "********", "get", "k"]


def test_parse_json_keeps_uint64_exact():
    # recorded: `etcdctl member list -w json` in the fleet (etcd 3.4.23); IDs above 2**53
    with open(os.path.join(os.path.dirname(__file__), "fixtures", "etcd_member_list.json"), encoding="utf-8") as fh:
        data = parse_json(fh.read())
    assert [m["ID"] for m in data["members"]] == [4690677177514411075, 8128434939927475337, 11682519687655113143]
    assert data["header"]["cluster_id"] == 14012006698419125698
    # a float (JavaScript, jq 1.6) would round it: int(float(x)) != x above 2**53
    assert int(float(data["members"][2]["ID"])) != 11682519687655113143
    assert f"{data['members'][2]['ID']:x}" == "a220a5c26030c1b7"
    assert parse_json("") is None
    assert parse_json('{"a":1}\n{"b":2}\n') == [{"a": 1}, {"b": 2}]
    with pytest.raises(ValueError):
        parse_json("Error: context deadline exceeded")


@pytest.mark.parametrize("status, rc", [
    ('{"metadata":{},"status":"Success"}', 0),
    # recorded from the fleet's kube-apiserver v1.36.5: `ls /no/such/dir` in the debug container
    ('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated '
     'with exit code 2","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"2"}]}}', 2),
    ('{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[]}}', None),
    ('{"status":"Failure","reason":"InternalError","message":"boom"}', None),
    ("", None),
    (None, None),
    ("not json", None),
    ("[]", None),
])
def test_exit_code(status, rc):
    assert exit_code(status) == rc
