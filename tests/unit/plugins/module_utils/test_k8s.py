# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which strings of an inline kubeconfig are masked in module output."""

from __future__ import annotations

import json

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import kubeconfig_secrets

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "testbed-1", "cluster": {"server": "https://127.0.0.1:16443", "certificate-authority-data": "Q0EtREFUQQ=="}}],
    "contexts": [{"name": "testbed-1", "context": {"cluster": "testbed-1", "user": "sa"}}],
    "users": [
        {"name": "sa", "user": {"token": "eyJhbGciOiJSUzI1NiJ9.sa-token"}},
        {"name": "cert", "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZLURBVEE="}},
        {"name": "basic", "user": {"username": "admin", "password": "pa55word"}},
        {"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
            "id-token": "oidc-id-token", "refresh-token": "oidc-refresh", "client-id": "kubectl"}}}},
        {"name": "exec", "user": {"exec": {"command": "gardenlogin", "env": [{"name": "TOKEN", "value": "exec-env-secret"}]}}},
    ],
}


def test_every_user_secret_is_found():
    assert kubeconfig_secrets(KUBECONFIG) == {"eyJhbGciOiJSUzI1NiJ9.sa-token", "S0VZLURBVEE=", "pa55word", "oidc-id-token",
                                              "oidc-refresh", "exec-env-secret"}


def test_names_servers_and_certificates_stay_visible():
    secrets = kubeconfig_secrets(KUBECONFIG)
    for visible in ("testbed-1", "https://127.0.0.1:16443", "Q0EtREFUQQ==", "Q0VSVA==", "admin", "kubectl", "gardenlogin", "TOKEN"):
        assert visible not in secrets


def test_json_text_is_read_like_a_dict():
    assert kubeconfig_secrets(json.dumps(KUBECONFIG)) == kubeconfig_secrets(KUBECONFIG)


def test_paths_and_broken_text_yield_nothing():
    assert kubeconfig_secrets("/root/.kube/config") == set()
    assert kubeconfig_secrets(None) == set()
    assert kubeconfig_secrets("{not json") == set()
