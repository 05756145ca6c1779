#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_ephemeral_container
short_description: Attach a debug container to a distroless etcd pod (kubectl debug --target)
version_added: 0.1.0
description:
  - Adds an ephemeral container to a running pod through the C(pods/ephemeralcontainers)
    subresource, joined to the target container's process namespace, as
    C(kubectl debug <pod> --image=<image> --target=etcd) does, and waits until it runs.
  - By default it also mounts the target container's volumes read-only at the same paths,
    so etcd's TLS material is where etcd sees it (what kubectl debug cannot do).
  - Idempotent; ephemeral containers can never be removed, so one is added only when needed.
    A running container with the same name and image is reused (C(changed=false)); if the name
    is taken by a terminated container or another image, C(<name>-2), C(<name>-3), ... is used.
  - Fails fast with the kubelet's message on image pull errors instead of waiting for the timeout,
    and adds nothing when the target container is not running and the pod does not share one PID
    namespace (a debug container could not join it). Pods with C(shareProcessNamespace) - etcd-druid's -
    get one either way - it joins the pod's namespace and starts, so a stopped member can be looked at.
author:
  - etcd_wrapper.ops maintainers (@etcd-wrapper-ops)
extends_documentation_fragment:
  - etcd_wrapper.ops.k8s_auth
  - etcd_wrapper.ops.attributes
  - etcd_wrapper.ops.attributes.k8s
attributes:
  check_mode:
    support: full
    details:
      - Reads the pod and reports the container it would add (RV(spec)); patches nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  namespace:
    description:
      - Namespace of the pod(s).
      - Required with O(pod), and with O(pods) unless every entry names its own namespace.
    type: str
  pod:
    description:
      - Name of the pod, for example C(etcd-main-0).
      - Exactly one of O(pod) and O(pods) is required.
    type: str
  pods:
    description:
      - Several pods, handled at most O(concurrency) at a time in one task (what the
        C(etcd_wrapper.ops.debug_container) role uses for all members of a cluster).
      - An entry C(<namespace>/<pod>) names its own namespace, so one task covers pods of many
        namespaces; a plain name is in O(namespace).
      - Every pod is tried; the task fails when any pod failed, and RV(containers) holds each pod's
        result either way.
    type: list
    elements: str
  concurrency:
    description: With O(pods), how many pods are handled at the same time.
    type: int
    default: 5
  target_container:
    description: The container whose process namespace the debug container joins.
    type: str
    default: etcd
  image:
    description: The debug image, for example one built by M(etcd_wrapper.ops.etcd_debug_image).
    type: str
    required: true
  name:
    description: Name of the ephemeral container.
    type: str
    default: etcd-debug
  command:
    description:
      - Command of the debug container. The default keeps it alive without a TTY (C(sleep infinity)),
        so later execs (M(etcd_wrapper.ops.etcdctl_exec)) find it running.
    type: list
    elements: str
  profile:
    description:
      - The securityContext profile, as C(kubectl debug --profile) defines them.
      - V(general) adds C(SYS_PTRACE); V(baseline) adds nothing; V(restricted) runs as non-root,
        drops all capabilities, forbids privilege escalation and uses the RuntimeDefault seccomp
        profile (the only one that passes a C(restricted) PodSecurity namespace); V(netadmin) adds
        C(NET_ADMIN) and C(NET_RAW); V(sysadmin) is privileged.
    type: str
    choices: [general, baseline, restricted, netadmin, sysadmin]
    default: general
  mount_target_volumes:
    description: Mount the target container's volumeMounts read-only at the same paths.
    type: bool
    default: true
  env:
    description: Environment variables of the debug container.
    type: dict
  image_pull_policy:
    description: Image pull policy of the debug container.
    type: str
    choices: [Always, IfNotPresent, Never]
  wait:
    description: Wait until the container runs.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the container to run.
    type: int
    default: 120
notes:
  - Needs C(get) on C(pods) and C(patch) on C(pods/ephemeralcontainers) in the namespace.
seealso:
  - module: etcd_wrapper.ops.etcdctl_exec
  - module: etcd_wrapper.ops.etcd_debug_image
  - name: kubectl debug
    description: The command this module automates.
    link: https://kubernetes.io/docs/tasks/debug/debug-application/debug-running-pod/#ephemeral-container
"""

EXAMPLES = r"""
- name: Attach the debug container to etcd-main-0 (kubectl debug --profile=general)
  etcd_wrapper.ops.etcd_ephemeral_container:
    context: garden-seed-1
    namespace: shoot--dev--beta
    pod: etcd-main-0
    image: registry.example.com/ops/etcd-debug:0.1.0
  register: debug

- name: In a namespace enforcing the restricted Pod Security Standard
  etcd_wrapper.ops.etcd_ephemeral_container:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    pod: etcd-main-1
    image: registry.example.com/ops/etcd-debug:0.1.0
    profile: restricted

- name: Attach to all members of etcd-main, three at a time, and read each pod's result
  etcd_wrapper.ops.etcd_ephemeral_container:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    pods: [etcd-main-0, etcd-main-1, etcd-main-2]
    concurrency: 3
    image: registry.example.com/ops/etcd-debug:0.1.0
    profile: restricted
  register: debug_all
  failed_when: false

- name: Show the pods where it failed
  ansible.builtin.debug:
    msg: "{{ debug_all.containers | selectattr('failed') | map(attribute='msg') }}"

- name: Set the connection once for all Kubernetes tasks
  module_defaults:
    group/etcd_wrapper.ops.k8s:
      kubeconfig: /etc/ops/seed.kubeconfig
      context: garden-seed-1
  block:
    - name: Attach to every member
      etcd_wrapper.ops.etcd_ephemeral_container:
        namespace: shoot--dev--alpha
        pod: "etcd-events-{{ item }}"
        image: registry.example.com/ops/etcd-debug:0.1.0
        profile: restricted
      loop: [0, 1, 2]
"""

RETURN = r"""
containers:
  description:
    - With O(pods), one result per pod in the order given, each with C(pod), C(namespace), C(container),
      C(created), C(changed), C(failed), C(status) and, for a failed pod, C(msg).
  returned: when O(pods) is given
  type: list
  elements: dict
  sample: [{"pod": "etcd-main-0", "container": "etcd-debug", "created": false, "changed": false, "failed": false}]
container:
  description: Name of the ephemeral container in use (differs from O(name) when that was taken).
  returned: success, with O(pod)
  type: str
  sample: etcd-debug
created:
  description: Whether a container was added (or would be, in check mode).
  returned: with O(pod)
  type: bool
pod:
  description: The pod.
  returned: with O(pod)
  type: str
namespace:
  description: The namespace.
  returned: always
  type: str
node:
  description: The node running the pod.
  returned: success
  type: str
status:
  description: The container's status as the API server reports it (state, image, ready, ...).
  returned: success, unless created in check mode
  type: dict
  sample: {"name": "etcd-debug", "state": {"running": {"startedAt": "2026-11-27T13:00:00Z"}}}
spec:
  description: The ephemeral container added (or that would be added).
  returned: when created
  type: dict
message:
  description: Why another name than O(name) is used.
  returned: when the name was taken
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import AUTH_ARG_SPEC, run_k8s_module
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._ephemeral_container import PROFILES, ensure_module


def main():
    argument_spec = dict(
        namespace=dict(type="str"),
        pod=dict(type="str"),
        pods=dict(type="list", elements="str"),
        concurrency=dict(type="int", default=5),
        target_container=dict(type="str", default="etcd"),
        image=dict(type="str", required=True),
        name=dict(type="str", default="etcd-debug"),
        command=dict(type="list", elements="str"),
        profile=dict(type="str", choices=sorted(PROFILES), default="general"),
        mount_target_volumes=dict(type="bool", default=True),
        env=dict(type="dict"),
        image_pull_policy=dict(type="str", choices=["Always", "IfNotPresent", "Never"]),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=120),
        **AUTH_ARG_SPEC,
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("pod", "pods")], required_one_of=[("pod", "pods")],
                           required_by={"pod": "namespace"})
    run_k8s_module(module, ensure_module)


if __name__ == "__main__":
    main()
