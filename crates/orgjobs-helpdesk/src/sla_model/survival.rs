//! Kaplan–Meier survival with an exponential tail: the estimate of "not
//! yet happened" over time, from a history with still-open tickets
//! censored.

use super::{EPS, TAIL_FRACTION_DIV, TAIL_MIN_EVENTS};

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
pub(super) fn nan_to(x: f64, default: f64) -> f64 {
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
