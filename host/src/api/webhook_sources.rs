//! Refused webhooks per source address. A provider sends thousands of
//! valid callbacks a second from a few addresses, so valid ones are never
//! counted; what is counted is a webhook the server refused or that made
//! the plugin fault (unknown channel, over its size, signature or format
//! refused, plugin fault), in the API's rate limiter. A source over its
//! rate is barred until the limiter would take its next refusal: its
//! webhooks, valid or not, get 429 with `Retry-After` without reaching a
//! plugin (providers retry those later), while every other source is
//! untouched.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::error::ApiError;
use super::rate_limit::RateLimit;

/// Who sends: an IPv4 address, or an IPv6 /64 (one host commonly holds a
/// whole /64, so single addresses would be free for the taking).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

pub struct WebhookSources {
    refusals: RateLimit<Source>,
    /// Sources over their rate, until when.
    barred: Mutex<HashMap<Source, Instant>>,
}

impl WebhookSources {
    /// `per_second` refused webhooks a second per source after `burst`;
    /// 0 turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            refusals: RateLimit::new(per_second, burst),
            barred: Mutex::default(),
        }
    }

    /// Whether `source` may be heard now; a barred one gets the 429.
    pub fn admit(&self, source: Source) -> Result<(), ApiError> {
        let barred = self.barred.lock().expect("barred lock");
        let Some(until) = barred.get(&source).copied() else {
            return Ok(());
        };
        let now = Instant::now();
        if until <= now {
            return Ok(());
        }
        drop(barred);
        let wait = until - now;
        metrics::counter!("herald_webhooks_total", "result" => "rate_limited").increment(1);
        Err(ApiError::RateLimited {
            retry_after: wait,
            message: format!(
                "too many refused webhooks from {source}: {}; retry in {:.1} s",
                self.refusals.describe(),
                wait.as_secs_f64()
            ),
        })
    }

    /// Counts a webhook of `source` that was refused or faulted; over the
    /// rate, bars the source until its next refusal would be within it.
    pub fn refused(&self, source: Source) {
        let Err(wait) = self.refusals.count(&source) else {
            return;
        };
        let until = Instant::now() + wait;
        let newly = self
            .barred
            .lock()
            .expect("barred lock")
            .insert(source, until)
            .is_none_or(|was| was <= Instant::now());
        if newly {
            tracing::warn!(
                %source,
                limit = self.refusals.describe(),
                "webhooks from this source barred: too many refused or faulting \
                 (forged, or a provider whose signature no longer verifies)"
            );
        }
    }

    /// Forgets sources whose bar has passed and counts idle long enough.
    pub fn forget_idle(&self) {
        self.refusals.forget_idle();
        let now = Instant::now();
        self.barred
            .lock()
            .expect("barred lock")
            .retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_source_over_its_refusals_is_barred_and_others_are_not() {
        let sources = WebhookSources::new(1, 3);
        let forger = Source::of(ip("203.0.113.7"));
        for _ in 0..3 {
            sources.refused(forger);
            assert!(sources.admit(forger).is_ok(), "within the burst");
        }
        sources.refused(forger);
        let Err(ApiError::RateLimited { retry_after, .. }) = sources.admit(forger) else {
            panic!("the fourth refusal in a burst of 3 bars the source");
        };
        assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
        assert!(sources.admit(Source::of(ip("198.51.100.1"))).is_ok());
    }

    #[test]
    fn valid_webhooks_are_never_counted() {
        let sources = WebhookSources::new(1, 1);
        let provider = Source::of(ip("192.0.2.10"));
        for _ in 0..10_000 {
            assert!(sources.admit(provider).is_ok());
        }
    }

    #[test]
    fn an_ipv6_source_is_its_slash_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2:aaaa::1")),
            Source::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:203.0.113.7")),
            Source::of(ip("203.0.113.7"))
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_rate_of_zero_bars_no_one() {
        let sources = WebhookSources::new(0, 0);
        let forger = Source::of(ip("203.0.113.7"));
        for _ in 0..1000 {
            sources.refused(forger);
        }
        assert!(sources.admit(forger).is_ok());
    }
}
