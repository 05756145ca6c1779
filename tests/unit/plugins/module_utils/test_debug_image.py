# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure parts of the debug image pipeline, on recorded podman / ctr output."""

from __future__ import annotations

import json
import os
import struct

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._debug_image import (
    build_error,
    demux,
    describe_push_error,
    error_tail,
    parse_ctr_ls,
    push_error,
)
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._version import COLLECTION_VERSION

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return json.load(fh) if name.endswith(".json") else fh.read()


def stream_lines(events):
    return [line for ev in events if "stream" in ev for line in ev["stream"].splitlines()]


def test_collection_version_matches_galaxy():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as fh:
        versions = [line.split(":", 1)[1].strip() for line in fh if line.startswith("version:")]
    assert versions == [COLLECTION_VERSION]


def test_build_error_names_failing_step_and_tail():
    events = load("podman_build_failure.json")
    error = push_error(events[-1])
    assert error.startswith("building at STEP")
    exc = build_error(stream_lines(events), error)
    assert exc.msg.startswith("build failed at STEP 2/2: RUN echo about-to-fail")
    assert "exit status 1" in exc.msg
    assert "output tail: " in exc.msg and "about-to-fail | to-stderr" in exc.msg
    assert "\n" not in exc.msg
    assert exc.details["build_output_tail"][-2:] == ["about-to-fail", "to-stderr"]


def test_build_error_multistage_step_marker():
    events = load("podman_build_multistage.json")
    exc = build_error(stream_lines(events), "boom")
    assert exc.msg.startswith("build failed at STEP 2/3: COPY --from=etcd-source")
    # step lines and their digests ('--> abc') are not output worth repeating
    assert exc.msg == "build failed at STEP 2/3: COPY --from=etcd-source /usr/local/bin/ /src/: boom"
    assert exc.details["build_output_tail"][-1] == "--> ea5977d7af1"


def test_build_error_without_output():
    exc = build_error([], "Cannot locate specified Dockerfile: ops/Dockerfile\nmore")
    assert exc.msg == "build failed: Cannot locate specified Dockerfile: ops/Dockerfile"


def test_push_error_detects_only_errors():
    assert push_error({"status": "The push refers to repository [x]"}) is None
    assert push_error({"status": "Pushed", "id": "abc"}) is None
    assert push_error({"error": "plain"}) == "plain"


@pytest.mark.parametrize("fixture, registry, expected", [
    ("podman_push_unauthorized.json", "127.0.0.1:5001",
     "push to 127.0.0.1:5001 refused: authentication failed or access denied (unauthorized: authentication required)"),
    ("podman_push_unreachable.json", "127.0.0.1:5999",
     "push failed: registry 127.0.0.1:5999 is unreachable (connect: connection refused)"),
])
def test_recorded_push_errors(fixture, registry, expected):
    events = load(fixture)
    errors = [push_error(ev) for ev in events if push_error(ev)]
    assert len(errors) == 1
    assert describe_push_error(registry, errors[0]) == expected


def test_error_tail():
    assert error_tail("a: b: c: d") == "c: d"
    assert error_tail("single") == "single"
    assert error_tail("") == ""


def test_demux_splits_stdout_and_stderr():
    def frame(stream, data):
        return struct.pack(">BxxxL", stream, len(data)) + data
    raw = frame(1, b"unpacking ") + frame(2, b"warn\n") + frame(1, b"done\n")
    assert demux(raw) == (b"unpacking done\n", b"warn\n")
    assert demux(raw + b"\x01\x00") == (b"unpacking done\n", b"warn\n")  # truncated header ignored
    big = b"x" * (1 << 20)
    assert demux(frame(1, big)) == (big, b"")


def test_parse_ctr_ls_recorded():
    text = load("ctr_images_ls.txt")
    assert parse_ctr_ls(text, "127.0.0.1:5000/etcd-wrapper/etcd-debug:demo") == \
        "sha256:eaecc4148b3dbe1897b9e2ded1f6dd7979ff09aecf4b89f4c63c806b6cbd4f3a"
    assert parse_ctr_ls(text, "127.0.0.1:5000/etcd-wrapper/etcd-debug:other") is None
    assert parse_ctr_ls("REF TYPE DIGEST SIZE PLATFORMS LABELS\n", "x:1") is None
