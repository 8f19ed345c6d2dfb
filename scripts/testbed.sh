#!/usr/bin/env bash
# Raises Berth's test bed idempotently: two Docker engines, a loopback registry and fixture images.
#
#   dockerd   Debian docker.io, started with networking off (no bridge, no iptables) so that no
#             test can create or reach a private-range network, its state under
#             $BERTH_TESTBED_DIR/docker. A daemon that already answers /_ping on the socket is
#             reused as it is.
#   dockerd 2 a second engine on the same machine, for the tests of several engines
#             (tests/tests/engines.rs): socket /var/run/berth-testbed-2.sock, state under
#             $BERTH_TESTBED_DIR/docker-2, exec root /var/run/berth-testbed-2-exec, pid file
#             /var/run/berth-testbed-2.pid, the same networking flags; reused the same way.
#   registry  Debian docker-registry on 127.0.0.1:5000, no auth, storage under $BERTH_TESTBED_DIR
#             (one, for both engines).
#   fixtures  berth-fixture:latest imported from a busybox-static rootfs into both engines, pushed
#             to the registry as 127.0.0.1:5000/berth/busybox:latest; and
#             127.0.0.1:5000/berth/pullable:latest, the same rootfs plus a marker file (so a layer
#             of its own), only in the registry: pulling it downloads a layer.
#   private   a second docker-registry on 127.0.0.1:5001 with htpasswd authentication (users
#             red-puller and everyone-puller, bcrypt entries by htpasswd -B), holding
#             127.0.0.1:5001/private/app:latest; its log ($BERTH_TESTBED_DIR/registry-private.log)
#             names the user of every request.
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
# A registry with htpasswd authentication, and its private image; the tests' credentials.
PRIVATE_REGISTRY=127.0.0.1:5001
PRIVATE=$PRIVATE_REGISTRY/private/app:latest
PRIVATE_USERS=("red-puller:red-registry-pass" "everyone-puller:everyone-registry-pass")

log() { printf 'testbed: %s\n' "$*" >&2; }

need_debs=()
command -v dockerd >/dev/null || need_debs+=(docker.io)
command -v docker-registry >/dev/null || need_debs+=(docker-registry)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx wget || need_debs+=(busybox-static)
command -v curl >/dev/null || need_debs+=(curl)
command -v socat >/dev/null || need_debs+=(socat)
command -v openssl >/dev/null || need_debs+=(openssl)
command -v htpasswd >/dev/null || need_debs+=(apache2-utils)
if [ ${#need_debs[@]} -gt 0 ]; then
  log "installing ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >/dev/null
fi
mkdir -p "$STATE_DIR"

SOCK_2=/var/run/berth-testbed-2.sock

engine_up() { # SOCKET
  curl -fsS --max-time 2 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1
}

# The docker CLI against the engine on SOCKET.
docker_at() { # SOCKET ARGS…
  local sock=$1
  shift
  docker -H "unix://$sock" "$@"
}

# The test bed's engines keep their state under $STATE_DIR, apart from any other engine's, so
# the test bed may clean them up when it starts them:
# - dockerd 20.10 with --bridge=none leaks one network sandbox record per container that runs in
#   the default network mode, and removes them all, one by one (~0.1 s each), before it answers
#   on its next start: after a benchmark run (thousands of containers) that is many minutes. The
#   records live in the network store, which holds nothing else of value here (no bridge, and
#   tests never create networks), so it is dropped while the daemon is down; dockerd rebuilds it
#   (networks none and host) on start.
# - Containers left by an interrupted earlier run (none is running after a daemon restart) are
#   removed once the daemon answers.
DATA_ROOT=$STATE_DIR/docker
DATA_ROOT_2=$STATE_DIR/docker-2
EXEC_ROOT_2=/var/run/berth-testbed-2-exec
PIDFILE_2=/var/run/berth-testbed-2.pid

# Starts dockerd in the background and sets ENGINE_PID; waiting is wait_engine's.
launch_engine() { # SOCKET DATA_ROOT PID_FILE LOG [more dockerd flags…]
  local sock=$1 data_root=$2 pidfile=$3 logfile=$4
  shift 4
  # A stale pid file from a dead daemon (one killed with SIGKILL leaves it) blocks a new start.
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile"
  fi
  rm -f "$data_root/network/files/local-kv.db"
  nohup dockerd --host "unix://$sock" --data-root "$data_root" "$@" \
    --bridge=none --iptables=false --ip-masq=false >"$logfile" 2>&1 &
  ENGINE_PID=$!
}

# The second dockerd's start: the test bed's, and the one the fault tests of tests/tests/engines.rs
# restart it with (`--launch-second-engine`) after they killed it.
launch_second_engine() {
  mkdir -p "$DATA_ROOT_2"
  launch_engine "$SOCK_2" "$DATA_ROOT_2" "$PIDFILE_2" "$STATE_DIR/dockerd-2.log" \
    --exec-root "$EXEC_ROOT_2" --pidfile "$PIDFILE_2"
}

# `testbed.sh --launch-second-engine`: only starts the second dockerd, as below, and prints its
# pid; the caller waits for it (and keeps the containers it stops while it starts, for their
# exit statuses).
if [ "${1:-}" = --launch-second-engine ]; then
  if engine_up "$SOCK_2"; then
    log "the second engine already answers on $SOCK_2"
    exit 1
  fi
  log "starting the second dockerd (data root $DATA_ROOT_2)"
  launch_second_engine
  echo "$ENGINE_PID"
  exit 0
fi

wait_engine() { # NAME SOCKET PID LOG
  local name=$1 sock=$2 pid=$3 logfile=$4 started=$SECONDS reported=$SECONDS
  # Waits as long as the daemon lives and starts (up to 15 minutes), saying what it is doing.
  until engine_up "$sock"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$logfile" >&2; log "$name exited"; exit 1; }
    if [ $((SECONDS - started)) -ge 900 ]; then
      tail -n 30 "$logfile" >&2; log "$name did not come up in 15 minutes"; exit 1
    fi
    if [ $((SECONDS - reported)) -ge 30 ]; then
      reported=$SECONDS
      log "$name still starting after $((SECONDS - started)) s: $(tail -n 1 "$logfile" | cut -c1-160)"
    fi
    sleep 1
  done
  log "$name answers on $sock after $((SECONDS - started)) s"
  local left
  left=$(docker_at "$sock" ps -aq --filter status=exited --filter status=created)
  if [ -n "$left" ]; then
    log "removing $(echo "$left" | wc -l) containers left by an earlier run from $name"
    # shellcheck disable=SC2086 # one ID per word
    docker_at "$sock" rm -f $left >/dev/null
  fi
}

# Both daemons start at once (each may take a while), then each is waited for.
pid_1= pid_2=
if engine_up "$SOCK"; then
  log "reusing the engine on $SOCK"
else
  log "starting dockerd (data root $DATA_ROOT)"
  launch_engine "$SOCK" "$DATA_ROOT" /var/run/docker.pid "$STATE_DIR/dockerd.log"
  pid_1=$ENGINE_PID
fi
if engine_up "$SOCK_2"; then
  log "reusing the second engine on $SOCK_2"
else
  log "starting the second dockerd (data root $DATA_ROOT_2)"
  launch_second_engine
  pid_2=$ENGINE_PID
fi
[ -z "$pid_1" ] || wait_engine dockerd "$SOCK" "$pid_1" "$STATE_DIR/dockerd.log"
[ -z "$pid_2" ] || wait_engine "the second dockerd" "$SOCK_2" "$pid_2" "$STATE_DIR/dockerd-2.log"

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

private_up() { curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://$PRIVATE_REGISTRY/v2/" 2>/dev/null | grep -q 401; }
if private_up; then
  log "reusing the private registry on $PRIVATE_REGISTRY"
else
  log "starting docker-registry with htpasswd on $PRIVATE_REGISTRY"
  : >"$STATE_DIR/htpasswd"
  for entry in "${PRIVATE_USERS[@]}"; do
    htpasswd -Bbn "${entry%%:*}" "${entry#*:}" | sed '/^$/d' >>"$STATE_DIR/htpasswd"
  done
  cat >"$STATE_DIR/registry-private.yml" <<YML
version: 0.1
log:
  # Debug: its lines name the user of each request (auth.user.name).
  level: debug
  formatter: text
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry-private
  delete:
    enabled: true
auth:
  htpasswd:
    realm: berth-testbed
    path: $STATE_DIR/htpasswd
http:
  addr: $PRIVATE_REGISTRY
YML
  # Its log is the tests' witness of which credential each pull used.
  nohup docker-registry serve "$STATE_DIR/registry-private.yml" >>"$STATE_DIR/registry-private.log" 2>&1 &
  for _ in $(seq 1 60); do private_up && break; sleep 0.5; done
  private_up || { tail -n 30 "$STATE_DIR/registry-private.log" >&2; log "private registry did not come up"; exit 1; }
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

import_image() { # SOCKET TAG [marker text]
  local rootfs
  rootfs=$(mktemp -d)
  make_rootfs "$rootfs"
  [ $# -lt 3 ] || printf '%s\n' "$3" >"$rootfs/etc/berth-marker"
  tar -C "$rootfs" -c . | docker_at "$1" import \
    --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - "$2" >/dev/null
  rm -rf "$rootfs"
}

in_registry() {
  curl -fsS --max-time 5 "http://$REGISTRY/v2/$1/manifests/latest" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1
}

if ! docker image inspect "$FIXTURE" >/dev/null 2>&1; then
  log "importing $FIXTURE from busybox-static"
  import_image "$SOCK" "$FIXTURE"
fi
if ! docker_at "$SOCK_2" image inspect "$FIXTURE" >/dev/null 2>&1; then
  log "importing $FIXTURE from busybox-static into the second engine"
  import_image "$SOCK_2" "$FIXTURE"
fi

if ! in_registry berth/busybox; then
  log "pushing $PUSHED"
  docker tag "$FIXTURE" "$PUSHED"
  docker push "$PUSHED" >/dev/null
  docker rmi "$PUSHED" >/dev/null
fi

if ! in_registry berth/pullable; then
  log "pushing $PULLABLE"
  import_image "$SOCK" "$PULLABLE" "pullable"
  docker push "$PULLABLE" >/dev/null
  # Tests pull it themselves: no local copy, so its layer is downloaded.
  docker rmi "$PULLABLE" >/dev/null
fi
private_has() {
  local user=${PRIVATE_USERS[1]%%:*} pass=${PRIVATE_USERS[1]#*:}
  curl -fsS --max-time 5 -u "$user:$pass" "http://$PRIVATE_REGISTRY/v2/private/app/manifests/latest" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1
}
if ! private_has; then
  log "pushing $PRIVATE"
  # A login of its own: the host's docker configuration keeps no testbed credential.
  login_dir=$(mktemp -d)
  user=${PRIVATE_USERS[1]%%:*}
  printf '%s' "${PRIVATE_USERS[1]#*:}" | DOCKER_CONFIG=$login_dir docker login -u "$user" --password-stdin "$PRIVATE_REGISTRY" >/dev/null 2>&1
  import_image "$SOCK" "$PRIVATE" "private"
  DOCKER_CONFIG=$login_dir docker push "$PRIVATE" >/dev/null
  docker rmi "$PRIVATE" >/dev/null
  rm -rf "$login_dir"
fi
log "ready: engines $SOCK and $SOCK_2, registries $REGISTRY and $PRIVATE_REGISTRY (htpasswd), images $FIXTURE, $PUSHED, $PULLABLE, $PRIVATE"
