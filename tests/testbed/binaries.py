"""Go binaries of the fleet, built from the Go module proxy into <repo>/build/bin:
kube-apiserver and kubectl (tests/testbed/go/apiserver), etcdops-node (tests/testbed/go/node),
etcd-wrapper, etcdbrctl, etcdctl and etcdutl
v3.5.35 (tests/testbed/go/etcd). Each build script skips what is up to date."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from . import procs

REPO = Path(__file__).resolve().parents[2]
GO_DIR = REPO / "tests" / "testbed" / "go"
BIN_DIR = Path(os.environ.get("TESTBED_BIN_DIR", REPO / "build" / "bin"))
NAMES = ("kube-apiserver", "kubectl", "etcdops-node", "etcd-wrapper", "etcdbrctl", "etcdctl", "etcdutl")
SCRIPTS = (GO_DIR / "build.sh", GO_DIR / "node" / "build.sh", GO_DIR / "etcd" / "build.sh")


def path(name: str) -> Path:
    return BIN_DIR / name


def ensure(log=print) -> dict[str, Path]:
    env = {"PATH": f"{os.environ.get('PATH', '')}:/usr/local/go/bin"}
    if not shutil.which("go", path=env["PATH"]):
        raise procs.TestbedError("Go is not installed (needed to build kube-apiserver and the node)")
    for script in SCRIPTS:
        start = time.monotonic()
        missing = [n for n in NAMES if not path(n).exists()]
        if missing:
            log(f"  building {script.relative_to(REPO)} (first build takes minutes)")
        procs.run(["bash", str(script), str(BIN_DIR)], env=env, timeout=3600)
        if missing:
            log(f"  built in {time.monotonic() - start:.0f}s")
    absent = [n for n in NAMES if not path(n).exists()]
    if absent:
        raise procs.TestbedError(f"build scripts did not produce {', '.join(absent)} in {BIN_DIR}")
    return {n: path(n) for n in NAMES}


ETCD_NAMES = ("etcd-wrapper", "etcdbrctl", "etcdctl", "etcdutl")


def ensure_etcd(log=print) -> dict[str, Path]:
    """Only the etcd stand-ins and etcdctl/etcdutl v3.5.35 (tests/testbed/go/etcd/build.sh)."""
    env = {"PATH": f"{os.environ.get('PATH', '')}:/usr/local/go/bin"}
    if not shutil.which("go", path=env["PATH"]):
        raise procs.TestbedError("Go is not installed (needed to build etcd-wrapper and etcdbrctl)")
    procs.run(["bash", str(GO_DIR / "etcd" / "build.sh"), str(BIN_DIR)], env=env, timeout=3600)
    absent = [n for n in ETCD_NAMES if not path(n).exists()]
    if absent:
        raise procs.TestbedError(f"tests/testbed/go/etcd/build.sh did not produce {', '.join(absent)} in {BIN_DIR}")
    return {n: path(n) for n in ETCD_NAMES}
