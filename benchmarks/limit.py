"""L - the limit: exactly one exec per etcd pod, every pod of every cluster in parallel, debug
containers already present. Each exec runs the same one-shot health script the sweep runs, so
L differs from the sweep only by what the sweep adds (Ansible, discovery, reports). Each pod's
arguments come from its listed spec through _health.member_plan, the pure function the module uses,
so L handles every layout of the fleet (etcd-druid v0.22 and >= v0.23, member name prefixes).

    python benchmarks/limit.py KUBECONFIG CONTEXT [CONTEXT ...] [--container etcd-debug] [--metrics-window 3]

--metrics-window is the sweep's etcd_health_metrics_window (the two reads of each member's /metrics
the script makes, that many seconds apart): the same default, so L does the same work.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "build" / "collections"))

from kubernetes import client, config  # noqa: E402
from kubernetes.stream import stream  # noqa: E402

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _pod  # noqa: E402
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._health import member_plan, script_argv  # noqa: E402

# gardener's label on every Etcd's pods, both etcd-druid layouts (gardener pkg/component/etcd/etcd/etcd.go)
SELECTOR = "app=etcd-statefulset"


def pod_argv(pod: dict, container: str, window: float) -> list[str]:
    """The health script with its arguments for one pod, built as _health.collect_member builds it
    (timeout 10, no detail, backup-restore asked: the sweep's defaults)."""
    plan = member_plan(pod["spec"], _pod.container(pod, container, "ephemeral") or {})
    return script_argv(plan, "MARK", 10, False, True, window)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kubeconfig")
    parser.add_argument("contexts", nargs="+")
    parser.add_argument("--container", default="etcd-debug")
    parser.add_argument("--metrics-window", type=float, default=3.0)
    opts = parser.parse_args()
    start = time.monotonic()
    local = threading.local()

    def api(context: str):
        clients = local.__dict__.setdefault("clients", {})
        if context not in clients:
            clients[context] = client.CoreV1Api(config.new_client_from_config(opts.kubeconfig, context=context))
        return clients[context]

    jobs = []
    for context in opts.contexts:
        listed = api(context).list_pod_for_all_namespaces(label_selector=SELECTOR, _preload_content=False)
        for pod in json.loads(listed.data)["items"]:
            jobs.append((context, pod["metadata"]["namespace"], pod["metadata"]["name"],
                         pod_argv(pod, opts.container, opts.metrics_window)))

    def one(job) -> int:
        context, namespace, pod, argv = job
        out = stream(api(context).connect_get_namespaced_pod_exec, pod, namespace, container=opts.container,
                     command=argv, stdout=True, stderr=True, stdin=False, tty=False)
        count = out.count("BEGIN")
        if count < 6:
            print(f"{context} {namespace}/{pod}: {count} sections: {out.strip()[-300:]}", file=sys.stderr)
        return count

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        sections = list(pool.map(one, jobs))
    print(f"{len(jobs)} pods, {sum(sections)} sections, {time.monotonic() - start:.2f}s")
    return 0 if all(s >= 6 for s in sections) else 1


if __name__ == "__main__":
    sys.exit(main())
