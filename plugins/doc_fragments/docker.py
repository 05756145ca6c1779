# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Connection options for a Docker-API engine (Docker Engine or podman's service)."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The URL or Unix socket path of the engine's Docker-compatible API, for example
        C(unix:///var/run/docker.sock), C(unix:///run/podman/podman.sock) or C(tcp://host:2376).
      - If not given, the E(DOCKER_HOST) environment variable is used, then C(unix:///var/run/docker.sock).
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  tls:
    description:
      - Use TLS to talk to the engine, without verifying its certificate unless O(validate_certs=true).
      - Falls back to E(DOCKER_TLS).
    type: bool
    default: false
  validate_certs:
    description:
      - Use TLS and verify the engine's certificate. Falls back to E(DOCKER_TLS_VERIFY).
    type: bool
    default: false
    aliases: [tls_verify]
  ca_path:
    description:
      - CA certificate file that signed the engine's certificate.
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path]
  client_cert:
    description:
      - Client certificate file for TLS client authentication. Requires O(client_key).
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description:
      - Client key file for TLS client authentication. Requires O(client_cert).
    type: path
    aliases: [tls_client_key, key_path]
  tls_hostname:
    description:
      - Expected host name in the engine's certificate, when it differs from the host in O(docker_host).
      - Falls back to E(DOCKER_TLS_HOSTNAME).
    type: str
  timeout:
    description:
      - Seconds to wait for the engine or registry to answer a request. A streamed step (a build step
        that prints nothing, a push, a kind load) fails after this long without progress.
      - Falls back to E(DOCKER_TIMEOUT).
    type: int
    default: 600
requirements:
  - docker (the Docker SDK for Python) >= 7.0
notes:
  - Works with Docker Engine and with podman's Docker-compatible API (C(podman system service)).
"""
