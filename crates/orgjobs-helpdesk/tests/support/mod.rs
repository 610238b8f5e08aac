//! Shared set-up for the helpdesk's integration tests: a database with the
//! helpdesk migrated, organizations created through their own tenant
//! transactions, and a draining worker.
#![allow(dead_code)]

pub mod llm_standin;

use std::sync::Arc;

use orgjobs_helpdesk::import::{Record, import, parse};
use orgjobs_helpdesk::{
    HelpdeskOptions, create_organization, default_sla_policies, set_sla_policies,
};
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::tokio_postgres::Client;
use orgjobs_queue::{Metrics, RunSummary, SessionConfig, TenantTx, Worker, WorkerConfig};
use orgjobs_testdb::TestDb;
use uuid::Uuid;

pub struct Env {
    pub db: TestDb,
    pub pool: Pool,
    pub admin: Client,
}

pub async fn env() -> Env {
    let db = TestDb::new(&orgjobs_helpdesk::migrations()).await;
    let pool = db.url().pool(6).await.expect("pool");
    let admin = db.admin_client().await;
    orgjobs_helpdesk::registry(&Metrics::new())
        .register_kinds(&admin)
        .await
        .expect("register kinds");
    Env { db, pool, admin }
}

impl Env {
    /// A tenant transaction of `org`, as the tenant role.
    pub async fn tx(&self, org: Uuid) -> TenantTx {
        TenantTx::begin(
            self.pool.get().await.expect("conn"),
            org,
            &SessionConfig::default(),
        )
        .await
        .expect("begin")
    }

    /// A new organization with the default SLA policies.
    pub async fn org(&self, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        let tx = self.tx(id).await;
        create_organization(&tx, name).await.expect("org");
        set_sla_policies(&tx, &default_sla_policies())
            .await
            .expect("policies");
        drop(tx.commit().await.expect("commit"));
        id
    }

    /// Imports JSON Lines into `org` and commits.
    pub async fn import(&self, org: Uuid, jsonl: &str) {
        let parsed = parse(jsonl.as_bytes()).expect("parse");
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let tx = self.tx(org).await;
        import(&tx, &parsed.records, chrono::Duration::zero())
            .await
            .expect("import");
        drop(tx.commit().await.expect("commit"));
    }

    /// Imports records into `org` and commits.
    pub async fn import_records(&self, org: Uuid, records: &[(usize, Record)]) {
        let tx = self.tx(org).await;
        import(&tx, records, chrono::Duration::zero())
            .await
            .expect("import");
        drop(tx.commit().await.expect("commit"));
    }

    /// Runs every runnable job to the end with the helpdesk registry.
    pub async fn drain(&self, options: &HelpdeskOptions) -> RunSummary {
        self.drain_with_metrics(options, Metrics::new()).await
    }

    /// [`Env::drain`], counting in `metrics`.
    pub async fn drain_with_metrics(
        &self,
        options: &HelpdeskOptions,
        metrics: Metrics,
    ) -> RunSummary {
        let registry = Arc::new(orgjobs_helpdesk::registry_with(&metrics, options));
        let config = WorkerConfig {
            concurrency: 4,
            batch_size: 8,
            drain: true,
            ..WorkerConfig::default()
        };
        Worker::new(self.pool.clone(), registry, metrics, config)
            .run(std::future::pending())
            .await
            .expect("worker")
    }

    /// (kind, state, last_error) of every job naming `key` in its payload.
    pub async fn jobs_for(&self, key: &str, id: Uuid) -> Vec<(String, String, Option<String>)> {
        self.admin
            .query(
                "SELECT kind, state, last_error FROM orgjobs.jobs
                 WHERE payload->>$1 = $2::uuid::text ORDER BY id",
                &[&key, &id],
            )
            .await
            .expect("jobs")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    /// Enqueues `kind` for `org` with `payload` as the admin would.
    pub async fn enqueue(&self, kind: &str, org: Uuid, payload: serde_json::Value) -> i64 {
        self.admin
            .query_one(
                "SELECT orgjobs.add_job($1, $2, $3)",
                &[&kind, &org, &payload],
            )
            .await
            .expect("enqueue")
            .get(0)
    }

    /// A ticket's id by external id, read as `org`.
    pub async fn ticket_id(&self, org: Uuid, external_id: &str) -> Uuid {
        let tx = self.tx(org).await;
        let id = tx
            .query_one(
                "SELECT id FROM public.tickets WHERE external_id = $1",
                &[&external_id],
            )
            .await
            .expect("ticket")
            .get(0);
        drop(tx.rollback().await.expect("rollback"));
        id
    }

    /// Rows of `sql` (one column, text), read as `org`.
    pub async fn texts(&self, org: Uuid, sql: &str) -> Vec<Option<String>> {
        let tx = self.tx(org).await;
        let rows = tx.query(sql, &[]).await.expect("query");
        drop(tx.rollback().await.expect("rollback"));
        rows.iter().map(|r| r.get(0)).collect()
    }

    /// One value of `sql` with `params`, read as `org`.
    pub async fn json(
        &self,
        org: Uuid,
        sql: &str,
        params: &[&(dyn orgjobs_queue::tokio_postgres::types::ToSql + Sync)],
    ) -> serde_json::Value {
        let tx = self.tx(org).await;
        let v = tx
            .query_opt(sql, params)
            .await
            .expect("query")
            .map_or(serde_json::Value::Null, |r| r.get(0));
        drop(tx.rollback().await.expect("rollback"));
        v
    }
}

impl Env {
    /// Runs `kind` as `org` on a row of another organization (payload
    /// `{key: id}`), then asserts the job ended as that handler must: "not
    /// found in this organization", discarded after one attempt.
    pub async fn run_foreign_job(&self, org: Uuid, kind: &str, key: &str, id: Uuid) {
        self.run_foreign_job_with(org, kind, key, id, &HelpdeskOptions::default())
            .await;
    }

    /// [`Env::run_foreign_job`] with a worker set up with `options`.
    pub async fn run_foreign_job_with(
        &self,
        org: Uuid,
        kind: &str,
        key: &str,
        id: Uuid,
        options: &HelpdeskOptions,
    ) {
        self.enqueue(kind, org, serde_json::json!({ key: id }))
            .await;
        self.drain(options).await;
        // $1 kind, $2 payload key, $3 the row's id.
        let row = self
            .admin
            .query_one(
                "SELECT state, attempt, last_error FROM orgjobs.jobs
                 WHERE kind = $1 AND organization_id = $4 AND payload->>$2 = $3::uuid::text
                 ORDER BY id DESC LIMIT 1",
                &[&kind, &key, &id, &org],
            )
            .await
            .expect("job");
        let (state, attempt, error): (String, i32, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        assert_eq!(state, "discarded", "{kind}: {error:?}");
        assert_eq!(attempt, 1, "{kind} must not be retried");
        let error = error.unwrap_or_default();
        assert!(
            error.contains("not found in this organization"),
            "{kind}: {error}"
        );
    }
}

/// The open ticket the suggestion and reply tests answer: a refund that
/// has not arrived, from Maria.
pub fn refund_ticket() -> String {
    ticket(
        "T-1",
        "Where is my refund?",
        "I sent the parcel back last week and still have no refund on my card.",
        serde_json::json!({"requester_email": "maria.lopez@example.com", "status": "open"}),
    )
}

/// One import line.
pub fn ticket(ext: &str, subject: &str, body: &str, extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "type": "ticket", "external_id": ext, "subject": subject, "body": body,
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v.to_string()
}

/// One article line.
pub fn article(ext: &str, title: &str, body: &str) -> String {
    serde_json::json!({
        "type": "article", "external_id": ext, "title": title, "body": body, "tags": [],
    })
    .to_string()
}

/// A bundled organization's files, by slug.
pub fn bundled(slug: &str, file: &str) -> String {
    let path = format!(
        "{}/../../data/orgs/{slug}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
