//! `additionalFields` on `user`: an application's own columns, declared in `EDGEAUTH_SCHEMA`
//! with Better Auth's attribute shape (`type`, `required`, `defaultValue`, `input`,
//! `returned`, `fieldName`), read with every user row, written on sign-up and
//! update-user, and returned where Better Auth returns them.
//!
//! Input follows Better Auth 1.4.22's `parseInputData`: on create, an absent field takes its
//! `defaultValue`, else a `required` one is refused (`{key} is required`); a field with
//! `input: false` takes its default on create whatever was sent, and without a default a
//! truthy value is refused (`{key} is not allowed to be set`). Better Auth does not check
//! types itself (a value the column refuses fails in the database); edgeauth checks them
//! against the declared type ([`FieldError::WrongType`]).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Number, Value};

use super::models::js_date;
use crate::doctor::Kind;

/// The declared type of an additional field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `"string"`.
    String,
    /// A literal union, `["free", "pro"]`: a string that is one of them (a `text` column, as
    /// Better Auth's CLI makes it). Better Auth takes any value at run time; edgeauth refuses
    /// the others. The values, and their description for error messages, leaked once at
    /// configuration.
    OneOf(&'static [&'static str], &'static str),
    /// `"number"`.
    Number,
    /// `"boolean"`.
    Boolean,
    /// `"date"`.
    Date,
    /// `"json"`: any JSON value, stored as JSON (`jsonb` on PostgreSQL, text on SQLite, as
    /// Better Auth stores it).
    Json,
    /// `"string[]"`: an array of strings, stored as JSON like `json`.
    StringArray,
    /// `"number[]"`: an array of numbers, stored as JSON like `json`.
    NumberArray,
}

impl FieldType {
    /// The column kind the doctor expects.
    pub fn kind(self) -> Kind {
        match self {
            FieldType::String | FieldType::OneOf(..) => Kind::Text,
            FieldType::Number => Kind::Number,
            FieldType::Boolean => Kind::Bool,
            FieldType::Date => Kind::Timestamp,
            FieldType::Json | FieldType::StringArray | FieldType::NumberArray => Kind::Json,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::OneOf(_, described) => described,
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Json => "json",
            FieldType::StringArray => "string[]",
            FieldType::NumberArray => "number[]",
        }
    }
}

/// One declared field.
#[derive(Debug, Clone, PartialEq)]
pub struct AdditionalField {
    /// Its key (the JSON name in answers and bodies); leaked once at configuration.
    pub name: &'static str,
    /// Its column, when `fieldName` names one.
    pub field_name: Option<String>,
    /// Its type.
    pub ty: FieldType,
    /// Whether sign-up must give it (when it has no default).
    pub required: bool,
    /// The value a new row gets when none is given.
    pub default: Option<Value>,
    /// Whether clients may set it (sign-up, update-user).
    pub input: bool,
    /// Whether answers and the JWT carry it.
    pub returned: bool,
}

/// A value to bind, typed as the declared field (so PostgreSQL gets a parameter of a type
/// that converts to the column's, `NULL`s included).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A string.
    Text(Option<String>),
    /// A whole number.
    Int(Option<i64>),
    /// Any other number.
    Float(Option<f64>),
    /// A boolean.
    Bool(Option<bool>),
    /// A date.
    Date(Option<DateTime<Utc>>),
    /// JSON, as its text (bound as text, cast to `jsonb` on PostgreSQL).
    Json(Option<String>),
}

/// An additional field's values as answers show them (Better Auth's JSON: dates as ISO
/// strings), by key.
pub type Extra = BTreeMap<String, Value>;

/// Values read from the database as text, by key (`None`: SQL `NULL`), before decoding.
pub type RawExtra = BTreeMap<String, Option<String>>;

/// A refused value, answered as Better Auth answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// A required field is absent on sign-up: 400 `{key} is required`.
    Required(&'static str),
    /// A field with `input: false` was sent with a truthy value: 400 `{key} is not allowed
    /// to be set`.
    NotAllowed(&'static str),
    /// A value that is not of the declared type (or `null` for a required field).
    WrongType(&'static str, &'static str),
}

/// What a request writes: the values to bind, by field, and the ones answers show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldInput {
    /// Every value to write (defaults included on create).
    pub values: Vec<(&'static str, FieldValue)>,
    /// The returned ones, as JSON.
    pub shown: Extra,
}

/// Create (sign-up: defaults and `required` apply) or update (update-user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new row.
    Create,
    /// An existing row.
    Update,
}

/// Parses `EDGEAUTH_SCHEMA.user.additionalFields`: an object of field declarations. `known`
/// are the model's own fields (an additional field may not reuse one).
pub fn parse_declarations(
    model: &str,
    value: &Value,
    known: &[&str],
) -> Result<Vec<AdditionalField>, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "EDGEAUTH_SCHEMA.{model}.additionalFields must be an object"
        ));
    };
    let mut fields = Vec::new();
    for (key, declaration) in map {
        let at = format!("EDGEAUTH_SCHEMA.{model}.additionalFields.{key}");
        if key.is_empty() || key.starts_with('+') {
            return Err(format!("{at}: not a usable field name"));
        }
        if known.contains(&key.as_str()) {
            return Err(format!(
                "{at}: {key} is one of Better Auth's own fields (rename it with {model}.fields)"
            ));
        }
        let Value::Object(attributes) = declaration else {
            return Err(format!("{at} must be an object"));
        };
        let mut ty = None;
        let mut field = AdditionalField {
            name: "",
            field_name: None,
            ty: FieldType::String,
            required: false,
            default: None,
            input: true,
            returned: true,
        };
        for (attribute, value) in attributes {
            let flag = |value: &Value| {
                value
                    .as_bool()
                    .ok_or_else(|| format!("{at}.{attribute} must be true or false"))
            };
            match attribute.as_str() {
                "type" => {
                    if let Value::Array(choices) = value {
                        ty = Some(one_of(&at, choices)?);
                        continue;
                    }
                    ty = Some(match value.as_str() {
                        Some("string") => FieldType::String,
                        Some("number") => FieldType::Number,
                        Some("boolean") => FieldType::Boolean,
                        Some("date") => FieldType::Date,
                        Some("json") => FieldType::Json,
                        Some("string[]") => FieldType::StringArray,
                        Some("number[]") => FieldType::NumberArray,
                        _ => {
                            return Err(format!(
                                "{at}.type must be \"string\", \"number\", \"boolean\", \"date\", \"json\", \"string[]\", \"number[]\" or an array of strings"
                            ))
                        }
                    })
                }
                "required" => field.required = flag(value)?,
                "input" => field.input = flag(value)?,
                "returned" => field.returned = flag(value)?,
                "defaultValue" => field.default = Some(value.clone()),
                "fieldName" => match value.as_str() {
                    Some(s) if !s.is_empty() => field.field_name = Some(s.to_string()),
                    _ => return Err(format!("{at}.fieldName must be a non-empty string")),
                },
                // Better Auth attributes that change nothing edgeauth does.
                "unique" | "sortable" | "bigint" | "references" => {}
                other => {
                    return Err(format!(
                        "{at}.{other}: unknown attribute (expected type, required, defaultValue, input, returned or fieldName)"
                    ))
                }
            }
        }
        field.ty = ty.ok_or_else(|| format!("{at}.type is missing"))?;
        if model == "session" && field.required && field.default.is_none() {
            return Err(format!(
                "{at}: required without a defaultValue (sessions are made without input: Better Auth would refuse every sign-in)"
            ));
        }
        field.name = Box::leak(key.clone().into_boxed_str());
        if let Some(default) = &field.default {
            if default.is_null() || to_value(field.ty, default).is_none() {
                return Err(format!(
                    "{at}.defaultValue: not a {} value",
                    field.ty.name()
                ));
            }
        }
        fields.push(field);
    }
    Ok(fields)
}

/// A literal-union type from its declared values: at least one, each a string, none twice.
fn one_of(at: &str, choices: &[Value]) -> Result<FieldType, String> {
    let mut values: Vec<&'static str> = Vec::new();
    for choice in choices {
        let Some(choice) = choice.as_str() else {
            return Err(format!(
                "{at}.type: a literal union's values must be strings"
            ));
        };
        if values.contains(&choice) {
            return Err(format!("{at}.type: \"{choice}\" is listed twice"));
        }
        values.push(Box::leak(choice.to_string().into_boxed_str()));
    }
    if values.is_empty() {
        return Err(format!(
            "{at}.type: a literal union needs at least one value"
        ));
    }
    let described = values
        .iter()
        .map(|v| Value::String((*v).to_string()).to_string())
        .collect::<Vec<_>>()
        .join(" | ");
    Ok(FieldType::OneOf(
        Box::leak(values.into_boxed_slice()),
        Box::leak(described.into_boxed_str()),
    ))
}

/// `value` as a bindable value of type `ty`, if it is one (`null` is `NULL`). Strings are
/// accepted for numbers, booleans and dates, as a form body sends them.
fn to_value(ty: FieldType, value: &Value) -> Option<FieldValue> {
    Some(match (ty, value) {
        (FieldType::String | FieldType::OneOf(..), Value::Null) => FieldValue::Text(None),
        (FieldType::Number, Value::Null) => FieldValue::Int(None),
        (FieldType::Boolean, Value::Null) => FieldValue::Bool(None),
        (FieldType::Date, Value::Null) => FieldValue::Date(None),
        (FieldType::Json | FieldType::StringArray | FieldType::NumberArray, Value::Null) => {
            FieldValue::Json(None)
        }
        (FieldType::Json, value) => FieldValue::Json(Some(value.to_string())),
        (FieldType::StringArray, Value::Array(items)) if items.iter().all(Value::is_string) => {
            FieldValue::Json(Some(value.to_string()))
        }
        (FieldType::NumberArray, Value::Array(items)) if items.iter().all(Value::is_number) => {
            FieldValue::Json(Some(value.to_string()))
        }
        (FieldType::String, Value::String(s)) => FieldValue::Text(Some(s.clone())),
        (FieldType::OneOf(values, _), Value::String(s)) if values.contains(&s.as_str()) => {
            FieldValue::Text(Some(s.clone()))
        }
        (FieldType::Number, Value::Number(n)) => number(n)?,
        (FieldType::Number, Value::String(s)) => number(&s.trim().parse::<Number>().ok()?)?,
        (FieldType::Boolean, Value::Bool(b)) => FieldValue::Bool(Some(*b)),
        (FieldType::Boolean, Value::String(s)) => FieldValue::Bool(Some(match s.as_str() {
            "true" => true,
            "false" => false,
            _ => return None,
        })),
        (FieldType::Date, Value::String(s)) => FieldValue::Date(Some(parse_date(s)?)),
        _ => return None,
    })
}

fn number(n: &Number) -> Option<FieldValue> {
    if let Some(i) = n.as_i64() {
        return Some(FieldValue::Int(Some(i)));
    }
    n.as_f64()
        .filter(|f| f.is_finite())
        .map(|f| FieldValue::Float(Some(f)))
}

/// A date as JavaScript's `new Date(string)` reads ISO strings, or as PostgreSQL and SQLite
/// print them (`2026-12-03 20:03:00.812+00`, without a zone meaning UTC).
fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(d) = DateTime::parse_from_str(s, format) {
            return Some(d.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return Some(d.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// The JSON an answer shows for a bound value.
fn shown(value: &FieldValue) -> Value {
    match value {
        FieldValue::Text(v) => v.clone().map_or(Value::Null, Value::String),
        FieldValue::Int(v) => v.map_or(Value::Null, Value::from),
        FieldValue::Float(v) => v
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number),
        FieldValue::Bool(v) => v.map_or(Value::Null, Value::Bool),
        FieldValue::Date(v) => v
            .as_ref()
            .map_or(Value::Null, |d| Value::String(js_date(d))),
        FieldValue::Json(v) => v
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null),
    }
}

/// A default as an SQL literal of its declared type (both dialects: SQLite reads `TRUE` and
/// `FALSE` as 1 and 0).
pub fn sql_literal(ty: FieldType, default: &Value) -> String {
    match to_value(ty, default) {
        Some(FieldValue::Text(Some(s))) => format!("'{}'", s.replace('\'', "''")),
        Some(FieldValue::Int(Some(i))) => i.to_string(),
        Some(FieldValue::Float(Some(f))) => f.to_string(),
        Some(FieldValue::Bool(Some(b))) => if b { "TRUE" } else { "FALSE" }.to_string(),
        Some(FieldValue::Date(Some(d))) => format!("'{}'", js_date(&d)),
        Some(FieldValue::Json(Some(text))) => format!("'{}'", text.replace('\'', "''")),
        // Checked when the declaration was read.
        _ => "NULL".to_string(),
    }
}

/// JavaScript's truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The values a request body gives `fields`, as Better Auth's `parseInputData` takes them
/// (see the module documentation); keys that are not declared fields are ignored.
pub fn parse_input(
    fields: &[AdditionalField],
    body: &Map<String, Value>,
    action: Action,
) -> Result<FieldInput, FieldError> {
    let mut input = FieldInput::default();
    for field in fields {
        let value = match body.get(field.name) {
            Some(_) if !field.input => match (&field.default, action) {
                (Some(default), Action::Create) => Some(default),
                _ if truthy(&body[field.name]) => return Err(FieldError::NotAllowed(field.name)),
                _ => None,
            },
            Some(value) => Some(value),
            None => match (&field.default, action) {
                (Some(default), Action::Create) => Some(default),
                (None, Action::Create) if field.required => {
                    return Err(FieldError::Required(field.name))
                }
                _ => None,
            },
        };
        let Some(value) = value else { continue };
        let bound = to_value(field.ty, value)
            .filter(|_| !(field.required && value.is_null()))
            .ok_or(FieldError::WrongType(field.name, field.ty.name()))?;
        if field.returned {
            input.shown.insert(field.name.to_string(), shown(&bound));
        }
        input.values.push((field.name, bound));
    }
    Ok(input)
}

/// The values a row made without a request (provider sign-up) gets: the defaults.
pub fn defaults(fields: &[AdditionalField]) -> FieldInput {
    parse_input(
        &fields
            .iter()
            .filter(|f| f.default.is_some())
            .cloned()
            .collect::<Vec<_>>(),
        &Map::new(),
        Action::Create,
    )
    .unwrap_or_default()
}

/// The values of `model`'s returned fields read as text (keys `model.key`), decoded by
/// declared type. A value the type cannot read (a column of another type) is shown as its
/// text.
pub fn decode(fields: &[AdditionalField], model: &str, raw: &RawExtra) -> Extra {
    let mut extra = Extra::new();
    for (key, text) in raw {
        let Some(key) = key.strip_prefix(model).and_then(|k| k.strip_prefix('.')) else {
            continue;
        };
        let Some(field) = fields.iter().find(|f| f.name == key) else {
            continue;
        };
        let key = key.to_string();
        let text = text.clone();
        let value = match text {
            None => Value::Null,
            Some(text) => decode_text(field.ty, &text).unwrap_or(Value::String(text)),
        };
        extra.insert(key, value);
    }
    extra
}

fn decode_text(ty: FieldType, text: &str) -> Option<Value> {
    match ty {
        // A stored value outside the union (written by another server) is shown as it is.
        FieldType::String | FieldType::OneOf(..) => Some(Value::String(text.to_string())),
        FieldType::Number => {
            if let Ok(i) = text.parse::<i64>() {
                return Some(Value::from(i));
            }
            let f = text.parse::<f64>().ok()?;
            // 5.0 (a REAL, a numeric) reads as 5, as JavaScript prints it.
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                return Some(Value::from(f as i64));
            }
            Number::from_f64(f).map(Value::Number)
        }
        FieldType::Boolean => match text {
            "true" | "t" | "1" => Some(Value::Bool(true)),
            "false" | "f" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldType::Date => parse_date(text).map(|d| Value::String(js_date(&d))),
        // Better Auth on SQLite stores a `json` string as it is, not quoted: shown as it is.
        FieldType::Json | FieldType::StringArray | FieldType::NumberArray => {
            serde_json::from_str(text).ok()
        }
    }
}

/// A column alias marking an additional field's value in a row (`"+plan"`).
pub const ALIAS_PREFIX: char = '+';

/// Collects the additional fields' values of a row (the columns aliased `+key`, read as
/// text).
pub fn raw_of<'r, R>(row: &'r R) -> Result<RawExtra, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use sqlx::Column as _;
    let mut raw = RawExtra::new();
    for (i, column) in row.columns().iter().enumerate() {
        if let Some(key) = column.name().strip_prefix(ALIAS_PREFIX) {
            raw.insert(key.to_string(), row.try_get::<Option<String>, _>(i)?);
        }
    }
    Ok(raw)
}

/// A row type read with the additional fields' raw values.
pub struct WithExtra<T>(pub T, pub RawExtra);

impl<'r, R, T> sqlx::FromRow<'r, R> for WithExtra<T>
where
    R: sqlx::Row,
    T: sqlx::FromRow<'r, R>,
    usize: sqlx::ColumnIndex<R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(WithExtra(T::from_row(row)?, raw_of(row)?))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(json: Value) -> Vec<AdditionalField> {
        parse_declarations("user", &json, &["name", "email"]).unwrap()
    }

    fn body(json: Value) -> Map<String, Value> {
        let Value::Object(map) = json else {
            unreachable!()
        };
        map
    }

    #[test]
    fn input_follows_better_auths_parse_input_data() {
        let fields = fields(json!({
            "plan": {"type": "string", "defaultValue": "free"},
            "role": {"type": "string", "input": false, "defaultValue": "member"},
            "flag": {"type": "boolean", "input": false},
            "age": {"type": "number", "required": true},
            "secret": {"type": "string", "returned": false},
            "born": {"type": "date"},
        }));
        // Defaults, an input:false field's default whatever was sent, a hidden field written
        // but not shown, a date shown as JavaScript prints it.
        let parsed = parse_input(
            &fields,
            &body(json!({"age": 7, "role": "admin", "secret": "s", "born": "2000-01-02T03:04:05Z", "other": 1})),
            Action::Create,
        )
        .unwrap();
        assert_eq!(
            parsed.shown,
            body(json!({"plan": "free", "role": "member", "age": 7, "born": "2000-01-02T03:04:05.000Z"}))
                .into_iter()
                .collect::<Extra>()
        );
        assert!(parsed
            .values
            .contains(&("secret", FieldValue::Text(Some("s".into())))));
        assert!(!parsed.values.iter().any(|(k, _)| *k == "flag"));
        // A required field absent on create; not on update.
        assert_eq!(
            parse_input(&fields, &body(json!({})), Action::Create),
            Err(FieldError::Required("age"))
        );
        assert!(parse_input(&fields, &body(json!({})), Action::Update)
            .unwrap()
            .values
            .is_empty());
        // input:false without a default: a truthy value refused, a falsy one ignored; with a
        // default, refused on update.
        assert_eq!(
            parse_input(
                &fields,
                &body(json!({"age": 1, "flag": true})),
                Action::Create
            ),
            Err(FieldError::NotAllowed("flag"))
        );
        assert!(parse_input(
            &fields,
            &body(json!({"age": 1, "flag": false})),
            Action::Create
        )
        .is_ok());
        assert_eq!(
            parse_input(&fields, &body(json!({"role": "admin"})), Action::Update),
            Err(FieldError::NotAllowed("role"))
        );
        // Updates do not apply defaults.
        let update = parse_input(&fields, &body(json!({"plan": "pro"})), Action::Update).unwrap();
        assert_eq!(
            update.values,
            [("plan", FieldValue::Text(Some("pro".into())))]
        );
        // Types: numbers from JSON numbers or numeric strings, nothing else.
        for (value, ok) in [
            (json!(3.5), true),
            (json!("42"), true),
            (json!("x"), false),
            (json!(true), false),
            (json!(null), false),
        ] {
            assert_eq!(
                parse_input(&fields, &body(json!({"age": value})), Action::Create).is_ok(),
                ok,
                "{value}"
            );
        }
        assert_eq!(
            parse_input(&fields, &body(json!({"age": 1, "plan": 5})), Action::Create),
            Err(FieldError::WrongType("plan", "string"))
        );
        assert_eq!(
            parse_input(
                &fields,
                &body(json!({"age": 1, "born": "yesterday"})),
                Action::Create
            ),
            Err(FieldError::WrongType("born", "date"))
        );
        // Provider sign-up: defaults only.
        assert_eq!(
            defaults(&fields).shown,
            body(json!({"plan": "free", "role": "member"}))
                .into_iter()
                .collect::<Extra>()
        );
    }

    /// A literal union (`["free", "pro"]`) takes one of its values, or `null` when not
    /// required; Better Auth takes any value at run time.
    #[test]
    fn a_literal_union_takes_only_its_values() {
        let fields = fields(json!({
            "plan": {"type": ["free", "pro", "team"], "defaultValue": "free"},
        }));
        let parsed = parse_input(&fields, &body(json!({})), Action::Create).unwrap();
        assert_eq!(
            parsed.values,
            [("plan", FieldValue::Text(Some("free".into())))]
        );
        let parsed = parse_input(&fields, &body(json!({"plan": "team"})), Action::Update).unwrap();
        assert_eq!(
            parsed.values,
            [("plan", FieldValue::Text(Some("team".into())))]
        );
        assert!(parse_input(&fields, &body(json!({"plan": null})), Action::Update).is_ok());
        for refused in [json!("gold"), json!("Pro"), json!(1), json!(["pro"])] {
            assert_eq!(
                parse_input(&fields, &body(json!({"plan": refused})), Action::Update),
                Err(FieldError::WrongType("plan", r#""free" | "pro" | "team""#)),
                "{refused}"
            );
        }
        assert_eq!(fields[0].ty.kind(), Kind::Text);
        assert_eq!(sql_literal(fields[0].ty, &json!("free")), "'free'");
        // Read back as it is, even a value another server wrote outside the union.
        let raw: RawExtra = [("user.plan".to_string(), Some("legacy".to_string()))].into();
        assert_eq!(decode(&fields, "user", &raw)["plan"], json!("legacy"));
    }

    /// `json` takes any JSON value, `string[]` and `number[]` arrays of their items; all
    /// are written as JSON text and read back as the same JSON.
    #[test]
    fn json_and_arrays_are_written_and_read_as_json() {
        let fields = fields(json!({
            "prefs": {"type": "json", "defaultValue": {"theme": "dark"}},
            "tags": {"type": "string[]"},
            "scores": {"type": "number[]"},
        }));
        let parsed = parse_input(
            &fields,
            &body(json!({"tags": ["a", "b"], "scores": [1, 2.5]})),
            Action::Create,
        )
        .unwrap();
        assert_eq!(
            parsed.values,
            [
                (
                    "prefs",
                    FieldValue::Json(Some(r#"{"theme":"dark"}"#.into()))
                ),
                ("tags", FieldValue::Json(Some(r#"["a","b"]"#.into()))),
                ("scores", FieldValue::Json(Some("[1,2.5]".into()))),
            ]
        );
        assert_eq!(
            parsed.shown,
            body(json!({"prefs": {"theme": "dark"}, "tags": ["a", "b"], "scores": [1, 2.5]}))
                .into_iter()
                .collect::<Extra>()
        );
        for (key, refused) in [
            ("tags", json!(["a", 1])),
            ("tags", json!("a")),
            ("scores", json!(["1"])),
            ("scores", json!({"a": 1})),
        ] {
            assert!(
                matches!(
                    parse_input(&fields, &body(json!({key: refused})), Action::Update),
                    Err(FieldError::WrongType(k, _)) if k == key
                ),
                "{key}: {refused}"
            );
        }
        assert!(parse_input(
            &fields,
            &body(json!({"prefs": [1, "x", null]})),
            Action::Update
        )
        .is_ok());
        assert_eq!(fields[0].ty.kind(), Kind::Json);
        assert_eq!(
            sql_literal(fields[0].ty, &json!({"it's": 1})),
            r#"'{"it''s":1}'"#
        );
        // As PostgreSQL prints jsonb, and as Better Auth on SQLite may store a bare string.
        let raw: RawExtra = [
            ("user.prefs", Some(r#"{"theme": "light"}"#)),
            ("user.tags", Some(r#"["x"]"#)),
            ("user.scores", None),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
        assert_eq!(
            decode(&fields, "user", &raw),
            body(json!({"prefs": {"theme": "light"}, "tags": ["x"], "scores": null}))
                .into_iter()
                .collect::<Extra>()
        );
        let raw: RawExtra = [("user.prefs".to_string(), Some("plain".to_string()))].into();
        assert_eq!(decode(&fields, "user", &raw)["prefs"], json!("plain"));
    }

    #[test]
    fn values_read_as_text_decode_by_type() {
        let fields = fields(json!({
            "n": {"type": "number"}, "b": {"type": "boolean"}, "d": {"type": "date"}, "s": {"type": "string"}
        }));
        let raw: RawExtra = [
            ("user.n", Some("5.0")),
            ("user.b", Some("t")),
            ("user.d", Some("2026-12-03 20:03:00.812+00")),
            ("user.s", None),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
        assert_eq!(
            decode(&fields, "user", &raw),
            body(json!({"n": 5, "b": true, "d": "2026-12-03T20:03:00.812Z", "s": null}))
                .into_iter()
                .collect::<Extra>()
        );
        let raw: RawExtra = [
            ("user.n", Some("2.5")),
            ("user.b", Some("0")),
            ("user.d", Some("2026-12-03T20:03:00.812+00:00")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
        assert_eq!(
            decode(&fields, "user", &raw),
            body(json!({"n": 2.5, "b": false, "d": "2026-12-03T20:03:00.812Z"}))
                .into_iter()
                .collect::<Extra>()
        );
    }

    #[test]
    fn invalid_declarations_name_the_field() {
        for (json, needle) in [
            (
                json!({"plan": {"type": "text"}}),
                "additionalFields.plan.type must be",
            ),
            (
                json!({"plan": {"type": "string[][]"}}),
                "additionalFields.plan.type must be",
            ),
            (
                json!({"tags": {"type": "string[]", "defaultValue": [1]}}),
                "additionalFields.tags.defaultValue: not a string[] value",
            ),
            (json!({"plan": {}}), "additionalFields.plan.type is missing"),
            (
                json!({"plan": {"type": []}}),
                "additionalFields.plan.type: a literal union needs at least one value",
            ),
            (
                json!({"plan": {"type": ["free", 2]}}),
                "additionalFields.plan.type: a literal union's values must be strings",
            ),
            (
                json!({"plan": {"type": ["free", "free"]}}),
                "additionalFields.plan.type: \"free\" is listed twice",
            ),
            (
                json!({"plan": {"type": ["free", "pro"], "defaultValue": "gold"}}),
                r#"additionalFields.plan.defaultValue: not a "free" | "pro" value"#,
            ),
            (
                json!({"plan": {"type": "number", "defaultValue": "x"}}),
                "additionalFields.plan.defaultValue: not a number",
            ),
            (
                json!({"plan": {"type": "string", "input": "yes"}}),
                "additionalFields.plan.input must be true or false",
            ),
            (
                json!({"plan": {"type": "string", "colour": 1}}),
                "additionalFields.plan.colour: unknown attribute",
            ),
            (
                json!({"email": {"type": "string"}}),
                "additionalFields.email: email is one of Better Auth's own fields",
            ),
            (
                json!({"plan": "string"}),
                "additionalFields.plan must be an object",
            ),
            (json!([]), "user.additionalFields must be an object"),
        ] {
            let e = parse_declarations("user", &json, &["name", "email"]).unwrap_err();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }
}
