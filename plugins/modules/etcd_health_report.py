#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_health_report
short_description: Write the fleet health report (JSON, Markdown, HTML, JUnit) from etcd_health results
version_added: 0.1.0
description:
  - Aggregates the M(etcd_wrapper.ops.etcd_health) results of many clusters into
    C(health_report.json) (versioned schema, C(docs/health_report.schema.json) in the collection),
    C(health_report.md), a self-contained C(health_report.html) (red/amber/green per cluster and
    etcd, sortable findings table, no external assets) and C(junit.xml) (a testcase per etcd, a
    failure per critical finding).
  - Runs on the controller, inside Ansible's own process (an action plugin; no module is shipped
    or started), whatever the task's host or connection; the C(etcd_wrapper.ops.fleet_report)
    role calls it once per sweep.
  - A host named in O(hosts) without a result is reported as C(CLUSTER_UNREACHABLE), never dropped.
  - It does not fail on findings; C(failed) in RV(summary) says whether O(fail_on) is met, and the role fails on it.
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
      - Builds the report and returns the summary; writes no file.
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
    choices: [json, md, html, junit]
    default: [json, md, html, junit]
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
failed_findings:
  description: The findings that make the sweep fail (empty when C(failed) in RV(summary) is false).
  returned: always
  type: list
  elements: dict
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
