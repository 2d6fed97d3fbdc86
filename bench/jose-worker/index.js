// The jose peer of the edgeauth edge, for scripts/bench-edge.sh: the smallest worker that
// does what the edge's JWT path does.
//
// - A path under PROTECTED_PATHS (comma-separated prefixes, matched on segment boundaries)
//   needs `Authorization: Bearer <jwt>`: verified with jose's jwtVerify against the JWKS in
//   JWKS_JSON (createLocalJWKSet, built once per isolate), with `iss` = JWT_ISSUER, `aud`
//   containing JWT_AUDIENCE and alg EdDSA only. Verified: forwarded to UPSTREAM_URL with the
//   subject in `x-edgeauth-user-id` (and `x-edgeauth-auth: jwt`); anything else: 401.
// - A path under MARKER_PATHS (optional, same syntax) is protected the same way and, once the
//   token verified, also reads the user's revocation marker from the SESSIONS KV namespace
//   (`revoked:user:<sub>`, the key the edge reads on every JWT request; any marker refuses):
//   the same work as the edge's JWT path, for an equal-work comparison.
// - Any other path is forwarded as is (the pass-through floor).
//
// Client-sent x-edgeauth-* headers are dropped before forwarding, as the edge does. There is
// no memo: every request verifies its token.

import { createLocalJWKSet, jwtVerify } from "jose";

let state; // per isolate: { source, keySet, prefixes, markerPrefixes, options }

const prefixList = (value) =>
  String(value ?? "")
    .split(",")
    .map((p) => p.trim().replace(/\/+$/, "").toLowerCase())
    .filter((p) => p !== "");

function configure(env) {
  if (state && state.source === env.JWKS_JSON) return state;
  state = {
    source: env.JWKS_JSON,
    keySet: createLocalJWKSet(JSON.parse(env.JWKS_JSON)),
    prefixes: prefixList(env.PROTECTED_PATHS),
    markerPrefixes: prefixList(env.MARKER_PATHS),
    options: { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, algorithms: ["EdDSA"] },
  };
  return state;
}

function isUnder(path, prefixes) {
  const p = path.toLowerCase();
  return prefixes.some((prefix) => p === prefix || p.startsWith(`${prefix}/`));
}

// The edge's 401s (edge/src/decide/error.rs), so both workers send the same bytes back.
function unauthorized(presented) {
  const body = presented
    ? { code: "UNAUTHORIZED", message: "Invalid or expired credentials" }
    : { code: "UNAUTHORIZED", message: "Authentication required" };
  const challenge = presented ? 'Bearer realm="edgeauth", error="invalid_token"' : 'Bearer realm="edgeauth"';
  return new Response(JSON.stringify(body), {
    status: 401,
    headers: { "content-type": "application/json", "www-authenticate": challenge },
  });
}

function forward(request, env, url, identity) {
  const headers = new Headers();
  for (const [name, value] of request.headers) {
    if (!name.startsWith("x-edgeauth-")) headers.append(name, value);
  }
  if (identity) {
    headers.set("x-edgeauth-user-id", identity);
    headers.set("x-edgeauth-auth", "jwt");
  }
  const target = env.UPSTREAM_URL.replace(/\/+$/, "") + url.pathname + url.search;
  return fetch(target, {
    method: request.method,
    headers,
    body: request.body,
    redirect: "manual",
  });
}

export default {
  async fetch(request, env) {
    const config = configure(env);
    const url = new URL(request.url);
    const readsMarker = isUnder(url.pathname, config.markerPrefixes);
    if (!readsMarker && !isUnder(url.pathname, config.prefixes)) {
      return forward(request, env, url, null);
    }
    const authorization = request.headers.get("authorization");
    if (authorization === null) return unauthorized(false);
    const match = /^Bearer ([A-Za-z0-9._-]+)$/.exec(authorization);
    if (!match) return unauthorized(true);
    let subject;
    try {
      const { payload } = await jwtVerify(match[1], config.keySet, config.options);
      subject = payload.sub;
    } catch {
      return unauthorized(true);
    }
    if (typeof subject !== "string" || subject === "") return unauthorized(true);
    if (readsMarker && (await env.SESSIONS.get(`revoked:user:${subject}`)) !== null) {
      return unauthorized(true);
    }
    return forward(request, env, url, subject);
  },
};
