//! `orgjobs demo`: creates (if needed) and migrates its database, creates a
//! few organizations with tickets and agents, enqueues a METRICS_SNAPSHOT
//! for each plus one tenant job with no organization, runs a worker until
//! the queue is drained, and shows that each organization's job saw exactly
//! its own data; then runs the proof.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{Duration as ChronoDuration, Utc};
use orgjobs_helpdesk::{
    NewTicket, create_organization, insert_agent, insert_ticket, latest_snapshot,
};
use orgjobs_queue::{
    CheckStatus, DbUrl, Metrics, NewJob, PgErr, SessionConfig, TenantTx, Worker, WorkerConfig,
    enqueue, migrate, run_proof,
};
use uuid::Uuid;

use crate::cli::DemoArgs;

const NAMES: &[&str] = &[
    "Acme Support",
    "Globex Helpdesk",
    "Initech IT",
    "Umbrella Care",
    "Hooli Service",
];
const STATUSES: &[&str] = &["new", "open", "pending", "resolved", "closed"];
const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];

struct DemoOrg {
    id: Uuid,
    name: String,
    by_status: BTreeMap<String, i64>,
    by_priority: BTreeMap<String, i64>,
    agents: usize,
}

/// Runs the demo against `url`'s database, creating it if needed.
pub async fn run(url: &str, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let db = DbUrl::parse(url)?;
    create_database_if_missing(&db).await?;
    let mut client = db.connect().await?;
    migrate(&mut client, &orgjobs_helpdesk::migrations()).await?;
    let metrics = Metrics::new();
    let registry = Arc::new(crate::registry(&metrics));
    registry.register_kinds(&client).await?;
    println!("database: {} (migrated)", db.redacted());

    let pool = db.pool(8).await?;
    let roles = SessionConfig::default();
    let mut orgs = Vec::new();
    for i in 0..usize::from(args.orgs) {
        let org = seed_org(&pool, &roles, i).await?;
        println!(
            "created organization {} ({}): {} tickets, {} agents",
            org.name,
            org.id,
            org.by_status.values().sum::<i64>(),
            org.agents
        );
        orgs.push(org);
    }

    for org in &orgs {
        let job = NewJob::new(orgjobs_helpdesk::METRICS_SNAPSHOT).org(org.id);
        enqueue(&client, &registry, &job).await?;
    }
    // A tenant job with no organization, as a buggy producer would write it:
    // a plain INSERT (orgjobs.add_job would refuse it).
    let orphan: i64 = client
        .query_one(
            "INSERT INTO orgjobs.jobs (kind, payload) VALUES ($1, '{}') RETURNING id",
            &[&orgjobs_helpdesk::METRICS_SNAPSHOT],
        )
        .await
        .map_err(|e| anyhow::anyhow!("enqueueing the orphan job: {}", PgErr(&e)))?
        .get(0);
    println!(
        "enqueued {} METRICS_SNAPSHOT jobs and 1 with no organization (job {orphan})",
        orgs.len()
    );

    let config = WorkerConfig {
        concurrency: 4,
        batch_size: 4,
        drain: true,
        ..WorkerConfig::default()
    };
    let summary = Worker::new(pool.clone(), registry.clone(), metrics.clone(), config)
        .run(std::future::pending())
        .await?;
    println!(
        "worker drained the queue: {} completed, {} discarded, {} retried",
        summary.completed, summary.discarded, summary.retried
    );

    let mut all_match = true;
    println!();
    for org in &orgs {
        let conn = pool.get().await.context("getting a connection")?;
        let tx = TenantTx::begin(conn, org.id, &roles).await?;
        let snap = latest_snapshot(&tx).await?;
        drop(tx.rollback().await?);
        let Some(snap) = snap else {
            println!("{}: no snapshot was written", org.name);
            all_match = false;
            continue;
        };
        let ok = snap.organization_id == org.id
            && snap.tickets_by_status == org.by_status
            && snap.tickets_by_priority == org.by_priority
            && snap.agent_load.len() == org.agents;
        all_match &= ok;
        println!("{} ({})", org.name, org.id);
        println!(
            "  job saw tickets by status:   {}",
            fmt_map(&snap.tickets_by_status)
        );
        println!("  own data, tickets by status: {}", fmt_map(&org.by_status));
        println!(
            "  job saw tickets by priority: {}",
            fmt_map(&snap.tickets_by_priority)
        );
        println!(
            "  first response p50/p95: {} / {}   resolution p50/p95: {} / {}   SLA compliance: {}",
            fmt_secs(snap.frt_p50),
            fmt_secs(snap.frt_p95),
            fmt_secs(snap.mttr_p50),
            fmt_secs(snap.mttr_p95),
            snap.sla_compliance_pct
                .map_or("n/a".to_owned(), |p| format!("{p:.1}%"))
        );
        println!(
            "  agent load (open tickets): {}",
            snap.agent_load
                .values()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("  matches its own data: {}", if ok { "yes" } else { "NO" });
    }

    let row = client
        .query_one(
            "SELECT state, coalesce(last_error, '') FROM orgjobs.jobs WHERE id = $1",
            &[&orphan],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading the orphan job: {}", PgErr(&e)))?;
    let (state, error): (String, String) = (row.get(0), row.get(1));
    let missing = metrics
        .org_context_missing
        .with_label_values(&["worker"])
        .get();
    println!();
    println!("job {orphan} (no organization): {state}: {error}");
    println!("orgjobs_org_context_missing_total{{endpoint=\"worker\"}} = {missing}");
    let orphan_ok = state == "discarded" && missing == 1;

    println!();
    println!("isolation proof:");
    let checks = run_proof(&pool, &roles).await?;
    crate::cli::print_checks(&checks);
    let proof_ok = checks.iter().all(|c| c.status != CheckStatus::Fail);
    println!();
    let ok = all_match && orphan_ok && proof_ok;
    println!(
        "demo {}: every organization's job saw {} its own data; orphan job {}; proof {}",
        if ok { "passed" } else { "FAILED" },
        if all_match { "exactly" } else { "NOT only" },
        if orphan_ok {
            "discarded"
        } else {
            "NOT discarded"
        },
        if proof_ok { "passed" } else { "failed" },
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn create_database_if_missing(db: &DbUrl) -> anyhow::Result<()> {
    let Some(name) = db.dbname().map(str::to_owned) else {
        return Ok(());
    };
    // Connecting to the database itself is the cheapest check.
    if db.connect().await.is_ok() {
        return Ok(());
    }
    let admin = db.with_dbname("postgres");
    let client = admin.connect().await?;
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
            &[&name],
        )
        .await
        .map_err(|e| anyhow::anyhow!("checking for database {name}: {}", PgErr(&e)))?
        .get(0);
    if exists {
        // It exists, so the first connection failed for another reason:
        // report that one.
        db.connect().await?;
        return Ok(());
    }
    // The name is quoted by the server (format %I), never spliced by hand.
    let sql: String = client
        .query_one("SELECT format('CREATE DATABASE %I', $1::text)", &[&name])
        .await
        .map_err(|e| anyhow::anyhow!("{}", PgErr(&e)))?
        .get(0);
    match client.batch_execute(&sql).await {
        Ok(()) => println!("created database {name}"),
        // 42P04: created by someone else meanwhile.
        Err(e) if e.code().map(|c| c.code()) == Some("42P04") => {}
        Err(e) => anyhow::bail!("cannot create database {name}: {}", PgErr(&e)),
    }
    Ok(())
}

/// Creates organization `i` with its agents and tickets, all through tenant
/// transactions of that organization, and returns what it created.
async fn seed_org(
    pool: &orgjobs_queue::deadpool_postgres::Pool,
    roles: &SessionConfig,
    i: usize,
) -> anyhow::Result<DemoOrg> {
    let id = Uuid::new_v4();
    let base = NAMES[i % NAMES.len()];
    let name = if i < NAMES.len() {
        base.to_owned()
    } else {
        format!("{base} {}", i / NAMES.len() + 1)
    };
    let conn = pool.get().await.context("getting a connection")?;
    let tx = TenantTx::begin(conn, id, roles).await?;
    create_organization(&tx, &name).await?;
    let agent_count = 2 + i % 3;
    let mut agents = Vec::new();
    for a in 0..agent_count {
        let agent = insert_agent(
            &tx,
            &format!("Agent {}", a + 1),
            &format!("agent{}@{}.example", a + 1, i),
        )
        .await?;
        agents.push(agent);
    }
    // Different sizes and mixes per organization, so that a leak would show.
    let tickets = 12 + 9 * i + (i % 2) * 5;
    let now = Utc::now();
    let mut by_status: BTreeMap<String, i64> =
        STATUSES.iter().map(|s| (s.to_string(), 0)).collect();
    let mut by_priority: BTreeMap<String, i64> =
        PRIORITIES.iter().map(|p| (p.to_string(), 0)).collect();
    for t in 0..tickets {
        let status = STATUSES[(t * (i + 2)) % STATUSES.len()];
        let priority = PRIORITIES[(t + i) % PRIORITIES.len()];
        let created = now - ChronoDuration::hours(((t * 7 + i * 3) % 96 + 1) as i64);
        let responded = status != "new";
        let first_response = responded
            .then(|| created + ChronoDuration::minutes(((t * 37 + i * 11) % 600 + 5) as i64));
        let resolved = matches!(status, "resolved" | "closed")
            .then(|| created + ChronoDuration::minutes(((t * 53 + i * 17) % 2400 + 30) as i64));
        insert_ticket(
            &tx,
            &NewTicket {
                subject: format!("Ticket {t} for {name}"),
                body: "Something is not working as expected.".to_owned(),
                status: Some(status.to_owned()),
                priority: Some(priority.to_owned()),
                requester_email: Some(format!("customer{t}@example.com")),
                assigned_to: agents.get(t % (agents.len() + 1)).copied(),
                created_at: Some(created),
                first_response_at: first_response,
                resolved_at: resolved,
                ..NewTicket::default()
            },
        )
        .await?;
        *by_status.entry(status.to_owned()).or_default() += 1;
        *by_priority.entry(priority.to_owned()).or_default() += 1;
    }
    drop(tx.commit().await?);
    Ok(DemoOrg {
        id,
        name,
        by_status,
        by_priority,
        agents: agent_count,
    })
}

fn fmt_map(m: &BTreeMap<String, i64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn fmt_secs(s: Option<f64>) -> String {
    match s {
        None => "n/a".to_owned(),
        Some(s) if s < 3600.0 => format!("{:.0}m", s / 60.0),
        Some(s) => format!("{:.1}h", s / 3600.0),
    }
}
