#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_defrag
short_description: Rule-based rolling defragmentation of one etcd cluster, leader last after moving leadership away
version_added: 0.1.0
description:
  - Defragments the members of one etcd (an etcd-druid StatefulSet such as C(etcd-main)) one at a time,
    each through the debug container in its own pod (attached by M(etcd_wrapper.ops.etcd_ephemeral_container))
    against its own endpoint - defragmentation is not replicated and blocks reads and writes on the member
    (etcd's maintenance guide).
  - "Selection by rule over each member's own C(endpoint status): fragmentation (free / dbSize) at least
    O(min_fragmentation) B(and) free bytes at least O(min_free_bytes) (OpenShift's defrag controller: 45 %,
    100 MB), or every member with O(force)."
  - "Gate before: every member answers and is healthy, no learner, one leader every member agrees on,
    no C(CORRUPT) alarm (a C(NOSPACE) alarm does not block: defragmentation is part of its cure).
    Otherwise nothing is done and the task fails with one line naming the member."
  - Followers first, one at a time; then leadership is moved (C(etcdctl move-leader) run against the leader's
    own endpoint) to a follower, preferring one just defragmented, the move is verified, and the former
    leader is defragmented last (a defragmenting leader stalls every write, etcd-backup-restore#1052).
  - "Gate after each member, within O(gate_timeout): its endpoint health true, exactly one leader, its raft
    applied index caught up with the leader's. The run stops at the first failure; the failed result
    carries RV(done) and RV(not_done)."
  - Unlike C(etcdctl defrag --cluster), which goes in member-list order without a health check, includes
    learners and keeps the 5 s default command timeout.
  - NOSPACE recovery in the same module, as etcd's maintenance guide orders it - O(compact) (compact to the
    current revision), defragment every member, O(disarm) (C(alarm disarm), then verify).
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
      - Reads every member's figures, runs the gate and returns the plan (RV(plan), RV(msg)); nothing is written
        to etcd. O(allow_write) is not needed in check mode.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - A member is selected by its figures, so a second run right after a successful one usually finds nothing
        to do (C(changed=false)); O(force), O(compact) and O(disarm) select every member every time.
options:
  namespace:
    description: Namespace of the etcd (C(shoot--<project>--<name>)).
    type: str
    required: true
  etcd:
    description: Name of the etcd (the StatefulSet), for example C(etcd-main); every pod must be C(<etcd>-<ordinal>).
    type: str
    required: true
  pods:
    description:
      - The member pods of the etcd (names, or the pod dicts of M(etcd_wrapper.ops.etcd_cluster_info)'s C(etcds)).
        Each needs a running debug container O(container).
      - Every member must be among them; a member of the member list without a pod stops the run at the gate.
    type: list
    elements: raw
    required: true
  container:
    description: The debug container in each pod.
    type: str
    default: etcd-debug
  tls:
    description:
      - Client TLS as in M(etcd_wrapper.ops.etcdctl_exec) - V(auto) finds the etcd-druid files, V(none) for plain
        HTTP, or a dict with C(cacert), C(cert) and C(key) paths in the container.
    type: raw
    default: auto
  allow_write:
    description:
      - Defragmentation, C(move-leader), compaction and C(alarm disarm) change etcd; without V(true) the task
        refuses with one line and does nothing (check mode needs no V(true)).
    type: bool
    default: false
  force:
    description: Defragment every member, whatever its figures.
    type: bool
    default: false
  min_fragmentation:
    description: Select a member when its free / dbSize is at least this (and O(min_free_bytes) holds).
    type: float
    default: 0.45
  min_free_bytes:
    description: Select a member when its free bytes (dbSize - dbSizeInUse) are at least this (and O(min_fragmentation) holds).
    type: int
    default: 104857600
  move_leader:
    description:
      - Move leadership to a follower before defragmenting the leader. With V(false) the leader is still
        defragmented last, as etcd-backup-restore does, and every write waits for it.
    type: bool
    default: true
  allow_single_member:
    description:
      - Defragment a single-member etcd. It blocks every request of that control plane for the duration, so
        without V(true) nothing runs and the result is RV(skipped) with the reason (not a failure).
    type: bool
    default: false
  command_timeout:
    description:
      - etcdctl C(--command-timeout) of each defragmentation (and compaction), seconds. Default from the largest
        database - at least 900 (etcd-druid's C(--etcd-defrag-timeout=15m)), plus 120 per GiB beyond that.
    type: int
  gate_timeout:
    description:
      - Seconds to wait for the gate after each member (healthy, one leader, applied index caught up) and for
        leadership to move.
    type: int
    default: 60
  compact:
    description:
      - NOSPACE recovery - before defragmenting, compact to the current revision (C(etcdctl compaction --physical)),
        and defragment every member.
      - This drops all history, also what kube-apiserver keeps for watches - its watchers get "revision compacted"
        and must relist (kube-apiserver compacts every 5 min by itself; kubernetes/kubernetes#94029).
    type: bool
    default: false
  disarm:
    description:
      - NOSPACE recovery - defragment every member, then C(etcdctl alarm disarm), then verify that no alarm remains
        and every database is below O(quota_margin) of the quota; else fail saying that keys must be deleted or
        the quota raised.
    type: bool
    default: false
  quota_margin:
    description:
      - With O(disarm), the largest dbSize / quota accepted after the recovery. Default the health sweep's
        C(DB_QUOTA_HIGH) warning threshold (0.80). The quota is backup-restore's C(--embedded-etcd-quota-bytes)
        (or etcd's C(--quota-backend-bytes)), else etcd-druid's default 8 GiB.
    type: float
notes:
  - Needs C(get) on C(pods) and C(create) on C(pods/exec) in the namespace.
  - Each member is read through its own pod; C(--cluster) is not used (peer DNS names need not resolve from a debug container).
  - One etcd per task; defragment etcds of different control planes in parallel, not members of one.
seealso:
  - module: etcd_wrapper.ops.etcd_ephemeral_container
  - module: etcd_wrapper.ops.etcd_health
  - name: etcd maintenance guide, defragmentation
    description: Why defragmentation is per member and blocks the member.
    link: https://etcd.io/docs/v3.6/op-guide/maintenance/#defragmentation
"""

EXAMPLES = r"""
- name: Plan only (check mode) - which members, in which order, why
  etcd_wrapper.ops.etcd_defrag:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    etcd: etcd-main
    pods: [etcd-main-0, etcd-main-1, etcd-main-2]
  check_mode: true
  register: defrag_plan

- name: Defragment the members that need it, followers first, leader last after moving leadership
  etcd_wrapper.ops.etcd_defrag:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    etcd: etcd-main
    pods: [etcd-main-0, etcd-main-1, etcd-main-2]
    allow_write: true

- name: NOSPACE recovery - compact, defragment every member, disarm and verify
  etcd_wrapper.ops.etcd_defrag:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    etcd: etcd-events
    pods: [etcd-events-0, etcd-events-1, etcd-events-2]
    compact: true
    disarm: true
    allow_write: true
"""

RETURN = r"""
msg:
  description: One line - what the plan does (check mode) or did, or why nothing is done.
  returned: always
  type: str
  sample: "defragment etcd-main-1 (follower); defragment etcd-main-2 (follower); move leadership etcd-main-0 -> etcd-main-1;
    defragment etcd-main-0 (leader) in shoot--dev--alpha/etcd-main: done (...)"
plan:
  description:
    - The steps in order. Each has C(pod), C(member_id) (hex, as etcdctl prints it), C(role) (V(follower) or V(leader)),
      C(action) (V(compact), V(defragment), V(move-leader), V(disarm)) and C(reason); a C(move-leader) step
      also C(target) and C(target_member_id).
  returned: when the gate passed
  type: list
  elements: dict
done:
  description:
    - The steps done, each with C(duration_s), and for C(defragment) C(db_size_before) and C(db_size_after).
    - A step that was done but whose gate did not pass (the run stopped there) carries C(gate), the reason.
  returned: always
  type: list
  elements: dict
not_done:
  description: The steps not done (all of them in check mode; the rest after a failure).
  returned: always
  type: list
  elements: dict
left_out:
  description: Members not selected, each with C(pod), C(member_id) and C(reason).
  returned: when the gate passed
  type: list
  elements: dict
members:
  description:
    - Each member's figures before - C(pod), C(member_id), C(leader), C(db_size), C(in_use), C(free),
      C(fragmentation), C(raft_index), C(applied), C(revision), C(healthy), C(health_error), C(alarms), C(error).
  returned: always
  type: list
  elements: dict
after:
  description: Each member's figures from C(endpoint status) after the run (also after a failure).
  returned: when a step ran
  type: list
  elements: dict
leader:
  description: The leader's pod before.
  returned: when the gate passed
  type: str
leader_after:
  description: The leader's pod after.
  returned: when the run finished
  type: str
command_timeout:
  description: The C(--command-timeout) (seconds) used for each defragmentation.
  returned: when the gate passed
  type: int
skipped:
  description: True when nothing runs on purpose (a single-member etcd without O(allow_single_member)).
  returned: always
  type: bool
skip_reason:
  description: Why it was skipped.
  returned: when skipped
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._defrag import execute
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import AUTH_ARG_SPEC, run_k8s_module
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._member import ETCD_MEMBERS_ARG_SPEC


def main():
    argument_spec = dict(
        **ETCD_MEMBERS_ARG_SPEC,
        allow_write=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        min_fragmentation=dict(type="float", default=0.45),
        min_free_bytes=dict(type="int", default=104857600),
        move_leader=dict(type="bool", default=True),
        allow_single_member=dict(type="bool", default=False),
        command_timeout=dict(type="int"),
        gate_timeout=dict(type="int", default=60),
        compact=dict(type="bool", default=False),
        disarm=dict(type="bool", default=False),
        quota_margin=dict(type="float"),
        **AUTH_ARG_SPEC,
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_k8s_module(module, execute)


if __name__ == "__main__":
    main()
