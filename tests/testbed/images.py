"""Images made locally, without any internet registry.

- BASE: Debian bookworm minbase from debootstrap (Debian's mirror), the ops/Dockerfile base.
- ETCD_SOURCE: shaped like the official etcd image (etcdctl and etcdutl v3.5.35 under
  /usr/local/bin, no shell), built from the Go module proxy by tests/testbed/go/etcd: the
  ops/Dockerfile's ETCD_IMAGE. Rebuilt when the binaries change (label etcdops.binaries-sha256).
- etcd-wrapper / etcd-backup-restore: distroless-like images holding only /etcd-wrapper or
  /etcdbrctl (tests/testbed/go/etcd), as upstream's Dockerfiles; tags derive from the binary.
- KIND_NODE: the base plus Debian's containerd and runc, labelled and run like a kind node.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from . import binaries, engine, procs

BASE = "localhost/etcdops/debian:bookworm"
ETCD_VERSION = "v3.5.35"
ETCD_SOURCE = f"localhost/etcdops/etcd-source:{ETCD_VERSION}"
ETCD_WRAPPER_REPO = "localhost/etcdops/etcd-wrapper"
BACKUP_RESTORE_REPO = "localhost/etcdops/etcd-backup-restore"
CONTENT_LABEL = "etcdops.binaries-sha256"
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


def _sha256(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _label(state: Path, ref: str, key: str) -> str:
    proc = engine.podman(state, "image", "inspect", "--format", f'{{{{ index .Config.Labels "{key}" }}}}', ref, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else ""


def _etcd_tool(name: str, log=print) -> Path:
    path = binaries.path(name)
    if not path.exists():
        log(f"  {name} missing: building tests/testbed/go/etcd (first build takes minutes)")
        binaries.ensure_etcd(log)
    return path


def ensure_etcd_source(state: Path, log=print) -> str:
    """Shaped like the official etcd image: etcdctl and etcdutl v3.5.35 in /usr/local/bin, no
    shell, UID 65532 known (no etcd server binary: the fleet's etcd runs in etcd-wrapper)."""
    tools = {name: _etcd_tool(name, log) for name in ("etcdctl", "etcdutl")}
    digest = _sha256(tools.values())
    if exists(state, ETCD_SOURCE) and _label(state, ETCD_SOURCE, CONTENT_LABEL) == digest:
        return ETCD_SOURCE
    log(f"  making {ETCD_SOURCE} from {', '.join(str(p) for p in tools.values())}")
    dirs = dict(DISTROLESS_DIRS, **{"usr": 0o755, "usr/local": 0o755, "usr/local/bin": 0o755,
                                    "var": 0o755, "var/etcd": 0o700, "var/lib": 0o755, "var/lib/etcd": 0o700})
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp, "rootfs.tar")
        _distroless_tar(archive, {f"usr/local/bin/{name}": path for name, path in tools.items()}, dirs)
        engine.podman(state, "import", "--change", 'CMD ["/usr/local/bin/etcdctl", "version"]',
                      "--change", f"LABEL {CONTENT_LABEL}={digest}", str(archive), ETCD_SOURCE)
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


# distroless static:nonroot (gcr.io/distroless/static-debian1x:nonroot) as far as the binaries
# need it: passwd/group with root, nobody and nonroot (65532), /home/nonroot owned by 65532,
# /tmp 1777, nsswitch.conf (hosts: files dns, so hostAliases win), no shell, USER 65532:65532.
DISTROLESS_DIRS = {"etc": 0o755, "home": 0o755, "home/nonroot": 0o700, "root": 0o700, "tmp": 0o1777}
DISTROLESS_PASSWD = ("root:x:0:0:root:/root:/sbin/nologin\n"
                     "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
                     "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
DISTROLESS_GROUP = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
NONROOT = 65532


def _distroless_tar(archive: Path, files: dict[str, Path], dirs: dict[str, int]) -> None:
    with tarfile.open(archive, "w") as tar:
        for name, mode in dirs.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            if name == "home/nonroot":
                info.uid = info.gid = NONROOT
                info.uname = info.gname = "nonroot"
            tar.addfile(info)
        for dest, src in files.items():
            _add_file(tar, str(src), dest)
        for fname, content in (("etc/passwd", DISTROLESS_PASSWD), ("etc/group", DISTROLESS_GROUP),
                               ("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n")):
            data = content.encode()
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def _single_binary_image(state: Path, repo: str, binary: Path, dest: str, log=print) -> str:
    """repo:<sha256 of the binary, 16 hex> holding only /<dest> (+ the distroless files),
    ENTRYPOINT ["/<dest>"], USER 65532:65532: a new binary always gets a new tag."""
    binary = Path(binary)
    if not binary.exists():
        raise procs.TestbedError(f"{binary} not found: run `make binaries`")
    ref = f"{repo}:{_sha256([binary])[:16]}"
    if exists(state, ref):
        return ref
    log(f"  making {ref} from {binary}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp, "rootfs.tar")
        _distroless_tar(archive, {dest: binary}, DISTROLESS_DIRS)
        engine.podman(state, "import", "--change", f'ENTRYPOINT ["/{dest}"]', "--change", "WORKDIR /",
                      "--change", f"USER {NONROOT}:{NONROOT}", str(archive), ref)
    return ref


def ensure_etcd_wrapper(state: Path, binary: Path | None = None, log=print) -> str:
    """localhost/etcdops/etcd-wrapper:<sha>: only /etcd-wrapper, as etcd-wrapper's Dockerfile
    (distroless static:nonroot, ENTRYPOINT ["/etcd-wrapper"])."""
    return _single_binary_image(state, ETCD_WRAPPER_REPO, binary or _etcd_tool("etcd-wrapper", log), "etcd-wrapper", log)


def ensure_backup_restore(state: Path, binary: Path | None = None, log=print) -> str:
    """localhost/etcdops/etcd-backup-restore:<sha>: only /etcdbrctl, as etcd-backup-restore's
    build/Dockerfile (distroless static:nonroot, ENTRYPOINT ["/etcdbrctl"])."""
    return _single_binary_image(state, BACKUP_RESTORE_REPO, binary or _etcd_tool("etcdbrctl", log), "etcdbrctl", log)


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
    """ops/Dockerfile built from the local base images and pushed to the fleet's registry by the
    collection's own module (etcd_wrapper.ops.etcd_debug_image through the `ansible` CLI), the
    one way the debug image is built; a tag already in the engine is not rebuilt."""
    import json
    import subprocess
    import sys
    repo_root = Path(__file__).resolve().parents[2]
    name = f"{registry_host}/etcd-wrapper/etcd-debug"
    args = {"name": name, "tag": tag, "push": True, "timeout": 900,
            "build": {"args": {"BASE_IMAGE": ensure_base(state, log), "ETCD_IMAGE": ensure_etcd_source(state, log)},
                      "network": "host"}}
    env = {**os.environ, **engine.conf_env(state), "DOCKER_HOST": engine.docker_host(state),
           "ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH") or str(repo_root / "build" / "collections")}
    log(f"  the debug image {name}:{tag} (etcd_wrapper.ops.etcd_debug_image: build if missing, push)")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-i", "localhost,",
                           "-m", "etcd_wrapper.ops.etcd_debug_image", "-a", json.dumps(args),
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          capture_output=True, text=True, timeout=1200, env=env, check=False)
    if proc.returncode != 0:
        raise procs.TestbedError(f"etcd_debug_image failed (rc {proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}")
    return f"{name}:{tag}"


def ops_tag() -> str:
    """A tag that changes whenever ops/ (Dockerfile, cheatsheet) changes."""
    import hashlib
    ops = Path(__file__).resolve().parents[2] / "ops"
    digest = hashlib.sha256()
    for path in sorted(ops.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return "dev-" + digest.hexdigest()[:10]
