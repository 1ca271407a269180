//! One circuit breaker per agent: N consecutive failures open it; after the
//! cooldown it is half-open, and its next outcome closes or reopens it. Time is
//! passed in, so tests drive the cooldown with a clock they control.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tether_proto::hooks::{BreakerState, BreakerStatus};

#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    failures: u32,
    opened_at: Option<Instant>,
    /// Set while a half-open breaker waits for its one outcome.
    probing: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) failures: u32,
    pub(crate) cooldown: Duration,
}

impl Breaker {
    fn new() -> Breaker {
        Breaker { failures: 0, opened_at: None, probing: false }
    }

    pub(crate) fn state(&self, now: Instant, settings: Settings) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(at) if self.probing || now.duration_since(at) >= settings.cooldown => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    pub(crate) fn record(&mut self, ok: bool, now: Instant, settings: Settings) {
        match (self.state(now, settings), ok) {
            (BreakerState::HalfOpen, true) | (BreakerState::Closed, true) => *self = Breaker::new(),
            (BreakerState::HalfOpen, false) => {
                self.opened_at = Some(now);
                self.probing = false;
            }
            (BreakerState::Closed, false) => {
                self.failures += 1;
                if self.failures >= settings.failures {
                    self.opened_at = Some(now);
                }
            }
            // While open, outcomes (of calls already under way) change nothing.
            (BreakerState::Open, _) => {}
        }
    }

    fn retry_in(&self, now: Instant, settings: Settings) -> Option<Duration> {
        let at = self.opened_at?;
        Some(settings.cooldown.saturating_sub(now.duration_since(at)))
    }
}

#[derive(Default)]
pub(crate) struct Breakers(BTreeMap<String, Breaker>);

impl Breakers {
    pub(crate) fn record(&mut self, agent: &str, ok: bool, now: Instant, settings: Settings) {
        // Looked up by `&str` first: an agent's every turn reports here, and its key is
        // made once.
        match self.0.get_mut(agent) {
            Some(breaker) => breaker.record(ok, now, settings),
            None => self.0.entry(agent.to_owned()).or_insert_with(Breaker::new).record(ok, now, settings),
        }
    }

    pub(crate) fn status(&self, agent: &str, now: Instant, settings: Settings) -> BreakerStatus {
        let breaker = self.0.get(agent).cloned().unwrap_or_else(Breaker::new);
        let state = breaker.state(now, settings);
        BreakerStatus {
            agent: agent.to_owned(),
            state,
            consecutive_failures: breaker.failures,
            retry_in_ms: (state == BreakerState::Open)
                .then(|| breaker.retry_in(now, settings))
                .flatten()
                .map(|d| d.as_millis() as u64),
        }
    }

    /// A half-open breaker lets exactly one attempt through: taking it marks the probe.
    pub(crate) fn take_probe(&mut self, agent: &str, now: Instant, settings: Settings) -> BreakerState {
        let breaker = self.0.entry(agent.to_owned()).or_insert_with(Breaker::new);
        let state = breaker.state(now, settings);
        if state == BreakerState::HalfOpen {
            if breaker.probing {
                return BreakerState::Open;
            }
            breaker.probing = true;
        }
        state
    }

    pub(crate) fn agents(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: Settings = Settings { failures: 3, cooldown: Duration::from_secs(30) };

    #[test]
    fn opens_after_n_failures_then_half_opens_after_the_cooldown() {
        let t0 = Instant::now();
        let mut b = Breakers::default();
        b.record("a", false, t0, SETTINGS);
        b.record("a", false, t0, SETTINGS);
        assert_eq!(b.status("a", t0, SETTINGS).state, BreakerState::Closed);
        b.record("a", true, t0, SETTINGS);
        assert_eq!(b.status("a", t0, SETTINGS).consecutive_failures, 0, "a success resets the count");
        for _ in 0..3 {
            b.record("a", false, t0, SETTINGS);
        }
        assert_eq!(b.status("a", t0, SETTINGS).state, BreakerState::Open);
        assert_eq!(b.status("a", t0 + Duration::from_secs(10), SETTINGS).retry_in_ms, Some(20_000));
        assert_eq!(b.status("a", t0 + Duration::from_secs(29), SETTINGS).state, BreakerState::Open);
        assert_eq!(b.status("a", t0 + Duration::from_secs(30), SETTINGS).state, BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_closes_on_success_and_reopens_on_failure() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(31);
        let mut b = Breakers::default();
        for _ in 0..3 {
            b.record("a", false, t0, SETTINGS);
        }
        b.record("a", true, later, SETTINGS);
        assert_eq!(b.status("a", later, SETTINGS).state, BreakerState::Closed);

        for _ in 0..3 {
            b.record("b", false, t0, SETTINGS);
        }
        b.record("b", false, later, SETTINGS);
        assert_eq!(b.status("b", later, SETTINGS).state, BreakerState::Open, "reopened, with a fresh cooldown");
        assert_eq!(b.status("b", later + Duration::from_secs(30), SETTINGS).state, BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_lets_one_probe_through() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(31);
        let mut b = Breakers::default();
        for _ in 0..3 {
            b.record("a", false, t0, SETTINGS);
        }
        assert_eq!(b.take_probe("a", later, SETTINGS), BreakerState::HalfOpen);
        assert_eq!(
            b.take_probe("a", later, SETTINGS),
            BreakerState::Open,
            "the second attempt waits for the first's outcome"
        );
    }
}
