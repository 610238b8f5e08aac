//! Pausing an organization, a kind, or one kind of one organization
//! (migration 0008): its jobs wait while everyone else's run, across every
//! worker, from each worker's next claim on (jobs already claimed finish).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::admin::{AdminError, db};
use crate::rate_limit::check_known_kind;

/// A pause in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pause {
    /// The organization paused (`None`: the kind, in every organization).
    pub organization_id: Option<Uuid>,
    /// The kind paused (`None`: every kind of the organization).
    pub kind: Option<String>,
    /// Why, as the operator said.
    pub reason: String,
    /// Who paused it.
    pub paused_by: String,
    /// Since when.
    pub paused_at: DateTime<Utc>,
}

/// Pauses `organization_id` (all its kinds), `kind` (in every
/// organization), or both together (that kind of that organization).
/// Returns `false` when it was already paused.
pub async fn pause(
    client: &Client,
    organization_id: Option<Uuid>,
    kind: Option<&str>,
    reason: &str,
    paused_by: &str,
) -> Result<bool, AdminError> {
    if organization_id.is_none() && kind.is_none() {
        return Err(AdminError::Invalid(
            "pause what? give an organization, a kind, or both".into(),
        ));
    }
    if let Some(k) = kind {
        check_known_kind(client, k).await?;
    }
    if reason.chars().count() > 500 || paused_by.chars().count() > 200 {
        return Err(AdminError::Invalid(
            "a reason has at most 500 characters, a name at most 200".into(),
        ));
    }
    let rows = client
        .query_typed(
            "INSERT INTO orgjobs.pauses (organization_id, kind, reason, paused_by)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (organization_id, kind) DO NOTHING
             RETURNING 1",
            &[
                (&organization_id, Type::UUID),
                (&kind, Type::TEXT),
                (&reason, Type::TEXT),
                (&paused_by, Type::TEXT),
            ],
        )
        .await
        .map_err(db("pausing"))?;
    Ok(!rows.is_empty())
}

/// Ends a pause; returns whether there was one.
pub async fn resume(
    client: &Client,
    organization_id: Option<Uuid>,
    kind: Option<&str>,
) -> Result<bool, AdminError> {
    let rows = client
        .query_typed(
            "DELETE FROM orgjobs.pauses
             WHERE organization_id IS NOT DISTINCT FROM $1 AND kind IS NOT DISTINCT FROM $2
             RETURNING 1",
            &[(&organization_id, Type::UUID), (&kind, Type::TEXT)],
        )
        .await
        .map_err(db("resuming"))?;
    Ok(!rows.is_empty())
}

/// Every pause in force, oldest first.
pub async fn list_pauses(client: &Client) -> Result<Vec<Pause>, AdminError> {
    let rows = client
        .query_typed(
            "SELECT organization_id, kind, reason, paused_by, paused_at FROM orgjobs.pauses
             ORDER BY paused_at, organization_id, kind",
            &[],
        )
        .await
        .map_err(db("listing pauses"))?;
    Ok(rows
        .iter()
        .map(|r| Pause {
            organization_id: r.get(0),
            kind: r.get(1),
            reason: r.get(2),
            paused_by: r.get(3),
            paused_at: r.get(4),
        })
        .collect())
}
