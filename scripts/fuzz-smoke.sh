#!/usr/bin/env bash
# A short fuzzing run of the token crate's parsers (JWT, JWKS, signed cookie) with
# cargo-fuzz and libFuzzer. Not part of scripts/test.sh: it needs cargo-fuzz and a
# sanitizer build, and a smoke run proves little that the proptests in shared/tests do not.
# Run it after changing anything under shared/src.
#
#   bash scripts/fuzz-smoke.sh            # 60 seconds
#   FUZZ_SECONDS=600 bash scripts/fuzz-smoke.sh
#
# cargo-fuzz needs nightly flags; on a stable toolchain RUSTC_BOOTSTRAP=1 allows them for
# this build only. A crash is saved under shared/fuzz/artifacts/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../shared"

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
corpus="fuzz/corpus/token"
mkdir -p "$corpus"
RUSTC_BOOTSTRAP=1 cargo fuzz run token "$corpus" fuzz/seeds/token -- \
  -max_total_time="${FUZZ_SECONDS:-60}" -max_len=16384 -timeout=5 -rss_limit_mb=1024
