//! `orgjobs-faultrun`: the load and fault run. Enqueues one `FAULT_PROBE`
//! per ticket (100,000 over 100 organizations by default), runs three
//! `orgjobs-fault-worker` processes, SIGKILLs one of them twice while they
//! work (restarting it each time), and reports completed jobs, lost jobs,
//! duplicated and missing effects, wall time and throughput. Exits non-zero
//! if anything was lost or duplicated. A program, not a test: run it with
//! `cargo run --release --bin orgjobs-faultrun`.

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use orgjobs_queue::{DbUrl, Metrics, PgErr, migrate};

/// Options.
#[derive(Debug, Parser)]
struct Args {
    /// Database to (re)create for the run; it is dropped first if it exists.
    #[arg(
        long,
        env = "FAULTRUN_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/orgjobs_faultrun"
    )]
    database_url: String,
    /// Jobs in all.
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Organizations (the jobs are spread evenly).
    #[arg(long, default_value_t = 100)]
    orgs: usize,
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Handlers per worker.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// SIGKILLs of worker 0, spread over the run.
    #[arg(long, default_value_t = 2)]
    kills: usize,
    /// Lease seconds (a killed worker's jobs run again after this).
    #[arg(long, default_value_t = 5.0)]
    lease_secs: f64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Workers {
    bin: std::path::PathBuf,
    url: String,
    extra: Vec<String>,
    children: Vec<Child>,
}

impl Workers {
    fn spawn(&self) -> anyhow::Result<Child> {
        Command::new(&self.bin)
            .arg("worker")
            .args(&self.extra)
            .env("DATABASE_URL", &self.url)
            .env("ORGJOBS_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<i64> {
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|e| anyhow::anyhow!("{sql}: {}", PgErr(&e)))?;
    Ok(row.get(0))
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let db = DbUrl::parse(&args.database_url)?;
    db.recreate_database().await?;
    let mut client = db.connect().await?;
    migrate(&mut client, &orgjobs_helpdesk::migrations()).await?;
    orgjobs_helpdesk::registry(&Metrics::new())
        .tenant(orgjobs::probe::FaultProbe)
        .register_kinds(&client)
        .await?;

    // Organizations and one ticket per job, then one probe per ticket. The
    // set-up runs as the administrator login (this program's, not the
    // workers' concern); the probes run through tenant transactions.
    let per_org = args.jobs.div_ceil(args.orgs);
    let setup = Instant::now();
    let (orgs, per_org, jobs) = (
        i32::try_from(args.orgs)?,
        i32::try_from(per_org)?,
        i64::try_from(args.jobs)?,
    );
    let setup_err = |e: tokio_postgres::Error| anyhow::anyhow!("setting up: {}", PgErr(&e));
    // $1 organizations, $2 tickets per organization, $3 jobs in all.
    client
        .execute(
            "INSERT INTO organizations (id, name)
             SELECT gen_random_uuid(), 'org ' || g FROM generate_series(1, $1::int) g",
            &[&orgs],
        )
        .await
        .map_err(setup_err)?;
    // Fixture tickets: the helpdesk jobs their creation would enqueue are
    // not part of the fault run (the scratch database is ours alone).
    client
        .batch_execute("ALTER TABLE tickets DISABLE TRIGGER tickets_enqueue_jobs")
        .await
        .map_err(setup_err)?;
    client
        .execute(
            "INSERT INTO tickets (organization_id, subject)
             SELECT o.id, 'probe' FROM organizations o, generate_series(1, $1::int)",
            &[&per_org],
        )
        .await
        .map_err(setup_err)?;
    client
        .execute(
            "DELETE FROM tickets WHERE ctid IN (SELECT ctid FROM tickets OFFSET $1::bigint)",
            &[&jobs],
        )
        .await
        .map_err(setup_err)?;
    client
        .batch_execute(
            "INSERT INTO orgjobs.jobs (kind, organization_id, payload)
               SELECT 'FAULT_PROBE', organization_id, jsonb_build_object('ticket_id', id) FROM tickets;
             ANALYZE orgjobs.jobs; ANALYZE tickets;",
        )
        .await
        .map_err(setup_err)?;
    let total = count(&client, "SELECT count(*) FROM orgjobs.jobs").await?;
    println!(
        "set up {total} FAULT_PROBE jobs over {} organizations in {:.1} s",
        args.orgs,
        setup.elapsed().as_secs_f64()
    );

    let bin = std::env::current_exe()?
        .parent()
        .context("executable directory")?
        .join("orgjobs-fault-worker");
    if !bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release --bin orgjobs-fault-worker`",
            bin.display()
        );
    }
    let mut workers = Workers {
        bin,
        url: args.database_url.clone(),
        extra: vec![
            "--no-periodic".into(),
            "--concurrency".into(),
            args.concurrency.to_string(),
            "--lease-secs".into(),
            args.lease_secs.to_string(),
            "--leader-ttl-secs".into(),
            "3".into(),
            "--poll-interval-ms".into(),
            "200".into(),
        ],
        children: Vec::new(),
    };
    let started = Instant::now();
    for _ in 0..args.workers {
        let child = workers.spawn()?;
        workers.children.push(child);
    }
    let kill_at: Vec<i64> = (1..=args.kills)
        .map(|k| total * k as i64 / (args.kills as i64 + 1))
        .collect();
    let mut kills_done = 0;
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut last_report = Instant::now();
    loop {
        let done = count(
            &client,
            "SELECT count(*) FROM orgjobs.jobs WHERE state = 'completed'",
        )
        .await?;
        if done >= total {
            break;
        }
        if kills_done < kill_at.len() && done >= kill_at[kills_done] {
            let victim = &mut workers.children[0];
            let running = count(
                &client,
                "SELECT count(*) FROM orgjobs.jobs WHERE state = 'running'",
            )
            .await?;
            let _ = victim.kill();
            let _ = victim.wait();
            kills_done += 1;
            println!(
                "t={:>6.1}s  SIGKILL worker 0 ({kills_done}/{}) at {done} completed, {running} running",
                started.elapsed().as_secs_f64(),
                args.kills
            );
            workers.children[0] = workers.spawn()?;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!(
                "t={:>6.1}s  {done}/{total} completed",
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        if Instant::now() > deadline {
            println!("gave up after {} s", args.timeout_secs);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = started.elapsed();
    for c in &workers.children {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
    }
    for c in &mut workers.children {
        let _ = c.wait();
    }
    workers.children.clear();

    let completed = count(
        &client,
        "SELECT count(*) FROM orgjobs.jobs WHERE state = 'completed'",
    )
    .await?;
    let marks = "length(subject) - length(replace(subject, '+', ''))";
    let duplicated = count(
        &client,
        &format!("SELECT count(*) FROM tickets WHERE {marks} > 1"),
    )
    .await?;
    let missing = count(
        &client,
        &format!("SELECT count(*) FROM tickets WHERE {marks} = 0"),
    )
    .await?;
    let rescued = count(
        &client,
        "SELECT count(*) FROM orgjobs.jobs WHERE errors::text LIKE '%lease expired%'",
    )
    .await?;
    let lost = total - completed;
    println!();
    println!("jobs                 {total}");
    println!("completed            {completed}");
    println!("lost                 {lost}");
    println!("duplicated effects   {duplicated}");
    println!("missing effects      {missing}");
    println!("rescued after kills  {rescued}");
    println!("worker kills         {kills_done}");
    println!("wall time            {:.1} s", wall.as_secs_f64());
    println!(
        "throughput           {:.0} jobs/s",
        completed as f64 / wall.as_secs_f64()
    );
    let ok = lost == 0 && duplicated == 0 && missing == 0 && kills_done == args.kills;
    println!("result               {}", if ok { "PASS" } else { "FAIL" });
    drop(client);
    if let Err(e) = db.drop_database().await {
        eprintln!("warning: {e:#}");
    }
    Ok(ok)
}
