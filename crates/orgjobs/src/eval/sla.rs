//! The SLA part of the evaluation: `SLA_PREDICT`'s breach probability,
//! replayed at each held-out ticket's creation from the history and backlog
//! as of that moment, scored by its Brier score against always predicting
//! the training tickets' breach rate.

use chrono::{DateTime, Utc};
use orgjobs_helpdesk::import::TicketRecord;
use orgjobs_helpdesk::sla::{HistTicket, Policy, backlog_as_of, forecast_as_of, load_factor};
use orgjobs_helpdesk::sla_model::brier;
use orgjobs_helpdesk::{Priority, Status};
use serde::Serialize;

use crate::dataset::OrgData;

/// How well the breach probability did.
#[derive(Clone, Debug, Serialize)]
pub struct SlaScore {
    /// Resolved held-out tickets scored.
    pub tickets: usize,
    /// Their breach rate.
    pub breach_rate: f64,
    /// Brier score of `SLA_PREDICT`'s probability.
    pub brier: f64,
    /// Brier score of always predicting the training breach rate.
    pub brier_base_rate: f64,
    /// Mean predicted breach probability (against `breach_rate`: whether
    /// the forecast is calibrated on the whole).
    pub mean_predicted: f64,
}

/// Replays `SLA_PREDICT` over `tickets` (`data`'s tickets, with their own
/// timelines); `guessed` is the category triage gave a held-out ticket.
pub(super) fn replay(
    data: &OrgData,
    tickets: &[TicketRecord],
    guessed: &dyn Fn(&TicketRecord) -> Option<String>,
) -> SlaScore {
    let all: Vec<(Priority, HistTicket)> = tickets
        .iter()
        .map(|t| (priority_of(t), hist(t, t.category.clone())))
        .collect();
    let all_hist: Vec<HistTicket> = all.iter().map(|(_, h)| h.clone()).collect();
    let agents = data.profile.agents.len() as f64;
    let train_outcomes: Vec<bool> = tickets
        .iter()
        .filter(|t| !data.is_holdout(t))
        .filter_map(|t| breached(t, policy_of(data, priority_of(t))))
        .collect();
    let base_rate =
        train_outcomes.iter().filter(|b| **b).count() as f64 / train_outcomes.len().max(1) as f64;
    let mut model_pairs = Vec::new();
    let mut base_pairs = Vec::new();
    for t in tickets.iter().filter(|t| data.is_holdout(t)) {
        let priority = priority_of(t);
        let policy = policy_of(data, priority);
        let (Some(outcome), Some(created)) = (breached(t, policy), t.created_at) else {
            continue;
        };
        let me = HistTicket {
            category: guessed(t),
            first_response_at: None,
            resolved_at: None,
            ..hist(t, None)
        };
        let similar: Vec<HistTicket> = all
            .iter()
            .filter(|(p, h)| *p == priority && h.created_at < created)
            .map(|(_, h)| h.clone())
            .collect();
        let (open, mean) = backlog_as_of(&all_hist, created);
        let f = forecast_as_of(
            &me,
            policy,
            &similar,
            load_factor(open, mean, agents),
            created,
        );
        model_pairs.push((f.breach_probability, outcome));
        base_pairs.push((base_rate, outcome));
    }
    let n = model_pairs.len().max(1) as f64;
    SlaScore {
        tickets: model_pairs.len(),
        breach_rate: model_pairs.iter().filter(|p| p.1).count() as f64 / n,
        brier: brier(&model_pairs).unwrap_or(f64::NAN),
        brier_base_rate: brier(&base_pairs).unwrap_or(f64::NAN),
        mean_predicted: model_pairs.iter().map(|p| p.0).sum::<f64>() / n,
    }
}

fn hist(t: &TicketRecord, category: Option<String>) -> HistTicket {
    let resolved = t.resolved_at;
    HistTicket {
        category,
        created_at: t.created_at.unwrap_or_default(),
        first_response_at: t.first_response_at,
        resolved_at: resolved,
        ended_unknown: resolved.is_none() && status_of(t).is_some_and(|s| !s.is_open()),
    }
}

/// A record's status and priority (checked when the data was parsed).
fn status_of(t: &TicketRecord) -> Option<Status> {
    t.status().ok().flatten()
}

/// The record's priority, or the default.
pub(super) fn priority_of(t: &TicketRecord) -> Priority {
    t.priority().ok().flatten().unwrap_or_default()
}

fn policy_of(data: &OrgData, priority: Priority) -> Policy {
    data.profile
        .sla_policies
        .iter()
        .find(|p| p.priority == priority)
        .map_or_else(
            || Policy::default_for(priority),
            |p| Policy::from_minutes(p.first_response_minutes, p.resolution_minutes),
        )
}

/// Whether a finished ticket breached its policy.
fn breached(t: &TicketRecord, policy: Policy) -> Option<bool> {
    let created = t.created_at?;
    let resolved = t.resolved_at?;
    let secs = |at: DateTime<Utc>| (at - created).num_milliseconds() as f64 / 1000.0;
    let frt = secs(t.first_response_at.unwrap_or(resolved));
    Some(frt > policy.first_response || secs(resolved) > policy.resolution)
}
