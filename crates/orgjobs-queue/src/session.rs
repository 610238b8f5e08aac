//! The two ways a job reaches the database: [`TenantTx`] for one
//! organization's work and [`GlobalSession`] for system work.
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

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{Object, Pool};
use tokio::sync::OnceCell;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};
use uuid::Uuid;

use crate::db::Unfinished;
use crate::error::{DbError, PgErr};
use crate::statements::{self, StatementMode, Typed};
use crate::tls::Tls;

/// How job transactions are opened: the role names (the defaults are the
/// contract, `orgjobs_tenant` and `orgjobs_global`; the migrations grant to
/// these names) and how statements are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Role every tenant transaction switches to.
    pub tenant_role: String,
    /// Role every global session switches to.
    pub global_role: String,
    /// Statement caching; [`StatementMode::Unnamed`] behind a
    /// transaction-pooling PgBouncer.
    pub statements: StatementMode,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            tenant_role: "orgjobs_tenant".to_owned(),
            global_role: "orgjobs_global".to_owned(),
            statements: StatementMode::Cached,
        }
    }
}

/// Errors from statements run through a tenant transaction or global session.
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

/// SQLSTATE of a privilege error (insufficient_privilege), which is what a
/// row-level security WITH CHECK violation raises.
const RLS_DENIED_SQLSTATE: &str = "42501";
/// The server function that raises row-level security WITH CHECK
/// violations (the error's `routine` field, the same in every language).
const RLS_CHECK_ROUTINE: &str = "ExecWithCheckOptions";

/// Statements that end or nest transactions, change session state, run
/// code the guard cannot see (`DO`, `EXECUTE` of a prepared statement), or
/// leave something behind on the connection for the next job (`PREPARE`,
/// `DECLARE … WITH HOLD`, `LISTEN`).
const REFUSED_KEYWORDS: &[&str] = &[
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "DECLARE",
    "SET",
    "RESET",
    "DISCARD",
    "LISTEN",
    "UNLISTEN",
    "COPY",
    "DO",
    "LOAD",
];

/// Names whose mere mention refuses a statement: `set_config` (and
/// `pg_settings`, whose UPDATE calls it) change settings from inside a
/// statement the keyword check would let through.
const REFUSED_NAMES: &[&str] = &["set_config", "pg_settings"];

/// Why `sql` must not run inside a job transaction, if it must not: a
/// refused leading keyword, read as PostgreSQL's lexer reads it (after
/// whitespace, `--` and nested `/* */` comments, semicolons and opening
/// parentheses), or a refused name anywhere in the text.
///
/// This guard stops accidents and statements injected through the API; it
/// is not a parser. Strict tenant mode ([`crate::strict`]) makes the server
/// itself refuse the function paths.
fn refused_keyword(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    if let Some(name) = REFUSED_NAMES.iter().find(|n| lower.contains(*n)) {
        return Some(name.to_string());
    }
    let word: String = first_token(sql)
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    REFUSED_KEYWORDS.contains(&word.as_str()).then_some(word)
}

/// The statement text after what PostgreSQL skips before the first token:
/// whitespace, `--` comments, nested `/* */` comments, and — as tokens that
/// begin no statement of their own — semicolons and opening parentheses.
fn first_token(sql: &str) -> &str {
    let mut s = sql;
    loop {
        let trimmed = s.trim_start();
        if let Some(rest) = trimmed.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if trimmed.starts_with("/*") {
            s = skip_block_comment(trimmed);
        } else if let Some(rest) = trimmed
            .strip_prefix(';')
            .or_else(|| trimmed.strip_prefix('('))
        {
            s = rest;
        } else {
            return trimmed;
        }
    }
}

/// `s` starts with `/*`; returns what follows the matching `*/` (block
/// comments nest in PostgreSQL), or "" when it never closes.
fn skip_block_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return &s[i..];
                }
            }
            _ => i += 1,
        }
    }
    ""
}

/// One job transaction: the query surface shared by [`TenantTx`] and
/// [`GlobalSession`]. It can run statements; it cannot commit, roll back or
/// give its connection away.
///
/// The worker opens job transactions lazily: the connection is taken from
/// the pool and `BEGIN` plus the context statement sent only when the
/// handler runs its first statement. A job that never touches the database
/// holds no connection and is completed in a batch with others.
pub struct ScopedTx {
    conn: OnceCell<Object>,
    lazy: Option<LazyBegin>,
    mode: StatementMode,
    cancel: Arc<AtomicBool>,
    /// Messages of statements refused by a row-level security policy's
    /// WITH CHECK, seen by the runtime whatever the handler then does.
    rls_denials: std::sync::Mutex<Vec<String>>,
}

/// How to begin a transaction on first use: the pool, the context
/// statement and its text parameters.
struct LazyBegin {
    pool: Pool,
    first: &'static str,
    params: Vec<String>,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Sends `BEGIN` and `first` (the role and context statement, all of whose
/// parameters are text) in one network flight on `conn`. On failure the
/// connection is discarded, never returned to the pool mid-transaction.
async fn open(
    conn: Object,
    mode: StatementMode,
    first: &str,
    params: &[String],
) -> Result<Object, DbError> {
    // Dropped before the end (an error, or this future dropped by a timeout
    // or shutdown), the guard closes the connection instead of returning it
    // to the pool mid-transaction.
    let guard = Unfinished::new(conn);
    let conn = guard.conn();
    let typed: Vec<Typed<'_>> = params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
        .collect();
    // Polled together, BEGIN and the context statement share one flight;
    // the driver sends them in this order.
    let res = match mode {
        StatementMode::Cached => match statements::prepare_typed(conn, first, &typed).await {
            Ok(stmt) => {
                let values = statements::values(&typed);
                let (began, set) =
                    tokio::join!(conn.batch_execute("BEGIN"), conn.query(&stmt, &values));
                began.and(set.map(drop))
            }
            Err(e) => Err(e),
        },
        StatementMode::Unnamed => {
            let (began, set) =
                tokio::join!(conn.batch_execute("BEGIN"), conn.query_typed(first, &typed));
            began.and(set.map(drop))
        }
    };
    match res {
        Ok(()) => guard.finish().ok_or_else(|| DbError::State {
            what: "beginning the job transaction",
            reason: "connection lost".to_owned(),
        }),
        Err(e) => Err(DbError::query("beginning the job transaction", e)),
    }
}

impl ScopedTx {
    /// Begins at once on `conn`.
    async fn begin(
        conn: Object,
        mode: StatementMode,
        first: &'static str,
        params: Vec<String>,
    ) -> Result<Self, DbError> {
        let conn = open(conn, mode, first, &params).await?;
        Ok(ScopedTx {
            conn: OnceCell::new_with(Some(conn)),
            lazy: None,
            mode,
            cancel: Arc::new(AtomicBool::new(false)),
            rls_denials: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Begins on first use, with a connection from `pool`.
    fn lazy(pool: Pool, mode: StatementMode, first: &'static str, params: Vec<String>) -> Self {
        ScopedTx {
            conn: OnceCell::new(),
            lazy: Some(LazyBegin {
                pool,
                first,
                params,
            }),
            mode,
            cancel: Arc::new(AtomicBool::new(false)),
            rls_denials: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The connection, beginning the transaction if it has not begun.
    async fn obj(&self) -> Result<&Object, TxError> {
        self.conn
            .get_or_try_init(|| async {
                let lazy = self.lazy.as_ref().ok_or_else(|| {
                    TxError::Begin("the job transaction has already ended".to_owned())
                })?;
                let conn = lazy.pool.get().await.map_err(|e| {
                    TxError::Begin(format!(
                        "no database connection: {}",
                        crate::db::pool_reason(&e)
                    ))
                })?;
                open(conn, self.mode, lazy.first, &lazy.params)
                    .await
                    .map_err(|e| TxError::Begin(e.to_string()))
            })
            .await
    }

    fn discard_connection(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }

    async fn prepare(&self, sql: &str) -> Result<Statement, TxError> {
        if let Some(word) = refused_keyword(sql) {
            return Err(TxError::Refused(word));
        }
        let conn = self.obj().await?;
        Ok(match self.mode {
            StatementMode::Cached => conn.prepare_cached(sql).await?,
            // Closed when the returned statement drops, inside this
            // transaction, so nothing outlives it on a pooled server
            // connection.
            StatementMode::Unnamed => conn.prepare(sql).await?,
        })
    }

    /// Whether someone asked to cancel this job while it runs (`orgjobs
    /// jobs cancel`). Long handlers should check it between steps and return
    /// early; the job then ends `cancelled`. Seen within a third of the lease.
    pub fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub(crate) fn set_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = flag;
    }

    /// Runs a statement and returns all rows. Statements are prepared once
    /// per connection and cached (see [`StatementMode`]).
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, TxError> {
        let stmt = self.prepare(sql).await?;
        let res = self.obj().await?.query(&stmt, params).await;
        self.observe(res)
    }

    /// Runs a statement that returns exactly one row.
    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, TxError> {
        let stmt = self.prepare(sql).await?;
        let res = self.obj().await?.query_one(&stmt, params).await;
        self.observe(res)
    }

    /// Runs a statement that returns at most one row.
    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, TxError> {
        let stmt = self.prepare(sql).await?;
        let res = self.obj().await?.query_opt(&stmt, params).await;
        self.observe(res)
    }

    /// Runs a statement and returns the number of rows it affected.
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, TxError> {
        let stmt = self.prepare(sql).await?;
        let res = self.obj().await?.execute(&stmt, params).await;
        self.observe(res)
    }

    /// Notes a row-level security refusal before handing the result on.
    /// Recognised by SQLSTATE 42501 and the server routine that raises it
    /// (`ExecWithCheckOptions`), never by the message, which is translated
    /// under a non-English `lc_messages`.
    fn observe<T>(&self, res: Result<T, tokio_postgres::Error>) -> Result<T, TxError> {
        if let Err(e) = &res {
            if let Some(db) = e.as_db_error() {
                if db.code().code() == RLS_DENIED_SQLSTATE
                    && db.routine() == Some(RLS_CHECK_ROUTINE)
                {
                    self.rls_denials
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(db.message().to_owned());
                }
            }
        }
        Ok(res?)
    }

    /// The messages of the statements that a row-level security policy
    /// refused so far (the worker counts them by table).
    pub(crate) fn take_rls_denials(&self) -> Vec<String> {
        std::mem::take(&mut *self.rls_denials.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Commits, returning the connection.
    pub(crate) async fn commit(mut self) -> Result<Object, DbError> {
        let guard = Unfinished::new(self.take_conn()?);
        match guard.conn().batch_execute("COMMIT").await {
            Ok(()) => guard.finish().ok_or_else(|| DbError::State {
                what: "committing the job transaction",
                reason: "connection lost".to_owned(),
            }),
            Err(e) => Err(DbError::query("committing the job transaction", e)),
        }
    }

    /// Rolls back, returning the connection (none if it never began).
    pub(crate) async fn rollback(mut self) -> Result<Option<Object>, DbError> {
        let Some(conn) = self.conn.take() else {
            return Ok(None);
        };
        let guard = Unfinished::new(conn);
        match guard.conn().batch_execute("ROLLBACK").await {
            Ok(()) => Ok(guard.finish()),
            Err(e) => Err(DbError::query("rolling back the job transaction", e)),
        }
    }

    /// Ends a transaction whose handler was interrupted (timeout): cancels
    /// whatever statement may still run, then closes the connection (the
    /// server rolls back). A late cancel can thus never hit the next user
    /// of a pooled connection.
    pub(crate) async fn abort(mut self, tls: &Tls) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let guard = Unfinished::new(conn);
        let token = guard.conn().cancel_token();
        // The cancel request opens a connection of its own, with the same
        // TLS as the pool's (a server that requires TLS refuses it plain).
        let _ = match tls.connector() {
            Some(c) => token.cancel_query(c.clone()).await,
            None => token.cancel_query(tokio_postgres::NoTls).await,
        };
        drop(guard);
    }

    /// Runs `SELECT orgjobs.complete_job(id, attempt, worker)` and `COMMIT`
    /// in one flight. If the completion fails (the job is no longer this
    /// attempt's, or no longer this worker's),
    /// the transaction is aborted and the COMMIT rolls it back: the handler's
    /// writes never outlive a lost job. Returns `Ok(None)` without doing
    /// anything when the transaction never began: the caller completes such
    /// jobs in batches.
    pub(crate) async fn complete_and_commit(
        mut self,
        job_id: i64,
        attempt: i32,
        worker: &str,
    ) -> Result<Option<Object>, DbError> {
        // $1 job, $2 attempt, $3 the worker that claimed it.
        const COMPLETE: &str = "SELECT orgjobs.complete_job($1, $2, $3)";
        let Some(conn) = self.conn.take() else {
            return Ok(None);
        };
        let guard = Unfinished::new(conn);
        let conn = guard.conn();
        let params: [Typed<'_>; 3] = [
            (&job_id, Type::INT8),
            (&attempt, Type::INT4),
            (&worker, Type::TEXT),
        ];
        let (done, committed) = match self.mode {
            StatementMode::Cached => {
                let stmt = statements::prepare_typed(conn, COMPLETE, &params)
                    .await
                    .map_err(|e| DbError::query("preparing job completion", e))?;
                let values = statements::values(&params);
                let (done, committed) =
                    tokio::join!(conn.query(&stmt, &values), conn.batch_execute("COMMIT"));
                (done.map(drop), committed)
            }
            StatementMode::Unnamed => {
                let (done, committed) = tokio::join!(
                    conn.query_typed(COMPLETE, &params),
                    conn.batch_execute("COMMIT")
                );
                (done.map(drop), committed)
            }
        };
        match (done, committed) {
            (Ok(()), Ok(())) => Ok(guard.finish()),
            (Err(e), Ok(())) => {
                // COMMIT of an aborted transaction rolled back; the
                // connection is clean and goes back to the pool.
                drop(guard.finish());
                Err(DbError::query("completing the job", e))
            }
            (_, Err(e)) => Err(DbError::query("committing the job transaction", e)),
        }
    }

    fn take_conn(&mut self) -> Result<Object, DbError> {
        self.conn.take().ok_or_else(|| DbError::State {
            what: "finishing the job transaction",
            reason: "it never began".to_owned(),
        })
    }
}

impl Drop for ScopedTx {
    fn drop(&mut self) {
        // Unfinished: never hand this connection (and its transaction) back to
        // the pool. Closing it makes the server roll back.
        self.discard_connection();
    }
}

/// SQL run first in every tenant transaction. $1: the tenant role's name,
/// $2: the organization id as text. Both settings are transaction-local.
pub(crate) const SET_TENANT_CONTEXT: &str = "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('app.current_org', $2, true)";

/// SQL run first in every global session. $1: the role ('none' for the login
/// role). The organization context is explicitly empty.
const SET_GLOBAL_CONTEXT: &str = "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('app.current_org', '', true)";

/// A transaction that runs as the tenant role with one organization's
/// context. Row-level security limits every statement to that organization.
///
/// Handlers receive `&mut TenantTx`; the runtime begins it, completes the job
/// inside it and commits, so a handler's writes and its job's completion
/// commit or roll back together.
///
/// A tenant handler cannot reach a pool, its connection or a global session
/// through it, nor commit it: `tests/compile_fail/` holds each attempt, and
/// `tests/isolation_types.rs` checks that each fails to compile with exactly
/// the expected error (no method `into_global`, private field `inner`,
/// `commit` needs the transaction by value).
pub struct TenantTx {
    inner: ScopedTx,
    org: Uuid,
}

impl TenantTx {
    /// Begins a tenant transaction for `org` on `conn`, as `roles.tenant_role`.
    /// The organization is a typed [`Uuid`]: a string that is not one cannot
    /// reach the database.
    pub async fn begin(conn: Object, org: Uuid, roles: &SessionConfig) -> Result<Self, DbError> {
        let inner = ScopedTx::begin(
            conn,
            roles.statements,
            SET_TENANT_CONTEXT,
            vec![roles.tenant_role.clone(), org.to_string()],
        )
        .await?;
        Ok(TenantTx { inner, org })
    }

    /// A tenant transaction that begins on its first statement, with a
    /// connection from `pool`.
    pub(crate) fn lazy(pool: Pool, org: Uuid, roles: &SessionConfig) -> Self {
        let inner = ScopedTx::lazy(
            pool,
            roles.statements,
            SET_TENANT_CONTEXT,
            vec![roles.tenant_role.clone(), org.to_string()],
        );
        TenantTx { inner, org }
    }

    /// The organization whose context this transaction has.
    pub fn org_id(&self) -> Uuid {
        self.org
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

    /// Commits, returning the connection (for code outside the worker that
    /// opens its own tenant transactions).
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
}

impl Deref for TenantTx {
    type Target = ScopedTx;
    fn deref(&self) -> &ScopedTx {
        &self.inner
    }
}

impl TenantTx {
    pub(crate) fn set_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
        self.inner.set_cancel_flag(flag);
    }
}

/// Which role a global session runs as.
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
pub struct GlobalSession {
    inner: ScopedTx,
}

impl GlobalSession {
    /// Begins a global session on `conn`.
    pub async fn begin(
        conn: Object,
        role: GlobalRole,
        roles: &SessionConfig,
    ) -> Result<Self, DbError> {
        let role_name = match role {
            GlobalRole::Global => roles.global_role.as_str(),
            GlobalRole::Login => "none",
        };
        let inner = ScopedTx::begin(
            conn,
            roles.statements,
            SET_GLOBAL_CONTEXT,
            vec![role_name.to_owned()],
        )
        .await?;
        Ok(GlobalSession { inner })
    }

    /// A global session that begins on its first statement.
    pub(crate) fn lazy(pool: Pool, role: GlobalRole, roles: &SessionConfig) -> Self {
        let role_name = match role {
            GlobalRole::Global => roles.global_role.as_str(),
            GlobalRole::Login => "none",
        };
        let inner = ScopedTx::lazy(
            pool,
            roles.statements,
            SET_GLOBAL_CONTEXT,
            vec![role_name.to_owned()],
        );
        GlobalSession { inner }
    }

    /// Runs a multi-statement script (migrations), bypassing the statement
    /// guard. Crate-internal: only the `MIGRATION` job uses it.
    pub(crate) async fn raw_client(&self) -> Result<&Client, TxError> {
        Ok(self.inner.obj().await?)
    }

    /// Commits, returning the connection.
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
}

impl Deref for GlobalSession {
    type Target = ScopedTx;
    fn deref(&self) -> &ScopedTx {
        &self.inner
    }
}

impl GlobalSession {
    pub(crate) fn set_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
        self.inner.set_cancel_flag(flag);
    }
}

#[cfg(test)]
mod tests {
    use super::refused_keyword;

    #[test]
    fn refuses_transaction_control_and_settings() {
        for sql in [
            "COMMIT",
            "  commit;",
            "-- note\nROLLBACK",
            "/* x */ reset role",
            "SET ROLE postgres",
            "set local app.current_org = 'x'",
            "END",
            "begin",
            "savepoint a",
            "DISCARD ALL",
            // PostgreSQL's block comments nest: all of the comment is skipped.
            "/* a /* b */ c */ RESET ROLE",
            "/* /* */ */ SET ROLE postgres",
            "; RESET ROLE",
            ";;\n RESET ROLE",
            "\u{c}\tRESET ROLE",
            "DO $$ BEGIN SET LOCAL app.current_org = 'x'; END $$",
            "EXECUTE s0('none', 'x')",
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
            "DEALLOCATE ALL",
            "SELECT set_config('search_path', 'x', false)",
            "SELECT pg_catalog.\"set_config\"('role', 'none', true)",
            "update PG_SETTINGS set setting = 'x' where name = 'search_path'",
        ] {
            assert!(refused_keyword(sql).is_some(), "{sql} should be refused");
        }
        for sql in [
            "SELECT 1",
            "select count(*) from tickets",
            "UPDATE tickets SET status = 'open'",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "INSERT INTO settings VALUES (1)",
            "(SELECT 1)",
            "/* SET ROLE */ SELECT 1",
            "-- RESET ROLE\nSELECT 1",
            "SELECT 'do' AS settings",
        ] {
            assert!(refused_keyword(sql).is_none(), "{sql} should run");
        }
    }
}
