# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: what an etcd-druid pod's spec says about its etcd
(pure logic, no API calls). The one home of the etcd-druid / etcd-wrapper layout knowledge,
including where a debug container finds the client TLS files (resolve_tls: mounted, or read
through the etcd process's root):

- etcd-druid >= v0.23 (gardener/etcd-druid internal/component/statefulset/builder.go): the `etcd`
  container runs etcd-wrapper (`start-etcd --backup-restore-host-port=<etcd>-local:8080
  --backup-restore-ca-cert-bundle-path=... --etcd-client-port=2379 ...`); `backup-restore` runs
  `server --server-port=8080 --cacert=<CA> --cert=<client cert> --key=<client key>
  --endpoints=https://<etcd>-local:2379 --server-cert=... --embedded-etcd-quota-bytes=<quota>`;
  the pod has `shareProcessNamespace: true`, so PID 1 is the pause process, not etcd.
- etcd-wrapper has no config file of its own: it fetches the config from backup-restore's
  /config and writes `$HOME/etcd.conf.yaml` = /home/nonroot/etcd.conf.yaml
  (gardener/etcd-wrapper internal/brclient/brclient.go GetEtcdConfig). The ConfigMap is mounted
  only into backup-restore (/var/etcd/config/etcd.conf.yaml).
- etcd-druid v0.22: the same args with TLS under /var/etcd/ssl/client/{ca,server,client}.
- a plain etcd container (`etcd --config-file=...` or flags) is understood too.
Everything read from args says where it came from (`*_source`), so results can tell a fact
from a fallback guess."""

from __future__ import annotations

import os

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _pod

DEFAULT_CLIENT_PORT = 2379
DEFAULT_BACKUP_PORT = 8080
WRAPPER_CONFIG = "/home/nonroot/etcd.conf.yaml"   # etcd-wrapper: $HOME/etcd.conf.yaml of UID 65532
BR_CONFIG = "/var/etcd/config/etcd.conf.yaml"     # the ConfigMap, mounted into backup-restore only
PROCESS_NAMES = ("etcd-wrapper", "etcd")          # what runs in the etcd container, in this order
# bash: $pid = the first process named as in PROCESS_NAMES (by /proc/<pid>/comm), empty if none. Shared
# by the health script and etcdctl_exec: never PID 1, which is the pause process in druid's pods.
FIND_ETCD_PID = f"""pid=
for n in {' '.join(PROCESS_NAMES)}; do
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = "$n" ] && {{ pid=${{p#/proc/}}; break 2; }}
  done
done
"""
BACKUP_CONTAINER = "backup-restore"


def container(pod_spec: dict, name: str) -> dict | None:
    return _pod.container(pod_spec, name)


def args_of(cont: dict | None) -> dict[str, str]:
    """{'--flag': value} from command + args ('--flag=value' or '--flag value'; bare flags -> 'true')."""
    words = list((cont or {}).get("command") or []) + list((cont or {}).get("args") or [])
    out: dict[str, str] = {}
    for i, word in enumerate(words):
        if not word.startswith("--"):
            continue
        if "=" in word:
            key, value = word.split("=", 1)
            out[key] = value
        elif i + 1 < len(words) and not words[i + 1].startswith("-"):
            out[word] = words[i + 1]
        else:
            out[word] = "true"
    return out


def _mount_dirs(cont: dict | None) -> set[str]:
    return {m["mountPath"].rstrip("/") for m in (cont or {}).get("volumeMounts") or [] if m.get("mountPath")}


def mounted(cont: dict | None, path: str) -> bool:
    """Does the container mount a directory holding this file?"""
    return any(path == d or path.startswith(d + "/") for d in _mount_dirs(cont))


def is_wrapper(pod_spec: dict, target: str = "etcd") -> bool:
    args = list((container(pod_spec, target) or {}).get("args") or [])
    return bool(args) and args[0] == "start-etcd" or "--backup-restore-host-port" in args_of(container(pod_spec, target))


def client_port(pod_spec: dict, target: str = "etcd") -> tuple[int, str]:
    """(port, source): etcd-wrapper's --etcd-client-port, a plain etcd's --listen-client-urls,
    the container port named 'client', else 2379."""
    cont = container(pod_spec, target)
    args = args_of(cont)
    if args.get("--etcd-client-port", "").isdigit():
        return int(args["--etcd-client-port"]), "args --etcd-client-port"
    for url in args.get("--listen-client-urls", "").split(","):
        port = url.rsplit(":", 1)[-1]
        if port.isdigit():
            return int(port), "args --listen-client-urls"
    for p in (cont or {}).get("ports") or []:
        if p.get("name") == "client" and p.get("containerPort"):
            return int(p["containerPort"]), "container port 'client'"
    return DEFAULT_CLIENT_PORT, "default 2379"


def client_tls(pod_spec: dict, target: str = "etcd") -> dict | None:
    """etcd client TLS (cacert, cert, key, source) from backup-restore's args (its own etcd
    client: --cacert/--cert/--key, what druid passes), else etcd-wrapper's --etcd-client-*-path
    plus the CA the layout implies; None when the args say nothing (callers then guess from mounts)."""
    br = args_of(container(pod_spec, BACKUP_CONTAINER))
    if br.get("--insecure-transport") != "true" and all(br.get(f) for f in ("--cacert", "--cert", "--key")):
        return {"cacert": br["--cacert"], "cert": br["--cert"], "key": br["--key"],
                "source": "args of container 'backup-restore' (--cacert, --cert, --key)"}
    wrapper = args_of(container(pod_spec, target))
    cert, key = wrapper.get("--etcd-client-cert-path"), wrapper.get("--etcd-client-key-path")
    ca = wrapper.get("--backup-restore-ca-cert-bundle-path")
    if cert and key and ca and os.path.dirname(ca) in _mount_dirs(container(pod_spec, target)) and \
            os.path.dirname(ca) in ("/var/etcd/ssl/ca", "/var/etcd/ssl/client/ca"):
        # the wrapper's backup-restore CA is the etcd CA when it lives in the etcd CA volume
        return {"cacert": ca, "cert": cert, "key": key,
                "source": f"args of container '{target}' (--etcd-client-*-path, CA from --backup-restore-ca-cert-bundle-path)"}
    return None


def endpoint(pod_spec: dict, scheme: str, target: str = "etcd") -> tuple[str, str]:
    """(url, source) of this member's own client endpoint: backup-restore's --endpoints (druid:
    https://<etcd>-local:<port>), else the '<etcd>-local' hostAlias of 127.0.0.1, else 127.0.0.1."""
    port, port_source = client_port(pod_spec, target)
    br = args_of(container(pod_spec, BACKUP_CONTAINER))
    first = br.get("--endpoints", "").split(",")[0]
    if first.startswith(("https://", "http://")):
        return first, "args of container 'backup-restore' (--endpoints)"
    for alias in pod_spec.get("hostAliases") or []:
        if alias.get("ip") == "127.0.0.1":
            for name in alias.get("hostnames") or []:
                if name.endswith("-local"):
                    return f"{scheme}://{name}:{port}", f"hostAlias {name}, port from {port_source}"
    return f"{scheme}://127.0.0.1:{port}", f"127.0.0.1, port from {port_source}"


def config_candidates(pod_spec: dict, target: str = "etcd") -> tuple[list[str], str]:
    """(paths, source) where the running etcd's config is, in the etcd process's root:
    --config-file of a plain etcd, else etcd-wrapper's $HOME/etcd.conf.yaml."""
    args = args_of(container(pod_spec, target))
    if args.get("--config-file"):
        return [args["--config-file"]], "args --config-file"
    if is_wrapper(pod_spec, target):
        return [WRAPPER_CONFIG], "etcd-wrapper writes $HOME/etcd.conf.yaml"
    return [WRAPPER_CONFIG, BR_CONFIG], "not in the args: the etcd-wrapper and etcd-druid paths"


def quota_from_args(pod_spec: dict, target: str = "etcd") -> int | None:
    """quota-backend-bytes from the args: a plain etcd's --quota-backend-bytes, else
    backup-restore's --embedded-etcd-quota-bytes (druid passes the Etcd's quota there)."""
    args = args_of(container(pod_spec, target))
    if args.get("--quota-backend-bytes", "").isdigit():
        return int(args["--quota-backend-bytes"])
    br = args_of(container(pod_spec, BACKUP_CONTAINER))
    if br.get("--embedded-etcd-quota-bytes", "").isdigit():
        return int(br["--embedded-etcd-quota-bytes"])
    return None


def backup_restore(pod_spec: dict, etcd_endpoint: str, tls: dict | None) -> dict | None:
    """How to reach the backup-restore sidecar: {'base', 'cacert', 'source'} (HTTPS with the CA the
    wrapper uses when it serves with --server-cert), None when the pod has none."""
    cont = container(pod_spec, BACKUP_CONTAINER)
    if cont is None:
        return None
    args = args_of(cont)
    wrapper = args_of(container(pod_spec, "etcd"))
    port, source = DEFAULT_BACKUP_PORT, "default 8080"
    if args.get("--server-port", "").isdigit():
        port, source = int(args["--server-port"]), "args --server-port"
    else:
        named = next((p.get("containerPort") for p in cont.get("ports") or [] if p.get("name") in ("server", "backuprestore")), None)
        if named:
            port, source = int(named), "container port"
    host = etcd_endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    hostport = wrapper.get("--backup-restore-host-port", "")
    if hostport and ":" in hostport:
        host = hostport.rsplit(":", 1)[0]
    if args.get("--server-cert"):
        ca = wrapper.get("--backup-restore-ca-cert-bundle-path") or (tls or {}).get("cacert", "")
        how = "--backup-restore-ca-cert-bundle-path" if wrapper.get("--backup-restore-ca-cert-bundle-path") else "the etcd CA"
        return {"base": f"https://{host}:{port}", "cacert": ca, "source": f"HTTPS (--server-cert), port from {source}, CA {how}"}
    return {"base": f"http://{host}:{port}", "cacert": "", "source": f"HTTP, port from {source}"}


def pod_of_url(url: str) -> str:
    """https://etcd-main-1.etcd-main-peer.ns.svc:2379 -> etcd-main-1 (the host's first label)."""
    host = url.split("://", 1)[-1].rsplit(":", 1)[0]
    return host.split(".", 1)[0]


def member_pod(member: dict, pods: list[str] | None = None) -> str | None:
    """The pod a `member list` entry runs in: by the host of its client/peer URLs (druid's member
    names may carry a prefix: <memberNamePrefix>-<pod>), else its name when that is a pod."""
    known = set(pods or [])
    for url in list(member.get("clientURLs") or []) + list(member.get("peerURLs") or []):
        pod = pod_of_url(url)
        if pod and (not known or pod in known):
            return pod
    name = member.get("name")
    if name and (not known or name in known):
        return name
    if name and known:
        return next((p for p in sorted(known) if name.endswith("-" + p)), None)
    return None


# ---------------------------------------------------------------- client TLS from the mount layout, for a debug container


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
    nothing (see client_tls). None if no layout matches."""
    cont = container(pod_spec, target)
    if cont is None:
        return None
    mounts = _mounts(cont)
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


# Where a TLS file is not mounted in the debug container it is read through the etcd process's
# root: the PID is found at run time by name (etcd-druid pods share one PID namespace whose
# PID 1 is the pause process), so argv carries a token that PROC_EXEC replaces before exec.
ETCD_ROOT_TOKEN = "@ETCD_ROOT@"
ETCD_ROOT_SHOWN = "/proc/<etcd-pid>/root"
PROC_EXEC = FIND_ETCD_PID + r"""[ -n "$pid" ] || {
  echo "no etcd-wrapper or etcd process in this PID namespace (is the debug container targeting 'etcd'?)" >&2; exit 127; }
a=()
for x in "$@"; do a+=("${x//@ETCD_ROOT@//proc/$pid/root}"); done
exec "${a[@]}"
"""
TLS_KEYS = ("cacert", "cert", "key")


def resolve_tls(params: dict, pod_spec: dict, debug_container: dict) -> dict | None:
    """Client TLS for etcdctl: {'cacert','cert','key','source','via','display'}. auto: the
    containers' args (client_tls), else the etcd-druid mount layout; 'via' is 'mount' when
    the debug container mounts the files, else 'proc' (read through the etcd process's root)."""
    tls = params.get("tls")
    if tls in (None, "auto"):
        found = client_tls(pod_spec) or discover_tls(pod_spec)
        if found is None:
            return None
        via = "mount" if all(mounted(debug_container, found[k]) for k in TLS_KEYS) else "proc"
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
