//! The two ways a job reaches the database: [`TenantTx`] for one
//! organization's work and [`GlobalTx`] for system work.
//!
//! Both own a pooled connection with an open transaction whose first
//! statement switches the role and sets (or clears) `app.current_org`, bound as
//! parameters and sent in the same network flight as `BEGIN`. Both settings
//! are transaction-local, so they end with the transaction, whatever ends it.
//!
//! Invariants:
//! - a tenant handler gets `&mut TenantTx` and nothing else that reaches the
//!   database; it cannot commit, roll back, or take the connection out;
//! - statements that would end the transaction or change the session's role
//!   or settings (`COMMIT`, `ROLLBACK`, `SET`, `RESET`, ...) are refused, so a
//!   handler cannot fall out of its context by accident (hostile SQL with a
//!   superuser login can still `RESET ROLE`: production logs in as
//!   `orgjobs_worker`, see the README);
//! - a transaction that is dropped unfinished takes its connection with it
//!   (the server rolls back when the connection closes), so an unfinished
//!   context can never be handed to the next job.

mod guard;
mod scoped;

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use deadpool_postgres::{Object, Pool};
use tokio_postgres::Client;
use uuid::Uuid;

pub use scoped::ScopedTx;

use crate::error::{DbError, PgErr};
use crate::registry::CommitMode;
use crate::statements::StatementMode;

/// How job transactions are opened: the role names (the defaults are the
/// contract, `orgjobs_tenant` and `orgjobs_global`; the migrations grant to
/// these names) and how statements are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Role every tenant transaction switches to.
    pub tenant_role: String,
    /// Role every global transaction switches to.
    pub global_role: String,
    /// Statement caching; [`StatementMode::Unnamed`] behind a
    /// transaction-pooling PgBouncer.
    pub statements: StatementMode,
    /// How the organization context is set: [`ContextMode::detect`] chooses
    /// for a database.
    pub context: ContextMode,
}

/// How a tenant transaction sets its organization context. Both are
/// transaction-local; they differ in whether the value reaches the other
/// nodes of a Citus cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContextMode {
    /// `set_config('app.current_org', $2, true)` with the value bound as a
    /// parameter: one statement, in the flight of `BEGIN`. A single server.
    #[default]
    Local,
    /// On a Citus coordinator: `citus.propagate_set_commands = 'local'`, then
    /// `SET LOCAL app.current_org = '…'`, which Citus replays on every worker
    /// connection of the transaction (`set_config` is not propagated: the
    /// workers would see no context and the tenant no rows). `SET` has no
    /// parameter form, so the value is formatted into the statement — only
    /// ever from a [`Uuid`], whose text form is hex digits and dashes.
    Propagated,
}

impl ContextMode {
    /// The mode for the database `client` is connected to: [`Propagated`]
    /// when the `citus` extension is installed in it, [`Local`] otherwise.
    /// Every process that opens tenant transactions calls this once at
    /// start (a wrong choice fails closed: `Local` on Citus shows a tenant
    /// no distributed rows at all).
    ///
    /// [`Propagated`]: ContextMode::Propagated
    /// [`Local`]: ContextMode::Local
    pub async fn detect(client: &Client) -> Result<ContextMode, DbError> {
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus')",
                &[],
            )
            .await
            .map_err(|e| DbError::query("looking for the citus extension", e))?;
        Ok(if row.get::<_, bool>(0) {
            ContextMode::Propagated
        } else {
            ContextMode::Local
        })
    }
}

impl SessionConfig {
    /// This configuration with the context mode detected for the database
    /// `client` is connected to ([`ContextMode::detect`]).
    pub async fn detected(mut self, client: &Client) -> Result<Self, DbError> {
        self.context = ContextMode::detect(client).await?;
        Ok(self)
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            tenant_role: "orgjobs_tenant".to_owned(),
            global_role: "orgjobs_global".to_owned(),
            statements: StatementMode::Cached,
            context: ContextMode::Local,
        }
    }
}

/// Errors from statements run through a tenant transaction or global transaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The server rejected the statement.
    #[error("{}", PgErr(.0))]
    Db(#[from] tokio_postgres::Error),
    /// The transaction could not begin (no connection, or the context
    /// statement failed).
    #[error("cannot begin the job transaction: {0}")]
    Begin(String),
    /// The statement would leave or alter the transaction's context.
    #[error(
        "statement refused: {0} is not allowed inside a job transaction (the runtime owns the transaction and its context)"
    )]
    Refused(String),
}

impl TxError {
    /// The SQLSTATE, when the server rejected the statement.
    pub fn code(&self) -> Option<&str> {
        match self {
            TxError::Db(e) => e.code().map(|c| c.code()),
            TxError::Refused(_) | TxError::Begin(_) => None,
        }
    }
}

/// SQL run first in every tenant transaction. $1: the tenant role's name,
/// $2: the organization id as text. Both settings are transaction-local.
/// The proof and the strict-mode probes run this same statement.
pub const SET_TENANT_CONTEXT: &str = "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('app.current_org', $2, true)";

/// [`SET_TENANT_CONTEXT`] for kinds with asynchronous commit: the
/// transaction also commits without waiting for its WAL to reach disk.
const SET_TENANT_CONTEXT_ASYNC: &str = "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('app.current_org', $2, true), pg_catalog.set_config('synchronous_commit', 'off', true)";

/// [`SET_GLOBAL_CONTEXT`] for kinds with asynchronous commit.
const SET_GLOBAL_CONTEXT_ASYNC: &str = "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('app.current_org', '', true), pg_catalog.set_config('synchronous_commit', 'off', true)";

/// The first statement of a tenant transaction on Citus ($1: the tenant
/// role): the role, and propagation of the `SET LOCAL` that follows it
/// ([`propagated_context`]) to the worker nodes.
const SET_TENANT_ROLE_PROPAGATING: &str = "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('citus.propagate_set_commands', 'local', true)";

/// [`SET_TENANT_ROLE_PROPAGATING`] for kinds with asynchronous commit.
const SET_TENANT_ROLE_PROPAGATING_ASYNC: &str = "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('citus.propagate_set_commands', 'local', true), pg_catalog.set_config('synchronous_commit', 'off', true)";

/// The statements that set `org` as the context on Citus, after
/// [`SET_TENANT_ROLE_PROPAGATING`]: the `SET LOCAL`, then
/// [`COMMIT_ATOMICALLY`], each sent alone (Citus replays the whole query
/// string of a propagated `SET` on the workers). `SET` takes no parameters:
/// the value is the text of a typed [`Uuid`] (hex digits and dashes),
/// nothing else.
fn propagated_context(org: Uuid) -> Vec<String> {
    vec![
        format!("SET LOCAL app.current_org = '{}'", org.hyphenated()),
        COMMIT_ATOMICALLY.to_owned(),
    ]
}

/// On Citus, makes the transaction commit with two-phase commit whenever it
/// writes on a worker node, so that the organization's rows there and the
/// queue's rows on the coordinator (a job's completion, new jobs) commit
/// together (migration `orgjobs/citus/0001_atomic_commit`).
const COMMIT_ATOMICALLY: &str = "SELECT orgjobs.commit_atomically()";

/// How a job transaction begins: the first statement with its text
/// parameters, and, on Citus, the statements sent after it in the same
/// flight, each as a query of its own.
pub(crate) struct ContextStatements {
    pub(crate) first: &'static str,
    pub(crate) params: Vec<String>,
    pub(crate) then: Vec<String>,
}

/// The one place that chooses how a tenant context is set, for the
/// transactions of the worker, the API and the proof alike.
pub(crate) fn tenant_context(
    org: Uuid,
    roles: &SessionConfig,
    commit: CommitMode,
) -> ContextStatements {
    match (roles.context, commit) {
        (ContextMode::Local, CommitMode::Synchronous) => ContextStatements {
            first: SET_TENANT_CONTEXT,
            params: vec![roles.tenant_role.clone(), org.to_string()],
            then: Vec::new(),
        },
        (ContextMode::Local, CommitMode::Asynchronous) => ContextStatements {
            first: SET_TENANT_CONTEXT_ASYNC,
            params: vec![roles.tenant_role.clone(), org.to_string()],
            then: Vec::new(),
        },
        (ContextMode::Propagated, commit) => ContextStatements {
            first: match commit {
                CommitMode::Synchronous => SET_TENANT_ROLE_PROPAGATING,
                CommitMode::Asynchronous => SET_TENANT_ROLE_PROPAGATING_ASYNC,
            },
            params: vec![roles.tenant_role.clone()],
            then: propagated_context(org),
        },
    }
}

/// Switches the open transaction on `client` to the tenant role with
/// `org`'s context, with the statements a [`TenantTx`] begins with (so the
/// proof and the strict-mode probes test the runtime's own path). `None`:
/// the tenant role with an empty context.
pub async fn set_tenant_context(
    client: &Client,
    roles: &SessionConfig,
    org: Option<Uuid>,
) -> Result<(), tokio_postgres::Error> {
    match org {
        Some(org) => {
            let c = tenant_context(org, roles, CommitMode::Synchronous);
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = c
                .params
                .iter()
                .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            client.query(c.first, &params).await?;
            for then in &c.then {
                client.batch_execute(then).await?;
            }
        }
        None => {
            client
                .query(SET_TENANT_CONTEXT, &[&roles.tenant_role, &""])
                .await?;
        }
    }
    Ok(())
}

/// SQL run first in every global transaction. $1: the role ('none' for the
/// login role). The organization context is explicitly empty.
const SET_GLOBAL_CONTEXT: &str = "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('app.current_org', '', true)";

/// What a tenant and a global transaction share: the query surface (by
/// `Deref` to [`ScopedTx`]), commit and rollback for code outside the worker
/// that opens its own, and the runtime's hooks.
macro_rules! job_transaction {
    ($t:ident) => {
        impl $t {
            /// Commits, returning the connection (for code outside the
            /// worker that opens its own transactions).
            pub async fn commit(self) -> Result<Object, DbError> {
                self.inner.commit().await
            }

            /// Rolls back, returning the connection.
            pub async fn rollback(self) -> Result<Object, DbError> {
                self.inner.rollback().await?.ok_or_else(|| DbError::State {
                    what: "rolling back the transaction",
                    reason: "it never began".to_owned(),
                })
            }

            pub(crate) fn into_scoped(self) -> ScopedTx {
                self.inner
            }

            pub(crate) fn set_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
                self.inner.set_cancel_flag(flag);
            }
        }

        impl Deref for $t {
            type Target = ScopedTx;
            fn deref(&self) -> &ScopedTx {
                &self.inner
            }
        }
    };
}

/// A transaction that runs as the tenant role with one organization's
/// context. Row-level security limits every statement to that organization.
///
/// Handlers receive `&mut TenantTx`; the runtime begins it, completes the job
/// inside it and commits, so a handler's writes and its job's completion
/// commit or roll back together.
///
/// A tenant handler cannot reach a pool, its connection or a global
/// transaction through it, nor commit it: `tests/compile_fail/` holds each
/// attempt, and `tests/isolation_types.rs` checks that each fails to compile
/// with exactly the expected error (no method `into_global`, private field
/// `inner`, `commit` needs the transaction by value).
pub struct TenantTx {
    inner: ScopedTx,
    org: Uuid,
    context: ContextMode,
}

job_transaction!(TenantTx);

impl TenantTx {
    /// Begins a tenant transaction for `org` on `conn`, as `roles.tenant_role`.
    /// The organization is a typed [`Uuid`]: a string that is not one cannot
    /// reach the database.
    pub async fn begin(conn: Object, org: Uuid, roles: &SessionConfig) -> Result<Self, DbError> {
        let inner = ScopedTx::begin(
            conn,
            roles.statements,
            tenant_context(org, roles, CommitMode::Synchronous),
        )
        .await?;
        Ok(TenantTx {
            inner,
            org,
            context: roles.context,
        })
    }

    /// A tenant transaction that begins on its first statement, with a
    /// connection from `pool`.
    pub(crate) fn lazy(pool: Pool, org: Uuid, roles: &SessionConfig, commit: CommitMode) -> Self {
        let inner = ScopedTx::lazy(pool, roles.statements, tenant_context(org, roles, commit));
        TenantTx {
            inner,
            org,
            context: roles.context,
        }
    }

    /// The organization whose context this transaction has.
    pub fn org_id(&self) -> Uuid {
        self.org
    }

    /// How its context was set: [`ContextMode::Propagated`] on a Citus
    /// cluster, where the application enqueues what single-server triggers
    /// would (a trigger on a distributed table runs on a worker node, which
    /// cannot reach the queue on the coordinator).
    pub fn context_mode(&self) -> ContextMode {
        self.context
    }

    /// Enqueues a job for this same organization, inside this transaction:
    /// it exists only if the transaction commits. Returns the job id.
    pub async fn enqueue(&self, kind: &str, payload: &serde_json::Value) -> Result<i64, TxError> {
        // $1 kind, $2 this organization, $3 payload; add_job refuses any
        // other organization while a context is set.
        let row = self
            .inner
            .query_one(
                "SELECT orgjobs.add_job($1, $2, $3)",
                &[&kind, &self.org, payload],
            )
            .await?;
        Ok(row.get(0))
    }
}

/// Which role a global transaction runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalRole {
    /// `orgjobs_global`: the queue's tables, plus tenant rows only where a
    /// policy names this role explicitly.
    Global,
    /// The worker's own login role, for work that needs its privileges
    /// (migrations need a login that owns the schema).
    Login,
}

/// A transaction for system work: no organization context, and the role of
/// [`GlobalRole`]. Only global handlers receive one.
pub struct GlobalTx {
    inner: ScopedTx,
}

job_transaction!(GlobalTx);

impl GlobalTx {
    /// Begins a global transaction on `conn`.
    pub async fn begin(
        conn: Object,
        role: GlobalRole,
        roles: &SessionConfig,
    ) -> Result<Self, DbError> {
        let inner = ScopedTx::begin(
            conn,
            roles.statements,
            global_context(role, roles, CommitMode::Synchronous),
        )
        .await?;
        Ok(GlobalTx { inner })
    }

    /// A global transaction that begins on its first statement.
    pub(crate) fn lazy(
        pool: Pool,
        role: GlobalRole,
        roles: &SessionConfig,
        commit: CommitMode,
    ) -> Self {
        let inner = ScopedTx::lazy(pool, roles.statements, global_context(role, roles, commit));
        GlobalTx { inner }
    }

    /// Runs a multi-statement script (migrations), bypassing the statement
    /// guard. Crate-internal: only the `MIGRATION` job uses it.
    pub(crate) async fn raw_client(&self) -> Result<&Client, TxError> {
        Ok(self.inner.obj().await?)
    }
}

/// How a global transaction begins: `SET_GLOBAL_CONTEXT` with the role
/// (`none`: the login's); on Citus then [`COMMIT_ATOMICALLY`]. The empty
/// context needs no propagation on Citus: a worker node's connection has no
/// `app.current_org` unless a `SET LOCAL` of the same transaction sent one.
fn global_context(
    role: GlobalRole,
    roles: &SessionConfig,
    commit: CommitMode,
) -> ContextStatements {
    let params = match role {
        GlobalRole::Global => vec![roles.global_role.clone()],
        GlobalRole::Login => vec!["none".to_owned()],
    };
    ContextStatements {
        first: match commit {
            CommitMode::Synchronous => SET_GLOBAL_CONTEXT,
            CommitMode::Asynchronous => SET_GLOBAL_CONTEXT_ASYNC,
        },
        params,
        then: match roles.context {
            ContextMode::Local => Vec::new(),
            ContextMode::Propagated => vec![COMMIT_ATOMICALLY.to_owned()],
        },
    }
}
