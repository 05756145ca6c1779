"""podman's Docker-compatible API service with a config that works in this sandbox.

The stock config fails here (no CAP_SYS_RESOURCE for the default ulimits, crun refuses the
hybrid cgroup tree); this writes containers.conf / storage.conf / registries.conf of its own
under the state dir and exports them through CONTAINERS_* variables, so nothing touches
/var/lib/containers or /etc/containers.
"""

from __future__ import annotations

import http.client
import json
import resource
import socket
from pathlib import Path

from . import procs

SERVICE = "podman-service"


def conf_env(state: Path) -> dict[str, str]:
    conf = state / "engine"
    return {
        "CONTAINERS_CONF": str(conf / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
    }


def socket_path(state: Path) -> Path:
    return state / "engine" / "podman.sock"


def docker_host(state: Path) -> str:
    return f"unix://{socket_path(state)}"


def write_config(state: Path, insecure_registries: list[str]) -> None:
    conf = state / "engine"
    (conf / "storage").mkdir(parents=True, exist_ok=True)
    (conf / "runroot").mkdir(parents=True, exist_ok=True)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 1048576 if hard == resource.RLIM_INFINITY else hard
    (conf / "containers.conf").write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc=32768:32768"]\n'
        'log_driver = "k8s-file"\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        "exit_command_delay = 5\n"
        f'tmp_dir = "{conf / "tmp"}"\n'
        "[network]\n"
        f'network_config_dir = "{conf / "networks"}"\n'
    )
    (conf / "storage.conf").write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{conf / "storage"}"\n'
        f'runroot = "{conf / "runroot"}"\n'
    )
    regs = "".join(f'[[registry]]\nlocation = "{r}"\ninsecure = true\n\n' for r in insecure_registries)
    (conf / "registries.conf").write_text('unqualified-search-registries = []\nshort-name-mode = "permissive"\n\n' + regs)


def _api_answers(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1)
        try:
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b" 200 " in sock.recv(64)
        except OSError:
            return False


def libpod(state: Path, method: str, path: str, body: dict) -> dict:
    """One call to the libpod REST API of the engine's podman service."""
    conn = http.client.HTTPConnection("localhost", timeout=60)
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.settimeout(60)
    conn.sock.connect(str(socket_path(state)))
    try:
        conn.request(method, f"/v4.0.0/libpod{path}", body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read() or b"{}")
    finally:
        conn.close()
    if resp.status >= 300:
        raise procs.TestbedError(f"podman API {method} {path}: {resp.status} {data.get('message', data)}")
    return data


def _config_text(state: Path) -> str:
    conf = state / "engine"
    return "".join(p.read_text() for p in (conf / "containers.conf", conf / "storage.conf", conf / "registries.conf") if p.exists())


def up(state: Path, insecure_registries: list[str]) -> str:
    before = _config_text(state)
    write_config(state, insecure_registries)
    if before and before != _config_text(state):
        procs.stop(SERVICE, state)  # the service reads its config once: restart it
    sock = socket_path(state)
    if not procs.read_pid(state / "run" / f"{SERVICE}.pid"):
        sock.unlink(missing_ok=True)
        procs.start(SERVICE, ["podman", "system", "service", "--time=0", f"unix://{sock}"],
                    state, env=conf_env(state))
    procs.wait_for(lambda: _api_answers(sock), "its API socket", SERVICE, state, timeout=30)
    return docker_host(state)


def podman(state: Path, *args: str, input_: bytes | None = None, check: bool = True, timeout: float = 900):
    return procs.run(["podman", *args], env=conf_env(state), input_=input_, check=check, timeout=timeout)


def down(state: Path) -> None:
    if (state / "engine" / "containers.conf").exists():
        podman(state, "pod", "rm", "--all", "--force", "--time", "0", check=False, timeout=300)
        podman(state, "rm", "--all", "--force", "--time", "0", check=False, timeout=120)
        procs.run(["buildah", "rm", "--all"], env=conf_env(state), check=False, timeout=120)
    procs.stop(SERVICE, state)
    socket_path(state).unlink(missing_ok=True)
