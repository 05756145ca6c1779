"""The kubeconfig inventory plugin through the real ansible-inventory CLI."""

from __future__ import annotations

import json
import subprocess

import yaml


def kubeconfig(names: list[str], server: str = "https://127.0.0.1:6443") -> dict:
    return {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": n, "cluster": {"server": f"{server}/{n}"}} for n in names],
            "users": [{"name": "u", "user": {"token": "secret-token-never-in-inventory"}}],
            "contexts": [{"name": n, "context": {"cluster": n, "user": "u", "namespace": "garden"}} for n in names]}


def inventory(tmp_path, config: dict) -> dict:
    cfg = tmp_path / "fleet.kubeconfig.yml"
    cfg.write_text(yaml.safe_dump(dict(plugin="etcd_wrapper.ops.kubeconfig", **config)))
    proc = subprocess.run(["ansible-inventory", "-i", str(cfg), "--list"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "secret-token-never-in-inventory" not in proc.stdout
    # inventory values come back marked unsafe ({"__ansible_unsafe": value}); compare the values
    return json.loads(proc.stdout, object_hook=lambda d: d["__ansible_unsafe"] if set(d) == {"__ansible_unsafe"} else d)


def test_one_host_per_context_groups_and_filters(tmp_path):
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "eu.yaml").write_text(yaml.safe_dump(kubeconfig(["eu-prod-1", "eu-dev-1", "eu-sandbox"])))
    (tmp_path / "seeds" / "us.yaml").write_text(yaml.safe_dump(kubeconfig(["us-prod-1"])))
    inv = inventory(tmp_path, {"kubeconfigs": ["seeds/*.yaml"], "exclude_contexts": ["*-sandbox"],
                               "context_groups": {"prod": ["*-prod-*"]},
                               "keyed_groups": [{"key": "etcd_ops_cluster", "prefix": "cluster"}]})
    hostvars = inv["_meta"]["hostvars"]
    assert sorted(hostvars) == ["eu-dev-1", "eu-prod-1", "us-prod-1"]
    assert hostvars["eu-prod-1"]["etcd_ops_kubeconfig"] == str(tmp_path / "seeds" / "eu.yaml")
    assert hostvars["eu-prod-1"]["etcd_ops_context"] == "eu-prod-1"
    assert hostvars["eu-prod-1"]["etcd_ops_server"] == "https://127.0.0.1:6443/eu-prod-1"
    assert hostvars["eu-prod-1"]["ansible_connection"] == "local"
    assert sorted(inv["prod"]["hosts"]) == ["eu-prod-1", "us-prod-1"]
    assert sorted(inv["kubeconfig_eu"]["hosts"]) == ["eu-dev-1", "eu-prod-1"]
    assert inv["cluster_us_prod_1"]["hosts"] == ["us-prod-1"]


def test_include_patterns_and_env_default(tmp_path, monkeypatch):
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(kubeconfig(["testbed-1", "testbed-2", "other"])))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("K8S_AUTH_KUBECONFIG", raising=False)
    inv = inventory(tmp_path, {"include_contexts": ["testbed-*"]})
    assert sorted(inv["_meta"]["hostvars"]) == ["testbed-1", "testbed-2"]
    # a kubeconfig from the environment is resolved again at run time, never pinned (AWX's
    # inventory update and its jobs each get their own temporary credential file)
    assert "etcd_ops_kubeconfig" not in inv["_meta"]["hostvars"]["testbed-1"]
    assert inv["_meta"]["hostvars"]["testbed-1"]["etcd_ops_context"] == "testbed-1"


def test_unreadable_kubeconfig_is_one_clear_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("clusters: [unclosed\n")
    cfg = tmp_path / "bad.kubeconfig.yml"
    cfg.write_text(yaml.safe_dump({"plugin": "etcd_wrapper.ops.kubeconfig", "kubeconfigs": ["bad.yaml"]}))
    proc = subprocess.run(["ansible-inventory", "-i", str(cfg), "--list"], capture_output=True, text=True, check=False)
    assert f"cannot read kubeconfig {tmp_path / 'bad.yaml'}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_hosts_run_locally_with_the_controller_python(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(kubeconfig(["testbed-1"])))
    cfg = tmp_path / "t.kubeconfig.yml"
    cfg.write_text(yaml.safe_dump({"plugin": "etcd_wrapper.ops.kubeconfig", "kubeconfigs": [str(path)]}))
    playbook = tmp_path / "p.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n")
    proc = subprocess.run(["ansible-playbook", "-i", str(cfg), str(playbook)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "ok=1" in proc.stdout, proc.stdout + proc.stderr
