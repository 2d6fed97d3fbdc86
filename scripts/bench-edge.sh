#!/usr/bin/env bash
# Load benchmark of the edge worker under `wrangler dev`, against a minimal JavaScript worker
# verifying the same JWT with jose (bench/jose-worker), measured in the same run. Prints a
# Markdown table with the command line and the machine.
#
#   bash scripts/bench-edge.sh                        # about 3 minutes after the builds
#   BENCH_SECONDS=5 bash scripts/bench-edge.sh        # shorter runs
#   BENCH_ONLY=jose bash scripts/bench-edge.sh        # the jose worker alone (no edge, no origin)
#
# Paths (autocannon from package.json, through bench/edge-load.mjs, BENCH_CONNECTIONS each):
#   Rust edge (edge/build, wrangler.toml):
#     floor    GET /public, no credentials: passed through to the upstream (the runtime's floor)
#     jwt      GET /app with `Authorization: Bearer <jwt>`, the same token on every request
#              (after the first, the isolate memo answers)
#     jwt-pool GET /app with BENCH_TOKEN_POOL distinct tokens of the same user, cycled (the memo
#              holds 1,024: nearly every request is a full verification)
#     cookie   GET /app with the `better-auth.session_token` cookie of a user signed up through
#              the edge (the session answer cached by the edge: SESSION_CACHE_TTL=3600)
#     refused  GET /app without credentials: 401
#   jose worker (bench/jose-worker): floor, jwt, jwt-pool, refused, the same way, plus
#     jwt-kv   GET /app-kv with the same token: jose's verification and then one KV read of
#              the user's revocation marker, which is what the edge's JWT path does on every
#              request (memo hit or not): the equal-work peer.
# Both workers get the same pinned JWKS_JSON (a key generated for the run), issuer, audience,
# PROTECTED_PATHS=/app and upstream: a node:http server answering 200 "ok" (bench/upstream.mjs)
# that echoes the identity header it received, which the script checks before any load.
#
# Reported per path: req/s, p50 and p99 latency (full resolution), the CPU the worker's own
# workerd processes used per request, and the overhead over the same worker's floor, both as
# wall time per request at saturation (1/req/s) and as workerd CPU per request. Then the Rust
# edge's JWT overhead over the jose worker's (goal <= 1x), and the edge bundle's gzipped size
# (goal < 1 MB).
#
# Settings (environment):
#   BENCH_SECONDS          length of each measured run (default 10)
#   BENCH_CONNECTIONS      autocannon connections (default 16)
#   BENCH_WARMUP_SECONDS   unmeasured warm-up per path and worker (default 2)
#   BENCH_PASSES           measured passes over all paths, interleaved; the report shows the
#                          median across passes of each figure (default 1)
#   BENCH_TOKEN_POOL       distinct tokens for the jwt-pool path (default 20000)
#   BENCH_ONLY             all (default), or jose: only the jose worker and its floor
#   BENCH_SKIP_BUILD       set: use edge/build and target/release/edgeauth as they are
#   BENCH_ORIGIN_BIN       the origin binary (default target/release/edgeauth)
#
# Everything the script starts (upstream, origin, both wrangler dev sessions with their workerd
# processes, autocannon) is stopped on exit, on error and on Ctrl-C. Logs, autocannon JSON and
# the report stay in target/bench-edge/; the secrets file and the SQLite database are deleted.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
prefer_rustup_path

COMMAND_LINE="bash scripts/bench-edge.sh${*:+ $*}"
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
[ $# -eq 0 ] || die "no arguments are taken; settings come from the environment (see the header of $0)"

# --- settings ------------------------------------------------------------------------------
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
WARMUP_SECONDS="${BENCH_WARMUP_SECONDS:-2}"
PASSES="${BENCH_PASSES:-1}"
TOKEN_POOL="${BENCH_TOKEN_POOL:-20000}"
ONLY="${BENCH_ONLY:-all}"
ORIGIN_BIN="${BENCH_ORIGIN_BIN:-$REPO_ROOT/target/release/edgeauth}"

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_uint "$SECONDS_PER_RUN" && [ "$SECONDS_PER_RUN" -ge 1 ] || die "BENCH_SECONDS must be a whole number >= 1"
is_uint "$CONNECTIONS" && [ "$CONNECTIONS" -ge 1 ] || die "BENCH_CONNECTIONS must be a positive integer"
is_uint "$WARMUP_SECONDS" || die "BENCH_WARMUP_SECONDS must be a whole number"
is_uint "$PASSES" && [ "$PASSES" -ge 1 ] || die "BENCH_PASSES must be a positive integer"
is_uint "$TOKEN_POOL" && [ "$TOKEN_POOL" -ge 1 ] || die "BENCH_TOKEN_POOL must be a positive integer"
case "$ONLY" in all | jose) ;; *) die "BENCH_ONLY must be all or jose" ;; esac

WRANGLER="$REPO_ROOT/node_modules/.bin/wrangler"
WORK="$REPO_ROOT/target/bench-edge"
EDGE_WASM="$REPO_ROOT/edge/build/index_bg.wasm"
JOSE_CONFIG="$REPO_ROOT/bench/jose-worker/wrangler.toml"
export WRANGLER_SEND_METRICS=false NO_COLOR=1

for tool in node python3 curl setsid; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
[ -x "$WRANGLER" ] || die "missing $WRANGLER: run npm ci (wrangler is in package.json)"
[ -f "$REPO_ROOT/node_modules/autocannon/package.json" ] || die "autocannon missing: run npm ci"
[ -f "$REPO_ROOT/node_modules/jose/package.json" ] || die "jose missing: run npm ci"

# compatibility_date of a wrangler.toml.
compat_date() { sed -n 's/^compatibility_date *= *"\([^"]*\)".*/\1/p' "$1" | head -1; }
[ "$(compat_date "$JOSE_CONFIG")" = "$(compat_date "$REPO_ROOT/wrangler.toml")" ] ||
  die "bench/jose-worker/wrangler.toml's compatibility_date ($(compat_date "$JOSE_CONFIG")) differs from wrangler.toml's ($(compat_date "$REPO_ROOT/wrangler.toml"))"

# --- cleanup -------------------------------------------------------------------------------
# Every long-lived child is started with setsid, so it leads its own process group: stopping
# the group also stops what it spawned (wrangler's workerd processes). Only our own groups.
GROUPS_STARTED=()
LOAD_PID=""

# stop_group PGID: SIGTERM to the group, up to 5 s, then SIGKILL.
stop_group() {
  local pgid="$1" i
  kill -0 -- "-$pgid" 2>/dev/null || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for i in $(seq 50); do
    kill -0 -- "-$pgid" 2>/dev/null || break
    [ "$i" -lt 50 ] && sleep 0.1
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  wait "$pgid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pgid
  if [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; then
    kill -TERM "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
  fi
  for pgid in "${GROUPS_STARTED[@]}"; do stop_group "$pgid"; done
  rm -f "$WORK/edge.env"
  rm -rf "$WORK/origin-db"
  if [ "$status" -ne 0 ]; then
    warn "benchmark failed (exit $status); logs in ${WORK#"$REPO_ROOT"/}/"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND...: start COMMAND in its own session, output to $WORK/NAME.log; sets
# STARTED_PID (= its process group id).
start() {
  local name="$1"
  shift
  setsid "$@" </dev/null >"$WORK/$name.log" 2>&1 &
  STARTED_PID=$!
  GROUPS_STARTED+=("$STARTED_PID")
}

# free_port: a TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http NAME PID URL [SECONDS]: wait until URL answers anything over HTTP.
wait_http() {
  local name="$1" pid="$2" url="$3" limit="${4:-120}" code _
  for _ in $(seq $((limit * 5))); do
    code="$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)"
    [ -n "$code" ] && [ "$code" != 000 ] && return 0
    kill -0 "$pid" 2>/dev/null || die "$name exited: $(tail -5 "$WORK/$name.log")"
    sleep 0.2
  done
  die "$name did not answer on $url within ${limit}s: $(tail -5 "$WORK/$name.log")"
}

random_secret() {
  python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(48)))'
}

# --- 1. build --------------------------------------------------------------------------------
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  if [ "$ONLY" = all ]; then
    banner "build: edge bundle and origin (release)"
    run bash scripts/build-edge.sh
    run cargo build --release --locked -p edgeauth-origin --bin edgeauth
  fi
else
  log "BENCH_SKIP_BUILD set: using edge/build and $ORIGIN_BIN as they are"
fi
if [ "$ONLY" = all ]; then
  [ -f "$EDGE_WASM" ] || die "missing $EDGE_WASM: run bash scripts/build-edge.sh"
  [ -x "$ORIGIN_BIN" ] || die "missing $ORIGIN_BIN: cargo build --release -p edgeauth-origin"
fi
rm -rf "$WORK"
mkdir -p "$WORK/runs"

# --- 2. fixtures and upstream ------------------------------------------------------------------
banner "fixtures and upstream"
run node bench/edge-fixtures.mjs "$WORK/fixtures" "$TOKEN_POOL"
JWKS_JSON="$(cat "$WORK/fixtures/jwks.json")"
JWT="$(cat "$WORK/fixtures/token.txt")"
JWT_USER="$(cat "$WORK/fixtures/user-id.txt")"
ISSUER="http://localhost:3000"

UPSTREAM_PORT="$(free_port)"
start upstream node bench/upstream.mjs "$UPSTREAM_PORT"
UPSTREAM_PID=$STARTED_PID
UPSTREAM_URL="http://127.0.0.1:$UPSTREAM_PORT"
wait_http upstream "$UPSTREAM_PID" "$UPSTREAM_URL/" 30
log "upstream pid $UPSTREAM_PID on $UPSTREAM_URL"

# Common wrangler dev arguments: local only, quiet, its own state directory and inspector port.
wrangler_dev() {
  local name="$1" port="$2"
  shift 2
  start "$name" "$WRANGLER" dev --ip 127.0.0.1 --port "$port" \
    --inspector-port "$(free_port)" --persist-to "$WORK/state-$name" \
    --show-interactive-dev-session=false --log-level warn "$@"
}

COMMON_VARS=(
  --var "UPSTREAM_URL:$UPSTREAM_URL"
  --var "PROTECTED_PATHS:/app"
  --var "JWT_ISSUER:$ISSUER"
  --var "JWT_AUDIENCE:$ISSUER"
  --var "JWKS_JSON:$JWKS_JSON"
)

# --- 3. the origin and the Rust edge -----------------------------------------------------------
EDGE_URL=""
if [ "$ONLY" = all ]; then
  banner "origin and Rust edge"
  BETTER_AUTH_SECRET_VALUE="$(random_secret)"
  EDGE_SECRET_VALUE="$(random_secret)"
  ORIGIN_PORT="$(free_port)"
  mkdir -p "$WORK/origin-db"
  start origin env BETTER_AUTH_SECRET="$BETTER_AUTH_SECRET_VALUE" BETTER_AUTH_URL="$ISSUER" \
    DATABASE_URL="sqlite://$WORK/origin-db/edgeauth.db?mode=rwc" \
    EDGEAUTH_EDGE_SECRET="$EDGE_SECRET_VALUE" EDGEAUTH_LISTEN="127.0.0.1:$ORIGIN_PORT" \
    EDGEAUTH_ENV=development EDGEAUTH_RATE_LIMIT=off RUST_LOG=warn \
    "$ORIGIN_BIN" serve
  ORIGIN_PID=$STARTED_PID
  wait_http origin "$ORIGIN_PID" "http://127.0.0.1:$ORIGIN_PORT/readyz" 60
  log "origin pid $ORIGIN_PID on 127.0.0.1:$ORIGIN_PORT (SQLite, development)"

  # The edge's secrets: a file for --env-file (which also keeps wrangler away from .dev.vars).
  (
    umask 077
    printf 'BETTER_AUTH_SECRET=%s\nEDGE_SECRET=%s\n' "$BETTER_AUTH_SECRET_VALUE" "$EDGE_SECRET_VALUE" >"$WORK/edge.env"
  )
  # The repository's wrangler.toml when it declares the SESSIONS KV namespace; otherwise a
  # copy with one added (and `main` made absolute), so the benchmark runs either way.
  EDGE_CONFIG=()
  if ! grep -Eq '^[[:space:]]*binding[[:space:]]*=[[:space:]]*"SESSIONS"' wrangler.toml; then
    warn "wrangler.toml declares no SESSIONS KV namespace: using a copy with one (target/bench-edge/wrangler.toml)"
    sed "s|^main *= *\"\\([^\"]*\\)\"|main = \"$REPO_ROOT/\\1\"|" wrangler.toml >"$WORK/wrangler.toml"
    printf '\n[[kv_namespaces]]\nbinding = "SESSIONS"\nid = "bench-sessions"\n' >>"$WORK/wrangler.toml"
    EDGE_CONFIG=(--config "$WORK/wrangler.toml")
  fi
  EDGE_PORT="$(free_port)"
  wrangler_dev edge "$EDGE_PORT" "${EDGE_CONFIG[@]}" "${COMMON_VARS[@]}" \
    --var "ORIGIN_URL:http://127.0.0.1:$ORIGIN_PORT" \
    --var "SESSION_CACHE_TTL:3600" --var "SIGN_IN_URL:/sign-in" \
    --env-file "$WORK/edge.env"
  EDGE_PID=$STARTED_PID
  EDGE_URL="http://127.0.0.1:$EDGE_PORT"
  wait_http edge "$EDGE_PID" "$EDGE_URL/__edge/ok" 180
  log "Rust edge (wrangler dev pid $EDGE_PID) on $EDGE_URL"

  # A user, signed up through the edge (no cookie sent, so no Origin check applies).
  EMAIL="bench-$(python3 -c 'import secrets; print(secrets.token_hex(6))')@example.com"
  PASSWORD="bench-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
  status="$(curl -sS -o "$WORK/sign-up.json" -D "$WORK/sign-up.headers" -w '%{http_code}' \
    -H 'content-type: application/json' \
    --data "{\"name\":\"Bench User\",\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" \
    "$EDGE_URL/api/auth/sign-up/email")"
  [ "$status" = 200 ] || die "sign-up through the edge answered $status: $(head -c 300 "$WORK/sign-up.json")"
  read -r SESSION_COOKIE COOKIE_USER < <(python3 - "$WORK/sign-up.headers" "$WORK/sign-up.json" <<'PY'
import json, sys
cookie = ""
for line in open(sys.argv[1], encoding="latin-1"):
    name, _, value = line.partition(":")
    if name.strip().lower() == "set-cookie":
        pair = value.strip().split(";", 1)[0]
        if pair.split("=", 1)[0].endswith("better-auth.session_token"):
            cookie = pair
user = (json.load(open(sys.argv[2])).get("user") or {}).get("id") or ""
print(cookie or "-", user or "-")
PY
  )
  [ "$SESSION_COOKIE" != "-" ] || die "sign-up set no better-auth.session_token cookie"
  log "user $EMAIL ($COOKIE_USER) signed up through the edge"
fi

# --- 4. the jose worker ------------------------------------------------------------------------
banner "jose worker"
JOSE_PORT="$(free_port)"
wrangler_dev jose "$JOSE_PORT" --config "$JOSE_CONFIG" "${COMMON_VARS[@]}" --var "MARKER_PATHS:/app-kv"
JOSE_PID=$STARTED_PID
JOSE_URL="http://127.0.0.1:$JOSE_PORT"
wait_http jose "$JOSE_PID" "$JOSE_URL/public" 180
log "jose worker (wrangler dev pid $JOSE_PID) on $JOSE_URL"

# --- 5. what each path must answer -------------------------------------------------------------
# TARGETS: "worker path url expected-status expected-user header-kind"
TARGETS=()
add_targets() {
  local worker="$1" base="$2"
  TARGETS+=("$worker floor $base/public 200 - none")
  TARGETS+=("$worker jwt $base/app 200 $JWT_USER bearer")
  TARGETS+=("$worker jwt-pool $base/app 200 $JWT_USER pool")
  if [ "$worker" = jose ]; then
    TARGETS+=("$worker jwt-kv $base/app-kv 200 $JWT_USER bearer")
  fi
  if [ "$worker" = rust ]; then
    TARGETS+=("$worker cookie $base/app 200 $COOKIE_USER cookie")
  fi
  TARGETS+=("$worker refused $base/app 401 - none")
}
if [ "$ONLY" = all ]; then
  add_targets rust "$EDGE_URL"
fi
add_targets jose "$JOSE_URL"

# load_args KIND: the edge-load.mjs arguments that send credential KIND.
load_args() {
  case "$1" in
    bearer) printf '%s\n' --header "authorization: Bearer $JWT" ;;
    pool) printf '%s\n' --tokens "$WORK/fixtures/tokens.txt" ;;
    cookie) printf '%s\n' --header "cookie: $SESSION_COOKIE" ;;
    none) ;;
  esac
}

banner "checks before load"
for target in "${TARGETS[@]}"; do
  read -r worker path url expect user kind <<<"$target"
  curl_args=()
  case "$kind" in
    bearer | pool) curl_args=(-H "authorization: Bearer $JWT") ;;
    cookie) curl_args=(-H "cookie: $SESSION_COOKIE") ;;
  esac
  code="$(curl -sS -o "$WORK/check-$worker-$path.body" -D "$WORK/check-$worker-$path.headers" \
    -w '%{http_code}' "${curl_args[@]}" "$url")"
  [ "$code" = "$expect" ] || die "$worker $path: $url answered $code, expected $expect: $(head -c 300 "$WORK/check-$worker-$path.body")"
  if [ "$expect" = 200 ]; then
    seen="$(awk -F': *' 'tolower($1) == "x-bench-user" { gsub(/\r/, "", $2); print $2 }' "$WORK/check-$worker-$path.headers")"
    [ "$seen" = "$user" ] || die "$worker $path: the upstream saw user '$seen', expected '$user'"
  fi
  log "$worker $path: $code, upstream saw user ${user}"
done

# --- 6. loads ----------------------------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
# group_ticks PGID: "workerd-ticks other-ticks" (utime+stime) of the live processes in a
# process group: the worker's workerd processes, and wrangler's own node process.
group_ticks() {
  python3 - "$1" <<'PY'
import os, sys
pgid = sys.argv[1]
workerd = other = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        continue
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[2] != pgid:
        continue
    ticks = int(fields[11]) + int(fields[12])
    if comm == "workerd":
        workerd += ticks
    else:
        other += ticks
print(workerd, other)
PY
}

# measure NAME PGID SECONDS ARGS...: one autocannon run; CPU of the worker's process group
# (workerd and wrangler's node) and of the upstream to $WORK/runs/NAME.cpu.
measure() {
  local name="$1" pgid="$2" secs="$3" status=0
  shift 3
  local before up_before
  before="$(group_ticks "$pgid")"
  up_before="$(group_ticks "$UPSTREAM_PID")"
  node bench/edge-load.mjs --out "$WORK/runs/$name.json" --connections "$CONNECTIONS" \
    --duration "$secs" "$@" >"$WORK/runs/$name.log" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID" || status=$?
  LOAD_PID=""
  [ "$status" -gt 128 ] && exit "$status"
  [ "$status" -eq 0 ] || die "load $name failed (exit $status): $(tail -5 "$WORK/runs/$name.log")"
  echo "$before $(group_ticks "$pgid") $up_before $(group_ticks "$UPSTREAM_PID") $CLK_TCK" >"$WORK/runs/$name.cpu"
  log "$(cat "$WORK/runs/$name.log")"
}

pgid_of() { [ "$1" = rust ] && echo "$EDGE_PID" || echo "$JOSE_PID"; }

if [ "$WARMUP_SECONDS" -gt 0 ]; then
  banner "warm-up (${WARMUP_SECONDS}s per path, not measured)"
  for target in "${TARGETS[@]}"; do
    read -r worker path url expect user kind <<<"$target"
    mapfile -t extra < <(load_args "$kind")
    measure "warmup-$worker-$path" "$(pgid_of "$worker")" "$WARMUP_SECONDS" --url "$url" --expect "$expect" "${extra[@]}"
  done
fi

# Interleaved: each path of the Rust edge right before the same path of the jose worker, so
# that drift in the machine's load reaches both alike; each pass starts one path further on.
PATHS=(floor jwt jwt-kv jwt-pool cookie refused)
ORDERED=()
for path in "${PATHS[@]}"; do
  for target in "${TARGETS[@]}"; do
    read -r _ p _ <<<"$target"
    if [ "$p" = "$path" ]; then ORDERED+=("$target"); fi
  done
done
for pass in $(seq "$PASSES"); do
  banner "pass $pass of $PASSES (${SECONDS_PER_RUN}s per path, $CONNECTIONS connections)"
  for i in "${!PATHS[@]}"; do
    path="${PATHS[$(((i + pass - 1) % ${#PATHS[@]}))]}"
    for target in "${ORDERED[@]}"; do
      read -r worker p url expect user kind <<<"$target"
      [ "$p" = "$path" ] || continue
      mapfile -t extra < <(load_args "$kind")
      measure "$worker-$path-$pass" "$(pgid_of "$worker")" "$SECONDS_PER_RUN" --url "$url" --expect "$expect" "${extra[@]}"
    done
  done
done

# --- 7. report ---------------------------------------------------------------------------------
banner "report"
EDGE_SIZE="-"
if [ "$ONLY" = all ]; then
  EDGE_SIZE="$(wc -c <"$EDGE_WASM") $(gzip -9 -c "$EDGE_WASM" | wc -c)"
fi
export REPORT_COMMAND="$COMMAND_LINE" REPORT_LOADAVG_START="$LOADAVG_START" REPORT_EDGE_SIZE="$EDGE_SIZE"
export REPORT_SECONDS="$SECONDS_PER_RUN" REPORT_CONNECTIONS="$CONNECTIONS" REPORT_PASSES="$PASSES"
export REPORT_POOL="$TOKEN_POOL" REPORT_WORK="$WORK"
REPORT_CPU="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
REPORT_WRANGLER="$("$WRANGLER" --version 2>/dev/null | tail -1)"
REPORT_WORKERD="$("$REPO_ROOT/node_modules/.bin/workerd" --version 2>/dev/null || echo unknown)"
REPORT_JOSE="$(node -p 'require("jose/package.json").version')"
REPORT_NODE="$(node --version)"
export REPORT_CPU REPORT_WRANGLER REPORT_WORKERD REPORT_JOSE REPORT_NODE
printf '%s\n' "${ORDERED[@]}" >"$WORK/targets.txt"
python3 -c 'import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith("REPORT_")}, indent=2))' >"$WORK/meta.json"
python3 bench/edge-report.py "$WORK" | tee "$WORK/report.md"
