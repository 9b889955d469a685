# Where the prerequisites live; sourced by install-prereqs.sh and prereqs.sh.
# shellcheck shell=bash
NODE_PIN="${AIRLOCK_NODE_VERSION:-$AIRLOCK_NODE_VERSION_PIN}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}"
node_dir="$CACHE_ROOT/airlock-node/node-v$NODE_PIN"
oldest_node_dir="$CACHE_ROOT/airlock-node/node-v$AIRLOCK_OLDEST_NODE_VERSION_PIN"
tools_root="$CACHE_ROOT/airlock-tools"

# True when the node on PATH is at least 22.18 (where `node file.ts` strips types without flags).
airlock_node_is_recent() {
  local v major minor
  v="$(node --version 2>/dev/null)" || return 1
  major="$(echo "$v" | sed -E 's/^v([0-9]+)\..*/\1/')"
  minor="$(echo "$v" | sed -E 's/^v[0-9]+\.([0-9]+).*/\1/')"
  [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 18 ]; }
}
