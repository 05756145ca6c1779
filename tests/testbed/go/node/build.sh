#!/usr/bin/env bash
# Build etcdops-node (virtual-kubelet + podman provider) and
# backup-restore-stub from this Go module into OUTPUT_DIR.
#
# Usage: build.sh [OUTPUT_DIR]   (default: <repo>/build/bin)
#
# Static builds (CGO_ENABLED=0, -trimpath). The build is skipped when both
# binaries exist and the hash of the module sources (go.mod, go.sum, *.go),
# the Go version and the flags equals the one stored next to them in
# OUTPUT_DIR/.etcdops-node.srchash. Set FORCE=1 to rebuild anyway.
set -euo pipefail

mod_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
out_dir="${1:-${mod_dir}/../../../../build/bin}"
mkdir -p "${out_dir}"
out_dir="$(cd -- "${out_dir}" && pwd)"

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="/usr/local/go/bin:${PATH}"
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0
ldflags="-s -w"

hash_file="${out_dir}/.etcdops-node.srchash"
src_hash="$(
  cd "${mod_dir}"
  {
    go version
    echo "ldflags=${ldflags} CGO_ENABLED=${CGO_ENABLED} GOFLAGS=${GOFLAGS}"
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
)"

if [[ "${FORCE:-0}" != 1 && -x "${out_dir}/etcdops-node" && -x "${out_dir}/backup-restore-stub" \
      && -f "${hash_file}" && "$(cat "${hash_file}")" == "${src_hash}" ]]; then
  echo "etcdops-node and backup-restore-stub up to date in ${out_dir}, skipping"
  exit 0
fi

start=${SECONDS}
cd "${mod_dir}"
for target in "etcdops-node:." "backup-restore-stub:./cmd/backup-restore-stub"; do
  bin="${target%%:*}"
  pkg="${target#*:}"
  echo "building ${bin} -> ${out_dir}/${bin}"
  go build -trimpath -ldflags "${ldflags}" -o "${out_dir}/${bin}.tmp" "${pkg}"
  mv -f "${out_dir}/${bin}.tmp" "${out_dir}/${bin}"
done
echo "${src_hash}" > "${hash_file}"
echo "build.sh: built etcdops-node and backup-restore-stub in $((SECONDS - start))s"
