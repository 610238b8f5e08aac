//! One target's forecast (first response or resolution): the history
//! scaled by the backlog, conditioned on the time already waited, shrunk
//! toward the prior.

use super::survival::Survival;
use super::{MAX_SECS, MIN_HISTORY, PRIOR_BREACH_RATE, PRIOR_WEIGHT};

/// The forecast for one target.
pub(super) struct Leg {
    /// Predicted or known time of the event.
    pub(super) predicted: f64,
    /// Probability that the target is missed.
    pub(super) probability: f64,
    /// Whether the target is already missed.
    pub(super) breached: bool,
    /// The target, while its event has not happened and it has not passed.
    pub(super) open: Option<f64>,
    /// False when the target had to stand in for the predicted time.
    pub(super) from_history: bool,
}

/// A history under the accelerated-failure-time load scale: `T = scale * T0`.
pub(super) struct Scaled<'s> {
    survival: &'s Survival,
    scale: f64,
}

impl<'s> Scaled<'s> {
    pub(super) fn new(survival: &'s Survival, scale: f64) -> Self {
        Scaled { survival, scale }
    }

    /// The forecast for one target, given the event's known time if any.
    pub(super) fn leg(&self, target: f64, known: Option<f64>, elapsed: f64) -> Leg {
        if let Some(at) = known {
            let late = at > target;
            return Leg {
                predicted: at,
                probability: f64::from(late),
                breached: late,
                open: None,
                from_history: true,
            };
        }
        let unbounded = target >= MAX_SECS;
        let passed = elapsed >= target && !unbounded;
        let probability = if passed {
            1.0
        } else if unbounded {
            0.0
        } else {
            self.breach_probability(target, elapsed)
        };
        let (predicted, from_history) = self.predicted(target, elapsed);
        Leg {
            predicted,
            probability,
            breached: passed,
            open: (!passed && !unbounded).then_some(target),
            from_history,
        }
    }

    /// The conditional median, or the target (not before `elapsed`) when
    /// the history is too thin.
    fn predicted(&self, target: f64, elapsed: f64) -> (f64, bool) {
        let median = (self.survival.events() >= MIN_HISTORY)
            .then(|| {
                self.survival
                    .conditional_quantile(elapsed / self.scale, 0.5)
            })
            .flatten();
        match median {
            Some(t) => ((t * self.scale).clamp(elapsed, MAX_SECS), true),
            None => (target.max(elapsed), false),
        }
    }

    /// `P(T > target | T > elapsed)`, shrunk toward the prior.
    fn breach_probability(&self, target: f64, elapsed: f64) -> f64 {
        let n = self.survival.events() as f64;
        let weight = n / (n + PRIOR_WEIGHT);
        let fitted = self
            .survival
            .conditional(target / self.scale, elapsed / self.scale);
        let prior = self.prior(target, elapsed);
        (weight * fitted + (1.0 - weight) * prior).clamp(0.0, 1.0)
    }

    /// [`Scaled::prior`], or 0 for a target already passed or unbounded.
    pub(super) fn prior_or_zero(&self, target: f64, elapsed: f64) -> f64 {
        if target >= MAX_SECS || elapsed >= target {
            0.0
        } else {
            self.prior(target, elapsed)
        }
    }

    /// The prior: exponential waits missing `target` with probability
    /// `PRIOR_BREACH_RATE` at normal load, conditioned on `elapsed`.
    /// Requires `0 <= elapsed < target`.
    pub(super) fn prior(&self, target: f64, elapsed: f64) -> f64 {
        let remaining = (target - elapsed) / (target * self.scale);
        PRIOR_BREACH_RATE.powf(remaining).clamp(0.0, 1.0)
    }
}
