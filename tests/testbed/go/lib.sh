# shellcheck shell=bash
# Sourced by the fleet's Go build scripts (build.sh, node/build.sh, etcd/build.sh): Go on PATH
# with reproducible static settings, and a module build skipped while its sources, the Go
# version and the flags are unchanged.

# go_env: Go from /usr/local/go when not on PATH; local toolchain, no VCS stamping, static.
go_env() {
  if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:${PATH}"
  fi
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
  export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
  export CGO_ENABLED=0
}

# abs_dir DIR: create DIR and print its absolute path.
abs_dir() {
  mkdir -p "$1"
  (cd -- "$1" && pwd)
}

# build_module MOD_DIR OUT_DIR NAME BIN:PKG...: build each PKG of the Go module in MOD_DIR into
# OUT_DIR/BIN (-trimpath, -ldflags "-s -w"), unless every BIN exists and the hash of the module's
# go.mod, go.sum and *.go, the Go version, the flags and the targets equals the one stored in
# OUT_DIR/.etcdops-NAME.srchash. FORCE=1 rebuilds anyway.
build_module() {
  local mod_dir=$1 out_dir=$2 name=$3
  shift 3
  local ldflags="-s -w" hash_file="${out_dir}/.etcdops-${name}.srchash" src_hash target bin all_present=1
  local start=${SECONDS} bins=()
  for target in "$@"; do
    bins+=("${target%%:*}")
    [[ -x "${out_dir}/${target%%:*}" ]] || all_present=0
  done
  src_hash="$(
    cd "${mod_dir}" || exit 1
    {
      go version
      echo "ldflags=${ldflags} CGO_ENABLED=${CGO_ENABLED} GOFLAGS=${GOFLAGS} targets=$*"
      find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
  )"
  if [[ "${FORCE:-0}" != 1 && "${all_present}" == 1 && -f "${hash_file}" \
        && "$(cat "${hash_file}")" == "${src_hash}" ]]; then
    echo "${bins[*]} up to date in ${out_dir}, skipping"
    return 0
  fi
  for target in "$@"; do
    bin="${target%%:*}"
    echo "building ${bin} -> ${out_dir}/${bin}"
    (cd "${mod_dir}" && go build -trimpath -ldflags "${ldflags}" -o "${out_dir}/${bin}.tmp" "${target#*:}")
    mv -f "${out_dir}/${bin}.tmp" "${out_dir}/${bin}"
  done
  echo "${src_hash}" > "${hash_file}"
  echo "built ${bins[*]} in $((SECONDS - start))s"
}
