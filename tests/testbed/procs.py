"""Background processes the testbed starts: one pidfile each, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


class TestbedError(RuntimeError):
    """A testbed step failed; the message says which and why."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); treat it as gone
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def start(name: str, argv: list[str], state: Path, env: dict[str, str] | None = None,
          ports: tuple[int, ...] = ()) -> int:
    """Start argv detached (own session), log to state/logs/<name>.log, record its PID.

    ports: the 127.0.0.1 ports it will listen on. One already taken while this state dir has no
    such process means another fleet (another TESTBED_DIR) runs on this host: its registry or API
    server would answer in place of ours, so that is an error, not a silent mix of two fleets."""
    pidfile = state / "run" / f"{name}.pid"
    pid = read_pid(pidfile)
    if pid:
        return pid
    for port in ports:
        if port_open(port):
            raise TestbedError(f"{name}: 127.0.0.1:{port} is already taken by {port_owner(port)}; another testbed? "
                               "stop it (python -m testbed down with its TESTBED_DIR) or move this one "
                               "(TESTBED_PORT_BASE, TESTBED_*_PORT)")
    (state / "run").mkdir(parents=True, exist_ok=True)
    (state / "logs").mkdir(parents=True, exist_ok=True)
    log = open(state / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    finally:
        log.close()
    pidfile.write_text(str(proc.pid))
    return proc.pid


def stop(name: str, state: Path, timeout: float = 15.0) -> bool:
    """SIGTERM the process group recorded for name, SIGKILL after timeout."""
    pidfile = state / "run" / f"{name}.pid"
    pid = read_pid(pidfile)
    pidfile.unlink(missing_ok=True)
    if not pid:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                _reap(pid)
                return True
            time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def log_tail(name: str, state: Path, lines: int = 15) -> str:
    try:
        text = (state / "logs" / f"{name}.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_for(check, what: str, name: str, state: Path, timeout: float = 30.0) -> None:
    """Poll check() until true; fail with the process's log tail if it dies or times out."""
    pid = read_pid(state / "run" / f"{name}.pid")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if pid and not pid_alive(pid):
            raise TestbedError(f"{name} exited before {what}:\n{log_tail(name, state)}")
        time.sleep(0.1)
    raise TestbedError(f"{name}: timed out after {timeout:.0f}s waiting for {what}:\n{log_tail(name, state)}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def port_owner(port: int) -> str:
    """'pid N (command line)' of the process listening on 127.0.0.1:port, as ss shows it."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False).stdout
    pid = out.partition("pid=")[2].partition(",")[0]
    if not pid.isdigit():
        return "an unknown process"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmdline = "?"
    return f"pid {pid} ({cmdline[:160]})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(argv: list[str], env: dict[str, str] | None = None, input_: bytes | None = None,
        check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env={**os.environ, **(env or {})}, input=input_,
                          capture_output=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()[-10:]
        raise TestbedError(f"{' '.join(argv[:4])} ... failed (rc {proc.returncode}):\n" + "\n".join(err))
    return proc
