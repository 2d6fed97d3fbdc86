#!/usr/bin/env bash
# Load benchmark of the origin (`edgeauth serve` on PostgreSQL), with every figure reported as
# a ratio against a peer measured in the same run. Prints a Markdown table for BENCHMARKS.md.
#
#   bash scripts/bench-origin.sh                        # about 2 minutes after the build
#   BENCH_SECONDS=5 bash scripts/bench-origin.sh        # shorter runs
#   BENCH_DATABASE_URL=postgres://... bash scripts/bench-origin.sh   # an existing server
#
# What it measures (autocannon from package.json, BENCH_CONNECTIONS connections each):
#   (a) GET /api/auth/get-session with a session cookie: req/s, p50, p99 (idle server);
#   (b) GET /api/auth/jwks: req/s, p50, p99;
#   (c) POST /api/auth/sign-in/email with the right password: sign-ins/s, against the raw
#       argon2id verification rate of the same Hasher on plain threads, one thread per core
#       (origin/examples/hash_throughput.rs), measured for half the time right before and
#       half right after the sign-ins so that drift in the machine's load hits both: goal
#       >= 0.9x;
#   (d) get-session p99 while sign-ins saturate the hash pool (two autocannon processes at
#       once), against (a)'s idle p99: goal < 3x. Also, unless BENCH_PROBE_RATE=0, the same
#       comparison at a fixed, unsaturating get-session rate, which isolates the latency the
#       hashing adds from the throughput the two loads share on this machine;
#   (e) resident memory of the origin: idle (after start, before any load) and the maximum
#       sampled during the runs (VmRSS from /proc/<pid>/status every 0.2 s, with the thread
#       count), and the kernel's high-water mark (VmHWM) at the end;
#   (f) get-session against two peers on the same database and load, each right after a run
#       of the origin's (the origin's figure is the mean of the runs around it): the floor, a
#       bare axum + sqlx handler doing the same session lookup
#       (origin/examples/get_session_floor.rs): goal >= 0.6x; and a Better Auth 1.4.22 server
#       (tests/js/better-auth-server.mjs: jwt() and bearer(), rate limiting off, the same pool
#       size, NODE_ENV=production) reading the same session: goal >= 30x.
#
# Settings (environment):
#   BENCH_SECONDS            length of each measured run (default 10)
#   BENCH_CONNECTIONS        autocannon connections per load (default 32)
#   BENCH_PROBE_RATE         fixed get-session rate for the probe of (d), req/s (default 100;
#                            0 skips the probe)
#   BENCH_AUTH               get-session credential: cookie (default) or bearer
#   BENCH_ENV                EDGEAUTH_ENV of the origin (default production)
#   BENCH_DATABASE_URL       use this PostgreSQL database instead of a throwaway cluster (the
#                            origin migrates it and the benchmark adds a user and sessions)
#   BENCH_HASH_CONCURRENCY   EDGEAUTH_HASH_CONCURRENCY (default: the number of cores)
#   BENCH_BIN_DIR            take `edgeauth` and `hash_throughput` from this directory instead
#                            of building them (to compare two revisions under the same
#                            conditions: build each with `cargo build --release -p
#                            edgeauth-origin --bin edgeauth --example hash_throughput`, copy
#                            the two binaries aside, and run the script once for each); the
#                            floor, `get_session_floor`, is taken from there too when present
#
# Everything the script starts (PostgreSQL, the origin, autocannon, the memory sampler) is
# stopped on exit, on error and on Ctrl-C; the throwaway cluster under target/bench-pg is
# deleted. Logs and raw autocannon JSON stay in target/bench-origin/ for inspection.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
prefer_rustup_path

SCRIPT_START=$SECONDS
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
COMMAND_LINE="bash scripts/bench-origin.sh${*:+ $*}"

# --- settings ------------------------------------------------------------------------------
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
PROBE_RATE="${BENCH_PROBE_RATE:-100}"
AUTH_MODE="${BENCH_AUTH:-cookie}"
ORIGIN_ENV="${BENCH_ENV:-production}"
CORES="$(nproc)"
HASH_CONCURRENCY="${BENCH_HASH_CONCURRENCY:-$CORES}"

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_uint "$SECONDS_PER_RUN" && [ "$SECONDS_PER_RUN" -ge 1 ] || die "BENCH_SECONDS must be a whole number of seconds >= 1"
is_uint "$CONNECTIONS" && [ "$CONNECTIONS" -ge 1 ] || die "BENCH_CONNECTIONS must be a positive integer"
is_uint "$PROBE_RATE" || die "BENCH_PROBE_RATE must be a whole number of requests per second (0: no probe)"
is_uint "$HASH_CONCURRENCY" && [ "$HASH_CONCURRENCY" -ge 1 ] || die "BENCH_HASH_CONCURRENCY must be a positive integer"
case "$AUTH_MODE" in cookie | bearer) ;; *) die "BENCH_AUTH must be cookie or bearer" ;; esac
case "$ORIGIN_ENV" in development | production) ;; *) die "BENCH_ENV must be development or production" ;; esac
[ $# -eq 0 ] || die "no arguments are taken; settings come from the environment (see the header of $0)"

AUTOCANNON="$REPO_ROOT/node_modules/.bin/autocannon"
ORIGIN_BIN="${BENCH_BIN_DIR:-$REPO_ROOT/target/release}/edgeauth"
HASH_BIN="${BENCH_BIN_DIR:+$BENCH_BIN_DIR/hash_throughput}"
HASH_BIN="${HASH_BIN:-$REPO_ROOT/target/release/examples/hash_throughput}"
FLOOR_BIN="$REPO_ROOT/target/release/examples/get_session_floor"
if [ -n "${BENCH_BIN_DIR:-}" ] && [ -x "$BENCH_BIN_DIR/get_session_floor" ]; then
  FLOOR_BIN="$BENCH_BIN_DIR/get_session_floor"
fi
BETTER_AUTH_SERVER="$REPO_ROOT/tests/js/better-auth-server.mjs"
WORK="$REPO_ROOT/target/bench-origin" # logs, autocannon JSON, the report
PG_DIR="$REPO_ROOT/target/bench-pg"   # the throwaway cluster (deleted on exit)

for tool in cargo node python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
[ -x "$AUTOCANNON" ] || die "missing $AUTOCANNON: run npm ci (autocannon is in package.json)"
[ -d "$REPO_ROOT/node_modules/better-auth" ] || die "missing node_modules/better-auth: run npm ci"

# --- cleanup -------------------------------------------------------------------------------
ORIGIN_PID=""
SAMPLER_PID=""
PEER_PID=""
LOAD_PIDS=()
PG_STARTED=0
PG_BIN=""
AS_POSTGRES=0

# pg_cmd NAME ARGS...: a PostgreSQL server binary, as the `postgres` user when we are root
# (initdb and postgres refuse to run as root).
pg_cmd() {
  local name="$1"
  shift
  if [ "$AS_POSTGRES" -eq 1 ]; then
    (cd "$PG_DIR" && LC_ALL=C runuser -u postgres -- "$PG_BIN/$name" "$@")
  else
    (cd "$PG_DIR" && LC_ALL=C "$PG_BIN/$name" "$@")
  fi
}

# stop_pid PID: SIGTERM, up to 5 s for a clean exit, then SIGKILL. Only ever our own children.
stop_pid() {
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    [ "$i" -lt 50 ] && sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# forget_pid PID: a load that was waited for leaves LOAD_PIDS, so that cleanup never signals
# a reused pid.
forget_pid() {
  local kept=() pid
  for pid in "${LOAD_PIDS[@]}"; do
    [ "$pid" = "$1" ] || kept+=("$pid")
  done
  LOAD_PIDS=("${kept[@]}")
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${LOAD_PIDS[@]}"; do stop_pid "$pid"; done
  [ -n "$SAMPLER_PID" ] && stop_pid "$SAMPLER_PID"
  [ -n "$PEER_PID" ] && stop_pid "$PEER_PID"
  [ -n "$ORIGIN_PID" ] && stop_pid "$ORIGIN_PID"
  if [ "$PG_STARTED" -eq 1 ]; then
    pg_cmd pg_ctl -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  # Only the directory this script owns; with BENCH_DATABASE_URL nothing was created there.
  if [ -n "$PG_BIN" ] && [ -d "$PG_DIR" ]; then
    rm -rf "$PG_DIR"
  fi
  if [ "$status" -ne 0 ]; then
    warn "benchmark failed (exit $status); logs in ${WORK#"$REPO_ROOT"/}/"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: a TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- 1. build ------------------------------------------------------------------------------
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  banner "binaries from BENCH_BIN_DIR"
  [ -x "$ORIGIN_BIN" ] && [ -x "$HASH_BIN" ] || die "BENCH_BIN_DIR must hold edgeauth and hash_throughput"
  log "using $ORIGIN_BIN and $HASH_BIN"
  if [ ! -x "$FLOOR_BIN" ]; then
    run cargo build --release --locked -p edgeauth-origin --example get_session_floor
  fi
else
  banner "build (release)"
  run cargo build --release --locked -p edgeauth-origin --bin edgeauth --example hash_throughput \
    --example get_session_floor
fi
rm -rf "$WORK"
mkdir -p "$WORK"

# --- 2. PostgreSQL -------------------------------------------------------------------------
banner "PostgreSQL"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  DATABASE_URL="$BENCH_DATABASE_URL"
  PG_NOTE="BENCH_DATABASE_URL (an existing server)"
  PG_VERSION="server version not queried"
  log "using BENCH_DATABASE_URL"
else
  # The newest Debian server binaries, else pg_config's.
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && PG_BIN="$dir"
  done
  if [ -z "$PG_BIN" ] && command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir)"
    [ -x "$dir/initdb" ] && PG_BIN="$dir"
  fi
  [ -n "$PG_BIN" ] || die "PostgreSQL server binaries not found: run bash scripts/setup.sh, or set BENCH_DATABASE_URL"
  [ "$(id -u)" -eq 0 ] && AS_POSTGRES=1
  if [ "$AS_POSTGRES" -eq 1 ]; then
    id -u postgres >/dev/null 2>&1 || die "running as root needs the postgres OS user (apt-get install postgresql)"
  fi
  # A cluster left by a killed run: stop it, then start afresh.
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    warn "stopping a cluster left in ${PG_DIR#"$REPO_ROOT"/} by an earlier run"
    pg_cmd pg_ctl -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  [ "$AS_POSTGRES" -eq 1 ] && chown -R postgres:postgres "$PG_DIR"
  pg_cmd initdb -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -5 "$WORK/initdb.log")"
  PG_PORT="$(free_port)"
  # Durability off: this is a throwaway cluster, and the benchmark measures the origin, not
  # the disk. TCP only on 127.0.0.1.
  cat >>"$PG_DIR/data/postgresql.conf" <<EOF

# scripts/bench-origin.sh
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
EOF
  PG_STARTED=1
  pg_cmd pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null ||
    die "PostgreSQL did not start: $(tail -5 "$PG_DIR/postgres.log")"
  pg_cmd psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc 'CREATE DATABASE edgeauth' >/dev/null
  DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/edgeauth"
  PG_VERSION="$("$PG_BIN/postgres" --version)"
  PG_NOTE="throwaway cluster in target/bench-pg, fsync=off, synchronous_commit=off, full_page_writes=off (durability off; deleted on exit)"
  log "PostgreSQL on 127.0.0.1:$PG_PORT ($PG_NOTE)"
fi

# --- 3. the origin ---------------------------------------------------------------------------
banner "origin"
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
SECRET="$(python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(48)))')"
BETTER_AUTH_SECRET="$SECRET" BETTER_AUTH_URL="$BASE" DATABASE_URL="$DATABASE_URL" \
  EDGEAUTH_LISTEN="127.0.0.1:$PORT" EDGEAUTH_ENV="$ORIGIN_ENV" EDGEAUTH_RATE_LIMIT=off \
  EDGEAUTH_HASH_CONCURRENCY="$HASH_CONCURRENCY" NO_COLOR=1 \
  "$ORIGIN_BIN" serve >"$WORK/origin.log" 2>&1 &
ORIGIN_PID=$!
for _ in $(seq 300); do
  curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break
  kill -0 "$ORIGIN_PID" 2>/dev/null || die "the origin exited: $(tail -5 "$WORK/origin.log")"
  sleep 0.1
done
curl -fsS -o /dev/null "$BASE/readyz" || die "the origin is not ready after 30 s: $(tail -5 "$WORK/origin.log")"
log "origin pid $ORIGIN_PID on $BASE (EDGEAUTH_ENV=$ORIGIN_ENV, rate limit off, hash concurrency $HASH_CONCURRENCY)"

# rss_kib PID: VmRSS in KiB (empty when the process is gone).
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
# rss_threads PID: "VmRSS-KiB thread-count" (empty when the process is gone).
rss_threads() {
  awk '/^VmRSS:/ { rss = $2 } /^Threads:/ { threads = $2 } END { if (rss) print rss, threads }' \
    "/proc/$1/status" 2>/dev/null || true
}
sleep 1
RSS_IDLE_KIB="$(rss_kib "$ORIGIN_PID")"
[ -n "$RSS_IDLE_KIB" ] || die "cannot read /proc/$ORIGIN_PID/status"

# The memory sampler: VmRSS and threads every 0.2 s until the origin exits or the sampler is
# stopped.
(
  while kill -0 "$ORIGIN_PID" 2>/dev/null; do
    rss_threads "$ORIGIN_PID"
    sleep 0.2
  done
) >"$WORK/rss.txt" &
SAMPLER_PID=$!

# --- 4. a user and its session -------------------------------------------------------------
banner "user and session"
EMAIL="bench-$(python3 -c 'import secrets; print(secrets.token_hex(6))')@example.com"
PASSWORD="bench-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
CREDENTIALS="{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}"
status="$(curl -sS -o "$WORK/sign-up.json" -D "$WORK/sign-up.headers" -w '%{http_code}' \
  -H 'content-type: application/json' \
  --data "{\"name\":\"Bench User\",\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" \
  "$BASE/api/auth/sign-up/email")"
[ "$status" = 200 ] || die "sign-up answered $status: $(cat "$WORK/sign-up.json")"
# The session cookie exactly as set (its name depends on Secure: `__Secure-` in production),
# and the bearer value (`set-auth-token`).
read -r SESSION_COOKIE BEARER < <(python3 - "$WORK/sign-up.headers" <<'PY'
import sys
cookie = bearer = ""
for line in open(sys.argv[1], encoding="latin-1"):
    name, _, value = line.partition(":")
    name, value = name.strip().lower(), value.strip()
    if name == "set-cookie":
        pair = value.split(";", 1)[0]
        if pair.split("=", 1)[0].endswith("better-auth.session_token"):
            cookie = pair
    elif name == "set-auth-token":
        bearer = value
print(cookie or "-", bearer or "-")
PY
)
[ "$SESSION_COOKIE" != "-" ] || die "sign-up set no session_token cookie"
[ "$BEARER" != "-" ] || die "sign-up sent no set-auth-token header"
if [ "$AUTH_MODE" = cookie ]; then
  AUTH_HEADER="cookie:$SESSION_COOKIE"
else
  AUTH_HEADER="authorization:Bearer $BEARER"
fi
# Sanity checks before any load: the credential works, and so does the password.
curl -fsS -H "${AUTH_HEADER/:/: }" "$BASE/api/auth/get-session" >"$WORK/get-session.json" ||
  die "get-session with the new session failed"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d and d.get("session") else 1)' \
  "$WORK/get-session.json" || die "get-session did not return the session: $(cat "$WORK/get-session.json")"
curl -fsS -o /dev/null -H 'content-type: application/json' --data "$CREDENTIALS" \
  "$BASE/api/auth/sign-in/email" || die "sign-in with the right password failed"
log "user $EMAIL; get-session with the $AUTH_MODE credential answers its session"
# For the progress lines: the credential is long and says nothing.
SHOWN_AUTH_HEADER="${AUTH_HEADER%%:*}:<$AUTH_MODE>"

# --- 5. loads --------------------------------------------------------------------------------
# CPU accounting, so that each run says who used the cores: the origin, PostgreSQL (the
# postmaster and its backends; a local cluster only) and autocannon (this shell's reaped
# children). Clock ticks from /proc/<pid>/stat; the fields after "pid (comm) " start at
# the state, so utime, stime, cutime, cstime are $12..$15 and the parent pid is $2.
CLK_TCK="$(getconf CLK_TCK)"
PG_POSTMASTER=""
[ "$PG_STARTED" -eq 1 ] && PG_POSTMASTER="$(head -1 "$PG_DIR/data/postmaster.pid")"
# ticks PID: utime + stime + cutime + cstime of one process (0 when it is gone).
ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || echo 0; }
# pg_ticks: the postmaster and its children (0 without a local cluster).
pg_ticks() {
  [ -n "$PG_POSTMASTER" ] || {
    echo 0
    return
  }
  local f total=0
  total=$(($(ticks "$PG_POSTMASTER") + 0))
  for f in /proc/[0-9]*/stat; do
    # Only processes whose parent is the postmaster.
    if [ "$(sed 's/^.*) //' "$f" 2>/dev/null | awk '{ print $2 }')" = "$PG_POSTMASTER" ]; then
      total=$((total + $(sed 's/^.*) //' "$f" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0)))
    fi
  done
  echo "$total"
}
# self_children_ticks: CPU of this shell's reaped children (cutime + cstime).
self_children_ticks() { sed 's/^.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'; }
# cpu_begin NAME / cpu_end NAME: CPU seconds used between the two calls, to cpu-NAME.txt as
# "wall origin postgres autocannon".
cpu_begin() {
  echo "$EPOCHREALTIME $(ticks "$ORIGIN_PID") $(pg_ticks) $(self_children_ticks)" >"$WORK/cpu-$1.start"
}
cpu_end() {
  local end
  end="$EPOCHREALTIME $(ticks "$ORIGIN_PID") $(pg_ticks) $(self_children_ticks)"
  read -r w0 o0 p0 c0 <"$WORK/cpu-$1.start"
  # shellcheck disable=SC2086  # $end is four numbers on purpose
  set -- "$1" $end
  awk -v t="$CLK_TCK" -v w0="$w0" -v o0="$o0" -v p0="$p0" -v c0="$c0" \
    -v w1="$2" -v o1="$3" -v p1="$4" -v c1="$5" \
    'BEGIN { printf "%.3f %.2f %.2f %.2f\n", w1 - w0, (o1 - o0) / t, (p1 - p0) / t, (c1 - c0) / t }' \
    >"$WORK/cpu-$1.txt"
}

# load NAME ARGS...: autocannon ARGS in the background (so cleanup can stop it), JSON to
# $WORK/NAME.json. Use `load_wait` for its result.
load() {
  local name="$1"
  shift
  "$AUTOCANNON" --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
  LOAD_PIDS+=("$!")
  LAST_LOAD_PID=$!
}
# load_wait NAME PID: waits for a load started by `load`.
load_wait() {
  local status=0
  wait "$2" || status=$?
  forget_pid "$2"
  # Killed by a signal (Ctrl-C reaches the whole process group): leave quietly.
  [ "$status" -gt 128 ] && exit "$status"
  [ "$status" -eq 0 ] || die "autocannon ($1) failed (exit $status): $(tail -5 "$WORK/$1.err")"
}
# load_now NAME ARGS...: a load in the foreground.
load_now() {
  local shown=("${@:2}") i
  for i in "${!shown[@]}"; do
    [ "${shown[$i]}" = "$AUTH_HEADER" ] && shown[i]="$SHOWN_AUTH_HEADER"
  done
  log "$1: autocannon ${shown[*]}"
  cpu_begin "$1"
  load "$@"
  load_wait "$1" "$LAST_LOAD_PID"
  cpu_end "$1"
}

GET_SESSION_URL="$BASE/api/auth/get-session"
SIGN_IN=(-m POST -H "content-type:application/json" -b "$CREDENTIALS" "$BASE/api/auth/sign-in/email")
DURATION=(-d "$SECONDS_PER_RUN")

banner "warm-up (3 s, not measured)"
# Fills the database pool and the page cache, creates the JWT signing key.
load_now warmup-get-session -c "$CONNECTIONS" -d 2 -H "$AUTH_HEADER" "$GET_SESSION_URL"
load_now warmup-jwks -c 4 -d 1 "$BASE/api/auth/jwks"

banner "(a) get-session, idle"
load_now a-get-session -c "$CONNECTIONS" "${DURATION[@]}" -H "$AUTH_HEADER" "$GET_SESSION_URL"
if [ "$PROBE_RATE" -gt 0 ]; then
  load_now a-probe -c 4 -R "$PROBE_RATE" "${DURATION[@]}" -H "$AUTH_HEADER" "$GET_SESSION_URL"
fi

banner "(b) jwks"
load_now b-jwks -c "$CONNECTIONS" "${DURATION[@]}" "$BASE/api/auth/jwks"

banner "(c) sign-in, bracketed by raw argon2id verification on $CORES threads"
HALF_SECONDS="$(awk -v s="$SECONDS_PER_RUN" 'BEGIN { print s / 2 }')"
# hash_throughput WHEN: half a run of the raw verification loop, JSON to c-hash-WHEN.json,
# and its peak RSS (VmHWM, sampled until it exits) to c-hash-WHEN.hwm: the memory that the
# hashing alone keeps resident, a peer for the origin's RSS under load.
hash_throughput() {
  local pid hwm=0 now
  log "hash_throughput --threads $CORES --seconds $HALF_SECONDS ($1 the sign-ins)"
  "$HASH_BIN" --threads "$CORES" --seconds "$HALF_SECONDS" >"$WORK/c-hash-$1.json" &
  pid=$!
  LOAD_PIDS+=("$pid")
  while kill -0 "$pid" 2>/dev/null; do
    now="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
    [ -n "$now" ] && hwm="$now"
    sleep 0.2
  done
  local status=0
  wait "$pid" || status=$?
  forget_pid "$pid"
  [ "$status" -gt 128 ] && exit "$status"
  [ "$status" -eq 0 ] || die "hash_throughput failed (exit $status)"
  echo "$hwm" >"$WORK/c-hash-$1.hwm"
}
hash_throughput before
load_now c-sign-in -c "$CONNECTIONS" "${DURATION[@]}" "${SIGN_IN[@]}"
hash_throughput after

banner "(d) get-session while sign-ins saturate the hash pool"
# The sign-in load starts 2 s early (so the pool is saturated and its queue is full) and
# ends after the get-session loads.
measured_runs=1
[ "$PROBE_RATE" -gt 0 ] && measured_runs=2
SATURATION_SECONDS=$((measured_runs * (SECONDS_PER_RUN + 1) + 2))
log "d-sign-in: autocannon -c $CONNECTIONS -d $SATURATION_SECONDS (sign-in) in the background"
cpu_begin d-all
load d-sign-in -c "$CONNECTIONS" -d "$SATURATION_SECONDS" "${SIGN_IN[@]}"
SATURATING_PID=$LAST_LOAD_PID
sleep 2
load_now d-get-session -c "$CONNECTIONS" "${DURATION[@]}" -H "$AUTH_HEADER" "$GET_SESSION_URL"
if [ "$PROBE_RATE" -gt 0 ]; then
  sleep 1
  load_now d-probe -c 4 -R "$PROBE_RATE" "${DURATION[@]}" -H "$AUTH_HEADER" "$GET_SESSION_URL"
fi
load_wait d-sign-in "$SATURATING_PID"
cpu_end d-all

banner "(f) get-session against its floor and against Better Auth 1.4.22"
# peer_start NAME URL COMMAND...: a peer server in the background, waited for until URL answers.
peer_start() {
  local name="$1" url="$2"
  shift 2
  "$@" >"$WORK/$name.log" 2>&1 &
  PEER_PID=$!
  for _ in $(seq 300); do
    curl -sS -o /dev/null "$url" 2>/dev/null && return 0
    kill -0 "$PEER_PID" 2>/dev/null || die "$name exited: $(tail -5 "$WORK/$name.log")"
    sleep 0.1
  done
  die "$name did not answer within 30 s: $(tail -5 "$WORK/$name.log")"
}
peer_stop() {
  stop_pid "$PEER_PID"
  PEER_PID=""
}
# peer_check NAME URL HEADER: the peer reads the benchmark's session (not a null answer).
peer_check() {
  curl -fsS -H "${3/:/: }" "$2" >"$WORK/$1-check.json" || die "$1: get-session failed"
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d and d.get("session") else 1)' \
    "$WORK/$1-check.json" || die "$1 did not return the session: $(cat "$WORK/$1-check.json")"
}
FLOOR_PORT="$(free_port)"
FLOOR_URL="http://127.0.0.1:$FLOOR_PORT/api/auth/get-session"
# Better Auth over plain http names the cookie without `__Secure-`.
PLAIN_COOKIE="cookie:${SESSION_COOKIE#__Secure-}"
if [ "$AUTH_MODE" = bearer ]; then PEER_AUTH="$PLAIN_COOKIE"; else PEER_AUTH="$AUTH_HEADER"; fi
peer_start floor "$FLOOR_URL" env DATABASE_URL="$DATABASE_URL" "$FLOOR_BIN" "127.0.0.1:$FLOOR_PORT"
peer_check floor "$FLOOR_URL" "$PEER_AUTH"
load_now f-floor-warmup -c "$CONNECTIONS" -d 2 -H "$PEER_AUTH" "$FLOOR_URL"
load_now f-origin-1 -c "$CONNECTIONS" "${DURATION[@]}" -H "$AUTH_HEADER" "$GET_SESSION_URL"
load_now f-floor -c "$CONNECTIONS" "${DURATION[@]}" -H "$PEER_AUTH" "$FLOOR_URL"
peer_stop
BA_PORT="$(free_port)"
BA_URL="http://127.0.0.1:$BA_PORT/api/auth/get-session"
peer_start better-auth "http://127.0.0.1:$BA_PORT/api/auth/ok" \
  env DATABASE_URL="$DATABASE_URL" BETTER_AUTH_SECRET="$SECRET" BETTER_AUTH_URL="http://127.0.0.1:$BA_PORT" \
  PORT="$BA_PORT" PG_POOL_MAX=16 RATE_LIMIT=off NODE_ENV=production node "$BETTER_AUTH_SERVER"
peer_check better-auth "$BA_URL" "$PLAIN_COOKIE"
load_now f-better-auth-warmup -c "$CONNECTIONS" -d 2 -H "$PLAIN_COOKIE" "$BA_URL"
load_now f-origin-2 -c "$CONNECTIONS" "${DURATION[@]}" -H "$AUTH_HEADER" "$GET_SESSION_URL"
load_now f-better-auth -c "$CONNECTIONS" "${DURATION[@]}" -H "$PLAIN_COOKIE" "$BA_URL"
peer_stop
load_now f-origin-3 -c "$CONNECTIONS" "${DURATION[@]}" -H "$AUTH_HEADER" "$GET_SESSION_URL"

# --- 6. memory, shutdown ---------------------------------------------------------------------
RSS_HWM_KIB="$(awk '/^VmHWM:/ { print $2 }' "/proc/$ORIGIN_PID/status")"
stop_pid "$SAMPLER_PID"
SAMPLER_PID=""
stop_pid "$ORIGIN_PID"
ORIGIN_PID=""
# The origin's own complaints during the run (it logs at info; warnings and errors count).
ORIGIN_WARNINGS="$(grep -cE '\b(WARN|ERROR)\b' "$WORK/origin.log" || true)"

# --- 7. the report ---------------------------------------------------------------------------
CPU_MODEL="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
MEM_TOTAL="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  REVISION="$REVISION (with uncommitted changes)"
fi
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  REVISION="binaries from $BENCH_BIN_DIR (not necessarily $REVISION)"
fi
export WORK CORES CONNECTIONS SECONDS_PER_RUN PROBE_RATE AUTH_MODE ORIGIN_ENV HASH_CONCURRENCY \
  RSS_IDLE_KIB RSS_HWM_KIB ORIGIN_WARNINGS LOADAVG_START COMMAND_LINE CPU_MODEL MEM_TOTAL REVISION PG_NOTE \
  PG_VERSION
RUSTC_VERSION="$(rustc --version)"
NODE_VERSION="$(node --version)"
AUTOCANNON_VERSION="$("$AUTOCANNON" --version | head -1)"
KERNEL="$(uname -sr)"
LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"
ELAPSED=$((SECONDS - SCRIPT_START))
export RUSTC_VERSION NODE_VERSION AUTOCANNON_VERSION KERNEL LOADAVG ELAPSED

python3 - <<'PY' | tee "$WORK/report.md"
import json, os
from pathlib import Path

env = os.environ
work = Path(env["WORK"])
secs = env["SECONDS_PER_RUN"]
conns = env["CONNECTIONS"]
probe = int(env["PROBE_RATE"])

def run(name):
    return json.loads((work / f"{name}.json").read_text())

def ok_per_s(r):
    """Successful (2xx) responses per second of wall time."""
    return r["2xx"] / r["duration"]

def lat(r, p):
    return float(r["latency"][p])

def ratio(x, y):
    return x / y if y else float("nan")

def verdict(ok):
    return "met" if ok else "**not met**"

a, b, c, d = run("a-get-session"), run("b-jwks"), run("c-sign-in"), run("d-get-session")
dsign = run("d-sign-in")
before, after = run("c-hash-before"), run("c-hash-after")
# The peer: all verifications over all the time of both halves.
raw = (before["verifications"] + after["verifications"]) / (before["seconds"] + after["seconds"])
threads = before["threads"]
drift = ratio(abs(before["per_second"] - after["per_second"]), raw)

rows = []
rows.append((f"(a) get-session, idle, {conns} conns", f"{ok_per_s(a):,.0f} req/s", "", "", ""))
rows.append(("(a) get-session, idle: p50 / p99", f"{lat(a, 'p50'):.0f} / {lat(a, 'p99'):.0f} ms", "", "", ""))
rows.append((f"(b) jwks, {conns} conns", f"{ok_per_s(b):,.0f} req/s", "", "", ""))
rows.append(("(b) jwks: p50 / p99", f"{lat(b, 'p50'):.0f} / {lat(b, 'p99'):.0f} ms", "", "", ""))
r = ratio(ok_per_s(c), raw)
rows.append((f"(c) sign-in (right password), {conns} conns",
             f"{ok_per_s(c):.1f} sign-ins/s",
             f"raw argon2id verify, {threads} threads: {raw:.1f}/s "
             f"({before['per_second']:.1f} before, {after['per_second']:.1f} after)",
             f"{r:.3f}x", f">= 0.9x: {verdict(r >= 0.9)}"))
r = ratio(lat(d, "p99"), lat(a, "p99"))
rows.append((f"(d) get-session p99 during sign-in saturation, {conns}+{conns} conns",
             f"{lat(d, 'p99'):.0f} ms", f"(a) idle p99: {lat(a, 'p99'):.0f} ms",
             f"{r:.2f}x", f"< 3x: {verdict(r < 3)}"))
rows.append(("(d) get-session throughput during sign-in saturation",
             f"{ok_per_s(d):,.0f} req/s", f"(a) idle: {ok_per_s(a):,.0f} req/s",
             f"{ratio(ok_per_s(d), ok_per_s(a)):.2f}x", ""))
rows.append(("(d) sign-ins during (d)", f"{ok_per_s(dsign):.1f} sign-ins/s",
             f"raw argon2id verify: {raw:.1f}/s", f"{ratio(ok_per_s(dsign), raw):.3f}x", ""))
if probe:
    ap, dp = run("a-probe"), run("d-probe")
    r = ratio(lat(dp, "p99"), lat(ap, "p99"))
    rows.append((f"(d) get-session p99 at a fixed {probe} req/s during sign-in saturation",
                 f"{lat(dp, 'p99'):.0f} ms (p50 {lat(dp, 'p50'):.0f})",
                 f"idle, same rate: {lat(ap, 'p99'):.0f} ms (p50 {lat(ap, 'p50'):.0f})",
                 f"{r:.2f}x", f"< 3x: {verdict(r < 3)}"))
samples = [line.split() for line in (work / "rss.txt").read_text().splitlines() if line.strip()]
idle = int(env["RSS_IDLE_KIB"])
peak = max([int(s[0]) for s in samples] + [idle])
max_threads = max([int(s[1]) for s in samples] + [0])
hwm = int(env["RSS_HWM_KIB"])
mib = lambda kib: f"{kib / 1024:.1f} MiB"
rows.append(("(e) origin RSS, idle (after start, before load)", mib(idle), "", "", ""))
rows.append((f"(e) origin RSS, max sampled under load ({len(samples)} samples; "
             f"up to {max_threads} threads)", mib(peak),
             f"idle: {mib(idle)}", f"{ratio(peak, idle):.2f}x", ""))
rows.append(("(e) origin peak RSS (VmHWM, whole run)", mib(hwm), f"idle: {mib(idle)}",
             f"{ratio(hwm, idle):.2f}x", ""))
raw_hwm = max(int((work / f"c-hash-{w}.hwm").read_text().strip() or 0) for w in ("before", "after"))
rows.append(("(e) origin peak RSS vs the raw hashing loop's", mib(hwm),
             f"hash_throughput, {threads} threads: {mib(raw_hwm)}", f"{ratio(hwm, raw_hwm):.2f}x", ""))
o1, o2, o3 = (ok_per_s(run(f"f-origin-{i}")) for i in (1, 2, 3))
floor, ba = ok_per_s(run("f-floor")), ok_per_s(run("f-better-auth"))
around_floor, around_ba = (o1 + o2) / 2, (o2 + o3) / 2
r = ratio(around_floor, floor)
rows.append((f"(f) get-session vs its floor, {conns} conns",
             f"{around_floor:,.0f} req/s (runs before and after: {o1:,.0f}, {o2:,.0f})",
             f"bare axum + sqlx, same lookup: {floor:,.0f} req/s", f"{r:.2f}x", f">= 0.6x: {verdict(r >= 0.6)}"))
r = ratio(around_ba, ba)
rows.append((f"(f) get-session vs Better Auth 1.4.22, {conns} conns",
             f"{around_ba:,.0f} req/s (runs before and after: {o2:,.0f}, {o3:,.0f})",
             f"Better Auth (node, jwt + bearer): {ba:,.0f} req/s "
             f"(p50 {lat(run('f-better-auth'), 'p50'):.0f} ms)", f"{r:.1f}x", f">= 30x: {verdict(r >= 30)}"))

def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(cell or "" for cell in row) + " |" for row in rows]
    return "\n".join(out)

print()
print("```sh")
print(env["COMMAND_LINE"])
print("```")
print()
print(table(["metric", "value", "peer (same run)", "ratio", "goal"], rows))
print()

names = ["a-get-session", "b-jwks", "c-sign-in", "d-sign-in", "d-get-session"]
if probe:
    names[1:1] = ["a-probe"]
    names.append("d-probe")
names += ["f-origin-1", "f-floor", "f-origin-2", "f-better-auth", "f-origin-3"]
detail = []
for name in names:
    r = run(name)
    codes = ", ".join(f"{k}: {v['count']}" for k, v in sorted(r.get("statusCodeStats", {}).items()))
    detail.append((name, f"{r['duration']:.2f} s", f"{r['requests']['total']:,}", f"{r['2xx']:,}",
                   f"{r['non2xx']:,}", f"{r['errors']:,}", f"{r['timeouts']:,}", codes))
print(table(["run", "duration", "responses", "2xx", "non-2xx", "errors", "timeouts", "status codes"], detail))
print()
cpu_rows = []
for name in [n for n in names if not n.startswith("d-")] + ["d-all"]:
    path = work / f"cpu-{name}.txt"
    if not path.exists():
        continue
    wall, origin, pg, tool = (float(x) for x in path.read_text().split())
    # Per second of load (autocannon's own duration), not of wall time, which also counts
    # Node starting up; the CPU that start-up takes is counted (for autocannon) all the same.
    wall = run("d-sign-in" if name == "d-all" else name)["duration"]
    cores = int(env["CORES"])
    total = origin + pg + tool
    label = "(d) all of it, both loads" if name == "d-all" else name
    cpu_rows.append((label, f"{wall:.1f} s", f"{origin / wall:.2f}", f"{pg / wall:.2f}",
                     f"{tool / wall:.2f}", f"{total / (wall * cores):.0%}"))
print("CPU used during each run, in cores (CPU seconds per second of load):")
print()
print(table(["run", "load time", "origin", "postgres", "autocannon", f"of {env['CORES']} cores"], cpu_rows))
print()
bad = [d[0] for d in detail if d[4] != "0" or d[5] != "0" or d[6] != "0"]
warnings = int(env["ORIGIN_WARNINGS"] or 0)
if drift > 0.1:
    print(f"WARNING: raw hashing moved by {drift:.0%} between before and after the sign-ins: "
          "the machine's load changed during (c); its ratio is unreliable")
if bad:
    print(f"WARNING: non-2xx responses, errors or timeouts in: {', '.join(bad)}")
if warnings:
    print(f"WARNING: the origin logged {warnings} WARN/ERROR lines (target/bench-origin/origin.log)")
print(f"- Runs: {secs} s each, {conns} autocannon connections; get-session with a session "
      f"{env['AUTH_MODE']}; sign-in with the right password (no Cookie header, so no Origin check).")
print(f"- Origin: `edgeauth serve`, revision {env['REVISION']}, EDGEAUTH_ENV={env['ORIGIN_ENV']}, "
      f"EDGEAUTH_RATE_LIMIT=off, EDGEAUTH_HASH_CONCURRENCY={env['HASH_CONCURRENCY']}, argon2id "
      f"m=19456 KiB t=2 p=1, log level info to a file.")
print(f"- Database: PostgreSQL, {env['PG_NOTE']}; {env['PG_VERSION']}.")
print(f"- Machine: {env['CORES']} cores (`nproc`), {env['CPU_MODEL']}, {env['MEM_TOTAL']}, "
      f"{env['KERNEL']}; load average {env['LOADAVG_START']} at the start, {env['LOADAVG']} at the end. The load generator "
      f"(autocannon, Node) and PostgreSQL run on the same cores as the origin.")
print(f"- Tools: {env['RUSTC_VERSION']}; node {env['NODE_VERSION']}; {env['AUTOCANNON_VERSION']}.")
print(f"- Total run time (with the build): {env['ELAPSED']} s.")
PY
log "report saved to ${WORK#"$REPO_ROOT"/}/report.md"
