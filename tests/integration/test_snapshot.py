"""etcd_snapshot through the real `ansible` / `ansible-playbook` CLIs against the local fleet:
a snapshot of an HA etcd (from a follower) and of a non-HA one, verified on the controller with
etcdutl, check mode, the error paths a user can hit, and playbooks/snapshot.yml once."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_module
from testbed import workloads

NS1 = workloads.namespace_for(1)          # HA, restricted PodSecurity
NONHA1 = "shoot--prod--alpha"              # non-HA (workloads.shoots_for, seed shape)
HIB1 = "shoot--prod--alpha-hib"            # hibernated: StatefulSets, no pods
PODS = ["etcd-main-0", "etcd-main-1", "etcd-main-2"]
STAMP = re.compile(r"^\d{8}T\d{6}Z-rev(\d+)\.db$")


def etcdutl() -> str:
    """etcdutl on the controller: the fleet's own build (build/bin), as the debug image has it."""
    path = REPO / "build" / "bin" / "etcdutl"
    if not path.exists():
        pytest.skip("no build/bin/etcdutl")
    return str(path)


def controller_status(path: str) -> dict:
    out = subprocess.run([etcdutl(), "snapshot", "status", path, "-w", "json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def auth(fleet) -> dict:
    return {"kubeconfig": str(fleet["kubeconfig"]), "context": "testbed-1"}


@pytest.fixture(scope="module")
def attached(fleet, fleet_debug_image, auth):
    """etcd-debug on the HA etcd-main members and the non-HA etcd-main (reused when running)."""
    pods = [f"{NS1}/{p}" for p in PODS] + [f"{NONHA1}/etcd-main-0"]
    result = run_module("etcd_ephemeral_container", dict(auth, pods=pods, image=fleet_debug_image, profile="restricted"))
    assert not result.failed and not any(c.get("failed") for c in result["containers"]), result
    return result


def snapshot(auth, dest, check=False, **extra):
    args = dict(auth, namespace=NS1, etcd="etcd-main", pods=PODS, dest=str(dest))
    args.update(extra)
    return run_module("etcd_snapshot", args, check=check)


def container_files(auth, namespace: str, pod: str) -> list[str]:
    listed = run_module("etcdctl_exec", dict(auth, namespace=namespace, pod=pod, argv=["ls", "-a", "/work"]))
    assert not listed.failed, listed
    return [name for name in listed["stdout"].split() if name.startswith("etcd-ops-snapshot-")]


def endpoint_status(auth, namespace: str, pod: str) -> dict:
    out = run_module("etcdctl_exec", dict(auth, namespace=namespace, pod=pod, etcdctl=["endpoint", "status"]))
    return out["json"][0]["Status"]


def test_snapshot_of_ha_etcd_from_a_follower(attached, auth, tmp_path):
    start = time.monotonic()
    result = snapshot(auth, tmp_path)
    elapsed = time.monotonic() - start
    assert not result.failed and result["changed"] is True, result
    path = Path(result["path"])
    assert path.parent == tmp_path / "testbed-1" / NS1 / "etcd-main"
    match = STAMP.match(path.name)
    assert match and int(match.group(1)) == result["revision"], path.name
    assert path.is_file() and result["size"] == path.stat().st_size > 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "testbed-1").stat().st_mode) == 0o700
    assert hashlib.sha256(path.read_bytes()).hexdigest() == result["sha256"]
    # etcdutl on the controller agrees with what the container said
    status = controller_status(str(path))
    assert (status["revision"], status["hash"], status["totalKey"]) == (result["revision"], result["hash"], result["total_keys"])
    # a follower, as its own endpoint status says (member IDs and leader from the member itself)
    assert result["member"] in PODS and result["is_leader"] is False and result["method"] == "etcdctl"
    now = endpoint_status(auth, NS1, result["member"])
    assert f"{now['header']['member_id']:x}" == result["member_id"] and now["leader"] != now["header"]["member_id"]
    assert now["header"]["revision"] >= result["revision"]
    assert result["tls_source"] == "args of container 'backup-restore' (--cacert, --cert, --key)"
    assert result["status_tool"] == "etcdutl"
    # the file in the container is gone
    assert container_files(auth, NS1, result["member"]) == []
    assert 0 < result["duration"] < elapsed
    print(f"\nHA snapshot: {result['size']} bytes, module {result['duration']} s, CLI {elapsed:.1f} s")


def test_check_mode_plans_and_writes_nothing(attached, auth, tmp_path):
    dest = tmp_path / "planned"
    result = snapshot(auth, dest, check=True)
    assert not result.failed and result["changed"] is True, result
    assert result["msg"].startswith(f"check mode: would save a snapshot of {NS1}/etcd-main from etcd-main-")
    assert "(a follower, revision " in result["msg"] and result["msg"].endswith(f" to {result['path']}")
    assert Path(result["path"]).parent == dest / "testbed-1" / NS1 / "etcd-main"
    assert int(STAMP.match(Path(result["path"]).name).group(1)) == result["revision"] > 0
    assert not dest.exists()
    assert "sha256" not in result and "cmd" not in result
    assert all(container_files(auth, NS1, pod) == [] for pod in PODS)


def test_non_ha_etcd_is_its_own_leader(attached, auth, tmp_path):
    result = snapshot(auth, tmp_path, namespace=NONHA1, pods=["etcd-main-0"], cluster="seed one")
    assert not result.failed, result
    assert result["member"] == "etcd-main-0" and result["is_leader"] is True
    assert result["msg"].endswith(f"from etcd-main-0 (the leader) to {result['path']} (sha256 {result['sha256']}, the same on both sides)")
    path = Path(result["path"])
    assert path.parent == tmp_path / "seed_one" / NONHA1 / "etcd-main"
    assert controller_status(str(path))["revision"] == result["revision"]
    assert container_files(auth, NONHA1, "etcd-main-0") == []


def test_forced_member_and_pod_dicts(attached, auth, tmp_path):
    statuses = {p: endpoint_status(auth, NS1, p) for p in PODS}
    leader = next(p for p, s in statuses.items() if s["leader"] == s["header"]["member_id"])
    result = snapshot(auth, tmp_path, pods=[{"name": p, "namespace": NS1} for p in PODS], pod=leader)
    assert not result.failed, result
    assert result["member"] == leader and result["is_leader"] is True
    assert [m["pod"] for m in result["members"]] == [leader]


def test_bad_dest(attached, auth, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    result = snapshot(auth, afile)
    assert result.failed and result["msg"] == f"dest is not a directory: {afile}"
    result = snapshot(auth, "/proc/etcd-snapshots")
    assert result.failed
    assert result["msg"] == "dest /proc/etcd-snapshots is not writable: No such file or directory (/proc)"
    assert all(container_files(auth, NS1, pod) == [] for pod in PODS)  # nothing was saved


def test_no_debug_container(attached, auth, tmp_path):
    result = snapshot(auth, tmp_path, container="no-such-debug", pods=PODS[:2])
    assert result.failed and "\n" not in result["msg"]
    assert result["msg"].startswith(f"no member of {NS1}/etcd-main has a running debug container 'no-such-debug' "
                                    f"(etcd-main-0: pod {NS1}/etcd-main-0 has no container 'no-such-debug' (ephemeral containers: ")
    assert result["msg"].endswith("attach one with etcd_wrapper.ops.etcd_ephemeral_container")
    assert not list(tmp_path.iterdir())
    # a hibernated etcd: no pods at all
    empty = snapshot(auth, tmp_path, namespace=HIB1, pods=[])
    assert empty.failed and empty["msg"] == f"pods is empty: {HIB1}/etcd-main has no member pod to snapshot (hibernated?)"


def test_no_healthy_member(attached, auth, tmp_path):
    """Without client TLS every member's endpoint health is false (the server wants a client
    certificate): what an unreachable member looks like to the choice."""
    result = snapshot(auth, tmp_path, tls="none", pod="etcd-main-1")
    assert result.failed and "\n" not in result["msg"]
    assert result["msg"].startswith(f"no healthy member of {NS1}/etcd-main to snapshot (etcd-main-1: unhealthy: ")
    assert result["members"][0]["healthy"] is False
    assert not list(tmp_path.iterdir())


def playbook(inv: Path, extra: dict, *args: str) -> subprocess.CompletedProcess:
    argv = ["ansible-playbook", "-i", str(inv), str(REPO / "playbooks" / "snapshot.yml"), "-e", json.dumps(extra), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "default"})
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def test_playbook_snapshots_a_namespace(attached, fleet, fleet_debug_image, tmp_path):
    inv = tmp_path / "fleet.kubeconfig.yml"
    inv.write_text(yaml.safe_dump({"plugin": "etcd_wrapper.ops.kubeconfig", "kubeconfigs": [str(fleet["kubeconfig"])],
                                   "include_contexts": ["testbed-1"]}))
    dest = tmp_path / "snaps"
    extra = {"debug_container_image": fleet_debug_image, "etcd_snapshot_dest": str(dest),
             "etcd_discover_namespaces": [NONHA1, HIB1], "etcd_discover_etcds": ["etcd-main"]}
    # --check plans: no file
    planned = playbook(inv, extra, "--check")
    assert planned.returncode == 0, planned.stdout
    assert f"check mode: would save a snapshot of {NONHA1}/etcd-main from etcd-main-0 (the leader, revision " in planned.stdout
    assert not dest.exists()
    # every etcd is tried, then the host fails with the reasons (a debug container that is not there;
    # in check mode the debug_container role attaches nothing)
    failing = playbook(inv, dict(extra, debug_container_name="not-attached"), "--check")
    assert failing.returncode == 2 and recap_for(failing.stdout, "testbed-1")["failed"] == 1, failing.stdout
    assert f"1 snapshot(s) failed: no member of {NONHA1}/etcd-main has a running debug container 'not-attached'" in failing.stdout
    # the real run
    proc = playbook(inv, extra)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    files = sorted((dest / "testbed-1" / NONHA1 / "etcd-main").iterdir())
    assert len(files) == 1 and STAMP.match(files[0].name), files
    assert controller_status(str(files[0]))["revision"] == int(STAMP.match(files[0].name).group(1))
    assert not (dest / "testbed-1" / HIB1).exists()
    assert f"skipped (hibernated, no member pods): {HIB1}/etcd-main" in out
    assert recap_for(out, "testbed-1")["failed"] == 0


def recap_for(stdout: str, host: str) -> dict[str, int]:
    for line in stdout.splitlines():
        if line.startswith(host) and "ok=" in line:
            return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}
    raise AssertionError("no PLAY RECAP in:\n" + stdout)


# ---------------------------------------------------------------- method backup-restore

def latest_full(auth, namespace: str, pod: str) -> dict:
    """backup-restore's /snapshot/latest as another member's debug container reads it (the sidecar
    of a follower hands the request to the leading one), independent of the module."""
    script = ('ca=/var/etcdbr/ssl/ca/bundle.crt; for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = etcd-wrapper ] && '
              '{ [ -r "$ca" ] || ca=$p/root$ca; break; }; done; curl -sS --cacert "$ca" https://etcd-main-local:8080/snapshot/latest')
    # bash is not known to be read-only to etcdctl_exec's guard: this curl only reads
    out = run_module("etcdctl_exec", dict(auth, namespace=namespace, pod=pod, argv=["bash", "-c", script], allow_write=True))
    assert not out.failed and out["rc"] == 0, out
    return json.loads(out["stdout"])["fullSnapshot"]


def test_backup_restore_takes_a_full_snapshot_on_the_leader(attached, auth, fleet, tmp_path):
    before = endpoint_status(auth, NS1, PODS[0])
    leader = next(p for p in PODS if endpoint_status(auth, NS1, p)["header"]["member_id"] == before["leader"])
    follower = next(p for p in PODS if p != leader)
    planned = run_module("etcd_snapshot", dict(auth, namespace=NS1, etcd="etcd-main", pods=PODS, method="backup-restore"), check=True)
    assert not planned.failed and planned["member"] == leader and "snapshot" not in planned, planned
    assert planned["msg"].startswith(f"check mode: would ask backup-restore of {NS1}/etcd-main in {leader} (the leader, revision ")
    result = run_module("etcd_snapshot", dict(auth, namespace=NS1, etcd="etcd-main", pods=PODS, method="backup-restore"))
    assert not result.failed and result["changed"] is True, result
    assert result["member"] == leader and result["is_leader"] is True and result["storage_provider"] == "Local"
    snap = result["snapshot"]
    assert snap["kind"] == "Full" and snap["snapName"].startswith("Full-00000000-") and snap["lastRevision"] >= before["header"]["revision"]
    assert result["revision"] == snap["lastRevision"] and result["snap_name"] == snap["snapName"]
    # what the sidecars list as the latest full snapshot now, asked through another member
    listed = latest_full(auth, NS1, follower)
    assert listed["snapName"] == snap["snapName"] and result["listed_as_latest"] is True
    assert result["location"] == "Local: " + listed["prefix"].rstrip("/") + "/" + snap["snapName"]
    assert "\n" not in result["msg"] and result["msg"].endswith(result["location"])
    # nothing was streamed to the controller
    assert not list(tmp_path.iterdir())


def test_backup_restore_needs_the_leader_among_the_pods(attached, auth):
    leader_id = endpoint_status(auth, NS1, PODS[0])["leader"]
    followers = [p for p in PODS if endpoint_status(auth, NS1, p)["header"]["member_id"] != leader_id]
    result = run_module("etcd_snapshot", dict(auth, namespace=NS1, etcd="etcd-main", pods=followers, method="backup-restore"))
    assert result.failed and "\n" not in result["msg"], result
    assert result["msg"] == (f"no healthy leader of {NS1}/etcd-main among {', '.join(followers)} to ask for a backup-restore snapshot "
                             f"(the members name leader {leader_id:x}: is its pod in pods, with a running debug container?)")


def test_backup_restore_failing_snapshotter_is_one_line(attached, auth, state):
    from testbed import faults
    before = latest_full(auth, NS1, PODS[0])
    faults.backup_fault(state, 1, "etcd-main", "snapshotter-failing", NS1)
    try:
        result = run_module("etcd_snapshot", dict(auth, namespace=NS1, etcd="etcd-main", pods=PODS, method="backup-restore"))
    finally:
        faults.backup_fault(state, 1, "etcd-main", "snapshotter-failing", NS1, heal_it=True)
        faults.heal(state, 1)
    assert result.failed and "\n" not in result["msg"], result
    leader = result["member"] if "member" in result else None
    assert re.fullmatch(rf"backup-restore in {NS1}/etcd-main-\d answered 500 - the snapshotter is not active \(yet\) or the full "
                        rf"snapshot failed; see kubectl -n {NS1} logs etcd-main-\d -c backup-restore --tail=50", result["msg"]), (result["msg"], leader)
    # healed: the snapshotter restarts and takes snapshots again (the fault's failures were no snapshot)
    deadline = time.monotonic() + 60
    while True:
        again = run_module("etcd_snapshot", dict(auth, namespace=NS1, etcd="etcd-main", pods=PODS, method="backup-restore"))
        if not again.failed or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert not again.failed, again
    assert again["snap_name"] != before["snapName"]
