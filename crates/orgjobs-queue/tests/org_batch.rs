//! Organization batches (`Registry::with_org_batch`): jobs of one kind and
//! organization run in one transaction, each in its own savepoint. A job
//! that fails is rolled back alone; a job that re-scopes its transaction
//! cannot carry the next job of the batch into another organization.

mod support;

use orgjobs_queue::{JobError, Metrics, OrgBatch, Registry, TenantHandler, TenantTx};
use serde::Deserialize;
use uuid::Uuid;

/// `BATCHED`: marks its item with the transaction id and the number of
/// items it can see; fails or re-scopes its transaction when told to.
struct Batched;

#[derive(Deserialize)]
struct Payload {
    item_id: Uuid,
    #[serde(default)]
    fail: bool,
    /// Another organization to switch the context to (needs strict mode
    /// off: a function that calls set_config).
    #[serde(default)]
    rescope_to: Option<Uuid>,
}

impl TenantHandler for Batched {
    const KIND: &'static str = "BATCHED";
    type Payload = Payload;

    async fn run(&self, tx: &mut TenantTx, p: Payload) -> Result<(), JobError> {
        // $1: the item; the mark is "<txid>:<items visible>".
        tx.execute(
            "UPDATE items SET subject = subject || txid_current()::text || ':' ||
                 (SELECT count(*) FROM items)::text || ';'
             WHERE id = $1",
            &[&p.item_id],
        )
        .await?;
        if let Some(other) = p.rescope_to {
            tx.execute("SELECT public.rescope($1)", &[&other.to_string()])
                .await?;
        }
        if p.fail {
            return Err(JobError::discard("told to fail"));
        }
        Ok(())
    }
}

fn registry() -> Registry {
    Registry::new()
        .tenant(Batched)
        .with_org_batch(
            "BATCHED",
            OrgBatch {
                max_jobs: 50,
                ..OrgBatch::default()
            },
        )
        .expect("known kind")
}

async fn enqueue(db: &orgjobs_testdb::TestDb, org: Uuid, payloads: &[serde_json::Value]) {
    let c = db.admin_client().await;
    registry().register_kinds(&c).await.expect("kinds");
    c.execute("UPDATE items SET subject = ''", &[])
        .await
        .expect("clear subjects");
    for p in payloads {
        // $1 organization, $2 payload.
        c.execute(
            "INSERT INTO orgjobs.jobs (kind, organization_id, payload) VALUES ('BATCHED', $1, $2)",
            &[&org, p],
        )
        .await
        .expect("enqueue");
    }
}

/// Each item's marks: (transaction id, items visible) per run that
/// committed.
async fn marks(db: &orgjobs_testdb::TestDb, items: &[Uuid]) -> Vec<Vec<(String, i64)>> {
    let c = db.admin_client().await;
    let mut out = Vec::new();
    for id in items {
        let subject: String = c
            .query_one("SELECT subject FROM items WHERE id = $1", &[id])
            .await
            .expect("item")
            .get(0);
        out.push(
            subject
                .split(';')
                .filter(|m| !m.is_empty())
                .map(|m| {
                    let (tx, n) = m.split_once(':').expect("mark");
                    (tx.to_owned(), n.parse().expect("count"))
                })
                .collect(),
        );
    }
    out
}

#[tokio::test]
async fn a_failing_job_rolls_back_alone_and_the_rest_commit_together() {
    let db = support::db().await;
    let pool = support::pool(&db, 4).await;
    let (a, items) = support::seed_org_items(&pool, "A", 10).await;
    support::seed_org(&pool, "B", 7).await;
    let payloads: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, id)| serde_json::json!({"item_id": id, "fail": i == 4}))
        .collect();
    enqueue(&db, a, &payloads).await;
    let summary = support::drain(&pool, registry(), &Metrics::new(), 20).await;
    assert_eq!(
        (summary.completed, summary.discarded),
        (9, 1),
        "{summary:?}"
    );

    let marks = marks(&db, &items).await;
    assert!(
        marks[4].is_empty(),
        "the failed job's write was rolled back"
    );
    let txids: std::collections::BTreeSet<&str> = marks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, m)| {
            assert_eq!(m.len(), 1, "each other job's effect once");
            assert_eq!(m[0].1, 10, "each saw its organization's 10 items only");
            m[0].0.as_str()
        })
        .collect();
    assert_eq!(txids.len(), 1, "the nine committed in one transaction");
    let c = db.admin_client().await;
    let failed: String = c
        .query_one(
            "SELECT state FROM orgjobs.jobs WHERE payload->>'fail' = 'true'",
            &[],
        )
        .await
        .expect("failed job")
        .get(0);
    assert_eq!(failed, "discarded");
}

#[tokio::test]
async fn a_job_that_rescopes_its_transaction_cannot_take_the_next_one_along() {
    // The third job switches the organization to B.
    let (db, pool, _a, _b, items) =
        rescoping_batch("SELECT set_config('app.current_org', org, true)", 6, 3, 2).await;
    let summary = support::drain(&pool, registry(), &Metrics::new(), 20).await;
    assert_eq!(summary.completed, 5, "{summary:?}");
    assert_eq!(summary.lost, 1, "its completion refused: {summary:?}");

    let marks = marks(&db, &items).await;
    assert!(
        marks[2].is_empty(),
        "the re-scoping job's writes were rolled back"
    );
    for (i, m) in marks.iter().enumerate().filter(|(i, _)| *i != 2) {
        assert_eq!(m.len(), 1, "job {i} ran once");
        assert_eq!(
            m[0].1, 6,
            "job {i} ran in organization A's context (A has 6 items, B 3)"
        );
    }
    let txids: std::collections::BTreeSet<&str> = marks
        .iter()
        .filter(|m| !m.is_empty())
        .map(|m| m[0].0.as_str())
        .collect();
    assert_eq!(txids.len(), 1, "the five committed in one transaction");
}

#[tokio::test]
async fn a_job_that_leaves_the_tenant_role_ends_its_whole_batch() {
    // The second job drops the tenant role for the login's (SET ROLE NONE
    // needs no privilege).
    let (db, pool, _a, _b, items) =
        rescoping_batch("SELECT set_config('role', 'none', true)", 3, 4, 1).await;
    let summary = support::drain(&pool, registry(), &Metrics::new(), 20).await;
    // The first job's completion went down with the batch (retried); the
    // second's was refused (its lease will expire); the third, which the
    // batch did not reach, ran on its own.
    assert_eq!(
        (summary.completed, summary.retried, summary.lost),
        (1, 1, 1),
        "{summary:?}"
    );
    let marks = marks(&db, &items).await;
    assert!(marks[0].is_empty() && marks[1].is_empty(), "{marks:?}");
    assert_eq!(marks[2].len(), 1);
    assert_eq!(
        marks[2][0].1, 3,
        "the third job ran as the tenant role in A's context, not as the login (which sees 7 items)"
    );
}

/// A database with strict mode off and `public.rescope(org text)`, a
/// function the tenant role may call that runs `set_config_sql` (the path
/// strict mode closes); organization A with `a_items` items and B with
/// `b_items`; one `BATCHED` job per A item, the one at `bad` calling
/// `rescope`. Returns the database, a pool, A, B and A's items.
async fn rescoping_batch(
    set_config_sql: &str,
    a_items: usize,
    b_items: usize,
    bad: usize,
) -> (
    orgjobs_testdb::TestDb,
    orgjobs_queue::deadpool_postgres::Pool,
    Uuid,
    Uuid,
    Vec<Uuid>,
) {
    let db = support::db().await;
    let admin = db.admin_client().await;
    orgjobs_queue::set_strict(&admin, false)
        .await
        .expect("strict off");
    admin
        .batch_execute(&format!(
            "CREATE FUNCTION public.rescope(org text) RETURNS void LANGUAGE sql
                 AS $$ {set_config_sql} $$;
             GRANT EXECUTE ON FUNCTION public.rescope(text) TO orgjobs_tenant;"
        ))
        .await
        .expect("rescope function");
    let pool = support::pool(&db, 4).await;
    let (a, items) = support::seed_org_items(&pool, "A", a_items).await;
    let b = support::seed_org(&pool, "B", b_items).await;
    let payloads: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, id)| {
            if i == bad {
                serde_json::json!({"item_id": id, "rescope_to": b})
            } else {
                serde_json::json!({"item_id": id})
            }
        })
        .collect();
    enqueue(&db, a, &payloads).await;
    (db, pool, a, b, items)
}
