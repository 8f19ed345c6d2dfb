#!/usr/bin/env bash
# Runs Berth's whole test suite on this machine, raising the test bed first (idempotently):
# dockerd, the loopback registry and the fixture images (scripts/testbed.sh); then the
# dashboard's tools and Chromium (scripts/dashboard-tools.sh, each only when missing) and the
# dashboard itself (dist/), which the browser tests (tests/tests/e2e.rs) drive.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/testbed.sh
bash scripts/dashboard-tools.sh --browser --build

# Jobs that need CPU but no engine run in the background, niced, while the tests mostly wait
# on engines and browsers; each logs to target/background/NAME.log, and a failure fails the run
# with that log.
mkdir -p target/background
declare -A background=()
in_background() {
  nice -n 10 bash -c "$2" >"target/background/$1.log" 2>&1 &
  background[$1]=$!
}
# Left running by an early failure, each is stopped with its children.
kill_tree() {
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
stop_background() {
  local pid
  for pid in "${background[@]}"; do kill_tree "$pid"; done
}
trap stop_background EXIT
# The container image's static binary (tests/tests/image.rs waits for it).
in_background image-binary 'bash scripts/image.sh --binary-only'
# What Berth may depend on (deny.toml): licenses, and one version of each crate. cargo-deny is
# built once, in the debug profile (about 3 minutes of CPU instead of 8; it reads a lockfile).
in_background deny '
  if ! cargo deny --version 2>/dev/null | grep -q "^cargo-deny 0\.20\."; then
    cargo install --locked --debug cargo-deny --version "^0.20"
  fi
  cargo deny check bans licenses'

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# In the workspace's target directory (not in the background): it reuses the proc macros the
# native lints built.
cargo clippy --locked -p berth-frontend --target wasm32-unknown-unknown -- -D warnings
status=0
cargo test --locked --workspace --exclude berth-frontend || status=$?
for name in "${!background[@]}"; do
  if ! wait "${background[$name]}"; then
    echo "test.sh: $name failed:" >&2
    cat "target/background/$name.log" >&2
    status=1
  fi
done
exit "$status"
