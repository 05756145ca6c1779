"""Control planes of the local fleet: per cluster a storage etcd (Debian's etcd-server), a real
kube-apiserver (Node,RBAC authorization, PodSecurity admission) and one node (etcdops-node:
virtual-kubelet with a podman provider) on a podman bridge network of its own.

Everything listens on 127.0.0.1. One kubeconfig holds contexts testbed-1..N."""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import binaries, engine, pki, procs

# virtual-kubelet's informers list/watch secrets and configmaps cluster-wide; the Node
# authorizer only allows the node to get those its pods use (which is all the node reads)
NODE_RBAC = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "testbed:node-informers"},
     "rules": [{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "testbed:node-informers"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "testbed:node-informers"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}]},
]
PORT_BASE = int(os.environ.get("TESTBED_PORT_BASE", "22000"))
NODE_SUFFIX = "node"


@dataclass
class Cluster:
    index: int
    state: Path

    @property
    def name(self) -> str:
        return f"testbed-{self.index}"

    @property
    def dir(self) -> Path:
        return self.state / "fleet" / self.name

    @property
    def etcd_port(self) -> int:
        return PORT_BASE + 10 * self.index

    @property
    def api_port(self) -> int:
        return PORT_BASE + 10 * self.index + 2

    @property
    def kubelet_port(self) -> int:
        return PORT_BASE + 10 * self.index + 3

    @property
    def node_name(self) -> str:
        return f"{self.name}-{NODE_SUFFIX}"

    @property
    def network(self) -> str:
        return self.name

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def proc(self, what: str) -> str:
        return f"{self.name}-{what}"

    def token(self, who: str) -> str:
        return (self.dir / f"{who}.token").read_text().strip()


def fleet_pki(state: Path) -> Path:
    """One CA for the fleet; API server serving cert, kubelet client cert, node serving cert."""
    root = state / "fleet" / "pki"
    ca_crt, ca_key = pki.ca(root / "ca", "etcdops-testbed-ca")
    if not (root / "apiserver" / "tls.crt").exists():
        pki.issue(root / "apiserver", ca_crt, ca_key, "kube-apiserver", "server",
                  dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"], ips=["127.0.0.1", "10.96.0.1"])
    if not (root / "kubelet-client" / "tls.crt").exists():
        pki.issue(root / "kubelet-client", ca_crt, ca_key, "kube-apiserver-kubelet-client", "client")
    if not (root / "node" / "tls.crt").exists():
        pki.issue(root / "node", ca_crt, ca_key, "etcdops-node", "server", dns=["localhost"], ips=["127.0.0.1"])
    if not (root / "sa.key").exists():
        procs.run(["openssl", "genrsa", "-out", str(root / "sa.key"), "2048"])
        procs.run(["openssl", "rsa", "-in", str(root / "sa.key"), "-pubout", "-out", str(root / "sa.pub")])
    return root


def _write_tokens(cluster: Cluster) -> None:
    cluster.dir.mkdir(parents=True, exist_ok=True)
    for who in ("admin", "node"):
        path = cluster.dir / f"{who}.token"
        if not path.exists():
            path.write_text(secrets.token_hex(24))
            path.chmod(0o600)
    lines = [f"{cluster.token('admin')},testbed-admin,testbed-admin,system:masters",
             f"{cluster.token('node')},system:node:{cluster.node_name},{cluster.node_name},system:nodes"]
    tokens = cluster.dir / "tokens.csv"
    tokens.write_text("\n".join(lines) + "\n")
    tokens.chmod(0o600)


def kubeconfig_dict(clusters: list[Cluster], ca_crt: Path, user: str = "admin") -> dict:
    ca_data = base64.b64encode(ca_crt.read_bytes()).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": c.name, "cluster": {"server": c.server, "certificate-authority-data": ca_data}} for c in clusters],
        "users": [{"name": f"{c.name}-{user}", "user": {"token": c.token(user)}} for c in clusters],
        "contexts": [{"name": c.name, "context": {"cluster": c.name, "user": f"{c.name}-{user}"}} for c in clusters],
        "current-context": clusters[0].name if clusters else "",
    }


def write_kubeconfig(path: Path, config: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=1))  # JSON is YAML: kubectl and the client read it
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return path


def _ready(cluster: Cluster, ca: Path) -> bool:
    ctx = ssl.create_default_context(cafile=str(ca))
    req = urllib.request.Request(f"{cluster.server}/readyz", headers={"Authorization": f"Bearer {cluster.token('admin')}"})
    try:
        with urllib.request.urlopen(req, timeout=2, context=ctx) as resp:
            return resp.status == 200
    except OSError:
        return False


def start_storage(cluster: Cluster) -> None:
    port = cluster.etcd_port
    data = cluster.dir / "etcd"
    procs.start(cluster.proc("etcd"), [
        "etcd", "--name", "storage", "--data-dir", str(data),
        "--listen-client-urls", f"http://127.0.0.1:{port}", "--advertise-client-urls", f"http://127.0.0.1:{port}",
        "--listen-peer-urls", f"http://127.0.0.1:{port + 1}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{port + 1}",
        "--initial-cluster", f"storage=http://127.0.0.1:{port + 1}", "--log-level", "warn",
    ], cluster.state)


def start_apiserver(cluster: Cluster, pki_root: Path) -> None:
    _write_tokens(cluster)
    procs.wait_for(lambda: procs.port_open(cluster.etcd_port), "its storage etcd", cluster.proc("etcd"), cluster.state, timeout=30)
    procs.start(cluster.proc("apiserver"), [
        str(binaries.path("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{cluster.etcd_port}", f"--etcd-prefix=/registry-{cluster.name}",
        "--bind-address=127.0.0.1", f"--secure-port={cluster.api_port}",
        f"--tls-cert-file={pki_root / 'apiserver' / 'tls.crt'}", f"--tls-private-key-file={pki_root / 'apiserver' / 'tls.key'}",
        f"--client-ca-file={pki_root / 'ca' / 'ca.crt'}",
        f"--token-auth-file={cluster.dir / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki_root / 'sa.pub'}", f"--service-account-signing-key-file={pki_root / 'sa.key'}",
        "--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none",
        f"--kubelet-client-certificate={pki_root / 'kubelet-client' / 'tls.crt'}",
        f"--kubelet-client-key={pki_root / 'kubelet-client' / 'tls.key'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--profiling=false", "--v=0",
    ], cluster.state)


def start_node(cluster: Cluster, pki_root: Path, insecure_registries: list[str]) -> None:
    env = engine.conf_env(cluster.state)
    if engine.podman(cluster.state, "network", "exists", cluster.network, check=False).returncode != 0:
        engine.podman(cluster.state, "network", "create", cluster.network)
    node_kubeconfig = cluster.dir / "node.kubeconfig"
    config = kubeconfig_dict([cluster], pki_root / "ca" / "ca.crt", user="node")
    write_kubeconfig(node_kubeconfig, config)
    procs.start(cluster.proc("node"), [
        str(binaries.path("etcdops-node")), "--kubeconfig", str(node_kubeconfig), "--node-name", cluster.node_name,
        "--listen", f"127.0.0.1:{cluster.kubelet_port}",
        "--tls-cert-file", str(pki_root / "node" / "tls.crt"), "--tls-key-file", str(pki_root / "node" / "tls.key"),
        "--network", cluster.network, "--state-dir", str(cluster.dir / "node"), "--internal-ip", "127.0.0.1",
        "--podman-api", str(engine.socket_path(cluster.state)),
    ], cluster.state, env=env)


def wait_ready(cluster: Cluster, pki_root: Path, timeout: float = 90) -> None:
    procs.wait_for(lambda: _ready(cluster, pki_root / "ca" / "ca.crt"), "/readyz", cluster.proc("apiserver"),
                   cluster.state, timeout=timeout)


def stop(cluster: Cluster) -> None:
    for what in ("node", "apiserver", "etcd"):
        procs.stop(cluster.proc(what), cluster.state, timeout=10)


def clusters_in(state: Path) -> list[Cluster]:
    root = state / "fleet"
    if not root.exists():
        return []
    found = [int(p.name.split("-")[1]) for p in root.glob("testbed-*") if p.name.split("-")[1].isdigit()]
    return [Cluster(i, state) for i in sorted(found)]


def wait_all(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise procs.TestbedError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.3)


# ---------------------------------------------------------------- the whole fleet

def kubeconfig_path(state: Path) -> Path:
    return state / "fleet" / "kubeconfig"


def up(state: Path, count: int, etcds: list[str], members: int, registry_host: str,
       insecure_registries: list[str], log=print) -> Path:
    """Start (or reuse) clusters 1..count with their workloads; returns the kubeconfig path."""
    from . import images, kube, workloads
    start = time.monotonic()
    binaries.ensure(log)
    stub = binaries.path("backup-restore-stub")
    refs = {
        "etcd": images.push(state, images.ensure_etcd_source(state, log), f"{registry_host}/testbed/etcd:3.4.23"),
        "backup-restore": images.push(state, images.ensure_backup_restore(state, stub, log),
                                      f"{registry_host}/testbed/etcd-backup-restore:stub"),
    }
    log(f"  workload images in {registry_host} ({time.monotonic() - start:.1f}s)")
    pki_root = fleet_pki(state)
    clusters = [Cluster(i, state) for i in range(1, count + 1)]
    for c in clusters:
        c.dir.mkdir(parents=True, exist_ok=True)
        start_storage(c)
    for c in clusters:
        start_apiserver(c, pki_root)
    for c in clusters:
        wait_ready(c, pki_root)
        log(f"  {c.name}: kube-apiserver ready on {c.server} ({time.monotonic() - start:.1f}s)")
    path = write_kubeconfig(kubeconfig_path(state), kubeconfig_dict(clusters_in(state), pki_root / "ca" / "ca.crt"))
    apis = {c.name: kube.api_client(path, c.name) for c in clusters}
    for c in clusters:
        for obj in NODE_RBAC:
            kube.create(apis[c.name], obj)
        start_node(c, pki_root, insecure_registries)
    for c in clusters:
        wait_all(lambda c=c: kube.node_ready(apis[c.name], c.node_name), f"node {c.node_name} Ready", 60)
    log(f"  nodes ready ({time.monotonic() - start:.1f}s)")
    for c in clusters:
        ns = workloads.namespace_for(c.index)
        for obj in workloads.manifests(ns, etcds, members, refs, c.node_name, c.dir / "workload-pki" / ns):
            kube.create(apis[c.name], obj)
    for c in clusters:
        ns = workloads.namespace_for(c.index)
        kube.wait_pods_running(apis[c.name], ns, [f"{e}-{m}" for e in etcds for m in range(members)], timeout=180)
        log(f"  {c.name}: {len(etcds)} etcd x {members} members running in {ns} ({time.monotonic() - start:.1f}s)")
    log(f"fleet of {count} cluster(s) up in {time.monotonic() - start:.1f}s")
    return path


def status(state: Path) -> list[dict]:
    from . import kube
    out = []
    path = kubeconfig_path(state)
    for c in clusters_in(state):
        row = {"cluster": c.name, "server": c.server,
               "processes": {w: bool(procs.read_pid(state / "run" / f"{c.proc(w)}.pid")) for w in ("etcd", "apiserver", "node")}}
        if row["processes"]["apiserver"] and path.exists():
            try:
                api = kube.api_client(path, c.name)
                row["pods"] = {f"{p.metadata.namespace}/{p.metadata.name}": kube.describe(p)
                               for p in kube.pods(api, selector="app.kubernetes.io/component=etcd-statefulset")}
            except Exception as exc:  # noqa: BLE001 - status reports whatever it can
                row["error"] = str(exc).splitlines()[0]
        out.append(row)
    return out


def down(state: Path) -> None:
    """Stop every cluster process by PID, remove their pods, networks and state."""
    import shutil
    clusters = clusters_in(state)
    for c in clusters:
        stop(c)
    if clusters and (state / "engine" / "containers.conf").exists():
        engine.podman(state, "pod", "rm", "--all", "--force", "--time", "0", check=False, timeout=300)
        for c in clusters:
            engine.podman(state, "network", "rm", "--force", c.network, check=False)
    shutil.rmtree(state / "fleet", ignore_errors=True)
