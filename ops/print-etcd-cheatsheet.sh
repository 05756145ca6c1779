#!/usr/bin/env bash
# print-etcd-cheatsheet: find the etcd process this debug container shares a PID namespace
# with (kubectl debug --target=etcd), locate its client TLS material through
# /proc/<pid>/root/..., and print ready-to-paste etcdctl flags, an env file and common
# commands.
#
# Layouts detected (first match wins):
#   druid-v0.23  /var/etcd/ssl/ca/{ca.crt|bundle.crt}, /var/etcd/ssl/client/tls.{crt,key}
#   druid-legacy /var/etcd/ssl/client/ca/{bundle.crt|ca.crt}, /var/etcd/ssl/client/client/tls.{crt,key}
#
# Usage: print-etcd-cheatsheet [--pid PID] [--env-only] [--env-file PATH]
set -uo pipefail

pid="${ETCD_PID:-}"
env_only=false
env_file="${ETCDCTL_ENV_FILE:-/work/etcdctl.env}"

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --pid) pid="${2:-}"; shift 2 ;;
    --env-only) env_only=true; shift ;;
    --env-file) env_file="${2:-}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

find_etcd_pid() {
  local name candidate
  for name in etcd-wrapper etcd; do
    for candidate in $(pgrep -x "$name" 2>/dev/null); do
      [[ "$candidate" != "$$" ]] && { echo "$candidate"; return 0; }
    done
  done
  return 1
}

if [[ -z "$pid" ]]; then
  if ! pid=$(find_etcd_pid); then
    echo "error: no etcd or etcd-wrapper process visible; attach this container with --target=etcd (shared PID namespace)" >&2
    exit 1
  fi
elif [[ ! -d "/proc/$pid" ]]; then
  echo "error: no process with PID $pid" >&2
  exit 1
fi

# The target's filesystem as this container sees it. Reading another process's root needs
# the same UID or CAP_SYS_PTRACE; when that is denied, fall back to this container's own
# filesystem (where the target's volumes may be mounted at the same paths).
root="/proc/$pid/root"
root_note="through the etcd process's root ($root)"
if ! ls "$root/" >/dev/null 2>&1; then
  echo "warning: cannot read $root (needs the same UID as etcd or CAP_SYS_PTRACE, e.g. kubectl debug --profile=general); using this container's own mounts" >&2
  root=""
  root_note="from this container's own mounts (/proc/$pid/root is not readable)"
fi

first_file() {
  local f
  for f in "$@"; do
    [[ -f "$f" ]] && { echo "$f"; return 0; }
  done
  return 1
}

layout="none"
cacert="" cert="" key=""
if [[ -d "$root/var/etcd/ssl/ca" ]] && cacert=$(first_file "$root/var/etcd/ssl/ca/ca.crt" "$root/var/etcd/ssl/ca/bundle.crt") \
   && [[ -f "$root/var/etcd/ssl/client/tls.crt" ]]; then
  layout="druid-v0.23"
  cert="$root/var/etcd/ssl/client/tls.crt"
  key="$root/var/etcd/ssl/client/tls.key"
elif cacert=$(first_file "$root/var/etcd/ssl/client/ca/bundle.crt" "$root/var/etcd/ssl/client/ca/ca.crt") \
   && [[ -f "$root/var/etcd/ssl/client/client/tls.crt" ]]; then
  layout="druid-legacy"
  cert="$root/var/etcd/ssl/client/client/tls.crt"
  key="$root/var/etcd/ssl/client/client/tls.key"
else
  cacert=""
fi

# etcd's config file: from its command line, else the usual places.
config=""
cmdline=()
mapfile -d '' cmdline 2>/dev/null < "/proc/$pid/cmdline" || cmdline=()
for i in "${!cmdline[@]}"; do
  case "${cmdline[$i]}" in
    --config-file=*) config="${cmdline[$i]#--config-file=}" ;;
    --config-file) config="${cmdline[$((i + 1))]:-}" ;;
  esac
done
if [[ -n "$config" ]]; then
  config="$root$config"
else
  config=$(first_file "$root/var/etcd/config/etcd.conf.yaml" "$root/home/nonroot/etcd.conf.yaml" "$root/etc/etcd/etcd.conf.yaml") || config=""
fi

scheme="http"
[[ "$layout" != "none" ]] && scheme="https"
endpoint=""
# etcd-wrapper (etcd-druid >= v0.23) says it: --etcd-server-name=<etcd>-local, --etcd-client-port
server_name="" client_port=""
for i in "${!cmdline[@]}"; do
  case "${cmdline[$i]}" in
    --etcd-server-name=*) server_name="${cmdline[$i]#--etcd-server-name=}" ;;
    --etcd-client-port=*) client_port="${cmdline[$i]#--etcd-client-port=}" ;;
  esac
done
if [[ -n "$server_name" ]]; then
  endpoint="$scheme://$server_name:${client_port:-2379}"
elif [[ -n "$config" && -r "$config" ]]; then
  # advertise-client-urls: first URL, whatever the quoting
  endpoint=$(sed -n 's/^advertise-client-urls:[[:space:]]*//p' "$config" | tr -d "\"'[]" | cut -d, -f1 | tr -d '[:space:]')
fi
if [[ -z "$endpoint" ]]; then
  alias_host="${HOSTNAME%-*}-local"
  if getent hosts "$alias_host" >/dev/null 2>&1; then
    endpoint="$scheme://$alias_host:2379"
  else
    endpoint="$scheme://127.0.0.1:2379"
  fi
fi

env_lines() {
  echo "ETCDCTL_API=3"
  echo "ETCDCTL_ENDPOINTS=$endpoint"
  if [[ "$layout" != "none" ]]; then
    echo "ETCDCTL_CACERT=$cacert"
    echo "ETCDCTL_CERT=$cert"
    echo "ETCDCTL_KEY=$key"
  fi
}

env_written=""
if env_lines > "$env_file" 2>/dev/null; then
  env_written="$env_file"
fi

if $env_only; then
  env_lines
  exit 0
fi

flags="--endpoints=$endpoint"
if [[ "$layout" != "none" ]]; then
  flags="--cacert=$cacert \\
  --cert=$cert \\
  --key=$key \\
  --endpoints=$endpoint"
fi

backup_pid=$(pgrep -x etcdbrctl 2>/dev/null | head -n1)
backup_note="not found in this PID namespace"
[[ -n "$backup_pid" ]] && backup_note="PID $backup_pid"
# etcd-wrapper's own args (etcd-druid builder.go): where backup-restore listens and its CA
br_hostport="" br_ca=""
for i in "${!cmdline[@]}"; do
  case "${cmdline[$i]}" in
    --backup-restore-host-port=*) br_hostport="${cmdline[$i]#--backup-restore-host-port=}" ;;
    --backup-restore-ca-cert-bundle-path=*) br_ca="${cmdline[$i]#--backup-restore-ca-cert-bundle-path=}" ;;
  esac
done
if [[ -n "$br_hostport" ]]; then
  if [[ -n "$br_ca" ]]; then
    br_check="curl -sS --cacert $root$br_ca https://$br_hostport/healthz   # 200 only beside the etcd leader"
  else
    br_check="curl -sS http://$br_hostport/healthz   # 200 only beside the etcd leader"
  fi
else
  br_check="curl -sk https://127.0.0.1:8080/healthz || curl -s http://127.0.0.1:8080/healthz"
fi

cat <<EOF
 📌 etcd process
  --------------------------------------------------
  PID $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-120))
  files read $root_note
  backup-restore: $backup_note

 📌 TLS layout: $layout
  --------------------------------------------------
EOF
if [[ "$layout" == "none" ]]; then
  echo "  no client TLS material found under $root/var/etcd/ssl (plain http assumed)"
else
  echo "  --cacert=$cacert"
  echo "  --cert=$cert"
  echo "  --key=$key"
fi
cat <<EOF

 📌 etcd configuration: ${config:-not found}
 📌 etcd data directory: $root/var/etcd/data

 📌 Environment (${env_written:-not written: $env_file is not writable})
  --------------------------------------------------
$(env_lines | sed 's/^/  export /')

  After 'set -a; source ${env_written:-<env file>}; set +a' plain 'etcdctl <command>' works.

 📌 Read-only checks
  --------------------------------------------------
  etcdctl endpoint status --cluster -w table \\
  $flags

  etcdctl endpoint health --cluster -w table \\
  $flags

  etcdctl member list -w table \\
  $flags

  etcdctl alarm list \\
  $flags

  etcdctl get "" --prefix --keys-only --limit=50 \\
  $flags

 📌 Maintenance (these change etcd: be sure)
  --------------------------------------------------
  etcdctl alarm disarm \\
  $flags

  etcdctl defrag \\
  $flags

  etcdctl move-leader <new-leader-member-id> \\
  $flags

  etcdctl member update <member-id> --peer-urls=<new-peer-url> \\
  $flags
EOF
if [[ -n "$backup_pid" ]]; then
  cat <<EOF

 📌 backup-restore health
  --------------------------------------------------
  $br_check
EOF
fi
