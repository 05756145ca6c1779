#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_health
short_description: Health of every etcd of a cluster, with findings
version_added: 0.1.0
description:
  - For every member pod of the etcds given (as M(etcd_wrapper.ops.etcd_cluster_info) returns
    them), runs ONE exec in the member's debug container carrying all checks - C(etcdctl endpoint
    status), C(endpoint health), C(member list) and C(alarm list) against the member itself over
    its TLS (found from the pod like M(etcd_wrapper.ops.etcdctl_exec) does), the
    C(quota-backend-bytes) of the config the etcd runs with (etcd-wrapper's C(/home/nonroot/etcd.conf.yaml)
    read through the etcd process's root, else backup-restore's C(--embedded-etcd-quota-bytes)), and
    backup-restore's C(/healthz) and C(/metrics). The etcd process is found by name
    (C(etcd-wrapper), else C(etcd)), because etcd-druid pods share one PID namespace whose PID 1 is the pause process.
  - Members are matched to pods by the host of their URLs, not by name (etcd-druid's
    C(memberNamePrefix) names members C(<prefix>-<pod>)).
  - backup-restore is judged the way it works - its C(/healthz) turns 200 only in the sidecar beside the
    etcd leader, so only the leader's sidecar counts (followers' 503 is normal and shown in the member
    rows), and snapshot ages come from that sidecar's C(/metrics) with gardener's alert thresholds.
    Members are checked in parallel, O(concurrency) at a time.
  - Then evaluates findings per etcd, each with C(code), C(severity) (critical, warning, info),
    C(cluster), C(namespace), C(etcd), C(pod), C(message), C(value) and C(threshold) - namely
    C(NO_LEADER), C(SPLIT_LEADER), C(ALARM_NOSPACE), C(ALARM_CORRUPT), C(MEMBER_UNHEALTHY),
    C(MEMBER_UNREACHABLE), C(MEMBER_COUNT_MISMATCH), C(DB_QUOTA_HIGH), C(DB_FRAGMENTED),
    C(REVISION_SKEW), C(RAFT_INDEX_SKEW), C(LEARNER_PRESENT), C(BACKUP_RESTORE_UNHEALTHY) (the leader's
    sidecar unhealthy, or no sidecar answered), C(BACKUP_DELTA_STALE) (the leader's latest delta snapshot older
    than 15 min while one is required), C(BACKUP_FULL_STALE) (full snapshot older than 24 h),
    C(BACKUP_SNAPSHOTTER_FAILING) (critical while failing; info once snapshots are current again),
    C(DEBUG_CONTAINER_FAILED), C(CLUSTER_UNREACHABLE), C(ETCD_HIBERNATED) (info, a StatefulSet scaled
    to 0) and C(NO_ETCD_FOUND) (info).
  - Only read-only etcdctl commands run; etcd is never written.
  - The debug container of a pod is the one named in O(debug_containers), else the newest running
    ephemeral container named O(container) or O(container)C(-N). A pod without one is reported as
    C(DEBUG_CONTAINER_FAILED), not skipped.
author:
  - etcd_wrapper.ops maintainers (@etcd-wrapper-ops)
extends_documentation_fragment:
  - etcd_wrapper.ops.k8s_auth
  - etcd_wrapper.ops.attributes
  - etcd_wrapper.ops.attributes.k8s
  - etcd_wrapper.ops.attributes.info_module
requirements:
  - The debug image (bash, etcdctl, curl), as M(etcd_wrapper.ops.etcd_debug_image) builds it.
options:
  etcds:
    description:
      - The etcds to check, each with C(namespace), C(name) and C(pods) (pod names or dicts with
        C(name)) - the RV(etcd_wrapper.ops.etcd_cluster_info#module:etcds) of M(etcd_wrapper.ops.etcd_cluster_info).
    type: list
    elements: dict
    default: []
  debug_containers:
    description:
      - Per pod results of M(etcd_wrapper.ops.etcd_ephemeral_container) with O(etcd_wrapper.ops.etcd_ephemeral_container#module:pods)
        (its RV(etcd_wrapper.ops.etcd_ephemeral_container#module:containers)); a failed entry becomes a
        C(DEBUG_CONTAINER_FAILED) finding with its message.
    type: list
    elements: dict
    default: []
  container:
    description: Base name of the debug containers to use when O(debug_containers) does not name one.
    type: str
    default: etcd-debug
  target_container:
    description: The etcd container of the pods.
    type: str
    default: etcd
  cluster:
    description: Name of the cluster in findings; defaults to O(context), else O(host).
    type: str
  cluster_error:
    description:
      - Message of a discovery that could not reach the cluster. When set, nothing is contacted and
        the result is one C(CLUSTER_UNREACHABLE) finding (how the sweep keeps going past a dead cluster).
      - A cluster that cannot be configured or reached by this module itself gives the same result,
        with the connection error as the reason; the module fails only on bad input.
    type: str
  thresholds:
    description:
      - Finding thresholds; keys not given keep their defaults.
    type: dict
    default: {}
    suboptions:
      db_quota_warning:
        description: C(DB_QUOTA_HIGH) warning when dbSize / quota reaches this (default 0.80).
        type: float
      db_quota_critical:
        description: C(DB_QUOTA_HIGH) critical when dbSize / quota reaches this (default 0.95).
        type: float
      db_fragmented_ratio:
        description: C(DB_FRAGMENTED) when dbSizeInUse / dbSize is below this (default 0.50).
        type: float
      db_fragmented_min_bytes:
        description: ... and the database is at least this big (default 64 MiB).
        type: int
      revision_skew:
        description: C(REVISION_SKEW) when members' revisions differ by more (default 1000).
        type: int
      raft_index_skew:
        description: C(RAFT_INDEX_SKEW) when members' raft indexes differ by more (default 1000).
        type: int
      backup_delta_max_age:
        description: C(BACKUP_DELTA_STALE) when the leader's latest delta snapshot is older (seconds, default 900).
        type: int
      backup_full_max_age:
        description: C(BACKUP_FULL_STALE) when the leader's latest full snapshot is older (seconds, default 86400).
        type: int
      metrics_wal_fsync_p99_warning:
        description: >-
          C(WAL_FSYNC_SLOW) warning when the p99 WAL fsync within the metrics window exceeds this (seconds; etcd-mixin
          etcdHighFsyncDurations). Default 0.5.
        type: float
      metrics_wal_fsync_p99_critical:
        description: C(WAL_FSYNC_SLOW) critical above this (seconds). Default 1.0.
        type: float
      metrics_backend_commit_p99_warning:
        description: >-
          C(BACKEND_COMMIT_SLOW) when the p99 backend commit within the window exceeds this (seconds;
          etcdHighCommitDurations). Default 0.25.
        type: float
      metrics_peer_rtt_p99_warning:
        description: >-
          C(PEER_RTT_SLOW) when a peer's p99 round trip within the window exceeds this (seconds;
          etcdMemberCommunicationSlow). Default 0.15.
        type: float
      metrics_grpc_errors_warning:
        description: >-
          C(GRPC_ERRORS) warning when this share of a gRPC method's calls in the window failed with the mixin's codes
          (etcdHighNumberOfFailedGRPCRequests). Default 0.01.
        type: float
      metrics_grpc_errors_critical:
        description: C(GRPC_ERRORS) critical at this share. Default 0.05.
        type: float
      metrics_grpc_min_handled:
        description: Calls of one gRPC method in the window before its error share is judged. Default 20.
        type: int
      metrics_min_samples:
        description: >-
          WAL fsync / backend commit observations in the window before a p99 is judged (else the member's metrics say
          not enough data). Default 20.
        type: int
      metrics_peer_rtt_min_samples:
        description: Round-trip observations of a peer in the window before its p99 is judged. Default 3.
        type: int
      metrics_leader_changes_window:
        description: C(LEADER_CHANGES) warning at this many leader changes within the window. Default 1.
        type: int
      metrics_leader_changes_window_critical:
        description: C(LEADER_CHANGES) critical at this many within the window. Default 3.
        type: int
      metrics_leader_changes_per_15m:
        description: >-
          C(LEADER_CHANGES) since start when at least this many changes, on average this many per 15 min of uptime
          (etcdHighNumberOfLeaderChanges). Default 4.
        type: int
      metrics_proposals_failed_window:
        description: C(PROPOSALS_FAILING) when failed proposals per second of the window exceed this (etcdHighNumberOfFailedProposals). Default 5.0.
        type: float
  backup_restore:
    description:
      - Ask the backup-restore sidecar's C(/healthz) and C(/metrics) (HTTPS with the CA of etcd-wrapper's
        C(--backup-restore-ca-cert-bundle-path) when it serves with C(--server-cert)).
    type: bool
    default: true
  metrics_window:
    description:
      - Seconds between the two reads of each member's own etcd C(/metrics) (on its client URL with the
        client TLS, or the first of C(listen-metrics-urls) when its etcd config names one), read in the
        same exec as the other checks; the etcd-mixin rules (C(WAL_FSYNC_SLOW), C(GRPC_ERRORS), ...) are
        judged on the change between them.
      - V(0) reads once - gauges and lifetime counters only (C(NO_LEADER), quota and size figures,
        C(LEADER_CHANGES) against uptime). A negative value does not read C(/metrics) at all.
      - The sweep of a cluster takes at least this long (every member waits in parallel, overlapping
        the other checks).
    type: float
    default: 3
  concurrency:
    description:
      - How many members are checked at the same time.
      - Each check mostly waits (the O(metrics_window) between the two C(/metrics) reads, etcdctl round trips),
        so this is a count of open exec streams, not of busy CPUs. 20 was measured against 10 on a 56-member seed
        (C(benchmarks/sweep.py --shape seed)) as 5 to 15 % faster with the same CPU; more did not help there,
        where every exec also runs on the controller's machine.
    type: int
    default: 20
  timeout:
    description: Seconds for each etcdctl command and the C(/healthz) request (the exec gets C(6 x timeout + 10)).
    type: int
    default: 10
  detail:
    description:
      - Also return per member the C(endpoint status --cluster -w table), the cheatsheet output of the
        debug image, the last O(log_lines) lines of the etcd container's log, and per etcd the next
        commands an operator can paste (what C(diagnose.yml) shows). Needs C(get) on C(pods/log).
    type: bool
    default: false
  log_lines:
    description: With O(detail), how many log lines per member.
    type: int
    default: 50
notes:
  - Needs C(get) on C(pods) and C(create) on C(pods/exec) in the namespaces checked.
seealso:
  - module: etcd_wrapper.ops.etcd_cluster_info
  - module: etcd_wrapper.ops.etcd_ephemeral_container
  - module: etcd_wrapper.ops.etcd_health_report
"""

EXAMPLES = r"""
- name: Find the etcds
  etcd_wrapper.ops.etcd_cluster_info:
    context: garden-seed-1
    namespaces: ["shoot--dev--*"]
  register: found

- name: Attach the debug containers
  etcd_wrapper.ops.etcd_ephemeral_container:
    context: garden-seed-1
    namespace: "{{ item.namespace }}"
    pods: "{{ item.pods | map(attribute='name') }}"
    image: registry.example.com/ops/etcd-debug:0.1.0
    profile: restricted
  loop: "{{ found.etcds }}"
  register: debug
  failed_when: false

- name: Check them
  etcd_wrapper.ops.etcd_health:
    context: garden-seed-1
    etcds: "{{ found.etcds }}"
    debug_containers: "{{ debug.results | map(attribute='containers', default=[]) | flatten }}"
    thresholds:
      db_quota_warning: 0.7
  register: health

- name: Show the critical findings
  ansible.builtin.debug:
    msg: "{{ health.findings | selectattr('severity', 'eq', 'critical') | map(attribute='message') }}"
"""

RETURN = r"""
cluster:
  description: Name of the cluster as used in findings.
  returned: always
  type: str
unreachable_reason:
  description:
    - Why the cluster could not be read (O(cluster_error), or this module's connection error), else null.
    - Not C(unreachable), which Ansible reserves; M(etcd_wrapper.ops.etcd_health_report) reads either name.
  returned: always
  type: str
etcds:
  description: One entry per etcd.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace.
      type: str
    etcd:
      description: Name of the etcd.
      type: str
    status:
      description: C(critical), C(warning) or C(ok) - its most severe finding.
      type: str
    pods:
      description: Member pods.
      type: list
      elements: str
    leader:
      description: Pod of the leader, null when none answered as leader.
      type: str
    quota_bytes:
      description: The quota used for C(DB_QUOTA_HIGH).
      type: int
    quota_source:
      description:
        - Where the quota came from - C(etcd config <path>) (the config the etcd runs with, e.g. etcd-wrapper's
          C(/home/nonroot/etcd.conf.yaml)), backup-restore's C(--embedded-etcd-quota-bytes), or C(default 8 GiB).
      type: str
    replicas:
      description: The StatefulSet's replicas as discovery saw them (0 for a hibernated etcd), null when unknown.
      type: int
    sources:
      description:
        - Where the checks' settings came from - C(tls), C(endpoint), C(config) and C(backup_restore) - e.g.
          C(args of container 'backup-restore' (--cacert, --cert, --key)); a mount-layout or default guess says so.
        - Null when no member could be checked.
      type: dict
    members:
      description:
        - Per member C(pod), C(id) (hex, as etcdctl prints it), C(name), C(is_leader), C(is_learner),
          C(reachable), C(health), C(health_error), C(db_size), C(db_size_in_use), C(db_quota_ratio),
          C(revision), C(raft_index), C(raft_term), C(version), C(backup_restore) (C(status), C(health), C(role) -
          C(leader) or C(follower), whose 503 is normal - C(full_snapshot_age_s), C(delta_snapshot_age_s),
          C(snapshotter_failures)), C(etcd_process) (C(pid), C(name) of the etcd process found by name),
          C(metrics) (from the member's own C(/metrics), read twice O(metrics_window) apart - C(window_seconds),
          C(has_leader), C(leader_changes_window), C(leader_changes_total), C(uptime_seconds), C(proposals_failed_window),
          C(wal_fsync_p99), C(backend_commit_p99), C(peer_rtt_p99) (each C(seconds), C(samples), C(note)), C(grpc),
          C(db_total_size), C(db_in_use), C(quota_backend_bytes), C(notes); or C(error) when it could not be read),
          C(debug_container), C(debug_error); with O(detail) also C(endpoint_status_table), C(cheatsheet), C(logs).
        - One row per member pod; members are matched to pods by the host of their URLs.
      type: list
      elements: dict
    findings:
      description: Its findings, most severe first.
      type: list
      elements: dict
    next_commands:
      description: With O(detail), commands to paste next (those writing to etcd are commented and say so).
      type: list
      elements: str
findings:
  description: All findings of the cluster, most severe first.
  returned: always
  type: list
  elements: dict
  sample:
    - code: ALARM_NOSPACE
      severity: critical
      cluster: garden-seed-1
      namespace: shoot--dev--alpha
      etcd: etcd-main
      pod: etcd-main-0
      message: "alarm NOSPACE raised by etcd-main-0 (compact, defragment, then 'etcdctl alarm disarm')"
      value: null
      threshold: null
summary:
  description: C(status), C(etcds), C(members) and the number of C(critical), C(warning) and C(info) findings.
  returned: always
  type: dict
  sample: {"status": "critical", "etcds": 2, "members": 6, "critical": 1, "warning": 0, "info": 0}
thresholds:
  description: The thresholds the findings were evaluated with (defaults merged with O(thresholds)).
  returned: always
  type: dict
duration_s:
  description: Seconds the checks took.
  returned: always (0 for an unreachable cluster)
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._health import run_module
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import AUTH_ARG_SPEC


def main():
    argument_spec = dict(
        etcds=dict(type="list", elements="dict", default=[]),
        debug_containers=dict(type="list", elements="dict", default=[]),
        container=dict(type="str", default="etcd-debug"),
        target_container=dict(type="str", default="etcd"),
        cluster=dict(type="str"),
        cluster_error=dict(type="str"),
        thresholds=dict(type="dict", default={}, options=dict(
            db_quota_warning=dict(type="float"),
            db_quota_critical=dict(type="float"),
            db_fragmented_ratio=dict(type="float"),
            db_fragmented_min_bytes=dict(type="int"),
            revision_skew=dict(type="int"),
            raft_index_skew=dict(type="int"),
            backup_delta_max_age=dict(type="int"),
            backup_full_max_age=dict(type="int"),
            metrics_wal_fsync_p99_warning=dict(type="float"),
            metrics_wal_fsync_p99_critical=dict(type="float"),
            metrics_backend_commit_p99_warning=dict(type="float"),
            metrics_peer_rtt_p99_warning=dict(type="float"),
            metrics_grpc_errors_warning=dict(type="float"),
            metrics_grpc_errors_critical=dict(type="float"),
            metrics_grpc_min_handled=dict(type="int"),
            metrics_min_samples=dict(type="int"),
            metrics_peer_rtt_min_samples=dict(type="int"),
            metrics_leader_changes_window=dict(type="int"),
            metrics_leader_changes_window_critical=dict(type="int"),
            metrics_leader_changes_per_15m=dict(type="int"),
            metrics_proposals_failed_window=dict(type="float"),
        )),
        backup_restore=dict(type="bool", default=True),
        metrics_window=dict(type="float", default=3.0),
        concurrency=dict(type="int", default=20),
        timeout=dict(type="int", default=10),
        detail=dict(type="bool", default=False),
        log_lines=dict(type="int", default=50),
        **AUTH_ARG_SPEC,
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
