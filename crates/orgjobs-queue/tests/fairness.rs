//! Fair scheduling across organizations on small, exact cases: round-robin
//! over organizations with waiting jobs, while priority and run_at still
//! hold, and the per-organization limit on running jobs.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orgjobs_queue::{
    JobError, Metrics, NewJob, Registry, TenantHandler, TenantTx, Worker, WorkerConfig, enqueue,
};
use uuid::Uuid;

#[derive(Clone, Default)]
struct Trace(Arc<Mutex<Vec<(Uuid, String)>>>);

impl TenantHandler for Trace {
    const KIND: &'static str = "TRACE";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, p: serde_json::Value) -> Result<(), JobError> {
        let tag = p["tag"].as_str().unwrap_or_default().to_owned();
        self.0.lock().expect("lock").push((tx.org_id(), tag));
        Ok(())
    }
}

fn org(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

async fn setup(
    names: &[(u128, &str)],
) -> (
    orgjobs_testdb::TestDb,
    orgjobs_queue::deadpool_postgres::Pool,
    Trace,
    Registry,
) {
    let db = support::db().await;
    let pool = support::pool(&db, 12).await;
    for (n, name) in names {
        support::seed_org_id(&pool, org(*n), name, 0).await;
    }
    let trace = Trace::default();
    let reg = Registry::new().tenant(trace.clone());
    support::register(&pool, &reg).await;
    (db, pool, trace, reg)
}

async fn add(
    pool: &orgjobs_queue::deadpool_postgres::Pool,
    reg: &Registry,
    o: Uuid,
    tag: &str,
    priority: i16,
) {
    let c = pool.get().await.expect("conn");
    let job = NewJob {
        priority,
        ..NewJob::new("TRACE")
            .org(o)
            .payload(serde_json::json!({ "tag": tag }))
    };
    enqueue(&**c, reg, &job).await.expect("enqueue");
}

fn run_order(trace: &Trace) -> Vec<String> {
    trace
        .0
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, t)| t.clone())
        .collect()
}

#[tokio::test]
async fn a_burst_from_one_organization_does_not_make_the_others_wait() {
    let (_db, pool, trace, reg) = setup(&[(1, "A"), (2, "B"), (3, "C")]).await;
    // A's burst is enqueued first; B and C come after it.
    for i in 0..6 {
        add(&pool, &reg, org(1), &format!("a{i}"), 0).await;
    }
    add(&pool, &reg, org(2), "b0", 0).await;
    add(&pool, &reg, org(2), "b1", 0).await;
    add(&pool, &reg, org(3), "c0", 0).await;
    // By job count: by worker time the order would depend on how long each
    // of these equal jobs happened to take.
    let config = WorkerConfig {
        fair_by_time: false,
        ..support::config(1)
    };
    support::drain_with(&pool, reg, &Metrics::new(), config).await;
    assert_eq!(
        run_order(&trace),
        ["a0", "b0", "c0", "a1", "b1", "a2", "a3", "a4", "a5"],
        "round-robin over organizations, each in its own order"
    );
}

#[tokio::test]
async fn fifo_mode_keeps_strict_order() {
    let (_db, pool, trace, reg) = setup(&[(1, "A"), (2, "B")]).await;
    for i in 0..3 {
        add(&pool, &reg, org(1), &format!("a{i}"), 0).await;
    }
    add(&pool, &reg, org(2), "b0", 0).await;
    let config = WorkerConfig {
        fair: false,
        ..support::config(1)
    };
    let worker = Worker::new(pool.clone(), Arc::new(reg), Metrics::new(), config);
    worker.run(std::future::pending()).await.expect("ran");
    assert_eq!(run_order(&trace), ["a0", "a1", "a2", "b0"]);
}

async fn priority_order(by_time: bool) -> Vec<String> {
    let (db, pool, trace, reg) = setup(&[(1, "A"), (2, "B")]).await;
    add(&pool, &reg, org(1), "a-normal-0", 0).await;
    add(&pool, &reg, org(1), "a-normal-1", 0).await;
    add(&pool, &reg, org(1), "a-low", 5).await;
    add(&pool, &reg, org(2), "b-normal", 0).await;
    add(&pool, &reg, org(2), "b-urgent", -5).await;
    let c = db.admin_client().await;
    c.execute(
        "INSERT INTO orgjobs.jobs (kind, organization_id, payload, priority, run_at)
         VALUES ('TRACE', $1, '{\"tag\": \"a-later\"}', -10, now() + interval '1 hour')",
        &[&org(1)],
    )
    .await
    .expect("future job");
    let config = WorkerConfig {
        fair_by_time: by_time,
        ..support::config(1)
    };
    support::drain_with(&pool, reg, &Metrics::new(), config).await;
    run_order(&trace)
}

#[tokio::test]
async fn priority_and_run_at_still_hold_under_fairness() {
    assert_eq!(
        priority_order(false).await,
        ["b-urgent", "a-normal-0", "b-normal", "a-normal-1", "a-low"],
        "the most urgent priority first, fair within a priority, future jobs wait"
    );
    // By worker time, the order within priority 0 depends on how long
    // these equal jobs took; the priorities and run_at hold all the same.
    let order = priority_order(true).await;
    assert_eq!(order.len(), 5, "{order:?}");
    assert_eq!(order[0], "b-urgent", "{order:?}");
    assert_eq!(order[4], "a-low", "{order:?}");
    let a0 = order.iter().position(|t| t == "a-normal-0");
    let a1 = order.iter().position(|t| t == "a-normal-1");
    assert!(a0 < a1, "each organization in its own order: {order:?}");
}

#[derive(Clone, Default)]
struct Slow {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl TenantHandler for Slow {
    const KIND: &'static str = "SLOW";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, _: serde_json::Value) -> Result<(), JobError> {
        let limited = tx.org_id() == org(1);
        if limited {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        if limited {
            self.running.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[tokio::test]
async fn per_organization_limit_holds_across_workers() {
    let db = support::db().await;
    let pool = support::pool(&db, 24).await;
    support::seed_org_id(&pool, org(1), "A", 0).await;
    support::seed_org_id(&pool, org(2), "B", 0).await;
    let slow = Slow::default();
    let reg = Registry::new().tenant(slow.clone());
    support::register(&pool, &reg).await;
    let c = pool.get().await.expect("conn");
    for i in 0..24 {
        let o = if i < 20 { org(1) } else { org(2) };
        enqueue(&**c, &reg, &NewJob::new("SLOW").org(o))
            .await
            .expect("enqueue");
    }
    drop(c);
    let reg = Arc::new(reg);
    let mut workers = Vec::new();
    for _ in 0..2 {
        let config = WorkerConfig {
            org_concurrency: Some(2),
            ..support::config(8)
        };
        let w = Worker::new(pool.clone(), reg.clone(), Metrics::new(), config);
        workers.push(tokio::spawn(w.run(std::future::pending())));
    }
    let mut completed = 0;
    for w in workers {
        completed += w.await.expect("join").expect("ran").completed;
    }
    assert_eq!(completed, 24);
    assert_eq!(
        slow.peak.load(Ordering::SeqCst),
        2,
        "never more than 2 of A's jobs at once, over 2 workers x 8 slots"
    );
}

/// `SLEEPY`: takes `ms` of handler time, then records its tag.
#[derive(Clone, Default)]
struct Sleepy(Trace);

impl TenantHandler for Sleepy {
    const KIND: &'static str = "SLEEPY";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, p: serde_json::Value) -> Result<(), JobError> {
        let ms = p["ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let tag = p["tag"].as_str().unwrap_or_default().to_owned();
        self.0.0.lock().expect("lock").push((tx.org_id(), tag));
        Ok(())
    }
}

async fn sleepy_order(by_time: bool) -> Vec<String> {
    let db = support::db().await;
    let pool = support::pool(&db, 6).await;
    let (a, b) = (org(1), org(2));
    support::seed_org_id(&pool, a, "A", 0).await;
    support::seed_org_id(&pool, b, "B", 0).await;
    let sleepy = Sleepy::default();
    let reg = Registry::new().tenant(sleepy.clone());
    support::register(&pool, &reg).await;
    let c = pool.get().await.expect("conn");
    // A's jobs take 200 ms, B's 1 ms: B's six jobs stay far below one of
    // A's even when a loaded machine (the whole suite in parallel) makes
    // each take ten times as long as asked.
    for (o, tag, ms) in (0..3)
        .map(|i| (a, format!("a{i}"), 200))
        .chain((0..6).map(|i| (b, format!("b{i}"), 1)))
    {
        let job = NewJob::new("SLEEPY")
            .org(o)
            .payload(serde_json::json!({ "tag": tag, "ms": ms }));
        enqueue(&**c, &reg, &job).await.expect("enqueue");
    }
    let config = WorkerConfig {
        fair_by_time: by_time,
        ..support::config(1)
    };
    support::drain_with(&pool, reg, &Metrics::new(), config).await;
    run_order(&sleepy.0)
}

#[tokio::test]
async fn an_organization_with_slow_jobs_waits_until_the_others_had_their_time() {
    // One handler at a time. By job count the two alternate, so A takes 200
    // times B's worker time. By worker time: B, new to the worker after a0,
    // starts level with A (no catch-up for time it was not waiting), so a1
    // follows b0; from then A is ahead, and B runs until it has no more
    // work (it cannot catch up: its jobs take 1 ms) before a2.
    assert_eq!(
        sleepy_order(false).await,
        ["a0", "b0", "a1", "b1", "a2", "b2", "b3", "b4", "b5"]
    );
    assert_eq!(
        sleepy_order(true).await,
        ["a0", "b0", "a1", "b1", "b2", "b3", "b4", "b5", "a2"]
    );
}
