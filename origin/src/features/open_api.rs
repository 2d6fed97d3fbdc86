//! The API description: `GET /open-api/generate-schema`, an OpenAPI 3.1 document of every
//! endpoint under `/api/auth` that the running configuration serves, and `GET /reference`,
//! the same document as an HTML page (Better Auth's `openAPI` plugin's paths).
//!
//! The document is made from the descriptions each feature registers its routes with
//! ([`super::endpoint`]), for the features configuration turns on, so it cannot name a
//! route the router lacks or miss one it has; the tests below check the methods against
//! the real router with every feature on. It is built with `serde_json` by hand rather than
//! by a derive crate such as `utoipa`: the handlers read their bodies field by field
//! ([`crate::http::extract::body`]), not through typed extractors a derive could describe,
//! so the fields would be written out by hand either way, and a few hundred lines here cost
//! no proc-macro build.
//!
//! Better Auth's reference page loads Scalar from a CDN. This one is rendered here from the
//! document, one self-contained page: no script, no request elsewhere, its one inline style
//! allowed by hash in a `default-src 'none'` Content-Security-Policy.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use base64ct::{Base64, Encoding};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::endpoint::{ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type};
use super::{Feature, FEATURES};
use crate::app::AppState;
use crate::http::cookies::SESSION_TOKEN;
use crate::http::BASE_PATH;

/// The API description and its reference page.
pub const FEATURE: Feature = Feature {
    name: "open-api",
    routes,
    origin_checked: true,
    rate_limits: &[],
};

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new()
        .route(&GENERATE_SCHEMA, get(generate_schema))
        .route(&REFERENCE, get(reference))
}

static GENERATE_SCHEMA: Endpoint = Endpoint::new(
    Method::Get,
    "/open-api/generate-schema",
    "This API's OpenAPI 3.1 description",
    Caller::Anyone,
    &[Reply::ok(
        "The document (what the running configuration serves)",
        Shape::Object(&[]),
    )],
);

static REFERENCE: Endpoint = Endpoint::new(
    Method::Get,
    "/reference",
    "This API's reference, as a page",
    Caller::Anyone,
    &[Reply::ok(
        "The document as HTML, self-contained",
        Shape::Html,
    )],
);

/// `GET /open-api/generate-schema`.
async fn generate_schema(State(state): State<AppState>) -> Response {
    Json(document(&state)).into_response()
}

/// `GET /reference`.
async fn reference(State(state): State<AppState>) -> Response {
    let html = match render(&document(&state)) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "rendering the API reference failed");
            return crate::http::error::ApiError::internal(e.to_string()).into_response();
        }
    };
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&format!(
        "default-src 'none'; style-src '{}'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'none'",
        *STYLE_HASH
    )) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The endpoints the running configuration serves, with the feature (the tag) of each.
pub fn served_endpoints(state: &AppState) -> Vec<(&'static str, &'static Endpoint)> {
    FEATURES
        .iter()
        .flat_map(|feature| {
            let routes = (feature.routes)(state);
            routes
                .endpoints()
                .iter()
                .map(|endpoint| (feature.name, *endpoint))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The OpenAPI 3.1 document of what `state`'s configuration serves.
pub fn document(state: &AppState) -> Value {
    let mut paths = Map::new();
    let mut tags: Vec<&str> = Vec::new();
    let mut used = Vec::new();
    for (tag, endpoint) in served_endpoints(state) {
        if endpoint.hidden {
            continue;
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
        let item = paths
            .entry(endpoint.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            let mut op = operation(tag, endpoint, &mut used);
            // A second method on a path (a provider's callback, GET and POST): its
            // operation id names the method too, so ids stay unique.
            if !item.is_empty() {
                let method = endpoint.method.lower();
                let id = format!(
                    "{}{}{}",
                    op["operationId"].as_str().unwrap_or_default(),
                    method[..1].to_ascii_uppercase(),
                    &method[1..]
                );
                op["operationId"] = json!(id);
            }
            item.insert(endpoint.method.lower().into(), op);
        }
    }
    let config = state.config();
    let mut schemas = Map::new();
    // Named schemas referring to others come first, so those get added in turn.
    for name in [
        "SessionWithUser",
        "TokenAndUser",
        "SignIn",
        "Session",
        "User",
        "Passkey",
        "WebAuthnOptions",
        "Status",
        "StatusMessage",
        "Success",
        "SuccessMessage",
        "Error",
    ] {
        if used.contains(&name) {
            let schema = named_schema(name, config.two_factor.enabled);
            collect_refs(&schema, &mut used);
            schemas.insert(name.into(), schema);
        }
    }
    let tags: Vec<Value> = tags
        .iter()
        .map(|tag| json!({ "name": tag, "description": tag_description(tag) }))
        .collect();
    json!({
        "openapi": "3.1.1",
        "info": {
            "title": format!("{} authentication API", config.lifecycle.app_name),
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Better Auth's HTTP API, served by edgeauth: the endpoints this \
                            server's configuration turns on. Errors are `{\"code\", \
                            \"message\"}`; every endpoint may answer 429 (rate limit) and 503 \
                            (the database is unreachable or too slow).",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": format!("{}{BASE_PATH}", config.base_url.trim_end_matches('/')) }],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": state.cookies().name(SESSION_TOKEN),
                    "description": "The session cookie: the session token and its HMAC",
                },
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The session cookie's signed value, or the raw session token",
                },
            },
        },
    })
}

fn tag_description(tag: &str) -> &'static str {
    match tag {
        "health" => "Liveness",
        "email-password" => "Sign-up, sign-in and sign-out with email and password",
        "sessions" => "Reading, listing and ending sessions",
        "user" => "Profile and password",
        "email-verification" => "Email verification and email change",
        "password-reset" => "Password reset by mailed link",
        "delete-user" => "Account deletion",
        "error-page" => "Where failed links land",
        "jwt" => "JWTs for the session, and the keys to verify them",
        "two-factor" => "Two-factor authentication (EDGEAUTH_TWO_FACTOR=on)",
        "passkey" => "Passkeys (EDGEAUTH_PASSKEY=on)",
        "generic-oauth" => {
            "Sign-in with OAuth 2.0 / OpenID Connect providers (EDGEAUTH_GENERIC_OAUTH)"
        }
        "social" => {
            "Sign-in with Better Auth's built-in social providers (EDGEAUTH_SOCIAL_PROVIDERS)"
        }
        "social-callback" => "Where the built-in social providers send the browser back",
        "accounts" => {
            "The user's sign-in methods and providers' tokens (with a provider configured)"
        }
        "open-api" => "This description",
        _ => "",
    }
}

fn operation(tag: &str, endpoint: &Endpoint, used: &mut Vec<&'static str>) -> Value {
    let mut op = Map::new();
    op.insert("tags".into(), json!([tag]));
    op.insert("summary".into(), json!(endpoint.summary));
    if !endpoint.description.is_empty() {
        op.insert("description".into(), json!(endpoint.description));
    }
    op.insert("operationId".into(), json!(operation_id(endpoint.path)));
    let mut parameters: Vec<Value> = endpoint
        .path_parameters()
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
        })
        .collect();
    parameters.extend(endpoint.query.iter().map(|field| {
        json!({
            "name": field.name,
            "in": "query",
            "required": field.required,
            "description": field.description,
            "schema": field_schema(field),
        })
    }));
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(fields) = endpoint.body {
        op.insert(
            "requestBody".into(),
            json!({
                "required": fields.iter().any(|f| f.required),
                "content": { "application/json": { "schema": object_schema(fields) } },
            }),
        );
    }
    let mut responses = Map::new();
    let common = [
        Reply::error(429, "Too many requests (the rate limit): try again later"),
        Reply::error(
            503,
            "The database is unreachable or too slow: try again (`SERVICE_UNAVAILABLE`)",
        ),
    ];
    for reply in endpoint.replies.iter().chain(common.iter()) {
        responses.insert(reply.status.to_string(), response(reply, used));
    }
    op.insert("responses".into(), Value::Object(responses));
    let security = match endpoint.caller {
        Caller::Anyone => json!([]),
        Caller::MaybeSession => json!([{}, { "sessionCookie": [] }, { "bearer": [] }]),
        Caller::Session => json!([{ "sessionCookie": [] }, { "bearer": [] }]),
    };
    op.insert("security".into(), security);
    Value::Object(op)
}

/// `/sign-up/email` gives `signUpEmail`; `/reset-password/{token}` `resetPasswordToken`.
pub fn operation_id(path: &str) -> String {
    let mut id = String::new();
    let mut upper = false;
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            if upper && !id.is_empty() {
                id.push(c.to_ascii_uppercase());
            } else {
                id.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    id
}

fn response(reply: &Reply, used: &mut Vec<&'static str>) -> Value {
    let mut named = |name: &'static str| {
        if !used.contains(&name) {
            used.push(name);
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    };
    let content = match reply.body {
        Shape::Empty => None,
        Shape::Html => Some(("text/html", json!({ "type": "string" }))),
        Shape::Object(fields) => Some(("application/json", object_schema(fields))),
        Shape::Named(name) => Some(("application/json", named(name))),
        Shape::NamedOrNull(name) => Some((
            "application/json",
            json!({ "oneOf": [named(name), { "type": "null" }] }),
        )),
        Shape::ListOf(name) => Some((
            "application/json",
            json!({ "type": "array", "items": named(name) }),
        )),
    };
    match content {
        Some((media, schema)) => json!({
            "description": reply.description,
            "content": { media: { "schema": schema } },
        }),
        None => json!({ "description": reply.description }),
    }
}

fn field_schema(field: &Field) -> Value {
    let mut schema = match field.kind {
        Type::String => json!({ "type": "string" }),
        Type::Boolean => json!({ "type": "boolean" }),
        Type::Integer => json!({ "type": "integer" }),
        Type::Object => json!({ "type": "object" }),
        Type::Strings => json!({ "type": "array", "items": { "type": "string" } }),
    };
    if let Value::Object(map) = &mut schema {
        if !field.description.is_empty() {
            map.insert("description".into(), json!(field.description));
        }
    }
    schema
}

fn object_schema(fields: &[Field]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.to_string(), field_schema(f)))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// Adds the names `schema` refers to (`#/components/schemas/<name>`) to `used`.
fn collect_refs(schema: &Value, used: &mut Vec<&'static str>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                for name in ["Session", "User"] {
                    if target.ends_with(&format!("/{name}")) && !used.contains(&name) {
                        used.push(name);
                    }
                }
            }
            map.values().for_each(|v| collect_refs(v, used));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, used)),
        _ => {}
    }
}

fn named_schema(name: &str, two_factor: bool) -> Value {
    let date = json!({ "type": "string", "format": "date-time" });
    let user = json!({ "$ref": "#/components/schemas/User" });
    let session = json!({ "$ref": "#/components/schemas/Session" });
    match name {
        "User" => {
            let mut schema = json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string" },
                    "name": { "type": "string" },
                    "email": { "type": "string" },
                    "emailVerified": { "type": "boolean" },
                    "image": { "type": ["string", "null"] },
                    "createdAt": date,
                    "updatedAt": date,
                },
                "required": ["id", "name", "email", "emailVerified", "createdAt", "updatedAt"],
            });
            if two_factor {
                schema["properties"]["twoFactorEnabled"] = json!({ "type": "boolean" });
            }
            schema
        }
        "Session" => json!({
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "token": { "type": "string" },
                "userId": { "type": "string" },
                "expiresAt": date,
                "createdAt": date,
                "updatedAt": date,
                "ipAddress": { "type": ["string", "null"] },
                "userAgent": { "type": ["string", "null"] },
            },
            "required": ["id", "token", "userId", "expiresAt", "createdAt", "updatedAt"],
        }),
        "SessionWithUser" => json!({
            "type": "object",
            "properties": { "session": session, "user": user },
            "required": ["session", "user"],
        }),
        "TokenAndUser" => json!({
            "type": "object",
            "properties": { "token": { "type": ["string", "null"] }, "user": user },
            "required": ["token", "user"],
        }),
        "SignIn" => json!({
            "type": "object",
            "properties": {
                "redirect": { "type": "boolean" },
                "token": { "type": "string" },
                "url": { "type": "string" },
                "user": user,
                "twoFactorRedirect": {
                    "type": "boolean",
                    "description": "Alone, when the second factor is due",
                },
            },
        }),
        "Passkey" => json!({
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "name": { "type": ["string", "null"] },
                "userId": { "type": "string" },
                "credentialID": { "type": "string" },
                "counter": { "type": "integer" },
                "deviceType": { "type": "string" },
                "backedUp": { "type": "boolean" },
                "transports": { "type": ["string", "null"] },
                "createdAt": { "type": ["string", "null"], "format": "date-time" },
                "aaguid": { "type": ["string", "null"] },
            },
            "required": ["id", "userId", "credentialID", "counter"],
        }),
        "WebAuthnOptions" => json!({
            "type": "object",
            "description": "WebAuthn options as @simplewebauthn/server writes them",
            "properties": { "challenge": { "type": "string" } },
            "required": ["challenge"],
        }),
        "Status" => json!({
            "type": "object",
            "properties": { "status": { "type": "boolean", "const": true } },
            "required": ["status"],
        }),
        "StatusMessage" => json!({
            "type": "object",
            "properties": {
                "status": { "type": "boolean", "const": true },
                "message": { "type": "string" },
            },
            "required": ["status", "message"],
        }),
        "Success" => json!({
            "type": "object",
            "properties": { "success": { "type": "boolean", "const": true } },
            "required": ["success"],
        }),
        "SuccessMessage" => json!({
            "type": "object",
            "properties": {
                "success": { "type": "boolean", "const": true },
                "message": { "type": "string" },
            },
            "required": ["success", "message"],
        }),
        // "Error", and anything unnamed: Better Auth's error body.
        _ => json!({
            "type": "object",
            "properties": {
                "code": { "type": "string", "description": "Upper snake case, from the message" },
                "message": { "type": "string" },
            },
            "required": ["message"],
        }),
    }
}

/// The reference page's one style (allowed by its hash in the page's CSP).
const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;\
padding:1rem;color:#1b1b1b;background:#fff}@media(prefers-color-scheme:dark){body{color:#e8e8e8;\
background:#161616}code,.m{background:#2a2a2a}}h2{margin-top:2.5rem;border-bottom:1px solid #8884}\
section{margin:1.25rem 0;padding:.5rem 1rem;border:1px solid #8884;border-radius:6px}\
h3{font-size:1rem;margin:.25rem 0}.m{font:600 .8rem monospace;padding:.1rem .4rem;\
border-radius:4px;background:#eee}table{border-collapse:collapse;margin:.5rem 0}\
td,th{text-align:left;padding:.15rem .75rem .15rem 0;vertical-align:top}code{font-size:.9em}";

/// `sha256-<base64>` of [`STYLE`], for the CSP.
static STYLE_HASH: LazyLock<String> =
    LazyLock::new(|| format!("sha256-{}", Base64::encode_string(&Sha256::digest(STYLE))));

const TEMPLATE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ style|safe }}</style></head>
<body><main>
<h1>{{ title }}</h1>
<p>{{ description }}</p>
<p>Base URL: <code>{{ server }}</code>. The machine-readable description:
<a href="open-api/generate-schema"><code>open-api/generate-schema</code></a> (OpenAPI {{ version }}).</p>
{% for tag in tags %}
<h2 id="{{ tag.name }}">{{ tag.name }}</h2><p>{{ tag.description }}</p>
{% for op in tag.operations %}
<section id="{{ op.id }}">
<h3><span class="m">{{ op.method }}</span> <code>{{ op.path }}</code></h3>
<p>{{ op.summary }}{% if op.auth %} <em>({{ op.auth }})</em>{% endif %}</p>
{% if op.description %}<p>{{ op.description }}</p>{% endif %}
{% if op.parameters %}<table><tr><th>parameter</th><th>in</th><th></th><th></th></tr>
{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code></td><td>{{ p.in }}</td><td>{{ p.required }}</td><td>{{ p.description }}</td></tr>
{% endfor %}</table>{% endif %}
{% if op.body %}<table><tr><th>body (JSON)</th><th>type</th><th></th><th></th></tr>
{% for f in op.body %}<tr><td><code>{{ f.name }}</code></td><td>{{ f.type }}</td><td>{{ f.required }}</td><td>{{ f.description }}</td></tr>
{% endfor %}</table>{% endif %}
<table><tr><th>status</th><th>answer</th></tr>
{% for r in op.responses %}<tr><td>{{ r.status }}</td><td>{{ r.description }}{% if r.schema %} <code>{{ r.schema }}</code>{% endif %}</td></tr>
{% endfor %}</table>
</section>
{% endfor %}{% endfor %}
</main></body></html>
"#;

/// The reference page for `document` (escaped by minijinja: the template's name ends in
/// `.html`).
pub fn render(document: &Value) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.add_template("reference.html", TEMPLATE)?;
    let mut tags: Vec<Value> = Vec::new();
    for tag in document["tags"].as_array().into_iter().flatten() {
        let name = tag["name"].as_str().unwrap_or_default();
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                if op["tags"][0].as_str() != Some(name) {
                    continue;
                }
                operations.push(page_operation(path, method, op));
            }
        }
        tags.push(json!({
            "name": name,
            "description": tag["description"],
            "operations": operations,
        }));
    }
    let context = json!({
        "title": document["info"]["title"],
        "description": document["info"]["description"],
        "version": document["openapi"],
        "server": document["servers"][0]["url"],
        "style": STYLE,
        "tags": tags,
    });
    env.get_template("reference.html")?
        .render(minijinja::Value::from(minijinja::value::Serde(&context)))
}

fn page_operation(path: &str, method: &str, op: &Value) -> Value {
    let required = |r: &Value| {
        if r.as_bool() == Some(true) {
            "required"
        } else {
            ""
        }
    };
    let parameters: Vec<Value> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({
                "name": p["name"], "in": p["in"], "required": required(&p["required"]),
                "description": p["description"],
            })
        })
        .collect();
    let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let required_fields: Vec<&str> = body_schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let body: Vec<Value> = body_schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            json!({
                "name": name,
                "type": schema["type"],
                "required": if required_fields.contains(&name.as_str()) { "required" } else { "" },
                "description": schema["description"],
            })
        })
        .collect();
    let responses: Vec<Value> = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let schema = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|m| &m["schema"]);
            let name = schema.and_then(schema_name);
            json!({ "status": status, "description": r["description"], "schema": name })
        })
        .collect();
    let auth = match op["security"].as_array().map(Vec::len) {
        Some(0) | None => "",
        Some(2) => "needs a session",
        Some(_) => "a session, when sent, changes the answer",
    };
    json!({
        "id": op["operationId"],
        "method": method.to_ascii_uppercase(),
        "path": path,
        "summary": op["summary"],
        "description": op["description"],
        "auth": auth,
        "parameters": parameters,
        "body": body,
        "responses": responses,
    })
}

/// A short name for a response schema: a named schema's name, `Name[]`, `Name | null`.
fn schema_name(schema: &Value) -> Option<String> {
    let name = |s: &Value| {
        s["$ref"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .map(str::to_string)
    };
    if let Some(n) = name(schema) {
        return Some(n);
    }
    if let Some(n) = name(&schema["items"]) {
        return Some(format!("{n}[]"));
    }
    schema["oneOf"][0]
        .as_object()
        .and_then(|_| name(&schema["oneOf"][0]))
        .map(|n| format!("{n} | null"))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::app::test_app;

    /// Every feature on: two-factor, passkeys, the edge's liveness endpoint, deletion, an
    /// OAuth provider.
    const EVERYTHING_ON: &[&str] = &[
        "--rate-limit",
        "off",
        "--two-factor",
        "on",
        "--passkey",
        "on",
        "--passkey-rp-id",
        "localhost",
        "--passkey-origins",
        "http://localhost:3000",
        "--edge-secret",
        "edge-secret-edge-secret-edge-secret-0123",
        "--delete-user",
        "on",
        "--generic-oauth",
        r#"[{"providerId":"corp","clientId":"c","clientSecret":"s","authorizationUrl":"https://idp.example/authorize","tokenUrl":"https://idp.example/token","userInfoUrl":"https://idp.example/userinfo"}]"#,
        "--social-providers",
        r#"{"github":{"clientId":"c","clientSecret":"s"}}"#,
    ];

    /// The router's fallbacks, marked so a test can tell "no such route" (404) and "no such
    /// method on this route" (405) from what a handler answers.
    const MISS: &str = "x-test-route-miss";

    async fn status_of(app: &axum::Router, method: &str, path: &str) -> (StatusCode, bool) {
        let request = Request::builder()
            .method(method)
            .uri(format!("{BASE_PATH}{path}"))
            .header("origin", "http://localhost:3000")
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        (response.status(), response.headers().contains_key(MISS))
    }

    fn sample(path: &str) -> String {
        path.split('/')
            .map(|s| if s.starts_with('{') { "sample" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The document and the router agree, with every feature on: each described endpoint
    /// is routed for its method, and for no other; the document has an operation for each
    /// one that is not hidden, and no other; and paths are unique.
    #[tokio::test]
    async fn the_document_names_exactly_the_routes_the_router_has() {
        let (state, _clock, path) = test_app::state(EVERYTHING_ON).await;
        let marker = || {
            let mut response = StatusCode::NOT_FOUND.into_response();
            response
                .headers_mut()
                .insert(MISS, HeaderValue::from_static("1"));
            response
        };
        let app = crate::app::router(state.clone())
            .fallback(move || async move { marker() })
            .method_not_allowed_fallback(|| async {
                let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
                response
                    .headers_mut()
                    .insert(MISS, HeaderValue::from_static("1"));
                response
            });
        let served = served_endpoints(&state);
        assert!(served.len() >= 40, "{} endpoints", served.len());
        for feature in [
            "two-factor",
            "passkey",
            "edge",
            "delete-user",
            "open-api",
            "generic-oauth",
            "social",
            "social-callback",
            "accounts",
        ] {
            assert!(
                served.iter().any(|(tag, _)| *tag == feature),
                "{feature} serves nothing"
            );
        }
        let mut paths: Vec<_> = served
            .iter()
            .map(|(_, e)| (e.method.upper(), e.path))
            .collect();
        paths.sort_unstable();
        let unique = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), unique, "a path is described twice");

        for (_, endpoint) in &served {
            let path = sample(endpoint.path);
            let (status, missed) = status_of(&app, endpoint.method.upper(), &path).await;
            assert!(
                !missed,
                "{} {} is described but not routed ({status})",
                endpoint.method.upper(),
                endpoint.path
            );
            // Every other method is refused by the router itself, unless the handler takes
            // any method (the liveness endpoint, which answers all as an unknown route).
            for other in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                if other == endpoint.method.upper()
                    || served
                        .iter()
                        .any(|(_, e)| e.path == endpoint.path && e.method.upper() == other)
                {
                    continue;
                }
                let (status, missed) = status_of(&app, other, &path).await;
                if endpoint.path == super::super::edge::SESSION_ROUTE {
                    assert_eq!(status, StatusCode::NOT_FOUND);
                    continue;
                }
                assert!(
                    missed && status == StatusCode::METHOD_NOT_ALLOWED,
                    "{other} {} is routed ({status}) but not described",
                    endpoint.path
                );
            }
        }

        let document = document(&state);
        let documented: Vec<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(|m| (m.to_uppercase(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut expected: Vec<(String, String)> = served
            .iter()
            .filter(|(_, e)| !e.hidden)
            .map(|(_, e)| (e.method.upper().to_string(), e.path.to_string()))
            .collect();
        let mut documented_sorted = documented.clone();
        documented_sorted.sort();
        expected.sort();
        assert_eq!(documented_sorted, expected);
        for (method, path) in &documented {
            let (_, missed) = status_of(&app, method, &sample(path)).await;
            assert!(
                !missed,
                "the document names {method} {path}, which is not routed"
            );
        }
        // The liveness endpoint is described, routed and hidden.
        assert!(served
            .iter()
            .any(|(_, e)| e.hidden && e.path == super::super::edge::SESSION_ROUTE));
        assert!(document["paths"]
            .get(super::super::edge::SESSION_ROUTE)
            .is_none());
        // Unique operation ids.
        let mut ids: Vec<String> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap().to_string())
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        let _ = std::fs::remove_file(path);
    }

    /// With the defaults, the optional features are absent from the document, and the
    /// pages' routes (outside `/api/auth`) are never in it.
    #[tokio::test]
    async fn the_document_follows_the_configuration() {
        let (state, _clock, path) = test_app::state(&["--rate-limit", "off"]).await;
        let document = document(&state);
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.contains_key("/sign-in/email"));
        assert!(paths.contains_key("/open-api/generate-schema"));
        assert!(!paths.keys().any(|p| p.starts_with("/two-factor")));
        assert!(!paths.keys().any(|p| p.starts_with("/passkey")));
        assert!(!paths.contains_key("/edge/session/{sid}"));
        assert!(document["components"]["schemas"].get("Passkey").is_none());
        assert_eq!(
            paths["/sign-up/email"]["post"]["requestBody"]["content"]["application/json"]["schema"]
                ["required"],
            json!(["name", "email", "password"])
        );
        let _ = std::fs::remove_file(path);
    }

    /// Both endpoints answer over HTTP; the page is self-contained and within its CSP.
    #[tokio::test]
    async fn the_schema_and_the_reference_page_are_served() {
        let (app, _clock, path) = test_app::app(&["--rate-limit", "off"]).await;
        let get = |uri: &str| {
            Request::builder()
                .uri(format!("{BASE_PATH}{uri}"))
                .body(Body::empty())
                .unwrap()
        };
        let response = app
            .clone()
            .oneshot(get("/open-api/generate-schema"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(document["openapi"], "3.1.1");

        let response = app.oneshot(get("/reference")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(html.contains("Sign in with email and password"), "{html}");
        assert!(html.contains("sign-in&#x2f;email"), "{html}");
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://cdn") && !html.contains("https://"));
        // The style's hash is the one the CSP allows.
        let style = html
            .split("<style>")
            .nth(1)
            .and_then(|s| s.split("</style>").next())
            .unwrap();
        let hash = format!("sha256-{}", Base64::encode_string(&Sha256::digest(style)));
        assert!(csp.contains(&hash), "{csp}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn operation_ids_are_camel_case() {
        assert_eq!(operation_id("/sign-up/email"), "signUpEmail");
        assert_eq!(
            operation_id("/reset-password/{token}"),
            "resetPasswordToken"
        );
        assert_eq!(operation_id("/ok"), "ok");
    }
}
