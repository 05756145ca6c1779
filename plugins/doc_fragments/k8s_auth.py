# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Kubernetes connection options, named as kubernetes.core names them."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dict.
      - If not given, E(K8S_AUTH_KUBECONFIG) is used. Without a kubeconfig, a context or a host with
        a credential, the modules use the pod's service account when they run in a pod (an AWX
        container group, an execution environment running as a pod), else the client's default
        kubeconfig (E(KUBECONFIG), C(~/.kube/config)); the same order as kubernetes.core.
      - The secrets of an inline kubeconfig (user tokens, passwords, client keys, auth-provider
        tokens, exec environment values) are masked in the module's output, even at C(-vvv).
    type: raw
  context:
    description:
      - The kubeconfig context to use. Falls back to E(K8S_AUTH_CONTEXT).
      - Each task builds its own API client for its kubeconfig and context; nothing is shared
        between tasks, so one cluster's settings never leak into another's.
    type: str
  host:
    description:
      - URL of the API server. Falls back to E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Falls back to E(K8S_AUTH_API_KEY). Never logged.
    type: str
  validate_certs:
    description:
      - Verify the API server's certificate. Falls back to E(K8S_AUTH_VALIDATE_CERTS), then E(K8S_AUTH_VERIFY_SSL).
      - Read from the environment as kubernetes.core reads it, any value except C(0), C(false) and
        C(no) (any case) means true.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA certificate file of the API server. Falls back to E(K8S_AUTH_CA_CERT), then E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate file. Falls back to E(K8S_AUTH_CLIENT_CERT), then E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Client key file. Falls back to E(K8S_AUTH_CLIENT_KEY), then E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy URL for the API server (REST calls and the exec websocket). Falls back to E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains or CIDRs reached without the proxy, for example C(localhost,.svc,10.0.0.0/8).
      - Falls back to E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers for the proxy's CONNECT request. Each key falls back to
        E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH), E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH),
        E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - C(user:password) for the proxy (a C(Proxy-Authorization) header). Never logged.
        type: str
      basic_auth:
        description:
          - C(user:password) for an C(Authorization) header to the proxy. Never logged.
        type: str
      user_agent:
        description:
          - The C(User-Agent) header sent to the proxy.
        type: str
  impersonate_user:
    description:
      - User to impersonate. Falls back to E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to impersonate. Falls back to E(K8S_AUTH_IMPERSONATE_GROUPS) (comma-separated).
    type: list
    elements: str
requirements:
  - kubernetes (the Kubernetes Python client) >= 31.0
notes:
  - Set these once for all Kubernetes-facing tasks with C(module_defaults) and C(group/etcd_wrapper.ops.k8s).
    That group extends C(kubernetes.core.k8s), so the same defaults also reach kubernetes.core's
    modules in the play. The reverse does not hold (C(group/kubernetes.core.k8s) lists only
    kubernetes.core's modules); use C(group/etcd_wrapper.ops.k8s) for plays that mix both.
"""
