"""Kubeconfigs bound to exactly a given set of RBAC rules: per cluster a ServiceAccount, a
ClusterRole with those rules, a ClusterRoleBinding and a token from the TokenRequest API."""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client

from . import fleet, kube

NAMESPACE = "etcd-ops-rbac"
SHIPPED = Path(__file__).resolve().parents[2] / "rbac" / "etcd-wrapper-ops.yaml"


def shipped_rules() -> list[dict]:
    role = next(d for d in yaml.safe_load_all(SHIPPED.read_text()) if d and d.get("kind") == "ClusterRole")
    return role["rules"]


def bind_service_account(api: client.ApiClient, namespace: str, name: str, rules: list[dict]) -> None:
    """ServiceAccount <namespace>/<name> bound to a ClusterRole <name> holding exactly `rules`."""
    kube.create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kube.create(api, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}})
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}
    if not kube.create(api, role):
        client.RbacAuthorizationV1Api(api).replace_cluster_role(name, role)
    kube.create(api, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                      "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})


def scoped_kubeconfig(state: Path, admin_kubeconfig: Path, indexes: list[int], rules: list[dict], name: str) -> Path:
    """A kubeconfig whose contexts testbed-<i> act as ServiceAccount <name> holding only `rules`."""
    clusters = [fleet.Cluster(i, state) for i in indexes]
    config = fleet.kubeconfig_dict(clusters, fleet.fleet_pki(state) / "ca" / "ca.crt")
    users = {}
    for cluster in clusters:
        api = kube.api_client(admin_kubeconfig, cluster.name)
        bind_service_account(api, NAMESPACE, name, rules)
        token = client.CoreV1Api(api).create_namespaced_service_account_token(
            name, NAMESPACE, {"spec": {"expirationSeconds": 3600}}).status.token
        users[f"{cluster.name}-admin"] = token
    for user in config["users"]:
        user["user"] = {"token": users[user["name"]]}
    return fleet.write_kubeconfig(state / "fleet" / f"rbac-{name}.kubeconfig", config)
