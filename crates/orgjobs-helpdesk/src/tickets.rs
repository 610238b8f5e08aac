//! What the ticket jobs share: their payload and loading the ticket it
//! names, which finds nothing — and ends the job without a retry — when the
//! ticket belongs to another organization (RLS hides it).

use chrono::{DateTime, Utc};
use orgjobs_queue::{JobError, TenantTx};
use serde::Deserialize;
use uuid::Uuid;

use crate::fields::{Priority, Status};

/// The payload of `TRIAGE_TICKET`, `KB_SUGGEST`, `SMART_REPLY` and
/// `SLA_PREDICT`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPayload {
    /// The ticket, in the job's organization.
    pub ticket_id: Uuid,
}

/// The ticket fields the jobs read.
#[derive(Clone, Debug)]
pub struct Ticket {
    /// Its id.
    pub id: Uuid,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// Where it stands.
    pub status: Status,
    /// How urgent it is.
    pub priority: Priority,
    /// Category, when labelled.
    pub category: Option<String>,
    /// Requester's address.
    pub requester_email: Option<String>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// First agent response.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Resolution.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Subject and body as one text. When the subject is just the body's
/// opening words (as mail bridges and web forms often make it), the body
/// alone: counting the same words twice would skew the classifier.
pub fn ticket_text(subject: &str, body: &str) -> String {
    let opening = subject.trim().trim_end_matches(['.', '?', '!', ':', '…']);
    let norm = |s: &str| s.to_lowercase();
    if opening.is_empty() || norm(body.trim_start()).starts_with(&norm(opening)) {
        body.to_owned()
    } else {
        format!("{subject}\n{body}")
    }
}

impl Ticket {
    /// Subject and body as one text, as the classifier and search see it
    /// (see [`ticket_text`]).
    pub fn text(&self) -> String {
        ticket_text(&self.subject, &self.body)
    }

    /// Whether the ticket still waits for the support team.
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }
}

/// Loads the ticket a job names. Another organization's ticket is invisible
/// under RLS, so it is "not found in this organization": a
/// [`JobError::Discard`], since no retry can make it appear.
pub async fn load_ticket(tx: &TenantTx, id: Uuid) -> Result<Ticket, JobError> {
    // $1 ticket id, $2 the job's organization (RLS allows no other; named,
    // so that on Citus the statement goes to its one shard).
    let row = tx
        .query_opt(
            "SELECT id, subject, body, status, priority, category, requester_email,
                    created_at, first_response_at, resolved_at
             FROM public.tickets WHERE id = $1 AND organization_id = $2",
            &[&id, &tx.org_id()],
        )
        .await?;
    let Some(r) = row else {
        return Err(not_found("ticket", id, tx.org_id()));
    };
    Ok(Ticket {
        id: r.get(0),
        subject: r.get(1),
        body: r.get(2),
        status: r.get(3),
        priority: r.get(4),
        category: r.get(5),
        requester_email: r.get(6),
        created_at: r.get(7),
        first_response_at: r.get(8),
        resolved_at: r.get(9),
    })
}

/// The error for a payload naming a row this organization does not have.
pub(crate) fn not_found(what: &str, id: Uuid, org: Uuid) -> JobError {
    JobError::discard(format!(
        "{what} {id} not found in this organization ({org}); the payload must name a {what} of the job's own organization"
    ))
}
