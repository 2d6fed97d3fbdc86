//! Harness for edgeauth's cross-component tests: find the built binaries, pick free loopback
//! ports, run real processes (the origin, `wrangler dev`) in their own process groups, and
//! stop them whole when a test ends, pass or fail.

use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

pub mod client;

pub mod fixtures;

pub mod oidc;

pub use oidc::{OidcClient, OidcProvider};

pub use client::{AuthClient, Reply};

pub mod postgres;

pub use postgres::Postgres;

pub mod upstream;

pub use upstream::{Upstream, UpstreamRequest};

pub mod smtp;

pub use smtp::{MailMessage, SmtpServer, SmtpTlsMode};

/// The repository root: the parent of the `tests/` crate.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The cargo profile directory the running test binary was built into (`target/debug`).
pub fn profile_dir() -> Result<PathBuf> {
    // The test binary lives in `<target>/<profile>/deps/`.
    let exe = std::env::current_exe().context("locating the test binary")?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("test binary is not inside <target>/<profile>/deps")
}

/// A directory under the target dir for this run's logs and state.
pub fn scratch_dir(name: &str) -> Result<PathBuf> {
    let dir = profile_dir()?.join("e2e").join(name);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The `edgeauth` binary built by `cargo build --bins` (the test command builds it first).
pub fn edgeauth_bin() -> Result<PathBuf> {
    let bin = profile_dir()?.join("edgeauth");
    ensure!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p edgeauth-origin --bins` \
         (bash scripts/test.sh does)",
        bin.display()
    );
    Ok(bin)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A child process in its own process group, output captured to a log file. Dropping it
/// sends SIGTERM to the whole group, then SIGKILL if it lingers.
pub struct Process {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl Process {
    /// Starts `command` with stdin closed and stdout/stderr appended to `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Result<Self> {
        let log_path = log_dir.join(format!("{name}.log"));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        Ok(Process {
            name: name.into(),
            child,
            log_path,
        })
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `port` on 127.0.0.1 accepts connections, failing early if the process
    /// exits. The error carries the end of the process's log. Polls every 10 ms: an origin
    /// listens within tens of milliseconds, and a refused loopback connection costs little.
    pub fn wait_for_port(&mut self, port: u16, timeout: Duration) -> Result<()> {
        self.wait_until(&format!("open port {port}"), timeout, |_| {
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        })
    }

    /// Waits until the process's log contains `needle`, failing early if the process
    /// exits. The error carries the end of the process's log.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        self.wait_until(&format!("log {needle:?}"), timeout, |process| {
            process.log().contains(needle)
        })
    }

    /// Polls `ready` every 10 ms until it holds, failing early if the process exits, or
    /// after `timeout` saying it did not `what`.
    fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&Self) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready(self) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited early ({status})\n{}", self.name, self.log_tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not {what} within {timeout:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM to the process group and waits (bounded) for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        signal_group(self.pid(), "TERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} ignored SIGTERM for {timeout:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGKILL to the process group (no chance to clean up, as a crash or the OOM
    /// killer) and waits for the process to be gone.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        signal_group(self.pid(), "KILL");
        Ok(self.child.wait()?)
    }

    /// Sends SIGTERM to the process group without waiting.
    pub fn signal_terminate(&self) {
        signal_group(self.pid(), "TERM");
    }

    /// Waits (bounded) for the process to exit; `None` if it is still running at the end.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The file the process's output goes to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last lines of the process's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(40);
        format!(
            "--- last lines of {} ---\n{}",
            self.log_path.display(),
            lines[start..].join("\n")
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            // The leader exited; children it left in the group still get the signal.
            signal_group(self.pid(), "KILL");
            return;
        }
        signal_group(self.pid(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            // Every test ends here: a short poll, not a tenth of a second per process.
            std::thread::sleep(Duration::from_millis(5));
        }
        signal_group(self.pid(), "KILL");
        let _ = self.child.wait();
    }
}

/// `kill -SIG -PGID`: signals every process of the group (no libc binding needed).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The `edgeauth` origin server on a free loopback port.
pub struct Origin {
    /// The server process.
    pub process: Process,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

/// What the origin logs once it has bound its port (in the text and the JSON log formats).
const LISTENING: &str = "edgeauth origin listening";

impl Origin {
    /// Starts `edgeauth serve` with `env` on a free port and waits until it listens. If
    /// another process takes the port between [`free_port`] and the origin's bind, the
    /// origin starts again on another port.
    pub fn start(env: &[(&str, &str)]) -> Result<Self> {
        Self::start_on_free_port(|| Ok(Command::new(edgeauth_bin()?)), env)
    }

    /// Starts `edgeauth serve` on `port` (e.g. again on the port of a stopped origin, so a
    /// worker configured with its URL reaches the new process).
    pub fn start_on(port: u16, env: &[(&str, &str)]) -> Result<Self> {
        Self::start_command(port, Command::new(edgeauth_bin()?), env)
    }

    /// Starts `edgeauth serve` with `env` under an open-files soft limit of `soft` (the
    /// hard limit unchanged), as a service manager's default of 1024 would start it: through
    /// util-linux's `prlimit`, which execs the origin in its place.
    pub fn start_with_open_files(soft: u64, env: &[(&str, &str)]) -> Result<Self> {
        let command = || {
            let mut command = Command::new("prlimit");
            command
                .arg(format!("--nofile={soft}:"))
                .arg(edgeauth_bin()?);
            Ok(command)
        };
        Self::start_on_free_port(command, env)
    }

    /// [`Origin::start_command`] with a command from `command` on a [`free_port`], again on
    /// another if the port was taken before the origin could bind it (as the PostgreSQL
    /// harness does).
    fn start_on_free_port(
        command: impl Fn() -> Result<Command>,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Self::start_command(free_port()?, command()?, env) {
                Err(e) if attempts < 5 && e.to_string().contains("Address already in use") => {}
                started => return started,
            }
        }
    }

    /// Runs `command` (the origin's binary, or a program that execs it, with its
    /// arguments) with `serve` and `env` on `port`, and waits until it listens: until its
    /// log says so, which proves the port is the origin's (a connection alone could reach
    /// another process that took the port, while the origin fails to bind it).
    fn start_command(port: u16, mut command: Command, env: &[(&str, &str)]) -> Result<Self> {
        // A private SQLite database unless the test names one (never ./edgeauth.db).
        let sqlite = scratch_dir("sqlite")?.join(format!("origin-{port}.db"));
        command
            .arg("serve")
            .env("EDGEAUTH_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", sqlite.display()),
            )
            .env("RUST_LOG", "info");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut process =
            Process::spawn(&format!("origin-{port}"), command, &scratch_dir("logs")?)?;
        process.wait_for_log(LISTENING, Duration::from_secs(30))?;
        Ok(Origin {
            process,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// The port the origin listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }
}

/// The message of the origin's access-log line, one per finished request (INFO), e.g.
/// `2026-01-01T00:00:00.000000Z  INFO request{id=Ab12.. method=GET path=/api/auth/get-session}:
/// tower_http::trace::on_response: finished processing request latency=0 ms status=200`.
pub const ACCESS_LOG_MESSAGE: &str = "finished processing request";

/// How many requests for exactly `path` (no query string; any method) `process`, an origin,
/// has finished so far, counted from its access log. A request's line is written before its
/// response is sent, so a request whose response was received is counted.
pub fn count_requests(process: &Process, path: &str) -> usize {
    count_requests_with(process, None, path)
}

/// [`count_requests`] for one method only (`Some("GET")`), or any (`None`).
pub fn count_requests_with(process: &Process, method: Option<&str>, path: &str) -> usize {
    let path_field = format!(" path={path}}}:");
    let method_field = method.map(|m| format!(" method={m} "));
    process
        .log()
        .lines()
        .filter(|line| line.contains(ACCESS_LOG_MESSAGE) && line.contains(&path_field))
        .filter(|line| method_field.as_ref().is_none_or(|m| line.contains(m)))
        .count()
}

impl Origin {
    /// [`count_requests`] on this origin's log.
    pub fn count_requests(&self, path: &str) -> usize {
        count_requests(&self.process, path)
    }
}

/// Polls `url` until it answers with any HTTP response, failing early if `process` exits.
pub async fn wait_for_http(process: &mut Process, url: &str, timeout: Duration) -> Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = process.child.try_wait()? {
            bail!(
                "{} exited early ({status})\n{}",
                process.name,
                process.log_tail()
            );
        }
        if client.get(url).send().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not answer {url} within {timeout:?}\n{}",
                process.name,
                process.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The edge worker bundle (`edge/build/`) served by `wrangler dev` (workerd) on a free
/// loopback port, with its own Miniflare state directory, removed on drop.
pub struct WranglerDev {
    /// The wrangler process (its group includes workerd).
    pub process: Process,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state_dir: PathBuf,
}

impl WranglerDev {
    /// How long wrangler may take to bundle and start workerd.
    pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

    /// Starts `wrangler dev` from the repository root (where `wrangler.toml` is), with extra
    /// `--var NAME:VALUE` bindings and no secrets, and waits until it answers HTTP.
    pub async fn start(vars: &[(&str, &str)]) -> Result<Self> {
        Self::start_with_secrets(vars, &[]).await
    }

    /// [`WranglerDev::start`] with secrets too: written to a private env file passed as
    /// `--env-file` (wrangler binds its entries as secret text). Always passed, even empty,
    /// so the developer's `.dev.vars` and `.env` in the repository root are never loaded.
    /// Secret values must be plain (no `$`, quotes, backslashes, `#`, spaces or control
    /// characters: the file is read by dotenv with variable expansion). A name given in both
    /// lists gets the `--var` value. (In the worker both are plain string bindings:
    /// `env.secret()` and `env.var()` read either.)
    pub async fn start_with_secrets(
        vars: &[(&str, &str)],
        secrets: &[(&str, &str)],
    ) -> Result<Self> {
        Self::start_on(free_port()?, vars, secrets).await
    }

    /// [`WranglerDev::start_with_secrets`] on `port`: for a stack whose other parts must know
    /// the edge's URL before it starts (the origin's `BETTER_AUTH_URL` is the edge's, and the
    /// edge is told the origin's).
    pub async fn start_on(
        port: u16,
        vars: &[(&str, &str)],
        secrets: &[(&str, &str)],
    ) -> Result<Self> {
        let root = repo_root();
        let entry = root.join("edge/build/index.js");
        ensure!(
            entry.is_file(),
            "{} is missing: run `bash scripts/build-edge.sh` first (bash scripts/test.sh does)",
            entry.display()
        );
        let wrangler = root.join("node_modules/.bin/wrangler");
        ensure!(
            wrangler.exists(),
            "{} is missing: run `bash scripts/setup.sh` (npm ci) first",
            wrangler.display()
        );
        let state_dir =
            scratch_dir("wrangler-state")?.join(format!("{}-{port}", std::process::id()));
        fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let env_file = state_dir.join("secrets.env");
        let mut env_text = String::new();
        for (name, value) in secrets {
            ensure!(
                !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !name.starts_with(|c: char| c.is_ascii_digit()),
                "secret name {name:?} is not an identifier"
            );
            ensure!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"$'\"\\#`".contains(&b)),
                "the value of secret {name} has characters dotenv would not keep"
            );
            env_text.push_str(&format!("{name}={value}\n"));
        }
        fs::write(&env_file, env_text)
            .with_context(|| format!("writing {}", env_file.display()))?;
        let mut command = Command::new(&wrangler);
        command
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            // Each wrangler its own inspector port, so several can run at once.
            .args(["--inspector-port", &free_port()?.to_string()])
            .arg("--persist-to")
            .arg(&state_dir)
            .arg("--show-interactive-dev-session=false")
            .arg("--env-file")
            .arg(&env_file)
            .current_dir(&root)
            // Secrets from the env file only, never from this process's environment.
            .env("CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", "true")
            .env_remove("CLOUDFLARE_INCLUDE_PROCESS_ENV")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true");
        for (name, value) in vars {
            command.arg("--var").arg(format!("{name}:{value}"));
        }
        let mut process =
            Process::spawn(&format!("wrangler-{port}"), command, &scratch_dir("logs")?)?;
        let url = format!("http://127.0.0.1:{port}");
        wait_for_http(&mut process, &url, Self::STARTUP_TIMEOUT).await?;
        Ok(WranglerDev {
            process,
            url,
            state_dir,
        })
    }
}

impl Drop for WranglerDev {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.state_dir);
    }
}

/// The origin library served in this process on a free loopback port, so tests can drive
/// its clock. Started from `edgeauth serve`'s own argument parser and set-up code.
pub struct InProcessOrigin {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The app state (database, configuration) the server runs with.
    pub state: edgeauth_origin::app::AppState,
    server: tokio::task::JoinHandle<()>,
}

impl InProcessOrigin {
    /// Starts a server with `edgeauth serve ARGS...` semantics and the given clock.
    pub async fn start(
        args: &[&str],
        clock: std::sync::Arc<dyn edgeauth_origin::clock::Clock>,
    ) -> Result<Self> {
        use clap::Parser;
        use edgeauth_origin::cli::{Cli, Command};
        let cli = Cli::try_parse_from(["edgeauth", "serve"].iter().chain(args))?;
        let Command::Serve(serve_args) = cli.command else {
            bail!("not a serve command line");
        };
        let state = edgeauth_origin::app::prepare(&serve_args, clock).await?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = edgeauth_origin::app::router(state.clone());
        let server = tokio::spawn(async move {
            let _ = edgeauth_origin::http::serve(
                listener,
                app,
                edgeauth_origin::http::ConnectionLimits::default(),
                std::future::pending(),
            )
            .await;
        });
        Ok(InProcessOrigin { url, state, server })
    }
}

impl Drop for InProcessOrigin {
    fn drop(&mut self) {
        self.server.abort();
    }
}
