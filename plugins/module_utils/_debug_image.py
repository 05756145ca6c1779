# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: the debug image pipeline behind
etcd_wrapper.ops.etcd_debug_image -- build if missing, push if the registry differs,
load into kind nodes that lack it."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._docker import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    EngineError,
    docker_client,
    engine_error,
    tls_problem,
)
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._registry import (
    INDEX_TYPES,
    ImageReference,
    RegistryClient,
    RegistryError,
    local_matches,
    pick_platform,
)
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import OpsError, UsageError, first_line
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._runner import run_module as _runner_run
from ansible_collections.etcd_wrapper.ops.plugins.module_utils._version import COLLECTION_VERSION

try:
    from docker.errors import APIError, DockerException, ImageNotFound
except ImportError:  # reported by the module through missing_required_lib
    class DockerException(Exception):
        pass

    class APIError(DockerException):
        pass

    class ImageNotFound(APIError):
        pass

KIND_LABEL = "io.x-k8s.kind.cluster"
CTR_IMPORT = ["ctr", "--namespace=k8s.io", "images", "import", "--all-platforms", "--digests",
              "--snapshotter=overlayfs", "-"]
TAIL_LINES = 30


class PipelineError(OpsError):
    """One step of the build / push / kind-load pipeline failed."""


# ---------------------------------------------------------------- pure helpers


def build_error(events_tail: list[str], error: str) -> PipelineError:
    """A build failure naming the failing step, with the output's last lines."""
    step = None
    for line in events_tail:
        text = line.strip()
        marker = text.find("STEP ")
        if text.startswith("Step ") or marker != -1:
            step = text[marker:] if marker != -1 else text
    tail = [line.rstrip() for line in events_tail if line.strip()][-TAIL_LINES:]
    # the step is named already; its digest lines ('--> abc') say nothing
    last = [line for line in tail if not line.startswith("-->") and "STEP " not in line and not line.startswith("Step ")][-3:]
    where = f" at {step}" if step else ""
    msg = f"build failed{where}: {first_line(error)}"
    if last:
        msg += " | output tail: " + " | ".join(last)
    return PipelineError(msg, build_output_tail=tail)


def push_error(event: dict) -> str | None:
    """The error text of a push/pull stream event, if it is one (the SDK never raises)."""
    detail = event.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return detail["message"]
    if event.get("error"):
        return str(event["error"])
    return None


def error_tail(text: str, parts: int = 2) -> str:
    """The end of a nested engine error ('...: exists in r: unauthorized: authentication required'
    -> 'unauthorized: authentication required'), where the cause is."""
    segments = [seg for seg in first_line(text).split(": ") if seg]
    return ": ".join(segments[-parts:]) if segments else ""


def describe_push_error(registry: str, text: str) -> str:
    low = text.lower()
    cause = error_tail(text)
    if "unauthorized" in low or "authentication required" in low or "denied" in low or "forbidden" in low:
        return f"push to {registry} refused: authentication failed or access denied ({cause})"
    if "connection refused" in low or "no such host" in low or "i/o timeout" in low or "pinging container registry" in low:
        return f"push failed: registry {registry} is unreachable ({cause})"
    return f"push to {registry} refused: {cause}"


def image_summary(image) -> dict:
    attrs = image.attrs or {}
    return {
        "id": image.id,
        "tags": list(image.tags or []),
        "repo_digests": list(attrs.get("RepoDigests") or []),
    }


def demux(buffer: bytes) -> tuple[bytes, bytes]:
    """Split a Docker exec stream (8-byte frame headers, tty off) into stdout and stderr."""
    out, err = [], []
    pos = 0
    while pos + 8 <= len(buffer):
        stream, size = struct.unpack(">BxxxL", buffer[pos:pos + 8])
        chunk = buffer[pos + 8:pos + 8 + size]
        (err if stream == 2 else out).append(chunk)
        pos += 8 + size
    return b"".join(out), b"".join(err)


def parse_ctr_ls(text: str, ref: str) -> str | None:
    """The digest column of `ctr images ls` for exactly ref (REF TYPE DIGEST SIZE ...)."""
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3 and cols[0] == ref:
            return cols[2]
    return None


# ---------------------------------------------------------------- the pipeline


class DebugImagePipeline:
    def __init__(self, client, params: dict, check_mode: bool = False):
        self.client = client
        self.params = params
        self.check_mode = check_mode
        self.ref = ImageReference(params["name"], params["tag"] or COLLECTION_VERSION)
        self.progress: list[str] = []
        self.result = {
            "changed": False, "built": False, "pushed": False, "loaded_nodes": [],
            "skipped_nodes": [], "digest": None, "image": None, "ref": self.ref.ref,
        }

    def note(self, line: str) -> None:
        self.progress.append(line)

    # -- image ------------------------------------------------------------

    def local_image(self):
        try:
            return self.client.images.get(self.ref.ref)
        except ImageNotFound:
            return None
        except APIError as exc:
            raise PipelineError(f"cannot inspect image {self.ref.ref}: {first_line(exc.explanation or exc)}") from None

    def ensure_image(self):
        image = self.local_image()
        build = self.params.get("build") or {}
        if self.params["source"] == "local":
            if image is None:
                raise PipelineError(f"image {self.ref.ref} is not present on the engine and source=local does not build it")
            self.note(f"image {self.ref.ref} present ({image.id[:19]})")
            return image
        if image is not None and not self.params["force_build"]:
            self.note(f"image {self.ref.ref} present ({image.id[:19]}): not building")
            return image
        context = build.get("context")
        if not context:
            raise PipelineError("build.context is required (the action plugin fills it with the collection root when it runs locally)")
        dockerfile = build.get("dockerfile") or "ops/Dockerfile"
        if not os.path.isdir(context):
            raise PipelineError(f"build context directory {context} does not exist")
        dockerfile_path = dockerfile if os.path.isabs(dockerfile) else os.path.join(context, dockerfile)
        if not os.path.isfile(dockerfile_path):
            raise PipelineError(f"Dockerfile {dockerfile_path} does not exist")
        reason = "force_build" if image is not None else "tag missing"
        if self.check_mode:
            self.note(f"would build {self.ref.ref} from {dockerfile_path} ({reason})")
            self.result["built"] = True
            self.result["changed"] = True
            return None
        self.note(f"building {self.ref.ref} from {dockerfile_path} ({reason})")
        image = self._build(context, dockerfile_path)
        self.result["built"] = True
        self.result["changed"] = True
        return image

    def _build(self, context: str, dockerfile_path: str):
        build = self.params.get("build") or {}
        kwargs = dict(
            path=context,
            dockerfile=os.path.relpath(dockerfile_path, context),
            tag=self.ref.ref,
            buildargs={k: str(v) for k, v in (build.get("args") or {}).items()},
            pull=bool(build.get("pull")),
            nocache=bool(build.get("nocache")),
            rm=True,
            forcerm=True,
            decode=True,
            timeout=self.params["timeout"],
        )
        if build.get("network"):
            kwargs["network_mode"] = build["network"]
        tail: list[str] = []
        image_id = None
        try:
            for event in self.client.api.build(**kwargs):
                if "stream" in event:
                    for line in str(event["stream"]).splitlines():
                        if line.strip():
                            tail.append(line)
                            if "STEP " in line or line.startswith("Step "):
                                self.note("build: " + line.strip())
                    del tail[:-TAIL_LINES]
                error = push_error(event)
                if error:
                    raise build_error(tail, error)
                aux = event.get("aux") or {}
                if aux.get("ID"):
                    image_id = aux["ID"]
        except DockerException as exc:
            raise build_error(tail, getattr(exc, "explanation", None) or exc) from None
        except (socket.timeout, OSError) as exc:
            if tls_problem(str(exc), {}):  # a new connection to the engine failed TLS
                raise engine_error(exc, self.params) from None
            raise build_error(tail, f"engine stopped answering ({exc}); timeout={self.params['timeout']}s") from None
        image = self.local_image()
        if image is None:
            raise build_error(tail, f"the engine reported success but {self.ref.ref} is missing (id {image_id})")
        self.note(f"built {image.id[:19]}")
        return image

    # -- push -------------------------------------------------------------

    def registry_client(self) -> RegistryClient:
        auth = self.params.get("registry_auth") or {}
        return RegistryClient(self.ref.registry, auth.get("username"), auth.get("password"),
                              timeout=min(self.params["timeout"], 60))

    def ensure_pushed(self, image) -> None:
        registry = self.registry_client()
        try:
            manifest, digest = registry.manifest(self.ref.repository, self.ref.tag)
            if manifest is not None and manifest.get("mediaType") in INDEX_TYPES and image is not None:
                child = pick_platform(manifest, image.attrs.get("Os", "linux"), image.attrs.get("Architecture", "amd64"))
                if child:
                    manifest, _child_digest = registry.manifest(self.ref.repository, child)
        except RegistryError as exc:
            raise PipelineError(str(exc)) from None
        if manifest is not None and image is not None and local_matches(
                manifest, digest, image.id, image.attrs.get("RepoDigests") or []):
            self.result["digest"] = digest
            self.note(f"registry already has {self.ref.ref} ({digest}): not pushing")
            return
        state = "has another image" if manifest is not None else "does not have it"
        if self.check_mode:
            self.note(f"would push {self.ref.ref} (registry {state})")
            self.result["pushed"] = True
            self.result["changed"] = True
            self.result["digest"] = digest
            return
        self.note(f"pushing {self.ref.ref} (registry {state})")
        self._push()
        try:
            _manifest, new_digest = registry.manifest(self.ref.repository, self.ref.tag)
        except RegistryError as exc:
            raise PipelineError(f"pushed, but reading it back failed: {exc}") from None
        self.result["digest"] = new_digest
        self.result["pushed"] = True
        self.result["changed"] = True

    def _push(self) -> None:
        auth = self.params.get("registry_auth") or {}
        auth_config = None
        if auth.get("username") is not None:
            auth_config = {"username": auth["username"], "password": auth.get("password") or ""}
        repo = self.ref.name
        try:
            for event in self.client.api.push(repo, tag=self.ref.tag, stream=True, decode=True, auth_config=auth_config):
                error = push_error(event)
                if error:
                    raise PipelineError(describe_push_error(self.ref.registry, error))
                status = event.get("status")
                if status and (event.get("id") is None or status in ("Pushed", "Layer already exists")):
                    self.note("push: " + (f"{event['id']}: " if event.get("id") else "") + status)
        except APIError as exc:
            raise PipelineError(describe_push_error(self.ref.registry, exc.explanation or str(exc))) from None
        except (socket.timeout, OSError) as exc:
            if tls_problem(str(exc), {}):
                raise engine_error(exc, self.params) from None
            raise PipelineError(f"push of {self.ref.ref} timed out or the engine stopped answering: {exc}") from None

    # -- kind load ----------------------------------------------------------

    def kind_nodes(self) -> list:
        kind = self.params["kind_load"]
        cluster = kind.get("cluster_name") or "kind"
        try:
            nodes = self.client.containers.list(filters={"label": f"{KIND_LABEL}={cluster}"})
        except APIError as exc:
            raise PipelineError(f"cannot list kind node containers: {first_line(exc.explanation or exc)}") from None
        if not nodes:
            raise PipelineError(f"no kind nodes found for cluster '{cluster}' (no running container labelled {KIND_LABEL}={cluster})")
        wanted = kind.get("nodes")
        if wanted:
            names = {n.name for n in nodes}
            missing = sorted(set(wanted) - names)
            if missing:
                raise PipelineError(f"kind cluster '{cluster}' has no node(s) {', '.join(missing)} (nodes: {', '.join(sorted(names))})")
            nodes = [n for n in nodes if n.name in wanted]
        return sorted(nodes, key=lambda n: n.name)

    def _exec(self, node, argv: list[str]) -> tuple[int, str, str]:
        try:
            result = node.exec_run(argv, demux=True)
        except APIError as exc:
            raise PipelineError(f"exec in kind node {node.name} failed: {first_line(exc.explanation or exc)}") from None
        out, err = result.output if isinstance(result.output, tuple) else (result.output, b"")
        return result.exit_code, to_native(out or b""), to_native(err or b"")

    def node_has_image(self, node, image) -> bool:
        ref = self.ref.normalized
        rc, out, err = self._exec(node, ["ctr", "--namespace=k8s.io", "images", "ls", f"name=={ref}"])
        if rc != 0:
            raise PipelineError(f"'ctr images ls' failed in kind node {node.name} (rc {rc}): {first_line(err or out)}")
        digest = parse_ctr_ls(out, ref)
        if not digest or image is None:
            return False
        rc, out, err = self._exec(node, ["ctr", "--namespace=k8s.io", "content", "get", digest])
        if rc != 0:
            return False
        try:
            manifest = json.loads(out)
        except ValueError:
            return False
        return (manifest.get("config") or {}).get("digest") == image.id

    def ensure_loaded(self, image) -> None:
        nodes = self.kind_nodes()
        todo = []
        for node in nodes:
            if image is not None and self.node_has_image(node, image):
                self.result["skipped_nodes"].append(node.name)
                self.note(f"kind node {node.name} already has {self.ref.normalized}")
            else:
                todo.append(node)
        if not todo:
            return
        if self.check_mode:
            self.result["loaded_nodes"] = [n.name for n in todo]
            self.result["changed"] = True
            self.note("would load into " + ", ".join(n.name for n in todo))
            return
        for node in todo:
            self.note(f"loading {self.ref.ref} into kind node {node.name}")
            self._import(node, image)
            self.result["loaded_nodes"].append(node.name)
            self.result["changed"] = True

    def _import(self, node, image) -> None:
        """Stream `docker save` into `ctr images import -` in the node (what kind load does)."""
        api = self.client.api
        try:
            exec_id = api.exec_create(node.id, CTR_IMPORT, stdin=True, stdout=True, stderr=True)["Id"]
            sock = api.exec_start(exec_id, socket=True)
        except APIError as exc:
            raise PipelineError(f"cannot start the import in kind node {node.name}: {first_line(exc.explanation or exc)}") from None
        raw = getattr(sock, "_sock", sock)
        received = bytearray()

        def reader():
            while True:
                try:
                    chunk = raw.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                received.extend(chunk)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            for chunk in image.save(named=self.ref.ref):
                raw.sendall(chunk)
            raw.shutdown(socket.SHUT_WR)  # a full close would lose the exit code
        except (OSError, APIError) as exc:
            raise PipelineError(f"streaming the image into kind node {node.name} failed: {first_line(exc)}") from None
        thread.join(self.params["timeout"])
        try:
            sock.close()
        except OSError:
            pass
        out, err = demux(bytes(received))
        code = api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            text = to_native(err or out).strip().splitlines()
            raise PipelineError(f"'ctr images import' failed in kind node {node.name} (rc {code}): {text[-1] if text else 'no output'}")

    # -- all ----------------------------------------------------------------

    def run(self) -> dict:
        image = self.ensure_image()
        if self.params["push"]:
            self.ensure_pushed(image)
        if self.params.get("kind_load"):
            self.ensure_loaded(image)
        if image is not None:
            self.result["image"] = image_summary(image)
        self.result["progress"] = self.progress
        return self.result


def _run(module) -> dict:
    """Everything etcd_wrapper.ops.etcd_debug_image does; engine and step failures as OpsErrors."""
    pipeline = None
    try:
        client = docker_client(module.params)
        try:
            pipeline = DebugImagePipeline(client, module.params, check_mode=module.check_mode)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return pipeline.run()
    except PipelineError as exc:
        exc.details.setdefault("progress", pipeline.progress if pipeline else [])
        raise
    except DockerException as exc:
        raise EngineError(f"container engine error: {first_line(exc)}") from None
    except OSError as exc:
        if tls_problem(str(exc), {}):  # TLS failed on a later connection than docker_client()'s
            raise engine_error(exc, module.params) from None
        raise EngineError(f"container engine connection failed: {first_line(exc)}") from None


def run_module(module) -> None:
    """The Docker module's hand-off: the one runner (_runner.run_module)."""
    _runner_run(module, _run, ("docker", HAS_DOCKER, DOCKER_IMPORT_ERROR))
