-- The `@better-auth/passkey` plugin's table (`passkey`), as `@better-auth/cli migrate` creates
-- it, and edgeauth's own record of each passkey's last use (Better Auth keeps none).
-- New tables only: Better Auth's existing tables are never altered here.

CREATE TABLE IF NOT EXISTS "passkey" (
    "id" text NOT NULL PRIMARY KEY,
    "name" text,
    "publicKey" text NOT NULL,
    "userId" text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE,
    "credentialID" text NOT NULL,
    "counter" integer NOT NULL,
    "deviceType" text NOT NULL,
    "backedUp" boolean NOT NULL,
    "transports" text,
    "createdAt" timestamptz,
    "aaguid" text
);

CREATE INDEX IF NOT EXISTS "passkey_userId_idx" ON "passkey" ("userId");
CREATE INDEX IF NOT EXISTS "passkey_credentialID_idx" ON "passkey" ("credentialID");

CREATE TABLE IF NOT EXISTS "edgeauth_passkey_use" (
    "passkeyId" text NOT NULL PRIMARY KEY REFERENCES "passkey" ("id") ON DELETE CASCADE,
    "lastUsedAt" timestamptz NOT NULL
);
