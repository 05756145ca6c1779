#!/usr/bin/env bash
# Build kube-apiserver and kubectl from the Go module proxy (no GitHub access
# needed), using the module in ./apiserver which pins k8s.io/kubernetes and
# replaces every k8s.io staging module with the matching v0.X.Y release.
#
# Usage: build.sh [OUTPUT_DIR]   (default: <repo>/build/bin)
#
# A binary is skipped when it already exists in OUTPUT_DIR and reports the
# expected version. Set FORCE=1 to rebuild anyway.
# Flags mirror upstream hack/lib/golang.sh for release builds:
#   CGO_ENABLED=0, -trimpath, -tags selinux,notest,grpcnotrace, -ldflags "-s -w"
set -euo pipefail

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
mod_dir="${script_dir}/apiserver"
# shellcheck disable=SC1091  # lib.sh, beside this script
source "${script_dir}/lib.sh"
out_dir="$(abs_dir "${1:-${script_dir}/../../../build/bin}")"
go_env

# The Kubernetes version comes from the go.mod require line.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ {print $2; exit}' "${mod_dir}/go.mod")"
if [[ -z "${k8s_version}" ]]; then
  echo "build.sh: cannot find k8s.io/kubernetes version in ${mod_dir}/go.mod" >&2
  exit 1
fi
ver="${k8s_version#v}"
major="${ver%%.*}"
minor="${ver#*.}"; minor="${minor%%.*}"
# Fixed build date (release time reported by the module proxy) keeps builds
# reproducible; override with BUILD_DATE.
build_date="${BUILD_DATE:-2026-09-23T17:07:00Z}"

ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${k8s_version}"
  ldflags+=" -X ${pkg}.gitMajor=${major}"
  ldflags+=" -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean"
  ldflags+=" -X ${pkg}.gitCommit="
  ldflags+=" -X ${pkg}.buildDate=${build_date}"
done

# has_version BINARY: does the existing binary report the expected version?
has_version() {
  local bin="${out_dir}/$1"
  [[ -x "${bin}" ]] || return 1
  case "$1" in
    kube-apiserver) [[ "$("${bin}" --version 2>/dev/null)" == "Kubernetes ${k8s_version}" ]] ;;
    # capture first: with pipefail, grep -q closing the pipe early fails the pipeline (SIGPIPE)
    kubectl) grep -qx "Client Version: ${k8s_version}" <<<"$("${bin}" version --client 2>/dev/null)" ;;
    *) return 1 ;;
  esac
}

start_all=${SECONDS}
for bin in kube-apiserver kubectl; do
  if [[ "${FORCE:-0}" != 1 ]] && has_version "${bin}"; then
    echo "${bin} ${k8s_version} already present in ${out_dir}, skipping"
    continue
  fi
  echo "building ${bin} ${k8s_version} -> ${out_dir}/${bin}"
  start=${SECONDS}
  (
    cd "${mod_dir}"
    go build -trimpath -tags selinux,notest,grpcnotrace \
      -ldflags "${ldflags}" -o "${out_dir}/${bin}.tmp" "./cmd/${bin}"
  )
  mv -f "${out_dir}/${bin}.tmp" "${out_dir}/${bin}"
  if ! has_version "${bin}"; then
    echo "build.sh: ${out_dir}/${bin} does not report ${k8s_version}" >&2
    exit 1
  fi
  echo "built ${bin} in $((SECONDS - start))s"
done
echo "build.sh: done in $((SECONDS - start_all))s"
