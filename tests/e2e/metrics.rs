//! Observability as an operator sets it up: the Prometheus metrics on their own listener
//! (`EDGEAUTH_METRICS_LISTEN`), checked by `promtool`, and the JSON log format
//! (`EDGEAUTH_LOG_FORMAT=json`), against the real binary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeauth_tests::fixtures::{
    browser, email, origin_env, reset_token, sqlite_url, start_origin_with_mail, totp_key,
    totp_step_now, BASE_URL, MAIL_WAIT, PASSWORD,
};
use edgeauth_tests::{edgeauth_bin, free_port, AuthClient, Origin, SmtpServer, ACCESS_LOG_MESSAGE};
use serde_json::{json, Value};

/// A scrape of `/metrics`.
struct Exposition(String);

impl Exposition {
    /// Every sample: (name, labels) and value.
    fn samples(&self) -> Vec<(String, BTreeMap<String, String>, f64)> {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
                let Some((name, labels)) = series.split_once('{') else {
                    return (series.to_string(), BTreeMap::new(), value);
                };
                (
                    name.to_string(),
                    parse_labels(labels.trim_end_matches('}')),
                    value,
                )
            })
            .collect()
    }

    /// The value of the series `name` with exactly `labels` (0 when absent: a series is
    /// exported once it has moved, or from the start when its labels are known).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples()
            .into_iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0.0, |(_, _, v)| v)
    }

    /// Whether a sample of `name` with exactly `labels` is exported.
    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples()
            .iter()
            .any(|(n, l, _)| n == name && *l == wanted)
    }
}

/// `k="v",k2="v2"` (with the format's escapes) as a map.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    labels
}

async fn scrape(metrics_url: &str) -> Exposition {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{metrics_url}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    Exposition(response.text().await.unwrap())
}

/// `promtool check metrics` on `text`: the Prometheus project's own parser and linter. Fails
/// (never skips) without promtool: `bash scripts/setup.sh` installs it (Debian's
/// `prometheus` package).
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): `bash scripts/setup.sh` installs it \
                 (Debian package prometheus)"
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A browser on the app whose client address (the trusted header) is 192.0.2.`n`: each step
/// below gets its own rate-limit budget unless it means to share one.
fn client(url: &str, n: u8) -> AuthClient {
    let mut client = browser(url);
    client
        .headers
        .insert("x-client-ip", format!("192.0.2.{n}").parse().unwrap());
    client
}

/// Every counter the traffic moves, by the amount it moves it, read against a scrape taken
/// before; the exposition passes promtool, is served on its own listener only, and carries
/// no address, user id or raw path.
#[tokio::test]
async fn metrics_count_the_traffic_and_pass_promtool() {
    let smtp = SmtpServer::start().await.unwrap();
    let metrics_port = free_port().unwrap();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let origin = start_origin_with_mail(
        &sqlite_url("metrics"),
        &smtp,
        &[
            ("EDGEAUTH_METRICS_LISTEN", &metrics_listen),
            ("EDGEAUTH_RATE_LIMIT", "on"),
            ("EDGEAUTH_TRUSTED_IP_HEADER", "x-client-ip"),
            ("EDGEAUTH_SIGNIN_FAILURE_LIMIT", "2"),
        ],
    );
    let url = origin.url.as_str();
    let metrics_url = format!("http://{metrics_listen}");
    let before = scrape(&metrics_url).await;
    promtool_check(&before.0);

    let alice = email("metrics-alice");
    let nobody = email("metrics-nobody");
    let locked = email("metrics-locked");

    // Sign-ups: one created, one taken, one refused by the password policy.
    let created = client(url, 1).sign_up("A", &alice, PASSWORD).await.unwrap();
    assert_eq!(created.status, 200, "{}", created.text);
    let alice_id = created.json()["user"]["id"].as_str().unwrap().to_string();
    let taken = client(url, 2).sign_up("A", &alice, PASSWORD).await.unwrap();
    assert_eq!(taken.status, 422, "{}", taken.text);
    let weak = client(url, 3)
        .sign_up("B", &email("metrics-weak"), "short")
        .await
        .unwrap();
    assert_eq!(weak.status, 400, "{}", weak.text);

    // Sign-ins: right, wrong, unknown address.
    let mut signed_in = client(url, 4);
    let reply = signed_in.sign_in(&alice, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let token = reply.json()["token"].as_str().unwrap().to_string();
    let reply = client(url, 5)
        .sign_in(&alice, "wrong password")
        .await
        .unwrap();
    assert_eq!(reply.status, 401, "{}", reply.text);
    let reply = client(url, 6).sign_in(&nobody, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 401, "{}", reply.text);

    // The account limit (2 failures): two refused, then locked, each from its own address.
    for n in [7, 8] {
        let reply = client(url, n).sign_in(&locked, PASSWORD).await.unwrap();
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    let reply = client(url, 9).sign_in(&locked, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 429, "{}", reply.text);

    // The per-address limit (3 per 10 s) on sign-in and on sign-up: three malformed
    // requests (400, no attempt counted), then refused.
    for (n, path) in [
        (10, "/api/auth/sign-in/email"),
        (11, "/api/auth/sign-up/email"),
    ] {
        let mut limited = client(url, n);
        let body = json!({ "email": "not-an-address", "password": PASSWORD, "name": "L" });
        for _ in 0..3 {
            let reply = limited.post(path, &body).await.unwrap();
            assert_eq!(reply.status, 400, "{}", reply.text);
        }
        let reply = limited.post(path, &body).await.unwrap();
        assert_eq!(reply.status, 429, "{}", reply.text);
    }

    // Sessions.
    for _ in 0..2 {
        let reply = signed_in.get("/api/auth/get-session").await.unwrap();
        assert_eq!(reply.json()["user"]["email"], alice.as_str());
    }

    // Paths no route matches, /metrics on the main listener among them.
    let secret_path = "/api/auth/nope-metrics-raw-path";
    for path in [secret_path, "/metrics"] {
        let reply = client(url, 12).get(path).await.unwrap();
        assert_eq!(reply.status, 404, "{path}");
    }

    // A reset mail, whose first delivery attempt the server refuses (451): one retry.
    smtp.fail_next(1);
    let reply = client(url, 13)
        .post(
            "/api/auth/request-password-reset",
            &json!({ "email": alice }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let link = smtp.wait_for(&alice, 1, MAIL_WAIT).await.unwrap()[0]
        .link("/reset-password/")
        .unwrap();
    // Its link: counted under the route's template, the token nowhere.
    let link_path = link.strip_prefix(BASE_URL).unwrap();
    let reset_token = reset_token(&link);
    let reply = client(url, 14).get(link_path).await.unwrap();
    assert!(reply.status.is_redirection(), "{}", reply.status);
    let reply_status_of_reset = reply.status.as_str().to_string();
    let mail = [("kind", "reset-password")];
    let waiting = Instant::now();
    let after = loop {
        let after = scrape(&metrics_url).await;
        if after.value("edgeauth_mail_sent_total", &mail)
            > before.value("edgeauth_mail_sent_total", &mail)
        {
            break after;
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(5),
            "the delivered mail was not counted as sent:\n{}",
            after.0
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    promtool_check(&after.0);

    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let outcomes = |name: &str, expected: &[(&str, f64)]| {
        for (outcome, n) in expected {
            assert_eq!(
                delta(name, &[("outcome", outcome)]),
                *n,
                "{name}{{outcome={outcome}}}\n{}",
                after.0
            );
        }
    };
    outcomes(
        "edgeauth_sign_up_total",
        &[
            ("success", 1.0),
            ("already_exists", 1.0),
            ("rejected_password", 1.0),
            ("rate_limited", 1.0),
        ],
    );
    outcomes(
        "edgeauth_sign_in_total",
        &[
            ("success", 1.0),
            ("wrong_password", 1.0),
            ("unknown_address", 3.0),
            ("locked", 1.0),
            ("rate_limited", 1.0),
            ("second_factor_required", 0.0),
            ("email_not_verified", 0.0),
        ],
    );
    let refusals = "edgeauth_rate_limit_refusals_total";
    assert_eq!(delta(refusals, &[("rule", "signin-failures")]), 1.0);
    assert_eq!(delta(refusals, &[("rule", "/sign-in")]), 1.0);
    assert_eq!(delta(refusals, &[("rule", "/sign-up")]), 1.0);
    assert_eq!(delta(refusals, &[("rule", "default")]), 0.0);

    // HTTP requests by route template, method and status, with their latency.
    fn http<'a>(route: &'a str, method: &'a str, status: &'a str) -> [(&'a str, &'a str); 3] {
        [("route", route), ("method", method), ("status", status)]
    }
    let requests = "edgeauth_http_requests_total";
    let session = http("/api/auth/get-session", "GET", "200");
    assert_eq!(delta(requests, &session), 2.0, "{}", after.0);
    assert_eq!(
        delta("edgeauth_http_request_duration_seconds_count", &session),
        2.0
    );
    assert!(after.has(
        "edgeauth_http_request_duration_seconds_bucket",
        &[
            ("route", "/api/auth/get-session"),
            ("method", "GET"),
            ("status", "200"),
            ("le", "+Inf")
        ]
    ));
    let sign_in = |status| http("/api/auth/sign-in/email", "POST", status);
    assert_eq!(delta(requests, &sign_in("200")), 1.0);
    assert_eq!(delta(requests, &sign_in("401")), 4.0);
    assert_eq!(delta(requests, &sign_in("429")), 2.0);
    assert_eq!(delta(requests, &sign_in("400")), 3.0);
    let sign_up = |status| http("/api/auth/sign-up/email", "POST", status);
    assert_eq!(delta(requests, &sign_up("200")), 1.0);
    assert_eq!(delta(requests, &sign_up("422")), 1.0);
    assert_eq!(delta(requests, &sign_up("429")), 1.0);
    assert_eq!(delta(requests, &http("unmatched", "GET", "404")), 2.0);
    let reset_route = "/api/auth/reset-password/{token}";
    let status = reply_status_of_reset.as_str();
    assert_eq!(delta(requests, &http(reset_route, "GET", status)), 1.0);
    assert_eq!(after.value("edgeauth_http_requests_in_flight", &[]), 0.0);

    // Hashing: two sign-ups, then one verification per sign-in that got past the limits
    // (right, wrong, unknown, and the locked account's two failures).
    for name in [
        "edgeauth_password_hash_wait_seconds_count",
        "edgeauth_password_hash_duration_seconds_count",
    ] {
        assert_eq!(delta(name, &[]), 7.0, "{name}");
    }
    assert_eq!(after.value("edgeauth_password_hash_slots", &[]), 2.0);
    assert_eq!(after.value("edgeauth_password_hash_busy", &[]), 0.0);
    assert_eq!(after.value("edgeauth_password_hash_queued", &[]), 0.0);

    // The database pool.
    assert!(delta("edgeauth_db_acquire_wait_seconds_count", &[]) >= 10.0);
    assert_eq!(delta("edgeauth_db_acquire_timeouts_total", &[]), 0.0);
    assert!(after.has("edgeauth_db_connections", &[("state", "in_use")]));
    assert!(after.value("edgeauth_db_connections", &[("state", "idle")]) >= 1.0);
    assert_eq!(after.value("edgeauth_db_connections_max", &[]), 8.0);
    assert_eq!(after.value("edgeauth_db_unreachable", &[]), 0.0);

    // Mail: queued, retried once, sent, nothing pending.
    assert_eq!(delta("edgeauth_mail_queued_total", &mail), 1.0);
    assert_eq!(delta("edgeauth_mail_retries_total", &mail), 1.0);
    assert_eq!(delta("edgeauth_mail_sent_total", &mail), 1.0);
    assert_eq!(delta("edgeauth_mail_failed_total", &mail), 0.0);
    assert_eq!(delta("edgeauth_mail_dropped_total", &mail), 0.0);
    assert_eq!(after.value("edgeauth_mail_pending", &[]), 0.0);

    // The signing key (created at first use, when get-session minted a JWT).
    let age = after.value("edgeauth_signing_key_age_seconds", &[]);
    assert!(after.has("edgeauth_signing_key_age_seconds", &[]));
    assert!((0.0..120.0).contains(&age), "{age}");
    assert_eq!(
        after.value("edgeauth_build_info", &[("version", "0.1.0")]),
        1.0
    );

    // Nothing about users or what clients sent.
    for private in [
        alice.as_str(),
        nobody.as_str(),
        locked.as_str(),
        alice_id.as_str(),
        token.as_str(),
        secret_path,
        reset_token.as_str(),
        "192.0.2.",
        "not-an-address",
    ] {
        assert!(!after.0.contains(private), "{private} in the exposition");
    }
    assert!(!after.0.contains('@'), "an address in the exposition");
}

/// A password sign-in of a user with two-factor on counts as `second_factor_required`, not
/// as a success: no session is issued until the second step.
#[tokio::test]
async fn second_factor_sign_ins_are_counted() {
    let smtp = SmtpServer::start().await.unwrap();
    let metrics_listen = format!("127.0.0.1:{}", free_port().unwrap());
    let origin = start_origin_with_mail(
        &sqlite_url("metrics-2fa"),
        &smtp,
        &[
            ("EDGEAUTH_TWO_FACTOR", "on"),
            ("EDGEAUTH_METRICS_LISTEN", &metrics_listen),
        ],
    );
    let url = origin.url.as_str();
    let address = email("metrics-2fa");
    let mut enrolling = browser(url);
    let reply = enrolling.sign_up("T", &address, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = enrolling
        .post(
            "/api/auth/two-factor/enable",
            &json!({ "password": PASSWORD }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let secret = totp_key(reply.json()["totpURI"].as_str().unwrap());
    let code = edgeauth_origin::auth::two_factor::totp::code_at(&secret, totp_step_now());
    let reply = enrolling
        .post("/api/auth/two-factor/verify-totp", &json!({ "code": code }))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);

    let metrics_url = format!("http://{metrics_listen}");
    let before = scrape(&metrics_url).await;
    let reply = browser(url).sign_in(&address, PASSWORD).await.unwrap();
    assert_eq!(reply.json(), json!({ "twoFactorRedirect": true }));
    let after = scrape(&metrics_url).await;
    let delta = |outcome| {
        let labels = [("outcome", outcome)];
        after.value("edgeauth_sign_in_total", &labels)
            - before.value("edgeauth_sign_in_total", &labels)
    };
    assert_eq!(delta("second_factor_required"), 1.0, "{}", after.0);
    assert_eq!(delta("success"), 0.0);
    promtool_check(&after.0);
}

/// Metrics are off unless configured; invalid settings stop start-up naming the variable,
/// as does a metrics address that cannot be listened on.
#[tokio::test]
async fn metrics_and_log_settings_are_checked_at_start() {
    let origin = Origin::start(&[]).unwrap();
    let reply = browser(&origin.url).get("/metrics").await.unwrap();
    assert_eq!(reply.status, 404);
    assert!(!origin.process.log().contains("metrics listening"));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for (name, value, code) in [
        ("EDGEAUTH_METRICS_LISTEN", "localhost:9464", 2),
        ("EDGEAUTH_METRICS_LISTEN", "9464", 2),
        ("EDGEAUTH_METRICS_LISTEN", "", 2),
        ("EDGEAUTH_LOG_FORMAT", "xml", 2),
        ("EDGEAUTH_LOG_FORMAT", "JSON", 2),
        ("EDGEAUTH_METRICS_LISTEN", taken.as_str(), 1),
    ] {
        let out = Command::new(edgeauth_bin().unwrap())
            .arg("serve")
            .env("DATABASE_URL", sqlite_url("metrics-settings"))
            .env(
                "EDGEAUTH_LISTEN",
                format!("127.0.0.1:{}", free_port().unwrap()),
            )
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}={value}: {stderr}");
        assert!(stderr.contains(name), "{name}={value}: {stderr}");
    }
}

/// The fields of a text access-log line: the request span's (`id`, `method`, `path`) and
/// the event's (`latency`, `status`), with their values.
fn text_fields(line: &str) -> BTreeMap<String, String> {
    let span = line
        .split_once("request{")
        .and_then(|(_, rest)| rest.split_once("}:"))
        .map(|(span, _)| span)
        .unwrap_or_else(|| panic!("no request span in {line}"));
    let event = line
        .split_once(ACCESS_LOG_MESSAGE)
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no message in {line}"));
    let mut fields = BTreeMap::new();
    for part in [span, event] {
        // `key=value` words; a value may go on after a space (`latency=0 ms`).
        let mut last: Option<String> = None;
        for word in part.split_whitespace() {
            match word.split_once('=') {
                Some((key, value)) => {
                    fields.insert(key.to_string(), value.to_string());
                    last = Some(key.to_string());
                }
                None => {
                    if let Some(value) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                        value.push(' ');
                        value.push_str(word);
                    }
                }
            }
        }
    }
    fields
}

/// The fields of a JSON access-log line, in the same shape: the span's beside the event's.
fn json_fields(line: &Value) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let object = line.as_object().unwrap();
    for (key, value) in object {
        if ["timestamp", "level", "target", "message", "span"].contains(&key.as_str()) {
            continue;
        }
        fields.insert(key.clone(), plain(value));
    }
    for (key, value) in line["span"].as_object().unwrap() {
        if key != "name" {
            fields.insert(key.clone(), plain(value));
        }
    }
    fields
}

fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// `EDGEAUTH_LOG_FORMAT=json`: every line the origin writes is one JSON object, and the
/// access-log line carries the same fields as in the default text format.
#[tokio::test]
async fn json_logs_carry_the_text_logs_fields() {
    let mut lines = BTreeMap::new();
    for format in ["text", "json"] {
        let env = origin_env(&sqlite_url(&format!("logs-{format}")));
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.push(("EDGEAUTH_LOG_FORMAT", format));
        let mut origin = Origin::start(&env).unwrap();
        let mut client = browser(&origin.url);
        client
            .headers
            .insert("x-request-id", "log-format-test".parse().unwrap());
        let reply = client
            .sign_up("L", &email(&format!("logs-{format}")), PASSWORD)
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text);
        let status = origin.process.terminate(Duration::from_secs(10)).unwrap();
        assert!(status.success(), "{}", origin.process.log_tail());
        let log = origin.process.log();
        assert!(log.lines().count() >= 5, "{log}");
        let access = log
            .lines()
            .find(|line| line.contains(ACCESS_LOG_MESSAGE) && line.contains("sign-up/email"))
            .unwrap_or_else(|| panic!("no access-log line:\n{log}"))
            .to_string();
        if format == "json" {
            for line in log.lines() {
                let parsed: Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(parsed.is_object(), "{line}");
                for key in ["timestamp", "level", "target", "message"] {
                    assert!(parsed[key].is_string(), "no {key}: {line}");
                }
            }
            let parsed: Value = serde_json::from_str(&access).unwrap();
            assert_eq!(parsed["level"], "INFO");
            assert_eq!(parsed["target"], "tower_http::trace::on_response");
            assert_eq!(parsed["message"], ACCESS_LOG_MESSAGE);
            assert_eq!(parsed["span"]["name"], "request");
            lines.insert(format, json_fields(&parsed));
        } else {
            assert!(access.contains(" INFO "), "{access}");
            assert!(
                access.contains("tower_http::trace::on_response"),
                "{access}"
            );
            lines.insert(format, text_fields(&access));
        }
    }
    let (text, json) = (&lines["text"], &lines["json"]);
    let keys = |fields: &BTreeMap<String, String>| fields.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(text), keys(json), "text {text:?}, json {json:?}");
    assert_eq!(
        keys(json),
        ["id", "latency", "method", "path", "status"]
            .map(String::from)
            .into()
    );
    for fields in [text, json] {
        assert_eq!(fields["id"], "log-format-test");
        assert_eq!(fields["method"], "POST");
        assert_eq!(fields["path"], "/api/auth/sign-up/email");
        assert_eq!(fields["status"], "200");
        assert!(fields["latency"].ends_with(" ms"), "{fields:?}");
    }
}

/// `edgeauth_mail_pending` counts the outbox that every process on the database shares: a
/// mail one origin queued (its SMTP server unreachable, so it stays pending) shows on the
/// other origin's scrape, which never saw it queued. Counted per process, the second would
/// say 0 while mail waits, and the first would never come back down once the second sent it.
#[tokio::test]
async fn pending_mail_is_the_shared_outboxs() {
    let pg = edgeauth_tests::Postgres::start_shared().await.unwrap();
    let metrics_listen = format!("127.0.0.1:{}", free_port().unwrap());
    let metrics_url = format!("http://{metrics_listen}");
    let start = |metrics: bool| {
        let mut env = origin_env(&pg.url());
        // Nothing listens on port 1: every delivery attempt fails and is retried later.
        env.push(("EDGEAUTH_SMTP_URL", "smtp://127.0.0.1:1".into()));
        env.push(("EDGEAUTH_MAIL_FROM", "Example <auth@example.com>".into()));
        env.push(("EDGEAUTH_VERIFICATION_ON_SIGN_UP", "on".into()));
        if metrics {
            env.push(("EDGEAUTH_METRICS_LISTEN", metrics_listen.clone()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Origin::start(&env).unwrap()
    };
    let (watched, queuing) = (start(true), start(false));
    assert_eq!(
        scrape(&metrics_url)
            .await
            .value("edgeauth_mail_pending", &[]),
        0.0
    );
    for n in 0..2 {
        let reply = browser(&queuing.url)
            .sign_up("Pending", &email(&format!("pending-{n}")), PASSWORD)
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    // Both verification mails are pending; the watched origin queued neither.
    assert_eq!(
        scrape(&metrics_url)
            .await
            .value("edgeauth_mail_pending", &[]),
        2.0,
        "{}",
        watched.process.log_tail()
    );
}
