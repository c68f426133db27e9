//! Starts the real `herald` binary against a fresh database (SQLite file or
//! a new PostgreSQL database) and talks to it over HTTP like a user would.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use crate::api_client::Api;

pub use crate::twilio_hooks::twilio_inbound;

pub const ADMIN_KEY: &str = "e2e-admin-key";

/// Every test server runs on the test clock, started at this instant: a
/// Wednesday 18:30 UTC, inside quiet hours (08:00-21:00) everywhere the
/// tests send, from Honolulu (08:30) through Los Angeles (10:30) and New
/// York (13:30) to Berlin (19:30), so no test depends on the hour CI runs at.
/// Tests about time set the clock themselves (`Herald::set_clock`).
pub const TEST_CLOCK_START: &str = "2026-01-14T18:30:00Z";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::harness::skip_postgres() {
                    eprintln!("HERALD_SKIP_POSTGRES set: skipped");
                    return;
                }
                super::$name($crate::harness::Backend::Postgres).await
            }
        }
    };
}

pub fn skip_postgres() -> bool {
    std::env::var_os("HERALD_SKIP_POSTGRES").is_some()
}

/// A database that lives as long as the test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
    /// The server's data dir (import spool); kept across a restart.
    data: Option<tempfile::TempDir>,
    /// The test clock's lead over real time, kept across a restart (and
    /// shared with a second instance) so time never jumps back.
    clock_offset_ms: i64,
    /// The first instance's secrets key file, for a second instance on the
    /// same database (`None`: the server's default, in its data dir).
    secrets_key: Option<PathBuf>,
}

fn real_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn initial_clock_offset() -> i64 {
    let start: jiff::Timestamp = TEST_CLOCK_START.parse().unwrap();
    start.as_millisecond() - real_now_ms()
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("herald.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                    data: Some(tempfile::tempdir().expect("temp dir")),
                    clock_offset_ms: initial_clock_offset(),
                    secrets_key: None,
                }
            }
            Backend::Postgres => {
                let name = format!("herald_e2e_{}", rand_suffix());
                admin_pg(&format!("CREATE DATABASE {name}")).await;
                Self {
                    url: format!("{}/{name}", pg_server()),
                    _dir: None,
                    pg_name: Some(name),
                    data: Some(tempfile::tempdir().expect("temp dir")),
                    clock_offset_ms: initial_clock_offset(),
                    secrets_key: None,
                }
            }
        }
    }
}

impl TestDb {
    /// The key file sealing this database's secrets.
    pub fn secrets_key_file(&self) -> PathBuf {
        self.secrets_key.clone().unwrap_or_else(|| {
            self.data
                .as_ref()
                .expect("a data dir")
                .path()
                .join("secrets.key")
        })
    }

    /// The compile cache shared by every test server: components compile
    /// once per build, like a real deployment's restarts.
    fn cache_dir(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-compile-cache")
    }

    /// Stands in for a database moved to a restarted server.
    fn placeholder() -> Self {
        Self {
            url: String::new(),
            _dir: None,
            pg_name: None,
            data: None,
            clock_offset_ms: 0,
            secrets_key: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort: a leftover test database is harmless.
            let _ = std::process::Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn pg_server() -> String {
    std::env::var("HERALD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn admin_pg(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", pg_server()))
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 (or set HERALD_SKIP_POSTGRES=1)");
    sqlx::Executor::execute(&mut conn, sql).await.expect(sql);
}

fn rand_suffix() -> String {
    use rand::Rng;
    hex::encode(rand::rng().random::<[u8; 6]>())
}

pub fn plugins_dir() -> PathBuf {
    let dir = std::env::var_os("HERALD_TEST_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugins")
        });
    assert!(
        dir.join("twilio_sms.wasm").exists(),
        "plugin components missing in {}: run ./dev.sh build first",
        dir.display()
    );
    dir
}

/// A component built by `./dev.sh build` for tests to upload.
pub fn artifact(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-artifacts")
        .join(file);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run ./dev.sh build first", path.display()))
}

/// A running `herald serve`.
pub struct Herald {
    pub base: String,
    pub http: reqwest::Client,
    /// Killed when the test ends (`kill_on_drop`).
    _child: Child,
    db: TestDb,
    /// Everything the server printed on stdout (the demo's walkthrough).
    pub stdout: LogLines,
}

/// Log lines a server wrote (JSON, one event each), for tests that read
/// what the server did (e.g. which SQL it ran).
pub type LogLines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

impl Herald {
    pub async fn start(backend: Backend, extra: &[&str]) -> Self {
        let db = TestDb::new(backend).await;
        Self::start_on(db, "127.0.0.1:0", extra).await
    }

    /// Starts a server logging JSON lines under the `RUST_LOG` filter
    /// `filter`, and collects them.
    pub async fn start_logging(backend: Backend, filter: &str) -> (Self, LogLines) {
        Self::start_logging_with(backend, filter, &[]).await
    }

    /// As [`Self::start_logging`], with more flags.
    pub async fn start_logging_with(
        backend: Backend,
        filter: &str,
        extra: &[&str],
    ) -> (Self, LogLines) {
        let db = TestDb::new(backend).await;
        let lines = LogLines::default();
        let mut args = vec!["--log-json"];
        args.extend_from_slice(extra);
        let herald = Self::launch(db, "127.0.0.1:0", &args, Some((filter, lines.clone()))).await;
        (herald, lines)
    }

    /// The database URL the server runs on (for tests that inspect it).
    pub fn database_url(&self) -> &str {
        &self.db.url
    }

    /// The server's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let pid = self._child.id().expect("herald is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM in /proc status")
            * 1024
    }

    /// The key file sealing the database's secrets.
    pub fn secrets_key_file(&self) -> PathBuf {
        self.db.secrets_key_file()
    }

    async fn start_on(db: TestDb, listen: &str, extra: &[&str]) -> Self {
        Self::launch(db, listen, extra, None).await
    }

    async fn launch(
        db: TestDb,
        listen: &str,
        extra: &[&str],
        capture: Option<(&str, LogLines)>,
    ) -> Self {
        let plugins = plugins_dir();
        let clock = jiff::Timestamp::from_millisecond(real_now_ms() + db.clock_offset_ms)
            .unwrap()
            .to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["serve", "--listen", listen, "--database-url", &db.url])
            // The simulator and the tests' reply receivers listen on
            // loopback, which the egress policy refuses by default. (Through
            // the environment: a test's own --allow-egress replaces it.)
            .env("HERALD_ALLOW_EGRESS", "127.0.0.1")
            .args(["--test-clock", &clock])
            // Through the environment, so a test can still pass --plugins-dir.
            .env("HERALD_PLUGINS_DIR", &plugins)
            .env("HERALD_CACHE_DIR", db.cache_dir())
            // Uncertain sends are looked up at the simulator within a second
            // (it lists a message the moment it takes it).
            .env("HERALD_LOOKUP_AFTER_SECS", "1")
            .env(
                "HERALD_DATA_DIR",
                db.data.as_ref().expect("a data dir").path(),
            )
            // A second instance opens the first one's secrets; a first
            // instance creates its key file in its data dir.
            .envs(
                db.secrets_key
                    .as_ref()
                    .map(|file| ("HERALD_SECRETS_KEY_FILE", file.clone())),
            )
            .args(["--admin-key", ADMIN_KEY])
            .args(extra)
            .env(
                "RUST_LOG",
                match &capture {
                    Some((filter, _)) => filter.to_string(),
                    None => std::env::var("HERALD_TEST_LOG").unwrap_or_else(|_| "warn".into()),
                },
            )
            .stdout(Stdio::piped())
            .stderr(if capture.is_some() {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("starting herald");
        if let Some((_, lines)) = capture {
            let stderr = child.stderr.take().expect("piped stderr");
            tokio::spawn(async move {
                let mut reader = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let printed = LogLines::default();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("reading herald stdout") {
                printed.lock().unwrap().push(line.clone());
                if let Some(addr) = line.strip_prefix("herald listening on ") {
                    return addr.to_owned();
                }
            }
            panic!("herald exited before listening");
        })
        .await
        .expect("herald did not start within 60 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        let keep = printed.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep.lock().unwrap().push(line);
            }
        });
        Self {
            base,
            http: reqwest::Client::new(),
            _child: child,
            db,
            stdout: printed,
        }
    }

    /// Kills the process with SIGKILL (no graceful shutdown: a crash) and
    /// starts a new one on the same database and address, as a supervisor
    /// would (providers keep calling back to the same public URL).
    pub async fn crash_and_restart(mut self, extra: &[&str]) -> Self {
        self._child.kill().await.expect("killing herald");
        let db = std::mem::replace(&mut self.db, TestDb::placeholder());
        let listen = self.base.trim_start_matches("http://").to_owned();
        Self::start_on(db, &listen, extra).await
    }

    /// Sends SIGTERM (a deploy) and waits for the process to exit; then
    /// starts a new one on the same database and address. Answers how long
    /// the old one took to exit and whether it exited successfully.
    pub async fn terminate_and_restart(
        mut self,
        extra: &[&str],
        within: Duration,
    ) -> (Self, Duration, bool) {
        let pid = self._child.id().expect("a running herald");
        let asked = Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "kill -TERM {pid}");
        let exit = tokio::time::timeout(within, self._child.wait())
            .await
            .unwrap_or_else(|_| panic!("herald did not exit within {within:?} of SIGTERM"))
            .expect("waiting for herald");
        let took = asked.elapsed();
        let db = std::mem::replace(&mut self.db, TestDb::placeholder());
        let listen = self.base.trim_start_matches("http://").to_owned();
        (
            Self::start_on(db, &listen, extra).await,
            took,
            exit.success(),
        )
    }

    /// Another instance on the same database (PostgreSQL only).
    pub async fn second_instance(&self, extra: &[&str]) -> Herald {
        let db = TestDb {
            url: self.db.url.clone(),
            _dir: None,
            pg_name: None, // the first instance drops it
            data: Some(tempfile::tempdir().expect("temp dir")),
            clock_offset_ms: self.db.clock_offset_ms,
            secrets_key: Some(self.db.secrets_key_file()),
        };
        Self::start_on(db, "127.0.0.1:0", extra).await
    }

    /// Sets the test clock (`{"now": ...}` or `{"advance_seconds": ...}`)
    /// and answers the instant it now reads, in ms.
    pub async fn move_clock(&mut self, body: Value) -> i64 {
        let (status, reading) = self.admin().post("/v1/admin/clock", body).await;
        assert_eq!(status, 200, "{reading}");
        let now = crate::support::at_ms(&reading["now"]);
        self.db.clock_offset_ms = now - real_now_ms();
        now
    }

    /// Sets the test clock to an RFC 3339 instant.
    pub async fn set_clock(&mut self, at: &str) -> i64 {
        self.move_clock(json!({ "now": at })).await
    }

    /// Moves the test clock forward.
    pub async fn advance_clock(&mut self, secs: i64) -> i64 {
        self.move_clock(json!({ "advance_seconds": secs })).await
    }

    /// A client holding the admin key.
    pub fn admin(&self) -> Api {
        self.api(ADMIN_KEY)
    }

    /// A client for an existing key on this server.
    pub fn api(&self, key: &str) -> Api {
        Api {
            base: self.base.clone(),
            key: key.to_owned(),
            http: self.http.clone(),
        }
    }

    pub async fn new_tenant(&self, name: &str) -> Api {
        let admin = Api {
            base: self.base.clone(),
            key: ADMIN_KEY.into(),
            http: self.http.clone(),
        };
        let (status, body) = admin.post("/v1/tenants", json!({ "name": name })).await;
        assert_eq!(status, 201, "{body}");
        Api {
            base: self.base.clone(),
            key: body["api_key"].as_str().expect("api_key").to_owned(),
            http: self.http.clone(),
        }
    }
}

/// Distinct valid US numbers whose last four digits are `suffix`.
pub fn numbers_ending(suffix: &str, count: usize, exchange_start: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("+1415{:03}{suffix}", exchange_start + i))
        .collect()
}
