//! The job kinds a worker runs, by name, with their settings (retry
//! policy, timeout, default attempts). The registry erases the handlers'
//! types so that the worker can parse a payload before it opens any
//! transaction, and records the kinds in `orgjobs.kinds`, so that
//! `orgjobs.add_job` refuses unknown ones.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_postgres::types::Type;

use crate::error::DbError;
use crate::handler::{GlobalHandler, JobError, RetryPolicy, Scope, TenantHandler};
use crate::session::{GlobalRole, GlobalTx, TenantTx};

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
    commit: CommitMode,
    org_batch: Option<OrgBatch>,
}

/// Organization batches (opt-in, tenant kinds only): jobs of one kind and
/// one organization, claimed together, run one after another in a single
/// tenant transaction, each inside its own savepoint, and commit once.
///
/// The isolation argument is unchanged: one transaction, one organization,
/// the context set once by the runtime, and each job's completion checks
/// that context and the role before its savepoint is released. A job that
/// fails rolls back to its savepoint alone and is recorded as failed; the
/// others complete in the one commit. What it costs: a slow job delays its
/// batch's commit (so a batch takes no new job after `max_time`, and holds
/// at most `max_jobs`), and anything that fails the transaction itself (its
/// commit, a lost connection, a job that runs past its timeout, whose
/// statement must be cancelled) fails every job of the batch not yet
/// committed, which then runs again (nothing of it committed, so nothing is
/// duplicated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrgBatch {
    /// Most jobs in one transaction.
    pub max_jobs: usize,
    /// No job starts in a batch after this long.
    pub max_time: Duration,
}

impl Default for OrgBatch {
    fn default() -> Self {
        OrgBatch {
            max_jobs: 20,
            max_time: Duration::from_millis(500),
        }
    }
}

impl Kind {
    /// A kind with the default settings.
    fn new(entry: Entry) -> Self {
        Kind {
            entry,
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            commit: CommitMode::Synchronous,
            org_batch: None,
        }
    }
}

/// How a kind's job transactions commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CommitMode {
    /// The commit returns once its WAL is on disk (PostgreSQL's default):
    /// a completed job stays completed through a server crash.
    #[default]
    Synchronous,
    /// `synchronous_commit = off` for the job's transaction: the commit
    /// returns before its WAL is on disk, which saves a disk flush per job.
    /// What it gives up: a server crash (not a worker crash) can lose the
    /// last commits (up to three times `wal_writer_delay`, 600 ms by
    /// default). The job's writes and its completion are in the one
    /// transaction, so they are lost together: the job is still `running`
    /// after recovery, its lease expires and it runs again; its effect
    /// happens once. But anything that saw the lost writes before the crash
    /// (another transaction, an email the handler sent) saw something that
    /// no longer exists. Jobs that never open a transaction are unaffected.
    Asynchronous,
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
        self.kinds.insert(H::KIND, Kind::new(Entry::Tenant(parse)));
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
        self.kinds
            .insert(H::KIND, Kind::new(Entry::Global(parse, H::ROLE)));
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

    /// Sets how the job transactions of `kind` commit (see [`CommitMode`]
    /// for what [`CommitMode::Asynchronous`] gives up).
    pub fn with_commit(self, kind: &str, commit: CommitMode) -> Result<Self, UnknownKind> {
        self.configure(kind, |k| k.commit = commit)
    }

    /// Runs jobs of tenant kind `kind` in organization batches (see
    /// [`OrgBatch`] for what that gives up). Ignored for global kinds.
    pub fn with_org_batch(self, kind: &str, batch: OrgBatch) -> Result<Self, UnknownKind> {
        self.configure(kind, |k| {
            if matches!(k.entry, Entry::Tenant(_)) && batch.max_jobs > 1 {
                k.org_batch = Some(batch);
            }
        })
    }

    /// The organization batches of `kind`, if it has them.
    pub(crate) fn org_batch(&self, kind: &str) -> Option<OrgBatch> {
        self.kinds.get(kind).and_then(|k| k.org_batch)
    }

    /// How the job transactions of `kind` commit (synchronously when it is
    /// not registered).
    pub fn commit_mode(&self, kind: &str) -> CommitMode {
        self.kinds.get(kind).map(|k| k.commit).unwrap_or_default()
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
    use serde_json::Value;

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
}
