#!/usr/bin/env bash
# Build etcdops-node (virtual-kubelet + podman provider) from this Go module into OUTPUT_DIR.
#
# Usage: build.sh [OUTPUT_DIR]   (default: <repo>/build/bin)
#
# Static builds; skipped while the module's sources, the Go version and the flags are unchanged
# (../lib.sh build_module, hash in OUTPUT_DIR/.etcdops-node.srchash). FORCE=1 rebuilds anyway.
set -euo pipefail

mod_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091  # lib.sh, beside this script
source "${mod_dir}/../lib.sh"
go_env
build_module "${mod_dir}" "$(abs_dir "${1:-${mod_dir}/../../../../build/bin}")" node "etcdops-node:."
