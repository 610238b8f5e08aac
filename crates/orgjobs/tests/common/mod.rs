//! Shared test support: a migrated database per test, organizations seeded
//! through tenant transactions, and an in-process worker run to drain.
#![allow(dead_code, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use orgjobs_helpdesk::{NewTicket, create_organization, insert_agent, insert_ticket};
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{Metrics, Registry, RunSummary, SessionConfig, TenantTx, Worker, WorkerConfig};
use orgjobs_testdb::TestDb;
use uuid::Uuid;

pub async fn db() -> TestDb {
    TestDb::new(&orgjobs_helpdesk::migrations()).await
}

pub async fn pool(db: &TestDb, size: usize) -> Pool {
    db.url().pool(size).await.expect("pool")
}

/// Creates an organization with `tickets` tickets (subjects "t0".."tN") and
/// one agent; returns its id.
pub async fn seed_org(pool: &Pool, name: &str, tickets: usize) -> Uuid {
    let org = Uuid::new_v4();
    let tx = TenantTx::begin(
        pool.get().await.expect("conn"),
        org,
        &SessionConfig::default(),
    )
    .await
    .expect("begin");
    create_organization(&tx, name).await.expect("org");
    insert_agent(&tx, "Agent", "agent@example.com")
        .await
        .expect("agent");
    for i in 0..tickets {
        insert_ticket(
            &tx,
            &NewTicket {
                subject: format!("t{i}"),
                body: format!("body of {name} ticket {i}"),
                ..NewTicket::default()
            },
        )
        .await
        .expect("ticket");
    }
    drop(tx.commit().await.expect("commit"));
    org
}

pub fn config(concurrency: usize) -> WorkerConfig {
    WorkerConfig {
        concurrency,
        batch_size: concurrency,
        poll_interval: Duration::from_millis(50),
        drain: true,
        ..WorkerConfig::default()
    }
}

/// Runs a draining worker to completion (bounded by 60 s).
pub async fn drain(
    pool: &Pool,
    registry: Registry,
    metrics: &Metrics,
    concurrency: usize,
) -> RunSummary {
    let worker = Worker::new(
        pool.clone(),
        Arc::new(registry),
        metrics.clone(),
        config(concurrency),
    );
    tokio::time::timeout(Duration::from_secs(60), worker.run(std::future::pending()))
        .await
        .expect("worker drained within 60 s")
        .expect("worker ran")
}

/// Counts rows as the admin (superuser) login.
pub async fn admin_count(
    db: &TestDb,
    sql: &str,
    params: &[&(dyn orgjobs_queue::tokio_postgres::types::ToSql + Sync)],
) -> i64 {
    let c = db.admin_client().await;
    c.query_one(sql, params).await.expect(sql).get(0)
}

pub struct JobRow {
    pub state: String,
    pub attempt: i32,
    pub last_error: Option<String>,
    pub errors: serde_json::Value,
    pub run_at_in_secs: f64,
}

pub async fn job(db: &TestDb, id: i64) -> JobRow {
    let c = db.admin_client().await;
    let r = c
        .query_one(
            "SELECT state, attempt, last_error, errors, extract(epoch FROM run_at - now())::float8
             FROM orgjobs.jobs WHERE id = $1",
            &[&id],
        )
        .await
        .expect("job row");
    JobRow {
        state: r.get(0),
        attempt: r.get(1),
        last_error: r.get(2),
        errors: r.get(3),
        run_at_in_secs: r.get(4),
    }
}

/// Records the registry's kinds (as `orgjobs migrate` and the worker do),
/// so that `orgjobs.add_job` accepts them.
pub async fn register(pool: &Pool, reg: &Registry) {
    let c = pool.get().await.expect("conn");
    reg.register_kinds(&c).await.expect("register kinds");
}
