# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection helpers: which strings of an inline kubeconfig are masked, API paths, request headers, handshake errors."""

from __future__ import annotations

import json

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._exec import handshake_error
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import auth_headers, k8s_path, kubeconfig_secrets

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


def test_api_paths_are_quoted_per_part():
    assert k8s_path("api/v1/namespaces", "shoot--dev--alpha", "pods", "etcd-main-0", "exec") == \
        "/api/v1/namespaces/shoot--dev--alpha/pods/etcd-main-0/exec"
    assert k8s_path("api/v1/namespaces", "a b", "pods", "x?y") == "/api/v1/namespaces/a%20b/pods/x%3Fy"


def test_auth_headers_carry_the_token_and_the_client_defaults():
    from kubernetes.client import ApiClient, Configuration  # pylint: disable=import-outside-toplevel
    conf = Configuration(host="https://127.0.0.1:6443")
    conf.api_key = {"authorization": "Bearer sa-token"}
    api = ApiClient(conf)
    api.set_default_header("Impersonate-User", "alice")
    headers = auth_headers(api)
    assert headers["authorization"] == "Bearer sa-token" and headers["Impersonate-User"] == "alice"
    assert "authorization" not in auth_headers(ApiClient(Configuration(host="https://127.0.0.1:6443")))


class _BadStatus(Exception):
    """Shaped like websocket-client's WebSocketBadStatusException (status_code, resp_body)."""

    def __init__(self, text, status_code, resp_body):
        super().__init__(text)
        self.status_code, self.resp_body = status_code, resp_body


def test_handshake_errors_say_the_servers_message():
    # recorded from the fleet: exec into a container name the pod does not have
    body = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"container nope is not valid for pod '
            b'etcd-main-0","reason":"BadRequest","code":400}')
    assert handshake_error(_BadStatus("Handshake status 400 Bad Request -+-+- {...}", 400, body)) == \
        "HTTP 400: container nope is not valid for pod etcd-main-0"
    assert handshake_error(_BadStatus("Handshake status 502 Bad Gateway", 502, b"<html>proxy</html>")) == \
        "HTTP 502: Handshake status 502 Bad Gateway"
    assert handshake_error(ConnectionRefusedError(111, "Connection refused")) == "[Errno 111] Connection refused"


# ---------------------------------------------------------------- options from the environment, as kubernetes.core reads them


def _unset():
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import AUTH_ARG_SPEC  # pylint: disable=import-outside-toplevel
    return {k: None for k in AUTH_ARG_SPEC}


def test_env_names_of_kubernetes_core_and_their_client_aliases():
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import auth_params  # pylint: disable=import-outside-toplevel
    env = {"K8S_AUTH_VALIDATE_CERTS": "no", "K8S_AUTH_CA_CERT": "/pki/ca.crt", "K8S_AUTH_CERT_FILE": "/pki/tls.crt",
           "K8S_AUTH_CLIENT_KEY": "/pki/tls.key", "K8S_AUTH_NO_PROXY": "127.0.0.1,.svc", "K8S_AUTH_IMPERSONATE_GROUPS": "a, b"}
    auth = auth_params(_unset(), env)
    assert auth["validate_certs"] is False and auth["ca_cert"] == "/pki/ca.crt"
    assert auth["client_cert"] == "/pki/tls.crt" and auth["client_key"] == "/pki/tls.key"
    assert auth["no_proxy"] == "127.0.0.1,.svc" and auth["impersonate_groups"] == ["a", "b"]
    # the option's own name wins over the client attribute's name, as in kubernetes.core
    both = auth_params(_unset(), {"K8S_AUTH_CA_CERT": "/a", "K8S_AUTH_SSL_CA_CERT": "/b", "K8S_AUTH_VERIFY_SSL": "0"})
    assert both["ca_cert"] == "/a" and both["validate_certs"] is False


def test_options_given_win_over_the_environment():
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import auth_params  # pylint: disable=import-outside-toplevel
    params = dict(_unset(), validate_certs=True, context="seed-1")
    auth = auth_params(params, {"K8S_AUTH_VALIDATE_CERTS": "false", "K8S_AUTH_CONTEXT": "other"})
    assert auth["validate_certs"] is True and auth["context"] == "seed-1"
    assert params["validate_certs"] is True  # the module's params are not changed


def test_booleans_read_leniently_like_kubernetes_core():
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import auth_params, env_bool  # pylint: disable=import-outside-toplevel
    assert [env_bool(v) for v in ("0", "false", "False", "NO", " no ")] == [False] * 5
    # anything else is true, "off" included: kubernetes.core's client.py compares with 0/false/no only
    assert [env_bool(v) for v in ("1", "yes", "true", "off", "n", "enabled")] == [True] * 6
    assert auth_params(_unset(), {"K8S_AUTH_VERIFY_SSL": "off"})["validate_certs"] is True


def test_proxy_headers_from_env_and_their_secrets():
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import auth_params, secret_values  # pylint: disable=import-outside-toplevel
    env = {"K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "ops:Pr0xy-secret", "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "etcd-ops",
           "K8S_AUTH_API_KEY": "sa-token-from-env"}
    auth = auth_params(_unset(), env)
    assert auth["proxy_headers"] == {"proxy_basic_auth": "ops:Pr0xy-secret", "user_agent": "etcd-ops"}
    assert secret_values(auth) == {"ops:Pr0xy-secret", "sa-token-from-env"}
    assert auth_params(_unset(), {})["proxy_headers"] is None


def test_no_configuration_anywhere_is_one_line(tmp_path, monkeypatch):
    from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError, new_api_client  # pylint: disable=import-outside-toplevel
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    try:
        new_api_client(_unset())
    except K8sError as exc:
        assert str(exc).startswith("no Kubernetes configuration: no kubeconfig (kubeconfig, K8S_AUTH_KUBECONFIG, KUBECONFIG, "
                                   "~/.kube/config), no host, and not in a pod ("), str(exc)
        assert "\n" not in str(exc)
    else:
        raise AssertionError("a client without any configuration")
