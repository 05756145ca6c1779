"""Rolling defragmentation of a 3-member etcd through the real module (etcd_wrapper.ops.etcd_defrag,
ad-hoc `ansible`) with and without moving the leader, while a client writes (issue 16, item 6).

Each run fragments the etcd (testbed fault `fragment`: --mib MiB written in 512 KiB values, deleted,
compacted, so every member has about that much free), starts a writer, runs the module with
`force: true, allow_write: true, move_leader: <mode>`, and stops the writer. The writer stands in for
kube-apiserver: one host `etcdctl put` (small value) after another against ALL member endpoints (pod
IPs; the client balancer picks one per process), each put's start and end taken with time.monotonic.
Modes alternate within one invocation (move_leader true, then false, --runs times), so both see the
same machine. Reported per mode, median over runs: the module's wall time (ansible start-up
included), the longest single put during the module ("longest write stall"), the p99 put, failed
puts; and a quiet baseline (the writer without a defrag) to read the stall against. A put is a new
etcdctl process (start-up, TLS handshake, one RPC): its quiet latency is the resolution of the stall
figure, printed with the process start-up alone (`etcdctl version`, no network). Also per mode: the
longest gap between two successful put completions (a put that fails or hangs on one member while
others go through shows in the longest put, not here), and the failed puts (counted, not fatal).

Defragmentation copies the live keys into a new file (bbolt compaction; etcd maintenance guide,
"Defragmentation"): free pages cost little, so a member blocks for a time that grows with the live
data, not with --mib. --live-mib adds that much live data (512 KiB values) for the whole invocation,
deleted, compacted and defragmented (once, no writer) at the end.

Only testbed-3 is used (namespace workloads.namespace_for(3), etcd-events), so tests on clusters 1
and 2 can run at the same time. The debug containers are left attached (the module reuses them).

    make venv link && PYTHONPATH=tests ANSIBLE_COLLECTIONS_PATH=build/collections \\
        .venv/bin/python benchmarks/defrag.py [--runs 3] [--mib 64] [--live-mib 0] [--baseline-s 20]

Results also go to benchmarks/results/defrag-<UTC date>.json (defrag-<UTC date>T<HHMM>.json if that exists).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import infra as testbed_infra  # noqa: E402
from testbed import faults, images, workloads  # noqa: E402
from testbed import fleet as fleet_mod  # noqa: E402

INDEX = 3
CONTEXT = f"testbed-{INDEX}"
ETCD = "etcd-events"
PODS = [f"{ETCD}-{i}" for i in range(3)]
KEY = "/bench/defrag/writer"
LIVE = "/bench/defrag/live/"
ETCDCTL_ENV = {**os.environ, "ETCDCTL_API": "3"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def module(name: str, args: dict) -> tuple[float, dict, int]:
    """(seconds, result, rc) of etcd_wrapper.ops.<name> run ad hoc on localhost."""
    with tempfile.TemporaryDirectory() as tree:
        argv = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-i", "localhost,", "-m", f"etcd_wrapper.ops.{name}",
                "-a", json.dumps(args), "-t", tree, "-e", f"ansible_python_interpreter={sys.executable}"]
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - start
        try:
            result = json.loads(Path(tree, "localhost").read_text())
        except (OSError, ValueError):
            raise SystemExit(f"{name}: no result (rc {proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-2000:]}") from None
    return elapsed, result, proc.returncode


class Writer:
    """One `etcdctl put` process after another until stopped; each put as (start, end, ok)."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.puts: list[tuple[float, float, bool]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            start = time.monotonic()
            try:
                proc = subprocess.run([*self.argv, f"v{n}"], capture_output=True, text=True, timeout=60,
                                      env=ETCDCTL_ENV, check=False)
                ok, err = proc.returncode == 0, proc.stderr.strip()
            except subprocess.TimeoutExpired:
                ok, err = False, "timed out after 60 s"
            end = time.monotonic()
            self.puts.append((start, end, ok))
            if not ok and len(self.errors) < 20:
                self.errors.append(err.splitlines()[-1] if err else "rc != 0")

    def __enter__(self) -> "Writer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def put_stats(puts: list[tuple[float, float, bool]], start: float, end: float) -> dict:
    """Figures of the puts that overlap [start, end]: latency (s) of each, the longest, p99, failed,
    and the longest gap between two successful put completions (what a client sees as no write)."""
    window = [p for p in puts if p[1] >= start and p[0] <= end]
    lat = [p[1] - p[0] for p in window]
    done = sorted([start] + [p[1] for p in window if p[2]] + [end])
    if not lat:
        return {"puts": 0, "failed": 0}
    return {"puts": len(window), "failed": sum(1 for p in window if not p[2]),
            "max_s": round(max(lat), 3), "p99_s": round(percentile(lat, 99), 3), "p50_s": round(statistics.median(lat), 3),
            "longest_gap_s": round(max(b - a for a, b in zip(done, done[1:])), 3)}


def status(state: Path, ns: str) -> list[dict]:
    proc = faults.etcdctl(state, INDEX, ETCD, "endpoint", "status", "-w", "json", all_members=True, namespace=ns)
    if proc.returncode != 0:
        raise SystemExit(f"endpoint status of {ns}/{ETCD} failed: {proc.stderr.strip()}")
    return [{"endpoint": e["Endpoint"], "db_size": e["Status"]["dbSize"], "in_use": e["Status"]["dbSizeInUse"],
             "leader": e["Status"]["leader"] == e["Status"]["header"]["member_id"]} for e in json.loads(proc.stdout)]


def healthy(state: Path, ns: str) -> tuple[bool, str]:
    proc = faults.etcdctl(state, INDEX, ETCD, "endpoint", "health", "-w", "json", all_members=True, namespace=ns)
    try:
        entries = json.loads(proc.stdout)
    except ValueError:
        return False, proc.stderr.strip() or proc.stdout
    ok = proc.returncode == 0 and len(entries) == 3 and all(e.get("health") for e in entries)
    return ok, json.dumps(entries)


def process_overhead(runs: int = 20) -> float:
    """Median seconds of `etcdctl version`: the process start-up every put pays, without network."""
    times = []
    for _attempt in range(runs):
        start = time.monotonic()
        subprocess.run(["etcdctl", "version"], capture_output=True, env=ETCDCTL_ENV, check=True)
        times.append(time.monotonic() - start)
    return statistics.median(times)


def main() -> None:  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=64, help="MiB written, deleted and compacted before each run")
    parser.add_argument("--live-mib", type=int, default=0,
                        help="MiB of live keys (512 KiB values under /bench/defrag/live/) kept during the runs, "
                             "deleted and compacted at the end: defrag copies live data, so this is what makes it slow")
    parser.add_argument("--baseline-s", type=float, default=20, help="seconds of the quiet writer (no defrag)")
    parser.add_argument("--lead-s", type=float, default=2, help="seconds the writer runs before and after the module")
    opts = parser.parse_args()
    state = testbed_infra.state_dir(None)
    env = testbed_infra.infra_up(state, log=log)
    os.environ.update(env)
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "collections"))
    registry = env["TESTBED_REGISTRY"]
    kubeconfig = fleet_mod.up(state, 3, ["etcd-main", "etcd-events"], 3, registry, testbed_infra.insecure_registries(), log=log)
    ns = workloads.namespace_for(INDEX)
    auth = {"kubeconfig": str(kubeconfig), "context": CONTEXT}
    image = images.ensure_debug_image(state, registry, images.ops_tag(), log=log)
    _took, result, rc = module("etcd_ephemeral_container", dict(auth, pods=[f"{ns}/{p}" for p in PODS], image=image, profile="restricted"))
    if rc != 0:
        raise SystemExit(f"debug containers: {result.get('msg')}")
    ok, detail = healthy(state, ns)
    if not ok:
        raise SystemExit(f"{ns}/{ETCD} not healthy before the benchmark: {detail}")

    if opts.live_mib:
        live_argv = faults.etcdctl_argv(state, INDEX, ETCD, "put", all_members=True, namespace=ns)
        value, t0 = secrets.token_hex(256 * 1024), time.monotonic()  # 512 KiB
        for i in range(opts.live_mib * 2):
            proc = subprocess.run([*live_argv, f"{LIVE}{i}"], input=value, capture_output=True, text=True, timeout=60,
                                  env=ETCDCTL_ENV, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"live key {LIVE}{i}: {proc.stderr.strip()}")
        log(f"{opts.live_mib} MiB of live keys written in {time.monotonic() - t0:.0f} s")

    put_argv = faults.etcdctl_argv(state, INDEX, ETCD, "put", KEY, all_members=True, namespace=ns)  # built once
    overhead = process_overhead()
    log(f"etcdctl process start-up (version, no network): {overhead * 1000:.0f} ms")

    def baseline() -> dict:
        with Writer(put_argv) as writer:
            start = time.monotonic()
            time.sleep(opts.baseline_s)
            end = time.monotonic()
        return put_stats(writer.puts, start, end)

    base = [baseline()]
    log(f"quiet baseline: {base[0]}")
    modes = {"move_leader: true": True, "move_leader: false": False}
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for run in range(opts.runs):
        for label, move in modes.items():
            t0 = time.monotonic()
            faults.fragment(state, INDEX, ETCD, opts.mib, namespace=ns)
            before = status(state, ns)
            log(f"run {run + 1}/{opts.runs} {label}: fragmented in {time.monotonic() - t0:.0f} s, "
                f"free per member {[round((m['db_size'] - m['in_use']) / 2**20, 1) for m in before]} MiB")
            with Writer(put_argv) as writer:
                time.sleep(opts.lead_s)
                start = time.monotonic()
                elapsed, result, rc = module("etcd_defrag", dict(auth, namespace=ns, etcd=ETCD, pods=PODS, force=True,
                                                                 allow_write=True, move_leader=move))
                end = time.monotonic()
                time.sleep(opts.lead_s)
            stats = put_stats(writer.puts, start, end)
            steps = [{k: s.get(k) for k in ("pod", "role", "action", "duration_s", "db_size_before", "db_size_after")}
                     for s in result.get("done", [])]
            entry = {"wall_s": round(elapsed, 2), "rc": rc, "msg": result.get("msg"), "leader": result.get("leader"),
                     "leader_after": result.get("leader_after"), "steps": steps, "writer": stats,
                     "writer_errors": writer.errors, "free_before_mib": [round((m["db_size"] - m["in_use"]) / 2**20, 1) for m in before]}
            runs[label].append(entry)
            log(f"  {elapsed:.1f} s, leader {entry['leader']} -> {entry['leader_after']}, writer {stats}"
                + (f", FAILED: {entry['msg']}" if rc != 0 else ""))
            ok, detail = healthy(state, ns)
            if not ok:
                raise SystemExit(f"{ns}/{ETCD} not healthy after a run: {detail}")
        base.append(baseline())
        log(f"quiet baseline: {base[-1]}")

    faults.etcdctl(state, INDEX, ETCD, "del", KEY, namespace=ns)
    if opts.live_mib:  # give the space back: delete, compact (physical)
        faults.etcdctl(state, INDEX, ETCD, "del", "--prefix", LIVE, namespace=ns)
        rev = json.loads(faults.etcdctl(state, INDEX, ETCD, "endpoint", "status", "-w", "json", namespace=ns).stdout)[0]
        faults.etcdctl(state, INDEX, ETCD, "compaction", "--physical", str(rev["Status"]["header"]["revision"]), namespace=ns)
        # and defragment once more (no writer), so the members do not keep --live-mib MiB of free pages
        _took, result, rc = module("etcd_defrag", dict(auth, namespace=ns, etcd=ETCD, pods=PODS, force=True, allow_write=True))
        log(f"final defrag: {result.get('msg')}")
    ok, detail = healthy(state, ns)
    if not ok:
        raise SystemExit(f"{ns}/{ETCD} not healthy at the end: {detail}")

    def med(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    version = subprocess.run(["etcdctl", "version"], capture_output=True, text=True, check=False).stdout.split("\n", 1)[0]
    print(f"\nmachine: {os.cpu_count()} cores, {platform.platform()}; {CONTEXT} {ns}/{ETCD} (3 members), "
          f"{opts.mib} MiB freed before each run, {opts.live_mib} MiB of added live keys; writer: host {version}, one process per put, all 3 endpoints\n")
    print(f"put resolution: etcdctl process start-up alone {ms(overhead)}; quiet put (median over {len(base)} baselines of "
          f"{opts.baseline_s:.0f} s) p50 {ms(med([b.get('p50_s') for b in base]))}, p99 {ms(med([b.get('p99_s') for b in base]))}, "
          f"max {ms(med([b.get('max_s') for b in base]))}\n")
    print(f"| mode | wall time (median of {opts.runs}) | longest write stall | p99 put | longest gap between puts | "
          f"failed puts | leader before -> after (each run) | wall times | longest stalls |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, entries in runs.items():
        w = [e["writer"] for e in entries]
        leaders = [f"{e['leader']} -> {e['leader_after']}" for e in entries]
        walls = [f"{e['wall_s']:.1f}" for e in entries]
        print(f"| {label} | {med([e['wall_s'] for e in entries]):.1f} s | {ms(med([x.get('max_s') for x in w]))} | "
              f"{ms(med([x.get('p99_s') for x in w]))} | {ms(med([x.get('longest_gap_s') for x in w]))} | "
              f"{sum(x.get('failed', 0) for x in w)} of {sum(x.get('puts', 0) for x in w)} | "
              f"{'; '.join(leaders)} | {', '.join(walls)} | {', '.join(ms(x.get('max_s')) for x in w)} |")
    print(f"| quiet (no defrag) | - | {ms(med([b.get('max_s') for b in base]))} | {ms(med([b.get('p99_s') for b in base]))} | "
          f"{ms(med([b.get('longest_gap_s') for b in base]))} | {sum(b.get('failed', 0) for b in base)} of "
          f"{sum(b.get('puts', 0) for b in base)} | - | - | {', '.join(ms(b.get('max_s')) for b in base)} |")

    now = datetime.datetime.now(datetime.timezone.utc)
    out = REPO / "benchmarks" / "results" / f"defrag-{now:%Y-%m-%d}.json"
    if out.exists():  # a second run the same day keeps the first (sweep.py's T<HHMM> suffix)
        out = out.with_name(f"defrag-{now:%Y-%m-%dT%H%M}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": now.isoformat(timespec="seconds"), "machine": {"cores": os.cpu_count(),
                               "platform": platform.platform()}, "cluster": CONTEXT, "namespace": ns, "etcd": ETCD,
                               "mib": opts.mib, "live_mib": opts.live_mib, "runs": opts.runs, "etcdctl": version, "process_overhead_s": round(overhead, 4),
                               "baseline": base, "modes": runs}, indent=1))
    print(f"\nresults: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
