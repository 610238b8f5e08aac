//! The `orgjobs` binary as operators use it: real processes, real HTTP, real
//! signals, against the real server.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{BIN, WorkerProcess, insert_raw, orgjobs, text, wait_for_state};

/// A tenant job with no organization is never run: discarded with the
/// message, counted in /metrics (read over HTTP), logged. Unknown kinds and
/// unparsable payloads are discarded too, and SIGTERM exits 0.
#[tokio::test]
async fn worker_process_discards_bad_jobs_and_reports_them() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let org = common::seed_org(&pool, "A", 2).await;
    let out = orgjobs(db.url_string(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    let worker = WorkerProcess::start(db.url_string(), &["--concurrency", "2"]);
    common::wait_until(Duration::from_secs(10), "/healthz ok", || async {
        let h = worker.get("/healthz");
        h.starts_with("HTTP/1.1 200") && h.contains(r#"{"status":"ok"}"#)
    })
    .await;

    let orphan = insert_raw(&db, "METRICS_SNAPSHOT", None, serde_json::json!({})).await;
    let unknown = insert_raw(&db, "NO_SUCH_KIND", Some(org), serde_json::json!({})).await;
    let bad_payload = insert_raw(
        &db,
        "METRICS_SNAPSHOT",
        Some(org),
        serde_json::json!({"bogus": 1}),
    )
    .await;
    let good = insert_raw(&db, "METRICS_SNAPSHOT", Some(org), serde_json::json!({})).await;

    let row = wait_for_state(&db, orphan, "discarded").await;
    assert_eq!(
        row.last_error.as_deref(),
        Some("organization context missing for METRICS_SNAPSHOT")
    );
    assert_eq!(row.attempt, 1);
    let row = wait_for_state(&db, unknown, "discarded").await;
    assert!(
        row.last_error
            .unwrap_or_default()
            .starts_with("unknown job kind NO_SUCH_KIND")
    );
    let row = wait_for_state(&db, bad_payload, "discarded").await;
    let err = row.last_error.unwrap_or_default();
    assert!(
        err.contains("payload for METRICS_SNAPSHOT does not parse") && err.contains("bogus"),
        "{err}"
    );
    wait_for_state(&db, good, "completed").await;

    let metrics = worker.get("/metrics");
    assert!(
        metrics.contains("orgjobs_org_context_missing_total{endpoint=\"worker\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("orgjobs_jobs_total{kind=\"METRICS_SNAPSHOT\",outcome=\"completed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("orgjobs_jobs_total{kind=\"unknown\",outcome=\"discarded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("orgjobs_job_duration_seconds_bucket{kind=\"METRICS_SNAPSHOT\""),
        "{metrics}"
    );

    let logs = worker.logs();
    assert!(logs.iter().any(|l| l["event"] == "org_context_missing"
        && l["level"] == "WARN"
        && l["job_id"] == orphan));
    assert!(logs.iter().any(|l| l["event"] == "org_context_set"
        && l["org_id"] == org.to_string()
        && l["job_id"] == good
        && l["kind"] == "METRICS_SNAPSHOT"));
    assert!(
        logs.iter().any(|l| l["event"] == "privileged_login"),
        "superuser login is warned about"
    );

    let status = worker.terminate();
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");
}

#[tokio::test]
async fn startup_check_refuses_a_table_without_force() {
    let db = common::db().await;
    let c = db.admin_client().await;
    c.batch_execute("ALTER TABLE public.tickets NO FORCE ROW LEVEL SECURITY")
        .await
        .expect("alter");
    let out = orgjobs(db.url_string(), &["worker", "--drain"]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tickets: row-level security is not forced"),
        "{err}"
    );
}

#[tokio::test]
async fn startup_check_refuses_a_tenant_role_with_bypassrls() {
    let db = common::db().await;
    let c = db.admin_client().await;
    // A throwaway role: altering the shared orgjobs_tenant would affect every
    // test running at the same time on this server.
    let role = format!("orgjobs_t_bypass_{}", std::process::id());
    let create: String = c
        .query_one(
            "SELECT format('CREATE ROLE %I NOLOGIN BYPASSRLS', $1::text)",
            &[&role],
        )
        .await
        .expect("format")
        .get(0);
    let drop_sql: String = c
        .query_one(
            "SELECT format('DROP ROLE IF EXISTS %I', $1::text)",
            &[&role],
        )
        .await
        .expect("format")
        .get(0);
    c.batch_execute(&drop_sql).await.expect("drop stale");
    c.batch_execute(&create).await.expect("create role");
    let worker = orgjobs(
        db.url_string(),
        &["worker", "--drain", "--tenant-role", &role],
    );
    let proof = orgjobs(db.url_string(), &["proof", "--tenant-role", &role]);
    c.batch_execute(&drop_sql).await.expect("drop role");
    assert!(!worker.status.success(), "{}", text(&worker));
    assert!(
        String::from_utf8_lossy(&worker.stderr).contains("has BYPASSRLS"),
        "{}",
        text(&worker)
    );
    assert!(!proof.status.success(), "{}", text(&proof));
    let out = String::from_utf8_lossy(&proof.stdout);
    assert!(
        out.contains("FAIL  tenant role:") && out.contains("BYPASSRLS"),
        "{out}"
    );
}

#[tokio::test]
async fn proof_passes_on_a_good_database_and_fails_on_a_broken_one() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    common::seed_org(&pool, "A", 3).await;
    common::seed_org(&pool, "B", 1).await;
    let out = orgjobs(db.url_string(), &["proof"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "PASS  tenant role:",
        "WARN  login role:",
        "PASS  rls tickets:",
        "PASS  rls organizations:",
        "tickets 3/3",
        "tickets 1/1",
        "PASS  no context: nothing visible, writes rejected",
        "PASS  another organization's rows cannot be written",
        "PASS  context ends with the transaction",
        "PASS  injection-shaped organization id rejected",
        "proof passed",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    let json = orgjobs(db.url_string(), &["proof", "--json"]);
    assert!(json.status.success(), "{}", text(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["passed"], true);
    assert!(v["checks"].as_array().map_or(0, Vec::len) >= 10);

    // Break one table: drop its policy. RLS stays on (default deny), but the
    // table no longer has the standard policy.
    let c = db.admin_client().await;
    c.batch_execute("DROP POLICY tenant_isolation ON public.agents")
        .await
        .expect("drop policy");
    let out = orgjobs(db.url_string(), &["proof"]);
    assert!(!out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL  rls agents: agents: no policy FOR ALL"),
        "{stdout}"
    );
    assert!(stdout.contains("proof FAILED"), "{stdout}");

    // A widening policy is caught too.
    c.batch_execute(
        "CREATE POLICY tenant_isolation ON public.agents USING (organization_id = orgjobs.current_org());
         CREATE POLICY leak ON public.tickets FOR SELECT USING (true)",
    )
    .await
    .expect("policies");
    let out = orgjobs(db.url_string(), &["proof"]);
    assert!(!out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("policy leak applies to the tenant role"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  organization"),
        "counts differ once tickets leak: {stdout}"
    );
}

#[tokio::test]
async fn enqueue_refuses_bad_input_with_clear_errors() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let org = common::seed_org(&pool, "A", 0).await.to_string();
    let url = db.url_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["enqueue", "METRICS_SNAPSHOT"],
            "organization context missing for METRICS_SNAPSHOT",
        ),
        (
            vec![
                "enqueue",
                "METRICS_SNAPSHOT",
                "--org",
                "x'; drop table tickets; --",
            ],
            "is not an organization id: expected a UUID",
        ),
        (
            vec!["enqueue", "NOT_A_KIND", "--org", &org],
            "unknown job kind NOT_A_KIND; known kinds: CLEANUP",
        ),
        (
            vec![
                "enqueue",
                "METRICS_SNAPSHOT",
                "--org",
                &org,
                "--payload",
                "[1, 2]",
            ],
            "expected a JSON object, got an array",
        ),
        (
            vec![
                "enqueue",
                "METRICS_SNAPSHOT",
                "--org",
                &org,
                "--payload",
                "{oops",
            ],
            "--payload is not valid JSON",
        ),
        (
            vec![
                "enqueue",
                "METRICS_SNAPSHOT",
                "--org",
                &org,
                "--payload",
                "{\"x\": 1}",
            ],
            "payload for METRICS_SNAPSHOT does not parse: unknown field `x`",
        ),
        (
            vec!["enqueue", "CLEANUP", "--org", &org],
            "CLEANUP is a global job kind and takes no organization",
        ),
        (
            vec![
                "enqueue",
                "METRICS_SNAPSHOT",
                "--org",
                &org,
                "--run-at",
                "tomorrow",
            ],
            "is not an RFC 3339 time",
        ),
    ];
    let big = format!(
        "{{\"completed_retention_secs\": 1, \"pad\": \"{}\"}}",
        "x".repeat(300_000)
    );
    let big_file = std::env::temp_dir().join(format!("orgjobs-big-{}.json", std::process::id()));
    std::fs::write(&big_file, big).expect("write payload file");
    let big_arg = format!("@{}", big_file.display());
    let mut cases = cases;
    cases.push((
        vec!["enqueue", "CLEANUP", "--payload", &big_arg],
        "bytes; the limit is 262144",
    ));
    for (args, expected) in &cases {
        let out = orgjobs(url, args);
        assert!(
            !out.status.success(),
            "{args:?} should fail: {}",
            text(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err}"
        );
    }
    let _ = std::fs::remove_file(&big_file);
    let jobs = common::admin_count(&db, "SELECT count(*) FROM orgjobs.jobs", &[]).await;
    assert_eq!(jobs, 0, "nothing was enqueued by the refused commands");

    let out = orgjobs(
        url,
        &[
            "enqueue",
            "METRICS_SNAPSHOT",
            "--org",
            &org,
            "--priority",
            "-3",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let id: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("prints the id");
    let c = db.admin_client().await;
    let r = c
        .query_one(
            "SELECT kind, organization_id::text, priority FROM orgjobs.jobs WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    assert_eq!(r.get::<_, String>(0), "METRICS_SNAPSHOT");
    assert_eq!(r.get::<_, String>(1), org);
    assert_eq!(r.get::<_, i16>(2), -3);

    // SQL producers get the same refusal from orgjobs.add_job.
    let err = c
        .query_one("SELECT orgjobs.add_job('METRICS_SNAPSHOT', NULL)", &[])
        .await
        .expect_err("tenant kind without organization");
    assert!(format!("{err:?}").contains("organization context missing for METRICS_SNAPSHOT"));
}

#[test]
fn unreachable_database_is_reported_plainly_without_the_password() {
    for args in [
        vec!["migrate"],
        vec!["proof"],
        vec!["worker", "--drain"],
        vec!["enqueue", "CLEANUP"],
    ] {
        let out = orgjobs("postgres://app:s3cret@127.0.0.1:1/orgjobs", &args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot connect to PostgreSQL at postgres://app:***@127.0.0.1:1/orgjobs"),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint:"), "{err}");
        assert!(!err.contains("s3cret"), "password leaked: {err}");
    }
}

#[tokio::test]
async fn migrate_is_idempotent_and_safe_from_several_processes_at_once() {
    let name = format!("orgjobs_mig_{}", std::process::id());
    let db = orgjobs_testdb::admin_url().with_dbname(&name);
    db.recreate_database().await.expect("recreate");
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let children: Vec<Child> = (0..4)
        .map(|_| {
            Command::new(BIN)
                .arg("migrate")
                .env("DATABASE_URL", &url)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let again = orgjobs(&url, &["migrate"]);
    let applied: usize = outputs
        .iter()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .matches("applied ")
                .count()
        })
        .sum();
    db.drop_database().await.expect("drop");
    for o in &outputs {
        assert!(o.status.success(), "{}", text(o));
    }
    assert_eq!(
        applied,
        orgjobs_helpdesk::migrations().len(),
        "each migration applied exactly once"
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("is up to date"),
        "{}",
        text(&again)
    );
}

#[tokio::test]
async fn demo_runs_end_to_end_on_a_fresh_database() {
    let name = format!("orgjobs_demo_test_{}", std::process::id());
    let db = orgjobs_testdb::admin_url().with_dbname(&name);
    db.drop_database().await.expect("drop");
    // Without the embedding model: its minute of CPU is spent by the demo
    // that `.ci/run` runs (with the model) and by the helpdesk's embedding
    // tests; this test checks the demo's flow.
    let out = orgjobs(
        &format!("postgres://postgres@127.0.0.1:5432/{name}"),
        &["demo", "--embeddings", "off"],
    );
    db.drop_database().await.expect("drop");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("created database {name}")),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("matches its own data: yes").count(),
        3,
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "(no organization): discarded: organization context missing for METRICS_SNAPSHOT"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("demo passed"), "{stdout}");
}

#[tokio::test]
async fn jobs_cli_lists_shows_retries_and_reports_queue_stats() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let org = common::seed_org(&pool, "A", 1).await;
    let url = db.url_string();
    assert!(orgjobs(url, &["migrate"]).status.success());
    let c = db.admin_client().await;
    // Two dead letters with an error history, one waiting job.
    let dead: Vec<i64> = c
        .query(
            "INSERT INTO orgjobs.jobs (kind, organization_id, state, attempt, max_attempts, finalized_at, last_error, errors)
             VALUES ('METRICS_SNAPSHOT', $1, 'discarded', 2, 2, now(), 'boom 2',
                     '[{\"attempt\":1,\"error\":\"boom 1\"},{\"attempt\":2,\"error\":\"boom 2\"}]'),
                    ('CLEANUP', NULL, 'discarded', 1, 1, now(), 'nope', '[{\"attempt\":1,\"error\":\"nope\"}]')
             RETURNING id",
            &[&org],
        )
        .await
        .expect("insert")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let waiting = insert_raw(&db, "METRICS_SNAPSHOT", Some(org), serde_json::json!({})).await;

    let out = orgjobs(url, &["jobs", "list", "--state", "discarded"]);
    assert!(out.status.success(), "{}", text(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("boom 2") && list.contains("nope") && !list.contains(&format!(" {waiting} ")),
        "{list}"
    );
    let out = orgjobs(url, &["jobs", "list", "--org", &org.to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    let out = orgjobs(url, &["jobs", "list", "--state", "dead"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("state \"dead\" is not one of available, scheduled")
    );

    let out = orgjobs(url, &["jobs", "show", &dead[0].to_string()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["errors"][0]["error"], "boom 1");
    assert_eq!(v["errors"][1]["error"], "boom 2");
    assert_eq!(v["state"], "discarded");
    for args in [
        vec!["jobs", "show", "999999"],
        vec!["jobs", "retry", "999999"],
        vec!["jobs", "cancel", "999999"],
    ] {
        let out = orgjobs(url, &args);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no job with id 999999"),
            "{}",
            text(&out)
        );
    }
    let out = orgjobs(url, &["jobs", "retry", &waiting.to_string()]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("is available; only discarded, cancelled or retryable jobs can be retried")
    );

    let out = orgjobs(url, &["jobs", "retry", &dead[0].to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let j = common::job(&db, dead[0]).await;
    assert_eq!(j.state, "available");
    let max: i32 = c
        .query_one(
            "SELECT max_attempts FROM orgjobs.jobs WHERE id = $1",
            &[&dead[0]],
        )
        .await
        .expect("row")
        .get(0);
    assert_eq!(max, 3, "one more attempt allowed");

    let out = orgjobs(url, &["jobs", "retry", "--discarded", "--kind", "CLEANUP"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 discarded jobs will run again"),
        "{}",
        text(&out)
    );
    assert_eq!(common::job(&db, dead[1]).await.state, "available");

    let out = orgjobs(url, &["queue", "stats"]);
    assert!(out.status.success(), "{}", text(&out));
    let stats = String::from_utf8_lossy(&out.stdout);
    assert!(
        stats.contains("METRICS_SNAPSHOT") && stats.contains("available"),
        "{stats}"
    );
    assert!(stats.contains("oldest runnable job has waited"), "{stats}");
    let out = orgjobs(url, &["queue", "stats", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["counts"].as_array().is_some_and(|c| c
            .iter()
            .any(|r| r[0] == "CLEANUP" && r[1] == "available" && r[2] == 1)),
        "{v}"
    );

    let out = orgjobs(
        url,
        &[
            "enqueue",
            "METRICS_SNAPSHOT",
            "--org",
            &org.to_string(),
            "--unique-key",
            "k",
        ],
    );
    let first = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let out = orgjobs(
        url,
        &[
            "enqueue",
            "METRICS_SNAPSHOT",
            "--org",
            &org.to_string(),
            "--unique-key",
            "k",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        first,
        "a second enqueue returns the waiting job"
    );
}

/// `org create` prints an id that `import` takes; bad lines are reported
/// with their line numbers while the good ones load; importing again
/// changes nothing; an unknown organization or a file of bad lines only
/// imports nothing, with exit code 2.
#[tokio::test]
async fn org_create_and_import_report_bad_lines_and_are_idempotent() {
    let db = common::db().await;
    let url = db.url_string();
    let out = orgjobs(url, &["org", "create", "Acme Support"]);
    assert!(out.status.success(), "{}", text(&out));
    let org = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let org_id: uuid::Uuid = org.parse().expect("org create prints a UUID");
    let list = orgjobs(url, &["org", "list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains(org.as_str()),
        "{}",
        text(&list)
    );

    let dir = std::env::temp_dir().join(format!("orgjobs-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("history.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"type":"ticket","external_id":"T-1","subject":"Card not arrived","body":"Two weeks now","priority":"high"}"#,
            r#"{"type":"ticket","external_id":"T-2","subject":"Refund","body":"Where is it?","status":"resolved","created_at":"2026-01-01T10:00:00Z","resolved_at":"2026-01-02T10:00:00Z"}"#,
            r#"{"type":"ticket","external_id":"T-3","subject":"Bad","body":"x","priority":"critical"}"#,
            r#"{"type":"article","external_id":"KB-1","title":"Card delivery","body":"Cards arrive in five working days.","tags":["cards"]}"#,
            r#"{"type":"ticket","subject":"no body"}"#,
        ]
        .join("\n"),
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let count = |sql: &'static str| {
        let db = &db;
        async move { common::admin_count(db, sql, &[]).await }
    };

    let first = orgjobs(url, &["import", "--org", &org, &path]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains(&format!("{path}:3: priority \"critical\" is not one of")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{path}:5: ")), "{stderr}");
    assert!(
        String::from_utf8_lossy(&first.stdout)
            .contains("tickets 2 new, 0 updated, 0 unchanged; articles 1 new"),
        "{}",
        text(&first)
    );
    assert_eq!(count("SELECT count(*) FROM tickets").await, 2);
    assert_eq!(count("SELECT count(*) FROM kb_articles").await, 1);
    // Each ticket's three jobs and the article's indexing, for this
    // organization.
    let jobs = common::admin_count(
        &db,
        "SELECT count(*) FROM orgjobs.jobs WHERE organization_id = $1",
        &[&org_id],
    )
    .await;
    assert_eq!(jobs, 2 * 3 + 1);

    let again = orgjobs(url, &["import", "--org", &org, &path]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(
            "tickets 0 new, 0 updated, 2 unchanged; articles 0 new, 0 updated, 1 unchanged"
        ),
        "{}",
        text(&again)
    );
    assert_eq!(count("SELECT count(*) FROM tickets").await, 2);
    assert_eq!(count("SELECT count(*) FROM orgjobs.jobs").await, 7);

    let stranger = uuid::Uuid::new_v4().to_string();
    let unknown = orgjobs(url, &["import", "--org", &stranger, &path]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains(&format!("organization {stranger} does not exist")),
        "{}",
        text(&unknown)
    );
    let not_uuid = orgjobs(url, &["import", "--org", "acme", &path]);
    assert!(!not_uuid.status.success(), "{}", text(&not_uuid));

    let bad_only = dir.join("bad.jsonl");
    std::fs::write(&bad_only, "not json\n{\"type\":\"ticket\"}\n").expect("write");
    let bad = orgjobs(url, &["import", "--org", &org, &bad_only.to_string_lossy()]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad.jsonl:1: "));
    assert_eq!(count("SELECT count(*) FROM tickets").await, 2);
    drop(std::fs::remove_dir_all(&dir));
}

/// A drained worker that lost job attempts (here: taken over by another
/// worker while they ran) says how many and exits non-zero.
#[tokio::test]
async fn drained_worker_that_lost_jobs_exits_non_zero_and_says_how_many() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    common::register(&pool, &common::fault_registry()).await;
    let (org, tickets) = common::seed_org_tickets(&pool, "A", 2).await;
    let jobs = common::enqueue_probes(&db, org, &tickets, 1500).await;
    let child = Command::new(common::FAULT_BIN)
        .args([
            "worker",
            "--drain",
            "--concurrency",
            "4",
            "--poll-interval-ms",
            "50",
        ])
        .env("DATABASE_URL", db.url_string())
        .env("ORGJOBS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    common::wait_until(Duration::from_secs(20), "both jobs running", || async {
        common::count_state(&db, &jobs, "running").await == 2
    })
    .await;
    // Another worker takes both over (as after a rescue and a new claim).
    db.admin_client()
        .await
        .execute(
            "UPDATE orgjobs.jobs SET attempt = attempt + 1, locked_by = 'someone-else' WHERE id = ANY($1)",
            &[&jobs],
        )
        .await
        .expect("take over");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 job attempt(s) were lost"), "{stderr}");
    assert_eq!(
        common::marks(&db, &tickets).await,
        vec![0, 0],
        "nothing of them committed"
    );
}

/// A periodic enqueue whose statement fails says what failed, not that no
/// connection was available.
#[tokio::test]
async fn a_failed_periodic_enqueue_reports_the_query_error() {
    let db = common::db().await;
    db.admin_client()
        .await
        .batch_execute("ALTER TABLE orgjobs.periodic RENAME TO periodic_elsewhere")
        .await
        .expect("rename");
    let worker = WorkerProcess::start(
        db.url_string(),
        &[
            "--periodic",
            "SYSTEM_METRICS=* * * * * *",
            "--leader-ttl-secs",
            "0.3",
        ],
    );
    common::wait_until(
        Duration::from_secs(20),
        "a periodic_failed event",
        || async {
            worker
                .logs()
                .iter()
                .any(|l| l["event"] == "periodic_failed")
        },
    )
    .await;
    let failed = worker
        .logs()
        .into_iter()
        .find(|l| l["event"] == "periodic_failed")
        .expect("event");
    let error = failed["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error.contains("enqueueing a periodic job") && error.contains("42P01"),
        "{error}"
    );
    assert!(!error.contains("no database connection"), "{error}");
}

/// `orgjobs rate-limit`: bad values are refused with what was expected, and
/// a draining worker process starts only the organization's burst while
/// another organization's jobs all run.
#[tokio::test]
async fn rate_limit_cli_refuses_bad_values_and_a_worker_keeps_to_the_limit() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let a = common::seed_org(&pool, "A", 1).await;
    let b = common::seed_org(&pool, "B", 1).await;
    let url = db.url_string();
    assert!(orgjobs(url, &["migrate"]).status.success());
    let (a_s, b_s) = (a.to_string(), b.to_string());
    for (args, expected) in [
        (
            vec!["--starts", "0", "--per", "1s"],
            "starts must be 1 to 2147483647, got 0",
        ),
        (
            vec!["--starts", "5", "--per", "1fortnight"],
            "expected a duration such as 1s, 500ms, 1min or 1h",
        ),
        (
            vec!["--starts", "5", "--per", "1s", "--kind", "NO_SUCH"],
            "unknown kind \"NO_SUCH\"",
        ),
    ] {
        let mut full = vec!["rate-limit", "set", "--org", &a_s];
        full.extend(args);
        let out = orgjobs(url, &full);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{}",
            text(&out)
        );
    }
    let out = orgjobs(
        url,
        &[
            "rate-limit",
            "set",
            "--org",
            &a_s,
            "--starts",
            "2",
            "--per",
            "1h",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let mut ids = Vec::new();
    for org in [a, b] {
        for _ in 0..5 {
            ids.push(insert_raw(&db, "METRICS_SNAPSHOT", Some(org), serde_json::json!({})).await);
        }
    }
    let out = orgjobs(
        url,
        &["worker", "--drain", "--no-listen", "--concurrency", "4"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let c = db.admin_client().await;
    let states: Vec<(String, String, i64)> = c
        .query(
            "SELECT CASE WHEN organization_id = $1 THEN 'A' ELSE 'B' END, state, count(*)
             FROM orgjobs.jobs WHERE id = ANY($2) GROUP BY 1, 2 ORDER BY 1, 2",
            &[&a, &ids],
        )
        .await
        .expect("count")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expected = [
        ("A", "available", 3),
        ("A", "completed", 2),
        ("B", "completed", 5),
    ];
    assert_eq!(
        states,
        expected.map(|(o, s, n)| (o.to_owned(), s.to_owned(), n)),
        "A starts its burst of 2 and keeps 3 waiting; B is not limited"
    );
    let out = orgjobs(url, &["rate-limit", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["organization_id"], a_s, "{v}");
    assert!(v[0]["tokens"].as_f64().is_some_and(|t| t < 1.0), "{v}");
    let out = orgjobs(url, &["rate-limit", "remove", "--org", &b_s]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no organization-wide rate limit"),
        "{}",
        text(&out)
    );
    assert!(
        orgjobs(url, &["rate-limit", "remove", "--org", &a_s])
            .status
            .success()
    );
}

/// `orgjobs token` and `orgjobs serve` as an operator uses them: a token
/// printed once, the server logged in as `orgjobs_worker`, the token served
/// and then refused as soon as it is revoked, SIGTERM exits 0.
#[tokio::test]
async fn serve_answers_a_cli_token_and_refuses_it_once_revoked() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let org = common::seed_org(&pool, "A", 2).await;
    let url = db.url_string();
    let o = org.to_string();
    let out = orgjobs(url, &["token", "create", "--org", &o]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs --role admin, agent or viewer"),
        "{}",
        text(&out)
    );
    let out = orgjobs(url, &["token", "create", "--org", &o, "--role", "root"]);
    assert!(!out.status.success(), "{}", text(&out));
    let out = orgjobs(
        url,
        &[
            "token", "create", "--org", &o, "--role", "viewer", "--name", "cli",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("ojt_"), "{token}");

    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .env("DATABASE_URL", db.url_string_as("orgjobs_worker"))
        .env("ORGJOBS_LOG", "info")
        .stdout(Stdio::null());
    let (server, ready) = orgjobs_testdb::LoggedChild::spawn(cmd, "api_listening");
    let base = format!("http://{}", ready["addr"].as_str().unwrap_or_default());
    let http = reqwest::Client::new();
    let get = |t: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .get(format!("{base}/api/tickets"))
                .bearer_auth(t)
                .send()
                .await
                .expect("request");
            let status = r.status();
            (status, r.json::<serde_json::Value>().await.expect("json"))
        }
    };
    let (status, v) = get(token.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["tickets"].as_array().map(Vec::len), Some(2), "{v}");
    let health = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);

    let out = orgjobs(url, &["token", "list", "--org", &o, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = list[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(list[0]["role"], "viewer");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&token[37..]),
        "no secret listed"
    );
    let out = orgjobs(url, &["token", "revoke", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let (status, v) = get(token).await;
    assert_eq!(status, 401, "revoked at once: {v}");
    let out = orgjobs(url, &["token", "revoke", &id]);
    assert!(!out.status.success(), "revoking twice says so");
    assert!(server.terminate().success());
}

/// `orgjobs pause` / `resume`: a draining worker process leaves the paused
/// organization's jobs waiting; `queue stats` says what is paused.
#[tokio::test]
async fn pause_cli_holds_an_organizations_jobs_until_resumed() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let a = common::seed_org(&pool, "A", 1).await;
    let b = common::seed_org(&pool, "B", 1).await;
    let url = db.url_string();
    assert!(orgjobs(url, &["migrate"]).status.success());
    let (a_s, b_s) = (a.to_string(), b.to_string());
    let out = orgjobs(url, &["pause"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --org, --kind, or both"));
    let out = orgjobs(url, &["pause", "--org", &a_s, "--reason", "offboarding"]);
    assert!(out.status.success(), "{}", text(&out));
    let ids: Vec<i64> = {
        let mut v = Vec::new();
        for org in [a, b] {
            v.push(insert_raw(&db, "METRICS_SNAPSHOT", Some(org), serde_json::json!({})).await);
        }
        v
    };
    let out = orgjobs(url, &["queue", "stats"]);
    let stats = String::from_utf8_lossy(&out.stdout);
    assert!(
        stats.contains(&format!("paused: organization {a_s}")) && stats.contains("(offboarding)"),
        "{stats}"
    );
    let out = orgjobs(url, &["worker", "--drain", "--no-listen"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        wait_for_state(&db, ids[1], "completed").await.state,
        "completed"
    );
    assert_eq!(
        common::job(&db, ids[0]).await.state,
        "available",
        "A's job waits"
    );
    assert!(orgjobs(url, &["resume", "--org", &a_s]).status.success());
    let out = orgjobs(url, &["resume", "--org", &b_s]);
    assert!(!out.status.success(), "B was not paused");
    let out = orgjobs(url, &["worker", "--drain", "--no-listen"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(common::job(&db, ids[0]).await.state, "completed");
}
