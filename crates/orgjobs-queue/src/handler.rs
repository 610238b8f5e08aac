//! Job kinds and their handlers, and the registry the worker dispatches by.
//!
//! A tenant handler declares its kind and payload type and receives
//! `&mut TenantTx`; a global handler receives `&mut GlobalTx`. The
//! registry erases the types so that the worker can parse a payload before it
//! opens any transaction.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use tokio_postgres::types::Type;

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

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A tenant job with its payload parsed, ready to run.
pub(crate) trait PreparedTenant: Send {
    fn run<'a>(self: Box<Self>, tx: &'a mut TenantTx) -> BoxFuture<'a, Result<(), JobError>>;
}

/// A global job with its payload parsed, ready to run.
pub(crate) trait PreparedGlobal: Send {
    fn run<'a>(self: Box<Self>, s: &'a mut GlobalTx) -> BoxFuture<'a, Result<(), JobError>>;
}

struct Tenant<H: TenantHandler> {
    handler: Arc<H>,
    payload: H::Payload,
}

impl<H: TenantHandler> PreparedTenant for Tenant<H> {
    fn run<'a>(self: Box<Self>, tx: &'a mut TenantTx) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move { self.handler.run(tx, self.payload).await })
    }
}

struct Global<H: GlobalHandler> {
    handler: Arc<H>,
    payload: H::Payload,
}

impl<H: GlobalHandler> PreparedGlobal for Global<H> {
    fn run<'a>(self: Box<Self>, s: &'a mut GlobalTx) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move { self.handler.run(s, self.payload).await })
    }
}

type TenantParser =
    Box<dyn Fn(Value) -> Result<Box<dyn PreparedTenant>, serde_json::Error> + Send + Sync>;
type GlobalParser =
    Box<dyn Fn(Value) -> Result<Box<dyn PreparedGlobal>, serde_json::Error> + Send + Sync>;

pub(crate) enum Entry {
    Tenant(TenantParser),
    Global(GlobalParser, GlobalRole),
}

struct Kind {
    entry: Entry,
    retry: RetryPolicy,
    timeout: Duration,
    max_attempts: i32,
}

/// How long a job may run when its kind sets no timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Attempts before discarding, when neither the job nor its kind says.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// The job kinds a worker can run, by name.
#[derive(Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Kind>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.kinds.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A setting named a kind that is not registered.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot configure job kind {kind}: it is not registered (registered kinds: {known}); register its handler first"
)]
pub struct UnknownKind {
    /// The kind asked for.
    pub kind: String,
    /// The kinds registered, joined with ", ".
    pub known: String,
}

/// The payload of a job does not fit its kind.
#[derive(Debug, thiserror::Error)]
#[error("payload for {kind} does not parse: {reason}")]
pub struct PayloadError {
    /// The kind.
    pub kind: String,
    /// What serde said.
    pub reason: String,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tenant kind.
    pub fn tenant<H: TenantHandler>(mut self, handler: H) -> Self {
        let handler = Arc::new(handler);
        let parse: TenantParser = Box::new(move |v| {
            let payload = serde_json::from_value::<H::Payload>(v)?;
            Ok(Box::new(Tenant {
                handler: handler.clone(),
                payload,
            }) as Box<dyn PreparedTenant>)
        });
        self.kinds.insert(
            H::KIND,
            Kind {
                entry: Entry::Tenant(parse),
                retry: RetryPolicy::default(),
                timeout: DEFAULT_TIMEOUT,
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            },
        );
        self
    }

    /// Adds a global kind.
    pub fn global<H: GlobalHandler>(mut self, handler: H) -> Self {
        let handler = Arc::new(handler);
        let parse: GlobalParser = Box::new(move |v| {
            let payload = serde_json::from_value::<H::Payload>(v)?;
            Ok(Box::new(Global {
                handler: handler.clone(),
                payload,
            }) as Box<dyn PreparedGlobal>)
        });
        self.kinds.insert(
            H::KIND,
            Kind {
                entry: Entry::Global(parse, H::ROLE),
                retry: RetryPolicy::default(),
                timeout: DEFAULT_TIMEOUT,
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            },
        );
        self
    }

    /// Sets the retry policy of a registered kind.
    pub fn with_retry(self, kind: &str, policy: RetryPolicy) -> Result<Self, UnknownKind> {
        self.configure(kind, |k| k.retry = policy)
    }

    /// Sets how long a job of `kind` may run before it is cancelled, rolled
    /// back and failed (retried or discarded like any failure).
    pub fn with_timeout(self, kind: &str, timeout: Duration) -> Result<Self, UnknownKind> {
        self.configure(kind, |k| k.timeout = timeout)
    }

    /// Sets the default `max_attempts` of `kind` (a job's own setting wins).
    pub fn with_max_attempts(self, kind: &str, max_attempts: i32) -> Result<Self, UnknownKind> {
        self.configure(kind, |k| k.max_attempts = max_attempts.max(1))
    }

    /// Applies `f` to the settings of `kind`, or says that no such kind is
    /// registered (a typo would otherwise leave the defaults in force
    /// unnoticed).
    fn configure(mut self, kind: &str, f: impl FnOnce(&mut Kind)) -> Result<Self, UnknownKind> {
        match self.kinds.get_mut(kind) {
            Some(k) => {
                f(k);
                Ok(self)
            }
            None => Err(UnknownKind {
                kind: kind.to_owned(),
                known: self.kind_list(),
            }),
        }
    }

    /// The scope of `kind`, or `None` when it is not registered.
    pub fn scope(&self, kind: &str) -> Option<Scope> {
        self.kinds.get(kind).map(|k| match k.entry {
            Entry::Tenant(_) => Scope::Tenant,
            Entry::Global(..) => Scope::Global,
        })
    }

    /// Registered kinds, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = (&'static str, Scope)> + '_ {
        self.kinds.iter().map(|(k, v)| {
            (
                *k,
                match v.entry {
                    Entry::Tenant(_) => Scope::Tenant,
                    Entry::Global(..) => Scope::Global,
                },
            )
        })
    }

    /// Registered kind names joined with ", " (for error messages).
    pub fn kind_list(&self) -> String {
        self.kinds.keys().copied().collect::<Vec<_>>().join(", ")
    }

    /// Checks that `payload` parses as `kind`'s payload.
    pub fn check_payload(&self, kind: &str, payload: &Value) -> Result<(), PayloadError> {
        let err = |e: serde_json::Error| PayloadError {
            kind: kind.to_owned(),
            reason: e.to_string(),
        };
        match self.kinds.get(kind).map(|k| &k.entry) {
            Some(Entry::Tenant(parse)) => parse(payload.clone()).map(drop).map_err(err),
            Some(Entry::Global(parse, _)) => parse(payload.clone()).map(drop).map_err(err),
            None => Ok(()),
        }
    }

    pub(crate) fn entry(&self, kind: &str) -> Option<(&Entry, &RetryPolicy, Duration)> {
        self.kinds
            .get(kind)
            .map(|k| (&k.entry, &k.retry, k.timeout))
    }

    /// Records the registered kinds in `orgjobs.kinds`, so that
    /// `orgjobs.add_job` can refuse unknown kinds and tenant kinds without an
    /// organization.
    pub async fn register_kinds(&self, client: &tokio_postgres::Client) -> Result<(), DbError> {
        let mut names = Vec::new();
        let mut scopes = Vec::new();
        let mut attempts = Vec::new();
        for (name, kind) in &self.kinds {
            names.push(*name);
            scopes.push(match kind.entry {
                Entry::Tenant(_) => "tenant",
                Entry::Global(..) => "global",
            });
            attempts.push(kind.max_attempts);
        }
        // $1: kind names, $2: their scopes, $3: their default max_attempts,
        // element by element. Unchanged rows are not rewritten.
        client
            .query_typed(
                "INSERT INTO orgjobs.kinds (kind, scope, max_attempts)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int4[])
                 ON CONFLICT (kind) DO UPDATE
                     SET scope = EXCLUDED.scope, max_attempts = EXCLUDED.max_attempts
                 WHERE (orgjobs.kinds.scope, orgjobs.kinds.max_attempts)
                       IS DISTINCT FROM (EXCLUDED.scope, EXCLUDED.max_attempts)",
                &[
                    (&names, Type::TEXT_ARRAY),
                    (&scopes, Type::TEXT_ARRAY),
                    (&attempts, Type::INT4_ARRAY),
                ],
            )
            .await
            .map_err(|e| DbError::query("registering job kinds", e))?;
        Ok(())
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
    fn settings_for_an_unknown_kind_are_an_error() {
        struct Noop;
        impl TenantHandler for Noop {
            const KIND: &'static str = "NOOP";
            type Payload = Value;
            async fn run(&self, _: &mut TenantTx, _: Value) -> Result<(), JobError> {
                Ok(())
            }
        }
        let reg = Registry::new().tenant(Noop);
        let reg = reg
            .with_timeout("NOOP", Duration::from_secs(1))
            .expect("known kind");
        let err = reg
            .with_retry("NOPE", RetryPolicy::default())
            .expect_err("unknown kind");
        assert_eq!(err.kind, "NOPE");
        assert!(err.to_string().contains("registered kinds: NOOP"), "{err}");
    }

    #[test]
    fn classifies_sqlstates() {
        assert!(!JobError::from_code(Some("42501"), "rls".into()).is_retryable());
        assert!(!JobError::from_code(Some("22P02"), "uuid".into()).is_retryable());
        assert!(JobError::from_code(Some("40001"), "serialization".into()).is_retryable());
        assert!(JobError::from_code(None, "connection closed".into()).is_retryable());
    }
}
