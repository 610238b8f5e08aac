//! Shared test support: a migrated database per test, organizations seeded
//! through tenant transactions, and an in-process worker run to drain.
#![allow(dead_code, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

pub struct WorkerProcess {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub metrics_addr: String,
}

impl WorkerProcess {
    pub fn start(url: &str, extra: &[&str]) -> WorkerProcess {
        Self::start_bin(BIN, url, extra)
    }

    pub fn start_bin(bin: &str, url: &str, extra: &[&str]) -> WorkerProcess {
        let mut args = vec![
            "worker",
            "--metrics-addr",
            "127.0.0.1:0",
            "--poll-interval-ms",
            "100",
        ];
        args.extend_from_slice(extra);
        let mut child = Command::new(bin)
            .args(&args)
            .env("DATABASE_URL", url)
            .env("ORGJOBS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn worker");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["event"] == "metrics_listening" {
                        let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                    }
                }
                sink.lock().expect("lock").push(line);
            }
        });
        let metrics_addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(e) => {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "worker did not announce its metrics address ({e}); its output:\n{}",
                    lines.lock().expect("lock").join("\n")
                )
            }
        };
        WorkerProcess {
            child,
            lines,
            metrics_addr,
        }
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

    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "worker did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

pub async fn insert_raw(
    db: &TestDb,
    kind: &str,
    org: Option<uuid::Uuid>,
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

/// An organization with `n` tickets; returns it and the ticket ids.
pub async fn seed_org_tickets(pool: &Pool, name: &str, n: usize) -> (Uuid, Vec<Uuid>) {
    let org = Uuid::new_v4();
    let tx = TenantTx::begin(
        pool.get().await.expect("conn"),
        org,
        &SessionConfig::default(),
    )
    .await
    .expect("begin");
    create_organization(&tx, name).await.expect("org");
    let mut ids = Vec::new();
    for i in 0..n {
        let id = insert_ticket(
            &tx,
            &NewTicket {
                subject: format!("probe{i}"),
                ..NewTicket::default()
            },
        )
        .await
        .expect("ticket");
        ids.push(id);
    }
    drop(tx.commit().await.expect("commit"));
    forget_fixture_jobs(pool, org).await;
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
    let c = db.admin_client().await;
    let mut ids = Vec::new();
    for t in tickets {
        let payload = serde_json::json!({ "ticket_id": t, "sleep_ms": sleep_ms });
        let id: i64 = c
            .query_one(
                "SELECT orgjobs.add_job('FAULT_PROBE', $1, $2)",
                &[&org, &payload],
            )
            .await
            .expect("enqueue probe")
            .get(0);
        ids.push(id);
    }
    ids
}

/// How many `+` marks each ticket carries (its probe's effects).
pub async fn marks(db: &TestDb, tickets: &[Uuid]) -> Vec<i64> {
    let c = db.admin_client().await;
    let mut out = Vec::new();
    for t in tickets {
        let n: i32 = c
            .query_one(
                "SELECT length(subject) - length(replace(subject, '+', '')) FROM tickets WHERE id = $1",
                &[t],
            )
            .await
            .expect("ticket")
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
        let dir =
            std::env::temp_dir().join(format!("orgjobs-pgbouncer-{}-{port}", std::process::id()));
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

    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{dbname}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An organization with a chosen id (so that tests know the fair claim's
/// key order), one agent and `tickets` tickets.
pub async fn seed_org_id(pool: &Pool, org: Uuid, name: &str, tickets: usize) -> Uuid {
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
                ..NewTicket::default()
            },
        )
        .await
        .expect("ticket");
    }
    drop(tx.commit().await.expect("commit"));
    forget_fixture_jobs(pool, org).await;
    org
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
