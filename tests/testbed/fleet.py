"""Control planes of the local fleet: per cluster a storage etcd (Debian's etcd-server), a real
kube-apiserver (Node,RBAC authorization, PodSecurity admission) and one node (etcdops-node:
virtual-kubelet with a podman provider) on a podman bridge network of its own.

Everything listens on 127.0.0.1. One kubeconfig holds contexts testbed-1..N."""

from __future__ import annotations

import base64
import ipaddress
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


# Each cluster's podman network: 10.201.<n>.0/24 with gateway 10.201.<n>.1, n = cluster index when
# free. Clear of podman's default network (10.88.0.0/16) and of the first pools it allocates from
# (10.89.0.0/16 onwards, sequentially), and of the service range 10.96.0.0/16. The node listens on
# the gateway (port 443) and forwards to its API server: pods' kubernetes.default.svc.
POD_SUBNET_POOL = [ipaddress.ip_network(f"10.201.{n}.0/24") for n in range(1, 65)]
APISERVER_DNS = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local"]
APISERVER_IPS = ["127.0.0.1", "10.96.0.1"] + [str(net.network_address + 1) for net in POD_SUBNET_POOL]


def _cert_sans(crt: Path) -> set[str]:
    out = procs.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(crt)]).stdout.decode()
    sans = set()
    for item in out.replace("\n", ",").split(","):
        kind, _sep, value = item.strip().rpartition(":")
        if kind in ("DNS", "IP Address"):
            sans.add(value.strip())
    return sans


def fleet_pki(state: Path) -> Path:
    """One CA for the fleet; API server serving cert, kubelet client cert, node serving cert.

    The API server cert carries every pod network gateway (pods reach it through the node's forward
    there). A cert from before that is re-issued in place: kube-apiserver reloads its serving cert
    files on change (dynamic serving certificates), so no restart is needed."""
    root = state / "fleet" / "pki"
    ca_crt, ca_key = pki.ca(root / "ca", "etcdops-testbed-ca")
    api_crt = root / "apiserver" / "tls.crt"
    if not api_crt.exists() or not set(APISERVER_DNS + APISERVER_IPS) <= _cert_sans(api_crt):
        pki.issue(root / "apiserver", ca_crt, ca_key, "kube-apiserver", "server", dns=APISERVER_DNS, ips=APISERVER_IPS)
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
    ], cluster.state, ports=(port, port + 1))


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
    ], cluster.state, ports=(cluster.api_port,))


def _used_subnets(state: Path) -> list:
    """IPv4 networks in use: this engine's podman networks and the host's addresses and routes (the
    bridges of other fleets' networks while they have containers)."""
    used = []
    names = engine.podman(state, "network", "ls", "--format", "{{.Name}}").stdout.decode().split()
    if names:
        for net in json.loads(engine.podman(state, "network", "inspect", *names).stdout or b"[]"):
            for sub in net.get("subnets") or []:
                used.append(ipaddress.ip_network(sub["subnet"], strict=False))
    for argv in (["ip", "-j", "-4", "addr"], ["ip", "-j", "-4", "route"]):
        for entry in json.loads(procs.run(argv).stdout or b"[]"):
            for addr in entry.get("addr_info", []):
                used.append(ipaddress.ip_network(f"{addr['local']}/{addr['prefixlen']}", strict=False))
            if entry.get("dst", "default") != "default":
                used.append(ipaddress.ip_network(entry["dst"] if "/" in entry["dst"] else entry["dst"] + "/32", strict=False))
    return [u for u in used if u.version == 4]


def ensure_network(cluster: Cluster) -> str:
    """The cluster's podman bridge network; returns its gateway IP (where the node forwards to the API
    server). New networks get a free 10.201.<n>.0/24 (n = cluster index unless taken) and a bridge
    name of their own (etb<port base>-<index>: fleets with other state dirs share the host's network
    namespace, and podman would name every fleet's first bridge podman1). An existing network with
    another subnet (a fleet from before) is recreated when no container uses it, else kept as it is."""
    state = cluster.state
    if engine.podman(state, "network", "exists", cluster.network, check=False).returncode == 0:
        net = json.loads(engine.podman(state, "network", "inspect", cluster.network).stdout)[0]
        gateways = [s.get("gateway") for s in net.get("subnets") or [] if s.get("gateway")]
        in_pool = [g for g in gateways if any(ipaddress.ip_address(g) in p for p in POD_SUBNET_POOL)]
        if in_pool:
            return in_pool[0]
        users = engine.podman(state, "ps", "-a", "-q", "--filter", f"network={cluster.network}").stdout.split()
        if users and gateways:
            return gateways[0]  # pods run on it: keep it (the API server cert lacks this IP)
        engine.podman(state, "network", "rm", "--force", cluster.network)
    used = _used_subnets(state)
    preferred = POD_SUBNET_POOL[(cluster.index - 1) % len(POD_SUBNET_POOL)]
    for subnet in [preferred] + POD_SUBNET_POOL:
        if not any(subnet.overlaps(u) for u in used):
            break
    else:
        raise procs.TestbedError(f"no free pod subnet in 10.201.1.0/24 .. 10.201.{len(POD_SUBNET_POOL)}.0/24")
    gateway = str(subnet.network_address + 1)
    engine.libpod(state, "POST", "/networks/create", {
        "name": cluster.network, "driver": "bridge", "network_interface": f"etb{PORT_BASE}-{cluster.index}",
        "subnets": [{"subnet": str(subnet), "gateway": gateway}], "dns_enabled": True,
        "ipam_options": {"driver": "host-local"}})
    return gateway


def start_node(cluster: Cluster, pki_root: Path, insecure_registries: list[str]) -> None:
    env = engine.conf_env(cluster.state)
    gateway = ensure_network(cluster)
    node_kubeconfig = cluster.dir / "node.kubeconfig"
    config = kubeconfig_dict([cluster], pki_root / "ca" / "ca.crt", user="node")
    write_kubeconfig(node_kubeconfig, config)
    procs.start(cluster.proc("node"), [
        str(binaries.path("etcdops-node")), "--kubeconfig", str(node_kubeconfig), "--node-name", cluster.node_name,
        "--listen", f"127.0.0.1:{cluster.kubelet_port}",
        "--tls-cert-file", str(pki_root / "node" / "tls.crt"), "--tls-key-file", str(pki_root / "node" / "tls.key"),
        "--network", cluster.network, "--state-dir", str(cluster.dir / "node"), "--internal-ip", "127.0.0.1",
        "--podman-api", str(engine.socket_path(cluster.state)),
        "--apiserver-forward", f"{gateway}:443=127.0.0.1:{cluster.api_port}",
    ], cluster.state, env=env, ports=(cluster.kubelet_port,))


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


def workload_images(state: Path, registry_host: str, log=print) -> dict[str, str]:
    """The pods' images in the fleet registry: etcd-wrapper and backup-restore (our stand-ins,
    tests/testbed/go/etcd) and the base image for the v0.22 layout's init container."""
    from . import images
    refs = {}
    for key, local in (("etcd-wrapper", images.ensure_etcd_wrapper(state, binaries.path("etcd-wrapper"), log)),
                       ("backup-restore", images.ensure_backup_restore(state, binaries.path("etcdbrctl"), log)),
                       ("init", images.ensure_base(state, log))):
        repo, _sep, tag = local.rpartition("/")[2].partition(":")
        refs[key] = images.push(state, local, f"{registry_host}/testbed/{repo}:{tag}")
    return refs


def up(state: Path, count: int, etcds: list[str], members: int, registry_host: str,
       insecure_registries: list[str], log=print, shape: str = "seed", shoot_count: int | None = None) -> Path:
    """Start (or reuse) clusters 1..count with their workloads; returns the kubeconfig path.
    shape 'seed': every cluster holds the shoot namespaces of workloads.shoots_for; 'minimal':
    only the first (etcds x members); shoot_count: namespaces per cluster of a seed (workloads.shoots_for)."""
    from . import kube, workloads
    start = time.monotonic()
    binaries.ensure(log)
    shoots = {i: workloads.shoots_for(i, etcds, members, shape, shoot_count) for i in range(1, count + 1)}
    refs = workload_images(state, registry_host, log)
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
    root_ca = (pki_root / "ca" / "ca.crt").read_text()
    for c in clusters:
        workloads.save_shoots(c.dir, shoots[c.index])
        for shoot in shoots[c.index]:
            objs = workloads.manifests(shoot, refs, c.node_name, c.dir / "workload-pki" / shoot.namespace)
            kube.create(apis[c.name], objs[0])  # the namespace, then what its pods mount
            kube.publish_root_ca(apis[c.name], shoot.namespace, root_ca)
            for obj in objs[1:]:
                kube.create(apis[c.name], obj)
    for c in clusters:
        for shoot in shoots[c.index]:
            kube.wait_pods_running(apis[c.name], shoot.namespace, shoot.pods(), timeout=240)
        log(f"  {c.name}: {len(shoots[c.index])} namespace(s), {sum(len(s.pods()) for s in shoots[c.index])} etcd pods "
            f"running ({time.monotonic() - start:.1f}s)")
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
