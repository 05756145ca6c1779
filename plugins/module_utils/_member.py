# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: one etcd member as seen from a running debug
container in its pod. The etcdctl argv (our connection flags first: the member's own endpoint,
the client TLS _druid finds, a command timeout), its JSON read back, secrets redacted, and one
exec through _exec. Every feature that runs etcdctl against a member (etcdctl_exec, snapshot,
defragmentation) goes through here."""

from __future__ import annotations

import json

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _druid, _exec, _pod
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import UsageError

# etcdctl global flags that take a value (when not written as --flag=value)
VALUE_FLAGS = {
    "--endpoints", "--cacert", "--cert", "--key", "--user", "--password", "--command-timeout",
    "--dial-timeout", "--keepalive-time", "--keepalive-timeout", "-w", "--write-out", "--discovery-srv",
    "--discovery-srv-name",
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

# The options of a module working on one etcd's members through their debug containers (etcd_snapshot,
# etcd_defrag): which etcd, its member pods (names or etcd_cluster_info pod dicts), the container, TLS
ETCD_MEMBERS_ARG_SPEC = dict(
    namespace=dict(type="str", required=True),
    etcd=dict(type="str", required=True),
    pods=dict(type="list", elements="raw", required=True),
    container=dict(type="str", default="etcd-debug"),
    tls=dict(type="raw", default="auto"),
)
REDACTED = "********"


def pod_names(pods: list | None) -> list[str]:
    """The names in ETCD_MEMBERS_ARG_SPEC's pods: pod names or etcd_cluster_info's pod dicts
    ({'name': ...}), in order, duplicates kept (the caller decides what a duplicate means)."""
    names = []
    for pod in pods or []:
        name = pod.get("name") if isinstance(pod, dict) else pod
        if not isinstance(name, str) or not name:
            raise UsageError("every entry of pods must be a pod name or a pod dict with a name "
                             f"(as etcd_cluster_info returns), got {str(pod)[:100]}")
        names.append(name)
    return names


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


def has_flag(args: list[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


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


def health_ok(entry: dict | None) -> tuple[bool, str]:
    """(serves, why not) for one `endpoint health -w json` entry: health true, or false only because
    of a NOSPACE alarm (etcdctl v3.5 ep_command.go sets health false with "Active Alarm(s): NOSPACE"):
    such a member still serves reads, snapshots and the defragmentation that cures it; any other
    error (CORRUPT, no answer) counts."""
    if not entry:
        return False, "no endpoint health answer"
    if entry.get("health") is True:
        return True, ""
    error = (entry.get("error") or "health false").strip()
    if error.startswith("Active Alarm(s):"):
        kinds = error.split(":", 1)[1].split()
        if kinds and all(k == "NOSPACE" for k in kinds):
            return True, ""
    return False, error


class Member:
    """A member pod with a running debug container: reads the pod once, resolves client TLS
    (`tls`: 'auto', 'none' or {cacert, cert, key}) and the member's own endpoint."""

    def __init__(self, api, namespace: str, pod: str, container: str, where: str, tls="auto"):
        self.api, self.namespace, self.pod, self.container = api, namespace, pod, container
        pod_obj = _pod.read_pod(api, namespace, pod, where)
        self.spec = pod_obj.get("spec") or {}
        debug, status = _pod.find_any(pod_obj, container)
        if debug is None:
            names = _pod.names(pod_obj, "ephemeral")
            raise K8sError(f"pod {namespace}/{pod} has no container '{container}' (ephemeral containers: "
                           f"{', '.join(names) or 'none'}); attach one with etcd_wrapper.ops.etcd_ephemeral_container")
        if not _pod.running(status):
            raise K8sError(f"container '{container}' in {namespace}/{pod} is not running: {_pod.describe(status)}")
        self.debug = debug
        try:
            self.tls = _druid.resolve_tls({"tls": tls}, self.spec, debug)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        self.scheme = "https" if self.tls else "http"
        self.endpoint = _druid.endpoint(self.spec, self.scheme)[0]

    @property
    def tls_source(self) -> str:
        return self.tls["source"] if self.tls else "none"

    def argv(self, args: list[str], timeout: int, output: str = "json", endpoints: list[str] | None = None):
        """(argv to run, argv to show): TLS paths as the exec sees them and as a person reads them."""
        endpoints = endpoints or [self.endpoint]
        tls = self.tls
        run_tls = dict(tls, **{k: _druid.ETCD_ROOT_TOKEN + tls[k] for k in _druid.TLS_KEYS}) if tls and tls["via"] == "proc" else tls
        shown_tls = dict(tls, **tls["display"]) if tls else None
        return (build_argv(args, endpoints, run_tls, timeout, output),
                redact(build_argv(args, endpoints, shown_tls, timeout, output)))

    def run(self, argv: list[str], timeout: float, etcd_files: bool = True) -> dict:
        """One exec in the debug container ({'rc', 'stdout', 'stderr'}); with etcd_files, through
        the etcd process's root when the TLS files are read there."""
        return _exec.run(self.api, self.namespace, self.pod, self.container,
                         _druid.runnable(argv, self.tls) if etcd_files else argv, timeout)

    def etcdctl(self, args: list[str], timeout: int, output: str = "json", endpoints: list[str] | None = None) -> dict:
        """{'cmd', 'rc', 'stdout', 'stderr', 'json'}: etcdctl against this member (or `endpoints`);
        the exec gets a little longer than etcdctl's own --command-timeout, so etcdctl reports first."""
        argv, shown = self.argv(args, timeout, output, endpoints)
        out = self.run(argv, timeout + 5)
        result = dict(out, cmd=shown, json=None)
        if output == "json" and "-w" in argv[-2:] and out["stdout"].strip():
            try:
                result["json"] = parse_json(out["stdout"])
            except ValueError:
                result["json"] = None
        return result
