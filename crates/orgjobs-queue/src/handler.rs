//! Job kinds and their handlers: a tenant handler declares its kind and
//! payload type and receives `&mut TenantTx`; a global handler receives
//! `&mut GlobalTx`. What a handler's error asks of the worker (retry or
//! discard), and the backoff between attempts. The registry the worker
//! dispatches by is `crate::registry`.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::error::{DbError, PgErr};
use crate::session::{GlobalRole, GlobalTx, TenantTx, TxError};

/// What went wrong in a handler, and what the worker should do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// Worth another attempt after a backoff (until `max_attempts`).
    #[error("{0}")]
    Retry(String),
    /// Will fail the same way every time: discard the job now.
    #[error("{0}")]
    Discard(String),
}

impl JobError {
    /// A failure worth retrying.
    pub fn retry(msg: impl fmt::Display) -> Self {
        JobError::Retry(msg.to_string())
    }

    /// A failure that retrying cannot fix.
    pub fn discard(msg: impl fmt::Display) -> Self {
        JobError::Discard(msg.to_string())
    }

    /// Whether the worker should schedule another attempt.
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Retry(_))
    }

    /// The message recorded on the job.
    pub fn message(&self) -> &str {
        match self {
            JobError::Retry(m) | JobError::Discard(m) => m,
        }
    }

    /// Classifies a server error by SQLSTATE: syntax and access errors
    /// (class 42, including RLS violations 42501) and data exceptions (class
    /// 22) fail the same way on every attempt; everything else (connection
    /// loss, serialization failures 40001, deadlocks 40P01, ...) is retried.
    fn from_code(code: Option<&str>, msg: String) -> Self {
        match code {
            Some(c) if c.starts_with("42") || c.starts_with("22") => JobError::Discard(msg),
            _ => JobError::Retry(msg),
        }
    }
}

impl From<TxError> for JobError {
    fn from(e: TxError) -> Self {
        match &e {
            TxError::Refused(_) => JobError::Discard(e.to_string()),
            TxError::Begin(_) => JobError::Retry(e.to_string()),
            TxError::Db(db) => {
                JobError::from_code(db.code().map(|c| c.code()), PgErr(db).to_string())
            }
        }
    }
}

impl From<tokio_postgres::Error> for JobError {
    fn from(e: tokio_postgres::Error) -> Self {
        JobError::from(TxError::Db(e))
    }
}

impl From<DbError> for JobError {
    fn from(e: DbError) -> Self {
        let code = e.code().map(str::to_owned);
        JobError::from_code(code.as_deref(), e.to_string())
    }
}

/// A job kind that runs inside one organization's context.
///
/// ```
/// use orgjobs_queue::{JobError, TenantHandler, TenantTx};
///
/// struct CountTickets;
///
/// #[derive(serde::Deserialize)]
/// struct Payload {}
///
/// impl TenantHandler for CountTickets {
///     const KIND: &'static str = "COUNT_TICKETS";
///     type Payload = Payload;
///     async fn run(&self, tx: &mut TenantTx, _p: Payload) -> Result<(), JobError> {
///         tx.query_one("SELECT count(*) FROM tickets", &[]).await?;
///         Ok(())
///     }
/// }
/// ```
pub trait TenantHandler: Send + Sync + 'static {
    /// The job kind, e.g. `TRIAGE_TICKET`.
    const KIND: &'static str;
    /// The payload, parsed from the job's JSON object before any transaction
    /// begins; a payload that does not parse discards the job.
    type Payload: DeserializeOwned + Send + 'static;
    /// Does the work. Everything it writes commits only with the job's
    /// completion.
    fn run(
        &self,
        tx: &mut TenantTx,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// A job kind that runs without an organization, in a [`GlobalTx`].
pub trait GlobalHandler: Send + Sync + 'static {
    /// The job kind, e.g. `CLEANUP`.
    const KIND: &'static str;
    /// The role the session runs as.
    const ROLE: GlobalRole = GlobalRole::Global;
    /// The payload type.
    type Payload: DeserializeOwned + Send + 'static;
    /// Does the work.
    fn run(
        &self,
        session: &mut GlobalTx,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// Whether a kind runs with an organization's context or globally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Needs `organization_id`; runs in a [`TenantTx`].
    Tenant,
    /// Takes no organization; runs in a [`GlobalTx`].
    Global,
}

impl Scope {
    /// `tenant` or `global`, as stored in `orgjobs.kinds`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Tenant => "tenant",
            Scope::Global => "global",
        }
    }
}

/// Exponential backoff with jitter: attempt n waits about
/// `base * 2^(n-1)`, capped at `max`, spread by ±`jitter`.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt.
    pub base: Duration,
    /// Upper bound on any wait.
    pub max: Duration,
    /// Fraction of the wait randomly added or removed (0.0 to 1.0).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(3600),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The wait before the attempt after `attempt` (1-based) failed.
    pub fn delay(&self, attempt: i32) -> Duration {
        let exp = attempt.saturating_sub(1).clamp(0, 30) as u32;
        let raw = self.base.as_secs_f64() * f64::from(2u32.saturating_pow(exp));
        let capped = raw.min(self.max.as_secs_f64());
        let spread = self.jitter.clamp(0.0, 1.0) * capped;
        let offset = if spread > 0.0 {
            rand::random_range(-spread..=spread)
        } else {
            0.0
        };
        Duration::from_secs_f64((capped + offset).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
            jitter: 0.0,
        };
        assert_eq!(p.delay(1), Duration::from_secs(2));
        assert_eq!(p.delay(2), Duration::from_secs(4));
        assert_eq!(p.delay(3), Duration::from_secs(8));
        assert_eq!(p.delay(10), Duration::from_secs(60));
        assert_eq!(p.delay(1000), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let p = RetryPolicy::default();
        for _ in 0..1000 {
            let d = p.delay(3).as_secs_f64();
            assert!((6.4..=9.6).contains(&d), "{d}");
        }
    }

    #[test]
    fn classifies_sqlstates() {
        assert!(!JobError::from_code(Some("42501"), "rls".into()).is_retryable());
        assert!(!JobError::from_code(Some("22P02"), "uuid".into()).is_retryable());
        assert!(JobError::from_code(Some("40001"), "serialization".into()).is_retryable());
        assert!(JobError::from_code(None, "connection closed".into()).is_retryable());
    }
}
