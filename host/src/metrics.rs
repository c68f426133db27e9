//! Metrics, recorded where the work happens (engine, plugins, store) through
//! the `metrics` facade and exported once, at `GET /metrics` (Prometheus text
//! format, admin key). Labels stay bounded: outcome, channel kind, plugin
//! and version, export, statement and result names; never a member,
//! contact or tenant id.
//!
//! Without [`install`] (tools, unit tests) the facade's calls do nothing.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, 100 µs to 5 s.
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Batch size buckets.
const SIZES: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Installs the process-wide recorder (once) and keeps its histograms
/// drained. Call from within the runtime.
pub fn install() {
    let handle = HANDLE.get_or_init(|| {
        let built = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZES))
            .and_then(|b| b.install_recorder());
        match built {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "metrics unavailable: installing the recorder failed");
                None
            }
        }
    });
    if let Some(handle) = handle.clone() {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        });
    }
}

/// The current metrics in Prometheus text format; `None` without [`install`].
pub fn render() -> Option<String> {
    HANDLE.get()?.as_ref().map(PrometheusHandle::render)
}

/// Records a database write's duration under its statement name.
pub fn db_seconds(statement: &'static str, elapsed: Duration) {
    metrics::histogram!("herald_db_seconds", "statement" => statement).record(elapsed);
}
