//! Judging a canary against the active version: each side's sends over a
//! sliding window (calls, plugin faults, provider errors, latency), and the
//! thresholds past which the canary is worse. No I/O: the registry records
//! and acts (see `canary`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sketches_ddsketch::DDSketch;

/// What the judge holds a canary to. Each default has its reason.
#[derive(Clone, Debug)]
pub struct CanaryPolicy {
    /// How far back the figures look. Five minutes: long enough for a
    /// small share of a busy plugin's sends to add up to a verdict, short
    /// enough that a bad canary stops within minutes of going bad.
    pub window: Duration,
    /// Canary sends in the window before anything is judged (and below
    /// which the active version's rates count as zero): under twenty, one
    /// unlucky call is five points of rate.
    pub min_calls: u64,
    /// Fault rate (traps, budgets, memory) above the active version's, in
    /// points (0.05 = 5 points). A working plugin almost never faults, so
    /// five points is already many faults, yet one fault in twenty calls
    /// (a single provider timeout) does not trip it.
    pub max_fault_increase: f64,
    /// Provider-error rate (transient errors, 5xx) above the active
    /// version's. Looser than faults (10 points): providers err now and
    /// then whichever version talks to them, and over twenty calls one
    /// error is five points of noise.
    pub max_provider_error_increase: f64,
    /// p95 latency over the active version's, as a ratio: twice as slow
    /// is a regression however fast the provider is,
    pub max_latency_ratio: f64,
    /// and by at least this much (a 2 ms call becoming 4 ms is noise, not
    /// a slower send).
    pub min_latency_increase: Duration,
    /// Promote a canary that stayed healthy this long (none: an admin
    /// promotes).
    pub auto_promote_after: Option<Duration>,
}

impl Default for CanaryPolicy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            min_calls: 20,
            max_fault_increase: 0.05,
            max_provider_error_increase: 0.10,
            max_latency_ratio: 2.0,
            min_latency_increase: Duration::from_millis(100),
            auto_promote_after: None,
        }
    }
}

/// One send, as the judge sees it.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    pub latency: Duration,
    /// The plugin trapped, ran out of a budget or of memory, or answered
    /// something unusable.
    pub fault: bool,
    /// The provider (through the plugin) failed: a transient error.
    pub provider_error: bool,
}

/// One side's figures over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Figures {
    pub calls: u64,
    pub faults: u64,
    pub provider_errors: u64,
    /// Faults per 100 calls.
    pub fault_percent: f64,
    /// Provider errors per 100 calls.
    pub provider_error_percent: f64,
    /// `null` without calls.
    pub p95_latency_ms: Option<f64>,
}

impl Figures {
    fn rate(part: u64, calls: u64) -> f64 {
        if calls == 0 {
            0.0
        } else {
            part as f64 / calls as f64
        }
    }

    fn fault_rate(&self) -> f64 {
        Self::rate(self.faults, self.calls)
    }

    fn provider_error_rate(&self) -> f64 {
        Self::rate(self.provider_errors, self.calls)
    }
}

/// The canary's and the active version's figures, side by side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Judgement {
    /// The window the figures cover, in seconds.
    pub window_secs: u64,
    pub canary: Figures,
    pub active: Figures,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Too few canary sends in the window.
    Undecided,
    Healthy,
    /// Worse than the active version; why, with both figures.
    Failing(String),
}

/// Slices a window is kept in: it slides by a tenth of its length.
const SLICES: u32 = 10;

/// One side's sends over the last `span`, in slices.
pub struct Window {
    span: Duration,
    slices: Mutex<VecDeque<Slice>>,
}

struct Slice {
    start: Instant,
    calls: u64,
    faults: u64,
    provider_errors: u64,
    /// Latencies in milliseconds (DDSketch: 1% relative error whatever the
    /// number of calls, mergeable across slices).
    latency_ms: DDSketch,
}

impl Slice {
    fn new(start: Instant) -> Self {
        Self {
            start,
            calls: 0,
            faults: 0,
            provider_errors: 0,
            latency_ms: DDSketch::default(),
        }
    }
}

impl Window {
    pub fn new(span: Duration) -> Self {
        Self {
            span: span.max(Duration::from_millis(SLICES as u64)),
            slices: Mutex::default(),
        }
    }

    pub fn record(&self, at: Instant, o: &Observation) {
        let slice_len = self.span / SLICES;
        let mut slices = self.slices.lock().expect("window lock");
        self.forget_old(&mut slices, at);
        if slices
            .back()
            .is_none_or(|s| at.saturating_duration_since(s.start) >= slice_len)
        {
            slices.push_back(Slice::new(at));
        }
        let slice = slices.back_mut().expect("pushed");
        slice.calls += 1;
        slice.faults += o.fault as u64;
        slice.provider_errors += o.provider_error as u64;
        slice.latency_ms.add(o.latency.as_secs_f64() * 1000.0);
    }

    fn forget_old(&self, slices: &mut VecDeque<Slice>, now: Instant) {
        while slices
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.start) > self.span)
        {
            slices.pop_front();
        }
    }

    pub fn figures(&self, now: Instant) -> Figures {
        let mut slices = self.slices.lock().expect("window lock");
        self.forget_old(&mut slices, now);
        let mut latency = DDSketch::default();
        let mut f = Figures::default();
        for s in slices.iter() {
            f.calls += s.calls;
            f.faults += s.faults;
            f.provider_errors += s.provider_errors;
            // Same configuration on both sides: merging cannot fail.
            let _ = latency.merge(&s.latency_ms);
        }
        f.fault_percent = percent(f.fault_rate());
        f.provider_error_percent = percent(f.provider_error_rate());
        f.p95_latency_ms = latency
            .quantile(0.95)
            .ok()
            .flatten()
            .map(|ms| (ms * 100.0).round() / 100.0);
        f
    }
}

fn percent(rate: f64) -> f64 {
    (rate * 1000.0).round() / 10.0
}

/// Whether the canary is worse than the active version, by `policy`.
pub fn judge(policy: &CanaryPolicy, j: &Judgement) -> Verdict {
    let (canary, active) = (&j.canary, &j.active);
    if canary.calls < policy.min_calls.max(1) {
        return Verdict::Undecided;
    }
    // A baseline of a few calls says little: the canary is then held to a
    // version that never faults nor errs.
    let judged_active = active.calls >= policy.min_calls.max(1);
    let base = |rate: f64| if judged_active { rate } else { 0.0 };
    let over = |what: &str,
                canary_part: u64,
                rate: f64,
                active_part: u64,
                active_rate: f64,
                limit: f64| {
        format!(
            "{what} {:.1}% ({canary_part} of {} calls) against {:.1}% ({active_part} of {}) on \
             the active version over the last {} s; the limit is {:.1} points above it",
            rate * 100.0,
            canary.calls,
            active_rate * 100.0,
            active.calls,
            j.window_secs,
            limit * 100.0
        )
    };
    let (rate, active_rate) = (canary.fault_rate(), base(active.fault_rate()));
    if rate - active_rate > policy.max_fault_increase {
        return Verdict::Failing(over(
            "fault rate",
            canary.faults,
            rate,
            active.faults,
            active_rate,
            policy.max_fault_increase,
        ));
    }
    let (rate, active_rate) = (
        canary.provider_error_rate(),
        base(active.provider_error_rate()),
    );
    if rate - active_rate > policy.max_provider_error_increase {
        return Verdict::Failing(over(
            "provider-error rate",
            canary.provider_errors,
            rate,
            active.provider_errors,
            active_rate,
            policy.max_provider_error_increase,
        ));
    }
    if let (true, Some(slow), Some(fast)) =
        (judged_active, canary.p95_latency_ms, active.p95_latency_ms)
    {
        let floor_ms = policy.min_latency_increase.as_secs_f64() * 1000.0;
        if slow > fast * policy.max_latency_ratio && slow - fast > floor_ms {
            return Verdict::Failing(format!(
                "p95 latency {slow:.1} ms ({} calls) against {fast:.1} ms ({}) on the active \
                 version over the last {} s; the limit is {:.1} times it and {floor_ms:.0} ms more",
                canary.calls, active.calls, j.window_secs, policy.max_latency_ratio
            ));
        }
    }
    Verdict::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(calls: u64, faults: u64, errors: u64, latency_ms: u64) -> Window {
        let w = Window::new(Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..calls {
            w.record(
                now,
                &Observation {
                    latency: Duration::from_millis(latency_ms),
                    fault: i < faults,
                    provider_error: i >= faults && i < faults + errors,
                },
            );
        }
        w
    }

    fn judgement(canary: &Window, active: &Window) -> Judgement {
        let now = Instant::now();
        Judgement {
            window_secs: 60,
            canary: canary.figures(now),
            active: active.figures(now),
        }
    }

    #[test]
    fn too_few_canary_calls_are_not_judged() {
        let policy = CanaryPolicy::default();
        let j = judgement(&side(19, 19, 0, 5), &side(100, 0, 0, 5));
        assert_eq!(judge(&policy, &j), Verdict::Undecided);
    }

    #[test]
    fn faults_past_the_active_rate_fail_it_with_both_figures() {
        let policy = CanaryPolicy::default();
        let j = judgement(&side(20, 4, 0, 5), &side(100, 1, 0, 5));
        assert_eq!(j.canary.fault_percent, 20.0);
        let Verdict::Failing(why) = judge(&policy, &j) else {
            panic!("20% faults against 1% must fail");
        };
        assert!(why.contains("fault rate 20.0% (4 of 20 calls)"), "{why}");
        assert!(why.contains("against 1.0% (1 of 100)"), "{why}");
        // One fault in twenty is within five points.
        let j = judgement(&side(20, 1, 0, 5), &side(100, 0, 0, 5));
        assert_eq!(judge(&policy, &j), Verdict::Healthy);
    }

    #[test]
    fn provider_errors_are_compared_with_the_active_versions() {
        let policy = CanaryPolicy::default();
        // The provider errs for everyone: not the canary's fault.
        let j = judgement(&side(40, 0, 12, 5), &side(200, 0, 50, 5));
        assert_eq!(judge(&policy, &j), Verdict::Healthy);
        let j = judgement(&side(40, 0, 20, 5), &side(200, 0, 10, 5));
        let Verdict::Failing(why) = judge(&policy, &j) else {
            panic!("50% errors against 5% must fail");
        };
        assert!(why.starts_with("provider-error rate 50.0%"), "{why}");
    }

    #[test]
    fn an_active_version_with_few_calls_counts_as_faultless() {
        let policy = CanaryPolicy::default();
        // Its one call faulted, yet the canary's 30% is not excused.
        let j = judgement(&side(30, 9, 0, 5), &side(1, 1, 0, 5));
        assert!(matches!(judge(&policy, &j), Verdict::Failing(_)));
    }

    #[test]
    fn latency_must_be_both_twice_and_noticeably_slower() {
        let policy = CanaryPolicy::default();
        let j = judgement(&side(30, 0, 0, 6), &side(30, 0, 0, 2));
        assert_eq!(judge(&policy, &j), Verdict::Healthy, "3x, but 4 ms");
        let j = judgement(&side(30, 0, 0, 350), &side(30, 0, 0, 200));
        assert_eq!(judge(&policy, &j), Verdict::Healthy, "150 ms more, not 2x");
        let j = judgement(&side(30, 0, 0, 900), &side(30, 0, 0, 200));
        let Verdict::Failing(why) = judge(&policy, &j) else {
            panic!("4.5x and 700 ms slower must fail");
        };
        assert!(why.starts_with("p95 latency "), "{why}");
        assert!(why.contains("(30 calls) against "), "{why}");
    }

    #[test]
    fn the_window_forgets_calls_older_than_its_span() {
        let w = Window::new(Duration::from_secs(10));
        let start = Instant::now();
        let o = Observation {
            latency: Duration::from_millis(3),
            fault: true,
            provider_error: false,
        };
        for _ in 0..5 {
            w.record(start, &o);
        }
        w.record(start + Duration::from_secs(6), &o);
        assert_eq!(w.figures(start + Duration::from_secs(9)).calls, 6);
        let later = w.figures(start + Duration::from_secs(12));
        assert_eq!(
            (later.calls, later.faults),
            (1, 1),
            "the first slice is gone"
        );
        assert!(
            w.figures(start + Duration::from_secs(20))
                .p95_latency_ms
                .is_none()
        );
    }
}
