//! orgjobs-queue: a PostgreSQL job queue in which every tenant job runs with
//! its organization's context set for that job alone, so that row-level
//! security, not application discipline, keeps organizations apart.
//!
//! The crate owns the `orgjobs` schema (jobs, kinds, `current_org()`,
//! `add_job`, `complete_job`), the roles, the tenant transaction and global
//! session types, the worker, the startup check and the isolation proof.
//!
//! Invariant: nothing here knows about any application's tables. Tenant
//! tables are found through the catalog (any table with `organization_id`).

mod admin;
mod audit;
mod builtin;
mod cancel;
mod catalog;
pub mod citus;
mod clock;
mod databases;
mod db;
mod enqueue;
mod error;
mod handler;
mod health;
mod insight;
mod maintenance;
mod metrics;
mod migrate;
mod pause;
mod periodic;
mod proof;
mod rate_limit;
mod registry;
mod session;
mod sessions;
mod statements;
mod states;
mod strict;
pub mod tls;
mod tokens;
mod worker;

pub use admin::{
    AdminError, BulkAction, CancelOutcome, JobDetail, JobFilter, JobSummary, OrgLoad, QueueStats,
    STATES, cancel_job, cancel_waiting, count_matching, list_jobs, org_load, queue_stats,
    retry_discarded, retry_job, show_job,
};
pub use audit::{Holes, LeakyView, ProbingKey, UnreviewedDefiner, holes};
pub use builtin::{Cleanup, CleanupPayload, MigrationJob, NoPayload, SystemMetrics};
pub use cancel::CancelRoute;
pub use catalog::{
    RoleAttrs, STANDARD_POLICY_EXPR, TenantTable, login_attrs, role_attrs, tenancy_problems,
    tenant_tables,
};
pub use clock::Clock;
pub use databases::{create_database, drop_database};
pub use db::{DbUrl, PoolOptions, ServiceDb, redact_url};
pub use enqueue::{EnqueueError, MAX_PAYLOAD_BYTES, NewJob, enqueue, validate};
pub use error::{DbError, PgErr};
pub use handler::{GlobalHandler, JobError, RetryPolicy, Scope, TenantHandler};
pub use health::{Health, HealthState};
pub use insight::{
    Count, DeadLetterGroup, EXACT_STATES, EXACT_UP_TO, KindCounts, MinutePoint, OrgActivity,
    Overview, WorkerInfo, dead_letters, history, kinds, org_activity, overview, workers,
};
pub use metrics::Metrics;
pub use migrate::{
    MigrateError, Migration, QUEUE_CITUS_MIGRATIONS, QUEUE_MIGRATIONS, apply_pending, ensure_roles,
    migrate,
};
pub use pause::{Pause, list_pauses, pause, resume};
pub use periodic::{Periodic, PeriodicError};
pub use proof::{Check, CheckStatus, run_proof};
pub use rate_limit::{
    RateLimit, RateLimitState, list_rate_limits, remove_rate_limit, set_rate_limit,
};
pub use registry::{
    CommitMode, DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT, OrgBatch, PayloadError, Registry,
    UnknownKind,
};
pub use session::{
    ContextMode, GlobalRole, GlobalTx, SET_TENANT_CONTEXT, ScopedTx, SessionConfig, TenantTx,
    TxError, set_tenant_context,
};
pub use sessions::{
    Action, NewSession, Session, create_session, end_session, find_session, recent_actions,
    record_action,
};
pub use statements::StatementMode;
pub use states::{FINISHED_STATES, WAITING_STATES};
pub use strict::{PathTried, StrictStatus, rescoping_paths, set_strict, strict_status};
pub use tokens::{
    AuthError, NewToken, Principal, TokenInfo, TokenRole, authenticate, create_token, list_tokens,
    record_token_uses, revoke_token,
};
pub use worker::{
    CLAIM_FAIR_SQL, CLAIM_LOCK_CLASS, CLAIM_SQL, NOTIFY_CHANNEL, Outcome, RunSummary, Worker,
    WorkerConfig, WorkerError, check_tenancy, default_worker_id,
};

/// The background services of a worker, each with a `run_once` that does
/// one round and returns what it did. A worker runs them itself; build them
/// from a [`ServiceDb`] to drive them directly — in tests, with a stubbed
/// [`Clock`] instead of waiting, or from a maintenance process of your own.
pub mod services {
    pub use crate::maintenance::{
        Leader, MAINTENANCE, PeriodicEnqueuer, PeriodicReport, RescueReport, Rescuer,
    };
    pub use crate::worker::{BatchCompleter, LeaseReport, Leases};
}

/// Re-exported for the pooled connection type.
pub use deadpool_postgres;
/// Re-exported so that handlers can name row and parameter types.
pub use tokio_postgres;
