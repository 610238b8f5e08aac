//! The metrics that the operations kit's alerts read and that no other test
//! covers: rescues by the maintenance leader, workers gone silent, and the
//! oldest runnable job (`deploy/prometheus/orgjobs.rules.yml`).

mod support;

use std::time::Duration;

use orgjobs_queue::{Metrics, NewJob, enqueue};

/// A job whose worker died (running, lease expired) is rescued by the
/// leader of a live worker and counted in
/// `jobs_rescued_total{outcome="retried"}`; the live worker then runs it.
#[tokio::test]
async fn the_leader_counts_the_jobs_it_rescues() {
    let db = support::db().await;
    let pool = support::pool(&db, 6).await;
    let metrics = Metrics::new();
    let registry = support::probe_registry(&metrics);
    support::register(&pool, &registry).await;
    let (org, items) = support::seed_org_items(&pool, "A", 1).await;
    let c = db.admin_client().await;
    let stuck: i64 = c
        .query_one(
            "INSERT INTO orgjobs.jobs (kind, organization_id, payload, state, attempt,
                                       attempted_at, locked_by, locked_until)
             VALUES ('PROBE', $1, jsonb_build_object('item_id', $2::uuid), 'running', 1,
                     now() - interval '2 minutes', 'dead-worker', now() - interval '1 minute')
             RETURNING id",
            &[&org, &items[0]],
        )
        .await
        .expect("a job of a dead worker")
        .get(0);

    // Not draining (a draining worker may finish before its first
    // maintenance round): stop once the rescued job has run again.
    let mut config = support::config(1);
    config.drain = false;
    let worker = orgjobs_queue::Worker::new(
        pool.clone(),
        std::sync::Arc::new(registry),
        metrics.clone(),
        config,
    );
    let done = {
        let db = &db;
        async move {
            support::wait_for_state(db, stuck, "completed").await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), worker.run(done))
        .await
        .expect("the worker stopped within 30 s")
        .expect("the worker ran");

    let rescued = |outcome: &str| metrics.jobs_rescued.with_label_values(&[outcome]).get();
    assert_eq!(
        (
            rescued("retried"),
            rescued("discarded"),
            rescued("cancelled")
        ),
        (1, 0, 0)
    );
    assert!(
        metrics
            .render()
            .contains("orgjobs_jobs_rescued_total{outcome=\"retried\"} 1"),
        "{}",
        metrics.render()
    );
}

/// Every worker's report counts the other workers that are not stopped and
/// have not reported for 30 s; a stopped worker and a recent one are not
/// counted.
#[tokio::test]
async fn a_worker_reports_the_workers_without_heartbeat() {
    let db = support::db().await;
    let pool = support::pool(&db, 6).await;
    let metrics = Metrics::new();
    let registry = support::probe_registry(&metrics);
    support::register(&pool, &registry).await;
    let c = db.admin_client().await;
    c.batch_execute(
        "INSERT INTO orgjobs.workers (id, heartbeat_at, stopped_at) VALUES
             ('silent', now() - interval '2 minutes', NULL),
             ('stopped', now() - interval '2 minutes', now() - interval '2 minutes'),
             ('recent', now() - interval '3 seconds', NULL)",
    )
    .await
    .expect("workers");
    support::drain(&pool, registry, &metrics, 1).await;
    assert_eq!(metrics.workers_without_heartbeat.get(), 1);
    assert!(
        metrics
            .render()
            .contains("orgjobs_workers_without_heartbeat 1")
    );
}

/// `SYSTEM_METRICS` sets the oldest runnable job's `run_at` (leaving out
/// jobs a pause holds and jobs not yet due) and the time it ran; with
/// nothing runnable, the oldest runnable time is the reading's own.
#[tokio::test]
async fn system_metrics_reports_the_oldest_runnable_job() {
    let db = support::db().await;
    let pool = support::pool(&db, 6).await;
    let metrics = Metrics::new();
    let registry = support::probe_registry(&metrics);
    support::register(&pool, &registry).await;
    let (org, items) = support::seed_org_items(&pool, "A", 1).await;
    let c = db.admin_client().await;
    // Waiting by an operator's decision (a paused kind), an hour old.
    c.batch_execute(
        "INSERT INTO orgjobs.pauses (kind) VALUES ('HELD');
         INSERT INTO orgjobs.jobs (kind, run_at) VALUES ('HELD', now() - interval '1 hour');
         INSERT INTO orgjobs.jobs (kind, run_at) VALUES ('CLEANUP', now() + interval '1 hour')",
    )
    .await
    .expect("held and future jobs");
    // Runnable for ten minutes, behind SYSTEM_METRICS (lower priority runs
    // first; one job per claim), so that it still waits when SYSTEM_METRICS
    // reads the queue.
    let waiting: f64 = c
        .query_one(
            "INSERT INTO orgjobs.jobs (kind, organization_id, payload, priority, run_at)
             VALUES ('PROBE', $1, jsonb_build_object('item_id', $2::uuid), 10,
                     date_trunc('second', now()) - interval '10 minutes')
             RETURNING extract(epoch FROM run_at)::float8",
            &[&org, &items[0]],
        )
        .await
        .expect("a waiting job")
        .get(0);
    let first = NewJob {
        priority: -1,
        ..NewJob::new("SYSTEM_METRICS")
    };
    enqueue(&c, &registry, &first)
        .await
        .expect("enqueue SYSTEM_METRICS");
    assert_eq!(metrics.system_metrics_at.get(), 0.0, "not run yet");
    let before = now_secs();
    support::drain(&pool, registry, &metrics, 1).await;
    assert_eq!(metrics.queue_oldest_runnable.get(), waiting);
    let at = metrics.system_metrics_at.get();
    assert!(at >= before - 5.0 && at <= now_secs() + 5.0, "{at}");

    // Nothing runnable now but the held and future jobs: the reading's time.
    let registry = support::probe_registry(&metrics);
    enqueue(&c, &registry, &NewJob::new("SYSTEM_METRICS"))
        .await
        .expect("enqueue SYSTEM_METRICS");
    support::drain(&pool, registry, &metrics, 1).await;
    let at = metrics.system_metrics_at.get();
    assert!(at >= before - 5.0, "ran again: {at}");
    assert!(
        (metrics.queue_oldest_runnable.get() - at).abs() < 1e-6,
        "{} against {at}",
        metrics.queue_oldest_runnable.get()
    );
    let rendered = metrics.render();
    assert!(
        rendered.contains("orgjobs_queue_oldest_runnable_timestamp_seconds ")
            && rendered.contains("orgjobs_system_metrics_timestamp_seconds "),
        "{rendered}"
    );
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
