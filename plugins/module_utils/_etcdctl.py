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

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _exec
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
    ("snapshot", "save"), ("snapshot", "status"),  # save reads etcd, writes a file in the container
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
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"}
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


def classify_argv(argv: list[str]) -> tuple[str, str]:
    """Any command: etcdctl is classified by its arguments, shells can do anything (write),
    curl writes when it sends data or a non-GET method; other programs only read."""
    program = os.path.basename(argv[0]) if argv else ""
    if program == "etcdctl":
        return classify_etcdctl(argv[1:])
    if program in SHELLS or program == "etcdutl":
        return "write", program
    if program == "curl":
        for i, arg in enumerate(argv[1:], start=1):
            if arg.startswith(("-d", "--data", "-F", "--form", "-T", "--upload-file", "--json")):
                return "write", "curl (sends data)"
            if arg in ("-X", "--request") and i + 1 < len(argv) and argv[i + 1].upper() not in ("GET", "HEAD"):
                return "write", f"curl -X {argv[i + 1]}"
            if arg.startswith(("-X", "--request=")) and arg not in ("-X", "--request"):
                method = arg[2:] if arg.startswith("-X") else arg.split("=", 1)[1]
                if method.upper() not in ("GET", "HEAD"):
                    return "write", f"curl -X {method}"
        return "read", "curl"
    return "read", program


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


def discover_tls(pod_spec: dict, target: str = "etcd", prefix: str = "") -> dict | None:
    """Client cert, key and CA of an etcd-druid pod from the etcd container's volumeMounts:
    >= v0.23 (/var/etcd/ssl/{ca,client}/, CA bundle.crt or ca.crt, client tls.crt/tls.key) or the
    older /var/etcd/ssl/client/{ca,client}/ layout. prefix is prepended to every path (e.g.
    /proc/1/root when the debug container does not mount them). None if no layout matches."""
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
        "cacert": f"{prefix}{ca_dir}/{ca_name}",
        "cert": f"{prefix}{client_dir}/tls.crt",
        "key": f"{prefix}{client_dir}/tls.key",
        "source": f"auto: {layout} layout from container '{target}' (CA file from {how})"
                  + (f", read through {prefix}" if prefix else ""),
    }


def mounts_target_tls(debug_container: dict, tls: dict) -> bool:
    """Does the debug container mount the directories holding these files?"""
    paths = set(_mounts(debug_container))
    return all(os.path.dirname(tls[k]) in paths for k in ("cacert", "cert", "key"))


def default_endpoint(pod_spec: dict, scheme: str) -> str:
    """https://<the pod's '<etcd>-local' hostAlias for 127.0.0.1>:2379, else 127.0.0.1."""
    for alias in pod_spec.get("hostAliases") or []:
        if alias.get("ip") == "127.0.0.1":
            for name in alias.get("hostnames") or []:
                if name.endswith("-local"):
                    return f"{scheme}://{name}:2379"
    return f"{scheme}://127.0.0.1:2379"


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


def resolve_tls(params: dict, pod_spec: dict, debug_container: dict) -> dict | None:
    tls = params.get("tls")
    if tls in (None, "auto"):
        found = discover_tls(pod_spec)
        if found and not mounts_target_tls(debug_container, found):
            # not mounted in the debug container: read them through the target's root
            found = discover_tls(pod_spec, prefix="/proc/1/root")
        return found
    if tls == "none":
        return None
    if isinstance(tls, dict) and all(tls.get(k) for k in ("cacert", "cert", "key")):
        return {"cacert": tls["cacert"], "cert": tls["cert"], "key": tls["key"], "source": "given"}
    raise ValueError("tls must be 'auto', 'none' or a dict with cacert, cert and key")


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
        argv = build_argv(params["etcdctl"], endpoints, tls, params["timeout"], params["output"])
        result["tls_source"] = tls["source"] if tls else "none"
        if tls is None and params.get("tls") in (None, "auto"):
            result["tls_source"] = "none (no etcd-druid TLS layout found on container 'etcd')"
    else:
        argv = list(params["argv"])
    result["cmd"] = redact(argv)
    if check_mode and kind == "write":
        result.update(skipped=True, msg=f"check mode: '{what}' would write, not run")
        return result
    # the exec gets a little longer than etcdctl's own --command-timeout, so etcdctl reports first
    out = _exec.run(api, namespace, pod_name, container, argv, params["timeout"] + 5)
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
