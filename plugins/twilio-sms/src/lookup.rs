//! `lookup.find-sent` (herald:provider 1.1): the message of an uncertain
//! send, found by recipient, sender and time window (see
//! `twilio_wire::lookup`; Twilio keeps no client key).

use crate::exports::herald::provider::lookup::SentQuery;
use herald_plugin::types::{Config, DeliveryUpdate, SendError};
use herald_plugin::{answer, host, request};

use crate::provider::{PROVIDER, account_and_base, auth, delivery_status, error_from};
use crate::wire::{self, lookup};

/// Pages read at most: past these, the recipient got so many messages
/// since that Herald cannot tell; the lookup errs and is tried later.
const MAX_PAGES: usize = 5;

pub fn find_sent(config: &Config, query: &SentQuery) -> Result<Option<DeliveryUpdate>, SendError> {
    let (account, base) = account_and_base(config)?;
    let not_before = (query.not_before_ms / 1000) as i64;
    let not_after = query.not_after_ms.div_ceil(1000) as i64;
    let mut url = lookup::list_url(base, account, &query.to, &query.sender);
    for _ in 0..MAX_PAGES {
        let response = host::send(PROVIDER, &request::get(url, auth(account)))?;
        if !answer::is_success(&response) {
            return Err(error_from(&response));
        }
        let page: lookup::MessagePage = answer::read(PROVIDER, &response)?;
        match lookup::search(&page, not_before, not_after) {
            lookup::Search::Found(message) => {
                let status = message.status.as_deref().and_then(wire::status);
                return Ok(Some(DeliveryUpdate {
                    provider_message_id: message.sid.clone(),
                    status: delivery_status(status.unwrap_or(wire::Status::Accepted)),
                    error_code: message.error_code.map(|c| c.to_string()),
                    error_message: message.error_message.clone(),
                    timestamp_ms: None,
                }));
            }
            lookup::Search::Absent => return Ok(None),
            lookup::Search::ReadOn => {}
        }
        let Some(next) = page.next_page_uri else {
            return Ok(None);
        };
        url = lookup::next_url(base, &next);
    }
    Err(SendError::Transient(format!(
        "more than {MAX_PAGES} pages of newer messages to {}; cannot tell yet",
        query.to
    )))
}
