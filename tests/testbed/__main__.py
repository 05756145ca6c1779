"""python -m testbed: the local parts the collection's tests and demo run against.

  up [--clusters N] [--shape seed|minimal] [--etcds etcd-main,etcd-events] [--members 3] [--etcd-heartbeat-ms 100]
                a fleet of N real Kubernetes clusters (kube-apiserver + etcd + a podman-backed
                virtual-kubelet node each) running etcd pods as etcd-druid builds them (etcd-wrapper and
                backup-restore stand-ins); shape seed: per cluster shoot namespaces with HA, non-HA,
                member-name-prefixed, hibernated and v0.22-layout etcds; prints the kubeconfig path
                (contexts testbed-1..N). Running twice reuses what runs.
  status        what runs, per cluster
  fault KIND    stop-member | nospace | backup-unhealthy | snapshotter-failing | stale-delta |
                stale-full | heal (see fault --help)
  infra up      podman's Docker-compatible API, the registry on 127.0.0.1, local base images
  infra env     shell exports for using them (DOCKER_HOST, CONTAINERS_*, ...)
  kind up NAME  a kind-shaped node container (containerd) for kind-load
  demo          a 3-cluster fleet with one fault of each kind, the debug image built and pushed with
                playbooks/build_image.yml, then playbooks/health_sweep.yml over the fleet
  down [--purge]  stop every process started here (by PID) and remove its containers;
                --purge also removes images, caches and all state
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import dockerd, engine, fleet, images, kindnode, procs, registry

REPO = Path(__file__).resolve().parents[2]


def state_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("TESTBED_DIR") or REPO / ".testbed").resolve()


def registry_port() -> int:
    return int(os.environ.get("TESTBED_REGISTRY_PORT", "5000"))


def auth_registry_port() -> int:
    return int(os.environ.get("TESTBED_AUTH_REGISTRY_PORT", "5001"))


def readonly_registry_port() -> int:
    return int(os.environ.get("TESTBED_RO_REGISTRY_PORT", "5002"))


def insecure_registries() -> list[str]:
    """Every registry the tests may start is plain HTTP: podman must know them as insecure."""
    return [f"127.0.0.1:{port}" for port in (registry_port(), auth_registry_port(), readonly_registry_port())]


def infra_up(state: Path, log=print) -> dict[str, str]:
    """Engine + registry + base images; returns the environment to use them."""
    start = time.monotonic()
    regs = insecure_registries()
    log(f"testbed state: {state}")
    log("  podman system service (Docker-compatible API)")
    host = engine.up(state, regs)
    log(f"  registry on {regs[0]}")
    registry.up(state, registry_port())
    images.ensure_base(state, log)
    images.ensure_etcd_source(state, log)
    log(f"infra ready in {time.monotonic() - start:.1f}s")
    return infra_env(state, host)


def infra_env(state: Path, host: str | None = None) -> dict[str, str]:
    return {
        "DOCKER_HOST": host or engine.docker_host(state),
        "TESTBED_DIR": str(state),
        "TESTBED_REGISTRY": f"127.0.0.1:{registry_port()}",
        "TESTBED_BASE_IMAGE": images.BASE,
        "TESTBED_ETCD_IMAGE": images.ETCD_SOURCE,
        **engine.conf_env(state),
    }


def down(state: Path, purge: bool) -> None:
    fleet.down(state)
    for pidfile in sorted((state / "run").glob("registry-*.pid")) if (state / "run").exists() else []:
        registry.down(state, int(pidfile.stem.split("-", 1)[1]), wipe=purge)
    dockerd.down(state)  # left running only by an interrupted test_engine_tls.py
    engine.down(state)
    if purge:
        # overlay storage may hold read-only layers; podman knows how to remove them
        if (state / "engine" / "containers.conf").exists():
            engine.podman(state, "system", "reset", "--force", check=False, timeout=300)
        shutil.rmtree(state, ignore_errors=True)
    print(f"testbed {'purged' if purge else 'stopped'}: {state}")


DEMO_FAULTS = [  # (cluster, kind, etcd, member, namespace or None for the first): one fault of each kind
    (1, "nospace", "etcd-main", None, None),
    (2, "stop-member", "etcd-events", 1, None),
    (3, "backup-unhealthy", "etcd-main", None, None),
    (2, "stale-delta", "etcd-main", None, "shoot--prod--bravo-ha"),
]
DEMO_CODES = {"nospace": "ALARM_NOSPACE", "stop-member": "MEMBER_UNREACHABLE", "backup-unhealthy": "BACKUP_RESTORE_UNHEALTHY",
              "stale-delta": "BACKUP_DELTA_STALE", "stale-full": "BACKUP_FULL_STALE",
              "snapshotter-failing": "BACKUP_SNAPSHOTTER_FAILING"}


def _step(n: int, text: str) -> None:
    print(f"\n==> [{n}/5] {text}", flush=True)


def _run(argv: list[str], env: dict[str, str]) -> int:
    print("$ " + " ".join(shlex.quote(a) for a in argv) + "\n", flush=True)
    return subprocess.call(argv, env={**os.environ, **env})


def demo(state: Path) -> int:
    """The README's first command: a 3-cluster fleet with one fault of each kind, the debug image
    built and pushed with build_image.yml, then health_sweep.yml over the whole fleet."""
    from . import faults, workloads
    started = time.monotonic()
    _step(1, "engine, registry and base images")
    env = infra_up(state)
    _step(2, "a seed-shaped fleet of 3 Kubernetes clusters (per cluster 5 shoot namespaces: HA, non-HA, "
             "HA with member name prefix, hibernated, etcd-druid v0.22 layout)")
    kubeconfig = fleet.up(state, 3, ["etcd-main", "etcd-events"], 3, env["TESTBED_REGISTRY"], insecure_registries())
    for i in (1, 2, 3):
        for shoot in workloads.shoots_for(i, ["etcd-main", "etcd-events"], 3):
            print(f"  testbed-{i} {shoot.namespace}: {shoot.variant} "
                  f"({', '.join(f'{e.name} x{e.replicas}' for e in shoot.etcds)})")
    _step(3, "one fault of each kind")
    active = {(f["cluster"], f["kind"], f["etcd"]) for f in faults.active(state)}
    for cluster, kind, etcd, member, namespace in DEMO_FAULTS:
        if (cluster, kind, etcd) in active:
            print(f"  testbed-{cluster}: {kind} on {etcd} (already injected)")
        elif kind == "nospace":
            print("  " + faults.nospace(state, cluster, etcd, namespace), flush=True)
        elif kind == "stop-member":
            print("  " + faults.stop_member(state, cluster, etcd, member, namespace), flush=True)
        else:
            print("  " + faults.backup_fault(state, cluster, etcd, kind, namespace), flush=True)
    _step(4, "build the debug image from ops/Dockerfile and push it to the fleet's registry (playbooks/build_image.yml)")
    name = f"{env['TESTBED_REGISTRY']}/etcd-wrapper/etcd-debug"
    build_args = {"BASE_IMAGE": env["TESTBED_BASE_IMAGE"], "ETCD_IMAGE": env["TESTBED_ETCD_IMAGE"]}
    rc = _run(["ansible-playbook", str(REPO / "playbooks" / "build_image.yml"),
               "-e", f"debug_image_name={name}", "-e", "debug_image_tag=demo", "-e", "debug_image_push=true",
               "-e", json.dumps({"debug_image_build_args": build_args}), "-e", "debug_image_build_network=host"], env)
    if rc != 0:
        return rc
    _step(5, "sweep the whole fleet (playbooks/health_sweep.yml, clusters in parallel)")
    demo_dir = REPO / "build" / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    inventory = demo_dir / "fleet.kubeconfig.yml"
    inventory.write_text(f"plugin: etcd_wrapper.ops.kubeconfig\nkubeconfigs: [{kubeconfig}]\n")
    report_dir = demo_dir / "etcd-health-report"
    rc = _run(["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks" / "health_sweep.yml"), "-f", "10",
               "-e", f"debug_container_image={name}:demo", "-e", f"fleet_report_dir={report_dir}"], env)
    report_file = report_dir / "health_report.json"
    if not report_file.exists():
        print(f"\nthe sweep wrote no report (ansible-playbook rc {rc})")
        return rc or 1
    report = json.loads(report_file.read_text())
    found = {(f["cluster"], f["namespace"], f["etcd"], f["code"]) for f in report["findings"]}
    expected = {(f"testbed-{c}", ns or workloads.namespace_for(c), etcd, DEMO_CODES[kind]) for c, kind, etcd, _m, ns in DEMO_FAULTS}
    missed = expected - found
    print(f"\nThe sweep {'failed, as it should with critical findings' if rc == 2 else f'ended with rc {rc}'} "
          f"(fleet_report_fail_on=critical). Injected faults found: {len(expected - missed)} of {len(expected)}"
          + (f"; MISSED: {sorted(missed)}" if missed else "") + ".")
    print(f"Reports: {report_dir}/health_report.html (open in a browser), health_report.md, health_report.json, junit.xml")
    print(f"Namespaces: {', '.join(workloads.namespace_for(i) for i in (1, 2, 3))}; kubeconfig: {kubeconfig}")
    print(f"Deep-dive one etcd: ansible-playbook -i {inventory} playbooks/diagnose.yml -l testbed-2 "
          f"-e etcd_namespace={workloads.namespace_for(2)} -e etcd_name=etcd-events -e debug_container_image={name}:demo")
    print(f"Heal the faults: make demo-heal; stop everything: make testbed-down. Demo took {time.monotonic() - started:.0f}s.")
    return 0 if not missed and rc == 2 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", help="state directory (default $TESTBED_DIR or <repo>/.testbed)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    infra = sub.add_parser("infra", help="engine, registry and base images")
    infra.add_argument("action", choices=["up", "env"])
    kind = sub.add_parser("kind", help="kind-shaped node containers")
    kind.add_argument("action", choices=["up", "down"])
    kind.add_argument("cluster")
    kind.add_argument("--nodes", type=int, default=1)
    sub.add_parser("demo", help="fleet + faults + debug image + health sweep")
    fup = sub.add_parser("up", help="start (or reuse) the fleet")
    fup.add_argument("--clusters", type=int, default=3)
    fup.add_argument("--shape", choices=["seed", "minimal"], default="seed",
                     help="seed: several shoot namespaces per cluster; minimal: only the first (benchmarks at scale)")
    fup.add_argument("--etcds", default="etcd-main,etcd-events")
    fup.add_argument("--members", type=int, default=3)
    fup.add_argument("--etcd-heartbeat-ms", type=int, help="etcd heartbeat interval of new members (default 100, "
                     "or $TESTBED_ETCD_HEARTBEAT_MS; election timeout 10x)")
    sub.add_parser("status", help="what runs")
    fault = sub.add_parser("fault", help="inject or heal a fault",
                           description="stop-member: stop one member's etcd process; nospace: a real NOSPACE alarm "
                                       "(members recreated with a small quota, then filled); backup-unhealthy: "
                                       "backup-restore /healthz says false; snapshotter-failing, stale-delta, "
                                       "stale-full: backup-restore's snapshotter fails / its latest delta (full) "
                                       "snapshot is old; heal: undo every recorded fault")
    fault.add_argument("kind", choices=["stop-member", "nospace", "backup-unhealthy", "snapshotter-failing",
                                        "stale-delta", "stale-full", "heal"])
    fault.add_argument("--namespace", help="default: the cluster's first shoot namespace")
    fault.add_argument("--cluster", type=int, help="cluster index (default 1; heal: all)")
    fault.add_argument("--etcd", default="etcd-main")
    fault.add_argument("--member", type=int, default=2)
    stop = sub.add_parser("down", help="stop everything started here")
    stop.add_argument("--purge", action="store_true", help="also remove images, caches and state")
    args = parser.parse_args(argv)
    state = state_dir(args.dir)
    try:
        if args.cmd == "infra":
            env = infra_up(state, log=lambda m: print(m, file=sys.stderr)) if args.action == "up" else infra_env(state)
            for key, value in env.items():
                print(f"export {key}={shlex.quote(value)}")
        elif args.cmd == "kind":
            if args.action == "up":
                infra_up(state, log=lambda m: print(m, file=sys.stderr))
                print("\n".join(kindnode.up(state, args.cluster, args.nodes, log=lambda m: print(m, file=sys.stderr))))
            else:
                kindnode.down(state, args.cluster)
        elif args.cmd == "demo":
            return demo(state)
        elif args.cmd == "up":
            if args.etcd_heartbeat_ms is not None:
                os.environ["TESTBED_ETCD_HEARTBEAT_MS"] = str(args.etcd_heartbeat_ms)
            from . import workloads
            workloads.heartbeat_ms()  # a bad value fails here, before anything starts
            env = infra_up(state, log=lambda m: print(m, file=sys.stderr))
            path = fleet.up(state, args.clusters, [e for e in args.etcds.split(",") if e], args.members,
                            env["TESTBED_REGISTRY"], insecure_registries(), log=lambda m: print(m, file=sys.stderr),
                            shape=args.shape)
            print(path)
        elif args.cmd == "fault":
            from . import faults
            if args.kind == "heal":
                print("\n".join(faults.heal(state, args.cluster)) or "nothing to heal")
            elif args.kind == "stop-member":
                print(faults.stop_member(state, args.cluster or 1, args.etcd, args.member, args.namespace))
            elif args.kind == "nospace":
                print(faults.nospace(state, args.cluster or 1, args.etcd, args.namespace))
            else:
                print(faults.backup_fault(state, args.cluster or 1, args.etcd, args.kind, args.namespace))
        elif args.cmd == "status":
            import json
            print(json.dumps(fleet.status(state), indent=1))
        elif args.cmd == "down":
            down(state, args.purge)
    except procs.TestbedError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
