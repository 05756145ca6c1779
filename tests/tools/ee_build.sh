#!/usr/bin/env bash
# Build the execution environment (extensions/ee/execution-environment.yml) from this checkout.
#
#   tests/tools/ee_build.sh create           collection tarball + `ansible-builder create`
#   tests/tools/ee_build.sh build            the same, then `podman build` of the context
#
# Output: build/ee/etcd_wrapper-ops-<version>.tar.gz (copied to build/ee/etcd_wrapper-ops.tar.gz,
# the name the definition picks up) and the build context in build/ee/context.
# Environment:
#   EE_BASE_IMAGE  base image for `build` (default: the definition's, from Docker Hub); the
#                  testbed's local one is localhost/etcdops/debian:bookworm
#   EE_TAG         image tag for `build` (default localhost/etcd_wrapper/ops-ee:dev)
#   EE_PIP_CA_BUNDLE   CA bundle pip inside the build must trust (default: $PIP_CERT, if set), for
#                  a TLS-intercepting proxy in front of PyPI; mounted for the RUN steps only, never
#                  part of the image
#   PODMAN_BUILD_ARGS  extra `podman build` arguments (word-split), e.g. "--no-cache"
# podman uses whatever CONTAINERS_CONF / CONTAINERS_STORAGE_CONF / CONTAINERS_REGISTRIES_CONF
# are set; for the testbed's podman: eval "$(PYTHONPATH=tests .venv/bin/python -m testbed infra env)"
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"
action=${1:-create}
out=build/ee
context=$out/context
definition=extensions/ee/execution-environment.yml

case "$action" in
  create | build) ;;
  *)
    echo "usage: $0 [create|build]" >&2
    exit 2
    ;;
esac

mkdir -p "$out"
rm -f "$out"/etcd_wrapper-ops-*.tar.gz "$out/etcd_wrapper-ops.tar.gz"
ansible-galaxy collection build --output-path "$out" --force
tarballs=("$out"/etcd_wrapper-ops-*.tar.gz)
cp "${tarballs[0]}" "$out/etcd_wrapper-ops.tar.gz"

rm -rf "$context"
ansible-builder create -f "$definition" -c "$context" --output-filename Containerfile
test -s "$context/_build/collections/etcd_wrapper-ops.tar.gz" || {
  echo "ee_build: the collection tarball is missing from $context/_build" >&2
  exit 1
}

if [ "$action" = build ]; then
  tag=${EE_TAG:-localhost/etcd_wrapper/ops-ee:dev}
  opts=()
  if [ -n "${EE_BASE_IMAGE:-}" ]; then
    opts+=(--build-arg "EE_BASE_IMAGE=$EE_BASE_IMAGE")
  fi
  ca=${EE_PIP_CA_BUNDLE-${PIP_CERT:-}}
  if [ -n "$ca" ]; then
    # pip reads /etc/xdg/pip/pip.conf: a bind mount seen by every RUN step, absent from the image
    rm -rf "$out/pip" && mkdir -p "$out/pip"
    cp "$ca" "$out/pip/ca.crt"
    printf '[global]\ncert = /etc/xdg/pip/ca.crt\n' >"$out/pip/pip.conf"
    opts+=(--volume "$repo/$out/pip:/etc/xdg/pip:ro")
  fi
  # host network: RUN steps reach the apt mirror and PyPI the way the host does
  # shellcheck disable=SC2086
  podman build --network host -f "$context/Containerfile" -t "$tag" "${opts[@]}" ${PODMAN_BUILD_ARGS:-} "$context"
  echo "built $tag"
fi
