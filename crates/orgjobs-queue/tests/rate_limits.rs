//! Pauses and per-organization rate limits on job starts
//! (`orgjobs.pauses`, `orgjobs.rate_limits`). A rate limit is a
//! token bucket per organization (and per kind), shared by every worker,
//! that the claim charges in the same transaction as the jobs it takes. On
//! a stubbed clock, so that refills are exact.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{
    AdminError, Clock, JobError, Metrics, NewJob, RateLimit, Registry, TenantHandler, TenantTx,
    Worker, WorkerConfig, enqueue, list_pauses, list_rate_limits, pause, remove_rate_limit, resume,
    set_rate_limit,
};
use uuid::Uuid;

/// Which organization ran which kind, in order.
#[derive(Clone, Default)]
struct Trace(Arc<Mutex<Vec<(Uuid, &'static str)>>>);

impl Trace {
    fn count(&self, org: Uuid, kind: &str) -> usize {
        let runs = self.0.lock().expect("lock");
        runs.iter().filter(|(o, k)| *o == org && *k == kind).count()
    }
}

struct Mail(Trace);
struct Sync(Trace);

impl TenantHandler for Mail {
    const KIND: &'static str = "MAIL";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, _: serde_json::Value) -> Result<(), JobError> {
        self.0
            .0
            .lock()
            .expect("lock")
            .push((tx.org_id(), Self::KIND));
        Ok(())
    }
}

impl TenantHandler for Sync {
    const KIND: &'static str = "SYNC";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, _: serde_json::Value) -> Result<(), JobError> {
        self.0
            .0
            .lock()
            .expect("lock")
            .push((tx.org_id(), Self::KIND));
        Ok(())
    }
}

struct Setup {
    db: orgjobs_testdb::TestDb,
    pool: Pool,
    trace: Trace,
    registry: Arc<Registry>,
    clock: Clock,
    a: Uuid,
    b: Uuid,
}

async fn setup() -> Setup {
    let db = support::db().await;
    let pool = support::pool(&db, 16).await;
    let a = support::seed_org_id(&pool, Uuid::from_u128(1), "A", 0).await;
    let b = support::seed_org_id(&pool, Uuid::from_u128(2), "B", 0).await;
    let trace = Trace::default();
    let registry = Registry::new()
        .tenant(Mail(trace.clone()))
        .tenant(Sync(trace.clone()));
    support::register(&pool, &registry).await;
    // Ahead of the server's clock, so that every job enqueued now is due.
    let clock = Clock::stub(Utc::now() + chrono::Duration::seconds(2));
    Setup {
        db,
        pool,
        trace,
        registry: Arc::new(registry),
        clock,
        a,
        b,
    }
}

impl Setup {
    async fn add(&self, org: Uuid, kind: &str, n: usize) {
        let c = self.pool.get().await.expect("conn");
        for _ in 0..n {
            enqueue(&**c, &self.registry, &NewJob::new(kind).org(org))
                .await
                .expect("enqueue");
        }
    }

    async fn limit(&self, org: Uuid, kind: Option<&str>, starts: u32, burst: u32) {
        let c = self.pool.get().await.expect("conn");
        let limit = RateLimit {
            organization_id: org,
            kind: kind.map(str::to_owned),
            starts,
            period: Duration::from_secs(3600),
            burst,
        };
        set_rate_limit(&c, &limit).await.expect("set the limit");
    }

    /// Runs `workers` draining workers at once, until none can start a job.
    async fn drain(&self, workers: usize, fair: bool) {
        let mut running = Vec::new();
        for i in 0..workers {
            let config = WorkerConfig {
                fair,
                clock: self.clock.clone(),
                worker_id: format!("w{i}"),
                ..support::config(8)
            };
            let w = Worker::new(
                self.pool.clone(),
                self.registry.clone(),
                Metrics::new(),
                config,
            );
            running.push(tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(60), w.run(std::future::pending())).await
            }));
        }
        for w in running {
            w.await
                .expect("join")
                .expect("drained within 60 s")
                .expect("ran");
        }
    }
}

#[tokio::test]
async fn a_limit_holds_across_workers_refills_at_its_rate_and_leaves_others_alone() {
    let s = setup().await;
    s.add(s.a, "MAIL", 30).await;
    s.add(s.b, "MAIL", 30).await;
    // A: 3 starts per hour, all at once at most.
    s.limit(s.a, None, 3, 3).await;
    s.drain(3, true).await;
    assert_eq!(s.trace.count(s.a, "MAIL"), 3, "A's burst, over 3 workers");
    assert_eq!(s.trace.count(s.b, "MAIL"), 30, "B is not limited");

    // Nothing has refilled: nothing more of A starts.
    s.drain(2, true).await;
    assert_eq!(s.trace.count(s.a, "MAIL"), 3);

    // 21 minutes at 3 per hour refill 1.05 starts: exactly one more.
    s.clock.advance(chrono::Duration::minutes(21));
    s.drain(3, true).await;
    assert_eq!(s.trace.count(s.a, "MAIL"), 4, "one refilled start");
    let c = s.pool.get().await.expect("conn");
    let limits = list_rate_limits(&c).await.expect("list");
    assert_eq!(limits.len(), 1);
    assert_eq!(
        support::admin_count(
            &s.db,
            "SELECT count(*) FROM orgjobs.jobs WHERE state = 'available'",
            &[]
        )
        .await,
        26,
        "A's other jobs wait, none lost"
    );

    // Without the limit, the rest run.
    assert!(remove_rate_limit(&c, s.a, None).await.expect("remove"));
    s.drain(2, true).await;
    assert_eq!(s.trace.count(s.a, "MAIL"), 30);
}

#[tokio::test]
async fn a_kind_limit_refuses_only_that_kind_and_takes_nothing_from_the_organization() {
    let s = setup().await;
    // A's MAIL jobs come first in claim order, then its SYNC jobs.
    s.add(s.a, "MAIL", 10).await;
    s.add(s.a, "SYNC", 10).await;
    s.limit(s.a, Some("MAIL"), 1, 1).await;
    s.limit(s.a, None, 5, 5).await;
    s.drain(2, true).await;
    assert_eq!(s.trace.count(s.a, "MAIL"), 1, "MAIL's own bucket");
    assert_eq!(
        s.trace.count(s.a, "SYNC"),
        4,
        "the organization's 5 starts, less the one MAIL took"
    );
}

#[tokio::test]
async fn strict_order_claims_pass_over_a_limited_organization() {
    let s = setup().await;
    // A's jobs are ahead of all of B's in strict order.
    s.add(s.a, "MAIL", 20).await;
    s.add(s.b, "MAIL", 5).await;
    s.limit(s.a, None, 2, 2).await;
    s.drain(1, false).await;
    assert_eq!(s.trace.count(s.a, "MAIL"), 2);
    assert_eq!(s.trace.count(s.b, "MAIL"), 5, "B's jobs ran behind A's");
}

#[tokio::test]
async fn bad_limits_are_refused_with_what_was_expected() {
    let s = setup().await;
    let c = s.pool.get().await.expect("conn");
    let good = RateLimit {
        organization_id: s.a,
        kind: None,
        starts: 10,
        period: Duration::from_secs(1),
        burst: 10,
    };
    let cases = [
        (
            RateLimit {
                starts: 0,
                ..good.clone()
            },
            "starts must be 1",
        ),
        (
            RateLimit {
                burst: 0,
                ..good.clone()
            },
            "burst must be 1",
        ),
        (
            RateLimit {
                period: Duration::from_micros(10),
                ..good.clone()
            },
            "period must be from 1 ms",
        ),
        (
            RateLimit {
                kind: Some("NOPE".into()),
                ..good.clone()
            },
            "unknown kind \"NOPE\"; registered kinds: MAIL, SYNC",
        ),
    ];
    for (limit, expected) in cases {
        let err = set_rate_limit(&c, &limit).await.expect_err("refused");
        assert!(matches!(err, AdminError::Invalid(_)), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert!(list_rate_limits(&c).await.expect("list").is_empty());
    // Setting again replaces; the bucket keeps what it held, up to the new
    // burst.
    set_rate_limit(&c, &good).await.expect("set");
    set_rate_limit(&c, &RateLimit { burst: 4, ..good })
        .await
        .expect("replace");
    let limits = list_rate_limits(&c).await.expect("list");
    assert_eq!(limits.len(), 1);
    assert_eq!(limits[0].limit.burst, 4);
    assert!(limits[0].tokens <= 4.0, "{}", limits[0].tokens);
}

/// Pauses: a paused organization's jobs wait while the others run, across
/// workers and in both claim orders; a paused kind waits in every
/// organization; one kind of one organization alone; resume lets them run.
#[tokio::test]
async fn paused_organizations_and_kinds_wait_while_everyone_else_runs() {
    for fair in [true, false] {
        let s = setup().await;
        s.add(s.a, "MAIL", 5).await;
        s.add(s.a, "SYNC", 5).await;
        s.add(s.b, "MAIL", 5).await;
        s.add(s.b, "SYNC", 5).await;
        let c = s.pool.get().await.expect("conn");
        assert!(
            pause(&c, Some(s.a), None, "offboarding", "test")
                .await
                .expect("pause")
        );
        assert!(!pause(&c, Some(s.a), None, "", "test").await.expect("again"));
        s.drain(2, fair).await;
        assert_eq!(
            s.trace.count(s.a, "MAIL") + s.trace.count(s.a, "SYNC"),
            0,
            "A paused (fair {fair})"
        );
        assert_eq!(s.trace.count(s.b, "MAIL") + s.trace.count(s.b, "SYNC"), 10);
        let stats = orgjobs_queue::queue_stats(&c).await.expect("stats");
        assert_eq!(stats.paused.len(), 1);
        assert_eq!(stats.paused[0].organization_id, Some(s.a));
        assert_eq!(stats.paused[0].reason, "offboarding");

        // Kind MAIL everywhere, and A's SYNC: only nothing of A, nothing of MAIL.
        assert!(resume(&c, Some(s.a), None).await.expect("resume"));
        assert!(!resume(&c, Some(s.a), None).await.expect("twice"));
        pause(&c, None, Some("MAIL"), "", "test")
            .await
            .expect("kind");
        pause(&c, Some(s.a), Some("SYNC"), "", "test")
            .await
            .expect("org kind");
        s.add(s.b, "MAIL", 2).await;
        s.add(s.b, "SYNC", 2).await;
        s.drain(2, fair).await;
        assert_eq!(s.trace.count(s.a, "MAIL"), 0);
        assert_eq!(s.trace.count(s.a, "SYNC"), 0);
        assert_eq!(s.trace.count(s.b, "MAIL"), 5, "B's new MAIL jobs wait");
        assert_eq!(s.trace.count(s.b, "SYNC"), 7);
        assert_eq!(list_pauses(&c).await.expect("list").len(), 2);

        resume(&c, None, Some("MAIL")).await.expect("resume kind");
        resume(&c, Some(s.a), Some("SYNC"))
            .await
            .expect("resume org kind");
        s.drain(2, fair).await;
        assert_eq!(s.trace.count(s.a, "MAIL"), 5);
        assert_eq!(s.trace.count(s.a, "SYNC"), 5);
        assert_eq!(s.trace.count(s.b, "MAIL"), 7);
    }
}

#[tokio::test]
async fn a_pause_must_name_something_known() {
    let s = setup().await;
    let c = s.pool.get().await.expect("conn");
    let err = pause(&c, None, None, "", "t").await.expect_err("nothing");
    assert!(
        err.to_string()
            .contains("give an organization, a kind, or both"),
        "{err}"
    );
    let err = pause(&c, None, Some("NOPE"), "", "t")
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("unknown kind \"NOPE\""), "{err}");
    assert!(list_pauses(&c).await.expect("list").is_empty());
}

/// A paused or rate-limited job more urgent than everything else must not
/// stop the others: the fair claim's "most urgent priority" counts only
/// jobs that may start.
#[tokio::test]
async fn a_blocked_urgent_job_does_not_stall_the_fair_claim() {
    let s = setup().await;
    let urgent = |org| NewJob {
        priority: -5,
        ..NewJob::new("MAIL").org(org)
    };
    {
        let c = s.pool.get().await.expect("conn");
        enqueue(&**c, &s.registry, &urgent(s.a))
            .await
            .expect("urgent A");
        enqueue(&**c, &s.registry, &urgent(s.b))
            .await
            .expect("urgent B");
        // A paused; B's urgent job is of a kind B has used up.
        pause(&c, Some(s.a), None, "", "t").await.expect("pause");
    }
    s.limit(s.b, Some("MAIL"), 1, 1).await;
    s.add(s.b, "MAIL", 1).await;
    s.add(s.b, "SYNC", 4).await;
    s.add(s.a, "SYNC", 3).await;
    s.drain(1, true).await;
    assert_eq!(
        s.trace.count(s.b, "MAIL"),
        1,
        "B's one MAIL start: the urgent one"
    );
    assert_eq!(s.trace.count(s.b, "SYNC"), 4, "B's other jobs ran");
    assert_eq!(s.trace.count(s.a, "SYNC") + s.trace.count(s.a, "MAIL"), 0);
    let c = s.pool.get().await.expect("conn");
    resume(&c, Some(s.a), None).await.expect("resume");
    s.drain(1, true).await;
    assert_eq!(s.trace.count(s.a, "MAIL"), 1);
    assert_eq!(s.trace.count(s.a, "SYNC"), 3);
}
