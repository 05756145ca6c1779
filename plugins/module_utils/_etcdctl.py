# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: the pure logic of running etcdctl in a debug
container -- which commands write, where the client TLS material is, which endpoint to use,
the argv to run and how to read its output. No API calls here."""

from __future__ import annotations

import json
import os

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _druid, _exec
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._ephemeral import describe, read_pod, state_of
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError

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


# ---------------------------------------------------------------- TLS discovery


def _mounts(container: dict) -> dict[str, dict]:
    return {m["mountPath"].rstrip("/"): m for m in container.get("volumeMounts") or []}


def _ca_file(volume: dict | None) -> tuple[str, str]:
    """(file name, how we know) of the CA in a secret/configMap volume."""
    source = (volume or {}).get("secret") or (volume or {}).get("configMap") or {}
    for item in source.get("items") or []:
        if item.get("path", "").endswith(".crt"):
            return item["path"], f"item {item['path']}"
    name = source.get("secretName") or source.get("name") or ""
    if "bundle" in name:
        return "bundle.crt", f"secret {name} (bundle)"
    return "ca.crt", f"secret {name or '?'}"


def discover_tls(pod_spec: dict, target: str = "etcd") -> dict | None:
    """Client cert, key and CA of an etcd-druid pod from the etcd container's volumeMounts:
    >= v0.23 (/var/etcd/ssl/{ca,client}/, CA bundle.crt or ca.crt, client tls.crt/tls.key) or the
    older /var/etcd/ssl/client/{ca,client}/ layout: the fallback when the containers' args say
    nothing (see _druid.client_tls). None if no layout matches."""
    container = next((c for c in pod_spec.get("containers") or [] if c.get("name") == target), None)
    if container is None:
        return None
    mounts = _mounts(container)
    volumes = {v.get("name"): v for v in pod_spec.get("volumes") or []}
    if "/var/etcd/ssl/ca" in mounts and "/var/etcd/ssl/client" in mounts:
        layout, ca_dir, client_dir = "etcd-druid>=v0.23", "/var/etcd/ssl/ca", "/var/etcd/ssl/client"
    elif "/var/etcd/ssl/client/ca" in mounts and "/var/etcd/ssl/client/client" in mounts:
        layout, ca_dir, client_dir = "etcd-druid<v0.23", "/var/etcd/ssl/client/ca", "/var/etcd/ssl/client/client"
    else:
        return None
    ca_name, how = _ca_file(volumes.get(mounts[ca_dir]["name"]))
    return {
        "cacert": f"{ca_dir}/{ca_name}",
        "cert": f"{client_dir}/tls.crt",
        "key": f"{client_dir}/tls.key",
        "source": f"auto: {layout} layout from container '{target}' (CA file from {how}, a guess: no args name it)",
    }


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

def _find_container(pod: dict, name: str) -> tuple[dict | None, dict | None]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    for kind_spec, kind_status in (("ephemeralContainers", "ephemeralContainerStatuses"), ("containers", "containerStatuses")):
        for c in spec.get(kind_spec) or []:
            if c.get("name") == name:
                st = next((s for s in status.get(kind_status) or [] if s.get("name") == name), None)
                return c, st
    return None, None


# Where a TLS file is not mounted in the debug container it is read through the etcd process's
# root: the PID is found at run time by name (etcd-druid pods share one PID namespace whose
# PID 1 is the pause process), so argv carries a token that PROC_EXEC replaces before exec.
ETCD_ROOT_TOKEN = "@ETCD_ROOT@"
ETCD_ROOT_SHOWN = "/proc/<etcd-pid>/root"
PROC_EXEC = _druid.FIND_ETCD_PID + r"""[ -n "$pid" ] || {
  echo "no etcd-wrapper or etcd process in this PID namespace (is the debug container targeting 'etcd'?)" >&2; exit 127; }
a=()
for x in "$@"; do a+=("${x//@ETCD_ROOT@//proc/$pid/root}"); done
exec "${a[@]}"
"""
TLS_KEYS = ("cacert", "cert", "key")


def resolve_tls(params: dict, pod_spec: dict, debug_container: dict) -> dict | None:
    """Client TLS for etcdctl: {'cacert','cert','key','source','via','display'}. auto: the
    containers' args (_druid.client_tls), else the etcd-druid mount layout; 'via' is 'mount' when
    the debug container mounts the files, else 'proc' (read through the etcd process's root)."""
    tls = params.get("tls")
    if tls in (None, "auto"):
        found = _druid.client_tls(pod_spec) or discover_tls(pod_spec)
        if found is None:
            return None
        via = "mount" if all(_druid.mounted(debug_container, found[k]) for k in TLS_KEYS) else "proc"
        found = dict(found, via=via)
        if via == "proc":
            found["source"] += f", read through {ETCD_ROOT_SHOWN} (not mounted in the debug container)"
        found["display"] = {k: (ETCD_ROOT_SHOWN if via == "proc" else "") + found[k] for k in TLS_KEYS}
        return found
    if tls == "none":
        return None
    if isinstance(tls, dict) and all(tls.get(k) for k in TLS_KEYS):
        return {"cacert": tls["cacert"], "cert": tls["cert"], "key": tls["key"], "source": "given", "via": "given",
                "display": {k: tls[k] for k in TLS_KEYS}}
    raise ValueError("tls must be 'auto', 'none' or a dict with cacert, cert and key")


def runnable(argv: list[str], tls: dict | None) -> list[str]:
    """argv as run: through PROC_EXEC when TLS files are read through the etcd process's root."""
    if not tls or tls.get("via") != "proc":
        return argv
    return ["bash", "-c", PROC_EXEC, "etcd-ops"] + argv


def execute(api, params: dict, check_mode: bool, where: str) -> dict:
    """Everything etcd_wrapper.ops.etcdctl_exec does; returns the result."""
    namespace, pod_name, container = params["namespace"], params["pod"], params["container"]
    if params.get("argv") is not None and not params["argv"]:
        raise K8sError("argv must not be empty")
    if params.get("etcdctl") is not None:
        kind, what = classify_etcdctl(params["etcdctl"])
        what = f"etcdctl {what}"
    else:
        kind, what = classify_argv(params["argv"])
    if kind == "write" and not params["allow_write"]:
        raise K8sError(f"refusing to run '{what}': it writes to etcd or is not known to be read-only; "
                       "set allow_write: true to run it")
    pod = read_pod(api, namespace, pod_name, where)
    spec = pod.get("spec") or {}
    debug, status = _find_container(pod, container)
    if debug is None:
        names = [c.get("name") for c in spec.get("ephemeralContainers") or []]
        raise K8sError(f"pod {namespace}/{pod_name} has no container '{container}' (ephemeral containers: "
                       f"{', '.join(names) or 'none'}); attach one with etcd_wrapper.ops.etcd_ephemeral_container")
    if state_of(status)[0] != "running":
        raise K8sError(f"container '{container}' in {namespace}/{pod_name} is not running: {describe(status)}")
    result = {"changed": kind == "write", "tls_source": None, "kind": kind}
    if params.get("etcdctl") is not None:
        try:
            tls = resolve_tls(params, spec, debug)
        except ValueError as exc:
            raise K8sError(str(exc)) from None
        scheme = "https" if tls else "http"
        endpoints = params.get("endpoints") or [default_endpoint(spec, scheme)]
        run_tls = dict(tls, **{k: ETCD_ROOT_TOKEN + tls[k] for k in TLS_KEYS}) if tls and tls["via"] == "proc" else tls
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
    out = _exec.run(api, namespace, pod_name, container, runnable(argv, tls), params["timeout"] + 5)
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
        raise K8sError(f"{what} exited with rc {out['rc']} in {namespace}/{pod_name}: {first[-1] if first else ''}",
                       **{k: v for k, v in result.items() if k not in ("changed",)})
    return result
