"""The AWX/AAP job templates of extensions/awx/objects.yml, run the way AWX runs them: an
inventory update (ansible-inventory on the project's inventory source, credential injected),
then each job through ansible-runner with the survey answers as extra vars and the credential
injected again (a file of its own + env / extra vars, rendered from the credential type's
injectors), env files suppressed as AWX does. The jobs' artifacts are checked, and no secret
(ServiceAccount bearer token, registry password, the kubeconfig itself) appears in stdout,
stderr, reports or runner artifacts, at -vvv.

configure.yml itself needs a controller: its awx.awx tasks are run against a closed port, so the
real modules validate every argument and fail only on the connection."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import ansible_runner
import jinja2.sandbox
import jsonschema
import pytest
import yaml

from conftest import AUTH_PASSWORD, AUTH_USER, REPO, run_module

from testbed import rbac, workloads
from tools import thirdparty

AWX = REPO / "extensions" / "awx"


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """objects.yml as AWX receives it: `!unsafe` strings are plain strings (Ansible must not template them)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
OBJECTS = yaml.load((AWX / "objects.yml").read_text(), Loader=_Loader)  # nosec B506 - a safe loader plus one tag
SCHEMA = json.loads((REPO / "docs" / "health_report.schema.json").read_text())
NS1 = workloads.namespace_for(1)


def job_template(name: str) -> dict:
    return next(t for t in OBJECTS["etcd_ops_awx_job_templates"] if t["name"] == name)


def credential_type(name: str) -> dict:
    return next(t for t in OBJECTS["etcd_ops_awx_credential_types"] if t["name"] == name)


def awx_inject(ctype: dict, inputs: dict, private_data_dir: Path) -> tuple[dict, dict]:
    """(env, extra_vars) of a credential, rendered from its type's injectors as AWX does: file
    templates written to a fresh 0600 file under the private data dir, `tower.filename` set."""
    for field in ctype["inputs"].get("required", []):
        assert inputs.get(field), f"credential input {field} is required"
    render = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    context = dict(inputs)
    files = ctype["injectors"].get("file") or {}
    names = {}
    for key, text in files.items():
        (private_data_dir / "env").mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=private_data_dir / "env")
        with os.fdopen(fd, "w") as fh:
            fh.write(render.from_string(text).render(context))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        names[key] = path
    if "template" in names:
        context["tower"] = {"filename": names["template"]}
    elif names:
        context["tower"] = {"filename": {k.split(".", 1)[1]: v for k, v in names.items()}}
    env = {k: render.from_string(v).render(context) for k, v in (ctype["injectors"].get("env") or {}).items()}
    extra = {k: render.from_string(v).render(context) for k, v in (ctype["injectors"].get("extra_vars") or {}).items()}
    return env, extra


def survey_vars(template: dict, answers: dict, admin_extra_vars: dict | None = None) -> dict:
    """A launch's extra vars: the template's extra_vars, then each survey answer (or its default),
    validated and typed as AWX does; answers to questions the survey does not ask are refused
    (ask_variables_on_launch is off)."""
    questions = {q["variable"]: q for q in template["survey"]}
    unknown = set(answers) - set(questions)
    assert not unknown, f"not in the survey of {template['name']}: {unknown}"
    result = {**template["extra_vars"], **(admin_extra_vars or {})}
    for variable, question in questions.items():
        value = answers.get(variable, question.get("default"))
        if question["type"] in ("text", "textarea", "password"):
            value = "" if value is None else str(value)
            assert not question["required"] or value, f"{question['question_name']} is required"
            assert question.get("min", 0) <= len(value) <= question.get("max", 1024), f"{variable}: length out of range"
        elif question["type"] == "integer":
            value = int(value)
            assert question["min"] <= value <= question["max"], f"{variable}: out of range"
        elif question["type"] == "float":
            value = float(value)
            assert question["min"] <= value <= question["max"], f"{variable}: out of range"
        elif question["type"] == "multiplechoice":
            assert value in question["choices"], f"{variable}: {value!r} is not a choice"
        result[variable] = value
    return result


def inventory_update(tmp_path: Path, kubeconfig_text: str) -> Path:
    """AWX's inventory update: ansible-inventory on the project's source with the credential
    injected into a private data dir that is gone afterwards; the job gets an inventory script."""
    update_dir = tmp_path / "inventory-update"
    env = awx_inject(credential_type("etcd kubeconfig"), {"kubeconfig": kubeconfig_text}, update_dir)[0]
    source = OBJECTS["etcd_ops_awx_inventory_source"]
    proc = subprocess.run(["ansible-inventory", "-i", str(REPO / source["source_path"]), "--list", "--export"],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120, check=True)
    data = json.loads(proc.stdout)
    for path in (update_dir / "env").iterdir():
        path.unlink()  # AWX removes the update's private data dir: nothing may point there
    script = tmp_path / "job-inventory" / "hosts"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + json.dumps(data) + "\nEOF\n")
    script.chmod(0o700)
    return script


def run_job(tmp_path: Path, template: dict, extravars: dict, credentials: list[tuple[str, dict]], inventory: Path | None = None,
            limit: str | None = None, verbosity: int = 3):
    """One job: ansible-runner with a private data dir of its own, the credentials injected as
    AWX injects them, env files suppressed (AWX_RUNNER_OMIT_ENV_FILES)."""
    pdd = tmp_path / ("job-" + uuid.uuid4().hex[:6])
    pdd.mkdir()
    env: dict = {}
    for type_name, inputs in credentials:
        cred_env, cred_extra = awx_inject(credential_type(type_name), inputs, pdd)
        env.update(cred_env)
        extravars = {**extravars, **cred_extra}
    # AWX writes the extra vars (credential extra vars included) to env/extravars itself; runner
    # passes them as -e @file, so they are in no command line and no artifact
    (pdd / "env").mkdir(exist_ok=True)
    (pdd / "env" / "extravars").write_text(json.dumps(extravars))
    (pdd / "env" / "extravars").chmod(0o600)
    runner = ansible_runner.run(private_data_dir=str(pdd), project_dir=str(REPO), playbook=template["playbook"],
                                inventory=str(inventory) if inventory else None, envvars=env,
                                limit=limit, forks=template["forks"], verbosity=verbosity, timeout=template["timeout"],
                                suppress_env_files=True, quiet=True, ident="1")
    stdout = runner.stdout.read()
    assert "Traceback" not in stdout, stdout
    return runner, stdout, pdd


def artifacts_text(pdd: Path) -> str:
    """Everything the runner left in the job's artifacts (stdout, events, status, ...)."""
    texts = []
    for path in (pdd / "artifacts").rglob("*"):
        if path.is_file():
            texts.append(path.read_text(errors="replace"))
    assert texts
    return "\n".join(texts)


def stats_artifacts(runner) -> dict:
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    assert stats, "no playbook_on_stats event"
    return stats[-1]["event_data"].get("artifact_data") or {}


@pytest.fixture(scope="module")
def scoped(fleet, state) -> dict:
    """A kubeconfig of ServiceAccount bearer tokens bound to exactly rbac/etcd-wrapper-ops.yaml."""
    path = rbac.scoped_kubeconfig(state, fleet["kubeconfig"], [1, 2], rbac.shipped_rules(), "etcd-ops-awx")
    text = path.read_text()
    config = yaml.safe_load(text)
    tokens = [u["user"]["token"] for u in config["users"]]
    assert all(len(t) > 100 for t in tokens)
    return {"path": path, "text": text, "config": config, "tokens": tokens}


def assert_no_secret(texts: list[str], secrets: list[str]):
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"a secret ({secret[:6]}...) leaked"


# ------------------------------------------------------------------------------------ data

def test_every_survey_variable_is_used_by_its_playbook():
    """A survey question whose variable nothing reads would be silently ignored."""
    role_vars = set()
    for spec in REPO.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            role_vars |= set(entry.get("options", {}))
    for template in OBJECTS["etcd_ops_awx_job_templates"]:
        playbook = (REPO / template["playbook"]).read_text()
        for question in template["survey"]:
            variable = question["variable"]
            assert variable in role_vars or variable in playbook, f"{template['name']}: {variable} is read by nothing"
        assert len({q["variable"] for q in template["survey"]}) == len(template["survey"])
    adhoc = job_template("etcd ad-hoc etcdctl")
    writes = [q for t in OBJECTS["etcd_ops_awx_job_templates"] for q in t["survey"] if q["variable"] == "allow_write"]
    assert writes == [next(q for q in adhoc["survey"] if q["variable"] == "allow_write")]
    assert writes[0]["default"] == "false"


def test_configure_playbook_arguments_are_valid_for_awx_awx(tmp_path):
    """Every awx.awx task of configure.yml validates its arguments with the real modules, then
    fails only on reaching the controller (a closed port); the kubeconfig stays out of the output."""
    collections = thirdparty.from_ansible_wheel("awx.awx")
    secret = "kubeconfig-secret-" + uuid.uuid4().hex
    kubeconfig = tmp_path / "kc.yaml"
    kubeconfig.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": [{"name": "u", "user": {"token": secret}}]}))
    env = {**os.environ, "CONTROLLER_HOST": "http://127.0.0.1:9", "CONTROLLER_OAUTH_TOKEN": "x",
           "ANSIBLE_COLLECTIONS_PATH": f"{os.environ['ANSIBLE_COLLECTIONS_PATH']}:{collections}"}
    tasks = [t["name"] for t in yaml.safe_load((AWX / "configure.yml").read_text())[0]["tasks"]]
    assert len(tasks) == 10
    for task in tasks[1:]:
        proc = subprocess.run(["ansible-playbook", str(AWX / "configure.yml"), "-vvv", "--start-at-task", task,
                               "-e", "awx_project_scm_url=https://git.example.com/ops/etcd_wrapper.ops.git",
                               "-e", "awx_execution_environment_image=registry.example.com/ops/ee:0.1.0",
                               "-e", f"awx_kubeconfig_file={kubeconfig}", "-e", "awx_registry_username=ci",
                               "-e", f"awx_registry_password={secret}-pw"],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, out
        first_failure = out[out.index("TASK ["):]
        assert f"TASK [{task}]" in first_failure.splitlines()[0], first_failure[:300]
        if task in ("Kubeconfig credential", "Registry credential"):
            assert "no_log: true" in out, out[-2000:]  # its result is hidden whole
        else:
            assert "Connection refused" in out, out[-2000:]
        assert "Unsupported parameters" not in out and "is not a valid" not in out and "Traceback" not in out
        assert_no_secret([out], [secret])


# ------------------------------------------------------------------------------------ jobs

def test_health_sweep_job_template(fleet, fleet_debug_image, scoped, tmp_path):
    template = job_template("etcd health sweep")
    inventory = inventory_update(tmp_path, scoped["text"])
    hosts = json.loads(subprocess.run([str(inventory)], capture_output=True, text=True, check=True).stdout)
    assert sorted(hosts["_meta"]["hostvars"]) == ["testbed-1", "testbed-2"]
    assert all("etcd_ops_kubeconfig" not in v for v in hosts["_meta"]["hostvars"].values())
    report_dir = tmp_path / "report"
    extravars = survey_vars(template, {"debug_container_image": fleet_debug_image, "fleet_report_fail_on": "never",
                                       "etcd_discover_namespaces": f"{NS1}, {workloads.namespace_for(2)}"},
                            admin_extra_vars={"fleet_report_dir": str(report_dir)})
    runner, stdout, pdd = run_job(tmp_path, template, extravars, [("etcd kubeconfig", {"kubeconfig": scoped["text"]})],
                                  inventory=inventory, limit="testbed-1,testbed-2")
    assert runner.status == "successful" and runner.rc == 0, stdout[-3000:]
    assert runner.stats["ok"].keys() >= {"testbed-1", "testbed-2"} and not runner.stats["failures"], runner.stats
    report = json.loads((report_dir / "health_report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["summary"]["clusters"] == 2
    assert {c["name"] for c in report["clusters"] if c["unreachable"] is None} == {"testbed-1", "testbed-2"}
    assert {e["namespace"] for c in report["clusters"] for e in c["etcds"]} == {NS1, workloads.namespace_for(2)}
    artifacts = stats_artifacts(runner)
    assert artifacts["etcd_health_summary"]["clusters"] == 2, artifacts
    assert artifacts["etcd_health_report_files"]["json"] == str(report_dir / "health_report.json")
    assert (pdd / "artifacts" / "1" / "status").read_text() == "successful"
    # ansible-runner keeps the job's whole environment in artifacts/<id>/command: the credential
    # puts only a file path there, never the kubeconfig
    command = json.loads((pdd / "artifacts" / "1" / "command").read_text())
    assert command["env"]["K8S_AUTH_KUBECONFIG"].startswith(str(pdd / "env"))
    reports = [p.read_text() for p in report_dir.iterdir()]
    assert_no_secret([stdout, artifacts_text(pdd), *reports], scoped["tokens"] + [scoped["text"]])


def test_adhoc_etcdctl_job_template_reads_and_refuses_writes_by_default(fleet, fleet_debug_image, scoped, tmp_path):
    template = job_template("etcd ad-hoc etcdctl")
    inventory = inventory_update(tmp_path, scoped["text"])
    credentials = [("etcd kubeconfig", {"kubeconfig": scoped["text"]})]
    base = {"etcd_namespace": NS1, "etcd_pod": "etcd-main-0", "debug_container_image": fleet_debug_image}
    runner, stdout, pdd = run_job(tmp_path, template, survey_vars(template, {**base, "etcdctl": "member list"}), credentials,
                                  inventory=inventory, limit="testbed-1")
    assert runner.status == "successful", stdout[-3000:]
    results = [e["event_data"]["res"] for e in runner.events
               if e.get("event") == "runner_on_ok" and e["event_data"].get("task_action") == "etcd_wrapper.ops.etcdctl_exec"]
    assert len(results[0]["json"]["members"]) == 3

    key = "/etcd-ops-awx/" + uuid.uuid4().hex[:6]
    refused, stdout = run_job(tmp_path, template, survey_vars(template, {**base, "etcdctl": f"put {key} x"}), credentials,
                              inventory=inventory, limit="testbed-1")[:2]
    assert refused.status == "failed" and refused.stats["failures"] == {"testbed-1": 1}
    assert "allow_write" in stdout, stdout[-2000:]
    get = run_job(tmp_path, template, survey_vars(template, {**base, "etcdctl": f"get {key}"}), credentials,
                  inventory=inventory, limit="testbed-1")[0]
    values = [e["event_data"]["res"]["json"] for e in get.events
              if e.get("event") == "runner_on_ok" and e["event_data"].get("task_action") == "etcd_wrapper.ops.etcdctl_exec"]
    assert values and not values[0].get("kvs"), values  # nothing was written

    allowed, stdout = run_job(tmp_path, template, survey_vars(template, {**base, "etcdctl": f"del {key}", "allow_write": "true"}),
                              credentials, inventory=inventory, limit="testbed-1")[:2]
    assert allowed.status == "successful", stdout[-2000:]


def test_diagnose_job_template(fleet, fleet_debug_image, scoped, tmp_path):
    template = job_template("etcd diagnose")
    inventory = inventory_update(tmp_path, scoped["text"])
    extravars = survey_vars(template, {"etcd_namespace": NS1, "debug_container_image": fleet_debug_image},
                            admin_extra_vars={"fleet_report_dir": str(tmp_path / "diagnose")})
    runner, stdout, pdd = run_job(tmp_path, template, extravars, [("etcd kubeconfig", {"kubeconfig": scoped["text"]})],
                                  inventory=inventory, limit="testbed-1")
    assert runner.status == "successful", stdout[-3000:]
    assert "etcd-main-0" in stdout and "etcd-main-2" in stdout
    assert stats_artifacts(runner)["etcd_health_summary"]["etcds"] == 1
    assert_no_secret([stdout, artifacts_text(pdd), *(p.read_text() for p in (tmp_path / "diagnose").iterdir())],
                     scoped["tokens"] + [scoped["text"]])


def test_build_debug_image_job_template_with_registry_credential(infra, auth_registry, build_args, tmp_path):
    template = job_template("build debug image")
    tag = "awx-" + uuid.uuid4().hex[:6]
    # what an admin sets on the template for this site: the local base images, host network
    admin = {"debug_image_build_args": build_args, "debug_image_build_network": "host"}
    extravars = survey_vars(template, {"debug_image_name": f"{auth_registry}/etcd-wrapper/etcd-debug", "debug_image_tag": tag,
                                       "debug_image_docker_host": infra["DOCKER_HOST"]}, admin_extra_vars=admin)
    runner, stdout, pdd = run_job(tmp_path, template, extravars,
                                  [("etcd debug image registry", {"username": AUTH_USER, "password": AUTH_PASSWORD})])
    assert runner.status == "successful", stdout[-3000:]
    assert f"etcd-wrapper/etcd-debug:{tag}" in stdout and "pushed: True" in stdout
    assert_no_secret([stdout, artifacts_text(pdd)], [AUTH_PASSWORD])


# ------------------------------------------------------------------------------------ secrets

def test_inline_kubeconfig_and_bearer_token_stay_secret_at_vvv(fleet, fleet_debug_image, scoped, tmp_path):
    """Modules given the kubeconfig inline (a dict) or a bearer token (api_key) mask them in
    their result and in -vvv output; so does a playbook given the inline kubeconfig."""
    config = scoped["config"]
    context = config["contexts"][0]
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    token = next(u["user"]["token"] for u in config["users"] if u["name"] == context["context"]["user"])
    inline = run_module("etcd_cluster_info", {"kubeconfig": config, "context": context["name"]}, verbosity=3)
    pods = sum(len(x.pods()) for x in workloads.shoots_for(int(context["name"].rsplit("-", 1)[1]), fleet["etcds"], fleet["members"]))
    assert not inline.failed and inline["pod_count"] == pods, inline.stdout[-2000:]
    assert context["name"] in inline.stdout and cluster["server"] in inline.stdout  # names stay visible

    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    bearer = run_module("etcd_cluster_info", {"host": cluster["server"], "api_key": token, "ca_cert": str(ca)},
                        verbosity=3, env={"KUBECONFIG": "/nonexistent"})
    assert not bearer.failed and bearer["pod_count"] == pods, bearer.stdout[-2000:]

    proc = subprocess.run(["ansible-playbook", "-vvv", "-i", f"{context['name']},", str(REPO / "playbooks" / "etcdctl.yml"),
                           "-e", json.dumps({"etcd_ops_kubeconfig": config, "etcd_ops_context": context["name"],
                                             "ansible_python_interpreter": sys.executable,
                                             "etcd_namespace": NS1, "etcd_pod": "etcd-main-0", "etcdctl": "endpoint health",
                                             "debug_container_image": fleet_debug_image})],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '"health": true' in proc.stdout
    assert_no_secret([inline.stdout, inline.stderr, json.dumps(dict(inline)), bearer.stdout, bearer.stderr, json.dumps(dict(bearer)),
                      proc.stdout, proc.stderr], scoped["tokens"])


# ------------------------------------------------------------------------------------ sliced sweep

def sliced_inventory(script: Path, number: int, count: int, tmp_path: Path) -> Path:
    """The inventory of slice `number` of `count` as AWX writes it for a sliced job: its hosts
    ordered by name, every count-th from number-1 (Inventory.get_script_data with slice_number /
    slice_count, Inventory.get_sliced_hosts: host_queryset[offset::slice_count]), groups and
    hostvars of those hosts only."""
    data = json.loads(subprocess.run([str(script)], capture_output=True, text=True, check=True).stdout)
    hosts = sorted(data["_meta"]["hostvars"])[number - 1::count]
    sliced = {"_meta": {"hostvars": {h: data["_meta"]["hostvars"][h] for h in hosts}}}
    for group, body in data.items():
        if group != "_meta" and isinstance(body, dict):
            sliced[group] = dict(body, hosts=[h for h in body.get("hosts", []) if h in hosts])
    path = tmp_path / f"slice-{number}" / "hosts"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\ncat <<'EOF'\n" + json.dumps(sliced) + "\nEOF\n")
    path.chmod(0o700)
    return path


def comparable(report: dict) -> dict:
    """What a sliced and an unsliced sweep of the same fleet must agree on: the summary and every
    finding (times, durations and the per-member metrics of a moment differ by nature)."""
    def finding(f):
        return {k: f[k] for k in ("code", "severity", "cluster", "namespace", "etcd", "members", "remedy")}
    return {"summary": report["summary"], "findings": [finding(f) for f in report["findings"]],
            "etcds": [(c["name"], e["namespace"], e["etcd"], e["status"], e["leader"] is not None, [m["pod"] for m in e["members"]])
                      for c in report["clusters"] for e in c["etcds"]]}


@pytest.fixture
def unhealthy_backup(state):
    """A critical finding on testbed-2 for both sweeps to find: its NS2 etcd-main's backup-restore
    /healthz answers 503 in every member."""
    from testbed import faults
    faults.backup_fault(state, 2, "etcd-main", "backup-unhealthy", workloads.namespace_for(2))
    yield
    faults.backup_fault(state, 2, "etcd-main", "backup-unhealthy", workloads.namespace_for(2), heal_it=True)
    faults.heal(state, 2)


def test_sliced_sweep_merges_into_the_unsliced_report(fleet, fleet_debug_image, scoped, unhealthy_backup, tmp_path):
    """The workflow "etcd health sweep (sliced)" as AWX runs it: the slices of "etcd health sweep
    (slice)" (each its own job, inventory and private data dir, awx_job_id of its own, the
    workflow's survey answers as extra vars), their artifacts merged as WorkflowJob.
    get_effective_artifacts merges them (dict.update in finishing order) and handed to the merge
    node as extra vars; the merged report equals an unsliced sweep's, and only the merge fails."""
    workflow = OBJECTS["etcd_ops_awx_workflow_job_templates"][0]
    nodes = {n["identifier"]: job_template(n["unified_job_template"]["name"]) for n in workflow["nodes"]}
    inventory = inventory_update(tmp_path, scoped["text"])
    credentials = [("etcd kubeconfig", {"kubeconfig": scoped["text"]})]
    answers = {"debug_container_image": fleet_debug_image, "fleet_report_fail_on": "warning",
               "etcd_discover_namespaces": f"{NS1}, {workloads.namespace_for(2)}"}
    answers_unsliced = survey_vars(job_template("etcd health sweep"), answers,
                                   admin_extra_vars={"fleet_report_dir": str(tmp_path / "unsliced")})
    runner, stdout, _pdd = run_job(tmp_path, job_template("etcd health sweep"), answers_unsliced, credentials, inventory=inventory,
                                   limit="testbed-1,testbed-2", verbosity=0)
    unsliced = json.loads((tmp_path / "unsliced" / "health_report.json").read_text())
    assert unsliced["summary"]["clusters"] == 2, stdout[-2000:]
    backup = [f for f in unsliced["findings"] if (f["cluster"], f["etcd"]) == ("testbed-2", "etcd-main") and f["code"].startswith("BACKUP_")]
    assert backup and backup[0]["severity"] == "critical", unsliced["findings"]
    assert unsliced["summary"]["failed"] is True and runner.status == "failed"

    count = 2
    artifacts, slice_reports = {}, []
    for number in range(1, count + 1):
        template = nodes["slices"]
        # the workflow's survey answers (workflow extra vars win over the node's template), the slice template's extra_vars
        extravars = {**survey_vars(template, answers), **survey_vars(workflow, answers), "awx_job_id": 1000 + number,
                     "fleet_report_dir": str(tmp_path / f"slice-report-{number}")}
        runner, stdout, _pdd = run_job(tmp_path, template, extravars, credentials,
                                       inventory=sliced_inventory(inventory, number, count, tmp_path), verbosity=0)
        # a slice never fails on findings: the merge decides once
        assert runner.status == "successful" and runner.rc == 0, stdout[-3000:]
        published = stats_artifacts(runner)
        assert f"etcd_health_partial_{1000 + number}" in published, published.keys()
        artifacts.update(published)
        slice_reports.append(json.loads((tmp_path / f"slice-report-{number}" / "health_report.json").read_text()))
    assert [r["summary"]["clusters"] for r in slice_reports] == [1, 1]

    merge = nodes["merge"]
    extravars = {**survey_vars(merge, {"fleet_report_fail_on": "warning"}), **artifacts, **survey_vars(workflow, answers),
                 "fleet_report_dir": str(tmp_path / "merged")}
    runner, stdout, _pdd = run_job(tmp_path, merge, extravars, [], inventory=inventory, verbosity=0)
    merged = json.loads((tmp_path / "merged" / "health_report.json").read_text())
    jsonschema.validate(merged, SCHEMA)
    assert comparable(merged) == comparable(unsliced)
    # one fail-on decision, the same as the unsliced sweep's: the merge fails, no slice did
    assert runner.status == "failed" and merged["summary"]["failed"] is True, stdout[-3000:]
    assert backup[0]["code"] in stdout
    assert stats_artifacts(runner)["etcd_health_summary"] == merged["summary"]
