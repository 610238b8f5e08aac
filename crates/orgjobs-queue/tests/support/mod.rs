//! The queue's own test support: a database per test migrated with the
//! queue's migrations and a minimal fixture application (`orgs`, `items`;
//! see `fixture.sql`), organizations seeded through tenant transactions,
//! in-process workers run to drain, worker processes (this test binary run
//! again, see [`process`]), and a PgBouncer of the test's own.
#![allow(dead_code, missing_docs)]

pub mod process;

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
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub errors: serde_json::Value,
    pub run_at_in_secs: f64,
}

pub async fn job(db: &TestDb, id: i64) -> JobRow {
    let c = db.admin_client().await;
    let r = c
        .query_one(
            "SELECT state, attempt, max_attempts, last_error, errors,
                    extract(epoch FROM run_at - now())::float8
             FROM orgjobs.jobs WHERE id = $1",
            &[&id],
        )
        .await
        .expect("job row");
    JobRow {
        state: r.get(0),
        attempt: r.get(1),
        max_attempts: r.get(2),
        last_error: r.get(3),
        errors: r.get(4),
        run_at_in_secs: r.get(5),
    }
}

/// Records the registry's kinds (as `orgjobs migrate` and the worker do),
/// so that `orgjobs.add_job` accepts them.
pub async fn register(pool: &Pool, reg: &Registry) {
    let c = pool.get().await.expect("conn");
    reg.register_kinds(&c).await.expect("register kinds");
}

pub async fn wait_for_state(db: &TestDb, id: i64, state: &str) -> JobRow {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = job(db, id).await;
        if row.state == state {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} stayed {} (wanted {state})",
            row.state
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A job inserted with a plain INSERT (no `add_job`, no validation).
pub async fn insert_raw(
    db: &TestDb,
    kind: &str,
    org: Option<Uuid>,
    payload: serde_json::Value,
) -> i64 {
    let c = db.admin_client().await;
    c.query_one(
        "INSERT INTO orgjobs.jobs (kind, organization_id, payload) VALUES ($1, $2, $3) RETURNING id",
        &[&kind, &org, &payload],
    )
    .await
    .expect("plain insert")
    .get(0)
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
        let deadline = tokio::time::Instant::now() + Duration::from_millis(p.sleep_ms);
        while tokio::time::Instant::now() < deadline {
            if tx.cancel_requested() {
                return Err(JobError::discard("cancelled on request"));
            }
            let step = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::sleep(step.min(Duration::from_millis(50))).await;
        }
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
    let c = db.admin_client().await;
    let mut ids = Vec::new();
    for t in items {
        let payload = serde_json::json!({ "item_id": t, "sleep_ms": sleep_ms });
        let id: i64 = c
            .query_one("SELECT orgjobs.add_job('PROBE', $1, $2)", &[&org, &payload])
            .await
            .expect("enqueue probe")
            .get(0);
        ids.push(id);
    }
    ids
}

/// How many `+` marks each item carries (its probe's effects).
pub async fn marks(db: &TestDb, items: &[Uuid]) -> Vec<i64> {
    let c = db.admin_client().await;
    let mut out = Vec::new();
    for t in items {
        let n: i32 = c
            .query_one(
                "SELECT length(subject) - length(replace(subject, '+', '')) FROM items WHERE id = $1",
                &[t],
            )
            .await
            .expect("item")
            .get(0);
        out.push(i64::from(n));
    }
    out
}

/// Counts jobs in `state` among `ids`.
pub async fn count_state(db: &TestDb, ids: &[i64], state: &str) -> i64 {
    admin_count(
        db,
        "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND state = $2",
        &[&ids, &state],
    )
    .await
}

/// Waits (bounded) until `cond` holds, checking every 25 ms.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sends SIGKILL to a process.
pub fn sigkill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A PgBouncer in transaction pooling mode in front of the test server, on
/// a free local port. Stopped on drop.
pub struct PgBouncer {
    child: Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl PgBouncer {
    /// One server connection per database: every transaction of every
    /// client shares it.
    pub fn start() -> PgBouncer {
        Self::with_pool_size(1)
    }

    /// `pool_size` server connections per database: consecutive
    /// transactions of one client may run on different server connections,
    /// so a named statement prepared in one is missing in the next.
    pub fn with_pool_size(pool_size: usize) -> PgBouncer {
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect(
                "pgbouncer is not installed: scripts/test installs it (apt-get install pgbouncer)",
            );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!(
            "orgjobs-queue-pgbouncer-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let ini = format!(
            "[databases]\n* = host=127.0.0.1 port=5432\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {d}/users.txt\npool_mode = transaction\n\
             default_pool_size = {pool_size}\nmin_pool_size = 0\nmax_client_conn = 200\nlogfile = {d}/pgbouncer.log\n\
             ignore_startup_parameters = extra_float_digits,options\n",
            d = dir.display()
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).expect("ini");
        std::fs::write(
            dir.join("users.txt"),
            "\"postgres\" \"\"\n\"orgjobs_worker\" \"\"\n",
        )
        .expect("users");
        // PgBouncer refuses to run as root; -u drops to the postgres user.
        let _ = Command::new("chmod")
            .args(["-R", "a+rwx"])
            .arg(&dir)
            .status();
        let mut cmd = Command::new(bin);
        if Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false)
        {
            cmd.args(["-u", "postgres"]);
        }
        let child = cmd
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not start; see {}",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        PgBouncer { child, port, dir }
    }

    /// A plain-TCP URL of `dbname` through this PgBouncer.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{dbname}?sslmode=disable",
            self.port
        )
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
