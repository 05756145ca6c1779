# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: kubeconfig
short_description: One inventory host per kubeconfig context
version_added: 0.1.0
description:
  - Reads one or many kubeconfig files (paths or globs) and makes one host per context, for
    sweeping many clusters in parallel (each host runs locally against its own cluster).
  - Host variables carry the kubeconfig path and the context (never credentials), so the
    Kubernetes modules of this collection pick them up with
    C(module_defaults) or directly; C(ansible_connection) is C(local).
  - When the files come from the environment (O(kubeconfigs) empty), the path is not pinned
    as C(etcd_ops_kubeconfig); the play resolves E(K8S_AUTH_KUBECONFIG) / E(KUBECONFIG) again
    when it runs. That is what AWX/AAP needs, where the inventory update and every job get
    their own temporary copy of the kubeconfig credential.
  - Groups by kubeconfig file and by user-given context patterns; supports C(compose),
    C(groups) and C(keyed_groups). Usable as an AWX/AAP inventory source.
  - The configuration file name must end with C(kubeconfig.yml) or C(kubeconfig.yaml).
author:
  - etcd_wrapper.ops maintainers (@etcd-wrapper-ops)
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin; it must always be set to V(etcd_wrapper.ops.kubeconfig).
    required: true
    type: str
    choices: [etcd_wrapper.ops.kubeconfig]
  kubeconfigs:
    description:
      - Kubeconfig files or glob patterns (relative paths are relative to this configuration file).
      - If not given, the files in E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG) (colon-separated), then C(~/.kube/config).
    type: list
    elements: str
    default: []
  include_contexts:
    description: Only contexts matching one of these shell patterns.
    type: list
    elements: str
    default: ['*']
  exclude_contexts:
    description: Leave out contexts matching one of these shell patterns.
    type: list
    elements: str
    default: []
  group_by_file:
    description: Put each host in a group named after its kubeconfig file (C(kubeconfig_<file stem>)).
    type: bool
    default: true
  context_groups:
    description:
      - "Extra groups, each a list of context patterns, for example C({prod: ['*-prod-*'], eu: ['eu-*']})."
    type: dict
    default: {}
"""

EXAMPLES = r"""
# fleet.kubeconfig.yml
plugin: etcd_wrapper.ops.kubeconfig
kubeconfigs:
  - ~/.kube/seeds/*.yaml
exclude_contexts:
  - '*-sandbox'
context_groups:
  prod: ['*-prod-*']
keyed_groups:
  - key: etcd_ops_cluster
    prefix: cluster
"""

import fnmatch
import glob
import os
import re
import sys

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False


def _group_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "etcd_wrapper.ops.kubeconfig"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("kubeconfig.yml", "kubeconfig.yaml"))

    def _files(self, base: str) -> tuple[list[str], bool]:
        """The kubeconfig files, and whether they were named (pinned) rather than taken from the environment."""
        patterns = self.get_option("kubeconfigs")
        pinned = bool(patterns)
        if not patterns:
            env = os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or "~/.kube/config"
            patterns = [p for p in env.split(os.pathsep) if p]
        files = []
        for pattern in patterns:
            pattern = os.path.expanduser(os.path.expandvars(pattern))
            if not os.path.isabs(pattern):
                pattern = os.path.join(base, pattern)
            matches = sorted(glob.glob(pattern))
            if not matches:
                self.display.warning(f"kubeconfig inventory: no file matches {pattern}")
            files.extend(m for m in matches if os.path.isfile(m) and m not in files)
        return files, pinned

    def _wanted(self, context: str) -> bool:
        include = self.get_option("include_contexts") or ["*"]
        exclude = self.get_option("exclude_contexts") or []
        return any(fnmatch.fnmatchcase(context, p) for p in include) and not any(
            fnmatch.fnmatchcase(context, p) for p in exclude)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if not HAS_YAML:
            raise AnsibleParserError("the kubeconfig inventory needs PyYAML")
        strict = self.get_option("strict")
        files, pinned = self._files(os.path.dirname(os.path.abspath(path)))
        for kubeconfig in files:
            try:
                with open(kubeconfig, encoding="utf-8") as fh:
                    config = yaml.safe_load(fh) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise AnsibleParserError(f"cannot read kubeconfig {kubeconfig}: {str(exc).splitlines()[0]}") from None
            clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
            file_group = "kubeconfig_" + _group_name(os.path.splitext(os.path.basename(kubeconfig))[0])
            for entry in config.get("contexts") or []:
                name, context = entry.get("name"), entry.get("context") or {}
                if not name or not self._wanted(name):
                    continue
                if name in self.inventory.hosts:
                    self.display.warning(f"kubeconfig inventory: context {name} in {kubeconfig} is already a host; skipped")
                    continue
                self.inventory.add_host(name)
                variables = {
                    "ansible_connection": "local",
                    # the hosts run on the controller: its own Python (ansible_playbook_python)
                    "ansible_python_interpreter": sys.executable,
                    "etcd_ops_context": name,
                    "etcd_ops_cluster": context.get("cluster"),
                    "etcd_ops_server": clusters.get(context.get("cluster"), {}).get("server"),
                    "etcd_ops_namespace": context.get("namespace"),
                }
                if pinned:
                    variables["etcd_ops_kubeconfig"] = kubeconfig
                for key, value in variables.items():
                    self.inventory.set_variable(name, key, value)
                if self.get_option("group_by_file"):
                    self.inventory.add_group(file_group)
                    self.inventory.add_child(file_group, name)
                for group, patterns in (self.get_option("context_groups") or {}).items():
                    if any(fnmatch.fnmatchcase(name, p) for p in patterns or []):
                        group = _group_name(group)
                        self.inventory.add_group(group)
                        self.inventory.add_child(group, name)
                self._set_composite_vars(self.get_option("compose"), variables, name, strict=strict)
                self._add_host_to_composed_groups(self.get_option("groups"), variables, name, strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, name, strict=strict)
