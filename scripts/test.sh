#!/usr/bin/env bash
# Runs Berth's whole test suite on this machine, raising the test bed first (idempotently):
# dockerd, the loopback registry and the fixture images (scripts/testbed.sh); then the
# dashboard's tools and Chromium (scripts/dashboard-tools.sh, each only when missing) and the
# dashboard itself (dist/), which the browser tests (tests/tests/e2e.rs) drive.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/testbed.sh
bash scripts/dashboard-tools.sh --browser --build

# The container image's static binary (tests/tests/image.rs) builds meanwhile, niced: minutes of
# CPU that would otherwise wait for that test, spent while the tests mostly wait on engines.
mkdir -p target
nice -n 10 bash scripts/image.sh --binary-only >target/image-binary.log 2>&1 &
image_binary=$!

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --locked -p berth-frontend --target wasm32-unknown-unknown -- -D warnings
# What Berth may depend on (deny.toml): licenses, and one version of each crate. Built once, in
# the debug profile (about 3 minutes of 2 cores instead of 8; it reads a lockfile).
if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0\.20\.'; then
  cargo install --locked --debug cargo-deny --version '^0.20'
fi
cargo deny check bans licenses
cargo test --locked --workspace --exclude berth-frontend
wait "$image_binary" || { cat target/image-binary.log >&2; exit 1; }
