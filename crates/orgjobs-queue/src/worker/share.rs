//! Fairness by worker time: each organization's recent share of this
//! worker's handler time, so that the fair claim can pass over the
//! organizations ahead of their share.
//!
//! Round-robin over organizations is fair in jobs; but helpdesk jobs differ
//! in length by a factor of a thousand (a triage in milliseconds, an LLM
//! draft in seconds), so an organization with slow jobs would take most of
//! the workers. This keeps, per organization, an exponentially decaying sum
//! of the handler time it used (half-life [`HALF_LIFE`]), charged when a
//! job is claimed (with the organization's mean job time so far, so that
//! long jobs in flight count) and corrected when it ends; a job counts for
//! at least [`MIN_JOB_COST`], and an organization new to the worker starts
//! at its share of what the others used (no catch-up burst). An organization
//! whose sum exceeds its share — the total divided among the organizations
//! served recently, in proportion to their weights — by more than
//! [`SLACK`] is passed over by the next claims; when nothing else is
//! runnable the claim takes it anyway, so no slot idles (work-conserving),
//! and priorities still come first.
//!
//! Scope: one worker process balances its own time. Several workers each
//! balance theirs, which balances the whole when they see the same mix.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// How fast past service is forgotten.
pub(crate) const HALF_LIFE: Duration = Duration::from_secs(3);

/// How far above its share an organization may be before it is passed over.
pub(crate) const SLACK: f64 = 1.1;

/// The least worker time a job counts for, however quick its handler: the
/// claim, the transaction and the completion around it cost about that
/// much. Below it, jobs count equally, so that organizations whose jobs
/// are all near-instant are served by turns rather than by the noise in
/// their microsecond timings.
const MIN_JOB_COST: Duration = Duration::from_millis(1);

/// The job time charged before an organization has a measured mean.
const FIRST_GUESS: Duration = MIN_JOB_COST;

#[derive(Debug)]
struct OrgTime {
    /// Decayed seconds of handler time (charged and corrected).
    used: f64,
    /// Mean job time, seconds (exponentially weighted).
    mean: f64,
    at: Instant,
}

/// Per-organization shares of this worker's handler time.
#[derive(Debug)]
pub(crate) struct WorkerTime {
    orgs: Mutex<HashMap<Uuid, OrgTime>>,
    weights: HashMap<Uuid, f64>,
}

fn decay(used: f64, since: Duration) -> f64 {
    used * 0.5f64.powf(since.as_secs_f64() / HALF_LIFE.as_secs_f64())
}

impl WorkerTime {
    /// `weights`: optional per-organization weights (default 1).
    pub(crate) fn new(weights: HashMap<Uuid, f64>) -> Self {
        WorkerTime {
            orgs: Mutex::new(HashMap::new()),
            weights,
        }
    }

    fn weight(&self, org: &Uuid) -> f64 {
        self.weights
            .get(org)
            .copied()
            .filter(|w| *w > 0.0)
            .unwrap_or(1.0)
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, OrgTime>) -> T) -> T {
        f(&mut self.orgs.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Charges a claimed job of `org` its organization's mean job time;
    /// returns what was charged (to correct when it ends).
    pub(crate) fn claimed(&self, org: Uuid, now: Instant) -> f64 {
        let weight = self.weight(&org);
        self.with(|orgs| {
            if !orgs.contains_key(&org) {
                // A newcomer starts at its share of what the others used, not
                // at zero: it gets its turn at once, but no catch-up burst
                // that would starve the organizations already served.
                let (used, weights) = orgs.iter().fold((0.0, 0.0), |(u, w), (o, e)| {
                    (
                        u + decay(e.used, now.saturating_duration_since(e.at)),
                        w + self.weight(o),
                    )
                });
                let start = if weights > 0.0 {
                    used / weights * weight
                } else {
                    0.0
                };
                orgs.insert(
                    org,
                    OrgTime {
                        used: start,
                        mean: FIRST_GUESS.as_secs_f64(),
                        at: now,
                    },
                );
            }
            let Some(e) = orgs.get_mut(&org) else {
                return 0.0;
            };
            e.used = decay(e.used, now.saturating_duration_since(e.at)) + e.mean;
            e.at = now;
            e.mean
        })
    }

    /// A job of `org` ended after `took`; `charged` is what its claim
    /// charged.
    pub(crate) fn ended(&self, org: Uuid, took: Duration, charged: f64, now: Instant) {
        self.with(|orgs| {
            if let Some(e) = orgs.get_mut(&org) {
                let took = took.max(MIN_JOB_COST).as_secs_f64();
                e.used =
                    (decay(e.used, now.saturating_duration_since(e.at)) + took - charged).max(0.0);
                e.at = now;
                e.mean = 0.8 * e.mean + 0.2 * took;
            }
        })
    }

    /// The organizations ahead of their share of worker time.
    pub(crate) fn ahead(&self, now: Instant) -> Vec<Uuid> {
        self.with(|orgs| {
            // Forget organizations whose service has decayed to nothing.
            orgs.retain(|_, e| decay(e.used, now.saturating_duration_since(e.at)) > 1e-4);
            let used: Vec<(Uuid, f64)> = orgs
                .iter()
                .map(|(o, e)| (*o, decay(e.used, now.saturating_duration_since(e.at))))
                .collect();
            let total: f64 = used.iter().map(|(_, u)| u).sum();
            let weights: f64 = used.iter().map(|(o, _)| self.weight(o)).sum();
            if used.len() < 2 || total <= 0.0 {
                return Vec::new();
            }
            used.into_iter()
                .filter(|(o, u)| *u > SLACK * total * self.weight(o) / weights)
                .map(|(o, _)| o)
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two organizations, one with jobs forty times as long: served by
    /// turns of whoever is not ahead, their time evens out.
    #[test]
    fn slow_jobs_do_not_take_more_than_their_share_of_time() {
        let share = WorkerTime::new(HashMap::new());
        let (fast, slow) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut now = Instant::now();
        let mut time = HashMap::from([(fast, 0.0), (slow, 0.0)]);
        for _ in 0..2000 {
            let ahead = share.ahead(now);
            for (org, took) in [(fast, 5u64), (slow, 200)] {
                if ahead.contains(&org) {
                    continue;
                }
                let charged = share.claimed(org, now);
                let took = Duration::from_millis(took);
                share.ended(org, took, charged, now);
                *time.get_mut(&org).expect("org") += took.as_secs_f64();
            }
            now += Duration::from_millis(5);
        }
        let ratio = time[&slow] / time[&fast];
        assert!(
            (0.7..1.4).contains(&ratio),
            "worker time slow/fast = {ratio:.2} (by job count it would be 40)"
        );
    }

    #[test]
    fn a_weight_gives_a_proportional_share() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let share = WorkerTime::new(HashMap::from([(a, 3.0)]));
        let mut now = Instant::now();
        let mut time = HashMap::from([(a, 0.0), (b, 0.0)]);
        for _ in 0..4000 {
            let ahead = share.ahead(now);
            for org in [a, b] {
                if ahead.contains(&org) {
                    continue;
                }
                let charged = share.claimed(org, now);
                share.ended(org, Duration::from_millis(10), charged, now);
                *time.get_mut(&org).expect("org") += 0.01;
            }
            now += Duration::from_millis(10);
        }
        let ratio = time[&a] / time[&b];
        assert!((2.2..4.0).contains(&ratio), "a/b = {ratio:.2}, weight 3");
    }

    #[test]
    fn a_newcomer_gets_turns_but_no_catch_up_burst() {
        let share = WorkerTime::new(HashMap::new());
        let now = Instant::now();
        let (old, new) = (Uuid::from_u128(1), Uuid::from_u128(2));
        for _ in 0..100 {
            let c = share.claimed(old, now);
            share.ended(old, Duration::from_millis(10), c, now);
        }
        let c = share.claimed(new, now);
        share.ended(new, Duration::from_millis(10), c, now);
        assert!(
            !share.ahead(now).contains(&old),
            "the organization served so far is not starved while the newcomer catches up"
        );
    }

    #[test]
    fn near_instant_jobs_are_served_by_turns() {
        // A's jobs take 10 µs, B's 100 µs: both below the least a job counts
        // for, so neither is ahead of the other (by raw time B would be).
        let share = WorkerTime::new(HashMap::new());
        let now = Instant::now();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        for _ in 0..50 {
            for (org, us) in [(a, 10), (b, 100)] {
                let c = share.claimed(org, now);
                share.ended(org, Duration::from_micros(us), c, now);
            }
        }
        assert!(share.ahead(now).is_empty(), "{:?}", share.ahead(now));
    }

    #[test]
    fn alone_nobody_is_ahead() {
        let share = WorkerTime::new(HashMap::new());
        let now = Instant::now();
        let org = Uuid::from_u128(7);
        let c = share.claimed(org, now);
        share.ended(org, Duration::from_secs(1), c, now);
        assert!(share.ahead(now).is_empty());
    }
}
