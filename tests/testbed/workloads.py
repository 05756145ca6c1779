"""Gardener shoot control-plane etcds as etcd-druid builds them, on a seed-shaped cluster.

Per cluster several shoot namespaces (`shoot--<project>--<name>`), each with the Etcds
`etcd-main` and `etcd-events` as StatefulSets + pods shaped like etcd-druid's:
- etcd-druid >= v0.23 (gardener/etcd-druid internal/component/statefulset/builder.go @HEAD):
  `shareProcessNamespace: true` (so PID 1 is the pause process), container `etcd` running
  etcd-wrapper (`start-etcd --backup-restore-host-port=<etcd>-local:8080 ...`, no config
  file of its own: it fetches it from backup-restore and writes /home/nonroot/etcd.conf.yaml),
  container `backup-restore` (`server --server-port=8080 --cacert=... --server-cert=...`, the
  config ConfigMap mounted only here at /var/etcd/config/), TLS volumes under /var/etcd/ssl/
  and /var/etcdbr/ssl/, pod securityContext 65532 with fsGroup, ServiceAccount/Role/RoleBinding
  and member Leases as druid creates them (internal/component/{role,lease,serviceaccount}).
- etcd-druid v0.22 with etcd-wrapper (pkg/component/etcd/statefulset/{statefulset,values_helper}.go
  @v0.22.0): labels `name=etcd,instance=<etcd>`, TLS under /var/etcd/ssl/client/{ca,server,client},
  a change-permissions init container, no fsGroup.
- the ConfigMap `<etcd>-config` has one key `etcd.conf.yaml` in druid's shape
  (internal/component/configmap/etcdconfig.go): `advertise-client-urls` and
  `initial-advertise-peer-urls` are maps member name -> [urls]; member names are
  `<memberNamePrefix>-<pod>` when the Etcd has a prefix (api/core/v1alpha1/helper.go GetMemberName).
- TLS as gardener issues it (gardener pkg/component/etcd/etcd/{etcd,tls}.go): the CA only as
  `bundle.crt` in `ca-etcd-bundle-<hash>`; server SANs `<etcd>-local`, `<etcd>-client[.ns[.svc
  [.cluster.local]]]`, `*.<etcd>-peer[...]`, 127.0.0.1, ::1 (no `localhost`, no pod IP); peer TLS
  only for HA Etcds; backup-restore serves with the etcd server certificate and the same CA.
- replicas: 1 (non-HA), 3 (HA), 0 (hibernated: StatefulSet only, no pods)
  (gardener pkg/gardenlet/operation/botanist/etcd.go). Namespaces enforce PodSecurity
  `privileged` like gardener's shoot namespaces (botanist/namespaces.go); the first namespace
  of each cluster enforces `restricted` (the debug-profile tests need one), so its pods add what
  that standard demands (seccomp RuntimeDefault, capabilities drop ALL)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from . import pki, procs

NATO = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
        "kilo", "lima", "mike", "november", "oscar", "papa"]
ETCD_UID = 65532
DEFAULT_QUOTA = 8 * 1024 ** 3
CLIENT_PORT, PEER_PORT, BACKUP_PORT, WRAPPER_PORT = 2379, 2380, 8080, 9095
SHAPES = ("seed", "minimal")


@dataclasses.dataclass(frozen=True)
class Etcd:
    name: str                    # etcd-main | etcd-events
    replicas: int                # 0 hibernated, 1 non-HA, 3 HA
    prefix: str | None = None    # Etcd spec.memberNamePrefix
    quota: int = DEFAULT_QUOTA

    @property
    def ha(self) -> bool:
        return self.replicas > 1

    def pods(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(self.replicas)]

    def member(self, pod: str) -> str:
        return f"{self.prefix}-{pod}" if self.prefix else pod


@dataclasses.dataclass(frozen=True)
class Shoot:
    namespace: str
    etcds: tuple[Etcd, ...]
    layout: str = "v0.23"        # etcd-druid >= v0.23, or "v0.22" (the older layout)
    psa: str = "privileged"
    variant: str = ""            # what this namespace stands for (README, tests)

    def pods(self) -> list[str]:
        return [p for e in self.etcds for p in e.pods()]

    def etcd(self, name: str) -> Etcd:
        return next(e for e in self.etcds if e.name == name)


def namespace_for(cluster_index: int) -> str:
    """The cluster's first namespace (restricted PodSecurity, HA etcds): the tests' and faults' default."""
    return f"shoot--dev--{NATO[(cluster_index - 1) % len(NATO)]}" + ("" if cluster_index <= len(NATO) else f"{cluster_index}")


def shoots_for(cluster_index: int, etcds: list[str], members: int, shape: str = "seed",
               shoots: int | None = None) -> list[Shoot]:
    """The shoot namespaces of one cluster. 'minimal': the first namespace only (benchmarks at
    scale); 'seed': also non-HA, HA with a member name prefix, hibernated and the v0.22 layout
    (5 namespaces); with `shoots` above 5, that many namespaces in all: the rest are extra shoots
    (see extra_shoots) as a seed hosting many shoot control planes holds them."""
    if shape not in SHAPES:
        raise procs.TestbedError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if shoots is not None and (shape != "seed" or not 5 <= shoots <= 500):
        raise procs.TestbedError(f"shoots needs shape seed and 5..500 namespaces, got {shoots!r} with shape {shape!r}")
    first = Shoot(namespace_for(cluster_index), tuple(Etcd(e, members) for e in etcds), psa="restricted",
                  variant=f"{'HA' if members > 1 else 'non-HA'}, restricted PodSecurity")
    if shape == "minimal":
        return [first]
    name = NATO[(cluster_index - 1) % len(NATO)] + ("" if cluster_index <= len(NATO) else str(cluster_index))
    seed = f"testbed-{cluster_index}"  # gardener sets the prefix to the seed's name
    return [
        first,
        Shoot(f"shoot--prod--{name}", (Etcd("etcd-main", 1), Etcd("etcd-events", 1)), variant="non-HA"),
        Shoot(f"shoot--prod--{name}-ha", (Etcd("etcd-main", 3, prefix=seed), Etcd("etcd-events", 3, prefix=seed)),
              variant="HA, member name prefix"),
        Shoot(f"shoot--prod--{name}-hib", (Etcd("etcd-main", 0), Etcd("etcd-events", 0)), variant="hibernated"),
        Shoot(f"shoot--old--{name}", (Etcd("etcd-main", 1), Etcd("etcd-events", 1)), layout="v0.22",
              variant="etcd-druid v0.22 layout, non-HA"),
    ] + extra_shoots(name, (shoots or 5) - 5)


def extra_shoots(name: str, count: int) -> list[Shoot]:
    """`count` more shoot control planes for a seed-scale fleet: gardener makes a shoot's etcds
    HA only when its spec asks for failure tolerance (botanist/etcd.go: replicas 3, else 1), so
    most are single-member; here every 4th is HA (3 + 3 members), every 10th hibernated (replicas
    0), the rest non-HA (1 + 1), spread over four projects. About 2.6 members per shoot."""
    out = []
    for k in range(1, count + 1):
        ns = f"shoot--p{k % 4}--{name}-{k}"
        if k % 10 == 0:
            out.append(Shoot(ns, (Etcd("etcd-main", 0), Etcd("etcd-events", 0)), variant="hibernated"))
        elif k % 4 == 0:
            out.append(Shoot(ns, (Etcd("etcd-main", 3), Etcd("etcd-events", 3)), variant="HA"))
        else:
            out.append(Shoot(ns, (Etcd("etcd-main", 1), Etcd("etcd-events", 1)), variant="non-HA"))
    return out


def save_shoots(cluster_dir: Path, shoots: list[Shoot]) -> None:
    cluster_dir.mkdir(parents=True, exist_ok=True)
    (cluster_dir / "shoots.json").write_text(json.dumps([dataclasses.asdict(s) for s in shoots], indent=1))


def load_shoots(cluster_dir: Path) -> list[Shoot]:
    path = cluster_dir / "shoots.json"
    if not path.exists():
        return []
    return [Shoot(**dict(s, etcds=tuple(Etcd(**e) for e in s["etcds"]))) for s in json.loads(path.read_text())]


def find_shoot(cluster_dir: Path, namespace: str) -> Shoot:
    for shoot in load_shoots(cluster_dir):
        if shoot.namespace == namespace:
            return shoot
    raise procs.TestbedError(f"namespace {namespace} is not part of the fleet in {cluster_dir}")


def labels(etcd: str, layout: str = "v0.23") -> dict[str, str]:
    """Pod labels: druid's own plus gardener's Etcd spec.labels (gardener etcd.go)."""
    gardener = {"gardener.cloud/role": "controlplane", "role": etcd.removeprefix("etcd-"), "app": "etcd-statefulset"}
    if layout == "v0.22":
        return {"name": "etcd", "instance": etcd, **gardener}
    return {"app.kubernetes.io/name": etcd, "app.kubernetes.io/part-of": etcd,
            "app.kubernetes.io/component": "etcd-statefulset", "app.kubernetes.io/managed-by": "etcd-druid", **gardener}


def _selector_keys(layout: str) -> tuple[str, ...]:
    """The StatefulSet's selector labels (druid: managed-by + part-of; v0.22: name + instance)."""
    return ("name", "instance") if layout == "v0.22" else ("app.kubernetes.io/managed-by", "app.kubernetes.io/part-of")


def selector(etcd: str, layout: str = "v0.23") -> str:
    """A label selector for one etcd's pods."""
    return f"instance={etcd},name=etcd" if layout == "v0.22" else f"app.kubernetes.io/part-of={etcd}"


def peer_host(etcd: str, member: int | str, namespace: str) -> str:
    pod = member if isinstance(member, str) else f"{etcd}-{member}"
    return f"{pod}.{etcd}-peer.{namespace}.svc"


def heartbeat_ms() -> int:
    """etcd's heartbeat interval in the fleet: 100 ms (etcd's and etcd-druid's default) unless
    TESTBED_ETCD_HEARTBEAT_MS says otherwise. The election timeout is always 10 heartbeats.
    Idle members cost CPU in proportion to it: ~2 % of a core each at 100 ms, so a 12-cluster
    fleet (72 members) on 2 cores is only measurable with a slower heartbeat (benchmarks)."""
    value = os.environ.get("TESTBED_ETCD_HEARTBEAT_MS", "100")
    if not value.isdigit() or not 10 <= int(value) <= 5000:
        raise procs.TestbedError(f"TESTBED_ETCD_HEARTBEAT_MS must be 10..5000, got {value!r}")
    return int(value)


def _paths(layout: str) -> dict[str, str]:
    """Mount paths per layout (druid common/constants.go @HEAD; v0.22 statefulset.go)."""
    if layout == "v0.22":
        return {"ca": "/var/etcd/ssl/client/ca", "server": "/var/etcd/ssl/client/server",
                "client": "/var/etcd/ssl/client/client", "br_ca": "/var/etcd/ssl/client/ca",
                "br_server": "/var/etcd/ssl/client/server"}
    return {"ca": "/var/etcd/ssl/ca", "server": "/var/etcd/ssl/server", "client": "/var/etcd/ssl/client",
            "br_ca": "/var/etcdbr/ssl/ca", "br_server": "/var/etcdbr/ssl/server"}


def ca_key(shoot: Shoot) -> str:
    """The CA's data key: gardener's bundle.crt; the v0.22 namespace uses druid's default ca.crt."""
    return "ca.crt" if shoot.layout == "v0.22" else "bundle.crt"


def etcd_config(shoot: Shoot, etcd: Etcd) -> str:
    """The ConfigMap's etcd.conf.yaml, as druid writes it (configmap/etcdconfig.go @HEAD): one
    document for all members; backup-restore fills in the member's own name and URLs."""
    heartbeat = heartbeat_ms()
    peer_scheme = "https" if etcd.ha else "http"
    paths = _paths(shoot.layout)
    domain = f"{etcd.name}-peer.{shoot.namespace}.svc"
    cluster = ",".join(f"{etcd.member(p)}={peer_scheme}://{p}.{domain}:{PEER_PORT}" for p in etcd.pods())
    client_urls = "".join(f"  {etcd.member(p)}:\n  - https://{p}.{domain}:{CLIENT_PORT}\n" for p in etcd.pods())
    peer_urls = "".join(f"  {etcd.member(p)}:\n  - {peer_scheme}://{p}.{domain}:{PEER_PORT}\n" for p in etcd.pods())
    text = f"""name: etcd-config
data-dir: /var/etcd/data/new.etcd
metrics: basic
snapshot-count: 10000
enable-grpc-gateway: false
quota-backend-bytes: {etcd.quota}
initial-cluster-token: etcd-cluster
initial-cluster-state: new
initial-cluster: {cluster}
auto-compaction-mode: periodic
auto-compaction-retention: 30m
listen-peer-urls: {peer_scheme}://0.0.0.0:{PEER_PORT}
listen-client-urls: https://0.0.0.0:{CLIENT_PORT}
initial-advertise-peer-urls:
{peer_urls}advertise-client-urls:
{client_urls}client-transport-security:
  cert-file: {paths['server']}/tls.crt
  key-file: {paths['server']}/tls.key
  client-cert-auth: true
  trusted-ca-file: {paths['ca']}/{ca_key(shoot)}
  auto-tls: false
"""
    if etcd.ha:
        text += """peer-transport-security:
  cert-file: /var/etcd/ssl/peer/server/tls.crt
  key-file: /var/etcd/ssl/peer/server/tls.key
  client-cert-auth: true
  trusted-ca-file: /var/etcd/ssl/peer/ca/bundle.crt
  auto-tls: false
"""
    if etcd.prefix:
        text += f"member-name-prefix: {etcd.prefix}\n"
    text += "next-cluster-version-compatible: true\n"
    # not in druid's ConfigMap: the fleet's heartbeat (etcd's defaults are druid's defaults, 100/1000 ms)
    text += f"heartbeat-interval: {heartbeat}\nelection-timeout: {heartbeat * 10}\n"
    return text


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def server_sans(etcd: str, namespace: str) -> list[str]:
    """gardener pkg/component/etcd/etcd/tls.go: the client service, the peer service's pods, -local."""
    client = f"{etcd}-client"
    peer = f"{etcd}-peer"
    return [f"{etcd}-local", client, f"{client}.{namespace}", f"{client}.{namespace}.svc",
            f"{client}.{namespace}.svc.cluster.local", f"*.{peer}", f"*.{peer}.{namespace}",
            f"*.{peer}.{namespace}.svc", f"*.{peer}.{namespace}.svc.cluster.local"]


def make_pki(root: Path, shoot: Shoot) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """({secret name: {file: content}}, {role: secret name}) for one namespace (cached on disk
    under root); roles: ca, peer-ca, <etcd>/server|client|peer. The CA secrets carry the CA
    only (server/client secrets skip publishing it, as gardener's do)."""
    root.mkdir(parents=True, exist_ok=True)
    ns = shoot.namespace
    ca_crt, ca_key_path = pki.ca(root / "ca", f"ca-etcd-{ns}")
    ca_text = ca_crt.read_text()
    refs = {"ca": f"ca-etcd-bundle-{_short_hash(ca_text)}" if shoot.layout != "v0.22" else "ca-etcd"}
    out = {refs["ca"]: {ca_key(shoot): ca_text}}
    if any(e.ha for e in shoot.etcds):
        peer_crt, _peer_key = pki.ca(root / "peer-ca", f"ca-etcd-peer-{ns}")
        refs["peer-ca"] = f"ca-etcd-peer-bundle-{_short_hash(peer_crt.read_text())}"
        out[refs["peer-ca"]] = {"bundle.crt": peer_crt.read_text()}
    for etcd in shoot.etcds:
        kinds = [("server", "server,client", server_sans(etcd.name, ns), f"{etcd.name}-server"),
                 ("client", "client", [], "etcd-client")]
        if etcd.ha:
            kinds.append(("peer", "server,client", server_sans(etcd.name, ns), f"{etcd.name}-peer"))
        for kind, usage, names, cn in kinds:
            target = root / etcd.name / kind
            signer = (root / "peer-ca" / "ca.crt", root / "peer-ca" / "ca.key") if kind == "peer" else (ca_crt, ca_key_path)
            if not (target / "tls.crt").exists():
                pki.issue(target, *signer, cn, usage, dns=names, ips=["127.0.0.1", "::1"] if names else [])
            files = {"tls.crt": (target / "tls.crt").read_text(), "tls.key": (target / "tls.key").read_text()}
            refs[f"{etcd.name}/{kind}"] = secret_name(etcd.name, kind, files["tls.crt"])
            out[refs[f"{etcd.name}/{kind}"]] = files
    return out, refs


def secret_name(etcd: str, kind: str, content: str) -> str:
    role = etcd.removeprefix("etcd-")
    return {"server": f"etcd-server-{role}", "client": f"etcd-client-{role}", "peer": f"etcd-peer-server-{role}"}[kind] \
        + f"-{_short_hash(content)}"


def secret(namespace: str, name: str, files: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": {"managed-by": "secrets-manager"}},
            "stringData": files}


def _secret_volume(name: str, secret_name_: str, mode: int | None) -> dict:
    source = {"secretName": secret_name_}
    if mode is not None:
        source["defaultMode"] = mode
    return {"name": name, "secret": source}


def pod_template(shoot: Shoot, etcd: Etcd, images: dict[str, str], secrets: dict[str, str]) -> dict:
    """The pod template of the Etcd's StatefulSet. secrets: kind -> secret name (ca, server,
    client, peer-ca, peer)."""
    ns, name, layout = shoot.namespace, etcd.name, shoot.layout
    paths = _paths(layout)
    v22 = layout == "v0.22"
    mode = None if v22 else 0o640  # druid >= v0.23: common.ModeOwnerReadWriteGroupRead
    vol = {"ca": "client-url-ca-etcd" if v22 else "etcd-ca",
           "server": "client-url-etcd-server-tls" if v22 else "etcd-server-tls",
           "client": "client-url-etcd-client-tls" if v22 else "etcd-client-tls",
           "peer-ca": "peer-url-ca-etcd" if v22 else "etcd-peer-ca",
           "peer": "peer-url-etcd-server-tls" if v22 else "etcd-peer-server-tls"}
    data = {"name": name, "mountPath": "/var/etcd/data/" if v22 else "/var/etcd/data"}
    etcd_args = ["start-etcd", f"--backup-restore-host-port={name}-local:{BACKUP_PORT}", f"--etcd-server-name={name}-local",
                 "--backup-restore-tls-enabled=true"]
    if v22:  # values_helper.go getEtcdCommandArgs @v0.22.0
        etcd_args += [f"--etcd-client-cert-path={paths['client']}/tls.crt", f"--etcd-client-key-path={paths['client']}/tls.key",
                      f"--backup-restore-ca-cert-bundle-path={paths['br_ca']}/{ca_key(shoot)}"]
    else:  # builder.go getEtcdContainerCommandArgs @HEAD
        etcd_args += [f"--backup-restore-ca-cert-bundle-path={paths['br_ca']}/{ca_key(shoot)}",
                      f"--etcd-client-cert-path={paths['client']}/tls.crt", f"--etcd-client-key-path={paths['client']}/tls.key",
                      f"--etcd-client-port={CLIENT_PORT}", f"--etcd-wrapper-port={WRAPPER_PORT}"]
    etcd_mounts = [data,
                   {"name": vol["ca"], "mountPath": paths["ca"]},
                   {"name": vol["server"], "mountPath": paths["server"]},
                   {"name": vol["client"], "mountPath": paths["client"]}]
    if etcd.ha:
        etcd_mounts += [{"name": vol["peer-ca"], "mountPath": "/var/etcd/ssl/peer/ca"},
                        {"name": vol["peer"], "mountPath": "/var/etcd/ssl/peer/server"}]
    if not v22:
        etcd_mounts.append({"name": "backup-restore-ca", "mountPath": paths["br_ca"]})
    br_args = ["server", f"--server-port={BACKUP_PORT}"] if not v22 else ["server"]
    br_args += ["--enable-snapshot-lease-renewal=true", f"--full-snapshot-lease-name={name}-full-snap",
                f"--delta-snapshot-lease-name={name}-delta-snap", "--storage-provider=Local",
                f"--store-prefix={ns}--{name}", "--schedule=0 */24 * * *", "--delta-snapshot-period=5m",
                "--delta-snapshot-memory-limit=104857600", "--garbage-collection-policy=Exponential",
                "--compress-snapshots=true", "--compression-policy=gzip", "--etcd-snapshot-timeout=15m",
                "--etcd-defrag-timeout=15m", "--defragmentation-schedule=0 3 * * *",
                "--auto-compaction-mode=periodic", "--auto-compaction-retention=30m",
                f"--cacert={paths['ca']}/{ca_key(shoot)}", f"--cert={paths['client']}/tls.crt",
                f"--key={paths['client']}/tls.key", "--insecure-transport=false", "--insecure-skip-tls-verify=false",
                f"--endpoints=https://{name}-local:{CLIENT_PORT}",
                f"--service-endpoints=https://{name}-client:{CLIENT_PORT}",
                f"--server-cert={paths['br_server']}/tls.crt", f"--server-key={paths['br_server']}/tls.key",
                "--data-dir=/var/etcd/data/new.etcd", "--restoration-temp-snapshots-dir=/var/etcd/data/restoration.temp",
                "--snapstore-temp-directory=/var/etcd/data/temp", "--etcd-connection-timeout=5m",
                "--use-etcd-wrapper=true", "--enable-member-lease-renewal=true", "--k8s-heartbeat-duration=10s",
                f"--embedded-etcd-quota-bytes={etcd.quota}"]
    store = f"/home/nonroot/{ns}--{name}"
    br_mounts = [data, {"name": "etcd-config-file", "mountPath": "/var/etcd/config/"}]
    if v22:
        br_mounts += [{"name": vol["ca"], "mountPath": paths["ca"]}, {"name": vol["server"], "mountPath": paths["server"]},
                      {"name": vol["client"], "mountPath": paths["client"]}]
    else:
        br_mounts += [{"name": "backup-restore-server-tls", "mountPath": paths["br_server"]},
                      {"name": vol["ca"], "mountPath": paths["ca"]}, {"name": vol["client"], "mountPath": paths["client"]}]
    br_mounts.append({"name": "host-storage" if v22 else "local-backup", "mountPath": store})
    container_security = {"allowPrivilegeEscalation": False}
    if shoot.psa == "restricted":  # what the restricted standard demands beyond druid's pods
        container_security["capabilities"] = {"drop": ["ALL"]}
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
           {"name": "STORAGE_CONTAINER", "value": f"{ns}--{name}"}]
    volumes = [
        {"name": "etcd-config-file", "configMap": {"name": f"{name}-config", "defaultMode": 0o644 if v22 else 0o640,
                                                   "items": [{"key": "etcd.conf.yaml", "path": "etcd.conf.yaml"}]}},
        {"name": name, "emptyDir": {}},  # a PVC from the volumeClaimTemplate in druid's StatefulSet
        _secret_volume(vol["ca"], secrets["ca"], mode),
        _secret_volume(vol["server"], secrets[f"{name}/server"], mode),
        _secret_volume(vol["client"], secrets[f"{name}/client"], mode),
        {"name": "host-storage" if v22 else "local-backup", "emptyDir": {}},  # a hostPath for the Local provider
    ]
    if etcd.ha:
        volumes += [_secret_volume(vol["peer-ca"], secrets["peer-ca"], mode), _secret_volume(vol["peer"], secrets[f"{name}/peer"], mode)]
    if not v22:  # gardener points Backup.TLS at the etcd's CA/server/client secrets (etcd.go)
        volumes += [_secret_volume("backup-restore-ca", secrets["ca"], mode),
                    _secret_volume("backup-restore-server-tls", secrets[f"{name}/server"], mode),
                    _secret_volume("backup-restore-client-tls", secrets[f"{name}/client"], mode)]
    probe_scheme = "HTTPS"
    etcd_container = {
        "name": "etcd", "image": images["etcd-wrapper"], "imagePullPolicy": "IfNotPresent", "args": etcd_args,
        "ports": [{"name": "server", "containerPort": PEER_PORT, "protocol": "TCP"},
                  {"name": "client", "containerPort": CLIENT_PORT, "protocol": "TCP"}],
        "securityContext": dict(container_security), "volumeMounts": etcd_mounts,
    }
    if not v22:
        etcd_container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": WRAPPER_PORT, "scheme": probe_scheme},
                                            "initialDelaySeconds": 15, "periodSeconds": 5, "failureThreshold": 5}
    spec = {
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": [f"{name}-local"]}],
        "shareProcessNamespace": True,
        "subdomain": f"{name}-peer",
        "serviceAccountName": name,
        "containers": [etcd_container, {
            "name": "backup-restore", "image": images["backup-restore"], "imagePullPolicy": "IfNotPresent",
            "args": br_args, "env": env,
            "ports": [{"name": "server", "containerPort": BACKUP_PORT, "protocol": "TCP"}],
            "securityContext": dict(container_security), "volumeMounts": br_mounts,
        }],
        "volumes": volumes,
    }
    if v22:
        spec["securityContext"] = {"runAsUser": ETCD_UID, "runAsGroup": ETCD_UID, "runAsNonRoot": True}
        spec["initContainers"] = [{
            "name": "change-permissions", "image": images["init"], "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", "--"], "args": [f"chown -R {ETCD_UID}:{ETCD_UID} /var/etcd/data {store}"],
            "volumeMounts": [data, {"name": "host-storage", "mountPath": store}],
            "securityContext": {"runAsGroup": 0, "runAsNonRoot": False, "runAsUser": 0}}]
    else:
        spec["securityContext"] = {"runAsUser": ETCD_UID, "runAsGroup": ETCD_UID, "runAsNonRoot": True,
                                   "fsGroup": ETCD_UID, "fsGroupChangePolicy": "OnRootMismatch"}
    if shoot.psa == "restricted":
        spec["securityContext"]["seccompProfile"] = {"type": "RuntimeDefault"}
    return {"metadata": {"labels": labels(name, layout)}, "spec": spec}


def _owned(obj: dict, etcd: str, layout: str) -> dict:
    obj["metadata"].setdefault("labels", {}).update(labels(etcd, layout) if layout == "v0.22" else
                                                    {"app.kubernetes.io/managed-by": "etcd-druid",
                                                     "app.kubernetes.io/part-of": etcd})
    return obj


def manifests(shoot: Shoot, images: dict[str, str], node: str, pki_root: Path) -> list[dict]:
    """Every object of one shoot namespace, in creation order (pods last). images: etcd-wrapper,
    backup-restore, init (a image with sh, for the v0.22 init container)."""
    ns = shoot.namespace
    objs: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
            "gardener.cloud/role": "shoot",
            "pod-security.kubernetes.io/enforce": shoot.psa,
            "pod-security.kubernetes.io/enforce-version": "latest"}}},
        # no controller-manager runs: create the default ServiceAccount ourselves (fleet.up publishes
        # kube-root-ca.crt before the pods start)
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}},
    ]
    files_by_secret, secrets = make_pki(pki_root, shoot)
    for sname, files in files_by_secret.items():
        objs.append(secret(ns, sname, files))
    for etcd in shoot.etcds:
        name, layout = etcd.name, shoot.layout
        lab = labels(name, layout)
        objs.append(_owned({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config", "namespace": ns},
                            "data": {"etcd.conf.yaml": etcd_config(shoot, etcd)}}, name, layout))
        # druid: ServiceAccount <etcd>, Role/RoleBinding druid.gardener.cloud:etcd:<etcd> (role.go, rolebinding.go)
        objs.append(_owned({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
                           name, layout))
        rbac_name = f"druid.gardener.cloud:etcd:{name}"
        objs.append(_owned({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                            "metadata": {"name": rbac_name, "namespace": ns},
                            "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                                       "verbs": ["get", "list", "patch", "update", "watch"]},
                                      {"apiGroups": ["apps"], "resources": ["statefulsets"],
                                       "verbs": ["get", "list", "patch", "update", "watch"]},
                                      {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]},
                           name, layout))
        objs.append(_owned({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                            "metadata": {"name": rbac_name, "namespace": ns},
                            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": rbac_name},
                            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}, name, layout))
        # member Leases named after the members (<prefix>-<pod>: api/core/v1alpha1/helper.go
        # GetMemberLeaseNames), snapshot Leases (druid's lease components)
        for lease in [etcd.member(p) for p in etcd.pods()] + [f"{name}-full-snap", f"{name}-delta-snap"]:
            objs.append(_owned({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": lease, "namespace": ns}, "spec": {}}, name, layout))
        objs.append(_owned({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": f"{name}-client", "namespace": ns, "labels": dict(lab)},
                            "spec": {"selector": lab, "ports": [
                                {"name": "client", "port": CLIENT_PORT, "targetPort": CLIENT_PORT},
                                {"name": "server", "port": PEER_PORT, "targetPort": PEER_PORT},
                                {"name": "backuprestore", "port": BACKUP_PORT, "targetPort": BACKUP_PORT}]}}, name, layout))
        objs.append(_owned({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": f"{name}-peer", "namespace": ns, "labels": dict(lab)},
                            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": lab,
                                     "ports": [{"name": "peer", "port": PEER_PORT, "targetPort": PEER_PORT}]}},
                           name, layout))
        template = pod_template(shoot, etcd, images, secrets)
        objs.append(_owned({"apiVersion": "apps/v1", "kind": "StatefulSet",
                            "metadata": {"name": name, "namespace": ns, "labels": dict(lab)},
                            "spec": {"replicas": etcd.replicas, "serviceName": f"{name}-peer",
                                     "podManagementPolicy": "Parallel",
                                     "selector": {"matchLabels": {k: lab[k] for k in _selector_keys(layout)}},
                                     "template": template}}, name, layout))
        for pod in etcd.pods():
            objs.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": pod, "namespace": ns,
                                      "labels": dict(lab, **{"statefulset.kubernetes.io/pod-name": pod})},
                         "spec": dict(template["spec"], hostname=pod, nodeName=node)})
    return objs


def wipe_pki(pki_root: Path) -> None:
    shutil.rmtree(pki_root, ignore_errors=True)
