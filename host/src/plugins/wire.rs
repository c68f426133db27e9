//! What a call's `http-send` exchanges may have done at the provider.
//!
//! The host owns the network, so it knows better than the plugin whether a
//! request could have been taken: a connection that was never made cannot
//! have delivered anything, while a request written to a connection that
//! then timed out, broke, or was answered 5xx may have been. A `send` that
//! fails after such an exchange is uncertain and must not be resent under
//! a new attempt (see `engine::outcome`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Bits of [`WireLog`].
const TOOK: u8 = 1;
const UNSURE: u8 = 2;

/// How one exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exchange {
    /// No connection was made: nothing reached the provider.
    Unreached,
    /// The provider answered with this status.
    Answered(u16),
    /// The request may have been written, and no answer came (timeout,
    /// reset, a body cut short).
    Lost,
}

/// Shared between a call's host state and its caller, so it survives the
/// store being dropped when the call's deadline cuts it short.
#[derive(Clone, Default)]
pub struct WireLog(Arc<AtomicU8>);

/// The summary of a call's exchanges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireSeen {
    /// A provider answered 2xx/3xx: something was taken.
    pub took: bool,
    /// An exchange ended without a clear answer (lost, 5xx, or cut short).
    pub unsure: bool,
}

impl WireSeen {
    /// The provider may have the message, whatever the plugin concluded.
    pub fn may_have_reached(self) -> bool {
        self.took || self.unsure
    }
}

impl WireLog {
    pub fn seen(&self) -> WireSeen {
        let bits = self.0.load(Ordering::Acquire);
        WireSeen {
            took: bits & TOOK != 0,
            unsure: bits & UNSURE != 0,
        }
    }

    /// The plugin says the provider may have the message (WIT 1.2
    /// `uncertainty.mark-uncertain`), whatever the exchanges looked like.
    pub fn mark_unsure(&self) {
        self.0.fetch_or(UNSURE, Ordering::AcqRel);
    }

    fn mark(&self, how: Exchange) {
        let bit = match how {
            Exchange::Unreached => 0,
            Exchange::Answered(status) if status >= 500 => UNSURE,
            Exchange::Answered(status) if status < 400 => TOOK,
            Exchange::Answered(_) => 0,
            Exchange::Lost => UNSURE,
        };
        self.0.fetch_or(bit, Ordering::AcqRel);
    }
}

/// Starts an exchange made for every message whose log is in `logs` (a
/// `send-all` request whose message is not known counts for all of them).
/// Dropping the guard unfinished (the call was cut off mid-request) counts
/// as [`Exchange::Lost`].
pub fn begin_for(logs: &[WireLog]) -> ExchangeGuard<'_> {
    ExchangeGuard { logs, done: false }
}

pub struct ExchangeGuard<'a> {
    logs: &'a [WireLog],
    done: bool,
}

impl ExchangeGuard<'_> {
    pub fn finish(mut self, how: Exchange) {
        self.done = true;
        for log in self.logs {
            log.mark(how);
        }
    }
}

impl Drop for ExchangeGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            for log in self.logs {
                log.mark(Exchange::Lost);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(exchanges: &[Exchange]) -> WireSeen {
        let log = WireLog::default();
        for &e in exchanges {
            begin_for(std::slice::from_ref(&log)).finish(e);
        }
        log.seen()
    }

    #[test]
    fn only_exchanges_that_may_have_reached_the_provider_count() {
        assert!(!after(&[]).may_have_reached());
        assert!(!after(&[Exchange::Unreached]).may_have_reached());
        assert!(!after(&[Exchange::Answered(400), Exchange::Answered(429)]).may_have_reached());
        assert!(after(&[Exchange::Answered(201)]).took);
        assert!(after(&[Exchange::Answered(503)]).unsure);
        assert!(after(&[Exchange::Unreached, Exchange::Lost]).unsure);
    }

    /// An exchange for several messages marks each of them; one for a
    /// single message of several marks that one only.
    #[test]
    fn an_exchange_counts_for_the_messages_it_was_made_for() {
        let logs = [WireLog::default(), WireLog::default(), WireLog::default()];
        begin_for(&logs[1..2]).finish(Exchange::Answered(201));
        assert!(!logs[0].seen().may_have_reached());
        assert!(logs[1].seen().took);
        assert!(!logs[2].seen().may_have_reached());
        drop(begin_for(&logs));
        assert!(logs.iter().all(|log| log.seen().unsure));
    }

    #[test]
    fn an_exchange_cut_off_midway_is_lost() {
        let log = WireLog::default();
        let guard = begin_for(std::slice::from_ref(&log));
        assert!(!log.seen().may_have_reached());
        drop(guard);
        assert!(log.seen().unsure);
    }
}
