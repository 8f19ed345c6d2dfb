#!/usr/bin/env bash
# Brings Berth up on this machine: installs what it needs (each step only when missing), builds
# the dashboard and the gateway, and serves both on http://127.0.0.1:8080 (BERTH_LISTEN) against
# unix:///var/run/docker.sock (DOCKER_HOST).
#
# If no engine answers and this is a Debian machine where we are root, it installs Debian's
# docker.io and starts dockerd with networking off (no bridge, no iptables: containers get
# `--network none` or `host`). Opt out with BERTH_NO_ENGINE_INSTALL=1: Berth then starts anyway
# and reports the engine unreachable. BERTH_SKIP_DASHBOARD=1 serves the API only.
# Arguments are passed to `berth serve` (see `berth serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'berth: %s\n' "$*" >&2; }
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
SOCK=${DOCKER_HOST#unix://}

engine_up() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v curl >/dev/null || apt_install curl ca-certificates

if [ "$SOCK" = "$DOCKER_HOST" ] && [ "${DOCKER_HOST#/}" = "$DOCKER_HOST" ]; then
  # tcp:// or https://: a remote engine, which Berth itself checks (see /api/health).
  log "engine at $DOCKER_HOST (remote: not checked here)"
elif engine_up; then
  log "engine reachable at $DOCKER_HOST"
elif [ "${BERTH_NO_ENGINE_INSTALL:-}" != 1 ] && [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] \
     && [ "$SOCK" = /var/run/docker.sock ]; then
  command -v dockerd >/dev/null || { log "installing docker.io"; apt_install docker.io; }
  log "starting dockerd (networking off)"
  mkdir -p /var/lib/berth
  nohup dockerd --host "unix://$SOCK" --bridge=none --iptables=false --ip-masq=false \
    >/var/lib/berth/dockerd.log 2>&1 &
  for _ in $(seq 1 120); do engine_up && break; sleep 0.5; done
  engine_up || log "dockerd did not come up (see /var/lib/berth/dockerd.log); starting anyway"
else
  log "no engine answers at $DOCKER_HOST; Berth starts anyway and reports it unreachable"
fi

if [ "${BERTH_SKIP_DASHBOARD:-}" != 1 ]; then
  # Trunk, wasm-bindgen-cli, wasm-opt and xterm.js (each only when missing), then dist/.
  bash scripts/dashboard-tools.sh --build
fi

log "building the gateway"
cargo build --release --locked -p berth-server
data_dir=${BERTH_DATA_DIR:-/var/lib/berth}
if [ -z "${BERTH_ADMIN_TOKEN:-}" ] && [ ! -s "$data_dir/berth.db" ]; then
  log "first start: sign-in needs a user; create one with the admin token Berth writes to $data_dir/admin-token (see README)"
fi
exec target/release/berth serve "$@"
