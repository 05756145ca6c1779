# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: Kubernetes connection options named as
kubernetes.core names them (with K8S_AUTH_* environment fallbacks, so AWX's Kubernetes
credential works unchanged) and one API client per (kubeconfig, context) -- never the
process-global default configuration, which could leak one cluster's settings into another."""

from __future__ import annotations

import json
import os
import traceback
from urllib.parse import quote, urlencode

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, run_module

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    from kubernetes.config.config_exception import ConfigException
    import urllib3
    HAS_K8S = True
    K8S_IMPORT_ERROR = None
except ImportError:
    HAS_K8S = False
    K8S_IMPORT_ERROR = traceback.format_exc()

    class ConfigException(Exception):  # keeps except clauses valid; never raised without the library
        pass

    class ApiException(Exception):
        pass


# Options and environment names as kubernetes.core has them (plugins/module_utils/args_common.py
# AUTH_ARG_SPEC / AUTH_ARG_MAP, plugins/module_utils/k8s/client.py _create_auth_spec): an option
# not given is read from K8S_AUTH_<OPTION>, else K8S_AUTH_<kubernetes client attribute> (so both
# K8S_AUTH_VALIDATE_CERTS and K8S_AUTH_VERIFY_SSL work), booleans the lenient way kubernetes.core
# reads them (anything but 0/false/no is true), proxy_headers from K8S_AUTH_PROXY_HEADERS_<KEY>.
PROXY_HEADERS_SPEC = dict(
    proxy_basic_auth=dict(type="str", no_log=True),
    basic_auth=dict(type="str", no_log=True),
    user_agent=dict(type="str"),
)

AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw"),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"], no_log=False),
    proxy=dict(type="str"),
    no_proxy=dict(type="str"),
    proxy_headers=dict(type="dict", options=PROXY_HEADERS_SPEC),
    impersonate_user=dict(type="str"),
    impersonate_groups=dict(type="list", elements="str"),
)

# option -> the kubernetes client's name for it, the second environment name kubernetes.core reads
_CLIENT_NAMES = {"validate_certs": "verify_ssl", "ca_cert": "ssl_ca_cert", "client_cert": "cert_file", "client_key": "key_file"}
_SECRET_OPTIONS = ("api_key",)


def env_bool(text: str) -> bool:
    """kubernetes.core's reading of a boolean from the environment: anything but 0/false/no is true."""
    return text.strip().lower() not in ("0", "false", "no")


def auth_params(params: dict, environ=None) -> dict:
    """The connection options with the K8S_AUTH_* environment filled in where an option is unset.
    Pure: `environ` defaults to os.environ."""
    environ = os.environ if environ is None else environ
    auth = dict(params)
    for option, spec in AUTH_ARG_SPEC.items():
        if auth.get(option) is not None:
            continue
        if option == "proxy_headers":
            headers = {}
            for key, key_spec in PROXY_HEADERS_SPEC.items():
                value = environ.get(f"K8S_AUTH_PROXY_HEADERS_{key.upper()}")
                if value is not None:
                    headers[key] = env_bool(value) if key_spec.get("type") == "bool" else value
            auth[option] = headers or None
            continue
        names = [f"K8S_AUTH_{option.upper()}"]
        if option in _CLIENT_NAMES:
            names.append(f"K8S_AUTH_{_CLIENT_NAMES[option].upper()}")
        value = next((environ[n] for n in names if environ.get(n)), None)
        if value is None:
            continue
        kind = spec.get("type", "str")
        if kind == "bool":
            value = env_bool(value)
        elif kind == "list":
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif kind == "path":
            value = os.path.expanduser(value)
        auth[option] = value
    return auth


def secret_values(auth: dict) -> set[str]:
    """Strings of the resolved options that must never be shown (the environment's included)."""
    found = {auth[o] for o in _SECRET_OPTIONS if auth.get(o)}
    for key in ("proxy_basic_auth", "basic_auth"):
        value = (auth.get("proxy_headers") or {}).get(key)
        if value:
            found.add(value)
    return found | kubeconfig_secrets(auth.get("kubeconfig"))


class K8sError(OpsError):
    """A Kubernetes step failed (the API server refused, or could not be reached or configured)."""


def api_message(exc) -> str:
    """The API server's own message from an ApiException (its Status body), one line."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"]).splitlines()[0]
        except (TypeError, ValueError):
            pass
    reason = getattr(exc, "reason", None) or str(exc)
    return str(reason).splitlines()[0] if str(reason) else "no reason given"


def _kubeconfig_source(kubeconfig):
    """('file', path) / ('dict', dict) / (None, None): kubeconfig may be a path or a dict (or JSON text)."""
    if kubeconfig is None or kubeconfig == "":
        return None, None
    if isinstance(kubeconfig, dict):
        return "dict", kubeconfig
    text = str(kubeconfig)
    if text.lstrip().startswith("{"):
        try:
            return "dict", json.loads(text)
        except ValueError:
            raise K8sError("kubeconfig looks like JSON but does not parse") from None
    return "file", text


# Keys of a kubeconfig user entry (and of its auth-provider config / exec env) that carry secrets.
_SECRET_KEYS = frozenset(("token", "password", "client-key-data", "id-token", "refresh-token", "access-token",
                          "client-secret", "value"))


def kubeconfig_secrets(kubeconfig) -> set[str]:
    """Secret strings inside an inline kubeconfig (dict or JSON text): user tokens, passwords,
    client keys, auth-provider tokens, exec env values. A kubeconfig path yields nothing."""
    try:
        kind, source = _kubeconfig_source(kubeconfig)
    except K8sError:
        return set()
    if kind != "dict":
        return set()
    found: set[str] = set()

    def walk(node, secret=False):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, secret or key in _SECRET_KEYS)
        elif isinstance(node, list):
            for item in node:
                walk(item, secret)
        elif secret and isinstance(node, str) and len(node) >= 4:
            found.add(node)

    for user in source.get("users") or []:
        if isinstance(user, dict):
            walk(user.get("user"))
    return found


def _load_configuration(conf, kind, source, params: dict) -> None:
    """Fill conf in kubernetes.core's order (k8s/client.py _create_configuration): a kubeconfig
    when one (or a context) is given; nothing when the host and a credential are; else the pod's
    service account when running in a pod (an AWX container group, an execution environment as a
    pod), else the default kubeconfig. One difference: a host with a client certificate counts as
    a credential here, where kubernetes.core would still demand a kubeconfig file."""
    context = params.get("context")
    host = params.get("host")
    if kind == "dict":
        k8s_config.load_kube_config_from_dict(source, context=context, client_configuration=conf, persist_config=False)
    elif kind == "file" or context:
        k8s_config.load_kube_config(config_file=source, context=context, client_configuration=conf, persist_config=False)
    elif host and (params.get("api_key") or (params.get("client_cert") and params.get("client_key"))):
        pass
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=conf)
        except ConfigException as in_cluster:
            try:
                k8s_config.load_kube_config(client_configuration=conf, persist_config=False)
            except ConfigException:
                if not host:
                    raise K8sError("no Kubernetes configuration: no kubeconfig (kubeconfig, K8S_AUTH_KUBECONFIG, KUBECONFIG, "
                                   f"~/.kube/config), no host, and not in a pod ({in_cluster})") from None


def new_api_client(params: dict):
    """An ApiClient of its own for these connection options (no global state touched).

    params are the module's options resolved with auth_params(). The configuration is loaded
    (kubeconfig, in-cluster or none), the explicit options are applied on top, and only then is
    the ApiClient (and with it the urllib3 pool: CA, client certificate, proxy) built, once.
    """
    kind, source = _kubeconfig_source(params.get("kubeconfig"))
    context = params.get("context")
    if kind == "file" and not any(os.path.exists(os.path.expanduser(p)) for p in source.split(os.pathsep) if p):
        # the client would say "Invalid kube-config file. No configuration found."
        raise K8sError(f"kubeconfig {source} does not exist")
    conf = k8s_client.Configuration()
    try:
        _load_configuration(conf, kind, source, params)
    except ConfigException as exc:
        text = str(exc)
        if context and ("context" in text.lower() or "not found" in text.lower()):
            raise K8sError(f"context '{context}' not found in the kubeconfig") from None
        raise K8sError(f"invalid kubeconfig: {text.splitlines()[0] if text else 'unreadable'}") from None
    except (OSError, ValueError, TypeError) as exc:
        raise K8sError(f"cannot read kubeconfig: {exc}") from None
    if params.get("host"):
        conf.host = params["host"].rstrip("/")
    if params.get("api_key"):
        conf.api_key = {"authorization": "Bearer " + params["api_key"]}
        conf.refresh_api_key_hook = None  # an explicit token replaces the service account's
    if params.get("validate_certs") is not None:
        conf.verify_ssl = params["validate_certs"]
    if params.get("ca_cert"):
        conf.ssl_ca_cert = params["ca_cert"]
    if params.get("client_cert"):
        conf.cert_file = params["client_cert"]
    if params.get("client_key"):
        conf.key_file = params["client_key"]
    if params.get("proxy"):
        conf.proxy = params["proxy"]
    if params.get("no_proxy"):
        conf.no_proxy = params["no_proxy"]
    headers = {k: v for k, v in (params.get("proxy_headers") or {}).items() if v is not None}
    if headers:
        # the Proxy-Authorization / Authorization / User-Agent headers of the proxy's CONNECT
        conf.proxy_headers = urllib3.util.make_headers(**headers)
    api = k8s_client.ApiClient(conf)
    if params.get("impersonate_user"):
        api.set_default_header("Impersonate-User", params["impersonate_user"])
    if params.get("impersonate_groups"):
        # one header; the API server takes repeated values, urllib3 a single one per name
        api.set_default_header("Impersonate-Group", ", ".join(params["impersonate_groups"]))
    return api


def k8s_path(*parts: str) -> str:
    """An API path with each part URL-quoted, e.g. k8s_path("api/v1/namespaces", ns, "pods", pod)."""
    return "/" + "/".join(quote(str(p).strip("/"), safe="/") for p in parts)


def auth_headers(api) -> dict:
    """The request headers the client would send: its defaults (User-Agent, Impersonate-*) and
    the credential headers (bearer token or basic auth, refreshed by the kubeconfig's hook)."""
    headers = dict(api.default_headers)
    for setting in (api.configuration.auth_settings() or {}).values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"]] = setting["value"]
    return headers


def rest(api, method: str, api_path: str, query: dict | None = None, body=None,
         content_type: str = "application/json", timeout: float = 60, raw: bool = False):
    """One REST call with the client's connection settings (TLS, proxy, credentials); returns the
    JSON answer as plain dicts (the text with raw=True). An HTTP status >= 400 raises the client's
    ApiException (status, reason, body). No generated API classes or models: importing them costs
    about 2 s of CPU per module run with kubernetes >= 37 (some 250 pydantic models), more than
    everything else a sweep module does."""
    url = api.configuration.host.rstrip("/") + api_path
    if query:
        url += "?" + urlencode({k: ("true" if v is True else "false" if v is False else v) for k, v in query.items()
                                if v is not None}, doseq=True)
    headers = auth_headers(api)
    headers["Accept"] = "*/*" if raw else "application/json"
    data = None
    if body is not None:
        headers["Content-Type"] = content_type
        data = json.dumps(body)
    resp = api.rest_client.pool_manager.request(method, url, headers=headers, body=data, timeout=timeout, preload_content=True)
    text = resp.data.decode("utf-8", "replace") if resp.data else ""
    if resp.status >= 400:
        exc = ApiException(status=resp.status, reason=resp.reason)
        exc.body = text
        raise exc
    if raw:
        return text
    return json.loads(text) if text else {}


def cluster_label(params: dict) -> str:
    """How to name the cluster in messages: the context, else the host, else 'in-cluster' in a pod
    without a kubeconfig, else 'the current context'."""
    if params.get("context") or params.get("host"):
        return params.get("context") or params.get("host")
    if not params.get("kubeconfig") and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "in-cluster"
    return "the current context"


def forbidden(exc, verb: str, resource: str, namespace: str) -> K8sError:
    """One line for a 403: which permission is missing, and the server's words."""
    return K8sError(f"forbidden: needs {verb} on {resource} in {namespace} ({api_message(exc)})")


def k8s_action(action):
    """action(api, params, check_mode, where) as a runner action(module): the connection options
    resolved (K8S_AUTH_*), their secrets masked, one client built and closed; the API server's
    refusals and connection failures become one-line K8sErrors."""
    def run(module) -> dict:
        params = auth_params(module.params)
        # an inline kubeconfig is not no_log as a whole (its cluster and context names belong in
        # the output); its secrets, and secrets taken from the environment, are masked wherever
        # they would appear in the result
        module.no_log_values.update(secret_values(params))
        where = f"cluster '{cluster_label(params)}'"
        host = params.get("host") or "?"
        try:
            api = new_api_client(params)
            host = api.configuration.host
            try:
                return action(api, params, module.check_mode, where)
            finally:
                api.close()
        except ApiException as exc:
            raise K8sError(f"the API server of {where} answered HTTP {exc.status}: {api_message(exc)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # connection, TLS, proxy
            reason = str(getattr(exc, "reason", None) or exc).splitlines()
            raise K8sError(f"cannot reach the API server of {where} at {host}: {reason[0] if reason else type(exc).__name__}") from None
    return run


def run_k8s_module(module, action) -> None:
    """The Kubernetes modules' hand-off: the one runner (_runner.run_module) over k8s_action."""
    run_module(module, k8s_action(action), ("kubernetes", HAS_K8S, K8S_IMPORT_ERROR))
