#!/usr/bin/env bash
# Build the etcd stand-ins of the test fleet from this Go module into OUTPUT_DIR:
#   etcd-wrapper  (./cmd/etcd-wrapper, embeds etcd server v3.5.35)
#   etcdbrctl     (./cmd/etcdbrctl, stand-in for etcd-backup-restore)
#   etcdctl       (go.etcd.io/etcd/etcdctl/v3 v3.5.35, pinned in tools.go/go.mod)
#   etcdutl       (go.etcd.io/etcd/etcdutl/v3 v3.5.35)
#
# Usage: build.sh [OUTPUT_DIR]   (default: <repo>/build/bin)
#
# Static builds; skipped while the module's sources, the Go version and the flags are unchanged
# (../lib.sh build_module, hash in OUTPUT_DIR/.etcdops-etcd.srchash). FORCE=1 rebuilds anyway.
set -euo pipefail

mod_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091  # lib.sh, beside this script
source "${mod_dir}/../lib.sh"
go_env
build_module "${mod_dir}" "$(abs_dir "${1:-${mod_dir}/../../../../build/bin}")" etcd \
  "etcd-wrapper:./cmd/etcd-wrapper" "etcdbrctl:./cmd/etcdbrctl" \
  "etcdctl:go.etcd.io/etcd/etcdctl/v3" "etcdutl:go.etcd.io/etcd/etcdutl/v3"
