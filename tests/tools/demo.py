"""make demo: a 3-cluster fleet with one fault of each kind, the debug image built and pushed with
playbooks/build_image.yml, then playbooks/health_sweep.yml over the whole fleet -- the collection's
public playbooks driven as a user drives them, on the local fleet (tests/testbed).

    PYTHONPATH=tests .venv/bin/python tests/tools/demo.py
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from testbed import faults, fleet, infra, procs, workloads  # noqa: E402

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
    started = time.monotonic()
    _step(1, "engine, registry and base images")
    env = infra.infra_up(state)
    _step(2, "a seed-shaped fleet of 3 Kubernetes clusters (per cluster 5 shoot namespaces: HA, non-HA, "
             "HA with member name prefix, hibernated, etcd-druid v0.22 layout)")
    kubeconfig = fleet.up(state, 3, ["etcd-main", "etcd-events"], 3, env["TESTBED_REGISTRY"], infra.insecure_registries())
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
    print(f"Reports: {report_dir}/health_report.html (open in a browser), health_report.md, health_report.json, junit.xml, "
          "health_report.prom")
    faulty = [(c["name"], e) for c in report["clusters"] for e in c["etcds"] if e["status"] != "ok"]
    print(f"{report['summary']['etcds']} etcds, {len(faulty)} not ok (one line each):")
    for cluster, e in faulty:
        codes = ", ".join(f["code"] + (f" ({len(f['members'])} members)" if len(f["members"]) > 1 else "")
                          for f in e["findings"] if f["severity"] != "info")
        print(f"  {e['status'].upper():8} {cluster} {e['namespace']}/{e['etcd']}: {codes}")
    promtool = shutil.which("promtool")
    if promtool:
        check = subprocess.run([promtool, "check", "metrics"], input=(report_dir / "health_report.prom").read_text(),
                               capture_output=True, text=True, check=False)
        print(f"promtool check metrics health_report.prom: {'passed' if check.returncode == 0 else 'FAILED: ' + check.stderr.strip()}")
    print(f"Namespaces: {', '.join(workloads.namespace_for(i) for i in (1, 2, 3))}; kubeconfig: {kubeconfig}")
    print(f"Deep-dive one etcd: ansible-playbook -i {inventory} playbooks/diagnose.yml -l testbed-2 "
          f"-e etcd_namespace={workloads.namespace_for(2)} -e etcd_name=etcd-events -e debug_container_image={name}:demo")
    remedies = sorted({f["remedy"] for f in report["findings"] if f.get("remedy") and "etcd_wrapper.ops.diagnose" not in f["remedy"]})
    if remedies:
        print("Fix what it found (the report's remedies; add --check first to see the plan; run them with "
              f"ANSIBLE_COLLECTIONS_PATH={os.environ.get('ANSIBLE_COLLECTIONS_PATH') or REPO / 'build' / 'collections'} "
              f"PATH={REPO / '.venv' / 'bin'}:$PATH):")
        for remedy in remedies:
            print(f"  {remedy}")
    print(f"Heal the faults: make demo-heal; stop everything: make testbed-down. Demo took {time.monotonic() - started:.0f}s.")
    return 0 if not missed and rc == 2 else 1


def main() -> int:
    try:
        return demo(infra.state_dir(None))
    except procs.TestbedError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
