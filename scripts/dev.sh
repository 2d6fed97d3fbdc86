#!/usr/bin/env bash
# Run the whole stack locally: the origin (`edgeauth serve`) and the edge worker under
# `wrangler dev` in front of it (and of a demo application). Ctrl-C stops everything.
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
#   EDGEAUTH_DEV_OIDC 1: also start a local OpenID Provider (panva's oidc-provider through
#                     tests/js/oidc-provider.mjs; any login name and password sign in) and
#                     offer it on the hosted pages as "Continue with dev-oidc"
#   EDGEAUTH_DEV_OIDC_PORT where that provider listens (default 3002)
# Sign-in providers: EDGEAUTH_GENERIC_OAUTH, EDGEAUTH_SOCIAL_PROVIDERS, EDGEAUTH_ACCOUNT_LINKING,
# EDGEAUTH_TRUSTED_PROVIDERS and EDGEAUTH_ENCRYPT_OAUTH_TOKENS reach the origin from the
# environment or, when unset there, from ./.env (gitignored; one KEY=value line each, the value
# optionally in quotes). Register $BETTER_AUTH_URL/api/auth/oauth2/callback/<providerId> with
# the provider as the redirect URI.
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
DEV_OIDC="${EDGEAUTH_DEV_OIDC:-0}"
case "$DEV_OIDC" in 0 | 1) ;; *) die "EDGEAUTH_DEV_OIDC must be 1 (or 0, or unset)" ;; esac
DEV_OIDC_PORT="${EDGEAUTH_DEV_OIDC_PORT:-3002}"

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
# Sign-in providers from ./.env, for what the environment does not set. Read line by line, not
# sourced, so a JSON value needs no shell quoting (and .env's other settings, meant for an
# origin on its own, do not change this stack).
if [ -f .env ]; then
  for name in EDGEAUTH_GENERIC_OAUTH EDGEAUTH_SOCIAL_PROVIDERS EDGEAUTH_ACCOUNT_LINKING \
    EDGEAUTH_TRUSTED_PROVIDERS EDGEAUTH_ENCRYPT_OAUTH_TOKENS; do
    [ -z "${!name+set}" ] || continue
    line="$(grep -E "^(export +)?$name=" .env | tail -n 1)" || continue
    value="${line#*=}"
    case "$value" in \'*\' | \"*\") value="${value:1:${#value}-2}" ;; esac
    export "$name=$value"
    log "$name from .env"
  done
fi
# The local OpenID Provider: its client's redirect URI is the edge's callback, and its entry is
# added to EDGEAUTH_GENERIC_OAUTH (after any configured ones).
DEV_OIDC_ISSUER="http://127.0.0.1:$DEV_OIDC_PORT"
if [ "$DEV_OIDC" = 1 ]; then
  DEV_OIDC_CLIENTS="$(node -e '
    const [url] = process.argv.slice(1);
    console.log(JSON.stringify([{ client_id: "edgeauth-dev", client_secret: "edgeauth-dev-secret",
      redirect_uris: [`${url}/api/auth/oauth2/callback/dev-oidc`] }]));' "$BETTER_AUTH_URL")"
  EDGEAUTH_GENERIC_OAUTH="$(node -e '
    const [list, issuer] = process.argv.slice(1);
    let providers;
    try { providers = JSON.parse(list); } catch (e) { providers = null; }
    if (!Array.isArray(providers)) {
      console.error("EDGEAUTH_GENERIC_OAUTH is not a JSON list");
      process.exit(1);
    }
    providers.push({ providerId: "dev-oidc", clientId: "edgeauth-dev", clientSecret: "edgeauth-dev-secret",
      discoveryUrl: `${issuer}/.well-known/openid-configuration`, scopes: ["openid", "email", "profile"] });
    console.log(JSON.stringify(providers));' "${EDGEAUTH_GENERIC_OAUTH:-[]}" "$DEV_OIDC_ISSUER")" ||
    die "EDGEAUTH_DEV_OIDC=1 adds its provider to EDGEAUTH_GENERIC_OAUTH, which must be a JSON list"
  export EDGEAUTH_GENERIC_OAUTH
fi
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
  log "stopped the origin, the edge and the rest"
}
trap 'log "interrupted"; stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

if [ "$DEV_OIDC" = 1 ]; then
  log "starting the local OpenID Provider on $DEV_OIDC_ISSUER"
  OIDC_CLIENTS="$DEV_OIDC_CLIENTS" setsid node tests/js/oidc-provider.mjs "$DEV_OIDC_PORT" </dev/null &
  pids+=("$!")
fi

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
if [ "$DEV_OIDC" = 1 ]; then
  log "\"Continue with dev-oidc\" on $BETTER_AUTH_URL$PAGES_PATH/sign-in: the local OpenID Provider"
  log "  signs in ANY login name with ANY password (a login with @ is the email; else <login>@example.com)"
fi
log "edge: http://127.0.0.1:$EDGE_PORT/__edge/ok   origin: http://$EDGEAUTH_LISTEN   (Ctrl-C stops everything)"
# Return as soon as either one exits (or Ctrl-C arrives); the EXIT trap stops the other.
status=0
wait -n "${pids[@]}" || status=$?
log "the origin, the edge or another part exited (status $status): stopping the others"
exit "$status"
