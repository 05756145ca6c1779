"""python -m testbed: the local parts the collection's tests and demo run against.

  up [--clusters N] [--etcds etcd-main,etcd-events] [--members 3]
                a fleet of N real Kubernetes clusters (kube-apiserver + etcd + a podman-backed
                virtual-kubelet node each) running etcd-wrapper-shaped etcd pods; prints the
                kubeconfig path (contexts testbed-1..N). Running twice reuses what runs.
  status        what runs, per cluster
  fault KIND    stop-member | nospace | backup-unhealthy | heal (see fault --help)
  infra up      podman's Docker-compatible API, the registry on 127.0.0.1, local base images
  infra env     shell exports for using them (DOCKER_HOST, CONTAINERS_*, ...)
  kind up NAME  a kind-shaped node container (containerd) for kind-load
  demo          infra up, then playbooks/build_image.yml: build, push, kind-load the debug image
  down [--purge]  stop every process started here (by PID) and remove its containers;
                --purge also removes images, caches and all state
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import engine, fleet, images, kindnode, procs, registry

REPO = Path(__file__).resolve().parents[2]
DEMO_KIND_CLUSTER = "etcdops-demo"


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
    engine.down(state)
    if purge:
        # overlay storage may hold read-only layers; podman knows how to remove them
        if (state / "engine" / "containers.conf").exists():
            engine.podman(state, "system", "reset", "--force", check=False, timeout=300)
        shutil.rmtree(state, ignore_errors=True)
    print(f"testbed {'purged' if purge else 'stopped'}: {state}")


def demo(state: Path) -> int:
    env = infra_up(state)
    kindnode.up(state, DEMO_KIND_CLUSTER)
    tag = "demo"
    name = f"{env['TESTBED_REGISTRY']}/etcd-wrapper/etcd-debug"
    print("\nNo Kubernetes fleet runs yet, so the demo does the first half of the workflow:")
    print(f"build ops/Dockerfile -> push to the local registry {env['TESTBED_REGISTRY']} -> load into the")
    print(f"kind-shaped node '{DEMO_KIND_CLUSTER}-control-plane' (containerd), with playbooks/build_image.yml.\n")
    argv = [
        "ansible-playbook", str(REPO / "playbooks" / "build_image.yml"),
        "-e", f"debug_image_name={name}", "-e", f"debug_image_tag={tag}",
        "-e", "debug_image_push=true", "-e", f"debug_image_kind_cluster={DEMO_KIND_CLUSTER}",
        "-e", f"{{\"debug_image_build_args\": {{\"BASE_IMAGE\": \"{env['TESTBED_BASE_IMAGE']}\", "
              f"\"ETCD_IMAGE\": \"{env['TESTBED_ETCD_IMAGE']}\"}}}}",
        "-e", "debug_image_build_network=host",
    ]
    print("$ " + " ".join(shlex.quote(a) for a in argv) + "\n")
    rc = subprocess.call(argv, env={**os.environ, **env})
    if rc == 0:
        print(f"\nThe debug image is in the registry: curl -s http://{env['TESTBED_REGISTRY']}/v2/etcd-wrapper/etcd-debug/tags/list")
        print(f"and in the kind node: ctr -n k8s.io images ls lists {name}:{tag}")
        print("Run the demo again: nothing is rebuilt, pushed or loaded (changed=false). Stop everything: make testbed-down")
    return rc


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
    sub.add_parser("demo", help="build, push and kind-load the debug image")
    fup = sub.add_parser("up", help="start (or reuse) the fleet")
    fup.add_argument("--clusters", type=int, default=3)
    fup.add_argument("--etcds", default="etcd-main,etcd-events")
    fup.add_argument("--members", type=int, default=3)
    sub.add_parser("status", help="what runs")
    fault = sub.add_parser("fault", help="inject or heal a fault",
                           description="stop-member: stop one member's etcd process; nospace: a real NOSPACE alarm "
                                       "(members recreated with a small quota, then filled); backup-unhealthy: "
                                       "backup-restore /healthz says false; heal: undo every recorded fault")
    fault.add_argument("kind", choices=["stop-member", "nospace", "backup-unhealthy", "heal"])
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
            env = infra_up(state, log=lambda m: print(m, file=sys.stderr))
            path = fleet.up(state, args.clusters, [e for e in args.etcds.split(",") if e], args.members,
                            env["TESTBED_REGISTRY"], insecure_registries(), log=lambda m: print(m, file=sys.stderr))
            print(path)
        elif args.cmd == "fault":
            from . import faults
            if args.kind == "heal":
                print("\n".join(faults.heal(state, args.cluster)) or "nothing to heal")
            elif args.kind == "stop-member":
                print(faults.stop_member(state, args.cluster or 1, args.etcd, args.member))
            elif args.kind == "nospace":
                print(faults.nospace(state, args.cluster or 1, args.etcd))
            else:
                print(faults.backup_unhealthy(state, args.cluster or 1, args.etcd))
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
