//! Creating organizations, agents and tickets — always through a tenant
//! transaction of the organization concerned, never as an administrator.

use chrono::{DateTime, Utc};
use orgjobs_queue::{TenantTx, TxError};
use uuid::Uuid;

use crate::fields::{Priority, Status};

/// Creates the organization row for `tx`'s organization (the transaction's
/// context is the new organization's id, so the policy admits the row).
pub async fn create_organization(tx: &TenantTx, name: &str) -> Result<(), TxError> {
    // $1 id (= the context), $2 name.
    tx.execute(
        "INSERT INTO public.organizations (id, name) VALUES ($1, $2)",
        &[&tx.org_id(), &name],
    )
    .await?;
    Ok(())
}

/// Adds an agent to `tx`'s organization; returns its id.
pub async fn insert_agent(tx: &TenantTx, name: &str, email: &str) -> Result<Uuid, TxError> {
    // $1 organization, $2 name, $3 email.
    let row = tx
        .query_one(
            "INSERT INTO public.agents (organization_id, name, email) VALUES ($1, $2, $3) RETURNING id",
            &[&tx.org_id(), &name, &email],
        )
        .await?;
    Ok(row.get(0))
}

/// A ticket to insert; `None` fields take the table's defaults.
#[derive(Clone, Debug, Default)]
pub struct NewTicket {
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// Where it stands; default `new`.
    pub status: Option<Status>,
    /// How urgent it is; default `normal`.
    pub priority: Option<Priority>,
    /// Free-form category.
    pub category: Option<String>,
    /// Requester's address.
    pub requester_email: Option<String>,
    /// Assigned agent (of the same organization).
    pub assigned_to: Option<Uuid>,
    /// Creation time; default now.
    pub created_at: Option<DateTime<Utc>>,
    /// First agent response.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Resolution.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Inserts a ticket into `tx`'s organization; returns its id.
pub async fn insert_ticket(tx: &TenantTx, t: &NewTicket) -> Result<Uuid, TxError> {
    // $1 organization; $2..$11 the ticket's fields, NULL meaning the default.
    let row = tx
        .query_one(
            "INSERT INTO public.tickets (organization_id, subject, body, status, priority, category,
                                         requester_email, assigned_to, created_at,
                                         first_response_at, resolved_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()), $10, $11)
             RETURNING id",
            &[
                &tx.org_id(),
                &t.subject,
                &t.body,
                &t.status.unwrap_or_default(),
                &t.priority.unwrap_or_default(),
                &t.category,
                &t.requester_email,
                &t.assigned_to,
                &t.created_at,
                &t.first_response_at,
                &t.resolved_at,
            ],
        )
        .await?;
    let id: Uuid = row.get(0);
    crate::enqueue::new_tickets(tx, &[id]).await?;
    Ok(id)
}

/// An SLA policy: targets for one priority, in minutes from creation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// The priority it is for.
    pub priority: Priority,
    /// First-response target.
    pub first_response_minutes: i32,
    /// Resolution target.
    pub resolution_minutes: i32,
}

/// The default targets, in minutes: (priority, first response, resolution).
/// The one source of the defaults: new organizations get them as policies,
/// and `SLA_PREDICT` and `METRICS_SNAPSHOT` assume them for a priority
/// without a policy.
pub const DEFAULT_SLA_TARGETS: [(Priority, i32, i32); 4] = [
    (Priority::Urgent, 60, 480),
    (Priority::High, 240, 1440),
    (Priority::Normal, 480, 4320),
    (Priority::Low, 1440, 10080),
];

/// The policies a new organization starts with: [`DEFAULT_SLA_TARGETS`].
pub fn default_sla_policies() -> Vec<SlaPolicy> {
    DEFAULT_SLA_TARGETS
        .into_iter()
        .map(|(p, f, r)| SlaPolicy {
            priority: p,
            first_response_minutes: f,
            resolution_minutes: r,
        })
        .collect()
}

/// Sets (inserting or replacing) `tx`'s organization's SLA policies.
pub async fn set_sla_policies(tx: &TenantTx, policies: &[SlaPolicy]) -> Result<(), TxError> {
    for p in policies {
        // $1 organization, $2 priority, $3/$4 targets in minutes.
        tx.execute(
            "INSERT INTO public.sla_policies (organization_id, priority, first_response_minutes, resolution_minutes)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (organization_id, priority) DO UPDATE
                 SET first_response_minutes = EXCLUDED.first_response_minutes,
                     resolution_minutes = EXCLUDED.resolution_minutes, updated_at = EXCLUDED.updated_at",
            &[&tx.org_id(), &p.priority, &p.first_response_minutes, &p.resolution_minutes],
        )
        .await?;
    }
    Ok(())
}

/// Merges `settings` (a JSON object) into `tx`'s organization's settings.
pub async fn merge_settings(tx: &TenantTx, settings: &serde_json::Value) -> Result<(), TxError> {
    // $1 organization, $2 the keys to set.
    tx.execute(
        "UPDATE public.organizations SET settings = settings || $2 WHERE id = $1",
        &[&tx.org_id(), settings],
    )
    .await?;
    Ok(())
}

/// An organization as operators list it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrganizationSummary {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Whether it is active (inactive ones get no periodic snapshots).
    pub active: bool,
}

/// Every organization, by name, read through the global role's one policy
/// on organizations.
pub async fn list_organizations(
    tx: &orgjobs_queue::GlobalTx,
) -> Result<Vec<OrganizationSummary>, TxError> {
    let rows = tx
        .query(
            "SELECT id, name, active FROM public.organizations ORDER BY name, id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| OrganizationSummary {
            id: r.get(0),
            name: r.get(1),
            active: r.get(2),
        })
        .collect())
}
