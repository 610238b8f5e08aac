//! No job lost, no effect duplicated: crashes (SIGKILL), graceful shutdown,
//! killed connections, fencing of a worker that lost its job, timeouts and
//! cancellation. Real worker processes against the real server.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orgjobs_queue::{
    CancelOutcome, JobError, Metrics, NewJob, Registry, RetryPolicy, TenantHandler, TenantTx,
    cancel_job, enqueue,
};
use serde::Deserialize;
use support::process::{Spec, WorkerProcess};

worker_process_entry!();

/// Worker processes with short leases (1.5 s) and leadership (1 s).
fn fast(db: &orgjobs_testdb::TestDb) -> Spec {
    Spec::new(db.url_string())
}

fn probes() -> Registry {
    support::probe_registry(&Metrics::new())
}

#[tokio::test]
async fn sigkilled_worker_loses_no_job_and_duplicates_no_effect() {
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    support::register(&pool, &probes()).await;
    let (org, items) = support::seed_org_items(&pool, "A", 48).await;
    let jobs = support::enqueue_probes(&db, org, &items, 400).await;

    let mut a = WorkerProcess::start(&fast(&db));
    // Kill A while it has jobs in flight.
    // Running is checked last and the kill follows at once: each probe runs
    // for 400 ms, so the jobs seen running are still in flight when killed.
    support::wait_until(Duration::from_secs(20), "worker A to run jobs", || async {
        support::count_state(&db, &jobs, "completed").await >= 4
            && support::count_state(&db, &jobs, "running").await >= 4
    })
    .await;
    support::sigkill(&mut a.child);
    let killed_at = Instant::now();

    let b = WorkerProcess::start(&fast(&db));
    support::wait_until(Duration::from_secs(30), "every job to complete", || async {
        support::count_state(&db, &jobs, "completed").await == jobs.len() as i64
    })
    .await;
    let took = killed_at.elapsed();
    assert_eq!(
        support::marks(&db, &items).await,
        vec![1; items.len()],
        "one effect per job"
    );
    let rescued = support::admin_count(
        &db,
        "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND errors::text LIKE '%lease expired%'",
        &[&jobs],
    )
    .await;
    assert!(
        rescued >= 1,
        "the in-flight jobs were rescued after their lease expired"
    );
    // Lease 1.5 s + leadership 1 s + the remaining work (~48 x 0.4 s / 8).
    assert!(took < Duration::from_secs(15), "recovered in {took:?}");
    assert!(b.terminate().success());
}

#[tokio::test]
async fn graceful_shutdown_finishes_short_jobs_and_gives_back_long_ones() {
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    support::register(&pool, &probes()).await;
    let (org, items) = support::seed_org_items(&pool, "A", 2).await;
    let short = support::enqueue_probes(&db, org, &items[..1], 300).await;
    let long = support::enqueue_probes(&db, org, &items[1..], 60_000).await;
    let all: Vec<i64> = short.iter().chain(&long).copied().collect();
    let w = WorkerProcess::start(&Spec {
        shutdown_timeout_ms: 1500,
        ..fast(&db)
    });
    support::wait_until(Duration::from_secs(20), "both jobs to start", || async {
        support::count_state(&db, &all, "running").await == 2
    })
    .await;
    let started = Instant::now();
    let status = w.terminate();
    assert!(status.success(), "exit 0 after SIGTERM: {status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let s = support::job(&db, short[0]).await;
    assert_eq!(
        s.state, "completed",
        "the short job finished during the grace period"
    );
    let l = support::job(&db, long[0]).await;
    assert_eq!(l.state, "available", "the long job was given back");
    // The interrupted attempt does not count against the job (one more is
    // allowed), and its number is never handed out again (a fencing token).
    assert_eq!(l.attempt, 1, "the attempt number does not go back");
    let max: i32 = support::admin_count(
        &db,
        "SELECT max_attempts::int8 FROM orgjobs.jobs WHERE id = $1",
        &[&long[0]],
    )
    .await
    .try_into()
    .expect("small");
    assert_eq!(max, 6, "an interrupted attempt does not count");
    assert!(
        l.run_at_in_secs <= 0.5,
        "runnable at once, not after a lease expiry"
    );
    assert_eq!(support::marks(&db, &items).await, vec![1, 0]);
}

#[tokio::test]
async fn killed_connections_are_survived_without_loss_or_duplicates() {
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    support::register(&pool, &probes()).await;
    let (org, items) = support::seed_org_items(&pool, "A", 40).await;
    let jobs = support::enqueue_probes(&db, org, &items, 150).await;
    let w = WorkerProcess::start(&fast(&db));
    let admin = db.admin_client().await;
    for round in 0..3 {
        support::wait_until(Duration::from_secs(20), "progress", || async {
            support::count_state(&db, &jobs, "completed").await >= 8 * (round + 1)
        })
        .await;
        // Every connection of the worker, mid-run (the test's own admin
        // connection is spared).
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND backend_type = 'client backend'",
                &[],
            )
            .await
            .expect("terminate");
    }
    support::wait_until(Duration::from_secs(40), "every job to complete", || async {
        support::count_state(&db, &jobs, "completed").await == jobs.len() as i64
    })
    .await;
    assert_eq!(support::marks(&db, &items).await, vec![1; items.len()]);
    let logs = w.logs();
    assert!(
        logs.iter()
            .any(|l| l["level"] == "WARN" || l["level"] == "ERROR"),
        "the lost connections were logged"
    );
    assert!(w.terminate().success());
}

/// A handler that waits for the test's signal before writing.
#[derive(Clone, Default)]
struct Gate(Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>);

#[derive(Debug, Deserialize)]
struct GatePayload {
    fail: bool,
}

impl TenantHandler for Gate {
    const KIND: &'static str = "GATED";
    type Payload = GatePayload;
    async fn run(&self, tx: &mut TenantTx, p: GatePayload) -> Result<(), JobError> {
        tx.execute(
            "INSERT INTO items (organization_id, subject) VALUES ($1, 'gated write')",
            &[&tx.org_id()],
        )
        .await?;
        self.0.notify_one(); // started
        self.1.notified().await; // released by the test
        if p.fail {
            return Err(JobError::retry("failing after losing the job"));
        }
        Ok(())
    }
}

/// A worker whose job was taken from it (rescued and claimed again by
/// another, simulated by advancing the attempt and changing the holder) can
/// neither complete nor fail it, and its writes do not commit. The worker id
/// fences too: with the attempt number unchanged and only the holder
/// changed, the old executor still cannot end the job.
#[tokio::test]
async fn a_worker_that_lost_its_job_cannot_complete_or_fail_it() {
    for (fail, bump) in [(false, 1), (true, 1), (false, 0), (true, 0)] {
        let db = support::db().await;
        let pool = support::pool(&db, 4).await;
        let org = support::seed_org(&pool, "A", 0).await;
        let gate = Gate::default();
        let reg = Registry::new().tenant(gate.clone());
        support::register(&pool, &reg).await;
        let c = db.admin_client().await;
        let id = enqueue(
            &c,
            &reg,
            &NewJob::new("GATED")
                .org(org)
                .payload(serde_json::json!({ "fail": fail })),
        )
        .await
        .expect("enqueue");
        let worker = tokio::spawn({
            let pool = pool.clone();
            async move { support::drain(&pool, reg, &Metrics::new(), 1).await }
        });
        gate.0.notified().await;
        // Another worker now owns the job (at attempt 1 + bump).
        c.execute(
            "UPDATE orgjobs.jobs SET attempt = attempt + $2, locked_by = 'someone-else' WHERE id = $1",
            &[&id, &bump],
        )
        .await
        .expect("take over");
        gate.1.notify_one();
        let summary = worker.await.expect("join");
        assert_eq!(summary.lost, 1, "fail={fail} bump={bump}");
        let j = support::job(&db, id).await;
        assert_eq!(
            (j.state.as_str(), j.attempt),
            ("running", 1 + bump),
            "the new owner's job is untouched (fail={fail} bump={bump})"
        );
        assert!(j.errors.as_array().is_some_and(Vec::is_empty));
        let written = support::admin_count(
            &db,
            "SELECT count(*) FROM items WHERE subject = 'gated write'",
            &[],
        )
        .await;
        assert_eq!(written, 0, "the old executor's writes did not commit");
    }
}

struct Sleeper;

impl TenantHandler for Sleeper {
    const KIND: &'static str = "SLEEPER";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, _: serde_json::Value) -> Result<(), JobError> {
        tx.execute(
            "INSERT INTO items (organization_id, subject) VALUES ($1, 'before timeout')",
            &[&tx.org_id()],
        )
        .await?;
        // A statement that would run for a minute: the timeout cancels it.
        tx.execute("SELECT pg_sleep(60)", &[]).await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_job_over_its_timeout_is_cancelled_rolled_back_and_retried() {
    let db = support::db().await;
    let pool = support::pool(&db, 4).await;
    let org = support::seed_org(&pool, "A", 0).await;
    let reg = Registry::new()
        .tenant(Sleeper)
        .with_timeout("SLEEPER", Duration::from_millis(300))
        .and_then(|r| {
            r.with_retry(
                "SLEEPER",
                RetryPolicy {
                    base: Duration::from_secs(600),
                    max: Duration::from_secs(600),
                    jitter: 0.0,
                },
            )
        })
        .expect("registered kind");
    support::register(&pool, &reg).await;
    let c = db.admin_client().await;
    let id = enqueue(&c, &reg, &NewJob::new("SLEEPER").org(org))
        .await
        .expect("enqueue");
    let started = Instant::now();
    let summary = support::drain(&pool, reg, &Metrics::new(), 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait for pg_sleep(60)"
    );
    assert_eq!(summary.retried, 1);
    let j = support::job(&db, id).await;
    assert_eq!(j.state, "retryable");
    assert!(
        j.last_error
            .unwrap_or_default()
            .starts_with("timed out after 0.300 s")
    );
    let written = support::admin_count(
        &db,
        "SELECT count(*) FROM items WHERE subject = 'before timeout'",
        &[],
    )
    .await;
    assert_eq!(written, 0);
    let sleeping = support::admin_count(
        &db,
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'",
        &[],
    )
    .await;
    assert_eq!(sleeping, 0, "the statement was cancelled on the server");
}

#[tokio::test]
async fn cancel_stops_a_waiting_job_and_asks_a_running_one() {
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    support::register(&pool, &probes()).await;
    let (org, items) = support::seed_org_items(&pool, "A", 2).await;
    let running = support::enqueue_probes(&db, org, &items[..1], 60_000).await[0];
    let later = NewJob {
        run_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..NewJob::new("PROBE")
            .org(org)
            .payload(serde_json::json!({ "item_id": items[1] }))
    };
    let c = db.admin_client().await;
    let waiting = enqueue(&c, &probes(), &later).await.expect("enqueue");
    let out = cancel_job(&c, waiting).await.expect("cancel");
    assert!(matches!(out, CancelOutcome::Cancelled), "{out:?}");
    assert_eq!(support::job(&db, waiting).await.state, "cancelled");

    let w = WorkerProcess::start(&fast(&db));
    support::wait_until(Duration::from_secs(20), "the job to run", || async {
        support::job(&db, running).await.state == "running"
    })
    .await;
    let out = cancel_job(&c, running).await.expect("cancel");
    assert!(matches!(out, CancelOutcome::Requested), "{out:?}");
    let j = support::wait_for_state(&db, running, "cancelled").await;
    assert_eq!(j.last_error.as_deref(), Some("cancelled on request"));
    assert_eq!(support::marks(&db, &items).await, vec![0, 0]);
    let again = cancel_job(&c, running).await.expect_err("already ended");
    assert!(
        again
            .to_string()
            .contains("is cancelled; only waiting or running jobs can be cancelled"),
        "{again}"
    );
    assert!(w.terminate().success());
}

#[tokio::test]
async fn unique_jobs_under_concurrent_enqueue() {
    let db = support::db().await;
    let pool = support::pool(&db, 20).await;
    let reg = Arc::new(probes());
    support::register(&pool, &reg).await;
    let (a, ta) = support::seed_org_items(&pool, "A", 1).await;
    let (b, _) = support::seed_org_items(&pool, "B", 0).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (pool, reg, barrier, ids) = (pool.clone(), reg.clone(), barrier.clone(), ids.clone());
        let org = if i % 2 == 0 { a } else { b };
        let item = ta[0];
        tasks.push(tokio::spawn(async move {
            let c = pool.get().await.expect("conn");
            let job = NewJob {
                unique_key: Some(format!("PROBE:{item}")),
                ..NewJob::new("PROBE")
                    .org(org)
                    .payload(serde_json::json!({ "item_id": item }))
            };
            barrier.wait().await;
            let id = enqueue(&**c, &reg, &job).await.expect("enqueue");
            ids.lock().expect("lock").push((org, id));
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let ids = ids.lock().expect("lock").clone();
    let for_org = |o| {
        let mut v: Vec<i64> = ids
            .iter()
            .filter(|(org, _)| *org == o)
            .map(|(_, id)| *id)
            .collect();
        v.dedup();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(for_org(a).len(), 1, "one waiting job for organization A");
    assert_eq!(for_org(b).len(), 1, "the key is scoped to the organization");
    assert_ne!(for_org(a), for_org(b));
    let rows = support::admin_count(&db, "SELECT count(*) FROM orgjobs.jobs", &[]).await;
    assert_eq!(rows, 2);
    // Once it has run, the key is free again.
    let c = db.admin_client().await;
    c.execute(
        "UPDATE orgjobs.jobs SET state = 'completed' WHERE organization_id = $1",
        &[&a],
    )
    .await
    .expect("complete");
    let job = NewJob {
        unique_key: Some(format!("SLA_PREDICT:{}", ta[0])),
        ..NewJob::new("PROBE")
            .org(a)
            .payload(serde_json::json!({ "item_id": ta[0] }))
    };
    let next = enqueue(&c, &reg, &job).await.expect("enqueue");
    assert!(!for_org(a).contains(&next));
}

/// The process id of the current maintenance leader (worker ids are
/// `host-pid-random`).
async fn leader_pid(c: &orgjobs_queue::tokio_postgres::Client) -> u32 {
    let id: String = c
        .query_one(
            "SELECT leader_id FROM orgjobs.leaders WHERE name = 'maintenance' AND expires_at > now()",
            &[],
        )
        .await
        .expect("a leader")
        .get(0);
    id.rsplit('-')
        .nth(1)
        .and_then(|p| p.parse::<u32>().ok())
        .expect("pid in worker id")
}

#[tokio::test]
async fn periodic_jobs_are_enqueued_once_per_occurrence_by_three_workers() {
    let db = support::db().await;
    let spec = Spec {
        periodic: vec![("SYSTEM_METRICS".to_owned(), "* * * * * *".to_owned())],
        leader_ttl_ms: 600,
        concurrency: 2,
        ..fast(&db)
    };
    let mut workers: Vec<WorkerProcess> = (0..3).map(|_| WorkerProcess::start(&spec)).collect();
    let c = db.admin_client().await;
    let enqueued = || async {
        support::admin_count(
            &db,
            "SELECT count(*) FROM orgjobs.jobs WHERE kind = 'SYSTEM_METRICS'",
            &[],
        )
        .await
    };
    support::wait_until(Duration::from_secs(20), "two occurrences", || async {
        enqueued().await >= 2
    })
    .await;
    // Kill the leader (worker ids are host-pid-random); another takes over.
    let before = enqueued().await;
    let killed = leader_pid(&c).await;
    let leader = workers
        .iter()
        .position(|w| w.child.id() == killed)
        .expect("the leader is one of the three workers");
    let mut dead = workers.remove(leader);
    support::sigkill(&mut dead.child);
    support::wait_until(
        Duration::from_secs(20),
        "occurrences after the kill",
        || async { enqueued().await >= before + 2 },
    )
    .await;
    let successor = leader_pid(&c).await;
    assert_ne!(successor, killed, "leadership passed on");
    assert!(workers.iter().any(|w| w.child.id() == successor));
    for w in workers.drain(..) {
        assert!(w.terminate().success());
    }
    let rows = c
        .query(
            "SELECT created_at FROM orgjobs.jobs WHERE kind = 'SYSTEM_METRICS' ORDER BY created_at",
            &[],
        )
        .await
        .expect("jobs");
    let last: Vec<chrono::DateTime<chrono::Utc>> = rows.iter().map(|r| r.get(0)).collect();
    let occurrences: Vec<chrono::DateTime<chrono::Utc>> = c
        .query(
            "SELECT last_occurrence FROM orgjobs.periodic WHERE name = 'SYSTEM_METRICS'",
            &[],
        )
        .await
        .expect("periodic")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(occurrences.len(), 1);
    assert!(before >= 1, "jobs were enqueued before the kill");
    assert!(last.len() >= 3, "one job per second, got {}", last.len());
    // Exactly once: each job carries its occurrence as its unique key.
    let distinct = support::admin_count(
        &db,
        "SELECT count(DISTINCT unique_key) FROM orgjobs.jobs WHERE kind = 'SYSTEM_METRICS'",
        &[],
    )
    .await;
    assert_eq!(distinct, last.len() as i64, "one job per occurrence");
    // And no more occurrences than seconds elapsed.
    let n = last.len();
    let span = (last[n - 1] - last[0]).num_milliseconds() as f64 / 1000.0;
    assert!((n as f64) <= span.ceil() + 1.0, "{n} jobs over {span} s");
}

/// A checkout from an exhausted pool fails after the pool's wait timeout
/// instead of waiting forever.
#[tokio::test]
async fn an_exhausted_pool_gives_up_after_its_wait_timeout() {
    let db = support::db().await;
    let pool = db
        .url()
        .pool_with(orgjobs_queue::PoolOptions {
            wait_timeout: Duration::from_millis(300),
            ..orgjobs_queue::PoolOptions::new(1)
        })
        .await
        .expect("pool");
    let held = pool.get().await.expect("the only connection");
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), pool.get())
        .await
        .expect("the checkout gave up by itself")
        .expect_err("no connection is free");
    let waited = started.elapsed();
    assert!(
        matches!(
            err,
            orgjobs_queue::deadpool_postgres::PoolError::Timeout(
                orgjobs_queue::deadpool_postgres::TimeoutType::Wait
            )
        ),
        "{err}"
    );
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    drop(held);
    assert!(pool.get().await.is_ok(), "free again once returned");
}
