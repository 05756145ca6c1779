#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need (podman and its helpers, the
# registry, etcd, debootstrap, htpasswd, shellcheck, Chromium for the HTML report test, Docker Engine
# for the engine TLS test), only those missing. Needs root.
set -euo pipefail

packages=(podman buildah skopeo uidmap fuse-overlayfs slirp4netns runc crun conmon netavark
          aardvark-dns iptables catatonit containernetworking-plugins golang-github-containers-common
          debootstrap docker-registry etcd-server etcd-client apache2-utils shellcheck openssl git
          chromium docker.io)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "missing Debian packages: ${missing[*]} (run this script as root)" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
