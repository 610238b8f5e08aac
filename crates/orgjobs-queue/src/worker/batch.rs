//! Organization batches (opt-in per tenant kind, see
//! [`OrgBatch`](crate::OrgBatch)): jobs of one kind and one organization,
//! claimed together, run one after another in one tenant transaction, each
//! in its own savepoint, and commit once.
//!
//! Invariants, beside those of a single job:
//! - every job of a batch has the batch's organization (the claim loop
//!   groups by it) and the context is set once, by the runtime;
//! - a job's completion checks the organization (inside `complete_job`) and
//!   the role before its savepoint is released, so the next job starts in
//!   the context the runtime set; a job that fails is rolled back to its
//!   savepoint, which also undoes any setting it changed;
//! - anything that fails the transaction itself fails every job of the
//!   batch not yet committed; nothing of them committed, so they run again
//!   without a duplicate effect.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use uuid::Uuid;

use super::Ctx;
use super::claim::ClaimedJob;
use super::config::Outcome;
use super::execute::{self, job_finished, lost, panicked, record_failure};
use crate::handler::JobError;
use crate::registry::{Entry, OrgBatch};
use crate::session::TenantTx;

/// Runs `jobs` (one kind, organization `org`) as one batch; jobs left over
/// when the batch reaches `limit.max_time` run on their own afterwards.
pub(crate) async fn execute_batch(
    ctx: &Ctx,
    org: Uuid,
    jobs: Vec<ClaimedJob>,
    limit: OrgBatch,
) -> Vec<Outcome> {
    // In id order: the batch's transaction then locks its jobs' rows in the
    // order the lease renewal locks them, so the two cannot deadlock. They
    // commit together, so the order within a batch changes no one's wait.
    let mut jobs = jobs;
    jobs.sort_by_key(|j| j.id);
    let started = Instant::now();
    let Some(kind) = jobs.first().map(|j| j.kind.clone()) else {
        return Vec::new();
    };
    let (parse, policy, timeout) = match ctx.registry.entry(&kind) {
        Some((Entry::Tenant(parse), policy, timeout)) => (parse, *policy, timeout),
        _ => {
            // Not a tenant kind (cannot happen: the claim loop checked):
            // run each on its own.
            let mut out = Vec::new();
            for job in jobs {
                out.push(execute::execute(ctx, job).await);
            }
            return out;
        }
    };
    let commit = ctx.registry.commit_mode(&kind);
    let mut tx = Some(TenantTx::lazy(
        ctx.pool.clone(),
        org,
        &ctx.config.session,
        commit,
    ));
    let worker = ctx.config.worker_id.as_str();
    let role = ctx.config.session.tenant_role.as_str();
    // Completed inside the transaction, not yet committed.
    let mut done: Vec<&ClaimedJob> = Vec::new();
    let mut failed: Vec<(&ClaimedJob, JobError)> = Vec::new();
    let mut lost_jobs: Vec<(&ClaimedJob, String)> = Vec::new();
    let mut leftover: Vec<&ClaimedJob> = Vec::new();
    // Why the transaction itself failed, if it did.
    let mut broken: Option<String> = None;

    // Whether a savepoint is open for the next job: ROLLBACK TO keeps it,
    // and a completion opens the next one in its own flight.
    let mut savepoint_open = false;
    // Each job's handler time (for metrics and fairness by worker time).
    let mut took: HashMap<i64, Duration> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        let Some(t) = tx.as_mut() else {
            leftover.push(job);
            continue;
        };
        if broken.is_some() || started.elapsed() >= limit.max_time {
            leftover.push(job);
            continue;
        }
        let prepared = match parse(job.payload.clone()) {
            Ok(p) => p,
            Err(e) => {
                failed.push((
                    job,
                    JobError::discard(format!("payload for {} does not parse: {e}", job.kind)),
                ));
                continue;
            }
        };
        if !savepoint_open {
            if let Err(e) = t.savepoint().await {
                broken = Some(format!("opening the job's savepoint: {e}"));
                leftover.push(job);
                continue;
            }
            savepoint_open = true;
        }
        t.set_cancel_flag(job.cancel.clone());
        let run = AssertUnwindSafe(prepared.run(t)).catch_unwind();
        let job_started = Instant::now();
        let outcome = tokio::time::timeout(timeout, run).await;
        took.insert(job.id, job_started.elapsed());
        let error = match outcome {
            Ok(Ok(Ok(()))) => {
                let next = i + 1 < jobs.len();
                match t
                    .complete_in_savepoint(job.id, job.attempt, worker, role, next)
                    .await
                {
                    Ok(Ok(())) => {
                        done.push(job);
                        savepoint_open = next;
                        continue;
                    }
                    Ok(Err(changed)) => {
                        // Its savepoint is gone: nothing of this
                        // transaction may commit.
                        lost_jobs.push((job, changed.clone()));
                        broken = Some(changed);
                        continue;
                    }
                    Err(e) => {
                        lost_jobs.push((job, e.to_string()));
                        None
                    }
                }
            }
            Ok(Ok(Err(e))) => Some(e),
            Ok(Err(panic)) => Some(panicked(&panic)),
            Err(_) => {
                // The statement may still run: cancel it and close the
                // connection, which ends the whole transaction.
                if let Some(t) = tx.take() {
                    t.into_scoped().abort(&ctx.config.cancel).await;
                }
                failed.push((job, execute::timed_out_error(timeout)));
                broken = Some(format!(
                    "job {} ran past its timeout, which ends its transaction",
                    job.id
                ));
                continue;
            }
        };
        if let Some(e) = error {
            failed.push((job, e));
        }
        if let Err(e) = t.rollback_to_savepoint().await {
            broken = Some(format!("rolling back to the job's savepoint: {e}"));
        }
    }

    // One commit for every job completed in the transaction.
    if let Some(t) = tx {
        execute::count_rls_denials(ctx, &t);
        if broken.is_none() {
            if let Err(e) = t.commit().await {
                broken = Some(format!("committing the batch: {e}"));
            }
        } else {
            let _ = t.rollback().await;
        }
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut end = |job: &ClaimedJob, outcome: Outcome| {
        let t = took.get(&job.id).copied().unwrap_or_default();
        job_finished(ctx, job, outcome, t);
        outcomes.push(outcome);
    };
    match &broken {
        None => {
            for job in &done {
                end(job, Outcome::Completed);
            }
        }
        Some(reason) => {
            let e = JobError::retry(format!("its organization batch was rolled back ({reason})"));
            for job in &done {
                let o = record_failure(ctx, job, &e, &policy).await;
                end(job, o);
            }
        }
    }
    for (job, e) in &failed {
        let o = record_failure(ctx, job, e, &policy).await;
        end(job, o);
    }
    for (job, reason) in &lost_jobs {
        let o = lost(job, reason);
        end(job, o);
    }
    // Jobs the batch did not reach run on their own, each in its own
    // transaction (they are still held by this worker).
    let leftover_ids: Vec<i64> = leftover.iter().map(|j| j.id).collect();
    for job in jobs {
        if leftover_ids.contains(&job.id) {
            outcomes.push(execute::execute(ctx, job).await);
        }
    }
    outcomes
}
