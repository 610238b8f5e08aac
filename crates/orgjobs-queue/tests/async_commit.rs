//! Asynchronous commit per kind (`CommitMode::Asynchronous`): the job's
//! transaction really commits with `synchronous_commit = off`, other kinds
//! keep the default, and a server crash loses a job's writes and its
//! completion together, so that after the lease expires the job runs again
//! and its effect happens exactly once.

mod support;

use std::sync::Arc;
use std::time::Duration;

use orgjobs_queue::services::Rescuer;
use orgjobs_queue::{
    Clock, CommitMode, DbUrl, JobError, Metrics, Registry, ServiceDb, TenantHandler, TenantTx,
    Worker, WorkerConfig, migrate,
};
use orgjobs_testdb::{PrivateServer, ServerOptions};
use serde::Deserialize;
use support::Probe;
use uuid::Uuid;

/// `COMMIT_SETTING`: writes the transaction's `synchronous_commit` into its
/// item's subject.
struct CommitSetting;

#[derive(Deserialize)]
struct Item {
    item_id: Uuid,
}

impl TenantHandler for CommitSetting {
    const KIND: &'static str = "COMMIT_SETTING";
    type Payload = Item;

    async fn run(&self, tx: &mut TenantTx, p: Item) -> Result<(), JobError> {
        // $1: the item.
        tx.execute(
            "UPDATE items SET subject = current_setting('synchronous_commit') WHERE id = $1",
            &[&p.item_id],
        )
        .await?;
        Ok(())
    }
}

async fn setting_seen(commit: Option<CommitMode>) -> String {
    let db = support::db().await;
    let pool = support::pool(&db, 4).await;
    let (org, items) = support::seed_org_items(&pool, "A", 1).await;
    let mut reg = Registry::new().tenant(CommitSetting);
    if let Some(c) = commit {
        reg = reg.with_commit("COMMIT_SETTING", c).expect("known kind");
    }
    reg.register_kinds(&db.admin_client().await)
        .await
        .expect("kinds");
    orgjobs_testdb::enqueue_probes(&db, "COMMIT_SETTING", org, "item_id", &items, 0).await;
    let summary = support::drain(&pool, reg, &Metrics::new(), 2).await;
    assert_eq!(summary.completed, 1, "{summary:?}");
    let c = db.admin_client().await;
    c.query_one("SELECT subject FROM items WHERE id = $1", &[&items[0]])
        .await
        .expect("item")
        .get(0)
}

#[tokio::test]
async fn only_the_kinds_that_ask_commit_asynchronously() {
    assert_eq!(setting_seen(Some(CommitMode::Asynchronous)).await, "off");
    assert_eq!(setting_seen(None).await, "on", "the default is synchronous");
}

#[tokio::test]
async fn a_server_crash_loses_an_asynchronous_job_whole_and_it_runs_again_once() {
    // A WAL writer that waits 10 s between flushes: asynchronous commits
    // since the last synchronous one (a claim, a heartbeat) are lost.
    let server = PrivateServer::start(ServerOptions {
        config: vec!["wal_writer_delay = 10000ms".to_owned()],
        ..ServerOptions::default()
    });
    let url = DbUrl::parse(&server.url("postgres", "sslmode=disable")).expect("url");
    let mut admin = url.connect().await.expect("connect");
    migrate(&mut admin, &support::migrations())
        .await
        .expect("migrate");
    let pool = url.pool(12).await.expect("pool");
    let (org, items) = support::seed_org_items(&pool, "A", 400).await;
    // $1 organization, $2 items: one PROBE per item.
    admin
        .execute(
            "INSERT INTO orgjobs.jobs (kind, organization_id, payload)
             SELECT 'PROBE', $1, jsonb_build_object('item_id', i) FROM unnest($2::uuid[]) i",
            &[&org, &items],
        )
        .await
        .expect("enqueue");
    let registry = || {
        Registry::new()
            .tenant(Probe)
            .with_commit("PROBE", CommitMode::Asynchronous)
            .expect("known kind")
    };
    registry().register_kinds(&admin).await.expect("kinds");
    // A worker that keeps running: the crash comes as soon as every
    // completion is visible, before the worker's next synchronous commit.
    let worker = Worker::new(
        pool.clone(),
        Arc::new(registry()),
        Metrics::new(),
        WorkerConfig {
            drain: false,
            poll_interval: Duration::from_secs(60),
            ..support::config(8)
        },
    );
    let running = tokio::spawn(worker.run(std::future::pending()));
    support::wait_until(Duration::from_secs(60), "every job to complete", || async {
        admin
            .query_one(
                "SELECT count(*) FROM orgjobs.jobs WHERE state = 'completed'",
                &[],
            )
            .await
            .map(|r| r.get::<_, i64>(0) == 400)
            .unwrap_or(false)
    })
    .await;
    server.stop("immediate");
    running.abort();
    drop(pool);
    drop(admin);
    server.start_again();

    // After recovery: an item carries its mark exactly when its job is
    // completed; a job whose commit was lost is still running, unmarked.
    let admin = url.connect().await.expect("reconnect");
    let state_and_marks = "SELECT j.state, length(i.subject) - length(replace(i.subject, '+', ''))
         FROM orgjobs.jobs j JOIN items i ON i.id = (j.payload->>'item_id')::uuid";
    let rows = admin.query(state_and_marks, &[]).await.expect("rows");
    assert_eq!(rows.len(), 400);
    // Claims commit asynchronously too: a job whose claim was lost as well
    // is simply waiting again.
    let (mut lost, mut still_running) = (0, 0);
    for r in &rows {
        let (state, marks): (String, i32) = (r.get(0), r.get(1));
        match state.as_str() {
            "completed" => assert_eq!(marks, 1, "a completed job's effect survived once"),
            "running" | "available" => {
                assert_eq!(marks, 0, "a lost completion took its writes with it");
                lost += 1;
                still_running += usize::from(state == "running");
            }
            other => panic!("unexpected state {other}"),
        }
    }
    eprintln!("{lost} of 400 completions were lost in the crash");
    assert!(
        lost > 0,
        "the last completions were committed asynchronously, so the crash loses some"
    );

    // Their leases expire (the clock moves past them) and they run again.
    let later = Clock::stub(chrono::Utc::now() + chrono::Duration::minutes(10));
    let pool = url.pool(12).await.expect("pool");
    let rescued = Rescuer::new(ServiceDb {
        pool: pool.clone(),
        statements: Default::default(),
        clock: later.clone(),
    })
    .run_once()
    .await
    .expect("rescue")
    .total();
    assert_eq!(rescued as usize, still_running);
    // The worker lives at the rescuer's time, when the retries are due.
    let summary = support::drain_with(
        &pool,
        registry(),
        &Metrics::new(),
        WorkerConfig {
            clock: later,
            ..support::config(8)
        },
    )
    .await;
    assert_eq!(summary.completed as usize, lost, "{summary:?}");
    let rows = admin.query(state_and_marks, &[]).await.expect("rows");
    for r in &rows {
        let (state, marks): (String, i32) = (r.get(0), r.get(1));
        assert_eq!((state.as_str(), marks), ("completed", 1));
    }
}
