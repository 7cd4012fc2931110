//! A count-based circuit breaker (resilience4j's semantics) and a retry budget. Pure state
//! machines; the engine asks and reports.
//!
//! Breaker: closed, it records each call's outcome in a ring of the last `window` calls; once
//! `minimum_calls` are in and the failure rate or the slow-call rate reaches its threshold, it
//! opens. Open, it refuses calls for `open_duration`, then half-opens: the next `half_open_calls`
//! calls go through and are judged together — below both thresholds it closes (ring cleared),
//! otherwise it opens again.

use crate::units::Nanos;

#[derive(Clone, Debug, PartialEq)]
pub struct BreakerModel {
    pub window: u32,
    pub minimum_calls: u32,
    pub failure_rate: f64,
    pub slow_call: Option<Nanos>,
    pub slow_call_rate: f64,
    pub open_duration: Nanos,
    pub half_open_calls: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until: Nanos },
    HalfOpen,
}

impl BreakerState {
    /// 0 closed, 1 half-open, 2 open: for time series.
    pub fn level(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open { .. } => 2,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Call {
    failed: bool,
    slow: bool,
}

#[derive(Clone, Debug)]
pub struct Breaker {
    state: BreakerState,
    ring: Vec<Call>,
    next: usize,
    filled: usize,
    /// Failed and slow calls among the ring's `filled`, kept as calls enter and leave it.
    failures: usize,
    slows: usize,
    /// Half-open: calls let through and their results so far.
    trial_started: u32,
    trial_done: u32,
    trial_failed: u32,
    trial_slow: u32,
    /// Times the breaker opened.
    pub opened: u64,
}

impl Breaker {
    pub fn new(model: &BreakerModel) -> Breaker {
        Breaker {
            state: BreakerState::Closed,
            ring: vec![Call::default(); model.window as usize],
            next: 0,
            filled: 0,
            failures: 0,
            slows: 0,
            trial_started: 0,
            trial_done: 0,
            trial_failed: 0,
            trial_slow: 0,
            opened: 0,
        }
    }

    pub fn state(&mut self, now: Nanos) -> BreakerState {
        if let BreakerState::Open { until } = self.state {
            if now >= until {
                self.state = BreakerState::HalfOpen;
                self.trial_started = 0;
                self.trial_done = 0;
                self.trial_failed = 0;
                self.trial_slow = 0;
            }
        }
        self.state
    }

    /// Whether a call may go through now (half-open admits a limited number).
    pub fn allow(&mut self, model: &BreakerModel, now: Nanos) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen => {
                if self.trial_started < model.half_open_calls {
                    self.trial_started += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The outcome of a call that `allow` let through.
    pub fn record(&mut self, model: &BreakerModel, now: Nanos, failed: bool, duration: Nanos) {
        let slow = model.slow_call.is_some_and(|limit| duration > limit);
        match self.state(now) {
            BreakerState::Closed => {
                if self.filled == self.ring.len() {
                    let leaving = self.ring[self.next];
                    self.failures -= usize::from(leaving.failed);
                    self.slows -= usize::from(leaving.slow);
                } else {
                    self.filled += 1;
                }
                self.ring[self.next] = Call { failed, slow };
                self.failures += usize::from(failed);
                self.slows += usize::from(slow);
                self.next = if self.next + 1 == self.ring.len() { 0 } else { self.next + 1 };
                if self.filled >= model.minimum_calls as usize {
                    let n = self.filled as f64;
                    let (failures, slows) = (self.failures as f64, self.slows as f64);
                    if failures / n >= model.failure_rate
                        || (model.slow_call.is_some() && slows / n >= model.slow_call_rate)
                    {
                        self.open(model, now);
                    }
                }
            }
            BreakerState::HalfOpen => {
                self.trial_done += 1;
                self.trial_failed += u32::from(failed);
                self.trial_slow += u32::from(slow);
                if self.trial_done >= model.half_open_calls {
                    let n = f64::from(self.trial_done);
                    let failing = f64::from(self.trial_failed) / n >= model.failure_rate
                        || (model.slow_call.is_some() && f64::from(self.trial_slow) / n >= model.slow_call_rate);
                    if failing {
                        self.open(model, now);
                    } else {
                        self.state = BreakerState::Closed;
                        self.filled = 0;
                        self.next = 0;
                        self.failures = 0;
                        self.slows = 0;
                    }
                }
            }
            // A call admitted before the breaker opened: its result no longer matters.
            BreakerState::Open { .. } => {}
        }
    }

    fn open(&mut self, model: &BreakerModel, now: Nanos) {
        self.state = BreakerState::Open { until: now.saturating_add(model.open_duration) };
        self.opened += 1;
    }
}

/// Finagle-style retry budget: every first attempt deposits `ratio` of a retry (up to a cap), every
/// retry withdraws one.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    balance: f64,
    ratio: f64,
    cap: f64,
}

impl RetryBudget {
    pub fn new(ratio: f64) -> RetryBudget {
        // A small float to start and a cap, so that a burst after a quiet spell is still bounded.
        RetryBudget { balance: 10.0_f64.min(100.0 * ratio).max(ratio), ratio, cap: 100.0_f64.max(1000.0 * ratio) }
    }

    pub fn deposit(&mut self) {
        self.balance = (self.balance + self.ratio).min(self.cap);
    }

    pub fn try_withdraw(&mut self) -> bool {
        if self.balance >= 1.0 {
            self.balance -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> BreakerModel {
        BreakerModel {
            window: 10,
            minimum_calls: 5,
            failure_rate: 0.5,
            slow_call: Some(100),
            slow_call_rate: 0.8,
            open_duration: 1000,
            half_open_calls: 3,
        }
    }

    #[test]
    fn opens_at_the_failure_rate_and_half_opens_after_its_duration() {
        let m = model();
        let mut b = Breaker::new(&m);
        // 4 failures in 4 calls: under minimum_calls, still closed.
        for t in 0..4 {
            assert!(b.allow(&m, t));
            b.record(&m, t, true, 10);
        }
        assert_eq!(b.state(4), BreakerState::Closed);
        // The fifth call: 5 of 5 failed ≥ 50% → open until 4 + 1000.
        b.record(&m, 4, false, 10);
        assert_eq!(b.state(4), BreakerState::Open { until: 1004 });
        assert!(!b.allow(&m, 500));
        assert!(!b.allow(&m, 1003));
        // Half-open at 1004: three trial calls, the fourth is refused.
        assert!(b.allow(&m, 1004) && b.allow(&m, 1005) && b.allow(&m, 1006));
        assert!(!b.allow(&m, 1007));
        assert_eq!(b.state(1007).level(), 1);
        // Two of three trials fail: open again.
        b.record(&m, 1010, true, 10);
        b.record(&m, 1011, true, 10);
        b.record(&m, 1012, false, 10);
        assert_eq!(b.state(1012), BreakerState::Open { until: 2012 });
        assert_eq!(b.opened, 2);
        // Trials that pass close it, with a fresh window.
        assert!(b.allow(&m, 2012) && b.allow(&m, 2012) && b.allow(&m, 2012));
        for _ in 0..3 {
            b.record(&m, 2013, false, 10);
        }
        assert_eq!(b.state(2013), BreakerState::Closed);
        for t in 0..4 {
            b.record(&m, 2014 + t, true, 10);
        }
        assert_eq!(b.state(2020), BreakerState::Closed);
    }

    #[test]
    fn the_window_slides_old_calls_out() {
        let m = BreakerModel { window: 4, minimum_calls: 4, slow_call: None, ..model() };
        let mut b = Breaker::new(&m);
        // F S S S: 1 of 4 failed; S pushes the F out (0 of 4); F, F: 2 of 4, which opens it.
        for (t, failed) in [true, false, false, false, false, true].into_iter().enumerate() {
            b.record(&m, t as u64, failed, 1);
            assert_eq!(b.state(t as u64), BreakerState::Closed, "call {t}");
        }
        b.record(&m, 6, true, 1);
        assert_eq!(b.state(6), BreakerState::Open { until: 1006 });
        assert_eq!(b.opened, 1);
    }

    #[test]
    fn below_the_threshold_it_stays_closed_and_slow_calls_count() {
        let m = model();
        let mut b = Breaker::new(&m);
        // Failures at calls 2, 4, 7 and 9: the rate peaks at 40% (2 of 5, 4 of 10) < 50%.
        for i in 0..10 {
            b.record(&m, i, [2, 4, 7, 9].contains(&i), 10);
        }
        assert_eq!(b.state(10), BreakerState::Closed);
        // Slow calls: 8 of the last 10 slower than 100 → 80% ≥ 80%.
        let mut b = Breaker::new(&m);
        for i in 0..10 {
            b.record(&m, i, false, if i < 8 { 150 } else { 50 });
        }
        assert!(matches!(b.state(10), BreakerState::Open { .. }));
    }

    #[test]
    fn the_retry_budget_allows_its_ratio_over_time() {
        let mut budget = RetryBudget::new(0.2);
        // Drain the starting float, then 1000 requests earn 200 retries.
        while budget.try_withdraw() {}
        let mut retries = 0;
        for _ in 0..1000 {
            budget.deposit();
            if budget.try_withdraw() {
                retries += 1;
            }
        }
        assert_eq!(retries, 200);
    }
}
