//! Tenant isolation through the real worker, on the real server: each job
//! sees exactly its organization's rows, whatever the login, the pool or the
//! concurrency, and a failing or panicking handler leaves nothing behind.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orgjobs_queue::{
    JobError, Metrics, NewJob, Registry, RetryPolicy, SessionConfig, TenantHandler, TenantTx,
    enqueue,
};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Clone, Debug)]
struct Observation {
    org: Uuid,
    items: i64,
    orgs_seen: Vec<Uuid>,
    current_user: String,
    context: String,
    backend_pid: i32,
}

#[derive(Clone, Default)]
struct Observe(Arc<Mutex<Vec<Observation>>>);

impl Observe {
    fn taken(&self) -> Vec<Observation> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

impl TenantHandler for Observe {
    const KIND: &'static str = "OBSERVE";
    type Payload = Empty;
    async fn run(&self, tx: &mut TenantTx, _: Empty) -> Result<(), JobError> {
        let r = tx
            .query_one(
                "SELECT count(*), coalesce(array_agg(DISTINCT organization_id), '{}'::uuid[]),
                        current_user::text, current_setting('app.current_org', true),
                        pg_backend_pid()
                 FROM items",
                &[],
            )
            .await?;
        self.0.lock().expect("lock").push(Observation {
            org: tx.org_id(),
            items: r.get(0),
            orgs_seen: r.get(1),
            current_user: r.get(2),
            context: r.get(3),
            backend_pid: r.get(4),
        });
        Ok(())
    }
}

fn registry(observe: &Observe) -> Registry {
    Registry::new().tenant(observe.clone())
}

async fn enqueue_observe(
    pool: &orgjobs_queue::deadpool_postgres::Pool,
    reg: &Registry,
    org: Uuid,
) -> i64 {
    let c = pool.get().await.expect("conn");
    enqueue(&**c, reg, &NewJob::new("OBSERVE").org(org))
        .await
        .expect("enqueue")
}

fn assert_own_rows(obs: &[Observation], expected: &[(Uuid, i64)]) {
    for o in obs {
        let want = expected
            .iter()
            .find(|(org, _)| *org == o.org)
            .map(|(_, n)| *n)
            .expect("observation of a known organization");
        assert_eq!(o.items, want, "job of {} saw {} items", o.org, o.items);
        assert_eq!(
            o.orgs_seen,
            vec![o.org],
            "job of {} saw rows of {:?}",
            o.org,
            o.orgs_seen
        );
        assert_eq!(o.current_user, "orgjobs_tenant");
        assert_eq!(o.context, o.org.to_string());
    }
}

/// The seed's check. The tests log in as a superuser, which bypasses RLS:
/// without the role switch every job would see both organizations' items.
#[tokio::test]
async fn each_job_sees_exactly_its_own_organization_as_superuser() {
    let db = support::db().await;
    let pool = support::pool(&db, 6).await;
    let a = support::seed_org(&pool, "A", 3).await;
    let b = support::seed_org(&pool, "B", 5).await;
    let observe = Observe::default();
    let reg = registry(&observe);
    support::register(&pool, &reg).await;
    enqueue_observe(&pool, &reg, a).await;
    enqueue_observe(&pool, &reg, b).await;
    let summary = support::drain(&pool, reg, &Metrics::new(), 2).await;
    assert_eq!(summary.completed, 2);
    let obs = observe.taken();
    assert_eq!(obs.len(), 2);
    assert_own_rows(&obs, &[(a, 3), (b, 5)]);
}

/// Same check with the least-privilege login the README prescribes.
#[tokio::test]
async fn each_job_sees_exactly_its_own_organization_as_orgjobs_worker() {
    let db = support::db().await;
    let admin_pool = support::pool(&db, 2).await;
    let a = support::seed_org(&admin_pool, "A", 2).await;
    let b = support::seed_org(&admin_pool, "B", 7).await;
    let worker_url = orgjobs_queue::DbUrl::parse(&db.url_string_as("orgjobs_worker")).expect("url");
    let pool = worker_url.pool(4).await.expect("worker pool");
    let observe = Observe::default();
    let reg = registry(&observe);
    support::register(&admin_pool, &reg).await;
    enqueue_observe(&pool, &reg, a).await;
    enqueue_observe(&pool, &reg, b).await;
    let summary = support::drain(&pool, reg, &Metrics::new(), 2).await;
    assert_eq!(summary.completed, 2);
    assert_own_rows(&observe.taken(), &[(a, 2), (b, 7)]);
    // And the login itself, outside a tenant transaction, sees nothing.
    let c = pool.get().await.expect("conn");
    let err = c.query_one("SELECT count(*) FROM items", &[]).await;
    assert!(
        err.is_err(),
        "orgjobs_worker must have no privilege on items"
    );
}

/// One pooled connection running A, B, A, B...: no context survives from
/// one job to the next.
#[tokio::test]
async fn one_connection_alternating_organizations_keeps_no_context() {
    let db = support::db().await;
    let seed_pool = support::pool(&db, 1).await;
    let a = support::seed_org(&seed_pool, "A", 1).await;
    let b = support::seed_org(&seed_pool, "B", 4).await;
    let pool = support::pool(&db, 1).await;
    let observe = Observe::default();
    let reg = registry(&observe);
    support::register(&pool, &reg).await;
    for i in 0..10 {
        enqueue_observe(&pool, &reg, if i % 2 == 0 { a } else { b }).await;
    }
    // Round-robin by job count, so that the organizations strictly
    // alternate (by worker time the order would follow the jobs' timing).
    let config = orgjobs_queue::WorkerConfig {
        fair_by_time: false,
        ..support::config(1)
    };
    let summary = support::drain_with(&pool, reg, &Metrics::new(), config).await;
    assert_eq!(summary.completed, 10);
    let obs = observe.taken();
    assert_eq!(obs.len(), 10);
    assert_own_rows(&obs, &[(a, 1), (b, 4)]);
    // The organizations alternate from one job to the next on the one
    // connection (fair claims start with the smaller organization key).
    let orgs: Vec<Uuid> = obs.iter().map(|o| o.org).collect();
    assert!(orgs.windows(2).all(|w| w[0] != w[1]), "{orgs:?}");
    let pids: std::collections::BTreeSet<i32> = obs.iter().map(|o| o.backend_pid).collect();
    assert_eq!(pids.len(), 1, "all jobs ran on one server connection");
    // After the last job, the connection has no context and its login role.
    let c = pool.get().await.expect("conn");
    let r = c
        .query_one(
            "SELECT coalesce(current_setting('app.current_org', true), ''), current_user::text = session_user::text",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(r.get::<_, String>(0), "");
    assert!(r.get::<_, bool>(1));
}

/// 20 organizations x 10 jobs on 8 connections at once.
#[tokio::test]
async fn twenty_organizations_concurrently_each_see_only_their_rows() {
    let db = support::db().await;
    let pool = support::pool(&db, 10).await;
    let mut expected = Vec::new();
    for i in 0..20 {
        let org = support::seed_org(&pool, &format!("org{i}"), i + 1).await;
        expected.push((org, (i + 1) as i64));
    }
    let observe = Observe::default();
    let reg = registry(&observe);
    support::register(&pool, &reg).await;
    let c = pool.get().await.expect("conn");
    for round in 0..10 {
        for (j, (org, _)) in expected.iter().enumerate() {
            if (round + j) % 3 == 0 {
                // Mix in some order variety.
                enqueue(&**c, &reg, &NewJob::new("OBSERVE").org(*org))
                    .await
                    .expect("enqueue");
            } else {
                enqueue(
                    &**c,
                    &reg,
                    &NewJob {
                        priority: 1,
                        ..NewJob::new("OBSERVE").org(*org)
                    },
                )
                .await
                .expect("enqueue");
            }
        }
    }
    drop(c);
    let summary = support::drain(&pool, reg, &Metrics::new(), 8).await;
    assert_eq!(summary.completed, 200);
    let obs = observe.taken();
    assert_eq!(obs.len(), 200);
    assert_own_rows(&obs, &expected);
    let pids: std::collections::BTreeSet<i32> = obs.iter().map(|o| o.backend_pid).collect();
    assert!(pids.len() > 1, "jobs ran on several connections");
}

#[derive(Debug, Deserialize)]
struct Victim {
    victim: Uuid,
}

#[derive(Clone, Default)]
struct Attack(Arc<Mutex<Vec<(i64, u64, u64)>>>);

impl TenantHandler for Attack {
    const KIND: &'static str = "ATTACK";
    type Payload = Victim;
    async fn run(&self, tx: &mut TenantTx, p: Victim) -> Result<(), JobError> {
        // $1: the other organization, named explicitly.
        let read: i64 = tx
            .query_one(
                "SELECT count(*) FROM items WHERE organization_id = $1",
                &[&p.victim],
            )
            .await?
            .get(0);
        let updated = tx
            .execute(
                "UPDATE items SET subject = 'pwned' WHERE organization_id = $1",
                &[&p.victim],
            )
            .await?;
        let deleted = tx
            .execute("DELETE FROM items WHERE organization_id = $1", &[&p.victim])
            .await?;
        self.0.lock().expect("lock").push((read, updated, deleted));
        tx.execute(
            "INSERT INTO items (organization_id, subject, body) VALUES ($1, 'planted', 'x')",
            &[&p.victim],
        )
        .await?;
        Ok(())
    }
}

#[tokio::test]
async fn handler_cannot_read_update_delete_or_insert_another_organizations_rows() {
    let db = support::db().await;
    let pool = support::pool(&db, 4).await;
    let attacker = support::seed_org(&pool, "attacker", 1).await;
    let victim = support::seed_org(&pool, "victim", 3).await;
    let attack = Attack::default();
    let reg = Registry::new().tenant(attack.clone());
    support::register(&pool, &reg).await;
    let c = pool.get().await.expect("conn");
    let job = NewJob::new("ATTACK")
        .org(attacker)
        .payload(serde_json::json!({ "victim": victim }));
    let id = enqueue(&**c, &reg, &job).await.expect("enqueue");
    drop(c);
    let metrics = Metrics::new();
    let summary = support::drain(&pool, reg, &metrics, 1).await;
    assert_eq!(summary.discarded, 1, "an RLS violation is not retried");
    assert_eq!(*attack.0.lock().expect("lock"), vec![(0, 0, 0)]);
    let row = support::job(&db, id).await;
    assert_eq!(row.state, "discarded");
    let err = row.last_error.expect("error kept");
    assert!(err.contains("row-level security"), "{err}");
    assert_eq!(metrics.rls_denied.with_label_values(&["items"]).get(), 1);
    // The victim's items are untouched.
    let n = support::admin_count(
        &db,
        "SELECT count(*) FROM items WHERE organization_id = $1 AND subject LIKE 't%'",
        &[&victim],
    )
    .await;
    assert_eq!(n, 3);
    let planted = support::admin_count(
        &db,
        "SELECT count(*) FROM items WHERE subject IN ('planted', 'pwned')",
        &[],
    )
    .await;
    assert_eq!(planted, 0);
}

struct Panics;
impl TenantHandler for Panics {
    const KIND: &'static str = "PANICS";
    type Payload = Empty;
    async fn run(&self, tx: &mut TenantTx, _: Empty) -> Result<(), JobError> {
        tx.execute(
            "INSERT INTO items (organization_id, subject) VALUES ($1, 'written before panic')",
            &[&tx.org_id()],
        )
        .await?;
        panic!("handler exploded");
    }
}

struct Fails;
impl TenantHandler for Fails {
    const KIND: &'static str = "FAILS";
    type Payload = Empty;
    async fn run(&self, tx: &mut TenantTx, _: Empty) -> Result<(), JobError> {
        tx.execute(
            "INSERT INTO items (organization_id, subject) VALUES ($1, 'written before error')",
            &[&tx.org_id()],
        )
        .await?;
        Err(JobError::retry("upstream unavailable"))
    }
}

#[tokio::test]
async fn panicking_and_failing_handlers_roll_back_retry_and_the_worker_goes_on() {
    let db = support::db().await;
    let pool = support::pool(&db, 1).await;
    let a = support::seed_org(&pool, "A", 2).await;
    let b = support::seed_org(&pool, "B", 5).await;
    let observe = Observe::default();
    let slow = RetryPolicy {
        base: Duration::from_secs(3600),
        max: Duration::from_secs(7200),
        jitter: 0.0,
    };
    let reg = Registry::new()
        .tenant(Panics)
        .tenant(Fails)
        .tenant(observe.clone())
        .with_retry("PANICS", slow)
        .and_then(|r| r.with_retry("FAILS", slow))
        .expect("registered kinds");
    support::register(&pool, &reg).await;
    let c = pool.get().await.expect("conn");
    let panics = enqueue(&**c, &reg, &NewJob::new("PANICS").org(a))
        .await
        .expect("enqueue");
    let fails = enqueue(&**c, &reg, &NewJob::new("FAILS").org(a))
        .await
        .expect("enqueue");
    let last = enqueue(
        &**c,
        &reg,
        &NewJob {
            max_attempts: Some(1),
            ..NewJob::new("FAILS").org(a)
        },
    )
    .await
    .expect("enqueue");
    drop(c);
    enqueue_observe(&pool, &reg, b).await;
    // One connection: the observation runs on the connection the failures used.
    let summary = support::drain(&pool, reg, &Metrics::new(), 1).await;
    assert_eq!(
        (summary.completed, summary.retried, summary.discarded),
        (1, 2, 1)
    );

    let p = support::job(&db, panics).await;
    assert_eq!((p.state.as_str(), p.attempt), ("retryable", 1));
    assert!(
        p.last_error
            .as_deref()
            .unwrap_or("")
            .contains("handler panicked: handler exploded")
    );
    assert!(
        p.run_at_in_secs > 3000.0,
        "retry scheduled after the backoff, got {}",
        p.run_at_in_secs
    );
    assert_eq!(p.errors.as_array().map(Vec::len), Some(1));
    assert_eq!(p.errors[0]["attempt"], 1);

    let f = support::job(&db, fails).await;
    assert_eq!((f.state.as_str(), f.attempt), ("retryable", 1));
    assert_eq!(f.last_error.as_deref(), Some("upstream unavailable"));

    let l = support::job(&db, last).await;
    assert_eq!(l.state, "discarded", "out of attempts");
    assert_eq!(l.last_error.as_deref(), Some("upstream unavailable"));

    let written = support::admin_count(
        &db,
        "SELECT count(*) FROM items WHERE subject LIKE 'written before%'",
        &[],
    )
    .await;
    assert_eq!(written, 0, "the handlers' writes were rolled back");
    let obs = observe.taken();
    assert_own_rows(&obs, &[(b, 5)]);
}

struct Escapes;
impl TenantHandler for Escapes {
    const KIND: &'static str = "ESCAPES";
    type Payload = Empty;
    async fn run(&self, tx: &mut TenantTx, _: Empty) -> Result<(), JobError> {
        // Ending the transaction would drop the context and role mid-job.
        tx.execute("COMMIT", &[]).await?;
        tx.execute("DELETE FROM items", &[]).await?;
        Ok(())
    }
}

#[tokio::test]
async fn handler_cannot_end_its_transaction_and_fall_out_of_context() {
    let db = support::db().await;
    let pool = support::pool(&db, 2).await;
    let a = support::seed_org(&pool, "A", 2).await;
    let b = support::seed_org(&pool, "B", 2).await;
    let reg = Registry::new().tenant(Escapes);
    support::register(&pool, &reg).await;
    let c = pool.get().await.expect("conn");
    let id = enqueue(&**c, &reg, &NewJob::new("ESCAPES").org(a))
        .await
        .expect("enqueue");
    drop(c);
    support::drain(&pool, reg, &Metrics::new(), 1).await;
    let j = support::job(&db, id).await;
    assert_eq!(j.state, "discarded");
    assert!(
        j.last_error
            .unwrap_or_default()
            .contains("statement refused: COMMIT")
    );
    let left = support::admin_count(
        &db,
        "SELECT count(*) FROM items WHERE organization_id = $1",
        &[&b],
    )
    .await;
    assert_eq!(left, 2);
}

#[tokio::test]
async fn tenant_transaction_switches_role_even_for_a_superuser_login() {
    let db = support::db().await;
    let pool = support::pool(&db, 1).await;
    let a = support::seed_org(&pool, "A", 2).await;
    let _b = support::seed_org(&pool, "B", 3).await;
    let tx = TenantTx::begin(
        pool.get().await.expect("conn"),
        a,
        &SessionConfig::default(),
    )
    .await
    .expect("begin");
    let r = tx
        .query_one(
            "SELECT current_user::text, session_user::text, (SELECT count(*) FROM items)",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(r.get::<_, String>(0), "orgjobs_tenant");
    assert_eq!(r.get::<_, String>(1), "postgres");
    assert_eq!(r.get::<_, i64>(2), 2);
    // Enqueueing for another organization from inside a tenant transaction
    // is refused by orgjobs.add_job.
    let other = tx
        .query_one("SELECT orgjobs.add_job('OBSERVE', $1)", &[&Uuid::new_v4()])
        .await;
    assert!(other.is_err());
    drop(tx.rollback().await.expect("rollback"));
}
