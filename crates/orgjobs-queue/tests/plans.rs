//! The plans of the statements that end an attempt. Each names its job by
//! id; each must reach it through the primary key, never by walking the
//! running jobs (the partial indexes on `state = 'running'`), which made
//! every completion cost time in proportion to the jobs running at once.
//!
//! The planner picks the walk when the statistics say few jobs run, as
//! after a bulk insert: the test gathers them then, forces the generic
//! plans a long-lived worker ends up with, and reads the plans the server
//! actually ran (`auto_explain`, sent back as notices), including the one
//! inside `orgjobs.complete_job`.

mod support;

use orgjobs_queue::tokio_postgres::{self, AsyncMessage, Client, NoTls};
use orgjobs_queue::{SET_TENANT_CONTEXT, SessionConfig};
use tokio::sync::mpsc;
use uuid::Uuid;

const WORKER: &str = "plans-worker";

/// An admin connection whose notices (the plans) arrive on the receiver.
async fn explaining_client(url: &str) -> (Client, mpsc::UnboundedReceiver<String>) {
    let (client, mut conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(msg) = futures_util::future::poll_fn(|cx| conn.poll_message(cx)).await {
            match msg {
                Ok(AsyncMessage::Notice(n)) => {
                    let _ = tx.send(n.message().to_string());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client
        .batch_execute(
            "LOAD 'auto_explain';
             SET auto_explain.log_min_duration = 0;
             SET auto_explain.log_nested_statements = on;
             SET auto_explain.log_level = notice;
             SET plan_cache_mode = force_generic_plan;",
        )
        .await
        .expect("auto_explain");
    (client, rx)
}

/// The plans received so far that update the jobs table.
fn job_updates(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut plans = Vec::new();
    while let Ok(p) = rx.try_recv() {
        if p.contains("Update on jobs") {
            plans.push(p);
        }
    }
    plans
}

fn assert_by_primary_key(what: &str, plans: &[String]) {
    assert!(!plans.is_empty(), "{what}: no plan reached the test");
    for p in plans {
        assert!(
            p.contains("jobs_pkey") && !p.contains("running_idx"),
            "{what} must find its job by primary key, not walk the running jobs:\n{p}"
        );
    }
}

#[tokio::test]
async fn ending_an_attempt_finds_the_job_by_primary_key() {
    let db = support::db().await;
    let admin = db.admin_client().await;
    let org = Uuid::new_v4();
    // Statistics gathered while every job waits, then 600 jobs run (500 of
    // another worker): the planner believes almost none do.
    admin
        .execute(
            "INSERT INTO orgjobs.jobs (kind, organization_id) SELECT 'PROBE', $1 FROM generate_series(1, 5000)",
            &[&org],
        )
        .await
        .expect("insert");
    admin
        .batch_execute("ANALYZE orgjobs.jobs")
        .await
        .expect("analyze");
    admin
        .execute(
            "UPDATE orgjobs.jobs SET state = 'running', attempt = 1,
                 locked_by = CASE WHEN id % 6 = 0 THEN $1 ELSE 'another-worker' END,
                 locked_until = now() + interval '5 minutes'
             WHERE id <= 600",
            &[&WORKER],
        )
        .await
        .expect("run");
    let mine: Vec<i64> = admin
        .query(
            "SELECT id FROM orgjobs.jobs WHERE locked_by = $1 ORDER BY id",
            &[&WORKER],
        )
        .await
        .expect("mine")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (c, mut plans) = explaining_client(db.url_string()).await;
    let ids = &mine[0..20];
    let attempts = vec![1i32; ids.len()];
    let now: Option<chrono::DateTime<chrono::Utc>> = None;

    // Heartbeat, release and batch completion: (ids, attempts, worker, ...).
    let heartbeat = include_str!("../sql/worker/heartbeat.sql");
    let n = c
        .query(heartbeat, &[&ids, &attempts, &WORKER, &60.0f64, &now])
        .await
        .expect("heartbeat")
        .len();
    assert_eq!(n, ids.len(), "every lease renewed");
    assert_by_primary_key("lease renewal", &job_updates(&mut plans));

    let complete_batch = include_str!("../sql/worker/complete_batch.sql");
    let n = c
        .query(
            complete_batch,
            &[&&ids[0..10], &&attempts[0..10], &WORKER, &now],
        )
        .await
        .expect("complete batch")
        .len();
    assert_eq!(n, 10);
    assert_by_primary_key("batch completion", &job_updates(&mut plans));

    let release = include_str!("../sql/worker/release.sql");
    let n = c
        .query(release, &[&&ids[10..15], &&attempts[10..15], &WORKER, &now])
        .await
        .expect("release")
        .len();
    assert_eq!(n, 5);
    assert_by_primary_key("release", &job_updates(&mut plans));

    let fail = include_str!("../sql/worker/fail.sql");
    let state: String = c
        .query_one(
            fail,
            &[&ids[15], &1i32, &WORKER, &"boom", &false, &1.0f64, &now],
        )
        .await
        .expect("fail")
        .get(0);
    assert_eq!(state, "retryable");
    assert_by_primary_key("failure record", &job_updates(&mut plans));

    // Completion in the job's own transaction, as the tenant role under the
    // job's organization (the statement inside complete_job).
    for id in &ids[16..20] {
        c.batch_execute("BEGIN").await.expect("begin");
        c.execute(
            SET_TENANT_CONTEXT,
            &[&SessionConfig::default().tenant_role, &org.to_string()],
        )
        .await
        .expect("context");
        c.execute("SELECT orgjobs.complete_job($1, 1, $2)", &[id, &WORKER])
            .await
            .expect("complete_job");
        c.batch_execute("COMMIT").await.expect("commit");
    }
    assert_by_primary_key("complete_job", &job_updates(&mut plans));
}

/// Both claims update the jobs they picked through the primary key, with or
/// without rate limits, whatever the planner guesses `grant_starts` returns
/// (a guess of 1,000 rows once turned the update into a scan of every job:
/// W1 fell from 17k to 6k jobs/s).
#[tokio::test]
async fn claims_update_their_jobs_by_primary_key() {
    let db = support::db().await;
    let admin = db.admin_client().await;
    let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
    admin
        .execute(
            "INSERT INTO orgjobs.jobs (kind, organization_id, run_at)
             SELECT 'PROBE', CASE WHEN g % 2 = 0 THEN $1::uuid ELSE $2::uuid END, now() - interval '1 minute'
             FROM generate_series(1, 5000) g",
            &[&a, &b],
        )
        .await
        .expect("insert");
    admin
        .batch_execute("ANALYZE orgjobs.jobs")
        .await
        .expect("analyze");
    let (c, mut plans) = explaining_client(db.url_string()).await;
    let now: Option<chrono::DateTime<chrono::Utc>> = None;
    let none: Vec<Uuid> = Vec::new();
    for limited in [false, true] {
        if limited {
            admin
                .execute(
                    "INSERT INTO orgjobs.rate_limits (organization_id, starts, period, burst, tokens)
                     VALUES ($1, 5, '1 hour', 5, 5)",
                    &[&a],
                )
                .await
                .expect("limit");
        }
        let claim = c
            .prepare_typed(
                orgjobs_queue::CLAIM_SQL,
                &[
                    tokio_postgres::types::Type::INT8,
                    tokio_postgres::types::Type::TEXT,
                    tokio_postgres::types::Type::FLOAT8,
                    tokio_postgres::types::Type::TIMESTAMPTZ,
                ],
            )
            .await
            .expect("prepare");
        let got = c
            .query(&claim, &[&32i64, &WORKER, &30.0f64, &now])
            .await
            .expect("claim")
            .len();
        assert!(got > 0);
        // Prepared with the worker's parameter types.
        let fair_claim = c
            .prepare_typed(orgjobs_queue::CLAIM_FAIR_SQL, &support::CLAIM_FAIR_TYPES)
            .await
            .expect("prepare");
        let fair = c
            .query(
                &fair_claim,
                &[
                    &32i64,
                    &WORKER,
                    &30.0f64,
                    &Uuid::nil(),
                    &None::<i32>,
                    &now,
                    &orgjobs_queue::CLAIM_LOCK_CLASS,
                    &none,
                ],
            )
            .await
            .expect("fair claim")
            .len();
        assert!(fair > 0);
        let updates = job_updates(&mut plans);
        assert_eq!(updates.len(), 2, "{updates:?}");
        for p in &updates {
            assert!(
                p.contains("Index Scan using jobs_pkey on jobs j")
                    && !p.contains("Seq Scan on jobs"),
                "a claim (rate limits: {limited}) must update its jobs by primary key:\n{p}"
            );
        }
    }
}
