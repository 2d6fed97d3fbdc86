# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the scripts that source this file
# Shared helpers for the scripts in this directory. Source it, don't run it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It defines paths and pinned versions, logging, a root/sudo wrapper, the detection of the
# wasm32 toolchain (rustup target, or the Debian `rustc-web` fallback described in
# docs/toolchain.md) and `wasm_build_env`, which exports the environment the wasm builds need.

# The repository root, whatever directory the calling script was started from.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# Pinned tool versions. wasm-bindgen-cli is pinned by Cargo.lock instead (see
# `wasm_bindgen_lock_version`): the CLI must match the `wasm-bindgen` library exactly.
WORKER_BUILD_VERSION="0.8.7"
WASM_TARGET="wasm32-unknown-unknown"

# The Debian fallback toolchain: packages, and where they put the compiler and std's source.
DEBIAN_RUST_PACKAGES=(rustc-web cargo-web rust-web-src lld-22)
DEBIAN_RUSTC="/usr/bin/rustc"
DEBIAN_CARGO="/usr/bin/cargo"
DEBIAN_RUST_SRC="/usr/lib/rustlib/src/rust"
# A directory of links to the Debian cargo/rustc, put first on PATH for wasm commands only.
# It lives under target/ (build output), never in the source tree.
DEBIAN_RUST_LINKS="$REPO_ROOT/target/debian-rust-bin"

CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
CARGO_BIN_DIR="$CARGO_HOME/bin"

# ---------------------------------------------------------------------------------------------
# Logging

# log MESSAGE...: a progress line on stderr.
log() { printf '==> %s\n' "$*" >&2; }

# warn MESSAGE...: a warning on stderr.
warn() { printf 'warning: %s\n' "$*" >&2; }

# die MESSAGE...: print an error and exit 1.
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# banner TITLE: a visible separator between the steps of a long script.
banner() {
  printf '\n========================================================================\n' >&2
  printf '== %s\n' "$*" >&2
  printf '========================================================================\n' >&2
}

# run COMMAND...: print a command, then run it.
run() {
  printf '+ %s\n' "$*" >&2
  "$@"
}

# ---------------------------------------------------------------------------------------------
# Privileges and packages

# as_root COMMAND...: run a command as root (directly when we are root, else through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    run "$@"
  elif command -v sudo >/dev/null 2>&1; then
    run sudo "$@"
  else
    die "need root for: $* (run as root or install sudo)"
  fi
}

APT_UPDATED=0
# apt_install PACKAGE...: apt-get install, running `apt-get update` once per script run.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# ---------------------------------------------------------------------------------------------
# Native Rust

# prefer_rustup_path: make `cargo`/`rustc` mean the rustup toolchain for native builds, even
# when /usr/bin (which may hold the Debian fallback compiler) comes first on PATH. Also drops
# any nightly-feature switches inherited from the caller: they are for wasm commands only.
prefer_rustup_path() {
  if [ -x "$CARGO_BIN_DIR/cargo" ]; then
    PATH="$CARGO_BIN_DIR:$PATH"
    export PATH
  fi
  unset RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD
}

# wasm_bindgen_lock_version: the version of the `wasm-bindgen` crate in Cargo.lock (empty if
# Cargo.lock or the package is missing).
wasm_bindgen_lock_version() {
  [ -f "$REPO_ROOT/Cargo.lock" ] || return 0
  awk '
    $0 == "name = \"wasm-bindgen\"" { found = 1; next }
    found && /^version = / { gsub(/^version = "|"$/, ""); print; exit }
    /^\[\[package\]\]/ { found = 0 }
  ' "$REPO_ROOT/Cargo.lock"
}

# ---------------------------------------------------------------------------------------------
# The wasm32 toolchain

# rustup_has_wasm32: true when the normal rustup toolchain has the wasm32 standard library.
rustup_has_wasm32() {
  command -v rustup >/dev/null 2>&1 || return 1
  (cd "$REPO_ROOT" && rustup target list --installed 2>/dev/null) | grep -qx "$WASM_TARGET"
}

# debian_fallback_installed: true when rustc-web/cargo-web/rust-web-src/lld-22 are present.
debian_fallback_installed() {
  [ -x "$DEBIAN_RUSTC" ] && [ -x "$DEBIAN_CARGO" ] && [ -d "$DEBIAN_RUST_SRC/library" ] &&
    [ -x /usr/bin/rust-lld ] &&
    "$DEBIAN_RUSTC" --version 2>/dev/null | grep -q '^rustc '
}

# debian_wasm_libdir: the (empty) wasm32 target libdir of the Debian compiler. worker-build
# refuses to run unless it exists, although -Zbuild-std never puts anything in it.
debian_wasm_libdir() {
  "$DEBIAN_RUSTC" --target "$WASM_TARGET" --print target-libdir
}

# wasm_toolchain_mode: prints `rustup` (the normal path), `debian` (the -Zbuild-std fallback)
# or `none` (run scripts/setup.sh).
wasm_toolchain_mode() {
  if rustup_has_wasm32; then
    echo rustup
  elif debian_fallback_installed && [ -d "$(debian_wasm_libdir)" ]; then
    echo debian
  else
    echo none
  fi
}

# wasm_build_env: export the environment for one wasm build (worker-build, or cargo with
# --target wasm32-unknown-unknown). Call it in a subshell or a script that only does wasm
# builds: it sets RUSTC_BOOTSTRAP, which must never reach the native cargo commands.
#
# - ESBUILD_BIN, WASM_BINDGEN_BIN, WASM_OPT_BIN: the tools worker-build would otherwise
#   download (esbuild comes with wrangler from npm, wasm-opt with npm's `binaryen`,
#   wasm-bindgen from `cargo install`).
# - Fallback mode only: PATH starts with links to the Debian cargo/rustc (worker-build runs
#   plain `cargo` and `rustc`), RUSTC_BOOTSTRAP=1 lets the stable compiler take -Zbuild-std,
#   and CARGO_UNSTABLE_BUILD_STD=std,panic_abort builds std for wasm32 from rust-web-src.
wasm_build_env() {
  local mode
  mode="$(wasm_toolchain_mode)"
  case "$mode" in
    rustup)
      log "wasm32 toolchain: rustup target $WASM_TARGET"
      prefer_rustup_path
      ;;
    debian)
      log "wasm32 toolchain: Debian rustc-web fallback with -Zbuild-std (docs/toolchain.md)"
      mkdir -p "$DEBIAN_RUST_LINKS"
      ln -sfn "$DEBIAN_CARGO" "$DEBIAN_RUST_LINKS/cargo"
      ln -sfn "$DEBIAN_RUSTC" "$DEBIAN_RUST_LINKS/rustc"
      PATH="$DEBIAN_RUST_LINKS:$PATH"
      export PATH
      export RUSTC_BOOTSTRAP=1
      export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
      # A rustup-set toolchain override would mean nothing to the Debian cargo.
      unset RUSTC RUSTUP_TOOLCHAIN
      ;;
    *)
      die "no wasm32 toolchain: run bash scripts/setup.sh first"
      ;;
  esac

  local esbuild="$REPO_ROOT/node_modules/.bin/esbuild"
  [ -x "$esbuild" ] || die "missing $esbuild: run bash scripts/setup.sh (npm ci) first"
  export ESBUILD_BIN="$esbuild"

  [ -x "$CARGO_BIN_DIR/wasm-bindgen" ] ||
    die "missing $CARGO_BIN_DIR/wasm-bindgen: run bash scripts/setup.sh first"
  export WASM_BINDGEN_BIN="$CARGO_BIN_DIR/wasm-bindgen"

  # npm's binaryen (pinned in package.json to the version worker-build expects), not
  # Debian's: bookworm's binaryen 108 cannot parse what wasm-bindgen 0.2.13x emits.
  local wasm_opt="$REPO_ROOT/node_modules/.bin/wasm-opt"
  [ -x "$wasm_opt" ] || die "missing $wasm_opt: run bash scripts/setup.sh (npm ci) first"
  export WASM_OPT_BIN="$wasm_opt"

  export WASM_TOOLCHAIN_MODE="$mode"
}
