//! Running one claimed job: the right transaction for its scope, the
//! handler under a timeout and `catch_unwind`, and exactly one state
//! transition for whatever happened (completion in the handler's own
//! transaction; a failure recorded after it rolled back, fenced by attempt
//! and worker).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio_postgres::types::Type;
use tracing::{error, info, warn};

use super::Ctx;
use super::claim::ClaimedJob;
use super::config::Outcome;
use crate::db::checkout;
use crate::error::{DbError, PgErr};
use crate::handler::{JobError, RetryPolicy};
use crate::registry::Entry;
use crate::session::{GlobalTx, ScopedTx, TenantTx};
use crate::statements;

const FAIL_SQL: &str = include_str!("../../sql/worker/fail.sql");

/// SQLSTATE raised by `orgjobs.complete_job` when the attempt no longer holds
/// its job.
const LOST_JOB_SQLSTATE: &str = "OJ001";

pub(crate) async fn execute(ctx: &Ctx, job: ClaimedJob) -> Outcome {
    let started = Instant::now();
    let policy = ctx
        .registry
        .entry(&job.kind)
        .map(|(_, p, _)| *p)
        .unwrap_or_default();
    let result = run_job(ctx, &job).await;
    let outcome = match result {
        Ok(()) => Outcome::Completed,
        Err(Failure::Lost(reason)) => lost(&job, &reason),
        Err(Failure::Job(e)) => record_failure(ctx, &job, &e, &policy).await,
    };
    job_finished(ctx, &job, outcome, started.elapsed());
    outcome
}

/// A job whose attempt no longer holds it: nothing of it is kept.
pub(super) fn lost(job: &ClaimedJob, reason: &str) -> Outcome {
    warn!(event = "job_lost", job_id = job.id, kind = %job.kind, attempt = job.attempt, reason = %reason);
    Outcome::Lost
}

/// Counts a job's handler time in its organization's share of worker time,
/// once.
pub(super) fn account(ctx: &Ctx, job: &ClaimedJob, took: Duration) {
    if let (Some(org), true) = (job.org, ctx.config.fair_by_time) {
        if !job
            .accounted
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            ctx.share
                .ended(org, took, job.charged, std::time::Instant::now());
        }
    }
}

/// The end of one job, whatever ran it: forgotten by the worker, counted
/// and logged.
pub(super) fn job_finished(ctx: &Ctx, job: &ClaimedJob, outcome: Outcome, elapsed: Duration) {
    ctx.finished(job.id);
    account(ctx, job, elapsed);
    ctx.reports
        .ended(job.org, &job.kind, outcome, elapsed, job.waited_secs);
    let kind_label = if ctx.registry.entry(&job.kind).is_some() {
        job.kind.as_str()
    } else {
        "unknown"
    };
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
            let commit = ctx.registry.commit_mode(&job.kind);
            let mut tx = TenantTx::lazy(ctx.pool.clone(), org, &ctx.config.session, commit);
            tx.set_cancel_flag(job.cancel.clone());
            let run = AssertUnwindSafe(prepared.run(&mut tx)).catch_unwind();
            let outcome = tokio::time::timeout(timeout, run).await;
            finish(ctx, job, tx.into_scoped(), outcome, timeout).await
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
            let commit = ctx.registry.commit_mode(&job.kind);
            let mut session = GlobalTx::lazy(ctx.pool.clone(), *role, &ctx.config.session, commit);
            session.set_cancel_flag(job.cancel.clone());
            let run = AssertUnwindSafe(prepared.run(&mut session)).catch_unwind();
            let outcome = tokio::time::timeout(timeout, run).await;
            finish(ctx, job, session.into_scoped(), outcome, timeout).await
        }
    }
}

/// What a handler returned (or that it panicked), or that it ran out of
/// time.
type HandlerOutcome =
    Result<std::thread::Result<Result<(), JobError>>, tokio::time::error::Elapsed>;

/// Ends a job's transaction per its handler's outcome: completion and
/// commit, rollback and a failure, or (timed out) cancel and close.
async fn finish(
    ctx: &Ctx,
    job: &ClaimedJob,
    tx: ScopedTx,
    outcome: HandlerOutcome,
    timeout: Duration,
) -> Result<(), Failure> {
    count_rls_denials(ctx, &tx);
    match outcome {
        Ok(result) => settle(ctx, tx, result, job).await,
        Err(_) => {
            tx.abort(&ctx.config.cancel).await;
            Err(timed_out(timeout))
        }
    }
}

fn timed_out(timeout: Duration) -> Failure {
    Failure::Job(timed_out_error(timeout))
}

pub(super) fn timed_out_error(timeout: Duration) -> JobError {
    JobError::retry(format!(
        "timed out after {:.3} s; the handler was cancelled and its writes rolled back",
        timeout.as_secs_f64()
    ))
}

/// Turns a handler's result into the end of its transaction: complete and
/// commit on success, roll back otherwise (a panic becomes a retryable
/// failure carrying the panic's message).
async fn settle(
    ctx: &Ctx,
    tx: ScopedTx,
    result: std::thread::Result<Result<(), JobError>>,
    job: &ClaimedJob,
) -> Result<(), Failure> {
    let worker_id = ctx.config.worker_id.as_str();
    let completer = &ctx.completer;
    match result {
        Ok(Ok(())) => match tx.complete_and_commit(job.id, job.attempt, worker_id).await {
            Ok(Some(_conn)) => Ok(()),
            // The handler never touched the database: complete in a batch.
            Ok(None) => {
                // The handler is done: its time counts now, and its slot
                // is free for the next claim.
                account(ctx, job, job.claimed_at.elapsed());
                job.slot.give_back();
                match completer.complete(job.id, job.attempt).await {
                    Some(true) => Ok(()),
                    None => Err(Failure::Job(JobError::retry("the completer has stopped"))),
                    // Not completed: the attempt no longer holds the job, or the
                    // statement failed (the lease then expires and the job
                    // re-runs; it wrote nothing, so re-running it duplicates
                    // nothing).
                    Some(false) => Err(Failure::Lost(
                        "batch completion did not complete the job".to_owned(),
                    )),
                }
            }
            Err(e) => Err(completion_failure(e)),
        },
        Ok(Err(e)) => {
            let _ = tx.rollback().await;
            Err(e.into())
        }
        Err(panic) => {
            let _ = tx.rollback().await;
            Err(panicked(&panic).into())
        }
    }
}

/// A handler's panic as a failed, retryable attempt.
pub(super) fn panicked(panic: &Box<dyn Any + Send>) -> JobError {
    JobError::retry(format!("handler panicked: {}", panic_message(panic)))
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
pub(super) fn count_rls_denials(ctx: &Ctx, tx: &ScopedTx) {
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

pub(super) async fn record_failure(
    ctx: &Ctx,
    job: &ClaimedJob,
    e: &JobError,
    policy: &RetryPolicy,
) -> Outcome {
    let discard = !e.is_retryable();
    let delay = policy.delay(job.attempt).as_secs_f64();
    let message = e.message();
    let now = ctx.config.clock.now_param();
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
                (&now, Type::TIMESTAMPTZ),
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
