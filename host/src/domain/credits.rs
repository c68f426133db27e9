//! Credits: what one send costs, and how a tenant's balance moves around it.
//!
//! A send first *reserves* its cost, so that two dispatchers cannot both spend
//! the last credit; the outcome then *settles* the reservation: accepted by the
//! provider -> charged; refused before anything went out -> released. A send
//! whose outcome is unknown (a crash mid-call) keeps its reservation until
//! reconciliation learns which it was. When a reservation is refused, the
//! engine auto-pauses the campaign for insufficient credits (seed 003).
//!
//! All amounts are integers in the tenant's credit unit: no floats, no
//! rounding.

use crate::domain::segments;

/// The kinds of channel a provider serves (the WIT `channel-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Sms,
    Mms,
    Whatsapp,
    Voice,
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Mms => "mms",
            Self::Whatsapp => "whatsapp",
            Self::Voice => "voice",
            Self::Email => "email",
        }
    }
}

/// A tenant's prices, in credits. Override some with struct update syntax:
/// `PriceTable { sms_segment: 2, ..PriceTable::default() }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceTable {
    /// Per SMS part, as carriers bill multipart messages.
    pub sms_segment: u64,
    pub mms_message: u64,
    pub whatsapp_message: u64,
    /// Per call placed, whatever its length.
    pub voice_call: u64,
    pub email_message: u64,
}

impl Default for PriceTable {
    /// One credit per SMS part, the others priced roughly as providers charge
    /// relative to an SMS.
    fn default() -> Self {
        Self {
            sms_segment: 1,
            mms_message: 3,
            whatsapp_message: 1,
            voice_call: 2,
            email_message: 1,
        }
    }
}

/// The cost of sending `body` once over a channel of `kind`. Only SMS depends
/// on the body (its segment count); the others cost per message.
pub fn cost(prices: &PriceTable, kind: ChannelKind, body: &str) -> u64 {
    match kind {
        ChannelKind::Sms => {
            let parts = segments::count(body).parts as u64;
            prices.sms_segment.saturating_mul(parts)
        }
        ChannelKind::Mms => prices.mms_message,
        ChannelKind::Whatsapp => prices.whatsapp_message,
        ChannelKind::Voice => prices.voice_call,
        ChannelKind::Email => prices.email_message,
    }
}

/// A tenant's credits: free to spend, and held for sends in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    pub available: u64,
    pub reserved: u64,
}

/// Credits held for one send. Not `Clone`: settling consumes it, so a
/// reservation is charged or released exactly once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation must be settled"]
pub struct Reservation {
    amount: u64,
}

impl Reservation {
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// Rebuilds a reservation recorded with an attempt (after a restart).
    pub fn restore(amount: u64) -> Self {
        Self { amount }
    }
}

/// How a reserved send ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider took the message: it will bill us, so we bill the tenant.
    Accepted,
    /// Refused before anything went out (invalid recipient, provider rejected
    /// the request, rate limited, plugin fault): nothing is charged.
    NotSent,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("insufficient credits: {needed} needed, {available} available")]
pub struct InsufficientCredits {
    pub needed: u64,
    pub available: u64,
}

impl Balance {
    pub fn new(available: u64) -> Self {
        Self {
            available,
            reserved: 0,
        }
    }

    /// Holds `amount` for a send, or refuses (leaving the balance untouched).
    pub fn reserve(&mut self, amount: u64) -> Result<Reservation, InsufficientCredits> {
        let available = self
            .available
            .checked_sub(amount)
            .ok_or(InsufficientCredits {
                needed: amount,
                available: self.available,
            })?;
        self.available = available;
        self.reserved += amount;
        Ok(Reservation { amount })
    }

    /// Charges or releases a reservation; returns the credits charged.
    pub fn settle(&mut self, reservation: Reservation, outcome: SendOutcome) -> u64 {
        let amount = reservation.amount;
        // A restored reservation may exceed what is held if records disagree;
        // never underflow, and never release more than was held.
        let held = amount.min(self.reserved);
        self.reserved -= held;
        match outcome {
            SendOutcome::Accepted => held,
            SendOutcome::NotSent => {
                self.available = self.available.saturating_add(held);
                0
            }
        }
    }

    /// Adds purchased credits.
    pub fn top_up(&mut self, amount: u64) {
        self.available = self.available.saturating_add(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sms_costs_per_segment() {
        let prices = PriceTable::default();
        assert_eq!(cost(&prices, ChannelKind::Sms, "hello"), 1);
        assert_eq!(cost(&prices, ChannelKind::Sms, &"a".repeat(161)), 2);
        // One emoji makes it UCS-2: 71 units is two parts.
        let body = format!("{}😀", "a".repeat(69));
        assert_eq!(cost(&prices, ChannelKind::Sms, &body), 2);
        let tenant = PriceTable {
            sms_segment: 7,
            ..PriceTable::default()
        };
        assert_eq!(cost(&tenant, ChannelKind::Sms, &"a".repeat(400)), 21);
    }

    #[test]
    fn other_channels_cost_per_message_whatever_the_body() {
        let prices = PriceTable {
            mms_message: 5,
            whatsapp_message: 4,
            voice_call: 9,
            email_message: 0,
            ..PriceTable::default()
        };
        let long = "x".repeat(1000);
        for body in ["", long.as_str()] {
            assert_eq!(cost(&prices, ChannelKind::Mms, body), 5);
            assert_eq!(cost(&prices, ChannelKind::Whatsapp, body), 4);
            assert_eq!(cost(&prices, ChannelKind::Voice, body), 9);
            assert_eq!(cost(&prices, ChannelKind::Email, body), 0);
        }
    }

    #[test]
    fn accepted_charges_and_not_sent_releases() {
        let mut b = Balance::new(10);
        let r = b.reserve(3).unwrap();
        assert_eq!(
            b,
            Balance {
                available: 7,
                reserved: 3
            }
        );
        assert_eq!(b.settle(r, SendOutcome::Accepted), 3);
        assert_eq!(
            b,
            Balance {
                available: 7,
                reserved: 0
            }
        );
        let r = b.reserve(4).unwrap();
        assert_eq!(b.settle(r, SendOutcome::NotSent), 0);
        assert_eq!(b, Balance::new(7));
    }

    #[test]
    fn reserving_more_than_available_is_refused() {
        let mut b = Balance::new(2);
        let held = b.reserve(2).unwrap();
        assert_eq!(
            b.reserve(1),
            Err(InsufficientCredits {
                needed: 1,
                available: 0
            })
        );
        assert_eq!(
            b,
            Balance {
                available: 0,
                reserved: 2
            }
        );
        // Releasing the held send frees its credits for the next one.
        b.settle(held, SendOutcome::NotSent);
        assert!(b.reserve(1).is_ok());
    }

    #[test]
    fn a_restored_reservation_never_underflows() {
        let mut b = Balance {
            available: 0,
            reserved: 1,
        };
        assert_eq!(b.settle(Reservation::restore(5), SendOutcome::NotSent), 0);
        assert_eq!(
            b,
            Balance {
                available: 1,
                reserved: 0
            }
        );
    }

    #[derive(Clone, Debug)]
    enum Step {
        Reserve(u64),
        Settle(usize, SendOutcome),
        TopUp(u64),
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        let outcome = prop_oneof![Just(SendOutcome::Accepted), Just(SendOutcome::NotSent)];
        prop_oneof![
            (0u64..20).prop_map(Step::Reserve),
            (0usize..8, outcome).prop_map(|(i, o)| Step::Settle(i, o)),
            (0u64..30).prop_map(Step::TopUp),
        ]
    }

    proptest! {
        // Every credit is always in exactly one place: available, reserved,
        // charged; and what is reserved is exactly what open reservations hold.
        #[test]
        fn credits_are_conserved(start in 0u64..50, steps in proptest::collection::vec(arb_step(), 0..60)) {
            let mut b = Balance::new(start);
            let (mut open, mut charged, mut topped) = (Vec::new(), 0, 0);
            for step in steps {
                match step {
                    Step::Reserve(n) => {
                        let before = b;
                        match b.reserve(n) {
                            Ok(r) => open.push(r),
                            Err(e) => {
                                prop_assert!(before.available < n);
                                prop_assert_eq!(e.available, before.available);
                                prop_assert_eq!(b, before);
                            }
                        }
                    }
                    Step::Settle(i, outcome) if !open.is_empty() => {
                        let r = open.swap_remove(i % open.len());
                        let amount = r.amount();
                        let got = b.settle(r, outcome);
                        prop_assert_eq!(got, if outcome == SendOutcome::Accepted { amount } else { 0 });
                        charged += got;
                    }
                    Step::Settle(..) => {}
                    Step::TopUp(n) => {
                        b.top_up(n);
                        topped += n;
                    }
                }
                let held: u64 = open.iter().map(Reservation::amount).sum();
                prop_assert_eq!(b.reserved, held);
                prop_assert_eq!(b.available + b.reserved + charged, start + topped);
            }
        }
    }
}
