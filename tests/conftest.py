"""Session fixtures shared by the fleet's own tests (tests/testbed) and the collection's
integration tests (tests/integration): the infrastructure (podman's Docker-compatible API,
registry, base images) and the local fleet, each started once per session and reused when
already running."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from testbed import infra as testbed_infra  # noqa: E402


def _log(message: str) -> None:
    print(message, file=sys.stderr)


@pytest.fixture(scope="session")
def state() -> Path:
    return testbed_infra.state_dir(None)


@pytest.fixture(scope="session")
def infra(state) -> dict[str, str]:
    """Engine, registry and base images (reused when already running)."""
    env = testbed_infra.infra_up(state, log=_log)
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def fleet(infra, state) -> dict:
    """The local fleet (TESTBED_TEST_CLUSTERS clusters, default 2), started once per session."""
    from testbed import fleet as fleet_mod
    from testbed import kube
    count = int(os.environ.get("TESTBED_TEST_CLUSTERS", "2"))
    etcds, members = ["etcd-main", "etcd-events"], 3
    path = fleet_mod.up(state, count, etcds, members, infra["TESTBED_REGISTRY"], testbed_infra.insecure_registries(),
                        log=_log)
    clients: dict = {}

    def api(context: str):
        if context not in clients:
            clients[context] = kube.api_client(path, context)
        return clients[context]

    return {"kubeconfig": path, "contexts": [f"testbed-{i}" for i in range(1, count + 1)], "api": api,
            "etcds": etcds, "members": members, "registry": infra["TESTBED_REGISTRY"]}


@pytest.fixture(scope="session")
def fleet_debug_image(infra, state) -> str:
    """The debug image of ops/Dockerfile in the fleet's registry, built through etcd_debug_image."""
    from testbed import images
    return images.ensure_debug_image(state, infra["TESTBED_REGISTRY"], images.ops_tag(), log=_log)
