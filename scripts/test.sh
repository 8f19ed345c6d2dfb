#!/usr/bin/env bash
# Runs Berth's whole test suite on this machine, raising the test bed first (idempotently):
# dockerd, the loopback registry and the fixture images (scripts/testbed.sh); then the
# dashboard's tools and Chromium (scripts/dashboard-tools.sh, each only when missing) and the
# dashboard itself (dist/), which the browser tests (tests/tests/e2e.rs) drive.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/testbed.sh
bash scripts/dashboard-tools.sh --browser --build

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --locked -p berth-frontend --target wasm32-unknown-unknown -- -D warnings
cargo test --locked --workspace --exclude berth-frontend
