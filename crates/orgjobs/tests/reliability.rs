//! No job lost, no effect duplicated: crashes (SIGKILL), graceful shutdown,
//! killed connections, fencing of a worker that lost its job, timeouts and
//! cancellation. Real worker processes against the real server.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{FAULT_BIN, WorkerProcess, orgjobs};
use orgjobs_queue::{
    JobError, Metrics, NewJob, Registry, RetryPolicy, TenantHandler, TenantTx, enqueue,
};
use serde::Deserialize;

const FAST: &[&str] = &[
    "--lease-secs",
    "1.5",
    "--leader-ttl-secs",
    "1",
    "--no-periodic",
    "--concurrency",
    "8",
];

#[tokio::test]
async fn sigkilled_worker_loses_no_job_and_duplicates_no_effect() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    common::register(&pool, &common::fault_registry()).await;
    let (org, tickets) = common::seed_org_tickets(&pool, "A", 48).await;
    let jobs = common::enqueue_probes(&db, org, &tickets, 400).await;

    let mut a = WorkerProcess::start_bin(FAULT_BIN, db.url_string(), FAST);
    // Kill A while it has jobs in flight.
    // Running is checked last and the kill follows at once: each probe runs
    // for 400 ms, so the jobs seen running are still in flight when killed.
    common::wait_until(Duration::from_secs(20), "worker A to run jobs", || async {
        common::count_state(&db, &jobs, "completed").await >= 4
            && common::count_state(&db, &jobs, "running").await >= 4
    })
    .await;
    common::sigkill(&mut a.child);
    let killed_at = Instant::now();

    let b = WorkerProcess::start_bin(FAULT_BIN, db.url_string(), FAST);
    common::wait_until(Duration::from_secs(30), "every job to complete", || async {
        common::count_state(&db, &jobs, "completed").await == jobs.len() as i64
    })
    .await;
    let took = killed_at.elapsed();
    assert_eq!(
        common::marks(&db, &tickets).await,
        vec![1; tickets.len()],
        "one effect per job"
    );
    let rescued = common::admin_count(
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
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    common::register(&pool, &common::fault_registry()).await;
    let (org, tickets) = common::seed_org_tickets(&pool, "A", 2).await;
    let short = common::enqueue_probes(&db, org, &tickets[..1], 300).await;
    let long = common::enqueue_probes(&db, org, &tickets[1..], 60_000).await;
    let all: Vec<i64> = short.iter().chain(&long).copied().collect();
    let mut args = FAST.to_vec();
    args.extend_from_slice(&["--shutdown-timeout", "1.5"]);
    let w = WorkerProcess::start_bin(FAULT_BIN, db.url_string(), &args);
    common::wait_until(Duration::from_secs(20), "both jobs to start", || async {
        common::count_state(&db, &all, "running").await == 2
    })
    .await;
    let started = Instant::now();
    let status = w.terminate();
    assert!(status.success(), "exit 0 after SIGTERM: {status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let s = common::job(&db, short[0]).await;
    assert_eq!(
        s.state, "completed",
        "the short job finished during the grace period"
    );
    let l = common::job(&db, long[0]).await;
    assert_eq!(l.state, "available", "the long job was given back");
    // The interrupted attempt does not count against the job (one more is
    // allowed), and its number is never handed out again (a fencing token).
    assert_eq!(l.attempt, 1, "the attempt number does not go back");
    let max: i32 = common::admin_count(
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
    assert_eq!(common::marks(&db, &tickets).await, vec![1, 0]);
}

#[tokio::test]
async fn killed_connections_are_survived_without_loss_or_duplicates() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    common::register(&pool, &common::fault_registry()).await;
    let (org, tickets) = common::seed_org_tickets(&pool, "A", 40).await;
    let jobs = common::enqueue_probes(&db, org, &tickets, 150).await;
    let w = WorkerProcess::start_bin(FAULT_BIN, db.url_string(), FAST);
    let admin = db.admin_client().await;
    for round in 0..3 {
        common::wait_until(Duration::from_secs(20), "progress", || async {
            common::count_state(&db, &jobs, "completed").await >= 8 * (round + 1)
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
    common::wait_until(Duration::from_secs(40), "every job to complete", || async {
        common::count_state(&db, &jobs, "completed").await == jobs.len() as i64
    })
    .await;
    assert_eq!(common::marks(&db, &tickets).await, vec![1; tickets.len()]);
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
            "INSERT INTO tickets (organization_id, subject) VALUES ($1, 'gated write')",
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
        let db = common::db().await;
        let pool = common::pool(&db, 4).await;
        let org = common::seed_org(&pool, "A", 0).await;
        let gate = Gate::default();
        let reg = Registry::new().tenant(gate.clone());
        common::register(&pool, &reg).await;
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
            async move { common::drain(&pool, reg, &Metrics::new(), 1).await }
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
        let j = common::job(&db, id).await;
        assert_eq!(
            (j.state.as_str(), j.attempt),
            ("running", 1 + bump),
            "the new owner's job is untouched (fail={fail} bump={bump})"
        );
        assert!(j.errors.as_array().is_some_and(Vec::is_empty));
        let written = common::admin_count(
            &db,
            "SELECT count(*) FROM tickets WHERE subject = 'gated write'",
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
            "INSERT INTO tickets (organization_id, subject) VALUES ($1, 'before timeout')",
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
    let db = common::db().await;
    let pool = common::pool(&db, 4).await;
    let org = common::seed_org(&pool, "A", 0).await;
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
    common::register(&pool, &reg).await;
    let c = db.admin_client().await;
    let id = enqueue(&c, &reg, &NewJob::new("SLEEPER").org(org))
        .await
        .expect("enqueue");
    let started = Instant::now();
    let summary = common::drain(&pool, reg, &Metrics::new(), 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait for pg_sleep(60)"
    );
    assert_eq!(summary.retried, 1);
    let j = common::job(&db, id).await;
    assert_eq!(j.state, "retryable");
    assert!(
        j.last_error
            .unwrap_or_default()
            .starts_with("timed out after 0.300 s")
    );
    let written = common::admin_count(
        &db,
        "SELECT count(*) FROM tickets WHERE subject = 'before timeout'",
        &[],
    )
    .await;
    assert_eq!(written, 0);
    let sleeping = common::admin_count(
        &db,
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'",
        &[],
    )
    .await;
    assert_eq!(sleeping, 0, "the statement was cancelled on the server");
}

#[tokio::test]
async fn cancel_stops_a_waiting_job_and_asks_a_running_one() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    common::register(&pool, &common::fault_registry()).await;
    let (org, tickets) = common::seed_org_tickets(&pool, "A", 2).await;
    let running = common::enqueue_probes(&db, org, &tickets[..1], 60_000).await[0];
    let later = NewJob {
        run_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..NewJob::new("FAULT_PROBE")
            .org(org)
            .payload(serde_json::json!({ "ticket_id": tickets[1] }))
    };
    let c = db.admin_client().await;
    let waiting = enqueue(&c, &common::fault_registry(), &later)
        .await
        .expect("enqueue");
    let out = orgjobs(db.url_string(), &["jobs", "cancel", &waiting.to_string()]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(common::job(&db, waiting).await.state, "cancelled");

    let w = WorkerProcess::start_bin(FAULT_BIN, db.url_string(), FAST);
    common::wait_until(Duration::from_secs(20), "the job to run", || async {
        common::job(&db, running).await.state == "running"
    })
    .await;
    let out = orgjobs(db.url_string(), &["jobs", "cancel", &running.to_string()]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cancellation requested"),
        "{}",
        common::text(&out)
    );
    let j = common::wait_for_state(&db, running, "cancelled").await;
    assert_eq!(j.last_error.as_deref(), Some("cancelled on request"));
    assert_eq!(common::marks(&db, &tickets).await, vec![0, 0]);
    let again = orgjobs(db.url_string(), &["jobs", "cancel", &running.to_string()]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("is cancelled; only waiting or running jobs can be cancelled")
    );
    assert!(w.terminate().success());
}

#[tokio::test]
async fn unique_jobs_under_concurrent_enqueue() {
    let db = common::db().await;
    let pool = common::pool(&db, 20).await;
    let reg = Arc::new(common::fault_registry());
    common::register(&pool, &reg).await;
    let (a, ta) = common::seed_org_tickets(&pool, "A", 1).await;
    let (b, _) = common::seed_org_tickets(&pool, "B", 0).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (pool, reg, barrier, ids) = (pool.clone(), reg.clone(), barrier.clone(), ids.clone());
        let org = if i % 2 == 0 { a } else { b };
        let ticket = ta[0];
        tasks.push(tokio::spawn(async move {
            let c = pool.get().await.expect("conn");
            let job = NewJob {
                unique_key: Some(format!("SLA_PREDICT:{ticket}")),
                ..NewJob::new("FAULT_PROBE")
                    .org(org)
                    .payload(serde_json::json!({ "ticket_id": ticket }))
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
    let rows = common::admin_count(&db, "SELECT count(*) FROM orgjobs.jobs", &[]).await;
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
        ..NewJob::new("FAULT_PROBE")
            .org(a)
            .payload(serde_json::json!({ "ticket_id": ta[0] }))
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
    let db = common::db().await;
    let args = [
        "--periodic",
        "SYSTEM_METRICS=* * * * * *",
        "--leader-ttl-secs",
        "0.6",
        "--concurrency",
        "2",
    ];
    let mut workers: Vec<WorkerProcess> = (0..3)
        .map(|_| WorkerProcess::start(db.url_string(), &args))
        .collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Kill the leader (worker ids are host-pid-random); another takes over.
    let c = db.admin_client().await;
    let before: i64 = common::admin_count(
        &db,
        "SELECT count(*) FROM orgjobs.jobs WHERE kind = 'SYSTEM_METRICS'",
        &[],
    )
    .await;
    let killed = leader_pid(&c).await;
    let leader = workers
        .iter()
        .position(|w| w.child.id() == killed)
        .expect("the leader is one of the three workers");
    let mut dead = workers.remove(leader);
    common::sigkill(&mut dead.child);
    tokio::time::sleep(Duration::from_millis(2500)).await;
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
    let distinct = common::admin_count(
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
    let db = common::db().await;
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
