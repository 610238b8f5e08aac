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

/// The overview counts waiting and dead jobs exactly and completed jobs up
/// to EXACT_UP_TO, then says it estimates; dead letters group by kind and
/// error, and a bulk retry takes exactly the jobs its count showed.
#[tokio::test]
async fn the_overview_estimates_only_past_its_cap_and_bulk_counts_match_the_action() {
    use orgjobs_queue::{BulkAction, EXACT_UP_TO, JobFilter};
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    let metrics = Metrics::new();
    support::register(&pool, &support::probe_registry(&metrics)).await;
    let org = support::seed_org(&pool, "A", 0).await;
    let c = db.admin_client().await;
    let insert = |state: &'static str, n: i64, error: &'static str| {
        let c = &c;
        async move {
            c.execute(
                "INSERT INTO orgjobs.jobs (kind, organization_id, state, finalized_at, last_error)
                 SELECT 'PROBE', $1, $2, CASE WHEN $2 = 'available' THEN NULL ELSE now() END,
                        nullif($4, '')
                 FROM generate_series(1, $3::int8)",
                &[&org, &state, &n, &error],
            )
            .await
            .expect("insert jobs");
        }
    };
    insert("completed", 50, "").await;
    insert("available", 7, "").await;
    insert("discarded", 3, "timeout talking to the model\nstack...").await;
    insert("discarded", 2, "bad payload").await;
    let conn = pool.get().await.expect("conn");
    let ov = orgjobs_queue::overview(&conn).await.expect("overview");
    let total = |s: &str| ov.totals.iter().find(|(k, _)| k == s).map(|(_, c)| *c);
    assert_eq!(
        total("completed").map(|c| (c.value, c.estimate)),
        Some((50, false))
    );
    assert_eq!(total("available").map(|c| c.value), Some(7));
    assert_eq!(total("discarded").map(|c| c.value), Some(5));
    assert!(ov.oldest_waiting_secs.is_some() && ov.oldest_waiting_id.is_some());

    insert("completed", EXACT_UP_TO, "").await;
    c.execute("ANALYZE orgjobs.jobs", &[])
        .await
        .expect("analyze");
    let ov = orgjobs_queue::overview(&conn).await.expect("overview");
    let done = ov
        .totals
        .iter()
        .find(|(k, _)| k == "completed")
        .map(|(_, c)| *c)
        .expect("completed");
    assert!(done.estimate, "past the cap it is an estimate");
    assert!(
        (done.value - (EXACT_UP_TO + 50)).abs() <= 100,
        "close to the truth: {}",
        done.value
    );

    let groups = orgjobs_queue::dead_letters(&conn, 10)
        .await
        .expect("groups");
    let g: Vec<(String, i64)> = groups.iter().map(|g| (g.error.clone(), g.count)).collect();
    assert_eq!(
        g,
        vec![
            ("timeout talking to the model".to_owned(), 3),
            ("bad payload".to_owned(), 2)
        ]
    );
    let filter = JobFilter {
        organization_id: Some(org),
        error: Some("timeout talking to the model".into()),
        ..JobFilter::default()
    };
    let n = orgjobs_queue::count_matching(&conn, &filter, BulkAction::Retry)
        .await
        .expect("count");
    assert_eq!(n, 3);
    let cancel_all =
        orgjobs_queue::count_matching(&conn, &JobFilter::default(), BulkAction::Cancel)
            .await
            .expect("count");
    assert_eq!(cancel_all, 7);
    assert_eq!(
        orgjobs_queue::retry_discarded(&conn, &filter)
            .await
            .expect("retry"),
        3
    );
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM orgjobs.jobs WHERE state = 'discarded'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 2, "the other group is left alone");

    // Three discarded runs of one unique job (a periodic fan-out during an
    // outage): the count and the retry take only the newest; no collision.
    c.execute(
        "INSERT INTO orgjobs.jobs (kind, organization_id, state, finalized_at, last_error, unique_key)
         SELECT 'PROBE', $1, 'discarded', now(), 'outage', 'PROBE' FROM generate_series(1, 3)",
        &[&org],
    )
    .await
    .expect("twins");
    let twins = JobFilter {
        error: Some("outage".into()),
        ..JobFilter::default()
    };
    let count = |f: JobFilter| {
        let conn = &conn;
        async move {
            orgjobs_queue::count_matching(conn, &f, BulkAction::Retry)
                .await
                .expect("count")
        }
    };
    assert_eq!(count(twins.clone()).await, 1);
    assert_eq!(
        orgjobs_queue::retry_discarded(&conn, &twins)
            .await
            .expect("retry twins"),
        1
    );
    assert_eq!(
        count(twins).await,
        0,
        "the others wait behind the retried one's unique key"
    );

    // The group of jobs without an error is a filter of its own (''), not
    // "every discarded job".
    c.execute(
        "INSERT INTO orgjobs.jobs (kind, organization_id, state, finalized_at)
         VALUES ('PROBE', $1, 'discarded', now())",
        &[&org],
    )
    .await
    .expect("no error");
    let no_error = JobFilter {
        error: Some(String::new()),
        ..JobFilter::default()
    };
    assert_eq!(count(no_error).await, 1);
}
