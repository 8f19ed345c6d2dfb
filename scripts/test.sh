#!/usr/bin/env bash
# Runs Berth's whole test suite on this machine, raising the test bed first (idempotently):
# dockerd, the loopback registry and the fixture images (scripts/testbed.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/testbed.sh

# The dashboard must at least compile for the browser.
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo check --locked -p berth-frontend --target wasm32-unknown-unknown
cargo test --locked --workspace --exclude berth-frontend
