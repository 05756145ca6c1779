# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""etcd_snapshot's pure logic (path naming, member choice, status and checksum parsing, the
compare) on output recorded from the local fleet (etcdctl / etcdutl 3.5.35 in the debug image,
testbed-1 shoot--dev--alpha etcd-main and shoot--prod--alpha etcd-main), the save-and-stream flow
with a member that answers with those recordings, and _exec.stream over a socket pair."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import time

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils import _exec, _snapshot
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._k8s import K8sError
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError

# ---------------------------------------------------------------- recorded (2026-11-30, etcdctl 3.5.35)

LEADER_ID, FOLLOWER1_ID, FOLLOWER2_ID = 16922477578299461852, 2874203579848288409, 11248587225193976783


def _status_rec(member_id: int, leader: int, raft: int, revision: int = 3) -> str:
    return json.dumps([{"Endpoint": "https://etcd-main-local:2379", "Status": {
        "header": {"cluster_id": 3645437184545090151, "member_id": member_id, "revision": revision, "raft_term": 2},
        "version": "3.5.35", "dbSize": 20480, "leader": leader, "raftIndex": raft, "raftTerm": 2,
        "raftAppliedIndex": raft, "dbSizeInUse": 16384}}], separators=(",", ":"))


# `etcdctl endpoint status -w json` from each member's own debug container (HA, etcd-main-0 leads)
STATUS = {
    "etcd-main-0": _status_rec(LEADER_ID, LEADER_ID, 20),
    "etcd-main-1": _status_rec(FOLLOWER1_ID, LEADER_ID, 21),
    "etcd-main-2": _status_rec(FOLLOWER2_ID, LEADER_ID, 22),
}
# the exact stdout of etcd-main-1, as etcdctl printed it
assert STATUS["etcd-main-1"] == (
    '[{"Endpoint":"https://etcd-main-local:2379","Status":{"header":{"cluster_id":3645437184545090151,'
    '"member_id":2874203579848288409,"revision":3,"raft_term":2},"version":"3.5.35","dbSize":20480,'
    '"leader":16922477578299461852,"raftIndex":21,"raftTerm":2,"raftAppliedIndex":21,"dbSizeInUse":16384}}]')
# non-HA (shoot--prod--alpha etcd-main-0): its own leader
STATUS_SINGLE = ('[{"Endpoint":"https://etcd-main-local:2379","Status":{"header":{"cluster_id":16498955541504712014,'
                 '"member_id":8379833047029791709,"revision":1,"raft_term":2},"version":"3.5.35","dbSize":20480,'
                 '"leader":8379833047029791709,"raftIndex":5,"raftTerm":2,"raftAppliedIndex":5,"dbSizeInUse":16384}}]')
HEALTH_OK = '[{"endpoint":"https://etcd-main-local:2379","health":true,"took":"8.35465ms"}]'
# a refused endpoint, and the real endpoint without client TLS (tls: none): rc 1
HEALTH_DEAD = '[{"endpoint":"https://etcd-main-local:2399","health":false,"took":"3.00048848s","error":"context deadline exceeded"}]'
HEALTH_NOTLS_STDERR = (
    '{"level":"warn","ts":"2026-11-30T22:38:18.405995Z","logger":"client","caller":"v3@v3.5.35/retry_interceptor.go:66",'
    '"msg":"retrying of unary invoker failed","target":"etcd-endpoints://0x19aade0f4780/etcd-main-local:2379",'
    '"peer":"Peer{Addr: <nil>, LocalAddr: <nil>, AuthInfo: <nil>}","attempt":0,"error":"rpc error: code = DeadlineExceeded '
    'desc = latest balancer error: connection error: desc = \\"transport: authentication handshake failed: tls: failed to '
    'verify certificate: x509: certificate signed by unknown authority\\""}\nError: unhealthy cluster\n')
# `etcdutl snapshot status FILE -w json` and the deprecated `etcdctl snapshot status FILE -w json`
UTL_STATUS = '{"hash":1638625464,"revision":3,"totalKey":10,"totalSize":20480}\n'
CTL_STATUS = '{"hash":3805726049,"revision":3,"totalKey":10,"totalSize":20480}\n'
CTL_STATUS_STDERR = "Deprecated: Use `etcdutl snapshot status` instead.\n\n"
# `stat -c %s FILE && sha256sum FILE`
SUM = "20512\n0ff2ae6e6c28654ca6d2ca1b84277051473f51db090108fe24eba3931f15e4d5  /work/etcd-ops-snapshot-rec.db\n"
SUM_MISSING_STDERR = "stat: cannot statx '/work/none': No such file or directory\n"
# `etcdctl snapshot save /nonexistent/x.db`: rc 5
SAVE_FAILED_STDERR = "Error: could not open /nonexistent/x.db.part (open /nonexistent/x.db.part: no such file or directory)\n"
SAVE_OK_STDOUT = "Snapshot saved at /work/rec.db\n"


def etcdctl_result(stdout: str, rc: int = 0, stderr: str = "") -> dict:
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "cmd": ["etcdctl"], "json": json.loads(stdout) if stdout.strip() else None}


# ---------------------------------------------------------------- naming

MOMENT = datetime.datetime(2026, 11, 30, 22, 39, 28, 512000, tzinfo=datetime.timezone.utc)


def test_snapshot_path_layout():
    assert _snapshot.snapshot_path("/backups", "testbed-1", "shoot--dev--alpha", "etcd-main", MOMENT, 3) == \
        "/backups/testbed-1/shoot--dev--alpha/etcd-main/20261130T223928Z-rev3.db"
    # a local time is written in UTC
    cest = datetime.timezone(datetime.timedelta(hours=2))
    assert _snapshot.stamp(MOMENT.astimezone(cest)) == "20261130T223928Z"


@pytest.mark.parametrize("text, part", [
    ("garden-seed-1", "garden-seed-1"), ("admin@kind-x", "admin_kind-x"), ("https://10.0.0.1:6443", "https___10.0.0.1_6443"),
    ("..", "__"), (".", "_"), ("", "_"), ("a/../b", "a_.._b"),
])
def test_path_part_is_one_safe_component(text, part):
    assert _snapshot.path_part(text) == part
    assert "/" not in part and part not in (".", "..")


def test_free_path_never_overwrites(tmp_path):
    first = str(tmp_path / "20261130T223928Z-rev3.db")
    assert _snapshot.free_path(first) == first
    open(first, "w").close()
    assert _snapshot.free_path(first) == str(tmp_path / "20261130T223928Z-rev3-1.db")
    open(str(tmp_path / "20261130T223928Z-rev3-1.db"), "w").close()
    assert _snapshot.free_path(first) == str(tmp_path / "20261130T223928Z-rev3-2.db")


def test_cluster_name_order(tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: testbed-2\ncontexts: []\n")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kube/config
    assert _snapshot.cluster_name({"cluster": "seed-a", "context": "testbed-1"}) == "seed-a"
    assert _snapshot.cluster_name({"context": "testbed-1", "kubeconfig": str(kubeconfig)}) == "testbed-1"
    assert _snapshot.cluster_name({"kubeconfig": str(kubeconfig)}) == "testbed-2"
    assert _snapshot.cluster_name({"kubeconfig": {"current-context": "inline-ctx"}}) == "inline-ctx"
    assert _snapshot.cluster_name({"kubeconfig": '{"current-context": "json-ctx"}'}) == "json-ctx"
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}{os.pathsep}{kubeconfig}")
    assert _snapshot.cluster_name({}) == "testbed-2"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert _snapshot.cluster_name({}) == "in-cluster"


def test_check_dest(tmp_path):
    missing = tmp_path / "a" / "b"
    assert _snapshot.check_dest(str(missing)) == str(missing)
    assert not (tmp_path / "a").exists()  # checked, not created
    assert os.listdir(tmp_path) == []  # the probe file is gone
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(UsageError, match=r"^dest is not a directory: .*/file$"):
        _snapshot.check_dest(str(afile))
    with pytest.raises(UsageError, match=r"^dest's parent .*/file is not a directory: .*/file/sub$"):
        _snapshot.check_dest(str(afile / "sub"))
    # /proc takes no files, not even root's
    with pytest.raises(UsageError, match=r"^dest /proc/etcd-snapshots is not writable: No such file or directory \(/proc\)$"):
        _snapshot.check_dest("/proc/etcd-snapshots")


def test_pod_names():
    assert _snapshot.pod_names(["etcd-main-0", {"name": "etcd-main-1", "namespace": "x"}, "etcd-main-0"]) == \
        ["etcd-main-0", "etcd-main-1"]
    with pytest.raises(UsageError, match=r"^every entry of pods must be a pod name or a pod dict with a name "
                                         r"\(as etcd_cluster_info returns\), got \{'namespace': 'x'\}$"):
        _snapshot.pod_names([{"namespace": "x"}])


# ---------------------------------------------------------------- member choice


def test_assess_and_pick_prefers_a_follower():
    assessed = [_snapshot.assess(pod, etcdctl_result(HEALTH_OK), etcdctl_result(STATUS[pod])) for pod in STATUS]
    assert [a["is_leader"] for a in assessed] == [True, False, False]
    assert all(a["healthy"] and a["revision"] == 3 for a in assessed)
    chosen = _snapshot.pick(assessed)
    assert chosen["pod"] == "etcd-main-1" and chosen["member_id"] == FOLLOWER1_ID and f"{chosen['member_id']:x}" == "27e338ed7d036899"
    # followers unhealthy: the leader
    dead = etcdctl_result(HEALTH_DEAD, rc=1)
    assessed = [assessed[0], _snapshot.assess("etcd-main-1", dead), _snapshot.assess("etcd-main-2", error="no container")]
    assert _snapshot.pick(assessed)["pod"] == "etcd-main-0"
    assert assessed[1]["reason"] == "unhealthy: context deadline exceeded"


def test_single_member_is_its_own_leader():
    only = _snapshot.assess("etcd-main-0", etcdctl_result(HEALTH_OK), etcdctl_result(STATUS_SINGLE))
    assert only["is_leader"] is True and only["revision"] == 1
    assert _snapshot.pick([only]) is only


def test_unhealthy_members_give_no_choice():
    notls = _snapshot.assess("etcd-main-0", etcdctl_result(HEALTH_DEAD.replace("2399", "2379"), rc=1, stderr=HEALTH_NOTLS_STDERR))
    no_json = _snapshot.assess("etcd-main-1", {"rc": 1, "stdout": "", "stderr": HEALTH_NOTLS_STDERR, "json": None})
    status_failed = _snapshot.assess("etcd-main-2", etcdctl_result(HEALTH_OK), {
        "rc": 1, "stdout": "[]", "json": [], "stderr": "Failed to get the status of endpoint https://etcd-main-local:2379 (context deadline exceeded)\n"})
    assert [a["healthy"] for a in (notls, no_json, status_failed)] == [False, False, False]
    assert no_json["reason"] == "unhealthy: Error: unhealthy cluster"
    assert status_failed["reason"] == "endpoint status failed: Failed to get the status of endpoint https://etcd-main-local:2379 (context deadline exceeded)"
    assert _snapshot.pick([notls, no_json, status_failed]) is None


# ---------------------------------------------------------------- status, checksum, compare


@pytest.mark.parametrize("stdout, expected", [
    (UTL_STATUS, {"hash": 1638625464, "revision": 3, "total_keys": 10, "total_size": 20480}),
    (CTL_STATUS, {"hash": 3805726049, "revision": 3, "total_keys": 10, "total_size": 20480}),
])
def test_parse_status_both_tools(stdout, expected):
    assert _snapshot.parse_status(json.loads(stdout)) == expected
    if stdout == CTL_STATUS:  # the same file's `etcdutl snapshot status -w table` printed HASH e2d6c561
        assert f"{expected['hash']:x}" == "e2d6c561"


def test_parse_status_rejects_other_shapes():
    with pytest.raises(OpsError, match="snapshot status gave no hash, revision and totalKey"):
        _snapshot.parse_status([{"hash": 1}])


def test_parse_sum():
    assert _snapshot.parse_sum(SUM) == (20512, "0ff2ae6e6c28654ca6d2ca1b84277051473f51db090108fe24eba3931f15e4d5")
    with pytest.raises(OpsError, match="cannot read the snapshot's size and sha256"):
        _snapshot.parse_sum("")


def test_verify():
    sha = "0ff2ae6e6c28654ca6d2ca1b84277051473f51db090108fe24eba3931f15e4d5"
    assert _snapshot.verify(20512, sha, 20512, sha) is None
    assert _snapshot.verify(20512, sha, 20000, sha) == "size mismatch: 20512 bytes in the container, 20000 received"
    other = hashlib.sha256(b"x").hexdigest()
    assert _snapshot.verify(20512, sha, 20512, other) == f"sha256 mismatch: {sha} in the container, {other} received"


# ---------------------------------------------------------------- the flow, with recorded answers

PAYLOAD = os.urandom(20512)  # stands in for the snapshot's bytes; the checksums below are its own


class RecordedMember:
    """A member whose execs answer with the recorded outputs (the file's bytes: PAYLOAD)."""

    namespace, pod, container, api = "shoot--dev--alpha", "etcd-main-1", "etcd-debug", None

    def __init__(self, save=None, utl_rc=0, sum_out=None, stream=None, rm_rc=0):
        self.calls = []
        self.save = save or {"rc": 0, "stdout": SAVE_OK_STDOUT, "stderr": "", "cmd": ["etcdctl", "snapshot", "save"], "json": None}
        self.utl_rc, self.rm_rc, self.stream_fn = utl_rc, rm_rc, stream
        self.sum_out = sum_out if sum_out is not None else f"{len(PAYLOAD)}\n{hashlib.sha256(PAYLOAD).hexdigest()}  /work/x.db\n"

    def etcdctl(self, args, timeout, output="json", endpoints=None):
        self.calls.append(("etcdctl",) + tuple(args))
        if args[:2] == ["snapshot", "save"]:
            return self.save
        if args[:2] == ["snapshot", "status"]:
            return etcdctl_result(CTL_STATUS, stderr=CTL_STATUS_STDERR)
        raise AssertionError(args)

    def run(self, argv, timeout, etcd_files=True):
        self.calls.append(tuple(argv))
        if argv[0] == "rm":
            return {"rc": self.rm_rc, "stdout": "", "stderr": "rm: cannot remove: Read-only file system\n" if self.rm_rc else ""}
        script = argv[2]
        if script.startswith("stat"):
            return {"rc": 0, "stdout": self.sum_out, "stderr": ""}
        if "etcdutl" in script:
            return {"rc": self.utl_rc, "stdout": UTL_STATUS if self.utl_rc == 0 else "", "stderr": ""}
        raise AssertionError(argv)

    def removed(self) -> bool:
        return any(c[0] == "rm" for c in self.calls)


@pytest.fixture
def streamed(monkeypatch):
    """_snapshot._stream sends PAYLOAD in 4 KiB chunks unless the member brings its own."""
    def fake(member, argv, timeout, sink):
        assert argv[0] == "cat"
        if member.stream_fn:
            return member.stream_fn(sink)
        for i in range(0, len(PAYLOAD), 4096):
            sink(PAYLOAD[i:i + 4096])
        return {"rc": 0, "stderr": "", "bytes": len(PAYLOAD)}
    monkeypatch.setattr(_snapshot, "_stream", fake)


PARAMS = {"etcd": "etcd-main", "timeout": 900}


def test_take_writes_verified_file(tmp_path, streamed):
    member = RecordedMember()
    result = _snapshot.take(member, PARAMS, str(tmp_path), "testbed-1", clock=lambda: MOMENT)
    assert result["path"] == str(tmp_path / "testbed-1/shoot--dev--alpha/etcd-main/20261130T223928Z-rev3.db")
    with open(result["path"], "rb") as fh:
        assert fh.read() == PAYLOAD
    assert stat.S_IMODE(os.stat(result["path"]).st_mode) == 0o600
    for folder in ("testbed-1", "testbed-1/shoot--dev--alpha", "testbed-1/shoot--dev--alpha/etcd-main"):
        assert stat.S_IMODE(os.stat(tmp_path / folder).st_mode) == 0o700, folder
    assert result["sha256"] == hashlib.sha256(PAYLOAD).hexdigest() and result["size"] == len(PAYLOAD)
    assert (result["hash"], result["revision"], result["total_keys"], result["status_tool"]) == (1638625464, 3, 10, "etcdutl")
    assert member.calls[-1] == ("rm", "-f", result["container_file"], result["container_file"] + ".part")
    assert result["container_file"].startswith("/work/etcd-ops-snapshot-")
    assert "warnings" not in result
    assert os.listdir(os.path.dirname(result["path"])) == [os.path.basename(result["path"])]  # no .part left


def test_take_falls_back_to_etcdctl_status(tmp_path, streamed):
    member = RecordedMember(utl_rc=127)
    result = _snapshot.take(member, PARAMS, str(tmp_path), "testbed-1", clock=lambda: MOMENT)
    assert result["status_tool"] == "etcdctl" and result["hash"] == 3805726049
    assert ("etcdctl", "snapshot", "status", result["container_file"]) in member.calls


def test_take_save_failure_is_one_line_and_cleans_up(tmp_path, streamed):
    member = RecordedMember(save={"rc": 5, "stdout": "", "stderr": SAVE_FAILED_STDERR, "cmd": ["etcdctl"], "json": None})
    with pytest.raises(OpsError) as err:
        _snapshot.take(member, PARAMS, str(tmp_path), "testbed-1")
    assert err.value.msg == ("etcdctl snapshot save in shoot--dev--alpha/etcd-main-1 exited with rc 5: Error: could not open "
                             "/nonexistent/x.db.part (open /nonexistent/x.db.part: no such file or directory)")
    assert member.removed() and os.listdir(tmp_path) == []


def test_take_checksum_mismatch_deletes_the_copy(tmp_path, streamed):
    def corrupt(sink):
        sink(PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 1]))
        return {"rc": 0, "stderr": "", "bytes": len(PAYLOAD)}
    member = RecordedMember(stream=corrupt)
    with pytest.raises(OpsError) as err:
        _snapshot.take(member, PARAMS, str(tmp_path), "testbed-1", clock=lambda: MOMENT)
    assert err.value.msg.startswith("the snapshot copied from shoot--dev--alpha/etcd-main-1 is corrupt (sha256 mismatch: ")
    assert err.value.msg.endswith(" received); deleted") and "\n" not in err.value.msg
    folder = tmp_path / "testbed-1/shoot--dev--alpha/etcd-main"
    assert os.listdir(folder) == []  # neither the .db nor the .part
    assert member.removed()


def test_take_stream_timeout_and_unremovable_file(tmp_path, streamed):
    def slow(sink):
        sink(PAYLOAD[:4096])
        raise K8sError("exec of cat in shoot--dev--alpha/etcd-main-1/etcd-debug timed out after 900s", bytes=4096, stderr="")
    member = RecordedMember(stream=slow, rm_rc=1)
    with pytest.raises(OpsError) as err:
        _snapshot.take(member, PARAMS, str(tmp_path), "testbed-1", clock=lambda: MOMENT)
    assert err.value.msg.startswith("streaming the snapshot from shoot--dev--alpha/etcd-main-1 failed after 4096 of 20512 bytes: "
                                    "exec of cat in shoot--dev--alpha/etcd-main-1/etcd-debug timed out after 900s; /work/etcd-ops-snapshot-")
    assert err.value.msg.endswith(".db was not removed in shoot--dev--alpha/etcd-main-1: rm: cannot remove: Read-only file system")
    assert os.listdir(tmp_path / "testbed-1/shoot--dev--alpha/etcd-main") == []


def test_take_size_check_in_container_fails(tmp_path, streamed):
    member = RecordedMember(sum_out="")
    with pytest.raises(OpsError, match="cannot read the snapshot's size and sha256 in the container"):
        _snapshot.take(member, PARAMS, str(tmp_path), "testbed-1")
    assert member.removed() and os.listdir(tmp_path) == []


def test_execute_usage_errors(tmp_path):
    base = {"namespace": "ns", "etcd": "etcd-main", "pods": ["etcd-main-0"], "pod": None, "dest": str(tmp_path),
            "timeout": 900, "method": "etcdctl", "container": "etcd-debug", "tls": "auto"}
    with pytest.raises(UsageError, match="^method must be one of etcdctl, backup-restore, got 'velero'$"):
        _snapshot.execute(None, dict(base, method="velero"), False, "x")
    with pytest.raises(UsageError, match=r"^dest is required with method etcdctl \(the controller directory the snapshot is streamed to\)$"):
        _snapshot.execute(None, dict(base, dest=None), False, "x")
    with pytest.raises(UsageError, match=r"^pods is empty: ns/etcd-main has no member pod to snapshot \(hibernated\?\)$"):
        _snapshot.execute(None, dict(base, pods=[]), False, "x")
    with pytest.raises(UsageError, match="^timeout must be at least 1 second, got 0$"):
        _snapshot.execute(None, dict(base, timeout=0), False, "x")


# ---------------------------------------------------------------- _exec.stream


class FakeWS:
    """A WSClient stand-in: frames handed out in order (a callable makes its frame when asked)."""

    subprotocol = "v5.channel.k8s.io"

    def __init__(self, frames, delay=0.0):
        self.sock = self  # WSClient.sock is the websocket; here the same object
        self.frames, self.delay, self.connected, self.closed = list(frames), delay, True, False

    def recv_data_frame(self, _control):
        time.sleep(self.delay)
        frame = self.frames.pop(0) if self.frames else None
        if frame is None:
            self.connected = False
            return _exec.ABNF.OPCODE_CLOSE, type("F", (), {"data": b""})()
        if callable(frame):
            frame = frame()
        return _exec.ABNF.OPCODE_BINARY, type("F", (), {"data": frame})()

    def close(self):
        self.closed = True


@pytest.fixture
def fake_ws(monkeypatch):
    """_exec.stream over FakeWS: _open returns the last one made, every frame is ready at once."""
    made = []

    def open_(api, namespace, pod, container, argv, capture_all=True, binary=False):
        assert binary and not capture_all
        return made[-1]
    monkeypatch.setattr(_exec, "_open", open_)
    monkeypatch.setattr(_exec, "_readable", lambda sock, timeout: True)

    def make(frames, delay=0.0):
        made.append(FakeWS(frames, delay))
        return made[-1]
    return make


def test_stream_hands_chunks_to_sink_and_keeps_stderr_bounded(fake_ws):
    chunks = [bytes([1]) + os.urandom(32768) for _chunk in range(4)]
    big_err = bytes([2]) + b"e" * 70000 + b"\nlast line\n"
    ws = fake_ws(chunks[:2] + [big_err, bytes([255, 1])] + chunks[2:] + [b"\x03" + b'{"metadata":{},"status":"Success"}'])
    got = []
    out = _exec.stream(None, "ns", "pod", "etcd-debug", ["cat", "/work/x"], 10, got.append)
    assert b"".join(got) == b"".join(c[1:] for c in chunks) and len(got) == 4
    assert out["rc"] == 0 and out["bytes"] == 4 * 32768
    assert len(out["stderr"]) == _exec.STDERR_KEEP and out["stderr"].endswith("\nlast line\n")
    assert ws.closed


def test_stream_exit_code_and_missing_status(fake_ws):
    nonzero = ('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing '
               'command [cat /x], exit code 1","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"1"}]}}')
    fake_ws([b"\x02cat: /x: No such file or directory\n", b"\x03" + nonzero.encode()])
    out = _exec.stream(None, "ns", "pod", "c", ["cat", "/x"], 10, lambda b: None)
    assert out == {"rc": 1, "stderr": "cat: /x: No such file or directory\n", "bytes": 0}
    fake_ws([b"\x01abc"])
    with pytest.raises(K8sError, match=r"^exec of cat in ns/pod/c ended without an exit code: the stream closed without a status$"):
        _exec.stream(None, "ns", "pod", "c", ["cat", "/x"], 10, lambda b: None)


def test_stream_timeout(fake_ws):
    endless = [lambda: b"\x01" + b"s" * 1024] * 10000
    ws = fake_ws(endless, delay=0.01)
    start = time.monotonic()
    with pytest.raises(K8sError) as err:
        _exec.stream(None, "ns", "pod", "c", ["cat", "/work/x"], 0.3, lambda b: None)
    assert time.monotonic() - start < 2
    assert err.value.msg == "exec of cat in ns/pod/c timed out after 0.3s"
    assert err.value.details["bytes"] > 0 and ws.closed


def test_stream_connection_broken_off(fake_ws):
    def reset():
        raise ConnectionResetError(104, "Connection reset by peer")
    fake_ws([b"\x01" + b"a" * 100, reset])
    with pytest.raises(K8sError) as err:
        _exec.stream(None, "ns", "pod", "c", ["cat", "/work/x"], 10, lambda b: None)
    assert err.value.msg == "exec of cat in ns/pod/c broke off after 100 bytes: [Errno 104] Connection reset by peer"


def test_take_disk_full_on_the_controller(tmp_path, streamed, monkeypatch):
    real_open = os.open

    def full_disk(path, flags, mode=0o777, **kw):  # the .part lands on a full disk
        return real_open("/dev/full", os.O_WRONLY) if str(path).endswith(".part") else real_open(path, flags, mode, **kw)
    monkeypatch.setattr(_snapshot.os, "open", full_disk)
    member = RecordedMember()
    with pytest.raises(OpsError) as err:
        _snapshot.take(member, PARAMS, str(tmp_path), "testbed-1", clock=lambda: MOMENT)
    assert err.value.msg == (f"writing the snapshot to {tmp_path}/testbed-1/shoot--dev--alpha/etcd-main/20261130T223928Z-rev3.db.part "
                             "failed: No space left on device")
    assert member.removed()


# ---------------------------------------------------------------- choose, with members answering as recorded


class ProbedMember:
    """_member.Member stand-in for choose(): the recorded health / status of each pod, or the
    K8sError Member raises for a pod without a running debug container."""

    answers: dict = {}
    probes: list = []

    def __init__(self, api, namespace, pod, container, where, tls="auto"):
        answer = self.answers[pod]
        if isinstance(answer, Exception):
            raise answer
        self.pod, self.namespace, self.answer, self.tls_source = pod, namespace, answer, "args"

    def etcdctl(self, args, timeout, output="json", endpoints=None):
        self.probes.append((self.pod, args[1]))
        value = self.answer[args[1]]
        if isinstance(value, Exception):
            raise value
        return value


@pytest.fixture
def probed(monkeypatch):
    monkeypatch.setattr(_snapshot._member, "Member", ProbedMember)
    ProbedMember.probes = []
    return ProbedMember


CHOOSE = {"namespace": "shoot--dev--alpha", "etcd": "etcd-main", "pods": ["etcd-main-0", "etcd-main-1", "etcd-main-2"],
          "pod": None, "container": "etcd-debug", "tls": "auto"}


def healthy(pod):
    return {"health": etcdctl_result(HEALTH_OK), "status": etcdctl_result(STATUS[pod])}


def test_choose_stops_at_the_first_healthy_follower(probed):
    probed.answers = {pod: healthy(pod) for pod in STATUS}
    member, chosen, assessed = _snapshot.choose(None, CHOOSE, "cluster 'testbed-1'")
    assert member.pod == "etcd-main-1" and chosen["is_leader"] is False
    assert [a["pod"] for a in assessed] == ["etcd-main-0", "etcd-main-1"]  # etcd-main-2 never probed
    assert probed.probes == [("etcd-main-0", "health"), ("etcd-main-0", "status"), ("etcd-main-1", "health"), ("etcd-main-1", "status")]


def test_choose_no_debug_container(probed):
    probed.answers = {pod: K8sError(f"pod shoot--dev--alpha/{pod} has no container 'etcd-debug' (ephemeral containers: none); "
                                    "attach one with etcd_wrapper.ops.etcd_ephemeral_container") for pod in STATUS}
    with pytest.raises(K8sError) as err:
        _snapshot.choose(None, CHOOSE, "x")
    assert err.value.msg.startswith("no member of shoot--dev--alpha/etcd-main has a running debug container 'etcd-debug' "
                                    "(etcd-main-0: pod shoot--dev--alpha/etcd-main-0 has no container 'etcd-debug'")
    assert len(err.value.details["members"]) == 3 and "\n" not in err.value.msg


def test_choose_no_healthy_member(probed):
    timed_out = K8sError("exec of etcdctl in shoot--dev--alpha/etcd-main-1/etcd-debug timed out after 10s")
    probed.answers = {"etcd-main-0": {"health": etcdctl_result(HEALTH_DEAD, rc=1, stderr=HEALTH_NOTLS_STDERR)},
                      "etcd-main-1": {"health": timed_out},
                      "etcd-main-2": K8sError("container 'etcd-debug' in shoot--dev--alpha/etcd-main-2 is not running: terminated")}
    with pytest.raises(OpsError) as err:
        _snapshot.choose(None, CHOOSE, "x")
    assert err.value.msg == ("no healthy member of shoot--dev--alpha/etcd-main to snapshot (etcd-main-0: unhealthy: context deadline "
                             "exceeded; etcd-main-1: probe failed: exec of etcdctl in shoot--dev--alpha/etcd-main-1/etcd-debug timed "
                             "out after 10s; etcd-main-2: container 'etcd-debug' in shoot--dev--alpha/etcd-main-2 is not running: terminated)")


def test_choose_forced_leader(probed):
    probed.answers = {pod: healthy(pod) for pod in STATUS}
    member, chosen, assessed = _snapshot.choose(None, dict(CHOOSE, pod="etcd-main-0"), "x")
    assert member.pod == "etcd-main-0" and chosen["is_leader"] is True and len(assessed) == 1


def test_choose_the_leader_for_backup_restore(probed):
    # the leader is etcd-main-0: probing stops there, followers are not what is wanted
    probed.answers = {pod: healthy(pod) for pod in STATUS}
    member, chosen, assessed = _snapshot.choose(None, dict(CHOOSE, pods=["etcd-main-1", "etcd-main-0", "etcd-main-2"]), "x", want="leader")
    assert member.pod == "etcd-main-0" and chosen["is_leader"] is True
    assert [a["pod"] for a in assessed] == ["etcd-main-1", "etcd-main-0"]


def test_choose_no_leader_among_the_pods(probed):
    # the leader's pod has no running debug container: the followers name it, the error says so
    probed.answers = {"etcd-main-0": K8sError("container 'etcd-debug' in shoot--dev--alpha/etcd-main-0 is not running: waiting"),
                      "etcd-main-1": healthy("etcd-main-1"), "etcd-main-2": healthy("etcd-main-2")}
    with pytest.raises(OpsError) as err:
        _snapshot.choose(None, CHOOSE, "x", want="leader")
    assert err.value.msg == (f"no healthy leader of shoot--dev--alpha/etcd-main among etcd-main-0, etcd-main-1, etcd-main-2 to ask for a "
                             f"backup-restore snapshot (the members name leader {LEADER_ID:x}: is its pod in pods, with a running "
                             "debug container?) (etcd-main-0: container 'etcd-debug' in shoot--dev--alpha/etcd-main-0 is not running: waiting)")


# ---------------------------------------------------------------- method backup-restore, on recorded answers

BR_FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "backup_restore")
POD_SINGLE = os.path.join(os.path.dirname(__file__), "fixtures", "druid", "v023_single_etcd_main_0.json")


def br_body(name: str) -> str:
    with open(os.path.join(BR_FIXTURES, name), encoding="utf-8") as fh:
        return fh.read().rstrip("\n")


class BRMember:
    """The leader's Member as via_backup_restore uses it: the recorded etcd-druid pod spec (v0.23,
    single member) and one exec answering with what BR_SNAPSHOT_SCRIPT prints for recorded bodies."""

    def __init__(self, stdout: str, rc: int = 0, stderr: str = ""):
        with open(POD_SINGLE, encoding="utf-8") as fh:
            pod = json.load(fh)
        self.spec, self.pod, self.namespace = pod["spec"], "etcd-main-0", "shoot--prod--alpha"
        self.endpoint, self.tls, self.tls_source = "https://etcd-main-local:2379", {"cacert": "/var/etcd/ssl/ca/bundle.crt"}, "args"
        self.answer, self.calls = {"rc": rc, "stdout": stdout, "stderr": stderr}, []

    def run(self, argv, timeout, etcd_files=True):
        self.calls.append((argv, timeout, etcd_files))
        return self.answer


def br_run(monkeypatch, member, check_mode=False):
    chosen = {"pod": member.pod, "healthy": True, "member_id": 0x744b8f2b7bcd8f01, "is_leader": True, "revision": 256}
    monkeypatch.setattr(_snapshot, "choose", lambda api, params, where, want="follower": (member, chosen, [chosen]))
    params = {"namespace": member.namespace, "etcd": "etcd-main", "pods": [member.pod], "pod": None, "dest": None,
              "timeout": 900, "method": "backup-restore", "container": "etcd-debug", "tls": "auto"}
    return _snapshot.execute(None, params, check_mode, "x")


def test_backup_restore_full_snapshot_and_where_it_went(monkeypatch):
    full, latest = br_body("snapshot_full.json"), br_body("snapshot_latest.json")
    member = BRMember(f"{full}\n200\n{_snapshot.BR_SEPARATOR}\n{latest}\n200\n")
    result = br_run(monkeypatch, member)
    (argv, timeout, etcd_files), = member.calls
    # the sidecar's address from the wrapper's --backup-restore-host-port, HTTPS with the wrapper's CA bundle
    assert argv[:2] == ["bash", "-c"] and argv[4:] == ["https://etcd-main-local:8080", "/var/etcdbr/ssl/ca/bundle.crt", "900"]
    assert result["url"] == "https://etcd-main-local:8080/snapshot/full" and etcd_files is False
    assert result["snapshot"] == json.loads(full) and result["revision"] == 256
    assert result["snap_name"] == "Full-00000000-00000256-1796089768.gz" and result["storage_provider"] == "Local"
    # the full snapshot's own answer has an empty prefix: the location comes from /snapshot/latest
    assert json.loads(full)["prefix"] == "" and result["listed_as_latest"] is True
    assert result["location"] == "Local: /tmp/br/home/bkp/shoot--dev--charlie--etcd-main/v2/Full-00000000-00000256-1796089768.gz"
    assert result["msg"] == ("backup-restore of shoot--prod--alpha/etcd-main (leader etcd-main-0) took a full snapshot at revision 256: "
                             + result["location"])


def test_backup_restore_location_from_args_when_latest_lists_another(monkeypatch):
    # upstream's answers (etcd-backup-restore debd95bd): the latest listing names another snapshot
    full, latest = br_body("upstream_snapshot_full.json"), br_body("snapshot_latest.json")
    member = BRMember(f"{full}\n200\n{_snapshot.BR_SEPARATOR}\n{latest}\n200\n")
    result = br_run(monkeypatch, member)
    assert result["listed_as_latest"] is False and result["revision"] == 2
    # bucket from env STORAGE_CONTAINER, prefix from --store-prefix (etcd-druid's statefulset builder)
    assert result["location"] == "Local: shoot--prod--alpha--etcd-main/shoot--prod--alpha--etcd-main/Full-00000000-00000002-1796089802.gz"


@pytest.mark.parametrize("code, meaning", [
    (405, "it runs no snapshotter: no backup store is configured for this etcd (no --storage-provider), or it could not hand "
          "the request to the leading sidecar"),
    (500, "the snapshotter is not active (yet) or the full snapshot failed"),
])
def test_backup_restore_refusals_are_one_line(monkeypatch, code, meaning):
    # upstream answers these codes with an empty body (pkg/server/httpAPI.go serveFullSnapshotTrigger)
    member = BRMember(f"\n{code}\n")
    with pytest.raises(OpsError) as err:
        br_run(monkeypatch, member)
    assert err.value.msg == (f"backup-restore in shoot--prod--alpha/etcd-main-0 answered {code} - {meaning}; "
                             "see kubectl -n shoot--prod--alpha logs etcd-main-0 -c backup-restore --tail=50")
    assert len(member.calls) == 1


def test_backup_restore_unreachable_and_check_mode(monkeypatch):
    member = BRMember("", rc=7, stderr="curl: (7) Failed to connect to etcd-main-local port 8080 after 0 ms: Couldn't connect to server\n")
    with pytest.raises(OpsError) as err:
        br_run(monkeypatch, member)
    assert err.value.msg == ("asking backup-restore at https://etcd-main-local:8080/snapshot/full from shoot--prod--alpha/etcd-main-0 "
                             "failed (curl rc 7): curl: (7) Failed to connect to etcd-main-local port 8080 after 0 ms: Couldn't connect to server")
    planned = BRMember("never run")
    result = br_run(monkeypatch, planned, check_mode=True)
    assert planned.calls == [] and result["changed"] is True and "snapshot" not in result
    assert result["msg"] == ("check mode: would ask backup-restore of shoot--prod--alpha/etcd-main in etcd-main-0 (the leader, revision 256) "
                             "for a full snapshot: POST https://etcd-main-local:8080/snapshot/full")


def test_parse_br_output_pairs():
    full = br_body("snapshot_full.json")
    (code, body), latest = _snapshot.parse_br_output(f"{full}\n200\n")
    assert code == 200 and body["kind"] == "Full" and latest is None
    assert _snapshot.parse_br_output("\n405\n") == ((405, None), None)
    assert _snapshot.parse_br_output("garbage") == ((None, "garbage"), None)
