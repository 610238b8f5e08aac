//! orgjobs on a Citus cluster: a coordinator and two worker nodes, started by
//! `scripts/citus-cluster` on free ports with private data directories, and
//! stopped at the end.
//!
//! Citus must be installed (`scripts/ensure-citus` builds it from
//! `../shared/citus`). Without it these tests say that they were skipped and
//! why, unless `ORGJOBS_CITUS=required` (set by `scripts/test` once Citus is
//! installed), in which case they fail.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{FAULT_BIN, WorkerProcess, orgjobs, text};
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::tokio_postgres::{self, Client, NoTls};
use orgjobs_queue::{ContextMode, DbUrl, SessionConfig, TenantTx};
use uuid::Uuid;

/// A running cluster; stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    coordinator: u16,
    workers: Vec<u16>,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/citus-cluster")
}

impl Cluster {
    /// Starts one, or returns `None` (having said why) when Citus is not
    /// installed and not required.
    fn start() -> Option<Cluster> {
        let lib = Command::new("pg_config")
            .arg("--pkglibdir")
            .output()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .expect("pg_config --pkglibdir");
        if !lib.join("citus.so").exists() {
            let why = format!(
                "Citus is not installed ({} is missing; scripts/ensure-citus builds it from ../shared/citus)",
                lib.join("citus.so").display()
            );
            if std::env::var("ORGJOBS_CITUS").as_deref() == Ok("required") {
                panic!("{why}, and ORGJOBS_CITUS=required");
            }
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "orgjobs-citus-{}-{}",
            std::process::id(),
            Uuid::new_v4().simple()
        ));
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .output()
            .expect("run scripts/citus-cluster");
        let cluster_text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut cluster = Cluster {
            dir,
            coordinator: 0,
            workers: Vec::new(),
        };
        assert!(
            out.status.success(),
            "citus-cluster start failed:\n{cluster_text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in cluster_text.lines() {
            if let Some(p) = line.strip_prefix("COORDINATOR_PORT=") {
                cluster.coordinator = p.parse().expect("coordinator port");
            }
            if let Some(p) = line.strip_prefix("WORKER_PORTS=") {
                cluster.workers = p
                    .trim_matches('"')
                    .split(' ')
                    .map(|w| w.parse().expect("worker port"))
                    .collect();
            }
        }
        assert_eq!(cluster.workers.len(), 2, "{cluster_text}");
        Some(cluster)
    }

    /// Starts one (see [`Cluster::start`]) and runs `orgjobs migrate
    /// --citus` on it; returns it with what migrate printed.
    fn start_migrated() -> Option<(Cluster, String)> {
        let cluster = Cluster::start()?;
        let out = orgjobs(&cluster.url(), &["migrate", "--citus"]);
        assert!(out.status.success(), "{}", text(&out));
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        Some((cluster, said))
    }

    /// A pool on the coordinator and the session settings every process
    /// detects there.
    async fn pool(&self) -> (Pool, SessionConfig) {
        let pool = DbUrl::parse(&self.url())
            .expect("url")
            .pool(4)
            .await
            .expect("pool");
        let conn = pool.get().await.expect("connection");
        let session = SessionConfig::default()
            .detected(&conn)
            .await
            .expect("detect");
        drop(conn);
        (pool, session)
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.coordinator
        )
    }

    async fn client(&self, port: u16) -> Client {
        let (client, conn) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
            NoTls,
        )
        .await
        .expect("connect to a cluster node");
        tokio::spawn(conn);
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).output();
    }
}

/// A tenant transaction for `org` on a connection of `pool`.
async fn begin(pool: &Pool, org: Uuid, session: &SessionConfig) -> TenantTx {
    TenantTx::begin(pool.get().await.expect("conn"), org, session)
        .await
        .expect("tenant transaction")
}

/// The worker transactions Citus has prepared (two-phase commit) and not
/// yet recovered.
async fn prepared(admin: &Client) -> i64 {
    admin
        .query_one("SELECT count(*) FROM pg_dist_transaction", &[])
        .await
        .expect("pg_dist_transaction")
        .get(0)
}

/// Writes an import file into the cluster's directory.
fn import_file(cluster: &Cluster, name: &str, lines: &[String]) -> String {
    let path = cluster.dir.join(format!("{name}.jsonl"));
    std::fs::write(&path, lines.join("\n")).expect("write import file");
    path.to_string_lossy().to_string()
}

fn tickets(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "type": "ticket",
                "external_id": format!("{prefix}-{i}"),
                "subject": format!("{prefix} card not arrived {i}"),
                "body": "Ordered two weeks ago.",
                "priority": "high",
            })
            .to_string()
        })
        .collect()
}

async fn count(client: &Client, sql: &str, org: Uuid) -> i64 {
    client
        .query_one(sql, &[&org])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// `orgjobs migrate --citus` distributes the tenant tables; `orgjobs org
/// create` and `orgjobs import` work through the coordinator and enqueue
/// the new tickets' jobs without triggers; a tenant transaction sees exactly
/// its organization's rows on the workers, and none when the context is set
/// the single-server way (set_config is not propagated); a write into
/// another organization is refused by the policy on the worker; the proof
/// passes, and fails naming the node when a worker refuses the tenant login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orgjobs_runs_isolated_on_a_citus_cluster() {
    let Some((cluster, said)) = Cluster::start_migrated() else {
        return;
    };
    let url = cluster.url();
    assert!(
        said.contains("applied helpdesk/citus/0001_distribute"),
        "{said}"
    );
    assert!(said.contains("over 2 worker nodes"), "{said}");
    // Again: idempotent.
    let out = orgjobs(&url, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));

    let admin = cluster.client(cluster.coordinator).await;
    let distributed: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text IN
               ('organizations', 'tickets', 'agents', 'kb_articles', 'kb_passages',
                'ticket_ai_triage', 'ai_suggestions', 'sla_predictions', 'sla_policies',
                'metrics_snapshots', 'triage_models')",
            &[],
        )
        .await
        .expect("pg_dist_partition")
        .get(0);
    assert_eq!(distributed, 11);

    let mut orgs = Vec::new();
    for (name, n) in [("Alpha", 7), ("Beta", 4)] {
        let out = orgjobs(&url, &["org", "create", name]);
        assert!(out.status.success(), "{}", text(&out));
        let id: Uuid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("org id");
        let path = import_file(&cluster, name, &tickets(name, n));
        let out = orgjobs(&url, &["import", "--org", &id.to_string(), &path]);
        assert!(out.status.success(), "{}", text(&out));
        orgs.push((id, n as i64));
    }
    let (a, a_tickets) = orgs[0];
    let (b, b_tickets) = orgs[1];

    // The rows are on the workers, not the coordinator.
    for (org, n) in &orgs {
        assert_eq!(
            count(
                &admin,
                "SELECT count(*) FROM public.tickets WHERE organization_id = $1",
                *org
            )
            .await,
            *n
        );
        // Each new ticket's three jobs, enqueued by the application (the
        // triggers are gone on Citus), in the importing transaction.
        assert_eq!(
            count(
                &admin,
                "SELECT count(*) FROM orgjobs.jobs WHERE organization_id = $1
                   AND kind IN ('TRIAGE_TICKET', 'KB_SUGGEST', 'SLA_PREDICT')",
                *org
            )
            .await,
            3 * n
        );
    }
    let shards_on_workers: i64 = admin
        .query_one(
            "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'tickets'::regclass",
            &[],
        )
        .await
        .expect("citus_shards")
        .get(0);
    assert_eq!(
        shards_on_workers, 2,
        "tickets' shards are spread over both workers"
    );

    // Tenant transactions through the runtime's own path.
    let (pool, session) = cluster.pool().await;
    assert_eq!(session.context, ContextMode::Propagated);
    for (org, n) in [(a, a_tickets), (b, b_tickets)] {
        let tx = begin(&pool, org, &session).await;
        let seen: i64 = tx
            .query_one("SELECT count(*) FROM public.tickets", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(seen, n, "a tenant sees exactly its own tickets");
        let others: i64 = tx
            .query_one(
                "SELECT count(*) FROM public.tickets WHERE organization_id <> $1",
                &[&org],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(others, 0);
        drop(tx.rollback().await.expect("rollback"));
    }
    // Into another organization: refused by the policy on the worker.
    let tx = begin(&pool, a, &session).await;
    let err = tx
        .execute(
            "INSERT INTO public.tickets (organization_id, subject) VALUES ($1, 'planted')",
            &[&b],
        )
        .await
        .expect_err("a write into another organization");
    assert_eq!(err.code(), Some("42501"), "{err}");
    drop(tx.rollback().await);
    // The single-server way on Citus: the context never reaches the
    // workers, so the tenant sees nothing (this is why the mode exists).
    let local = SessionConfig {
        context: ContextMode::Local,
        ..session.clone()
    };
    let tx = begin(&pool, a, &local).await;
    let seen: i64 = tx
        .query_one("SELECT count(*) FROM public.tickets", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(seen, 0, "set_config does not reach the worker nodes");
    drop(tx.rollback().await);

    // A transaction that writes on a worker node and on the coordinator
    // (a ticket and its jobs) commits with two-phase commit: Citus records
    // each prepared worker transaction in pg_dist_transaction (kept here,
    // with its recovery turned off). Without it, Citus would commit the
    // worker's part first and a crash before the coordinator's commit
    // would keep the ticket and lose its jobs.
    for sql in [
        "ALTER SYSTEM SET citus.recover_2pc_interval = -1",
        "SELECT pg_reload_conf()",
    ] {
        admin
            .batch_execute(sql)
            .await
            .expect("turn 2PC recovery off");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before: i64 = prepared(&admin).await;
    let tx = begin(&pool, a, &session).await;
    let ticket = orgjobs_helpdesk::insert_ticket(
        &tx,
        &orgjobs_helpdesk::NewTicket {
            subject: "Two-phase".to_owned(),
            ..Default::default()
        },
    )
    .await
    .expect("insert a ticket");
    drop(tx.commit().await.expect("commit"));
    let after: i64 = prepared(&admin).await;
    assert_eq!(
        after,
        before + 1,
        "one worker transaction prepared and committed"
    );
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM orgjobs.jobs WHERE (payload->>'ticket_id')::uuid = $1",
            ticket
        )
        .await,
        3,
        "the ticket's jobs committed with it"
    );
    // A read-only transaction stays one-phase.
    let tx = begin(&pool, a, &session).await;
    tx.query_one(
        "SELECT count(*) FROM public.tickets WHERE organization_id = $1",
        &[&a],
    )
    .await
    .expect("count");
    drop(tx.commit().await.expect("commit"));
    let read_only: i64 = prepared(&admin).await;
    assert_eq!(read_only, after);
    let a_tickets = a_tickets + 1;

    // The proof, on the cluster.
    let out = orgjobs(&url, &["proof"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for check in [
        "PASS  citus context",
        "PASS  citus placement: 11 tenant tables",
        "PASS  citus worker logins",
    ] {
        assert!(said.contains(check), "missing {check:?} in\n{said}");
    }
    for (org, n) in [(a, a_tickets), (b, b_tickets)] {
        let line = said
            .lines()
            .find(|l| {
                l.contains(&format!(
                    "organization {org}: tenant view equals administrator view"
                ))
            })
            .unwrap_or_else(|| panic!("no view check for {org} in\n{said}"));
        assert!(
            line.starts_with("PASS") && line.contains(&format!("tickets {n}/{n}")),
            "{line}"
        );
    }
    // A worker that refuses the tenant's login fails the proof, by name.
    let worker = cluster.client(cluster.workers[0]).await;
    worker
        .batch_execute("SET citus.enable_ddl_propagation TO off; ALTER ROLE orgjobs_tenant NOLOGIN")
        .await
        .expect("alter role on a worker");
    let out = orgjobs(&url, &["proof"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "orgjobs_tenant cannot log in on 127.0.0.1:{}",
            cluster.workers[0]
        )),
        "{said}"
    );
    // `orgjobs migrate` (Citus detected) allows it again.
    let out = orgjobs(&url, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = orgjobs(&url, &["proof"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Sentence embeddings on the cluster: `RAG_INDEX` stores passage vectors
/// on the worker nodes, and `KB_SUGGEST`'s fused ranking (its fingerprint,
/// vector and snippet statements, each naming the organization) runs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_fuse_embeddings_on_a_citus_cluster() {
    let Some(model) = orgjobs_embed::shared_for_tests().expect("model") else {
        return;
    };
    let Some((cluster, _)) = Cluster::start_migrated() else {
        return;
    };
    let url = cluster.url();
    let out = orgjobs(&url, &["org", "create", "Gamma"]);
    assert!(out.status.success(), "{}", text(&out));
    let org: Uuid = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("org id");
    let mut lines = tickets("Gamma", 2);
    for (ext, title, body) in [
        (
            "KB-1",
            "Delivery times",
            "We dispatch orders within two working days by post.",
        ),
        (
            "KB-2",
            "Changing your PIN",
            "Change the PIN of your card at any cash machine.",
        ),
        (
            "KB-3",
            "Closing your account",
            "Choose Close account in your profile.",
        ),
    ] {
        lines.push(
            serde_json::json!({"type": "article", "external_id": ext, "title": title, "body": body})
                .to_string(),
        );
    }
    let path = import_file(&cluster, "Gamma", &lines);
    let out = orgjobs(&url, &["import", "--org", &org.to_string(), &path]);
    assert!(out.status.success(), "{}", text(&out));
    let out = orgjobs(
        &url,
        &[
            "worker",
            "--drain",
            "--no-periodic",
            "--embeddings",
            "required",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));

    let admin = cluster.client(cluster.coordinator).await;
    let rows = admin
        .query(
            "SELECT count(*) FILTER (WHERE embedding_model = $2), count(*)
             FROM public.kb_passages WHERE organization_id = $1",
            &[&org, &model.id()],
        )
        .await
        .expect("passages");
    let (with_vectors, passages): (i64, i64) = (rows[0].get(0), rows[0].get(1));
    assert_eq!((with_vectors, passages), (3, 3));
    let methods: Vec<String> = admin
        .query(
            "SELECT content->>'method' FROM public.ai_suggestions
             WHERE organization_id = $1 AND suggestion_type = 'kb'",
            &[&org],
        )
        .await
        .expect("suggestions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        methods,
        vec![orgjobs_helpdesk::kb::METHOD_FUSED.to_owned(); 2],
        "{}",
        text(&out)
    );
}

/// The demo's whole flow on the cluster: import, triage, suggestions, SLA
/// predictions, reply drafts and snapshots, every job completed (the orphan
/// discarded), each organization's results equal to what it alone should
/// see, and the proof passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_a_citus_cluster() {
    let Some((cluster, _)) = Cluster::start_migrated() else {
        return;
    };
    let url = cluster.url();
    // Without the embedding model: the demo's embeddings cost over a minute
    // of CPU, and the test above runs them on a cluster.
    let out = orgjobs(&url, &["demo", "--embeddings", "off"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("demo passed in")
            && said.contains("every organization's jobs saw exactly its own data"),
        "{said}"
    );
    assert!(said.contains("PASS  citus placement"), "{said}");
    let admin = cluster.client(cluster.coordinator).await;
    let rows = admin
        .query(
            "SELECT kind, state, count(*) FROM orgjobs.jobs
             WHERE state <> 'completed' GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("jobs");
    let unfinished: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        unfinished,
        [("METRICS_SNAPSHOT".to_owned(), "discarded".to_owned(), 1)],
        "only the demo's orphan job (no organization) may end otherwise"
    );
    let snapshots: i64 = admin
        .query_one("SELECT count(*) FROM public.metrics_snapshots", &[])
        .await
        .expect("snapshots")
        .get(0);
    assert_eq!(snapshots, 3, "one snapshot per organization");
}

/// Creates organization `name` with `n` tickets through a tenant
/// transaction on the cluster and forgets the helpdesk jobs they enqueued;
/// returns its id and the tickets'.
async fn seed(pool: &Pool, session: &SessionConfig, name: &str, n: usize) -> (Uuid, Vec<Uuid>) {
    let org = Uuid::new_v4();
    let tx = begin(pool, org, session).await;
    orgjobs_helpdesk::create_organization(&tx, name)
        .await
        .expect("organization");
    let mut ids = Vec::new();
    for i in 0..n {
        let t = orgjobs_helpdesk::NewTicket {
            subject: format!("{name}{i}"),
            ..Default::default()
        };
        ids.push(
            orgjobs_helpdesk::insert_ticket(&tx, &t)
                .await
                .expect("ticket"),
        );
    }
    drop(tx.commit().await.expect("commit"));
    pool.get()
        .await
        .expect("conn")
        .execute(
            "DELETE FROM orgjobs.jobs WHERE organization_id = $1",
            &[&org],
        )
        .await
        .expect("forget the helpdesk jobs");
    (org, ids)
}

async fn finished(admin: &Client, jobs: &[i64]) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND state = 'completed'",
            &[&jobs],
        )
        .await
        .expect("jobs")
        .get(0)
}

async fn wait_finished(admin: &Client, jobs: &[i64], at_least: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let done = finished(admin, jobs).await;
        if done >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {} jobs completed after {within:?}, expected {at_least}",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// While counted jobs of two organizations run, one organization's shards
/// move to the other worker node (`citus_move_shard_placement`, its whole
/// co-location group) and the worker process is SIGKILLed; a second worker
/// process finishes. Every job completes, every job's effect (a `+` on its
/// ticket, written in its tenant transaction) is there exactly once, and no
/// job saw another organization's ticket (a probe that cannot find its
/// ticket in its organization is discarded, not completed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_moves_and_a_worker_is_killed_while_jobs_run() {
    let Some((cluster, _)) = Cluster::start_migrated() else {
        return;
    };
    let url = cluster.url();
    let (pool, session) = cluster.pool().await;
    let (a, a_tickets) = seed(&pool, &session, "A", 60).await;
    let (b, b_tickets) = seed(&pool, &session, "B", 60).await;
    let admin = cluster.client(cluster.coordinator).await;
    common::fault_registry()
        .register_kinds(&admin)
        .await
        .expect("register the probe kind");
    let mut jobs = common::add_probes(&admin, a, &a_tickets, 300).await;
    jobs.extend(common::add_probes(&admin, b, &b_tickets, 300).await);
    let args = [
        "--lease-secs",
        "2",
        "--leader-ttl-secs",
        "1",
        "--no-periodic",
        "--concurrency",
        "6",
    ];
    let first = WorkerProcess::start_bin(FAULT_BIN, &url, &args);
    wait_finished(&admin, &jobs, 10, Duration::from_secs(60)).await;

    // A's shards (tickets and every co-located table) go to the other node,
    // blocking writes to them while they are copied; A's jobs wait.
    let row = admin
        .query_one(
            "SELECT s.shardid, s.nodename, s.nodeport
             FROM citus_shards s
             WHERE s.shardid = get_shard_id_for_distribution_column('public.tickets', $1::uuid)",
            &[&a],
        )
        .await
        .expect("A's shard");
    let (shard, from_host, from_port): (i64, String, i32) = (row.get(0), row.get(1), row.get(2));
    let to_port = cluster
        .workers
        .iter()
        .map(|p| i32::from(*p))
        .find(|p| *p != from_port)
        .expect("the other worker");
    let moved_at = finished(&admin, &jobs).await;
    admin
        .execute(
            "SELECT citus_move_shard_placement($1, $2, $3, '127.0.0.1', $4, shard_transfer_mode => 'block_writes')",
            &[&shard, &from_host, &from_port, &to_port],
        )
        .await
        .expect("move A's shards");
    let now_on: i32 = admin
        .query_one(
            "SELECT nodeport FROM citus_shards WHERE shardid = $1",
            &[&shard],
        )
        .await
        .expect("placement")
        .get(0);
    assert_eq!(now_on, to_port, "A's tickets moved");
    assert!(
        finished(&admin, &jobs).await < jobs.len() as i64,
        "jobs were still running when the shards had moved (moved at {moved_at} completed)"
    );

    // The worker dies without a word; its leases expire and a second worker
    // rescues and finishes its jobs.
    drop(first);
    let second = WorkerProcess::start_bin(FAULT_BIN, &url, &args);
    wait_finished(&admin, &jobs, jobs.len() as i64, Duration::from_secs(120)).await;
    drop(second);

    let marks: Vec<(Uuid, i32)> = admin
        .query(
            "SELECT organization_id, length(subject) - length(replace(subject, '+', ''))
             FROM public.tickets WHERE organization_id = ANY($1) ORDER BY organization_id, id",
            &[&vec![a, b]],
        )
        .await
        .expect("marks")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(marks.len(), a_tickets.len() + b_tickets.len());
    assert!(
        marks.iter().all(|(_, m)| *m == 1),
        "every job's effect exactly once: {marks:?}"
    );
    let not_completed: i64 = admin
        .query_one(
            "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND state <> 'completed'",
            &[&jobs],
        )
        .await
        .expect("states")
        .get(0);
    assert_eq!(not_completed, 0);
    let rescued: i64 = admin
        .query_one(
            "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND attempt > 1",
            &[&jobs],
        )
        .await
        .expect("attempts")
        .get(0);
    assert!(rescued > 0, "the killed worker's jobs ran again elsewhere");
}
