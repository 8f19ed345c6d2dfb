#!/usr/bin/env bash
# The dashboard's toolchain, at the versions that work offline (see Trunk.toml and
# /work/shared/reference/toolchain.md), each installed only when missing:
#   the wasm32 target, Trunk 0.21.14, wasm-bindgen-cli at Cargo.lock's version, and from npm
#   (package-lock.json) wasm-opt (binaryen 132), xterm.js and axe-core (the a11y E2E test's).
# Used by scripts/run.sh and scripts/test.sh.
#   --browser  also Debian's chromium + chromium-driver (the E2E tests)
#   --build    then build the dashboard into dist/ (trunk build --release, offline)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'berth: %s\n' "$*" >&2; }
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

browser=0 build=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    --build) build=1 ;;
    *) echo "usage: $0 [--browser] [--build]" >&2; exit 2 ;;
  esac
done

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# Both tools are built in the debug profile: their own speed does not matter (Trunk waits on
# cargo; wasm-bindgen takes seconds either way), and they build much faster: measured, Trunk
# 491 s of CPU (about 4 minutes of 2 cores; a release build takes about 11) and wasm-bindgen
# 169 s (under 2 minutes; release about 4).
if ! trunk --version 2>/dev/null | grep -q '0\.21\.14'; then
  log "installing trunk 0.21.14 (about 4 minutes, once)"
  cargo install trunk --locked --debug --version 0.21.14
fi
wbg=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wbg"; then
  log "installing wasm-bindgen-cli $wbg (about 2 minutes, once)"
  # Not --locked: its lockfile pins a crate version the registry lacks.
  cargo install wasm-bindgen-cli --debug --version "$wbg"
fi
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -f node_modules/@xterm/xterm/lib/xterm.mjs ] \
   || [ ! -f node_modules/@xterm/addon-fit/lib/addon-fit.mjs ] \
   || [ ! -f node_modules/axe-core/axe.min.js ]; then
  command -v npm >/dev/null || apt_install npm
  log "installing wasm-opt, xterm.js and axe-core from npm"
  npm ci --no-audit --no-fund >/dev/null
fi
if [ "$browser" = 1 ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  log "installing chromium and chromium-driver (about a minute, once)"
  apt_install chromium chromium-driver
fi

if [ "$build" = 1 ]; then
  log "building the dashboard into dist/ (about 3 minutes the first time)"
  # Trunk takes wasm-opt from node_modules/.bin (binaryen 132), never Debian's or a download.
  PATH="$PWD/node_modules/.bin:$PATH" TRUNK_SKIP_VERSION_CHECK=true \
    trunk build --release --offline
fi
