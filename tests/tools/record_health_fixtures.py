"""Record what the unit tests read, from the running fleet: a member pod's spec (GET pod) and the
raw output of the health script (_health.SCRIPT) run in its debug container, exactly as
etcd_health runs it. Run after a sweep attached the debug containers:

  PYTHONPATH=tests:build/collections .venv/bin/python tests/tools/record_health_fixtures.py \
      testbed-1 shoot--prod--alpha-ha etcd-main-1 tests/unit/plugins/module_utils/fixtures/health/NAME [--pod-json FILE]

It runs with the fixed marker the unit tests parse with (test_health.MARKER)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _exec, _health
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._ephemeral_container import read_pod

from testbed import fleet, kube

MARKER = "ETCDOPS-0123456789abcdef"  # tests/unit/plugins/module_utils/test_health.py parses with it


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("context")
    parser.add_argument("namespace")
    parser.add_argument("pod")
    parser.add_argument("out", help="path without suffix: writes OUT.stdout")
    parser.add_argument("--pod-json", help="also write the pod (as the API returns it) here")
    parser.add_argument("--container", default="etcd-debug")
    parser.add_argument("--detail", action="store_true", help="as etcd_health detail: true (table, cheatsheet)")
    args = parser.parse_args()
    state = Path(__file__).resolve().parents[2] / ".testbed"
    api = kube.api_client(fleet.kubeconfig_path(state), args.context)
    pod = read_pod(api, args.namespace, args.pod, f"{args.namespace}/{args.pod}")
    spec = pod["spec"]
    debug = next(c for c in spec.get("ephemeralContainers") or [] if c["name"] == args.container)
    plan = _health.member_plan(spec, debug)
    tls, br = plan["tls"], plan["backup"]
    marker = MARKER
    script = ["bash", "-c", _health.SCRIPT, "etcd-ops", marker, "10", "1" if args.detail else "0", (tls or {}).get("via", "mount"),
              *[(tls or {}).get(k, "") for k in ("cacert", "cert", "key")], plan["endpoint"], str(plan["quota_arg"] or ""),
              (br or {}).get("base", ""), (br or {}).get("cacert", ""), *plan["configs"]]
    res = _exec.run(api, args.namespace, args.pod, args.container, script, 70)
    out = Path(args.out)
    out.with_suffix(".stdout").write_text(res["stdout"])
    if args.pod_json:
        Path(args.pod_json).write_text(json.dumps(pod, indent=1, sort_keys=True) + "\n")
    print(f"rc {res['rc']}, {len(res['stdout'])} bytes -> {out}.stdout", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
