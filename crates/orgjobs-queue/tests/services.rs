//! The background services driven directly, one `run_once` at a time, with
//! a stubbed clock: leases expire, leadership passes on, retries come due,
//! scheduled jobs start and periodic occurrences fall due because the test
//! moves the time, not because it waits.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use orgjobs_queue::services::{BatchCompleter, Leader, Leases, PeriodicEnqueuer, Rescuer};
use orgjobs_queue::{
    Clock, JobError, Metrics, NewJob, Periodic, Registry, RetryPolicy, ServiceDb, TenantHandler,
    TenantTx, WorkerConfig, enqueue,
};
use orgjobs_testdb::TestDb;
use uuid::Uuid;

/// A clock a second or two ahead of the server's (in whole seconds, as
/// PostgreSQL stores microseconds), so that what the server just stamped
/// `now()` is already in its past.
fn clock() -> Clock {
    use chrono::SubsecRound;
    Clock::stub(Utc::now().trunc_subsecs(0) + chrono::Duration::seconds(2))
}

async fn services(db: &TestDb, clock: &Clock) -> ServiceDb {
    ServiceDb {
        pool: support::pool(db, 4).await,
        statements: Default::default(),
        clock: clock.clone(),
    }
}

/// A job as a worker `worker` claimed it: running, at `attempt`, leased
/// until `until`.
async fn running_job(
    db: &TestDb,
    org: Uuid,
    worker: &str,
    attempt: i32,
    max_attempts: i32,
    until: DateTime<Utc>,
) -> i64 {
    db.admin_client()
        .await
        .query_one(
            "INSERT INTO orgjobs.jobs (kind, organization_id, state, attempt, max_attempts, locked_by, locked_until)
             VALUES ('PROBE', $1, 'running', $2, $3, $4, $5) RETURNING id",
            &[&org, &attempt, &max_attempts, &worker, &until],
        )
        .await
        .expect("running job")
        .get(0)
}

#[tokio::test]
async fn the_rescuer_rescues_leases_once_the_clock_passes_them() {
    let db = support::db().await;
    let clock = clock();
    let svc = services(&db, &clock).await;
    let org = support::seed_org(&svc.pool, "A", 0).await;
    let lease_end = clock.now() + chrono::Duration::seconds(30);
    let retried = running_job(&db, org, "w1", 1, 5, lease_end).await;
    let out_of_attempts = running_job(&db, org, "w1", 5, 5, lease_end).await;
    let cancelled = running_job(&db, org, "w1", 1, 5, lease_end).await;
    db.admin_client()
        .await
        .execute(
            "UPDATE orgjobs.jobs SET cancel_requested_at = now() WHERE id = $1",
            &[&cancelled],
        )
        .await
        .expect("cancel request");
    let rescuer = Rescuer::new(svc);
    assert_eq!(
        rescuer.run_once().await.expect("rescue").total(),
        0,
        "leases hold"
    );
    clock.advance(chrono::Duration::seconds(31));
    let report = rescuer.run_once().await.expect("rescue");
    assert_eq!(
        (report.retried, report.discarded, report.cancelled),
        (1, 1, 1)
    );
    let r = support::job(&db, retried).await;
    assert_eq!((r.state.as_str(), r.attempt), ("retryable", 1));
    assert!(
        r.last_error
            .unwrap_or_default()
            .contains("lease expired: worker w1"),
        "the lost attempt is recorded"
    );
    assert_eq!(support::job(&db, out_of_attempts).await.state, "discarded");
    assert_eq!(support::job(&db, cancelled).await.state, "cancelled");
    assert_eq!(rescuer.run_once().await.expect("rescue").total(), 0);
}

#[tokio::test]
async fn leadership_passes_on_only_when_it_expires_or_is_given_up() {
    let db = support::db().await;
    let clock = clock();
    let svc = services(&db, &clock).await;
    let ttl = Duration::from_secs(15);
    let a = Leader::new(svc.clone(), "maintenance", "worker-a", ttl);
    let b = Leader::new(svc, "maintenance", "worker-b", ttl);
    assert!(a.run_once().await.expect("a"));
    assert!(!b.run_once().await.expect("b"), "a leads");
    clock.advance(chrono::Duration::seconds(10));
    assert!(a.run_once().await.expect("a renews"));
    clock.advance(chrono::Duration::seconds(10));
    assert!(
        !b.run_once().await.expect("b"),
        "renewed 10 s ago: still a's"
    );
    clock.advance(chrono::Duration::seconds(16));
    assert!(b.run_once().await.expect("b"), "a let it expire");
    assert!(!a.run_once().await.expect("a"), "b leads now");
    b.resign().await.expect("resign");
    assert!(a.run_once().await.expect("a"), "given up: taken at once");
}

#[tokio::test]
async fn each_periodic_occurrence_is_enqueued_once_and_missed_ones_are_not_backfilled() {
    let db = support::db().await;
    let clock = Clock::stub(
        "2026-12-01T09:00:30Z"
            .parse::<DateTime<Utc>>()
            .expect("time"),
    );
    let svc = services(&db, &clock).await;
    support::register(&svc.pool, &support::probe_registry(&Metrics::new())).await;
    let every_minute = Periodic::new("CLEANUP", "0 * * * * *").expect("schedule");
    let enqueuers: Vec<PeriodicEnqueuer> = (0..3)
        .map(|_| PeriodicEnqueuer::new(svc.clone(), vec![every_minute.clone()]))
        .collect();
    let round = || async {
        let reports = futures_util::future::join_all(enqueuers.iter().map(|e| e.run_once())).await;
        reports
            .into_iter()
            .flat_map(|r| r.expect("run_once").enqueued)
            .collect::<Vec<_>>()
    };
    assert!(round().await.is_empty(), "first sight: nothing due yet");
    clock.advance(chrono::Duration::seconds(40)); // 09:01:10
    let first = round().await;
    assert_eq!(first.len(), 1, "three enqueuers, one job: {first:?}");
    assert_eq!(first[0].1.to_rfc3339(), "2026-12-01T09:01:00+00:00");
    assert!(
        round().await.is_empty(),
        "the same occurrence again: nothing"
    );
    clock.advance(chrono::Duration::minutes(10)); // 09:11:10
    let later = round().await;
    assert_eq!(later.len(), 1, "ten missed occurrences: only the latest");
    assert_eq!(later[0].1.to_rfc3339(), "2026-12-01T09:11:00+00:00");
}

#[tokio::test]
async fn leases_renew_until_the_job_is_taken_over_and_batches_complete_only_held_jobs() {
    let db = support::db().await;
    let clock = clock();
    let svc = services(&db, &clock).await;
    let org = support::seed_org(&svc.pool, "A", 0).await;
    let soon = clock.now() + chrono::Duration::seconds(5);
    let kept = running_job(&db, org, "w1", 1, 5, soon).await;
    let taken = running_job(&db, org, "w1", 1, 5, soon).await;
    let leases = Leases::new(svc.clone(), "w1", Duration::from_secs(30));
    let held = [(kept, 1), (taken, 1)];
    let report = leases.run_once(&held).await.expect("renew");
    assert_eq!(report.renewed.len(), 2);
    let until: DateTime<Utc> = db
        .admin_client()
        .await
        .query_one(
            "SELECT locked_until FROM orgjobs.jobs WHERE id = $1",
            &[&kept],
        )
        .await
        .expect("lease")
        .get(0);
    assert_eq!(until, clock.now() + chrono::Duration::seconds(30));
    // Another worker takes one over; this worker's renewal reports it lost,
    // and its batch completion leaves it alone.
    db.admin_client()
        .await
        .execute(
            "UPDATE orgjobs.jobs SET attempt = 2, locked_by = 'w2' WHERE id = $1",
            &[&taken],
        )
        .await
        .expect("take over");
    let report = leases.run_once(&held).await.expect("renew");
    assert_eq!((report.renewed, report.lost), (vec![kept], vec![taken]));
    let done = BatchCompleter::new(svc, "w1")
        .run_once(&held)
        .await
        .expect("complete");
    assert_eq!(done, vec![kept]);
    assert_eq!(support::job(&db, taken).await.state, "running");
}

/// A renewal and a transaction that holds some of the same jobs (an
/// organization batch, completing them in id order) cannot deadlock: the
/// renewal locks its rows in id order whatever order it is given them in.
/// Here the batch holds the middle job; the renewal, given the jobs last
/// first, waits for it having locked only the first; the batch then
/// completes the last job, which the renewal has not locked, and commits.
/// A renewal that locked the last job first would close the cycle, and the
/// server would cancel one of the two.
#[tokio::test]
async fn a_lease_renewal_and_a_batch_holding_its_jobs_do_not_deadlock() {
    let db = support::db().await;
    let clock = clock();
    let svc = services(&db, &clock).await;
    let org = support::seed_org(&svc.pool, "A", 0).await;
    let soon = clock.now() + chrono::Duration::seconds(5);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(running_job(&db, org, "w1", 1, 5, soon).await);
    }
    ids.sort_unstable();
    let (first, middle, last) = (ids[0], ids[1], ids[2]);
    // A queue of some size, so that the renewal reaches its jobs by primary
    // key in the order it is given them, as in production (on three rows
    // the planner scans the table, in id order by chance).
    let admin = db.admin_client().await;
    admin
        .execute(
            "INSERT INTO orgjobs.jobs (kind, organization_id, state, finalized_at)
             SELECT 'PROBE', $1, 'completed', now() FROM generate_series(1, 5000)",
            &[&org],
        )
        .await
        .expect("finished jobs");
    admin
        .batch_execute("ANALYZE orgjobs.jobs")
        .await
        .expect("analyze");
    // The "batch": one transaction that completes its jobs in id order.
    let mut batch = db.admin_client().await;
    let tx = batch.transaction().await.expect("begin");
    let finish =
        "UPDATE orgjobs.jobs SET state = 'completed', locked_by = NULL, locked_until = NULL
                  WHERE id = $1";
    tx.execute(finish, &[&middle])
        .await
        .expect("complete the middle job");
    let leases = Leases::new(svc.clone(), "w1", Duration::from_secs(30));
    let held = [(last, 1), (middle, 1), (first, 1)];
    let renewal = tokio::spawn(async move { leases.run_once(&held).await });
    // Until the renewal is waiting for the middle job's lock.
    let watcher = db.admin_client().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND query LIKE '%Renews the leases%'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the renewal never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The batch goes on to the last job: no deadlock, it completes.
    let done = tokio::time::timeout(Duration::from_secs(5), tx.execute(finish, &[&last]))
        .await
        .expect("the batch was not blocked by the renewal");
    done.expect("complete the last job (a deadlock would cancel it)");
    tx.commit().await.expect("commit the batch");
    let report = renewal
        .await
        .expect("renewal task")
        .expect("the renewal ends without a deadlock");
    assert_eq!(report.renewed, vec![first]);
    let mut lost = report.lost;
    lost.sort_unstable();
    assert_eq!(lost, vec![middle, last]);
}

/// A claim's lease counts from the claim statement, not from its
/// transaction's start: a claim whose transaction began a while before (a
/// stalled connection between `BEGIN` and the claim, a wait for a lock)
/// still gets its whole lease. Counted from `now()`, the transaction's
/// start, the 2 s lease below would be over before the claim returned, and
/// the rescuer would hand the job to another worker at once.
#[tokio::test]
async fn a_claim_leases_from_the_claim_not_from_its_transactions_start() {
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    let org = support::seed_org(&pool, "A", 0).await;
    let mut c = db.admin_client().await;
    c.execute(
        "INSERT INTO orgjobs.kinds (kind, scope) VALUES ('PROBE', 'tenant') ON CONFLICT DO NOTHING",
        &[],
    )
    .await
    .expect("kind");
    let job = running_job(&db, org, "w0", 0, 5, clock().now()).await;
    c.execute(
        "UPDATE orgjobs.jobs SET state = 'available', locked_by = NULL, locked_until = NULL,
                                 run_at = now() - interval '1 minute'
         WHERE id = $1",
        &[&job],
    )
    .await
    .expect("make it waiting");
    use tokio_postgres::types::Type;
    let tx = c.transaction().await.expect("begin");
    tx.batch_execute("SELECT pg_sleep(2.5)")
        .await
        .expect("stall");
    let claim = tx
        .prepare_typed(
            orgjobs_queue::CLAIM_SQL,
            &[Type::INT8, Type::TEXT, Type::FLOAT8, Type::TIMESTAMPTZ],
        )
        .await
        .expect("prepare");
    let claimed = tx
        .query(&claim, &[&10i64, &"w1", &2.0f64, &None::<DateTime<Utc>>])
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let fair = tx
        .prepare_typed(orgjobs_queue::CLAIM_FAIR_SQL, &support::CLAIM_FAIR_TYPES)
        .await
        .expect("prepare the fair claim");
    // Nothing is left for the fair claim; it must still parse and run.
    tx.query(
        &fair,
        &[
            &10i64,
            &"w1",
            &2.0f64,
            &Uuid::nil(),
            &None::<i32>,
            &None::<DateTime<Utc>>,
            &orgjobs_queue::CLAIM_LOCK_CLASS,
            &Vec::<Uuid>::new(),
        ],
    )
    .await
    .expect("fair claim");
    let left: f64 = tx
        .query_one(
            "SELECT extract(epoch FROM locked_until - clock_timestamp())::float8
             FROM orgjobs.jobs WHERE id = $1",
            &[&job],
        )
        .await
        .expect("lease")
        .get(0);
    tx.commit().await.expect("commit");
    assert!(
        left > 1.0,
        "the lease must run from the claim: {left:.2} s of 2 s left"
    );
}

/// Fails its first attempt.
#[derive(Clone, Default)]
struct FailsOnce(Arc<AtomicUsize>);

impl TenantHandler for FailsOnce {
    const KIND: &'static str = "FAILS_ONCE";
    type Payload = serde_json::Value;
    async fn run(&self, _: &mut TenantTx, _: serde_json::Value) -> Result<(), JobError> {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(JobError::retry("first attempt fails"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn retries_and_scheduled_jobs_wait_for_the_clock_not_for_the_test() {
    let db = support::db().await;
    let clock = clock();
    let pool = support::pool(&db, 4).await;
    let org = support::seed_org(&pool, "A", 0).await;
    let hourly = RetryPolicy {
        base: Duration::from_secs(3600),
        max: Duration::from_secs(3600),
        jitter: 0.0,
    };
    let fails_once = FailsOnce::default();
    let reg = || {
        Registry::new()
            .tenant(fails_once.clone())
            .with_retry("FAILS_ONCE", hourly)
            .expect("registered")
    };
    support::register(&pool, &reg()).await;
    let c = pool.get().await.expect("conn");
    let retried = enqueue(&**c, &reg(), &NewJob::new("FAILS_ONCE").org(org))
        .await
        .expect("enqueue");
    let scheduled = enqueue(
        &**c,
        &reg(),
        &NewJob {
            run_at: Some(clock.now() + chrono::Duration::minutes(90)),
            ..NewJob::new("FAILS_ONCE").org(org)
        },
    )
    .await
    .expect("enqueue");
    drop(c);
    let config = || WorkerConfig {
        clock: clock.clone(),
        ..support::config(2)
    };
    let metrics = Metrics::new();
    let first = support::drain_with(&pool, reg(), &metrics, config()).await;
    assert_eq!((first.retried, first.completed), (1, 0));
    assert_eq!(support::job(&db, retried).await.state, "retryable");
    assert_eq!(support::job(&db, scheduled).await.state, "scheduled");
    // Nothing is due until the clock moves.
    let idle = support::drain_with(&pool, reg(), &metrics, config()).await;
    assert_eq!(idle, Default::default());
    clock.advance(chrono::Duration::minutes(61));
    let second = support::drain_with(&pool, reg(), &metrics, config()).await;
    assert_eq!(second.completed, 1, "the retry came due");
    assert_eq!(support::job(&db, scheduled).await.state, "scheduled");
    clock.advance(chrono::Duration::minutes(30));
    let third = support::drain_with(&pool, reg(), &metrics, config()).await;
    assert_eq!(third.completed, 1, "the scheduled job's time came");
    assert_eq!(support::job(&db, scheduled).await.state, "completed");
}
