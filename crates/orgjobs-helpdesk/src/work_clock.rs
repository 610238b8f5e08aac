//! An organization's working clock, learned from its own history: how much
//! work time passes between two instants.
//!
//! Support teams work office hours, rotas and weekends off; a ticket that
//! arrives on Friday evening waits through a weekend in which nobody
//! answers, one that arrives on Tuesday morning does not. Measured in
//! wall-clock time the two look alike, and the SLA forecast cannot tell
//! them apart. So the forecast measures durations on this clock instead.
//!
//! The clock has a rate for each of the week's 168 hours (UTC): how many of
//! the history's agent actions (first responses and resolutions) fell in
//! that hour of the week, smoothed and scaled so that the rates average 1 —
//! a week of work time is a week of wall-clock time. Hours in which the
//! team rarely acts advance it slowly; busy hours fast. With fewer than
//! [`MIN_EVENTS`] actions in the history the clock is the wall clock.

use chrono::{DateTime, Utc};

/// Fewer agent actions than this and the clock is the wall clock.
pub const MIN_EVENTS: usize = 100;

/// Every hour of the week is credited with this share of the mean hour's
/// actions: a team never seen acting at 3 a.m. still might.
pub const SMOOTHING: f64 = 0.02;

/// No hour's rate falls below this share of the mean, so time keeps moving.
pub const MIN_RATE: f64 = 0.01;

const HOURS: usize = 168;
const HOUR: f64 = 3600.0;

/// A working clock (see the module docs).
#[derive(Clone, Debug)]
pub struct WorkClock {
    /// Work seconds per wall-clock second, per hour of the week.
    rate: [f64; HOURS],
    /// `prefix[h]`: work seconds from the start of a week to hour `h`.
    prefix: [f64; HOURS + 1],
}

impl Default for WorkClock {
    /// The wall clock.
    fn default() -> Self {
        WorkClock::from_rates([1.0; HOURS])
    }
}

impl WorkClock {
    /// The clock of a team whose actions happened at `events`.
    pub fn learn(events: impl IntoIterator<Item = DateTime<Utc>>) -> WorkClock {
        let mut counts = [0.0f64; HOURS];
        let mut n = 0usize;
        for e in events {
            counts[hour_of_week(e.timestamp())] += 1.0;
            n += 1;
        }
        if n < MIN_EVENTS {
            return WorkClock::default();
        }
        // Smoothing (every hour gets SMOOTHING of the mean count), then a
        // floor, then scale to mean 1.
        let alpha = SMOOTHING * n as f64 / HOURS as f64;
        let mean = n as f64 / HOURS as f64 + alpha;
        let mut rate = counts.map(|c| ((c + alpha) / mean).max(MIN_RATE));
        let scale = HOURS as f64 / rate.iter().sum::<f64>();
        for r in &mut rate {
            *r *= scale;
        }
        WorkClock::from_rates(rate)
    }

    fn from_rates(rate: [f64; HOURS]) -> WorkClock {
        let mut prefix = [0.0; HOURS + 1];
        for h in 0..HOURS {
            prefix[h + 1] = prefix[h] + rate[h] * HOUR;
        }
        WorkClock { rate, prefix }
    }

    /// Work seconds from `from` to `to` (negative if `to` is earlier).
    pub fn work_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        self.position(to) - self.position(from)
    }

    /// Work seconds from `from` to `from + wall` (wall-clock seconds).
    pub fn work_after(&self, from: DateTime<Utc>, wall: f64) -> f64 {
        let start = secs_of(from);
        self.position_at(start + wall) - self.position_at(start)
    }

    /// Wall-clock seconds after `from` at which `work` work seconds have
    /// passed (the inverse of [`WorkClock::work_after`]).
    pub fn wall_after(&self, from: DateTime<Utc>, work: f64) -> f64 {
        if !work.is_finite() || work <= 0.0 {
            return work.max(0.0);
        }
        let start = secs_of(from);
        let target = self.position_at(start) + work;
        let week = self.prefix[HOURS];
        let weeks = (target / week).floor();
        let rest = target - weeks * week;
        // The last hour whose start is at or before `rest`.
        let h = self.prefix[..HOURS]
            .partition_point(|&p| p <= rest)
            .saturating_sub(1);
        let wall =
            weeks * 7.0 * 24.0 * HOUR + h as f64 * HOUR + (rest - self.prefix[h]) / self.rate[h];
        (wall - start).max(0.0)
    }

    /// The rate (work seconds per second) in the hour of the week `t` is in.
    pub fn rate_at(&self, t: DateTime<Utc>) -> f64 {
        self.rate[hour_of_week(t.timestamp())]
    }

    fn position(&self, t: DateTime<Utc>) -> f64 {
        self.position_at(secs_of(t))
    }

    /// Work seconds from the Unix epoch to `secs` after it.
    fn position_at(&self, secs: f64) -> f64 {
        let week_secs = 7.0 * 24.0 * HOUR;
        let weeks = (secs / week_secs).floor();
        let into = secs - weeks * week_secs;
        let h = ((into / HOUR) as usize).min(HOURS - 1);
        weeks * self.prefix[HOURS] + self.prefix[h] + (into - h as f64 * HOUR) * self.rate[h]
    }
}

fn secs_of(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The hour of the week, counting from the Unix epoch's hour (the cycle's
/// start does not matter, only that it is the same for every instant).
fn hour_of_week(unix_secs: i64) -> usize {
    usize::try_from((unix_secs.div_euclid(3600)).rem_euclid(HOURS as i64)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    /// A team acting only on weekdays 9:00–17:00, evenly.
    fn office() -> WorkClock {
        let mut events = Vec::new();
        // 2026-01-05 is a Monday.
        for week in 0..8 {
            for day in 0..5 {
                for hour in 9..17 {
                    for _ in 0..3 {
                        events.push(at(2026, 1, 5, hour) + Duration::days(week * 7 + day));
                    }
                }
            }
        }
        WorkClock::learn(events)
    }

    #[test]
    fn too_few_events_is_the_wall_clock() {
        let c = WorkClock::learn([at(2026, 1, 5, 10)]);
        let a = at(2026, 1, 9, 17);
        assert!((c.work_between(a, a + Duration::hours(60)) - 60.0 * HOUR).abs() < 1e-6);
        assert!((c.wall_after(a, 5.0 * HOUR) - 5.0 * HOUR).abs() < 1e-6);
    }

    #[test]
    fn a_week_of_work_is_a_week() {
        let c = office();
        let a = at(2026, 3, 3, 14);
        let week = c.work_between(a, a + Duration::days(7));
        assert!((week - 7.0 * 24.0 * HOUR).abs() < 1e-3, "{week}");
    }

    #[test]
    fn weekends_and_nights_barely_count() {
        let c = office();
        let friday_evening = at(2026, 3, 6, 17);
        let monday_morning = at(2026, 3, 9, 9);
        let weekend = c.work_between(friday_evening, monday_morning);
        let tuesday = c.work_between(at(2026, 3, 3, 9), at(2026, 3, 3, 17));
        assert!(
            weekend < 0.05 * tuesday,
            "weekend {weekend} vs a working day {tuesday}"
        );
        assert!(c.rate_at(at(2026, 3, 3, 10)) > 3.0);
        assert!(c.rate_at(at(2026, 3, 7, 10)) < 0.1);
    }

    #[test]
    fn wall_after_inverts_work_after() {
        let c = office();
        for start in [at(2026, 3, 6, 16), at(2026, 3, 7, 3), at(2026, 3, 3, 9)] {
            for wall in [0.0, 1800.0, 3.0 * HOUR, 50.0 * HOUR, 400.0 * HOUR] {
                let work = c.work_after(start, wall);
                let back = c.wall_after(start, work);
                // Equal, except that the inverse lands at the start of a
                // stretch of (near) zero rate rather than inside it.
                assert!(
                    (c.work_after(start, back) - work).abs() < 1e-3,
                    "{start} {wall}: {work} -> {back}"
                );
                assert!(back <= wall + 1e-3);
            }
        }
        // An hour of work from Friday 16:00: 1 h on Friday, then on Monday.
        let friday = at(2026, 3, 6, 16);
        let hour_of_work = c.work_between(at(2026, 3, 3, 10), at(2026, 3, 3, 11));
        let back = c.wall_after(friday, 2.0 * hour_of_work);
        assert!(
            back > 64.0 * HOUR && back < 66.0 * HOUR,
            "two working hours from Friday 16:00 end on Monday about 10:00: {}h",
            back / HOUR
        );
    }
}
