//! `orgjobs-bench`: the workloads of DESIGN.md against orgjobs, each on a
//! fresh database, printed as a table and as JSON lines. A program, never a
//! test: `cargo run --release --bin orgjobs-bench -- --help`.
//!
//! W1 no-op throughput (50,000 jobs pre-inserted, drained), fair and FIFO
//! claims; W2 tenant-scoped count under RLS (the peers' fixture,
//! `bench/w2_setup.sql`) and the same count with RLS off; W3 enqueue-to-start
//! latency into an idle worker; W4 noisy neighbour (A: 20,000, then B: 10)
//! and a skewed mix (one organization 80 %, 49 share the rest) with Jain's
//! fairness index; W5 claim time with 10k / 100k / 1M jobs waiting; the
//! process's peak memory.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use orgjobs_queue::tokio_postgres::types::Type;
use orgjobs_queue::{
    DbUrl, GlobalHandler, GlobalRole, GlobalTx, JobError, Metrics, NoPayload, PgErr,
    QUEUE_MIGRATIONS, Registry, TenantHandler, TenantTx, Worker, WorkerConfig, migrate,
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// Options.
#[derive(Debug, Parser)]
struct Args {
    /// Server and database name prefix; each workload drops and recreates
    /// `<dbname>_<workload>`.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/orgjobs_bench?sslmode=disable"
    )]
    database_url: String,
    /// Workloads to run, comma-separated: w1,w2,w3,w4,w5.
    #[arg(long, default_value = "w1,w2,w3,w4,w5", value_delimiter = ',')]
    workloads: Vec<String>,
    /// Handlers at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Jobs claimed per statement.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Database connections of the worker's pool.
    #[arg(long, default_value_t = 24)]
    connections: usize,
    /// W5 backlog sizes.
    #[arg(long, default_value = "10000,100000,1000000", value_delimiter = ',')]
    w5_sizes: Vec<usize>,
    /// Also write JSON lines here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

// ---------------------------------------------------------------- handlers

/// W1: does nothing; global, so it runs in a global transaction.
struct Noop;
impl GlobalHandler for Noop {
    const KIND: &'static str = "BENCH_NOOP";
    type Payload = NoPayload;
    async fn run(&self, _: &mut GlobalTx, _: NoPayload) -> Result<(), JobError> {
        Ok(())
    }
}

/// W3/W4: a tenant job that records when it started.
#[derive(Clone, Default)]
struct Stamp(Arc<Mutex<Vec<(Uuid, f64, f64)>>>);

#[derive(Deserialize)]
struct StampPayload {
    #[serde(default)]
    t: f64,
}

impl TenantHandler for Stamp {
    const KIND: &'static str = "BENCH_STAMP";
    type Payload = StampPayload;
    async fn run(&self, tx: &mut TenantTx, p: StampPayload) -> Result<(), JobError> {
        self.0
            .lock()
            .map_err(|_| JobError::retry("lock"))?
            .push((tx.org_id(), p.t, now()));
        Ok(())
    }
}

/// W2: counts the organization's tickets under RLS; each count is checked.
#[derive(Clone, Default)]
struct Count(Arc<Mutex<(u64, u64)>>);
impl TenantHandler for Count {
    const KIND: &'static str = "BENCH_COUNT";
    type Payload = NoPayload;
    async fn run(&self, tx: &mut TenantTx, _: NoPayload) -> Result<(), JobError> {
        let n: i64 = tx
            .query_one("SELECT count(*) FROM tickets", &[])
            .await?
            .get(0);
        let mut c = self.0.lock().map_err(|_| JobError::retry("lock"))?;
        if n == 1000 {
            c.0 += 1
        } else {
            c.1 += 1
        }
        Ok(())
    }
}

/// W2 with RLS off: the login (a superuser) with an explicit WHERE, as
/// pgbench's w2tx_norls.sql.
#[derive(Clone, Default)]
struct CountNoRls(Arc<Mutex<(u64, u64)>>);
#[derive(Deserialize)]
struct OrgPayload {
    org: Uuid,
}
impl GlobalHandler for CountNoRls {
    const KIND: &'static str = "BENCH_COUNT_NORLS";
    const ROLE: GlobalRole = GlobalRole::Login;
    type Payload = OrgPayload;
    async fn run(&self, s: &mut GlobalTx, p: OrgPayload) -> Result<(), JobError> {
        let n: i64 = s
            .query_one(
                "SELECT count(*) FROM tickets WHERE organization_id = $1",
                &[&p.org],
            )
            .await?
            .get(0);
        let mut c = self.0.lock().map_err(|_| JobError::retry("lock"))?;
        if n == 1000 {
            c.0 += 1
        } else {
            c.1 += 1
        }
        Ok(())
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------- plumbing

struct Bench {
    args: Args,
    base: DbUrl,
    results: Vec<serde_json::Value>,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

impl Bench {
    async fn fresh_db(
        &self,
        suffix: &str,
    ) -> anyhow::Result<(DbUrl, orgjobs_queue::tokio_postgres::Client)> {
        let name = format!("{}_{suffix}", self.base.dbname().unwrap_or("orgjobs_bench"));
        let url = self.base.with_dbname(&name);
        url.recreate_database().await?;
        let mut client = url.connect().await?;
        migrate(&mut client, QUEUE_MIGRATIONS).await?;
        Ok((url, client))
    }

    async fn drop_db(&self, url: &DbUrl) {
        if let Err(e) = url.drop_database().await {
            eprintln!("warning: {e:#}");
        }
    }

    fn config(&self, fair: bool, drain: bool) -> WorkerConfig {
        WorkerConfig {
            concurrency: self.args.concurrency,
            batch_size: self.args.batch,
            poll_interval: Duration::from_millis(200),
            drain,
            fair,
            ..WorkerConfig::default()
        }
    }

    fn record(&mut self, v: serde_json::Value) {
        println!("{v}");
        self.results.push(v);
    }

    async fn drain(&self, url: &DbUrl, registry: Registry, fair: bool) -> anyhow::Result<f64> {
        let pool = url.pool(self.args.connections + 3).await?;
        let registry = Arc::new(registry);
        let start = Instant::now();
        let summary = Worker::new(pool, registry, Metrics::new(), self.config(fair, true))
            .run(std::future::pending())
            .await?;
        let secs = start.elapsed().as_secs_f64();
        if summary.retried + summary.discarded + summary.lost > 0 {
            anyhow::bail!("drain had failures: {summary:?}");
        }
        Ok(secs)
    }

    async fn w1(&mut self) -> anyhow::Result<()> {
        for fair in [true, false] {
            let (url, client) = self.fresh_db("w1").await?;
            let reg = Registry::new().global(Noop);
            reg.register_kinds(&client).await?;
            let t = Instant::now();
            client
                .batch_execute("INSERT INTO orgjobs.jobs (kind) SELECT 'BENCH_NOOP' FROM generate_series(1, 50000); ANALYZE orgjobs.jobs")
                .await?;
            let insert_s = t.elapsed().as_secs_f64();
            let secs = self.drain(&url, reg, fair).await?;
            self.record(
                json!({"workload": "w1", "fair": fair, "jobs": 50000, "insert_s": insert_s,
                "seconds": secs, "jobs_per_s": 50000.0 / secs}),
            );
            self.drop_db(&url).await;
        }
        Ok(())
    }

    async fn w2_fixture(
        &self,
        client: &orgjobs_queue::tokio_postgres::Client,
    ) -> anyhow::Result<Vec<Uuid>> {
        // The peers' fixture, with its policy restated in orgjobs' standard
        // form (the same predicate through the inlined orgjobs.current_org()),
        // which the worker's startup check requires, and access for
        // orgjobs_tenant.
        // VACUUM cannot run inside the implicit transaction of a
        // multi-statement string: run it on its own.
        let fixture =
            include_str!("../../../../bench/w2_setup.sql").replace("VACUUM ANALYZE tickets;", "");
        client
            .batch_execute(&fixture)
            .await
            .map_err(|e| anyhow::anyhow!("w2 fixture: {}", PgErr(&e)))?;
        client.batch_execute("VACUUM ANALYZE tickets").await?;
        client
            .batch_execute(
                "DROP POLICY tickets_tenant ON tickets;
                 CREATE POLICY tenant_isolation ON tickets FOR ALL
                     USING (organization_id = orgjobs.current_org())
                     WITH CHECK (organization_id = orgjobs.current_org());
                 GRANT SELECT ON tickets TO orgjobs_tenant;",
            )
            .await?;
        let rows = client
            .query(
                "SELECT md5('org-' || o)::uuid FROM generate_series(1, 20) o",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn w2(&mut self) -> anyhow::Result<()> {
        for rls in [true, false] {
            let (url, client) = self.fresh_db("w2").await?;
            let orgs = self.w2_fixture(&client).await?;
            let count = Count::default();
            let norls = CountNoRls::default();
            let reg = Registry::new().tenant(count.clone()).global(norls.clone());
            reg.register_kinds(&client).await?;
            if rls {
                client
                    .execute(
                        "INSERT INTO orgjobs.jobs (kind, organization_id)
                         SELECT 'BENCH_COUNT', ($1::uuid[])[g % 20 + 1] FROM generate_series(0, 19999) g",
                        &[&orgs],
                    )
                    .await?;
            } else {
                client
                    .execute(
                        "INSERT INTO orgjobs.jobs (kind, payload)
                         SELECT 'BENCH_COUNT_NORLS', jsonb_build_object('org', ($1::uuid[])[g % 20 + 1])
                         FROM generate_series(0, 19999) g",
                        &[&orgs],
                    )
                    .await?;
            }
            client.batch_execute("ANALYZE orgjobs.jobs").await?;
            let secs = self.drain(&url, reg, true).await?;
            let (ok, bad) = if rls {
                *count.0.lock().map_err(|_| anyhow::anyhow!("lock"))?
            } else {
                *norls.0.lock().map_err(|_| anyhow::anyhow!("lock"))?
            };
            self.record(
                json!({"workload": if rls { "w2" } else { "w2_norls" }, "jobs": 20000,
                "seconds": secs, "jobs_per_s": 20000.0 / secs, "saw_1000": ok, "saw_other": bad}),
            );
            self.drop_db(&url).await;
        }
        Ok(())
    }

    /// Runs a non-draining worker while `body` runs.
    async fn with_worker<F, Fut, T>(
        &self,
        url: &DbUrl,
        reg: Registry,
        fair: bool,
        body: F,
    ) -> anyhow::Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let pool = url.pool(self.args.connections + 3).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = Worker::new(
            pool,
            Arc::new(reg),
            Metrics::new(),
            self.config(fair, false),
        )
        .listen_on(url.clone());
        let handle = tokio::spawn(worker.run(async {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let out = body().await;
        let _ = stop.send(());
        handle.await??;
        out
    }

    async fn seed_orgs(
        &self,
        client: &orgjobs_queue::tokio_postgres::Client,
        n: usize,
    ) -> anyhow::Result<Vec<Uuid>> {
        // Organizations are opaque ids to the queue; no tenant table needed.
        let _ = client;
        Ok((0..n).map(|_| Uuid::new_v4()).collect())
    }

    async fn w3(&mut self) -> anyhow::Result<()> {
        let (url, client) = self.fresh_db("w3").await?;
        let stamp = Stamp::default();
        let reg = Registry::new().tenant(stamp.clone());
        reg.register_kinds(&client).await?;
        let org = self.seed_orgs(&client, 1).await?[0];
        let producer = url.connect().await?;
        let lat = self
            .with_worker(&url, reg, true, || async {
                for _ in 0..200 {
                    let t0 = Instant::now();
                    let payload = json!({ "t": now() });
                    producer
                        .query_typed(
                            "SELECT orgjobs.add_job('BENCH_STAMP', $1, $2)",
                            &[(&org, Type::UUID), (&payload, Type::JSONB)],
                        )
                        .await?;
                    tokio::time::sleep(Duration::from_millis(20).saturating_sub(t0.elapsed()))
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(())
            })
            .await;
        lat?;
        let v = sorted(
            stamp
                .0
                .lock()
                .map_err(|_| anyhow::anyhow!("lock"))?
                .iter()
                .map(|(_, t, s)| (s - t) * 1000.0)
                .collect(),
        );
        self.record(json!({"workload": "w3", "samples": v.len(), "p50_ms": quantile(&v, 0.5),
            "p95_ms": quantile(&v, 0.95), "p99_ms": quantile(&v, 0.99), "max_ms": quantile(&v, 1.0)}));
        self.drop_db(&url).await;
        Ok(())
    }

    async fn w4(&mut self) -> anyhow::Result<()> {
        for fair in [true, false] {
            // Noisy neighbour.
            let (url, client) = self.fresh_db("w4").await?;
            let stamp = Stamp::default();
            let reg = Registry::new().tenant(stamp.clone());
            reg.register_kinds(&client).await?;
            let orgs = self.seed_orgs(&client, 2).await?;
            let (a, b) = (orgs[0], orgs[1]);
            let producer = url.connect().await?;
            let st = stamp.clone();
            let r = self
                .with_worker(&url, reg, fair, || async {
                    let start = Instant::now();
                    let ta = now();
                    producer
                        .execute("INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                                  SELECT 'BENCH_STAMP', $1, jsonb_build_object('t', $2::float8) FROM generate_series(1, 20000)", &[&a, &ta])
                        .await?;
                    let a_insert = start.elapsed().as_secs_f64();
                    let tb = now();
                    producer
                        .execute("INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                                  SELECT 'BENCH_STAMP', $1, jsonb_build_object('t', $2::float8) FROM generate_series(1, 10)", &[&b, &tb])
                        .await?;
                    loop {
                        let n = st.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.len();
                        if n >= 20010 { break; }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok((start.elapsed().as_secs_f64(), a_insert))
                })
                .await?;
            let (backlog_s, a_insert_s) = r;
            let runs = stamp.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
            let b_waits = sorted(
                runs.iter()
                    .filter(|(o, _, _)| *o == b)
                    .map(|(_, t, s)| (s - t) * 1000.0)
                    .collect(),
            );
            let first_b = runs
                .iter()
                .position(|(o, _, _)| *o == b)
                .unwrap_or(runs.len());
            self.record(json!({"workload": "w4", "fair": fair, "b_wait_median_ms": quantile(&b_waits, 0.5),
                "b_wait_max_ms": quantile(&b_waits, 1.0), "a_backlog_s": backlog_s, "a_insert_s": a_insert_s,
                "a_jobs_started_before_first_b": first_b}));
            self.drop_db(&url).await;

            // Skewed mix: one organization 80 % of 20,000 jobs, enqueued
            // first; 49 organizations share the rest.
            let (url, client) = self.fresh_db("w4").await?;
            let stamp = Stamp::default();
            let reg = Registry::new().tenant(stamp.clone());
            reg.register_kinds(&client).await?;
            let orgs = self.seed_orgs(&client, 50).await?;
            let producer = url.connect().await?;
            let st = stamp.clone();
            let t0 = self
                .with_worker(&url, reg, fair, || async {
                    let t0 = now();
                    producer
                        .execute("INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                                  SELECT 'BENCH_STAMP', $1, jsonb_build_object('t', $2::float8) FROM generate_series(1, 16000)", &[&orgs[0], &t0])
                        .await?;
                    let small: Vec<Uuid> = orgs[1..].to_vec();
                    producer
                        .execute("INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                                  SELECT 'BENCH_STAMP', ($1::uuid[])[g % 49 + 1], jsonb_build_object('t', $2::float8)
                                  FROM generate_series(0, 3999) g", &[&small, &t0])
                        .await?;
                    loop {
                        let n = st.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.len();
                        if n >= 20000 { break; }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok(t0)
                })
                .await?;
            let runs = stamp.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
            let mut per_org: BTreeMap<Uuid, Vec<f64>> = BTreeMap::new();
            let mut finish: BTreeMap<Uuid, f64> = BTreeMap::new();
            for (o, t, s) in &runs {
                per_org.entry(*o).or_default().push((s - t) * 1000.0);
                let f = finish.entry(*o).or_insert(0.0);
                *f = f.max(*s);
            }
            // Jain's fairness index over the organizations' service while
            // all of them had work waiting: the jobs each started before
            // the first organization ran out. Equal service gives 1.0; one
            // organization served alone gives 1/50.
            let window_end = finish.values().copied().fold(f64::INFINITY, f64::min);
            let served: Vec<f64> = orgs
                .iter()
                .map(|o| {
                    runs.iter()
                        .filter(|(org, _, s)| org == o && *s <= window_end)
                        .count() as f64
                })
                .collect();
            let sum: f64 = served.iter().sum();
            let sq: f64 = served.iter().map(|r| r * r).sum();
            let jain = if sq > 0.0 {
                sum * sum / (served.len() as f64 * sq)
            } else {
                f64::NAN
            };
            let big = sorted(per_org[&orgs[0]].clone());
            let small_p50 = sorted(
                orgs[1..]
                    .iter()
                    .map(|o| quantile(&sorted(per_org[o].clone()), 0.5))
                    .collect(),
            );
            let small_p99 = sorted(
                orgs[1..]
                    .iter()
                    .map(|o| quantile(&sorted(per_org[o].clone()), 0.99))
                    .collect(),
            );
            self.record(
                json!({"workload": "w4_skewed", "fair": fair, "jobs": runs.len(),
                "big_org_p50_ms": quantile(&big, 0.5), "big_org_p99_ms": quantile(&big, 0.99),
                "small_orgs_median_of_p50_ms": quantile(&small_p50, 0.5),
                "small_orgs_worst_p99_ms": quantile(&small_p99, 1.0),
                "jain_index_while_all_backlogged": jain, "window_s": window_end - t0}),
            );
            self.drop_db(&url).await;
        }
        Ok(())
    }

    async fn w5(&mut self) -> anyhow::Result<()> {
        let sizes = self.args.w5_sizes.clone();
        for n in sizes {
            let (url, client) = self.fresh_db("w5").await?;
            let reg = Registry::new().global(Noop).tenant(Stamp::default());
            reg.register_kinds(&client).await?;
            let orgs: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
            client
                .execute(
                    "INSERT INTO orgjobs.jobs (kind, organization_id)
                     SELECT 'BENCH_STAMP', ($1::uuid[])[g % 100 + 1] FROM generate_series(0, $2::int - 1) g",
                    &[&orgs, &(n as i32)],
                )
                .await?;
            client.batch_execute("VACUUM ANALYZE orgjobs.jobs").await?;
            for fair in [true, false] {
                let mut times = Vec::new();
                for i in 0..40 {
                    client.batch_execute("BEGIN").await?;
                    let t = Instant::now();
                    let rows = if fair {
                        client
                            .query_typed(
                                orgjobs_queue::CLAIM_FAIR_SQL,
                                &[
                                    (&(self.args.batch as i64), Type::INT8),
                                    (&"bench", Type::TEXT),
                                    (&30.0f64, Type::FLOAT8),
                                    (&Uuid::nil(), Type::UUID),
                                    (&None::<i32>, Type::INT4),
                                ],
                            )
                            .await?
                    } else {
                        client
                            .query_typed(
                                orgjobs_queue::CLAIM_SQL,
                                &[
                                    (&(self.args.batch as i64), Type::INT8),
                                    (&"bench", Type::TEXT),
                                    (&30.0f64, Type::FLOAT8),
                                ],
                            )
                            .await?
                    };
                    let el = t.elapsed().as_secs_f64() * 1000.0;
                    client.batch_execute("ROLLBACK").await?;
                    anyhow::ensure!(
                        rows.len() == self.args.batch,
                        "claimed {} of {}",
                        rows.len(),
                        self.args.batch
                    );
                    if i >= 5 {
                        times.push(el);
                    }
                }
                let t = sorted(times);
                self.record(
                    json!({"workload": "w5", "fair": fair, "waiting": n, "batch": self.args.batch,
                    "claim_p50_ms": quantile(&t, 0.5), "claim_p95_ms": quantile(&t, 0.95)}),
                );
            }
            self.drop_db(&url).await;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = DbUrl::parse(&args.database_url)?;
    let workloads = args.workloads.clone();
    let mut bench = Bench {
        args,
        base,
        results: Vec::new(),
    };
    let started = Instant::now();
    for w in &workloads {
        match w.as_str() {
            "w1" => bench.w1().await.context("w1")?,
            "w2" => bench.w2().await.context("w2")?,
            "w3" => bench.w3().await.context("w3")?,
            "w4" => bench.w4().await.context("w4")?,
            "w5" => bench.w5().await.context("w5")?,
            other => anyhow::bail!("unknown workload {other}; expected w1..w5"),
        }
    }
    let peak = peak_rss_mib();
    bench.record(json!({"workload": "memory", "peak_rss_mib": peak, "total_s": started.elapsed().as_secs_f64()}));
    if let Some(path) = &bench.args.json {
        let mut f = std::fs::File::create(path)?;
        for r in &bench.results {
            writeln!(f, "{r}")?;
        }
    }
    Ok(())
}
