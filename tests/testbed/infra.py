"""The local parts every test and the demo start from, as a library: where the state lives, the
registry ports, podman's Docker-compatible API with the registry and base images (infra_up), and
stopping all of it (down). The CLI (python -m testbed) and the tests call these."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from . import dockerd, engine, fleet, images, registry

REPO = Path(__file__).resolve().parents[2]


def state_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("TESTBED_DIR") or REPO / ".testbed").resolve()


def registry_port() -> int:
    return int(os.environ.get("TESTBED_REGISTRY_PORT", "5000"))


def auth_registry_port() -> int:
    return int(os.environ.get("TESTBED_AUTH_REGISTRY_PORT", "5001"))


def readonly_registry_port() -> int:
    return int(os.environ.get("TESTBED_RO_REGISTRY_PORT", "5002"))


def insecure_registries() -> list[str]:
    """Every registry the tests may start is plain HTTP: podman must know them as insecure."""
    return [f"127.0.0.1:{port}" for port in (registry_port(), auth_registry_port(), readonly_registry_port())]


def infra_up(state: Path, log=print) -> dict[str, str]:
    """Engine + registry + base images; returns the environment to use them."""
    start = time.monotonic()
    regs = insecure_registries()
    log(f"testbed state: {state}")
    log("  podman system service (Docker-compatible API)")
    host = engine.up(state, regs)
    log(f"  registry on {regs[0]}")
    registry.up(state, registry_port())
    images.ensure_base(state, log)
    images.ensure_etcd_source(state, log)
    log(f"infra ready in {time.monotonic() - start:.1f}s")
    return infra_env(state, host)


def infra_env(state: Path, host: str | None = None) -> dict[str, str]:
    return {
        "DOCKER_HOST": host or engine.docker_host(state),
        "TESTBED_DIR": str(state),
        "TESTBED_REGISTRY": f"127.0.0.1:{registry_port()}",
        "TESTBED_BASE_IMAGE": images.BASE,
        "TESTBED_ETCD_IMAGE": images.ETCD_SOURCE,
        **engine.conf_env(state),
    }


def down(state: Path, purge: bool) -> None:
    fleet.down(state)
    for pidfile in sorted((state / "run").glob("registry-*.pid")) if (state / "run").exists() else []:
        registry.down(state, int(pidfile.stem.split("-", 1)[1]), wipe=purge)
    dockerd.down(state)  # left running only by an interrupted test_engine_tls.py
    engine.down(state)
    if purge:
        # overlay storage may hold read-only layers; podman knows how to remove them
        if (state / "engine" / "containers.conf").exists():
            engine.podman(state, "system", "reset", "--force", check=False, timeout=300)
        shutil.rmtree(state, ignore_errors=True)
    print(f"testbed {'purged' if purge else 'stopped'}: {state}")
