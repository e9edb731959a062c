#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, unit, integration, doc and
# example tests. Installs what it needs on a fresh Debian machine when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
        rustup component add "${component}"
    fi
done

# Real peers used by the test suite are provisioned by scripts/peers.sh.
if [ -x scripts/peers.sh ]; then
    step "peers"
    # shellcheck source=/dev/null
    source scripts/peers.sh
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo doc"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --all-features

step "tests (unit, integration, examples, benches in test mode)"
cargo test --workspace --all-features --all-targets

step "doctests"
cargo test --workspace --all-features --doc

step "cargo package (the published crates)"
cargo package -p autotel-macros -p autotel-layers -p autotel-exporters -p autotel-presets --no-verify --allow-dirty
