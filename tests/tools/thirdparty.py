"""Third-party collections for tests and benchmarks only (Galaxy is unreachable here): the
`ansible` wheel on PyPI bundles them; one is unpacked into a throwaway collections path."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "bench-cache"
WHEEL = "ansible==12.3.0"  # kubernetes.core 6.2.0, awx.awx 24.6.1, ansible.posix


def from_ansible_wheel(name: str, target: Path | None = None) -> Path:
    """The collections path (the directory above ansible_collections/) holding `name` (e.g. awx.awx)."""
    target = target or CACHE / "collections"
    namespace, collection = name.split(".")
    prefix = f"ansible_collections/{namespace}/{collection}/"
    if not (target / prefix / "MANIFEST.json").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        wheels = sorted(CACHE.glob("ansible-12.*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", WHEEL, "-d", str(CACHE)],
                           check=True)
            wheels = sorted(CACHE.glob("ansible-12.*.whl"))
        with zipfile.ZipFile(wheels[-1]) as whl:
            for member in whl.namelist():
                if member.startswith(prefix):
                    whl.extract(member, target)
    return target


if __name__ == "__main__":
    # python tests/tools/thirdparty.py awx.awx [...]: unpack them, print the collections path
    for wanted in sys.argv[1:]:
        print(from_ansible_wheel(wanted))
