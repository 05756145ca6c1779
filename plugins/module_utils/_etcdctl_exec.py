# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: running etcdctl (or any argv) in a debug container,
what etcd_wrapper.ops.etcdctl_exec does. First the pure part (which commands write, the argv to
run, how to read its output), then the call: the member, its debug container, TLS, endpoint and exec come from _member."""

from __future__ import annotations

import os

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _member
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._member import command_words
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError

# (command, subcommand) pairs that only read etcd; anything else is a write or unknown.
READ_ONLY = {
    ("get",), ("watch",), ("version",),
    ("endpoint", "status"), ("endpoint", "health"), ("endpoint", "hashkv"),
    ("member", "list"), ("alarm", "list"),
    ("lease", "list"), ("lease", "timetolive"),
    ("user", "list"), ("user", "get"), ("role", "list"), ("role", "get"), ("auth", "status"),
    ("snapshot", "status"),  # (snapshot save writes a file: a write, skipped in check mode)
}


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


# ---------------------------------------------------------------- the API flow

def execute(api, params: dict, check_mode: bool, where: str) -> dict:
    """Everything etcd_wrapper.ops.etcdctl_exec does; returns the result."""
    namespace, pod_name = params["namespace"], params["pod"]
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
    tls = params.get("tls")
    member = _member.Member(api, namespace, pod_name, params["container"], where,
                            "auto" if tls is None else tls)
    result = {"changed": kind == "write", "tls_source": None, "kind": kind}
    if params.get("etcdctl") is not None:
        argv, shown = member.argv(params["etcdctl"], params["timeout"], params["output"], params.get("endpoints"))
        result["tls_source"] = member.tls_source
        if member.tls is None and tls in (None, "auto"):
            result["tls_source"] = "none (no etcd-druid TLS layout found on container 'etcd')"
    else:
        argv = shown = list(params["argv"])
    result["cmd"] = _member.redact(shown)
    if check_mode and kind == "write":
        result.update(skipped=True, msg=f"check mode: '{what}' would write, not run")
        return result
    # the exec gets a little longer than etcdctl's own --command-timeout, so etcdctl reports first
    out = member.run(argv, params["timeout"] + 5, etcd_files=params.get("etcdctl") is not None)
    result.update(rc=out["rc"], stdout=out["stdout"], stderr=out["stderr"])
    wants_json = params.get("etcdctl") is not None and params["output"] == "json" and "-w" in argv[-2:]
    if wants_json and out["stdout"].strip():
        try:
            result["json"] = _member.parse_json(out["stdout"])
        except ValueError:
            result["json"] = None
            result["warnings"] = ["etcdctl output was not JSON; see stdout"]
    if out["rc"] != 0:
        first = (out["stderr"].strip() or out["stdout"].strip() or "no output").splitlines()
        raise OpsError(f"{what} exited with rc {out['rc']} in {namespace}/{pod_name}: {first[-1] if first else ''}",
                       **{k: v for k, v in result.items() if k not in ("changed",)})
    return result
