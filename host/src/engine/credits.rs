//! Credits on the send path: reserve a send's cost before its plugin call,
//! settle it once its outcome is written (charged when the provider took the
//! message, released otherwise).
//!
//! Reservations in flight are remembered here, by member and attempt, until
//! the outcome writer settles them in batches. A process that dies mid-send
//! leaves its reservations held in the database (the member's outcome is
//! unknown too): an operator corrects the balance with an adjustment.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::credits::{ChannelKind, PriceTable, cost};
use crate::plugins::wit;
use crate::store::{ClaimedMember, Id, Reserved, SendOutcome, Settlement, Store, StoreResult};

/// The kind of channel a message goes out on, for pricing and rate defaults.
pub fn kind_of(content: &wit::Content) -> ChannelKind {
    match content {
        wit::Content::Text(t) if t.media.is_empty() => ChannelKind::Sms,
        wit::Content::Text(_) => ChannelKind::Mms,
        wit::Content::WhatsappTemplate(_) => ChannelKind::Whatsapp,
        wit::Content::Voice(_) => ChannelKind::Voice,
        wit::Content::Email(_) => ChannelKind::Email,
    }
}

/// What sending `content` once costs. Only SMS depends on the body.
pub fn price(prices: &PriceTable, content: &wit::Content) -> i64 {
    let body = match content {
        wit::Content::Text(t) => t.body.as_str(),
        _ => "",
    };
    cost(prices, kind_of(content), body) as i64
}

/// A reservation held for one attempt: (tenant, campaign, credits).
type Held = (Id, Id, i64);

#[derive(Default)]
pub struct Credits {
    /// Every tenant pays the default prices for now.
    prices: PriceTable,
    held: Mutex<HashMap<(Id, i64), Held>>,
}

/// A send the tenant's credits cannot cover.
pub struct Short {
    pub needed: i64,
    pub available: i64,
}

impl Credits {
    /// Holds the cost of sending `content` to `member`, or says how short
    /// the tenant is. Unmetered tenants always pass.
    pub async fn reserve(
        &self,
        store: &Store,
        member: &ClaimedMember,
        content: &wit::Content,
    ) -> StoreResult<Result<(), Short>> {
        let amount = price(&self.prices, content);
        match store.reserve_credits(member.tenant_id, amount).await? {
            Reserved::Unmetered => Ok(Ok(())),
            Reserved::Held => {
                self.held.lock().expect("credits lock").insert(
                    (member.id, member.attempt),
                    (member.tenant_id, member.campaign_id, amount),
                );
                Ok(Ok(()))
            }
            Reserved::Insufficient { available } => Ok(Err(Short {
                needed: amount,
                available,
            })),
        }
    }

    /// Settles the reservations of a batch of written outcomes. A failed
    /// write keeps them for the next batch rather than lose them.
    pub async fn settle(&self, store: &Store, outcomes: &[(ClaimedMember, SendOutcome)]) {
        let settlements: Vec<((Id, i64), Settlement)> = {
            let mut held = self.held.lock().expect("credits lock");
            outcomes
                .iter()
                .filter_map(|(m, outcome)| {
                    let key = (m.id, m.attempt);
                    let (tenant, campaign, amount) = held.remove(&key)?;
                    let charged = matches!(outcome, SendOutcome::Accepted { .. });
                    Some((
                        key,
                        Settlement {
                            tenant,
                            campaign,
                            amount,
                            charged,
                        },
                    ))
                })
                .collect()
        };
        if settlements.is_empty() {
            return;
        }
        let batch: Vec<Settlement> = settlements.iter().map(|(_, s)| *s).collect();
        if let Err(e) = store.settle_credits(&batch).await {
            tracing::error!(error = %e, sends = batch.len(), "settling credits failed; will retry with the next batch");
            let mut held = self.held.lock().expect("credits lock");
            for (key, s) in settlements {
                held.insert(key, (s.tenant, s.campaign, s.amount));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str, media: usize) -> wit::Content {
        wit::Content::Text(wit::TextMessage {
            body: body.into(),
            media: (0..media)
                .map(|_| wit::Media {
                    url: "http://127.0.0.1/m".into(),
                    content_type: "image/png".into(),
                })
                .collect(),
        })
    }

    #[test]
    fn sms_is_priced_by_segment_and_mms_per_message() {
        let prices = PriceTable::default();
        assert_eq!(price(&prices, &text("hi", 0)), 1);
        assert_eq!(price(&prices, &text(&"a".repeat(161), 0)), 2);
        // Extended characters take two septets: 80 of them overflow 160.
        assert_eq!(price(&prices, &text(&"€".repeat(80), 0)), 1);
        assert_eq!(price(&prices, &text(&"€".repeat(81), 0)), 2);
        assert_eq!(
            price(&prices, &text(&"a".repeat(400), 1)),
            prices.mms_message as i64
        );
        let email = wit::Content::Email(wit::EmailMessage {
            subject: "s".into(),
            text_body: "x".repeat(5000),
            html_body: None,
        });
        assert_eq!(price(&prices, &email), prices.email_message as i64);
    }
}
