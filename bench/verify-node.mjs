// In-engine verification cost: edgeauth-token's JWT verification compiled to wasm32, timed in
// V8 (Node) against `jose` verifying the same Better Auth JWT in the same process.
//
//   bash scripts/bench-edge-verify.sh            (builds bench/verify-wasm/pkg/*, then runs this)
//   node bench/verify-node.mjs                   (after a build)
//
// Settings (environment):
//   BENCH_ITERATIONS   verifications per timed round (default 2000)
//   BENCH_ROUNDS       timed rounds per path, interleaved across paths (default 7)
//   BENCH_WARMUP       untimed verifications per path first (default 1000)
//   BENCH_PKG_DIR      where the wasm-bindgen packages are (default bench/verify-wasm/pkg)
//   BENCH_JSON         also write the results as JSON to this file
//
// Every path verifies the same token with the same key, issuer, audience and clock, and the
// script checks that each returns the right subject and refuses a tampered token before timing
// anything. Per-op figures are a round's wall time / iterations; the table shows the median
// round (and the fastest) of BENCH_ROUNDS.

import { createRequire } from "node:module";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as nodeCrypto from "node:crypto";
import os from "node:os";

import { createLocalJWKSet, importJWK, jwtVerify } from "jose";

import { AUDIENCE, ISSUER, betterAuthClaims, newSigner, nowSecs, randomId } from "./lib/better-auth-jwt.mjs";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

const ITERATIONS = positiveInt("BENCH_ITERATIONS", 2000);
const ROUNDS = positiveInt("BENCH_ROUNDS", 7);
const WARMUP = positiveInt("BENCH_WARMUP", 1000);
const PKG_DIR = resolve(process.env.BENCH_PKG_DIR || join(here, "verify-wasm", "pkg"));

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

// --- the key, the JWKS and the token ---------------------------------------------------------

const signer = newSigner();
const { kid, jwks, jwksJson, publicKey } = signer;
const userId = randomId();
const claims = betterAuthClaims({ userId, iat: nowSecs() });
const token = signer.sign(claims);
const signingInput = token.slice(0, token.lastIndexOf("."));
const signature = Buffer.from(token.slice(token.lastIndexOf(".") + 1), "base64url");
// The same token with one payload byte changed: every path must refuse it.
const payloadStart = signingInput.indexOf(".") + 1;
const flipped = token[payloadStart + 10] === "A" ? "B" : "A";
const tampered = token.slice(0, payloadStart + 10) + flipped + token.slice(payloadStart + 11);

// --- the verifiers -------------------------------------------------------------------------

const joseOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: ["EdDSA"] };
const joseKeySet = createLocalJWKSet(jwks);
const joseKey = await importJWK(jwks.keys[0], "EdDSA");
const joseVersion = JSON.parse(readFileSync(require.resolve("jose/package.json"), "utf8")).version;

// wasm variants: bench/verify-wasm built without and with edgeauth-token's `fast` feature.
const variants = [];
for (const [name, label] of [
  ["small", "no `fast` (as the edge ships)"],
  ["fast", "`fast` (precomputed tables)"],
]) {
  const js = join(PKG_DIR, name, "edgeauth_verify_wasm.js");
  const wasm = join(PKG_DIR, name, "edgeauth_verify_wasm_bg.wasm");
  if (!existsSync(js)) {
    console.error(`note: ${js} missing (run bash scripts/bench-edge-verify.sh); skipping ${name}`);
    continue;
  }
  const mod = require(js);
  const bytes = readFileSync(wasm);
  variants.push({
    name,
    label,
    verifier: new mod.Verifier(jwksJson, ISSUER, AUDIENCE),
    raw: bytes.length,
    gz: gzipSync(bytes, { level: 9 }).length,
  });
}
if (variants.length === 0) throw new Error(`no wasm package under ${PKG_DIR}`);
const edgeLike = variants.find((v) => v.name === "small") ?? variants[0];

// Each path: `sync` (a plain loop) or `async` (awaited one at a time, as a handler would).
// `check(result)` is the subject the path returned.
const paths = [];
for (const v of variants) {
  paths.push({
    id: `wasm-${v.name}`,
    label: `edgeauth-token wasm, ${v.label}: \`verify\``,
    sync: () => v.verifier.verify(token, nowSecs()),
    refuse: () => v.verifier.verify(tampered, nowSecs()),
  });
}
paths.push({
  id: "wasm-memo-hit",
  label: `edgeauth-token wasm, ${edgeLike.label}: \`verifyMemo\`, memo hit (SHA-256 of the token + lookup)`,
  sync: () => edgeLike.verifier.verifyMemo(token, nowSecs()),
  refuse: () => edgeLike.verifier.verifyMemo(tampered, nowSecs()),
});
paths.push({
  id: "wasm-memo-miss",
  label: `edgeauth-token wasm, ${edgeLike.label}: \`verifyMemo\`, memo miss (memo emptied before each call)`,
  sync: () => {
    edgeLike.verifier.clearMemo();
    return edgeLike.verifier.verifyMemo(token, nowSecs());
  },
  refuse: () => edgeLike.verifier.verifyMemo(tampered, nowSecs()),
});
paths.push({
  id: "jose-jwks",
  label: `jose ${joseVersion} \`jwtVerify\` + \`createLocalJWKSet\` (the realistic path; the peer)`,
  async: async () => (await jwtVerify(token, joseKeySet, joseOptions)).payload.sub,
  refuse: async () => jwtVerify(tampered, joseKeySet, joseOptions).then(() => "accepted", () => undefined),
});
paths.push({
  id: "jose-key",
  label: `jose ${joseVersion} \`jwtVerify\` with a key imported once (\`importJWK\`; jose's best case)`,
  async: async () => (await jwtVerify(token, joseKey, joseOptions)).payload.sub,
  refuse: async () => jwtVerify(tampered, joseKey, joseOptions).then(() => "accepted", () => undefined),
});
// For context only: Node's native Ed25519 (OpenSSL) on the signing input with a pre-parsed
// key, no JOSE at all. Not a JWT verifier: no header, claims or base64url checks.
const signingInputBytes = Buffer.from(signingInput);
paths.push({
  id: "node-ed25519",
  label: "node:crypto `verify` (OpenSSL Ed25519, signature only; context, not a JWT verifier)",
  sync: () => (nodeCrypto.verify(null, signingInputBytes, publicKey, signature) ? userId : undefined),
  refuse: () => (nodeCrypto.verify(null, Buffer.from(tampered.slice(0, tampered.lastIndexOf("."))), publicKey, signature) ? "accepted" : undefined),
});

// --- correctness before timing -----------------------------------------------------------------

for (const p of paths) {
  const got = p.sync ? p.sync() : await p.async();
  if (got !== userId) throw new Error(`${p.id}: expected subject ${userId}, got ${got}`);
  const refused = await p.refuse();
  if (refused !== undefined) throw new Error(`${p.id}: accepted a tampered token`);
}
// The memo holds the token now, and a second call does not verify again: a memo hit must be
// much cheaper than a verification (checked by the timings below).
edgeLike.verifier.clearMemo();
edgeLike.verifier.verifyMemo(token, nowSecs());
if (edgeLike.verifier.memoLen() !== 1) throw new Error("the memo did not keep the verified token");

// --- timing ------------------------------------------------------------------------------------

async function timeRound(p, n) {
  let sink = 0;
  const start = process.hrtime.bigint();
  if (p.sync) {
    for (let i = 0; i < n; i++) sink += p.sync() === undefined ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) sink += (await p.async()) === undefined ? 1 : 0;
  }
  const ns = Number(process.hrtime.bigint() - start);
  if (sink !== 0) throw new Error(`${p.id}: a verification failed while timing`);
  return ns / n / 1000; // µs per op
}

for (const p of paths) {
  await timeRound(p, WARMUP);
  p.rounds = [];
}
// Rounds interleaved, starting with a different path each time, so slow drift in the
// machine's load reaches every path alike.
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < paths.length; k++) {
    const p = paths[(r + k) % paths.length];
    if (p.id === "wasm-memo-hit") {
      edgeLike.verifier.clearMemo();
      edgeLike.verifier.verifyMemo(token, nowSecs());
    }
    p.rounds.push(await timeRound(p, ITERATIONS));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
for (const p of paths) {
  p.median = median(p.rounds);
  p.min = Math.min(...p.rounds);
}

// --- report ------------------------------------------------------------------------------------

const byId = Object.fromEntries(paths.map((p) => [p.id, p]));
const peer = byId["jose-jwks"];
const best = byId["jose-key"];
const fmt = (us) => (us >= 100 ? us.toFixed(1) : us >= 10 ? us.toFixed(2) : us.toFixed(3));
const ratio = (a, b) => `${(a / b).toFixed(3)}x`;

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const lines = [];
lines.push(`token: ${token.length} bytes (claims JSON ${JSON.stringify(claims).length} bytes), alg EdDSA, kid ${kid.length} chars`);
lines.push(`node ${process.version} (V8 ${process.versions.v8}, OpenSSL ${process.versions.openssl}), jose ${joseVersion}`);
lines.push(`${os.cpus().length} x ${cpu}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
lines.push(`${ROUNDS} rounds x ${ITERATIONS} verifications per path (after ${WARMUP} warm-up), rounds interleaved; per-op = round time / ${ITERATIONS}`);
for (const v of variants) {
  lines.push(`wasm ${v.name}: ${v.raw} bytes raw, ${v.gz} bytes gzipped`);
}
lines.push("");
lines.push("| path | median µs/op | fastest round | vs jose (JWKS) | vs jose (imported key) |");
lines.push("|---|---:|---:|---:|---:|");
for (const p of paths) {
  lines.push(`| ${p.label} | ${fmt(p.median)} | ${fmt(p.min)} | ${ratio(p.median, peer.median)} | ${ratio(p.median, best.median)} |`);
}
lines.push("");
for (const v of variants) {
  const p = byId[`wasm-${v.name}`];
  lines.push(`- wasm ${v.name} / jose (JWKS) = ${ratio(p.median, peer.median)}; / jose (imported key) = ${ratio(p.median, best.median)}`);
}
const hit = byId["wasm-memo-hit"];
const raw = byId[`wasm-${edgeLike.name}`];
lines.push(`- memo hit / full wasm verify = ${ratio(hit.median, raw.median)} (${fmt(hit.median)} µs instead of ${fmt(raw.median)} µs); memo hit / jose (JWKS) = ${ratio(hit.median, peer.median)}`);
const native = byId["node-ed25519"];
lines.push(`- jose (JWKS) spends ${fmt(peer.median - native.median)} µs/op beyond Node's native signature check (${fmt(native.median)} µs)`);
console.log(lines.join("\n"));

if (process.env.BENCH_JSON) {
  writeFileSync(
    process.env.BENCH_JSON,
    JSON.stringify(
      {
        token_bytes: token.length,
        iterations: ITERATIONS,
        rounds: ROUNDS,
        node: process.version,
        jose: joseVersion,
        variants: variants.map(({ name, raw, gz }) => ({ name, raw, gz })),
        paths: paths.map(({ id, label, median, min, rounds }) => ({ id, label, median_us: median, min_us: min, rounds_us: rounds })),
      },
      null,
      2,
    ),
  );
}
