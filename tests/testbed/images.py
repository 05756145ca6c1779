"""Images made locally, without any internet registry.

- BASE: Debian bookworm minbase from debootstrap (Debian's mirror), the ops/Dockerfile base.
- ETCD_SOURCE: shaped like the official etcd image (etcd, etcdctl under /usr/local/bin, no
  shell), from Debian's etcd-server/etcd-client binaries: the ops/Dockerfile's ETCD_IMAGE.
- KIND_NODE: the base plus Debian's containerd and runc, labelled and run like a kind node.
"""

from __future__ import annotations

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
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp, "rootfs.tar")
        with tarfile.open(archive, "w") as tar:
            for name in ("etc", "tmp", "usr", "usr/local", "usr/local/bin", "var", "var/etcd", "home", "home/nonroot"):
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if name == "tmp" else 0o755
                tar.addfile(info)
            for name, path in binaries.items():
                _add_file(tar, path, f"usr/local/bin/{name}")
            libs = sorted({lib for path in binaries.values() for lib in _ldd(path)})
            for lib in libs:
                _add_file(tar, lib, lib.lstrip("/"), 0o755)
            for fname, content in (("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
                                   ("etc/group", "root:x:0:\nnonroot:x:65532:\n")):
                data = content.encode()
                info = tarfile.TarInfo(fname)
                info.size = len(data)
                info.mode = 0o644
                import io
                tar.addfile(info, io.BytesIO(data))
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
