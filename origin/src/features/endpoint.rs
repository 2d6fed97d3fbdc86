//! What a feature says about each of its endpoints, next to its routes: the method, the
//! path, a summary, who may call it, its query and JSON body fields and its answers. The
//! API description (`GET /api/auth/open-api/generate-schema`, [`super::open_api`]) is made
//! from these and nothing else.
//!
//! A feature registers a route only through [`ApiRoutes::route`], which takes the
//! endpoint's description with its handler: the path comes from the description, so the
//! router and the document cannot name different paths, and a route without a description
//! cannot be written. That each handler answers exactly the method its description names
//! is checked by a unit test against the real router with every feature on
//! (`open_api::tests`).

use axum::routing::MethodRouter;
use axum::Router;

use crate::app::AppState;

/// An HTTP method an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (and `HEAD`, which axum answers with every `GET` route).
    Get,
    /// `POST`.
    Post,
}

impl Method {
    /// Lower case, as OpenAPI's path items name operations.
    pub fn lower(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
        }
    }

    /// Upper case, as on the wire.
    pub fn upper(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Anyone.
    Anyone,
    /// Anyone; a session, when presented, changes the answer.
    MaybeSession,
    /// A session (the session cookie or `Authorization: Bearer`); without one, 401.
    Session,
}

/// A JSON value's type, as far as the document tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A whole number.
    Integer,
    /// A JSON object.
    Object,
    /// An array of strings.
    Strings,
}

/// A query parameter or a member of a JSON body or answer.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: Type,
    /// Whether it must be present.
    pub required: bool,
    /// What it means.
    pub description: &'static str,
}

impl Field {
    /// A field that must be present.
    pub const fn required(name: &'static str, kind: Type, description: &'static str) -> Self {
        Field {
            name,
            kind,
            required: true,
            description,
        }
    }

    /// A field that may be left out.
    pub const fn optional(name: &'static str, kind: Type, description: &'static str) -> Self {
        Field {
            name,
            kind,
            required: false,
            description,
        }
    }
}

/// The body of an answer.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// No body.
    Empty,
    /// A JSON object with these members.
    Object(&'static [Field]),
    /// One of the document's named schemas (`components.schemas`).
    Named(&'static str),
    /// A named schema, or JSON `null`.
    NamedOrNull(&'static str),
    /// An array of a named schema.
    ListOf(&'static str),
    /// An HTML page.
    Html,
}

/// One answer an endpoint gives.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// When it is given.
    pub description: &'static str,
    /// Its body.
    pub body: Shape,
}

impl Reply {
    /// A 200 with `body`.
    pub const fn ok(description: &'static str, body: Shape) -> Self {
        Reply {
            status: 200,
            description,
            body,
        }
    }

    /// A Better Auth error answer (`{"code", "message"}`).
    pub const fn error(status: u16, description: &'static str) -> Self {
        Reply {
            status,
            description,
            body: Shape::Named("Error"),
        }
    }

    /// A redirect (`Location`), without a body.
    pub const fn redirect(status: u16, description: &'static str) -> Self {
        Reply {
            status,
            description,
            body: Shape::Empty,
        }
    }
}

/// One endpoint under `/api/auth`.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The method it answers.
    pub method: Method,
    /// Its path under `/api/auth`, with `{name}` for a path parameter (axum's syntax, and
    /// OpenAPI's).
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// More, when a line is not enough (may be empty).
    pub description: &'static str,
    /// Who may call it.
    pub caller: Caller,
    /// Its query parameters.
    pub query: &'static [Field],
    /// The members of its JSON body (also accepted as a form, where the handler says so),
    /// or `None` for no body.
    pub body: Option<&'static [Field]>,
    /// Its answers, besides the 429 and 503 every endpoint may give.
    pub replies: &'static [Reply],
    /// Left out of the published document (the endpoint still needs its description):
    /// the edge's liveness endpoint, which answers as an unknown route to anyone but the
    /// edge.
    pub hidden: bool,
}

impl Endpoint {
    /// An endpoint with no query, no body, not hidden, answering `replies`; the rest is
    /// set with struct update syntax.
    pub const fn new(
        method: Method,
        path: &'static str,
        summary: &'static str,
        caller: Caller,
        replies: &'static [Reply],
    ) -> Self {
        Endpoint {
            method,
            path,
            summary,
            description: "",
            caller,
            query: &[],
            body: None,
            replies,
            hidden: false,
        }
    }

    /// The names of its path parameters (`{token}` gives `token`).
    pub fn path_parameters(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
    }
}

/// A feature's routes, each registered with its endpoint's description.
#[derive(Default)]
pub struct ApiRoutes {
    router: Router<AppState>,
    endpoints: Vec<&'static Endpoint>,
}

impl ApiRoutes {
    /// No routes (a feature that configuration turns off).
    pub fn new() -> Self {
        ApiRoutes::default()
    }

    /// Registers `handler` at `endpoint.path`, described by `endpoint`.
    pub fn route(mut self, endpoint: &'static Endpoint, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(endpoint.path, handler);
        self.endpoints.push(endpoint);
        self
    }

    /// The router and the descriptions of its routes.
    pub fn into_parts(self) -> (Router<AppState>, Vec<&'static Endpoint>) {
        (self.router, self.endpoints)
    }

    /// The descriptions of the routes.
    pub fn endpoints(&self) -> &[&'static Endpoint] {
        &self.endpoints
    }
}

/// 400: a malformed body or query (Better Auth's `VALIDATION_ERROR` and the like).
pub const INVALID_INPUT: Reply = Reply::error(400, "The body or query is invalid");

/// 401 without a body: the endpoint needs a session and none was presented.
pub const NO_SESSION: Reply = Reply {
    status: 401,
    description: "No session: sign in first",
    body: Shape::Empty,
};

/// 403: the CSRF origin check, or a callback URL outside the trusted origins.
pub const UNTRUSTED_ORIGIN: Reply = Reply::error(
    403,
    "The request's Origin, or a callback URL it names, is not trusted",
);
