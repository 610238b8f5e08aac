//! Reading and waiting on jobs as the administrator, for tests of the queue
//! and of applications built on it.

use std::time::{Duration, Instant};

use orgjobs_queue::Registry;
use orgjobs_queue::deadpool_postgres::Pool;
use uuid::Uuid;

use crate::TestDb;

/// Counts rows as the admin (superuser) login.
pub async fn admin_count(
    db: &TestDb,
    sql: &str,
    params: &[&(dyn orgjobs_queue::tokio_postgres::types::ToSql + Sync)],
) -> i64 {
    let c = db.admin_client().await;
    c.query_one(sql, params).await.expect(sql).get(0)
}

/// A job's row, as tests look at it.
pub struct JobRow {
    /// `state`.
    pub state: String,
    /// `attempt`.
    pub attempt: i32,
    /// `max_attempts`.
    pub max_attempts: i32,
    /// `last_error`.
    pub last_error: Option<String>,
    /// `errors`, one entry per failed attempt.
    pub errors: serde_json::Value,
    /// Seconds from now until `run_at` (negative: in the past).
    pub run_at_in_secs: f64,
}

/// Job `id`'s row.
pub async fn job(db: &TestDb, id: i64) -> JobRow {
    let c = db.admin_client().await;
    let r = c
        .query_one(
            "SELECT state, attempt, max_attempts, last_error, errors,
                    extract(epoch FROM run_at - now())::float8
             FROM orgjobs.jobs WHERE id = $1",
            &[&id],
        )
        .await
        .expect("job row");
    JobRow {
        state: r.get(0),
        attempt: r.get(1),
        max_attempts: r.get(2),
        last_error: r.get(3),
        errors: r.get(4),
        run_at_in_secs: r.get(5),
    }
}

/// Records the registry's kinds (as `orgjobs migrate` and the worker do),
/// so that `orgjobs.add_job` accepts them.
pub async fn register(pool: &Pool, reg: &Registry) {
    let c = pool.get().await.expect("conn");
    reg.register_kinds(&c).await.expect("register kinds");
}

/// Waits (20 s at most) until job `id` is in `state`; returns its row.
pub async fn wait_for_state(db: &TestDb, id: i64, state: &str) -> JobRow {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = job(db, id).await;
        if row.state == state {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} stayed {} (wanted {state})",
            row.state
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A job inserted with a plain INSERT (no `add_job`, no validation).
pub async fn insert_raw(
    db: &TestDb,
    kind: &str,
    org: Option<Uuid>,
    payload: serde_json::Value,
) -> i64 {
    let c = db.admin_client().await;
    c.query_one(
        "INSERT INTO orgjobs.jobs (kind, organization_id, payload) VALUES ($1, $2, $3) RETURNING id",
        &[&kind, &org, &payload],
    )
    .await
    .expect("plain insert")
    .get(0)
}

/// Counts jobs in `state` among `ids`.
pub async fn count_state(db: &TestDb, ids: &[i64], state: &str) -> i64 {
    admin_count(
        db,
        "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND state = $2",
        &[&ids, &state],
    )
    .await
}

/// Waits (bounded) until `cond` holds, checking every 25 ms.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Enqueues one `kind` job of `org` per row id, with the payload
/// `{field: id, "sleep_ms": sleep_ms}` (the probe jobs of crash tests);
/// returns the job ids.
pub async fn enqueue_probes(
    db: &TestDb,
    kind: &str,
    org: Uuid,
    field: &str,
    ids: &[Uuid],
    sleep_ms: u64,
) -> Vec<i64> {
    let c = db.admin_client().await;
    let mut jobs = Vec::new();
    for id in ids {
        let payload = serde_json::json!({ field: id, "sleep_ms": sleep_ms });
        let job: i64 = c
            .query_one(
                "SELECT orgjobs.add_job($1, $2, $3)",
                &[&kind, &org, &payload],
            )
            .await
            .expect("enqueue probe")
            .get(0);
        jobs.push(job);
    }
    jobs
}

/// How many `+` marks the `subject` of each row of `table` carries: a
/// probe's effects, one per completed job. The table name is quoted by the
/// server.
pub async fn marks(db: &TestDb, table: &str, ids: &[Uuid]) -> Vec<i64> {
    let c = db.admin_client().await;
    let sql: String = c
        .query_one(
            r#"SELECT format('SELECT length(subject) - length(replace(subject, ''+'', '''')) FROM %I WHERE id = $1', $1::text)"#,
            &[&table],
        )
        .await
        .expect("format")
        .get(0);
    let mut out = Vec::new();
    for id in ids {
        let n: i32 = c.query_one(&sql, &[id]).await.expect("row").get(0);
        out.push(i64::from(n));
    }
    out
}
