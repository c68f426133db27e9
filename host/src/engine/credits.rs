//! Credits on the send path: reserve a send's cost before its plugin call,
//! settle it once its outcome is written (charged when the provider took the
//! message, released otherwise).
//!
//! Each reservation is recorded in the database with the balance it moved
//! and settled in the transaction that writes the send's outcome (see
//! `store::credit_holds`); a process that dies mid-send leaves its holds to
//! the lease sweeper, which charges them when it marks the members
//! `unknown`.

use crate::domain::credits::{ChannelKind, PriceTable, cost};
use crate::plugins::wit;
use crate::store::{ClaimedMember, Hold, Reserved, Store, StoreResult};

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

#[derive(Default)]
pub struct Credits {
    /// Every tenant pays the default prices for now.
    prices: PriceTable,
}

/// A send the tenant's credits cannot cover.
pub struct Short {
    pub needed: i64,
    pub available: i64,
}

impl Credits {
    /// Holds the cost of sending `content` to `member`, or says how short
    /// the tenant is. Unmetered tenants always pass: a tenant given a
    /// balance is metered from its next claim on (the members already
    /// claimed, at most `--max-in-flight`, go out as claimed).
    pub async fn reserve(
        &self,
        store: &Store,
        member: &ClaimedMember,
        content: &wit::Content,
    ) -> StoreResult<Result<(), Short>> {
        if !member.metered {
            return Ok(Ok(()));
        }
        let amount = price(&self.prices, content);
        let hold = Hold {
            tenant: member.tenant_id,
            campaign: member.campaign_id,
            member: member.id,
            attempt: member.attempt,
            amount,
        };
        match store.reserve_credits(hold).await? {
            Reserved::Unmetered | Reserved::Held => Ok(Ok(())),
            Reserved::Insufficient { available } => Ok(Err(Short {
                needed: amount,
                available,
            })),
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
