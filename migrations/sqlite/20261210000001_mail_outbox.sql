-- edgeauth's durable mail outbox (Better Auth has none and never reads it): every mail, and
-- every signed-out request whose mail depends on a lookup (password reset, verification
-- resend), is a row here, written in the transaction that writes the token the mail carries.
-- A worker in each origin process claims due rows for a lease ("claimedUntil"), delivers
-- them, and marks them sent, schedules a retry, or marks them failed.
--
-- New table only: Better Auth's tables are never altered here. Times are Unix milliseconds,
-- like the edgeauth_two_factor_* tables. "payload" holds what the mail is rendered from
-- (its link or code included), sealed under BETTER_AUTH_SECRET, and is emptied once the row
-- is sent or failed.

CREATE TABLE IF NOT EXISTS "edgeauth_mail_outbox" (
    "id" text NOT NULL PRIMARY KEY,
    -- A mail kind ("reset-password", ...) or a request ("request:reset-password", ...).
    "kind" text NOT NULL,
    "recipient" text NOT NULL,
    "userId" text,
    "payload" text NOT NULL,
    -- The Message-ID header, fixed when the row is written: every attempt sends the same.
    "messageId" text NOT NULL UNIQUE,
    -- pending, sent or failed.
    "status" text NOT NULL,
    "attempts" integer NOT NULL DEFAULT 0,
    "nextAttemptAt" integer NOT NULL,
    "claimedBy" text,
    "claimedUntil" integer,
    "lastError" text,
    "createdAt" integer NOT NULL,
    -- Past this, the mail is not worth sending (its link has expired): it is marked failed.
    "expiresAt" integer NOT NULL,
    "finishedAt" integer
);

CREATE INDEX IF NOT EXISTS "edgeauth_mail_outbox_due_idx" ON "edgeauth_mail_outbox" ("status", "nextAttemptAt");
CREATE INDEX IF NOT EXISTS "edgeauth_mail_outbox_userId_idx" ON "edgeauth_mail_outbox" ("userId");
