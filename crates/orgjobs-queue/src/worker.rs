//! The worker: claims jobs in batches, runs each in its own transaction with
//! the right context, and turns every result (success, error, panic) into
//! exactly one state transition.
//!
//! Invariants:
//! - a tenant kind runs only in a [`TenantTx`] for the job's organization; a
//!   tenant job without one is discarded without running;
//! - a global kind runs only in a [`GlobalSession`] and never for a job that
//!   names an organization;
//! - completion is written in the handler's transaction; a failure is
//!   recorded after that transaction rolled back, fenced by the attempt
//!   number, so an executor that lost its job changes nothing;
//! - a panicking handler fails its attempt; the worker goes on.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use futures_util::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_postgres::types::Type;
use tokio_postgres::{AsyncMessage, NoTls};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::catalog;
use crate::db::{DbUrl, checkout};
use crate::error::{DbError, PgErr};
use crate::handler::{Entry, JobError, Registry, RetryPolicy, Scope};
use crate::health::Health;
use crate::maintenance::Maintenance;
use crate::metrics::Metrics;
use crate::periodic::Periodic;
use crate::session::{GlobalSession, ScopedTx, SessionConfig, TenantTx};
use crate::statements;
use crate::tls::Tls;

/// The strict-order claim statement ($1 limit, $2 worker, $3 lease seconds),
/// public for benchmarks and `EXPLAIN`.
pub const CLAIM_SQL: &str = include_str!("../sql/claim.sql");
/// The fair claim statement ($1 limit, $2 worker, $3 lease seconds, $4
/// organization cursor, $5 per-organization running limit or NULL), public
/// for benchmarks and `EXPLAIN`.
pub const CLAIM_FAIR_SQL: &str = include_str!("../sql/claim_fair.sql");
const FAIL_SQL: &str = include_str!("../sql/fail.sql");
const HEARTBEAT_SQL: &str = include_str!("../sql/heartbeat.sql");
const COMPLETE_BATCH_SQL: &str = include_str!("../sql/complete_batch.sql");
const RELEASE_SQL: &str = include_str!("../sql/release.sql");

/// The NOTIFY channel that `orgjobs.jobs` inserts signal.
pub const NOTIFY_CHANNEL: &str = "orgjobs_jobs";

/// SQLSTATE raised by `orgjobs.complete_job` when the attempt no longer holds
/// its job.
const LOST_JOB_SQLSTATE: &str = "OJ001";

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Handlers running at once.
    pub concurrency: usize,
    /// Most jobs claimed by one statement.
    pub batch_size: usize,
    /// How often to look for jobs when no notification arrives.
    pub poll_interval: Duration,
    /// How long a claimed job is leased to this worker; renewed every third
    /// of it while the job runs. A job whose worker stops renewing is
    /// rescued (made runnable again) once this passes.
    pub lease: Duration,
    /// At shutdown, how long running jobs may take to finish before they
    /// are interrupted and given back.
    pub shutdown_timeout: Duration,
    /// How long maintenance leadership lasts without renewal.
    pub leader_ttl: Duration,
    /// Periodic schedules (enqueued by the leader).
    pub periodic: Vec<Periodic>,
    /// Exit once no runnable job is left.
    pub drain: bool,
    /// Claim organizations round-robin (true, the default) or in strict
    /// priority/run_at/id order across organizations (false).
    pub fair: bool,
    /// At most this many jobs of one organization running at once, across
    /// all workers (fair claims only).
    pub org_concurrency: Option<i32>,
    /// Roles and statement mode of job transactions.
    pub session: SessionConfig,
    /// This worker's name in `locked_by` and error records.
    pub worker_id: String,
    /// TLS of the database URL, for the cancel requests of timed-out jobs
    /// (they open a connection of their own). Default: none.
    pub tls: Tls,
    /// Refuse to start unless strict tenant mode is on (otherwise a warning
    /// is logged).
    pub require_strict: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 8,
            batch_size: 8,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            leader_ttl: Duration::from_secs(15),
            periodic: Vec::new(),
            drain: false,
            fair: true,
            org_concurrency: None,
            session: SessionConfig::default(),
            worker_id: default_worker_id(),
            tls: Tls::default(),
            require_strict: false,
        }
    }
}

/// `host-pid-random`, unique enough to tell workers apart in job records.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    let short = Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &short[..8])
}

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The startup check found a way for tenant work to bypass RLS.
    #[error("refusing to start: tenant isolation is not guaranteed:\n  - {}", .0.join("\n  - "))]
    Unsafe(Vec<String>),
    /// The configuration does not fit the registry.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// The database failed at startup.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What happened to one claimed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The handler succeeded and its completion committed with its writes.
    Completed,
    /// Failed; another attempt is scheduled.
    Retried,
    /// Failed for good; kept with its error.
    Discarded,
    /// This attempt no longer held the job (or its result could not be
    /// recorded); nothing of it committed.
    Lost,
}

impl Outcome {
    /// The `outcome` label of `jobs_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Retried => "retried",
            Outcome::Discarded => "discarded",
            Outcome::Lost => "lost",
        }
    }
}

/// Counts of outcomes over a worker's run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Jobs completed.
    pub completed: u64,
    /// Attempts that failed and were scheduled again.
    pub retried: u64,
    /// Jobs discarded.
    pub discarded: u64,
    /// Attempts lost.
    pub lost: u64,
}

impl RunSummary {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Completed => self.completed += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::Discarded => self.discarded += 1,
            Outcome::Lost => self.lost += 1,
        }
    }
}

struct ClaimedJob {
    id: i64,
    kind: String,
    org: Option<Uuid>,
    payload: Value,
    attempt: i32,
    cancel: Arc<AtomicBool>,
}

/// A job this worker is running: its fencing token and the flag its
/// handler reads to see a cancel request.
struct Running {
    attempt: i32,
    cancel: Arc<AtomicBool>,
}

struct Ctx {
    pool: Pool,
    registry: Arc<Registry>,
    metrics: Metrics,
    config: WorkerConfig,
    running: Mutex<HashMap<i64, Running>>,
    /// The organization key the last fair claim ended at.
    cursor: Mutex<Uuid>,
    /// Batches completions of jobs that never opened a transaction.
    completer: Completer,
    /// Whether claims and lease renewals reach the database.
    health: Health,
    /// The tenant tables' bare names, read at startup, to label
    /// `rls_denied_total`.
    tenant_relnames: std::sync::OnceLock<Vec<String>>,
}

impl Ctx {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        // A poisoned lock only means a panic elsewhere while holding it; the
        // map itself stays consistent (single inserts and removes).
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A worker process's job loop. Build one, then [`Worker::run`] it.
pub struct Worker {
    ctx: Arc<Ctx>,
    listen: Option<DbUrl>,
}

impl Worker {
    /// A worker over `pool` (size it `concurrency + 2`: one connection per
    /// running handler, one to claim, one to record failures).
    pub fn new(
        pool: Pool,
        registry: Arc<Registry>,
        metrics: Metrics,
        config: WorkerConfig,
    ) -> Self {
        let completer = Completer::new(
            pool.clone(),
            config.session.statements,
            config.worker_id.clone(),
        );
        Worker {
            ctx: Arc::new(Ctx {
                pool,
                registry,
                metrics,
                config,
                running: Mutex::new(HashMap::new()),
                cursor: Mutex::new(Uuid::nil()),
                completer,
                health: Health::new(),
                tenant_relnames: std::sync::OnceLock::new(),
            }),
            listen: None,
        }
    }

    /// Whether this worker reaches its database (for `/healthz`); shared,
    /// so take it before [`Worker::run`].
    pub fn health(&self) -> Health {
        self.ctx.health.clone()
    }

    /// LISTENs for new jobs on a dedicated connection to `url` (which must be
    /// a session, not a transaction-pooled, connection). Without it the
    /// worker only polls.
    pub fn listen_on(mut self, url: DbUrl) -> Self {
        self.listen = Some(url);
        self
    }

    /// Checks that tenant work cannot bypass row-level security, then runs
    /// until `shutdown` resolves (or, with `drain`, until no runnable job is
    /// left). Running jobs finish before it returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<RunSummary, WorkerError> {
        let ctx = self.ctx;
        startup_checks(&ctx).await?;
        ctx.completer.start();
        let wake = Arc::new(Notify::new());
        let listener = self
            .listen
            .map(|url| tokio::spawn(listen_loop(url, wake.clone())));
        let heartbeat = tokio::spawn(heartbeat_loop(ctx.clone()));
        let maintenance = Maintenance {
            pool: ctx.pool.clone(),
            mode: ctx.config.session.statements,
            worker_id: ctx.config.worker_id.clone(),
            leader_ttl: ctx.config.leader_ttl,
            periodic: ctx.config.periodic.clone(),
        };
        let maintenance = Arc::new(maintenance);
        let maintainer = {
            let m = maintenance.clone();
            tokio::spawn(async move {
                // Run ticks through a shared handle so that resign() can use
                // the same state after this task is aborted.
                let tick = (m.leader_ttl / 3).max(Duration::from_millis(100));
                let mut was_leader = false;
                loop {
                    match m.tick().await {
                        Ok(leader) => {
                            if leader != was_leader {
                                info!(event = "leadership", leader, worker_id = %m.worker_id);
                            }
                            was_leader = leader;
                        }
                        Err(e) => warn!(event = "maintenance_failed", error = %e),
                    }
                    tokio::time::sleep(tick).await;
                }
            })
        };
        info!(
            event = "worker_started",
            worker_id = %ctx.config.worker_id,
            concurrency = ctx.config.concurrency,
            kinds = %ctx.registry.kind_list(),
        );
        let summary = claim_loop(&ctx, &wake, shutdown).await;
        if let Some(l) = listener {
            l.abort();
        }
        maintainer.abort();
        maintenance.resign().await;
        release_unfinished(&ctx).await;
        heartbeat.abort();
        info!(
            event = "worker_stopped",
            completed = summary.completed,
            retried = summary.retried,
            discarded = summary.discarded,
            lost = summary.lost,
        );
        Ok(summary)
    }
}

async fn startup_checks(ctx: &Ctx) -> Result<(), WorkerError> {
    let conn = checkout(&ctx.pool, "running the startup check").await?;
    let problems = catalog::tenancy_problems(&conn, &ctx.config.session.tenant_role).await?;
    if !problems.is_empty() {
        return Err(WorkerError::Unsafe(problems));
    }
    let strict = crate::strict::strict_status(&conn, &ctx.config.session.tenant_role).await?;
    if !strict.is_strict() {
        let open = strict.open_paths().join(", ");
        if ctx.config.require_strict {
            return Err(WorkerError::Unsafe(vec![format!(
                "strict tenant mode is off: tenant SQL could re-scope its transaction through {open}; run `orgjobs migrate --strict`"
            )]));
        }
        warn!(
            event = "strict_mode_off",
            open_paths = %open,
            "SQL running as the tenant role could re-scope its transaction to another organization; run `orgjobs migrate --strict`"
        );
    }
    let tables = catalog::tenant_tables(&conn, &ctx.config.session.tenant_role).await?;
    let _ = ctx
        .tenant_relnames
        .set(tables.into_iter().map(|t| t.relname).collect());
    let login = catalog::login_attrs(&conn).await?;
    if login.superuser || login.bypass_rls {
        warn!(
            event = "privileged_login",
            login = %login.name,
            superuser = login.superuser,
            bypass_rls = login.bypass_rls,
            "the worker logs in as a role that bypasses row-level security; a statement that got \
             past the guard could RESET ROLE to it. Run workers as orgjobs_worker in production."
        );
    }
    for p in &ctx.config.periodic {
        match ctx.registry.scope(&p.kind) {
            Some(Scope::Global) => {}
            Some(Scope::Tenant) => {
                return Err(WorkerError::Config(format!(
                    "periodic kind {} is a tenant kind; schedule a global fan-out kind that enqueues one job per organization",
                    p.kind
                )));
            }
            None => {
                return Err(WorkerError::Config(format!(
                    "periodic kind {} is not registered; known kinds: {}",
                    p.kind,
                    ctx.registry.kind_list()
                )));
            }
        }
    }
    ctx.registry.register_kinds(&conn).await?;
    Ok(())
}

async fn claim_loop(
    ctx: &Arc<Ctx>,
    wake: &Notify,
    shutdown: impl Future<Output = ()>,
) -> RunSummary {
    let cfg = &ctx.config;
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut summary = RunSummary::default();
    let mut backoff = Duration::from_millis(100);
    tokio::pin!(shutdown);
    loop {
        while let Some(res) = tasks.try_join_next() {
            reap(&mut summary, res);
        }
        let free = cfg.concurrency.saturating_sub(tasks.len());
        let want = free.min(cfg.batch_size.max(1));
        // Claim when half a batch of slots is free (or nothing runs): one
        // claim per freed slot would turn a busy queue into many tiny
        // claims, and the claim loop runs one claim at a time.
        let low_water = (cfg.batch_size.min(cfg.concurrency) / 2).max(1);
        let mut more = false;
        if want > 0 && (want >= low_water || tasks.is_empty()) {
            let idle = tasks.is_empty();
            match claim(ctx, want).await {
                Ok(jobs) => {
                    ctx.health.reached();
                    backoff = Duration::from_millis(100);
                    if jobs.is_empty() && idle && cfg.drain {
                        break;
                    }
                    more = jobs.len() == want;
                    {
                        let mut running = ctx.running();
                        for job in &jobs {
                            running.insert(
                                job.id,
                                Running {
                                    attempt: job.attempt,
                                    cancel: job.cancel.clone(),
                                },
                            );
                        }
                    }
                    for job in jobs {
                        let ctx = ctx.clone();
                        tasks.spawn(async move { execute(&ctx, job).await });
                    }
                }
                Err(e) => {
                    ctx.health.failed(&e.to_string());
                    error!(event = "claim_failed", error = %e, retry_in_ms = backoff.as_millis() as u64);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        if more && tasks.len() < cfg.concurrency {
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            Some(res) = tasks.join_next(), if !tasks.is_empty() => reap(&mut summary, res),
            _ = wake.notified(), if tasks.len() < cfg.concurrency => {}
            _ = tokio::time::sleep(cfg.poll_interval) => {}
        }
    }
    // Stop claiming; let running jobs finish within the shutdown timeout.
    if !tasks.is_empty() {
        info!(
            event = "shutdown_waiting",
            running = tasks.len(),
            timeout_ms = cfg.shutdown_timeout.as_millis() as u64
        );
    }
    let finished = tokio::time::timeout(cfg.shutdown_timeout, async {
        while let Some(res) = tasks.join_next().await {
            reap(&mut summary, res);
        }
    })
    .await;
    if finished.is_err() {
        // Interrupt the rest: dropping a handler drops its transaction,
        // whose connection is discarded, so nothing of it commits. The jobs
        // are given back by release_unfinished().
        warn!(event = "shutdown_interrupting", running = tasks.len());
        tasks.abort_all();
        while let Some(res) = tasks.join_next().await {
            if let Ok(o) = res {
                summary.add(o);
            }
        }
    }
    summary
}

/// Gives back every job still marked as running by this worker (their
/// handlers were interrupted at shutdown) so that they run again at once.
async fn release_unfinished(ctx: &Ctx) {
    let (ids, attempts): (Vec<i64>, Vec<i32>) =
        ctx.running().iter().map(|(id, r)| (*id, r.attempt)).unzip();
    if ids.is_empty() {
        return;
    }
    let result = async {
        let conn = checkout(&ctx.pool, "recording a job's result")
            .await
            .map_err(|e| e.to_string())?;
        statements::query(
            &conn,
            ctx.config.session.statements,
            RELEASE_SQL,
            &[
                (&ids, Type::INT8_ARRAY),
                (&attempts, Type::INT4_ARRAY),
                (&ctx.config.worker_id, Type::TEXT),
            ],
        )
        .await
        .map_err(|e| PgErr(&e).to_string())
    }
    .await;
    match result {
        Ok(rows) => info!(event = "jobs_released", count = rows.len(), ids = ?ids),
        Err(e) => {
            warn!(event = "release_failed", error = %e, "the jobs run again when their lease expires")
        }
    }
}

/// Renews the leases of running jobs every third of the lease, and passes
/// cancel requests on to their handlers.
async fn heartbeat_loop(ctx: Arc<Ctx>) {
    let every = (ctx.config.lease / 3).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        let (ids, attempts): (Vec<i64>, Vec<i32>) =
            ctx.running().iter().map(|(id, r)| (*id, r.attempt)).unzip();
        if ids.is_empty() {
            continue;
        }
        let lease = ctx.config.lease.as_secs_f64();
        // Bounded: a stalled renewal must not outlive the next one (the
        // leases would expire while the jobs run).
        let result = tokio::time::timeout(every, async {
            let conn = checkout(&ctx.pool, "recording a job's result")
                .await
                .map_err(|e| e.to_string())?;
            statements::query(
                &conn,
                ctx.config.session.statements,
                HEARTBEAT_SQL,
                &[
                    (&ids, Type::INT8_ARRAY),
                    (&attempts, Type::INT4_ARRAY),
                    (&ctx.config.worker_id, Type::TEXT),
                    (&lease, Type::FLOAT8),
                ],
            )
            .await
            .map_err(|e| PgErr(&e).to_string())
        })
        .await
        .unwrap_or_else(|_| Err("lease renewal timed out".to_owned()));
        match result {
            Ok(rows) => {
                ctx.health.reached();
                let running = ctx.running();
                let mut held = std::collections::HashSet::new();
                for r in rows {
                    let (id, cancel): (i64, bool) = (r.get(0), r.get(1));
                    held.insert(id);
                    if cancel {
                        if let Some(job) = running.get(&id) {
                            job.cancel.store(true, Ordering::Relaxed);
                        }
                    }
                }
                for id in ids.iter().filter(|id| !held.contains(id)) {
                    if running.contains_key(id) {
                        warn!(
                            event = "lease_lost",
                            job_id = id,
                            "the job was taken from this worker; its result will not be kept"
                        );
                    }
                }
            }
            Err(e) => {
                ctx.health.failed(&e);
                warn!(event = "heartbeat_failed", error = %e)
            }
        }
    }
}

fn reap(summary: &mut RunSummary, res: Result<Outcome, tokio::task::JoinError>) {
    match res {
        Ok(o) => summary.add(o),
        Err(e) => {
            // execute() catches handler panics; this is a bug in the runtime.
            error!(event = "executor_failed", error = %e);
            summary.add(Outcome::Lost);
        }
    }
}

/// Key of global jobs in the fair claim's organization order (the largest).
const GLOBAL_KEY: Uuid = Uuid::max();

async fn claim(ctx: &Ctx, limit: usize) -> Result<Vec<ClaimedJob>, DbError> {
    // An early return (an error) closes the connection rather than handing
    // it back, possibly inside the claim transaction.
    let guard = crate::db::Unfinished::new(checkout(&ctx.pool, "claiming jobs").await?);
    let conn = guard.conn();
    let lease = ctx.config.lease.as_secs_f64();
    let mut jobs = Vec::new();
    if !ctx.config.fair {
        let want = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statements::query(
            conn,
            ctx.config.session.statements,
            CLAIM_SQL,
            &[
                (&want, Type::INT8),
                (&ctx.config.worker_id, Type::TEXT),
                (&lease, Type::FLOAT8),
            ],
        )
        .await
        .map_err(|e| DbError::query("claiming jobs", e))?;
        jobs.extend(rows.iter().map(claimed));
    } else {
        // With a per-organization limit, claims of all workers take turns
        // under one advisory lock, inside a transaction: the claim's
        // snapshot is then taken after the previous claim committed, so its
        // count of running jobs includes that claim's (a single statement's
        // snapshot would predate it and let two workers overfill a limit).
        let limited = ctx.config.org_concurrency.is_some();
        if limited {
            conn.batch_execute("BEGIN; SELECT pg_advisory_xact_lock(28522, 0)")
                .await
                .map_err(|e| DbError::query("taking the claim lock", e))?;
        }
        // Up to three passes: a pass that comes back short has reached the
        // last organization (the next starts over from the first) or the
        // end of the most urgent priority (the next takes the following).
        for _ in 0..3 {
            let want = limit - jobs.len();
            if want == 0 {
                break;
            }
            let cursor = *ctx.cursor.lock().unwrap_or_else(|p| p.into_inner());
            let want_i = i64::try_from(want).unwrap_or(i64::MAX);
            let rows = statements::query(
                conn,
                ctx.config.session.statements,
                CLAIM_FAIR_SQL,
                &[
                    (&want_i, Type::INT8),
                    (&ctx.config.worker_id, Type::TEXT),
                    (&lease, Type::FLOAT8),
                    (&cursor, Type::UUID),
                    (&ctx.config.org_concurrency, Type::INT4),
                ],
            )
            .await;
            let rows = match rows {
                Ok(rows) => rows,
                // Jobs of an earlier pass are claimed (committed as
                // running): run them rather than leave them to the rescuer.
                Err(e) if !jobs.is_empty() => {
                    warn!(event = "claim_failed", error = %PgErr(&e));
                    break;
                }
                Err(e) => return Err(DbError::query("claiming jobs", e)),
            };
            let got = rows.len();
            let reached_end = rows
                .first()
                .is_none_or(|r| r.get::<_, Option<bool>>(7).unwrap_or(true));
            let last = rows
                .iter()
                .map(|r| r.get::<_, Option<Uuid>>(2).unwrap_or(GLOBAL_KEY))
                .max();
            jobs.extend(rows.iter().map(claimed));
            // Continue after the last organization served, or start over
            // when the walk reached the end.
            let next = match last {
                Some(org) if !reached_end => org,
                _ => Uuid::nil(),
            };
            *ctx.cursor.lock().unwrap_or_else(|p| p.into_inner()) = next;
            if got == want || (got > 0 && cursor == Uuid::nil() && reached_end) {
                break;
            }
            if got == 0 && cursor == Uuid::nil() {
                break;
            }
        }
    }
    if ctx.config.fair && ctx.config.org_concurrency.is_some() {
        conn.batch_execute("COMMIT")
            .await
            .map_err(|e| DbError::query("committing the claim", e))?;
    }
    drop(guard.finish());
    // UPDATE ... RETURNING has no order; start jobs in claim order.
    jobs.sort_by_key(|(prio, j)| (*prio, j.id));
    Ok(jobs.into_iter().map(|(_, j)| j).collect())
}

fn claimed(r: &tokio_postgres::Row) -> (i16, ClaimedJob) {
    (
        r.get::<_, i16>(6),
        ClaimedJob {
            id: r.get(0),
            kind: r.get(1),
            org: r.get(2),
            payload: r.get(3),
            attempt: r.get(4),
            cancel: Arc::new(AtomicBool::new(false)),
        },
    )
}

async fn execute(ctx: &Ctx, job: ClaimedJob) -> Outcome {
    let started = Instant::now();
    let known = ctx.registry.entry(&job.kind);
    let kind_label = if known.is_some() {
        job.kind.as_str()
    } else {
        "unknown"
    };
    let policy = known.map(|(_, p, _)| *p).unwrap_or_default();
    let result = run_job(ctx, &job).await;
    let outcome = match result {
        Ok(()) => Outcome::Completed,
        Err(Failure::Lost(reason)) => {
            warn!(event = "job_lost", job_id = job.id, kind = %job.kind, attempt = job.attempt, reason = %reason);
            Outcome::Lost
        }
        Err(Failure::Job(e)) => record_failure(ctx, &job, &e, &policy).await,
    };
    ctx.running().remove(&job.id);
    let elapsed = started.elapsed();
    ctx.metrics
        .jobs
        .with_label_values(&[kind_label, outcome.as_str()])
        .inc();
    ctx.metrics
        .job_duration
        .with_label_values(&[kind_label])
        .observe(elapsed.as_secs_f64());
    info!(
        event = "job_finished",
        job_id = job.id,
        kind = %job.kind,
        org_id = %job.org.map(|o| o.to_string()).unwrap_or_default(),
        attempt = job.attempt,
        outcome = outcome.as_str(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
    );
    outcome
}

enum Failure {
    Job(JobError),
    Lost(String),
}

impl From<JobError> for Failure {
    fn from(e: JobError) -> Self {
        Failure::Job(e)
    }
}

fn completion_failure(e: DbError) -> Failure {
    if e.code() == Some(LOST_JOB_SQLSTATE) {
        Failure::Lost(e.to_string())
    } else {
        Failure::Job(JobError::retry(e))
    }
}

async fn run_job(ctx: &Ctx, job: &ClaimedJob) -> Result<(), Failure> {
    let Some((entry, _, timeout)) = ctx.registry.entry(&job.kind) else {
        return Err(JobError::discard(format!(
            "unknown job kind {}; this worker runs: {}",
            job.kind,
            ctx.registry.kind_list()
        ))
        .into());
    };
    let parse_error = |e: serde_json::Error| {
        JobError::discard(format!("payload for {} does not parse: {e}", job.kind))
    };
    match entry {
        Entry::Tenant(parse) => {
            let Some(org) = job.org else {
                ctx.metrics
                    .org_context_missing
                    .with_label_values(&["worker"])
                    .inc();
                warn!(
                    event = "org_context_missing",
                    job_id = job.id,
                    kind = %job.kind,
                    "tenant job has no organization; discarded without running"
                );
                return Err(JobError::discard(format!(
                    "organization context missing for {}",
                    job.kind
                ))
                .into());
            };
            let prepared = parse(job.payload.clone()).map_err(parse_error)?;
            info!(event = "org_context_set", org_id = %org, job_id = job.id, kind = %job.kind);
            let mut tx = TenantTx::lazy(ctx.pool.clone(), org, &ctx.config.session);
            tx.set_cancel_flag(job.cancel.clone());
            let run = AssertUnwindSafe(prepared.run(&mut tx)).catch_unwind();
            let outcome = tokio::time::timeout(timeout, run).await;
            count_rls_denials(ctx, &tx);
            match outcome {
                Ok(result) => {
                    settle(
                        tx.into_scoped(),
                        result,
                        job,
                        &ctx.config.worker_id,
                        &ctx.completer,
                    )
                    .await
                }
                Err(_) => {
                    tx.into_scoped().abort(&ctx.config.tls).await;
                    Err(timed_out(timeout))
                }
            }
        }
        Entry::Global(parse, role) => {
            if let Some(org) = job.org {
                return Err(JobError::discard(format!(
                    "{} is a global job kind but the job names organization {org}; global jobs run without one",
                    job.kind
                ))
                .into());
            }
            let prepared = parse(job.payload.clone()).map_err(parse_error)?;
            let mut session = GlobalSession::lazy(ctx.pool.clone(), *role, &ctx.config.session);
            session.set_cancel_flag(job.cancel.clone());
            let run = AssertUnwindSafe(prepared.run(&mut session)).catch_unwind();
            let outcome = tokio::time::timeout(timeout, run).await;
            count_rls_denials(ctx, &session);
            match outcome {
                Ok(result) => {
                    settle(
                        session.into_scoped(),
                        result,
                        job,
                        &ctx.config.worker_id,
                        &ctx.completer,
                    )
                    .await
                }
                Err(_) => {
                    session.into_scoped().abort(&ctx.config.tls).await;
                    Err(timed_out(timeout))
                }
            }
        }
    }
}

/// Completes jobs whose handlers never opened a transaction, many per
/// statement: requests queue on a channel and one task flushes whatever has
/// accumulated while the previous statement ran. Fenced like every other
/// completion (job running, same attempt, same worker).
struct Completer {
    tx: tokio::sync::mpsc::UnboundedSender<CompletionRequest>,
    /// The receiving end and what the flushing task needs, until
    /// [`Completer::start`] spawns it (inside the worker's runtime).
    pending: Mutex<Option<CompleterTask>>,
}

type CompletionRequest = (i64, i32, tokio::sync::oneshot::Sender<bool>);

struct CompleterTask {
    rx: tokio::sync::mpsc::UnboundedReceiver<CompletionRequest>,
    pool: Pool,
    mode: statements::StatementMode,
    worker_id: String,
}

impl Completer {
    fn new(pool: Pool, mode: statements::StatementMode, worker_id: String) -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Completer {
            tx,
            pending: Mutex::new(Some(CompleterTask {
                rx,
                pool,
                mode,
                worker_id,
            })),
        }
    }

    /// Spawns the flushing task (once). It ends when the worker, and with it
    /// every sender, is gone.
    fn start(&self) {
        let task = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(CompleterTask {
            mut rx,
            pool,
            mode,
            worker_id,
        }) = task
        else {
            return;
        };
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 2000).await > 0 {
                let ids: Vec<i64> = batch.iter().map(|(id, _, _)| *id).collect();
                let attempts: Vec<i32> = batch.iter().map(|(_, a, _)| *a).collect();
                // A failed statement is retried (the jobs keep their leases
                // meanwhile); only what a successful statement did not
                // complete is reported lost.
                let mut done = std::collections::HashSet::new();
                for attempt in 0..5u32 {
                    let result = match checkout(&pool, "completing jobs").await {
                        Ok(conn) => statements::query(
                            &conn,
                            mode,
                            COMPLETE_BATCH_SQL,
                            &[
                                (&ids, Type::INT8_ARRAY),
                                (&attempts, Type::INT4_ARRAY),
                                (&worker_id, Type::TEXT),
                            ],
                        )
                        .await
                        .map_err(|e| PgErr(&e).to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match result {
                        Ok(rows) => {
                            done = rows.iter().map(|r| r.get::<_, i64>(0)).collect();
                            break;
                        }
                        Err(e) => {
                            warn!(event = "batch_completion_failed", error = %e, jobs = ids.len(), attempt);
                            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                        }
                    }
                }
                for (id, _, reply) in batch.drain(..) {
                    let _ = reply.send(done.contains(&id));
                }
            }
        });
    }

    async fn complete(&self, id: i64, attempt: i32) -> Result<(), Failure> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self.tx.send((id, attempt, reply)).is_err() {
            return Err(Failure::Job(JobError::retry("the completer has stopped")));
        }
        match answer.await {
            Ok(true) => Ok(()),
            // Not completed: the attempt no longer holds the job, or the
            // statement failed (the lease then expires and the job re-runs;
            // it wrote nothing, so re-running it duplicates nothing).
            _ => Err(Failure::Lost(
                "batch completion did not complete the job".to_owned(),
            )),
        }
    }
}

fn timed_out(timeout: Duration) -> Failure {
    Failure::Job(JobError::retry(format!(
        "timed out after {:.3} s; the handler was cancelled and its writes rolled back",
        timeout.as_secs_f64()
    )))
}

/// Turns a handler's result into the end of its transaction: complete and
/// commit on success, roll back otherwise (a panic becomes a retryable
/// failure carrying the panic's message).
async fn settle(
    tx: ScopedTx,
    result: std::thread::Result<Result<(), JobError>>,
    job: &ClaimedJob,
    worker_id: &str,
    completer: &Completer,
) -> Result<(), Failure> {
    match result {
        Ok(Ok(())) => match tx.complete_and_commit(job.id, job.attempt, worker_id).await {
            Ok(Some(_conn)) => Ok(()),
            // The handler never touched the database: complete in a batch.
            Ok(None) => completer.complete(job.id, job.attempt).await,
            Err(e) => Err(completion_failure(e)),
        },
        Ok(Err(e)) => {
            let _ = tx.rollback().await;
            Err(e.into())
        }
        Err(panic) => {
            let _ = tx.rollback().await;
            Err(JobError::retry(format!("handler panicked: {}", panic_message(&panic))).into())
        }
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

/// Counts the statements of a job that row-level security refused, by
/// table (`rls_denied_total{table}`).
fn count_rls_denials(ctx: &Ctx, tx: &ScopedTx) {
    let names = ctx.tenant_relnames.get().map(Vec::as_slice).unwrap_or(&[]);
    for message in tx.take_rls_denials() {
        let table = denied_table(&message, names).unwrap_or("unknown");
        ctx.metrics.rls_denied.with_label_values(&[table]).inc();
    }
}

/// Which of `tables` a (possibly translated) refusal message names: table
/// names are not translated, so the longest one that appears as a whole
/// word (between characters that cannot be part of an identifier) wins.
fn denied_table<'a>(message: &str, tables: &'a [String]) -> Option<&'a str> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    tables
        .iter()
        .filter(|t| {
            message.match_indices(t.as_str()).any(|(i, m)| {
                let before = message[..i].chars().next_back();
                let after = message[i + m.len()..].chars().next();
                !before.is_some_and(ident) && !after.is_some_and(ident)
            })
        })
        .max_by_key(|t| t.len())
        .map(String::as_str)
}

async fn record_failure(
    ctx: &Ctx,
    job: &ClaimedJob,
    e: &JobError,
    policy: &RetryPolicy,
) -> Outcome {
    let discard = !e.is_retryable();
    let delay = policy.delay(job.attempt).as_secs_f64();
    let message = e.message();
    // Through statements::query, like every statement outside a job's
    // transaction: behind a transaction-pooling PgBouncer a cached (named)
    // statement would be prepared on one server connection and executed on
    // another ("prepared statement does not exist", SQLSTATE 26000).
    let result = async {
        let conn = checkout(&ctx.pool, "recording a job's result")
            .await
            .map_err(|e| e.to_string())?;
        statements::query(
            &conn,
            ctx.config.session.statements,
            FAIL_SQL,
            &[
                (&job.id, Type::INT8),
                (&job.attempt, Type::INT4),
                (&ctx.config.worker_id, Type::TEXT),
                (&message, Type::TEXT),
                (&discard, Type::BOOL),
                (&delay, Type::FLOAT8),
            ],
        )
        .await
        .map(|rows| rows.into_iter().next())
        .map_err(|e| PgErr(&e).to_string())
    }
    .await;
    match result {
        Ok(Some(row)) => {
            let state: String = row.get(0);
            let outcome = match state.as_str() {
                "discarded" | "cancelled" => Outcome::Discarded,
                _ => Outcome::Retried,
            };
            warn!(
                event = "job_failed",
                job_id = job.id,
                kind = %job.kind,
                attempt = job.attempt,
                state = %state,
                error = %e.message(),
            );
            outcome
        }
        Ok(None) => Outcome::Lost,
        Err(reason) => {
            error!(event = "recording_failure_failed", job_id = job.id, error = %reason, job_error = %e.message());
            Outcome::Lost
        }
    }
}

async fn listen_loop(url: DbUrl, wake: Arc<Notify>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let session = match url.tls().connector() {
            Some(tls) => match url.config().connect(tls.clone()).await {
                Ok((client, connection)) => Ok(listen(client, connection, &wake).await),
                Err(e) => Err(e),
            },
            None => match url.config().connect(NoTls).await {
                Ok((client, connection)) => Ok(listen(client, connection, &wake).await),
                Err(e) => Err(e),
            },
        };
        match session {
            // A session that was listening resets the backoff.
            Ok(true) => backoff = Duration::from_millis(200),
            Ok(false) => {}
            Err(e) => {
                warn!(event = "listener_connect_failed", url = %url.redacted(), error = %PgErr(&e))
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// LISTENs on one connection until it breaks. Returns whether LISTEN
/// succeeded.
async fn listen<S, T>(
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    wake: &Arc<Notify>,
) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let wake_conn = wake.clone();
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(msg) = messages.next().await {
            match msg {
                Ok(AsyncMessage::Notification(_)) => wake_conn.notify_one(),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let listening = match client.batch_execute("LISTEN orgjobs_jobs").await {
        Ok(()) => {
            // Notifications sent while we were away are lost: look.
            wake.notify_one();
            let res = (&mut driver).await;
            warn!(event = "listener_disconnected", result = ?res.map(|r| r.map_err(|e| PgErr(&e).to_string())));
            true
        }
        Err(e) => {
            driver.abort();
            warn!(event = "listen_failed", error = %PgErr(&e));
            false
        }
    };
    drop(client);
    listening
}

#[cfg(test)]
mod tests {
    use super::denied_table;

    #[test]
    fn finds_the_table_in_a_refusal_in_any_language() {
        let tables = ["tickets".to_owned(), "ticket_ai_triage".to_owned()];
        assert_eq!(
            denied_table(
                "new row violates row-level security policy for table \"tickets\"",
                &tables
            ),
            Some("tickets")
        );
        assert_eq!(
            denied_table(
                "neue Zeile verletzt Policy für Sicherheit auf Zeilenebene für Tabelle »ticket_ai_triage«",
                &tables
            ),
            Some("ticket_ai_triage")
        );
        assert_eq!(
            denied_table("permission denied for table ticketsx", &tables),
            None
        );
    }
}
