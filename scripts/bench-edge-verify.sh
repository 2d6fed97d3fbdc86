#!/usr/bin/env bash
# In-engine JWT verification benchmark: edgeauth-token's verification compiled to wasm32 and
# timed in V8 (Node) against `jose` verifying the same Better Auth JWT in the same process.
# Prints a Markdown table with every path's ratio to jose.
#
#   bash scripts/bench-edge-verify.sh                    # build both variants, then run
#   BENCH_SKIP_BUILD=1 bash scripts/bench-edge-verify.sh  # reuse bench/verify-wasm/pkg
#
# What it builds (bench/verify-wasm, its own workspace and lockfile, see its Cargo.toml):
#   bench/verify-wasm/pkg/small   without edgeauth-token's `fast` feature, as the edge ships
#   bench/verify-wasm/pkg/fast    with `fast` (precomputed Ed25519 tables)
# each: cargo build --release for wasm32-unknown-unknown (rustup target, or the Debian
# -Zbuild-std fallback of docs/toolchain.md, via lib.sh's wasm_build_env), then
# `wasm-bindgen --target nodejs`, then wasm-opt $BENCH_WASM_OPT (default -O3) with the
# feature set worker-build enables. Cargo's output goes to target/verify-wasm.
#
# Settings (environment): BENCH_ITERATIONS (2000), BENCH_ROUNDS (7), BENCH_WARMUP (1000),
# BENCH_WASM_OPT (-O3; "off" skips wasm-opt), BENCH_SKIP_BUILD (unset). The raw results also go
# to target/bench-edge-verify/results.json.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

COMMAND_LINE="bash scripts/bench-edge-verify.sh${*:+ $*}"
[ $# -eq 0 ] || die "no arguments are taken; settings come from the environment (see the header of $0)"
CRATE_DIR="$REPO_ROOT/bench/verify-wasm"
PKG_DIR="$CRATE_DIR/pkg"
WORK="$REPO_ROOT/target/bench-edge-verify"
WASM_OPT_LEVEL="${BENCH_WASM_OPT:--O3}"

command -v node >/dev/null 2>&1 || die "node not found"
[ -f "$REPO_ROOT/node_modules/jose/package.json" ] ||
  die "jose is missing from node_modules: run npm ci (jose is pinned in package.json)"

# lock_version LOCKFILE CRATE: the version of CRATE in a Cargo.lock (the first entry).
lock_version() {
  awk -v name="$2" '
    $0 == "name = \"" name "\"" { found = 1; next }
    found && /^version = / { gsub(/^version = "|"$/, ""); print; exit }
    /^\[\[package\]\]/ { found = 0 }
  ' "$1"
}

build_variants() {
  # wasm-bindgen's library (bench lockfile), the root lockfile's and the CLI must agree.
  local root_version bench_version cli_version
  root_version="$(wasm_bindgen_lock_version)"
  bench_version="$(lock_version "$CRATE_DIR/Cargo.lock" wasm-bindgen)"
  [ -x "$CARGO_BIN_DIR/wasm-bindgen" ] ||
    die "missing $CARGO_BIN_DIR/wasm-bindgen: run bash scripts/setup.sh first"
  cli_version="$("$CARGO_BIN_DIR/wasm-bindgen" --version | awk '{ print $2 }')"
  [ "$bench_version" = "$cli_version" ] ||
    die "bench/verify-wasm/Cargo.lock has wasm-bindgen $bench_version but the CLI is $cli_version (root Cargo.lock: $root_version): update the pin in bench/verify-wasm/Cargo.toml"
  [ "$bench_version" = "$root_version" ] ||
    warn "bench/verify-wasm pins wasm-bindgen $bench_version, the root Cargo.lock has $root_version"

  # In a subshell: wasm_build_env exports RUSTC_BOOTSTRAP & co. for the wasm builds only.
  (
    wasm_build_env
    export CARGO_TARGET_DIR="$REPO_ROOT/target/verify-wasm"
    local variant features out wasm
    for variant in small fast; do
      features=()
      [ "$variant" = fast ] && features=(--features fast)
      banner "bench/verify-wasm: $variant (mode: $WASM_TOOLCHAIN_MODE)"
      (cd "$CRATE_DIR" && run cargo build --release --locked --target "$WASM_TARGET" "${features[@]}")
      out="$PKG_DIR/$variant"
      rm -rf "$out"
      run "$WASM_BINDGEN_BIN" --target nodejs --out-dir "$out" \
        "$CARGO_TARGET_DIR/$WASM_TARGET/release/edgeauth_verify_wasm.wasm"
      wasm="$out/edgeauth_verify_wasm_bg.wasm"
      if [ "$WASM_OPT_LEVEL" != off ]; then
        # The feature set worker-build 0.8.7 enables for the edge (not --all-features).
        run "$WASM_OPT_BIN" "$WASM_OPT_LEVEL" --enable-mutable-globals --enable-sign-ext \
          --enable-nontrapping-float-to-int --enable-bulk-memory --enable-multivalue \
          --enable-reference-types --enable-exception-handling "$wasm" -o "$wasm.opt"
        mv "$wasm.opt" "$wasm"
      fi
      log "$variant: $(wc -c <"$wasm") bytes raw, $(gzip -9 -c "$wasm" | wc -c) bytes gzipped"
    done
  )
}

if [ -n "${BENCH_SKIP_BUILD:-}" ]; then
  log "BENCH_SKIP_BUILD set: using the packages already in ${PKG_DIR#"$REPO_ROOT"/}"
else
  build_variants
fi

mkdir -p "$WORK"
banner "verification in V8: edgeauth-token (wasm) vs jose"
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
report="$(BENCH_PKG_DIR="$PKG_DIR" BENCH_JSON="$WORK/results.json" node "$REPO_ROOT/bench/verify-node.mjs")"
{
  # shellcheck disable=SC2016  # the backticks are Markdown
  printf '```sh\n%s\n```\n\n' "$COMMAND_LINE"
  printf 'machine: %s, %s cores, %s; load average at start %s\n' \
    "$(uname -sm)" "$(nproc)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$LOADAVG_START"
  printf 'wasm: %s, wasm-bindgen %s, wasm-opt %s\n\n' \
    "$(wasm_toolchain_mode) toolchain" \
    "$("$CARGO_BIN_DIR/wasm-bindgen" --version | awk '{ print $2 }')" "$WASM_OPT_LEVEL"
  printf '%s\n' "$report"
} | tee "$WORK/report.md"
