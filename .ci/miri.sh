#!/usr/bin/env bash
# Runs the Miri-sized tests (tests/miri_runtime.rs, tests/miri_primitives.rs) under Miri,
# with Stacked Borrows and then Tree Borrows, and the runtime ones over several schedules.
# Not part of .ci/run: it needs nightly and takes a few minutes. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain install nightly --profile minimal >/dev/null
rustup +nightly component add miri rust-src >/dev/null
cargo +nightly miri setup >/dev/null
export CARGO_TARGET_DIR=target-miri
# The runtime's driver reads its own pointers back from epoll events: permissive provenance.
base="-Zmiri-permissive-provenance"
echo "== Stacked Borrows"
MIRIFLAGS="$base" cargo +nightly miri test --test miri_runtime --test miri_primitives
echo "== Tree Borrows"
MIRIFLAGS="$base -Zmiri-tree-borrows" cargo +nightly miri test --test miri_runtime --test miri_primitives
echo "== Stacked Borrows, schedules 0..8 (weak CAS failures, thread interleavings)"
MIRIFLAGS="$base -Zmiri-many-seeds=0..8" cargo +nightly miri test --test miri_runtime
