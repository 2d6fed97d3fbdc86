#!/usr/bin/env bash
# Benchmarks the token crate's JWT verification against jsonwebtoken and the bare
# ed25519-dalek signature check, in one criterion run, and prints the ratios.
#
#   bash scripts/bench-token.sh            # full run (about a minute)
#   BENCH_ARGS="--quick" bash scripts/bench-token.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --locked -p edgeauth-token --bench verify -- ${BENCH_ARGS:-} verify_better_auth_jwt

python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion/verify_better_auth_jwt")
def median_ns(name):
    est = json.loads((root / name / "new" / "estimates.json").read_text())
    return est["median"]["point_estimate"]
ours = median_ns("edgeauth-token")
peer = median_ns("jsonwebtoken")
floor = median_ns("ed25519-dalek verify_strict")
equation = median_ns("ed25519-dalek verify (non-strict)")
print()
print(f"{'path':<32}{'median':>12}{'vs floor':>10}")
for name, ns in [("edgeauth-token", ours), ("jsonwebtoken", peer),
                 ("ed25519-dalek verify_strict", floor), ("ed25519-dalek verify (non-strict)", equation)]:
    print(f"{name:<32}{ns/1000:>10.2f}us{ns/floor:>9.3f}x")
print()
print(f"edgeauth-token / floor        = {ours/floor:.3f}x (goal <= 1.15x)")
print(f"edgeauth-token / jsonwebtoken = {ours/peer:.3f}x (goal < 1x)")
print(f"edgeauth-token / bare equation = {ours/equation:.3f}x (the crate's own overhead)")
PY
