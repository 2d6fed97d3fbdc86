#!/usr/bin/env bash
# Prove that the token crate (shared/, edgeauth-token) builds without std for wasm32, the way
# the edge uses it: `--no-default-features`, this one package only (so no other crate's
# features unify into it), for wasm32-unknown-unknown.
#
#   bash scripts/check-nostd.sh       (run bash scripts/setup.sh once before)
#
# With rustup's wasm32 target this is a plain cross build. With the Debian fallback
# (docs/toolchain.md) the target has no prebuilt library, so core and alloc are built from
# source with -Zbuild-std=core,alloc: std itself is deliberately not built, so any use of std
# fails to compile.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# Exports PATH/RUSTC_BOOTSTRAP/... for this process only (see lib.sh).
wasm_build_env

args=(build -p edgeauth-token --no-default-features --target "$WASM_TARGET" --locked)
if [ "$WASM_TOOLCHAIN_MODE" = debian ]; then
  # core and alloc only: the no_std proof.
  export CARGO_UNSTABLE_BUILD_STD="core,alloc"
  log "building edgeauth-token for $WASM_TARGET without std (Debian fallback, -Zbuild-std=core,alloc)"
else
  log "building edgeauth-token for $WASM_TARGET without std (rustup target)"
fi
run cargo "${args[@]}"
log "edgeauth-token builds as no_std for $WASM_TARGET"
