"""Images made locally, without any internet registry.

- BASE: Debian bookworm minbase from debootstrap (Debian's mirror), the ops/Dockerfile base.
- ETCD_SOURCE: shaped like the official etcd image (etcd, etcdctl under /usr/local/bin, no
  shell), from Debian's etcd-server/etcd-client binaries: the ops/Dockerfile's ETCD_IMAGE.
- KIND_NODE: the base plus Debian's containerd and runc, labelled and run like a kind node.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from . import engine, procs

BASE = "localhost/etcdops/debian:bookworm"
ETCD_SOURCE = "localhost/etcdops/etcd-source:3.4.23"
KIND_NODE = "localhost/etcdops/kind-node:bookworm"

DEFAULT_MIRROR = "http://deb.debian.org/debian"


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (debootstrap needs the same one)."""
    for src in sorted(Path("/etc/apt").glob("sources.list.d/*")) + [Path("/etc/apt/sources.list")]:
        try:
            text = src.read_text()
        except OSError:
            continue
        for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s*)?)(\S+/debian)/?\s*$", text, re.M):
            return match.group(1)
        for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s*)?)(\S+/debian)/?\s", text, re.M):
            return match.group(1)
    return DEFAULT_MIRROR


def exists(state: Path, ref: str) -> bool:
    return engine.podman(state, "image", "exists", ref, check=False).returncode == 0


def ensure_base(state: Path, log=print) -> str:
    if exists(state, BASE):
        return BASE
    cache = state / "cache" / "debian-bookworm-minbase.tar"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        mirror = apt_mirror()
        log(f"  debootstrap --variant=minbase bookworm from {mirror} (about 35 s)")
        with tempfile.TemporaryDirectory(dir=cache.parent) as root:
            procs.run(["debootstrap", "--variant=minbase", "bookworm", root, mirror], timeout=900)
            shutil.rmtree(Path(root, "var/cache/apt/archives"), ignore_errors=True)
            Path(root, "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
            procs.run(["tar", "-C", root, "-cf", str(cache) + ".part", "."])
        os.replace(str(cache) + ".part", cache)
    log(f"  importing {BASE}")
    engine.podman(state, "import", "--change", 'CMD ["/bin/bash"]', str(cache), BASE)
    return BASE


def _add_file(tar: tarfile.TarFile, src: str, dest: str, mode: int = 0o755) -> None:
    info = tar.gettarinfo(os.path.realpath(src), arcname=dest)
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    with open(os.path.realpath(src), "rb") as fh:
        tar.addfile(info, fh)


ROOTFS_DIRS = {"etc": 0o755, "tmp": 0o1777, "usr": 0o755, "usr/local": 0o755, "usr/local/bin": 0o755,
               "var": 0o755, "var/etcd": 0o755, "home": 0o755, "home/nonroot": 0o755}


def _ldd(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    return re.findall(r"(/\S+\.so[^\s]*)", out)


def ensure_etcd_source(state: Path, log=print) -> str:
    """A shell-less image with etcd and etcdctl in /usr/local/bin, UID 65532 known."""
    if exists(state, ETCD_SOURCE):
        return ETCD_SOURCE
    binaries = {"etcd": shutil.which("etcd") or "/usr/bin/etcd", "etcdctl": shutil.which("etcdctl") or "/usr/bin/etcdctl"}
    for name, path in binaries.items():
        if not os.path.exists(path):
            raise procs.TestbedError(f"{name} not found: install Debian's etcd-server and etcd-client")
    log(f"  making {ETCD_SOURCE} from {binaries['etcd']} and {binaries['etcdctl']}")
    files = {f"usr/local/bin/{name}": Path(path) for name, path in binaries.items()}
    for lib in sorted({lib for path in binaries.values() for lib in _ldd(path)}):
        files[lib.lstrip("/")] = Path(lib)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp, "rootfs.tar")
        _rootfs_tar(archive, files, ROOTFS_DIRS)
        engine.podman(state, "import", "--change", 'ENTRYPOINT ["/usr/local/bin/etcd"]', str(archive), ETCD_SOURCE)
    return ETCD_SOURCE


KIND_NODE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd runc \\
 && rm -rf /var/lib/apt/lists/*
# kind nodes run containerd as their main process; /var/lib/containerd must be a volume
VOLUME /var/lib/containerd
CMD ["/usr/bin/containerd"]
"""


def ensure_kind_node(state: Path, log=print) -> str:
    if exists(state, KIND_NODE):
        return KIND_NODE
    ensure_base(state, log)
    log(f"  building {KIND_NODE} (containerd from Debian)")
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_text(KIND_NODE_DOCKERFILE)
        engine.podman(state, "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE}",
                      "-t", KIND_NODE, ctx, timeout=900)
    return KIND_NODE


BACKUP_RESTORE = "localhost/etcdops/backup-restore:stub"


def _rootfs_tar(archive: Path, files: dict[str, Path], dirs: dict[str, int]) -> None:
    """A minimal distroless-like rootfs: dirs, files (with parents), passwd/group with 65532."""
    with tarfile.open(archive, "w") as tar:
        for name, mode in dirs.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        for dest, src in files.items():
            _add_file(tar, str(src), dest)
        for fname, content in (("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
                               ("etc/group", "root:x:0:\nnonroot:x:65532:\n")):
            data = content.encode()
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def ensure_backup_restore(state: Path, stub: Path, log=print) -> str:
    """A shell-less image whose only program is the backup-restore stub, named etcdbrctl."""
    if exists(state, BACKUP_RESTORE):
        return BACKUP_RESTORE
    log(f"  making {BACKUP_RESTORE}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp, "rootfs.tar")
        _rootfs_tar(archive, {"usr/local/bin/etcdbrctl": stub}, ROOTFS_DIRS)
        engine.podman(state, "import", "--change", 'ENTRYPOINT ["/usr/local/bin/etcdbrctl"]',
                      "--change", "USER 65532:65532", str(archive), BACKUP_RESTORE)
    return BACKUP_RESTORE


def image_id(state: Path, ref: str) -> str:
    return engine.podman(state, "image", "inspect", "--format", "{{.Id}}", ref).stdout.decode().strip()


def push(state: Path, local: str, remote: str) -> str:
    """Tag local as remote and push it unless the registry already serves this image."""
    from . import registry as reg
    host, _sep, rest = remote.partition("/")
    repo, _sep, tag = rest.rpartition(":")
    manifest = reg.manifest(host, repo, tag)
    wanted = image_id(state, local)
    if manifest and manifest.get("config", {}).get("digest", "").removeprefix("sha256:") == wanted.removeprefix("sha256:"):
        return remote
    engine.podman(state, "tag", local, remote)
    engine.podman(state, "push", "--tls-verify=false", remote, timeout=600)
    return remote


def ensure_debug_image(state: Path, registry_host: str, tag: str, log=print) -> str:
    """ops/Dockerfile built from the local base images and pushed to the fleet's registry."""
    repo_root = Path(__file__).resolve().parents[2]
    local = f"localhost/etcdops/etcd-debug:{tag}"
    remote = f"{registry_host}/etcd-wrapper/etcd-debug:{tag}"
    if not exists(state, local):
        log(f"  building the debug image {local} from ops/Dockerfile")
        engine.podman(state, "build", "--network", "host", "-f", str(repo_root / "ops" / "Dockerfile"),
                      "--build-arg", f"BASE_IMAGE={ensure_base(state, log)}",
                      "--build-arg", f"ETCD_IMAGE={ensure_etcd_source(state, log)}",
                      "-t", local, str(repo_root), timeout=900)
    return push(state, local, remote)


def ops_tag() -> str:
    """A tag that changes whenever ops/ (Dockerfile, cheatsheet) changes."""
    import hashlib
    ops = Path(__file__).resolve().parents[2] / "ops"
    digest = hashlib.sha256()
    for path in sorted(ops.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return "dev-" + digest.hexdigest()[:10]
