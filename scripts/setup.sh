#!/usr/bin/env bash
# Install everything edgeauth needs to build and test, on a Debian/Ubuntu machine that already
# has Rust (rustup) and Node (with npm). Safe to re-run: each step checks first and does
# nothing when its tool is already there. Runs as root, or uses sudo for apt-get.
#
#   bash scripts/setup.sh
#
# Steps:
#   1. npm ci             wrangler (with workerd and esbuild) and binaryen (wasm-opt), pinned
#                         by package-lock.json
#   2. wasm32 toolchain   rustup's target, or the Debian rustc-web fallback (docs/toolchain.md)
#   3. wasm-opt           check the one from npm runs
#   4. worker-build       pinned version, cargo install
#   5. wasm-bindgen-cli   exactly the wasm-bindgen version in Cargo.lock, cargo install
#   6. PostgreSQL         server binaries for the tests (installed, never started here)
#   7. Chromium           Debian's chromium for the browser tests (tests/browser/), driven by
#                         npm's playwright-core; no browser is ever downloaded
#   8. FastAPI example    a virtualenv in .tools/fastapi-venv with examples/fastapi's pinned
#                         requirements (remade when requirements.txt changes), for its tests
#   9. promtool           from Debian's prometheus package: the metrics test checks the
#                         origin's /metrics with it (the Prometheus server is never started)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
prefer_rustup_path

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 or later"
# cargo install links native binaries with the system C compiler.
if ! command -v cc >/dev/null 2>&1; then
  log "no C compiler/linker: installing build-essential"
  apt_install build-essential
fi

# --- 1. npm packages ---------------------------------------------------------------------------
# npm ci writes node_modules/.package-lock.json; reinstall when package-lock.json is newer.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm: installing the packages in package-lock.json"
  # playwright-core drives the system Chromium (step 7): it must never fetch a browser.
  WRANGLER_SEND_METRICS=false PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 run npm ci --no-audit --no-fund
else
  log "npm: node_modules is up to date"
fi

# --- 2. wasm32 toolchain -----------------------------------------------------------------------
# Prefer rustup's wasm32 target (the normal path on any machine that can reach the rustup
# servers); otherwise build std from source with Debian's rustc-web (see docs/toolchain.md).
if rustup_has_wasm32; then
  log "wasm32: rustup target $WASM_TARGET is installed"
elif debian_fallback_installed; then
  log "wasm32: using the Debian rustc-web fallback ($("$DEBIAN_RUSTC" --version))"
elif command -v rustup >/dev/null 2>&1 && run timeout 60 rustup target add "$WASM_TARGET"; then
  log "wasm32: installed rustup target $WASM_TARGET"
else
  warn "rustup could not install $WASM_TARGET: falling back to Debian's rustc-web + -Zbuild-std"
  apt_install "${DEBIAN_RUST_PACKAGES[@]}"
fi
if ! rustup_has_wasm32; then
  debian_fallback_installed || die "the Debian fallback toolchain is incomplete: apt-get install ${DEBIAN_RUST_PACKAGES[*]}"
  # worker-build insists the target libdir exists; -Zbuild-std leaves it empty.
  libdir="$(debian_wasm_libdir)"
  if [ ! -d "$libdir" ]; then
    log "wasm32: creating the empty target libdir $libdir"
    as_root mkdir -p "$libdir"
  fi
fi

# --- 3. wasm-opt -------------------------------------------------------------------------------
# worker-build runs wasm-opt on the release wasm. It comes from npm's `binaryen` (pinned in
# package.json, installed by step 1): Debian bookworm's binaryen 108 is too old to parse the
# wasm that wasm-bindgen 0.2.13x emits ("invalid heap type index").
wasm_opt="$REPO_ROOT/node_modules/.bin/wasm-opt"
"$wasm_opt" --version >/dev/null 2>&1 || die "$wasm_opt does not run: is binaryen in package.json and npm ci done?"
log "wasm-opt: $("$wasm_opt" --version) from npm"

# --- 4. worker-build ---------------------------------------------------------------------------
installed="$("$CARGO_BIN_DIR/worker-build" --version 2>/dev/null || true)"
if [ "$installed" = "$WORKER_BUILD_VERSION" ]; then
  log "worker-build: $WORKER_BUILD_VERSION is installed"
else
  log "worker-build: installing $WORKER_BUILD_VERSION (found: ${installed:-none}); this compiles for a few minutes"
  run cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

# --- 5. wasm-bindgen-cli -----------------------------------------------------------------------
if [ ! -f Cargo.lock ]; then
  warn "Cargo.lock is missing: generating it (commit it; builds use --locked)"
  run cargo generate-lockfile
fi
bindgen_version="$(wasm_bindgen_lock_version)"
[ -n "$bindgen_version" ] || die "no wasm-bindgen package in Cargo.lock (does edge/ depend on worker?)"
installed="$("$CARGO_BIN_DIR/wasm-bindgen" --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$installed" = "$bindgen_version" ]; then
  log "wasm-bindgen-cli: $bindgen_version is installed (matches Cargo.lock)"
else
  log "wasm-bindgen-cli: installing $bindgen_version to match Cargo.lock (found: ${installed:-none}); this compiles for a few minutes"
  # --locked can fail when the registry lacks a version the CLI's own lockfile names (a
  # mirror that lags, or a yanked crate: wasm-bindgen-cli 0.2.130 locks webpki-roots 1.0.11,
  # which this project's crates.io mirror does not serve). The CLI version stays exact
  # either way; only its own dependencies are then resolved afresh.
  if ! run cargo install wasm-bindgen-cli --version "$bindgen_version" --locked; then
    warn "cargo install --locked failed: retrying without --locked (same wasm-bindgen-cli version)"
    run cargo install wasm-bindgen-cli --version "$bindgen_version"
  fi
fi

# --- 6. PostgreSQL server binaries -------------------------------------------------------------
# The tests start their own throwaway server (initdb in a temp dir, free port); nothing here
# starts or configures one.
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  log "postgresql: $(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1)"
else
  log "postgresql: installing the server binaries"
  apt_install postgresql
fi

# --- 7. Chromium ----------------------------------------------------------------------------------
# The browser tests (tests/e2e/browser.rs running tests/browser/ under node) drive Debian's
# chromium through playwright-core's `executablePath`; they fail, never skip, without it.
if [ -x /usr/bin/chromium ]; then
  log "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
else
  log "chromium: installing Debian's chromium for the browser tests"
  apt_install chromium
fi

# --- 8. The FastAPI example's virtualenv ------------------------------------------------------------
# tests/e2e/examples.rs runs examples/fastapi behind the edge with exactly its pinned
# requirements. The virtualenv is remade only when requirements.txt changes.
FASTAPI_VENV="$REPO_ROOT/.tools/fastapi-venv"
FASTAPI_REQUIREMENTS="$REPO_ROOT/examples/fastapi/requirements.txt"
fastapi_stamp="$(sha256sum "$FASTAPI_REQUIREMENTS" | cut -d' ' -f1)"
if [ -x "$FASTAPI_VENV/bin/uvicorn" ] && [ "$(cat "$FASTAPI_VENV/.requirements" 2>/dev/null)" = "$fastapi_stamp" ]; then
  log "fastapi example: virtualenv up to date"
else
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    log "fastapi example: installing python3 and its venv module"
    apt_install python3 python3-venv
  fi
  log "fastapi example: creating .tools/fastapi-venv"
  rm -rf "$FASTAPI_VENV"
  run python3 -m venv "$FASTAPI_VENV"
  run "$FASTAPI_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$FASTAPI_REQUIREMENTS"
  echo "$fastapi_stamp" >"$FASTAPI_VENV/.requirements"
fi

# --- 9. promtool ----------------------------------------------------------------------------------
# tests/e2e/metrics.rs runs `promtool check metrics` on the origin's exposition; it fails, never
# skips, without it. Debian ships promtool in the prometheus package; its service is not
# started here (nor by apt where no init system runs, as in containers).
if command -v promtool >/dev/null 2>&1; then
  log "promtool: $(promtool --version 2>&1 | head -n 1)"
else
  log "promtool: installing Debian's prometheus package for promtool"
  apt_install prometheus
fi

log "setup complete"
