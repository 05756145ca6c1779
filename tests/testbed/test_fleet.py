"""Smoke tests of the local fleet with the Python kubernetes client: real kube-apiserver
(ephemeral containers subresource, PodSecurity admission, exec streaming), a podman-backed
virtual-kubelet node, seed-shaped shoot namespaces whose etcd pods are built as etcd-druid
builds them (etcd-wrapper and backup-restore stand-ins, shared PID namespace, TLS)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from testbed import faults, kube, procs, workloads
from testbed import fleet as fleet_mod

TLS_MOUNTS = [
    {"name": "etcd-ca", "mountPath": "/var/etcd/ssl/ca", "readOnly": True},
    {"name": "etcd-client-tls", "mountPath": "/var/etcd/ssl/client", "readOnly": True},
]
RESTRICTED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}}


def add_ephemeral(api, namespace: str, pod: str, container: dict) -> None:
    """Pod-shaped strategic-merge patch on pods/ephemeralcontainers (a bare container adds nothing)."""
    client.CoreV1Api(api).patch_namespaced_pod_ephemeralcontainers(
        pod, namespace, {"spec": {"ephemeralContainers": [container]}})


def ephemeral_status(api, namespace: str, pod: str, name: str):
    current = client.CoreV1Api(api).read_namespaced_pod(pod, namespace)
    return next((s for s in current.status.ephemeral_container_statuses or [] if s.name == name), None)


def wait_ephemeral(api, namespace: str, pod: str, name: str, predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = ephemeral_status(api, namespace, pod, name)
        if status is not None and predicate(status):
            return status
        time.sleep(0.5)
    raise AssertionError(f"ephemeral container {name} never matched; last status: {status}")


@pytest.fixture(scope="module")
def debug_container(fleet, fleet_debug_image):
    """One restricted-profile debug container on etcd-main-0 of cluster 1, TLS mounted."""
    api, ns = fleet["api"]("testbed-1"), workloads.namespace_for(1)
    name = "smoke-debug"
    if ephemeral_status(api, ns, "etcd-main-0", name) is None:
        add_ephemeral(api, ns, "etcd-main-0", {
            "name": name, "image": fleet_debug_image, "targetContainerName": "etcd",
            "command": ["sleep", "infinity"], "stdin": False, "tty": False,
            "securityContext": RESTRICTED, "volumeMounts": TLS_MOUNTS})
    wait_ephemeral(api, ns, "etcd-main-0", name, lambda s: s.state and s.state.running)
    return api, ns, name


def test_every_cluster_runs_its_etcd_pods(fleet):
    for context in fleet["contexts"]:
        api = fleet["api"](context)
        version = client.VersionApi(api).get_code()
        assert version.git_version.startswith("v1.36."), version.git_version
        shoots = workloads.shoots_for(int(context.rsplit("-", 1)[1]), fleet["etcds"], fleet["members"])
        ours = {s.namespace for s in shoots}  # other tests may add namespaces of their own
        pods = [p for p in kube.pods(api, selector="app=etcd-statefulset,gardener.cloud/role=controlplane")
                if p.metadata.namespace in ours]
        assert sorted((p.metadata.namespace, p.metadata.name) for p in pods) == \
            sorted((s.namespace, pod) for s in shoots for pod in s.pods())
        assert all(kube.pod_running(p) for p in pods)
        # every variant of a seed: HA, non-HA, member name prefix, hibernated (no pods), the v0.22 layout
        assert {len(e.pods()) for s in shoots for e in s.etcds} == {0, 1, 3}
        assert any(e.prefix for s in shoots for e in s.etcds) and {s.layout for s in shoots} == {"v0.23", "v0.22"}
        for shoot in shoots:
            ns = client.CoreV1Api(api).read_namespace(shoot.namespace)
            assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == shoot.psa
        assert [s.psa for s in shoots].count("restricted") == 1
        apps = client.AppsV1Api(api)
        hibernated = [s for s in shoots if s.pods() == []][0]
        assert [apps.read_namespaced_stateful_set(e.name, hibernated.namespace).spec.replicas for e in hibernated.etcds] == [0, 0]


def test_pods_are_shaped_as_etcd_druid_builds_them(fleet):
    """etcd-druid internal/component/statefulset/builder.go: shared PID namespace, etcd-wrapper's
    args, the config mounted only into backup-restore, TLS paths, the backup-restore port name."""
    api = fleet["api"]("testbed-1")
    shoot = [s for s in workloads.shoots_for(1, fleet["etcds"], fleet["members"]) if any(e.prefix for e in s.etcds)][0]
    pod = client.CoreV1Api(api).read_namespaced_pod("etcd-main-0", shoot.namespace)
    assert pod.spec.share_process_namespace is True and pod.spec.service_account_name == "etcd-main"
    etcd, br = pod.spec.containers
    assert etcd.args[0] == "start-etcd" and "--backup-restore-host-port=etcd-main-local:8080" in etcd.args
    assert "--etcd-client-port=2379" in etcd.args and not any(a.startswith("--config-file") for a in etcd.args)
    assert "/var/etcd/config" not in {m.mount_path.rstrip("/") for m in etcd.volume_mounts}
    assert "/var/etcd/config" in {m.mount_path.rstrip("/") for m in br.volume_mounts}
    assert br.args[0] == "server" and "--cacert=/var/etcd/ssl/ca/bundle.crt" in br.args
    assert [p.name for p in br.ports] == ["server"] and br.ports[0].container_port == 8080
    # member Leases as backup-restore renews them: <prefix>-<pod>, holder <member id>:<cluster id>:Leader|Member
    leases = client.CoordinationV1Api(api).list_namespaced_lease(shoot.namespace).items
    holders = {lease.metadata.name: lease.spec.holder_identity for lease in leases}
    members = [f"testbed-1-etcd-main-{i}" for i in range(3)]
    deadline = time.monotonic() + 60
    while not all(holders.get(m) for m in members) and time.monotonic() < deadline:
        time.sleep(2)
        holders = {x.metadata.name: x.spec.holder_identity for x in client.CoordinationV1Api(api).list_namespaced_lease(shoot.namespace).items}
    roles = sorted(holders[m].rsplit(":", 1)[1] for m in members)
    assert roles == ["Leader", "Member", "Member"], holders


def test_etcd_container_has_no_shell(fleet):
    api, ns = fleet["api"]("testbed-1"), workloads.namespace_for(1)
    rc, out, err = kube.exec_argv(api, ns, "etcd-main-0", "etcd", ["sh", "-c", "true"])
    assert rc != 0


def test_ephemeral_debug_container_reaches_etcd_over_tls(debug_container):
    api, ns, name = debug_container
    rc, out, err = kube.exec_argv(api, ns, "etcd-main-0", name, [
        "etcdctl", "--endpoints=https://etcd-main-local:2379", "--cacert=/var/etcd/ssl/ca/bundle.crt",
        "--cert=/var/etcd/ssl/client/tls.crt", "--key=/var/etcd/ssl/client/tls.key",
        "endpoint", "status", "--cluster", "-w", "json"])
    assert rc == 0, err
    members = json.loads(out)
    assert len(members) == 3
    assert len({m["Status"]["header"]["member_id"] for m in members}) == 3
    assert len({m["Status"]["leader"] for m in members}) == 1


def test_exec_exit_code_and_large_output(debug_container):
    api, ns, name = debug_container
    assert kube.exec_argv(api, ns, "etcd-main-0", name, ["sh", "-c", "exit 3"])[0] == 3
    rc, out, _err = kube.exec_argv(api, ns, "etcd-main-0", name, ["sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' a"])
    assert rc == 0 and len(out) == 1048576 and set(out) == {"a"}


def test_debug_container_sees_target_process(debug_container):
    api, ns, name = debug_container
    rc, out, _err = kube.exec_argv(api, ns, "etcd-main-0", name, ["ps", "-eo", "pid,user,comm,args"])
    assert rc == 0
    rows = [line.split(None, 3) for line in out.splitlines()[1:]]
    # shareProcessNamespace: PID 1 is the pod's pause process, etcd-wrapper and backup-restore beside it
    assert rows[0][0] == "1" and rows[0][2] not in ("etcd-wrapper", "etcd"), out
    wrapper = [r for r in rows if r[2] == "etcd-wrapper"]
    assert wrapper and wrapper[0][3].startswith("/etcd-wrapper start-etcd"), out
    assert [r for r in rows if r[2] == "etcdbrctl"], out
    pid = wrapper[0][0]
    rc, out, _err = kube.exec_argv(api, ns, "etcd-main-0", name, ["ls", f"/proc/{pid}/root/var/etcd/ssl/client"])
    assert rc == 0 and "tls.crt" in out.split()
    # the config etcd-wrapper fetched from backup-restore's /config: this member's name and URLs
    rc, out, _err = kube.exec_argv(api, ns, "etcd-main-0", name, ["cat", f"/proc/{pid}/root/home/nonroot/etcd.conf.yaml"])
    assert rc == 0 and "name: etcd-main-0" in out.splitlines(), out
    assert f"advertise-client-urls: https://etcd-main-0.etcd-main-peer.{ns}.svc:2379" in out.splitlines(), out


def test_unknown_image_shows_err_image_pull(fleet):
    api, ns = fleet["api"]("testbed-1"), workloads.namespace_for(1)
    name = "smoke-missing-image"
    if ephemeral_status(api, ns, "etcd-main-1", name) is None:
        add_ephemeral(api, ns, "etcd-main-1", {
            "name": name, "image": f"{fleet['registry']}/etcd-wrapper/does-not-exist:1", "targetContainerName": "etcd",
            "securityContext": RESTRICTED})
    status = wait_ephemeral(api, ns, "etcd-main-1", name,
                            lambda s: s.state and s.state.waiting and s.state.waiting.reason in ("ErrImagePull", "ImagePullBackOff"))
    assert "does-not-exist" in (status.state.waiting.message or "")


def test_privileged_debug_container_rejected_by_admission(fleet, fleet_debug_image):
    api, ns = fleet["api"]("testbed-1"), workloads.namespace_for(1)
    with pytest.raises(ApiException) as err:
        add_ephemeral(api, ns, "etcd-main-2", {
            "name": "smoke-privileged", "image": fleet_debug_image, "targetContainerName": "etcd",
            "securityContext": {"privileged": True}})
    assert err.value.status == 403
    assert "violates PodSecurity" in err.value.body and "restricted" in err.value.body
    assert ephemeral_status(api, ns, "etcd-main-2", "smoke-privileged") is None


# ---------------------------------------------------------------- fault injection (real faults, then heal)


def member_endpoints(state, cluster: int, etcd: str) -> tuple[int, list]:
    proc = faults.etcdctl(state, cluster, etcd, "endpoint", "status", "-w", "json", all_members=True)
    try:
        return proc.returncode, json.loads(proc.stdout or "[]")
    except ValueError:
        return proc.returncode, []


def test_fault_stop_member_holds_until_healed(fleet, state):
    api, ns = fleet["api"]("testbed-1"), workloads.namespace_for(1)
    try:
        assert "etcd-events-1 etcd stopped" in faults.stop_member(state, 1, "etcd-events", 1)
        time.sleep(12)  # longer than the first CrashLoopBackOff: a held member is not restarted
        pod = client.CoreV1Api(api).read_namespaced_pod("etcd-events-1", ns)
        etcd = next(s for s in pod.status.container_statuses if s.name == "etcd")
        assert etcd.state.terminated is not None and etcd.ready is False
        rc, members = member_endpoints(state, 1, "etcd-events")
        assert rc == 1 and len(members) == 2  # etcdctl: 'Failed to get the status of endpoint'
    finally:
        faults.heal(state, 1)
    kube.wait_pods_running(api, ns, ["etcd-events-1"], timeout=60)
    deadline = time.monotonic() + 30
    while member_endpoints(state, 1, "etcd-events")[0] != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert len(member_endpoints(state, 1, "etcd-events")[1]) == 3


def test_fault_nospace_raises_a_real_alarm(fleet, state):
    try:
        faults.nospace(state, 2, "etcd-events")
        alarms = faults.etcdctl(state, 2, "etcd-events", "alarm", "list", "-w", "json")
        assert {a["alarm"] for a in json.loads(alarms.stdout)["alarms"]} == {1}  # 1 = NOSPACE
        put = faults.etcdctl(state, 2, "etcd-events", "put", "k", "v")
        assert put.returncode != 0 and "database space exceeded" in put.stderr
    finally:
        faults.heal(state, 2)
    assert json.loads(faults.etcdctl(state, 2, "etcd-events", "alarm", "list", "-w", "json").stdout).get("alarms") is None


def backup_get(state, api, ns: str, pod: str, path: str = "/healthz") -> tuple[int, str]:
    """GET backup-restore over HTTPS by pod IP (its certificate names <etcd>-local and the
    services, not the pod IP: verified against the namespace's CA without the host name)."""
    ip = client.CoreV1Api(api).read_namespaced_pod(pod, ns).status.pod_ip
    ctx = ssl.create_default_context(cafile=str(state / "fleet" / f"testbed-{api_index(api)}" / "workload-pki" / ns / "ca" / "ca.crt"))
    ctx.check_hostname = False
    try:
        with urllib.request.urlopen(f"https://{ip}:8080{path}", timeout=5, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def api_index(api) -> int:
    port = int(api.configuration.host.rsplit(":", 1)[1])
    return (port - 2 - fleet_mod.PORT_BASE) // 10


def healthz(state, api, ns: str, etcd: str) -> list[int]:
    return [backup_get(state, api, ns, f"{etcd}-{m}")[0] for m in range(3)]


def wait_for(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(1)
    return check()


def test_backup_restore_healthz_only_beside_the_leader_and_its_faults(fleet, state):
    """etcd-backup-restore pkg/server/backuprestoreserver.go: /healthz starts 503 and turns 200 only
    in the sidecar whose etcd member leads; the testbed's faults switch it and the snapshotter."""
    api, ns = fleet["api"]("testbed-2"), workloads.namespace_for(2)
    assert wait_for(lambda: sorted(healthz(state, api, ns, "etcd-main")) == [200, 503, 503]), healthz(state, api, ns, "etcd-main")
    leader = healthz(state, api, ns, "etcd-main").index(200)
    code, body = backup_get(state, api, ns, f"etcd-main-{leader}")
    assert json.loads(body) == {"health": True}
    try:
        faults.backup_unhealthy(state, 2, "etcd-main")
        assert wait_for(lambda: healthz(state, api, ns, "etcd-main") == [503, 503, 503])
        faults.backup_fault(state, 2, "etcd-main", "stale-delta")
        time.sleep(2)
        metrics = backup_get(state, api, ns, f"etcd-main-{leader}", "/metrics")[1]
        incr = [float(line.split()[-1]) for line in metrics.splitlines() if line.startswith('etcdbr_snapshot_latest_timestamp{kind="Incr"}')]
        assert incr and time.time() - incr[0] > 19 * 60, metrics
        assert 'etcdbr_snapshot_required{kind="Incr"} 1' in metrics
    finally:
        faults.heal(state, 2)
    assert wait_for(lambda: sorted(healthz(state, api, ns, "etcd-main")) == [200, 503, 503])


def test_node_follows_podman_events(fleet, state):
    """Each node keeps podman's event stream open (status follows container events; podman is
    listed only every --resync-interval): its last word on the stream is that it is open."""
    for index in (1, 2):
        text = (state / "logs" / f"testbed-{index}-node.log").read_text(errors="replace")
        opened, closed = text.rfind("podman event stream open"), text.rfind("podman event stream closed")
        assert opened > closed, text[-2000:]


def test_pod_reaches_api_server_with_its_service_account_token(fleet, fleet_debug_image):
    """As in a real cluster: the node injects KUBERNETES_SERVICE_HOST/PORT, kubernetes.default.svc
    resolves to the node's TCP forward on the pod network's gateway, and the projected
    kube-api-access token + kube-root-ca.crt authenticate the pod's service account over TLS
    (the API server's cert carries the gateway IP and the service names)."""
    api, ns = fleet["api"]("testbed-1"), workloads.namespace_for(1)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    name, role = "smoke-sa-api", "smoke-sa-pod-reader"
    sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
    kube.create(api, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                      "metadata": {"name": role, "namespace": ns},
                      "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    kube.create(api, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                      "metadata": {"name": role, "namespace": ns},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                      "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]})
    kube.create(api, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": {
        "nodeName": core.list_node().items[0].metadata.name, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "image": fleet_debug_image, "command": ["sleep", "infinity"],
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}})
    try:
        kube.wait_pods_running(api, ns, [name], timeout=60)
        curl = ('curl -sS --max-time 10 --cacert {d}/ca.crt -H "Authorization: Bearer $(cat {d}/token)" '
                '-o /tmp/body -w "%{{http_code}}" {url} && echo && cat /tmp/body')
        rc, out, err = kube.exec_argv(api, ns, name, "c", ["sh", "-c", curl.format(
            d=sa_dir, url=f"https://kubernetes.default.svc/api/v1/namespaces/{ns}/pods/{name}")])
        assert rc == 0, err
        status, _sep, body = out.partition("\n")
        assert status == "200", out
        assert json.loads(body)["metadata"]["name"] == name
        # the env route, verifying the IP SAN: KUBERNETES_SERVICE_HOST is the gateway IP
        rc, out, err = kube.exec_argv(api, ns, name, "c", ["sh", "-c", curl.format(
            d=sa_dir, url="https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/default/pods")])
        assert rc == 0, err
        status, _sep, body = out.partition("\n")
        assert status == "403", out  # authenticated, just not allowed outside its namespace
        assert f"system:serviceaccount:{ns}:default" in json.loads(body)["message"]
        rc, out, _err = kube.exec_argv(api, ns, name, "c", ["sh", "-c", f"cat {sa_dir}/namespace; echo; "
                                                            f"stat -L -c %a:%u {sa_dir}/token"])
        assert rc == 0 and out.split() == [ns, "600:65532"], out
    finally:
        core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
        rbac.delete_namespaced_role_binding(role, ns)
        rbac.delete_namespaced_role(role, ns)


def backup_request(state, api, ns: str, pod: str, path: str, method: str = "POST") -> tuple[int, str]:
    """Like backup_get, any method (backup-restore's /snapshot/* endpoints take every method)."""
    ip = client.CoreV1Api(api).read_namespaced_pod(pod, ns).status.pod_ip
    ctx = ssl.create_default_context(cafile=str(state / "fleet" / f"testbed-{api_index(api)}" / "workload-pki" / ns / "ca" / "ca.crt"))
    ctx.check_hostname = False
    req = urllib.request.Request(f"https://{ip}:8080{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=60, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_backup_restore_snapshot_full_on_demand_from_every_member(fleet, state):
    """etcd-backup-restore pkg/server/httpAPI.go: /snapshot/full takes an out-of-schedule full snapshot
    on the leading sidecar and answers its brtypes.Snapshot; a follower's sidecar delegates to the
    leader's (found through etcd's leader and its client URL, i.e. the member's peer-service DNS name,
    TLS checked against the etcd CA); /snapshot/latest lists the store; a bad ?final= is a 400. The
    metrics and the full-snapshot Lease follow the on-demand snapshot; a failing snapshotter is a 500."""
    api, ns = fleet["api"]("testbed-2"), workloads.namespace_for(2)
    assert wait_for(lambda: sorted(healthz(state, api, ns, "etcd-main")) == [200, 503, 503]), healthz(state, api, ns, "etcd-main")
    leader = healthz(state, api, ns, "etcd-main").index(200)
    follower = (leader + 1) % 3
    keys = {"createdOn", "immutabilityExpriyTime", "versionID", "kind", "snapDir", "snapName", "prefix",
            "compressionSuffix", "startRevision", "lastRevision", "isChunk", "isFinal"}
    taken = []
    for member in [leader] + [m for m in range(3) if m != leader]:
        code, body = backup_request(state, api, ns, f"etcd-main-{member}", "/snapshot/full")
        assert code == 200, (member, code, body)
        snap = json.loads(body)
        assert set(snap) == keys, snap
        unix = snap["snapName"].split("-")[-1].split(".")[0]
        assert snap["snapName"] == f"Full-00000000-{snap['lastRevision']:08d}-{unix}.gz", snap
        assert snap["kind"] == "Full" and snap["startRevision"] == 0 and snap["lastRevision"] > 0, snap
        assert snap["createdOn"].endswith("Z") and snap["compressionSuffix"] == ".gz", snap
        assert (snap["prefix"], snap["snapDir"], snap["versionID"], snap["isFinal"], snap["isChunk"]) == ("", "", None, False, False)
        assert snap["immutabilityExpriyTime"] == "0001-01-01T00:00:00Z", snap
        taken.append(snap)
    assert [s["lastRevision"] for s in taken] == sorted(s["lastRevision"] for s in taken), taken
    last = taken[-1]
    code, body = backup_request(state, api, ns, f"etcd-main-{follower}", "/snapshot/latest", "GET")
    assert code == 200, body
    latest = json.loads(body)
    assert latest["fullSnapshot"]["snapName"] == last["snapName"] and latest["fullSnapshot"]["prefix"].endswith("/v2/"), latest
    assert all(d["kind"] == "Incr" for d in latest["deltaSnapshots"] or []), latest
    assert backup_request(state, api, ns, f"etcd-main-{leader}", "/snapshot/full?final=maybe") == (400, "")
    metrics = backup_get(state, api, ns, f"etcd-main-{leader}", "/metrics")[1]

    def gauge(name: str) -> list[float]:
        return [float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(name + '{kind="Full"} ')]
    assert gauge("etcdbr_snapshot_latest_revision") == [last["lastRevision"]], metrics
    assert gauge("etcdbr_snapshot_latest_timestamp") == [int(last["snapName"].split("-")[-1].split(".")[0])], metrics
    coord = client.CoordinationV1Api(api)
    assert wait_for(lambda: int(coord.read_namespaced_lease("etcd-main-full-snap", ns).spec.holder_identity or 0) >= last["lastRevision"], 15)
    try:
        faults.backup_fault(state, 2, "etcd-main", "snapshotter-failing")
        assert wait_for(lambda: backup_request(state, api, ns, f"etcd-main-{leader}", "/snapshot/full") == (500, ""), 10)
        assert backup_request(state, api, ns, f"etcd-main-{follower}", "/snapshot/full") == (500, "")  # delegated: /healthz stays 200
    finally:
        faults.heal(state, 2)
    assert wait_for(lambda: backup_request(state, api, ns, f"etcd-main-{leader}", "/snapshot/full")[0] == 200, 30)


def test_seed_shape_with_more_shoots_is_mostly_single_member():
    """--shoots N: N namespaces, the five fixed first, then non-HA, every 4th HA, every 10th hibernated."""
    base = workloads.shoots_for(1, ["etcd-main", "etcd-events"], 3)
    many = workloads.shoots_for(1, ["etcd-main", "etcd-events"], 3, shoots=25)
    assert len(base) == 5 and len(many) == 25 and many[:5] == base
    extra = many[5:]
    assert len({s.namespace for s in many}) == 25
    replicas = [s.etcds[0].replicas for s in extra]
    assert replicas.count(0) == 2 and replicas.count(3) == 4 and replicas.count(1) == 14
    assert all(s.etcds[0].replicas == s.etcds[1].replicas for s in extra)
    with pytest.raises(procs.TestbedError, match="shoots needs shape seed"):
        workloads.shoots_for(1, ["etcd-main"], 3, shape="minimal", shoots=10)
    with pytest.raises(procs.TestbedError, match="5..500"):
        workloads.shoots_for(1, ["etcd-main"], 3, shoots=4)


def test_a_port_held_by_another_fleet_is_a_clear_error_and_nothing_starts(tmp_path):
    """Two fleets on one host (two TESTBED_DIRs, the same ports) must not mix: the second one's
    registry or API server would answer from the first's. procs.start refuses, naming the holder."""
    import os
    import socket
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(procs.TestbedError) as err:
            procs.start("registry-x", ["sleep", "30"], tmp_path, ports=(port,))
    message = str(err.value)
    assert f"127.0.0.1:{port} is already taken by pid {os.getpid()} (" in message and "\n" not in message
    assert "another testbed?" in message
    assert not (tmp_path / "run" / "registry-x.pid").exists()
