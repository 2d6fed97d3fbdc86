// A real Better Auth 1.4 server (email and password, jwt(), bearer(), twoFactor() with
// TWO_FACTOR=on, and @better-auth/passkey's passkey() with PASSKEY=on) on PostgreSQL, for the
// interoperability tests: edgeauth and this server share one database and one secret and must
// accept each other's users, sessions, JWTs, and mailed verification and reset links (printed
// to stdout as `MAIL {"kind","to","url"}` lines), two-factor codes
// (`MAIL {"kind":"two-factor-otp","to","code"}`) and passkeys. The TOTP issuer is APP_NAME
// when set (else Better Auth's appName). With TWO_FACTOR=on the database needs the plugin's
// schema: the table "twoFactor" and the column "user"."twoFactorEnabled" (edgeauth with
// EDGEAUTH_TWO_FACTOR=on adds both). With PASSKEY=on it needs the table "passkey" (edgeauth's
// migrations create it); the relying party is PASSKEY_RP_ID (else the plugin's default, the
// host of BETTER_AUTH_URL) and the one origin a ceremony may come from PASSKEY_ORIGIN (else
// the plugin's default: whatever Origin header the request carries). GENERIC_OAUTH, when set,
// is the JSON config list of the genericOAuth plugin (its providers); ENCRYPT_OAUTH_TOKENS=on
// sets account.encryptOAuthTokens. SCHEMA, when set, is a JSON object of Better Auth's schema
// options: `user`, `session`, `account`, `verification` (each `{ modelName, fields }`, and
// `additionalFields` on `user` and `session`, merged
// into the options of that name), `jwks` (the jwt plugin's `schema.jwks`) and `generateId`
// (`advanced.database.generateId`): the layouts of the schema interop tests.
//
//   DATABASE_URL=postgres://... BETTER_AUTH_SECRET=... BETTER_AUTH_URL=http://localhost:3000 \
//   PORT=4000 [APP_NAME=...] [TWO_FACTOR=on] [PG_POOL_MAX=4] [RATE_LIMIT=off] \
//   [PASSKEY=on [PASSKEY_RP_ID=localhost] [PASSKEY_ORIGIN=http://localhost:3000]] \
//   [GENERIC_OAUTH='[{"providerId":...}]' [ENCRYPT_OAUTH_TOKENS=on]] [SCHEMA='{"user":...}'] \
//   node tests/js/better-auth-server.mjs
import http from "node:http";

import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import { bearer, genericOAuth, jwt, twoFactor } from "better-auth/plugins";
import pg from "pg";

// The passkey plugin is a package of its own, loaded only when asked for.
const passkey = process.env.PASSKEY === "on" ? (await import("@better-auth/passkey")).passkey : null;

const required = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
};

// `fields` is `{ url }` for a link, `{ code }` for a code.
const mail = (kind, to, fields) => console.log(`MAIL ${JSON.stringify({ kind, to, ...fields })}`);

// PG_POOL_MAX and RATE_LIMIT=off are for scripts/bench-origin.sh (the origin's pool size, and
// no limiter: Better Auth limits by default in production).
const pool = new pg.Pool({
  connectionString: required("DATABASE_URL"),
  max: Number(process.env.PG_POOL_MAX || 4),
});
const schema = process.env.SCHEMA ? JSON.parse(process.env.SCHEMA) : {};
const model = (name) => {
  const { modelName, fields, additionalFields } = schema[name] || {};
  return {
    ...(modelName ? { modelName } : {}),
    ...(fields ? { fields } : {}),
    ...(additionalFields ? { additionalFields } : {}),
  };
};
const auth = betterAuth({
  database: pool,
  secret: required("BETTER_AUTH_SECRET"),
  baseURL: required("BETTER_AUTH_URL"),
  emailAndPassword: {
    enabled: true,
    // Mail is printed, one JSON line per message, for the tests to read from the log.
    sendResetPassword: async ({ user, url }) => mail("reset-password", user.email, { url }),
  },
  user: { deleteUser: { enabled: true }, changeEmail: { enabled: true }, ...model("user") },
  session: model("session"),
  account: { encryptOAuthTokens: process.env.ENCRYPT_OAUTH_TOKENS === "on", ...model("account") },
  verification: model("verification"),
  ...(schema.generateId ? { advanced: { database: { generateId: schema.generateId } } } : {}),
  emailVerification: {
    sendVerificationEmail: async ({ user, url }) => mail("verify-email", user.email, { url }),
  },
  plugins: [
    jwt(schema.jwks ? { schema: { jwks: model("jwks") } } : undefined),
    bearer(),
    ...(process.env.TWO_FACTOR === "on"
      ? [
          twoFactor({
            issuer: process.env.APP_NAME || undefined,
            otpOptions: { sendOTP: async ({ user, otp }) => mail("two-factor-otp", user.email, { code: otp }) },
          }),
        ]
      : []),
    ...(process.env.GENERIC_OAUTH ? [genericOAuth({ config: JSON.parse(process.env.GENERIC_OAUTH) })] : []),
    ...(passkey
      ? [
          passkey({
            rpID: process.env.PASSKEY_RP_ID || undefined,
            origin: process.env.PASSKEY_ORIGIN || undefined,
          }),
        ]
      : []),
  ],
  ...(process.env.RATE_LIMIT === "off" ? { rateLimit: { enabled: false } } : {}),
  telemetry: { enabled: false },
});

const server = http.createServer(toNodeHandler(auth));
server.listen(Number(required("PORT")), "127.0.0.1", () => {
  console.log(`better-auth listening on ${server.address().port}`);
});
const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
