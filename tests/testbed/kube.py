"""Talking to one fleet cluster with the Kubernetes Python client: a client per context
(never the process-global default), create-if-missing, waits and exec."""

from __future__ import annotations

import json
import time
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from . import procs


def api_client(kubeconfig: Path, context: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig), context=context)


def create(api: client.ApiClient, obj: dict) -> bool:
    """Create obj unless it exists; True if created."""
    kind, meta = obj["kind"], obj["metadata"]
    ns = meta.get("namespace")
    core, apps, rbac = client.CoreV1Api(api), client.AppsV1Api(api), client.RbacAuthorizationV1Api(api)
    calls = {
        "Namespace": lambda: core.create_namespace(obj),
        "ServiceAccount": lambda: core.create_namespaced_service_account(ns, obj),
        "Secret": lambda: core.create_namespaced_secret(ns, obj),
        "ConfigMap": lambda: core.create_namespaced_config_map(ns, obj),
        "Service": lambda: core.create_namespaced_service(ns, obj),
        "StatefulSet": lambda: apps.create_namespaced_stateful_set(ns, obj),
        "Pod": lambda: core.create_namespaced_pod(ns, obj),
        "ClusterRole": lambda: rbac.create_cluster_role(obj),
        "ClusterRoleBinding": lambda: rbac.create_cluster_role_binding(obj),
        "Role": lambda: rbac.create_namespaced_role(ns, obj),
        "RoleBinding": lambda: rbac.create_namespaced_role_binding(ns, obj),
        "Lease": lambda: client.CoordinationV1Api(api).create_namespaced_lease(ns, obj),
    }
    try:
        calls[kind]()
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise procs.TestbedError(f"creating {kind} {ns + '/' if ns else ''}{meta['name']} failed: "
                                 f"{exc.status} {_reason(exc)}") from None
    return True


def publish_root_ca(api: client.ApiClient, namespace: str, ca_pem: str) -> None:
    """Create or replace ConfigMap kube-root-ca.crt (key ca.crt) in namespace, as
    kube-controller-manager's root-ca-cert-publisher does in a real cluster (none runs here).
    The kube-api-access-* volume that ServiceAccount admission adds to pods projects it as
    /var/run/secrets/kubernetes.io/serviceaccount/ca.crt. ca_pem: the CA that signs the API
    server's serving cert (fleet_pki's ca/ca.crt). Publish it before the namespace's pods start:
    the node writes a pod's volumes once, when it starts the pod."""
    core = client.CoreV1Api(api)
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "namespace": namespace,
                         "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to "
                                         "verify the kube-apiserver when using internal endpoints such as the "
                                         "internal service IP or kubernetes.default.svc. No other usage is guaranteed "
                                         "across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": ca_pem}}
    try:
        core.create_namespaced_config_map(namespace, body)
        return
    except ApiException as exc:
        if exc.status != 409:
            raise procs.TestbedError(f"creating ConfigMap {namespace}/kube-root-ca.crt failed: "
                                     f"{exc.status} {_reason(exc)}") from None
    try:
        core.replace_namespaced_config_map("kube-root-ca.crt", namespace, body)
    except ApiException as exc:
        raise procs.TestbedError(f"replacing ConfigMap {namespace}/kube-root-ca.crt failed: "
                                 f"{exc.status} {_reason(exc)}") from None


def _reason(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message", exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


def pods(api: client.ApiClient, namespace: str | None = None, selector: str = "") -> list:
    core = client.CoreV1Api(api)
    if namespace:
        return core.list_namespaced_pod(namespace, label_selector=selector).items
    return core.list_pod_for_all_namespaces(label_selector=selector).items


def pod_running(pod) -> bool:
    statuses = pod.status.container_statuses or []
    return (pod.status.phase == "Running" and len(statuses) == len(pod.spec.containers)
            and all(s.state and s.state.running for s in statuses))


def wait_pods_running(api: client.ApiClient, namespace: str, names: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        current = {p.metadata.name: p for p in pods(api, namespace)}
        waiting = [n for n in names if n not in current or not pod_running(current[n])]
        if not waiting:
            return
        if time.monotonic() > deadline:
            detail = []
            for name in waiting[:3]:
                pod = current.get(name)
                if pod is None:
                    detail.append(f"{name}: missing")
                    continue
                detail.append(f"{name}: {describe(pod)}")
            raise procs.TestbedError(f"pods not running after {timeout:.0f}s in {namespace}: " + "; ".join(detail))
        time.sleep(0.5)


def describe(pod) -> str:
    """'Running' when every container runs, else the phase and each container's state."""
    if pod_running(pod):
        return "Running"
    states = " ".join(f"{s.name}={_state(s)}" for s in pod.status.container_statuses or [])
    return f"{pod.status.phase} {states}".strip()


def _state(status) -> str:
    st = status.state
    if st is None:
        return "unknown"
    if st.running:
        return "running"
    if st.waiting:
        return f"waiting({st.waiting.reason})"
    if st.terminated:
        return f"terminated({st.terminated.exit_code})"
    return "unknown"


def node_ready(api: client.ApiClient, name: str) -> bool:
    try:
        node = client.CoreV1Api(api).read_node(name)
    except ApiException:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def exec_argv(api: client.ApiClient, namespace: str, pod: str, container: str, argv: list[str],
              timeout: float = 60) -> tuple[int | None, str, str]:
    """Run argv in a container through the API server; (rc, stdout, stderr). rc None = unknown."""
    resp = stream(client.CoreV1Api(api).connect_get_namespaced_pod_exec, pod, namespace, container=container,
                  command=argv, stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False)
    out, err = [], []
    deadline = time.monotonic() + timeout
    while resp.is_open():
        resp.update(timeout=1)
        if resp.peek_stdout():
            out.append(resp.read_stdout())
        if resp.peek_stderr():
            err.append(resp.read_stderr())
        if time.monotonic() > deadline:
            resp.close()
            raise procs.TestbedError(f"exec {argv[0]} in {namespace}/{pod}/{container} timed out after {timeout:.0f}s")
    try:
        # the client's own reading of the status channel (Success, or the ExitCode cause); the
        # collection's _exec.exit_code is the project's one parser, the fleet does not copy it
        rc = resp.returncode
    except Exception:  # noqa: BLE001 - no or unparsable status (the client parses it as YAML): unknown
        rc = None
    resp.close()
    return rc, "".join(out), "".join(err)
