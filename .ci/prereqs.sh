#!/usr/bin/env bash
# Brings this machine to the README's prerequisites and puts them on PATH.
# Sourced by .ci/run and by the README's two commands. The installing is done by
# install-prereqs.sh in its own bash, so a shell that sources this file keeps its
# own options (no inherited `set -e`); this file returns non-zero when that fails.
# install-prereqs.sh brings: Node >= 22.18 (and Node 22.18 itself, kept off PATH,
# for the packed client test); Debian's chromium, python3-grpcio, grpc-proto, tmux,
# protobuf-compiler, dbus-daemon, gnome-keyring, libsecret-tools and PostgreSQL 15,
# whose cluster it starts on 127.0.0.1:5432 with trust authentication for local TCP
# (or reloads when it already runs); and grpcurl, grpc_health_probe, ghz and
# livekit-server at the versions pinned in tools.env.
# shellcheck shell=bash
airlock_ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if bash "$airlock_ci_dir/install-prereqs.sh"; then
  # shellcheck source=tools.env
  source "$airlock_ci_dir/tools.env"
  # shellcheck source=paths.sh
  source "$airlock_ci_dir/paths.sh"
  if ! airlock_node_is_recent; then
    export PATH="$node_dir/bin:$PATH"
    export npm_config_nodedir="$node_dir"
  fi
  export PATH="$tools_root/bin:$PATH"
  # PostgreSQL, started by install-prereqs.sh: the replica, outage and at-rest tests connect here.
  export AIRLOCK_TEST_POSTGRES_URL="${AIRLOCK_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  pg_isready -q -h 127.0.0.1 -p 5432 || echo "prereqs: PostgreSQL is not answering on 127.0.0.1:5432 (pg_ctlcluster <version> main start)" >&2
  # The oldest supported Node (not on PATH): test/client/package.test.ts runs the packed client on it.
  export AIRLOCK_OLDEST_NODE="$oldest_node_dir/bin/node"
  # Rust (the client/rust crate's tests, `npm run test:rust`): rustup's toolchain when present.
  if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null || echo "prereqs: cargo not found; install Rust stable with rustfmt and clippy (rustup) for npm run test:rust" >&2
  unset -f airlock_node_is_recent
else
  echo "prereqs: failed (see above)" >&2
  false
fi
