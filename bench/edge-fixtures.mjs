// Fixtures for scripts/bench-edge.sh: a fresh Ed25519 key, its JWKS (the pinned JWKS_JSON both
// workers get), one Better Auth JWT, and a pool of distinct tokens for the same user (they
// differ only in `updatedAt`, so shape and size are the same) to run with the memo defeated.
//
//   node bench/edge-fixtures.mjs OUT_DIR [POOL_SIZE]
//
// Writes OUT_DIR/jwks.json, OUT_DIR/token.txt, OUT_DIR/tokens.txt (one per line),
// OUT_DIR/user-id.txt. Tokens expire 900 s after they are minted, as Better Auth's do.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { betterAuthClaims, newSigner, nowSecs, randomId } from "./lib/better-auth-jwt.mjs";

const [outDir, poolArg = "20000"] = process.argv.slice(2);
const poolSize = Number(poolArg);
if (!outDir || !Number.isInteger(poolSize) || poolSize < 1) {
  console.error("usage: node bench/edge-fixtures.mjs OUT_DIR [POOL_SIZE]");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const signer = newSigner();
const userId = randomId();
const iat = nowSecs();
const token = signer.sign(betterAuthClaims({ userId, iat }));
const base = Date.parse("2026-11-20T17:45:12.345Z");
const pool = [];
for (let i = 0; i < poolSize; i++) {
  // A distinct updatedAt per token, same length: a millisecond apart.
  const updatedAt = new Date(base + i + 1).toISOString();
  pool.push(signer.sign(betterAuthClaims({ userId, iat, updatedAt })));
}

writeFileSync(join(outDir, "jwks.json"), signer.jwksJson);
writeFileSync(join(outDir, "token.txt"), `${token}\n`);
writeFileSync(join(outDir, "tokens.txt"), `${pool.join("\n")}\n`);
writeFileSync(join(outDir, "user-id.txt"), `${userId}\n`);
console.log(`token: ${token.length} bytes, ${pool.length} pool tokens, user ${userId}, expires ${iat + 900}`);
