//! The worker: claims jobs in batches, runs each in its own transaction with
//! the right context, and turns every result (success, error, panic) into
//! exactly one state transition.
//!
//! One file per concept: [`config`] (configuration and outcomes), [`claim`]
//! (the claim and the fair cursor), [`execute`] (one job, from transaction
//! to recorded outcome), [`completer`] (batched completion), [`lease`]
//! (heartbeat and release), [`listen`] (LISTEN). This file holds the claim
//! loop that ties them together.
//!
//! Invariants:
//! - a tenant kind runs only in a [`TenantTx`](crate::TenantTx) for the
//!   job's organization; a tenant job without one is discarded without
//!   running;
//! - a global kind runs only in a [`GlobalTx`](crate::GlobalTx) and
//!   never for a job that names an organization;
//! - completion is written in the handler's transaction; a failure is
//!   recorded after that transaction rolled back, fenced by attempt and
//!   worker, so an executor that lost its job changes nothing;
//! - a panicking handler fails its attempt; the worker goes on.

mod batch;
mod claim;
mod completer;
mod config;
mod execute;
mod lease;
mod listen;
mod report;
mod share;
mod slots;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{error, info, warn};
use uuid::Uuid;

pub use claim::{CLAIM_FAIR_SQL, CLAIM_LOCK_CLASS, CLAIM_SQL};
pub use completer::BatchCompleter;
pub use config::{Outcome, RunSummary, WorkerConfig, WorkerError, default_worker_id};
pub use lease::{LeaseReport, Leases};
pub use listen::NOTIFY_CHANNEL;

use crate::catalog;
use crate::db::{DbUrl, ServiceDb, checkout};
use crate::handler::Scope;
use crate::health::Health;
use crate::maintenance::Maintenance;
use crate::metrics::Metrics;
use crate::registry::{OrgBatch, Registry};
use claim::{ClaimedJob, Claimer, FairCursor};
use completer::Completer;
use report::Reports;
use share::WorkerTime;
use slots::Slots;

/// A job this worker is running: its fencing token and the flag its
/// handler reads to see a cancel request.
struct Running {
    attempt: i32,
    cancel: Arc<AtomicBool>,
}

/// What the worker's tasks share.
pub(crate) struct Ctx {
    pub(crate) pool: Pool,
    pub(crate) registry: Arc<Registry>,
    pub(crate) metrics: Metrics,
    pub(crate) config: WorkerConfig,
    running: Mutex<HashMap<i64, Running>>,
    claimer: Claimer,
    /// How many handlers run at once.
    slots: Slots,
    /// Each organization's recent share of this worker's handler time.
    pub(crate) share: WorkerTime,
    /// Batches completions of jobs that never opened a transaction.
    pub(crate) completer: Completer,
    /// Presence and history, written every few seconds.
    pub(crate) reports: Reports,
    leases: Leases,
    /// Whether claims and lease renewals reach the database.
    health: Health,
    /// The tenant tables' bare names, read at startup, to label
    /// `rls_denied_total`.
    pub(crate) tenant_relnames: std::sync::OnceLock<Vec<String>>,
}

impl Ctx {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        // A poisoned lock only means a panic elsewhere while holding it; the
        // map itself stays consistent (single inserts and removes).
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets a job that ended.
    pub(crate) fn finished(&self, id: i64) {
        self.running().remove(&id);
    }

    /// (job id, attempt) of every running job.
    fn held(&self) -> Vec<(i64, i32)> {
        self.running()
            .iter()
            .map(|(id, r)| (*id, r.attempt))
            .collect()
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
        let db = ServiceDb {
            pool: pool.clone(),
            statements: config.session.statements,
            clock: config.clock.clone(),
        };
        let claimer = Claimer {
            pool: pool.clone(),
            mode: config.session.statements,
            worker_id: config.worker_id.clone(),
            lease_secs: config.lease.as_secs_f64(),
            fair: config.fair,
            org_concurrency: config.org_concurrency,
            cursor: FairCursor::default(),
            clock: config.clock.clone(),
        };
        let slots = Slots::new(config.concurrency);
        let share = WorkerTime::new(config.org_weights.clone());
        Worker {
            ctx: Arc::new(Ctx {
                completer: Completer::new(BatchCompleter::new(db.clone(), &config.worker_id)),
                leases: Leases::new(db, &config.worker_id, config.lease),
                pool,
                registry,
                metrics,
                config,
                running: Mutex::new(HashMap::new()),
                slots,
                share,
                claimer,
                health: Health::new(),
                reports: Reports::new(),
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
            .map(|url| tokio::spawn(listen::listen_loop(url, wake.clone())));
        let heartbeat = tokio::spawn(heartbeat_loop(ctx.clone()));
        let (stop_reports, reports_stop) = tokio::sync::watch::channel(false);
        let reporter = tokio::spawn(report_loop(ctx.clone(), reports_stop));
        let maintenance = Arc::new(Maintenance::new(
            ServiceDb {
                pool: ctx.pool.clone(),
                statements: ctx.config.session.statements,
                clock: ctx.config.clock.clone(),
            },
            &ctx.config.worker_id,
            ctx.config.leader_ttl,
            ctx.config.periodic.clone(),
            ctx.metrics.clone(),
        ));
        // Through a shared handle, so that resign() can use the same state
        // after the ticking task is aborted.
        let maintainer = {
            let m = maintenance.clone();
            tokio::spawn(async move { m.run().await })
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
        let _ = maintenance.leader.resign().await;
        release_unfinished(&ctx).await;
        heartbeat.abort();
        // The report loop finishes the report it is writing (so that no
        // late report marks the stopped worker live again), then ends; a
        // report stuck for 10 s is given up (its tallies are lost).
        let _ = stop_reports.send(true);
        let abort = reporter.abort_handle();
        if tokio::time::timeout(Duration::from_secs(10), reporter)
            .await
            .is_err()
        {
            abort.abort();
        }
        report_stopped(&ctx).await;
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
    check_tenancy(
        &conn,
        &ctx.config.session.tenant_role,
        ctx.config.require_strict,
    )
    .await?;
    let context = crate::session::ContextMode::detect(&conn).await?;
    if context != ctx.config.session.context {
        return Err(WorkerError::Config(format!(
            "the organization context would be set the {:?} way, but this database needs the {context:?} way{}: build the session configuration with SessionConfig::detected",
            ctx.config.session.context,
            if context == crate::session::ContextMode::Propagated {
                " (a Citus coordinator: set_config does not reach the worker nodes)"
            } else {
                " (no Citus here)"
            }
        )));
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

/// The tenancy part of the worker's startup check, for every process that
/// runs tenant transactions (the worker, `orgjobs serve`): refuses when
/// tenant work could bypass row-level security (a tenant table without
/// forced RLS or the standard policy, a tenant role that bypasses RLS, an
/// unreviewed `SECURITY DEFINER` function, ...), and when strict tenant
/// mode is off and `require_strict` is set (otherwise warns).
pub async fn check_tenancy(
    conn: &tokio_postgres::Client,
    tenant_role: &str,
    require_strict: bool,
) -> Result<(), WorkerError> {
    let problems = catalog::tenancy_problems(conn, tenant_role).await?;
    if !problems.is_empty() {
        return Err(WorkerError::Unsafe(problems));
    }
    let strict = crate::strict::strict_status(conn, tenant_role).await?;
    if !strict.is_strict() {
        let open = strict.open_paths().join(", ");
        if require_strict {
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
    Ok(())
}

async fn claim_loop(
    ctx: &Arc<Ctx>,
    wake: &Notify,
    shutdown: impl Future<Output = ()>,
) -> RunSummary {
    let cfg = &ctx.config;
    // Each task runs one job, or one organization batch.
    let mut tasks: JoinSet<Vec<Outcome>> = JoinSet::new();
    let mut summary = RunSummary::default();
    let mut backoff = Duration::from_millis(100);
    tokio::pin!(shutdown);
    loop {
        while let Some(res) = tasks.try_join_next() {
            reap(&mut summary, res);
        }
        // Jobs held: running handlers, and finished ones whose batched
        // completion is not yet recorded (at most `concurrency` of those).
        let held_room = (2 * cfg.concurrency).saturating_sub(tasks.len());
        let free = ctx.slots.free().min(held_room);
        let want = free.min(cfg.batch_size.max(1));
        // Claim when half a batch of slots is free (or nothing runs): one
        // claim per freed slot would turn a busy queue into many tiny
        // claims, and the claim loop runs one claim at a time.
        let low_water = (cfg.batch_size.min(cfg.concurrency) / 2).max(1);
        let mut more = false;
        if want > 0 && (want >= low_water || tasks.is_empty()) {
            let idle = tasks.is_empty();
            let ahead = if cfg.fair && cfg.fair_by_time {
                ctx.share.ahead(std::time::Instant::now())
            } else {
                Vec::new()
            };
            match ctx.claimer.claim(want, &ahead).await {
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
                    let mut batches: Vec<(Uuid, OrgBatch, Vec<ClaimedJob>)> = Vec::new();
                    let claimed_at = std::time::Instant::now();
                    for mut job in jobs {
                        // Only this loop takes slots, and it claimed no
                        // more than were free.
                        if let Some(slot) = ctx.slots.take() {
                            job.slot = slot;
                        }
                        if let (Some(org), true) = (job.org, cfg.fair_by_time) {
                            job.charged = ctx.share.claimed(org, claimed_at);
                        }
                        match (job.org, ctx.registry.org_batch(&job.kind)) {
                            (Some(org), Some(limit)) => {
                                let open = batches.iter_mut().find(|(o, _, b)| {
                                    *o == org && b[0].kind == job.kind && b.len() < limit.max_jobs
                                });
                                match open {
                                    Some((_, _, b)) => b.push(job),
                                    None => batches.push((org, limit, vec![job])),
                                }
                            }
                            _ => {
                                let ctx = ctx.clone();
                                tasks.spawn(async move { vec![execute::execute(&ctx, job).await] });
                            }
                        }
                    }
                    for (org, limit, mut jobs) in batches {
                        let ctx = ctx.clone();
                        if jobs.len() == 1 {
                            let job = jobs.remove(0);
                            tasks.spawn(async move { vec![execute::execute(&ctx, job).await] });
                        } else {
                            tasks.spawn(async move {
                                batch::execute_batch(&ctx, org, jobs, limit).await
                            });
                        }
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
        let has_room = ctx.slots.free() > 0 && tasks.len() < 2 * cfg.concurrency;
        if more && has_room {
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            Some(res) = tasks.join_next(), if !tasks.is_empty() => reap(&mut summary, res),
            _ = ctx.slots.freed() => {}
            _ = wake.notified(), if has_room => {}
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
            for o in res.unwrap_or_default() {
                summary.add(o);
            }
        }
    }
    summary
}

/// Gives back every job still marked as running by this worker (their
/// handlers were interrupted at shutdown) so that they run again at once.
async fn release_unfinished(ctx: &Ctx) {
    let held = ctx.held();
    if held.is_empty() {
        return;
    }
    match ctx.leases.release(&held).await {
        Ok(count) => info!(event = "jobs_released", count, ids = ?held),
        Err(e) => {
            warn!(event = "release_failed", error = %e, "the jobs run again when their lease expires")
        }
    }
}

/// Reports the worker's presence and history every few seconds, from its
/// start (failures are logged; the tallies wait for the next report).
async fn report_loop(ctx: Arc<Ctx>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = report_once(&ctx).await {
            warn!(event = "report_failed", error = %e);
        }
        tokio::select! {
            () = tokio::time::sleep(report::REPORT_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One report; sets `workers_without_heartbeat` from it.
async fn report_once(ctx: &Ctx) -> Result<(), crate::error::DbError> {
    let conn = checkout(&ctx.pool, "reporting the worker").await?;
    let silent = ctx
        .reports
        .report(
            &conn,
            &ctx.config.worker_id,
            ctx.config.concurrency,
            &ctx.registry.kind_list(),
        )
        .await?;
    ctx.metrics.workers_without_heartbeat.set(silent);
    Ok(())
}

/// The last report of a worker that stops, and its stop.
async fn report_stopped(ctx: &Ctx) {
    let result = async {
        report_once(ctx).await?;
        let conn = checkout(&ctx.pool, "reporting the worker").await?;
        Reports::stopped(&conn, &ctx.config.worker_id).await
    }
    .await;
    if let Err(e) = result {
        warn!(event = "report_failed", error = %e);
    }
}

/// Renews the leases of running jobs every third of the lease, and passes
/// cancel requests on to their handlers.
async fn heartbeat_loop(ctx: Arc<Ctx>) {
    let every = ctx.leases.interval();
    // Jobs a renewal found no longer held while their handlers still ran.
    // One whose transaction was committing at that moment (a two-phase
    // commit on Citus returns late) has ended by the next renewal; a job
    // really taken is still running then, and only that one is reported.
    let mut suspected: std::collections::HashSet<i64> = std::collections::HashSet::new();
    loop {
        tokio::time::sleep(every).await;
        let held = ctx.held();
        if held.is_empty() {
            continue;
        }
        // Bounded: a stalled renewal is given up after two thirds of the
        // lease (past that the leases expire anyway) and tried afresh; a
        // merely slow one (a loaded server) still gets through.
        let report = match tokio::time::timeout(every * 2, ctx.leases.run_once(&held)).await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                ctx.health.failed(&e.to_string());
                warn!(event = "heartbeat_failed", error = %e);
                continue;
            }
            Err(_) => {
                warn!(
                    event = "heartbeat_failed",
                    error = "lease renewal timed out"
                );
                continue;
            }
        };
        ctx.health.reached();
        let running = ctx.running();
        for id in &report.cancel_requested {
            if let Some(job) = running.get(id) {
                job.cancel.store(true, Ordering::Relaxed);
            }
        }
        let lost: std::collections::HashSet<i64> = report
            .lost
            .iter()
            .copied()
            .filter(|id| running.contains_key(id))
            .collect();
        for id in lost.intersection(&suspected) {
            warn!(
                event = "lease_lost",
                job_id = id,
                "the job was taken from this worker; its result will not be kept"
            );
        }
        suspected = lost;
    }
}

fn reap(summary: &mut RunSummary, res: Result<Vec<Outcome>, tokio::task::JoinError>) {
    match res {
        Ok(outcomes) => {
            for o in outcomes {
                summary.add(o);
            }
        }
        Err(e) => {
            // execute() catches handler panics; this is a bug in the runtime.
            error!(event = "executor_failed", error = %e);
            summary.add(Outcome::Lost);
        }
    }
}
