#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_snapshot
short_description: Take a verified etcd snapshot to the controller, or have backup-restore take a full one
version_added: 0.1.0
description:
  - Runs C(etcdctl snapshot save) in the debug container (attached by
    M(etcd_wrapper.ops.etcd_ephemeral_container)) of one healthy member of an etcd, as the etcd
    recovery guide takes a snapshot ("Snapshotting the keyspace"), then C(sha256sum) and
    C(etcdutl snapshot status -w json) there (C(etcdctl snapshot status) when the image has no etcdutl).
  - Streams the file to the controller binary-safe and in chunks (a multi-GiB snapshot never sits in
    memory), computes its sha256 while writing and compares size and sha256 with the container's;
    a mismatch deletes the controller's copy and fails.
  - Stores it as C(<dest>/<cluster>/<namespace>/<etcd>/<YYYYmmddTHHMMSSZ>-rev<revision>.db)
    (UTC time when the save started; directories created C(0700), the file C(0600), since a snapshot holds every
    Secret of the cluster).
  - The file in the container (under C($HOME=/work) of the debug image) is removed in every case,
    also when a step fails.
  - Member choice, among O(pods) with a running debug container whose C(endpoint health) is true, in
    the order given - a follower when there is one, else the leader. A snapshot streams the whole
    database out of the member it is taken from; taking it from a follower keeps that load off the
    leader, which serves every write.
  - With O(method=backup-restore) it instead asks the leading backup-restore sidecar for an
    out-of-schedule full snapshot into the etcd's backup store (C(POST /snapshot/full), what
    etcd-druid's EtcdOpsTask C(onDemandSnapshot) does), from the leader's debug container with
    C(curl), and reports where the snapshot went (RV(location)) and its revision. Nothing comes to
    the controller then.
  - A snapshot reads etcd and never writes to it, so unlike M(etcd_wrapper.ops.etcdctl_exec) there is
    no C(allow_write) to set. It writes a temporary file in the debug container (removed) and the
    snapshot on the controller.
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
      - Chooses the member as a real run does, reads its C(endpoint status) and returns the planned
        RV(path) with the current revision; saves nothing, writes no file (not in the container, not
        on the controller).
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run takes a new snapshot (a new file) and reports C(changed=true).
options:
  namespace:
    description: Namespace of the etcd.
    type: str
    required: true
  etcd:
    description: Name of the etcd (its StatefulSet, for example C(etcd-main)); used in the path.
    type: str
    required: true
  pods:
    description:
      - The member pods to choose from, in order of preference, for example the C(pods) of an etcd
        in the result of M(etcd_wrapper.ops.etcd_cluster_info) (names, or dicts with C(name)).
    type: list
    elements: raw
    required: true
  pod:
    description: Take the snapshot from this member pod only (it must be healthy), follower or leader.
    type: str
  container:
    description: The debug container in the member pods.
    type: str
    default: etcd-debug
  dest:
    description:
      - "Directory on the controller (the module runs there, C(connection: local)). Created when
        missing; the snapshot goes to C(<dest>/<cluster>/<namespace>/<etcd>/)."
      - Required with O(method=etcdctl); not used with O(method=backup-restore).
    type: path
  cluster:
    description:
      - Name of the cluster in the path. Default the O(context), else the kubeconfig's
        C(current-context), else C(in-cluster).
      - Characters other than letters, digits, C(.), C(_) and C(-) become C(_).
    type: str
  tls:
    description:
      - Client TLS for etcdctl, as in M(etcd_wrapper.ops.etcdctl_exec) - V(auto) finds the files of
        the etcd-druid pod (read through the etcd process's root when the debug container does not
        mount them), V(none) for plain HTTP, or a dict with C(cacert), C(cert) and C(key).
    type: raw
    default: auto
  timeout:
    description:
      - Seconds; etcdctl's C(--command-timeout) for the save, and the limit of each step after it
        (checksum, status, the stream to the controller).
      - The default follows etcd-druid's on-demand full snapshot (EtcdOpsTask, 900 s) and
        backup-restore's C(--etcd-snapshot-timeout) (15 min).
    type: int
    default: 900
  method:
    description:
      - How the snapshot is taken.
      - V(etcdctl) is C(etcdctl snapshot save) in the debug container of a healthy member (a follower
        when there is one), streamed to O(dest) and checked there.
      - V(backup-restore) asks the backup-restore sidecar of the leader (found by probing O(pods); it
        must be among them with a running debug container) for a full snapshot into the backup store
        (C(POST /snapshot/full) at the address etcd-wrapper uses, C(--backup-restore-host-port), with
        backup-restore's CA when it serves HTTPS). O(timeout) bounds the request (etcd-druid's
        EtcdOpsTask waits 900 s). The store is what the etcd is configured with (C(--storage-provider),
        the bucket in C(STORAGE_CONTAINER)); without one, backup-restore answers 405 and the module
        fails saying so.
    type: str
    choices: [etcdctl, backup-restore]
    default: etcdctl
notes:
  - Needs C(get) on C(pods) and C(create) on C(pods/exec) in the namespace.
  - Members are probed (C(endpoint health), then C(endpoint status)) in the order of O(pods), 5 s each;
    the probing stops at the first healthy follower.
  - Fails in one line, changing nothing, when no member has a running debug container, no member is
    healthy, O(dest) is not a writable directory, C(etcdctl snapshot save) fails (its rc and last
    stderr line), the stream times out, or the checksums differ.
  - With O(method=backup-restore), fails in one line when no healthy leader is among O(pods), the pod
    has no backup-restore container, the request fails (curl's rc and message) or backup-restore
    answers other than 200 with a snapshot (its status code, what that code means in
    etcd-backup-restore's C(pkg/server/httpAPI.go), and the C(kubectl logs) command to read next).
seealso:
  - module: etcd_wrapper.ops.etcd_ephemeral_container
  - module: etcd_wrapper.ops.etcd_cluster_info
  - module: etcd_wrapper.ops.etcdctl_exec
"""

EXAMPLES = r"""
- name: Snapshot etcd-main of a shoot to the controller
  etcd_wrapper.ops.etcd_snapshot:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    etcd: etcd-main
    pods: [etcd-main-0, etcd-main-1, etcd-main-2]
    dest: /var/backups/etcd
  register: snap

- name: Show where it went
  ansible.builtin.debug:
    msg: "{{ snap.path }} ({{ snap.size }} bytes, revision {{ snap.revision }}, sha256 {{ snap.sha256 }}) from {{ snap.member }}"

- name: Have the leading backup-restore sidecar take a full snapshot into the etcd's backup store
  etcd_wrapper.ops.etcd_snapshot:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    etcd: etcd-main
    pods: [etcd-main-0, etcd-main-1, etcd-main-2]
    method: backup-restore
  register: full

- name: Show where backup-restore put it
  ansible.builtin.debug:
    msg: "{{ full.location }} at revision {{ full.revision }}"

- name: Plan only (no save, no file)
  etcd_wrapper.ops.etcd_snapshot:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    etcd: etcd-main
    pods: [etcd-main-0, etcd-main-1, etcd-main-2]
    dest: /var/backups/etcd
  check_mode: true
"""

RETURN = r"""
path:
  description: The snapshot on the controller (in check mode the planned path, with the current revision).
  returned: success, method etcdctl
  type: str
  sample: /var/backups/etcd/garden-seed-1/shoot--dev--alpha/etcd-main/20261130T223645Z-rev3.db
size:
  description: Bytes received (equal to the size in the container).
  returned: success, not in check mode
  type: int
sha256:
  description: sha256 of the file, the same on both sides.
  returned: success, not in check mode
  type: str
revision:
  description:
    - Revision of the snapshot (C(etcdutl snapshot status), with O(method=backup-restore) its C(lastRevision)).
    - In check mode the member's current revision.
  returned: success
  type: int
hash:
  description: The snapshot's hash from C(etcdutl snapshot status -w json) (decimal; the table shows it in hex).
  returned: success, not in check mode
  type: int
total_keys:
  description: Total keys from C(etcdutl snapshot status).
  returned: success, not in check mode
  type: int
total_size:
  description: Total size (bytes) from C(etcdutl snapshot status).
  returned: success, not in check mode
  type: int
status_tool:
  description: V(etcdutl), or V(etcdctl) when the debug image has no etcdutl.
  returned: success, not in check mode
  type: str
snapshot:
  description:
    - backup-restore's answer as it gave it (its C(brtypes.Snapshot) JSON - C(kind), C(snapDir),
      C(snapName), C(prefix), C(compressionSuffix), C(startRevision), C(lastRevision), C(createdOn),
      C(isFinal), ...).
  returned: success, method backup-restore, not in check mode
  type: dict
snap_name:
  description: The snapshot's name in the backup store (C(Full-<start>-<last>-<unix time>[<compression suffix>])).
  returned: success, method backup-restore, not in check mode
  type: str
location:
  description:
    - "Where backup-restore put it: C(<storage provider>: <store directory>/<snapName>) as its C(/snapshot/latest)
      lists the snapshot (see RV(listed_as_latest)), else C(<storage provider>: <bucket>/<prefix>/<snapName>) from its args."
  returned: success, method backup-restore, not in check mode
  type: str
  sample: "Local: /home/nonroot/shoot--dev--alpha--etcd-main/shoot--dev--alpha--etcd-main/v2/Full-00000000-00000042-1764547200.gz"
listed_as_latest:
  description: Whether backup-restore's C(/snapshot/latest) lists this snapshot as the latest full one right after.
  returned: success, method backup-restore, not in check mode
  type: bool
url:
  description: The backup-restore address asked (C(.../snapshot/full)).
  returned: method backup-restore
  type: str
storage_provider:
  description: backup-restore's C(--storage-provider) (null when it has none).
  returned: success, method backup-restore
  type: str
backup_restore_source:
  description: How the backup-restore address was found (port, scheme, CA).
  returned: success, method backup-restore
  type: str
member:
  description: The member pod the snapshot was taken from (with O(method=backup-restore) the leader, whose sidecar was asked).
  returned: success
  type: str
member_id:
  description: Its member ID, in hex as etcdctl's tables show it.
  returned: success
  type: str
is_leader:
  description: Whether that member was the leader when chosen.
  returned: success
  type: bool
members:
  description: The members probed, in order, with C(pod), C(healthy), C(reason), C(member_id), C(leader_id), C(is_leader), C(revision).
  returned: always
  type: list
  elements: dict
method:
  description: How the snapshot was taken.
  returned: success
  type: str
cluster:
  description: The cluster's name in the path.
  returned: success
  type: str
duration:
  description: Seconds the module took, probing included.
  returned: success
  type: float
tls_source:
  description: Where the TLS flags came from.
  returned: success
  type: str
container_file:
  description: The temporary file in the debug container (removed).
  returned: success, not in check mode
  type: str
cmd:
  description: The etcdctl argv of the save.
  returned: when the save ran
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import AUTH_ARG_SPEC, run_k8s_module
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._member import ETCD_MEMBERS_ARG_SPEC
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._snapshot import DEFAULT_TIMEOUT, METHODS, execute


def main():
    argument_spec = dict(
        **ETCD_MEMBERS_ARG_SPEC,
        pod=dict(type="str"),
        dest=dict(type="path"),
        cluster=dict(type="str"),
        timeout=dict(type="int", default=DEFAULT_TIMEOUT),
        method=dict(type="str", choices=list(METHODS), default="etcdctl"),
        **AUTH_ARG_SPEC,
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("method", "etcdctl", ("dest",))])
    run_k8s_module(module, execute)


if __name__ == "__main__":
    main()
