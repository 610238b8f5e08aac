//! The queue's own test support: a database per test migrated with the
//! queue's migrations and a minimal fixture application (`orgs`, `items`;
//! see `fixture.sql`), organizations seeded through tenant transactions,
//! in-process workers run to drain, worker processes (this test binary run
//! again, see [`process`]), and a PgBouncer of the test's own.
#![allow(dead_code, missing_docs, unused_imports)]

pub mod process;

pub use orgjobs_testdb::{
    JobRow, PgBouncer, admin_count, count_state, insert_raw, job, register, sigkill,
    wait_for_state, wait_until,
};

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{
    JobError, Metrics, Migration, QUEUE_MIGRATIONS, Registry, RunSummary, SessionConfig,
    TenantHandler, TenantTx, Worker, WorkerConfig,
};
use orgjobs_testdb::TestDb;
use serde::Deserialize;
use uuid::Uuid;

/// The queue's migrations, then the fixture's.
pub fn migrations() -> Vec<Migration> {
    let mut all = QUEUE_MIGRATIONS.to_vec();
    all.push(Migration {
        name: "fixture/0001_items",
        sql: include_str!("fixture.sql"),
    });
    all
}

pub async fn db() -> TestDb {
    TestDb::new(&migrations()).await
}

pub async fn pool(db: &TestDb, size: usize) -> Pool {
    db.url().pool(size).await.expect("pool")
}

/// An organization with `items` items (subjects "t0".."tN"); returns its id.
pub async fn seed_org(pool: &Pool, name: &str, items: usize) -> Uuid {
    seed_org_id(pool, Uuid::new_v4(), name, items).await
}

/// An organization with a chosen id (so that tests know the fair claim's
/// key order) and `items` items.
pub async fn seed_org_id(pool: &Pool, org: Uuid, name: &str, items: usize) -> Uuid {
    seed(pool, org, name, items).await;
    org
}

/// An organization with `n` items; returns it and the item ids.
pub async fn seed_org_items(pool: &Pool, name: &str, n: usize) -> (Uuid, Vec<Uuid>) {
    let org = Uuid::new_v4();
    let ids = seed(pool, org, name, n).await;
    (org, ids)
}

async fn seed(pool: &Pool, org: Uuid, name: &str, n: usize) -> Vec<Uuid> {
    let tx = TenantTx::begin(
        pool.get().await.expect("conn"),
        org,
        &SessionConfig::default(),
    )
    .await
    .expect("begin");
    // $1 organization, $2 name; RLS admits only the context's.
    tx.execute(
        "INSERT INTO orgs (organization_id, name) VALUES ($1, $2)",
        &[&org, &name],
    )
    .await
    .expect("org");
    let mut ids = Vec::new();
    for i in 0..n {
        let id: Uuid = tx
            .query_one(
                "INSERT INTO items (organization_id, subject) VALUES ($1, $2) RETURNING id",
                &[&org, &format!("t{i}")],
            )
            .await
            .expect("item")
            .get(0);
        ids.push(id);
    }
    drop(tx.commit().await.expect("commit"));
    ids
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
    drain_with(pool, registry, metrics, config(concurrency)).await
}

/// [`drain`] with a configuration of the test's.
pub async fn drain_with(
    pool: &Pool,
    registry: Registry,
    metrics: &Metrics,
    config: WorkerConfig,
) -> RunSummary {
    let worker = Worker::new(pool.clone(), Arc::new(registry), metrics.clone(), config);
    tokio::time::timeout(Duration::from_secs(60), worker.run(std::future::pending()))
        .await
        .expect("worker drained within 60 s")
        .expect("worker ran")
}

/// `PROBE`: a tenant job whose effect can be counted. It waits `sleep_ms`
/// (a job in flight for a crash to hit), then appends one `+` to its
/// item's subject, in its tenant transaction. After any number of crashes,
/// every probe's item must end with exactly one `+`: more is a duplicated
/// effect, none a lost job.
pub struct Probe;

#[derive(Debug, Deserialize)]
pub struct ProbePayload {
    pub item_id: Uuid,
    #[serde(default)]
    pub sleep_ms: u64,
}

impl TenantHandler for Probe {
    const KIND: &'static str = "PROBE";
    type Payload = ProbePayload;

    async fn run(&self, tx: &mut TenantTx, p: ProbePayload) -> Result<(), JobError> {
        tx.pause(Duration::from_millis(p.sleep_ms)).await?;
        // $1: the item; RLS limits the update to this organization.
        let n = tx
            .execute(
                "UPDATE items SET subject = subject || '+' WHERE id = $1",
                &[&p.item_id],
            )
            .await?;
        if n != 1 {
            return Err(JobError::discard(format!(
                "item {} not found in this organization",
                p.item_id
            )));
        }
        Ok(())
    }
}

/// The kinds of the worker processes: `PROBE` and the queue's global kinds.
pub fn probe_registry(metrics: &Metrics) -> Registry {
    let base = Registry::new()
        .tenant(Probe)
        .global(orgjobs_queue::Cleanup::default());
    let system = orgjobs_queue::SystemMetrics::new(metrics.clone(), &base);
    base.global(system)
}

/// Enqueues one `PROBE` per item; returns the job ids.
pub async fn enqueue_probes(db: &TestDb, org: Uuid, items: &[Uuid], sleep_ms: u64) -> Vec<i64> {
    orgjobs_testdb::enqueue_probes(db, "PROBE", org, "item_id", items, sleep_ms).await
}

/// How many `+` marks each item carries (its probe's effects).
pub async fn marks(db: &TestDb, items: &[Uuid]) -> Vec<i64> {
    orgjobs_testdb::marks(db, "items", items).await
}

/// The parameter types the worker binds to `CLAIM_FAIR_SQL` (in
/// `worker/claim.rs`), for tests that prepare it as the worker does.
pub const CLAIM_FAIR_TYPES: [orgjobs_queue::tokio_postgres::types::Type; 8] = {
    use orgjobs_queue::tokio_postgres::types::Type;
    [
        Type::INT8,
        Type::TEXT,
        Type::FLOAT8,
        Type::UUID,
        Type::INT4,
        Type::TIMESTAMPTZ,
        Type::INT4,
        Type::UUID_ARRAY,
    ]
};
