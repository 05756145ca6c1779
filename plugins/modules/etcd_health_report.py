#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_health_report
short_description: Write the fleet health report (JSON, Markdown, HTML, JUnit, Prometheus) from etcd_health results
version_added: 0.1.0
description:
  - Aggregates the M(etcd_wrapper.ops.etcd_health) results of many clusters into
    C(health_report.json) (versioned schema, C(docs/health_report.schema.json) in the collection),
    C(health_report.md), a self-contained C(health_report.html) (red/amber/green per cluster and
    etcd, sortable findings table, no external assets) and C(junit.xml) (a testcase per etcd, a
    failure per critical finding).
  - With C(prom) in O(formats), C(health_report.prom) in the Prometheus text exposition format for node_exporter's
    textfile collector (point C(--collector.textfile.directory) at O(dest)), written atomically (a temporary file in
    O(dest) renamed over it), gauges only, no sample timestamps (the collector skips a file that has any), no
    duplicate series. Every name starts with C(etcd_wrapper_ops_).
  - "Series: C(etcd_wrapper_ops_finding{code,severity,cluster,namespace,etcd}) 1 per finding (empty namespace and
    etcd for cluster-level findings; findings that would give the same labels are one series) and
    C(etcd_wrapper_ops_finding_members) (how many members, for member findings); per etcd (labels cluster,
    namespace, etcd) C(etcd_wrapper_ops_etcd_status{status=ok|warning|critical}) (1 for the current status, 0 for
    the other two, as kube-state-metrics' phase gauges), C(_etcd_db_size_bytes) and C(_etcd_db_quota_ratio) (the
    largest among the members), C(_etcd_members), C(_etcd_members_healthy), C(_etcd_leader_present) (not for an etcd
    without members); per cluster C(_cluster_reachable) and C(_cluster_duration_seconds); for the sweep
    C(_sweep_timestamp_seconds) (when the report was generated), C(_sweep_duration_seconds) (from O(started_at)),
    C(_sweep_findings{severity}) and C(_sweep_failed{fail_on})."
  - With O(pushgateway), the same text is pushed to a Prometheus Pushgateway (PUT, after the files are written).
  - Runs on the controller, inside Ansible's own process (an action plugin; no module is shipped
    or started), whatever the task's host or connection; the C(etcd_wrapper.ops.fleet_report)
    role calls it once per sweep.
  - A host named in O(hosts) without a result is reported as C(CLUSTER_UNREACHABLE), never dropped.
  - It does not fail on findings; C(failed) in RV(summary) says whether O(fail_on) is met, and the role fails on it.
    It fails when the push fails (one line with the HTTP status and the Pushgateway's message), after writing the files.
author:
  - etcd_wrapper.ops maintainers (@etcd-wrapper-ops)
extends_documentation_fragment:
  - etcd_wrapper.ops.attributes
attributes:
  action:
    description: Has a corresponding action plugin, which runs it on the controller.
    support: full
    details:
      - The whole module runs in the action plugin, in the controller's Ansible process; the module
        itself does not run on a target (it would fail saying so), as its HTML and Markdown templates
        are controller-side plugin utilities.
  check_mode:
    support: full
    details:
      - Builds and renders the report and returns the summary; writes no file and pushes nothing (RV(push) says
        what would be pushed where).
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every report carries the time it was generated, so files are rewritten on each run.
options:
  results:
    description: One M(etcd_wrapper.ops.etcd_health) result per cluster (extra keys C(host) and C(server) are used when present).
    type: list
    elements: dict
    required: true
  hosts:
    description: Every host the sweep ran on; those without a result are reported unreachable.
    type: list
    elements: str
    default: []
  dest:
    description: Directory for the report files (created when missing).
    type: path
    required: true
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [json, md, html, junit, prom]
    default: [json, md, html, junit, prom]
  fail_on:
    description: Which findings make C(failed) in RV(summary) true.
    type: str
    choices: [critical, warning, never]
    default: critical
  thresholds:
    description:
      - The thresholds the findings were evaluated with, recorded in the report.
      - Empty means those in the first result that carries C(thresholds) (as M(etcd_wrapper.ops.etcd_health) returns them).
    type: dict
    default: {}
  title:
    description: Title of the report.
    type: str
    default: etcd health sweep
  remedies:
    description:
      - What goes into each finding's C(remedy), the C(ansible-playbook) command that fixes (or
        diagnoses) that one etcd - C(etcd_wrapper.ops.defrag) for C(DB_FRAGMENTED) and
        C(DB_QUOTA_HIGH), C(etcd_wrapper.ops.recover_nospace) for C(ALARM_NOSPACE) (both with
        C(allow_write=true); run them with C(--check) first to see the plan),
        C(etcd_wrapper.ops.diagnose) for the other etcd findings. The cluster is C(-l <host>), the
        etcd C(-e etcd_namespace=... -e etcd_name=...).
    type: dict
    default: {}
    suboptions:
      inventory:
        description: The inventory sources (C(-i)), for example C(ansible_inventory_sources).
        type: list
        elements: str
        default: []
      extra_vars:
        description: Extra variables every command carries (C(-e key=value)), for example the debug image.
        type: dict
        default: {}
  partials:
    description:
      - Partial reports to merge into this one, each a C(health_report.json) document (a dict, for example an AWX
        artifact a job slice published) or the path of one on the controller. Their clusters join O(results) and the
        report is built again, so the merged report has the findings, summary and O(fail_on) decision the unsliced
        sweep would have (findings are grouped per etcd and code again; schema versions 1 and 2 are read).
      - A cluster in two partials, or a partial that is not a health report, fails with one line and writes nothing.
      - The C(etcd_wrapper.ops.merge_reports) playbook passes the partials the slices of a sliced sweep published.
    type: list
    elements: raw
    default: []
  return_report:
    description: Also return the report document (RV(report)), for example to publish it as a job artifact.
    type: bool
    default: false
  started_at:
    description:
      - When the sweep started, ISO 8601 (for example C(2026-11-27T15:00:00Z); without an offset, UTC).
      - The Prometheus text then carries C(etcd_wrapper_ops_sweep_duration_seconds), from this time to the report's
        C(generated_at). The C(etcd_wrapper.ops.fleet_report) role passes C(fleet_report_started_at), which
        C(etcd_wrapper.ops.health_sweep) sets in its first task.
    type: str
  pushgateway:
    description:
      - Push the Prometheus text (what C(health_report.prom) holds, whether or not O(formats) has C(prom)) to a
        Prometheus Pushgateway with C(PUT <url>/metrics/job/<job>[/<label>/<value>...]).
      - C(PUT) replaces every metric of that group (job and grouping key), so findings that are gone after a sweep
        are gone from the Pushgateway too; C(POST) would keep the series of findings no longer reported.
      - "Scrape the Pushgateway with C(honor_labels: true) so that C(job) and the pushed labels stay as they are."
      - Options mirror M(ansible.builtin.uri) and community.docker where they overlap.
    type: dict
    suboptions:
      url:
        description: Base URL of the Pushgateway, for example C(http://pushgateway.example.org:9091) (a path prefix is kept).
        type: str
        required: true
      job:
        description: The C(job) label of the group (part of the grouping key).
        type: str
        default: etcd_wrapper_ops
      grouping:
        description:
          - More labels of the grouping key (label name to value), for example a label C(fleet) with the value C(prod),
            so that several fleets push to one Pushgateway without replacing each other's group.
          - Label names of the pushed series (C(cluster), C(namespace), C(etcd), C(code), C(severity), C(status),
            C(fail_on)) are refused, as the Pushgateway would overwrite them in every series.
          - Values are URL-escaped; a value with C(/) or an empty value is sent in the Pushgateway's base64 form.
        type: dict
        default: {}
      timeout:
        description: Seconds to wait for the Pushgateway.
        type: int
        default: 30
      username:
        description: User for HTTP basic authentication (sent with the first request).
        type: str
      password:
        description: Password for HTTP basic authentication; never logged nor part of an error message.
        type: str
      validate_certs:
        description: Verify the Pushgateway's TLS certificate.
        type: bool
        default: true
      ca_path:
        description: CA certificate (PEM) to verify the Pushgateway's certificate with.
        type: path
      client_cert:
        description: Client certificate (PEM) for TLS client authentication.
        type: path
      client_key:
        description: Key of O(pushgateway.client_cert) (PEM), when not in that file.
        type: path
seealso:
  - module: etcd_wrapper.ops.etcd_health
"""

EXAMPLES = r"""
- name: Report on every cluster of the play
  etcd_wrapper.ops.etcd_health_report:
    results: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('etcd_health_result', 'defined')
                 | map(attribute='etcd_health_result') }}"
    hosts: "{{ ansible_play_hosts_all }}"
    dest: /var/tmp/etcd-health
  run_once: true
  delegate_to: localhost
  register: report

- name: Report for node_exporter's textfile collector, and push the same to a Pushgateway
  etcd_wrapper.ops.etcd_health_report:
    results: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('etcd_health_result', 'defined')
                 | map(attribute='etcd_health_result') }}"
    hosts: "{{ ansible_play_hosts_all }}"
    dest: /var/lib/prometheus/node-exporter   # node_exporter --collector.textfile.directory
    formats: [json, prom]
    started_at: "{{ sweep_started_at }}"      # set_fact: "{{ now(utc=true, fmt='%Y-%m-%dT%H:%M:%SZ') }}" before the sweep
    pushgateway:
      url: https://pushgateway.example.org:9091
      grouping: {fleet: prod}
      username: etcd-sweep
      password: "{{ pushgateway_password }}"
  run_once: true
  delegate_to: localhost

- name: Fail the job when a critical finding exists
  ansible.builtin.fail:
    msg: "{{ report.summary_line }}"
  when: report.summary.failed
  run_once: true
"""

RETURN = r"""
files:
  description: Path of each report file by format (in check mode, where they would be).
  returned: always
  type: dict
  sample: {"json": "/var/tmp/etcd-health/health_report.json", "junit": "/var/tmp/etcd-health/junit.xml"}
summary:
  description:
    - C(status) (C(critical), C(warning), C(ok)), C(clusters), C(clusters_unreachable), C(etcds), C(members),
      C(findings) (counts by severity), C(by_code) and C(failed) (whether O(fail_on) is met).
  returned: always
  type: dict
summary_line:
  description: The summary in one sentence.
  returned: always
  type: str
  sample: "CRITICAL: 3 clusters, 6 etcds, 18 members; 3 critical, 1 warning, 0 info findings; fail_on=critical: FAILED"
table:
  description: One line per cluster and etcd with status, counts and finding codes, aligned for a terminal.
  returned: always
  type: list
  elements: str
report:
  description: The report document (what C(health_report.json) holds).
  returned: when O(return_report) is true
  type: dict
merged:
  description: How many partial reports were merged.
  returned: when O(partials) is given
  type: int
failed_findings:
  description: The findings that make the sweep fail (empty when C(failed) in RV(summary) is false).
  returned: always
  type: list
  elements: dict
push:
  description:
    - What was pushed to the Pushgateway (in check mode, what would be), also when the push failed.
  returned: when O(pushgateway) is set
  type: dict
  contains:
    url:
      description: The URL of the group, without credentials.
      type: str
      sample: http://127.0.0.1:9091/metrics/job/etcd_wrapper_ops/fleet/prod
    method:
      description: Always C(PUT).
      type: str
    job:
      description: The job.
      type: str
    grouping:
      description: The grouping labels besides C(job).
      type: dict
    series:
      description: Number of samples in the text.
      type: int
    bytes:
      description: Size of the text.
      type: int
    pushed:
      description: Whether the Pushgateway accepted the push (false in check mode).
      type: bool
    status:
      description: The HTTP status of the push.
      type: int
      returned: when pushed
    error:
      description: Why the push failed, one line (also the task's C(msg)).
      type: str
      returned: when the push failed
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._health_report import ARGUMENT_SPEC


def main():
    # Ansible runs the action plugin of the same name instead of this file: the report is rendered on
    # the controller (plugin_utils/_health_report_render.py), which is not shipped to targets.
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="etcd_wrapper.ops.etcd_health_report runs on the controller through its action plugin, "
                         "not as a module on a target; run it as a task of a play (ansible-playbook or ansible -m)")


if __name__ == "__main__":
    main()
