//! Periodic jobs: cron schedules whose occurrences are enqueued exactly once
//! however many workers run.
//!
//! The leader computes the latest due occurrence of each schedule and, in
//! one transaction, advances `orgjobs.periodic.last_occurrence` to it (only
//! if it was earlier, under a row lock) and enqueues the job. A second
//! worker, or a new leader after a failover, finds the occurrence taken.
//! Occurrences missed while no worker ran are not backfilled: only the
//! latest due one is enqueued.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One schedule: enqueue a global `kind` at each occurrence of `schedule`.
#[derive(Clone, Debug)]
pub struct Periodic {
    /// The job kind (must be a registered global kind).
    pub kind: String,
    /// The cron expression as given.
    pub expr: String,
    schedule: cron::Schedule,
    /// The payload of each enqueued job.
    pub payload: Value,
}

/// A schedule that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid periodic schedule {spec:?}: {reason}; expected KIND=CRON, e.g. CLEANUP=0 3 * * * (5 fields) or SYSTEM_METRICS=*/30 * * * * * (6, with seconds)"
)]
pub struct PeriodicError {
    /// What was given.
    pub spec: String,
    /// Why it does not parse.
    pub reason: String,
}

impl Periodic {
    /// A schedule for `kind`. `expr` is a cron expression of 5 fields
    /// (minute hour day month weekday) or 6 with seconds first, in UTC.
    pub fn new(kind: &str, expr: &str) -> Result<Self, PeriodicError> {
        let err = |reason: String| PeriodicError {
            spec: format!("{kind}={expr}"),
            reason,
        };
        let fields = expr.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {expr}"),
            6 | 7 => expr.to_owned(),
            n => return Err(err(format!("{n} fields"))),
        };
        let schedule = cron::Schedule::from_str(&full).map_err(|e| err(e.to_string()))?;
        if kind.is_empty()
            || !kind
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(err(
                "the kind must be upper-case letters, digits and _".to_owned()
            ));
        }
        Ok(Periodic {
            kind: kind.to_owned(),
            expr: expr.to_owned(),
            schedule,
            payload: Value::Object(Default::default()),
        })
    }

    /// Parses `KIND=CRON`.
    pub fn parse(spec: &str) -> Result<Self, PeriodicError> {
        let (kind, expr) = spec.split_once('=').ok_or_else(|| PeriodicError {
            spec: spec.to_owned(),
            reason: "no '='".to_owned(),
        })?;
        Periodic::new(kind.trim(), expr.trim())
    }

    /// The name under which the last occurrence is kept.
    pub fn name(&self) -> &str {
        &self.kind
    }

    /// The latest occurrence in `(after, now]`, if any.
    pub fn latest_due(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.latest_before(now).filter(|t| *t > after)
    }

    /// The latest occurrence at or before `now`, looking back at most a
    /// year. Windows grow from a minute, so that a frequent schedule costs a
    /// few dozen steps rather than a year of them.
    pub fn latest_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [
            chrono::Duration::minutes(1),
            chrono::Duration::hours(1),
            chrono::Duration::days(1),
            chrono::Duration::days(32),
            chrono::Duration::days(366),
        ]
        .into_iter()
        .find_map(|w| {
            self.schedule
                .after(&(now - w))
                .take_while(|t| *t <= now)
                .last()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_five_and_six_field_expressions() {
        let hourly = Periodic::parse("METRICS_SNAPSHOT_ALL=0 * * * *").expect("5 fields");
        let t = |h, m, s| {
            Utc.with_ymd_and_hms(2026, 1, 1, h, m, s)
                .single()
                .expect("time")
        };
        assert_eq!(
            hourly.latest_due(t(9, 59, 0), t(10, 30, 0)),
            Some(t(10, 0, 0))
        );
        assert_eq!(hourly.latest_due(t(10, 0, 0), t(10, 30, 0)), None);
        let every30 = Periodic::parse("SYSTEM_METRICS=*/30 * * * * *").expect("6 fields");
        assert_eq!(
            every30.latest_due(t(10, 0, 0), t(10, 1, 10)),
            Some(t(10, 1, 0))
        );
        // A frequent schedule far in the past is cheap to evaluate.
        let start = std::time::Instant::now();
        assert_eq!(
            every30.latest_due(t(0, 0, 0) - chrono::Duration::days(300), t(10, 1, 10)),
            Some(t(10, 1, 0))
        );
        assert!(start.elapsed() < std::time::Duration::from_millis(100));
        assert!(Periodic::parse("CLEANUP").is_err());
        assert!(Periodic::parse("CLEANUP=every day").is_err());
        assert!(Periodic::parse("cleanup=0 3 * * *").is_err());
    }
}
