//! `SLA_PREDICT {ticket_id}`: when the ticket will get its first response
//! and its resolution, the probability that it breaches its SLA policy, and
//! a risk level — from the ticket's policy, the organization's history of
//! similar tickets and its backlog per agent now.
//!
//! Similar tickets: the same priority; the same category too when that
//! leaves at least [`MIN_CATEGORY_EVENTS`] resolutions (the ticket's own
//! category, or its triage's guess while it has none). Still-open tickets
//! are censored observations: they have waited *at least* so long. The
//! backlog enters as a load factor: open tickets per active agent now
//! against the mean over the last [`BACKLOG_WINDOW_DAYS`] days (by Little's
//! law, the summed time tickets spent open over the window's length). The
//! survival model itself is [`crate::sla_model`].
//!
//! [`forecast_as_of`] is the whole prediction as a pure function of the
//! history as it stood at a given moment, so that the evaluation can replay
//! held-out tickets at their creation time through the same code.

use chrono::{DateTime, Duration, Utc};
use orgjobs_queue::{JobError, TenantHandler, TenantTx};

use crate::fields::{Priority, Status};
use crate::organizations::DEFAULT_SLA_TARGETS;
use crate::sla_model::{Observation, SlaForecast, SlaInputs, forecast};
use crate::tickets::{TicketPayload, load_ticket};
use crate::work_clock::WorkClock;

/// A category's history is used alone from this many resolutions on.
pub const MIN_CATEGORY_EVENTS: usize = 30;
/// At most this many similar tickets, newest first, make the history.
pub const HISTORY_LIMIT: i64 = 2000;
/// The window for the mean backlog.
pub const BACKLOG_WINDOW_DAYS: i64 = 90;

/// Targets, in seconds from creation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// First-response target.
    pub first_response: f64,
    /// Resolution target.
    pub resolution: f64,
}

impl Policy {
    /// From minutes, as `sla_policies` stores them.
    pub fn from_minutes(first_response: i32, resolution: i32) -> Self {
        Policy {
            first_response: f64::from(first_response) * 60.0,
            resolution: f64::from(resolution) * 60.0,
        }
    }

    /// The targets used for a priority the organization has no policy for:
    /// [`DEFAULT_SLA_TARGETS`].
    pub fn default_for(priority: Priority) -> Self {
        let (_, first, resolution) = DEFAULT_SLA_TARGETS
            .into_iter()
            .find(|t| t.0 == priority)
            .unwrap_or(DEFAULT_SLA_TARGETS[DEFAULT_SLA_TARGETS.len() - 1]);
        Policy::from_minutes(first, resolution)
    }
}

/// A ticket as the model sees it.
#[derive(Clone, Debug)]
pub struct HistTicket {
    /// Category, if known.
    pub category: Option<String>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// First response, if any.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Resolution, if any.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Closed without a resolution time: its durations are unknown.
    pub ended_unknown: bool,
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// Only what was known at `as_of`.
fn seen(t: Option<DateTime<Utc>>, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
    t.filter(|&t| t <= as_of)
}

/// First-response and resolution observations of `history` as they stood
/// at `as_of` (tickets created later are left out; events later are not yet
/// known, so those tickets are censored at their age), in work seconds of
/// `clock`.
pub fn observations(
    history: &[&HistTicket],
    as_of: DateTime<Utc>,
    clock: &WorkClock,
) -> (Vec<Observation>, Vec<Observation>) {
    let secs = |from, to| clock.work_between(from, to);
    let mut frt = Vec::new();
    let mut ttr = Vec::new();
    for t in history.iter().filter(|t| t.created_at <= as_of) {
        let resolved = seen(t.resolved_at, as_of);
        // A ticket resolved without a recorded response was answered by its
        // resolution.
        let responded = seen(t.first_response_at, as_of).or(resolved);
        let age = secs(t.created_at, as_of);
        if t.ended_unknown && resolved.is_none() {
            continue;
        }
        // The event's time if it happened, else censored at the age.
        let observe = |event: Option<DateTime<Utc>>| Observation {
            secs: event.map_or(age, |at| secs(t.created_at, at)),
            observed: event.is_some(),
        };
        frt.push(observe(responded));
        ttr.push(observe(resolved));
    }
    (frt, ttr)
}

/// Open tickets per agent now against the window's mean:
/// `(open_now / agents + 1) / (mean_open / agents + 1)`.
pub fn load_factor(open_now: f64, mean_open: f64, agents: f64) -> f64 {
    let agents = agents.max(1.0);
    let f = (open_now.max(0.0) / agents + 1.0) / (mean_open.max(0.0) / agents + 1.0);
    if f.is_finite() { f } else { 1.0 }
}

/// Tickets open at `as_of`, and the mean number open over the
/// [`BACKLOG_WINDOW_DAYS`] before it (Little's law), from every ticket.
pub fn backlog_as_of(all: &[HistTicket], as_of: DateTime<Utc>) -> (f64, f64) {
    let start = as_of - Duration::days(BACKLOG_WINDOW_DAYS);
    let mut open_now = 0.0;
    let mut open_secs = 0.0;
    let mut first = as_of;
    for t in all.iter().filter(|t| t.created_at <= as_of) {
        let resolved = seen(t.resolved_at, as_of);
        if resolved.is_none() && !t.ended_unknown {
            open_now += 1.0;
        }
        let from = t.created_at.max(start);
        let to = resolved.unwrap_or(as_of).min(as_of);
        if to > from && !(t.ended_unknown && resolved.is_none()) {
            open_secs += secs(from, to);
            first = first.min(from);
        }
    }
    let span = secs(first, as_of);
    let mean = if span > 0.0 { open_secs / span } else { 0.0 };
    (open_now, mean)
}

/// The prediction for `ticket` at `as_of`, from `similar` (same priority;
/// narrowed to the category here when it has enough resolutions).
///
/// Durations are measured on the team's [`WorkClock`], learned from the
/// first responses and resolutions of `similar` known at `as_of`: targets,
/// history and the time already waited alike. The predicted times are
/// converted back to wall-clock seconds after creation.
pub fn forecast_as_of(
    ticket: &HistTicket,
    policy: Policy,
    similar: &[HistTicket],
    load_factor: f64,
    as_of: DateTime<Utc>,
) -> SlaForecast {
    let all: Vec<&HistTicket> = similar.iter().collect();
    let clock = WorkClock::learn(
        all.iter()
            .filter(|t| t.created_at <= as_of)
            .flat_map(|t| [seen(t.first_response_at, as_of), seen(t.resolved_at, as_of)])
            .flatten(),
    );
    let same_category: Vec<&HistTicket> = match &ticket.category {
        Some(c) => all
            .iter()
            .copied()
            .filter(|t| t.category.as_ref() == Some(c))
            .collect(),
        None => Vec::new(),
    };
    let (frt, ttr) = {
        let (f, r) = observations(&same_category, as_of, &clock);
        if r.iter().filter(|o| o.observed).count() >= MIN_CATEGORY_EVENTS {
            (f, r)
        } else {
            observations(&all, as_of, &clock)
        }
    };
    let created = ticket.created_at;
    let elapsed = clock.work_between(created, as_of).max(0.0);
    let known = |t: Option<DateTime<Utc>>| seen(t, as_of).map(|t| clock.work_between(created, t));
    let resolved_after = known(ticket.resolved_at);
    let mut f = forecast(&SlaInputs {
        first_response_target: clock.work_after(created, policy.first_response),
        resolution_target: clock.work_after(created, policy.resolution),
        elapsed,
        first_response_after: known(ticket.first_response_at).or(resolved_after),
        resolved_after,
        first_response_history: &frt,
        resolution_history: &ttr,
        load_factor,
        // observations() pushes both of a ticket's observations together.
        paired: true,
    });
    f.first_response_after = clock.wall_after(created, f.first_response_after);
    f.resolution_after = clock.wall_after(created, f.resolution_after);
    f
}

/// The organization's backlog at `now`, computed in the database: tickets
/// open now, the mean number open over the [`BACKLOG_WINDOW_DAYS`] before
/// it, and the active agents. The same definitions as [`backlog_as_of`]
/// (which the evaluation replays over history); a test proves they agree.
pub async fn backlog_in_db(
    tx: &TenantTx,
    now: DateTime<Utc>,
) -> Result<(f64, f64, f64), orgjobs_queue::TxError> {
    let start = now - Duration::days(BACKLOG_WINDOW_DAYS);
    // $1 window start, $2 now, $3 the open statuses, $4 the organization:
    // open tickets now, the summed seconds tickets were open within the
    // window, the window's effective start, and the active agents.
    let b = tx
        .query_one(
            "SELECT count(*) FILTER (WHERE resolved_at IS NULL AND status = ANY($3))::float8,
                    coalesce(sum(extract(epoch FROM least(coalesce(resolved_at, $2), $2)
                                              - greatest(created_at, $1)))
                             FILTER (WHERE resolved_at IS NOT NULL OR status = ANY($3)), 0)::float8,
                    extract(epoch FROM $2 - coalesce(min(greatest(created_at, $1))
                                 FILTER (WHERE resolved_at IS NOT NULL OR status = ANY($3)), $2))::float8,
                    (SELECT count(*) FROM public.agents
                     WHERE organization_id = $4 AND active)::float8
             FROM public.tickets
             WHERE organization_id = $4 AND created_at <= $2 AND coalesce(resolved_at, $2) > $1",
            &[&start, &now, &Status::open_names(), &tx.org_id()],
        )
        .await?;
    let (open_now, open_secs, span, agents): (f64, f64, f64, f64) =
        (b.get(0), b.get(1), b.get(2), b.get(3));
    let mean_open = if span > 0.0 { open_secs / span } else { 0.0 };
    Ok((open_now, mean_open, agents))
}

/// The `SLA_PREDICT` handler.
pub struct SlaPredict;

fn hist_from_row(r: &orgjobs_queue::tokio_postgres::Row) -> HistTicket {
    let status: Status = r.get(4);
    let resolved_at: Option<DateTime<Utc>> = r.get(3);
    HistTicket {
        category: r.get(0),
        created_at: r.get(1),
        first_response_at: r.get(2),
        resolved_at,
        ended_unknown: resolved_at.is_none() && !status.is_open(),
    }
}

impl TenantHandler for SlaPredict {
    const KIND: &'static str = "SLA_PREDICT";
    type Payload = TicketPayload;

    async fn run(&self, tx: &mut TenantTx, p: TicketPayload) -> Result<(), JobError> {
        let t = load_ticket(tx, p.ticket_id).await?;
        // $1 priority, $2 the organization: its policy, if it has one.
        let policy = tx
            .query_opt(
                "SELECT first_response_minutes, resolution_minutes
                 FROM public.sla_policies WHERE priority = $1 AND organization_id = $2",
                &[&t.priority, &tx.org_id()],
            )
            .await?
            .map_or_else(
                || Policy::default_for(t.priority),
                |r| Policy::from_minutes(r.get(0), r.get(1)),
            );
        // $1 ticket, $2 the organization: its triage's guess at the
        // category; and the clock.
        let row = tx
            .query_one(
                "SELECT (SELECT category FROM public.ticket_ai_triage
                         WHERE ticket_id = $1 AND organization_id = $2), now()",
                &[&t.id, &tx.org_id()],
            )
            .await?;
        let guessed: Option<String> = row.get(0);
        let now: DateTime<Utc> = row.get(1);
        let ticket = HistTicket {
            category: t.category.clone().or(guessed),
            created_at: t.created_at,
            first_response_at: t.first_response_at,
            resolved_at: t.resolved_at,
            ended_unknown: false,
        };
        // $1 priority, $2 this ticket (left out), $3 limit, $4 the
        // organization.
        let similar: Vec<HistTicket> = tx
            .query(
                "SELECT category, created_at, first_response_at, resolved_at, status
                 FROM public.tickets
                 WHERE organization_id = $4 AND priority = $1 AND id <> $2
                   AND created_at <= now()
                 ORDER BY created_at DESC LIMIT $3",
                &[&t.priority, &t.id, &HISTORY_LIMIT, &tx.org_id()],
            )
            .await?
            .iter()
            .map(hist_from_row)
            .collect();
        let (open_now, mean_open, agents) = backlog_in_db(tx, now).await?;
        let factor = load_factor(open_now, mean_open, agents);
        let f = forecast_as_of(&ticket, policy, &similar, factor, now);
        let at = |s: f64| t.created_at + Duration::milliseconds((s * 1000.0).round() as i64);
        // $1 organization, $2 ticket, $3/$4 predicted times, $5 probability,
        // $6 risk level.
        tx.execute(
            "INSERT INTO public.sla_predictions
                 (organization_id, ticket_id, predicted_first_response_at, predicted_resolution_at,
                  breach_probability, risk_level)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (organization_id, ticket_id) DO UPDATE
                 SET predicted_first_response_at = EXCLUDED.predicted_first_response_at,
                     predicted_resolution_at = EXCLUDED.predicted_resolution_at,
                     breach_probability = EXCLUDED.breach_probability,
                     risk_level = EXCLUDED.risk_level,
                     created_at = EXCLUDED.created_at",
            &[
                &tx.org_id(),
                &t.id,
                &at(f.first_response_after),
                &at(f.resolution_after),
                &f.breach_probability,
                &f.risk_level.as_str(),
            ],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::hours(h)
    }

    fn hist(created: i64, resolved: Option<i64>) -> HistTicket {
        HistTicket {
            category: None,
            created_at: t(created),
            first_response_at: resolved.map(|r| t(created + (r - created) / 2)),
            resolved_at: resolved.map(t),
            ended_unknown: false,
        }
    }

    #[test]
    fn forecasts_run_on_the_teams_working_hours() {
        // A team that works weekdays 9:00-17:00: every ticket created there
        // answered after 1 h and resolved after 4 h.
        let monday = Utc
            .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .unwrap_or_default();
        let mut history = Vec::new();
        for week in 0..8 {
            for day in 0..5 {
                for hour in 0..4 {
                    let created = monday + Duration::days(week * 7 + day) + Duration::hours(hour);
                    history.push(HistTicket {
                        category: None,
                        created_at: created,
                        first_response_at: Some(created + Duration::hours(1)),
                        resolved_at: Some(created + Duration::hours(4)),
                        ended_unknown: false,
                    });
                }
            }
        }
        let policy = Policy::from_minutes(120, 480);
        let forecast_at = |created: DateTime<Utc>| {
            let ticket = HistTicket {
                category: None,
                created_at: created,
                first_response_at: None,
                resolved_at: None,
                ended_unknown: false,
            };
            forecast_as_of(&ticket, policy, &history, 1.0, created)
        };
        // Tuesday 9:00: a whole working day before the 8 h deadline.
        let tuesday = forecast_at(monday + Duration::days(64));
        // Friday 16:00: one working hour before the weekend, and the 8 h
        // deadline falls on Saturday.
        let friday = forecast_at(monday + Duration::days(67) + Duration::hours(7));
        assert!(tuesday.breach_probability < 0.2, "{tuesday:?}");
        assert!(friday.breach_probability > 0.8, "{friday:?}");
        // The predicted resolution lands on Monday, in wall-clock time.
        let hours = friday.resolution_after / 3600.0;
        assert!(
            (64.0..72.0).contains(&hours),
            "{hours} h after Friday 16:00"
        );
    }

    #[test]
    fn observations_respect_the_clock() {
        let h = [hist(0, Some(10)), hist(5, None), hist(20, Some(30))];
        let refs: Vec<&HistTicket> = h.iter().collect();
        let (_, ttr) = observations(&refs, t(8), &WorkClock::default());
        // The first is not yet resolved at hour 8: censored at its age; the
        // third does not exist yet.
        assert_eq!(ttr.len(), 2);
        assert_eq!(
            ttr[0],
            Observation {
                secs: 8.0 * 3600.0,
                observed: false
            }
        );
        assert_eq!(
            ttr[1],
            Observation {
                secs: 3.0 * 3600.0,
                observed: false
            }
        );
        let (_, ttr) = observations(&refs, t(40), &WorkClock::default());
        assert_eq!(
            ttr[0],
            Observation {
                secs: 10.0 * 3600.0,
                observed: true
            }
        );
        assert_eq!(
            ttr[2],
            Observation {
                secs: 10.0 * 3600.0,
                observed: true
            }
        );
    }

    #[test]
    fn backlog_by_littles_law() {
        // Two tickets, each open 12 h of a 24 h window: one open on average;
        // a third still open at the end.
        let h = [hist(0, Some(12)), hist(12, Some(24)), hist(23, None)];
        let (open, mean) = backlog_as_of(&h, t(24));
        assert_eq!(open, 1.0);
        assert!((mean - 25.0 / 24.0).abs() < 1e-9, "{mean}");
        assert!(load_factor(10.0, 2.0, 2.0) > 1.0);
        assert_eq!(load_factor(2.0, 2.0, 2.0), 1.0);
        assert_eq!(load_factor(1.0, 1.0, 0.0), 1.0);
    }
}
