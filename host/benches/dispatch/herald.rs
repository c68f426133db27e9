//! A release `herald serve` of the benchmark's own, and what can be read of
//! it from the outside: its API, CPU time and peak memory.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{ADMIN_KEY, CLOCK, target_dir};

/// A running release `herald serve`, killed when dropped.
pub struct Herald {
    pub base: String,
    pid: u32,
    pub http: reqwest::Client,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Herald {
    pub async fn start(database_url: &str, extra: &[&str]) -> Herald {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--allow-egress", "127.0.0.1"])
            .args(extra)
            .args(["--database-url", database_url])
            .args(["--test-clock", CLOCK, "--admin-key", ADMIN_KEY])
            .args(["--import-max-mb", "500"])
            .env("HERALD_PLUGINS_DIR", target_dir().join("plugins"))
            .env("HERALD_CACHE_DIR", target_dir().join("bench-compile-cache"))
            .env("HERALD_DATA_DIR", dir.path())
            .env(
                "RUST_LOG",
                std::env::var("HERALD_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting herald (cargo bench builds it)");
        let pid = child.id().expect("pid");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix("herald listening on ") {
                    return addr.to_owned();
                }
            }
            panic!("herald exited before listening");
        })
        .await
        .expect("herald did not start within 120 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Herald {
            base,
            pid,
            http: reqwest::Client::new(),
            _child: child,
            _dir: dir,
        }
    }

    pub async fn call(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, key: &str, path: &str) -> Value {
        let (status, body) = self.call(key, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Herald's user + system CPU time so far.
    pub fn cpu(&self) -> Duration {
        cpu_of(self.pid)
    }

    pub fn peak_rss_mib(&self) -> f64 {
        crate::common::peak_rss_mib(&self.pid.to_string())
    }
}

/// A process's user + system CPU time so far (from /proc).
pub fn cpu_of(pid: u32) -> Duration {
    cpu_ticks(&pid.to_string(), &[11, 12])
}

/// The CPU time of a PostgreSQL server on this machine so far: every
/// `postgres` process's, plus what the postmaster collected from its
/// exited children (backends of closed connections). `None` when no
/// PostgreSQL runs here (a server elsewhere: its cost is not ours to see).
pub fn postgres_server_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() == "postgres" {
            found = true;
            // utime, stime, cutime, cstime: a live backend has no waited
            // children, the postmaster's are the backends that ended.
            total += cpu_ticks(&pid, &[11, 12, 13, 14]);
        }
    }
    found.then_some(total)
}

/// The sum of `/proc/{pid}/stat`'s clock-tick fields at `indexes`
/// (counted after the command name, which is in parentheses).
pub fn cpu_ticks(pid: &str, indexes: &[usize]) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = indexes
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}
