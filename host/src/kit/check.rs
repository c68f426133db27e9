//! `herald plugin check FILE.wasm`: a conformance run of a provider
//! component against the provider simulator. Prints one row per check and
//! answers whether all passed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};

use crate::plugins::{
    CallContext, CompileCache, LoadedPlugin, Registry, Runtime, RuntimeLimits, wit,
};
use crate::store::Store;

use super::webhook_samples;

/// One line of the report.
pub struct Row {
    pub check: &'static str,
    pub passed: bool,
    pub detail: String,
}

pub struct Options {
    /// Non-secret config; `{sim}` in a value becomes the simulator's URL.
    pub config: Vec<(String, String)>,
    pub secrets: Vec<(String, String)>,
    pub timeout: Duration,
}

pub async fn run(wasm: &Path, options: Options) -> anyhow::Result<Vec<Row>> {
    let sim = Simulator::start(SimConfig::default()).await?;
    // A database of its own, removed with its WAL and shared-memory files
    // when the check ends (removing the database file alone left those
    // two behind in the temp directory at every run).
    let dir = tempfile::Builder::new().prefix("herald-check-").tempdir()?;
    let db = dir.path().join("check.db");
    let store = Store::connect(&format!("sqlite:{}", db.display())).await?;
    let runtime = Runtime::new(RuntimeLimits {
        call_timeout: options.timeout,
        // The check's simulator listens on loopback.
        egress: std::sync::Arc::new(crate::egress::EgressPolicy::with_loopback()),
        ..RuntimeLimits::default()
    })?;
    let registry = Registry::new(runtime, store, CompileCache::new(None), u64::MAX);
    let mut rows = Vec::new();
    let installed = registry.install(std::fs::read(wasm)?).await;
    let plugin = match installed {
        Ok(p) => p,
        Err(e) => {
            rows.push(row(
                "component implements herald:provider",
                false,
                e.to_string(),
            ));
            return Ok(rows);
        }
    };
    rows.push(row(
        "component implements herald:provider",
        true,
        format!("world {}", plugin.world),
    ));
    rows.push(manifest_row(&plugin));
    let checker = Checker::new(plugin, sim, options);
    checker.config_rows(&mut rows).await;
    checker.send_rows(&mut rows).await;
    checker.send_batch_row(&mut rows).await;
    checker.webhook_row(&mut rows).await;
    checker.webhook_batch_row(&mut rows).await;
    let slowest = [&checker.plugin.stats, &checker.plugin.webhook_stats]
        .map(|s| s.snapshot().max_latency_ms)
        .into_iter()
        .fold(0.0, f64::max);
    rows.push(row(
        "no call exceeds its deadline",
        slowest < checker.options.timeout.as_millis() as f64,
        format!(
            "slowest call {slowest:.1} ms of {:?}",
            checker.options.timeout
        ),
    ));
    Ok(rows)
}

fn row(check: &'static str, passed: bool, detail: impl Into<String>) -> Row {
    Row {
        check,
        passed,
        detail: detail.into(),
    }
}

fn manifest_row(plugin: &LoadedPlugin) -> Row {
    let m = &plugin.manifest;
    let unnamed = m
        .config
        .iter()
        .find(|f| f.name.is_empty() || f.label.is_empty());
    match unnamed {
        Some(f) => row(
            "manifest is sane",
            false,
            format!("config field {:?} lacks a name or label", f.name),
        ),
        None => row(
            "manifest is sane",
            true,
            format!(
                "{} {}, {} channel kind(s), {} config field(s)",
                m.name,
                m.version,
                m.channels.len(),
                m.config.len()
            ),
        ),
    }
}

/// (check name, recipient, secrets to use, what the answer must contain)
type SendCase<'a> = (&'static str, &'a str, &'a [(String, String)], &'a str);

struct Checker {
    plugin: Arc<LoadedPlugin>,
    sim: Simulator,
    options: Options,
}

impl Checker {
    /// Fills in simulator settings for the config fields the simulator
    /// knows, unless the caller gave values.
    fn new(plugin: Arc<LoadedPlugin>, sim: Simulator, mut options: Options) -> Self {
        let base = sim.base_url();
        let sim_config = sim.config().clone();
        let has_field = |name: &str| plugin.manifest.config.iter().any(|f| f.name == name);
        let twilio_like = has_field("account-sid");
        // The simulator's Vonage SMS API serves `/sms/json` at its root.
        let vonage_like = has_field("api-secret") && has_field("signature-secret");
        for field in &plugin.manifest.config {
            let target = if field.secret {
                &mut options.secrets
            } else {
                &mut options.config
            };
            if target.iter().any(|(k, _)| k == &field.name) {
                continue;
            }
            let preset = match field.name.as_str() {
                "account-sid" => Some(sim_config.twilio_account_sid.clone()),
                "auth-token" => Some(sim_config.twilio_auth_token.clone()),
                "base-url" if twilio_like || vonage_like => Some(base.clone()),
                "api-key" if vonage_like => Some(sim_config.vonage_api_key.clone()),
                "api-secret" => Some(sim_config.vonage_api_secret.clone()),
                "signature-secret" => Some(sim_config.vonage_signature_secret.clone()),
                "base-url" => Some(format!("{base}/generic")),
                "api-token" => Some(sim_config.generic_api_token.clone()),
                "webhook-secret" => Some(sim_config.generic_webhook_secret.clone()),
                "webhook-signing-key" => Some(sim_config.mailgun_webhook_signing_key.clone()),
                _ => None,
            };
            if let Some(value) = preset {
                target.push((field.name.clone(), value));
            }
        }
        for (_, value) in &mut options.config {
            *value = value.replace("{sim}", &base);
        }
        Self {
            plugin,
            sim,
            options,
        }
    }

    fn ctx(&self, secrets: &[(String, String)]) -> CallContext {
        CallContext {
            plugin: self.plugin.name().to_owned(),
            version: self.plugin.version().to_owned(),
            channel_id: None,
            secrets: Arc::new(secrets.iter().cloned().collect()),
            allowed_hosts: Arc::new(vec!["127.0.0.1".into()]),
            cpu_budget: None,
        }
    }

    async fn config_rows(&self, rows: &mut Vec<Row>) {
        let required: Vec<&str> = self
            .plugin
            .manifest
            .config
            .iter()
            .filter(|f| f.required && !f.secret)
            .map(|f| f.name.as_str())
            .collect();
        let empty = self.plugin.validate_config(self.ctx(&[]), Vec::new()).await;
        rows.push(match (&empty, required.is_empty()) {
            (Ok(Err(msg)), false) if required.iter().any(|f| msg.contains(f)) => {
                row("validate-config names a missing field", true, msg.clone())
            }
            (Ok(Ok(())), true) => row(
                "validate-config names a missing field",
                true,
                "no required fields",
            ),
            (other, _) => row(
                "validate-config names a missing field",
                false,
                format!(
                    "expected an error naming one of {required:?}, got {}",
                    describe(other)
                ),
            ),
        });
        let good = self
            .plugin
            .validate_config(self.ctx(&self.options.secrets), self.options.config.clone())
            .await;
        rows.push(row(
            "validate-config accepts the simulator config",
            matches!(good, Ok(Ok(()))),
            describe(&good),
        ));
    }

    async fn send(&self, to: &str, secrets: &[(String, String)]) -> String {
        let message = check_message(to);
        let result = self
            .plugin
            .send(self.ctx(secrets), self.options.config.clone(), message)
            .await
            .0;
        describe(&result)
    }

    async fn send_rows(&self, rows: &mut Vec<Row>) {
        let wrong: Vec<(String, String)> = self
            .options
            .secrets
            .iter()
            .map(|(k, _)| (k.clone(), "wrong-secret".into()))
            .collect();
        let cases: [SendCase; 5] = [
            (
                "send: accepted",
                "+14155557000",
                &self.options.secrets,
                "Ok(SendReceipt",
            ),
            (
                "send: invalid number -> invalid-recipient",
                "+14155550001",
                &self.options.secrets,
                "InvalidRecipient",
            ),
            (
                "send: 429 -> rate-limited",
                "+14155550429",
                &self.options.secrets,
                "RateLimited",
            ),
            (
                "send: 500 -> transient",
                "+14155550500",
                &self.options.secrets,
                "Transient",
            ),
            (
                "send: bad credentials -> auth",
                "+14155557001",
                &wrong,
                "Auth",
            ),
        ];
        for (check, to, secrets, expect) in cases {
            let started = Instant::now();
            let got = self.send(to, secrets).await;
            let detail = format!("{got} ({} ms)", started.elapsed().as_millis());
            rows.push(row(check, got.contains(expect), detail));
        }
        let accepted = self.sim.stats().accepted;
        rows.push(row(
            "simulator saw exactly the accepted sends",
            accepted == 1,
            format!("{accepted} accepted"),
        ));
    }

    /// A plugin that exports `send-all` (1.5) must answer each message as
    /// `send` answers it alone, and make each message's request for that
    /// message (`http-send-all`'s tag): the server batches a busy
    /// channel's messages, and judges each one's fate by its own requests
    /// when a call fails.
    async fn send_batch_row(&self, rows: &mut Vec<Row>) {
        const CHECK: &str = "send-all answers as send, each request tagged with its message";
        if !self.plugin.batches_sends() {
            rows.push(row(
                CHECK,
                true,
                "not exported: each message is one send call",
            ));
            return;
        }
        // (recipient, what the answer must contain, whether the provider
        // took its request)
        let cases = [
            ("+14155557002", "Ok(SendReceipt", true),
            ("+14155550001", "InvalidRecipient", false),
            ("+14155570429", "RateLimited", false),
        ];
        let messages = cases.iter().map(|(to, ..)| check_message(to)).collect();
        let (result, wires) = self
            .plugin
            .send_all_watched(
                self.ctx(&self.options.secrets),
                self.options.config.clone(),
                messages,
            )
            .await;
        let answers = match result {
            Ok(answers) if answers.len() == cases.len() => answers,
            other => {
                let detail = format!(
                    "{} messages: failed as a whole or answered a list of the wrong length: {}",
                    cases.len(),
                    describe(&other)
                );
                rows.push(row(CHECK, false, detail));
                return;
            }
        };
        for (index, ((to, expect, took), answer)) in cases.iter().zip(&answers).enumerate() {
            let got = format!("{answer:?}");
            let problem = if !got.contains(expect) {
                format!("expected {expect}, got {got}")
            } else if wires[index].took != *took {
                "its request was not tagged with it (http-send-all's `message`): \
                 Herald could not tell which message reached the provider"
                    .to_owned()
            } else {
                continue;
            };
            let detail = format!("message {} ({to}): {problem}", index + 1);
            rows.push(row(CHECK, false, detail));
            return;
        }
        rows.push(row(
            CHECK,
            true,
            "3 messages: accepted, invalid-recipient, rate-limited, in order",
        ));
    }

    async fn webhook_row(&self, rows: &mut Vec<Row>) {
        let result = self
            .plugin
            .handle_webhook(
                self.ctx(&self.options.secrets),
                self.options.config.clone(),
                webhook_samples::forged(&self.options.secrets),
                false,
            )
            .await;
        rows.push(row(
            "webhook with a bad signature is refused",
            matches!(result, Ok(Err(wit::WebhookError::Unauthorized(_)))),
            describe(&result),
        ));
    }

    /// A plugin that exports `handle-webhooks` (1.4) must answer each
    /// request of a batch, in order, as `handle-webhook` answers it alone:
    /// the server batches a busy channel's webhooks, and otherwise only
    /// its length check would notice a batch that answers differently.
    async fn webhook_batch_row(&self, rows: &mut Vec<Row>) {
        const CHECK: &str = "handle-webhooks answers as handle-webhook";
        if !self.plugin.batches_webhooks() {
            rows.push(row(
                CHECK,
                true,
                "not exported: each webhook is one handle-webhook call",
            ));
            return;
        }
        let requests = webhook_samples::samples(&self.options.secrets);
        let mut alone = Vec::with_capacity(requests.len());
        for request in requests.iter().cloned() {
            let answer = self
                .plugin
                .handle_webhook(
                    self.ctx(&self.options.secrets),
                    self.options.config.clone(),
                    request,
                    false,
                )
                .await;
            alone.push(full_text(&answer));
        }
        let count = requests.len();
        let batch = self
            .plugin
            .handle_webhooks(
                self.ctx(&self.options.secrets),
                self.options.config.clone(),
                Arc::new(requests),
            )
            .await;
        let Some(batch) = batch else {
            rows.push(row(
                CHECK,
                false,
                format!(
                    "a batch of {count} failed as a whole or answered a list of the wrong length"
                ),
            ));
            return;
        };
        let differing = alone
            .iter()
            .zip(batch.iter().map(|answer| format!("{answer:?}")))
            .enumerate()
            .find(|(_, (alone, batched))| *alone != batched);
        rows.push(match differing {
            None => {
                let accepted = batch.iter().filter(|answer| answer.is_ok()).count();
                let detail =
                    format!("{count} requests ({accepted} accepted), the same answers in order");
                row(CHECK, true, detail)
            }
            Some((index, (alone, batched))) => {
                let (alone, batched) = where_differs(alone, &batched);
                let detail = format!(
                    "request {}: alone ...{alone}...; in a batch ...{batched}...",
                    index + 1
                );
                row(CHECK, false, detail)
            }
        });
    }
}

/// The message the check sends to `to`.
fn check_message(to: &str) -> wit::OutboundMessage {
    wit::OutboundMessage {
        idempotency_key: format!("check-{to}"),
        to: to.to_owned(),
        sender: "+15005550006".into(),
        content: wit::Content::Text(wit::TextMessage {
            body: "herald plugin check".into(),
            media: Vec::new(),
        }),
        status_callback_url: "http://127.0.0.1:9/webhooks/0".into(),
    }
}

/// The parts of two answers around where they first differ (their
/// shared start is long: the same events, then a header more or less).
fn where_differs<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    const BEFORE: usize = 40;
    const AFTER: usize = 120;
    let same = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    let window = |s: &'a str| {
        let mut start = same.saturating_sub(BEFORE);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (same + AFTER).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        &s[start..end]
    };
    (window(a), window(b))
}

fn describe<T: std::fmt::Debug, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    // Keep the table readable.
    full_text(r).chars().take(140).collect()
}

/// A call's answer, or its fault, as text.
fn full_text<T: std::fmt::Debug, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("plugin fault: {e}"),
    }
}

/// Renders the report as a table.
pub fn table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let mark = if r.passed { "PASS" } else { "FAIL" };
        out.push_str(&format!("{mark}  {:width$}  {}\n", r.check, r.detail));
    }
    let failed = rows.iter().filter(|r| !r.passed).count();
    out.push_str(&format!("\n{} checks, {} failed\n", rows.len(), failed));
    out
}

#[cfg(test)]
mod tests {
    use super::where_differs;

    #[test]
    fn a_difference_is_shown_where_it_starts() {
        let shared = "x".repeat(300);
        let alone = format!("{shared}headers: [] }}");
        let batched = format!("{shared}headers: [(\"x-test-batch-size\", \"4\")] }}");
        let (a, b) = where_differs(&alone, &batched);
        assert!(a.ends_with("headers: [] }"), "{a}");
        assert!(b.contains("x-test-batch-size"), "{b}");
        assert!(a.len() < 200 && b.len() < 200);
        // Multi-byte characters around the cut stay whole.
        let (longer, shorter) = ("é".repeat(50), "é".repeat(49));
        let (a, b) = where_differs(&longer, &shorter);
        assert!(a.starts_with('é') && b.starts_with('é'));
    }
}
