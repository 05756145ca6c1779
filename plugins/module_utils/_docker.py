# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: connection options for a Docker-API engine
(Docker Engine or podman's Docker-compatible service), named as community.docker names them,
and the client built from them."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import env_fallback

try:
    import docker
    from docker.errors import DockerException
    from docker.tls import TLSConfig
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):  # keeps except clauses valid; never raised without the SDK
        pass

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

DOCKER_COMMON_ARGS = dict(
    docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, aliases=["docker_url"],
                     fallback=(env_fallback, ["DOCKER_HOST"])),
    tls=dict(type="bool", default=False, fallback=(env_fallback, ["DOCKER_TLS"])),
    validate_certs=dict(type="bool", default=False, aliases=["tls_verify"],
                        fallback=(env_fallback, ["DOCKER_TLS_VERIFY"])),
    ca_path=dict(type="path", aliases=["ca_cert", "tls_ca_cert", "cacert_path"]),
    client_cert=dict(type="path", aliases=["tls_client_cert", "cert_path"]),
    client_key=dict(type="path", aliases=["tls_client_key", "key_path"]),
    tls_hostname=dict(type="str", fallback=(env_fallback, ["DOCKER_TLS_HOSTNAME"])),
    timeout=dict(type="int", default=600, fallback=(env_fallback, ["DOCKER_TIMEOUT"])),
)

DOCKER_REQUIRED_TOGETHER = [["client_cert", "client_key"]]


class EngineError(Exception):
    """The engine could not be used; the message is one line for the user."""


def first_line(text) -> str:
    """The first non-empty line of an error text, stripped (never a traceback)."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return str(text).strip()


def docker_client(params: dict):
    """A DockerClient for the module's connection options; raises EngineError if unreachable."""
    host = params["docker_host"]
    tls_config = None
    if params.get("tls") or params.get("validate_certs"):
        client_cert = None
        if params.get("client_cert"):
            client_cert = (params["client_cert"], params["client_key"])
        tls_config = TLSConfig(
            client_cert=client_cert,
            ca_cert=params.get("ca_path"),
            verify=bool(params.get("validate_certs")),
            assert_hostname=params.get("tls_hostname") or None,
        )
        if host.startswith("tcp://"):
            host = "https://" + host[len("tcp://"):]
    try:
        client = docker.DockerClient(base_url=host, tls=tls_config or False,
                                     timeout=params["timeout"], version="auto")
    except DockerException as exc:
        raise EngineError(f"cannot reach the container engine at {params['docker_host']}: {_reason(exc)} "
                          "(is Docker Engine or 'podman system service' running there?)") from None
    return client


def _reason(exc) -> str:
    text = first_line(exc)
    # "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, ...))"
    for marker in ("FileNotFoundError", "ConnectionRefusedError", "PermissionError"):
        if marker in text:
            return {"FileNotFoundError": "no such socket", "ConnectionRefusedError": "connection refused",
                    "PermissionError": "permission denied"}[marker]
    return text.replace("Error while fetching server API version: ", "")
