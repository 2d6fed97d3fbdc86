//! The names and column types of the tables edgeauth reads and writes: Better Auth's defaults
//! (the schema `@better-auth/cli migrate` creates), or a deployment's own layout given in
//! `EDGEAUTH_SCHEMA` with Better Auth's option shapes (`modelName`, `fields`, a casing
//! shortcut, `generateId`).
//!
//! Every statement under `db/` is a template written once with logical names, rendered once
//! per (template, schema) and cached, so a request costs a lookup ([`Db::sql`]):
//!
//! - `{user}`: the table of a model, quoted;
//! - `{user.emailVerified}`: a column, quoted;
//! - `{>user.createdAt}` or `{>u.user.createdAt}` (with a table alias): a column read in a
//!   select list or `RETURNING`, as edgeauth's row types expect it: under its logical name
//!   (unless the template names it with a following ` AS`), a timestamp without time zone
//!   as `timestamptz` (its value is UTC), a uuid id as text;
//! - `{~p.passkey.id}`: the same expression without an alias (to compare with a text column);
//! - `{$1:user.id}`: a parameter bound to an id column, cast to `uuid` when the column is
//!   one (edgeauth binds ids as text).
//! - `{*user}` or `{*u.user}` (and `session`): `, CAST(u."plan" AS TEXT) AS "+user.plan"`
//!   for each returned `additionalFields` entry, decoded by [`super::fields`];
//! - `{+session.columns}`, `{+session.defaults}`: in an `INSERT`, the session's additional
//!   fields that have a default, and those defaults as literals.
//!
//! Markers of additional fields render as nothing when none are declared.
//!
//! With the default schema every template renders exactly the SQL edgeauth ran before
//! schemas were configurable (a unit test holds a few statements to it).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, RwLock};

use serde_json::Value;

use super::fields::{self, AdditionalField, ALIAS_PREFIX};
use super::{on_pool, Db, DbError};
use crate::doctor::{self, ColumnSpec, Kind};

/// How new row ids are made (Better Auth's `advanced.database.generateId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GenerateId {
    /// Better Auth's 32-character random ids (the default).
    #[default]
    Random,
    /// uuid v4 (PostgreSQL `uuid` columns): made by edgeauth, as Better Auth makes them.
    Uuid,
    /// Integers from the id column's sequence (`serial`, or an identity column generated
    /// by default): taken with `nextval` before each insert ([`Db::row_id`]), PostgreSQL only.
    Serial,
}

/// How a column's values are stored, where that differs from what edgeauth binds and decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnClass {
    /// PostgreSQL `timestamp without time zone`, holding UTC (Drizzle's `timestamp`,
    /// Prisma's `timestamp(3)`).
    TimestampWithoutTimeZone,
    /// PostgreSQL `uuid`.
    Uuid,
    /// A PostgreSQL integer id (`generateId: "serial"`): written from text, read as text.
    Integer,
    /// A PostgreSQL timestamp whose time zone is not known (the database could not be
    /// examined at start-up): read as `CAST(column AS timestamptz)`, right for both kinds
    /// since edgeauth's sessions run in UTC.
    TimestampUnknown,
}

/// One configured table: its name and its columns' names, by logical name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    table: String,
    columns: HashMap<&'static str, String>,
}

/// The tables edgeauth uses, by logical model name, with their names in the database and the
/// storage of the columns that need a cast.
#[derive(Debug, Clone)]
pub struct Schema {
    models: HashMap<&'static str, Model>,
    classes: HashMap<(&'static str, &'static str), ColumnClass>,
    generate_id: GenerateId,
    /// `user.additionalFields` and `session.additionalFields`: the application's own
    /// columns.
    declared: Declared,
    /// Whether any table or column name differs from Better Auth's defaults.
    custom_names: bool,
    /// This schema's number in the registry (the render cache's key).
    key: usize,
}

/// The additional fields declared on `user` and `session`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Declared {
    user: Vec<AdditionalField>,
    session: Vec<AdditionalField>,
}

impl Declared {
    fn of(&self, model: &str) -> &[AdditionalField] {
        match model {
            "user" => &self.user,
            "session" => &self.session,
            _ => &[],
        }
    }
}

/// Better Auth's models (the ones `modelName`, `fields` and `casing` apply to) and
/// edgeauth's own tables (renamed only explicitly), with the columns edgeauth uses.
fn catalogue() -> Vec<(&'static str, Vec<ColumnSpec>, bool)> {
    doctor::catalogue()
}

/// `createdAt` → `created_at`, `credentialID` → `credential_id` (Drizzle's snake_case: an
/// underscore before an upper-case letter that follows a lower-case one).
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else {
            out.push(c);
            previous_lower = true;
        }
    }
    out
}

/// A quoted identifier.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

static REGISTRY: LazyLock<Mutex<Vec<String>>> = LazyLock::new(|| Mutex::new(Vec::new()));

type CacheKey = (usize, usize, usize);
static CACHE: LazyLock<RwLock<HashMap<CacheKey, &'static str>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

impl Default for Schema {
    fn default() -> Self {
        Schema::build(
            HashMap::new(),
            HashMap::new(),
            GenerateId::Random,
            Declared::default(),
        )
    }
}

impl Schema {
    fn build(
        models: HashMap<&'static str, Model>,
        classes: HashMap<(&'static str, &'static str), ColumnClass>,
        generate_id: GenerateId,
        declared: Declared,
    ) -> Self {
        let mut all = HashMap::new();
        let mut custom_names = false;
        for (model, columns, _) in catalogue() {
            let configured = models.get(model);
            let table = configured.map_or_else(|| model.to_string(), |m| m.table.clone());
            custom_names |= table != model;
            let mut names = HashMap::new();
            for column in columns {
                let name = configured
                    .and_then(|m| m.columns.get(column.name).cloned())
                    .unwrap_or_else(|| column.name.to_string());
                custom_names |= name != column.name;
                names.insert(column.name, name);
            }
            {
                for field in declared.of(model) {
                    let name = configured
                        .and_then(|m| m.columns.get(field.name).cloned())
                        .unwrap_or_else(|| field.name.to_string());
                    names.insert(field.name, name);
                }
            }
            all.insert(
                model,
                Model {
                    table,
                    columns: names,
                },
            );
        }
        let mut schema = Schema {
            models: all,
            classes,
            generate_id,
            declared,
            custom_names,
            key: 0,
        };
        schema.key = schema.register();
        schema
    }

    /// The registry's number of this schema (equal schemas share one, so the cache holds one
    /// rendering per template and distinct schema).
    fn register(&self) -> usize {
        let mut canonical: Vec<String> = Vec::new();
        for (model, m) in &self.models {
            canonical.push(format!("{model}={}", m.table));
            for (field, name) in &m.columns {
                canonical.push(format!("{model}.{field}={name}"));
            }
        }
        for ((model, field), class) in &self.classes {
            canonical.push(format!("{model}.{field}:{class:?}"));
        }
        for model in ["user", "session"] {
            for field in self.declared.of(model) {
                canonical.push(format!(
                    "{model}+{}:{}:{:?}",
                    field.name, field.returned, field.default
                ));
            }
        }
        canonical.sort();
        let canonical = canonical.join("\n");
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = registry.iter().position(|c| *c == canonical) {
            return i;
        }
        registry.push(canonical);
        registry.len() - 1
    }

    /// Parses `EDGEAUTH_SCHEMA`: a JSON object, or the path of a file holding one (optionally
    /// written `@path`). Every error names the offending field.
    pub fn from_setting(setting: &str) -> Result<Self, String> {
        let trimmed = setting.trim();
        if trimmed.starts_with('{') {
            return Self::from_json(trimmed);
        }
        let path = trimmed.strip_prefix('@').unwrap_or(trimmed);
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("EDGEAUTH_SCHEMA: cannot read {path}: {e}"))?;
        Self::from_json(&text)
    }

    /// Parses the JSON form (see the module documentation and docs/schema.md).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("EDGEAUTH_SCHEMA is not valid JSON: {e}"))?;
        let Value::Object(top) = value else {
            return Err("EDGEAUTH_SCHEMA must be a JSON object".into());
        };
        let catalogue = catalogue();
        let mut snake = false;
        let mut generate_id = GenerateId::Random;
        let mut explicit: HashMap<&'static str, (Option<String>, HashMap<&'static str, String>)> =
            HashMap::new();
        let mut declared = Declared::default();
        for (key, value) in &top {
            match key.as_str() {
                "casing" => match value.as_str() {
                    Some("snake_case") => snake = true,
                    Some("camelCase") => snake = false,
                    _ => {
                        return Err(
                            "EDGEAUTH_SCHEMA.casing must be \"snake_case\" or \"camelCase\"".into(),
                        )
                    }
                },
                "generateId" => {
                    generate_id =
                        match value {
                            Value::String(s) if s == "uuid" => GenerateId::Uuid,
                            Value::Bool(false) | Value::Null => GenerateId::Random,
                            Value::String(s) if s == "serial" => GenerateId::Serial,
                            _ => return Err(
                                "EDGEAUTH_SCHEMA.generateId must be \"uuid\", \"serial\" or false"
                                    .into(),
                            ),
                        }
                }
                model => {
                    let Some((name, columns, _)) = catalogue.iter().find(|(m, _, _)| *m == model)
                    else {
                        let known: Vec<&str> = catalogue.iter().map(|(m, _, _)| *m).collect();
                        return Err(format!(
                            "EDGEAUTH_SCHEMA.{model}: unknown key (expected casing, generateId or a model: {})",
                            known.join(", ")
                        ));
                    };
                    let Value::Object(options) = value else {
                        return Err(format!("EDGEAUTH_SCHEMA.{model} must be an object"));
                    };
                    let mut table = None;
                    let mut fields = HashMap::new();
                    for (option, value) in options {
                        match option.as_str() {
                            "additionalFields" if model == "user" || model == "session" => {
                                let known: Vec<&str> = columns.iter().map(|c| c.name).collect();
                                let parsed = fields::parse_declarations(model, value, &known)?;
                                if model == "user" {
                                    declared.user = parsed;
                                } else {
                                    declared.session = parsed;
                                }
                            }
                            "modelName" => match value.as_str() {
                                Some(s) if !s.is_empty() => table = Some(s.to_string()),
                                _ => {
                                    return Err(format!(
                                        "EDGEAUTH_SCHEMA.{model}.modelName must be a non-empty string"
                                    ))
                                }
                            },
                            "fields" => {
                                let Value::Object(map) = value else {
                                    return Err(format!(
                                        "EDGEAUTH_SCHEMA.{model}.fields must be an object"
                                    ));
                                };
                                for (field, column) in map {
                                    let Some(spec) = columns.iter().find(|c| c.name == field)
                                    else {
                                        let known: Vec<&str> =
                                            columns.iter().map(|c| c.name).collect();
                                        return Err(format!(
                                            "EDGEAUTH_SCHEMA.{model}.fields.{field}: not a field edgeauth uses (known: {})",
                                            known.join(", ")
                                        ));
                                    };
                                    match column.as_str() {
                                        Some(c) if !c.is_empty() => {
                                            fields.insert(spec.name, c.to_string());
                                        }
                                        _ => {
                                            return Err(format!(
                                                "EDGEAUTH_SCHEMA.{model}.fields.{field} must be a non-empty string"
                                            ))
                                        }
                                    }
                                }
                            }
                            other => {
                                return Err(format!(
                                    "EDGEAUTH_SCHEMA.{model}.{other}: unknown option (expected modelName, fields or, on user and session, additionalFields)"
                                ))
                            }
                        }
                    }
                    explicit.insert(name, (table, fields));
                }
            }
        }
        let mut models = HashMap::new();
        for (model, columns, better_auth) in &catalogue {
            let (table, fields) = explicit.remove(model).unwrap_or_default();
            let cased = |name: &str| {
                if snake && *better_auth {
                    snake_case(name)
                } else {
                    name.to_string()
                }
            };
            let table = table.unwrap_or_else(|| cased(model));
            let columns = columns
                .iter()
                .map(|c| {
                    (
                        c.name,
                        fields.get(c.name).cloned().unwrap_or_else(|| cased(c.name)),
                    )
                })
                .collect();
            let mut columns: HashMap<&'static str, String> = columns;
            {
                for field in declared.of(model) {
                    let name = field
                        .field_name
                        .clone()
                        .unwrap_or_else(|| cased(field.name));
                    columns.insert(field.name, name);
                }
            }
            models.insert(*model, Model { table, columns });
        }
        let mut classes = HashMap::new();
        let id_class = match generate_id {
            GenerateId::Random => None,
            GenerateId::Uuid => Some(ColumnClass::Uuid),
            GenerateId::Serial => Some(ColumnClass::Integer),
        };
        if let Some(id_class) = id_class {
            for (model, columns, better_auth) in &catalogue {
                if !better_auth {
                    continue;
                }
                for column in columns {
                    if is_id(column.name) {
                        classes.insert((*model, column.name), id_class);
                    }
                }
            }
        }
        Ok(Schema::build(models, classes, generate_id, declared))
    }

    /// The same names, with the column classes found in the database (PostgreSQL's
    /// `information_schema`, read by the doctor at start-up) instead of the ones the
    /// configuration implies.
    pub fn with_classes(
        &self,
        classes: HashMap<(&'static str, &'static str), ColumnClass>,
    ) -> Self {
        Schema::build(
            self.models.clone(),
            classes,
            self.generate_id,
            self.declared.clone(),
        )
    }

    /// The same, for a PostgreSQL database that could not be examined at start-up: its
    /// timestamps are read in a way right with or without a time zone
    /// ([`ColumnClass::TimestampUnknown`]); ids keep the class the configuration gives.
    pub fn with_unknown_timestamps(&self) -> Self {
        let mut classes = self.classes.clone();
        for (model, columns, _) in catalogue() {
            for column in columns {
                if column.kind == Kind::Timestamp {
                    classes.insert((model, column.name), ColumnClass::TimestampUnknown);
                }
            }
        }
        Schema::build(
            self.models.clone(),
            classes,
            self.generate_id,
            self.declared.clone(),
        )
    }

    /// `user.additionalFields`, as declared.
    pub fn user_fields(&self) -> &[AdditionalField] {
        &self.declared.user
    }

    /// `session.additionalFields`, as declared.
    pub fn session_fields(&self) -> &[AdditionalField] {
        &self.declared.session
    }

    /// The `user.additionalFields` values of a request body (sign-up: `Create`,
    /// update-user: `Update`), as Better Auth's `parseUserInput` takes them.
    pub fn parse_user_input(
        &self,
        body: &serde_json::Map<String, Value>,
        action: fields::Action,
    ) -> Result<fields::FieldInput, fields::FieldError> {
        fields::parse_input(&self.declared.user, body, action)
    }

    /// What a user created without a request body (provider sign-up) gets: the additional
    /// fields' defaults.
    pub fn user_defaults(&self) -> fields::FieldInput {
        fields::defaults(&self.declared.user)
    }

    /// Whether names or ids differ from Better Auth's defaults: the tables are then the
    /// deployment's own, and edgeauth's migrations (written for the default names and text
    /// ids, with foreign keys to `"user"."id"`) do not run.
    pub fn is_custom(&self) -> bool {
        self.custom_names || self.generate_id != GenerateId::Random
    }

    /// How new row ids are made.
    pub fn generate_id(&self) -> GenerateId {
        self.generate_id
    }

    /// The table of `model` (unquoted).
    pub fn table<'a>(&'a self, model: &'a str) -> &'a str {
        self.models.get(model).map_or(model, |m| m.table.as_str())
    }

    /// The column of `model.field` (unquoted).
    pub fn column<'a>(&'a self, model: &str, field: &'a str) -> &'a str {
        self.models
            .get(model)
            .and_then(|m| m.columns.get(field))
            .map_or(field, String::as_str)
    }

    /// The class the configuration or the database gives `model.field`, if any.
    pub fn class(&self, model: &str, field: &str) -> Option<ColumnClass> {
        self.classes
            .iter()
            .find(|((m, f), _)| *m == model && *f == field)
            .map(|(_, c)| *c)
    }

    /// `template` rendered for this schema (see the module documentation). Unknown models or
    /// fields are a bug in the template: they render as written, so the statement fails
    /// loudly in the database (and the unit tests render every template).
    pub fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let marker = &rest[start + 1..start + len];
            rest = &rest[start + len + 1..];
            let aliased = {
                let next = rest.trim_start();
                next.len() >= 3 && next[..3].eq_ignore_ascii_case("AS ")
            };
            out.push_str(&self.render_marker(marker, aliased));
        }
        out.push_str(rest);
        out
    }

    fn render_marker(&self, marker: &str, aliased: bool) -> String {
        if let Some(read) = marker.strip_prefix('*') {
            return self.render_extra(read);
        }
        if let Some(insert) = marker.strip_prefix('+') {
            return self.render_defaults(insert);
        }
        let (read, aliased) = match (marker.strip_prefix('>'), marker.strip_prefix('~')) {
            (Some(read), _) => (Some(read), aliased),
            (None, Some(read)) => (Some(read), true),
            (None, None) => (None, aliased),
        };
        if let Some(read) = read {
            let parts: Vec<&str> = read.split('.').collect();
            let (qualifier, model, field) = match parts.as_slice() {
                [model, field] => (None, *model, *field),
                [q, model, field] => (Some(*q), *model, *field),
                _ => return format!("{{{marker}}}"),
            };
            let column = self.column(model, field);
            let mut expr = quote(column);
            if let Some(q) = qualifier {
                expr = format!("{q}.{expr}");
            }
            let cast = match self.class(model, field) {
                Some(ColumnClass::TimestampWithoutTimeZone) => {
                    expr = format!("({expr} AT TIME ZONE 'UTC')");
                    true
                }
                Some(ColumnClass::Uuid | ColumnClass::Integer) => {
                    expr = format!("CAST({expr} AS TEXT)");
                    true
                }
                Some(ColumnClass::TimestampUnknown) => {
                    expr = format!("CAST({expr} AS timestamptz)");
                    true
                }
                None => false,
            };
            if !aliased && (cast || column != field) {
                expr = format!("{expr} AS {}", quote(field));
            }
            return expr;
        }
        if let Some(param) = marker.strip_prefix('$') {
            let Some((number, reference)) = param.split_once(':') else {
                return format!("{{{marker}}}");
            };
            let Some((model, field)) = reference.split_once('.') else {
                return format!("{{{marker}}}");
            };
            return match self.class(model, field) {
                Some(ColumnClass::Uuid) => format!("CAST(${number} AS uuid)"),
                Some(ColumnClass::Integer) => format!("CAST(${number} AS bigint)"),
                _ => format!("${number}"),
            };
        }
        match marker.split_once('.') {
            Some((model, field)) => quote(self.column(model, field)),
            None => quote(self.table(marker)),
        }
    }
}

impl Schema {
    /// `{*user}` or `{*u.user}`: `, CAST(u."plan" AS TEXT) AS "+plan"` for each returned
    /// additional field (nothing without any: the statement is as it was). Read as text and
    /// decoded by declared type ([`fields::decode`]), so one statement serves every column
    /// type in both dialects.
    fn render_extra(&self, read: &str) -> String {
        let (qualifier, model) = match read.split_once('.') {
            Some((q, model)) => (Some(q), model),
            None => (None, read),
        };
        if model != "user" && model != "session" {
            return format!("{{*{read}}}");
        }
        let mut out = String::new();
        for field in self.declared.of(model).iter().filter(|f| f.returned) {
            let mut expr = quote(self.column(model, field.name));
            if let Some(q) = qualifier {
                expr = format!("{q}.{expr}");
            }
            out.push_str(&format!(
                ", CAST({expr} AS TEXT) AS {}",
                quote(&format!("{ALIAS_PREFIX}{model}.{}", field.name))
            ));
        }
        out
    }

    /// `{+session.columns}` and `{+session.defaults}` in an `INSERT`: `, "col"` and its
    /// default as a literal, for each declared field with a default (rows made without a
    /// request body get them, as Better Auth's adapter gives them).
    fn render_defaults(&self, marker: &str) -> String {
        let Some((model, part)) = marker.split_once('.') else {
            return format!("{{+{marker}}}");
        };
        let with_default = self
            .declared
            .of(model)
            .iter()
            .filter_map(|f| f.default.as_ref().map(|d| (f, d)));
        match part {
            "columns" => with_default
                .map(|(f, _)| format!(", {}", quote(self.column(model, f.name))))
                .collect(),
            "defaults" => with_default
                .map(|(f, d)| format!(", {}", fields::sql_literal(f.ty, d)))
                .collect(),
            _ => format!("{{+{marker}}}"),
        }
    }

    /// Whether `value` can be compared with `model.field` at all: false for a value that is
    /// not a uuid when the column is one (PostgreSQL would refuse the statement), so a
    /// lookup by an id a client sent answers "no such row" instead of failing.
    pub fn id_fits(&self, model: &str, field: &str, value: &str) -> bool {
        match self.class(model, field) {
            Some(ColumnClass::Uuid) => is_uuid(value),
            Some(ColumnClass::Integer) => is_integer_id(value),
            _ => true,
        }
    }
}

/// 1 to 18 decimal digits: an id an integer column can hold (`bigint` holds every such).
fn is_integer_id(value: &str) -> bool {
    (1..=18).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// `8-4-4-4-12` hexadecimal digits, as PostgreSQL's `uuid` input accepts them.
fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether a field holds a row id of a Better Auth model (its own or a reference).
pub fn is_id(field: &str) -> bool {
    matches!(field, "id" | "userId" | "passkeyId")
}

impl Db {
    /// `template` rendered for this database's schema, from the cache after the first time
    /// (one leaked string per template and schema).
    pub(crate) fn sql(&self, template: &'static str) -> &'static str {
        let key = (template.as_ptr() as usize, template.len(), self.schema.key);
        if let Some(sql) = CACHE.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return sql;
        }
        let rendered: &'static str = Box::leak(self.schema.render(template).into_boxed_str());
        CACHE
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(rendered)
    }

    /// The schema this database is read with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// This database read with `schema`.
    pub fn with_schema(mut self, schema: Schema) -> Self {
        self.schema = std::sync::Arc::new(schema);
        self
    }

    /// A fresh id for a new row of `model` (one of Better Auth's), as the schema's
    /// `generateId` says: Better Auth's 32-character random id, a uuid v4 (as
    /// `crypto.randomUUID()`), or the next value of the id column's sequence. Only the last
    /// asks the database (one statement), which is why this is here and async.
    pub async fn row_id(&self, model: &'static str) -> Result<String, DbError> {
        match self.schema.generate_id {
            GenerateId::Random => Ok(crate::ids::generate_id()),
            GenerateId::Uuid => Ok(crate::ids::uuid_v4()),
            GenerateId::Serial => {
                let table = quote(self.schema.table(model));
                let column = self.schema.column(model, "id").to_string();
                let next: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
                    "SELECT CAST(nextval(pg_get_serial_sequence($1, $2)) AS TEXT)",
                )
                .bind(&table)
                .bind(&column)
                .fetch_one(pool)
                .await)?;
                next.ok_or_else(|| {
                    DbError::Other(format!(
                        "{table}.{column} has no sequence: generateId \"serial\" needs a serial or identity id column"
                    ))
                })
            }
        }
    }
}

/// The kind of a PostgreSQL column (its `information_schema` type) when it needs a cast.
pub fn class_of(kind: Kind, data_type: &str) -> Option<ColumnClass> {
    match (kind, data_type) {
        (Kind::Timestamp, "timestamp without time zone") => {
            Some(ColumnClass::TimestampWithoutTimeZone)
        }
        (Kind::Text, "uuid") => Some(ColumnClass::Uuid),
        (Kind::Text, "integer" | "bigint" | "smallint") => Some(ColumnClass::Integer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schema_renders_the_statements_as_they_were() {
        let schema = Schema::default();
        assert!(!schema.is_custom());
        assert_eq!(
            schema.render(r#"SELECT {>user.id}, {>user.emailVerified}, {>user.createdAt} FROM {user} WHERE {user.email} = $1"#),
            r#"SELECT "id", "emailVerified", "createdAt" FROM "user" WHERE "email" = $1"#
        );
        assert_eq!(
            schema.render(r#"SELECT {>u.user.id} AS u_id FROM {session} s JOIN {user} u ON u.{user.id} = s.{session.userId} WHERE s.{session.token} = {$1:session.token}"#),
            r#"SELECT u."id" AS u_id FROM "session" s JOIN "user" u ON u."id" = s."userId" WHERE s."token" = $1"#
        );
        assert_eq!(
            schema.render(r#"INSERT INTO {twoFactor} ({twoFactor.id}, {twoFactor.userId}) VALUES ({$1:twoFactor.id}, {$2:twoFactor.userId})"#),
            r#"INSERT INTO "twoFactor" ("id", "userId") VALUES ($1, $2)"#
        );
    }

    #[test]
    fn a_snake_case_prefixed_uuid_schema_renders_names_casts_and_aliases() {
        let schema = Schema::from_json(
            r#"{"casing": "snake_case", "generateId": "uuid",
                "user": {"modelName": "better_auth_user", "fields": {"image": "avatar"}}}"#,
        )
        .unwrap();
        assert!(schema.is_custom());
        assert_eq!(schema.table("twoFactor"), "two_factor");
        assert_eq!(schema.column("passkey", "credentialID"), "credential_id");
        assert_eq!(
            schema.render(r#"SELECT {>user.id}, {>user.image}, {>user.name} FROM {user} WHERE {user.id} = {$1:user.id}"#),
            r#"SELECT CAST("id" AS TEXT) AS "id", "avatar" AS "image", "name" FROM "better_auth_user" WHERE "id" = CAST($1 AS uuid)"#
        );
        let mut classes = HashMap::new();
        classes.insert(
            ("session", "expiresAt"),
            ColumnClass::TimestampWithoutTimeZone,
        );
        let schema = schema.with_classes(classes);
        assert_eq!(
            schema.render(
                r#"SELECT {>s.session.expiresAt}, {>s.session.userId} AS u FROM {session} s"#
            ),
            r#"SELECT (s."expires_at" AT TIME ZONE 'UTC') AS "expiresAt", s."user_id" AS u FROM "session" s"#
        );
        // Not examined: timestamps read right with or without a time zone.
        assert_eq!(
            schema
                .with_unknown_timestamps()
                .render(r#"SELECT {>session.expiresAt} FROM {session}"#),
            r#"SELECT CAST("expires_at" AS timestamptz) AS "expiresAt" FROM "session""#
        );
        // edgeauth's own tables keep their names unless renamed explicitly.
        assert_eq!(schema.column("edgeauth_mail_outbox", "userId"), "userId");
    }

    /// Additional fields: read as text under a marked alias (returned ones only), session
    /// defaults inserted as literals; nothing at all without declarations.
    #[test]
    fn additional_fields_render_reads_and_defaults() {
        let template = r#"SELECT {>s.session.id}{*s.session}, {>u.user.id} AS u_id{*u.user} FROM {session} s; INSERT INTO {session} ({session.id}{+session.columns}) VALUES ($1{+session.defaults})"#;
        assert_eq!(
            Schema::default().render(template),
            r#"SELECT s."id", u."id" AS u_id FROM "session" s; INSERT INTO "session" ("id") VALUES ($1)"#
        );
        let schema = Schema::from_json(
            r#"{"casing": "snake_case",
                "user": {"additionalFields": {"planName": {"type": "string"}, "secret": {"type": "string", "returned": false}}},
                "session": {"additionalFields": {"device": {"type": "string", "defaultValue": "it's", "fieldName": "dev"},
                                                 "on": {"type": "boolean", "defaultValue": true}, "n": {"type": "number"}}}}"#,
        )
        .unwrap();
        let rendered = schema.render(template);
        for part in [
            r#"CAST(u."plan_name" AS TEXT) AS "+user.planName""#,
            r#"CAST(s."dev" AS TEXT) AS "+session.device""#,
            r#"CAST(s."n" AS TEXT) AS "+session.n""#,
        ] {
            assert!(rendered.contains(part), "{part} in {rendered}");
        }
        assert!(!rendered.contains("secret"), "{rendered}");
        let columns = rendered.split("INSERT").nth(1).unwrap();
        assert!(
            columns.contains(r#"("id", "dev", "on") VALUES ($1, 'it''s', TRUE)"#)
                || columns.contains(r#"("id", "on", "dev") VALUES ($1, TRUE, 'it''s')"#),
            "{columns}"
        );
    }

    #[test]
    fn a_serial_schema_casts_integer_ids_to_and_from_text() {
        let serial = Schema::from_json(r#"{"generateId": "serial"}"#).unwrap();
        assert_eq!(serial.generate_id(), GenerateId::Serial);
        assert_eq!(
            serial.render(
                r#"SELECT {>user.id}, {>user.name} FROM {user} WHERE {user.id} = {$1:user.id}"#
            ),
            r#"SELECT CAST("id" AS TEXT) AS "id", "name" FROM "user" WHERE "id" = CAST($1 AS bigint)"#
        );
        assert_eq!(
            serial.render(r#"{$2:session.userId} {$1:session.token}"#),
            r#"CAST($2 AS bigint) $1"#
        );
        assert!(serial.id_fits("user", "id", "42"));
        for bogus in ["", "4a", "-1", "1234567890123456789", "abc"] {
            assert!(!serial.id_fits("user", "id", bogus), "{bogus}");
        }
        assert!(serial.id_fits("session", "token", "abc"));
    }

    #[test]
    fn invalid_settings_name_the_field() {
        for (json, needle) in [
            (
                r#"{"user": {"fields": {"emial": "x"}}}"#,
                "user.fields.emial",
            ),
            (r#"{"users": {}}"#, "EDGEAUTH_SCHEMA.users"),
            (r#"{"casing": "kebab"}"#, "casing"),
            (r#"{"generateId": "number"}"#, "generateId"),
            (r#"{"session": {"modelName": 3}}"#, "session.modelName"),
            (r#"{"account": {"table": "x"}}"#, "account.table"),
            // Better Auth accepts these; edgeauth would not write the columns, so it stops.
            (
                r#"{"account": {"additionalFields": {"team": {"type": "string"}}}}"#,
                "EDGEAUTH_SCHEMA.account.additionalFields: unknown option",
            ),
            (
                r#"{"verification": {"additionalFields": {"ip": {"type": "string"}}}}"#,
                "EDGEAUTH_SCHEMA.verification.additionalFields: unknown option",
            ),
            ("[1]", "JSON object"),
            ("{", "not valid JSON"),
        ] {
            let e = Schema::from_json(json).unwrap_err();
            assert!(e.contains(needle), "{json}: {e}");
        }
        let e = Schema::from_setting("/nonexistent/schema.json").unwrap_err();
        assert!(e.contains("cannot read /nonexistent/schema.json"), "{e}");
    }

    #[test]
    fn ids_that_cannot_be_uuids_are_not_looked_up_in_uuid_columns() {
        let uuid = Schema::from_json(r#"{"generateId": "uuid"}"#).unwrap();
        let id = crate::ids::uuid_v4();
        assert!(uuid.id_fits("session", "id", &id));
        assert!(uuid.id_fits("session", "id", &id.to_uppercase()));
        for bogus in ["", "abc", &crate::ids::generate_id(), &id.replace('-', "x")] {
            assert!(!uuid.id_fits("session", "id", bogus), "{bogus}");
            assert!(Schema::default().id_fits("session", "id", bogus));
        }
        // Columns that are not ids are not checked.
        assert!(uuid.id_fits("session", "token", "abc"));
    }

    #[test]
    fn snake_case_follows_drizzle() {
        for (from, to) in [
            ("createdAt", "created_at"),
            ("emailVerified", "email_verified"),
            ("credentialID", "credential_id"),
            ("twoFactor", "two_factor"),
            ("id", "id"),
            ("accessTokenExpiresAt", "access_token_expires_at"),
        ] {
            assert_eq!(snake_case(from), to);
        }
    }

    /// Every table and column renamed (a prefix on tables, snake_case and a suffix on
    /// columns), created on SQLite from the catalogue: statements across the tables run
    /// against it, so one still naming a default table or column fails ("no such ...").
    #[tokio::test]
    async fn statements_run_on_a_layout_where_every_name_differs() {
        use chrono::Utc;

        use crate::db::{Db, NewUser, OutboxMail, PasskeyRow, Session, User};

        let mut json = serde_json::Map::new();
        for (model, columns, _) in catalogue() {
            let fields: serde_json::Map<String, Value> = columns
                .iter()
                .map(|c| {
                    (
                        c.name.to_string(),
                        Value::String(format!("{}_c", snake_case(c.name))),
                    )
                })
                .collect();
            json.insert(
                model.to_string(),
                serde_json::json!({ "modelName": format!("x_{}", snake_case(model)), "fields": fields }),
            );
        }
        // Additional fields, under column names of their own.
        json["user"]["additionalFields"] = serde_json::json!({
            "plan": {"type": "string", "defaultValue": "free", "fieldName": "plan_c"}});
        json["session"]["additionalFields"] = serde_json::json!({
            "device": {"type": "string", "defaultValue": "web", "fieldName": "device_c"}});
        let schema = Schema::from_json(&Value::Object(json).to_string()).unwrap();
        let path = std::env::temp_dir().join(format!(
            "edgeauth-schema-{}-{}.db",
            std::process::id(),
            crate::ids::random_string(8)
        ));
        let db = Db::connect(Some(&format!("sqlite://{}?mode=rwc", path.display())))
            .unwrap()
            .with_schema(schema)
            .with_two_factor_column();
        for (model, columns, better_auth) in catalogue() {
            if !better_auth {
                continue;
            }
            let key = match model {
                "rateLimit" => "key",
                _ => "id",
            };
            let columns: Vec<String> = columns
                .iter()
                .map(|c| {
                    let name = db.schema().column(model, c.name);
                    let unique = if c.name == key { " PRIMARY KEY" } else { "" };
                    let ty = match c.kind {
                        Kind::Bool | Kind::Integer | Kind::BigInt | Kind::Number => "integer",
                        Kind::Timestamp => "date",
                        Kind::Text | Kind::Json => "text",
                    };
                    format!("{} {ty}{unique}", quote(name))
                })
                .collect();
            let sql = format!(
                "CREATE TABLE {} ({})",
                quote(db.schema().table(model)),
                columns.join(", ")
            );
            let crate::db::Pool::Sqlite(pool) = &db.pool else {
                unreachable!()
            };
            sqlx::query(&sql).execute(pool).await.unwrap();
        }
        {
            let crate::db::Pool::Sqlite(pool) = &db.pool else {
                unreachable!()
            };
            for alter in [
                r#"ALTER TABLE "x_user" ADD COLUMN "plan_c" text"#,
                r#"ALTER TABLE "x_session" ADD COLUMN "device_c" text"#,
            ] {
                sqlx::query(alter).execute(pool).await.unwrap();
            }
        }
        db.create_own_tables().await.unwrap();
        assert!(db.has_two_factor_column().await.unwrap());
        let report = crate::doctor::run(
            &db,
            crate::doctor::Uses {
                two_factor: true,
                passkey: true,
                rate_limit_table: true,
                mail: true,
                provider_sign_up: true,
            },
            true,
        )
        .await
        .unwrap();
        assert!(report.ok, "{}", report.render());

        let now = Utc::now();
        let user = User {
            id: crate::ids::generate_id(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
            two_factor_enabled: false,
            extra: [("plan".to_string(), Value::from("pro"))].into(),
        };
        let session = Session {
            id: crate::ids::generate_id(),
            expires_at: now + chrono::Duration::days(7),
            token: crate::ids::generate_id(),
            created_at: now,
            updated_at: now,
            ip_address: None,
            user_agent: None,
            user_id: user.id.clone(),
            extra: [("device".to_string(), Value::from("web"))].into(),
        };
        let mail = OutboxMail {
            id: crate::ids::generate_id(),
            kind: "verify-email".into(),
            recipient: user.email.clone(),
            user_id: Some(user.id.clone()),
            payload: "{}".into(),
            message_id: "<m@example.com>".into(),
            created_at: 1,
            expires_at: i64::MAX,
        };
        db.create_user(
            &NewUser {
                user: user.clone(),
                password_hash: "hash".into(),
                values: vec![("plan", crate::db::FieldValue::Text(Some("pro".into())))],
            },
            Some(&session),
            Some(&mail),
        )
        .await
        .unwrap();
        let found = db.find_session(&session.token).await.unwrap().unwrap();
        assert_eq!(found.user, user);
        assert_eq!(found.session, session);
        assert_eq!(
            db.list_sessions(&user.id).await.unwrap(),
            std::slice::from_ref(&session)
        );
        assert_eq!(
            db.find_user_by_email(&user.email).await.unwrap(),
            Some(user.clone())
        );
        assert!(db
            .find_credential_account(&user.id)
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            db.list_account_providers(&user.id).await.unwrap(),
            ["credential"]
        );
        let updated = db
            .update_user(
                &user.id,
                Some("Ada L."),
                None,
                &[("plan", crate::db::FieldValue::Text(Some("team".into())))],
                now,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.extra["plan"], "team");
        // A user made from a provider gets the defaults.
        let provider_user = User {
            id: crate::ids::generate_id(),
            email: "grace@example.com".into(),
            extra: Default::default(),
            ..user.clone()
        };
        db.create_provider_user(
            &provider_user,
            &crate::db::NewProviderAccount {
                id: &crate::ids::generate_id(),
                provider_id: "corp",
                account_id: "sub",
                user_id: &provider_user.id,
                tokens: &Default::default(),
                now,
            },
        )
        .await
        .unwrap();
        assert_eq!(
            db.find_user_by_email("grace@example.com")
                .await
                .unwrap()
                .unwrap()
                .extra["plan"],
            "free"
        );
        db.mark_email_verified(&user.email, now)
            .await
            .unwrap()
            .unwrap();
        db.extend_session(&session.token, now + chrono::Duration::days(8), now)
            .await
            .unwrap();
        db.insert_verification("reset:x", &user.id, now + chrono::Duration::hours(1), now)
            .await
            .unwrap();
        assert!(db.find_verification("reset:x").await.unwrap().is_some());
        db.replace_two_factor(&user.id, "secret", "codes")
            .await
            .unwrap();
        assert!(db.find_two_factor(&user.id).await.unwrap().is_some());
        assert!(db.claim_totp_step(&user.id, 5).await.unwrap());
        db.create_passkey(&PasskeyRow {
            id: crate::ids::generate_id(),
            name: Some("key".into()),
            public_key: "pk".into(),
            user_id: user.id.clone(),
            credential_id: "cred".into(),
            counter: 0,
            device_type: "singleDevice".into(),
            backed_up: false,
            transports: None,
            created_at: Some(now),
            aaguid: None,
            last_used_at: None,
        })
        .await
        .unwrap();
        let passkey = db
            .find_passkey_by_credential("cred")
            .await
            .unwrap()
            .unwrap();
        assert!(db
            .record_passkey_use(&passkey.id, 0, 1, false, now)
            .await
            .unwrap());
        assert_eq!(db.list_passkeys(&user.id).await.unwrap().len(), 1);
        db.rate_limit_hit("r1", "k", 1, 10_000, 3).await.unwrap();
        assert_eq!(db.claim_mail("me", 1, 2, 10).await.unwrap().len(), 1);
        assert!(db.delete_user(&user.id, None, now).await.unwrap());
        assert!(db.find_session(&session.token).await.unwrap().is_none());
        assert!(db.list_passkeys(&user.id).await.unwrap().is_empty());
        let _ = std::fs::remove_file(path);
    }
}
