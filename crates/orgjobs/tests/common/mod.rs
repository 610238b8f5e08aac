//! Shared test support: a migrated database per test, organizations seeded
//! through tenant transactions, and an in-process worker run to drain.
#![allow(dead_code, missing_docs, unused_imports)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orgjobs_helpdesk::{NewTicket, create_organization, insert_agent, insert_ticket};
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{Metrics, Registry, RunSummary, SessionConfig, TenantTx, Worker, WorkerConfig};
use orgjobs_testdb::TestDb;
use uuid::Uuid;

pub use orgjobs_testdb::{
    JobRow, PgBouncer, admin_count, count_state, insert_raw, job, register, sigkill,
    wait_for_state, wait_until,
};

pub async fn db() -> TestDb {
    TestDb::new(&orgjobs_helpdesk::migrations()).await
}

pub async fn pool(db: &TestDb, size: usize) -> Pool {
    db.url().pool(size).await.expect("pool")
}

/// Creates an organization with `tickets` tickets (subjects "t0".."tN") and
/// one agent; returns its id.
pub async fn seed_org(pool: &Pool, name: &str, tickets: usize) -> Uuid {
    seed_org_id(pool, Uuid::new_v4(), name, tickets).await
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

pub const BIN: &str = env!("CARGO_BIN_EXE_orgjobs");
pub const FAULT_BIN: &str = env!("CARGO_BIN_EXE_orgjobs-fault-worker");

pub fn orgjobs(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", url)
        .env("ORGJOBS_LOG", "info")
        .output()
        .expect("run orgjobs")
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A worker process of the `orgjobs` binary (or the fault worker), with
/// `/metrics` on a port of its own.
pub struct WorkerProcess {
    proc: orgjobs_testdb::LoggedChild,
    pub metrics_addr: String,
}

impl std::ops::Deref for WorkerProcess {
    type Target = orgjobs_testdb::LoggedChild;
    fn deref(&self) -> &orgjobs_testdb::LoggedChild {
        &self.proc
    }
}

impl std::ops::DerefMut for WorkerProcess {
    fn deref_mut(&mut self) -> &mut orgjobs_testdb::LoggedChild {
        &mut self.proc
    }
}

impl WorkerProcess {
    pub fn start(url: &str, extra: &[&str]) -> WorkerProcess {
        Self::start_bin(BIN, url, extra)
    }

    pub fn start_bin(bin: &str, url: &str, extra: &[&str]) -> WorkerProcess {
        let mut cmd = Command::new(bin);
        cmd.args([
            "worker",
            "--metrics-addr",
            "127.0.0.1:0",
            "--poll-interval-ms",
            "100",
        ])
        .args(extra)
        .env("DATABASE_URL", url)
        .env("ORGJOBS_LOG", "info")
        .stdout(Stdio::null());
        let (proc, ready) = orgjobs_testdb::LoggedChild::spawn(cmd, "metrics_listening");
        let metrics_addr = ready["addr"].as_str().unwrap_or_default().to_owned();
        WorkerProcess { proc, metrics_addr }
    }

    pub fn get(&self, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(&self.metrics_addr).expect("connect to /metrics");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.proc.terminate()
    }
}

/// An organization with `n` tickets; returns it and the ticket ids.
pub async fn seed_org_tickets(pool: &Pool, name: &str, n: usize) -> (Uuid, Vec<Uuid>) {
    let org = Uuid::new_v4();
    let ids = seed(pool, org, name, n, "probe").await;
    (org, ids)
}

/// Tickets created as fixtures enqueue their helpdesk jobs (triage, KB,
/// SLA) like any others; the tests here count only their own jobs, so those
/// go (as the login, which owns the queue's tables).
pub async fn forget_fixture_jobs(pool: &Pool, org: Uuid) {
    pool.get()
        .await
        .expect("conn")
        .execute(
            "DELETE FROM orgjobs.jobs WHERE organization_id = $1
             AND kind IN ('TRIAGE_TICKET', 'KB_SUGGEST', 'SLA_PREDICT')",
            &[&org],
        )
        .await
        .expect("forget fixture jobs");
}

/// The registry of the fault worker binary.
pub fn fault_registry() -> Registry {
    orgjobs_helpdesk::registry(&Metrics::new()).tenant(orgjobs::probe::FaultProbe)
}

/// Enqueues one FAULT_PROBE per ticket; returns the job ids.
pub async fn enqueue_probes(db: &TestDb, org: Uuid, tickets: &[Uuid], sleep_ms: u64) -> Vec<i64> {
    orgjobs_testdb::enqueue_probes(db, "FAULT_PROBE", org, "ticket_id", tickets, sleep_ms).await
}

/// Enqueues one FAULT_PROBE per ticket of `org` with `orgjobs.add_job` on
/// `client` (any server: a private one, a Citus coordinator); returns the
/// job ids in the tickets' order.
pub async fn add_probes(
    client: &orgjobs_queue::tokio_postgres::Client,
    org: Uuid,
    tickets: &[Uuid],
    sleep_ms: u64,
) -> Vec<i64> {
    let mut jobs = Vec::new();
    for t in tickets {
        let payload = serde_json::json!({ "ticket_id": t, "sleep_ms": sleep_ms });
        // $1 the organization, $2 the probe's payload.
        let id: i64 = client
            .query_one(
                "SELECT orgjobs.add_job('FAULT_PROBE', $1, $2)",
                &[&org, &payload],
            )
            .await
            .expect("enqueue a probe")
            .get(0);
        jobs.push(id);
    }
    jobs
}

/// How many `+` marks each ticket carries (its probe's effects).
pub async fn marks(db: &TestDb, tickets: &[Uuid]) -> Vec<i64> {
    orgjobs_testdb::marks(db, "tickets", tickets).await
}

/// An organization with a chosen id (so that tests know the fair claim's
/// key order), one agent and `tickets` tickets.
pub async fn seed_org_id(pool: &Pool, org: Uuid, name: &str, tickets: usize) -> Uuid {
    seed(pool, org, name, tickets, "t").await;
    org
}

/// Creates organization `org` with one agent and `n` tickets (subjects
/// `{prefix}0`...) through its own tenant transaction, then forgets the
/// helpdesk jobs their insertion enqueued; returns the ticket ids.
async fn seed(pool: &Pool, org: Uuid, name: &str, n: usize, prefix: &str) -> Vec<Uuid> {
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
    let mut ids = Vec::new();
    for i in 0..n {
        let id = insert_ticket(
            &tx,
            &NewTicket {
                subject: format!("{prefix}{i}"),
                ..NewTicket::default()
            },
        )
        .await
        .expect("ticket");
        ids.push(id);
    }
    drop(tx.commit().await.expect("commit"));
    forget_fixture_jobs(pool, org).await;
    ids
}

/// Creates the database `orgjobs` on a private server, migrates it in strict
/// tenant mode with the `orgjobs` binary, and returns its URL (plain TCP)
/// and a pool of `size` connections to it.
pub async fn private_orgjobs_db(
    server: &orgjobs_testdb::PrivateServer,
    size: usize,
) -> (String, Pool) {
    let admin = orgjobs_queue::DbUrl::parse(&server.url("postgres", "sslmode=disable"))
        .expect("url")
        .connect()
        .await
        .expect("connect to the private server");
    admin
        .batch_execute("CREATE DATABASE orgjobs")
        .await
        .expect("create database");
    let url = server.url("orgjobs", "sslmode=disable");
    let migrate = orgjobs(&url, &["migrate", "--strict"]);
    assert!(migrate.status.success(), "{}", text(&migrate));
    let pool = orgjobs_queue::DbUrl::parse(&url)
        .expect("url")
        .pool(size)
        .await
        .expect("pool");
    (url, pool)
}
