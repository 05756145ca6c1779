#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: etcdctl_exec
short_description: Run etcdctl (or any argv) in an etcd pod's debug container, read-only unless told
version_added: 0.1.0
description:
  - Runs etcdctl in the debug container attached by M(etcd_wrapper.ops.etcd_ephemeral_container),
    through the API server's C(pods/exec), as an argv (never a shell string), with a hard timeout,
    the real exit code and complete output; parses C(-w json) output.
  - Finds the client TLS material of etcd-druid pods by itself (O(tls=auto)) and the endpoint
    from the pod's C(<etcd>-local) host alias.
  - Commands that write to etcd are refused unless O(allow_write=true).
author:
  - etcd_wrapper.ops maintainers (@etcd-wrapper-ops)
extends_documentation_fragment:
  - etcd_wrapper.ops.k8s_auth
  - etcd_wrapper.ops.attributes
  - etcd_wrapper.ops.attributes.k8s
attributes:
  check_mode:
    support: partial
    details:
      - Read-only commands run in check mode (they change nothing); write commands are skipped
        and reported with RV(skipped).
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Read-only commands report C(changed=false); write commands always report C(changed=true).
options:
  namespace:
    description: Namespace of the pod.
    type: str
    required: true
  pod:
    description: Name of the pod.
    type: str
    required: true
  container:
    description: The container to exec in (the debug container).
    type: str
    default: etcd-debug
  etcdctl:
    description:
      - etcdctl arguments, for example C([endpoint, status, --cluster]). Connection flags
        (C(--endpoints), C(--cacert), C(--cert), C(--key), C(--command-timeout)) are added unless given.
      - Exactly one of O(etcdctl) and O(argv).
    type: list
    elements: str
  argv:
    description:
      - Any command as a list, for example C([curl, -s, http://127.0.0.1:8080/healthz]).
      - Deny by default - only programs known to read run without O(allow_write), namely C(cat), C(ls), C(ps),
        C(pgrep), C(jq), C(print-etcd-cheatsheet), C(sleep), C(test), C(stat), C(du), C(df), C(head), C(tail),
        C(grep), C(sha256sum), C(seq), C(true), C(id), C(uname), C(getent), C(wc), C(echo), C(curl) as GET/HEAD
        without data, and C(openssl) C(x509)/C(verify)/C(s_client)/C(crl)/C(asn1parse)/C(version)/C(ciphers)
        without an output file. C(etcdctl) here is classified like O(etcdctl). Everything else - shells,
        C(etcdutl), C(touch), C(kill), C(rm), ... - counts as a write, because the debug container reaches
        the etcd's files and process.
    type: list
    elements: str
  output:
    description:
      - V(json) adds C(-w json) where etcdctl supports it and parses the output into RV(json)
        (uint64 member IDs stay exact). V(raw) leaves the output alone.
    type: str
    choices: [json, raw]
    default: json
  endpoints:
    description:
      - etcd endpoints. Default the member's own client URL, that is backup-restore's C(--endpoints) on an
        etcd-druid pod (C(https://<etcd>-local:2379)), else the pod's C(*-local) host alias for 127.0.0.1,
        else C(127.0.0.1), with the port from etcd-wrapper's C(--etcd-client-port) (2379 when absent)
        (C(http) with O(tls=none)).
    type: list
    elements: str
  tls:
    description:
      - V(auto) takes the files from the containers' args (backup-restore's C(--cacert), C(--cert),
        C(--key), else etcd-wrapper's C(--etcd-client-cert-path)/C(--etcd-client-key-path)), and only
        when the args say nothing guesses from the etcd container's volumeMounts (etcd-druid >= v0.23
        C(/var/etcd/ssl/{ca,client}/), older C(/var/etcd/ssl/client/{ca,client}/)). If the debug
        container does not mount them, they are read through the etcd process's root
        C(/proc/<pid>/root), the process found by name (C(etcd-wrapper), else C(etcd)) at run time.
        RV(tls_source) says what was used.
      - V(none) for plain HTTP, or a dict with C(cacert), C(cert) and C(key) paths in the container.
    type: raw
    default: auto
  timeout:
    description: Seconds; etcdctl's C(--command-timeout) and the hard limit of the exec stream (plus 5 s).
    type: int
    default: 30
  allow_write:
    description:
      - Allow commands that change etcd (put, del, txn, compaction, defrag, member add/remove/update/promote,
        alarm disarm, snapshot restore, move-leader, lease grant/revoke, lock, elect, auth/user/role changes),
        C(snapshot save) (it writes a file in the container) and anything not known to be read-only.
    type: bool
    default: false
notes:
  - Needs C(get) on C(pods) and C(create) on C(pods/exec) in the namespace.
  - Fails when the command exits non-zero, with RV(rc), RV(stdout) and RV(stderr) in the result
    (use C(failed_when) to accept some codes).
seealso:
  - module: etcd_wrapper.ops.etcd_ephemeral_container
"""

EXAMPLES = r"""
- name: Endpoint status of the whole etcd cluster, parsed
  etcd_wrapper.ops.etcdctl_exec:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    pod: etcd-main-1
    etcdctl: [endpoint, status, --cluster]
  register: status

- name: Show the leader's endpoint
  ansible.builtin.debug:
    msg: "{{ (status.json | selectattr('Status.header.member_id', 'equalto', status.json[0].Status.leader) | first).Endpoint }}"

- name: backup-restore health, any command as argv
  etcd_wrapper.ops.etcdctl_exec:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    pod: etcd-main-1
    argv: [curl, -s, http://127.0.0.1:8080/healthz]

- name: Disarm alarms (writes to etcd, so it must be allowed)
  etcd_wrapper.ops.etcdctl_exec:
    context: garden-seed-1
    namespace: shoot--dev--alpha
    pod: etcd-main-1
    etcdctl: [alarm, disarm]
    allow_write: true
"""

RETURN = r"""
rc:
  description: Exit code of the command, from the exec status channel.
  returned: when the command ran
  type: int
stdout:
  description: Standard output, complete.
  returned: when the command ran
  type: str
stderr:
  description: Standard error, complete.
  returned: when the command ran
  type: str
json:
  description: The parsed C(-w json) output.
  returned: when O(output=json) and etcdctl printed JSON
  type: raw
cmd:
  description: The argv as run (values of C(--password)/C(--user) redacted).
  returned: always
  type: list
  elements: str
tls_source:
  description: Where the TLS flags came from.
  returned: for etcdctl commands
  type: str
  sample: "auto: etcd-druid>=v0.23 layout from container 'etcd' (CA file from secret ca-etcd-bundle (bundle))"
kind:
  description: V(read) or V(write), as the command was classified.
  returned: always
  type: str
skipped:
  description: True when a write command was skipped in check mode.
  returned: in check mode for write commands
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._etcdctl_exec import execute
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import AUTH_ARG_SPEC, run_k8s_module


def main():
    argument_spec = dict(
        namespace=dict(type="str", required=True),
        pod=dict(type="str", required=True),
        container=dict(type="str", default="etcd-debug"),
        etcdctl=dict(type="list", elements="str"),
        argv=dict(type="list", elements="str"),
        output=dict(type="str", choices=["json", "raw"], default="json"),
        endpoints=dict(type="list", elements="str"),
        tls=dict(type="raw", default="auto"),
        timeout=dict(type="int", default=30),
        allow_write=dict(type="bool", default=False),
        **AUTH_ARG_SPEC,
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[["etcdctl", "argv"]], required_one_of=[["etcdctl", "argv"]])
    run_k8s_module(module, execute)


if __name__ == "__main__":
    main()
