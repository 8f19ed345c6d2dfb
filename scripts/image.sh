#!/usr/bin/env bash
# Builds Berth's container image on this machine, offline: no base image is pulled.
#
#   1. what is missing (each only when missing): Debian's musl-tools (musl-gcc, for the C in
#      rusqlite's bundled SQLite and in ring), ca-certificates, the x86_64-unknown-linux-musl
#      target;
#   2. the dashboard into dist/ (scripts/dashboard-tools.sh --build; BERTH_SKIP_DASHBOARD=1
#      keeps the dist/ there is);
#   3. `berth`, a static binary (cargo profile `image`: release without LTO, stripped);
#   4. the image's root file system in target/berth-image/rootfs/: /usr/local/bin/berth,
#      /usr/share/berth/dist/, /etc/ssl/certs/ca-certificates.crt, /tmp;
#   5. `docker build --target prebuilt` (the Dockerfile's stage FROM scratch that only copies
#      that root file system), tagged $BERTH_IMAGE (default berth:latest).
#
# Safe to run again: cargo and the builder's cache make an unchanged tree a no-op (the same
# image id). `--rootfs-only` stops after step 4: the Dockerfile's `build` stage runs that, for
# the build on a machine with registry access (`docker build -t berth:latest .`).
# `--binary-only` stops after step 3 (scripts/test.sh builds the binary early, in the
# background, for tests/tests/image.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${BERTH_IMAGE:-berth:latest}
TARGET=x86_64-unknown-linux-musl
PROFILE=image
ROOTFS=target/berth-image/rootfs

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

rootfs_only=0 binary_only=0
for arg in "$@"; do
  case "$arg" in
    --rootfs-only) rootfs_only=1 ;;
    --binary-only) binary_only=1 ;;
    *) echo "usage: $0 [--rootfs-only | --binary-only]" >&2; exit 2 ;;
  esac
done

need_debs=()
command -v musl-gcc >/dev/null || need_debs+=(musl-tools)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_debs+=(ca-certificates)
if [ ${#need_debs[@]} -gt 0 ]; then
  log "installing ${need_debs[*]}"
  apt_install "${need_debs[@]}"
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

if [ "$binary_only" = 0 ] && [ "${BERTH_SKIP_DASHBOARD:-}" != 1 ]; then
  bash scripts/dashboard-tools.sh --build
fi
[ "$binary_only" = 1 ] || [ -f dist/index.html ] \
  || die "no dashboard in dist/ (run scripts/dashboard-tools.sh --build)"

log "building berth for $TARGET (cargo profile $PROFILE)"
started=$SECONDS
cargo build --locked --profile "$PROFILE" --target "$TARGET" -p berth-server --bin berth
bin=target/$TARGET/$PROFILE/berth
log "berth built in $((SECONDS - started)) s: $(du -k "$bin" | cut -f1) KB"
# FROM scratch has no loader and no libc: the binary must need neither.
if readelf -lW "$bin" | grep -q 'Requesting program interpreter' \
   || readelf -dW "$bin" | grep -q '(NEEDED)'; then
  die "$bin is not static"
fi
[ "$binary_only" = 0 ] || exit 0

# Staged beside and swapped in, so an interrupted run leaves no half root file system.
log "staging the root file system in $ROOTFS"
rm -rf "$ROOTFS.new"
mkdir -p "$ROOTFS.new/usr/local/bin" "$ROOTFS.new/usr/share/berth" "$ROOTFS.new/etc/ssl/certs" \
  "$ROOTFS.new/tmp"
install -m 0755 "$bin" "$ROOTFS.new/usr/local/bin/berth"
cp -R dist "$ROOTFS.new/usr/share/berth/dist"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$ROOTFS.new/etc/ssl/certs/ca-certificates.crt"
# SQLite's temporary files, should it need any.
chmod 1777 "$ROOTFS.new/tmp"
# Fixed modes: the builder's cache keys on them, and the image needs no more.
find "$ROOTFS.new/usr/share/berth" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
rm -rf "$ROOTFS"
mv "$ROOTFS.new" "$ROOTFS"
[ "$rootfs_only" = 1 ] && exit 0

command -v docker >/dev/null || die "no docker CLI"
log "building $IMAGE (docker build --target prebuilt)"
started=$SECONDS
docker build --target prebuilt --tag "$IMAGE" .
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "$IMAGE built in $((SECONDS - started)) s: $((size / 1000000)) MB ($size bytes)"
