//! Workers report themselves (`orgjobs.workers`) and the queue's short
//! history (`orgjobs.worker_minutes`), which the dashboard reads.

mod support;

use orgjobs_queue::Metrics;
use uuid::Uuid;

#[tokio::test]
async fn a_worker_reports_itself_and_the_attempts_that_ended() {
    let db = support::db().await;
    let pool = support::pool(&db, 8).await;
    let metrics = Metrics::new();
    let registry = support::probe_registry(&metrics);
    support::register(&pool, &registry).await;
    let (org, items) = support::seed_org_items(&pool, "A", 3).await;
    support::enqueue_probes(&db, org, &items, 20).await;
    // An item that does not exist: the probe discards its job.
    support::enqueue_probes(&db, org, &[Uuid::new_v4()], 0).await;

    let mut config = support::config(2);
    config.worker_id = "reporting-worker".into();
    let summary = support::drain_with(&pool, registry, &metrics, config).await;
    assert_eq!((summary.completed, summary.discarded), (3, 1));

    let c = db.admin_client().await;
    let row = c
        .query_one(
            "SELECT sum(completed)::int8, sum(failed)::int8, sum(run_secs), max(wait_max_secs),
                    bool_and(worker_id = 'reporting-worker')
             FROM orgjobs.worker_minutes WHERE organization_id = $1 AND kind = 'PROBE'",
            &[&org],
        )
        .await
        .expect("history");
    assert_eq!(row.get::<_, Option<i64>>(0), Some(3));
    assert_eq!(row.get::<_, Option<i64>>(1), Some(1));
    assert!(
        row.get::<_, Option<f64>>(2).unwrap_or(0.0) >= 0.06,
        "three 20 ms probes"
    );
    assert!(row.get::<_, Option<f64>>(3).unwrap_or(-1.0) >= 0.0);
    assert_eq!(row.get::<_, Option<bool>>(4), Some(true));

    let w = c
        .query_one(
            "SELECT pid, concurrency, stopped_at IS NOT NULL, kinds FROM orgjobs.workers
             WHERE id = 'reporting-worker'",
            &[],
        )
        .await
        .expect("the worker's row");
    assert_eq!(
        w.get::<_, i32>(0),
        i32::try_from(std::process::id()).unwrap_or(0)
    );
    assert_eq!(w.get::<_, i32>(1), 2);
    assert!(w.get::<_, bool>(2), "a drained worker says it stopped");
    assert!(w.get::<_, String>(3).contains("PROBE"));
}
