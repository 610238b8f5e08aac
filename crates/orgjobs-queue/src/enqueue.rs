//! Enqueueing from Rust, checked against the registry before anything
//! reaches the database, and usable inside the caller's own transaction.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::error::DbError;
use crate::handler::Scope;
use crate::registry::Registry;

/// Largest accepted payload, in bytes of its JSON text (also enforced by
/// `orgjobs.add_job`).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// The kind; must be registered.
    pub kind: String,
    /// Required for tenant kinds, absent for global ones.
    pub organization_id: Option<Uuid>,
    /// A JSON object that parses as the kind's payload.
    pub payload: Value,
    /// Earliest start; now when absent.
    pub run_at: Option<DateTime<Utc>>,
    /// Lower runs first; default 0.
    pub priority: i16,
    /// Attempts before the job is discarded; the kind's default when absent.
    pub max_attempts: Option<i32>,
    /// At most one waiting job per organization has this key: enqueueing
    /// again while one waits returns the waiting job's id.
    pub unique_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` with an empty payload and default options.
    pub fn new(kind: impl Into<String>) -> Self {
        NewJob {
            kind: kind.into(),
            organization_id: None,
            payload: Value::Object(Default::default()),
            run_at: None,
            priority: 0,
            max_attempts: None,
            unique_key: None,
        }
    }

    /// Sets the organization.
    pub fn org(mut self, org: Uuid) -> Self {
        self.organization_id = Some(org);
        self
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }
}

/// Why a job was not enqueued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The kind is not registered.
    #[error("unknown job kind {kind}; known kinds: {known}")]
    UnknownKind {
        /// The kind given.
        kind: String,
        /// The registered kinds.
        known: String,
    },
    /// A tenant kind without an organization.
    #[error(
        "organization context missing for {0}: tenant job kinds need an organization (--org UUID)"
    )]
    MissingOrganization(String),
    /// A global kind with an organization.
    #[error("{0} is a global job kind and takes no organization")]
    UnexpectedOrganization(String),
    /// The payload is not a JSON object, too large, or does not fit the kind.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// `max_attempts` below 1.
    #[error("max_attempts must be at least 1, got {0}")]
    InvalidMaxAttempts(i32),
    /// The database refused.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Checks `job` against `registry` without touching the database.
pub fn validate(registry: &Registry, job: &NewJob) -> Result<(), EnqueueError> {
    let scope = registry
        .scope(&job.kind)
        .ok_or_else(|| EnqueueError::UnknownKind {
            kind: job.kind.clone(),
            known: registry.kind_list(),
        })?;
    match (scope, job.organization_id) {
        (Scope::Tenant, None) => return Err(EnqueueError::MissingOrganization(job.kind.clone())),
        (Scope::Global, Some(_)) => {
            return Err(EnqueueError::UnexpectedOrganization(job.kind.clone()));
        }
        _ => {}
    }
    if !job.payload.is_object() {
        return Err(EnqueueError::InvalidPayload(format!(
            "expected a JSON object, got {}",
            json_type(&job.payload)
        )));
    }
    let size = job.payload.to_string().len();
    if size > MAX_PAYLOAD_BYTES {
        return Err(EnqueueError::InvalidPayload(format!(
            "{size} bytes; the limit is {MAX_PAYLOAD_BYTES}"
        )));
    }
    registry
        .check_payload(&job.kind, &job.payload)
        .map_err(|e| EnqueueError::InvalidPayload(e.to_string()))?;
    if let Some(n) = job.max_attempts {
        if n < 1 {
            return Err(EnqueueError::InvalidMaxAttempts(n));
        }
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Validates `job` and enqueues it through `orgjobs.add_job` on `client`,
/// which may be a transaction of the caller's: the job then exists if and
/// only if that transaction commits. Returns the job id (with a
/// `unique_key`, the waiting job's id when one already waits).
///
/// Transactional enqueue, in the caller's own transaction:
///
/// ```no_run
/// # async fn example(client: &mut orgjobs_queue::tokio_postgres::Client,
/// #                  registry: &orgjobs_queue::Registry,
/// #                  org: uuid::Uuid) -> Result<(), Box<dyn std::error::Error>> {
/// use orgjobs_queue::{NewJob, enqueue};
///
/// let tx = client.transaction().await?;
/// // ... the caller's own writes ...
/// let job = NewJob {
///     unique_key: Some("METRICS_SNAPSHOT".into()),
///     ..NewJob::new("METRICS_SNAPSHOT").org(org)
/// };
/// let id = enqueue(&tx, registry, &job).await?;
/// tx.commit().await?; // the job exists from here on; a rollback would remove it
/// # let _ = id;
/// # Ok(())
/// # }
/// ```
pub async fn enqueue<C: GenericClient>(
    client: &C,
    registry: &Registry,
    job: &NewJob,
) -> Result<i64, EnqueueError> {
    validate(registry, job)?;
    // $1 kind, $2 organization (NULL for global), $3 payload, $4 run_at
    // (NULL: now), $5 priority, $6 max_attempts (NULL: the kind's default),
    // $7 unique_key. Sent unnamed with its types: one round trip, and safe
    // behind a transaction-pooling PgBouncer.
    let priority = i32::from(job.priority);
    let rows = client
        .query_typed(
            "SELECT orgjobs.add_job($1, $2, $3, $4, $5, $6, $7)",
            &[
                (&job.kind, Type::TEXT),
                (&job.organization_id, Type::UUID),
                (&job.payload, Type::JSONB),
                (&job.run_at, Type::TIMESTAMPTZ),
                (&priority, Type::INT4),
                (&job.max_attempts, Type::INT4),
                (&job.unique_key, Type::TEXT),
            ],
        )
        .await
        .map_err(|e| EnqueueError::Db(DbError::query("enqueueing the job", e)))?;
    rows.first()
        .map(|r| r.get(0))
        .ok_or_else(|| EnqueueError::InvalidPayload("orgjobs.add_job returned no id".to_owned()))
}
