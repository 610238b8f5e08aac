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
//! process's peak memory; W6 each organization's share of worker time
//! when one organization's jobs are forty times as long.
//!
//! One file per workload family: `throughput` (W1, W2), `latency` (W3),
//! `fairness` (W4), `growth` (W5); `handlers` holds the jobs they run.

mod cost;
mod fairness;
mod growth;
mod handlers;
mod latency;
mod throughput;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use orgjobs_queue::tokio_postgres::types::Type;
use orgjobs_queue::{
    CommitMode, ContextMode, DbUrl, GlobalHandler, GlobalRole, GlobalTx, JobError, Metrics,
    NoPayload, OrgBatch, PgErr, QUEUE_MIGRATIONS, Registry, SessionConfig, TenantHandler, TenantTx,
    Worker, WorkerConfig, migrate,
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use handlers::*;

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
    /// Workloads to run, comma-separated: w1,w2,w3,w4,w5,w6.
    #[arg(long, default_value = "w1,w2,w3,w4,w5,w6", value_delimiter = ',')]
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

/// Seconds since the epoch, as a float.
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
    /// The worker nodes (`host:port`) when the base database is a Citus
    /// coordinator's.
    citus_workers: Option<Vec<String>>,
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
        if let Some(workers) = &self.citus_workers {
            citus_database(&url, workers).await?;
        }
        let mut client = url.connect().await?;
        let mut migrations = QUEUE_MIGRATIONS.to_vec();
        if self.citus_workers.is_some() {
            migrations.extend_from_slice(orgjobs_queue::QUEUE_CITUS_MIGRATIONS);
        }
        migrate(&mut client, &migrations).await?;
        Ok((url, client))
    }

    /// The session settings the workers use: detected, like `orgjobs
    /// worker` (on a Citus coordinator, the propagated context).
    fn session(&self) -> SessionConfig {
        SessionConfig {
            context: if self.citus_workers.is_some() {
                ContextMode::Propagated
            } else {
                ContextMode::Local
            },
            ..SessionConfig::default()
        }
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
            session: self.session(),
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Warnings (a lost job's reason, say) to stderr; the results go to
    // stdout.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORGJOBS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let base = DbUrl::parse(&args.database_url)?;
    let workloads = args.workloads.clone();
    // On a Citus coordinator (its `postgres` database has the extension)
    // every fresh database is made a Citus database on every node (W2's
    // tickets are then distributed by organization).
    let citus_workers = {
        let client = base.with_dbname("postgres").connect().await?;
        if ContextMode::detect(&client).await? == ContextMode::Propagated {
            Some(orgjobs_queue::citus::worker_nodes(&client).await?)
        } else {
            None
        }
    };
    let mut bench = Bench {
        args,
        base,
        citus_workers,
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
            "w6" => bench.w6().await.context("w6")?,
            other => anyhow::bail!("unknown workload {other}; expected w1..w6"),
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

/// Makes `url`'s new database a Citus database: the same database on every
/// worker node (`host:port`, dropped and created again), the extension on
/// every node, and the workers added to the coordinator's metadata.
async fn citus_database(url: &DbUrl, workers: &[String]) -> anyhow::Result<()> {
    let name = url.dbname().unwrap_or_default().to_owned();
    let user = url.config().get_user().unwrap_or("postgres").to_owned();
    for w in workers {
        let (host, port) = w.rsplit_once(':').context("worker node host:port")?;
        let node = DbUrl::parse(&format!(
            "postgres://{user}@{host}:{port}/{name}?sslmode=disable"
        ))?;
        node.recreate_database().await?;
        node.connect()
            .await?
            .batch_execute("CREATE EXTENSION citus")
            .await
            .map_err(|e| anyhow::anyhow!("citus on {w}: {}", PgErr(&e)))?;
    }
    let client = url.connect().await?;
    client
        .batch_execute("CREATE EXTENSION citus")
        .await
        .map_err(|e| anyhow::anyhow!("citus on the coordinator: {}", PgErr(&e)))?;
    let (host, port) = match (
        url.config().get_hosts().first(),
        url.config().get_ports().first(),
    ) {
        (Some(orgjobs_queue::tokio_postgres::config::Host::Tcp(h)), Some(p)) => {
            (h.clone(), i32::from(*p))
        }
        _ => anyhow::bail!("the coordinator must be reached over TCP"),
    };
    // $1 host, $2 port of the coordinator, then of each worker.
    client
        .execute("SELECT citus_set_coordinator_host($1, $2)", &[&host, &port])
        .await?;
    for w in workers {
        let (h, p) = w.rsplit_once(':').context("worker node host:port")?;
        let p: i32 = p.parse()?;
        client
            .execute("SELECT citus_add_node($1, $2)", &[&h, &p])
            .await?;
    }
    Ok(())
}
