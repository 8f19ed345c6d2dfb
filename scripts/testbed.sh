#!/usr/bin/env bash
# Raises Berth's test bed idempotently: a Docker engine, a loopback registry and fixture images.
#
#   dockerd   Debian docker.io, started with networking off (no bridge, no iptables) so that no
#             test can create or reach a private-range network, its state under
#             $BERTH_TESTBED_DIR/docker. A daemon that already answers /_ping on the socket is
#             reused as it is.
#   registry  Debian docker-registry on 127.0.0.1:5000, no auth, storage under $BERTH_TESTBED_DIR.
#   fixtures  berth-fixture:latest imported from a busybox-static rootfs, pushed to the registry
#             as 127.0.0.1:5000/berth/busybox:latest; and 127.0.0.1:5000/berth/pullable:latest,
#             the same rootfs plus a marker file (so a layer of its own), only in the registry:
#             pulling it downloads a layer.
#   tools     socat and openssl, with which server/tests/remote_engine.rs exposes the engine's
#             socket on loopback TCP, plain and with TLS (certificates it makes itself).
#
# Safe to run again: each step checks before it acts.
set -euo pipefail

STATE_DIR=${BERTH_TESTBED_DIR:-/var/lib/berth-testbed}
SOCK=/var/run/docker.sock
REGISTRY=127.0.0.1:5000
FIXTURE=berth-fixture:latest
PUSHED=$REGISTRY/berth/busybox:latest
PULLABLE=$REGISTRY/berth/pullable:latest

log() { printf 'testbed: %s\n' "$*" >&2; }

need_debs=()
command -v dockerd >/dev/null || need_debs+=(docker.io)
command -v docker-registry >/dev/null || need_debs+=(docker-registry)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx wget || need_debs+=(busybox-static)
command -v curl >/dev/null || need_debs+=(curl)
command -v socat >/dev/null || need_debs+=(socat)
command -v openssl >/dev/null || need_debs+=(openssl)
if [ ${#need_debs[@]} -gt 0 ]; then
  log "installing ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >/dev/null
fi
mkdir -p "$STATE_DIR"

engine_up() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }

# The test bed's engine keeps its state under $STATE_DIR/docker, apart from any other engine's,
# so the test bed may clean it up when it starts that engine:
# - dockerd 20.10 with --bridge=none leaks one network sandbox record per container that runs in
#   the default network mode, and removes them all, one by one (~0.1 s each), before it answers
#   on its next start: after a benchmark run (thousands of containers) that is many minutes. The
#   records live in the network store, which holds nothing else of value here (no bridge, and
#   tests never create networks), so it is dropped while the daemon is down; dockerd rebuilds it
#   (networks none and host) on start.
# - Containers left by an interrupted earlier run (none is running after a daemon restart) are
#   removed once the daemon answers.
DATA_ROOT=$STATE_DIR/docker
NETWORK_STORE=$DATA_ROOT/network/files/local-kv.db

start_engine() {
  # A stale pid file from a dead daemon blocks a new start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  rm -f "$NETWORK_STORE"
  nohup dockerd --host "unix://$SOCK" --data-root "$DATA_ROOT" \
    --bridge=none --iptables=false --ip-masq=false >"$STATE_DIR/dockerd.log" 2>&1 &
  local pid=$! started=$SECONDS reported=$SECONDS
  # Waits as long as the daemon lives and starts (up to 15 minutes), saying what it is doing.
  until engine_up; do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$STATE_DIR/dockerd.log" >&2; log "dockerd exited"; exit 1; }
    if [ $((SECONDS - started)) -ge 900 ]; then
      tail -n 30 "$STATE_DIR/dockerd.log" >&2; log "dockerd did not come up in 15 minutes"; exit 1
    fi
    if [ $((SECONDS - reported)) -ge 30 ]; then
      reported=$SECONDS
      log "dockerd still starting after $((SECONDS - started)) s: $(tail -n 1 "$STATE_DIR/dockerd.log" | cut -c1-160)"
    fi
    sleep 1
  done
  local left
  left=$(docker ps -aq --filter status=exited --filter status=created)
  if [ -n "$left" ]; then
    log "removing $(echo "$left" | wc -l) containers left by an earlier run"
    # shellcheck disable=SC2086 # one ID per word
    docker rm -f $left >/dev/null
  fi
}

if engine_up; then
  log "reusing the engine on $SOCK"
else
  log "starting dockerd (data root $DATA_ROOT)"
  start_engine
fi

registry_up() { curl -fsS --max-time 2 "http://$REGISTRY/v2/" >/dev/null 2>&1; }
if registry_up; then
  log "reusing the registry on $REGISTRY"
else
  log "starting docker-registry on $REGISTRY"
  cat >"$STATE_DIR/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
YML
  nohup docker-registry serve "$STATE_DIR/registry.yml" >"$STATE_DIR/registry.log" 2>&1 &
  for _ in $(seq 1 60); do registry_up && break; sleep 0.5; done
  registry_up || { tail -n 30 "$STATE_DIR/registry.log" >&2; log "registry did not come up"; exit 1; }
fi

make_rootfs() {
  local rootfs=$1
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/root"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  # Not executable on purpose: tests of exit status 126 run it.
  printf '#!/bin/sh\necho never\n' >"$rootfs/bin/not-executable"
  chmod 0644 "$rootfs/bin/not-executable"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
}

import_image() { # TAG [marker text]
  local rootfs
  rootfs=$(mktemp -d)
  make_rootfs "$rootfs"
  [ $# -lt 2 ] || printf '%s\n' "$2" >"$rootfs/etc/berth-marker"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - "$1" >/dev/null
  rm -rf "$rootfs"
}

in_registry() {
  curl -fsS --max-time 5 "http://$REGISTRY/v2/$1/manifests/latest" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1
}

if ! docker image inspect "$FIXTURE" >/dev/null 2>&1; then
  log "importing $FIXTURE from busybox-static"
  import_image "$FIXTURE"
fi

if ! in_registry berth/busybox; then
  log "pushing $PUSHED"
  docker tag "$FIXTURE" "$PUSHED"
  docker push "$PUSHED" >/dev/null
  docker rmi "$PUSHED" >/dev/null
fi

if ! in_registry berth/pullable; then
  log "pushing $PULLABLE"
  import_image "$PULLABLE" "pullable"
  docker push "$PULLABLE" >/dev/null
  # Tests pull it themselves: no local copy, so its layer is downloaded.
  docker rmi "$PULLABLE" >/dev/null
fi
log "ready: engine $SOCK, registry $REGISTRY, images $FIXTURE, $PUSHED, $PULLABLE"
