//! A throwaway PostgreSQL for tests.
//!
//! [`Postgres::start`] gives each test its own database:
//!
//! - with `DATABASE_URL` set, a fresh, uniquely named database on that server, dropped when
//!   the [`Postgres`] is dropped;
//! - otherwise a private cluster: `initdb` into a fresh directory under the cargo target dir,
//!   started on a free 127.0.0.1 port with durability off (tests don't need it), with a
//!   database `edgeauth`; dropping the [`Postgres`] stops the cluster and deletes the
//!   directory. Missing server binaries are an error, never a skip.
//!
//! [`Postgres::start_shared`] is the cheap variant for tests that never stop or restart the
//! server: a fresh, uniquely named database on one cluster per test process, created by the
//! first test that asks (about a second) and shared by all the others. A thread creates the
//! databases ahead (one or two), so a test rarely waits for `CREATE DATABASE`; databases are
//! left in place when the test ends. The cluster outlives every test: a watchdog process
//! started with it stops it and deletes its directory as soon as the test process exits,
//! however it exits. With `DATABASE_URL` set it is the same as [`Postgres::start`].
//!
//! `initdb` and `postgres` refuse to run as root, so when the tests run as root every server
//! command goes through `runuser -u postgres --` (the `postgres` OS user comes with the Debian
//! package) and the cluster directory is handed to that user.

use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, ensure, Context, Result};
use sqlx::{Connection, Executor, PgConnection};

use crate::{free_port, scratch_dir};

/// Numbers the clusters and databases of this process.
static NEXT: AtomicUsize = AtomicUsize::new(0);

const MISSING_BINARIES: &str = "PostgreSQL server binaries not found: run bash scripts/setup.sh \
     (apt-get install postgresql), or set DATABASE_URL to a server where the tests may create \
     databases";

/// A PostgreSQL database for one test (see the module docs).
pub struct Postgres {
    url: String,
    kind: Kind,
}

enum Kind {
    Local(Cluster),
    /// A database on the process's shared cluster: left there when dropped (the cluster
    /// goes as a whole when the process exits).
    Shared,
    External {
        admin_url: String,
        database: String,
    },
}

/// The cluster [`Postgres::start_shared`] creates databases on, once per test process; the
/// error text if it could not be started (every test asking gets it).
static SHARED: OnceLock<std::result::Result<SharedCluster, String>> = OnceLock::new();

/// A cluster that lives as long as the test process (statics are never dropped).
struct SharedCluster {
    cluster: Cluster,
    /// Databases created ahead, one or two at a time, by a thread of their own: a test
    /// takes one at once instead of waiting for `CREATE DATABASE`.
    ready: Mutex<Receiver<std::result::Result<String, String>>>,
    /// The write end of the watchdog's stdin: closed by the kernel when this process exits,
    /// whereupon the watchdog stops the cluster and removes its directory.
    _watchdog: ChildStdin,
}

impl Postgres {
    /// A fresh database: on `DATABASE_URL`'s server when it is set, else in a private
    /// cluster started for this test (about a second; see the module docs).
    pub async fn start() -> Result<Postgres> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Self::on_server(url.trim()).await,
            _ => Self::local().await,
        }
    }

    /// A fresh database on this process's shared cluster (see the module docs), or on
    /// `DATABASE_URL`'s server when it is set. For tests that never [`stop`](Self::stop) or
    /// [`restart`](Self::restart) the server.
    pub async fn start_shared() -> Result<Postgres> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Self::on_server(url.trim()).await,
            _ => Self::shared().await,
        }
    }

    /// `postgres://...` for the test's database.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Whether this is a private cluster (which [`stop`](Self::stop) and
    /// [`restart`](Self::restart) need) rather than a database on a shared cluster or on
    /// `DATABASE_URL`'s server.
    pub fn is_local(&self) -> bool {
        matches!(self.kind, Kind::Local(_))
    }

    /// Stops the cluster (`pg_ctl stop -m fast`: open connections are cut). The data stays;
    /// [`restart`](Self::restart) brings it back on the same port. Blocks until it is down.
    pub fn stop(&self) -> Result<()> {
        self.cluster()?.stop("fast")
    }

    /// Starts the cluster again after [`stop`](Self::stop) (or restarts a running one): same
    /// data, same port. Blocks until it accepts connections.
    pub fn restart(&self) -> Result<()> {
        let cluster = self.cluster()?;
        if cluster.is_running() {
            cluster.stop("fast")?;
        }
        cluster.start()
    }

    /// The end of the server log (empty for `DATABASE_URL` servers), for failure messages.
    pub fn log_tail(&self) -> String {
        match &self.kind {
            Kind::Local(cluster) => cluster.log_tail(),
            Kind::Shared => match SHARED.get() {
                Some(Ok(shared)) => shared.cluster.log_tail(),
                _ => String::new(),
            },
            Kind::External { .. } => String::new(),
        }
    }

    fn cluster(&self) -> Result<&Cluster> {
        match &self.kind {
            Kind::Local(cluster) => Ok(cluster),
            Kind::Shared => bail!(
                "stopping or restarting PostgreSQL needs a private cluster: use Postgres::start"
            ),
            Kind::External { .. } => bail!(
                "stopping or restarting PostgreSQL needs a private cluster: unset DATABASE_URL"
            ),
        }
    }

    async fn shared() -> Result<Postgres> {
        // The first caller creates the cluster (blocking: off the async threads); the others
        // wait for it.
        let (port, database) = tokio::task::spawn_blocking(|| -> Result<(u16, String)> {
            let shared = SHARED
                .get_or_init(|| SharedCluster::create().map_err(|e| format!("{e:#}")))
                .as_ref()
                .map_err(|e| anyhow::anyhow!("starting the shared PostgreSQL cluster: {e}"))?;
            let database = shared
                .ready
                .lock()
                .map_err(|_| anyhow::anyhow!("a test panicked taking a database"))?
                .recv()
                .context("the thread creating databases is gone")?
                .map_err(|e| anyhow::anyhow!("{e}\n{}", shared.cluster.log_tail()))?;
            Ok((shared.cluster.port, database))
        })
        .await
        .context("the PostgreSQL setup task failed")??;
        Ok(Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/{database}"),
            kind: Kind::Shared,
        })
    }

    async fn local() -> Result<Postgres> {
        let cluster = tokio::task::spawn_blocking(Cluster::create)
            .await
            .context("the PostgreSQL setup task failed")??;
        let admin_url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
        create_database(&admin_url, "edgeauth")
            .await
            .with_context(|| cluster.log_tail())?;
        Ok(Postgres {
            url: format!("postgres://postgres@127.0.0.1:{}/edgeauth", cluster.port),
            kind: Kind::Local(cluster),
        })
    }

    async fn on_server(admin_url: &str) -> Result<Postgres> {
        ensure!(
            admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://"),
            "DATABASE_URL must be a postgres:// URL for the tests"
        );
        // Unique across concurrent tests (pid, counter) and across runs that left databases
        // behind (a per-process random value).
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let database = format!(
            "edgeauth_test_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            random as u32
        );
        create_database(admin_url, &database)
            .await
            .context("creating the test database on DATABASE_URL's server")?;
        Ok(Postgres {
            url: with_database(admin_url, &database)?,
            kind: Kind::External {
                admin_url: admin_url.to_string(),
                database,
            },
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A local cluster cleans up in `Cluster::drop`.
        if let Kind::External {
            admin_url,
            database,
        } = &self.kind
        {
            // Drop may run inside a runtime: do the async work on a thread of its own.
            let (admin_url, database) = (admin_url.clone(), database.clone());
            let _ = std::thread::spawn(move || -> Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(drop_database(&admin_url, &database))
            })
            .join();
        }
    }
}

async fn create_database(admin_url: &str, name: &str) -> Result<()> {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .context("connecting to PostgreSQL")?;
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .with_context(|| format!("CREATE DATABASE {name}"))?;
    conn.close().await?;
    Ok(())
}

async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let mut conn = PgConnection::connect(admin_url).await?;
    // `WITH (FORCE)` (PostgreSQL 13+) cuts connections a test left open.
    if conn
        .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
        .await
        .is_err()
    {
        conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}""#).as_str())
            .await?;
    }
    conn.close().await?;
    Ok(())
}

/// `url` with its database path replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> Result<String> {
    let authority_at = url.find("://").context("DATABASE_URL has no scheme")? + 3;
    let (scheme, rest) = url.split_at(authority_at);
    let (before_query, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    let authority = before_query.split('/').next().unwrap_or_default();
    Ok(format!("{scheme}{authority}/{name}{query}"))
}

impl SharedCluster {
    /// A cluster as for a private one, and its watchdog: `sh` waiting for end of file on its
    /// stdin, in a process group of its own (a Ctrl-C to the test run does not kill it
    /// first), then stopping the cluster and deleting its directory.
    fn create() -> Result<SharedCluster> {
        let cluster = Cluster::create()?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#"cat >/dev/null; dir="$1"; shift; "$@" >/dev/null 2>&1; rm -rf "$dir""#)
            .arg("edgeauth-postgres-watchdog")
            .arg(&cluster.dir);
        let stop = cluster.stop_command("immediate");
        command.arg(stop.get_program()).args(stop.get_args());
        let mut watchdog = command
            .current_dir(&cluster.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting the shared cluster's watchdog (sh)")?;
        let stdin = watchdog.stdin.take().context("the watchdog has no stdin")?;

        // The database factory: blocks once a database waits in the channel and another in
        // `send`, and ends with the process.
        let admin_url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
        let (sender, ready) = sync_channel(1);
        std::thread::Builder::new()
            .name("postgres-databases".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = sender.send(Err(format!("starting a runtime: {e}")));
                        return;
                    }
                };
                loop {
                    let database = format!(
                        "edgeauth_{}_{}",
                        std::process::id(),
                        NEXT.fetch_add(1, Ordering::Relaxed)
                    );
                    let created = runtime
                        .block_on(create_database(&admin_url, &database))
                        .map(|()| database)
                        .map_err(|e| format!("{e:#}"));
                    if sender.send(created).is_err() {
                        return;
                    }
                }
            })
            .context("starting the thread creating databases")?;

        // Kept in a static, which is never dropped: from here on the watchdog cleans up.
        Ok(SharedCluster {
            cluster,
            ready: Mutex::new(ready),
            _watchdog: stdin,
        })
    }
}

/// A private cluster: its directory, binaries and port.
struct Cluster {
    bin_dir: PathBuf,
    /// `<target>/<profile>/e2e/postgres/<pid>-<n>`: `data/`, `sock/`, `postgres.log`.
    dir: PathBuf,
    data_dir: PathBuf,
    log_file: PathBuf,
    port: u16,
    /// Running as root: server commands go through `runuser -u postgres --`.
    as_postgres: bool,
}

impl Cluster {
    /// `initdb` and start, retrying on another port if the chosen one was taken meanwhile.
    fn create() -> Result<Cluster> {
        let bin_dir = find_bin_dir()?;
        let as_postgres = running_as_root();
        if as_postgres {
            let known = Command::new("id")
                .args(["-u", "postgres"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            ensure!(
                known,
                "the tests run as root, where initdb refuses to run, and there is no `postgres` \
                 OS user to run it as: run bash scripts/setup.sh (apt-get install postgresql) \
                 or run the tests as an ordinary user"
            );
        }
        let base = scratch_dir("postgres")?;
        reap_stale_clusters(&base, &bin_dir, as_postgres);

        let dir = base.join(format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let socket_dir = dir.join("sock");
        fs::create_dir_all(&socket_dir)
            .with_context(|| format!("creating {}", socket_dir.display()))?;
        let mut cluster = Cluster {
            data_dir: dir.join("data"),
            log_file: dir.join("postgres.log"),
            dir,
            bin_dir,
            port: 0,
            as_postgres,
        };
        // From here on, `Drop` cleans up whatever happens.
        if as_postgres {
            cluster.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&cluster.dir),
                "chown",
            )?;
        }
        let data_dir = cluster.data_dir.clone();
        cluster.run(
            cluster
                .server_command("initdb")
                .arg("-D")
                .arg(&data_dir)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--locale=C", "--no-sync"]),
            "initdb",
        )?;
        fs::OpenOptions::new()
            .append(true)
            .open(data_dir.join("postgresql.conf"))
            .and_then(|mut conf| {
                use std::io::Write;
                conf.write_all(b"\ninclude = 'edgeauth-test.conf'\n")
            })
            .context("editing postgresql.conf")?;

        let mut attempts = 0;
        loop {
            attempts += 1;
            cluster.port = free_port()?;
            cluster.write_settings(&socket_dir)?;
            match cluster.start() {
                Ok(()) => return Ok(cluster),
                // Another process took the port between `free_port` and the bind.
                Err(_) if attempts < 5 && cluster.log_tail().contains("could not bind") => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The settings the cluster starts with, in `data/edgeauth-test.conf`.
    fn write_settings(&self, socket_dir: &Path) -> Result<()> {
        // Unix socket paths are limited to 107 bytes; fall back to TCP only if too long.
        let socket_path_len = socket_dir.as_os_str().len() + "/.s.PGSQL.65535".len();
        let sockets = if socket_path_len < 100 && !socket_dir.to_string_lossy().contains('\'') {
            socket_dir.to_string_lossy().into_owned()
        } else {
            String::new()
        };
        let settings = format!(
            "port = {port}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{sockets}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             shared_buffers = 32MB\n",
            port = self.port,
        );
        let path = self.data_dir.join("edgeauth-test.conf");
        fs::write(&path, settings).with_context(|| format!("writing {}", path.display()))
    }

    fn start(&self) -> Result<()> {
        self.run(
            self.server_command("pg_ctl")
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&self.log_file)
                .args(["-w", "-t", "60", "start"]),
            "pg_ctl start",
        )
    }

    fn stop(&self, mode: &str) -> Result<()> {
        self.run(&mut self.stop_command(mode), "pg_ctl stop")
    }

    /// `pg_ctl stop` in `mode`, waiting (bounded) until the server is down.
    fn stop_command(&self, mode: &str) -> Command {
        let mut command = self.server_command("pg_ctl");
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        command
    }

    fn is_running(&self) -> bool {
        self.server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A command for server binary `name`, as the `postgres` user when we are root.
    fn server_command(&self, name: &str) -> Command {
        server_command(&self.bin_dir, name, self.as_postgres, &self.dir)
    }

    /// Runs `command` to completion; on failure the error carries its output and the log.
    fn run(&self, command: &mut Command, what: &str) -> Result<()> {
        let output = command
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {what}: {command:?}"))?;
        if !output.status.success() {
            bail!(
                "{what} failed ({})\n{command:?}\n{}{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                self.log_tail()
            );
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(30);
        format!(
            "--- last lines of {} ---\n{}",
            self.log_file.display(),
            lines[start..].join("\n")
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data_dir.join("postmaster.pid").exists() {
            let _ = self.stop("immediate");
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn server_command(bin_dir: &Path, name: &str, as_postgres: bool, cwd: &Path) -> Command {
    let program = bin_dir.join(name);
    let mut command = if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    // The postgres user may not be able to enter the test's working directory.
    command.current_dir(cwd).env("LC_ALL", "C");
    command
}

/// Stops and deletes clusters left behind by test processes that no longer exist (killed
/// runs never reach `Drop`). Best effort.
fn reap_stale_clusters(base: &Path, bin_dir: &Path, as_postgres: bool) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        let data_dir = dir.join("data");
        if data_dir.join("postmaster.pid").exists() {
            let _ = server_command(bin_dir, "pg_ctl", as_postgres, base)
                .arg("-D")
                .arg(&data_dir)
                .args(["-m", "immediate", "-w", "stop"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// The server binaries: the newest `/usr/lib/postgresql/<version>/bin` (Debian), else
/// `pg_config --bindir`.
fn find_bin_dir() -> Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    // pg_config also ships with the client libraries: check the server is really there.
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&bin) {
            return Ok(bin);
        }
    }
    bail!("{MISSING_BINARIES}")
}

/// Whether the effective uid is 0.
fn running_as_root() -> bool {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        // `Uid: real effective saved filesystem`
        if let Some(euid) = status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(2))
        {
            return euid == "0";
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
