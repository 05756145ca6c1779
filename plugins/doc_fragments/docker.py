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
        O(ca_path) is not used then; a client certificate (O(client_cert), O(client_key)) is still sent.
      - C(tcp://) in O(docker_host) becomes C(https://) when TLS is on.
      - Falls back to E(DOCKER_TLS).
    type: bool
    default: false
  validate_certs:
    description:
      - Use TLS and verify the engine's certificate against O(ca_path), or the system CAs when none is given,
        and its host name against O(tls_hostname) or the host in O(docker_host).
      - Falls back to E(DOCKER_TLS_VERIFY).
    type: bool
    default: false
    aliases: [tls_verify]
  ca_path:
    description:
      - CA certificate file that signed the engine's certificate.
      - If not given and E(DOCKER_CERT_PATH) is set, C(ca.pem) in that directory (as the docker CLI and
        community.docker do).
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path]
  client_cert:
    description:
      - Client certificate file for TLS client authentication (what C(dockerd --tlsverify) demands). Requires O(client_key).
      - If not given and E(DOCKER_CERT_PATH) is set, C(cert.pem) in that directory.
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description:
      - Client key file for TLS client authentication. Requires O(client_cert).
      - If not given and E(DOCKER_CERT_PATH) is set, C(key.pem) in that directory.
    type: path
    aliases: [tls_client_key, key_path]
  tls_hostname:
    description:
      - Expected host name in the engine's certificate, when it differs from the host in O(docker_host)
        (for example when connecting by IP address to an engine whose certificate names only DNS names).
        Used with O(validate_certs=true).
      - Falls back to E(DOCKER_TLS_HOSTNAME).
    type: str
  api_version:
    description:
      - The Docker API version to speak, for example C(1.41), or C(auto) to use the engine's own version.
      - A pinned version is checked with one request to the engine when the module connects.
      - Falls back to E(DOCKER_API_VERSION).
    type: str
    default: auto
    aliases: [docker_api_version]
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
  - The connection options and their environment variables are those of community.docker, including
    E(DOCKER_CERT_PATH) (a directory holding C(ca.pem), C(cert.pem) and C(key.pem)).
"""
