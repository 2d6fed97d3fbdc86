//! Faults, each asserting what a user would notice: the origin killed mid-burst, PostgreSQL
//! restarted under load, a graceful stop under load, a database slowed by a held lock, and
//! the edge in front of an origin that answers slowly or with garbage. Each test prints a
//! `fault figures:` line (what was done, what was lost) that BENCHMARKS.md ("Faults")
//! quotes: `cargo test -p edgeauth-tests --test e2e faults -- --nocapture`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgeauth_tests::fixtures::{browser, email, origin_env, sqlite_url, PASSWORD};
use edgeauth_tests::{free_port, Origin, Postgres};
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection};

/// The origin's environment for the fault tests: the fixtures' plus rate limiting off (the
/// bursts come from one address) and `extra`.
fn env(database_url: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = origin_env(database_url);
    env.push(("EDGEAUTH_RATE_LIMIT", "off".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

fn start_on(port: u16, env: &[(&'static str, String)]) -> Origin {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Origin::start_on(port, &env).unwrap()
}

/// A client with keep-alive connections, as a proxy or an app server would hold them.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `POST {url}/api/auth{path}` with a JSON body and, when given, a cookie line: the status
/// and body, or the transport error.
async fn post(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    cookie: Option<&str>,
    body: &Value,
) -> Result<(u16, String), reqwest::Error> {
    let mut request = http
        .post(format!("{url}/api/auth{path}"))
        .header(ORIGIN, edgeauth_tests::fixtures::BASE_URL)
        .json(body);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// `GET {url}{path}` with a cookie line.
async fn get(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    cookie: Option<&str>,
) -> Result<(u16, String), reqwest::Error> {
    let mut request = http.get(format!("{url}{path}"));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// The session cookie line of a sign-up or sign-in answer's client.
fn cookie_line(client: &edgeauth_tests::AuthClient) -> String {
    client
        .cookies
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A user signed up (and so signed in) on `url`: their address and cookie line.
async fn signed_up(url: &str, tag: &str) -> (String, String) {
    let address = email(tag);
    let mut client = browser(url);
    let reply = client.sign_up("F", &address, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    (address, cookie_line(&client))
}

// ------------------------------------------------------------------------------------------
// SIGKILL mid-burst

/// What the burst's clients were told (2xx only: an error or no answer proves nothing).
#[derive(Default)]
struct Acknowledged {
    sign_ups: Vec<String>,
    /// Per user: the last password acknowledged, and the one asked for after it that got
    /// no answer (it may or may not have been applied).
    passwords: Vec<(String, String, Option<String>)>,
    /// Password changes acknowledged.
    password_changes: usize,
    /// Session tokens whose revocation was acknowledged.
    revoked: Vec<String>,
    /// Requests that got no answer (in flight when the process died).
    unanswered: usize,
}

/// The origin is killed (SIGKILL) during a burst of sign-ups, password changes and
/// session revocations on PostgreSQL. After a restart every acknowledged write is there (each
/// signed-up user signs in, each changed password is the one that works, each revoked
/// session is gone) and nothing is half-written: no user without its credential account,
/// no account or session without its user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_loses_no_acknowledged_write() {
    let pg = Postgres::start_shared().await.unwrap();
    let env = env(&pg.url(), &[]);
    let port = free_port().unwrap();
    let mut origin = start_on(port, &env);
    let url = origin.url.clone();
    let http = http();

    // Users whose passwords change during the burst, and users whose sessions are revoked.
    const USERS: usize = 4;
    let mut changing = Vec::new();
    let mut revoking = Vec::new();
    for _ in 0..USERS {
        changing.push(signed_up(&url, "kill-pw").await);
        revoking.push(signed_up(&url, "kill-rev").await);
    }

    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..USERS {
        let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
        burst.spawn(async move {
            loop {
                let address = email("kill-up");
                let body = json!({ "name": "K", "email": address, "password": PASSWORD });
                match post(&http, &url, "/sign-up/email", None, &body).await {
                    Ok((200, _)) => acked.lock().unwrap().sign_ups.push(address),
                    Ok((status, text)) => panic!("sign-up answered {status}: {text}"),
                    Err(_) => {
                        acked.lock().unwrap().unanswered += 1;
                        return;
                    }
                }
            }
        });
    }
    for (i, (address, cookie)) in changing.iter().cloned().enumerate() {
        let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
        burst.spawn(async move {
            let mut current = PASSWORD.to_string();
            for n in 0.. {
                let next = format!("{PASSWORD} {i}-{n}");
                let body = json!({ "currentPassword": current, "newPassword": next });
                match post(&http, &url, "/change-password", Some(&cookie), &body).await {
                    Ok((200, _)) => {
                        current = next;
                        acked.lock().unwrap().password_changes += 1;
                    }
                    Ok((status, text)) => panic!("change-password answered {status}: {text}"),
                    Err(_) => {
                        let mut acked = acked.lock().unwrap();
                        acked.unanswered += 1;
                        acked.passwords.push((address, current, Some(next)));
                        return;
                    }
                }
            }
        });
    }
    for (address, cookie) in revoking {
        let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
        burst.spawn(async move {
            loop {
                // A new session, then its revocation from the first one.
                let body = json!({ "email": address, "password": PASSWORD });
                let token = match post(&http, &url, "/sign-in/email", None, &body).await {
                    Ok((200, text)) => serde_json::from_str::<Value>(&text).unwrap()["token"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    Ok((status, text)) => panic!("sign-in answered {status}: {text}"),
                    Err(_) => {
                        acked.lock().unwrap().unanswered += 1;
                        return;
                    }
                };
                let body = json!({ "token": token });
                match post(&http, &url, "/revoke-session", Some(&cookie), &body).await {
                    Ok((200, _)) => acked.lock().unwrap().revoked.push(token),
                    Ok((status, text)) => panic!("revoke-session answered {status}: {text}"),
                    Err(_) => {
                        acked.lock().unwrap().unanswered += 1;
                        return;
                    }
                }
            }
        });
    }

    // Kill it once a good number of writes has been acknowledged, mid-stream.
    let started = Instant::now();
    loop {
        let done = {
            let a = acked.lock().unwrap();
            a.sign_ups.len() + a.revoked.len()
        };
        if done >= 40 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    origin.process.kill().unwrap();
    while let Some(task) = burst.join_next().await {
        task.unwrap();
    }
    let log = origin.process.log();
    drop(origin);

    let origin = start_on(port, &env);
    let url = origin.url.clone();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.sign_ups.len() >= 10 && !acked.revoked.is_empty(),
        "too few writes before the kill\n{log}"
    );

    // Nothing half-written.
    let db = PgPoolOptions::new()
        .max_connections(1)
        .connect(&pg.url())
        .await
        .unwrap();
    let orphans: (i64, i64, i64) = sqlx::query_as(
        r#"SELECT
             (SELECT count(*) FROM "user" u WHERE NOT EXISTS (SELECT 1 FROM "account" a
                WHERE a."userId" = u."id" AND a."providerId" = 'credential')),
             (SELECT count(*) FROM "account" a WHERE NOT EXISTS (SELECT 1 FROM "user" u
                WHERE u."id" = a."userId")),
             (SELECT count(*) FROM "session" s WHERE NOT EXISTS (SELECT 1 FROM "user" u
                WHERE u."id" = s."userId"))"#,
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        orphans,
        (0, 0, 0),
        "users without a credential account, accounts and sessions without a user"
    );

    // Every acknowledged sign-up is a user with a credential account; the first and the
    // last sign in.
    let mut lost = 0;
    for address in &acked.sign_ups {
        let accounts: i64 = sqlx::query_scalar(
            r#"SELECT count(*) FROM "account" a JOIN "user" u ON u."id" = a."userId"
               WHERE u."email" = $1 AND a."providerId" = 'credential'"#,
        )
        .bind(address)
        .fetch_one(&db)
        .await
        .unwrap();
        if accounts != 1 {
            lost += 1;
        }
    }
    for address in [acked.sign_ups.first(), acked.sign_ups.last()]
        .into_iter()
        .flatten()
    {
        let reply = browser(&url).sign_in(address, PASSWORD).await.unwrap();
        assert_eq!(reply.status, 200, "{address}: {}", reply.text);
    }
    // Each password is the last acknowledged one, or the one in flight at the kill.
    for (address, acknowledged, in_flight) in &acked.passwords {
        let works = browser(&url).sign_in(address, acknowledged).await.unwrap();
        if works.status != 200 {
            let in_flight = in_flight.as_deref().unwrap();
            let reply = browser(&url).sign_in(address, in_flight).await.unwrap();
            assert_eq!(reply.status, 200, "{address}: neither password works");
        }
    }
    // Each acknowledged revocation holds.
    for token in &acked.revoked {
        let rows: i64 = sqlx::query_scalar(r#"SELECT count(*) FROM "session" WHERE "token" = $1"#)
            .bind(token)
            .fetch_one(&db)
            .await
            .unwrap();
        if rows != 0 {
            lost += 1;
        }
    }
    assert_eq!(lost, 0, "acknowledged writes lost");
    println!(
        "fault figures: sigkill mid-burst: acknowledged {} sign-ups, {} password changes, \
         {} revocations; {} requests unanswered at the kill; lost 0, half-written 0",
        acked.sign_ups.len(),
        acked.password_changes,
        acked.revoked.len(),
        acked.unanswered
    );
    db.close().await;
}

// ------------------------------------------------------------------------------------------
// PostgreSQL restarted under load

/// One answer under load: when it was sent and what came back.
#[derive(Debug, Clone)]
struct Outcome {
    /// `sign-in` or `get-session`.
    path: &'static str,
    sent: Instant,
    answered: Instant,
    answer: Result<u16, String>,
}

/// PostgreSQL is stopped and started again while clients read sessions and sign in: they
/// get only 200s and 503s (no 500, no hang, no dropped connection), 503s only from the
/// stop until shortly after the database accepts connections again, and the origin
/// recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load_is_only_503s_and_recovers() {
    let pg = Arc::new(Postgres::start().await.unwrap());
    let origin = start_on(free_port().unwrap(), &env(&pg.url(), &[]));
    let url = origin.url.clone();
    let (address, cookie) = signed_up(&url, "pg-restart").await;
    let http = http();

    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (http, url, cookie, address) =
            (http.clone(), url.clone(), cookie.clone(), address.clone());
        let (outcomes, stop) = (outcomes.clone(), stop.clone());
        load.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let answer = if i == 0 {
                    let body = json!({ "email": address, "password": PASSWORD });
                    post(&http, &url, "/sign-in/email", None, &body).await
                } else {
                    get(&http, &url, "/api/auth/get-session", Some(&cookie)).await
                };
                let answer = answer.map(|(status, _)| status).map_err(|e| e.to_string());
                let answered = Instant::now();
                outcomes.lock().unwrap().push(Outcome {
                    path: if i == 0 { "sign-in" } else { "get-session" },
                    sent,
                    answered,
                    answer,
                });
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped_at = Instant::now();
    let pg2 = pg.clone();
    tokio::task::spawn_blocking(move || pg2.stop())
        .await
        .unwrap()
        .unwrap();
    // Down for at least 1.5 s, and until the load has met the outage (a request answered
    // 503), at most 15 s: on a loaded machine the requests in flight at the stop can take
    // the whole 1.5 s to fail over to it.
    let down_for = Instant::now();
    loop {
        let noticed = outcomes
            .lock()
            .unwrap()
            .iter()
            .any(|o| o.answer == Ok(503) && o.answered >= stopped_at);
        if noticed && down_for.elapsed() >= Duration::from_millis(1500) {
            break;
        }
        assert!(
            down_for.elapsed() < Duration::from_secs(15),
            "no 503 within 15 s of the stop\n{}",
            origin.process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pg2 = pg.clone();
    tokio::task::spawn_blocking(move || pg2.restart())
        .await
        .unwrap()
        .unwrap();
    let up_at = Instant::now();
    // Load goes on until get-session has answered 200 for a second.
    let recovered_at = loop {
        let (status, _) = get(&http, &url, "/api/auth/get-session", Some(&cookie))
            .await
            .unwrap();
        if status == 200 {
            break Instant::now();
        }
        assert!(
            up_at.elapsed() < Duration::from_secs(15),
            "no recovery\n{}",
            origin.process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while let Some(task) = load.join_next().await {
        task.unwrap();
    }

    let outcomes = outcomes.lock().unwrap().clone();
    let unexpected: Vec<_> = outcomes
        .iter()
        .filter(|o| !matches!(o.answer, Ok(200 | 503)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers other than 200 and 503: {unexpected:?}\n{}",
        origin.process.log_tail()
    );
    let unavailable: Vec<_> = outcomes.iter().filter(|o| o.answer == Ok(503)).collect();
    assert!(!unavailable.is_empty(), "the outage was not noticed");
    // 503s only for requests that met the outage: answered after the stop began, sent
    // before the origin answered again.
    let outside: Vec<String> = unavailable
        .iter()
        .filter(|o| o.answered < stopped_at || o.sent > recovered_at)
        .map(|o| {
            format!(
                "{} sent {:?} after the stop, {:?} after the recovery, answered in {:?}",
                o.path,
                o.sent.checked_duration_since(stopped_at),
                o.sent.checked_duration_since(recovered_at),
                o.answered - o.sent
            )
        })
        .collect();
    assert!(
        outside.is_empty(),
        "503s outside the outage: {outside:?}\n{}",
        origin.process.log_tail()
    );
    let after = outcomes.iter().filter(|o| o.sent > recovered_at).count();
    assert!(after > 0, "no load after the recovery");
    println!(
        "fault figures: postgres restart under load: {} requests, {} answered 503 during \
         the outage, 0 other failures; down {:.1} s; recovered {} ms after PostgreSQL \
         accepted connections, without restarting the origin",
        outcomes.len(),
        unavailable.len(),
        (up_at - stopped_at).as_secs_f64(),
        (recovered_at - up_at).as_millis()
    );
}

// ------------------------------------------------------------------------------------------
// SIGTERM under load

/// SIGTERM while clients hold kept-alive connections and sign-ins are in flight: no
/// request fails. Requests already sent are answered (sign-ins in flight included); once
/// the listener is closed, new connections are refused, which is the only error a client
/// sees, and only when opening a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_fails_no_request() {
    let database = sqlite_url("faults-sigterm");
    let mut origin = start_on(free_port().unwrap(), &env(&database, &[]));
    let url = origin.url.clone();
    let (address, cookie) = signed_up(&url, "sigterm").await;

    let signalled: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let answered_after = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut load = tokio::task::JoinSet::new();
    for i in 0..8 {
        // Each client its own kept-alive connection pool.
        let http = http();
        let (url, cookie, address) = (url.clone(), cookie.clone(), address.clone());
        let (signalled, answered, answered_after, failures) = (
            signalled.clone(),
            answered.clone(),
            answered_after.clone(),
            failures.clone(),
        );
        load.spawn(async move {
            loop {
                let sent = Instant::now();
                let answer = if i < 2 {
                    let body = json!({ "email": address, "password": PASSWORD });
                    post(&http, &url, "/sign-in/email", None, &body).await
                } else {
                    get(&http, &url, "/api/auth/get-session", Some(&cookie)).await
                };
                let _ = sent;
                let after_signal = signalled.lock().unwrap().is_some();
                match answer {
                    Ok((200, _)) => {
                        answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if signalled.lock().unwrap().is_some() {
                            answered_after.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Ok((status, text)) => {
                        failures.lock().unwrap().push(format!("{status}: {text}"))
                    }
                    // Refused: the listener is closed (only after the signal).
                    Err(e) if e.is_connect() && after_signal => return,
                    Err(e) => {
                        failures.lock().unwrap().push(format!("{e:?}"));
                        return;
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    *signalled.lock().unwrap() = Some(Instant::now());
    origin.process.signal_terminate();
    let status = tokio::task::spawn_blocking(move || {
        let status = origin.process.wait_exit(Duration::from_secs(30)).unwrap();
        (status, origin.process.log_tail())
    })
    .await
    .unwrap();
    while let Some(task) = load.join_next().await {
        task.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} requests failed: {failures:?}\n{}",
        failures.len(),
        status.1
    );
    assert!(
        status.0.is_some_and(|s| s.success()),
        "exit: {:?}\n{}",
        status.0,
        status.1
    );
    println!(
        "fault figures: sigterm under load: {} requests answered 200, {} of them completed \
         after the signal; 0 failed",
        answered.load(std::sync::atomic::Ordering::Relaxed),
        answered_after.load(std::sync::atomic::Ordering::Relaxed)
    );
}

// ------------------------------------------------------------------------------------------
// A slow database

/// `LOCK TABLE "session"` held by another connection: requests that need the table fail
/// with 503 within the documented bound (the statement timeout, here 1 s, plus the pool's
/// 3 s acquire timeout), more of them at once than the pool has connections, while
/// `/healthz` keeps answering at once; once the lock is released, they succeed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_is_a_bounded_503_and_healthz_answers() {
    const STATEMENT_TIMEOUT: Duration = Duration::from_secs(1);
    const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
    let pg = Postgres::start_shared().await.unwrap();
    let origin = start_on(
        free_port().unwrap(),
        &env(&pg.url(), &[("EDGEAUTH_DB_STATEMENT_TIMEOUT", "1")]),
    );
    let url = origin.url.clone();
    let (address, cookie) = signed_up(&url, "lock").await;
    let http = http();

    let mut locker = PgConnection::connect(&pg.url()).await.unwrap();
    locker.execute("BEGIN").await.unwrap();
    locker
        .execute(r#"LOCK TABLE "session" IN ACCESS EXCLUSIVE MODE"#)
        .await
        .unwrap();

    let bound = STATEMENT_TIMEOUT + ACQUIRE_TIMEOUT + Duration::from_secs(2);
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (http, url, cookie, address) =
            (http.clone(), url.clone(), cookie.clone(), address.clone());
        requests.spawn(async move {
            let started = Instant::now();
            let answer = if i % 4 == 0 {
                let body = json!({ "email": address, "password": PASSWORD });
                post(&http, &url, "/sign-in/email", None, &body).await
            } else {
                get(&http, &url, "/api/auth/get-session", Some(&cookie)).await
            };
            (answer.unwrap(), started.elapsed())
        });
    }
    // Meanwhile liveness answers at once.
    let mut healthz_slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let (status, _) = get(&http, &url, "/healthz", None).await.unwrap();
        healthz_slowest = healthz_slowest.max(started.elapsed());
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        healthz_slowest < Duration::from_secs(1),
        "{healthz_slowest:?}"
    );
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    while let Some(done) = requests.join_next().await {
        let ((status, text), took) = done.unwrap();
        assert_eq!(status, 503, "{text}\n{}", origin.process.log_tail());
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["code"],
            "SERVICE_UNAVAILABLE"
        );
        assert!(took < bound, "a request took {took:?} (bound {bound:?})");
        slowest = slowest.max(took);
        answered += 1;
    }

    locker.execute("ROLLBACK").await.unwrap();
    let released = Instant::now();
    let recovered = loop {
        let (status, _) = get(&http, &url, "/api/auth/get-session", Some(&cookie))
            .await
            .unwrap();
        if status == 200 {
            break released.elapsed();
        }
        assert!(
            released.elapsed() < Duration::from_secs(10),
            "still {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reply = browser(&url).sign_in(&address, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    println!(
        "fault figures: held lock on \"session\": {answered} requests (pool of 16), all 503 \
         within {} ms (bound {} ms), /healthz at most {} ms; answering again {} ms after the \
         lock was released",
        slowest.as_millis(),
        bound.as_millis(),
        healthz_slowest.as_millis(),
        recovered.as_millis()
    );
}

// ------------------------------------------------------------------------------------------
// The edge in front of a slow or broken origin

/// What the fake origin does with a request: chosen by a word in the request (the session
/// token in its cookie, the session id of a liveness check, or the path).
async fn fake_origin_answer(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let has = |word: &str| head.contains(word);
    let respond = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let session = |user: &str, owner: &str| {
        json!({
            "session": { "id": format!("s-{user}"), "userId": owner,
                         "expiresAt": "2099-01-01T00:00:00.000Z" },
            "user": { "id": user, "email": format!("{user}@example.com"), "name": user },
        })
        .to_string()
    };
    let reply = if has("tok-good") {
        respond("200 OK", &session("u-good", "u-good"))
    } else if has("tok-slow") || has("sidslow") || has("/sign-in/email") {
        // Never answers: reads (a body, if any) until the edge gives up and closes.
        while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
        return;
    } else if has("tok-trickle") {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"session\"")
            .await;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream.write_all(b" ").await.is_err() {
                return;
            }
        }
    } else if has("tok-huge") {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n[")
            .await;
        let chunk = vec![b'0'; 65_536];
        while stream.write_all(&chunk).await.is_ok() {}
        return;
    } else if has("tok-notjson") {
        respond("200 OK", "<html>maintenance</html>")
    } else if has("tok-mismatch") {
        respond("200 OK", &session("u-mismatch", "u-other"))
    } else if has("tok-error") {
        respond(
            "500 Internal Server Error",
            r#"{"code":"INTERNAL_SERVER_ERROR"}"#,
        )
    } else if has("tok-nothttp") || has("/api/auth/nothttp") {
        "garbage, not HTTP\r\n\r\n".to_string()
    } else if has("tok-reset") {
        return;
    } else if has("tok-null") {
        respond("200 OK", "null")
    } else {
        respond("404 Not Found", "")
    };
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The edge (the real worker under `wrangler dev`, `ORIGIN_TIMEOUT=2`,
/// `ORIGIN_PROXY_TIMEOUT=3`) in front of a fake origin that answers slowly, never, with
/// garbage, with an endless body, or with a malformed session. The edge fails closed within
/// its bounds (503 on a protected path, 504 or 502 for the auth API) and never forwards an
/// identity the origin did not properly vouch for; the one good session and a valid JWT
/// (whose liveness the origin cannot tell, accepted as documented) go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_fails_closed_in_front_of_a_slow_or_broken_origin() {
    use edgeauth_tests::{Upstream, WranglerDev};
    use edgeauth_token::{ClaimsBuilder, SigningKey};

    const SECRET: &str = "edge-test-secret-edge-test-secret-0123456789";
    const EDGE_SECRET: &str = "edge-proof-edge-proof-edge-proof-0123456789";
    const ISSUER: &str = "http://localhost:3000";
    const ORIGIN_TIMEOUT: Duration = Duration::from_secs(2);
    const PROXY_TIMEOUT: Duration = Duration::from_secs(3);
    let margin = Duration::from_secs(2);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin_url = format!("http://{}", listener.local_addr().unwrap());
    let fake = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(fake_origin_answer(stream));
        }
    });
    let upstream = Upstream::start().unwrap();
    let key = SigningKey::from_seed(&[7; 32], "fault-key").unwrap();
    let jwks = json!({ "keys": [key.public_jwk()] }).to_string();
    let wrangler = WranglerDev::start_with_secrets(
        &[
            ("ORIGIN_URL", &origin_url),
            ("UPSTREAM_URL", &upstream.url),
            ("PROTECTED_PATHS", "/app"),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", ISSUER),
            ("JWKS_JSON", &jwks),
            ("SESSION_CACHE_TTL", "0"),
            ("ORIGIN_TIMEOUT", "2"),
            ("ORIGIN_PROXY_TIMEOUT", "3"),
        ],
        &[("BETTER_AUTH_SECRET", SECRET), ("EDGE_SECRET", EDGE_SECRET)],
    )
    .await
    .unwrap();
    let edge = wrangler.url.clone();
    let http = http();

    let cookie = |mode: &str| {
        let token = format!("tok-{mode:-<28}");
        let value = edgeauth_token::cookie::sign_value(SECRET.as_bytes(), &token).unwrap();
        format!("better-auth.session_token={value}")
    };
    let now = edgeauth_tests::fixtures::now();
    let jwt = |sid: &str| {
        let user = json!({ "id": "u-jwt", "email": "jwt@example.com", "name": "J" });
        let claims = ClaimsBuilder::better_auth(
            user.as_object().unwrap().clone(),
            "u-jwt",
            now,
            600,
            ISSUER,
            &[ISSUER],
        )
        .insert("sid", sid);
        key.sign(&claims)
    };
    let forged = SigningKey::from_seed(&[8; 32], "fault-key").unwrap().sign(
        &ClaimsBuilder::better_auth(
            json!({ "id": "u-forged" }).as_object().unwrap().clone(),
            "u-forged",
            now,
            600,
            ISSUER,
            &[ISSUER],
        )
        .insert("sid", "sidslow"),
    );

    // (what, method, path, header, expected status, bound on the answer's time)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        (&'static str, String),
        u16,
        Duration,
    );
    let proxy_bound = PROXY_TIMEOUT + margin;
    let call_bound = ORIGIN_TIMEOUT + margin;
    let cases: Vec<Case> = vec![
        (
            "good session",
            "GET",
            "/app/x",
            ("cookie", cookie("good")),
            200,
            call_bound,
        ),
        (
            "origin silent",
            "GET",
            "/app/x",
            ("cookie", cookie("slow")),
            503,
            call_bound,
        ),
        (
            "answer trickles",
            "GET",
            "/app/x",
            ("cookie", cookie("trickle")),
            503,
            call_bound,
        ),
        (
            "endless answer",
            "GET",
            "/app/x",
            ("cookie", cookie("huge")),
            503,
            call_bound,
        ),
        (
            "not JSON",
            "GET",
            "/app/x",
            ("cookie", cookie("notjson")),
            503,
            call_bound,
        ),
        (
            "session of another user",
            "GET",
            "/app/x",
            ("cookie", cookie("mismatch")),
            503,
            call_bound,
        ),
        (
            "origin 500",
            "GET",
            "/app/x",
            ("cookie", cookie("error")),
            503,
            call_bound,
        ),
        (
            "not HTTP",
            "GET",
            "/app/x",
            ("cookie", cookie("nothttp")),
            503,
            call_bound,
        ),
        (
            "connection closed",
            "GET",
            "/app/x",
            ("cookie", cookie("reset")),
            503,
            call_bound,
        ),
        (
            "no session",
            "GET",
            "/app/x",
            ("cookie", cookie("null")),
            401,
            call_bound,
        ),
        (
            "JWT, liveness silent",
            "GET",
            "/app/x",
            ("authorization", format!("Bearer {}", jwt("sidslow"))),
            200,
            call_bound,
        ),
        (
            "forged JWT",
            "GET",
            "/app/x",
            ("authorization", format!("Bearer {forged}")),
            401,
            margin,
        ),
        (
            "auth API silent",
            "POST",
            "/api/auth/sign-in/email",
            ("content-type", "application/json".into()),
            504,
            proxy_bound,
        ),
        (
            "auth API not HTTP",
            "GET",
            "/api/auth/nothttp",
            ("accept", "application/json".into()),
            502,
            proxy_bound,
        ),
    ];
    let mut calls = tokio::task::JoinSet::new();
    for (what, method, path, (name, value), expected, bound) in cases {
        let (http, edge) = (http.clone(), edge.clone());
        calls.spawn(async move {
            let started = Instant::now();
            let request = http
                .request(method.parse().unwrap(), format!("{edge}{path}"))
                .header("accept", "application/json")
                .header(name, value);
            let request = if method == "POST" {
                request.body(r#"{"email":"a@example.com","password":"x"}"#)
            } else {
                request
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            (what, expected, bound, status, body, started.elapsed())
        });
    }
    let mut figures = Vec::new();
    while let Some(done) = calls.join_next().await {
        let (what, expected, bound, status, body, took) = done.unwrap();
        assert_eq!(
            status,
            expected,
            "{what}: {body}\n{}",
            wrangler.process.log_tail()
        );
        assert!(
            took < bound,
            "{what}: answered after {took:?} (bound {bound:?})"
        );
        figures.push(format!("{what} {status} in {} ms", took.as_millis()));
    }

    // The upstream saw exactly the two vouched-for identities on the protected path, nothing
    // else (its other request is wrangler's start-up probe of `/`).
    let mut identities: Vec<String> = upstream
        .requests_to("/app/x")
        .iter()
        .map(|r| r.header("x-edgeauth-user-id").unwrap_or("none").to_string())
        .collect();
    identities.sort();
    assert_eq!(identities, ["u-good", "u-jwt"]);
    figures.sort();
    println!(
        "fault figures: edge before a slow or broken origin: {}",
        figures.join("; ")
    );
    fake.abort();
}
