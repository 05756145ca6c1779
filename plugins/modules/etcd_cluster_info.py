#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_cluster_info
short_description: Find the etcd pods of a Kubernetes cluster and group them into etcd clusters
version_added: 0.1.0
description:
  - Lists pods by label (etcd-druid and Gardener labels by default), keeps those with an etcd
    container and groups them per namespace into etcd clusters such as C(etcd-main) and
    C(etcd-events).
  - The etcd cluster of a pod is its C(app.kubernetes.io/part-of) label (etcd-druid >= v0.23),
    else its C(instance) label (older etcd-druid), else its StatefulSet, else its name without the ordinal.
  - Also lists the StatefulSets with the same labels; one scaled to 0 (a hibernated shoot) is an etcd
    without pods (C(replicas=0)). Without permission to list StatefulSets it warns and reports pods only.
  - Reads only; what the C(etcd_wrapper.ops.etcd_discover) role runs once per cluster.
author:
  - etcd_wrapper.ops maintainers (@etcd-wrapper-ops)
extends_documentation_fragment:
  - etcd_wrapper.ops.k8s_auth
  - etcd_wrapper.ops.attributes
  - etcd_wrapper.ops.attributes.k8s
  - etcd_wrapper.ops.attributes.info_module
options:
  namespaces:
    description:
      - Namespaces to look in, as names or shell-style patterns (C(shoot--dev--*)). Empty means all.
      - When every entry is a plain name, pods are listed in each of those namespaces only, which
        works with a namespaced Role; a pattern lists pods across all namespaces once.
    type: list
    elements: str
    default: []
  exclude_namespaces:
    description: Namespaces to skip, as names or patterns.
    type: list
    elements: str
    default: []
  etcds:
    description: Etcd clusters to keep, as names or patterns (C(etcd-main)). Empty means all.
    type: list
    elements: str
    default: []
  exclude_etcds:
    description: Etcd clusters to skip, as names or patterns.
    type: list
    elements: str
    default: []
  selectors:
    description:
      - Label selectors; a pod matching any of them is a candidate. Empty means the defaults
        C(app.kubernetes.io/managed-by=etcd-druid,app.kubernetes.io/component=etcd-statefulset),
        C(gardener.cloud/role=controlplane,app=etcd-statefulset) and C(name=etcd,instance).
    type: list
    elements: str
    default: []
  target_container:
    description: Only pods with a container of this name are etcd members.
    type: str
    default: etcd
notes:
  - Needs C(list) on C(pods) in every namespace given, or cluster-wide when O(namespaces) has patterns or is empty.
seealso:
  - module: etcd_wrapper.ops.etcd_ephemeral_container
  - module: etcd_wrapper.ops.etcd_health
"""

EXAMPLES = r"""
- name: Every etcd of a Gardener seed
  etcd_wrapper.ops.etcd_cluster_info:
    context: garden-seed-1
  register: found

- name: Only etcd-main of the dev project's shoots
  etcd_wrapper.ops.etcd_cluster_info:
    context: garden-seed-1
    namespaces: ["shoot--dev--*"]
    etcds: [etcd-main]

- name: Print what was found
  ansible.builtin.debug:
    msg: "{{ found.etcds | map(attribute='namespace') | zip(found.etcds | map(attribute='name')) | map('join', '/') }}"
"""

RETURN = r"""
etcds:
  description: One entry per etcd cluster, sorted by namespace and name.
  returned: success
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace of the etcd.
      type: str
      sample: shoot--dev--alpha
    name:
      description: Name of the etcd cluster.
      type: str
      sample: etcd-main
    pods:
      description:
        - Member pods, sorted by name, each with C(name), C(namespace), C(phase), C(ready), C(ip), C(node),
          C(etcd_state) (C(running), C(waiting (CrashLoopBackOff)), ...), C(restarts) and
          C(ephemeral_containers) (C(name), C(image), C(state)).
        - Empty for a StatefulSet scaled to 0.
      type: list
      elements: dict
    replicas:
      description: The StatefulSet's replicas, null when it was not found (or could not be listed).
      type: int
      sample: 3
namespaces:
  description: Namespaces with at least one etcd.
  returned: success
  type: list
  elements: str
pod_count:
  description: Number of member pods found.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import AUTH_ARG_SPEC, run_k8s_module
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._cluster_info import discover


def main():
    argument_spec = dict(
        namespaces=dict(type="list", elements="str", default=[]),
        exclude_namespaces=dict(type="list", elements="str", default=[]),
        etcds=dict(type="list", elements="str", default=[]),
        exclude_etcds=dict(type="list", elements="str", default=[]),
        selectors=dict(type="list", elements="str", default=[]),
        target_container=dict(type="str", default="etcd"),
        **AUTH_ARG_SPEC,
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_k8s_module(module, discover)


if __name__ == "__main__":
    main()
