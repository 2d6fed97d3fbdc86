#!/usr/bin/env bash
# Build the edge worker bundle (crate edge/, workers-rs) with worker-build --release.
#
#   bash scripts/build-edge.sh        (run bash scripts/setup.sh once before)
#
# Output: edge/build/index.js (the entry wrangler.toml's `main` points at) and
# edge/build/index_bg.wasm. Cargo's intermediate files go to the workspace's target/.
# Uses the rustup wasm32 target when installed, else the Debian -Zbuild-std fallback
# (docs/toolchain.md); extra arguments are passed on to worker-build.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v "$CARGO_BIN_DIR/worker-build" >/dev/null 2>&1 ||
  die "worker-build not found in $CARGO_BIN_DIR: run bash scripts/setup.sh first"

# Exports PATH/RUSTC_BOOTSTRAP/... for this process only (see lib.sh).
wasm_build_env

# worker-build writes build/ next to the crate's Cargo.toml, so run it from edge/.
cd "$REPO_ROOT/edge"
log "building the edge worker (worker-build $WORKER_BUILD_VERSION --release, mode: $WASM_TOOLCHAIN_MODE)"
run "$CARGO_BIN_DIR/worker-build" --release "$@"

wasm="$REPO_ROOT/edge/build/index_bg.wasm"
js="$REPO_ROOT/edge/build/index.js"
[ -f "$wasm" ] && [ -f "$js" ] || die "worker-build finished but $wasm or $js is missing"

raw_bytes="$(wc -c <"$wasm")"
gzip_bytes="$(gzip -9 -c "$wasm" | wc -c)"
log "bundle: edge/build/index.js ($(wc -c <"$js") bytes) + edge/build/index_bg.wasm"
printf 'edge wasm size: %s bytes raw, %s bytes gzipped (%s KiB / %s KiB)\n' \
  "$raw_bytes" "$gzip_bytes" "$((raw_bytes / 1024))" "$((gzip_bytes / 1024))"
