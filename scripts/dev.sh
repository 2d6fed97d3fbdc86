#!/usr/bin/env bash
# Run the whole stack locally: the origin (`edgeauth serve`) and the edge worker under
# `wrangler dev` in front of it. Ctrl-C stops both.
#
#   bash scripts/dev.sh
#
# Environment (all optional):
#   EDGEAUTH_LISTEN   where the origin listens          (default 127.0.0.1:3000)
#   EDGE_PORT         where wrangler dev serves the edge (default 8787)
#   DEMO_UPSTREAM_PORT where the demo application behind the edge listens (default 3001)
#   EDGEAUTH_EXAMPLE  put an example backend behind the edge instead of the demo application:
#                     fastapi (examples/fastapi) or axum (examples/axum); open /app/me
#   BETTER_AUTH_URL   the public URL, in mailed links and JWTs (default the edge's URL)
# Mail is printed to the origin's log (no EDGEAUTH_SMTP_URL), links included.
# The edge reads its [vars] from wrangler.toml and its secrets from .dev.vars (created with
# random secrets on first run); the origin is started with the same secrets.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
prefer_rustup_path

export EDGEAUTH_LISTEN="${EDGEAUTH_LISTEN:-127.0.0.1:3000}"
EDGE_PORT="${EDGE_PORT:-8787}"
export DEMO_UPSTREAM_PORT="${DEMO_UPSTREAM_PORT:-3001}"
export WRANGLER_SEND_METRICS=false
EXAMPLE="${EDGEAUTH_EXAMPLE:-}"
case "$EXAMPLE" in "" | fastapi | axum) ;; *) die "EDGEAUTH_EXAMPLE must be fastapi or axum" ;; esac

bash scripts/setup.sh
bash scripts/build-edge.sh

# One set of local secrets for both halves: .dev.vars (gitignored) feeds wrangler dev, and
# the origin gets the same values, so cookies verify at the edge and the origin trusts the
# client address the edge forwards. Created with fresh random secrets on first run.
if [ ! -f .dev.vars ] || ! grep -q '^EDGE_SECRET=' .dev.vars; then
  log "creating .dev.vars with fresh random secrets (gitignored)"
  random_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  {
    echo "BETTER_AUTH_SECRET=$(random_secret)"
    echo "EDGE_SECRET=$(random_secret)"
  } >.dev.vars
fi
BETTER_AUTH_SECRET="$(sed -n 's/^BETTER_AUTH_SECRET=//p' .dev.vars)"
EDGEAUTH_EDGE_SECRET="$(sed -n 's/^EDGE_SECRET=//p' .dev.vars)"
export BETTER_AUTH_SECRET EDGEAUTH_EDGE_SECRET
export EDGEAUTH_TRUSTED_IP_HEADER=x-edgeauth-client-ip
# Two-factor authentication on, so the account page offers it (EDGEAUTH_TWO_FACTOR=off hides it).
export EDGEAUTH_TWO_FACTOR="${EDGEAUTH_TWO_FACTOR:-on}"
# Passkeys on too. Browsers refuse an IP address as a WebAuthn relying party, so passkeys work
# when the site is opened as http://localhost:$EDGE_PORT (EDGEAUTH_PASSKEY=off hides them).
export EDGEAUTH_PASSKEY="${EDGEAUTH_PASSKEY:-on}"
export EDGEAUTH_PASSKEY_RP_ID="${EDGEAUTH_PASSKEY_RP_ID:-localhost}"
export EDGEAUTH_PASSKEY_ORIGINS="${EDGEAUTH_PASSKEY_ORIGINS:-http://localhost:$EDGE_PORT}"
# The public URL is the edge's: mailed links (verification, reset, deletion) point there, and
# it is the JWTs' issuer and audience, which the edge is told below.
export BETTER_AUTH_URL="${BETTER_AUTH_URL:-http://127.0.0.1:$EDGE_PORT}"
# Browsers on the edge's URL call the auth API through it.
export BETTER_AUTH_TRUSTED_ORIGINS="${BETTER_AUTH_TRUSTED_ORIGINS:-http://127.0.0.1:$EDGE_PORT,http://localhost:$EDGE_PORT}"
# The hosted pages: served by the origin, reached through the edge, where browsers without a
# session are sent.
PAGES_PATH="${EDGEAUTH_PAGES_PATH:-/auth}"

# Compile the origin before starting anything, so wrangler does not wait on a long build.
log "building the origin"
run cargo build -p edgeauth-origin --bin edgeauth

# Each child runs in its own session (setsid), so it is its own process group: stopping the
# group also stops what it spawned (cargo's child binary; wrangler's workerd).
pids=()
# shellcheck disable=SC2329  # invoked by the traps below
stop_all() {
  trap - INT TERM EXIT
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  # workerd may outlive wrangler by a moment: give each group 5 s, then SIGKILL what is left.
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  log "stopped the origin and the edge"
}
trap 'log "interrupted"; stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

log "starting the origin on http://$EDGEAUTH_LISTEN"
setsid cargo run -p edgeauth-origin --bin edgeauth -- serve &
pids+=("$!")

# The examples verify the caller's JWT (x-edgeauth-jwt) against the origin's keys.
EXAMPLE_ENV=(EDGEAUTH_JWKS_URL="http://$EDGEAUTH_LISTEN/api/auth/jwks"
  EDGEAUTH_ISSUER="$BETTER_AUTH_URL" EDGEAUTH_AUDIENCE="$BETTER_AUTH_URL")
case "$EXAMPLE" in
  fastapi)
    log "starting examples/fastapi behind the edge on http://127.0.0.1:$DEMO_UPSTREAM_PORT (open /app/me)"
    env -C examples/fastapi "${EXAMPLE_ENV[@]}" setsid "$REPO_ROOT/.tools/fastapi-venv/bin/uvicorn" \
      app:app --host 127.0.0.1 --port "$DEMO_UPSTREAM_PORT" </dev/null &
    ;;
  axum)
    log "starting examples/axum behind the edge on http://127.0.0.1:$DEMO_UPSTREAM_PORT (open /app/me)"
    env "${EXAMPLE_ENV[@]}" setsid cargo run -p edgeauth-example-axum -- "127.0.0.1:$DEMO_UPSTREAM_PORT" </dev/null &
    ;;
  *)
    log "starting the demo upstream application on http://127.0.0.1:$DEMO_UPSTREAM_PORT"
    DEMO_PAGES_PATH="$PAGES_PATH" setsid node scripts/demo-upstream.mjs </dev/null &
    ;;
esac
pids+=("$!")

log "starting the edge (wrangler dev) on http://127.0.0.1:$EDGE_PORT"
setsid npx --no-install wrangler dev --ip 127.0.0.1 --port "$EDGE_PORT" \
  --var "ORIGIN_URL:http://$EDGEAUTH_LISTEN" \
  --var "UPSTREAM_URL:http://127.0.0.1:$DEMO_UPSTREAM_PORT" \
  --var "JWT_ISSUER:$BETTER_AUTH_URL" --var "JWT_AUDIENCE:$BETTER_AUTH_URL" \
  --var "PAGES_PATH:$PAGES_PATH" --var "SIGN_IN_URL:$PAGES_PATH/sign-in" \
  --show-interactive-dev-session=false </dev/null &
pids+=("$!")

log "open http://127.0.0.1:$EDGE_PORT/ in a browser (sign in at http://127.0.0.1:$EDGE_PORT$PAGES_PATH/sign-in)"
log "passkeys need the site as http://localhost:$EDGE_PORT/ (browsers refuse an IP address for them)"
log "edge: http://127.0.0.1:$EDGE_PORT/__edge/ok   origin: http://$EDGEAUTH_LISTEN   (Ctrl-C stops everything)"
# Return as soon as either one exits (or Ctrl-C arrives); the EXIT trap stops the other.
status=0
wait -n "${pids[@]}" || status=$?
log "the origin or the edge exited (status $status): stopping the other"
exit "$status"
