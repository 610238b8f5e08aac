//! SLA forecasting math for the `SLA_PREDICT` job: when will a ticket get its
//! first response and its resolution, how likely is it to breach its SLA
//! policy, and which risk level should it be shown with.
//!
//! Everything here is pure: the caller loads the organization's history of
//! similar tickets and the backlog, and passes them in. All times are seconds
//! since the ticket's creation.
//!
//! # Model
//!
//! * **Kaplan–Meier** ([`Survival`]) for time-to-first-response and
//!   time-to-resolution. Still-open tickets of the history are right-censored
//!   observations. At tied times events are counted before censorings (a
//!   ticket censored at `t` was at risk at `t`).
//! * **Tail.** Beyond the last observed event time the estimate is not
//!   identified; it is continued with an exponential tail whose hazard is the
//!   occurrence/exposure rate of the last segment of the data (the last fifth
//!   of the events, at least five of them, and the exposure of every
//!   observation, censored ones included, from the start of that segment on).
//!   So a ticket that has waited longer than anything in the history gets a
//!   memoryless forecast instead of `0/0`.
//! * **Conditioning** on the elapsed time `e`: `S(t | e) = S(t) / S(e)`.
//! * **Backlog** as an accelerated-failure-time scale: times are multiplied by
//!   `load_factor ^ LOAD_BETA` (`LOAD_BETA` = 0.5, so four times the usual
//!   load doubles the expected waits).
//! * **Predicted times** are conditional medians; with fewer than
//!   [`MIN_HISTORY`] events the policy target is used instead (never earlier
//!   than the time already elapsed) and `from_history` is false.
//! * **Breach probability** per target is `S(target | e)`, shrunk toward a
//!   prior by `n / (n + PRIOR_WEIGHT)` (`n` = events in that history). The
//!   prior is an exponential waiting time under which a fresh ticket misses
//!   the target with probability [`PRIOR_BREACH_RATE`] (0.15, i.e. a typical
//!   85 % attainment), conditioned on `e` and scaled by the load like the
//!   history.
//! * **Either target.** While neither event has happened, and the two
//!   histories are [`SlaInputs::paired`] (entry `i` of both is the same
//!   ticket), the probability of missing either target is estimated from
//!   the pairs jointly: Kaplan–Meier on `Z = max(F / T1, R / T2)` (each
//!   history ticket's scaled times against this ticket's targets; still-open
//!   tickets censored at their lower bound), over the history tickets still
//!   unanswered at `e`, `P(Z > 1)` shrunk toward the prior like a leg. Slow
//!   first responses go with slow resolutions, so treating the two as
//!   independent (`1 - (1 - p1)(1 - p2)`) overstates the risk badly; that
//!   formula is used only when the histories are not paired or too thin.
//! * Facts win over forecasts: a known first response / resolution decides
//!   its target (probability 0 or 1); a target already passed without its
//!   event has probability 1.
//!
//! # Odd inputs
//!
//! No function panics or returns NaN. History observations whose `secs` is
//! NaN or infinite carry no usable information and are dropped; negative
//! durations are clamped to 0. A NaN elapsed time counts as 0, negative times
//! as 0, and times are capped at [`MAX_SECS`]. A NaN or infinite target
//! means "no target" (it can never be breached). A known time that is NaN is
//! treated as unknown. A load factor that is NaN, zero or negative counts as
//! 1 (normal); it is clamped to `[1/16, 16]`.

/// Fewer observed events than this and a history is too thin to predict
/// times from; the policy targets are used instead.
pub const MIN_HISTORY: usize = 5;

/// Exponent of the backlog load factor in the accelerated-failure-time
/// scale: times are multiplied by `load_factor.powf(LOAD_BETA)`.
pub const LOAD_BETA: f64 = 0.5;

/// Prior probability that a fresh ticket misses a target, used to shrink the
/// history's estimate when the history is thin.
pub const PRIOR_BREACH_RATE: f64 = 0.15;

/// Weight of the prior, in events: with `n` events in a history, its
/// estimate gets weight `n / (n + PRIOR_WEIGHT)`.
pub const PRIOR_WEIGHT: f64 = 5.0;

/// Largest time handled (100 years); longer and infinite times are capped
/// at this, and a target this large is treated as absent.
pub const MAX_SECS: f64 = 100.0 * 365.25 * 86_400.0;

/// Range the load factor is clamped to.
const LOAD_FACTOR_MIN: f64 = 1.0 / 16.0;
const LOAD_FACTOR_MAX: f64 = 16.0;

/// The tail hazard is fitted to at least this many of the last events...
const TAIL_MIN_EVENTS: usize = 5;
/// ...or to the last `1 / TAIL_FRACTION_DIV` of them, whichever is more.
const TAIL_FRACTION_DIV: usize = 5;

/// Slack for comparing products of KM factors against a quantile level.
const EPS: f64 = 1e-12;

mod leg;
mod survival;
#[cfg(test)]
mod tests;

use leg::Scaled;
use survival::nan_to;
pub use survival::{Observation, Survival};

/// How urgent a ticket is with respect to its SLA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskLevel {
    /// Likely to meet its targets.
    Ok,
    /// Breach probability >= 0.75, or 75 % of the time to the earliest unmet
    /// target has elapsed.
    AtRisk75,
    /// Breach probability >= 0.9, or 90 % of the time to the earliest unmet
    /// target has elapsed.
    AtRisk90,
    /// A target has passed unmet, or was met late.
    Breached,
}

impl RiskLevel {
    /// The form stored in `sla_predictions.risk_level`: `"ok"`,
    /// `"at_risk_75"`, `"at_risk_90"` or `"breached"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Ok => "ok",
            RiskLevel::AtRisk75 => "at_risk_75",
            RiskLevel::AtRisk90 => "at_risk_90",
            RiskLevel::Breached => "breached",
        }
    }
}

/// Everything needed for one forecast; all times in seconds since the
/// ticket's creation.
#[derive(Clone, Debug)]
pub struct SlaInputs<'a> {
    /// First-response target of the ticket's SLA policy.
    pub first_response_target: f64,
    /// Resolution target of the ticket's SLA policy.
    pub resolution_target: f64,
    /// `now - created_at` (>= 0).
    pub elapsed: f64,
    /// Known, if the ticket already has its first response. A resolved
    /// ticket without one counts as first answered at its resolution.
    pub first_response_after: Option<f64>,
    /// Known, if the ticket is already resolved.
    pub resolved_after: Option<f64>,
    /// Times to first response of similar tickets (censored when still
    /// unanswered).
    pub first_response_history: &'a [Observation],
    /// Times to resolution of similar tickets (censored when still open).
    pub resolution_history: &'a [Observation],
    /// `(open tickets per active agent now + 1) / (mean open tickets per
    /// agent in the history + 1)`; 1.0 is normal.
    pub load_factor: f64,
    /// Whether the two histories are paired: same length, entry `i` of both
    /// the same ticket (then the chance of missing either target is
    /// estimated jointly; see the module docs).
    pub paired: bool,
}

/// The forecast for one ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaForecast {
    /// Predicted (or known) seconds from creation to the first response.
    pub first_response_after: f64,
    /// Predicted (or known) seconds from creation to the resolution; never
    /// before the predicted first response unless both are known.
    pub resolution_after: f64,
    /// Probability that either target is breached, in `[0, 1]`.
    pub breach_probability: f64,
    /// Risk level derived from the facts, the probability and the time left.
    pub risk_level: RiskLevel,
    /// False when a history was too thin and a policy target was used as
    /// the predicted time.
    pub from_history: bool,
}

/// Forecasts one ticket (see the module docs for the model).
pub fn forecast(inputs: &SlaInputs<'_>) -> SlaForecast {
    let elapsed = clean_secs(inputs.elapsed, 0.0);
    let scale = load_scale(inputs.load_factor);
    let resolved = inputs.resolved_after.and_then(clean_known);
    let responded = inputs
        .first_response_after
        .and_then(clean_known)
        .or(resolved);
    let fr_history = Survival::fit(inputs.first_response_history);
    let res_history = Survival::fit(inputs.resolution_history);
    let first = Scaled::new(&fr_history, scale).leg(
        clean_secs(inputs.first_response_target, MAX_SECS),
        responded,
        elapsed,
    );
    let resolution = Scaled::new(&res_history, scale).leg(
        clean_secs(inputs.resolution_target, MAX_SECS),
        resolved,
        elapsed,
    );
    let breached = first.breached || resolution.breached;
    let independent = || either(first.probability, resolution.probability);
    let probability = if breached {
        1.0
    } else if responded.is_none() && inputs.paired {
        let targets = (
            clean_secs(inputs.first_response_target, MAX_SECS),
            clean_secs(inputs.resolution_target, MAX_SECS),
        );
        joint_breach(inputs, targets, elapsed, scale).map_or_else(independent, |(fitted, n)| {
            let weight = n as f64 / (n as f64 + PRIOR_WEIGHT);
            // The prior speaks of the SLA as a whole: a fresh ticket misses
            // it with PRIOR_BREACH_RATE, whichever target.
            let prior = Scaled::new(&fr_history, scale)
                .prior_or_zero(targets.0, elapsed)
                .max(Scaled::new(&res_history, scale).prior_or_zero(targets.1, elapsed));
            (weight * fitted + (1.0 - weight) * prior).clamp(0.0, 1.0)
        })
    } else {
        independent()
    };
    let resolution_after = match resolved {
        Some(_) => resolution.predicted,
        None => resolution.predicted.max(first.predicted),
    };
    SlaForecast {
        first_response_after: first.predicted,
        resolution_after,
        breach_probability: probability,
        risk_level: risk_level(
            breached,
            probability,
            elapsed,
            [first.open, resolution.open],
        ),
        from_history: first.from_history && resolution.from_history,
    }
}

/// Brier score of probabilities against outcomes (mean squared error);
/// `None` for empty input. Probabilities are clamped to `[0, 1]`, NaN
/// counts as 0.5.
pub fn brier(pairs: &[(f64, bool)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let total: f64 = pairs
        .iter()
        .map(|&(p, outcome)| {
            let d = nan_to(p, 0.5).clamp(0.0, 1.0) - f64::from(outcome);
            d * d
        })
        .sum();
    Some(total / pairs.len() as f64)
}

/// A time clamped to `[0, MAX_SECS]`, `if_nan` when NaN.
fn clean_secs(x: f64, if_nan: f64) -> f64 {
    nan_to(x, if_nan).clamp(0.0, MAX_SECS)
}

/// A known time, or `None` when it is NaN.
fn clean_known(x: f64) -> Option<f64> {
    (!x.is_nan()).then(|| clean_secs(x, 0.0))
}

/// The accelerated-failure-time factor of a load factor.
fn load_scale(load_factor: f64) -> f64 {
    let load = if load_factor > 0.0 { load_factor } else { 1.0 };
    load.clamp(LOAD_FACTOR_MIN, LOAD_FACTOR_MAX).powf(LOAD_BETA)
}

/// `P(max(F / T1, R / T2) > 1 | F > e)` from the paired histories, with the
/// number of events it rests on; `None` when unpaired or thinner than
/// [`MIN_HISTORY`]. Times are scaled by the load.
fn joint_breach(
    inputs: &SlaInputs<'_>,
    (t1, t2): (f64, f64),
    elapsed: f64,
    scale: f64,
) -> Option<(f64, usize)> {
    let (fr, res) = (inputs.first_response_history, inputs.resolution_history);
    if fr.len() != res.len() || t1 <= 0.0 || t2 <= 0.0 {
        return None;
    }
    let z: Vec<Observation> = fr
        .iter()
        .zip(res)
        .filter(|(f, r)| f.secs.is_finite() && r.secs.is_finite())
        .map(|(f, r)| {
            let (f_at, r_at) = (f.secs.max(0.0) * scale, r.secs.max(0.0) * scale);
            (f_at, f.observed, r_at, r.observed)
        })
        // At risk: not yet answered at `elapsed` (a censored answer time
        // beyond it counts; one at or before it tells nothing).
        .filter(|&(f_at, _, _, _)| f_at > elapsed)
        .map(|(f_at, f_seen, r_at, r_seen)| {
            // A first response is never after the resolution; an unanswered
            // open ticket waits for both at its age.
            let f_bound = if f_seen { f_at } else { f_at.max(r_at) };
            Observation {
                secs: (f_bound / t1).max(r_at / t2),
                observed: r_seen,
            }
        })
        .collect();
    let survival = Survival::fit(&z);
    (survival.events() >= MIN_HISTORY).then(|| (survival.at(1.0), survival.events()))
}

/// `P(A or B)` for independent events.
fn either(p1: f64, p2: f64) -> f64 {
    (1.0 - (1.0 - p1) * (1.0 - p2)).clamp(0.0, 1.0)
}

/// The risk level from the facts, the breach probability and the share of
/// the time to the earliest still-open target that has elapsed.
fn risk_level(breached: bool, probability: f64, elapsed: f64, open: [Option<f64>; 2]) -> RiskLevel {
    if breached {
        return RiskLevel::Breached;
    }
    let used = open
        .iter()
        .flatten()
        .map(|&target| elapsed / target)
        .fold(0.0, f64::max);
    let worst = probability.max(used);
    if worst >= 0.9 {
        RiskLevel::AtRisk90
    } else if worst >= 0.75 {
        RiskLevel::AtRisk75
    } else {
        RiskLevel::Ok
    }
}
