//! Per-organization rate limits on job starts (migration 0006): set, list,
//! remove. Workers enforce them in the claim (`sql/worker/claim*.sql`,
//! `orgjobs.grant_starts`), across every worker process.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::admin::{AdminError, db};

/// At most `starts` job starts per `period` for one organization (for one
/// kind, or for all its kinds), with bursts of up to `burst` starts: a token
/// bucket shared by every worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// The organization limited.
    pub organization_id: Uuid,
    /// Only this kind's starts (`None`: all the organization's kinds
    /// together; both may apply to one job, which then needs a token from
    /// each).
    pub kind: Option<String>,
    /// Starts added to the bucket per period.
    pub starts: u32,
    /// The period (at least 1 ms).
    #[serde(serialize_with = "serialize_secs")]
    pub period: Duration,
    /// Starts the bucket holds at most (a full bucket lets this many start
    /// at once).
    pub burst: u32,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A limit as stored, with what its bucket holds now.
#[derive(Clone, Debug, Serialize)]
pub struct RateLimitState {
    /// The limit.
    #[serde(flatten)]
    pub limit: RateLimit,
    /// Starts the bucket allows now (fractional: refilling).
    pub tokens: f64,
    /// When the bucket was last charged or set.
    pub refilled_at: DateTime<Utc>,
}

impl RateLimit {
    /// Checks the values, saying what was expected.
    pub fn validate(&self) -> Result<(), AdminError> {
        if self.starts == 0 || i32::try_from(self.starts).is_err() {
            return Err(AdminError::Invalid(format!(
                "starts must be 1 to {}, got {}",
                i32::MAX,
                self.starts
            )));
        }
        if self.burst == 0 || i32::try_from(self.burst).is_err() {
            return Err(AdminError::Invalid(format!(
                "burst must be 1 to {}, got {}",
                i32::MAX,
                self.burst
            )));
        }
        if self.period < Duration::from_millis(1) || self.period > Duration::from_secs(366 * 86400)
        {
            return Err(AdminError::Invalid(format!(
                "period must be from 1 ms to 366 days, got {:?}",
                self.period
            )));
        }
        Ok(())
    }
}

/// Refuses a kind no worker has registered, listing those registered.
pub(crate) async fn check_known_kind(client: &Client, kind: &str) -> Result<(), AdminError> {
    let known = client
        .query_typed("SELECT kind FROM orgjobs.kinds ORDER BY kind", &[])
        .await
        .map_err(db("reading the registered kinds"))?;
    let known: Vec<String> = known.iter().map(|r| r.get(0)).collect();
    if known.iter().any(|k| k == kind) {
        return Ok(());
    }
    Err(AdminError::Invalid(if known.is_empty() {
        format!("unknown kind {kind:?}: no kind is registered yet (start a worker once)")
    } else {
        format!(
            "unknown kind {kind:?}; registered kinds: {}",
            known.join(", ")
        )
    }))
}

/// Sets (adds or replaces) a limit. A new bucket starts full; a replaced
/// one keeps what it held, up to the new burst. A kind must be registered
/// (a worker that runs it has started once).
pub async fn set_rate_limit(client: &Client, limit: &RateLimit) -> Result<(), AdminError> {
    limit.validate()?;
    if let Some(kind) = &limit.kind {
        check_known_kind(client, kind).await?;
    }
    let starts = i32::try_from(limit.starts).unwrap_or(i32::MAX);
    let burst = i32::try_from(limit.burst).unwrap_or(i32::MAX);
    let period_ms = i64::try_from(limit.period.as_millis()).unwrap_or(i64::MAX);
    client
        .query_typed(
            "INSERT INTO orgjobs.rate_limits AS r (organization_id, kind, starts, period, burst, tokens)
             VALUES ($1, $2, $3, make_interval(secs => $4::float8 / 1000), $5, $5)
             ON CONFLICT (organization_id, kind) DO UPDATE
                 SET starts = EXCLUDED.starts, period = EXCLUDED.period, burst = EXCLUDED.burst,
                     tokens = least(orgjobs.rate_tokens(r, now()), EXCLUDED.burst),
                     refilled_at = greatest(r.refilled_at, now())",
            &[
                (&limit.organization_id, Type::UUID),
                (&limit.kind, Type::TEXT),
                (&starts, Type::INT4),
                (&period_ms, Type::INT8),
                (&burst, Type::INT4),
            ],
        )
        .await
        .map_err(db("setting the rate limit"))?;
    Ok(())
}

/// Every limit, by organization and kind (the organization-wide one first).
pub async fn list_rate_limits(client: &Client) -> Result<Vec<RateLimitState>, AdminError> {
    let rows = client
        .query_typed(
            "SELECT organization_id, kind, starts, (extract(epoch FROM period) * 1000)::int8, burst,
                    orgjobs.rate_tokens(r, now()), refilled_at
             FROM orgjobs.rate_limits r
             ORDER BY organization_id, kind NULLS FIRST",
            &[],
        )
        .await
        .map_err(db("listing rate limits"))?;
    Ok(rows
        .iter()
        .map(|r| RateLimitState {
            limit: RateLimit {
                organization_id: r.get(0),
                kind: r.get(1),
                starts: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                period: Duration::from_millis(u64::try_from(r.get::<_, i64>(3)).unwrap_or(0)),
                burst: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
            },
            tokens: r.get(5),
            refilled_at: r.get(6),
        })
        .collect())
}

/// Removes a limit; returns whether there was one.
pub async fn remove_rate_limit(
    client: &Client,
    organization_id: Uuid,
    kind: Option<&str>,
) -> Result<bool, AdminError> {
    let rows = client
        .query_typed(
            "DELETE FROM orgjobs.rate_limits
             WHERE organization_id = $1 AND kind IS NOT DISTINCT FROM $2
             RETURNING 1",
            &[(&organization_id, Type::UUID), (&kind, Type::TEXT)],
        )
        .await
        .map_err(db("removing the rate limit"))?;
    Ok(!rows.is_empty())
}
