//! [`ScopedTx`]: one job transaction's query surface and its ending
//! (commit, rollback, abort, completion with commit), shared by the tenant
//! and global transactions. Its connection never returns to the pool
//! mid-transaction: an unfinished transaction closes it instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use tokio::sync::OnceCell;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Statement};

use super::guard::refused_keyword;
use super::{ContextStatements, TxError};
use crate::cancel::CancelRoute;
use crate::db::Unfinished;
use crate::error::DbError;
use crate::handler::JobError;
use crate::statements::{self, StatementMode, Typed};

/// SQLSTATE of a privilege error (insufficient_privilege), which is what a
/// row-level security WITH CHECK violation raises.
const RLS_DENIED_SQLSTATE: &str = "42501";
/// The server function that raises row-level security WITH CHECK
/// violations (the error's `routine` field, the same in every language).
const RLS_CHECK_ROUTINE: &str = "ExecWithCheckOptions";

/// The savepoint of one job of an organization batch.
const BATCH_SAVEPOINT: &str = "SAVEPOINT orgjobs_job";

/// How often [`ScopedTx::pause`] looks for a cancellation request.
const CANCEL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// One job transaction: the query surface shared by [`TenantTx`] and
/// [`GlobalTx`]. It can run statements; it cannot commit, roll back or
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
    context: ContextStatements,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Sends `BEGIN`, the context's first statement (the role and context
/// statement, all of whose parameters are text) and, on Citus, its `SET
/// LOCAL`, in one network flight on `conn`. On failure the connection is
/// discarded, never returned to the pool mid-transaction.
async fn open(
    conn: Object,
    mode: StatementMode,
    context: &ContextStatements,
) -> Result<Object, DbError> {
    let (first, params) = (context.first, &context.params);
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
                let (began, set, then) = tokio::join!(
                    conn.batch_execute("BEGIN"),
                    conn.query(&stmt, &values),
                    then_statement(conn, context)
                );
                began.and(set.map(drop)).and(then)
            }
            Err(e) => Err(e),
        },
        StatementMode::Unnamed => {
            let (began, set, then) = tokio::join!(
                conn.batch_execute("BEGIN"),
                conn.query_typed(first, &typed),
                then_statement(conn, context)
            );
            began.and(set.map(drop)).and(then)
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

/// The context's statements after the first (Citus), each a query of its
/// own, all sent at once (polled in order, so sent in order).
async fn then_statement(
    conn: &tokio_postgres::Client,
    context: &ContextStatements,
) -> Result<(), tokio_postgres::Error> {
    futures_util::future::try_join_all(context.then.iter().map(|sql| conn.batch_execute(sql)))
        .await
        .map(drop)
}

impl ScopedTx {
    /// Begins at once on `conn`.
    pub(super) async fn begin(
        conn: Object,
        mode: StatementMode,
        context: ContextStatements,
    ) -> Result<Self, DbError> {
        let conn = open(conn, mode, &context).await?;
        Ok(ScopedTx {
            conn: OnceCell::new_with(Some(conn)),
            lazy: None,
            mode,
            cancel: Arc::new(AtomicBool::new(false)),
            rls_denials: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Begins on first use, with a connection from `pool`.
    pub(super) fn lazy(pool: Pool, mode: StatementMode, context: ContextStatements) -> Self {
        ScopedTx {
            conn: OnceCell::new(),
            lazy: Some(LazyBegin { pool, context }),
            mode,
            cancel: Arc::new(AtomicBool::new(false)),
            rls_denials: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The connection, beginning the transaction if it has not begun.
    pub(super) async fn obj(&self) -> Result<&Object, TxError> {
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
                open(conn, self.mode, &lazy.context)
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

    /// Waits `duration`, or until someone asks to cancel the job, whichever
    /// comes first (the request is looked at every 50 ms). For handlers
    /// that wait on something outside the database. A cancelled wait returns
    /// an error that, returned from the handler, rolls back its writes and
    /// ends the job `cancelled`.
    pub async fn pause(&self, duration: Duration) -> Result<(), JobError> {
        let deadline = tokio::time::Instant::now() + duration;
        loop {
            if self.cancel_requested() {
                return Err(JobError::discard("cancelled on request"));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::time::sleep(left.min(CANCEL_CHECK_INTERVAL)).await;
        }
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

    /// Opens the savepoint of one job of an organization batch (a runtime
    /// statement; handlers cannot send it).
    pub(crate) async fn savepoint(&self) -> Result<(), TxError> {
        Ok(self.obj().await?.batch_execute(BATCH_SAVEPOINT).await?)
    }

    /// Undoes one job of an organization batch: back to its savepoint, which
    /// also undoes any setting it changed.
    pub(crate) async fn rollback_to_savepoint(&self) -> Result<(), TxError> {
        let conn = self.obj().await?;
        Ok(conn
            .batch_execute("ROLLBACK TO SAVEPOINT orgjobs_job")
            .await?)
    }

    /// Completes one job of an organization batch inside its savepoint and
    /// releases the savepoint, opening the next job's with `next`, in one
    /// network flight.
    ///
    /// `Err`: the completion was refused (the job no longer runs under this
    /// worker and organization; complete_job checks the context); the
    /// transaction is aborted and the job's savepoint remains to roll back
    /// to. `Ok(Err(_))`: the job left the transaction under another role
    /// than `role`; its savepoint is gone and the caller must end the whole
    /// batch. Either way the next job never starts in a context the runtime
    /// did not set.
    pub(crate) async fn complete_in_savepoint(
        &self,
        job_id: i64,
        attempt: i32,
        worker: &str,
        role: &str,
        next: bool,
    ) -> Result<Result<(), String>, DbError> {
        // complete_job, then the role the job left the transaction under.
        const COMPLETE: &str = "SELECT orgjobs.complete_job($1, $2, $3), current_user::text";
        let conn = self.obj().await.map_err(|e| DbError::State {
            what: "completing a job of an organization batch",
            reason: e.to_string(),
        })?;
        let params = complete_params(&job_id, &attempt, &worker);
        let release = if next {
            "RELEASE SAVEPOINT orgjobs_job; SAVEPOINT orgjobs_job"
        } else {
            "RELEASE SAVEPOINT orgjobs_job"
        };
        // When completion fails, the transaction is aborted and the rest of
        // the flight fails with it.
        let (done, released) = tokio::join!(
            conn.query_typed(COMPLETE, &params),
            conn.batch_execute(release)
        );
        let row =
            done.map_err(|e| DbError::query("completing a job of an organization batch", e))?;
        let user: Option<String> = row.first().map(|r| r.get(1));
        if user.as_deref() != Some(role) {
            return Ok(Err(format!(
                "a job changed its transaction's role to {}; expected {role}",
                user.unwrap_or_default()
            )));
        }
        released.map_err(|e| DbError::query("releasing a job's savepoint", e))?;
        Ok(Ok(()))
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
    pub(crate) async fn abort(mut self, route: &CancelRoute) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let guard = Unfinished::new(conn);
        let token = guard.conn().cancel_token();
        if let Err(e) = route.cancel(&token).await {
            tracing::warn!(event = "cancel_failed", error = %e, "the cancel request of a timed-out job failed; its connection is closed regardless");
        }
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
        const COMPLETE: &str = "SELECT orgjobs.complete_job($1, $2, $3)";
        let Some(conn) = self.conn.take() else {
            return Ok(None);
        };
        let guard = Unfinished::new(conn);
        let conn = guard.conn();
        let params = complete_params(&job_id, &attempt, &worker);
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

/// The parameters of `orgjobs.complete_job`: $1 the job, $2 its attempt, $3
/// the worker that claimed it.
fn complete_params<'a>(job_id: &'a i64, attempt: &'a i32, worker: &'a &str) -> [Typed<'a>; 3] {
    [
        (job_id, Type::INT8),
        (attempt, Type::INT4),
        (worker, Type::TEXT),
    ]
}
