//! `orgjobs demo`: three support organizations from different businesses in
//! one database — an online bank (real BANKING77 customer queries), a
//! home-goods shop and a cloud hosting platform — each with a few hundred
//! tickets of history and a knowledge base, imported the way an operator
//! would (`orgjobs import`). Importing enqueues every ticket's and article's
//! jobs; a worker runs them all, each in its own organization's context,
//! under a progress bar. Then, per organization: triage against the true
//! labels of tickets held out from training, the suggestions and a reply
//! draft for an open ticket, the tickets at risk of breaching their SLA,
//! and the metrics snapshot (checked against the organization's own data);
//! a tenant job with no organization, discarded; and the isolation proof.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use orgjobs_helpdesk::import::TicketRecord;
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{
    CheckStatus, DbUrl, Metrics, PgErr, SessionConfig, TenantTx, Worker, WorkerConfig, run_proof,
    set_strict,
};
use uuid::Uuid;

use crate::dataset::{OrgData, anchor, create_and_import, load};
use clap::Args;

mod report;

use report::report;

/// The bank's history in the demo: twelve of BANKING77's 77 intents (all 77
/// are in `orgjobs eval`), so that the demo runs in well under a minute.
const DEMO_BANK_INTENTS: &[&str] = &[
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "transfer_not_received_by_recipient",
    "pending_top_up",
    "card_payment_fee_charged",
    "pin_blocked",
    "cash_withdrawal_charge",
    "apple_pay_or_google_pay",
    "request_refund",
    "verify_my_identity",
    "direct_debit_payment_not_recognised",
];

struct DemoOrg {
    id: Uuid,
    data: OrgData,
    tickets: Vec<TicketRecord>,
}

impl DemoOrg {
    fn count_by(
        &self,
        keys: &[&str],
        f: fn(&TicketRecord) -> Option<&str>,
    ) -> BTreeMap<String, i64> {
        let mut m: BTreeMap<String, i64> = keys.iter().map(|k| ((*k).to_owned(), 0)).collect();
        for t in &self.tickets {
            if let Some(v) = m.get_mut(f(t).unwrap_or_default()) {
                *v += 1;
            }
        }
        m
    }
}

/// Options of `orgjobs demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The sentence-embedding model.
    #[command(flatten)]
    pub embedding: crate::EmbeddingArgs,
    /// Worker tasks.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

/// Runs the demo against `url`'s database, creating it if needed. New
/// organizations each run; earlier runs' organizations stay, isolated.
pub async fn run(url: &str, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let db = DbUrl::parse(url)?;
    if db.create_database_if_missing().await? {
        println!("created database {}", db.dbname().unwrap_or_default());
    }
    let mut client = db.connect().await?;
    crate::cmd::migrate::migrate_app(&mut client, false).await?;
    let metrics = Metrics::new();
    let registry = Arc::new(crate::worker_registry(&metrics, &args.embedding)?);
    registry.register_kinds(&client).await?;
    // As production should run: tenant SQL cannot re-scope itself.
    let strict = match set_strict(&client, true).await {
        Ok(()) => "strict tenant mode on".to_owned(),
        Err(e) => format!("strict tenant mode off: {e}"),
    };
    println!("database: {} (migrated; {strict})", db.redacted());
    let pool = db.pool(usize::from(args.concurrency) + 4).await?;
    let roles = SessionConfig::default().detected(&client).await?;
    let first_job: i64 = client
        .query_one("SELECT coalesce(max(id), 0) FROM orgjobs.jobs", &[])
        .await
        .map_err(|e| anyhow::anyhow!("reading the queue: {}", PgErr(&e)))?
        .get(0);

    // History ends "now": every bundled time moves by the same amount.
    let shift = Utc::now() - anchor();
    let mut orgs = Vec::new();
    println!();
    for data in load()? {
        let tickets: Vec<TicketRecord> = data
            .tickets
            .iter()
            .filter(|t| {
                data.profile.slug != "northwind-bank"
                    || t.category
                        .as_deref()
                        .is_some_and(|c| DEMO_BANK_INTENTS.contains(&c))
            })
            .cloned()
            .collect();
        let id = create_and_import(&pool, &data, &tickets, shift, &serde_json::json!({})).await?;
        let held = tickets.iter().filter(|t| data.is_holdout(t)).count();
        println!(
            "{} — {}\n  organization {id}: imported {} tickets ({held} held out without their category) and {} articles; {} agents",
            data.profile.name,
            data.profile.business,
            tickets.len(),
            data.articles.len(),
            data.profile.agents.len()
        );
        let org = DemoOrg { id, data, tickets };
        after_import(&pool, &roles, &org).await?;
        orgs.push(org);
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

    let summary = run_worker(&pool, &db, &registry, &metrics, &client, first_job, args).await?;
    println!(
        "worker drained the queue: {} jobs completed, {} discarded, {} retried",
        summary.completed, summary.discarded, summary.retried
    );

    let mut all_ok = true;
    for org in &orgs {
        // $1 organization, $2 the newest job before the demo: this run's
        // jobs of the organization that did not complete.
        let failed: i64 = client
            .query_one(
                "SELECT count(*) FROM orgjobs.jobs
                 WHERE organization_id = $1 AND id > $2 AND state <> 'completed'",
                &[&org.id, &first_job],
            )
            .await
            .map_err(|e| anyhow::anyhow!("reading the queue: {}", PgErr(&e)))?
            .get(0);
        all_ok &= report(&pool, &roles, org, failed).await?;
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
    crate::cmd::proof::print_checks(&checks);
    let proof_ok = checks.iter().all(|c| c.status != CheckStatus::Fail);
    println!();
    if let Some(first) = orgs.first() {
        let token = orgjobs_queue::create_token(
            &client,
            Some(first.id),
            orgjobs_queue::TokenRole::Agent,
            "demo",
        )
        .await?;
        let operator = orgjobs_queue::create_token(
            &client,
            None,
            orgjobs_queue::TokenRole::Operator,
            "demo operator",
        )
        .await?;
        let name = db.dbname().unwrap_or("orgjobs");
        // The demo's own server (host and port), as the worker's login.
        let config = db.config();
        let host = match config.get_hosts().first() {
            Some(orgjobs_queue::tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let worker_url = format!("postgres://orgjobs_worker@{host}:{port}/{name}");
        println!(
            "the dashboard and the HTTP API (tokens shown once; `orgjobs token revoke <id>` revokes one):"
        );
        println!(
            "  start the server as the worker's login:  DATABASE_URL={worker_url} orgjobs serve"
        );
        println!(
            "  and a worker:                            DATABASE_URL={worker_url} orgjobs worker"
        );
        println!("  open http://127.0.0.1:8080/ and log in with");
        println!(
            "    the operator token (every organization):  {}",
            operator.token
        );
        println!(
            "    organization {}'s agent token:  {}",
            first.id, token.token
        );
        println!(
            "  or the API:  curl -s -H 'Authorization: Bearer {}' 'http://127.0.0.1:8080/api/tickets?limit=3'",
            token.token
        );
        println!();
    }
    let ok = all_ok && orphan_ok && proof_ok;
    println!(
        "demo {} in {:.0} s: every organization's jobs {} its own data; orphan job {}; proof {}",
        if ok { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64(),
        if all_ok {
            "saw exactly"
        } else {
            "did NOT see only"
        },
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

/// Open tickets go to the agents in turn; each open ticket gets a reply
/// draft; the organization gets a metrics snapshot (after the other jobs:
/// priority 1).
async fn after_import(pool: &Pool, roles: &SessionConfig, org: &DemoOrg) -> anyhow::Result<()> {
    let conn = pool.get().await.context("getting a connection")?;
    let tx = TenantTx::begin(conn, org.id, roles).await?;
    tx.execute(
        // $1 the organization (named, so that on Citus the statement runs
        // on its one shard).
        "UPDATE public.tickets t SET assigned_to = a.id
         FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS n
               FROM public.tickets
               WHERE organization_id = $1 AND status IN ('new', 'open', 'pending')) o,
              (SELECT id, row_number() OVER (ORDER BY name, id) - 1 AS n,
                      count(*) OVER () AS agents
               FROM public.agents WHERE organization_id = $1 AND active) a
         WHERE t.organization_id = $1 AND t.id = o.id AND a.n = o.n % a.agents",
        &[&org.id],
    )
    .await?;
    // Read first, then enqueued from the list: on Citus a statement that
    // reads tickets runs on their worker node, where add_job cannot reach
    // the queue. $1 the organization.
    let open: Vec<Uuid> = tx
        .query(
            "SELECT id FROM public.tickets
             WHERE organization_id = $1 AND status IN ('new', 'open') ORDER BY id",
            &[&org.id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // $1 the organization, $2 its open tickets.
    tx.execute(
        "SELECT orgjobs.add_job('SMART_REPLY', $1, jsonb_build_object('ticket_id', t.id),
                                unique_key => 'SMART_REPLY:' || t.id::text)
         FROM unnest($2::uuid[]) WITH ORDINALITY AS t (id, ord) ORDER BY t.ord",
        &[&org.id, &open],
    )
    .await?;
    tx.execute(
        "SELECT orgjobs.add_job('METRICS_SNAPSHOT', $1, '{}'::jsonb, priority => 1,
                                unique_key => 'METRICS_SNAPSHOT')",
        &[&org.id],
    )
    .await?;
    drop(tx.commit().await?);
    Ok(())
}

/// Runs a draining worker while a progress bar follows the jobs enqueued
/// since `first_job`.
async fn run_worker(
    pool: &Pool,
    db: &DbUrl,
    registry: &Arc<orgjobs_queue::Registry>,
    metrics: &Metrics,
    client: &orgjobs_queue::tokio_postgres::Client,
    first_job: i64,
    args: &DemoArgs,
) -> anyhow::Result<orgjobs_queue::RunSummary> {
    let concurrency = usize::from(args.concurrency);
    let config = WorkerConfig {
        concurrency,
        batch_size: concurrency * 2,
        drain: true,
        cancel: db.cancel_route(),
        session: SessionConfig::default().detected(client).await?,
        ..WorkerConfig::default()
    };
    let worker = Worker::new(pool.clone(), registry.clone(), metrics.clone(), config);
    let mut handle = tokio::spawn(async move { worker.run(std::future::pending()).await });
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} running jobs [{bar:40}] {pos}/{len} {per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let poll = || async {
        // $1: the newest job before the demo began.
        client
            .query_one(
                "SELECT count(*) FILTER (WHERE state IN ('completed', 'discarded', 'cancelled')),
                        count(*)
                 FROM orgjobs.jobs WHERE id > $1",
                &[&first_job],
            )
            .await
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
    };
    let summary = loop {
        tokio::select! {
            joined = &mut handle => break joined.context("the worker task failed")??,
            () = tokio::time::sleep(Duration::from_millis(150)) => {
                if let Ok((done, total)) = poll().await {
                    bar.set_length(u64::try_from(total).unwrap_or(0));
                    bar.set_position(u64::try_from(done).unwrap_or(0));
                }
            }
        }
    };
    if let Ok((done, total)) = poll().await {
        bar.set_length(u64::try_from(total).unwrap_or(0));
        bar.set_position(u64::try_from(done).unwrap_or(0));
    }
    bar.finish();
    Ok(summary)
}
