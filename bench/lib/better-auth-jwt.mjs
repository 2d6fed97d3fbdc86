// Better Auth-shaped EdDSA JWTs for the benchmarks: a fresh Ed25519 key, its JWKS in Better
// Auth's GET /jwks shape, and tokens with the claims Better Auth's jwt() plugin mints for a
// typical user. Signed with node:crypto so that the bytes (claim order included) are exactly
// the ones shown here.

import * as nodeCrypto from "node:crypto";

// Better Auth's defaults when BETTER_AUTH_URL=http://localhost:3000: the issuer and the
// audience are the base URL's origin.
export const ISSUER = "http://localhost:3000";
export const AUDIENCE = "http://localhost:3000";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A Better Auth-style id: 32 alphanumeric characters. */
export function randomId() {
  return Array.from(nodeCrypto.randomBytes(32), (b) => ALPHABET[b % ALPHABET.length]).join("");
}

export const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
export const nowSecs = () => Math.floor(Date.now() / 1000);

/** A new signing key: { kid, jwks, jwksJson, publicKey, sign(claims) -> compact JWT }. */
export function newSigner() {
  const { publicKey, privateKey } = nodeCrypto.generateKeyPairSync("ed25519");
  const kid = randomId();
  const { x } = publicKey.export({ format: "jwk" });
  const jwks = { keys: [{ alg: "EdDSA", crv: "Ed25519", x, kty: "OKP", kid }] };
  const header = b64url(JSON.stringify({ alg: "EdDSA", kid }));
  return {
    kid,
    jwks,
    jwksJson: JSON.stringify(jwks),
    publicKey,
    sign(claims) {
      const signingInput = `${header}.${b64url(JSON.stringify(claims))}`;
      const signature = nodeCrypto.sign(null, Buffer.from(signingInput), privateKey);
      return `${signingInput}.${b64url(signature)}`;
    },
  };
}

/**
 * The claims of a typical Better Auth JWT, in the plugin's order: `iat`, the user object
 * (name, email, emailVerified, image, createdAt, updatedAt, id), then sub, exp (+900 s), iss,
 * aud. About 410 bytes of JSON, a token of about 710 bytes.
 */
export function betterAuthClaims({ userId, iat, updatedAt = "2026-11-20T17:45:12.345Z" }) {
  return {
    iat,
    name: "Ada Lovelace",
    email: "ada.lovelace@example.com",
    emailVerified: true,
    image: `https://cdn.example.com/avatars/${userId}.png`,
    createdAt: "2026-11-01T09:30:00.000Z",
    updatedAt,
    id: userId,
    sub: userId,
    exp: iat + 900,
    iss: ISSUER,
    aud: AUDIENCE,
  };
}
