//! `sends.send-all` (contract 1.5) for a provider that sends one HTTP
//! request per message: every message's request built first, all of them
//! in flight together through `http-send-all`, each answer read as `send`
//! would read it.

use crate::batch_http::MessageRequest;
use crate::types::{Config, HttpRequest, HttpResponse, OutboundMessage, SendError, SendReceipt};

/// What `send(config, message)` would answer, for each message in order.
///
/// `build` makes a message's request (or refuses the message, which is
/// then never sent); `read` turns the provider's answer into a receipt or
/// a `send-error`. A request that got no answer is mapped as `send` maps
/// it (`answer::transport`), which Herald judges by what reached the
/// provider.
pub fn send_all(
    provider: &str,
    config: &Config,
    messages: &[OutboundMessage],
    build: impl Fn(&Config, &OutboundMessage) -> Result<HttpRequest, SendError>,
    read: impl Fn(&HttpResponse) -> Result<SendReceipt, SendError>,
) -> Vec<Result<SendReceipt, SendError>> {
    let mut answers: Vec<Option<Result<SendReceipt, SendError>>> = Vec::new();
    let mut requests = Vec::new();
    for (position, message) in messages.iter().enumerate() {
        match build(config, message) {
            Ok(request) => {
                answers.push(None);
                requests.push(MessageRequest {
                    message: position as u32,
                    request,
                });
            }
            Err(refused) => answers.push(Some(Err(refused))),
        }
    }
    let responses = crate::host::http_send_all(&requests);
    for (request, response) in requests.iter().zip(responses) {
        let answer = match response {
            Ok(response) => read(&response),
            Err(e) => Err(crate::answer::transport(provider, e)),
        };
        answers[request.message as usize] = Some(answer);
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(SendError::Transient("the host gave no answer".into()))))
        .collect()
}
