"""Timings of the debug image pipeline through the real module (ad-hoc `ansible`), on the
local engine: cold build, push, kind load, and the no-op rerun. Median of N runs each.

    make venv link && PYTHONPATH=tests ANSIBLE_COLLECTIONS_PATH=build/collections \
        .venv/bin/python benchmarks/debug_image.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import infra as testbed_infra  # noqa: E402
from testbed import engine, kindnode  # noqa: E402


def module(args: dict) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tree:
        argv = ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", "etcd_wrapper.ops.etcd_debug_image",
                "-a", json.dumps(args), "-t", tree, "-e", f"ansible_python_interpreter={sys.executable}"]
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - start
        result = json.loads(Path(tree, "localhost").read_text())
    if proc.returncode != 0:
        raise SystemExit(f"module failed: {result.get('msg')}")
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    state = testbed_infra.state_dir(None)
    env = testbed_infra.infra_up(state, log=lambda m: print(m, file=sys.stderr))
    os.environ.update(env)
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "collections"))
    build_args = {"BASE_IMAGE": env["TESTBED_BASE_IMAGE"], "ETCD_IMAGE": env["TESTBED_ETCD_IMAGE"]}
    registry = env["TESTBED_REGISTRY"]
    times: dict[str, list[float]] = {"cold build (nocache, apt inside)": [], "push to an empty repository": [],
                                     "kind load into one fresh node": [], "no-op rerun (build+push+load checks)": []}
    size = None
    for run in range(opts.runs):
        name = f"{registry}/bench/etcd-debug-{uuid.uuid4().hex[:6]}"
        base = {"name": name, "tag": "bench"}
        elapsed, result = module(dict(base, force_build=True, build={"args": build_args, "network": "host", "nocache": True}))
        times["cold build (nocache, apt inside)"].append(elapsed)
        size = size or engine.podman(state, "image", "inspect", "--format", "{{.Size}}", f"{name}:bench").stdout.decode().strip()
        elapsed, result = module(dict(base, source="local", push=True))
        assert result["pushed"], result
        times["push to an empty repository"].append(elapsed)
        cluster = f"bench{run}"
        kindnode.up(state, cluster, log=lambda m: None)
        try:
            elapsed, result = module(dict(base, source="local", kind_load={"cluster_name": cluster}))
            assert result["loaded_nodes"], result
            times["kind load into one fresh node"].append(elapsed)
            elapsed, result = module(dict(base, push=True, build={"args": build_args}, kind_load={"cluster_name": cluster}))
            assert result["changed"] is False, result
            times["no-op rerun (build+push+load checks)"].append(elapsed)
        finally:
            kindnode.down(state, cluster)
        engine.podman(state, "rmi", "-f", f"{name}:bench", check=False)
        print(f"run {run + 1}/{opts.runs} done", file=sys.stderr)
    print(f"\nmachine: {os.cpu_count()} cores, {platform.platform()}, "
          f"{engine.podman(state, '--version').stdout.decode().strip()}; image size {int(size) / 1e6:.0f} MB\n")
    print(f"| step | median of {opts.runs} | runs |")
    print("|---|---|---|")
    for step, values in times.items():
        print(f"| {step} | {statistics.median(values):.1f} s | {', '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()
