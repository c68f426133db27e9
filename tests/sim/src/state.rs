//! The simulator's mutable state: counters, accepted messages and what each
//! provider remembers, behind the one mutex in [`crate::Shared`].

use std::collections::{HashMap, HashSet};

use crate::{ReceivedMessage, Stats, behaviour, twilio};

/// Everything that changes, behind one mutex so counters stay consistent.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) stats: Stats,
    pub(crate) messages: Vec<ReceivedMessage>,
    pub(crate) per_recipient: HashMap<String, usize>,
    /// Numbers whose one-time failure (0429, 0500) has been served.
    pub(crate) tripped: HashSet<String>,
    /// Twilio's view of accepted messages: current status, by SID.
    pub(crate) twilio: HashMap<String, twilio::Record>,
    /// Index in `messages` by provider id, for the other providers' lookups.
    pub(crate) by_id: HashMap<String, usize>,
    /// Infobip delivery reports and Mailgun events sent so far, by message
    /// id, oldest first: what their lookup endpoints answer.
    pub(crate) reports: HashMap<String, Vec<serde_json::Value>>,
    /// Calls in progress per caller id.
    pub(crate) calls_per_from: HashMap<String, u64>,
    /// Bumped by reset, so background tasks for older messages stop counting.
    pub(crate) epoch: u64,
}

impl State {
    /// Records an accepted message and keeps the recipient counters exact.
    /// Returns its index in `messages`.
    pub(crate) fn accept(&mut self, message: ReceivedMessage) -> usize {
        let count = self.per_recipient.entry(message.to.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            self.stats.duplicates += 1;
        }
        self.stats.accepted += 1;
        self.stats.distinct_recipients = self.per_recipient.len() as u64;
        *self
            .stats
            .accepted_by_provider
            .entry(message.provider.clone())
            .or_insert(0) += 1;
        self.by_id.insert(message.sid.clone(), self.messages.len());
        self.messages.push(message);
        self.messages.len() - 1
    }

    /// Accepts `message` unless its number's one-time failure (`0429`,
    /// `0500`) is due: then remembers it was served and returns `None`.
    /// Else the epoch (for the callbacks) and the message's index. One lock
    /// for both, so two concurrent first requests cannot both fail or pass.
    pub(crate) fn accept_unless_tripped(
        &mut self,
        behaviour: behaviour::Behaviour,
        message: ReceivedMessage,
    ) -> Option<(u64, usize)> {
        let fails_once = matches!(
            behaviour,
            behaviour::Behaviour::RateLimitedOnce | behaviour::Behaviour::ServerErrorOnce
        );
        if fails_once && self.tripped.insert(message.to.clone()) {
            return None;
        }
        Some((self.epoch, self.accept(message)))
    }

    pub(crate) fn messages_for(&self, provider: &str) -> Vec<ReceivedMessage> {
        self.messages
            .iter()
            .filter(|m| m.provider == provider)
            .cloned()
            .collect()
    }

    /// The accepted message with this provider id.
    pub(crate) fn message_mut(&mut self, id: &str) -> Option<&mut ReceivedMessage> {
        let index = *self.by_id.get(id)?;
        self.messages.get_mut(index)
    }

    /// Counts the answer given to a send, by HTTP status.
    pub(crate) fn count_answer(&mut self, status: u16) {
        match status {
            401 => {
                self.stats.auth_failures += 1;
                self.stats.rejected += 1;
            }
            429 => self.stats.rate_limited += 1,
            400..=499 => self.stats.rejected += 1,
            500..=599 => self.stats.server_errors += 1,
            _ => {}
        }
    }
}
