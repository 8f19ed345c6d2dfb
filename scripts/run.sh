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

started=$(date +%s)
log() { printf 'berth: [%s] %s\n' "$(elapsed)" "$*" >&2; }
elapsed() { local s=$(( $(date +%s) - started )); printf '%d:%02d' $((s / 60)) $((s % 60)); }
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

# A first run builds the gateway while the dashboard's tools install (each its own cargo target
# directory; on 2 cores the overlap saves the tools' single-threaded stretches), then builds the
# dashboard. Later runs find everything built and start at once.
log "building the gateway (release; about 4 minutes the first time) in the background"
gateway_log=$(mktemp)
cargo build --release --locked -p berth-server >"$gateway_log" 2>&1 &
gateway_build=$!

if [ "${BERTH_SKIP_DASHBOARD:-}" != 1 ]; then
  # Trunk, wasm-bindgen-cli, wasm-opt and xterm.js (each only when missing), then dist/.
  bash scripts/dashboard-tools.sh --build
fi

if ! wait "$gateway_build"; then
  cat "$gateway_log" >&2
  log "the gateway did not build"
  exit 1
fi
rm -f "$gateway_log"
log "gateway built"

# Where Berth will answer and keep its data, for the first-visit message below.
listen=${BERTH_LISTEN:-127.0.0.1:8080}
data_dir=${BERTH_DATA_DIR:-/var/lib/berth}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --listen=*) listen=${args[i]#--listen=} ;;
    --listen) listen=${args[i + 1]:-$listen} ;;
    --data-dir=*) data_dir=${args[i]#--data-dir=} ;;
    --data-dir) data_dir=${args[i + 1]:-$data_dir} ;;
  esac
done
url="http://$listen"

target/release/berth serve "$@" &
berth=$!
# Ctrl-C or SIGTERM reach Berth, which stops gracefully (see README).
trap 'kill -TERM "$berth" 2>/dev/null' INT TERM
for _ in $(seq 1 100); do
  curl -fsS --max-time 1 "$url/api/health" >/dev/null 2>&1 && break
  kill -0 "$berth" 2>/dev/null || break
  sleep 0.2
done
if curl -fsS --max-time 2 "$url/api/setup" 2>/dev/null | grep -q '"needed":true' \
   && [ -r "$data_dir/admin-token" ]; then
  log "Berth is up at $url"
  log "first visit: open $url/setup and create the first admin with this one-time setup token:"
  printf '\n    %s\n\n' "$(cat "$data_dir/admin-token")" >&2
elif kill -0 "$berth" 2>/dev/null; then
  log "Berth is up at $url"
fi
status=0
wait "$berth" || status=$?
# A signal interrupted the first wait: wait for Berth's own exit status.
if kill -0 "$berth" 2>/dev/null; then
  status=0
  wait "$berth" || status=$?
fi
exit "$status"
