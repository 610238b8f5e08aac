//! Behind a real PgBouncer in transaction pooling mode, with one server
//! connection shared by every job: the tenant context never leaks from one
//! job to the next, and the queue works without LISTEN or named statements.
//! With several server connections, every way a job ends is recorded, and
//! the cancel requests of timed-out jobs do not crash PgBouncer 1.18.

mod support;

use std::sync::{Arc, Mutex};

use orgjobs_queue::{
    DbUrl, JobError, Metrics, NewJob, Registry, SessionConfig, StatementMode, TenantHandler,
    TenantTx, Worker, WorkerConfig, enqueue,
};
use support::process::{Spec, WorkerProcess};
use uuid::Uuid;

worker_process_entry!();

/// (job's organization, items seen, organizations seen, server pid, context)
type Seen = (Uuid, i64, Vec<Uuid>, i32, String);

#[derive(Clone, Default)]
struct Observe(Arc<Mutex<Vec<Seen>>>);

impl TenantHandler for Observe {
    const KIND: &'static str = "OBSERVE";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, _: serde_json::Value) -> Result<(), JobError> {
        let r = tx
            .query_one(
                "SELECT count(*), coalesce(array_agg(DISTINCT organization_id), '{}'::uuid[]),
                        pg_backend_pid(), current_setting('app.current_org', true)
                 FROM items",
                &[],
            )
            .await?;
        self.0
            .lock()
            .expect("lock")
            .push((tx.org_id(), r.get(0), r.get(1), r.get(2), r.get(3)));
        Ok(())
    }
}

#[tokio::test]
async fn context_never_leaks_between_jobs_sharing_a_pgbouncer_server_connection() {
    let db = support::db().await;
    let direct = support::pool(&db, 2).await;
    let a = support::seed_org(&direct, "A", 2).await;
    let b = support::seed_org(&direct, "B", 5).await;
    let observe = Observe::default();
    let reg = Registry::new().tenant(observe.clone());
    support::register(&direct, &reg).await;
    let c = direct.get().await.expect("conn");
    for i in 0..20 {
        let org = if i % 2 == 0 { a } else { b };
        enqueue(&**c, &reg, &NewJob::new("OBSERVE").org(org))
            .await
            .expect("enqueue");
    }
    drop(c);

    let bouncer = support::PgBouncer::start();
    let url = DbUrl::parse(&bouncer.url(db.name())).expect("url");
    let pool = url.pool(6).await.expect("pool through pgbouncer");
    let config = WorkerConfig {
        session: SessionConfig {
            statements: StatementMode::Unnamed,
            ..SessionConfig::default()
        },
        ..support::config(4)
    };
    let worker = Worker::new(pool.clone(), Arc::new(reg), Metrics::new(), config);
    let summary = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        worker.run(std::future::pending()),
    )
    .await
    .expect("drained")
    .expect("ran");
    assert_eq!(summary.completed, 20);
    let seen = observe.0.lock().expect("lock").clone();
    let pids: std::collections::BTreeSet<i32> = seen.iter().map(|s| s.3).collect();
    assert_eq!(
        pids.len(),
        1,
        "every job ran on PgBouncer's one server connection"
    );
    for (org, count, orgs, _, ctx) in &seen {
        let want = if *org == a { 2 } else { 5 };
        assert_eq!(*count, want);
        assert_eq!(orgs, &vec![*org]);
        assert_eq!(ctx, &org.to_string());
    }
    // On that same server connection, after the jobs: no context, no role.
    let c = pool.get().await.expect("conn");
    let r = c
        .query_typed(
            "SELECT coalesce(current_setting('app.current_org', true), ''), current_user::text, pg_backend_pid()",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(r[0].get::<_, String>(0), "");
    assert_eq!(r[0].get::<_, String>(1), "postgres");
    assert!(pids.contains(&r[0].get::<_, i32>(2)));
}

#[tokio::test]
async fn worker_process_runs_behind_pgbouncer_with_transaction_pooling() {
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    support::register(&pool, &support::probe_registry(&Metrics::new())).await;
    let (org, items) = support::seed_org_items(&pool, "A", 12).await;
    let jobs = support::enqueue_probes(&db, org, &items, 20).await;
    let bouncer = support::PgBouncer::start();
    let w = WorkerProcess::start(&Spec {
        concurrency: 4,
        transaction_pooling: true,
        ..Spec::new(&bouncer.url(db.name()))
    });
    support::wait_until(
        std::time::Duration::from_secs(30),
        "jobs through pgbouncer",
        || async { support::count_state(&db, &jobs, "completed").await == jobs.len() as i64 },
    )
    .await;
    assert_eq!(support::marks(&db, &items).await, vec![1; items.len()]);
    assert!(w.terminate().success());
}

/// Every way a job can end, behind a PgBouncer with several server
/// connections per database, where consecutive transactions of one client
/// land on different server connections.
#[derive(Clone, Default)]
struct Ending {
    /// Server processes seen by handlers' statements.
    pids: Arc<Mutex<std::collections::BTreeSet<i32>>>,
    /// Tickets whose first attempt already failed (retry_once).
    failed_once: Arc<Mutex<std::collections::HashSet<Uuid>>>,
}

#[derive(serde::Deserialize)]
struct EndingPayload {
    mode: String,
    item_id: Uuid,
}

impl TenantHandler for Ending {
    const KIND: &'static str = "ENDING";
    type Payload = EndingPayload;
    async fn run(&self, tx: &mut TenantTx, p: EndingPayload) -> Result<(), JobError> {
        if p.mode == "nodb" {
            return Ok(());
        }
        if p.mode == "wait_cancel" {
            return tx.pause(std::time::Duration::from_secs(60)).await;
        }
        if p.mode == "long" {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            return Ok(());
        }
        // $1: the item; RLS limits the update to this organization.
        let n = tx
            .execute(
                "UPDATE items SET subject = subject || '+' WHERE id = $1",
                &[&p.item_id],
            )
            .await?;
        let pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        self.pids.lock().expect("lock").insert(pid);
        if n != 1 {
            return Err(JobError::discard(format!(
                "item {} not found in this organization",
                p.item_id
            )));
        }
        if p.mode == "retry_once" && self.failed_once.lock().expect("lock").insert(p.item_id) {
            return Err(JobError::retry("first attempt fails on purpose"));
        }
        Ok(())
    }
}

/// A statement that outlives its kind's timeout: cancelled on the server.
struct Overtime;

impl TenantHandler for Overtime {
    const KIND: &'static str = "OVERTIME";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, _: serde_json::Value) -> Result<(), JobError> {
        tx.execute("SELECT pg_sleep(30)", &[]).await?;
        Ok(())
    }
}

#[tokio::test]
async fn every_way_a_job_ends_is_recorded_behind_pgbouncer_with_several_server_connections() {
    use std::time::Duration;
    let db = support::db().await;
    let direct = support::pool(&db, 2).await;
    let (a, a_items) = support::seed_org_items(&direct, "A", 40).await;
    let (_, b_items) = support::seed_org_items(&direct, "B", 6).await;
    let ending = Ending::default();
    let quick = orgjobs_queue::RetryPolicy {
        base: Duration::from_millis(50),
        max: Duration::from_millis(50),
        jitter: 0.0,
    };
    let reg = Registry::new()
        .tenant(ending.clone())
        .tenant(Overtime)
        .with_retry("ENDING", quick)
        .and_then(|r| r.with_timeout("OVERTIME", Duration::from_millis(500)))
        .expect("registered");
    support::register(&direct, &reg).await;
    let c = direct.get().await.expect("conn");
    let mut jobs: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
    let plan: [(&str, &[Uuid], Option<i32>); 7] = [
        ("sleep_db", &a_items[30..36], Some(1)),
        ("write", &a_items[0..12], None),
        ("nodb", &a_items[12..20], None),
        ("retry_once", &a_items[20..26], None),
        ("foreign", &b_items[..], None),
        ("wait_cancel", &a_items[28..29], None),
        ("long", &a_items[29..30], None),
    ];
    for (mode, items, max_attempts) in plan {
        for t in items {
            let kind = if mode == "sleep_db" {
                "OVERTIME"
            } else {
                "ENDING"
            };
            let mut job = NewJob::new(kind)
                .org(a)
                .payload(serde_json::json!({ "mode": mode, "item_id": t }));
            job.max_attempts = max_attempts;
            let id = enqueue(&**c, &reg, &job).await.expect("enqueue");
            jobs.entry(mode).or_default().push(id);
        }
    }
    drop(c);

    let mut bouncer = support::PgBouncer::with_pool_size(4);
    let url = DbUrl::parse(&bouncer.url(db.name())).expect("url");
    let pool = url.pool(8).await.expect("pool through pgbouncer");
    let config = WorkerConfig {
        session: SessionConfig {
            statements: StatementMode::Unnamed,
            ..SessionConfig::default()
        },
        drain: false,
        lease: Duration::from_secs(3),
        shutdown_timeout: Duration::from_millis(300),
        // Cancel requests that wait for PgBouncer to close them: PgBouncer
        // 1.18 exits when a cancel client leaves first.
        cancel: url.cancel_route(),
        ..support::config(8)
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Worker::new(pool, Arc::new(reg), Metrics::new(), config).run(async {
            let _ = stopped.await;
        }),
    );
    let finished = |modes: &'static [&'static str], state: &'static str| {
        let ids: Vec<i64> = modes.iter().flat_map(|m| jobs[m].clone()).collect();
        let db = &db;
        async move { support::count_state(db, &ids, state).await == ids.len() as i64 }
    };
    let all_ended = || async {
        finished(&["write", "nodb", "retry_once"], "completed").await
            && finished(&["foreign", "sleep_db"], "discarded").await
            && finished(&["wait_cancel", "long"], "running").await
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while !all_ended().await {
        if std::time::Instant::now() > deadline {
            let states = db
                .admin_client()
                .await
                .query(
                    "SELECT payload->>'mode', state, count(*)::int8, max(last_error)
                     FROM orgjobs.jobs GROUP BY 1, 2 ORDER BY 1, 2",
                    &[],
                )
                .await
                .expect("states");
            let states: Vec<(String, String, i64, Option<String>)> = states
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect();
            panic!("jobs did not all end within 40 s: {states:#?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let admin = db.admin_client().await;
    let cancel = jobs["wait_cancel"][0];
    orgjobs_queue::cancel_job(&admin, cancel)
        .await
        .expect("cancel");
    support::wait_for_state(&db, cancel, "cancelled").await;
    let _ = stop.send(());
    let summary = tokio::time::timeout(Duration::from_secs(20), worker)
        .await
        .expect("stopped")
        .expect("joined")
        .expect("ran");

    assert_eq!(summary.lost, 0, "no result lost: {summary:?}");
    assert_eq!(summary.completed, 12 + 8 + 6, "{summary:?}");
    assert_eq!(summary.retried, 6, "{summary:?}");
    assert_eq!(summary.discarded, 6 + 6 + 1, "{summary:?}");
    assert!(
        bouncer.is_running(),
        "PgBouncer survived the cancel requests of six jobs timing out together"
    );
    let long = support::job(&db, jobs["long"][0]).await;
    assert_eq!(long.state, "available", "released at shutdown");
    assert_eq!(
        support::admin_count(
            &db,
            "SELECT count(*) FROM orgjobs.jobs WHERE state = 'running'",
            &[]
        )
        .await,
        0
    );
    for &id in &jobs["sleep_db"] {
        let timed_out = support::job(&db, id).await;
        assert!(
            timed_out
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("timed out")),
            "{:?}",
            timed_out.last_error
        );
    }
    let foreign = support::job(&db, jobs["foreign"][0]).await;
    assert!(
        foreign
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("not found"))
    );
    // One effect per completed write, none from the failed first attempts
    // (rolled back) nor from the other organization's items.
    assert_eq!(support::marks(&db, &a_items[0..12]).await, vec![1; 12]);
    assert_eq!(support::marks(&db, &a_items[20..26]).await, vec![1; 6]);
    assert_eq!(support::marks(&db, &b_items).await, vec![0; 6]);
    let pids = ending.pids.lock().expect("lock").len();
    assert!(
        pids > 1,
        "jobs ran on {pids} server connection(s); the test needs several"
    );
}

/// Sixteen statements cancelled at once through PgBouncer with
/// [`orgjobs_queue::CancelRoute`], which waits for PgBouncer to close each
/// request's connection: every statement is cancelled and PgBouncer stays
/// up. (The driver's own cancel, which closes first, made Debian's
/// PgBouncer 1.18 exit with "bad client state" in most such bursts.)
#[tokio::test]
async fn a_burst_of_cancel_requests_is_answered_and_pgbouncer_stays_up() {
    const CLIENTS: usize = 16;
    let db = support::db().await;
    let mut bouncer = support::PgBouncer::with_pool_size(CLIENTS);
    let url = DbUrl::parse(&bouncer.url(db.name())).expect("url");
    let route = url.cancel_route();
    let pool = url.pool(CLIENTS).await.expect("pool through pgbouncer");
    let mut tokens = Vec::new();
    let mut sleeping = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let client = pool.get().await.expect("conn");
        tokens.push(client.cancel_token());
        sleeping.spawn(async move {
            let res = client.batch_execute("SELECT pg_sleep(30)").await;
            // Closed, not returned: a cancelled client is done with.
            drop(orgjobs_queue::deadpool_postgres::Object::take(client));
            res
        });
    }
    support::wait_until(
        std::time::Duration::from_secs(10),
        "every statement to run",
        || async {
            support::admin_count(
                &db,
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'",
                &[],
            )
            .await
                == CLIENTS as i64
        },
    )
    .await;
    let cancels = futures_util::future::join_all(tokens.iter().map(|t| route.cancel(t))).await;
    for c in cancels {
        c.expect("cancel request answered");
    }
    while let Some(res) = sleeping.join_next().await {
        let err = res.expect("join").expect_err("cancelled");
        assert_eq!(
            err.code(),
            Some(&orgjobs_queue::tokio_postgres::error::SqlState::QUERY_CANCELED),
            "{err}"
        );
    }
    assert!(bouncer.is_running(), "PgBouncer is still up");
    let c = pool.get().await.expect("a connection after the burst");
    c.batch_execute("SELECT 1").await.expect("PgBouncer serves");
}
