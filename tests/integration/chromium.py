# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render a local HTML file with Debian's headless Chromium (a helper for the tests, not a test):
a PNG screenshot and the DOM after the page's scripts ran.

Every run gets a fresh profile directory and networking/background features turned off, so a
page that tried to load anything from outside would simply show it missing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
INSTALL_LOG = Path("/tmp/chromium-install.log")
TIMEOUT = 60
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,1000")


class ChromiumError(RuntimeError):
    pass


def find_chromium(wait: float = 0) -> Path:
    """The chromium binary; waits up to `wait` seconds (e.g. while apt-get installs it)."""
    deadline = time.monotonic() + wait
    while True:
        if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
            return CHROMIUM
        if time.monotonic() >= deadline:
            hint = ""
            if INSTALL_LOG.is_file():
                tail = INSTALL_LOG.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
                hint = f"; last lines of {INSTALL_LOG}:\n  " + "\n  ".join(tail)
            raise ChromiumError(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium){hint}")
        time.sleep(2)


def _run(args: list[str]) -> subprocess.CompletedProcess:
    """Run chromium in its own process group; on timeout kill that group (its helpers included)."""
    profile = tempfile.mkdtemp(prefix="etcdops-chromium-")
    argv = [str(find_chromium()), *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                env=dict(os.environ, HOME=profile))
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise ChromiumError(f"chromium did not finish within {TIMEOUT}s: {' '.join(argv)}\n{_tail(err)}") from None
        return subprocess.CompletedProcess(argv, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _tail(err) -> str:
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else err or ""
    return "\n".join(text.splitlines()[-20:])


def screenshot(html_path: Path, png_path: Path) -> None:
    url = Path(html_path).resolve().as_uri()
    png_path = Path(png_path).resolve()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    if png_path.exists():
        png_path.unlink()
    proc = _run([f"--screenshot={png_path}", url])
    if proc.returncode != 0 or not png_path.is_file() or png_path.stat().st_size == 0:
        raise ChromiumError(f"chromium --screenshot failed (rc {proc.returncode}) for {url}\n{_tail(proc.stderr)}")


def dump_dom(html_path: Path) -> str:
    url = Path(html_path).resolve().as_uri()
    proc = _run(["--dump-dom", url])
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise ChromiumError(f"chromium --dump-dom failed (rc {proc.returncode}) for {url}\n{_tail(proc.stderr)}")
    return proc.stdout


def render(html_path: Path, png_path: Path) -> str:
    """Screenshot html_path into png_path (1400x1000) and return the DOM after its scripts ran."""
    screenshot(html_path, png_path)
    return dump_dom(html_path)
