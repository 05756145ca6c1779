"""The health sweep against the manual procedure, per-command exec and the limit, measured side
by side in one run on the local fleet (3 clusters x 2 etcds x 3 members; 12 clusters as a scale
point). Wall time is the median of --runs runs; with it the CPU seconds of the measured command's
process tree, its peak memory (RSS summed over the tree, PSS, and the RSS of the command's own
process: for ansible-playbook, the controller), sampled every 0.2 s, and the idle fleet's CPU.

  A    the manual procedure, automated: per pod, sequentially, `kubectl debug --target=etcd`
       (non-interactive), poll until the container runs, then one `kubectl exec` per command
       the sweep runs (endpoint status, endpoint health, member list, alarm list, /healthz)
  B    playbook with kubernetes.core.k8s_exec once per command (debug containers present;
       kubernetes.core from the `ansible` wheel on PyPI, in a throwaway collections path)
  ours health_sweep.yml: first run (a new debug container name, so every pod gets one) and
       repeat run (containers reused)
  L    benchmarks/limit.py: one exec per pod, all pods in parallel, containers present

    make venv link binaries
    PYTHONPATH=tests ANSIBLE_COLLECTIONS_PATH=build/collections .venv/bin/python benchmarks/sweep.py \
        [--runs 3] [--scale 12] [--scale-runs N] [--forks 12] [--skip-manual] [--baseline-runs N]
        [--etcd-heartbeat-ms 500]
    ... benchmarks/sweep.py --shape seed [--clusters 2] [--shoots 10,20] [--runs 3] [--forks 20] ...

--shape seed measures the shape users have: every cluster a Gardener seed with many shoot
namespaces (tests/testbed/workloads.shoots_for: mostly single-member etcds, every 4th shoot HA,
every 10th hibernated, one in the etcd-druid v0.22 layout, one with member name prefixes), at
each size of --shoots; per etcd (with members) wall and CPU, the marginal cost of one more etcd
between the sizes, and A (at the first size only, every pod of the fleet by hand).

Each measurement is printed as it completes (a long run can be read while it goes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import infra as testbed_infra  # noqa: E402
from tools import thirdparty  # noqa: E402
from testbed import binaries, faults, fleet, images, workloads  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
import limit  # noqa: E402  (L, and the pure per-pod plan A uses)

ETCDS = ["etcd-main", "etcd-events"]
COMMANDS = [["endpoint", "status", "-w", "json"], ["endpoint", "health", "-w", "json"],
            ["member", "list", "-w", "json"], ["alarm", "list", "-w", "json"]]


# ---------------------------------------------------------------- measuring

def _tree_mem_kib(root: int) -> tuple[int, int]:
    """(RSS, PSS) of a process tree in KiB: RSS summed counts pages the forks share once per
    process; PSS (smaps_rollup) splits shared pages between them - the real footprint."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    rss = pss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def _own_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children_cpu_s() -> float:
    """User + system CPU seconds of every reaped descendant so far (deltas measure a command)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(argv: list[str], env: dict | None = None, ok_rc=(0,)) -> tuple[float, dict]:
    """(seconds, figures) of one command: peak tree RSS and PSS, peak RSS of the command's own
    process (ansible-playbook: the controller), all in KiB, and the CPU seconds its process tree
    used (user + system of every reaped descendant). Sampled every 0.2 s (a finer sampler would
    itself take CPU from the 2 cores being measured)."""
    peak, done = [0, 0, 0], threading.Event()
    cpu_before = _children_cpu_s()
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})

    def sample():
        while not done.is_set():
            rss, pss = _tree_mem_kib(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            peak[2] = max(peak[2], _own_rss_kib(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.communicate()[0]
    elapsed = time.monotonic() - start
    cpu = _children_cpu_s() - cpu_before
    done.set()
    sampler.join()
    if proc.returncode not in ok_rc:
        raise SystemExit(f"{argv[0]} failed (rc {proc.returncode}):\n{out[-3000:]}")
    return elapsed, {"rss": peak[0], "pss": peak[1], "controller_rss": peak[2], "cpu_s": cpu}


def fleet_idle_cpu(seconds: float = 20) -> float:
    """CPU the idle fleet uses (all processes of the machine), in % of one core: the share the
    measured commands do not get."""
    def ticks() -> int:
        total = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                    total += int(fields[11]) + int(fields[12])
                except (OSError, IndexError, ValueError):
                    continue
        return total
    before, start = ticks(), time.monotonic()
    time.sleep(seconds)
    return round((ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - start) * 100, 1)


def runs(label: str, n: int, make_argv, **kw) -> dict:
    times, figures = [], []
    for i in range(n):
        argv = make_argv(i)
        seconds, fig = measure(argv, **kw) if isinstance(argv, list) else argv()
        times.append(seconds)
        figures.append(fig)
        print(f"  {label} run {i + 1}: {seconds:.1f}s, CPU {fig['cpu_s']:.1f}s, peak RSS {fig['rss'] / 1024:.0f} MiB "
              f"(controller {fig['controller_rss'] / 1024:.0f} MiB), PSS {fig['pss'] / 1024:.0f} MiB", flush=True)
    return {"median_s": statistics.median(times), "runs_s": [round(t, 2) for t in times],
            "median_cpu_s": round(statistics.median(f["cpu_s"] for f in figures), 2),
            "peak_rss_mib": round(max(f["rss"] for f in figures) / 1024),
            "peak_pss_mib": round(max(f["pss"] for f in figures) / 1024),
            "peak_controller_rss_mib": round(max(f["controller_rss"] for f in figures) / 1024)}


# ---------------------------------------------------------------- A: the manual procedure

def manual(state: Path, kubeconfig: Path, count: int, image: str) -> tuple[float, tuple[int, int]]:
    """Every pod of every cluster, one after the other, as a person with kubectl would: read the
    pod (TLS paths, endpoint), `kubectl debug`, wait, find etcd's PID (etcd-druid pods share one PID
    namespace whose PID 1 is pause), then one `kubectl exec` per command of the sweep."""
    kubectl = [str(binaries.path("kubectl")), "--kubeconfig", str(kubeconfig)]
    start = time.monotonic()
    cpu_before = _children_cpu_s()
    for index in range(1, count + 1):
        ctx = f"testbed-{index}"
        for shoot in workloads.load_shoots(state / "fleet" / ctx):
            for pod in shoot.pods():
                ns, name = shoot.namespace, "manual-" + uuid.uuid4().hex[:6]
                spec = json.loads(subprocess.run(kubectl + ["--context", ctx, "-n", ns, "get", "pod", pod, "-o", "json"],
                                                 check=True, capture_output=True, text=True).stdout)
                plan = limit.member_plan(spec["spec"], {})
                subprocess.run(kubectl + ["--context", ctx, "-n", ns, "debug", pod, f"--image={image}", "--target=etcd",
                                          "--profile=restricted" if shoot.psa == "restricted" else "--profile=general",
                                          f"--container={name}", "--", "sleep", "infinity"],
                               check=True, capture_output=True)
                path = f'{{.status.ephemeralContainerStatuses[?(@.name=="{name}")].state.running.startedAt}}'
                while not subprocess.run(kubectl + ["--context", ctx, "-n", ns, "get", "pod", pod, "-o", f"jsonpath={path}"],
                                         check=True, capture_output=True, text=True).stdout.strip():
                    time.sleep(0.5)
                exec_ = kubectl + ["--context", ctx, "-n", ns, "exec", pod, "-c", name, "--"]
                pid = subprocess.run(exec_ + ["pgrep", "-o", "etcd-wrapper"], check=True, capture_output=True,
                                     text=True).stdout.strip()
                root = f"/proc/{pid}/root" if (plan["tls"] or {}).get("via") == "proc" else ""
                tls = [f"--{k}={root}{plan['tls'][k]}" for k in ("cacert", "cert", "key")] if plan["tls"] else []
                for command in COMMANDS:
                    subprocess.run(exec_ + ["etcdctl", f"--endpoints={plan['endpoint']}", *tls, *command],
                                   check=True, capture_output=True)
                if plan["backup"]:
                    subprocess.run(exec_ + ["curl", "-sk", plan["backup"]["base"] + "/healthz"], check=True, capture_output=True)
    # many short kubectl processes: memory not sampled
    return time.monotonic() - start, {"rss": 0, "pss": 0, "controller_rss": 0, "cpu_s": _children_cpu_s() - cpu_before}


# ---------------------------------------------------------------- setup

def kubernetes_core() -> Path:
    """kubernetes.core from the ansible wheel on PyPI, unpacked into a throwaway collections path."""
    return thirdparty.from_ansible_wheel("kubernetes.core")


def inventory(path: Path, kubeconfig: Path, count: int) -> Path:
    contexts = ", ".join(f"testbed-{i}" for i in range(1, count + 1))
    path.write_text(f"plugin: etcd_wrapper.ops.kubeconfig\nkubeconfigs: [{kubeconfig}]\ninclude_contexts: [{contexts}]\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--scale", type=int, default=12, help="clusters of the scale point (0: skip)")
    parser.add_argument("--forks", type=int, default=None, help="default 12; 20 with --shape seed")
    parser.add_argument("--shape", choices=["minimal", "seed"], default="minimal",
                        help="minimal: 2 etcds x 3 members per cluster (--clusters, --scale); seed: --clusters clusters "
                             "shaped as Gardener seeds, measured at each size of --shoots")
    parser.add_argument("--memory-hosts", type=int, default=20,
                        help="--shape seed: a last measurement with this many inventory hosts (one shoot namespace each), "
                             "so --forks module processes run at once (0: skip)")
    parser.add_argument("--memory-only", action="store_true",
                        help="--shape seed: only the --memory-hosts measurement, on the fleet as it runs")
    parser.add_argument("--shoots", default="10,20",
                        help="--shape seed: shoot namespaces per cluster at each size, ascending (default 10,20)")
    parser.add_argument("--skip-manual", action="store_true")
    parser.add_argument("--skip-per-command", action="store_true", help="leave out B (8-15 min per run at 3 clusters here)")
    parser.add_argument("--baseline-runs", type=int, default=None,
                        help="runs of A and B (default --runs; B took 8-15 min per run at 3 clusters here)")
    parser.add_argument("--scale-runs", type=int, default=None, help="runs at the scale point (default --runs)")
    parser.add_argument("--etcd-heartbeat-ms", type=int, default=None,
                        help="etcd heartbeat of the members this run creates (default 100; see README: a slower one "
                             "lets 72 members idle on 2 cores). Start from `python -m testbed down` for it to apply")
    opts = parser.parse_args()
    opts.forks = opts.forks or (20 if opts.shape == "seed" else 12)
    os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"  # the venv's ansible-playbook
    if opts.etcd_heartbeat_ms is not None:
        os.environ["TESTBED_ETCD_HEARTBEAT_MS"] = str(opts.etcd_heartbeat_ms)
    workloads.heartbeat_ms()  # a bad value fails here, before anything starts
    state = testbed_infra.state_dir(None)
    binaries.ensure(lambda m: print(m, file=sys.stderr))
    env = testbed_infra.infra_up(state, log=lambda m: None)
    image = images.ensure_debug_image(state, env["TESTBED_REGISTRY"], images.ops_tag(), log=print)
    faults.heal(state)
    work = REPO / "build" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.platform()}",
                     "runs": opts.runs, "forks": opts.forks, "etcd_heartbeat_ms": workloads.heartbeat_ms()}

    def sweep_argv(inv: Path, container: str) -> list[str]:
        return ["ansible-playbook", "-i", str(inv), str(REPO / "playbooks" / "health_sweep.yml"), "-f", str(opts.forks),
                "-e", json.dumps({"debug_container_image": image, "debug_container_name": container,
                                  "fleet_report_fail_on": "never", "fleet_report_dir": str(work / "report")})]

    if opts.shape == "seed":
        seed(opts, results, state, env, image, work, sweep_argv)
        return
    for count in [opts.clusters] + ([opts.scale] if opts.scale else []):
        print(f"\n== {count} clusters x {len(ETCDS)} etcds x 3 members", flush=True)
        kubeconfig = fleet.up(state, count, ETCDS, 3, env["TESTBED_REGISTRY"], testbed_infra.insecure_registries(),
                              log=lambda m: None, shape="minimal")  # the shape of the earlier figures
        inv = inventory(work / f"fleet-{count}.kubeconfig.yml", kubeconfig, count)
        contexts = [f"testbed-{i}" for i in range(1, count + 1)]
        point: dict = {}
        n_runs = opts.runs if count == opts.clusters else (opts.scale_runs or opts.runs)
        # warm-up, not timed: the repeat runs and L/B find etcd-debug running in every pod
        measure(sweep_argv(inv, "etcd-debug"))
        idle = fleet_idle_cpu()
        results[f"fleet_idle_cpu_{count}"] = idle
        print(f"  idle fleet (debug containers running): {idle}% of one core ({os.cpu_count()} cores)", flush=True)
        point["ours_first"] = runs("ours first", n_runs, lambda i: sweep_argv(inv, "bench-" + uuid.uuid4().hex[:6]))
        point["ours_repeat"] = runs("ours repeat", n_runs, lambda i: sweep_argv(inv, "etcd-debug"))
        point["limit"] = runs("L", n_runs, lambda i: [sys.executable, str(REPO / "benchmarks" / "limit.py"),
                                                      str(kubeconfig), *contexts])
        if count == opts.clusters:
            baseline_runs = opts.baseline_runs or opts.runs
            if not opts.skip_manual:
                point["manual"] = runs("A", baseline_runs, lambda i: (lambda: manual(state, kubeconfig, count, image)))
            if not opts.skip_per_command:
                collections = f"{REPO / 'build' / 'collections'}:{kubernetes_core()}"
                per_command = ["ansible-playbook", "-i", str(inv), "-f", str(opts.forks), str(REPO / "benchmarks" / "per_command_exec.yml")]
                point["per_command"] = runs("B", baseline_runs, lambda i: per_command, env={"ANSIBLE_COLLECTIONS_PATH": collections})
        results[f"clusters_{count}"] = point

    base = results[f"clusters_{opts.clusters}"]
    ours_first, ours_repeat = base["ours_first"]["median_s"], base["ours_repeat"]["median_s"]
    print("\n== results (medians)")
    for count_key, point in ((k, v) for k, v in results.items() if k.startswith("clusters_")):
        for name, row in point.items():
            print(f"  {count_key:12} {name:12} {row['median_s']:7.1f}s  runs {row['runs_s']}  CPU {row['median_cpu_s']}s"
                  f"  peak RSS {row['peak_rss_mib']} MiB (controller {row['peak_controller_rss_mib']} MiB)"
                  f"  PSS {row['peak_pss_mib']} MiB")
    ratios = {}
    if "manual" in base:
        ratios["A/ours_first"] = base["manual"]["median_s"] / ours_first
        ratios["A/ours_repeat"] = base["manual"]["median_s"] / ours_repeat
    if "per_command" in base:
        ratios["B/ours_repeat"] = base["per_command"]["median_s"] / ours_repeat
    ratios["ours_repeat/L"] = ours_repeat / base["limit"]["median_s"]
    if opts.scale:
        scale = results[f"clusters_{opts.scale}"]
        ratios[f"ours_repeat {opts.scale}/{opts.clusters} clusters"] = scale["ours_repeat"]["median_s"] / ours_repeat
        ratios[f"ours_first {opts.scale}/{opts.clusters} clusters"] = scale["ours_first"]["median_s"] / ours_first
        ratios[f"L {opts.scale}/{opts.clusters} clusters"] = scale["limit"]["median_s"] / base["limit"]["median_s"]
    results["ratios"] = {k: round(v, 2) for k, v in ratios.items()}
    for k, v in results["ratios"].items():
        print(f"  {k:32} {v}")
    write_results(results, "sweep")


def write_results(results: dict, label: str) -> None:
    out = REPO / "benchmarks" / "results" / f"{label}-{time.strftime('%Y-%m-%dT%H%M')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten: {out}")


def seed(opts, results: dict, state: Path, env: dict, image: str, work: Path, sweep_argv) -> None:
    """--shape seed: --clusters clusters, each a Gardener seed with N shoot namespaces
    (workloads.shoots_for: the 5 fixed ones, then mostly single-member shoots, every 4th HA, every
    10th hibernated), at each N of --shoots, smallest first (the fleet grows in place). Per size:
    ours first and repeat, L, and at the first size A; per etcd (with members) figures, and the
    marginal cost of one more etcd between consecutive sizes."""
    sizes = [] if opts.memory_only else sorted(int(n) for n in opts.shoots.split(","))
    results.update({"shape": "seed", "clusters": opts.clusters, "shoots": sizes})
    contexts = [f"testbed-{i}" for i in range(1, opts.clusters + 1)]
    points = []
    for size in sizes:
        kubeconfig = fleet.up(state, opts.clusters, ETCDS, 3, env["TESTBED_REGISTRY"], testbed_infra.insecure_registries(),
                              log=lambda m: None, shape="seed", shoot_count=size)
        shoots = [sh for i in range(1, opts.clusters + 1) for sh in workloads.load_shoots(state / "fleet" / f"testbed-{i}")]
        etcds = sum(1 for sh in shoots for e in sh.etcds if e.replicas)
        members = sum(len(sh.pods()) for sh in shoots)
        print(f"\n== seed: {opts.clusters} clusters x {size} shoot namespaces: {etcds} etcds with members "
              f"({members} members; {sum(1 for sh in shoots for e in sh.etcds if not e.replicas)} hibernated)", flush=True)
        inv = inventory(work / f"seed-{size}.kubeconfig.yml", kubeconfig, opts.clusters)
        measure(sweep_argv(inv, "etcd-debug"))  # warm-up, not timed: every pod gets etcd-debug
        point: dict = {"shoots": size, "etcds": etcds, "members": members, "idle_cpu_pct": fleet_idle_cpu()}
        print(f"  idle fleet (debug containers running): {point['idle_cpu_pct']}% of one core", flush=True)
        point["ours_first"] = runs("ours first", opts.runs, lambda i: sweep_argv(inv, "bench-" + uuid.uuid4().hex[:6]))
        point["ours_repeat"] = runs("ours repeat", opts.runs, lambda i: sweep_argv(inv, "etcd-debug"))
        point["limit"] = runs("L", opts.runs, lambda i: [sys.executable, str(REPO / "benchmarks" / "limit.py"),
                                                         str(kubeconfig), *contexts])
        if size == sizes[0] and not opts.skip_manual:
            point["manual"] = runs("A", opts.baseline_runs or 1, lambda i: (lambda: manual(state, kubeconfig, opts.clusters, image)))
        for row in (v for v in point.values() if isinstance(v, dict)):
            row["s_per_etcd"] = round(row["median_s"] / etcds, 3)
            row["cpu_s_per_etcd"] = round(row["median_cpu_s"] / etcds, 3)
        points.append(point)
        results[f"shoots_{size}"] = point
        write_results(results, "sweep-seed")  # a long run keeps what it measured so far

    print("\n== results (medians)")
    ratios: dict = {}
    for point in points:
        key = f"shoots_{point['shoots']}"
        for name, row in ((k, v) for k, v in point.items() if isinstance(v, dict)):
            print(f"  {key:10} {name:12} {row['median_s']:7.1f}s  CPU {row['median_cpu_s']:6.1f}s  per etcd "
                  f"{row['s_per_etcd']:.3f}s / CPU {row['cpu_s_per_etcd']:.3f}s  peak RSS {row['peak_rss_mib']} MiB "
                  f"(controller {row['peak_controller_rss_mib']} MiB)  PSS {row['peak_pss_mib']} MiB")
        lim = point["limit"]
        ratios[f"{key} ours_repeat/L wall"] = point["ours_repeat"]["median_s"] / lim["median_s"]
        ratios[f"{key} ours_repeat/L CPU"] = point["ours_repeat"]["median_cpu_s"] / lim["median_cpu_s"]
        ratios[f"{key} ours_first/L wall"] = point["ours_first"]["median_s"] / lim["median_s"]
        if "manual" in point:
            ratios[f"{key} A/ours_repeat wall"] = point["manual"]["median_s"] / point["ours_repeat"]["median_s"]
            ratios[f"{key} A/L wall"] = point["manual"]["median_s"] / lim["median_s"]
    for small, large in zip(points, points[1:]):
        extra = large["etcds"] - small["etcds"]
        marginal = {name: {"s": (large[name]["median_s"] - small[name]["median_s"]) / extra,
                           "cpu_s": (large[name]["median_cpu_s"] - small[name]["median_cpu_s"]) / extra}
                    for name in ("ours_first", "ours_repeat", "limit")}
        results[f"marginal_{small['shoots']}_{large['shoots']}"] = {n: {k: round(v, 4) for k, v in m.items()}
                                                                    for n, m in marginal.items()}
        for name, m in marginal.items():
            print(f"  marginal per etcd {small['shoots']}->{large['shoots']} shoots {name:12} wall {m['s']:.3f}s  CPU {m['cpu_s']:.3f}s")
        if marginal["limit"]["cpu_s"] > 0:
            ratios[f"marginal CPU ours_repeat/L ({small['shoots']}->{large['shoots']})"] = \
                marginal["ours_repeat"]["cpu_s"] / marginal["limit"]["cpu_s"]
    if opts.memory_hosts:
        # memory at --forks: as many inventory hosts as forks, each one shoot namespace of the fleet
        # (the roles' etcd_discover_namespaces), so that many module processes run at once - the
        # fleet holds 2 clusters, not 20
        hosts = [(f"testbed-{i}", sh.namespace) for i in range(1, opts.clusters + 1)
                 for sh in workloads.load_shoots(state / "fleet" / f"testbed-{i}") if any(e.replicas for e in sh.etcds)]
        hosts = hosts[:opts.memory_hosts]
        inv = work / "seed-memory.yml"
        inv.write_text(json.dumps({"all": {"hosts": {f"{ctx}-{ns}": {
            "etcd_ops_kubeconfig": str(fleet.kubeconfig_path(state)), "etcd_ops_context": ctx,
            "etcd_discover_namespaces": [ns], "ansible_connection": "local",  # as the kubeconfig inventory plugin sets them
            "ansible_python_interpreter": sys.executable} for ctx, ns in hosts}}}))
        print(f"\n== memory: {len(hosts)} inventory hosts (one shoot namespace each), forks {opts.forks}", flush=True)
        results["memory_hosts"] = runs("ours repeat", opts.runs, lambda i: sweep_argv(inv, "etcd-debug"))
        results["memory_hosts"]["hosts"] = len(hosts)
    results["ratios"] = {k: round(v, 2) for k, v in ratios.items()}
    for k, v in results["ratios"].items():
        print(f"  {k:48} {v}")
    write_results(results, "sweep-seed")


if __name__ == "__main__":
    main()
