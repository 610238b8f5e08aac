//! The binary behind a real PgBouncer in transaction pooling mode with
//! several server connections (the queue's own PgBouncer tests live in
//! `orgjobs-queue`): the operator's case from the field.

mod common;

/// The operator's case from the field: `orgjobs worker --transaction-pooling
/// --no-listen --drain` behind a PgBouncer with four server connections,
/// running triage jobs whose payloads name another organization's tickets.
/// Every one is discarded with its reason recorded, and the worker exits 0.
#[tokio::test]
async fn drained_worker_records_every_discard_behind_pgbouncer() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let (a, _) = common::seed_org_tickets(&pool, "A", 1).await;
    let (_, b_tickets) = common::seed_org_tickets(&pool, "B", 40).await;
    let c = db.admin_client().await;
    let mut ids = Vec::new();
    for t in &b_tickets {
        let payload = serde_json::json!({ "ticket_id": t });
        let id: i64 = c
            .query_one(
                "SELECT orgjobs.add_job('TRIAGE_TICKET', $1, $2)",
                &[&a, &payload],
            )
            .await
            .expect("enqueue")
            .get(0);
        ids.push(id);
    }
    let bouncer = common::PgBouncer::with_pool_size(4);
    let out = std::process::Command::new(common::BIN)
        .args([
            "worker",
            "--transaction-pooling",
            "--no-listen",
            "--drain",
            "--concurrency",
            "8",
        ])
        .env("DATABASE_URL", bouncer.url(db.name()))
        .env("ORGJOBS_LOG", "warn")
        .output()
        .expect("run the worker");
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(common::count_state(&db, &ids, "discarded").await, 40);
    let reasons = common::admin_count(
        &db,
        "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND last_error LIKE '%not found in this organization%'",
        &[&ids],
    )
    .await;
    assert_eq!(reasons, 40, "{}", common::text(&out));
}
