# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: running etcdctl (or any argv) in a debug container,
what etcd_wrapper.ops.etcdctl_exec does. First the pure part (which commands write, the argv to
run, how to read its output), then the API flow (find the running debug container, one exec).
Client TLS and the endpoint come from _druid, pods from _pod, the exec from _exec."""

from __future__ import annotations

import json
import os

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _druid, _exec, _pod
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError

# etcdctl global flags that take a value (when not written as --flag=value)
VALUE_FLAGS = {
    "--endpoints", "--cacert", "--cert", "--key", "--user", "--password", "--command-timeout",
    "--dial-timeout", "--keepalive-time", "--keepalive-timeout", "-w", "--write-out", "--discovery-srv",
    "--discovery-srv-name",
}

# (command, subcommand) pairs that only read etcd; anything else is a write or unknown.
READ_ONLY = {
    ("get",), ("watch",), ("version",),
    ("endpoint", "status"), ("endpoint", "health"), ("endpoint", "hashkv"),
    ("member", "list"), ("alarm", "list"),
    ("lease", "list"), ("lease", "timetolive"),
    ("user", "list"), ("user", "get"), ("role", "list"), ("role", "get"), ("auth", "status"),
    ("snapshot", "status"),  # (snapshot save writes a file: a write, skipped in check mode)
}
# commands whose output etcdctl can print as JSON (-w json)
JSON_CAPABLE = {
    ("get",), ("put",), ("del",), ("txn",), ("compaction",),
    ("endpoint", "status"), ("endpoint", "health"), ("endpoint", "hashkv"),
    ("member", "list"), ("member", "add"), ("member", "remove"), ("member", "update"), ("member", "promote"),
    ("alarm", "list"), ("alarm", "disarm"),
    ("lease", "list"), ("lease", "timetolive"), ("lease", "grant"), ("lease", "revoke"),
    ("user", "list"), ("user", "get"), ("role", "list"), ("role", "get"), ("auth", "status"),
    ("snapshot", "status"),
}
WITH_SUBCOMMAND = {"endpoint", "member", "alarm", "lease", "user", "role", "auth", "snapshot", "check", "defrag"}
SECRET_FLAGS = {"--password", "--user"}
REDACTED = "********"


def command_words(args: list[str]) -> tuple[str, ...]:
    """The command (and subcommand) of etcdctl arguments, skipping global flags."""
    words = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            if "=" not in arg and arg in VALUE_FLAGS:
                skip = True
            continue
        words.append(arg)
        if len(words) == 2 or (len(words) == 1 and words[0] not in WITH_SUBCOMMAND):
            break
    return tuple(words)


def classify_etcdctl(args: list[str]) -> tuple[str, str]:
    """('read', cmd) or ('write', cmd); unknown commands count as writes."""
    words = command_words(args)
    name = " ".join(words) or "(no command)"
    if words in READ_ONLY:
        return "read", name
    return "write", name


# Programs that only read (deny by default: anything else needs allow_write). The debug container
# reaches the etcd's files and process, so "only read" is about the pod, not etcd alone.
READ_PROGRAMS = {"cat", "ls", "ps", "pgrep", "jq", "print-etcd-cheatsheet", "sleep", "test", "[", "stat", "du", "df",
                 "head", "tail", "grep", "sha256sum", "seq", "true", "id", "uname", "getent", "wc", "echo"}
# openssl subcommands that only read, as long as no output file is named
OPENSSL_READ = {"x509", "verify", "s_client", "crl", "asn1parse", "version", "ciphers"}
OPENSSL_WRITE_FLAGS = ("-out", "-keyout", "-sess_out", "-msgfile", "-keylogfile")
CURL_WRITE_FLAGS = ("-d", "--data", "-F", "--form", "-T", "--upload-file", "--json")


def classify_argv(argv: list[str]) -> tuple[str, str]:
    """Any command: etcdctl is classified by its arguments; curl reads only as GET/HEAD without
    data; openssl only in reading subcommands without output files; READ_PROGRAMS read; every
    other program (shells, etcdutl, touch, kill, rm, cp, date, env, find, ...) counts as a write."""
    program = os.path.basename(argv[0]) if argv else ""
    if program == "etcdctl":
        return classify_etcdctl(argv[1:])
    if program == "curl":
        return _classify_curl(argv)
    if program == "openssl":
        sub = argv[1] if len(argv) > 1 else ""
        if sub in OPENSSL_READ and not any(a.split("=", 1)[0] in OPENSSL_WRITE_FLAGS for a in argv[2:]):
            return "read", f"openssl {sub}"
        return "write", f"openssl {sub or '(no subcommand)'}"
    if program in READ_PROGRAMS:
        return "read", program
    return "write", program or "(no program)"


def _classify_curl(argv: list[str]) -> tuple[str, str]:
    for i, arg in enumerate(argv[1:], start=1):
        if arg.startswith(CURL_WRITE_FLAGS):
            return "write", "curl (sends data)"
        if arg in ("-X", "--request") and i + 1 < len(argv) and argv[i + 1].upper() not in ("GET", "HEAD"):
            return "write", f"curl -X {argv[i + 1]}"
        if arg.startswith(("-X", "--request=")) and arg not in ("-X", "--request"):
            method = arg[2:] if arg.startswith("-X") else arg.split("=", 1)[1]
            if method.upper() not in ("GET", "HEAD"):
                return "write", f"curl -X {method}"
    return "read", "curl"


def has_flag(args: list[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


def default_endpoint(pod_spec: dict, scheme: str) -> str:
    """This member's own client URL (see _druid.endpoint): https://<etcd>-local:<client port>."""
    return _druid.endpoint(pod_spec, scheme)[0]


def build_argv(args: list[str], endpoints: list[str] | None, tls: dict | None, timeout: int, output: str) -> list[str]:
    """etcdctl argv: our connection flags first (unless the user gave them), then the user's."""
    argv = ["etcdctl"]
    if endpoints and not has_flag(args, "--endpoints"):
        argv.append("--endpoints=" + ",".join(endpoints))
    if tls:
        for flag in ("cacert", "cert", "key"):
            if not has_flag(args, f"--{flag}"):
                argv.append(f"--{flag}={tls[flag]}")
    if not has_flag(args, "--command-timeout"):
        argv.append(f"--command-timeout={timeout}s")
    argv.extend(args)
    if output == "json" and command_words(args) in JSON_CAPABLE and not has_flag(args, "-w", "--write-out"):
        argv.extend(["-w", "json"])
    return argv


def redact(argv: list[str]) -> list[str]:
    """argv for the result: values of --password/--user (user:password) never shown."""
    out = []
    hide = False
    for arg in argv:
        if hide:
            out.append(REDACTED)
            hide = False
            continue
        name = arg.split("=", 1)[0]
        if name in SECRET_FLAGS:
            if "=" in arg:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide = True
            continue
        out.append(arg)
    return out


def parse_json(stdout: str):
    """etcdctl -w json output (uint64 member IDs stay exact: Python ints are unbounded)."""
    text = (stdout or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        # some commands print one JSON document per line
        docs = []
        for line in text.splitlines():
            line = line.strip()
            if line:
                docs.append(json.loads(line))
        return docs


# ---------------------------------------------------------------- the API flow

def execute(api, params: dict, check_mode: bool, where: str) -> dict:
    """Everything etcd_wrapper.ops.etcdctl_exec does; returns the result."""
    namespace, pod_name, container = params["namespace"], params["pod"], params["container"]
    if params.get("argv") is not None and not params["argv"]:
        raise UsageError("argv must not be empty")
    if params.get("etcdctl") is not None:
        kind, what = classify_etcdctl(params["etcdctl"])
        what = f"etcdctl {what}"
    else:
        kind, what = classify_argv(params["argv"])
    if kind == "write" and not params["allow_write"]:
        raise UsageError(f"refusing to run '{what}': it writes to etcd or is not known to be read-only; "
                         "set allow_write: true to run it")
    pod = _pod.read_pod(api, namespace, pod_name, where)
    spec = pod.get("spec") or {}
    debug, status = _pod.find_any(pod, container)
    if debug is None:
        names = _pod.names(pod, "ephemeral")
        raise K8sError(f"pod {namespace}/{pod_name} has no container '{container}' (ephemeral containers: "
                       f"{', '.join(names) or 'none'}); attach one with etcd_wrapper.ops.etcd_ephemeral_container")
    if not _pod.running(status):
        raise K8sError(f"container '{container}' in {namespace}/{pod_name} is not running: {_pod.describe(status)}")
    result = {"changed": kind == "write", "tls_source": None, "kind": kind}
    if params.get("etcdctl") is not None:
        try:
            tls = _druid.resolve_tls(params, spec, debug)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        scheme = "https" if tls else "http"
        endpoints = params.get("endpoints") or [default_endpoint(spec, scheme)]
        run_tls = dict(tls, **{k: _druid.ETCD_ROOT_TOKEN + tls[k] for k in _druid.TLS_KEYS}) if tls and tls["via"] == "proc" else tls
        shown_tls = dict(tls, **tls["display"]) if tls else None
        argv = build_argv(params["etcdctl"], endpoints, run_tls, params["timeout"], params["output"])
        shown = build_argv(params["etcdctl"], endpoints, shown_tls, params["timeout"], params["output"])
        result["tls_source"] = tls["source"] if tls else "none"
        if tls is None and params.get("tls") in (None, "auto"):
            result["tls_source"] = "none (no etcd-druid TLS layout found on container 'etcd')"
    else:
        tls = None
        argv = shown = list(params["argv"])
    result["cmd"] = redact(shown)
    if check_mode and kind == "write":
        result.update(skipped=True, msg=f"check mode: '{what}' would write, not run")
        return result
    # the exec gets a little longer than etcdctl's own --command-timeout, so etcdctl reports first
    out = _exec.run(api, namespace, pod_name, container, _druid.runnable(argv, tls), params["timeout"] + 5)
    result.update(rc=out["rc"], stdout=out["stdout"], stderr=out["stderr"])
    wants_json = params.get("etcdctl") is not None and params["output"] == "json" and "-w" in argv[-2:]
    if wants_json and out["stdout"].strip():
        try:
            result["json"] = parse_json(out["stdout"])
        except ValueError:
            result["json"] = None
            result["warnings"] = ["etcdctl output was not JSON; see stdout"]
    if out["rc"] != 0:
        first = (out["stderr"].strip() or out["stdout"].strip() or "no output").splitlines()
        raise OpsError(f"{what} exited with rc {out['rc']} in {namespace}/{pod_name}: {first[-1] if first else ''}",
                       **{k: v for k, v in result.items() if k not in ("changed",)})
    return result
