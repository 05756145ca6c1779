#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need (podman and its helpers, the
# registry, etcd, debootstrap, htpasswd, shellcheck, Chromium for the HTML report test, Docker Engine
# for the engine TLS test, Prometheus for promtool and the Pushgateway for the report's push test),
# only those missing. Needs root.
set -euo pipefail

packages=(podman buildah skopeo uidmap fuse-overlayfs slirp4netns runc crun conmon netavark
          aardvark-dns iptables catatonit containernetworking-plugins golang-github-containers-common
          debootstrap docker-registry etcd-server etcd-client apache2-utils shellcheck openssl git
          chromium docker.io prometheus prometheus-pushgateway)
# installed for their binaries only (promtool, prometheus-pushgateway): the tests start their own on
# 127.0.0.1; the packaged daemons must neither start now nor at boot
binaries_only=(prometheus prometheus-pushgateway)

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

# A postinst starts its service through invoke-rc.d (sysvinit) or deb-systemd-invoke (systemd); both ask
# /usr/sbin/policy-rc.d first, and 101 means "action forbidden" (Debian's invoke-rc.d(8), README.policy-rc.d):
# the start is skipped and the postinst succeeds, with or without an init system. Ours is in place only while
# apt runs; one that was there before is put back.
policy=/usr/sbin/policy-rc.d
saved=""
if [[ -e $policy ]]; then
  saved=$(mktemp /usr/sbin/.policy-rc.d.saved.XXXXXX)
  cp -p "$policy" "$saved"
fi
restore_policy() {
  if [[ -n $saved ]]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# written by %s while apt-get runs: start no service\nexit 101\n' "$0" > "$policy"
chmod 755 "$policy"

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# the postinsts also enable the units for the next boot: not for what is here for its binaries only
for pkg in "${binaries_only[@]}"; do
  [[ " ${missing[*]} " == *" $pkg "* ]] || continue
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now --quiet "$pkg.service" || true
  elif [[ -x /etc/init.d/$pkg ]]; then
    update-rc.d "$pkg" disable >/dev/null 2>&1 || true
  fi
done
