"""`python -m testbed up` timings and the fleet's memory, measured side by side in one run:
down -> up (cold processes, images and binaries already built), repeated N times, plus an
`up` on a running fleet (reuse). Memory: the sum of PSS over every process of the machine,
after minus before the fleet (so shared pages of the many etcd/podman processes count once).

    make venv && PYTHONPATH=tests .venv/bin/python benchmarks/testbed_up.py [--clusters 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import infra as testbed_infra  # noqa: E402
from testbed import workloads  # noqa: E402
from testbed import binaries, fleet  # noqa: E402


def total_pss_kib() -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def cli(*args: str) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "testbed", *args], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO / "tests")})
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    state = testbed_infra.state_dir(None)
    start = time.monotonic()
    binaries.ensure(lambda m: print(m, file=sys.stderr))
    build = time.monotonic() - start
    testbed_infra.infra_up(state, log=lambda m: None)
    fleet.down(state)
    time.sleep(2)
    baseline = total_pss_kib()
    ups, reuses, pss = [], [], []
    for run in range(opts.runs):
        ups.append(cli("up", "--clusters", str(opts.clusters)))
        time.sleep(5)  # let start-up transients settle
        pss.append(total_pss_kib() - baseline)
        reuses.append(cli("up", "--clusters", str(opts.clusters)))
        if run < opts.runs - 1:
            fleet.down(state)
            time.sleep(2)
        print(f"run {run + 1}/{opts.runs}: up {ups[-1]:.1f}s, reuse {reuses[-1]:.1f}s, fleet PSS {pss[-1] / 1024:.0f} MiB",
              file=sys.stderr)
    pods = sum(len(s.pods()) for i in range(1, opts.clusters + 1)
               for s in workloads.shoots_for(i, ["etcd-main", "etcd-events"], 3))  # the seed shape `up` makes
    print(f"\nmachine: {os.cpu_count()} cores, {platform.platform()}; binaries check/build {build:.1f}s\n")
    print(f"| {opts.clusters} seed-shaped clusters ({pods} etcd pods, {pods * 2} containers) | median of {opts.runs} | runs |")
    print("|---|---|---|")
    print(f"| `up` from nothing running | {statistics.median(ups):.1f} s | {', '.join(f'{v:.1f}' for v in ups)} |")
    print(f"| `up` on a running fleet (reuse) | {statistics.median(reuses):.1f} s | {', '.join(f'{v:.1f}' for v in reuses)} |")
    print(f"| whole fleet memory (PSS) | {statistics.median(pss) / 1024:.0f} MiB | "
          f"{', '.join(f'{v / 1024:.0f}' for v in pss)} |")


if __name__ == "__main__":
    main()
