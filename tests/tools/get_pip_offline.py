"""Offline stand-in for ansible-test's get-pip bootstrap script.

ansible-test bootstraps every venv it makes with a get-pip script downloaded from a host
this machine cannot reach, unless ~/.ansible/test/cache/get_pip_<version>.py exists.
`make ansible-test-cache` puts this file there, next to the pip wheel of that version
(downloaded from PyPI), and this installs pip from that wheel as get-pip would.
"""

import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = os.path.splitext(os.path.basename(__file__))[0].replace("get_pip_", "").replace("_", ".")
WHEELS = glob.glob(os.path.join(HERE, f"pip-{VERSION}-*.whl"))
if not WHEELS:
    sys.exit(f"pip {VERSION} wheel missing next to {__file__}: run 'make ansible-test-cache'")
sys.path.insert(0, WHEELS[0])

from pip._internal.cli.main import main  # noqa: E402  (import from the wheel just added)

ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel", "--no-pip")]
sys.exit(main(["install", "--upgrade", "--force-reinstall", *ARGS]))
