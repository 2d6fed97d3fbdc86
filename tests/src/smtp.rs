//! A real SMTP listener for end-to-end tests (a subset of RFC 5321): the origin's SMTP client
//! (the `lettre` crate, plaintext `smtp://` URLs, optionally with AUTH PLAIN/LOGIN credentials)
//! delivers to it over TCP, and tests read the delivered messages, decoded from MIME, to follow
//! the links found in them. It can also refuse mail transactions with a temporary failure.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64ct::{Base64, Encoding};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// One message delivered to the [`SmtpServer`], with its envelope and decoded MIME parts.
#[derive(Debug, Clone)]
pub struct MailMessage {
    /// The envelope sender (`MAIL FROM`), without `<>`.
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`), without `<>`.
    pub rcpt_to: Vec<String>,
    /// The username and password, if the client authenticated (AUTH PLAIN or AUTH LOGIN).
    pub auth: Option<(String, String)>,
    /// Whether the message (and the credentials) came over TLS.
    pub tls: bool,
    /// The DATA as received, dot-unstuffed, line endings kept.
    pub raw: String,
    /// The top-level headers, unfolded, names as sent.
    pub headers: Vec<(String, String)>,
    /// The `Subject` header with RFC 2047 encoded-words decoded.
    pub subject: String,
    /// The decoded body of the first `text/plain` part.
    pub text: Option<String>,
    /// The decoded body of the first `text/html` part.
    pub html: Option<String>,
}

impl MailMessage {
    /// Parses the DATA of a message delivered with this envelope.
    fn parse(
        envelope: (String, Vec<String>),
        auth: Option<(String, String)>,
        tls: bool,
        raw: String,
    ) -> Self {
        let (mail_from, rcpt_to) = envelope;
        let (headers, body) = split_headers(&raw);
        let subject = header(&headers, "Subject")
            .map(decode_words)
            .unwrap_or_default();
        let (mut text, mut html) = (None, None);
        collect_parts(&headers, body, &mut text, &mut html);
        MailMessage {
            mail_from,
            rcpt_to,
            auth,
            tls,
            raw,
            headers,
            subject,
            text,
            html,
        }
    }

    /// A top-level header's value (`name` in any case; the first if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The first http(s) URL in the text part that contains `fragment`.
    pub fn link(&self, fragment: &str) -> Result<String> {
        let text = self
            .text
            .as_deref()
            .with_context(|| format!("{} has no text/plain part", self.describe()))?;
        match find_urls(text).find(|url| url.contains(fragment)) {
            Some(url) => Ok(url.to_string()),
            None => bail!(
                "no http(s) URL containing {fragment:?} in the text part of {}:\n{text}",
                self.describe()
            ),
        }
    }

    /// The first http(s) URL in the HTML part (`href` values first) that contains `fragment`,
    /// with HTML entities decoded.
    pub fn html_link(&self, fragment: &str) -> Result<String> {
        let html = self
            .html
            .as_deref()
            .with_context(|| format!("{} has no text/html part", self.describe()))?;
        let lower = html.to_ascii_lowercase();
        let hrefs = lower.match_indices("href=").filter_map(|(i, m)| {
            let rest = html.get(i + m.len()..)?;
            let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            let inner = rest.get(1..)?;
            inner.get(..inner.find(quote)?)
        });
        for candidate in hrefs.chain(find_urls(html)) {
            let url = decode_entities(candidate.trim());
            if (url.starts_with("http://") || url.starts_with("https://")) && url.contains(fragment)
            {
                return Ok(url);
            }
        }
        bail!(
            "no http(s) URL containing {fragment:?} in the HTML part of {}:\n{html}",
            self.describe()
        )
    }

    /// `message to [..] "subject"`, for error messages.
    fn describe(&self) -> String {
        format!("message to {:?} {:?}", self.rcpt_to, self.subject)
    }
}

/// What the connections share with the test.
#[derive(Default)]
struct State {
    messages: Vec<MailMessage>,
    fail_next: usize,
    refusals: usize,
}

/// Locks the state, even if a thread panicked holding it.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// An SMTP server on a free loopback port, serving each connection in its own tokio task;
/// stopped (with its connections) on drop.
pub struct SmtpServer {
    state: Arc<Mutex<State>>,
    port: u16,
    accept: JoinHandle<()>,
}

impl SmtpServer {
    /// Binds 127.0.0.1:0 and serves plain SMTP connections in background tasks of the
    /// current runtime.
    pub async fn start() -> Result<SmtpServer> {
        Self::start_with(None).await
    }

    /// [`SmtpServer::start`] with TLS in `mode`, under the certificate in
    /// `tests/fixtures/smtp-tls/` (issued for `localhost` and `127.0.0.1` by the test CA in
    /// `ca.pem`, which the client must be told to trust).
    pub async fn start_tls(mode: SmtpTlsMode) -> Result<SmtpServer> {
        Self::start_with(Some((mode, tls_acceptor()?))).await
    }

    /// [`SmtpServer::start`] on a given port (a listener brought up where an origin already
    /// delivers to, after an outage).
    pub async fn start_on(port: u16) -> Result<SmtpServer> {
        Self::bind(port, None).await
    }

    async fn start_with(tls: Option<(SmtpTlsMode, TlsAcceptor)>) -> Result<SmtpServer> {
        Self::bind(0, tls).await
    }

    async fn bind(port: u16, tls: Option<(SmtpTlsMode, TlsAcceptor)>) -> Result<SmtpServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        let state = Arc::<Mutex<State>>::default();
        let conn_state = state.clone();
        let accept = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection task.
            let mut connections = JoinSet::new();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let state = conn_state.clone();
                        let tls = tls.clone();
                        connections.spawn(async move {
                            if let Err(error) = serve(stream, &state, tls).await {
                                eprintln!("smtp test server: connection failed: {error:#}");
                            }
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(SmtpServer {
            state,
            port,
            accept,
        })
    }

    /// The test CA's certificate (PEM path) that issued the TLS listener's certificate.
    pub fn ca_file() -> std::path::PathBuf {
        crate::repo_root().join("tests/fixtures/smtp-tls/ca.pem")
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Refuses the next `n` mail transactions: `MAIL FROM` gets `451 4.3.0 Try again later`.
    pub fn fail_next(&self, n: usize) {
        lock(&self.state).fail_next = n;
    }

    /// Every message delivered so far, in order.
    pub fn messages(&self) -> Vec<MailMessage> {
        lock(&self.state).messages.clone()
    }

    /// The messages delivered so far with `to` among their envelope recipients (any case).
    pub fn messages_to(&self, to: &str) -> Vec<MailMessage> {
        let to = to.to_lowercase();
        let state = lock(&self.state);
        let for_to = |m: &&MailMessage| m.rcpt_to.iter().any(|r| r.to_lowercase() == to);
        state.messages.iter().filter(for_to).cloned().collect()
    }

    /// Waits until at least `count` messages to `to` were delivered and returns them all;
    /// fails after `timeout`, listing the recipients and subjects of what was delivered.
    pub async fn wait_for(
        &self,
        to: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<MailMessage>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.messages_to(to);
            if found.len() >= count {
                return Ok(found);
            }
            if tokio::time::Instant::now() >= deadline {
                let all: Vec<String> = self.messages().iter().map(MailMessage::describe).collect();
                bail!(
                    "{} of {count} message(s) to {to} within {timeout:?}; delivered: {all:#?}",
                    found.len()
                );
            }
            // Polled: tokio's `sync` feature (Notify) is not among this crate's features.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many `MAIL FROM` commands were refused with 451 so far.
    pub fn refusals(&self) -> usize {
        lock(&self.state).refusals
    }
}

/// How the TLS listener offers TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTlsMode {
    /// Plain at first; `STARTTLS` is advertised and upgrades the connection.
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// The listener's TLS configuration, from the committed test certificate and key.
fn tls_acceptor() -> Result<TlsAcceptor> {
    let dir = crate::repo_root().join("tests/fixtures/smtp-tls");
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .context("reading server.pem")?
        .collect::<Result<Vec<_>, _>>()
        .context("parsing server.pem")?;
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).context("reading server.key")?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One client connection (plain or TLS): its buffered read half and its write half.
struct Conn<S> {
    reader: BufReader<ReadHalf<S>>,
    writer: WriteHalf<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Self {
        let (read, writer) = tokio::io::split(stream);
        Conn {
            reader: BufReader::new(read),
            writer,
        }
    }

    /// The stream back, for the TLS upgrade. The client sends nothing after `STARTTLS`
    /// until it has the 220, so no read-ahead is lost.
    fn into_stream(self) -> S {
        self.reader.into_inner().unsplit(self.writer)
    }

    /// Reads one line (CRLF or bare LF) with its line ending; empty at end of stream.
    async fn raw_line(&mut self) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).await?;
        Ok(line)
    }

    /// Reads one line without its line ending; `None` at end of stream.
    async fn line(&mut self) -> Result<Option<String>> {
        let line = String::from_utf8_lossy(&self.raw_line().await?).into_owned();
        Ok((!line.is_empty()).then(|| line.trim_end_matches(['\r', '\n']).to_string()))
    }

    /// Writes one reply (several lines joined with CRLF for a multi-line one).
    async fn reply(&mut self, text: &str) -> Result<()> {
        self.writer
            .write_all(format!("{text}\r\n").as_bytes())
            .await?;
        Ok(self.writer.flush().await?)
    }

    /// Reads the DATA up to the line `.`, dot-unstuffed, line endings kept.
    async fn data(&mut self) -> Result<String> {
        let mut data = Vec::new();
        loop {
            let line = self.raw_line().await?;
            match line.as_slice() {
                [] => bail!("connection closed in DATA"),
                b".\r\n" | b".\n" | b"." => return Ok(String::from_utf8_lossy(&data).into_owned()),
                _ => data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line)),
            }
        }
    }

    /// The AUTH response `given` on the command line, or else the line answering `prompt`.
    async fn respond(&mut self, prompt: &str, given: &str) -> Result<String> {
        if !given.is_empty() {
            return Ok(given.to_string());
        }
        self.reply(prompt).await?;
        self.line().await?.context("connection closed in AUTH")
    }

    /// Runs an AUTH exchange: the credentials, or the refusal to answer with.
    async fn auth(&mut self, arg: &str) -> Result<Result<(String, String), &'static str>> {
        let (mechanism, initial) = split_verb(arg);
        let decode = |b64: &str| {
            Some(String::from_utf8_lossy(&Base64::decode_vec(b64.trim()).ok()?).into_owned())
        };
        let credentials = match mechanism.as_str() {
            "PLAIN" => decode(&self.respond("334 ", initial).await?).and_then(|plain| {
                let mut fields = plain.split('\0').skip(1);
                Some((fields.next()?.to_string(), fields.next()?.to_string()))
            }),
            "LOGIN" => {
                let user = self.respond("334 VXNlcm5hbWU6", initial).await?;
                let password = self.respond("334 UGFzc3dvcmQ6", "").await?;
                decode(&user).zip(decode(&password))
            }
            _ => return Ok(Err("504 5.5.4 Unrecognized authentication type")),
        };
        Ok(credentials.ok_or("501 5.5.2 Cannot decode response"))
    }
}

/// `VERB rest` → (`VERB` upper-cased, `rest` trimmed).
fn split_verb(line: &str) -> (String, &str) {
    let (verb, rest) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
    (verb.to_ascii_uppercase(), rest.trim())
}

/// The address after `prefix` (`FROM:` or `TO:`, any case) in `FROM:<a> PARAMS`, without `<>`.
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let head = arg
        .get(..prefix.len())
        .filter(|h| h.eq_ignore_ascii_case(prefix))?;
    let rest = arg.get(head.len()..)?.trim_start();
    let path = match rest.strip_prefix('<') {
        Some(inner) => inner.split_once('>')?.0,
        None => rest.split_whitespace().next()?,
    };
    Some(path.to_string())
}

/// One connection: TLS first (implicit), or a plain session that may upgrade (STARTTLS).
async fn serve(
    stream: TcpStream,
    state: &Mutex<State>,
    tls: Option<(SmtpTlsMode, TlsAcceptor)>,
) -> Result<()> {
    match tls {
        None => session(Conn::new(stream), state, Security::Plain)
            .await
            .map(|_| ()),
        Some((SmtpTlsMode::Implicit, acceptor)) => {
            let stream = acceptor.accept(stream).await.context("TLS handshake")?;
            session(Conn::new(stream), state, Security::Implicit)
                .await
                .map(|_| ())
        }
        Some((SmtpTlsMode::StartTls, acceptor)) => {
            let Some(conn) = session(Conn::new(stream), state, Security::OffersStartTls).await?
            else {
                return Ok(());
            };
            let stream = acceptor
                .accept(conn.into_stream())
                .await
                .context("TLS handshake after STARTTLS")?;
            session(Conn::new(stream), state, Security::Upgraded)
                .await
                .map(|_| ())
        }
    }
}

/// Where a session stands with TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Security {
    /// Plain, and staying so.
    Plain,
    /// Plain, offering STARTTLS.
    OffersStartTls,
    /// TLS from the first byte.
    Implicit,
    /// TLS after STARTTLS.
    Upgraded,
}

impl Security {
    fn is_tls(self) -> bool {
        matches!(self, Security::Implicit | Security::Upgraded)
    }
}

/// One SMTP session on `conn`; the connection back when the client asked for STARTTLS (a
/// new session then starts over TLS, forgetting everything, as RFC 3207 requires).
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: Conn<S>,
    state: &Mutex<State>,
    security: Security,
) -> Result<Option<Conn<S>>> {
    let (mut auth, mut mail_from, mut rcpt_to) = (None, None::<String>, Vec::new());
    // After STARTTLS the client speaks first (EHLO again); elsewhere the server greets.
    if security != Security::Upgraded {
        conn.reply("220 localhost ESMTP test").await?;
    }
    while let Some(line) = conn.line().await? {
        let (verb, arg) = split_verb(&line);
        let answer = match verb.as_str() {
            "EHLO" if security == Security::OffersStartTls => {
                "250-localhost\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8"
            }
            "EHLO" => "250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8",
            "STARTTLS" if security == Security::OffersStartTls => {
                conn.reply("220 2.0.0 Ready to start TLS").await?;
                return Ok(Some(conn));
            }
            "HELO" => "250 localhost",
            "AUTH" => match conn.auth(arg).await? {
                Ok(credentials) => {
                    auth = Some(credentials);
                    "235 2.7.0 Authentication successful"
                }
                Err(refusal) => refusal,
            },
            "MAIL" => match path_arg(arg, "FROM:") {
                None => "501 5.5.4 Syntax: MAIL FROM:<address>",
                Some(from) => {
                    let mut state = lock(state);
                    if state.fail_next > 0 {
                        state.fail_next -= 1;
                        state.refusals += 1;
                        "451 4.3.0 Try again later"
                    } else {
                        (mail_from, rcpt_to) = (Some(from), Vec::new());
                        "250 2.1.0 OK"
                    }
                }
            },
            "RCPT" if mail_from.is_none() => "503 5.5.1 MAIL first",
            "RCPT" => match path_arg(arg, "TO:") {
                None => "501 5.5.4 Syntax: RCPT TO:<address>",
                Some(to) => {
                    rcpt_to.push(to);
                    "250 2.1.5 OK"
                }
            },
            "DATA" if mail_from.is_none() || rcpt_to.is_empty() => "503 5.5.1 MAIL and RCPT first",
            "DATA" => {
                conn.reply("354 End data with <CR><LF>.<CR><LF>").await?;
                let raw = conn.data().await?;
                let envelope = (
                    mail_from.take().unwrap_or_default(),
                    std::mem::take(&mut rcpt_to),
                );
                let message =
                    MailMessage::parse(envelope, auth.clone(), security.is_tls(), raw);
                lock(state).messages.push(message);
                "250 2.0.0 OK queued"
            }
            "RSET" => {
                (mail_from, rcpt_to) = (None, Vec::new());
                "250 2.0.0 OK"
            }
            "NOOP" => "250 2.0.0 OK",
            "QUIT" => return conn.reply("221 Bye").await.map(|()| None),
            _ => "502 5.5.2 Command not recognized",
        };
        conn.reply(answer).await?;
    }
    Ok(None)
}

/// The first header named `name` (any case).
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Splits a message or part into its unfolded headers and its body (after the first empty line).
fn split_headers(raw: &str) -> (Vec<(String, String)>, &str) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body = "";
    let mut offset = 0;
    for line in raw.split_inclusive('\n') {
        offset += line.len();
        let content = line.trim_end_matches(['\r', '\n']);
        if content.is_empty() {
            body = raw.get(offset..).unwrap_or_default();
            break;
        }
        if content.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(content);
            }
        } else if let Some((name, value)) = content.split_once(':') {
            headers.push((name.trim().to_string(), value.to_string()));
        }
    }
    for (_, value) in &mut headers {
        *value = value.trim().to_string();
    }
    (headers, body)
}

/// Finds the first `text/plain` and `text/html` bodies, decoded, descending into multiparts.
fn collect_parts(
    headers: &[(String, String)],
    body: &str,
    text: &mut Option<String>,
    html: &mut Option<String>,
) {
    let content_type = header(headers, "Content-Type").unwrap_or("text/plain");
    let mut params = content_type.split(';');
    let mime = params
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime.starts_with("multipart/") {
        let boundary = params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim().trim_matches('"'));
        for part in boundary
            .map(|b| split_multipart(body, b))
            .unwrap_or_default()
        {
            let (part_headers, part_body) = split_headers(part);
            collect_parts(&part_headers, part_body, text, html);
        }
        return;
    }
    let slot = match mime.as_str() {
        "text/plain" => text,
        "text/html" => html,
        _ => return,
    };
    let attachment = header(headers, "Content-Disposition")
        .is_some_and(|d| d.to_ascii_lowercase().starts_with("attachment"));
    if slot.is_none() && !attachment {
        let encoding = header(headers, "Content-Transfer-Encoding").unwrap_or("7bit");
        *slot = Some(decode_body(encoding, body));
    }
}

/// The parts of a multipart body between `--boundary` lines (up to `--boundary--`).
fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let (mut parts, mut start, mut offset) = (Vec::new(), None, 0);
    for line in body.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        let Some(rest) = line.trim_end().strip_prefix(delimiter.as_str()) else {
            continue;
        };
        if !rest.is_empty() && rest != "--" {
            continue;
        }
        if let Some(part) = start.and_then(|s| body.get(s..line_start)) {
            parts.push(
                part.strip_suffix("\r\n")
                    .or_else(|| part.strip_suffix('\n'))
                    .unwrap_or(part),
            );
        }
        if rest == "--" {
            return parts;
        }
        start = Some(offset);
    }
    parts.extend(start.and_then(|s| body.get(s..)));
    parts
}

/// A body decoded from its `Content-Transfer-Encoding` (as is when unknown or undecodable).
fn decode_body(encoding: &str, body: &str) -> String {
    match encoding.trim().to_ascii_lowercase().as_str() {
        "quoted-printable" => {
            let joined = body.replace("=\r\n", "").replace("=\n", "");
            String::from_utf8_lossy(&unquote(joined.as_bytes(), false)).into_owned()
        }
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            match Base64::decode_vec(&compact) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => body.to_string(),
            }
        }
        _ => body.to_string(),
    }
}

/// Decodes `=XX` escapes (and `_` as a space in RFC 2047 Q encoding).
fn unquote(input: &[u8], underscore_is_space: bool) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        i += 1;
        match (b, hex(input.get(i)), hex(input.get(i + 1))) {
            (b'=', Some(high), Some(low)) => {
                out.extend(u8::try_from(high * 16 + low).ok());
                i += 2;
            }
            (b'_', _, _) if underscore_is_space => out.push(b' '),
            _ => out.push(b),
        }
    }
    out
}

/// Decodes RFC 2047 encoded-words (`=?charset?B|Q?...?=`, read as UTF-8); whitespace between
/// adjacent encoded-words is dropped.
fn decode_words(value: &str) -> String {
    let (mut out, mut pending, mut rest) = (String::new(), Vec::<u8>::new(), value);
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        let word = encoded_word(candidate);
        if word.is_none() || !before.trim().is_empty() || pending.is_empty() {
            out.push_str(&String::from_utf8_lossy(&std::mem::take(&mut pending)));
            out.push_str(before);
        }
        match word {
            Some((bytes, after)) => (pending, rest) = ([pending, bytes].concat(), after),
            None => (out, rest) = (out + "=?", candidate.get(2..).unwrap_or_default()),
        }
    }
    out + &String::from_utf8_lossy(&pending) + rest
}

/// The bytes of the encoded-word at the start of `s`, and what follows it.
fn encoded_word(s: &str) -> Option<(Vec<u8>, &str)> {
    let (charset, rest) = s.strip_prefix("=?")?.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let (text, after) = rest.split_once("?=")?;
    if charset.is_empty() || charset.contains(' ') || text.contains(char::is_whitespace) {
        return None;
    }
    match encoding {
        "B" | "b" => Some((Base64::decode_vec(text).ok()?, after)),
        "Q" | "q" => Some((unquote(text.as_bytes(), true), after)),
        _ => None,
    }
}

/// Every http(s) URL in `s`, each ending at whitespace, `<`, `>`, `"` or `'`.
fn find_urls(s: &str) -> impl Iterator<Item = &str> {
    s.match_indices("http").filter_map(move |(i, _)| {
        let rest = s.get(i..)?;
        if !rest.starts_with("http://") && !rest.starts_with("https://") {
            return None;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || "<>\"'".contains(c))
            .unwrap_or(rest.len());
        rest.get(..end)
    })
}

/// Decodes the HTML entities a URL in an attribute may carry.
fn decode_entities(s: &str) -> String {
    let entities = [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&amp;", "&"),
    ];
    entities
        .iter()
        .fold(s.to_string(), |s, (entity, c)| s.replace(entity, c))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_transfer_encodings_and_subjects() {
        assert_eq!(
            decode_body("quoted-printable", "a=3Db=\r\nc =C3=A9\r\n"),
            "a=bc é\r\n"
        );
        assert_eq!(
            decode_body("base64", "aGVsbG8g\r\nd29ybGQ=\r\n"),
            "hello world"
        );
        assert_eq!(
            decode_words("=?utf-8?b?w6k=?= =?utf-8?q?t=C3=A9_x?= y"),
            "été x y"
        );
        assert_eq!(decode_words("a =? b =?utf-8?q?c?="), "a =? b c");
    }

    #[test]
    fn extracts_multipart_alternative() {
        let raw = "Subject: Hi\r\nContent-Type: multipart/alternative;\r\n boundary=\"b1\"\r\n\r\n\
                   --b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                   Go https://x.test/v?t=3D1&u=3D2 now\r\n--b1\r\nContent-Type: text/html\r\n\r\n\
                   <a href=\"https://x.test/v?t=1&amp;u=2\">go</a>\r\n--b1--\r\n";
        let m = MailMessage::parse(("a@x".into(), vec!["b@x".into()]), None, false, raw.into());
        assert_eq!(
            (m.subject.as_str(), m.text.as_deref()),
            ("Hi", Some("Go https://x.test/v?t=1&u=2 now"))
        );
        assert_eq!(m.link("v?").unwrap(), "https://x.test/v?t=1&u=2");
        assert_eq!(m.html_link("v?").unwrap(), "https://x.test/v?t=1&u=2");
        assert!(m.link("nope").is_err());
    }
}
