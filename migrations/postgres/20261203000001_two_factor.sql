-- Better Auth 1.4's twoFactor plugin table (`twoFactor`), as `@better-auth/cli migrate`
-- creates it, and edgeauth's own two-factor state, which Better Auth lacks and never reads:
-- the last TOTP step each user used (a code is accepted once), wrong-code counts per
-- account and per pending sign-in.
--
-- New tables only: Better Auth's existing tables are never altered here. The plugin's
-- column `user.twoFactorEnabled` is added at start-up, and only with EDGEAUTH_TWO_FACTOR=on
-- (`Db::add_two_factor_column`), as Better Auth's CLI adds it only with the plugin.

CREATE TABLE IF NOT EXISTS "twoFactor" (
    "id" text NOT NULL PRIMARY KEY,
    "secret" text NOT NULL,
    "backupCodes" text NOT NULL,
    "userId" text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS "twoFactor_secret_idx" ON "twoFactor" ("secret");
CREATE INDEX IF NOT EXISTS "twoFactor_userId_idx" ON "twoFactor" ("userId");

-- Per user: the last TOTP step accepted, and the wrong codes counted since the last success
-- (every factor counts; times are Unix milliseconds, like "rateLimit"."lastRequest").
CREATE TABLE IF NOT EXISTS "edgeauth_two_factor_guard" (
    "userId" text NOT NULL PRIMARY KEY REFERENCES "user" ("id") ON DELETE CASCADE,
    "lastTotpStep" bigint,
    "failures" integer NOT NULL DEFAULT 0,
    "lastAttempt" bigint NOT NULL DEFAULT 0
);

-- A sign-in waiting for its second factor: named by the signed `two_factor` cookie.
CREATE TABLE IF NOT EXISTS "edgeauth_two_factor_pending" (
    "id" text NOT NULL PRIMARY KEY,
    "userId" text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE,
    "rememberMe" boolean NOT NULL,
    "failures" integer NOT NULL DEFAULT 0,
    "expiresAt" bigint NOT NULL
);

CREATE INDEX IF NOT EXISTS "edgeauth_two_factor_pending_userId_idx" ON "edgeauth_two_factor_pending" ("userId");
