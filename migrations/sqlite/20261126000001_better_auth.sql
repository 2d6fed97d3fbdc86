-- Better Auth 1.4's schema for the embedded SQLite database: the same tables, columns and
-- indexes as migrations/postgres, with SQLite's types. Booleans are integers (0/1);
-- timestamps are RFC 3339 text in UTC (what sqlx writes for chrono's DateTime<Utc>), so
-- they sort and compare as text.

CREATE TABLE IF NOT EXISTS "user" (
    "id" text NOT NULL PRIMARY KEY,
    "name" text NOT NULL,
    "email" text NOT NULL UNIQUE,
    "emailVerified" integer NOT NULL,
    "image" text,
    "createdAt" text DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" text DEFAULT CURRENT_TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS "session" (
    "id" text NOT NULL PRIMARY KEY,
    "expiresAt" text NOT NULL,
    "token" text NOT NULL UNIQUE,
    "createdAt" text DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" text NOT NULL,
    "ipAddress" text,
    "userAgent" text,
    "userId" text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS "account" (
    "id" text NOT NULL PRIMARY KEY,
    "accountId" text NOT NULL,
    "providerId" text NOT NULL,
    "userId" text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE,
    "accessToken" text,
    "refreshToken" text,
    "idToken" text,
    "accessTokenExpiresAt" text,
    "refreshTokenExpiresAt" text,
    "scope" text,
    "password" text,
    "createdAt" text DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" text NOT NULL
);

CREATE TABLE IF NOT EXISTS "verification" (
    "id" text NOT NULL PRIMARY KEY,
    "identifier" text NOT NULL,
    "value" text NOT NULL,
    "expiresAt" text NOT NULL,
    "createdAt" text DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" text DEFAULT CURRENT_TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS "jwks" (
    "id" text NOT NULL PRIMARY KEY,
    "publicKey" text NOT NULL,
    "privateKey" text NOT NULL,
    "createdAt" text NOT NULL,
    "expiresAt" text
);

CREATE TABLE IF NOT EXISTS "rateLimit" (
    "id" text NOT NULL PRIMARY KEY,
    "key" text NOT NULL UNIQUE,
    "count" integer NOT NULL,
    "lastRequest" integer NOT NULL
);

CREATE INDEX IF NOT EXISTS "session_userId_idx" ON "session" ("userId");
CREATE INDEX IF NOT EXISTS "account_userId_idx" ON "account" ("userId");
CREATE INDEX IF NOT EXISTS "verification_identifier_idx" ON "verification" ("identifier");
