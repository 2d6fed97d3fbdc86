#!/usr/bin/env bash
# Does POST /api/auth/request-password-reset answer a registered address as fast as an
# unknown one? The peer is the unknown address, measured in the same run: (a) a timing probe,
# one request at a time, registered/unknown latency ratios per percentile (goal: 1.0x within
# noise); (b) a flood per address: throughput ratio, and what the outbox worker managed
# under it (requests handled, mails sent; each request is one outbox row, none dropped).
#
#   bash scripts/bench-lifecycle.sh                  # about a minute after the build
#   BENCH_SECONDS=5 BENCH_PASSES=2 bash scripts/bench-lifecycle.sh
#
# The origin (release build) runs in development mode on SQLite with rate limiting off, so
# the load reaches the handler, and with the development mail transport (each mail is
# rendered and written to target/bench-lifecycle/origin.log). Runs alternate
# known, unknown, known, ... for BENCH_PASSES passes; medians are reported.
#
# Settings: BENCH_SECONDS (per flood run, default 8), BENCH_PASSES (default 3),
# BENCH_CONNECTIONS (default 16), BENCH_PROBE_REQUESTS (per address, default 2000). Logs and raw autocannon JSON stay in target/bench-lifecycle/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
prefer_rustup_path

SECONDS_PER_RUN="${BENCH_SECONDS:-8}"
PASSES="${BENCH_PASSES:-3}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
PROBE_REQUESTS="${BENCH_PROBE_REQUESTS:-2000}"
AUTOCANNON="$REPO_ROOT/node_modules/.bin/autocannon"
ORIGIN_BIN="$REPO_ROOT/target/release/edgeauth"
WORK="$REPO_ROOT/target/bench-lifecycle"
[ -x "$AUTOCANNON" ] || die "missing $AUTOCANNON: run npm ci (autocannon is in package.json)"
command -v python3 >/dev/null || die "python3 is needed to summarise the runs"

rm -rf "$WORK"
mkdir -p "$WORK"
run cargo build --release --locked -p edgeauth-origin --bin edgeauth

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
ORIGIN_PID=""
cleanup() { [ -n "$ORIGIN_PID" ] && kill "$ORIGIN_PID" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

EDGEAUTH_LISTEN="127.0.0.1:$PORT" \
  DATABASE_URL="sqlite://$WORK/bench.db?mode=rwc" \
  BETTER_AUTH_SECRET="bench-secret-bench-secret-bench-secret-0" \
  EDGEAUTH_ENV=development EDGEAUTH_RATE_LIMIT=off RUST_LOG="warn,edgeauth_origin::mail=info" \
  "$ORIGIN_BIN" serve >"$WORK/origin.log" 2>&1 &
ORIGIN_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$URL/healthz" >/dev/null || die "the origin did not start: $(tail -5 "$WORK/origin.log")"

KNOWN="known@bench.example"
UNKNOWN="unknown@bench.example"
curl -fsS "$URL/api/auth/sign-up/email" -H 'content-type: application/json' \
  -d "{\"name\":\"Bench\",\"email\":\"$KNOWN\",\"password\":\"a long bench passphrase\"}" >/dev/null

# (a) The enumeration question: one request at a time, registered and unknown addresses in
# random order on one keep-alive connection, each timed in the client (microseconds).
log "timing probe: $PROBE_REQUESTS requests per address, one at a time, interleaved"
python3 - "$PORT" "$KNOWN" "$UNKNOWN" "$PROBE_REQUESTS" >"$WORK/probe.json" <<'PY'
import http.client, json, random, sys, time
port, known, unknown, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", int(port))
order = [known] * n + [unknown] * n
random.shuffle(order)
times = {known: [], unknown: []}
headers = {"content-type": "application/json"}
for address in order:
    body = json.dumps({"email": address})
    t = time.perf_counter()
    conn.request("POST", "/api/auth/request-password-reset", body, headers)
    response = conn.getresponse()
    response.read()
    times[address].append((time.perf_counter() - t) * 1e6)
    assert response.status == 200, response.status
    time.sleep(0.002)  # leave the background work its time: no queueing builds up
json.dump({"known": times[known], "unknown": times[unknown]}, sys.stdout)
PY

# (b) The capacity question: a flood per address (autocannon), alternating, BENCH_PASSES
# passes; what the background work managed is counted below.
for pass in $(seq 1 "$PASSES"); do
  for who in known unknown; do
    address="$KNOWN"
    [ "$who" = unknown ] && address="$UNKNOWN"
    log "flood, pass $pass: $who address, autocannon -c $CONNECTIONS -d $SECONDS_PER_RUN"
    "$AUTOCANNON" --json -c "$CONNECTIONS" -d "$SECONDS_PER_RUN" -m POST \
      -H 'content-type=application/json' -b "{\"email\":\"$address\"}" \
      "$URL/api/auth/request-password-reset" >"$WORK/$who-$pass.json" 2>"$WORK/$who-$pass.err"
  done
done
sleep 2 # let queued background work finish before counting it

SENT="$(grep -c 'mail sent' "$WORK/origin.log" || true)"
HANDLED="$(grep -c 'mail request handled' "$WORK/origin.log" || true)"

python3 - "$WORK" "$PASSES" "$SECONDS_PER_RUN" "$CONNECTIONS" "$SENT" "$HANDLED" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)" <<'EOF'
import json, statistics, sys
work, passes, secs, conns, sent, handled, rev, cores = sys.argv[1:]
def runs(who):
    out = []
    for p in range(1, int(passes) + 1):
        with open(f"{work}/{who}-{p}.json") as f:
            r = json.load(f)
        ok = r["2xx"]
        out.append((ok / r["duration"] if r["duration"] else 0, r["latency"]["p50"], r["latency"]["p99"], r["non2xx"] + r["errors"], ok))
    return out
known, unknown = runs("known"), runs("unknown")
med = lambda xs, i: statistics.median(x[i] for x in xs)
with open(f"{work}/probe.json") as f:
    probe = json.load(f)
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]
print("Timing probe (one request at a time, microseconds, measured in the client):")
print()
print("| address | requests | p10 | p50 | p90 | p99 |")
print("|---|---|---|---|---|---|")
for name in ("known", "unknown"):
    xs = probe[name]
    print(f"| {'registered' if name == 'known' else 'unknown'} | {len(xs)} | "
          + " | ".join(f"{pct(xs, q):.0f}" for q in (0.1, 0.5, 0.9, 0.99)) + " |")
print("| **ratio registered/unknown** | | "
      + " | ".join(f"**{pct(probe['known'], q) / pct(probe['unknown'], q):.2f}x**" for q in (0.1, 0.5, 0.9, 0.99)) + " |")
print()
print(f"Flood (autocannon, median of {passes} passes):")
print()
print("| address | req/s | p99 ms | non-2xx |")
print("|---|---|---|---|")
for name, r in (("registered", known), ("unknown", unknown)):
    print(f"| {name} | {med(r,0):.0f} | {med(r,2):.1f} | {sum(x[3] for x in r)} |")
print(f"| **ratio registered/unknown** | **{med(known,0)/med(unknown,0):.2f}x** | | |")
print()
print(f"- Reset mails sent for the registered address (probe and flood): {sent}, and requests "
      f"for it handled by the outbox worker (token and mail written): {handled}, of "
      f"{sum(x[4] for x in known) + len(probe['known'])} accepted requests, 2 s after the "
      f"last flood (the rest wait in the outbox).")
print(f"- {passes} passes x {secs} s per address, alternating, {conns} connections; origin revision {rev}, "
      f"release build, SQLite, development mail transport, rate limiting off; {cores} cores shared "
      f"with autocannon.")
EOF
