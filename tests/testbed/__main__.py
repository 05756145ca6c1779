"""python -m testbed: the local parts the collection's tests and demo run against.

  up [--clusters N] [--shape seed|minimal] [--shoots N] [--etcds etcd-main,etcd-events] [--members 3] [--etcd-heartbeat-ms 100]
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
  down [--purge]  stop every process started here (by PID) and remove its containers;
                --purge also removes images, caches and all state
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from . import fleet, kindnode, procs
from .infra import down, infra_env, infra_up, insecure_registries, state_dir


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
    fup = sub.add_parser("up", help="start (or reuse) the fleet")
    fup.add_argument("--clusters", type=int, default=3)
    fup.add_argument("--shape", choices=["seed", "minimal"], default="seed",
                     help="seed: several shoot namespaces per cluster; minimal: only the first (benchmarks at scale)")
    fup.add_argument("--shoots", type=int, help="shape seed: shoot namespaces per cluster (default 5; more are "
                     "mostly non-HA shoots, every 4th HA, every 10th hibernated)")
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
        elif args.cmd == "up":
            if args.etcd_heartbeat_ms is not None:
                os.environ["TESTBED_ETCD_HEARTBEAT_MS"] = str(args.etcd_heartbeat_ms)
            from . import workloads
            workloads.heartbeat_ms()  # a bad value fails here, before anything starts
            env = infra_up(state, log=lambda m: print(m, file=sys.stderr))
            path = fleet.up(state, args.clusters, [e for e in args.etcds.split(",") if e], args.members,
                            env["TESTBED_REGISTRY"], insecure_registries(), log=lambda m: print(m, file=sys.stderr),
                            shape=args.shape, shoot_count=args.shoots)
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
