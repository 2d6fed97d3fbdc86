//! `GET /error?error=`: where a mailed link whose flow failed lands when it carried no
//! usable callback (Better Auth's error page).

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::endpoint::{ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type};
use super::Feature;
use crate::app::AppState;

/// The error page.
pub const FEATURE: Feature = Feature {
    name: "error-page",
    routes,
    origin_checked: true,
    rate_limits: &[],
};

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new().route(&ERROR, get(error_page))
}

static ERROR: Endpoint = Endpoint {
    query: &[Field::optional(
        "error",
        Type::String,
        "The error code to show",
    )],
    ..Endpoint::new(
        Method::Get,
        "/error",
        "Where a mailed link without a usable callback lands",
        Caller::Anyone,
        &[Reply::ok("A page naming the error code", Shape::Html)],
    )
};

/// `GET /error?error=`: where a link without a usable callback ends. A minimal page naming
/// the error code (`[A-Za-z0-9_'-]` only, else `UNKNOWN`, as Better Auth's page).
pub async fn error_page(Query(query): Query<HashMap<String, String>>) -> Response {
    let code = query
        .get("error")
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 64
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_'-".contains(ch))
        })
        .map_or("UNKNOWN", String::as_str);
    let code = code.replace('\'', "&#39;");
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Error</title></head>\
         <body style=\"font-family: sans-serif\"><h1>Something went wrong</h1>\
         <p>Error code: <code>{code}</code></p><p><a href=\"/\">Back</a></p></body></html>"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}
