# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: connection options for a Docker-API engine
(Docker Engine or podman's Docker-compatible service), named as community.docker names them,
and the client built from them (docker SDK >= 7)."""

from __future__ import annotations

import os
import re
import traceback
from urllib.parse import urlparse

from ansible.module_utils.basic import env_fallback

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, first_line

try:
    import docker
    import requests.adapters
    import urllib3
    from docker.errors import APIError, DockerException, TLSParameterError
    from docker.tls import TLSConfig
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):  # keeps except clauses valid; never raised without the SDK
        pass

    class TLSParameterError(DockerException):
        pass

    class APIError(DockerException):
        pass

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

DOCKER_COMMON_ARGS = dict(
    docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, aliases=["docker_url"],
                     fallback=(env_fallback, ["DOCKER_HOST"])),
    tls=dict(type="bool", default=False, fallback=(env_fallback, ["DOCKER_TLS"])),
    validate_certs=dict(type="bool", default=False, aliases=["tls_verify"],
                        fallback=(env_fallback, ["DOCKER_TLS_VERIFY"])),
    # no env fallback: DOCKER_CERT_PATH fills the three below in connect_params()
    ca_path=dict(type="path", aliases=["ca_cert", "tls_ca_cert", "cacert_path"]),
    client_cert=dict(type="path", aliases=["tls_client_cert", "cert_path"]),
    client_key=dict(type="path", aliases=["tls_client_key", "key_path"]),
    tls_hostname=dict(type="str", fallback=(env_fallback, ["DOCKER_TLS_HOSTNAME"])),
    api_version=dict(type="str", default="auto", aliases=["docker_api_version"],
                     fallback=(env_fallback, ["DOCKER_API_VERSION"])),
    timeout=dict(type="int", default=600, fallback=(env_fallback, ["DOCKER_TIMEOUT"])),
)

DOCKER_REQUIRED_TOGETHER = [["client_cert", "client_key"]]

MIN_API_VERSION = (1, 24)  # docker SDK 7: docker.constants.MINIMUM_DOCKER_API_VERSION

# what DOCKER_CERT_PATH holds, as the docker CLI lays it out
CERT_PATH_FILES = (("ca_path", "ca.pem"), ("client_cert", "cert.pem"), ("client_key", "key.pem"))


class EngineError(OpsError):
    """The engine could not be used; the message is one line for the user."""


# ---------------------------------------------------------------- options (pure)


def connect_params(params: dict, environ=None) -> dict:
    """The connection the options ask for, resolved as community.docker does
    (plugins/module_utils/_common_api.py get_connect_params and auth_params): DOCKER_CERT_PATH
    fills ca_path, client_cert and client_key that are not given; tcp:// becomes https:// with TLS;
    validate_certs means TLS with verification, tls alone TLS without. Raises EngineError."""
    environ = os.environ if environ is None else environ
    cert_dir = environ.get("DOCKER_CERT_PATH") or None
    files, from_env = {}, set()
    for option, name in CERT_PATH_FILES:
        files[option] = params.get(option) or None
        if files[option] is None and cert_dir:
            files[option] = os.path.join(cert_dir, name)
            from_env.add(option)
    verify = bool(params.get("validate_certs"))
    use_tls = verify or bool(params.get("tls"))
    host = params["docker_host"]
    if use_tls and host.startswith("tcp://"):
        host = "https://" + host[len("tcp://"):]
    api_version = str(params.get("api_version") or "auto")
    if api_version != "auto" and not re.fullmatch(r"\d+\.\d+", api_version):
        raise EngineError(f"api_version must be 'auto' or a Docker API version like 1.41, not '{api_version}'")
    if api_version != "auto" and tuple(int(n) for n in api_version.split(".")) < MIN_API_VERSION:
        raise EngineError(f"api_version {api_version} is older than {'.'.join(map(str, MIN_API_VERSION))}, "
                          "the oldest the Docker SDK for Python 7 speaks")
    result = {"base_url": host, "tls": use_tls, "verify": verify, "ca_path": None, "client_cert": None,
              "client_key": None, "tls_hostname": None, "api_version": api_version, "timeout": params["timeout"]}
    if not use_tls:
        return result
    if files["client_cert"] and files["client_key"]:
        result["client_cert"], result["client_key"] = files["client_cert"], files["client_key"]
    if verify:
        result["ca_path"] = files["ca_path"]
        # verified against tls_hostname, else the host of docker_host (community.docker's update_tls_hostname)
        result["tls_hostname"] = params.get("tls_hostname") or urlparse(host).hostname
    for option in ("ca_path", "client_cert", "client_key"):
        path = result[option]
        if path and not os.path.isfile(path):
            origin = " (from DOCKER_CERT_PATH)" if option in from_env else ""
            raise EngineError(f"TLS parameter error: {option} {path}{origin} does not exist")
    return result


# ---------------------------------------------------------------- errors (pure)


def tls_problem(text: str, conn: dict) -> str | None:
    """A one-line explanation of a TLS failure in an error text, None if it is not one."""
    low = text.lower()
    mismatch = re.search(r"hostname '([^']*)' doesn't match (?:either of )?((?:'[^']*'(?:, )?)+)", text)
    if mismatch or "hostname mismatch" in low or "ip address mismatch" in low:
        name = mismatch.group(1) if mismatch else conn.get("tls_hostname")
        names = f" (it names {mismatch.group(2)})" if mismatch else ""
        return (f"the engine's TLS certificate is not valid for host name '{name}'{names}: "
                "set tls_hostname to a name in the certificate")
    if "certificate verify failed" in low:
        detail = re.search(r"certificate verify failed: ([^(]*?)\s*\(_ssl", text)
        why = f" ({detail.group(1)})" if detail else ""
        against = conn.get("ca_path") or "the system CAs"
        return (f"TLS certificate verify failed{why} against {against}: "
                "set ca_path to the CA that signed the engine's certificate")
    given = f"client_cert {conn['client_cert']}" if conn.get("client_cert") else "no client_cert"
    advice = "set client_cert and client_key to a certificate signed by the CA the engine trusts (dockerd --tlscacert)"
    if any(marker in low for marker in ("alert certificate required", "alert bad certificate", "alert unknown ca",
                                        "certificate_required", "bad_certificate", "unknown_ca")):
        return f"the engine refused the TLS client certificate ({given}): {advice}"
    if "eof occurred in violation of protocol" in low:  # dockerd 20.10 hangs up on a client certificate of another CA
        return f"the engine closed the TLS connection, most likely refusing the client certificate ({given}): {advice}"
    if "wrong version number" in low or "record layer failure" in low:
        return "the engine does not answer TLS there: check docker_host, or turn tls and validate_certs off"
    if "http request to an https server" in low:
        return "the engine expects TLS: set validate_certs (or tls) and the certificate options"
    return None


def _reason(exc) -> str:
    text = first_line(exc)
    # "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, ...))"
    for marker in ("FileNotFoundError", "ConnectionRefusedError", "PermissionError"):
        if marker in text:
            return {"FileNotFoundError": "no such socket", "ConnectionRefusedError": "connection refused",
                    "PermissionError": "permission denied"}[marker]
    return text.replace("Error while fetching server API version: ", "")


def engine_error(exc, params: dict, conn: dict | None = None) -> EngineError:
    """The one-line EngineError for an exception talking to the engine."""
    where = params["docker_host"]
    if conn is None:
        try:
            conn = connect_params(params)
        except EngineError:
            conn = {}
    if isinstance(exc, APIError):  # the engine answered, with an error
        return EngineError(f"the container engine at {where} refused the request: "
                           f"{first_line(exc.explanation or exc)} (api_version {params.get('api_version') or 'auto'})")
    problem = tls_problem(str(exc), conn)
    if problem:
        return EngineError(f"cannot reach the container engine at {where}: {problem}")
    return EngineError(f"cannot reach the container engine at {where}: {_reason(exc)} "
                       "(is Docker Engine or 'podman system service' running there?)")


# ---------------------------------------------------------------- the client


if HAS_DOCKER:
    class _TLSAdapter(requests.adapters.HTTPAdapter):
        """HTTPS to the engine as configured. requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
        override a session's verify, False or a CA file alike (psf/requests#3829), which would
        ignore ca_path and tls: this adapter applies the configured one. With assert_hostname,
        the certificate is checked against that name (urllib3 2 accepts it)."""

        def __init__(self, verify, assert_hostname=None, **kwargs):
            self.tls_verify = verify
            self.assert_hostname = assert_hostname  # set first: HTTPAdapter.__init__ calls init_poolmanager
            super().__init__(**kwargs)

        def init_poolmanager(self, *args, **kwargs):  # pylint: disable=arguments-differ
            if self.assert_hostname:
                kwargs["assert_hostname"] = self.assert_hostname
            super().init_poolmanager(*args, **kwargs)

        def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
            if self.tls_verify is not True:  # True: the system CAs, which REQUESTS_CA_BUNDLE may name
                verify = self.tls_verify
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)

    class EngineTLSConfig(TLSConfig):
        """docker.tls.TLSConfig plus tls_hostname (SDK 7 removed its assert_hostname argument) and _TLSAdapter.
        configure_client() runs in APIClient.__init__ before the version request, so the adapter
        mounted here serves that first request already."""

        def __init__(self, assert_hostname=None, **kwargs):
            super().__init__(**kwargs)
            self.assert_hostname = assert_hostname

        def configure_client(self, client):
            super().configure_client(client)  # sets client.verify and client.cert
            client.mount("https://", _TLSAdapter(client.verify, self.assert_hostname if self.verify else None))


def docker_client(params: dict):
    """A DockerClient for the module's connection options; raises EngineError if unusable."""
    conn = connect_params(params)
    tls_config = False
    try:
        if conn["tls"]:
            client_cert = (conn["client_cert"], conn["client_key"]) if conn["client_cert"] else None
            tls_config = EngineTLSConfig(client_cert=client_cert, ca_cert=conn["ca_path"], verify=conn["verify"],
                                         assert_hostname=conn["tls_hostname"])
            if not conn["verify"]:
                # asked for: TLS without verification; nothing else is silenced
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        client = docker.DockerClient(base_url=conn["base_url"], tls=tls_config,
                                     timeout=conn["timeout"], version=conn["api_version"])
        if conn["api_version"] != "auto":
            client.ping()  # 'auto' asked the engine for its version already; a pinned one did not
    except TLSParameterError as exc:
        raise EngineError(f"TLS parameter error: {first_line(exc)}") from None
    except (DockerException, OSError) as exc:  # requests' errors are OSErrors
        raise engine_error(exc, params, conn) from None
    return client
