//! `EDGEAUTH_SCHEMA`: edgeauth on a database laid out by another tool, shared with a Better
//! Auth 1.4.22 server configured with the same `modelName`/`fields`/`generateId`
//! (`tests/js/better-auth-server.mjs`'s `SCHEMA`). Each layout is created by SQL here, as the
//! tool's migration would; each test has its own database, whose default time zone is not
//! UTC (so a timestamp without time zone written in the session's zone would show).

use edgeauth_tests::fixtures::{browser, email, now, BASE_URL, PASSWORD, SECRET};
use edgeauth_tests::{Origin, Postgres};
use edgeauth_token::{KeySet, Validation};
use serde_json::{json, Map, Value};
use sqlx::{Connection, Executor, PgConnection};

use crate::better_auth::better_auth_server;

/// The fields of Better Auth's core models and the jwt plugin's `jwks`, other than `id`.
const MODELS: &[(&str, &[&str])] = &[
    (
        "user",
        &[
            "name",
            "email",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt",
        ],
    ),
    (
        "session",
        &[
            "expiresAt",
            "token",
            "createdAt",
            "updatedAt",
            "ipAddress",
            "userAgent",
            "userId",
        ],
    ),
    (
        "account",
        &[
            "accountId",
            "providerId",
            "userId",
            "accessToken",
            "refreshToken",
            "idToken",
            "accessTokenExpiresAt",
            "refreshTokenExpiresAt",
            "scope",
            "password",
            "createdAt",
            "updatedAt",
        ],
    ),
    (
        "verification",
        &["identifier", "value", "expiresAt", "createdAt", "updatedAt"],
    ),
    (
        "jwks",
        &["publicKey", "privateKey", "createdAt", "expiresAt"],
    ),
];

/// Drizzle's snake_case: `emailVerified` → `email_verified`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A Drizzle project's tables (`@better-auth/cli generate` for Drizzle with snake_case
/// columns, `timestamp` without time zone, and a `better_auth_` table prefix), as its
/// migration would create them.
const DRIZZLE: &str = r#"
CREATE TABLE better_auth_user (
  id text PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL UNIQUE,
  email_verified boolean DEFAULT false NOT NULL,
  image text,
  created_at timestamp DEFAULT now() NOT NULL,
  updated_at timestamp DEFAULT now() NOT NULL
);
CREATE TABLE better_auth_session (
  id text PRIMARY KEY,
  expires_at timestamp NOT NULL,
  token text NOT NULL UNIQUE,
  created_at timestamp DEFAULT now() NOT NULL,
  updated_at timestamp NOT NULL,
  ip_address text,
  user_agent text,
  user_id text NOT NULL REFERENCES better_auth_user (id) ON DELETE CASCADE
);
CREATE TABLE better_auth_account (
  id text PRIMARY KEY,
  account_id text NOT NULL,
  provider_id text NOT NULL,
  user_id text NOT NULL REFERENCES better_auth_user (id) ON DELETE CASCADE,
  access_token text,
  refresh_token text,
  id_token text,
  access_token_expires_at timestamp,
  refresh_token_expires_at timestamp,
  scope text,
  password text,
  created_at timestamp DEFAULT now() NOT NULL,
  updated_at timestamp NOT NULL
);
CREATE TABLE better_auth_verification (
  id text PRIMARY KEY,
  identifier text NOT NULL,
  value text NOT NULL,
  expires_at timestamp NOT NULL,
  created_at timestamp DEFAULT now() NOT NULL,
  updated_at timestamp DEFAULT now() NOT NULL
);
CREATE TABLE better_auth_jwks (
  id text PRIMARY KEY,
  public_key text NOT NULL,
  private_key text NOT NULL,
  created_at timestamp NOT NULL,
  expires_at timestamp
);
"#;

/// A Prisma project's tables (`@better-auth/cli generate` for Prisma with
/// `generateId: "uuid"`, `prisma migrate`): Better Auth's names, `timestamp(3)`, uuid ids
/// the database fills.
const PRISMA: &str = r#"
CREATE TABLE "user" (
  "id" uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  "name" text NOT NULL,
  "email" text NOT NULL,
  "emailVerified" boolean NOT NULL DEFAULT false,
  "image" text,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "user_email_key" ON "user" ("email");
CREATE TABLE "session" (
  "id" uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  "expiresAt" timestamp(3) NOT NULL,
  "token" text NOT NULL,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL,
  "ipAddress" text,
  "userAgent" text,
  "userId" uuid NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "session_token_key" ON "session" ("token");
CREATE TABLE "account" (
  "id" uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  "accountId" text NOT NULL,
  "providerId" text NOT NULL,
  "userId" uuid NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
  "accessToken" text,
  "refreshToken" text,
  "idToken" text,
  "accessTokenExpiresAt" timestamp(3),
  "refreshTokenExpiresAt" timestamp(3),
  "scope" text,
  "password" text,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL
);
CREATE TABLE "verification" (
  "id" uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  "identifier" text NOT NULL,
  "value" text NOT NULL,
  "expiresAt" timestamp(3) NOT NULL,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE "jwks" (
  "id" uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  "publicKey" text NOT NULL,
  "privateKey" text NOT NULL,
  "createdAt" timestamp(3) NOT NULL,
  "expiresAt" timestamp(3)
);
"#;

/// Better Auth's CLI `migrate` with `generateId: "serial"`: its names, `serial` ids the
/// database numbers, `integer` references.
const SERIAL: &str = r#"
CREATE TABLE "user" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL,
  "email" text NOT NULL UNIQUE,
  "emailVerified" boolean NOT NULL,
  "image" text,
  "createdAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
  "updatedAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL
);
CREATE TABLE "session" (
  "id" serial PRIMARY KEY,
  "expiresAt" timestamptz NOT NULL,
  "token" text NOT NULL UNIQUE,
  "createdAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
  "updatedAt" timestamptz NOT NULL,
  "ipAddress" text,
  "userAgent" text,
  "userId" integer NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE
);
CREATE TABLE "account" (
  "id" serial PRIMARY KEY,
  "accountId" text NOT NULL,
  "providerId" text NOT NULL,
  "userId" integer NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE,
  "accessToken" text,
  "refreshToken" text,
  "idToken" text,
  "accessTokenExpiresAt" timestamptz,
  "refreshTokenExpiresAt" timestamptz,
  "scope" text,
  "password" text,
  "createdAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
  "updatedAt" timestamptz NOT NULL
);
CREATE TABLE "verification" (
  "id" serial PRIMARY KEY,
  "identifier" text NOT NULL,
  "value" text NOT NULL,
  "expiresAt" timestamptz NOT NULL,
  "createdAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
  "updatedAt" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL
);
CREATE TABLE "jwks" (
  "id" serial PRIMARY KEY,
  "publicKey" text NOT NULL,
  "privateKey" text NOT NULL,
  "createdAt" timestamptz NOT NULL,
  "expiresAt" timestamptz
);
"#;

/// A fresh database laid out by `fixture`, its default time zone far from UTC.
async fn database(fixture: &str) -> Postgres {
    let pg = Postgres::start_shared().await.unwrap();
    lay_out(&pg, fixture).await;
    pg
}

/// Lays out `pg`'s database with `fixture`, its default time zone far from UTC.
async fn lay_out(pg: &Postgres, fixture: &str) {
    let mut connection = PgConnection::connect(&pg.url()).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    connection
        .execute(
            format!(r#"ALTER DATABASE "{name}" SET timezone TO 'Pacific/Kiritimati'"#).as_str(),
        )
        .await
        .unwrap();
    sqlx::raw_sql(fixture)
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
}

/// The Drizzle layout's EDGEAUTH_SCHEMA: the casing shortcut and the prefixes, what an
/// operator writes.
fn drizzle_schema() -> String {
    json!({
        "casing": "snake_case",
        "user": { "modelName": "better_auth_user" },
        "session": { "modelName": "better_auth_session" },
        "account": { "modelName": "better_auth_account" },
        "verification": { "modelName": "better_auth_verification" },
        "jwks": { "modelName": "better_auth_jwks" },
    })
    .to_string()
}

/// Users, sessions and JWTs cross both ways between edgeauth on `ours` and Better Auth on
/// `theirs`; returns the two users' get-session answers as each server gives them.
async fn cross(ours: &str, theirs: &str, log: &dyn Fn() -> String) -> Vec<(Value, Value)> {
    let mut seen = Vec::new();
    // Made by edgeauth, signed in on Better Auth, whose session edgeauth accepts.
    let made_here = email("layout-here");
    let reply = browser(ours)
        .sign_up("Here", &made_here, PASSWORD)
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let mut on_theirs = browser(theirs);
    let reply = on_theirs.sign_in(&made_here, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let mut carried = browser(ours);
    carried.cookies = on_theirs.cookies.clone();
    let here_on_ours = carried.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(here_on_ours["user"]["email"], made_here, "{}", log());
    let here_on_theirs = on_theirs.get("/api/auth/get-session").await.unwrap().json();
    seen.push((here_on_ours, here_on_theirs));

    // Made by Better Auth, signed in on edgeauth, whose session Better Auth accepts.
    let made_there = email("layout-there");
    let reply = browser(theirs)
        .sign_up("There", &made_there, PASSWORD)
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let mut on_ours = browser(ours);
    let reply = on_ours.sign_in(&made_there, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let mut back = browser(theirs);
    back.cookies = on_ours.cookies.clone();
    let there_on_theirs = back.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(there_on_theirs["user"]["email"], made_there, "{}", log());
    let there_on_ours = on_ours.get("/api/auth/get-session").await.unwrap().json();
    seen.push((there_on_ours, there_on_theirs));

    // One key set; each one's JWTs verify under the other's.
    let our_jwks = browser(ours).get("/api/auth/jwks").await.unwrap().json();
    let their_jwks = browser(theirs).get("/api/auth/jwks").await.unwrap().json();
    assert_eq!(their_jwks, our_jwks, "{}", log());
    let keys = KeySet::from_jwks_json(&their_jwks.to_string()).unwrap();
    let rules = Validation::new(BASE_URL, BASE_URL);
    for client in [&mut back, &mut on_ours] {
        let token = client.get("/api/auth/token").await.unwrap().json()["token"]
            .as_str()
            .unwrap()
            .to_string();
        let claims = edgeauth_token::verify(&token, &keys, &rules, now()).unwrap();
        assert_eq!(claims.get_str("email"), Some(made_there.as_str()));
    }

    // Signing out on Better Auth ends the session for edgeauth.
    assert_eq!(
        back.post_empty("/api/auth/sign-out").await.unwrap().status,
        200
    );
    assert_eq!(
        on_ours.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    seen
}

/// Both servers read the same user and session with the same ids and times, and the times
/// are now (UTC), not shifted by a time zone.
fn assert_same_rows(seen: &[(Value, Value)]) {
    let now_ms = now() as i64 * 1000;
    for (ours, theirs) in seen {
        for part in ["user", "session"] {
            for field in ["id", "createdAt"] {
                assert_eq!(
                    ours[part][field], theirs[part][field],
                    "{part}.{field}: {ours} / {theirs}"
                );
            }
        }
        assert_eq!(ours["session"]["expiresAt"], theirs["session"]["expiresAt"]);
        let created =
            chrono::DateTime::parse_from_rfc3339(ours["user"]["createdAt"].as_str().unwrap())
                .unwrap()
                .timestamp_millis();
        assert!(
            (now_ms - created).abs() < 3_600_000,
            "createdAt {} is not now in UTC",
            ours["user"]["createdAt"]
        );
    }
}

/// Better Auth's `SCHEMA` for `modelName`s `prefix` + model and snake_case fields.
fn better_auth_snake_case(prefix: &str) -> Value {
    let mut out = Map::new();
    for (model, fields) in MODELS {
        let fields: Map<String, Value> = fields
            .iter()
            .map(|f| (f.to_string(), Value::String(snake(f))))
            .collect();
        out.insert(
            model.to_string(),
            json!({ "modelName": format!("{prefix}{model}"), "fields": fields }),
        );
    }
    Value::Object(out)
}

#[tokio::test]
async fn a_drizzle_layout_with_snake_case_a_prefix_and_no_time_zone_is_shared_with_better_auth() {
    let pg = database(DRIZZLE).await;
    let schema = drizzle_schema();
    let edgeauth = Origin::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
        ("EDGEAUTH_PASSWORD_HASH", "scrypt"),
        ("EDGEAUTH_SCHEMA", &schema),
    ])
    .unwrap();
    // The doctor reads the layout under its names, the timestamps as UTC.
    let (code, report) = crate::operations::doctor(
        &[
            ("DATABASE_URL", &pg.url()),
            ("BETTER_AUTH_SECRET", SECRET),
            ("EDGEAUTH_SCHEMA", &schema),
        ],
        false,
    );
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains(r#"ok        "email_verified" boolean"#)
            && report.contains(r#""better_auth_session" (Better Auth's sessions): ok"#)
            && report
                .contains(r#""expires_at" timestamp without time zone: read and written (as UTC)"#),
        "{report}"
    );
    // edgeauth creates the signing key, in better_auth_jwks.
    browser(&edgeauth.url).get("/api/auth/jwks").await.unwrap();
    let (better_auth, theirs) = better_auth_server(
        &pg.url(),
        &[
            (
                "SCHEMA",
                &better_auth_snake_case("better_auth_").to_string(),
            ),
            ("TZ", "UTC"),
        ],
    )
    .await;
    let log = || {
        format!(
            "{}\n{}",
            edgeauth.process.log_tail(),
            better_auth.log_tail()
        )
    };
    let seen = cross(&edgeauth.url, &theirs, &log).await;
    assert_same_rows(&seen);
    // Nothing was created under Better Auth's default names.
    let mut connection = PgConnection::connect(&pg.url()).await.unwrap();
    let defaults: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() \
         AND table_name IN ('user', 'session', 'account', 'verification', 'jwks', '_sqlx_migrations')",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(defaults, 0);
}

#[tokio::test]
async fn a_prisma_layout_with_uuid_ids_and_millisecond_timestamps_is_shared_with_better_auth() {
    let pg = database(PRISMA).await;
    let schema = json!({ "generateId": "uuid" }).to_string();
    let edgeauth = Origin::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
        ("EDGEAUTH_PASSWORD_HASH", "scrypt"),
        ("EDGEAUTH_SCHEMA", &schema),
    ])
    .unwrap();
    browser(&edgeauth.url).get("/api/auth/jwks").await.unwrap();
    let (better_auth, theirs) =
        better_auth_server(&pg.url(), &[("SCHEMA", &schema), ("TZ", "UTC")]).await;
    let log = || {
        format!(
            "{}\n{}",
            edgeauth.process.log_tail(),
            better_auth.log_tail()
        )
    };
    let seen = cross(&edgeauth.url, &theirs, &log).await;
    assert_same_rows(&seen);
    // The operator commands read the layout too: a user found by address, and an id that
    // cannot be a uuid is no such user (not a database error).
    let users = |args: &[&str]| {
        std::process::Command::new(edgeauth_tests::edgeauth_bin().unwrap())
            .arg("users")
            .args(args)
            .env("DATABASE_URL", pg.url())
            .env("EDGEAUTH_SCHEMA", &schema)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let address = seen[0].0["user"]["email"].as_str().unwrap().to_string();
    let found = users(&["find", "--json", &address]);
    let text = String::from_utf8_lossy(&found.stdout);
    assert!(
        found.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(
        text.contains(seen[0].0["user"]["id"].as_str().unwrap()),
        "{text}"
    );
    let bogus = users(&["revoke-sessions", "not-a-uuid"]);
    assert_eq!(
        bogus.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bogus.stderr)
    );
    assert!(String::from_utf8_lossy(&bogus.stderr).contains("no user with id"));
    // Ids are uuids, whichever server made the row.
    for (ours, _) in &seen {
        for id in [&ours["user"]["id"], &ours["session"]["id"]] {
            let id = id.as_str().unwrap();
            assert!(
                id.len() == 36 && id.matches('-').count() == 4,
                "not a uuid: {id}"
            );
        }
    }
}

/// Integer ids from the tables' sequences (`generateId: "serial"`), whichever server makes
/// the row: both number from the same sequences and answer the ids as strings. An identity
/// column `GENERATED ALWAYS`, which would refuse them, is reported by the doctor with its fix.
#[tokio::test]
async fn a_serial_id_layout_is_shared_with_better_auth() {
    let pg = database(SERIAL).await;
    let schema = json!({ "generateId": "serial" }).to_string();
    let edgeauth = Origin::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
        ("EDGEAUTH_PASSWORD_HASH", "scrypt"),
        ("EDGEAUTH_SCHEMA", &schema),
    ])
    .unwrap();
    browser(&edgeauth.url).get("/api/auth/jwks").await.unwrap();
    let (better_auth, theirs) = better_auth_server(&pg.url(), &[("SCHEMA", &schema)]).await;
    let log = || {
        format!(
            "{}\n{}",
            edgeauth.process.log_tail(),
            better_auth.log_tail()
        )
    };
    let seen = cross(&edgeauth.url, &theirs, &log).await;
    assert_same_rows(&seen);
    let mut user_ids = Vec::new();
    for (ours, _) in &seen {
        for id in [&ours["user"]["id"], &ours["session"]["id"]] {
            let id = id.as_str().unwrap_or_else(|| panic!("not a string: {id}"));
            assert!(id.parse::<u32>().is_ok(), "not a serial id: {id}");
        }
        user_ids.push(ours["user"]["id"].as_str().unwrap().parse::<u32>().unwrap());
    }
    // edgeauth's user first, then Better Auth's: one sequence, in order.
    assert!(user_ids[0] < user_ids[1], "{user_ids:?}");
    // A client's id that cannot be an integer is no such row, not a database error.
    let bogus = std::process::Command::new(edgeauth_tests::edgeauth_bin().unwrap())
        .args(["users", "revoke-sessions", "not-a-number"])
        .env("DATABASE_URL", pg.url())
        .env("EDGEAUTH_SCHEMA", &schema)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(
        bogus.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bogus.stderr)
    );

    // An identity GENERATED ALWAYS refuses the ids edgeauth writes: the doctor says so, with
    // the statement that fixes it, and is content once it has run.
    let mut connection = PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::raw_sql(
        r#"ALTER TABLE "verification" ALTER COLUMN "id" DROP DEFAULT;
           ALTER TABLE "verification" ALTER COLUMN "id" ADD GENERATED ALWAYS AS IDENTITY"#,
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let env = [
        ("DATABASE_URL", pg.url()),
        ("BETTER_AUTH_SECRET", SECRET.to_string()),
        ("EDGEAUTH_SCHEMA", schema.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, report) = crate::operations::doctor(&env, false);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("generated always as identity")
            && report.contains(
                r#"ALTER TABLE "verification" ALTER COLUMN "id" SET GENERATED BY DEFAULT"#
            ),
        "{report}"
    );
    sqlx::raw_sql(r#"ALTER TABLE "verification" ALTER COLUMN "id" SET GENERATED BY DEFAULT"#)
        .execute(&mut connection)
        .await
        .unwrap();
    let (code, report) = crate::operations::doctor(&env, false);
    assert_eq!(code, 0, "{report}");
}

/// Timestamps without time zone are read right when the database could not be examined at
/// start-up (it was down; `EDGEAUTH_MIGRATE=off` lets the server start): what edgeauth
/// writes reads back as now, in UTC.
#[tokio::test]
async fn a_layout_without_time_zone_is_read_right_when_the_database_was_down_at_start() {
    let pg = Postgres::start().await.unwrap();
    lay_out(&pg, DRIZZLE).await;
    pg.stop().unwrap();
    let schema = drizzle_schema();
    let edgeauth = Origin::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
        ("EDGEAUTH_MIGRATE", "off"),
        ("EDGEAUTH_SCHEMA", &schema),
    ])
    .unwrap();
    pg.restart().unwrap();
    let back = std::time::Instant::now();
    while browser(&edgeauth.url).get("/readyz").await.unwrap().status != 200 {
        assert!(
            back.elapsed() < std::time::Duration::from_secs(15),
            "not ready after the restart\n{}",
            edgeauth.process.log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let address = email("layout-down");
    let mut client = browser(&edgeauth.url);
    let reply = client.sign_up("Down", &address, PASSWORD).await.unwrap();
    assert_eq!(
        reply.status,
        200,
        "{}\n{}",
        reply.text,
        edgeauth.process.log_tail()
    );
    let session = client.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["user"]["email"], address);
    let now_ms = now() as i64 * 1000;
    for (field, expected) in [
        (&session["user"]["createdAt"], now_ms),
        (&session["session"]["expiresAt"], now_ms + 7 * 86_400_000),
    ] {
        let at = chrono::DateTime::parse_from_rfc3339(field.as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        assert!(
            (at - expected).abs() < 3_600_000,
            "{field} is not {expected} (UTC)"
        );
    }
}

/// `user.additionalFields` (issue 13), declared alike on both servers: `plan` (input, a
/// default), `role` (`input: false`, a default), `trialEndsAt` (a date); and a
/// `session.additionalFields` default. On the schema Better Auth's CLI creates, with the
/// application's columns added.
#[tokio::test]
async fn user_additional_fields_are_shared_with_better_auth() {
    let fixture = format!(
        "{}\nALTER TABLE \"user\" ADD COLUMN \"plan\" text;\
         ALTER TABLE \"user\" ADD COLUMN \"role\" text;\
         ALTER TABLE \"user\" ADD COLUMN \"trialEndsAt\" timestamptz;\
         ALTER TABLE \"user\" ADD COLUMN \"credits\" integer;\
         ALTER TABLE \"user\" ADD COLUMN \"tags\" jsonb;\
         ALTER TABLE \"user\" ADD COLUMN \"prefs\" jsonb;\
         ALTER TABLE \"session\" ADD COLUMN \"device\" text;\
         ALTER TABLE \"session\" ADD COLUMN \"trusted\" boolean;",
        include_str!("../../migrations/postgres/20261126000001_better_auth.sql")
    );
    let pg = database(&fixture).await;
    let schema = json!({"user": {"additionalFields": {
        "plan": {"type": ["free", "pro", "team"], "required": false, "defaultValue": "free", "input": true},
        "role": {"type": "string", "required": false, "defaultValue": "member", "input": false},
        "trialEndsAt": {"type": "date", "required": false},
        "credits": {"type": "number", "required": false, "defaultValue": 3},
        "tags": {"type": "string[]", "required": false},
        "prefs": {"type": "json", "required": false, "defaultValue": {"theme": "dark"}},
    }}, "session": {"additionalFields": {
        "device": {"type": "string", "required": false, "defaultValue": "web"},
        "trusted": {"type": "boolean", "required": false, "defaultValue": false},
    }}})
    .to_string();
    let edgeauth = Origin::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
        ("EDGEAUTH_PASSWORD_HASH", "scrypt"),
        ("EDGEAUTH_SCHEMA", &schema),
    ])
    .unwrap();
    let ours = edgeauth.url.clone();
    browser(&ours).get("/api/auth/jwks").await.unwrap();
    let (better_auth, theirs) =
        better_auth_server(&pg.url(), &[("SCHEMA", &schema), ("TZ", "UTC")]).await;
    let log = || {
        format!(
            "{}\n{}",
            edgeauth.process.log_tail(),
            better_auth.log_tail()
        )
    };
    let extra = |user: &Value| {
        json!({"plan": user["plan"], "role": user["role"], "trialEndsAt": user["trialEndsAt"],
               "credits": user["credits"], "tags": user["tags"], "prefs": user["prefs"]})
    };
    let keys = KeySet::from_jwks_json(
        &browser(&ours)
            .get("/api/auth/jwks")
            .await
            .unwrap()
            .json()
            .to_string(),
    )
    .unwrap();
    let rules = Validation::new(BASE_URL, BASE_URL);
    let token_plan = |token: &Value| {
        let claims = edgeauth_token::verify(token.as_str().unwrap(), &keys, &rules, now()).unwrap();
        claims.get_str("plan").map(str::to_string)
    };

    // Signed up on edgeauth with a plan (one of a literal union) and a role it may not set,
    // seen alike by Better Auth, whose JWT carries the plan.
    let here = email("fields-here");
    let reply = browser(&ours)
        .post(
            "/api/auth/sign-up/email",
            &json!({"name": "Here", "email": here, "password": PASSWORD, "credits": 7,
                    "plan": "pro", "role": "admin", "trialEndsAt": "2027-01-02T03:04:05.678Z",
                    "tags": ["early", "beta"]}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let expected = json!({"plan": "pro", "role": "member",
                          "trialEndsAt": "2027-01-02T03:04:05.678Z", "credits": 7,
                          "tags": ["early", "beta"], "prefs": {"theme": "dark"}});
    assert_eq!(extra(&reply.json()["user"]), expected);
    let mut on_theirs = browser(&theirs);
    let reply = on_theirs.sign_in(&here, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let session = on_theirs.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(extra(&session["user"]), expected, "{}", log());
    let token = on_theirs.get("/api/auth/token").await.unwrap().json();
    assert_eq!(token_plan(&token["token"]).as_deref(), Some("pro"));

    // The refusals are Better Auth's: a field with `input: false` on update-user, a value
    // the column cannot hold on sign-up.
    let mut on_ours_too = browser(&ours);
    on_ours_too.cookies = on_theirs.cookies.clone();
    for (path, body) in [
        ("/api/auth/update-user", json!({"role": "admin"})),
        (
            "/api/auth/sign-up/email",
            json!({"name": "X", "email": email("fields-bad"), "password": PASSWORD, "credits": "lots"}),
        ),
    ] {
        let theirs = on_theirs.post(path, &body).await.unwrap();
        let ours = on_ours_too.post(path, &body).await.unwrap();
        assert_eq!(
            (ours.status, ours.json()),
            (theirs.status, theirs.json()),
            "{path}\n{}",
            log()
        );
    }

    // Signed up on Better Auth (its defaults), then changed on edgeauth: Better Auth sees
    // the change, edgeauth's JWT carries it.
    let there = email("fields-there");
    let reply = browser(&theirs)
        .post(
            "/api/auth/sign-up/email",
            &json!({"name": "There", "email": there, "password": PASSWORD}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let mut on_ours = browser(&ours);
    let reply = on_ours.sign_in(&there, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let session = on_ours.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(
        extra(&session["user"]),
        json!({"plan": "free", "role": "member", "trialEndsAt": null, "credits": 3,
               "tags": null, "prefs": {"theme": "dark"}}),
        "{}",
        log()
    );
    let reply = on_ours
        .post(
            "/api/auth/update-user",
            &json!({"plan": "team", "tags": ["x"], "prefs": {"theme": "light", "size": 2}}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let token = on_ours.get("/api/auth/token").await.unwrap().json();
    assert_eq!(token_plan(&token["token"]).as_deref(), Some("team"));
    let mut back = browser(&theirs);
    back.cookies = on_ours.cookies.clone();
    let session = back.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["user"]["plan"], "team", "{}", log());
    assert_eq!(session["user"]["tags"], json!(["x"]), "{}", log());
    assert_eq!(
        session["user"]["prefs"],
        json!({"theme": "light", "size": 2}),
        "{}",
        log()
    );
    // edgeauth's session has the session field's default, as Better Auth reads it, and
    // Better Auth's has it as edgeauth reads it.
    assert_eq!(session["session"]["device"], "web", "{}", log());
    assert_eq!(session["session"]["trusted"], false, "{}", log());
    let mut carried = browser(&ours);
    carried.cookies = on_theirs.cookies.clone();
    let session = carried.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["session"]["device"], "web", "{}", log());
    assert_eq!(session["session"]["trusted"], false, "{}", log());
    assert_eq!(session["user"]["plan"], "pro", "{}", log());

    // `plan` is a literal union. Better Auth takes a value outside it (its union is a
    // TypeScript type only); edgeauth refuses it, and reads the row Better Auth wrote as it is.
    let body = json!({"plan": "gold"});
    let refused = carried.post("/api/auth/update-user", &body).await.unwrap();
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.json()["code"],
        "VALIDATION_ERROR",
        "{}",
        refused.text
    );
    let taken = on_theirs
        .post("/api/auth/update-user", &body)
        .await
        .unwrap();
    assert_eq!(taken.status, 200, "{}\n{}", taken.text, log());
    let session = carried.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["user"]["plan"], "gold", "{}", log());
}
