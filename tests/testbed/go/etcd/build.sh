#!/usr/bin/env bash
# Build the etcd stand-ins of the test fleet from this Go module into OUTPUT_DIR:
#   etcd-wrapper  (./cmd/etcd-wrapper, embeds etcd server v3.5.35)
#   etcdbrctl     (./cmd/etcdbrctl, stand-in for etcd-backup-restore)
#   etcdctl       (go.etcd.io/etcd/etcdctl/v3 v3.5.35, pinned in tools.go/go.mod)
#   etcdutl       (go.etcd.io/etcd/etcdutl/v3 v3.5.35)
#
# Usage: build.sh [OUTPUT_DIR]   (default: <repo>/build/bin)
#
# Static builds (CGO_ENABLED=0, -trimpath, -ldflags "-s -w"). The build is skipped
# when all four binaries exist and the hash of the module sources (go.mod, go.sum,
# *.go), the Go version and the flags equals the one stored next to them in
# OUTPUT_DIR/.etcdops-etcd.srchash. Set FORCE=1 to rebuild anyway.
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

targets=(
  "etcd-wrapper:./cmd/etcd-wrapper"
  "etcdbrctl:./cmd/etcdbrctl"
  "etcdctl:go.etcd.io/etcd/etcdctl/v3"
  "etcdutl:go.etcd.io/etcd/etcdutl/v3"
)

hash_file="${out_dir}/.etcdops-etcd.srchash"
src_hash="$(
  cd "${mod_dir}"
  {
    go version
    echo "ldflags=${ldflags} CGO_ENABLED=${CGO_ENABLED} GOFLAGS=${GOFLAGS} targets=${targets[*]}"
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
)"

all_present=1
for target in "${targets[@]}"; do
  [[ -x "${out_dir}/${target%%:*}" ]] || all_present=0
done
if [[ "${FORCE:-0}" != 1 && "${all_present}" == 1 && -f "${hash_file}" \
      && "$(cat "${hash_file}")" == "${src_hash}" ]]; then
  echo "etcd-wrapper, etcdbrctl, etcdctl and etcdutl up to date in ${out_dir}, skipping"
  exit 0
fi

start=${SECONDS}
cd "${mod_dir}"
for target in "${targets[@]}"; do
  bin="${target%%:*}"
  pkg="${target#*:}"
  echo "building ${bin} -> ${out_dir}/${bin}"
  go build -trimpath -ldflags "${ldflags}" -o "${out_dir}/${bin}.tmp" "${pkg}"
  mv -f "${out_dir}/${bin}.tmp" "${out_dir}/${bin}"
done
echo "${src_hash}" > "${hash_file}"
echo "build.sh: built etcd-wrapper, etcdbrctl, etcdctl and etcdutl in $((SECONDS - start))s"
