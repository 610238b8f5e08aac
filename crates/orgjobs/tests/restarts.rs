//! The database server restarts under running workers: a fast restart, an
//! immediate one (crash recovery) and a killed postmaster, on a private
//! PostgreSQL server (the shared one is never restarted). Every job
//! completes exactly once, none is lost, the workers reconnect by
//! themselves, and `/healthz` reports the outage while it lasts.

mod common;

use std::time::{Duration, Instant};

use common::{FAULT_BIN, WorkerProcess};
use orgjobs_queue::DbUrl;
use orgjobs_queue::tokio_postgres::Client;
use orgjobs_testdb::{PrivateServer, ServerOptions};

/// A fresh connection, or `None` while the server is down.
async fn try_connect(url: &str) -> Option<Client> {
    DbUrl::parse(url).ok()?.connect().await.ok()
}

/// Counts `ids` in `state`, or `None` while the server is down.
async fn count(url: &str, ids: &[i64], state: &str) -> Option<i64> {
    let c = try_connect(url).await?;
    c.query_one(
        "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND state = $2",
        &[&ids, &state],
    )
    .await
    .ok()
    .map(|r| r.get(0))
}

async fn wait_completed(url: &str, ids: &[i64], at_least: i64, limit: Duration) {
    let start = Instant::now();
    loop {
        if count(url, ids, "completed").await.unwrap_or(0) >= at_least {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "fewer than {at_least} jobs completed after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the worker's /healthz until its status line starts with `want`.
async fn wait_health(w: &WorkerProcess, want: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let h = w.get("/healthz");
        if h.starts_with(want) {
            return h;
        }
        assert!(
            start.elapsed() < limit,
            "/healthz never became {want:?}; last:\n{h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_running(workers: &mut [WorkerProcess], after: &str) {
    for w in workers.iter_mut() {
        assert!(
            w.child.try_wait().expect("wait").is_none(),
            "a worker exited after {after}:\n{}",
            w.lines.lock().expect("lock").join("\n")
        );
    }
}

#[tokio::test]
async fn workers_survive_fast_immediate_and_crash_restarts_without_loss() {
    let server = PrivateServer::start(ServerOptions::default());
    let (url, pool) = common::private_orgjobs_db(&server, 2).await;
    common::register(&pool, &common::fault_registry()).await;
    let (org, tickets) = common::seed_org_tickets(&pool, "A", 160).await;
    let c = try_connect(&url).await.expect("connect");
    let jobs = common::add_probes(&c, org, &tickets, 250).await;
    drop((c, pool));
    let args = [
        "--lease-secs",
        "2",
        "--leader-ttl-secs",
        "1",
        "--no-periodic",
        "--concurrency",
        "6",
    ];
    let mut workers: Vec<WorkerProcess> = (0..2)
        .map(|_| WorkerProcess::start_bin(FAULT_BIN, &url, &args))
        .collect();
    let total = jobs.len() as i64;

    wait_completed(&url, &jobs, 20, Duration::from_secs(30)).await;
    server.restart("fast");
    assert_running(&mut workers, "a fast restart");

    wait_completed(&url, &jobs, 60, Duration::from_secs(60)).await;
    server.restart("immediate");
    assert_running(&mut workers, "an immediate restart");

    wait_completed(&url, &jobs, 100, Duration::from_secs(60)).await;
    server.kill_postmaster();
    let down = wait_health(&workers[0], "HTTP/1.1 503", Duration::from_secs(20)).await;
    assert!(
        down.contains("database_unreachable") && down.contains("since"),
        "{down}"
    );
    server.start_again();
    wait_health(&workers[0], "HTTP/1.1 200", Duration::from_secs(30)).await;
    assert_running(&mut workers, "a killed postmaster");

    wait_completed(&url, &jobs, total, Duration::from_secs(90)).await;
    let c = try_connect(&url).await.expect("connect");
    let marks: Vec<i32> = c
        .query(
            "SELECT length(subject) - length(replace(subject, '+', '')) FROM tickets WHERE id = ANY($1)",
            &[&tickets],
        )
        .await
        .expect("marks")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(marks.len(), tickets.len());
    assert!(
        marks.iter().all(|m| *m == 1),
        "every job's effect exactly once: {marks:?}"
    );
    let retried: i64 = c
        .query_one(
            "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND jsonb_array_length(errors) > 0",
            &[&jobs],
        )
        .await
        .expect("errors")
        .get(0);
    assert!(retried > 0, "some attempts were interrupted by the outages");
    assert!(
        workers[0]
            .logs()
            .iter()
            .any(|l| l["event"] == "database_reachable_again"),
        "the worker saw the database come back"
    );
    for w in workers {
        let status = w.terminate();
        assert!(status.success(), "{status:?}");
    }
}
