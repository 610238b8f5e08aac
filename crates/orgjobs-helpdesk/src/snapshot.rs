//! `METRICS_SNAPSHOT`: one row of an organization's support figures,
//! computed from that organization's tickets and agents alone (RLS sees to
//! it: the statement has no organization filter of its own).
//!
//! SLA compliance comes from the organization's SLA policies (per
//! priority; a priority without a policy uses [`DEFAULT_SLA_TARGETS`](crate::DEFAULT_SLA_TARGETS)):
//! among tickets whose outcome is decided — resolved, or a target already
//! missed — the share that met both the first-response and the resolution
//! target. A ticket resolved without a recorded first response counts its
//! resolution as the response.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use orgjobs_queue::{JobError, TenantHandler, TenantTx, TxError};
use serde::Deserialize;
use uuid::Uuid;

use crate::fields::{Priority, Status};
use crate::organizations::DEFAULT_SLA_TARGETS;

/// The kind name.
pub const METRICS_SNAPSHOT: &str = "METRICS_SNAPSHOT";

/// The `METRICS_SNAPSHOT` handler.
pub struct MetricsSnapshot;

/// Its payload: an empty object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotPayload {}

/// $1 the organization; $2..$4 the default targets (priority, minutes to
/// first response, to resolution) for priorities without a policy; $5 every
/// status, $6 every priority, $7 the open statuses (see [`Status`]). Every
/// table is read for $1 alone (RLS allows no other; named, so that on Citus
/// the statement runs on the organization's one shard). Returns the
/// snapshot's columns; [`INSERT_SNAPSHOT_SQL`] stores them (one
/// INSERT … SELECT would be a COPY on Citus, which row-level security
/// refuses).
const SNAPSHOT_SQL: &str = "
WITH t AS (
    SELECT tk.status, tk.priority, tk.assigned_to, tk.created_at,
           extract(epoch FROM tk.first_response_at - tk.created_at)::float8 AS frt,
           extract(epoch FROM tk.resolved_at - tk.created_at)::float8 AS ttr,
           extract(epoch FROM now() - tk.created_at)::float8 AS age,
           coalesce(p.first_response_minutes, d.frt) * 60.0 AS frt_target,
           coalesce(p.resolution_minutes, d.ttr) * 60.0 AS ttr_target
    FROM public.tickets tk
    LEFT JOIN public.sla_policies p
           ON p.organization_id = tk.organization_id AND p.priority = tk.priority
    LEFT JOIN unnest($2::text[], $3::int4[], $4::int4[]) AS d(priority, frt, ttr)
           ON d.priority = tk.priority
    WHERE tk.organization_id = $1
), judged AS (
    SELECT ttr IS NOT NULL AS resolved,
           coalesce(coalesce(frt, ttr) > frt_target, age > frt_target)
           OR coalesce(ttr > ttr_target, age > ttr_target) AS breached
    FROM t
    -- Closed without a resolution time (imported so): outcome unknown.
    WHERE ttr IS NOT NULL OR status = ANY($7::text[])
), sla AS (
    SELECT count(*) FILTER (WHERE resolved AND NOT breached) AS met,
           count(*) FILTER (WHERE resolved OR breached) AS due
    FROM judged
)
SELECT (SELECT jsonb_object_agg(s.status, (SELECT count(*) FROM t WHERE t.status = s.status))
        FROM unnest($5::text[]) AS s(status)),
       (SELECT jsonb_object_agg(p.priority, (SELECT count(*) FROM t WHERE t.priority = p.priority))
        FROM unnest($6::text[]) AS p(priority)),
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY frt) FROM t WHERE frt IS NOT NULL),
       (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY frt) FROM t WHERE frt IS NOT NULL),
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ttr) FROM t WHERE ttr IS NOT NULL),
       (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY ttr) FROM t WHERE ttr IS NOT NULL),
       (SELECT CASE WHEN due > 0 THEN 100.0 * met / due END FROM sla)::float8,
       (SELECT coalesce(jsonb_object_agg(a.id::text,
                   (SELECT count(*) FROM t
                    WHERE t.assigned_to = a.id AND t.status = ANY($7::text[]))), '{}'::jsonb)
        FROM public.agents a WHERE a.organization_id = $1 AND a.active)
";

/// Stores a snapshot: $1 the organization, $2..$9 what [`SNAPSHOT_SQL`]
/// returned, in its order.
const INSERT_SNAPSHOT_SQL: &str = "
INSERT INTO public.metrics_snapshots
    (organization_id, tickets_by_status, tickets_by_priority, frt_p50, frt_p95,
     mttr_p50, mttr_p95, sla_compliance_pct, agent_load)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

impl TenantHandler for MetricsSnapshot {
    const KIND: &'static str = METRICS_SNAPSHOT;
    type Payload = SnapshotPayload;

    async fn run(&self, tx: &mut TenantTx, _: SnapshotPayload) -> Result<(), JobError> {
        // The organization is this transaction's (the policy's WITH CHECK
        // refuses any other).
        let priorities: Vec<&str> = DEFAULT_SLA_TARGETS.iter().map(|t| t.0.as_str()).collect();
        let first: Vec<i32> = DEFAULT_SLA_TARGETS.iter().map(|t| t.1).collect();
        let resolution: Vec<i32> = DEFAULT_SLA_TARGETS.iter().map(|t| t.2).collect();
        let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        let all_priorities: Vec<&str> = Priority::ALL.iter().map(|p| p.as_str()).collect();
        let row = tx
            .query_one(
                SNAPSHOT_SQL,
                &[
                    &tx.org_id(),
                    &priorities,
                    &first,
                    &resolution,
                    &statuses,
                    &all_priorities,
                    &Status::open_names(),
                ],
            )
            .await?;
        let (by_status, by_priority, load): (
            serde_json::Value,
            serde_json::Value,
            serde_json::Value,
        ) = (row.get(0), row.get(1), row.get(7));
        let figures: [Option<f64>; 5] =
            [row.get(2), row.get(3), row.get(4), row.get(5), row.get(6)];
        tx.execute(
            INSERT_SNAPSHOT_SQL,
            &[
                &tx.org_id(),
                &by_status,
                &by_priority,
                &figures[0],
                &figures[1],
                &figures[2],
                &figures[3],
                &figures[4],
                &load,
            ],
        )
        .await?;
        Ok(())
    }
}

/// A stored snapshot, read back.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Snapshot {
    /// Whose.
    pub organization_id: Uuid,
    /// When.
    pub snapshot_ts: DateTime<Utc>,
    /// Tickets by status.
    pub tickets_by_status: BTreeMap<String, i64>,
    /// Tickets by priority.
    pub tickets_by_priority: BTreeMap<String, i64>,
    /// First-response time p50, seconds.
    pub frt_p50: Option<f64>,
    /// First-response time p95, seconds.
    pub frt_p95: Option<f64>,
    /// Time to resolution p50, seconds.
    pub mttr_p50: Option<f64>,
    /// Time to resolution p95, seconds.
    pub mttr_p95: Option<f64>,
    /// SLA compliance, percent.
    pub sla_compliance_pct: Option<f64>,
    /// Open tickets per agent id.
    pub agent_load: BTreeMap<String, i64>,
}

/// The newest snapshot of `tx`'s organization.
pub async fn latest_snapshot(tx: &TenantTx) -> Result<Option<Snapshot>, TxError> {
    let row = tx
        .query_opt(
            "SELECT organization_id, snapshot_ts, tickets_by_status, tickets_by_priority,
                    frt_p50, frt_p95, mttr_p50, mttr_p95, sla_compliance_pct, agent_load
             FROM public.metrics_snapshots WHERE organization_id = $1
             ORDER BY snapshot_ts DESC, id DESC LIMIT 1",
            &[&tx.org_id()],
        )
        .await?;
    Ok(row.map(|r| {
        let map = |v: serde_json::Value| -> BTreeMap<String, i64> {
            serde_json::from_value(v).unwrap_or_default()
        };
        Snapshot {
            organization_id: r.get(0),
            snapshot_ts: r.get(1),
            tickets_by_status: map(r.get(2)),
            tickets_by_priority: map(r.get(3)),
            frt_p50: r.get(4),
            frt_p95: r.get(5),
            mttr_p50: r.get(6),
            mttr_p95: r.get(7),
            sla_compliance_pct: r.get(8),
            agent_load: map(r.get(9)),
        }
    }))
}
