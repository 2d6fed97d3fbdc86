//! What edgeauth reads and writes in the database, compared with what the database has: the
//! report behind `edgeauth doctor`, which `serve` also checks before it starts.
//!
//! The expected tables are Better Auth's models with their default names (the ones
//! `@better-auth/cli migrate` creates, as `migrations/` does) and edgeauth's own tables, each
//! only when the configuration uses it. A table matches when every column edgeauth uses is
//! there with a type edgeauth can read and write, and no other column is `NOT NULL` without a
//! default (edgeauth's inserts would leave it empty and fail). Other columns (an
//! application's own fields) are listed and left alone. Nothing here changes the database:
//! every mismatch comes with the statement that would fix it, for the operator to run.

use serde::Serialize;

use crate::db::{class_of, ColumnClass, Db, DbColumn, GenerateId, Schema};

/// How edgeauth reads a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// A string.
    Text,
    /// A boolean.
    Bool,
    /// A point in time (PostgreSQL `timestamptz`).
    Timestamp,
    /// A 32-bit integer.
    Integer,
    /// A 64-bit integer.
    BigInt,
    /// Any number (an additional field of type `number`).
    Number,
    /// JSON (an additional field of type `json`, `string[]` or `number[]`): `jsonb` as
    /// Better Auth's CLI makes it, or `json` or text holding JSON.
    Json,
}

impl Kind {
    /// The PostgreSQL type edgeauth's migrations give such a column.
    fn postgres_type(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Bool => "boolean",
            Kind::Timestamp => "timestamptz",
            Kind::Integer => "integer",
            Kind::BigInt => "bigint",
            Kind::Number => "integer",
            Kind::Json => "jsonb",
        }
    }

    /// Whether a PostgreSQL column of `data_type` (`information_schema`'s spelling) can be
    /// read and written as this kind.
    fn accepts_postgres(self, data_type: &str) -> bool {
        match self {
            Kind::Text => matches!(data_type, "text" | "character varying" | "character"),
            Kind::Bool => data_type == "boolean",
            // Without a time zone, values are UTC (as Better Auth's adapters write them):
            // read as such, written with the session's time zone set to UTC.
            Kind::Timestamp => matches!(
                data_type,
                "timestamp with time zone" | "timestamp without time zone"
            ),
            Kind::Integer => data_type == "integer",
            Kind::BigInt => data_type == "bigint",
            Kind::Number => matches!(
                data_type,
                "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision"
            ),
            Kind::Json => matches!(data_type, "jsonb" | "json" | "text" | "character varying"),
        }
    }
}

/// Which database the report is about: SQLite declares types loosely (any value fits any
/// column), so only names and nullability are checked there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Dialect {
    /// From [`crate::db::Db::dialect`].
    pub fn of(name: &str) -> Self {
        if name == "postgres" {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

/// A column edgeauth uses.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// Its name.
    pub name: &'static str,
    /// How edgeauth reads it.
    pub kind: Kind,
    /// Whether edgeauth may write a row without a value for it (an additional field with no
    /// `defaultValue` that a request need not give): then the column must accept `NULL` or
    /// have a default of its own.
    pub may_be_unset: bool,
}

/// A table edgeauth uses.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Its name.
    pub name: &'static str,
    /// Why edgeauth uses it (for the report).
    pub purpose: &'static str,
    /// The columns edgeauth reads and writes.
    pub columns: Vec<ColumnSpec>,
}

const fn col(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        may_be_unset: false,
    }
}

use Kind::{BigInt, Bool, Integer, Text, Timestamp};

const USER: &[ColumnSpec] = &[
    col("id", Text),
    col("name", Text),
    col("email", Text),
    col("emailVerified", Bool),
    col("image", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];
const SESSION: &[ColumnSpec] = &[
    col("id", Text),
    col("expiresAt", Timestamp),
    col("token", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
    col("ipAddress", Text),
    col("userAgent", Text),
    col("userId", Text),
];
const ACCOUNT: &[ColumnSpec] = &[
    col("id", Text),
    col("accountId", Text),
    col("providerId", Text),
    col("userId", Text),
    col("accessToken", Text),
    col("refreshToken", Text),
    col("idToken", Text),
    col("accessTokenExpiresAt", Timestamp),
    col("refreshTokenExpiresAt", Timestamp),
    col("scope", Text),
    col("password", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];
const VERIFICATION: &[ColumnSpec] = &[
    col("id", Text),
    col("identifier", Text),
    col("value", Text),
    col("expiresAt", Timestamp),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];
const JWKS: &[ColumnSpec] = &[
    col("id", Text),
    col("publicKey", Text),
    col("privateKey", Text),
    col("createdAt", Timestamp),
    col("expiresAt", Timestamp),
];
const RATE_LIMIT: &[ColumnSpec] = &[
    col("id", Text),
    col("key", Text),
    col("count", Integer),
    col("lastRequest", BigInt),
];
const TWO_FACTOR: &[ColumnSpec] = &[
    col("id", Text),
    col("secret", Text),
    col("backupCodes", Text),
    col("userId", Text),
];
const TWO_FACTOR_GUARD: &[ColumnSpec] = &[
    col("userId", Text),
    col("lastTotpStep", BigInt),
    col("failures", Integer),
    col("lastAttempt", BigInt),
];
const TWO_FACTOR_PENDING: &[ColumnSpec] = &[
    col("id", Text),
    col("userId", Text),
    col("rememberMe", Bool),
    col("failures", Integer),
    col("expiresAt", BigInt),
];
const PASSKEY: &[ColumnSpec] = &[
    col("id", Text),
    col("name", Text),
    col("publicKey", Text),
    col("userId", Text),
    col("credentialID", Text),
    col("counter", Integer),
    col("deviceType", Text),
    col("backedUp", Bool),
    col("transports", Text),
    col("createdAt", Timestamp),
    col("aaguid", Text),
];
const PASSKEY_USE: &[ColumnSpec] = &[col("passkeyId", Text), col("lastUsedAt", Timestamp)];
const MAIL_OUTBOX: &[ColumnSpec] = &[
    col("id", Text),
    col("kind", Text),
    col("recipient", Text),
    col("userId", Text),
    col("payload", Text),
    col("messageId", Text),
    col("status", Text),
    col("attempts", Integer),
    col("nextAttemptAt", BigInt),
    col("claimedBy", Text),
    col("claimedUntil", BigInt),
    col("lastError", Text),
    col("createdAt", BigInt),
    col("expiresAt", BigInt),
    col("finishedAt", BigInt),
];

/// Every table edgeauth may use, by logical name, with the columns it uses, and whether it is
/// one of Better Auth's models (the others are edgeauth's own tables).
pub fn catalogue() -> Vec<(&'static str, Vec<ColumnSpec>, bool)> {
    let mut user = USER.to_vec();
    user.push(col("twoFactorEnabled", Bool));
    vec![
        ("user", user, true),
        ("session", SESSION.to_vec(), true),
        ("account", ACCOUNT.to_vec(), true),
        ("verification", VERIFICATION.to_vec(), true),
        ("jwks", JWKS.to_vec(), true),
        ("rateLimit", RATE_LIMIT.to_vec(), true),
        ("twoFactor", TWO_FACTOR.to_vec(), true),
        ("passkey", PASSKEY.to_vec(), true),
        (
            "edgeauth_two_factor_guard",
            TWO_FACTOR_GUARD.to_vec(),
            false,
        ),
        (
            "edgeauth_two_factor_pending",
            TWO_FACTOR_PENDING.to_vec(),
            false,
        ),
        ("edgeauth_passkey_use", PASSKEY_USE.to_vec(), false),
        ("edgeauth_mail_outbox", MAIL_OUTBOX.to_vec(), false),
    ]
}

/// What the configuration uses, as far as the schema is concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uses {
    /// `EDGEAUTH_TWO_FACTOR=on`.
    pub two_factor: bool,
    /// `EDGEAUTH_PASSKEY=on`.
    pub passkey: bool,
    /// Rate limiting on, counted in the database.
    pub rate_limit_table: bool,
    /// Mail on (every mail is a row of the outbox).
    pub mail: bool,
    /// Sign-in with providers on: users are also created without a request body, so a
    /// required additional field is then written without a value unless it has a default.
    pub provider_sign_up: bool,
}

/// The tables edgeauth uses with this configuration.
pub fn expected(uses: Uses) -> Vec<TableSpec> {
    let table = |name, purpose, columns: &[ColumnSpec]| TableSpec {
        name,
        purpose,
        columns: columns.to_vec(),
    };
    let mut user = table("user", "Better Auth's users", USER);
    if uses.two_factor {
        user.columns.push(col("twoFactorEnabled", Bool));
    }
    let mut tables = vec![
        user,
        table("session", "Better Auth's sessions", SESSION),
        table("account", "Better Auth's accounts (passwords)", ACCOUNT),
        table(
            "verification",
            "Better Auth's verification tokens",
            VERIFICATION,
        ),
        table("jwks", "the JWT plugin's signing keys", JWKS),
    ];
    if uses.rate_limit_table {
        tables.push(table(
            "rateLimit",
            "rate-limit counters (EDGEAUTH_RATE_LIMIT_STORAGE=database)",
            RATE_LIMIT,
        ));
    }
    if uses.two_factor {
        tables.push(table("twoFactor", "the twoFactor plugin", TWO_FACTOR));
        tables.push(table(
            "edgeauth_two_factor_guard",
            "edgeauth's two-factor replay and attempt guard",
            TWO_FACTOR_GUARD,
        ));
        tables.push(table(
            "edgeauth_two_factor_pending",
            "edgeauth's pending two-factor sign-ins",
            TWO_FACTOR_PENDING,
        ));
    }
    if uses.mail {
        tables.push(table(
            "edgeauth_mail_outbox",
            "edgeauth's durable mail outbox",
            MAIL_OUTBOX,
        ));
    }
    if uses.passkey {
        tables.push(table("passkey", "the passkey plugin", PASSKEY));
        tables.push(table(
            "edgeauth_passkey_use",
            "edgeauth's passkey last-use dates",
            PASSKEY_USE,
        ));
    }
    tables
}

/// What was found for one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum ColumnStatus {
    /// Used by edgeauth, and usable.
    Ok {
        /// The declared type.
        found: String,
    },
    /// Used by edgeauth, and absent.
    Missing {
        /// The statement that adds it.
        fix: String,
    },
    /// Used by edgeauth, with a type it cannot read or write.
    Incompatible {
        /// The declared type.
        found: String,
        /// The fix.
        fix: String,
    },
    /// Not used by edgeauth, `NOT NULL` without a default: edgeauth's inserts would fail.
    Unfilled {
        /// The declared type.
        found: String,
        /// The statement that lets edgeauth's inserts through.
        fix: String,
    },
    /// Not used by edgeauth, and harmless (nullable or defaulted): left alone.
    Other {
        /// The declared type.
        found: String,
    },
}

impl ColumnStatus {
    fn is_mismatch(&self) -> bool {
        matches!(
            self,
            ColumnStatus::Missing { .. }
                | ColumnStatus::Incompatible { .. }
                | ColumnStatus::Unfilled { .. }
        )
    }
}

/// One column's line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnReport {
    /// Its name.
    pub name: String,
    /// What edgeauth expects (`None` for a column edgeauth does not use).
    pub expected: Option<Kind>,
    /// What was found.
    #[serde(flatten)]
    pub status: ColumnStatus,
}

/// One table's part of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableReport {
    /// Its name.
    pub name: String,
    /// Why edgeauth uses it.
    pub purpose: String,
    /// Whether the table exists.
    pub exists: bool,
    /// When it does not: the fix (`None` when it exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Column by column, edgeauth's first, then the others.
    pub columns: Vec<ColumnReport>,
    /// Whether anything here stops edgeauth.
    pub mismatch: bool,
    /// The columns read or bound with a cast (logical model and field), for the schema.
    #[serde(skip)]
    pub classes: Vec<(&'static str, &'static str, ColumnClass)>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `postgres` or `sqlite`.
    pub database: String,
    /// Table by table.
    pub tables: Vec<TableReport>,
    /// Whether edgeauth can run on this database as it is.
    pub ok: bool,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Compares one table (`found`: its columns, `None` when absent) with what edgeauth uses,
/// under the names `schema` gives. `missing_is_mismatch`: whether an absent table stops
/// edgeauth (after migrations ran), or only awaits `edgeauth migrate`.
pub fn examine(
    dialect: Dialect,
    schema: &Schema,
    spec: &TableSpec,
    found: Option<&[DbColumn]>,
    missing_is_mismatch: bool,
) -> TableReport {
    let table_name = schema.table(spec.name);
    let table = quoted(table_name);
    let mut classes = Vec::new();
    let Some(found) = found else {
        return TableReport {
            name: table_name.to_string(),
            purpose: spec.purpose.to_string(),
            exists: false,
            fix: Some(
                "run `edgeauth migrate` (serve runs it at start unless EDGEAUTH_MIGRATE=off), \
                 or Better Auth's CLI migrate with the same plugins"
                    .to_string(),
            ),
            columns: Vec::new(),
            mismatch: missing_is_mismatch,
            classes,
        };
    };
    let mut columns: Vec<ColumnReport> = spec
        .columns
        .iter()
        .map(|expected| {
            let name = schema.column(spec.name, expected.name);
            let class = found
                .iter()
                .find(|c| c.name == name)
                .filter(|_| dialect == Dialect::Postgres)
                .and_then(|c| class_of(expected.kind, &c.data_type))
                .filter(|class| {
                    !matches!(class, ColumnClass::Uuid | ColumnClass::Integer)
                        || crate::db::schema_is_id(expected.name)
                });
            let serial = schema.generate_id() == GenerateId::Serial
                && crate::db::schema_is_id(expected.name)
                && !spec.name.starts_with("edgeauth_");
            let status = match found.iter().find(|c| c.name == name) {
                None => ColumnStatus::Missing {
                    fix: format!(
                        "ALTER TABLE {table} ADD COLUMN {} {}",
                        quoted(name),
                        expected.kind.postgres_type()
                    ),
                },
                Some(column)
                    if class == Some(ColumnClass::Uuid)
                        && expected.name == "id"
                        && schema.generate_id() != GenerateId::Uuid =>
                {
                    ColumnStatus::Incompatible {
                        found: column.data_type.clone(),
                        fix: "set \"generateId\": \"uuid\" in EDGEAUTH_SCHEMA (as \
                              advanced.database.generateId in Better Auth's options), so new \
                              rows get uuid ids"
                            .to_string(),
                    }
                }
                Some(column)
                    if class == Some(ColumnClass::Integer)
                        && expected.name == "id"
                        && schema.generate_id() != GenerateId::Serial =>
                {
                    ColumnStatus::Incompatible {
                        found: column.data_type.clone(),
                        fix: "set \"generateId\": \"serial\" in EDGEAUTH_SCHEMA (as \
                              advanced.database.generateId in Better Auth's options), so new \
                              rows take their ids from the column's sequence"
                            .to_string(),
                    }
                }
                Some(column) if serial && class != Some(ColumnClass::Integer) => {
                    ColumnStatus::Incompatible {
                        found: column.data_type.clone(),
                        fix: "generateId \"serial\" needs integer ids (serial, or integer \
                              references to them); leave generateId out for text ids"
                            .to_string(),
                    }
                }
                Some(column) if column.generated_always => ColumnStatus::Incompatible {
                    found: format!("{} generated always as identity", column.data_type),
                    fix: format!(
                        "edgeauth writes the ids it takes from the sequence, which an identity \
                         GENERATED ALWAYS refuses: ALTER TABLE {table} ALTER COLUMN {} SET \
                         GENERATED BY DEFAULT",
                        quoted(name)
                    ),
                },
                Some(column) if serial && expected.name == "id" && !column.has_default => {
                    ColumnStatus::Incompatible {
                        found: column.data_type.clone(),
                        fix: format!(
                            "generateId \"serial\" takes ids from the column's sequence: \
                             ALTER TABLE {table} ALTER COLUMN {} ADD GENERATED BY DEFAULT AS IDENTITY",
                            quoted(name)
                        ),
                    }
                }
                Some(column)
                    if dialect == Dialect::Postgres
                        && class.is_none()
                        && !expected.kind.accepts_postgres(&column.data_type) =>
                {
                    ColumnStatus::Incompatible {
                        found: column.data_type.clone(),
                        fix: incompatible_fix(&table, name, expected.kind, &column.data_type),
                    }
                }
                Some(column) if expected.may_be_unset && column.not_null && !column.has_default => {
                    ColumnStatus::Unfilled {
                        found: column.data_type.clone(),
                        fix: format!(
                            "give {} a \"defaultValue\" in EDGEAUTH_SCHEMA, or ALTER TABLE {table} \
                             ALTER COLUMN {} SET DEFAULT a value (or DROP NOT NULL)",
                            expected.name,
                            quoted(name)
                        ),
                    }
                }
                Some(column) => ColumnStatus::Ok {
                    found: column.data_type.clone(),
                },
            };
            if let Some(class) = class {
                classes.push((spec.name, expected.name, class));
            }
            ColumnReport {
                name: name.to_string(),
                expected: Some(expected.kind),
                status,
            }
        })
        .collect();
    for column in found.iter().filter(|c| {
        !spec
            .columns
            .iter()
            .any(|e| schema.column(spec.name, e.name) == c.name)
    }) {
        let status = if column.not_null && !column.has_default {
            ColumnStatus::Unfilled {
                found: column.data_type.clone(),
                fix: format!(
                    "ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL (or SET DEFAULT a value)",
                    quoted(&column.name)
                ),
            }
        } else {
            ColumnStatus::Other {
                found: column.data_type.clone(),
            }
        };
        columns.push(ColumnReport {
            name: column.name.clone(),
            expected: None,
            status,
        });
    }
    let mismatch = columns.iter().any(|c| c.status.is_mismatch());
    TableReport {
        name: table_name.to_string(),
        purpose: spec.purpose.to_string(),
        exists: true,
        fix: None,
        columns,
        mismatch,
        classes,
    }
}

fn incompatible_fix(table: &str, column: &str, kind: Kind, found: &str) -> String {
    let column = quoted(column);
    match (kind, found) {
        (Kind::Text, _) => format!(
            "ALTER TABLE {table} ALTER COLUMN {column} TYPE text \
             (ids may also be uuid or integers, with generateId \"uuid\" or \"serial\")"
        ),
        (kind, _) => format!(
            "ALTER TABLE {table} ALTER COLUMN {column} TYPE {}",
            kind.postgres_type()
        ),
    }
}

impl Report {
    /// `db` reading and binding the columns this report found with a cast (timestamps
    /// without time zone, uuid ids) accordingly.
    pub fn apply(&self, db: Db) -> Db {
        let classes = self
            .tables
            .iter()
            .flat_map(|t| t.classes.iter())
            .map(|(model, field, class)| ((*model, *field), *class))
            .collect();
        let schema = db.schema().with_classes(classes);
        db.with_schema(schema)
    }
}

impl Report {
    /// The report over every table (`found` in the order of `specs`).
    pub fn new(database: &str, tables: Vec<TableReport>) -> Self {
        let ok = !tables.iter().any(|t| t.mismatch);
        Report {
            database: database.to_string(),
            tables,
            ok,
        }
    }

    /// For people: table by table, column by column, each mismatch with its fix.
    pub fn render(&self) -> String {
        let mut out = format!("edgeauth doctor: {} database\n", self.database);
        for table in &self.tables {
            let verdict = match (table.exists, table.mismatch) {
                (false, true) => "MISSING",
                (false, false) => "not created yet",
                (true, true) => "MISMATCH",
                (true, false) => "ok",
            };
            out.push_str(&format!(
                "\n{} ({}): {verdict}\n",
                quoted(&table.name),
                table.purpose
            ));
            if let Some(fix) = &table.fix {
                out.push_str(&format!("    fix: {fix}\n"));
            }
            for column in &table.columns {
                let name = quoted(&column.name);
                let line = match &column.status {
                    ColumnStatus::Ok { found } if found == "timestamp without time zone" => {
                        format!("  ok        {name} {found}: read and written (as UTC)")
                    }
                    ColumnStatus::Ok { found } => format!("  ok        {name} {found}: read and written"),
                    ColumnStatus::Missing { fix } => {
                        format!("  MISSING   {name}: edgeauth reads and writes it\n    fix: {fix}")
                    }
                    ColumnStatus::Incompatible { found, fix } => format!(
                        "  TYPE      {name} {found}: edgeauth needs {}\n    fix: {fix}",
                        column.expected.map_or("", Kind::postgres_type)
                    ),
                    ColumnStatus::Unfilled { found, fix } if column.expected.is_some() => format!(
                        "  NOT NULL  {name} {found}: an additional field edgeauth may leave unset, NOT NULL without a default; its inserts would fail\n    fix: {fix}"
                    ),
                    ColumnStatus::Unfilled { found, fix } => format!(
                        "  NOT NULL  {name} {found}: not edgeauth's, NOT NULL without a default; edgeauth's inserts would fail\n    fix: {fix}"
                    ),
                    ColumnStatus::Other { found } => {
                        format!("  other     {name} {found}: not edgeauth's, left alone")
                    }
                };
                out.push_str(&line);
                out.push('\n');
            }
        }
        out.push_str(if self.ok {
            "\nedgeauth can run on this database.\n"
        } else {
            "\nedgeauth cannot run on this database as it is: see the fixes above.\n"
        });
        out
    }
}

/// Examines every table edgeauth uses with this configuration.
pub async fn run(
    db: &crate::db::Db,
    uses: Uses,
    missing_is_mismatch: bool,
) -> Result<Report, crate::db::DbError> {
    let dialect = Dialect::of(db.dialect());
    let schema = db.schema();
    let mut tables = Vec::new();
    for mut spec in expected(uses) {
        // `additionalFields`: the application's own columns, read and written too.
        let declared = match spec.name {
            "user" => schema.user_fields(),
            "session" => schema.session_fields(),
            _ => &[],
        };
        for field in declared {
            // A user field is given on a password sign-up when required (not on a provider's);
            // a session field never is.
            let given = spec.name == "user" && field.required && !uses.provider_sign_up;
            spec.columns.push(ColumnSpec {
                may_be_unset: field.default.is_none() && !given,
                ..col(field.name, field.ty.kind())
            });
        }
        let found = db.describe_table(schema.table(spec.name)).await?;
        tables.push(examine(
            dialect,
            schema,
            &spec,
            found.as_deref(),
            missing_is_mismatch,
        ));
    }
    Ok(Report::new(db.dialect(), tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, data_type: &str, not_null: bool, has_default: bool) -> DbColumn {
        DbColumn {
            name: name.into(),
            data_type: data_type.into(),
            not_null,
            has_default,
            generated_always: false,
        }
    }

    fn better_auth_user() -> Vec<DbColumn> {
        vec![
            column("id", "text", true, false),
            column("name", "text", true, false),
            column("email", "text", true, false),
            column("emailVerified", "boolean", true, false),
            column("image", "text", false, false),
            column("createdAt", "timestamp with time zone", true, true),
            column("updatedAt", "timestamp with time zone", true, true),
        ]
    }

    fn user_spec() -> TableSpec {
        expected(Uses::default()).remove(0)
    }

    #[test]
    fn better_auths_own_table_matches() {
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &user_spec(),
            Some(&better_auth_user()),
            true,
        );
        assert!(!report.mismatch, "{report:?}");
        assert!(report
            .columns
            .iter()
            .all(|c| matches!(c.status, ColumnStatus::Ok { .. })));
    }

    #[test]
    fn an_applications_own_columns_are_left_alone_unless_they_would_break_inserts() {
        let mut found = better_auth_user();
        found.push(column("plan", "text", false, false));
        found.push(column("role", "text", true, true));
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &user_spec(),
            Some(&found),
            true,
        );
        assert!(!report.mismatch, "{report:?}");
        found.push(column("tenantId", "text", true, false));
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &user_spec(),
            Some(&found),
            true,
        );
        assert!(report.mismatch);
        let unfilled = report.columns.last().unwrap();
        assert_eq!(unfilled.name, "tenantId");
        assert!(
            matches!(&unfilled.status, ColumnStatus::Unfilled { fix, .. } if fix.contains("DROP NOT NULL")),
            "{unfilled:?}"
        );
    }

    #[test]
    fn an_additional_field_edgeauth_may_leave_unset_needs_a_default_somewhere() {
        let mut found = better_auth_user();
        found.push(column("nickname", "text", true, false));
        let mut spec = user_spec();
        let declared = |may_be_unset| ColumnSpec {
            may_be_unset,
            ..col("nickname", Text)
        };
        // Optional, without a defaultValue: a sign-up without it would insert NULL.
        spec.columns.push(declared(true));
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &spec,
            Some(&found),
            true,
        );
        assert!(report.mismatch, "{report:?}");
        let nickname = report
            .columns
            .iter()
            .find(|c| c.name == "nickname")
            .unwrap();
        assert!(
            matches!(&nickname.status, ColumnStatus::Unfilled { fix, .. } if fix.contains("defaultValue")),
            "{nickname:?}"
        );
        // Always given (required, or a defaultValue), or a default in the database: fine.
        spec.columns.pop();
        spec.columns.push(declared(false));
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &spec,
            Some(&found),
            true,
        );
        assert!(!report.mismatch, "{report:?}");
        found.last_mut().unwrap().has_default = true;
        spec.columns.pop();
        spec.columns.push(declared(true));
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &spec,
            Some(&found),
            true,
        );
        assert!(!report.mismatch, "{report:?}");
    }

    #[test]
    fn missing_and_unreadable_columns_are_mismatches_with_their_fix() {
        let mut found = better_auth_user();
        found.retain(|c| c.name != "image");
        for c in &mut found {
            match c.name.as_str() {
                "createdAt" => c.data_type = "timestamp without time zone".into(),
                "id" => c.data_type = "uuid".into(),
                _ => {}
            }
        }
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &user_spec(),
            Some(&found),
            true,
        );
        assert!(report.mismatch);
        let status = |name: &str| {
            report
                .columns
                .iter()
                .find(|c| c.name == name)
                .unwrap()
                .status
                .clone()
        };
        assert!(
            matches!(status("image"), ColumnStatus::Missing { fix } if fix == "ALTER TABLE \"user\" ADD COLUMN \"image\" text")
        );
        // A timestamp without time zone is read as UTC, with a cast.
        assert!(matches!(status("createdAt"), ColumnStatus::Ok { .. }));
        assert!(report.classes.contains(&(
            "user",
            "createdAt",
            ColumnClass::TimestampWithoutTimeZone
        )));
        // uuid ids need uuid ids for new rows: generateId.
        assert!(
            matches!(status("id"), ColumnStatus::Incompatible { found, fix } if found == "uuid" && fix.contains("generateId"))
        );
        found
            .iter_mut()
            .find(|c| c.name == "email")
            .unwrap()
            .data_type = "integer".into();
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &user_spec(),
            Some(&found),
            true,
        );
        assert!(report.columns.iter().any(|c| c.name == "email"
            && matches!(&c.status, ColumnStatus::Incompatible { fix, .. } if fix.contains("TYPE text"))));
        // SQLite declares types loosely: only names and nullability count there.
        let report = examine(
            Dialect::Sqlite,
            &Schema::default(),
            &user_spec(),
            Some(&found),
            true,
        );
        assert!(matches!(
            report
                .columns
                .iter()
                .find(|c| c.name == "id")
                .unwrap()
                .status,
            ColumnStatus::Ok { .. }
        ));
    }

    /// A Drizzle-style table (snake_case, a prefix, timestamps without time zone, uuid ids)
    /// matches under its EDGEAUTH_SCHEMA, and the columns needing a cast are recorded; under
    /// the default names it is all missing columns.
    #[test]
    fn a_configured_layout_is_examined_under_its_names() {
        let found = vec![
            column("id", "uuid", true, true),
            column("name", "text", true, false),
            column("email", "text", true, false),
            column("email_verified", "boolean", true, false),
            column("image", "text", false, false),
            column("created_at", "timestamp without time zone", true, true),
            column("updated_at", "timestamp without time zone", true, true),
        ];
        let schema = Schema::from_json(
            r#"{"casing": "snake_case", "generateId": "uuid", "user": {"modelName": "better_auth_user"}}"#,
        )
        .unwrap();
        let report = examine(Dialect::Postgres, &schema, &user_spec(), Some(&found), true);
        assert!(!report.mismatch, "{report:?}");
        assert_eq!(report.name, "better_auth_user");
        assert_eq!(report.classes.len(), 3, "{:?}", report.classes);
        assert!(report.classes.contains(&("user", "id", ColumnClass::Uuid)));
        let report = examine(
            Dialect::Postgres,
            &Schema::default(),
            &user_spec(),
            Some(&found),
            true,
        );
        assert!(report.mismatch);
        assert!(
            report
                .columns
                .iter()
                .any(|c| c.name == "emailVerified"
                    && matches!(c.status, ColumnStatus::Missing { .. }))
        );
    }

    #[test]
    fn a_missing_table_awaits_migrations_or_stops_edgeauth_after_them() {
        assert!(
            !examine(
                Dialect::Postgres,
                &Schema::default(),
                &user_spec(),
                None,
                false
            )
            .mismatch
        );
        assert!(
            examine(
                Dialect::Postgres,
                &Schema::default(),
                &user_spec(),
                None,
                true
            )
            .mismatch
        );
        let report = Report::new(
            "postgres",
            vec![examine(
                Dialect::Postgres,
                &Schema::default(),
                &user_spec(),
                None,
                true,
            )],
        );
        assert!(!report.ok);
        assert!(report.render().contains("MISSING"));
    }

    #[test]
    fn plugin_tables_are_expected_only_when_on() {
        let names = |uses| expected(uses).iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(
            names(Uses::default()),
            ["user", "session", "account", "verification", "jwks"]
        );
        let all = names(Uses {
            two_factor: true,
            passkey: true,
            rate_limit_table: true,
            mail: true,
            provider_sign_up: true,
        });
        for name in [
            "rateLimit",
            "twoFactor",
            "edgeauth_two_factor_guard",
            "passkey",
            "edgeauth_passkey_use",
            "edgeauth_mail_outbox",
        ] {
            assert!(all.contains(&name), "{name}");
        }
    }

    /// The expected columns are exactly what edgeauth's own migrations create: run them on a
    /// fresh SQLite database and compare, table by table.
    #[tokio::test]
    async fn the_expectations_are_what_the_migrations_create() {
        let path = std::env::temp_dir().join(format!(
            "edgeauth-doctor-{}-{}.db",
            std::process::id(),
            crate::ids::random_string(8)
        ));
        let db =
            crate::db::Db::connect(Some(&format!("sqlite://{}?mode=rwc", path.display()))).unwrap();
        db.migrate().await.unwrap();
        db.add_two_factor_column().await.unwrap();
        let uses = Uses {
            two_factor: true,
            passkey: true,
            rate_limit_table: true,
            mail: true,
            provider_sign_up: true,
        };
        let report = run(&db, uses, true).await.unwrap();
        for table in &report.tables {
            assert!(table.exists, "{}", table.name);
            for column in &table.columns {
                assert!(
                    matches!(column.status, ColumnStatus::Ok { .. }),
                    "{}.{}: {:?}",
                    table.name,
                    column.name,
                    column.status
                );
            }
        }
        assert!(report.ok, "{}", report.render());
        let _ = std::fs::remove_file(path);
    }
}
