# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: image references and a read-only OCI
distribution (registry v2) client used to compare a registry's manifest with a local image.

Only the standard library is used, so the reference logic is unit-testable anywhere.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError, open_url

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]

_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DOMAIN_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$")


class RegistryError(OpsError):
    """A registry could not answer; the message is one line for the user."""


class ImageReference:
    """`name` (a repository, optionally with a registry host) plus a tag, docker-style."""

    def __init__(self, name: str, tag: str):
        if not name:
            raise ValueError("name must not be empty")
        if "@" in name:
            raise ValueError(f"name '{name}' must be a repository without a digest; give the tag in 'tag'")
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            raise ValueError(f"name '{name}' must be a repository without a tag; give the tag in 'tag'")
        if not _TAG_RE.match(tag or ""):
            raise ValueError(f"tag '{tag}' is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})")
        first, _sep, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
            if not _DOMAIN_RE.match(first):
                raise ValueError(f"registry host '{first}' in name '{name}' is not valid")
            domain, path = first, rest
        else:
            domain, path = "", name
        if not _REPO_RE.match(path):
            raise ValueError(f"repository '{path}' in name '{name}' is not valid (lowercase letters, digits and . _ - / only)")
        self.name = name
        self.tag = tag
        self.domain = domain
        self.path = path

    @property
    def ref(self) -> str:
        """As the user wrote it: name:tag."""
        return f"{self.name}:{self.tag}"

    @property
    def normalized(self) -> str:
        """Fully qualified as containerd and kubelets see it (docker.io/library/... for short names)."""
        if self.domain:
            return self.ref
        path = self.path if "/" in self.path else f"library/{self.path}"
        return f"{DOCKER_HUB}/{path}:{self.tag}"

    @property
    def registry(self) -> str:
        return self.domain or DOCKER_HUB

    @property
    def repository(self) -> str:
        """The repository path inside the registry."""
        if self.domain:
            return self.path
        return self.path if "/" in self.path else f"library/{self.path}"


def is_loopback(host: str) -> bool:
    hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0][1:]
    return hostname == "localhost" or hostname.startswith("127.") or hostname == "::1"


def parse_www_authenticate(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="x",service="y"' -> ('bearer', {'realm': 'x', 'service': 'y'})."""
    scheme, _sep, params = (header or "").strip().partition(" ")
    values = dict(re.findall(r'(\w+)="([^"]*)"', params))
    return scheme.lower(), values


def local_matches(manifest: dict, digest: str | None, image_id: str, repo_digests: list[str]) -> bool:
    """True if the registry's manifest is the local image.

    Docker Engine records the pushed manifest digest in RepoDigests; podman does not, but
    both keep the config blob, whose digest is the local image ID.
    """
    if digest and any(rd.endswith("@" + digest) for rd in repo_digests or []):
        return True
    config = (manifest or {}).get("config") or {}
    return bool(image_id) and config.get("digest") == image_id


def pick_platform(index: dict, os_name: str, arch: str) -> str | None:
    """The child manifest digest of an index for os/arch."""
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("os") == os_name and platform.get("architecture") == arch:
            return entry.get("digest")
    return None


class RegistryClient:
    """Read-only registry v2 client: basic and bearer-token auth, https with an http
    fallback for loopback registries only (as Docker Engine treats 127.0.0.0/8)."""

    def __init__(self, registry: str, username: str | None = None, password: str | None = None,
                 timeout: float = 30.0, validate_certs: bool = True):
        self.registry = registry
        self.api_host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
        self.username = username
        self.password = password
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.scheme = None
        self.token = None

    def _basic(self) -> str | None:
        if self.username is None:
            return None
        raw = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _open(self, url: str, headers: dict[str, str], method: str = "GET"):
        return open_url(url, headers=headers, method=method, timeout=self.timeout,
                        validate_certs=self.validate_certs, follow_redirects="safe")

    def _schemes(self):
        if self.scheme:
            return [self.scheme]
        return ["https", "http"] if is_loopback(self.api_host) else ["https"]

    def _request(self, path: str, headers: dict[str, str], scope: str):
        last = None
        for scheme in self._schemes():
            url = f"{scheme}://{self.api_host}{path}"
            try:
                return self._authorized(url, headers, scope), scheme
            except urllib.error.HTTPError:
                raise
            except (OSError, UrlsConnectionError) as exc:
                last = exc
        reason = getattr(last, "reason", last)
        raise RegistryError(f"registry {self.registry} is unreachable: {reason}")

    def _authorized(self, url: str, headers: dict[str, str], scope: str):
        hdrs = dict(headers)
        if self.token:
            hdrs["Authorization"] = self.token
        try:
            return self._open(url, hdrs)
        except urllib.error.HTTPError as exc:
            if exc.code != 401 or self.token:
                raise
            scheme, params = parse_www_authenticate(exc.headers.get("WWW-Authenticate", ""))
            if scheme == "basic":
                self.token = self._basic()
                if not self.token:
                    raise RegistryError(f"registry {self.registry} requires authentication: set registry_auth") from None
            elif scheme == "bearer":
                self.token = self._bearer(params, scope)
            else:
                raise
            hdrs["Authorization"] = self.token
            return self._open(url, hdrs)

    def _bearer(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.registry} asked for a bearer token without a realm")
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {}
        basic = self._basic()
        if basic:
            headers["Authorization"] = basic
        try:
            with self._open(realm + "?" + urllib.parse.urlencode(query), headers) as resp:
                body = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise RegistryError(f"registry {self.registry} refused a token: HTTP {exc.code} {exc.reason}") from None
        except (OSError, ValueError, UrlsConnectionError) as exc:
            raise RegistryError(f"token service {realm} failed: {getattr(exc, 'reason', exc)}") from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"token service {realm} returned no token")
        return "Bearer " + token

    def manifest(self, repository: str, reference: str) -> tuple[dict | None, str | None]:
        """(manifest, digest) for repository:reference, or (None, None) if the registry has none."""
        path = f"/v2/{repository}/manifests/{reference}"
        try:
            resp, scheme = self._request(path, {"Accept": ", ".join(MANIFEST_TYPES)}, f"repository:{repository}:pull")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None, None
            if exc.code in (401, 403):
                who = f"user '{self.username}'" if self.username else "anonymous access"
                raise RegistryError(f"registry {self.registry} refused {who} (HTTP {exc.code}): check registry_auth") from None
            raise RegistryError(f"registry {self.registry} answered HTTP {exc.code} {exc.reason} for {repository}:{reference}") from None
        self.scheme = scheme
        with resp:
            digest = resp.headers.get("Docker-Content-Digest")
            try:
                body = json.loads(resp.read().decode("utf-8"))
            except ValueError:
                raise RegistryError(f"registry {self.registry} returned a manifest that is not JSON") from None
        return body, digest
