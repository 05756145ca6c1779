"""Kubernetes connection options as kubernetes.core has them, against the fleet's real API
server: the K8S_AUTH_* names and kubernetes.core's lenient booleans, a client certificate, a real
forward proxy (proxy, proxy_headers, no_proxy, for the REST calls and the exec websocket),
module_defaults through group/etcd_wrapper.ops.k8s reaching kubernetes.core's own modules
(extend_group), and every YAML block of the README run as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_module

from testbed import httpproxy, pki, workloads
from tools import thirdparty

NS1 = workloads.namespace_for(1)
PROXY_CREDENTIALS = "etcd-ops:Pr0xy-" + os.urandom(4).hex()


def server_of(fleet, context: str = "testbed-1") -> str:
    config = yaml.safe_load(Path(fleet["kubeconfig"]).read_text())
    name = next(c["context"]["cluster"] for c in config["contexts"] if c["name"] == context)
    return next(c["cluster"]["server"] for c in config["clusters"] if c["name"] == name)


def fleet_ca(state) -> Path:
    return state / "fleet" / "pki" / "ca" / "ca.crt"


def clean_env() -> dict:
    """No kubeconfig from the test's environment: each test says where the connection comes from."""
    return {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_") and k not in ("KUBECONFIG",)}


def run_plain(argv: list[str], env: dict, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


# ---------------------------------------------------------------- K8S_AUTH_* names, booleans, client certificates


@pytest.fixture(scope="module")
def client_cert(state, tmp_path_factory) -> tuple[Path, Path]:
    """A client certificate the fleet's API server accepts (its client CA; group system:masters)."""
    root = state / "fleet" / "pki"
    return pki.issue(tmp_path_factory.mktemp("cert-user"), root / "ca" / "ca.crt", root / "ca" / "ca.key",
                     "etcd-ops-cert-user", "client", org="system:masters")


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> Path:
    return pki.ca(tmp_path_factory.mktemp("other-ca"), "not-the-fleet-ca")[0]


def test_kubernetes_core_env_names_with_a_client_certificate(fleet, state, client_cert):
    """K8S_AUTH_HOST + K8S_AUTH_CLIENT_CERT/_CLIENT_KEY + K8S_AUTH_CA_CERT + K8S_AUTH_VALIDATE_CERTS:
    kubernetes.core's names; no kubeconfig anywhere (HOME has none)."""
    env = {"K8S_AUTH_HOST": server_of(fleet), "K8S_AUTH_CLIENT_CERT": str(client_cert[0]),
           "K8S_AUTH_CLIENT_KEY": str(client_cert[1]), "K8S_AUTH_CA_CERT": str(fleet_ca(state)),
           "K8S_AUTH_VALIDATE_CERTS": "enabled"}  # not a boolean Ansible knows; kubernetes.core reads it as true
    result = run_module("etcd_cluster_info", {"namespaces": [NS1]}, env=dict(env, HOME="/nonexistent"))
    assert not result.get("failed"), result
    assert {e["name"] for e in result["etcds"]} == {"etcd-main", "etcd-events"}, result
    # the older names kubernetes.core also reads
    old = {"K8S_AUTH_HOST": server_of(fleet), "K8S_AUTH_CERT_FILE": str(client_cert[0]),
           "K8S_AUTH_KEY_FILE": str(client_cert[1]), "K8S_AUTH_SSL_CA_CERT": str(fleet_ca(state)), "K8S_AUTH_VERIFY_SSL": "1"}
    assert not run_module("etcd_cluster_info", {"namespaces": [NS1]}, env=dict(old, HOME="/nonexistent")).get("failed")


def test_validate_certs_from_env_decides_verification(fleet, client_cert, other_ca):
    base = {"K8S_AUTH_HOST": server_of(fleet), "K8S_AUTH_CLIENT_CERT": str(client_cert[0]),
            "K8S_AUTH_CLIENT_KEY": str(client_cert[1]), "K8S_AUTH_CA_CERT": str(other_ca), "HOME": "/nonexistent"}
    # "off" is not one of kubernetes.core's false words (0, false, no): it verifies, against the wrong CA
    wrong = run_module("etcd_cluster_info", {"namespaces": [NS1]}, env=dict(base, K8S_AUTH_VALIDATE_CERTS="off"))
    assert wrong.failed and "\n" not in wrong["msg"], wrong
    assert wrong["msg"].startswith(f"cannot reach the API server of cluster '{server_of(fleet)}' at {server_of(fleet)}: "), wrong["msg"]
    assert "certificate verify failed" in wrong["msg"], wrong["msg"]
    unverified = run_module("etcd_cluster_info", {"namespaces": [NS1]}, env=dict(base, K8S_AUTH_VALIDATE_CERTS="No"))
    assert not unverified.get("failed"), unverified


# ---------------------------------------------------------------- a real forward proxy


@pytest.fixture()
def proxy():
    server = httpproxy.Proxy(credentials=PROXY_CREDENTIALS)
    yield server
    server.close()


@pytest.fixture(scope="module")
def attached(fleet, fleet_debug_image):
    args = {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-1", "namespace": NS1, "pod": "etcd-main-2",
            "image": fleet_debug_image, "profile": "restricted"}
    result = run_module("etcd_ephemeral_container", args)
    assert not result.get("failed"), result
    return args


def test_proxy_with_proxy_headers_carries_rest_and_exec(fleet, attached, proxy):
    target = server_of(fleet).split("://", 1)[1]
    args = {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-1", "namespace": NS1, "pod": "etcd-main-2",
            "etcdctl": ["endpoint", "health"], "proxy": proxy.url,
            "proxy_headers": {"proxy_basic_auth": PROXY_CREDENTIALS, "user_agent": "etcd-ops-it"}}
    result = run_module("etcdctl_exec", args, verbosity=3)
    assert result["rc"] == 0 and result["json"][0]["health"], result
    assert proxy.seen and all(s["method"] == "CONNECT" and s["target"] == target for s in proxy.seen), proxy.seen
    assert all(s["proxy-authorization"] for s in proxy.seen), proxy.seen
    # REST calls send every proxy header; the exec websocket only the proxy credentials (the
    # kubernetes client's stream/ws_client.py websocket_proxycare takes proxy-authorization alone)
    agents = [s["user-agent"] for s in proxy.seen]
    assert "etcd-ops-it" in agents and None in agents, proxy.seen
    assert PROXY_CREDENTIALS not in result.stdout + result.stderr
    assert PROXY_CREDENTIALS.split(":")[1] not in result.stdout + result.stderr


def test_proxy_refusing_without_credentials_is_one_line(fleet, proxy):
    result = run_module("etcd_cluster_info", {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-1",
                                              "namespaces": [NS1], "proxy": proxy.url})
    assert result.failed and "\n" not in result["msg"], result
    assert result["msg"].startswith(f"cannot reach the API server of cluster 'testbed-1' at {server_of(fleet)}: "), result["msg"]
    assert "407" in result["msg"], result["msg"]
    assert proxy.seen and proxy.seen[0]["proxy-authorization"] is None


def test_proxy_settings_from_env(fleet, attached, proxy):
    env = {"K8S_AUTH_PROXY": proxy.url, "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": PROXY_CREDENTIALS}
    result = run_module("etcdctl_exec", {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-1", "namespace": NS1,
                                         "pod": "etcd-main-2", "etcdctl": ["alarm", "list"]}, env=env, verbosity=3)
    assert result["rc"] == 0, result
    assert proxy.seen and all(s["proxy-authorization"] for s in proxy.seen)
    assert PROXY_CREDENTIALS not in result.stdout + result.stderr


def test_no_proxy_bypasses_a_dead_proxy(fleet, attached):
    args = {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-1", "namespace": NS1, "pod": "etcd-main-2",
            "etcdctl": ["endpoint", "status"], "proxy": "http://127.0.0.1:9"}
    dead = run_module("etcdctl_exec", args)
    assert dead.failed and "\n" not in dead["msg"], dead
    bypassed = run_module("etcdctl_exec", dict(args, no_proxy="localhost,127.0.0.1"))
    assert bypassed["rc"] == 0, bypassed
    assert run_module("etcdctl_exec", args, env={"K8S_AUTH_NO_PROXY": "127.0.0.1"})["rc"] == 0


# ---------------------------------------------------------------- module_defaults reach kubernetes.core's modules


def test_group_defaults_reach_kubernetes_core_modules(fleet, tmp_path):
    """group/etcd_wrapper.ops.k8s extends kubernetes.core.k8s (meta/runtime.yml): one block of
    defaults serves both collections' modules in a play."""
    third = thirdparty.from_ansible_wheel("kubernetes.core")
    playbook = tmp_path / "mixed.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/etcd_wrapper.ops.k8s": {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-2"}},
        "tasks": [
            {"kubernetes.core.k8s_info": {"kind": "Namespace", "name": workloads.namespace_for(2)}, "register": "ns"},
            {"etcd_wrapper.ops.etcd_cluster_info": {"namespaces": [workloads.namespace_for(2)]}, "register": "info"},
            {"ansible.builtin.assert": {"that": ["ns.resources | length == 1",
                                                 "info.etcds | map(attribute='name') | sort == ['etcd-events', 'etcd-main']"]}},
        ]}]))
    env = dict(clean_env(), HOME=str(tmp_path), ANSIBLE_COLLECTIONS_PATH=f"{os.environ['ANSIBLE_COLLECTIONS_PATH']}:{third}")
    proc = run_plain(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                      str(playbook)], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------- the README's YAML blocks, as written


def readme_blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", (REPO / "README.md").read_text(), flags=re.S | re.M)


def test_readme_has_the_blocks_this_test_runs():
    blocks = readme_blocks("yaml")
    assert len(blocks) == 3, "a YAML block was added to or removed from README.md: run it here too"
    assert [b.splitlines()[0] for b in blocks] == ["# requirements.yml", "- hosts: localhost", "plugin: etcd_wrapper.ops.kubeconfig"]


def seed_kubeconfig(fleet, renames: dict[str, str]) -> dict:
    """The fleet's kubeconfig with its contexts renamed (testbed-1 -> seed-1 ...), only those."""
    config = yaml.safe_load(Path(fleet["kubeconfig"]).read_text())
    config["contexts"] = [dict(c, name=renames[c["name"]]) for c in config["contexts"] if c["name"] in renames]
    config["current-context"] = config["contexts"][0]["name"]
    return config


def test_readme_requirements_install_the_tarball(tmp_path):
    """The requirements.yml block installs the tarball `make dist` builds, under the name it gives."""
    block = readme_blocks("yaml")[0]
    tarball = yaml.safe_load(block)["collections"][0]["name"]
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert tarball == f"./etcd_wrapper-ops-{version}.tar.gz", "README's requirements.yml names another version than galaxy.yml"
    make = subprocess.run(["make", "-C", str(REPO), "dist"], capture_output=True, text=True, timeout=600, check=False)
    assert make.returncode == 0, make.stdout + make.stderr
    shutil.copy(REPO / "build" / "dist" / tarball[2:], tmp_path)
    (tmp_path / "requirements.yml").write_text(block)
    proc = run_plain(["ansible-galaxy", "collection", "install", "-r", "requirements.yml", "-p", str(tmp_path / "collections")],
                     {k: v for k, v in dict(clean_env(), HOME=str(tmp_path)).items() if k != "ANSIBLE_COLLECTIONS_PATH"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "collections" / "ansible_collections" / "etcd_wrapper" / "ops" / "MANIFEST.json").exists()


def test_readme_play_runs_as_written(fleet, fleet_debug_image, state, tmp_path):
    """The play block, byte for byte. What it names is made true on the fleet: ~/.kube/seed.yaml
    with a context seed-1 (testbed-1), shoot--dev--alpha (testbed-1's restricted HA shoot) and the
    image name it uses (the fleet's debug image, tagged so on the node's engine)."""
    block = readme_blocks("yaml")[1]
    assert NS1 == "shoot--dev--alpha"
    from testbed import engine
    engine.podman(state, "tag", fleet_debug_image, "registry.example.com/ops/etcd-debug:0.1.0")
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "seed.yaml").write_text(yaml.safe_dump(seed_kubeconfig(fleet, {"testbed-1": "seed-1"})))
    (tmp_path / "play.yml").write_text(block)
    proc = run_plain(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                      "play.yml"], dict(clean_env(), HOME=str(tmp_path)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sizes = re.search(r'"msg": \[\s*([0-9,\s]+)\]', proc.stdout)
    assert sizes and len(sizes.group(1).split(",")) == 3, proc.stdout  # endpoint status --cluster: 3 members


def test_readme_inventory_runs_as_written(fleet, tmp_path):
    """The inventory block as written: kubeconfigs from ~/.kube/seeds/*.yaml, *-sandbox excluded,
    *-prod-* grouped as prod."""
    block = readme_blocks("yaml")[2]
    seeds = tmp_path / ".kube" / "seeds"
    seeds.mkdir(parents=True)
    (seeds / "eu.yaml").write_text(yaml.safe_dump(seed_kubeconfig(fleet, {"testbed-1": "seed-1", "testbed-2": "eu-prod-2"})))
    (seeds / "lab.yaml").write_text(yaml.safe_dump(seed_kubeconfig(fleet, {"testbed-2": "lab-sandbox"})))
    (tmp_path / "fleet.kubeconfig.yml").write_text(block)
    proc = run_plain(["ansible-inventory", "-i", "fleet.kubeconfig.yml", "--list"], dict(clean_env(), HOME=str(tmp_path)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    inventory = json.loads(proc.stdout)
    hosts = set(inventory["_meta"]["hostvars"])
    assert hosts == {"seed-1", "eu-prod-2"}, inventory
    assert inventory["prod"]["hosts"] == ["eu-prod-2"], inventory
