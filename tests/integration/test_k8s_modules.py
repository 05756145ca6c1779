"""etcd_ephemeral_container and etcdctl_exec through the real `ansible` CLI against the local
fleet: real kube-apiserver, real 3-member etcd clusters with TLS, restricted namespaces."""

from __future__ import annotations

import json
import os
import time

import pytest
from conftest import run_module, run_playbook
from kubernetes import client
from testbed import faults, kube, workloads

NS1 = workloads.namespace_for(1)
NS2 = workloads.namespace_for(2)


@pytest.fixture(scope="module")
def auth(fleet) -> dict:
    return {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-1"}


@pytest.fixture(scope="module")
def attached(fleet, fleet_debug_image, auth):
    """etcd-debug on etcd-main-1 (restricted profile: the namespace enforces it)."""
    args = dict(auth, namespace=NS1, pod="etcd-main-1", image=fleet_debug_image, profile="restricted")
    first = run_module("etcd_ephemeral_container", args)
    assert not first.failed, first
    return first, args


def etcdctl(auth, *args, pod="etcd-main-1", check=False, **extra):
    return run_module("etcdctl_exec", dict(auth, namespace=NS1, pod=pod, etcdctl=list(args), **extra), check=check)


# ---------------------------------------------------------------- attach


def test_attach_then_reuse(attached, fleet):
    first, args = attached
    assert first["container"] == "etcd-debug" and first["namespace"] == NS1 and first["pod"] == "etcd-main-1"
    assert first["node"] == "testbed-1-node"
    assert "running" in first["status"]["state"]
    before = len(client.CoreV1Api(fleet["api"]("testbed-1")).read_namespaced_pod("etcd-main-1", NS1).spec.ephemeral_containers)
    again = run_module("etcd_ephemeral_container", args)
    assert again["changed"] is False and again["created"] is False and again["container"] == "etcd-debug"
    after = len(client.CoreV1Api(fleet["api"]("testbed-1")).read_namespaced_pod("etcd-main-1", NS1).spec.ephemeral_containers)
    assert after == before  # nothing patched, nothing piled up


def test_check_mode_patches_nothing(fleet, fleet_debug_image, auth):
    api = fleet["api"]("testbed-1")
    before = client.CoreV1Api(api).read_namespaced_pod("etcd-events-2", NS1).spec.ephemeral_containers
    result = run_module("etcd_ephemeral_container", dict(auth, namespace=NS1, pod="etcd-events-2",
                                                         image=fleet_debug_image, profile="restricted", name="check-only"),
                        check=True)
    assert result["changed"] is True and result["created"] is True
    assert result["spec"]["targetContainerName"] == "etcd"
    assert {m["mountPath"] for m in result["spec"]["volumeMounts"]} >= {"/var/etcd/ssl/ca", "/var/etcd/ssl/client"}
    assert client.CoreV1Api(api).read_namespaced_pod("etcd-events-2", NS1).spec.ephemeral_containers == before


def test_sysadmin_and_general_rejected_in_restricted_namespace(fleet_debug_image, auth):
    for profile in ("sysadmin", "general"):
        result = run_module("etcd_ephemeral_container", dict(auth, namespace=NS1, pod="etcd-events-0",
                                                             image=fleet_debug_image, profile=profile, name=f"p-{profile}"))
        assert result.failed
        assert result["msg"].startswith(f"PodSecurity 'restricted' admission rejected profile '{profile}' (")
        assert result["msg"].endswith("; use profile: restricted")


def test_unknown_image_fails_fast(fleet, auth):
    start = time.monotonic()
    result = run_module("etcd_ephemeral_container", dict(
        auth, namespace=NS1, pod="etcd-events-1", image=f"{fleet['registry']}/etcd-wrapper/nope:1",
        profile="restricted", name="bad-image", wait_timeout=300))
    elapsed = time.monotonic() - start
    assert result.failed and elapsed < 60, (elapsed, result)
    assert result["msg"].startswith(f"debug container bad-image in {NS1}/etcd-events-1 cannot start: ")
    assert "ErrImagePull" in result["msg"] or "ImagePullBackOff" in result["msg"]
    assert "etcd-wrapper/nope" in result["msg"]


def test_terminated_container_gets_a_new_name(fleet_debug_image, auth):
    short = "short-lived-" + os.urandom(2).hex()  # ephemeral containers stay: a name of its own per run
    base = dict(auth, namespace=NS1, pod="etcd-events-1", image=fleet_debug_image, profile="restricted", name=short)
    first = run_module("etcd_ephemeral_container", dict(base, command=["true"]))
    assert first.failed and "exited: terminated" in first["msg"]
    # etcdctl_exec refuses a container that is not running
    ran = run_module("etcdctl_exec", dict(auth, namespace=NS1, pod="etcd-events-1", container=short, argv=["true"]))
    assert ran.failed and ran["msg"].startswith(f"container '{short}' in {NS1}/etcd-events-1 is not running: terminated")
    second = run_module("etcd_ephemeral_container", base)
    assert second["container"] == f"{short}-2" and second["created"] is True
    assert f"{short}' exists but is terminated or runs another image" in second["message"]


# ---------------------------------------------------------------- etcdctl over TLS


def test_endpoint_status_health_members_alarms(attached, auth):
    status = etcdctl(auth, "endpoint", "status", "--cluster")
    assert status["rc"] == 0 and status["changed"] is False and status["kind"] == "read"
    assert status["tls_source"] == "args of container 'backup-restore' (--cacert, --cert, --key)"
    assert "--endpoints=https://etcd-main-local:2379" in status["cmd"]
    assert len(status["json"]) == 3
    leaders = {m["Status"]["leader"] for m in status["json"]}
    assert len(leaders) == 1

    health = etcdctl(auth, "endpoint", "health", "--cluster")
    assert [h["health"] for h in health["json"]] == [True, True, True]

    members = etcdctl(auth, "member", "list")
    ids = {m["ID"] for m in members["json"]["members"]}
    assert leaders <= ids and len(ids) == 3
    # uint64 IDs stay exact: compare with etcdctl's own hex rendering
    table = etcdctl(auth, "member", "list", output="raw")
    assert {f"{i:x}" for i in ids} == {line.split(",")[0].strip() for line in table["stdout"].splitlines() if line}

    alarms = etcdctl(auth, "alarm", "list")
    assert alarms["rc"] == 0 and "alarms" not in (alarms["json"] or {})  # etcdctl 3.5: the header only


def test_argv_and_large_output(attached, auth):
    result = run_module("etcdctl_exec", dict(auth, namespace=NS1, pod="etcd-main-1", argv=["seq", "1", "200000"]))
    lines = result["stdout"].splitlines()
    assert len(result["stdout"]) > 1024 * 1024 and lines[0] == "1" and lines[-1] == "200000"
    assert result["changed"] is False
    # backup-restore serves HTTPS with the etcd server certificate; only the leader's sidecar says healthy
    health = run_module("etcdctl_exec", dict(auth, namespace=NS1, pod="etcd-main-1", argv=[
        "curl", "-s", "--cacert", "/var/etcdbr/ssl/ca/bundle.crt", "https://etcd-main-local:8080/healthz"]))
    assert json.loads(health["stdout"]) in ({"health": True}, {"health": False})


def test_nonzero_rc_surfaced(attached, auth):
    result = run_module("etcdctl_exec", dict(auth, namespace=NS1, pod="etcd-main-1", argv=["ls", "/no/such/dir"]))
    assert result.failed and result["rc"] == 2
    assert "No such file" in result["stderr"]
    assert result["msg"].startswith(f"ls exited with rc 2 in {NS1}/etcd-main-1: ")


def test_write_refused_without_allow_write_and_skipped_in_check_mode(attached, auth):
    refused = etcdctl(auth, "put", "/etcdops/test", "x")
    assert refused.failed
    assert refused["msg"] == ("refusing to run 'etcdctl put': it writes to etcd or is not known to be read-only; "
                              "set allow_write: true to run it")
    shell = run_module("etcdctl_exec", dict(auth, namespace=NS1, pod="etcd-main-1", argv=["sh", "-c", "exit 3"]))
    assert shell.failed and "refusing to run 'sh'" in shell["msg"]
    skipped = etcdctl(auth, "put", "/etcdops/test", "x", allow_write=True, check=True)
    assert skipped["skipped"] is True and skipped["changed"] is True
    assert etcdctl(auth, "get", "/etcdops/test")["json"].get("kvs") is None  # nothing was written
    written = etcdctl(auth, "put", "/etcdops/test", "x", allow_write=True)
    assert written["changed"] is True and written["rc"] == 0
    got = etcdctl(auth, "get", "/etcdops/test")
    assert got["changed"] is False and len(got["json"]["kvs"]) == 1
    etcdctl(auth, "del", "/etcdops/test", allow_write=True)


def test_unknown_programs_need_allow_write(attached, auth):
    """Deny by default: the debug container reaches the etcd's files and process, so a program not
    known to only read (touch, kill, ...) is refused, and snapshot save (a file) is skipped in check mode."""
    pod = dict(auth, namespace=NS1, pod="etcd-main-1")
    touch = run_module("etcdctl_exec", dict(pod, argv=["touch", "/work/guard-probe"]))
    assert touch.failed and touch["msg"].startswith("refusing to run 'touch': it writes to etcd or is not known to be read-only")
    kill = run_module("etcdctl_exec", dict(pod, argv=["kill", "-0", "1"]))
    assert kill.failed and "refusing to run 'kill'" in kill["msg"]
    assert run_module("etcdctl_exec", dict(pod, argv=["ls", "/work"]))["stdout"].split().count("guard-probe") == 0
    reader = run_module("etcdctl_exec", dict(pod, argv=["openssl", "x509", "-in", "/var/etcd/ssl/client/tls.crt", "-noout",
                                                        "-subject"]))
    assert not reader.failed and "etcd-client" in reader["stdout"] and reader["changed"] is False
    refused = etcdctl(auth, "snapshot", "save", "/work/guard.db")
    assert refused.failed and "refusing to run 'etcdctl snapshot save'" in refused["msg"]
    planned = etcdctl(auth, "snapshot", "save", "/work/guard.db", allow_write=True, check=True)
    assert planned["skipped"] is True and planned["changed"] is True
    assert "guard.db" not in run_module("etcdctl_exec", dict(pod, argv=["ls", "/work"]))["stdout"]


def test_exec_timeout(attached, auth):
    start = time.monotonic()
    result = run_module("etcdctl_exec", dict(auth, namespace=NS1, pod="etcd-main-1", argv=["sleep", "60"], timeout=2))
    assert result.failed and time.monotonic() - start < 40
    assert result["msg"] == f"exec of sleep in {NS1}/etcd-main-1/etcd-debug timed out after 7s"


def test_member_stopped_rc_and_stderr(fleet, state, fleet_debug_image):
    auth2 = {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-2"}
    attach = run_module("etcd_ephemeral_container", dict(auth2, namespace=NS2, pod="etcd-main-0",
                                                         image=fleet_debug_image, profile="restricted"))
    assert not attach.failed, attach
    try:
        faults.stop_member(state, 2, "etcd-main", 2)
        time.sleep(2)
        result = run_module("etcdctl_exec", dict(auth2, namespace=NS2, pod="etcd-main-0",
                                                 etcdctl=["endpoint", "status", "--cluster"], timeout=5))
        assert result.failed and result["rc"] == 1
        assert "Failed to get the status of endpoint" in result["stderr"] or "context deadline exceeded" in result["stderr"]
        assert len(result["json"]) == 2  # the reachable members are still reported
        assert result["msg"].startswith(f"etcdctl endpoint status exited with rc 1 in {NS2}/etcd-main-0: ")
    finally:
        faults.heal(state, 2)


# ---------------------------------------------------------------- bad input: one clear line


@pytest.mark.parametrize("override, message", [
    ({"context": "no-such-context"}, "context 'no-such-context' not found in the kubeconfig"),
    ({"namespace": "no-such-ns"}, "namespace 'no-such-ns' not found in cluster 'testbed-1'"),
    ({"pod": "no-such-pod"}, f"pod 'no-such-pod' not found in namespace '{NS1}' of cluster 'testbed-1'"),
    ({"target_container": "nope"}, f"pod {NS1}/etcd-main-1 has no container 'nope' (containers: etcd, backup-restore)"),
])
def test_attach_bad_input(fleet_debug_image, auth, override, message):
    args = dict(auth, namespace=NS1, pod="etcd-main-1", image=fleet_debug_image, profile="restricted", name="bad-input")
    result = run_module("etcd_ephemeral_container", dict(args, **override))
    assert result.failed and result["msg"] == message


def test_attach_pod_not_running(fleet, fleet_debug_image, auth):
    api = fleet["api"]("testbed-1")
    kube.create(api, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "never-runs", "namespace": NS1},
                      "spec": {"nodeName": "testbed-1-node", "automountServiceAccountToken": False,
                               "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                               "containers": [{"name": "etcd", "image": f"{fleet['registry']}/nope/never:1",
                                               "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}})
    result = run_module("etcd_ephemeral_container", dict(auth, namespace=NS1, pod="never-runs", image=fleet_debug_image,
                                                         profile="restricted"))
    assert result.failed and result["msg"] == (f"pod {NS1}/never-runs is Pending, not Running: "
                                               "a debug container can only join a running pod")


@pytest.mark.parametrize("override, message", [
    ({"context": "no-such-context"}, "context 'no-such-context' not found in the kubeconfig"),
    ({"namespace": "no-such-ns"}, "namespace 'no-such-ns' not found in cluster 'testbed-1'"),
    ({"pod": "no-such-pod"}, f"pod 'no-such-pod' not found in namespace '{NS1}' of cluster 'testbed-1'"),
    ({"container": "missing"}, f"pod {NS1}/etcd-main-1 has no container 'missing' (ephemeral containers: "),
    ({"etcdctl": None}, "one of the following is required: etcdctl, argv"),
    ({"argv": ["true"]}, "parameters are mutually exclusive: etcdctl|argv"),
])
def test_exec_bad_input(attached, auth, override, message):
    args = dict(auth, namespace=NS1, pod="etcd-main-1", etcdctl=["endpoint", "status"])
    args.update(override)
    args = {k: v for k, v in args.items() if v is not None}
    result = run_module("etcdctl_exec", args)
    assert result.failed and result["msg"].startswith(message), result["msg"]


# ---------------------------------------------------------------- auth plumbing


def test_env_fallbacks_and_module_defaults(attached, fleet, tmp_path):
    env = {"K8S_AUTH_KUBECONFIG": str(fleet["kubeconfig"]), "K8S_AUTH_CONTEXT": "testbed-1"}
    result = run_module("etcdctl_exec", dict(namespace=NS1, pod="etcd-main-1", etcdctl=["alarm", "list"]), env=env)
    assert result["rc"] == 0
    playbook = tmp_path / "defaults.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/etcd_wrapper.ops.k8s:
      kubeconfig: {fleet['kubeconfig']}
      context: testbed-1
      namespace: {NS1}
  tasks:
    - etcd_wrapper.ops.etcdctl_exec:
        pod: etcd-main-1
        etcdctl: [endpoint, health]
      register: health
    - ansible.builtin.assert:
        that: health.json[0].health
""")
    proc = run_playbook(playbook, {})
    assert proc.returncode == 0, proc.stdout


def test_inline_kubeconfig_dict_with_other_context_is_isolated(fleet, fleet_debug_image):
    """Two tasks, two clusters, one process each: no cross-talk through a global client config."""
    import yaml
    config = yaml.safe_load(open(fleet["kubeconfig"], encoding="utf-8"))
    result = run_module("etcdctl_exec", dict(kubeconfig=config, context="testbed-2", namespace=NS2, pod="etcd-main-0",
                                             etcdctl=["member", "list"]))
    assert result["rc"] == 0 and result["json"]["members"][0]["name"].startswith("etcd-main-")
    assert all(NS2 in m["peerURLs"][0] for m in result["json"]["members"])
    assert os.environ.get("K8S_AUTH_CONTEXT") is None


# ---------------------------------------------------------------- EXAMPLES run as written


def module_examples(name: str) -> list:
    import ast

    import yaml
    from conftest import REPO
    tree = ast.parse((REPO / "plugins" / "modules" / f"{name}.py").read_text())
    text = next(node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and node.targets[0].id == "EXAMPLES")
    return yaml.safe_load(text)


@pytest.mark.parametrize("module", ["etcd_ephemeral_container", "etcdctl_exec"])
def test_examples_run_as_written(attached, fleet, fleet_debug_image, tmp_path, module):
    """Only the placeholders change: image, kubeconfig path and context name; tasks that target
    a namespace other than the fleet's (unrestricted example) are left out."""
    import yaml
    tasks = [t for t in module_examples(module) if "shoot--dev--beta" not in json.dumps(t)]
    text = (json.dumps(tasks).replace("registry.example.com/ops/etcd-debug:0.1.0", fleet_debug_image)
            .replace("/etc/ops/seed.kubeconfig", str(fleet["kubeconfig"])).replace("garden-seed-1", "testbed-1"))
    playbook = tmp_path / "examples.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                         "environment": {"K8S_AUTH_KUBECONFIG": str(fleet["kubeconfig"])},
                                         "tasks": json.loads(text)}]))
    proc = run_playbook(playbook, {})
    assert proc.returncode == 0, proc.stdout


def test_wait_timeout_reports_last_status(fleet_debug_image, auth):
    name = "impatient-" + os.urandom(2).hex()  # a new container each run: one left running would just be reused
    result = run_module("etcd_ephemeral_container", dict(auth, namespace=NS1, pod="etcd-events-0", image=fleet_debug_image,
                                                         profile="restricted", name=name, wait_timeout=0))
    assert result.failed
    assert result["msg"].startswith(f"timed out after 0s waiting for debug container {name} in {NS1}/etcd-events-0 "
                                    "to run; last status: ")
    assert result["container"] == name


class _NoEphemeralProxy:
    """A real HTTP proxy in front of the fleet's API server that answers PATCH on
    pods/ephemeralcontainers with 404 NotFound, as API servers without the subresource do."""

    def __init__(self, upstream: str, ca: str):
        import http.server
        import ssl
        import threading
        import urllib.request

        context = ssl.create_default_context(cafile=ca)

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                if self.command == "PATCH" and self.path.split("?")[0].endswith("/ephemeralcontainers"):
                    payload = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                          "message": "the server could not find the requested resource",
                                          "reason": "NotFound", "details": {}, "code": 404}).encode()
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
                req = urllib.request.Request(upstream + self.path, data=body, method=self.command, headers=headers)
                try:
                    resp = urllib.request.urlopen(req, context=context, timeout=30)
                except urllib.error.HTTPError as exc:
                    resp = exc
                data = resp.read()
                self.send_response(resp.status if hasattr(resp, "status") else resp.code)
                self.send_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_ephemeral_containers_not_enabled_vs_pod_missing(fleet, state, fleet_debug_image):
    """Both answer 404: the module tells them apart (and host + api_key auth work)."""
    from testbed import fleet as fleet_mod
    cluster = fleet_mod.Cluster(1, state)
    proxy = _NoEphemeralProxy(cluster.server, str(state / "fleet" / "pki" / "ca" / "ca.crt"))
    try:
        auth = {"host": proxy.url, "api_key": cluster.token("admin")}
        disabled = run_module("etcd_ephemeral_container", dict(auth, namespace=NS1, pod="etcd-events-2",
                                                               image=fleet_debug_image, profile="restricted", name="via-proxy"),
                              env={"KUBECONFIG": "/nonexistent"})
        assert disabled.failed
        assert disabled["msg"] == (f"ephemeral containers are not enabled on cluster '{proxy.url}': pods/ephemeralcontainers "
                                   f"answered 404 for {NS1}/etcd-events-2, which exists")
        missing = run_module("etcd_ephemeral_container", dict(auth, namespace=NS1, pod="no-such-pod",
                                                              image=fleet_debug_image, profile="restricted"),
                             env={"KUBECONFIG": "/nonexistent"})
        assert missing["msg"] == f"pod 'no-such-pod' not found in namespace '{NS1}' of cluster '{proxy.url}'"
        assert cluster.token("admin") not in disabled.stdout + disabled.stderr + json.dumps(dict(disabled))
    finally:
        proxy.close()
