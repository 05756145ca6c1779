#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_debug_image
short_description: Build, push and kind-load the etcd-wrapper debug image
version_added: 0.1.0
description:
  - Builds the debug image for distroless etcd-wrapper pods (bash, curl, etcdctl, jq, openssl,
    procps and C(print-etcd-cheatsheet)) from the collection's C(ops/Dockerfile) or any other
    Dockerfile, pushes it to a registry and/or loads it into the nodes of a kind cluster.
  - Builds only when the tag is missing (or O(force_build=true)); pushes only when the registry's
    manifest for the tag is not the local image; loads only into kind nodes that do not hold it.
    A second identical run reports C(changed=false).
  - Loading into kind streams the saved image into
    C(ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -)
    in each node container, the mechanism of C(kind load docker-image), without the kind binary.
  - Talks to the engine through the Docker SDK for Python, so it works with Docker Engine and
    with podman's Docker-compatible API.
author:
  - etcd_wrapper.ops maintainers (@etcd-wrapper-ops)
extends_documentation_fragment:
  - etcd_wrapper.ops.docker
  - etcd_wrapper.ops.attributes
  - etcd_wrapper.ops.attributes.docker
attributes:
  check_mode:
    support: full
    details:
      - Inspects the local image, queries the registry's manifest and lists images in the kind nodes
        (read-only C(ctr images ls) execs), then reports what it would build, push and load.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - With O(force_build=true) every run builds.
options:
  name:
    description:
      - Repository of the image, with the registry host when it is pushed, for example
        C(registry.example.com/ops/etcd-debug) or C(127.0.0.1:5000/etcd-debug). No tag, no digest.
    type: str
    required: true
  tag:
    description:
      - Tag of the image. Defaults to the collection's version.
    type: str
  source:
    description:
      - V(build) builds the image when the tag is missing locally (or always with O(force_build)).
      - V(local) never builds; the image must already be on the engine, else the task fails.
    type: str
    choices: [build, local]
    default: build
  build:
    description:
      - How to build the image when O(source=build).
    type: dict
    default: {}
    suboptions:
      context:
        description:
          - Build context directory on the host running the module.
          - Defaults to the collection's own root, so the shipped C(ops/Dockerfile) builds as is;
            that default needs the module to run on the controller (for example with C(delegate_to=localhost)).
        type: path
      dockerfile:
        description:
          - Dockerfile path, relative to O(build.context) or absolute.
        type: str
        default: ops/Dockerfile
      args:
        description:
          - Build arguments. C(ops/Dockerfile) takes C(BASE_IMAGE) (a Debian-like image with apt-get)
            and C(ETCD_IMAGE) (an image holding C(/usr/local/bin/etcdctl), like the official etcd images).
        type: dict
        default: {}
      pull:
        description:
          - Pull newer versions of the base images while building.
        type: bool
        default: false
      nocache:
        description:
          - Do not use the build cache.
        type: bool
        default: false
      network:
        description:
          - Network mode for C(RUN) steps, for example V(host).
        type: str
  force_build:
    description:
      - Build even if the tag exists locally.
    type: bool
    default: false
  push:
    description:
      - Push the image to the registry named in O(name) unless the registry's manifest for the tag
        is already the local image.
    type: bool
    default: false
  registry_auth:
    description:
      - Credentials for the registry, for the manifest check and for the push.
    type: dict
    suboptions:
      username:
        description: Registry user name.
        type: str
        required: true
      password:
        description: Registry password or token.
        type: str
        required: true
  kind_load:
    description:
      - Load the image into the nodes of a kind cluster (node containers labelled
        C(io.x-k8s.kind.cluster=<cluster_name>) on the same engine), skipping nodes that already hold it.
    type: dict
    suboptions:
      cluster_name:
        description: Name of the kind cluster.
        type: str
        default: kind
      nodes:
        description: Only these node containers (names); all nodes of the cluster if not given.
        type: list
        elements: str
notes:
  - Progress of long steps (build steps, push, loads) is returned in RV(progress), shown with C(-v).
  - The registry is reached over HTTPS; loopback registries (C(localhost), C(127.0.0.0/8)) fall back
    to plain HTTP, as Docker Engine does. For podman, mark such registries insecure in its registries.conf.
seealso:
  - name: etcd-wrapper operations and debugging
    description: The manual procedure this module automates.
    link: https://github.com/gardener/etcd-wrapper/blob/main/docs/deployment/ops.md
  - module: etcd_wrapper.ops.etcd_ephemeral_container
"""

EXAMPLES = r"""
- name: Build the debug image from the collection's ops/Dockerfile and push it
  etcd_wrapper.ops.etcd_debug_image:
    name: registry.example.com/ops/etcd-debug
    tag: "0.1.0"
    push: true
    registry_auth:
      username: "{{ registry_user }}"
      password: "{{ registry_password }}"
  delegate_to: localhost

- name: Build from local base images (offline) through podman and load into a kind cluster
  etcd_wrapper.ops.etcd_debug_image:
    docker_host: unix:///run/podman/podman.sock
    name: localhost/etcd-debug
    tag: dev
    build:
      args:
        BASE_IMAGE: localhost/debian:bookworm
        ETCD_IMAGE: localhost/etcd:v3.5.27
      network: host
    kind_load:
      cluster_name: etcd-dev
  delegate_to: localhost

- name: Push an image that is already built, never building
  etcd_wrapper.ops.etcd_debug_image:
    name: 127.0.0.1:5000/etcd-debug
    tag: "0.1.0"
    source: local
    push: true
  delegate_to: localhost
"""

RETURN = r"""
ref:
  description: The image reference handled, C(name:tag).
  returned: always
  type: str
  sample: registry.example.com/ops/etcd-debug:0.1.0
image:
  description: The local image; null in check mode when it would be built.
  returned: success
  type: dict
  contains:
    id:
      description: Image ID (config digest).
      type: str
      sample: sha256:7f3ed583f52a9b97ba013ff9a04fc4799dcc79c7f79f72390c7a6397381b5d4f
    tags:
      description: The image's tags.
      type: list
      elements: str
    repo_digests:
      description: The image's repository digests as the engine records them.
      type: list
      elements: str
built:
  description: Whether the image was built (or would be, in check mode).
  returned: always
  type: bool
pushed:
  description: Whether the image was pushed (or would be, in check mode).
  returned: always
  type: bool
digest:
  description: The registry's manifest digest for the tag after this run; null when not pushing or unknown.
  returned: always
  type: str
  sample: sha256:e900def1241c49709c32a15db0073432c27a97ee9f09ff5d93e0e847ac52425f
loaded_nodes:
  description: kind nodes the image was loaded into (or would be, in check mode).
  returned: always
  type: list
  elements: str
skipped_nodes:
  description: kind nodes that already held the image.
  returned: always
  type: list
  elements: str
progress:
  description: What was done, step by step (build steps, push, loads).
  returned: always
  type: list
  elements: str
build_output_tail:
  description: The last lines of the build output when the build failed.
  returned: when the build failed
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._debug_image import run_module
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._docker import DOCKER_COMMON_ARGS, DOCKER_REQUIRED_TOGETHER


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        tag=dict(type="str"),
        source=dict(type="str", choices=["build", "local"], default="build"),
        build=dict(type="dict", default={}, options=dict(
            context=dict(type="path"),
            dockerfile=dict(type="str", default="ops/Dockerfile"),
            args=dict(type="dict", default={}),
            pull=dict(type="bool", default=False),
            nocache=dict(type="bool", default=False),
            network=dict(type="str"),
        )),
        force_build=dict(type="bool", default=False),
        push=dict(type="bool", default=False),
        registry_auth=dict(type="dict", no_log=False, options=dict(
            username=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
        )),
        kind_load=dict(type="dict", options=dict(
            cluster_name=dict(type="str", default="kind"),
            nodes=dict(type="list", elements="str"),
        )),
        **DOCKER_COMMON_ARGS,
    )
    module = AnsibleModule(argument_spec=argument_spec, required_together=DOCKER_REQUIRED_TOGETHER,
                           supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
