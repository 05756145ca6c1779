"""etcd-wrapper-shaped workloads, as etcd-druid >= v0.23 lays them out: per shoot namespace
StatefulSets etcd-main / etcd-events of 3 members (real etcd, client + peer TLS), a
backup-restore sidecar answering /healthz on 8080, secrets mounted under /var/etcd/ssl/...,
services <etcd>-client and <etcd>-peer. The namespace enforces the restricted Pod Security
Standard, so admission really rejects privileged debug containers there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import pki, procs

NATO = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
        "kilo", "lima", "mike", "november", "oscar", "papa"]
ETCD_UID = 65532
DEFAULT_QUOTA = 8 * 1024 ** 3


def namespace_for(cluster_index: int) -> str:
    return f"shoot--dev--{NATO[(cluster_index - 1) % len(NATO)]}" + ("" if cluster_index <= len(NATO) else f"{cluster_index}")


def labels(etcd: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": etcd,
        "app.kubernetes.io/part-of": etcd,
        "app.kubernetes.io/component": "etcd-statefulset",
        "app.kubernetes.io/managed-by": "etcd-druid",
        "gardener.cloud/role": "controlplane",
        "role": etcd.removeprefix("etcd-"),
        "app": "etcd-statefulset",
    }


def peer_host(etcd: str, member: int, namespace: str) -> str:
    return f"{etcd}-{member}.{etcd}-peer.{namespace}.svc"


def heartbeat_ms() -> int:
    """etcd's heartbeat interval in the fleet: 100 ms (etcd's and etcd-druid's default) unless
    TESTBED_ETCD_HEARTBEAT_MS says otherwise. The election timeout is always 10 heartbeats.
    Idle members cost CPU in proportion to it: ~2 % of a core each at 100 ms, so a 12-cluster
    fleet (72 members) on 2 cores is only measurable with a slower heartbeat (benchmarks)."""
    value = os.environ.get("TESTBED_ETCD_HEARTBEAT_MS", "100")
    if not value.isdigit() or not 10 <= int(value) <= 5000:
        raise procs.TestbedError(f"TESTBED_ETCD_HEARTBEAT_MS must be 10..5000, got {value!r}")
    return int(value)


def etcd_config(etcd: str, member: int, members: int, namespace: str, quota: int = DEFAULT_QUOTA) -> str:
    heartbeat = heartbeat_ms()
    cluster = ",".join(f"{etcd}-{m}=https://{peer_host(etcd, m, namespace)}:2380" for m in range(members))
    return f"""# etcd configuration of {etcd}-{member} (etcd-druid layout)
name: {etcd}-{member}
data-dir: /var/etcd/data/new.etcd
metrics: basic
listen-client-urls: https://0.0.0.0:2379
advertise-client-urls: https://{peer_host(etcd, member, namespace)}:2379
listen-peer-urls: https://0.0.0.0:2380
initial-advertise-peer-urls: https://{peer_host(etcd, member, namespace)}:2380
initial-cluster: {cluster}
initial-cluster-state: new
initial-cluster-token: {etcd}
quota-backend-bytes: {quota}
auto-compaction-mode: periodic
auto-compaction-retention: 30m
snapshot-count: 75000
heartbeat-interval: {heartbeat}
election-timeout: {heartbeat * 10}
client-transport-security:
  cert-file: /var/etcd/ssl/server/tls.crt
  key-file: /var/etcd/ssl/server/tls.key
  client-cert-auth: true
  trusted-ca-file: /var/etcd/ssl/ca/bundle.crt
  auto-tls: false
peer-transport-security:
  cert-file: /var/etcd/ssl/peer/server/tls.crt
  key-file: /var/etcd/ssl/peer/server/tls.key
  client-cert-auth: true
  trusted-ca-file: /var/etcd/ssl/peer/ca/bundle.crt
  auto-tls: false
"""


def make_pki(root: Path, namespace: str, etcds: list[str]) -> dict[str, dict[str, str]]:
    """Secret name -> {file: content} for one namespace (cached on disk under root)."""
    root.mkdir(parents=True, exist_ok=True)
    ca_crt, ca_key = pki.ca(root / "ca", f"ca-etcd-{namespace}")
    peer_crt, peer_key = pki.ca(root / "peer-ca", f"ca-etcd-peer-{namespace}")
    out = {"ca-etcd-bundle": {"bundle.crt": ca_crt.read_text()},
           "ca-etcd-peer-bundle": {"bundle.crt": peer_crt.read_text()}}
    for etcd in etcds:
        dns = [f"*.{etcd}-peer.{namespace}.svc", f"*.{etcd}-peer.{namespace}.svc.cluster.local",
               f"{etcd}-client", f"{etcd}-client.{namespace}", f"{etcd}-client.{namespace}.svc",
               f"{etcd}-local", "localhost"]
        for kind, (crt, key), usage, names, cn in (
            ("server", (ca_crt, ca_key), "server,client", dns, f"{etcd}-server"),
            ("client", (ca_crt, ca_key), "client", [], f"{etcd}-client"),
            ("peer", (peer_crt, peer_key), "server,client", dns, f"{etcd}-peer"),
        ):
            target = root / etcd / kind
            if not (target / "tls.crt").exists():
                pki.issue(target, crt, key, cn, usage, dns=names, ips=["127.0.0.1"] if names else [])
            out[f"{etcd}-{kind}-tls"] = {"tls.crt": (target / "tls.crt").read_text(), "tls.key": (target / "tls.key").read_text()}
    return out


def secret(namespace: str, name: str, files: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "etcd-druid"}},
            "stringData": files}


def secret_volume(name: str, secret_name: str) -> dict:
    return {"name": name, "secret": {"secretName": secret_name, "defaultMode": 0o640}}


def pod_template(etcd: str, namespace: str, images: dict[str, str]) -> dict:
    """The pod template an etcd-druid StatefulSet carries (config item set per member)."""
    return {
        "metadata": {"labels": labels(etcd)},
        "spec": {
            "hostname": None, "subdomain": f"{etcd}-peer",
            "automountServiceAccountToken": False,
            "hostAliases": [{"ip": "127.0.0.1", "hostnames": [f"{etcd}-local"]}],
            "securityContext": {"runAsUser": ETCD_UID, "runAsGroup": ETCD_UID, "fsGroup": ETCD_UID,
                                "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "etcd", "image": images["etcd"], "imagePullPolicy": "IfNotPresent",
                    "args": ["--config-file=/var/etcd/config/etcd.conf.yaml"],
                    "ports": [{"name": "server", "containerPort": 2380}, {"name": "client", "containerPort": 2379}],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [
                        {"name": "etcd-config-file", "mountPath": "/var/etcd/config/"},
                        {"name": f"{etcd}", "mountPath": "/var/etcd/data/"},
                        {"name": "etcd-ca", "mountPath": "/var/etcd/ssl/ca", "readOnly": True},
                        {"name": "etcd-server-tls", "mountPath": "/var/etcd/ssl/server", "readOnly": True},
                        {"name": "etcd-client-tls", "mountPath": "/var/etcd/ssl/client", "readOnly": True},
                        {"name": "etcd-peer-ca", "mountPath": "/var/etcd/ssl/peer/ca", "readOnly": True},
                        {"name": "etcd-peer-server-tls", "mountPath": "/var/etcd/ssl/peer/server", "readOnly": True},
                    ],
                },
                {
                    "name": "backup-restore", "image": images["backup-restore"], "imagePullPolicy": "IfNotPresent",
                    "args": ["serve", "--listen", ":8080", "--state", "/var/etcd/backup/health"],
                    "ports": [{"name": "backuprestore", "containerPort": 8080}],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [
                        {"name": "etcd-config-file", "mountPath": "/var/etcd/config/"},
                        {"name": "backup", "mountPath": "/var/etcd/backup/"},
                        {"name": "etcd-ca", "mountPath": "/var/etcd/ssl/ca", "readOnly": True},
                        {"name": "etcd-client-tls", "mountPath": "/var/etcd/ssl/client", "readOnly": True},
                    ],
                },
            ],
            "volumes": [
                {"name": "etcd-config-file", "configMap": {"name": f"{etcd}-config", "defaultMode": 0o644}},
                {"name": f"{etcd}", "emptyDir": {}},
                {"name": "backup", "emptyDir": {}},
                secret_volume("etcd-ca", "ca-etcd-bundle"),
                secret_volume("etcd-server-tls", f"{etcd}-server-tls"),
                secret_volume("etcd-client-tls", f"{etcd}-client-tls"),
                secret_volume("etcd-peer-ca", "ca-etcd-peer-bundle"),
                secret_volume("etcd-peer-server-tls", f"{etcd}-peer-tls"),
            ],
        },
    }


def manifests(namespace: str, etcds: list[str], members: int, images: dict[str, str], node: str,
              pki_root: Path, quotas: dict[str, int] | None = None) -> list[dict]:
    """Every object of one shoot namespace, in creation order (pods last)."""
    objs: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {
            "gardener.cloud/role": "shoot",
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest"}}},
        # no controller-manager runs: create the default ServiceAccount ourselves
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}},
    ]
    for name, files in make_pki(pki_root, namespace, etcds).items():
        objs.append(secret(namespace, name, files))
    for etcd in etcds:
        quota = (quotas or {}).get(etcd, DEFAULT_QUOTA)
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"{etcd}-config", "namespace": namespace, "labels": labels(etcd)},
                     "data": {f"{etcd}-{m}.yaml": etcd_config(etcd, m, members, namespace, quota) for m in range(members)}})
        objs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": f"{etcd}-client", "namespace": namespace, "labels": labels(etcd)},
                     "spec": {"selector": labels(etcd), "ports": [
                         {"name": "client", "port": 2379, "targetPort": 2379},
                         {"name": "backuprestore", "port": 8080, "targetPort": 8080}]}})
        objs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": f"{etcd}-peer", "namespace": namespace, "labels": labels(etcd)},
                     "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": labels(etcd),
                              "ports": [{"name": "peer", "port": 2380, "targetPort": 2380}]}})
        template = pod_template(etcd, namespace, images)
        spec = {k: v for k, v in template["spec"].items() if v is not None}
        objs.append({"apiVersion": "apps/v1", "kind": "StatefulSet",
                     "metadata": {"name": etcd, "namespace": namespace, "labels": labels(etcd)},
                     "spec": {"replicas": members, "serviceName": f"{etcd}-peer", "podManagementPolicy": "Parallel",
                              "selector": {"matchLabels": labels(etcd)},
                              "template": {"metadata": template["metadata"], "spec": spec}}})
        for member in range(members):
            pod_spec = dict(spec, hostname=f"{etcd}-{member}", nodeName=node)
            pod_spec["volumes"] = [
                dict(v, configMap={"name": f"{etcd}-config", "defaultMode": 0o644,
                                   "items": [{"key": f"{etcd}-{member}.yaml", "path": "etcd.conf.yaml"}]})
                if v["name"] == "etcd-config-file" else v for v in spec["volumes"]]
            objs.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": f"{etcd}-{member}", "namespace": namespace,
                                      "labels": dict(labels(etcd), **{"statefulset.kubernetes.io/pod-name": f"{etcd}-{member}"})},
                         "spec": pod_spec})
    return objs


def wipe_pki(pki_root: Path) -> None:
    shutil.rmtree(pki_root, ignore_errors=True)
