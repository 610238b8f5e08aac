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

/// One ticket of the history: the time from creation to the event (first
/// response or resolution), or to now if the event has not happened yet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// Seconds from the ticket's creation to the event, or to now when
    /// `observed` is false.
    pub secs: f64,
    /// Whether the event happened; false means right-censored at `secs`
    /// (the ticket is still waiting).
    pub observed: bool,
}

/// A drop of the Kaplan–Meier curve.
#[derive(Clone, Copy, Debug)]
struct Step {
    /// Event time.
    t: f64,
    /// `S(t)`, the survival just after the drop.
    s: f64,
    /// Events at `t`.
    deaths: usize,
}

/// Kaplan–Meier estimate of a survival function `S(t) = P(T > t)`, with an
/// exponential tail beyond the last event time (see the module docs).
#[derive(Clone, Debug)]
pub struct Survival {
    steps: Vec<Step>,
    events: usize,
    tail_hazard: f64,
}

impl Survival {
    /// Fits the estimate; works on empty input (then `S(t) = 1`).
    /// Observations with a non-finite `secs` are dropped, negative ones
    /// clamped to 0.
    pub fn fit(obs: &[Observation]) -> Survival {
        let mut sorted: Vec<Observation> = obs
            .iter()
            .filter(|o| o.secs.is_finite())
            .map(|o| Observation {
                secs: o.secs.max(0.0),
                observed: o.observed,
            })
            .collect();
        sorted.sort_by(|a, b| a.secs.total_cmp(&b.secs));
        let steps = km_steps(&sorted);
        let events = steps.iter().map(|s| s.deaths).sum();
        let tail_hazard = tail_hazard(&sorted, &steps, events);
        Survival {
            steps,
            events,
            tail_hazard,
        }
    }

    /// Number of observed (uncensored) events.
    pub fn events(&self) -> usize {
        self.events
    }

    /// `S(t) = P(T > t)`, in `[0, 1]` and non-increasing; 1 for negative
    /// `t`, NaN counts as 0.
    pub fn at(&self, t: f64) -> f64 {
        if t < 0.0 {
            return 1.0;
        }
        let t = nan_to(t, 0.0);
        let Some(last) = self.steps.last() else {
            return 1.0;
        };
        if t > last.t {
            return last.s * self.tail(t - last.t);
        }
        let idx = self.steps.partition_point(|s| s.t <= t);
        idx.checked_sub(1)
            .and_then(|i| self.steps.get(i))
            .map_or(1.0, |s| s.s)
    }

    /// `P(T > t | T > elapsed)`. 1 when `t <= elapsed`. An elapsed time of
    /// 0 or less (or NaN) conditions on nothing, giving `S(t)`. Where `S`
    /// has reached 0, or beyond the last event time, the exponential tail
    /// is used, so the result is always a number in `[0, 1]`.
    pub fn conditional(&self, t: f64, elapsed: f64) -> f64 {
        let e = nan_to(elapsed, 0.0).max(0.0);
        let t = nan_to(t, 0.0);
        if t <= e {
            return 1.0;
        }
        if e <= 0.0 {
            return self.at(t);
        }
        let Some(last) = self.steps.last() else {
            return 1.0;
        };
        let se = self.at(e);
        if e >= last.t || se <= 0.0 {
            return self.tail(t - e);
        }
        (self.at(t) / se).clamp(0.0, 1.0)
    }

    /// The smallest `t >= elapsed` with `P(T <= t | T > elapsed) >= q`,
    /// following the exponential tail beyond the last event. `None` when not
    /// identified: no events, `q` NaN, `q >= 1` with a curve that never
    /// reaches 0, or an infinite answer. `q <= 0` gives `elapsed`; an
    /// elapsed time of 0 or less (or NaN) conditions on nothing.
    pub fn conditional_quantile(&self, elapsed: f64, q: f64) -> Option<f64> {
        if q.is_nan() {
            return None;
        }
        let e = nan_to(elapsed, 0.0).max(0.0);
        if q <= 0.0 {
            return Some(e);
        }
        let level = (1.0 - q).max(0.0);
        let last = self.steps.last()?;
        if e < last.t {
            let denom = if e <= 0.0 { 1.0 } else { self.at(e) };
            if denom > 0.0 {
                let start = if e <= 0.0 {
                    0
                } else {
                    self.steps.partition_point(|s| s.t <= e)
                };
                let mut rest = self.steps.iter().skip(start);
                if let Some(step) = rest.find(|s| s.s / denom <= level + EPS) {
                    return Some(step.t);
                }
                return self.tail_quantile(last.t, last.s / denom, level);
            }
        }
        self.tail_quantile(e, 1.0, level)
    }

    /// Survival factor of the exponential tail over `dt` seconds.
    fn tail(&self, dt: f64) -> f64 {
        if self.tail_hazard > 0.0 && dt > 0.0 {
            (-self.tail_hazard * dt).exp()
        } else {
            1.0
        }
    }

    /// Where the tail, starting at `base` with conditional survival
    /// `s_base`, falls to `level`.
    fn tail_quantile(&self, base: f64, s_base: f64, level: f64) -> Option<f64> {
        if s_base <= level + EPS {
            return Some(base);
        }
        if level <= 0.0 || self.tail_hazard <= 0.0 {
            return None;
        }
        let t = base + (s_base / level).ln() / self.tail_hazard;
        t.is_finite().then_some(t)
    }
}

/// `x`, or `default` when `x` is NaN.
fn nan_to(x: f64, default: f64) -> f64 {
    if x.is_nan() { default } else { x }
}

/// The Kaplan–Meier drops of observations sorted by time. Everyone with a
/// time `>= t` is at risk at `t`, so events come before censorings at ties.
fn km_steps(sorted: &[Observation]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut s = 1.0;
    let mut at_risk = sorted.len();
    for group in sorted.chunk_by(|a, b| a.secs == b.secs) {
        let deaths = group.iter().filter(|o| o.observed).count();
        if deaths > 0 {
            s *= 1.0 - deaths as f64 / at_risk as f64;
            let t = group.first().map_or(0.0, |o| o.secs);
            steps.push(Step { t, s, deaths });
        }
        at_risk -= group.len();
    }
    steps
}

/// Occurrence/exposure hazard of the last segment of the data: the last
/// `max(events / 5, 5)` events (all of them if fewer), with the exposure of
/// every observation after the segment's start.
fn tail_hazard(sorted: &[Observation], steps: &[Step], events: usize) -> f64 {
    if events == 0 {
        return 0.0;
    }
    let start = tail_start(steps, events);
    let occurrences = sorted
        .iter()
        .filter(|o| o.observed && o.secs > start)
        .count()
        .max(1);
    let exposure: f64 = sorted.iter().map(|o| (o.secs - start).max(0.0)).sum();
    let hazard = occurrences as f64 / exposure;
    if hazard.is_finite() && hazard > 0.0 {
        hazard
    } else {
        0.0
    }
}

/// The event time before the last segment of events (0 if the segment
/// holds them all).
fn tail_start(steps: &[Step], events: usize) -> f64 {
    let wanted = events
        .div_ceil(TAIL_FRACTION_DIV)
        .max(events.min(TAIL_MIN_EVENTS));
    let mut count = 0;
    for (i, step) in steps.iter().enumerate().rev() {
        count += step.deaths;
        if count >= wanted {
            return i
                .checked_sub(1)
                .and_then(|j| steps.get(j))
                .map_or(0.0, |p| p.t);
        }
    }
    0.0
}

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

/// The forecast for one target.
struct Leg {
    /// Predicted or known time of the event.
    predicted: f64,
    /// Probability that the target is missed.
    probability: f64,
    /// Whether the target is already missed.
    breached: bool,
    /// The target, while its event has not happened and it has not passed.
    open: Option<f64>,
    /// False when the target had to stand in for the predicted time.
    from_history: bool,
}

/// A history under the accelerated-failure-time load scale: `T = scale * T0`.
struct Scaled<'s> {
    survival: &'s Survival,
    scale: f64,
}

impl<'s> Scaled<'s> {
    fn new(survival: &'s Survival, scale: f64) -> Self {
        Scaled { survival, scale }
    }

    /// The forecast for one target, given the event's known time if any.
    fn leg(&self, target: f64, known: Option<f64>, elapsed: f64) -> Leg {
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
    fn prior_or_zero(&self, target: f64, elapsed: f64) -> f64 {
        if target >= MAX_SECS || elapsed >= target {
            0.0
        } else {
            self.prior(target, elapsed)
        }
    }

    /// The prior: exponential waits missing `target` with probability
    /// `PRIOR_BREACH_RATE` at normal load, conditioned on `elapsed`.
    /// Requires `0 <= elapsed < target`.
    fn prior(&self, target: f64, elapsed: f64) -> f64 {
        let remaining = (target - elapsed) / (target * self.scale);
        PRIOR_BREACH_RATE.powf(remaining).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(secs: f64, observed: bool) -> Observation {
        Observation { secs, observed }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// 1, 2+, 3, 4, 4+, 5.
    fn hand_example() -> Survival {
        Survival::fit(&[
            obs(1.0, true),
            obs(2.0, false),
            obs(3.0, true),
            obs(4.0, true),
            obs(4.0, false),
            obs(5.0, true),
        ])
    }

    #[test]
    fn kaplan_meier_with_censoring_and_ties() {
        let s = hand_example();
        assert_eq!(s.events(), 4);
        // S(1) = 5/6; S(3) = 5/6 * 3/4; at 4 the censoring is still at risk:
        // S(4) = S(3) * 2/3; S(5) = 0.
        assert!(close(s.at(0.5), 1.0));
        assert!(close(s.at(1.0), 5.0 / 6.0));
        assert!(close(s.at(2.5), 5.0 / 6.0));
        assert!(close(s.at(3.0), 0.625));
        assert!(close(s.at(4.5), 0.625 * 2.0 / 3.0));
        assert!(close(s.at(5.0), 0.0));
        assert!(close(s.at(50.0), 0.0));
        assert!(close(s.at(-1.0), 1.0));
    }

    #[test]
    fn conditional_survival() {
        let s = hand_example();
        assert!(close(s.conditional(3.0, 1.0), 0.75));
        assert!(close(s.conditional(4.5, 2.0), 0.5));
        assert!(close(s.conditional(1.0, 2.0), 1.0));
        assert!(close(s.conditional(4.0, 0.0), s.at(4.0)));
        // Beyond the last event: the exponential tail with hazard
        // 4 events / 19 seconds of exposure.
        assert!(close(s.conditional(7.0, 6.0), (-4.0_f64 / 19.0).exp()));
    }

    #[test]
    fn conditional_quantiles() {
        let s = hand_example();
        assert_eq!(s.conditional_quantile(0.0, 0.5), Some(4.0));
        assert_eq!(s.conditional_quantile(0.0, 0.1), Some(1.0));
        assert_eq!(s.conditional_quantile(2.0, 0.25), Some(3.0));
        assert_eq!(s.conditional_quantile(2.0, 0.5), Some(4.0));
        assert_eq!(s.conditional_quantile(2.0, 1.0), Some(5.0));
        assert_eq!(s.conditional_quantile(2.0, 0.0), Some(2.0));
        // Beyond the data the tail's median: 6 + ln 2 / (4 / 19).
        let tail = s.conditional_quantile(6.0, 0.5).unwrap_or(f64::NAN);
        assert!(close(tail, 6.0 + 2.0_f64.ln() * 19.0 / 4.0));
        assert_eq!(s.conditional_quantile(6.0, 1.0), None);
        assert_eq!(s.conditional_quantile(1.0, f64::NAN), None);
    }

    #[test]
    fn tail_beyond_censored_data() {
        // Last event at 10, censorings up to 40: S stays positive and the
        // tail keeps it falling.
        let mut data = vec![obs(2.0, true), obs(5.0, true), obs(10.0, true)];
        data.extend([obs(20.0, false), obs(40.0, false)]);
        let s = Survival::fit(&data);
        let (a, b) = (s.at(10.0), s.at(30.0));
        assert!(b < a && b > 0.0, "{a} {b}");
        let c = s.conditional(100.0, 50.0);
        assert!(c > 0.0 && c < 1.0);
        assert!(s.conditional(200.0, 50.0) < c);
    }

    #[test]
    fn empty_and_odd_input() {
        let s = Survival::fit(&[]);
        assert_eq!(s.events(), 0);
        assert!(close(s.at(10.0), 1.0));
        assert!(close(s.conditional(10.0, 5.0), 1.0));
        assert_eq!(s.conditional_quantile(0.0, 0.5), None);

        let s = Survival::fit(&[
            obs(f64::NAN, true),
            obs(f64::INFINITY, true),
            obs(-3.0, true),
            obs(1.0, true),
        ]);
        assert_eq!(s.events(), 2);
        assert!(close(s.at(0.0), 0.5));
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e300] {
            for y in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 2.0] {
                let c = s.conditional(x, y);
                assert!((0.0..=1.0).contains(&c), "{x} {y} {c}");
                assert!(s.conditional_quantile(y, x).is_none_or(|t| !t.is_nan()));
            }
            assert!((0.0..=1.0).contains(&s.at(x)));
        }
    }

    fn inputs<'a>(fr: &'a [Observation], res: &'a [Observation]) -> SlaInputs<'a> {
        SlaInputs {
            first_response_target: 3_600.0,
            resolution_target: 86_400.0,
            elapsed: 0.0,
            first_response_after: None,
            resolved_after: None,
            first_response_history: fr,
            resolution_history: res,
            load_factor: 1.0,
            paired: false,
        }
    }

    #[test]
    fn load_factor_increases_breach_probability() {
        let mut rng = Rng(7);
        let fr = simulate(&mut rng, 500, |r| r.lognormal(1_800.0, 1.0));
        let res = simulate(&mut rng, 500, |r| r.exponential(20.0 * 3_600.0));
        let normal = forecast(&inputs(&fr, &res));
        let busy = forecast(&SlaInputs {
            load_factor: 3.0,
            ..inputs(&fr, &res)
        });
        let quiet = forecast(&SlaInputs {
            load_factor: 0.5,
            ..inputs(&fr, &res)
        });
        assert!(busy.breach_probability > normal.breach_probability + 0.05);
        assert!(quiet.breach_probability < normal.breach_probability - 0.05);
        assert!(busy.first_response_after > normal.first_response_after);
        assert!(normal.from_history);
    }

    #[test]
    fn paired_histories_estimate_either_target_jointly() {
        // Half the tickets are slow at both (2 h to answer, 30 h to
        // resolve), half fast at both: half breach. Taken as independent,
        // the two 50 % legs would make 75 %.
        let mut fr = Vec::new();
        let mut res = Vec::new();
        for i in 0..200 {
            let slow = i % 2 == 0;
            fr.push(obs(if slow { 7_200.0 } else { 600.0 }, true));
            res.push(obs(if slow { 108_000.0 } else { 3_600.0 }, true));
        }
        let unpaired = forecast(&inputs(&fr, &res));
        assert!(
            (unpaired.breach_probability - 0.75).abs() < 0.03,
            "{unpaired:?}"
        );
        let paired = forecast(&SlaInputs {
            paired: true,
            ..inputs(&fr, &res)
        });
        assert!((paired.breach_probability - 0.5).abs() < 0.03, "{paired:?}");
        // Still unanswered after 30 minutes: only the slow half waits that
        // long, and all of it breaches.
        let waiting = forecast(&SlaInputs {
            paired: true,
            elapsed: 1_800.0,
            ..inputs(&fr, &res)
        });
        assert!(waiting.breach_probability > 0.95, "{waiting:?}");
        // Answered in time: the resolution alone decides, as before.
        let answered = forecast(&SlaInputs {
            paired: true,
            elapsed: 1_800.0,
            first_response_after: Some(900.0),
            ..inputs(&fr, &res)
        });
        let unpaired_answered = forecast(&SlaInputs {
            elapsed: 1_800.0,
            first_response_after: Some(900.0),
            ..inputs(&fr, &res)
        });
        assert_eq!(
            answered.breach_probability,
            unpaired_answered.breach_probability
        );
    }

    #[test]
    fn known_facts_decide() {
        let late = forecast(&SlaInputs {
            elapsed: 8_000.0,
            first_response_after: Some(7_200.0),
            ..inputs(&[], &[])
        });
        assert_eq!(late.risk_level, RiskLevel::Breached);
        assert!(close(late.breach_probability, 1.0));
        assert!(close(late.first_response_after, 7_200.0));

        let unanswered = forecast(&SlaInputs {
            elapsed: 4_000.0,
            ..inputs(&[], &[])
        });
        assert_eq!(unanswered.risk_level, RiskLevel::Breached);
        assert!(close(unanswered.breach_probability, 1.0));
        assert!(unanswered.first_response_after >= 4_000.0);

        let done = forecast(&SlaInputs {
            elapsed: 9_000.0,
            first_response_after: Some(600.0),
            resolved_after: Some(5_000.0),
            ..inputs(&[], &[])
        });
        assert_eq!(done.risk_level, RiskLevel::Ok);
        assert!(close(done.breach_probability, 0.0));
        assert!(close(done.resolution_after, 5_000.0));

        let resolved_late = forecast(&SlaInputs {
            elapsed: 100_000.0,
            resolved_after: Some(90_000.0),
            ..inputs(&[], &[])
        });
        // No first response recorded: the resolution was the first answer.
        assert_eq!(resolved_late.risk_level, RiskLevel::Breached);
        assert!(close(resolved_late.first_response_after, 90_000.0));
    }

    #[test]
    fn thin_history_falls_back_and_shrinks() {
        let fast = [obs(60.0, true), obs(90.0, true), obs(120.0, true)];
        let f = forecast(&inputs(&fast, &fast));
        assert!(!f.from_history);
        assert!(close(f.first_response_after, 3_600.0));
        assert!(close(f.resolution_after, 86_400.0));
        // The history alone says 0; shrunk to 5/8 of the prior per target.
        let per_target = PRIOR_BREACH_RATE * 5.0 / 8.0;
        assert!(close(f.breach_probability, either(per_target, per_target)));

        let none = forecast(&inputs(&[], &[]));
        let prior = either(PRIOR_BREACH_RATE, PRIOR_BREACH_RATE);
        assert!(close(none.breach_probability, prior));
        assert_eq!(none.risk_level, RiskLevel::Ok);
    }

    #[test]
    fn risk_levels_from_elapsed_share() {
        // Everything resolved at 9,500 s: little breach risk for a
        // 10,000 s target, but the clock still counts.
        let res = vec![obs(9_500.0, true); 50];
        let level = |elapsed: f64| {
            let f = forecast(&SlaInputs {
                elapsed,
                first_response_after: Some(100.0),
                resolution_target: 10_000.0,
                ..inputs(&[], &res)
            });
            assert!(f.breach_probability < 0.2, "{f:?}");
            f.risk_level
        };
        assert_eq!(level(5_000.0), RiskLevel::Ok);
        assert_eq!(level(8_000.0), RiskLevel::AtRisk75);
        assert_eq!(level(9_100.0), RiskLevel::AtRisk90);
        assert_eq!(RiskLevel::Ok.as_str(), "ok");
        assert_eq!(RiskLevel::AtRisk75.as_str(), "at_risk_75");
        assert_eq!(RiskLevel::AtRisk90.as_str(), "at_risk_90");
        assert_eq!(RiskLevel::Breached.as_str(), "breached");
    }

    #[test]
    fn odd_forecast_inputs_stay_finite() {
        let hist = [obs(10.0, true), obs(f64::NAN, false), obs(-5.0, true)];
        let odd = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e9];
        for &a in &odd {
            for &b in &odd {
                let f = forecast(&SlaInputs {
                    first_response_target: a,
                    resolution_target: b,
                    elapsed: b,
                    first_response_after: Some(a).filter(|_| b > 0.0),
                    resolved_after: None,
                    first_response_history: &hist,
                    resolution_history: &hist,
                    load_factor: a,
                    paired: a > 0.0,
                });
                assert!((0.0..=1.0).contains(&f.breach_probability), "{f:?}");
                assert!(f.first_response_after.is_finite(), "{f:?}");
                assert!(f.resolution_after.is_finite(), "{f:?}");
            }
        }
    }

    #[test]
    fn brier_score() {
        assert_eq!(brier(&[]), None);
        let b = brier(&[(0.9, true), (0.2, false), (0.5, true)]).unwrap_or(f64::NAN);
        assert!(close(b, (0.01 + 0.04 + 0.25) / 3.0));
        assert_eq!(brier(&[(f64::NAN, true), (2.0, true)]), Some(0.125));
    }

    /// splitmix64.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }

        fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
            median * (sigma * self.normal()).exp()
        }

        fn exponential(&mut self, mean: f64) -> f64 {
            -mean * self.uniform().ln()
        }
    }

    /// `n` history tickets, each observed at an age uniform in 0..3 days,
    /// censored when its duration is longer.
    fn simulate(
        rng: &mut Rng,
        n: usize,
        mut draw: impl FnMut(&mut Rng) -> f64,
    ) -> Vec<Observation> {
        (0..n)
            .map(|_| {
                let age = rng.uniform() * 3.0 * 86_400.0;
                let secs = draw(rng);
                obs(secs.min(age), secs <= age)
            })
            .collect()
    }

    /// Two categories with very different waits, the history split by
    /// category as the caller does.
    struct World {
        fr: [Vec<Observation>; 2],
        res: [Vec<Observation>; 2],
    }

    const FR_MEDIAN: [f64; 2] = [1_200.0, 5_400.0];
    const RES_MEAN: [f64; 2] = [6.0 * 3_600.0, 30.0 * 3_600.0];

    fn world(rng: &mut Rng, n: usize) -> World {
        let mut fr = [Vec::new(), Vec::new()];
        let mut res = [Vec::new(), Vec::new()];
        for _ in 0..n {
            let c = usize::from(rng.uniform() < 0.5);
            let age = rng.uniform() * 3.0 * 86_400.0;
            let f = rng.lognormal(FR_MEDIAN[c], 1.0);
            let r = rng.exponential(RES_MEAN[c]);
            fr[c].push(obs(f.min(age), f <= age));
            res[c].push(obs(r.min(age), r <= age));
        }
        World { fr, res }
    }

    #[test]
    fn calibrated_and_beats_base_rate() {
        let mut rng = Rng(2024);
        let w = world(&mut rng, 2_000);
        let mut pairs = Vec::new();
        for _ in 0..2_000 {
            let c = usize::from(rng.uniform() < 0.5);
            let f = rng.lognormal(FR_MEDIAN[c], 1.0);
            let r = rng.exponential(RES_MEAN[c]);
            let p = forecast(&inputs(&w.fr[c], &w.res[c])).breach_probability;
            pairs.push((p, f > 3_600.0 || r > 86_400.0));
        }
        let n = pairs.len() as f64;
        let mean_p = pairs.iter().map(|p| p.0).sum::<f64>() / n;
        let rate = pairs.iter().filter(|p| p.1).count() as f64 / n;
        let model = brier(&pairs).unwrap_or(f64::NAN);
        let base: Vec<_> = pairs.iter().map(|&(_, y)| (rate, y)).collect();
        let base = brier(&base).unwrap_or(f64::NAN);
        eprintln!("mean p {mean_p:.4} rate {rate:.4} brier {model:.4} base {base:.4}");
        assert!((mean_p - rate).abs() <= 0.03, "{mean_p} vs {rate}");
        assert!(model < base - 0.05, "{model} vs {base}");
    }

    #[test]
    fn conditional_calibration_while_waiting() {
        // Tickets still unanswered after 30 min: P(no answer by 1 h).
        let mut rng = Rng(99);
        let hist = simulate(&mut rng, 2_000, |r| r.lognormal(1_800.0, 1.2));
        let s = Survival::fit(&hist);
        let waiting: Vec<f64> = (0..20_000)
            .map(|_| rng.lognormal(1_800.0, 1.2))
            .filter(|&t| t > 1_800.0)
            .collect();
        let rate = waiting.iter().filter(|&&t| t > 3_600.0).count() as f64 / waiting.len() as f64;
        let p = s.conditional(3_600.0, 1_800.0);
        eprintln!("conditional p {p:.4} rate {rate:.4}");
        assert!((p - rate).abs() <= 0.03, "{p} vs {rate}");
    }
}
