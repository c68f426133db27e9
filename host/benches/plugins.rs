//! Plugin sandbox costs, printed as figures (`cargo bench -p herald --bench plugins`):
//! - per call: instantiate + `send` in the sandbox (http-send answered
//!   at once by the host, no network) against the same logic run natively;
//!   and a signed Twilio status callback, verified and parsed by the guest
//!   (a message's other two calls);
//! - hot swap: activating an installed version, until calls use it;
//! - cold start: compiling 20 plugins, without and with the compile cache.
//!
//! Needs the components from `./dev.sh build`. `--profile-calls N` runs
//! only N sandboxed sends back to back (and reports them): a steady loop
//! to run under `perf record` when looking for the cost of a call;
//! `--profile-webhooks N` the same with N signed status callbacks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::plugins::{
    CallContext, CompileCache, LoadedPlugin, Registry, Runtime, RuntimeLimits, wit,
};
use herald::store::Store;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<44} p50 {:>9.1?}  p99 {:>9.1?}  (n={})",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.len()
    );
}

fn message(i: usize) -> wit::OutboundMessage {
    wit::OutboundMessage {
        idempotency_key: format!("{i}-1-1"),
        to: "+14155557000".into(),
        sender: "+15005550006".into(),
        content: wit::Content::Text(wit::TextMessage {
            body: "Hi Ana, your order shipped.".into(),
            media: Vec::new(),
        }),
        status_callback_url: "http://127.0.0.1:8080/webhooks/1".into(),
    }
}

/// What `send` does besides waiting on HTTP, natively: build the request
/// and classify the answer.
fn native_send(i: usize) -> usize {
    use twilio_wire as wire;
    let key = format!("{i}-1-1");
    let body = wire::form_encode([
        ("To", "+14155557000"),
        ("From", "+15005550006"),
        ("Body", "Hi Ana, your order shipped."),
        ("StatusCallback", "http://127.0.0.1:8080/webhooks/1"),
        ("X", key.as_str()),
    ]);
    let url = wire::messages_url(
        "https://api.twilio.com",
        "AC00000000000000000000000000000001",
    );
    let class = wire::classify_error(403, Some(20003));
    std::hint::black_box((&body, &url, &class));
    body.len() + url.len()
}

/// A distinct component with the same code: a custom section changes its hash.
fn variant(wasm: &[u8], n: usize) -> Vec<u8> {
    let name = b"bench";
    let payload = n.to_le_bytes();
    let mut out = wasm.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len() + payload.len()) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

/// The Twilio plugin installed and active, with a config and a call
/// context. No allowed hosts: http-send returns at once, so its calls
/// measure the sandbox (instantiate, call, one host import), not the
/// network.
async fn active_twilio(
    registry: &Registry,
    wasm: Vec<u8>,
) -> anyhow::Result<(Arc<LoadedPlugin>, Vec<(String, String)>, CallContext)> {
    let plugin = registry.install(wasm).await?;
    registry.activate(plugin.name(), &plugin.sha256).await?;
    let config = vec![(
        "account-sid".into(),
        "AC00000000000000000000000000000001".into(),
    )];
    let ctx = CallContext::bare(plugin.name(), plugin.version());
    Ok((plugin, config, ctx))
}

/// `--profile-calls N`: N sandboxed sends in a row, nothing else.
async fn profile_sends(
    runtime: Arc<Runtime>,
    store: Store,
    wasm: Vec<u8>,
    calls: usize,
) -> anyhow::Result<()> {
    let registry = Registry::new(runtime, store, CompileCache::new(None), u64::MAX);
    let (plugin, config, ctx) = active_twilio(&registry, wasm).await?;
    // What every future awaiting a send carries (and copies when moved).
    let future = plugin.send(ctx.clone(), config.clone(), message(0));
    println!(
        "{:<44} {} bytes",
        "a send's future",
        std::mem::size_of_val(&future)
    );
    drop(future);
    let mut samples = Vec::with_capacity(calls);
    for i in 0..calls {
        let started = Instant::now();
        let _ = plugin.send(ctx.clone(), config.clone(), message(i)).await;
        samples.push(started.elapsed());
    }
    report("sandboxed send (instantiate + call)", samples);
    Ok(())
}

/// A Twilio status callback as the simulator sends it: the form, and its
/// `X-Twilio-Signature` as the simulator signs it (independent of the
/// plugin's own `twilio-wire`).
fn status_callback(i: usize, token: &str) -> wit::WebhookRequest {
    let url = "http://127.0.0.1:8080/webhooks/1";
    let sid = format!("SM{i:032x}");
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("ApiVersion", "2010-04-01"),
        ("From", "+15005550006"),
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "delivered"),
        ("SmsSid", sid.as_str()),
        ("SmsStatus", "delivered"),
        ("To", "+14155557000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let signature = herald_sim::twilio_signature(token, url, &params);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    wit::WebhookRequest {
        method: "POST".into(),
        url: url.into(),
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("x-twilio-signature".into(), signature),
            ("user-agent".into(), "TwilioProxy/1.1".into()),
        ],
        body: body.into_bytes(),
    }
}

/// The number after `flag` on the command line, if given.
fn count_after(flag: &str) -> Option<usize> {
    std::env::args().skip_while(|a| a != flag).nth(1).map(|n| {
        n.parse()
            .unwrap_or_else(|_| panic!("{flag} takes a number"))
    })
}

const CALLBACK_ROW: &str = "signed status callback (instantiate + call)";

/// The Twilio plugin with its auth token: status callbacks it verifies.
struct SignedTwilio {
    plugin: Arc<LoadedPlugin>,
    config: Vec<(String, String)>,
    ctx: CallContext,
    token: &'static str,
}

/// The Twilio plugin installed and active, with the auth token its
/// callbacks are signed with.
async fn signed_twilio(registry: &Registry, wasm: Vec<u8>) -> anyhow::Result<SignedTwilio> {
    let (plugin, config, mut ctx) = active_twilio(registry, wasm).await?;
    let token = "bench-auth-token";
    ctx.secrets = Arc::new([("auth-token".to_owned(), token.to_owned())].into());
    Ok(SignedTwilio {
        plugin,
        config,
        ctx,
        token,
    })
}

impl SignedTwilio {
    /// `calls` signed `delivered` callbacks, one after another (each
    /// verified and parsed, or the run stops): each call's time.
    async fn run(&self, calls: usize) -> Vec<Duration> {
        let requests: Vec<_> = (0..calls).map(|i| status_callback(i, self.token)).collect();
        let mut samples = Vec::with_capacity(calls);
        for request in requests {
            let started = Instant::now();
            let result = self
                .plugin
                .handle_webhook(self.ctx.clone(), self.config.clone(), request, false)
                .await;
            samples.push(started.elapsed());
            assert!(matches!(result, Ok(Ok(_))), "{result:?}");
        }
        samples
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = std::fs::read(root.join("target/plugins/twilio_sms.wasm"))
        .expect("run ./dev.sh build first");
    let v2 = std::fs::read(root.join("target/test-artifacts/twilio_sms_v2.wasm"))
        .expect("run ./dev.sh build first");
    let dir = tempfile::tempdir()?;
    let store =
        Store::connect(&format!("sqlite:{}", dir.path().join("bench.db").display())).await?;

    let runtime = Runtime::new(RuntimeLimits::default())?;
    if let Some(calls) = count_after("--profile-webhooks") {
        let registry = Registry::new(runtime, store, CompileCache::new(None), u64::MAX);
        let callbacks = signed_twilio(&registry, wasm).await?;
        report(CALLBACK_ROW, callbacks.run(calls).await);
        return Ok(());
    }
    if let Some(calls) = count_after("--profile-calls") {
        return profile_sends(runtime, store, wasm, calls).await;
    }

    // Cold start with 20 plugins: compile each, then again from the cache.
    let cache_dir = dir.path().join("cache");
    for (label, warm) in [
        ("cold start, 20 plugins, no cache", false),
        ("cold start, 20 plugins, cached", true),
    ] {
        let registry = Registry::new(
            runtime.clone(),
            store.clone(),
            CompileCache::new(Some(cache_dir.clone())),
            u64::MAX,
        );
        let started = Instant::now();
        for n in 0..20 {
            registry.install(variant(&wasm, n)).await?;
        }
        let elapsed = started.elapsed();
        let _ = warm;
        println!(
            "{label:<44} {elapsed:>9.1?} total, {:>7.1?} per plugin",
            elapsed / 20
        );
    }

    let registry = Arc::new(Registry::new(
        runtime.clone(),
        store.clone(),
        CompileCache::new(None),
        u64::MAX,
    ));
    let (plugin, config, ctx) = active_twilio(&registry, wasm.clone()).await?;

    for _ in 0..200 {
        let _ = plugin.send(ctx.clone(), config.clone(), message(0)).await;
    }
    let mut sandbox = Vec::with_capacity(5000);
    for i in 0..5000 {
        let started = Instant::now();
        let (result, _) = plugin.send(ctx.clone(), config.clone(), message(i)).await;
        sandbox.push(started.elapsed());
        assert!(
            matches!(result, Ok(Err(wit::SendError::InvalidConfig(_)))),
            "{result:?}"
        );
    }
    report("sandboxed send (instantiate + call)", sandbox);

    let mut native = Vec::with_capacity(5000);
    for i in 0..5000 {
        let started = Instant::now();
        std::hint::black_box(native_send(i));
        native.push(started.elapsed());
    }
    report("same logic, native", native);

    // A message's other two calls: its status callbacks, each verified
    // (HMAC-SHA1 over the URL and the form) and parsed by the guest.
    let callbacks = signed_twilio(&registry, wasm.clone()).await?;
    callbacks.run(200).await;
    report(CALLBACK_ROW, callbacks.run(5000).await);

    // Throughput with concurrent calls (what the dispatcher does).
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..64 {
        let (plugin, ctx, config) = (plugin.clone(), ctx.clone(), config.clone());
        tasks.spawn(async move {
            for i in 0..200 {
                let _ = plugin
                    .send(ctx.clone(), config.clone(), message(w * 1000 + i))
                    .await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let per_sec = 64.0 * 200.0 / started.elapsed().as_secs_f64();
    println!(
        "{:<44} {per_sec:>9.0} calls/s (64 concurrent)",
        "sandboxed send throughput"
    );

    // Hot swap: activation of an installed version until a call runs on it.
    let other = registry.install(v2).await?;
    let mut swaps = Vec::new();
    for i in 0..50 {
        let target = if i % 2 == 0 { &other } else { &plugin };
        let started = Instant::now();
        registry.activate(target.name(), &target.sha256).await?;
        let now_active = registry.get(target.name()).expect("active");
        assert_eq!(now_active.sha256, target.sha256);
        swaps.push(started.elapsed());
    }
    report("hot swap (activate -> next call uses it)", swaps);
    Ok(())
}
