"""Docker Engine (Debian's docker.io dockerd) beside podman, with a real TLS endpoint (--tlsverify).

Its own data root, exec root, Unix socket, config file and trust key under <state>/dockerd, so it
touches neither podman nor /var/lib/docker, /etc/docker or /run/docker.sock. dockerd 20.10 starts
its own containerd when --containerd is not given; that one keeps its state under the exec root
(exec/containerd) and its root under the data root (data/containerd/daemon).

Two TCP listeners on one port, both TLS with client-certificate verification: 127.0.0.1 (in the
server certificate, with DNS localhost and engine.etcdops.test) and 127.0.0.2 (not in it: the
host name mismatch that tls_hostname fixes).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from . import pki, procs

SERVICE = "dockerd"
PORT = int(os.environ.get("TESTBED_DOCKERD_PORT", "23760"))  # the fleet uses 22000-22099, registries 5000-5002
MISMATCH_ADDR = "127.0.0.2"
CERT_DNS = ["localhost", "engine.etcdops.test"]
CERT_IPS = ["127.0.0.1"]


def root(state: Path) -> Path:
    return state / "dockerd"


def socket_path(state: Path) -> Path:
    return root(state) / "docker.sock"


def make_pki(state: Path) -> dict[str, Path]:
    """The engine's CA, server and client certificates; client dirs laid out for DOCKER_CERT_PATH
    (ca.pem, cert.pem, key.pem), one from the engine's CA and one from another CA."""
    base = root(state) / "pki"
    ca_crt, ca_key = pki.ca(base / "ca", "etcdops-dockerd-ca")
    other_crt, other_key = pki.ca(base / "other-ca", "etcdops-other-ca")
    paths = {"ca": ca_crt, "other_ca": other_crt}
    if not (base / "server" / "tls.crt").exists():
        pki.issue(base / "server", ca_crt, ca_key, "dockerd", "server", dns=CERT_DNS, ips=CERT_IPS)
    paths["server_cert"], paths["server_key"] = base / "server" / "tls.crt", base / "server" / "tls.key"
    for name, crt, key in (("client", ca_crt, ca_key), ("other-client", other_crt, other_key)):
        cert_dir = base / name
        if not (cert_dir / "cert.pem").exists():
            pki.issue(cert_dir / "issue", crt, key, f"etcdops-{name}", "client")
            shutil.copy(crt, cert_dir / "ca.pem")
            shutil.copy(cert_dir / "issue" / "tls.crt", cert_dir / "cert.pem")
            shutil.copy(cert_dir / "issue" / "tls.key", cert_dir / "key.pem")
        paths[name.replace("-", "_") + "_dir"] = cert_dir
    return paths


def _answers(state: Path) -> bool:
    import docker
    from docker.errors import DockerException
    try:
        return docker.DockerClient(base_url=f"unix://{socket_path(state)}", version="1.41", timeout=2).ping()
    except (DockerException, OSError):  # not up yet (requests' errors are OSErrors)
        return False


def up(state: Path, insecure_registries: list[str]) -> dict:
    """Start dockerd (reused when running); returns its endpoints and the certificate paths."""
    paths = make_pki(state)
    base = root(state)
    for sub in ("data", "exec"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    config = base / "daemon.json"
    # not /etc/docker/daemon.json; the trust key (no flag for it in 20.10) not in /etc/docker either
    config.write_text(json.dumps({"deprecated-key-path": str(base / "key.json")}) + "\n")
    if not procs.read_pid(state / "run" / f"{SERVICE}.pid"):
        socket_path(state).unlink(missing_ok=True)
        argv = ["dockerd", "--config-file", str(config), "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
                "--pidfile", str(base / "dockerd.pid"),
                "-H", f"unix://{socket_path(state)}",
                "-H", f"tcp://127.0.0.1:{PORT}", "-H", f"tcp://{MISMATCH_ADDR}:{PORT}",
                "--tlsverify", "--tlscacert", str(paths["ca"]),
                "--tlscert", str(paths["server_cert"]), "--tlskey", str(paths["server_key"]),
                "--iptables=false", "--ip-masq=false", "--bridge=none"]
        for reg in insecure_registries:
            argv += ["--insecure-registry", reg]
        procs.start(SERVICE, argv, state, ports=(PORT,))
    procs.wait_for(lambda: _answers(state) and procs.port_open(PORT) and procs.port_open(PORT, MISMATCH_ADDR),
                   f"its API on {socket_path(state)} and TLS on port {PORT}", SERVICE, state, timeout=60)
    return {**paths, "socket": f"unix://{socket_path(state)}", "tcp": f"tcp://127.0.0.1:{PORT}",
            "tcp_localhost": f"tcp://localhost:{PORT}", "tcp_mismatch": f"tcp://{MISMATCH_ADDR}:{PORT}"}


def load_images(state: Path, source_host: str, refs: list[str], log=print) -> None:
    """Copy images from another engine (podman) into dockerd, only those it lacks."""
    import docker
    from docker.errors import ImageNotFound
    target = docker.DockerClient(base_url=f"unix://{socket_path(state)}", timeout=600)
    source = docker.DockerClient(base_url=source_host, timeout=600)
    for ref in refs:
        try:
            target.images.get(ref)
            continue
        except ImageNotFound:
            pass
        log(f"  loading {ref} into dockerd")
        loaded = target.images.load(source.images.get(ref).save(named=True))
        if ref not in [tag for image in loaded for tag in image.tags]:
            raise procs.TestbedError(f"dockerd loaded {[i.tags for i in loaded]}, not {ref}")


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/mounts", encoding="utf-8") as fh:
        points = [line.split()[1] for line in fh]
    return [p for p in points if p.startswith(f"{path}/")]


def down(state: Path) -> None:
    """Stop dockerd (and the containerd it started); its data root stays for the next run.
    dockerd 20.10 leaves its bind mount of the host network namespace (exec/netns/default)
    behind when it stops: unmounted here, so the state dir can be removed."""
    procs.stop(SERVICE, state, timeout=30)
    socket_path(state).unlink(missing_ok=True)
    for point in reversed(_mounts_under(root(state))):
        procs.run(["umount", point], check=False)
