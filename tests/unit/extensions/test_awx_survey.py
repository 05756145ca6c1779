# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""extensions/awx/objects.yml checked statically against the rules AWX applies when configure.yml
creates the objects, and when a job is launched:

- survey spec (AWX's JobTemplateSurveySpec view, POST): ``name``/``description`` strings, a
  non-empty ``spec``; per question ``type``/``question_name``/``variable`` strings and a boolean
  ``required``, unique variables, a known type, a default of the question's type, ``min``/``max``
  integers (also for float questions), choices for multiplechoice/multiselect with the default among
  them (one for multiplechoice), no ``$encrypted$`` default outside passwords;
- launch (SurveyJobTemplateMixin): a default that fails the question's own checks (length of text,
  range of numbers, choice) is silently dropped, so every default must pass them;
- credential types (CredentialTypeInputField / CredentialTypeInjectorField, kind): input ids,
  field keys and types, injectors that only use declared inputs (and ``tower.filename`` only with a
  file injector), environment variables AWX allows;
- what the playbooks need: every variable a role of the playbook requires, or the playbook asserts,
  comes from the survey (required there) or the template; survey answers are of the type the role
  declares; every survey variable is read.

Rules re-stated from the AWX source (awx/api/views/__init__.py, awx/main/models/mixins.py,
awx/main/fields.py, awx/api/serializers.py at AWX 24.6), not imported: AWX is not a dependency.
"""

from __future__ import annotations

import keyword
import os
import re

import jinja2
import jinja2.sandbox
import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
AWX_DIR = os.path.join(REPO, "extensions", "awx")

# question type -> the Python types AWX accepts as its default (bool is an int in Python, AWX
# would take it; an answer of True for an integer question is still wrong, so it is refused here)
SURVEY_TYPES = {"text": (str,), "textarea": (str,), "password": (str,), "multiplechoice": (str,),
                "multiselect": (str,), "integer": (int,), "float": (float, int)}
TEXT_TYPES = ("text", "textarea", "password")
# variable prefixes AWX sets itself on every job (awx_job_id, tower_user_name, ...)
AWX_VARIABLE_PREFIXES = ("awx_", "tower_")
# environment variables AWX refuses in credential injectors (awx.main.constants.ENV_BLOCKLIST)
ENV_BLOCKLIST = {"VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
                 "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES",
                 "CALLBACK_QUEUE", "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS",
                 "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH"}
NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
FILE_INJECTOR_RE = re.compile(r"^template(\.[a-zA-Z_][a-zA-Z0-9_]*)?$")
INPUT_FIELD_KEYS = {"id", "type", "format", "choices", "label", "help_text", "multiline", "secret", "ask_at_runtime", "default"}
JOB_TEMPLATE_BOOLS = ("allow_simultaneous", "ask_limit_on_launch", "ask_credential_on_launch", "ask_verbosity_on_launch",
                      "ask_variables_on_launch")
# survey answer type -> role argument_specs types it may feed (a comma-separated text becomes a
# list: Ansible's argument spec splits strings on commas)
ANSWER_FITS = {"text": {"str", "list", "path", "raw"}, "textarea": {"str", "list", "raw"}, "password": {"str", "raw"},
               "multiplechoice": {"str", "bool", "raw"}, "multiselect": {"list", "raw"}, "integer": {"int", "float", "raw"},
               "float": {"float", "raw"}}


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """objects.yml as AWX receives it: `!unsafe` strings are plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_objects(path: str = os.path.join(AWX_DIR, "objects.yml")) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)  # nosec B506 - a safe loader plus one tag


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choices(question: dict) -> list:
    choices = question.get("choices")
    if isinstance(choices, str):
        return [c for c in choices.splitlines() if c.strip()]
    return list(choices or [])


def answer_errors(question: dict, value) -> list[str]:
    """AWX's launch-time check of one answer (also applied to the default: a failing default is dropped)."""
    var, qtype = question["variable"], question["type"]
    low, high = question.get("min"), question.get("max")
    low = None if low in ("", None) else low
    high = None if high in ("", None) else high
    if qtype in TEXT_TYPES:
        if not isinstance(value, str):
            return [f"{var}: {value!r} is not a string"]
        if low is not None and len(value) < int(low):
            return [f"{var}: {value!r} is shorter than {low}"]
        if high is not None and len(value) > int(high):
            return [f"{var}: {value!r} is longer than {high}"]
    elif qtype == "integer":
        if not _is_int(value):
            return [f"{var}: {value!r} is not an integer"]
        if (low is not None and value < int(low)) or (high is not None and value > int(high)):
            return [f"{var}: {value} is outside [{low}, {high}]"]
    elif qtype == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{var}: {value!r} is not a number"]
        if (low is not None and value < float(low)) or (high is not None and value > float(high)):
            return [f"{var}: {value} is outside [{low}, {high}]"]
    elif qtype == "multiplechoice":
        if value not in _choices(question):
            return [f"{var}: {value!r} is not one of {_choices(question)}"]
    elif qtype == "multiselect":
        if not isinstance(value, list) or any(v not in _choices(question) for v in value):
            return [f"{var}: {value!r} is not a list of {_choices(question)}"]
    return []


def survey_errors(name: str, description, spec) -> list[str]:
    """What AWX refuses when the survey is saved, plus defaults it would drop at launch."""
    errors = []
    for field, expect in (("name", str), ("description", str), ("spec", list)):
        value = {"name": name, "description": description, "spec": spec}[field]
        if not isinstance(value, expect):
            errors.append(f"survey {field} must be a {expect.__name__}, is {type(value).__name__}")
    if not isinstance(spec, list) or not spec:
        return errors + ["the survey has no questions"]
    seen = set()
    for idx, question in enumerate(spec):
        where = f"question {idx} ({question.get('variable') if isinstance(question, dict) else question!r})"
        if not isinstance(question, dict):
            errors.append(f"{where}: not a mapping")
            continue
        missing = [f for f in ("type", "question_name", "variable", "required") if f not in question]
        if missing:
            errors.append(f"{where}: missing {missing}")
            continue
        bad = [f for f in ("type", "question_name", "variable") if not isinstance(question[f], str)]
        if bad or not isinstance(question["required"], bool):
            errors.append(f"{where}: {bad or ['required']} of the wrong type (strings; required a boolean)")
            continue
        var, qtype = question["variable"], question["type"]
        if var in seen:
            errors.append(f"{where}: variable {var} duplicated")
        seen.add(var)
        if not NAME_RE.match(var) or keyword.iskeyword(var) or var.startswith(AWX_VARIABLE_PREFIXES):
            errors.append(f"{where}: {var!r} is not a usable Ansible variable name")
        if qtype not in SURVEY_TYPES:
            errors.append(f"{where}: type {qtype!r} is not one of {sorted(SURVEY_TYPES)}")
            continue
        default = question.get("default")
        if default not in (None, "") and (not isinstance(default, SURVEY_TYPES[qtype])
                                          or (qtype == "integer" and isinstance(default, bool))):
            errors.append(f"{where}: default {default!r} is not of type {qtype}")
        for key in ("min", "max"):
            if question.get(key) is not None and not _is_int(question[key]):
                errors.append(f"{where}: {key} {question[key]!r} must be an integer (AWX refuses the survey)")
        if _is_int(question.get("min")) and _is_int(question.get("max")) and question["min"] > question["max"]:
            errors.append(f"{where}: min > max")
        if qtype in ("multiplechoice", "multiselect"):
            choices = _choices(question)
            if not choices:
                errors.append(f"{where}: {qtype} needs choices")
            elif not all(isinstance(c, str) for c in choices) or len(set(choices)) != len(choices):
                errors.append(f"{where}: choices must be distinct strings")
            if default not in (None, ""):
                defaults = default.splitlines() if isinstance(default, str) else list(default)
                if qtype == "multiplechoice" and len(defaults) > 1:
                    errors.append(f"{where}: a multiplechoice question has one default")
                if any(d not in choices for d in defaults):
                    errors.append(f"{where}: default {default!r} is not among the choices")
        if isinstance(default, str) and default.startswith("$encrypted$") and qtype != "password":
            errors.append(f"{where}: $encrypted$ is reserved for password defaults")
        if default is not None and qtype not in ("multiplechoice", "multiselect"):
            # a default failing the question's own checks is silently left out at launch; '' on a
            # required question is the way to say "no default": the user has to answer
            if not (default == "" and question["required"]):
                errors += [f"{where}: default dropped at launch: {e}" for e in answer_errors(question, default)]
        if question["required"] and qtype in TEXT_TYPES and question.get("min") == 0:
            errors.append(f"{where}: required, but min 0 accepts an empty answer")
    return errors


def credential_type_errors(ctype: dict) -> list[str]:
    """What AWX refuses in a custom credential type."""
    errors = []
    name = ctype.get("name")
    if ctype.get("kind") not in ("cloud", "net"):
        errors.append(f"{name}: kind must be cloud or net")
    inputs = ctype.get("inputs") or {}
    if set(inputs) - {"fields", "required"}:
        errors.append(f"{name}: unknown inputs keys {set(inputs) - {'fields', 'required'}}")
    ids = []
    for field in inputs.get("fields", []):
        fid = field.get("id")
        if set(field) - INPUT_FIELD_KEYS:
            errors.append(f"{name}.{fid}: unknown keys {set(field) - INPUT_FIELD_KEYS}")
        if not isinstance(fid, str) or not NAME_RE.match(fid) or fid == "tower":
            errors.append(f"{name}: invalid input id {fid!r}")
        if "label" not in field:
            errors.append(f"{name}.{fid}: label missing")
        ftype = field.get("type", "string")
        if ftype not in ("string", "boolean"):
            errors.append(f"{name}.{fid}: type {ftype!r}")
        if ftype != "string" and set(field) & {"choices", "multiline", "format", "secret"}:
            errors.append(f"{name}.{fid}: choices/multiline/format/secret only for strings")
        if "default" in field and not isinstance(field["default"], {"string": str, "boolean": bool}.get(ftype, ())):
            errors.append(f"{name}.{fid}: default is not a {ftype}")
        if fid in ids:
            errors.append(f"{name}: input id {fid} duplicated")
        ids.append(fid)
    for req in inputs.get("required", []):
        if req not in ids:
            errors.append(f"{name}: required input {req} is not a field")

    injectors = ctype.get("injectors") or {}
    if set(injectors) - {"file", "env", "extra_vars"}:
        errors.append(f"{name}: unknown injector kinds {set(injectors) - {'file', 'env', 'extra_vars'}}")
    files = list((injectors.get("file") or {}).keys())
    if any(not FILE_INJECTOR_RE.match(k) for k in files):
        errors.append(f"{name}: file injector keys must be template or template.<name>: {files}")
    if "template" in files and len(files) > 1:
        errors.append(f"{name}: one unnamed file or named files only")
    context: dict = {fid: "EXAMPLE" for fid in ids}
    if "template" in files:
        context["tower"] = {"filename": "EXAMPLE_FILENAME"}
    elif files:
        context["tower"] = {"filename": {k.split(".", 1)[1]: "EXAMPLE_FILENAME" for k in files}}
    render = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    for kind, entries in injectors.items():
        for key, template in (entries or {}).items():
            if kind == "env":
                if not NAME_RE.match(key) or key.startswith("ANSIBLE_") or key in ENV_BLOCKLIST:
                    errors.append(f"{name}: environment variable {key} is not allowed in a credential")
                if not str(template).isascii():
                    errors.append(f"{name}: env {key} is not ASCII")
            if kind == "extra_vars" and not re.match(r"^[a-zA-Z_{}][a-zA-Z0-9_{}]*$", key):
                errors.append(f"{name}: extra var name {key!r}")
            if not isinstance(template, str):
                errors.append(f"{name}: {kind} {key} is not a string")
                continue
            try:
                render.from_string(template).render(context)
            except jinja2.TemplateError as exc:
                errors.append(f"{name}: {kind} {key} uses something that is not an input ({exc})")
    return errors


def _role_specs(playbook: dict | list) -> dict:
    """{option: spec} of the main entry points of the collection's roles a playbook runs."""
    options = {}
    for play in playbook:
        for role in play.get("roles", []):
            role_name = (role["role"] if isinstance(role, dict) else role).rsplit(".", 1)[-1]
            path = os.path.join(REPO, "roles", role_name, "meta", "argument_specs.yml")
            with open(path, encoding="utf-8") as fh:
                options.update(yaml.safe_load(fh)["argument_specs"]["main"].get("options", {}))
    return options


def _asserted_variables(playbook: list) -> set[str]:
    """Variables the playbook's assert tasks require (`x is defined`)."""
    found = set()
    for play in playbook:
        for task in play.get("pre_tasks", []) + play.get("tasks", []):
            check = task.get("ansible.builtin.assert") or task.get("assert")
            if check:
                for cond in check.get("that", []):
                    found |= set(re.findall(r"\b([a-zA-Z_]\w*) is defined", cond))
    return found


def job_template_errors(template: dict, objects: dict) -> list[str]:
    """Fields AWX needs, and what the playbook needs from the survey, the template and the credentials."""
    name = template["name"]
    errors = survey_errors(name, template.get("description"), template.get("survey"))
    path = os.path.join(REPO, template["playbook"])
    if not os.path.isfile(path):
        return errors + [f"{name}: playbook {template['playbook']} does not exist"]
    ctypes = {c["name"]: c for c in objects["etcd_ops_awx_credential_types"]}
    for cname in template.get("credential_types", []):
        if cname not in ctypes:
            errors.append(f"{name}: unknown credential type {cname}")
    for key in ("forks", "timeout"):
        if not _is_int(template.get(key)) or template[key] < 0:
            errors.append(f"{name}: {key} must be a non-negative integer")
    for key in JOB_TEMPLATE_BOOLS:
        if not isinstance(template.get(key), bool):
            errors.append(f"{name}: {key} must be a boolean")
    if not isinstance(template.get("extra_vars"), dict):
        return errors + [f"{name}: extra_vars must be a mapping"]

    survey = {q["variable"]: q for q in template.get("survey") or [] if isinstance(q, dict) and "variable" in q}
    injected = {k for c in template.get("credential_types", []) if c in ctypes
                for k in (ctypes[c].get("injectors", {}).get("extra_vars") or {})}
    for clash in (set(survey) & set(template["extra_vars"])) | (set(survey) & injected):
        errors.append(f"{name}: {clash} is set twice (survey and template extra_vars or a credential)")

    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    playbook = yaml.safe_load(text)
    specs = _role_specs(playbook)
    needed = {o for o, s in specs.items() if s.get("required")} | _asserted_variables(playbook)
    for var in sorted(needed):
        if var in template["extra_vars"] or var in injected:
            continue
        if var not in survey:
            errors.append(f"{name}: the playbook needs {var}, neither the survey nor the template sets it")
        elif not survey[var]["required"]:
            errors.append(f"{name}: the playbook needs {var}, its survey question is not required")
    for var, question in survey.items():
        if var in specs:
            spec = specs[var]
            if spec.get("type", "str") not in ANSWER_FITS.get(question["type"], set()):
                errors.append(f"{name}: {var} is a {question['type']} answer, the role takes {spec.get('type', 'str')}")
            if spec.get("choices") and question["type"] == "multiplechoice" and set(_choices(question)) - set(spec["choices"]):
                errors.append(f"{name}: {var} offers choices the role refuses: {set(_choices(question)) - set(spec['choices'])}")
        elif not re.search(rf"\b{re.escape(var)}\b", text):
            errors.append(f"{name}: nothing in {template['playbook']} or its roles reads {var}")
    return errors


# ----------------------------------------------------------------------------- the shipped objects

OBJECTS = load_objects()
TEMPLATES = OBJECTS["etcd_ops_awx_job_templates"]


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_job_template(template):
    assert job_template_errors(template, OBJECTS) == []


@pytest.mark.parametrize("ctype", OBJECTS["etcd_ops_awx_credential_types"], ids=lambda c: c["name"])
def test_credential_type(ctype):
    assert credential_type_errors(ctype) == []


def test_inventory_source():
    source = OBJECTS["etcd_ops_awx_inventory_source"]
    assert source["source"] == "scm"
    assert os.path.isfile(os.path.join(REPO, source["source_path"]))
    assert source["credential"] in {c["name"] for c in OBJECTS["etcd_ops_awx_credential_types"]}
    assert all(_is_int(source[k]) and source[k] >= 0 for k in ("update_cache_timeout", "timeout"))


def test_quota_defaults_are_ordered():
    """The sweep's warning ratio is below its critical ratio, both in (0, 1]."""
    survey = {q["variable"]: q for q in next(t for t in TEMPLATES if t["name"] == "etcd health sweep")["survey"]}
    warning = survey["etcd_health_db_quota_warning"]["default"]
    critical = survey["etcd_health_db_quota_critical"]["default"]
    assert 0 < warning < critical <= 1


def test_allow_write_only_in_adhoc_and_off_by_default():
    writes = [(t["name"], q) for t in TEMPLATES for q in t["survey"] if q["variable"] == "allow_write"]
    assert [n for n, _q in writes] == ["etcd ad-hoc etcdctl"]
    assert writes[0][1]["default"] == "false" and writes[0][1]["required"]


# ------------------------------------------------------------- the checks catch what AWX refuses

QUOTA = {"variable": "etcd_health_db_quota_warning", "question_name": "DB quota warning ratio", "type": "float",
         "required": True, "min": 0, "max": 1, "default": 0.8}


@pytest.mark.parametrize("change, message", [
    ({"min": 0.1, "max": 1.0}, "min 0.1 must be an integer"),
    ({"default": "0.8"}, "is not of type float"),
    ({"default": 1.5}, "default dropped at launch"),
    ({"type": "number"}, "is not one of"),
    ({"required": "yes"}, "of the wrong type"),
    ({"variable": "awx_ratio"}, "not a usable Ansible variable name"),
    ({"variable": "db quota"}, "not a usable Ansible variable name"),
])
def test_survey_rules_refuse(change, message):
    errors = survey_errors("t", "d", [{**QUOTA, **change}])
    assert any(message in e for e in errors), errors


def test_survey_rules_more():
    choice = {"variable": "mode", "question_name": "Mode", "type": "multiplechoice", "required": True}
    assert any("needs choices" in e for e in survey_errors("t", "d", [choice]))
    assert any("not among the choices" in e for e in survey_errors("t", "d", [{**choice, "choices": ["a"], "default": "b"}]))
    assert any("one default" in e for e in survey_errors("t", "d", [{**choice, "choices": ["a", "b"], "default": "a\nb"}]))
    assert any("duplicated" in e for e in survey_errors("t", "d", [QUOTA, QUOTA]))
    assert any("no questions" in e for e in survey_errors("t", "d", []))
    text = {"variable": "ns", "question_name": "Namespace", "type": "text", "required": False, "min": 1, "max": 3}
    assert any("default dropped" in e for e in survey_errors("t", "d", [{**text, "default": "toolong"}]))
    assert any("default dropped" in e for e in survey_errors("t", "d", [{**text, "default": ""}]))
    assert survey_errors("t", "d", [{**text, "required": True, "default": ""}]) == []
    assert survey_errors("t", "d", [QUOTA, {**choice, "choices": "a\nb\n", "default": "a"}]) == []


def test_credential_rules_refuse():
    good = OBJECTS["etcd_ops_awx_credential_types"][0]
    assert credential_type_errors(good) == []
    bad = {**good, "injectors": {"env": {"ANSIBLE_CONFIG": "{{ kubeconfig }}", "PATH": "x", "TOKEN": "{{ token }}"}}}
    errors = credential_type_errors(bad)
    assert sum("not allowed" in e for e in errors) == 2 and any("TOKEN" in e and "not an input" in e for e in errors), errors
    no_file = {**good, "injectors": {"env": {"KUBECONFIG": "{{ tower.filename }}"}}}
    assert any("not an input" in e for e in credential_type_errors(no_file))


def test_playbook_needs_are_checked():
    build = next(t for t in TEMPLATES if t["name"] == "build debug image")
    without = {**build, "survey": [q for q in build["survey"] if q["variable"] != "debug_image_name"]}
    assert any("needs debug_image_name" in e for e in job_template_errors(without, OBJECTS))
    adhoc = next(t for t in TEMPLATES if t["name"] == "etcd ad-hoc etcdctl")
    optional = {**adhoc, "survey": [{**q, "required": False} if q["variable"] == "etcd_pod" else q for q in adhoc["survey"]]}
    assert any("needs etcd_pod" in e for e in job_template_errors(optional, OBJECTS))
    unread = {**adhoc, "survey": adhoc["survey"] + [{**QUOTA, "variable": "nobody_reads_this"}]}
    assert any("reads nobody_reads_this" in e for e in job_template_errors(unread, OBJECTS))


def test_survey_threshold_defaults_are_the_findings_defaults():
    """The sweep survey shows thresholds with defaults: the numbers _findings.DEFAULT_THRESHOLDS holds."""
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._findings import DEFAULT_THRESHOLDS
    shown = {q["variable"][len("etcd_health_"):]: q["default"]
             for t in load_objects()["etcd_ops_awx_job_templates"] for q in t.get("survey") or []
             if q["variable"].startswith("etcd_health_") and q["variable"][len("etcd_health_"):] in DEFAULT_THRESHOLDS}
    assert len(shown) == 3, shown
    assert shown == {k: DEFAULT_THRESHOLDS[k] for k in shown}


# ----------------------------------------------------------------------------- sliced sweeps

WORKFLOWS = OBJECTS["etcd_ops_awx_workflow_job_templates"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w["name"] for w in WORKFLOWS])
def test_workflow(workflow):
    """A workflow's survey follows the survey rules; its nodes name job templates of objects.yml in
    awx.awx's workflow_nodes shape, unique identifiers, edges to existing nodes, no cycle."""
    assert survey_errors(workflow["name"], workflow["description"], workflow["survey"]) == []
    names = {t["name"] for t in TEMPLATES}
    ids = [n["identifier"] for n in workflow["nodes"]]
    assert len(ids) == len(set(ids))
    edges = {}
    for node in workflow["nodes"]:
        assert node["unified_job_template"]["type"] == "job_template" and node["unified_job_template"]["name"] in names, node
        related = node.get("related") or {}
        assert set(related) <= {"success_nodes", "failure_nodes", "always_nodes"}
        edges[node["identifier"]] = [e["identifier"] for kind in related.values() for e in kind]
        assert set(edges[node["identifier"]]) <= set(ids)
    seen, stack = set(), [i for i in ids if not any(i in e for e in edges.values())]
    assert stack, "no root node"
    while stack:
        node = stack.pop()
        assert node not in seen, "cycle"
        seen.add(node)
        stack.extend(edges[node])


def test_sliced_sweep_slices_publish_and_the_merge_decides():
    """The slices never fail on findings and publish their partial report (fleet_report_slice), the
    merge reads them on "always" (a failed slice still reaches it), and every template states
    its job_slice_count (1 unless sliced)."""
    by_name = {t["name"]: t for t in TEMPLATES}
    (workflow,) = WORKFLOWS
    nodes = {n["identifier"]: n for n in workflow["nodes"]}
    slices = by_name[nodes["slices"]["unified_job_template"]["name"]]
    merge = by_name[nodes["merge"]["unified_job_template"]["name"]]
    assert slices["extra_vars"] == {"fleet_report_slice": True} and slices["job_slice_count"] > 1
    assert slices["playbook"] == "playbooks/health_sweep.yml" and merge["playbook"] == "playbooks/merge_reports.yml"
    assert nodes["slices"]["related"] == {"always_nodes": [{"identifier": "merge"}]}
    assert all(_is_int(t["job_slice_count"]) and t["job_slice_count"] >= 1 for t in TEMPLATES)
    assert "fleet_report_fail_on" in {q["variable"] for q in workflow["survey"]}
