"""A container shaped like a kind node: labelled io.x-k8s.kind.cluster=<name>, privileged,
running Debian's containerd with /var/lib/containerd on a volume (as kind does)."""

from __future__ import annotations

import time
from pathlib import Path

from . import engine, images, procs

LABEL = "io.x-k8s.kind.cluster"


def node_name(cluster: str, index: int = 0) -> str:
    return f"{cluster}-control-plane" if index == 0 else f"{cluster}-worker{index if index > 1 else ''}"


def up(state: Path, cluster: str, count: int = 1, log=print) -> list[str]:
    images.ensure_kind_node(state, log)
    names = []
    for index in range(count):
        name = node_name(cluster, index)
        running = engine.podman(state, "container", "inspect", "--format", "{{.State.Running}}", name, check=False)
        if running.returncode != 0 or running.stdout.strip() != b"true":
            engine.podman(state, "rm", "-f", "-t", "0", name, check=False)
            log(f"  starting kind node {name}")
            engine.podman(state, "run", "-d", "--name", name, "--hostname", name, "--privileged",
                          "--label", f"{LABEL}={cluster}",
                          "--label", f"io.x-k8s.kind.role={'control-plane' if index == 0 else 'worker'}",
                          "-v", "/var/lib/containerd", images.KIND_NODE)
        names.append(name)
    for name in names:
        deadline = time.monotonic() + 30
        while engine.podman(state, "exec", name, "ctr", "version", check=False).returncode != 0:
            if time.monotonic() > deadline:
                logs = engine.podman(state, "logs", "--tail", "10", name, check=False)
                raise procs.TestbedError(f"containerd in kind node {name} did not start:\n{logs.stdout.decode(errors='replace')}")
            time.sleep(0.2)
    return names


def images_in(state: Path, node: str) -> list[str]:
    out = engine.podman(state, "exec", node, "ctr", "--namespace=k8s.io", "images", "ls", "-q").stdout
    return out.decode().split()


def down(state: Path, cluster: str) -> None:
    out = engine.podman(state, "ps", "-a", "-q", "--filter", f"label={LABEL}={cluster}", check=False).stdout.decode().split()
    if out:
        engine.podman(state, "rm", "-f", "-t", "0", "--volumes", *out, check=False)
