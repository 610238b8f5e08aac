//! Queue behaviour: wake-ups, polling, scheduling, priorities, transactional
//! enqueue and the built-in global kinds.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orgjobs_queue::{
    JobError, Metrics, NewJob, Registry, TenantHandler, TenantTx, Worker, WorkerConfig, enqueue,
};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct Tag {
    tag: String,
    #[serde(default)]
    follow_up: bool,
}

#[derive(Clone, Default)]
struct Record(Arc<Mutex<Vec<String>>>);

impl TenantHandler for Record {
    const KIND: &'static str = "RECORD";
    type Payload = Tag;
    async fn run(&self, tx: &mut TenantTx, p: Tag) -> Result<(), JobError> {
        self.0.lock().expect("lock").push(p.tag.clone());
        if p.follow_up {
            tx.enqueue(
                "RECORD",
                &serde_json::json!({ "tag": format!("{}-child", p.tag) }),
            )
            .await?;
        }
        Ok(())
    }
}

fn tags(r: &Record) -> Vec<String> {
    r.0.lock().expect("lock").clone()
}

/// A test database with organization "A" and the `RECORD` kind registered.
struct Recording {
    db: orgjobs_testdb::TestDb,
    pool: orgjobs_queue::deadpool_postgres::Pool,
    org: Uuid,
    rec: Record,
    reg: Registry,
}

async fn recording(connections: usize) -> Recording {
    let db = support::db().await;
    let pool = support::pool(&db, connections).await;
    let org = support::seed_org(&pool, "A", 0).await;
    let rec = Record::default();
    let reg = Registry::new().tenant(rec.clone());
    support::register(&pool, &reg).await;
    Recording {
        db,
        pool,
        org,
        rec,
        reg,
    }
}

/// Runs a non-draining worker, listening, with `poll_interval`, until the
/// first job has been recorded or ten seconds pass; returns how long it took.
async fn time_to_first_job(r: Recording, poll_interval: Duration) -> (Duration, Record) {
    let config = WorkerConfig {
        poll_interval,
        drain: false,
        ..support::config(2)
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(r.pool.clone(), Arc::new(r.reg), Metrics::new(), config)
        .listen_on(r.db.url().clone());
    let handle = tokio::spawn(worker.run(async {
        let _ = stop_rx.await;
    }));
    let start = Instant::now();
    while tags(&r.rec).is_empty() && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed();
    let _ = stop_tx.send(());
    handle.await.expect("join").expect("worker ran");
    (took, r.rec)
}

#[tokio::test]
async fn plain_insert_without_notification_is_picked_up_by_polling() {
    let r = recording(4).await;
    let c = r.db.admin_client().await;
    c.batch_execute("ALTER TABLE orgjobs.jobs DISABLE TRIGGER jobs_notify")
        .await
        .expect("disable notify");
    c.execute(
        "INSERT INTO orgjobs.jobs (kind, organization_id, payload) VALUES ('RECORD', $1, '{\"tag\": \"plain\"}')",
        &[&r.org],
    )
    .await
    .expect("plain insert");
    let (took, rec) = time_to_first_job(r, Duration::from_millis(300)).await;
    assert_eq!(tags(&rec), vec!["plain"]);
    assert!(
        took < Duration::from_secs(3),
        "picked up by polling within about a second, took {took:?}"
    );
}

#[tokio::test]
async fn notification_wakes_an_idle_worker_long_before_the_next_poll() {
    let r = recording(4).await;
    let (pool, org) = (r.pool.clone(), r.org);
    let inserter = tokio::spawn(async move {
        // Insert once the worker listens (it has claimed nothing, so it is
        // idle, waiting on its 60 s poll or a notification).
        let c = pool.get().await.expect("conn");
        let listening = || async {
            c.query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND query = 'LISTEN orgjobs_jobs'",
                &[],
            )
            .await
            .map(|r| r.get::<_, i64>(0) > 0)
            .unwrap_or(false)
        };
        support::wait_until(Duration::from_secs(10), "the worker to listen", listening).await;
        c.execute(
            "INSERT INTO orgjobs.jobs (kind, organization_id, payload) VALUES ('RECORD', $1, '{\"tag\": \"notified\"}')",
            &[&org],
        )
        .await
        .expect("insert");
    });
    let (took, rec) = time_to_first_job(r, Duration::from_secs(60)).await;
    inserter.await.expect("inserter");
    assert_eq!(tags(&rec), vec!["notified"]);
    assert!(
        took < Duration::from_secs(3),
        "woken by NOTIFY, not the 60 s poll: {took:?}"
    );
}

#[tokio::test]
async fn priorities_order_claims_and_future_jobs_wait() {
    let Recording {
        db,
        pool,
        org,
        rec,
        reg,
    } = recording(3).await;
    let c = pool.get().await.expect("conn");
    for (tag, prio) in [("low", 5), ("high", -5), ("mid", 0), ("mid2", 0)] {
        let job = NewJob {
            priority: prio,
            ..NewJob::new("RECORD")
                .org(org)
                .payload(serde_json::json!({ "tag": tag }))
        };
        enqueue(&**c, &reg, &job).await.expect("enqueue");
    }
    let later = NewJob {
        run_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..NewJob::new("RECORD")
            .org(org)
            .payload(serde_json::json!({ "tag": "later" }))
    };
    let later_id = enqueue(&**c, &reg, &later).await.expect("enqueue");
    let plain_later: i64 = c
        .query_one(
            "INSERT INTO orgjobs.jobs (kind, organization_id, payload, run_at)
             VALUES ('RECORD', $1, '{\"tag\": \"plain-later\"}', now() + interval '1 hour') RETURNING id",
            &[&org],
        )
        .await
        .expect("insert")
        .get(0);
    drop(c);
    support::drain(&pool, reg, &Metrics::new(), 1).await;
    assert_eq!(tags(&rec), vec!["high", "mid", "mid2", "low"]);
    assert_eq!(support::job(&db, later_id).await.state, "scheduled");
    assert_eq!(support::job(&db, plain_later).await.state, "scheduled");
}

#[tokio::test]
async fn enqueue_in_the_callers_transaction_exists_only_if_it_commits() {
    let Recording {
        db,
        pool,
        org,
        rec,
        reg,
    } = recording(3).await;
    let mut client = db.admin_client().await;
    let job = NewJob::new("RECORD")
        .org(org)
        .payload(serde_json::json!({ "tag": "rolled-back" }));
    let tx = client.transaction().await.expect("begin");
    enqueue(&tx, &reg, &job).await.expect("enqueue");
    tx.rollback().await.expect("rollback");
    let job = NewJob::new("RECORD")
        .org(org)
        .payload(serde_json::json!({ "tag": "committed", "follow_up": true }));
    let tx = client.transaction().await.expect("begin");
    enqueue(&tx, &reg, &job).await.expect("enqueue");
    tx.commit().await.expect("commit");
    let summary = support::drain(&pool, reg, &Metrics::new(), 1).await;
    assert_eq!(summary.completed, 2, "the committed job and its follow-up");
    assert_eq!(tags(&rec), vec!["committed", "committed-child"]);
    let child_org: Uuid = client
        .query_one(
            "SELECT organization_id FROM orgjobs.jobs WHERE payload->>'tag' = 'committed-child'",
            &[],
        )
        .await
        .expect("child")
        .get(0);
    assert_eq!(child_org, org, "a follow-up job stays in its organization");
}

/// The probe kind and the queue's global kinds, `MIGRATION` included.
fn globals(metrics: &Metrics) -> Registry {
    support::probe_registry(metrics).global(orgjobs_queue::MigrationJob::new(support::migrations()))
}

#[tokio::test]
async fn global_kinds_run_in_the_global_session() {
    let db = support::db().await;
    let pool = support::pool(&db, 4).await;
    let org = support::seed_org(&pool, "A", 0).await;
    let metrics = Metrics::new();
    let reg = globals(&metrics);
    support::register(&pool, &reg).await;
    let c = db.admin_client().await;
    // Finished jobs: one old completed, one recent completed, one discarded
    // three days ago (kept: dead letters live 14 days by default).
    let ids: Vec<i64> = c
        .query(
            "INSERT INTO orgjobs.jobs (kind, organization_id, state, finalized_at) VALUES
               ('PROBE', $1, 'completed', now() - interval '2 days'),
               ('PROBE', $1, 'completed', now() - interval '1 hour'),
               ('PROBE', $1, 'discarded', now() - interval '3 days')
             RETURNING id",
            &[&org],
        )
        .await
        .expect("insert")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let cleanup = enqueue(&c, &reg, &NewJob::new("CLEANUP"))
        .await
        .expect("cleanup");
    let with_org: i64 = c
        .query_one(
            "INSERT INTO orgjobs.jobs (kind, organization_id) VALUES ('CLEANUP', $1) RETURNING id",
            &[&org],
        )
        .await
        .expect("insert")
        .get(0);
    let migration = enqueue(&c, &reg, &NewJob::new("MIGRATION"))
        .await
        .expect("migration");
    support::drain(&pool, reg, &metrics, 1).await;
    assert_eq!(support::job(&db, cleanup).await.state, "completed");
    let left: Vec<i64> = c
        .query(
            "SELECT id FROM orgjobs.jobs WHERE id = ANY($1) ORDER BY id",
            &[&ids],
        )
        .await
        .expect("query")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        left,
        vec![ids[1], ids[2]],
        "only the old completed job was deleted"
    );
    let j = support::job(&db, with_org).await;
    assert_eq!(j.state, "discarded");
    assert!(
        j.last_error
            .unwrap_or_default()
            .contains("CLEANUP is a global job kind")
    );
    assert_eq!(support::job(&db, migration).await.state, "completed");

    // SYSTEM_METRICS reports queue depth by kind and state.
    let reg = globals(&metrics);
    enqueue(&c, &reg, &NewJob::new("SYSTEM_METRICS"))
        .await
        .expect("system metrics");
    support::drain(&pool, reg, &metrics, 1).await;
    assert_eq!(
        metrics
            .queue_depth
            .with_label_values(&["PROBE", "completed"])
            .get(),
        1
    );
    assert_eq!(
        metrics
            .queue_depth
            .with_label_values(&["CLEANUP", "discarded"])
            .get(),
        1
    );
    let rendered = metrics.render();
    assert!(
        rendered.contains("orgjobs_queue_depth{kind=\"PROBE\",state=\"discarded\"} 1"),
        "{rendered}"
    );
}

#[tokio::test]
async fn global_session_sees_no_tenant_rows_beyond_its_explicit_policy() {
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    support::seed_org(&pool, "A", 3).await;
    support::seed_org(&pool, "B", 2).await;
    let s = orgjobs_queue::GlobalTx::begin(
        pool.get().await.expect("conn"),
        orgjobs_queue::GlobalRole::Global,
        &orgjobs_queue::SessionConfig::default(),
    )
    .await
    .expect("begin");
    let orgs: i64 = s
        .query_one("SELECT count(*) FROM orgs", &[])
        .await
        .expect("orgs")
        .get(0);
    assert_eq!(orgs, 2, "global work may list organizations");
    let items = s.query_one("SELECT count(*) FROM items", &[]).await;
    assert!(items.is_err(), "and has no privilege on items");
    drop(s.rollback().await);
}
