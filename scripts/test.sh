#!/usr/bin/env bash
# The project's test command: everything CI checks, in order, stopping at the first failure.
#
#   bash scripts/test.sh
#
# Works in a fresh clone, as root, with no services running: it installs what is missing
# (scripts/setup.sh), builds the edge bundle the end-to-end tests serve through wrangler dev,
# and builds the `edgeauth` binary they start.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
# Native cargo is rustup's, and never sees RUSTC_BOOTSTRAP (only the wasm scripts set it).
prefer_rustup_path

STEP_TIMES=()

# step NAME COMMAND...: announce a step, run it, fail fast naming the step, record its time.
step() {
  local name="$1"
  shift
  banner "$name"
  printf '+ %s\n' "$*" >&2
  local start=$SECONDS
  if ! "$@"; then
    printf '\nerror: step "%s" failed (after %ss): %s\n' "$name" "$((SECONDS - start))" "$*" >&2
    exit 1
  fi
  STEP_TIMES+=("$(printf '%5ss  %s' "$((SECONDS - start))" "$name")")
}

step "setup (toolchains, npm packages)" bash scripts/setup.sh
step "rustfmt" cargo fmt --all -- --check
step "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "no_std build of edgeauth-token for wasm32" bash scripts/check-nostd.sh
step "edge worker bundle" bash scripts/build-edge.sh
# The end-to-end tests run the real `edgeauth` binary from target/debug.
step "build binaries" cargo build --workspace --locked --bins
# No backtraces: a failing test's message and place stay at the end of the log, where CI
# shows it, rather than above thirty frames of the async runtime.
step "tests" env RUST_BACKTRACE=0 cargo test --workspace --locked
step "docs" env RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked

banner "all checks passed"
printf '%s\n' "${STEP_TIMES[@]}" >&2
printf '%5ss  total\n' "$SECONDS" >&2
