"""Local OCI registries (Debian's docker-registry) on 127.0.0.1, optionally with htpasswd auth."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

from . import procs


def _name(port: int) -> str:
    return f"registry-{port}"


def up(state: Path, port: int, htpasswd: tuple[str, str] | None = None, readonly: bool = False) -> str:
    """Start a registry on 127.0.0.1:port (reused if running); returns 'host:port'."""
    name = _name(port)
    root = state / "registry" / str(port)
    if not procs.read_pid(state / "run" / f"{name}.pid"):
        (root / "data").mkdir(parents=True, exist_ok=True)
        auth = ""
        if htpasswd:
            user, password = htpasswd
            procs.run(["htpasswd", "-Bbc", str(root / "htpasswd"), user, password])
            auth = f"auth:\n  htpasswd:\n    realm: etcdops-test\n    path: {root / 'htpasswd'}\n"
        (root / "config.yml").write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
            + ("  maintenance:\n    readonly:\n      enabled: true\n" if readonly else "")
            + f"http:\n  addr: 127.0.0.1:{port}\n"
            + auth
        )
        procs.start(name, ["docker-registry", "serve", str(root / "config.yml")], state, ports=(port,))
    procs.wait_for(lambda: procs.port_open(port), f"port {port}", name, state, timeout=20)
    return f"127.0.0.1:{port}"


def down(state: Path, port: int, wipe: bool = True) -> None:
    procs.stop(_name(port), state)
    if wipe:
        shutil.rmtree(state / "registry" / str(port), ignore_errors=True)


def manifest(registry: str, repo: str, tag: str, auth: tuple[str, str] | None = None) -> dict | None:
    """The manifest the registry serves for repo:tag (None if absent), plus its digest."""
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{tag}",
        headers={"Accept": ", ".join([
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
        ])},
    )
    if auth:
        import base64
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
            body["_digest"] = resp.headers.get("Docker-Content-Digest")
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
