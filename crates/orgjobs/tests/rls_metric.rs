//! `orgjobs_rls_denied_total{table}` counts row-level security refusals by
//! SQLSTATE and the server routine, so it works whatever language the
//! server speaks: here a private server whose `lc_messages` is German
//! (the locale is compiled into the test's own directory with `localedef`
//! and given to the server through `LOCPATH`).

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use orgjobs_queue::{
    JobError, Metrics, NewJob, Registry, TenantHandler, TenantTx, Worker, enqueue,
};
use orgjobs_testdb::{PrivateServer, ServerOptions};
use uuid::Uuid;

/// Inserts a ticket for another organization: refused by the policy's
/// WITH CHECK.
struct WritesElsewhere;

impl TenantHandler for WritesElsewhere {
    const KIND: &'static str = "WRITES_ELSEWHERE";
    type Payload = serde_json::Value;
    async fn run(&self, tx: &mut TenantTx, _: serde_json::Value) -> Result<(), JobError> {
        tx.execute(
            "INSERT INTO tickets (organization_id, subject) VALUES ($1, 'elsewhere')",
            &[&Uuid::new_v4()],
        )
        .await?;
        Ok(())
    }
}

#[tokio::test]
async fn rls_denials_are_counted_by_table_with_german_server_messages() {
    let locales = std::env::temp_dir().join(format!("orgjobs-locales-{}", std::process::id()));
    std::fs::create_dir_all(&locales).expect("dir");
    let made = Command::new("localedef")
        .args(["-c", "-i", "de_DE", "-f", "UTF-8"])
        .arg(locales.join("de_DE.UTF-8"))
        .output()
        .expect("localedef (package libc-bin; its sources come with the package `locales`)");
    assert!(
        locales.join("de_DE.UTF-8").join("LC_MESSAGES").exists(),
        "localedef could not build de_DE.UTF-8 (is the package `locales` installed? scripts/test installs it): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let server = PrivateServer::start(ServerOptions {
        config: vec!["lc_messages = 'de_DE.UTF-8'".to_owned()],
        env: vec![("LOCPATH".to_owned(), locales.display().to_string())],
        ..ServerOptions::default()
    });
    let (_url, pool) = common::private_orgjobs_db(&server, 4).await;
    let org = common::seed_org(&pool, "A", 0).await;
    let reg = Registry::new().tenant(WritesElsewhere);
    common::register(&pool, &reg).await;
    let c = pool.get().await.expect("conn");
    let id = enqueue(&**c, &reg, &NewJob::new("WRITES_ELSEWHERE").org(org))
        .await
        .expect("enqueue");
    let metrics = Metrics::new();
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        Worker::new(
            pool.clone(),
            Arc::new(reg),
            metrics.clone(),
            common::config(2),
        )
        .run(std::future::pending()),
    )
    .await
    .expect("drained")
    .expect("ran");
    assert_eq!(summary.discarded, 1, "{summary:?}");
    let error: String = c
        .query_one("SELECT last_error FROM orgjobs.jobs WHERE id = $1", &[&id])
        .await
        .expect("job")
        .get(0);
    assert!(
        error.contains("verletzt") && error.contains("42501"),
        "the server spoke German: {error}"
    );
    let rendered = metrics.render();
    assert!(
        rendered.contains("orgjobs_rls_denied_total{table=\"tickets\"} 1"),
        "{rendered}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&locales);
}
