"""CPU seconds of one command's process tree, split by kind of process: the command itself (for
ansible-playbook: the controller), its forked workers, and each module (AnsiballZ_<name>).
Every process of the tree is read from /proc every 50 ms, and its last reading is kept. A process
that exits between two readings loses at most 50 ms. Zombies have no command line and show as ''.

    PATH=.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=build/collections .venv/bin/python benchmarks/cpu_split.py \
        .venv/bin/python .venv/bin/ansible-playbook -i INVENTORY playbooks/health_sweep.yml -e ...

Used for the README's split of the seed-shaped sweep's CPU (one run with all namespaces of the
fleet, one with `etcd_discover_namespaces` narrowed, side by side).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    children = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    children[int(fh.read().rsplit(")", 1)[1].split()[1])].append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def kind(pid: int, root: int, cmd: str) -> str:
    if pid == root:
        return "controller"
    if "AnsiballZ_" in cmd:
        return "AnsiballZ_" + cmd.split("AnsiballZ_", 1)[1].split(".py", 1)[0]
    return "worker" if "ansible-playbook" in cmd else cmd[:40]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last: dict[int, tuple[str, float]] = {}
    while proc.poll() is None:
        for pid in tree(proc.pid):
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", encoding="utf-8", errors="replace") as fh:
                    cmd = fh.read().replace("\0", " ")
                last[pid] = (kind(pid, proc.pid, cmd), (int(fields[11]) + int(fields[12])) / TICK)
            except (OSError, IndexError, ValueError):
                continue
        time.sleep(0.05)
    split = collections.Counter()
    for name, cpu in last.values():
        split[name] += cpu
    for name, cpu in split.most_common():
        print(f"{cpu:7.2f} s  {name or '(exited)'}")
    print(f"{sum(split.values()):7.2f} s  in all; wall {time.monotonic() - start:.1f} s; rc {proc.returncode}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
