//! The host functions a plugin imports: `http-send` (the only way out of the
//! sandbox), `hmac` and `secret-equals` over channel secrets the plugin never
//! sees, `log` and `now`; since 1.2 `mark-uncertain`; since 1.3
//! `verify-hmac`, a webhook signature checked without the plugin seeing
//! either the secret or the right answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::herald::provider::host::Host;
use super::bindings::herald::provider::types::{
    self as wit, HmacAlgorithm, HttpAuth, HttpError, HttpRequest, HttpResponse, LogLevel,
};
use super::http_exchange::{MAX_RESPONSE_BYTES, exchange, log_exchange};
use super::limits::MemoryCap;
use super::wire::WireLog;

/// Who a call is for: what the host functions may reach on its behalf.
#[derive(Clone)]
pub struct CallContext {
    pub plugin: String,
    pub version: String,
    pub channel_id: Option<i64>,
    /// Channel secrets by name; filled into placeholders, never returned.
    pub secrets: Arc<BTreeMap<String, String>>,
    /// Hosts `http-send` may reach (exact, or `*.suffix`).
    pub allowed_hosts: Arc<Vec<String>>,
    /// The plugin's own CPU budget per call (`None`: the server's).
    pub cpu_budget: Option<std::time::Duration>,
}

impl CallContext {
    /// A call with no channel: manifest reads and config checks.
    pub fn bare(plugin: &str, version: &str) -> Self {
        Self {
            plugin: plugin.to_owned(),
            version: version.to_owned(),
            channel_id: None,
            secrets: Arc::default(),
            allowed_hosts: Arc::default(),
            cpu_budget: None,
        }
    }
}

/// The logs of the messages an exchange tagged `message` is for, of a
/// call's `wires`: that message's, or all of the call's when it names none
/// of them (and for any call but a `send-all`, which has one log).
pub(super) fn wires_for(wires: &[WireLog], message: u32) -> &[WireLog] {
    let at = message as usize;
    match wires.get(at) {
        Some(_) if wires.len() > 1 => &wires[at..=at],
        _ => wires,
    }
}

/// Everything a store holds for one call.
pub struct HostState {
    pub(super) call: CallContext,
    pub(super) http: reqwest::Client,
    pub(super) deadline: Instant,
    pub(super) memory: MemoryCap,
    /// What this call's requests may have done at the provider: one log
    /// per message of a `send-all`, one for any other call.
    pub(super) wires: Vec<WireLog>,
    /// The server's runtime, for a call running on the heavy lane: its
    /// requests are sent from there (see [`HostState::sending_from`]).
    pub(super) http_home: Option<tokio::runtime::Handle>,
    egress: Arc<crate::egress::EgressPolicy>,
    /// Built on the guest's first WASI call: most calls make none, and
    /// building one (its clocks and random sources) on every store was
    /// 0.5% of Herald's CPU on the send path.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
}

impl HostState {
    pub(super) fn new(
        call: CallContext,
        http: reqwest::Client,
        deadline: Instant,
        memory: MemoryCap,
        wires: Vec<WireLog>,
    ) -> Self {
        Self {
            call,
            http,
            deadline,
            wires,
            memory,
            egress: Arc::default(),
            http_home: None,
            wasi: None,
            table: ResourceTable::new(),
        }
    }

    pub(super) fn with_egress(mut self, egress: Arc<crate::egress::EgressPolicy>) -> Self {
        self.egress = egress;
        self
    }

    /// Sends this call's requests from `runtime` (the server's) rather than
    /// from the thread the call runs on. The HTTP client's pool is shared
    /// by every call, and a connection stays with the runtime that opened
    /// it: opened by a call on the heavy lane, it tied every later request
    /// on it, from any send, to the lane's one thread (two thread switches
    /// each; a new plugin version's first calls run there, so a campaign's
    /// whole traffic did).
    pub(super) fn sending_from(mut self, runtime: Option<tokio::runtime::Handle>) -> Self {
        self.http_home = runtime;
        self
    }

    /// The plugin says the provider may have taken the call's message(s).
    pub(super) fn mark_all_unsure(&self) {
        for wire in &self.wires {
            wire.mark_unsure();
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.call
            .allowed_hosts
            .iter()
            .any(|allowed| crate::egress::host_pattern_matches(allowed, host))
    }

    /// Replaces every `{{secret.NAME}}` with the channel's secret value.
    fn fill_secrets(&self, text: &str) -> Result<String, HttpError> {
        const OPEN: &str = "{{secret.";
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            out.push_str(&rest[..start]);
            let after = &rest[start + OPEN.len()..];
            let end = after.find("}}").ok_or_else(|| {
                HttpError::InvalidRequest("unterminated {{secret.…}} placeholder".into())
            })?;
            let name = &after[..end];
            let value = self.call.secrets.get(name).ok_or_else(|| {
                HttpError::InvalidRequest(format!("the channel has no secret named {name:?}"))
            })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub(super) fn build_request(
        &self,
        req: HttpRequest,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        let url = url::Url::parse(&req.url)
            .map_err(|e| HttpError::InvalidRequest(format!("bad url {:?}: {e}", req.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::InvalidRequest(format!(
                "scheme {:?} not allowed",
                url.scheme()
            )));
        }
        let host = url.host_str().unwrap_or_default();
        if !self.host_allowed(host) {
            return Err(HttpError::NotAllowed(format!(
                "host {host:?} is not in the allowed hosts {:?}",
                self.call.allowed_hosts
            )));
        }
        if url
            .host()
            .is_some_and(|h| !self.egress.permits_url_host(&h))
        {
            return Err(HttpError::NotAllowed(format!(
                "{}: {host} is not a public address",
                crate::egress::REFUSED
            )));
        }
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("bad method {:?}", req.method)))?;
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = req
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(remaining)
            .min(remaining);
        let mut builder = self.http.request(method, url).timeout(timeout);
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), self.fill_secrets(value)?);
        }
        builder = match &req.auth {
            HttpAuth::None => builder,
            HttpAuth::Basic((user, password)) => {
                builder.basic_auth(self.fill_secrets(user)?, Some(self.fill_secrets(password)?))
            }
            HttpAuth::Bearer(token) => builder.bearer_auth(self.fill_secrets(token)?),
        };
        // Bodies are usually small; only bodies with placeholders are copied.
        let body = match std::str::from_utf8(&req.body) {
            Ok(text) if text.contains("{{secret.") => self.fill_secrets(text)?.into_bytes(),
            _ => req.body,
        };
        Ok(builder.body(body))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            // No preopens, no env, no sockets: components built for
            // wasm32-wasip2 import WASI but get nothing from it.
            ctx: self.wasi.get_or_insert_with(|| WasiCtx::builder().build()),
            table: &mut self.table,
        }
    }
}

impl wit::Host for HostState {}

/// Since 1.2: the plugin says its `send` may have been taken. Only ever
/// makes an outcome less certain (see `wire`), so it is trusted as it is.
impl super::bindings::herald::provider::uncertainty::Host for HostState {
    async fn mark_uncertain(&mut self, reason: String) -> wasmtime::Result<()> {
        let reason: String = reason.chars().take(500).collect();
        tracing::info!(
            plugin = self.call.plugin,
            channel = self.call.channel_id,
            reason,
            "the plugin says the provider may have taken this message"
        );
        self.mark_all_unsure();
        Ok(())
    }
}

/// Since 1.3: the whole signature check in the host. The plugin only
/// learns yes or no, and the comparison's time depends on lengths alone.
impl super::bindings::herald::provider::signatures::Host for HostState {
    async fn verify_hmac(
        &mut self,
        algorithm: HmacAlgorithm,
        secret_name: String,
        data: Vec<u8>,
        expected: Vec<u8>,
    ) -> wasmtime::Result<bool> {
        let Some(key) = self.call.secrets.get(&secret_name) else {
            tracing::warn!(
                plugin = self.call.plugin,
                channel = self.call.channel_id,
                secret = secret_name,
                "verify-hmac for a secret the channel does not have: the webhook is refused"
            );
            return Ok(false);
        };
        Ok(hmac_matches(algorithm, key.as_bytes(), &data, &expected))
    }
}

/// Whether `expected` is the HMAC of `data` under `key`, compared in
/// constant time.
fn hmac_matches(algorithm: HmacAlgorithm, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
    let digest = hmac_of(algorithm, key, data);
    bool::from(digest.as_slice().ct_eq(expected))
}

fn hmac_of(algorithm: HmacAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    match algorithm {
        HmacAlgorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(key, data),
        HmacAlgorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(key, data),
    }
}

impl Host for HostState {
    async fn http_send(
        &mut self,
        request: HttpRequest,
    ) -> wasmtime::Result<Result<HttpResponse, HttpError>> {
        let started = Instant::now();
        let method = request.method.clone();
        let target = request.url.split('?').next().unwrap_or_default().to_owned();
        let builder = match self.build_request(request) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(plugin = %self.call.plugin, %method, url = %target, error = ?e, "plugin http-send refused");
                return Ok(Err(e));
            }
        };
        let result = exchange(
            self.http_home.as_ref(),
            &self.wires,
            builder,
            MAX_RESPONSE_BYTES,
        )
        .await;
        metrics::histogram!("herald_host_import_seconds", "import" => "http-send")
            .record(started.elapsed());
        log_exchange(&self.call.plugin, &method, &target, started, &result);
        Ok(result)
    }

    async fn hmac(
        &mut self,
        algorithm: HmacAlgorithm,
        secret_name: String,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let Some(key) = self.call.secrets.get(&secret_name) else {
            return Ok(Err(format!(
                "the channel has no secret named {secret_name:?}"
            )));
        };
        Ok(Ok(hmac_of(algorithm, key.as_bytes(), &data)))
    }

    async fn secret_equals(
        &mut self,
        secret_name: String,
        candidate: String,
    ) -> wasmtime::Result<bool> {
        Ok(self
            .call
            .secrets
            .get(&secret_name)
            .is_some_and(|secret| bool::from(secret.as_bytes().ct_eq(candidate.as_bytes()))))
    }

    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let plugin = &self.call.plugin;
        let channel = self.call.channel_id;
        match level {
            LogLevel::Trace => tracing::trace!(plugin, channel, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, channel, "{message}"),
            LogLevel::Info => tracing::info!(plugin, channel, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, channel, "{message}"),
            LogLevel::Error => tracing::error!(plugin, channel, "{message}"),
        }
        Ok(())
    }

    async fn now(&mut self) -> wasmtime::Result<u64> {
        // Real time: plugins check signature freshness against it.
        Ok(crate::clock::real_now_ms() as u64)
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(hosts: &[&str], secrets: &[(&str, &str)]) -> HostState {
        let mut call = CallContext::bare("p", "1.0.0");
        call.allowed_hosts = Arc::new(hosts.iter().map(|h| h.to_string()).collect());
        call.secrets = Arc::new(
            secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        HostState::new(
            call,
            reqwest::Client::new(),
            Instant::now() + Duration::from_secs(1),
            MemoryCap::new(1 << 20, crate::plugins::limits::MemoryBudget::new(1 << 30)),
            vec![WireLog::default()],
        )
    }

    #[test]
    fn allowlist_matches_exact_and_wildcard_hosts_only() {
        let s = state(&["api.twilio.com", "*.example.com"], &[]);
        assert!(s.host_allowed("api.twilio.com"));
        assert!(s.host_allowed("a.example.com"));
        assert!(!s.host_allowed("example.com"));
        assert!(!s.host_allowed("evilexample.com"));
        assert!(!s.host_allowed("api.twilio.com.evil.net"));
    }

    #[test]
    fn verify_hmac_accepts_only_the_exact_signature() {
        // RFC 4231 test case 2 (HMAC-SHA256, key "Jefe").
        let data = b"what do ya want for nothing?";
        let right = hex_bytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(hmac_matches(HmacAlgorithm::Sha256, b"Jefe", data, &right));
        let mut flipped = right.clone();
        flipped[31] ^= 1;
        assert!(!hmac_matches(
            HmacAlgorithm::Sha256,
            b"Jefe",
            data,
            &flipped
        ));
        assert!(!hmac_matches(
            HmacAlgorithm::Sha256,
            b"Jefe",
            data,
            &right[..31]
        ));
        assert!(!hmac_matches(HmacAlgorithm::Sha256, b"Jefe", data, b""));
        assert!(!hmac_matches(HmacAlgorithm::Sha1, b"Jefe", data, &right));
        // RFC 2202 test case 2 (HMAC-SHA1).
        let sha1 = hex_bytes("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        assert!(hmac_matches(HmacAlgorithm::Sha1, b"Jefe", data, &sha1));
    }

    #[tokio::test]
    async fn verify_hmac_is_false_for_a_secret_the_channel_lacks() {
        use crate::plugins::bindings::herald::provider::signatures::Host as _;
        let mut s = state(&[], &[("Jefe-key", "Jefe")]);
        let data = b"what do ya want for nothing?".to_vec();
        let right = hex_bytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(
            s.verify_hmac(
                HmacAlgorithm::Sha256,
                "Jefe-key".into(),
                data.clone(),
                right.clone()
            )
            .await
            .unwrap()
        );
        assert!(
            !s.verify_hmac(HmacAlgorithm::Sha256, "other".into(), data, right)
                .await
                .unwrap()
        );
    }

    /// Answers every request on every connection with 200, keeping the
    /// connections open (as a provider's API does).
    async fn keep_alive_server() -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    // Requests without bodies: one read is one request.
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if socket.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    /// The HTTP client's pool is shared by every call, and a connection
    /// stays with the runtime that opened it. A request of a call on the
    /// heavy lane is sent from the server's runtime, so the connection it
    /// opens does not tie every later request on it to the lane's thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lane_calls_connection_lives_on_the_server_runtime() {
        use super::super::bindings::herald::provider::host::Host as _;
        let addr = keep_alive_server().await;
        for http_home in [None, Some(tokio::runtime::Handle::current())] {
            let lane = super::super::heavy_lane::HeavyLane::start().unwrap();
            let state = state(&["127.0.0.1"], &[])
                .with_egress(Arc::new(crate::egress::EgressPolicy::with_loopback()))
                .sending_from(http_home.clone());
            let request = HttpRequest {
                method: "GET".into(),
                url: format!("http://{addr}/status"),
                headers: Vec::new(),
                body: Vec::new(),
                auth: HttpAuth::None,
                timeout_ms: None,
            };
            let (answer, state) = lane
                .run(async move {
                    let mut state = state;
                    (state.http_send(request).await.unwrap(), state)
                })
                .await
                .unwrap();
            assert_eq!(answer.expect("the server answers").status, 200);
            // The pooled connection's task, where the client keeps it. The
            // call's own task may still be counted a moment after it
            // returned: the lane has until the deadline to empty.
            let deadline = Instant::now() + Duration::from_secs(5);
            while http_home.is_some() && lane.alive_tasks() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let on_lane = lane.alive_tasks();
            drop(state);
            if http_home.is_some() {
                assert_eq!(on_lane, 0, "the connection stayed on the lane");
            } else {
                // Without a home the request runs where the call does:
                // this is what the test would see if the call forgot it.
                assert!(on_lane > 0, "the connection should be on the lane");
            }
        }
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn placeholders_are_filled_and_unknown_secrets_refused() {
        let s = state(&[], &[("token", "s3cret")]);
        assert_eq!(
            s.fill_secrets("App {{secret.token}}!").unwrap(),
            "App s3cret!"
        );
        assert!(matches!(
            s.fill_secrets("{{secret.nope}}"),
            Err(HttpError::InvalidRequest(_))
        ));
    }
}
