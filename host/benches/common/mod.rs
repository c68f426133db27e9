//! What the benchmarks share: a PostgreSQL database of their own, and a
//! process's peak memory.

/// A new database on the test server (`HERALD_TEST_PG`, default the local
/// one) named `{prefix}_{pid}`; `None` when HERALD_SKIP_POSTGRES is set or
/// PostgreSQL does not answer.
pub async fn postgres_url(prefix: &str) -> Option<String> {
    if std::env::var_os("HERALD_SKIP_POSTGRES").is_some() {
        return None;
    }
    use sqlx::Connection;
    let server = std::env::var("HERALD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .ok()?;
    let name = format!("{prefix}_{}", std::process::id());
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .ok()?;
    Some(format!("{server}/{name}"))
}

/// Drops a benchmark's database (its rows are of no further use).
pub async fn drop_database(url: &str) {
    use sqlx::Connection;
    let (server, name) = url.rsplit_once('/').expect("a database URL");
    if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{server}/postgres")).await {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = sqlx::Executor::execute(&mut admin, sql.as_str()).await;
    }
}

/// Peak resident set size of process `pid` ("self" for this one) since
/// start or its last reset, in MiB.
pub fn peak_rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}
