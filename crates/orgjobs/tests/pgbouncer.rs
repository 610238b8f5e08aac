//! Behind a real PgBouncer in transaction pooling mode, with one server
//! connection shared by every job: the tenant context never leaks from one
//! job to the next, and the queue works without LISTEN or named statements.

mod common;

use std::sync::{Arc, Mutex};

use orgjobs_queue::{
    DbUrl, JobError, Metrics, NewJob, Registry, SessionConfig, StatementMode, TenantHandler,
    TenantTx, Worker, WorkerConfig, enqueue,
};
use uuid::Uuid;

/// (job's organization, tickets seen, organizations seen, server pid, context)
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
                 FROM tickets",
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
    let db = common::db().await;
    let direct = common::pool(&db, 2).await;
    let a = common::seed_org(&direct, "A", 2).await;
    let b = common::seed_org(&direct, "B", 5).await;
    let observe = Observe::default();
    let reg = Registry::new().tenant(observe.clone());
    common::register(&direct, &reg).await;
    let c = direct.get().await.expect("conn");
    for i in 0..20 {
        let org = if i % 2 == 0 { a } else { b };
        enqueue(&**c, &reg, &NewJob::new("OBSERVE").org(org))
            .await
            .expect("enqueue");
    }
    drop(c);

    let bouncer = common::PgBouncer::start();
    let url = DbUrl::parse(&bouncer.url(db.name())).expect("url");
    let pool = url.pool(6).await.expect("pool through pgbouncer");
    let config = WorkerConfig {
        session: SessionConfig {
            statements: StatementMode::Unnamed,
            ..SessionConfig::default()
        },
        ..common::config(4)
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
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    common::register(&pool, &common::fault_registry()).await;
    let (org, tickets) = common::seed_org_tickets(&pool, "A", 12).await;
    let jobs = common::enqueue_probes(&db, org, &tickets, 20).await;
    let bouncer = common::PgBouncer::start();
    let w = common::WorkerProcess::start_bin(
        common::FAULT_BIN,
        &bouncer.url(db.name()),
        &[
            "--transaction-pooling",
            "--no-periodic",
            "--concurrency",
            "4",
        ],
    );
    common::wait_until(
        std::time::Duration::from_secs(30),
        "jobs through pgbouncer",
        || async { common::count_state(&db, &jobs, "completed").await == jobs.len() as i64 },
    )
    .await;
    assert_eq!(common::marks(&db, &tickets).await, vec![1; tickets.len()]);
    assert!(w.terminate().success());
}
