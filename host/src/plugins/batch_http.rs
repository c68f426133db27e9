//! Contract 1.5's `batch-http` imports: the requests of a `send-all` in
//! flight together, each recorded against the message it was made for, so
//! that a call cut short leaves each message judged by its own requests
//! (see `wire` and `send_batch`).

use std::time::Instant;

use futures::future::join_all;

use super::bindings::herald::provider::batch_http::{Host, MessageRequest};
use super::bindings::herald::provider::types::{HttpError, HttpResponse};
use super::host_imports::{HostState, wires_for};
use super::http_exchange::{exchange, log_exchange, response_cap};

/// Requests in one `http-send-all` at most: as many as a batch has
/// messages (see `send_batch::MAX_MESSAGES`). Their answers are held in
/// the host until all have come.
pub(super) const MAX_REQUESTS: usize = 64;

impl Host for HostState {
    async fn http_send_all(
        &mut self,
        requests: Vec<MessageRequest>,
    ) -> wasmtime::Result<Vec<Result<HttpResponse, HttpError>>> {
        let started = Instant::now();
        // Nine tenths of what the call has left: a provider that does not
        // answer one message leaves the plugin time to return the others'
        // receipts before the call's deadline ends it as a whole.
        let remaining = self.deadline.saturating_duration_since(started);
        let cap_ms = u32::try_from((remaining * 9 / 10).as_millis()).unwrap_or(u32::MAX);
        // Built (and refused) here: the host state cannot be shared across
        // threads while the requests are awaited, only these parts of it.
        let built: Vec<_> = requests
            .into_iter()
            .enumerate()
            .map(|(at, tagged)| {
                let MessageRequest {
                    message,
                    mut request,
                } = tagged;
                if at >= MAX_REQUESTS {
                    let refused = HttpError::InvalidRequest(format!(
                        "more than {MAX_REQUESTS} requests in one http-send-all"
                    ));
                    return (message, String::new(), String::new(), Err(refused));
                }
                request.timeout_ms = Some(request.timeout_ms.map_or(cap_ms, |ms| ms.min(cap_ms)));
                let method = request.method.clone();
                let target = request.url.split('?').next().unwrap_or_default().to_owned();
                let builder = self.build_request(request).inspect_err(|e| {
                    tracing::warn!(plugin = %self.call.plugin, %method, url = %target, error = ?e,
                        "plugin http-send refused");
                });
                (message, method, target, builder)
            })
            .collect();
        let (home, wires, plugin) = (self.http_home.as_ref(), &self.wires, &self.call.plugin);
        let cap = response_cap(built.len());
        let exchanges = built
            .into_iter()
            .map(|(message, method, target, builder)| async move {
                let result = exchange(home, wires_for(wires, message), builder?, cap).await;
                log_exchange(plugin, &method, &target, started, &result);
                result
            });
        let answers = join_all(exchanges).await;
        metrics::histogram!("herald_host_import_seconds", "import" => "http-send-all")
            .record(started.elapsed());
        Ok(answers)
    }

    async fn mark_uncertain_message(
        &mut self,
        message: u32,
        reason: String,
    ) -> wasmtime::Result<()> {
        let reason: String = reason.chars().take(500).collect();
        tracing::info!(
            plugin = self.call.plugin,
            channel = self.call.channel_id,
            message,
            reason,
            "the plugin says the provider may have taken this message"
        );
        for wire in wires_for(&self.wires, message) {
            wire.mark_unsure();
        }
        Ok(())
    }
}
