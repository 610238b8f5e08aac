//! The threat model, tested: strict tenant mode closes the paths by which
//! SQL running as the tenant role could re-scope its transaction, and the
//! proof (and the worker's startup check) find every way around a table's
//! policy: views, materialized views, ownership, definer functions,
//! memberships, foreign keys and privileges that ignore row-level security.

mod common;

use common::{insert_raw, orgjobs, text};
use orgjobs_queue::tokio_postgres::Client;
use orgjobs_queue::{SET_TENANT_CONTEXT, SessionConfig, TenantTx, TxError, set_strict};
use uuid::Uuid;

/// Runs `sql` as the tenant role with `org`'s context, as a statement that
/// got past the guard would (raw, on the admin connection), then counts the
/// tickets visible; rolled back.
async fn as_tenant_then_count(c: &Client, org: Uuid, sql: &str) -> Result<i64, String> {
    c.batch_execute("BEGIN").await.map_err(|e| e.to_string())?;
    let res = async {
        c.query(SET_TENANT_CONTEXT, &[&"orgjobs_tenant", &org.to_string()])
            .await?;
        c.batch_execute(sql).await?;
        Ok::<i64, orgjobs_queue::tokio_postgres::Error>(
            c.query_one("SELECT count(*) FROM tickets", &[])
                .await?
                .get(0),
        )
    }
    .await;
    let _ = c.batch_execute("ROLLBACK").await;
    res.map_err(|e| {
        format!(
            "{} ({})",
            e,
            e.code().map(|c| c.code().to_owned()).unwrap_or_default()
        )
    })
}

#[tokio::test]
async fn strict_mode_closes_every_rescoping_path_and_can_be_turned_off_again() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let a = common::seed_org(&pool, "A", 3).await;
    let b = common::seed_org(&pool, "B", 5).await;
    let c = db.admin_client().await;
    let rescope = format!("SELECT pg_catalog.set_config('app.current_org', '{b}', true)");
    let do_block = format!("DO $$ BEGIN EXECUTE 'SET LOCAL app.current_org = ''{b}'''; END $$");
    let temp_fn = format!(
        "CREATE FUNCTION pg_temp.f() RETURNS void LANGUAGE sql AS $$ SET LOCAL app.current_org = '{b}' $$; SELECT pg_temp.f()"
    );

    // Off: each path re-scopes A's transaction to B's five tickets.
    set_strict(&c, false).await.expect("strict off");
    for sql in [&rescope, &do_block, &temp_fn] {
        assert_eq!(
            as_tenant_then_count(&c, a, sql).await,
            Ok(5),
            "without strict mode, {sql} re-scopes to B"
        );
    }
    let proof = orgjobs(db.url_string(), &["proof"]);
    assert!(
        proof.status.success(),
        "a warning, not a failure: {}",
        text(&proof)
    );
    let out = String::from_utf8_lossy(&proof.stdout);
    assert!(
        out.contains("WARN  strict tenant mode: off")
            && out.contains("set_config('app.current_org', other, true)")
            && out.contains("DO block")
            && out.contains("orgjobs migrate --strict"),
        "{out}"
    );
    let refused = orgjobs(db.url_string(), &["worker", "--drain", "--require-strict"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("strict tenant mode is off"),
        "{}",
        text(&refused)
    );

    // On: the server refuses each path as the tenant role.
    let on = orgjobs(db.url_string(), &["migrate", "--strict"]);
    assert!(on.status.success(), "{}", text(&on));
    assert!(
        String::from_utf8_lossy(&on.stdout).contains("strict tenant mode: on"),
        "{}",
        text(&on)
    );
    for sql in [&rescope, &do_block, &temp_fn] {
        let res = as_tenant_then_count(&c, a, sql).await;
        assert!(
            matches!(&res, Err(e) if e.contains("42501")),
            "strict mode refuses {sql}: {res:?}"
        );
    }
    // The statement forms are refused before they reach the server.
    let tx = TenantTx::begin(
        pool.get().await.expect("conn"),
        a,
        &SessionConfig::default(),
    )
    .await
    .expect("begin");
    for sql in [
        format!("SET LOCAL app.current_org = '{b}'"),
        "RESET ROLE".to_owned(),
        "/* /* */ */ RESET ROLE".to_owned(),
        format!("SELECT set_config('app.current_org', '{b}', false)"),
    ] {
        assert!(
            matches!(tx.execute(&sql, &[]).await, Err(TxError::Refused(_))),
            "{sql}"
        );
    }
    let seen: i64 = tx
        .query_one("SELECT count(*) FROM tickets", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(seen, 3, "still A's context");
    drop(tx.rollback().await.expect("rollback"));
    let proof = orgjobs(db.url_string(), &["proof"]);
    assert!(proof.status.success(), "{}", text(&proof));
    assert!(
        String::from_utf8_lossy(&proof.stdout).contains("PASS  strict tenant mode: on"),
        "{}",
        text(&proof)
    );
    // And the worker runs jobs in strict mode.
    let ok = orgjobs(db.url_string(), &["worker", "--drain", "--require-strict"]);
    assert!(ok.status.success(), "{}", text(&ok));

    // Off again: the way back.
    let off = orgjobs(db.url_string(), &["migrate", "--no-strict"]);
    assert!(off.status.success(), "{}", text(&off));
    assert_eq!(as_tenant_then_count(&c, a, &rescope).await, Ok(5));
}

/// Expects `orgjobs proof` to fail with a line starting `FAIL  {check}:`
/// that contains `needle`, and the worker to refuse to start naming it.
fn expect_hole(url: &str, check: &str, needle: &str) {
    let proof = orgjobs(url, &["proof"]);
    assert!(!proof.status.success(), "proof passed: {}", text(&proof));
    let out = String::from_utf8_lossy(&proof.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("FAIL  {check}:")) && l.contains(needle)),
        "no FAIL {check} naming {needle}:\n{out}"
    );
    let worker = orgjobs(url, &["worker", "--drain"]);
    assert!(!worker.status.success(), "{}", text(&worker));
    let err = String::from_utf8_lossy(&worker.stderr);
    assert!(
        err.contains("refusing to start") && err.contains(needle),
        "{err}"
    );
}

fn expect_clean(url: &str) {
    let proof = orgjobs(url, &["proof"]);
    assert!(proof.status.success(), "{}", text(&proof));
}

#[tokio::test]
async fn proof_and_startup_find_every_way_around_the_policies() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let a = common::seed_org(&pool, "A", 3).await;
    common::seed_org(&pool, "B", 5).await;
    let c = db.admin_client().await;
    let url = db.url_string();
    expect_clean(url);

    // A view without security_invoker reads with its owner's rights (here a
    // superuser): inside A's transaction it shows every organization's rows.
    c.batch_execute(
        "CREATE VIEW public.all_tickets AS SELECT id, organization_id FROM public.tickets;
         GRANT SELECT ON public.all_tickets TO orgjobs_tenant;",
    )
    .await
    .expect("view");
    let through_view = as_tenant_then_count(&c, a, "SELECT 1").await;
    assert_eq!(through_view, Ok(3), "the table itself shows A's rows");
    c.batch_execute("BEGIN").await.expect("begin");
    c.query(SET_TENANT_CONTEXT, &[&"orgjobs_tenant", &a.to_string()])
        .await
        .expect("context");
    let leaked: i64 = c
        .query_one("SELECT count(*) FROM public.all_tickets", &[])
        .await
        .expect("view count")
        .get(0);
    c.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(leaked, 8, "the view shows all organizations' tickets");
    expect_hole(
        url,
        "views over tenant tables",
        "view all_tickets reads tickets",
    );
    // A view over that view is caught through the chain.
    c.batch_execute(
        "REVOKE SELECT ON public.all_tickets FROM orgjobs_tenant;
         CREATE VIEW public.ticket_ids WITH (security_invoker = true) AS SELECT id FROM public.all_tickets;
         CREATE VIEW public.outer_ids AS SELECT id FROM public.ticket_ids;
         GRANT SELECT ON public.outer_ids TO orgjobs_tenant;",
    )
    .await
    .expect("chain");
    expect_hole(
        url,
        "views over tenant tables",
        "view outer_ids reads tickets",
    );
    c.batch_execute("DROP VIEW public.outer_ids, public.ticket_ids, public.all_tickets")
        .await
        .expect("drop views");
    // With security_invoker the reader's context applies: no hole.
    c.batch_execute(
        "CREATE VIEW public.my_tickets WITH (security_invoker = on) AS SELECT id FROM public.tickets;
         GRANT SELECT ON public.my_tickets TO orgjobs_tenant;",
    )
    .await
    .expect("invoker view");
    expect_clean(url);
    // A materialized view holds every organization's rows whatever it says.
    c.batch_execute(
        "CREATE MATERIALIZED VIEW public.ticket_stats AS SELECT organization_id, count(*) FROM public.tickets GROUP BY 1;
         GRANT SELECT ON public.ticket_stats TO orgjobs_tenant;",
    )
    .await
    .expect("matview");
    expect_hole(
        url,
        "views over tenant tables",
        "materialized view ticket_stats",
    );
    c.batch_execute("DROP MATERIALIZED VIEW public.ticket_stats")
        .await
        .expect("drop");

    // A tenant table owned by the tenant role: it could disable RLS.
    c.batch_execute("ALTER TABLE public.agents OWNER TO orgjobs_tenant")
        .await
        .expect("owner");
    expect_hole(url, "rls agents", "owned by orgjobs_tenant");
    // (The tenant's grants merged into the owner's rights: give them back.)
    c.batch_execute(
        "ALTER TABLE public.agents OWNER TO CURRENT_USER;
         GRANT SELECT, INSERT, UPDATE, DELETE ON public.agents TO orgjobs_tenant;",
    )
    .await
    .expect("owner back");

    // TRUNCATE ignores row-level security.
    c.batch_execute("GRANT TRUNCATE ON public.tickets TO orgjobs_tenant")
        .await
        .expect("grant");
    expect_hole(url, "rls tickets", "holds TRUNCATE");
    c.batch_execute("REVOKE TRUNCATE ON public.tickets FROM orgjobs_tenant")
        .await
        .expect("revoke");

    // A SECURITY DEFINER function the tenant may execute (PUBLIC may, by
    // default) reads past RLS; once reviewed it passes, and changing it
    // makes it fail again.
    c.batch_execute(
        "CREATE FUNCTION public.count_all_tickets() RETURNS bigint LANGUAGE sql SECURITY DEFINER
             SET search_path = pg_catalog, pg_temp AS 'SELECT count(*) FROM public.tickets'",
    )
    .await
    .expect("definer");
    expect_hole(
        url,
        "security definer functions",
        "count_all_tickets() can be reached by the tenant role and is not reviewed",
    );
    c.batch_execute("SELECT orgjobs.mark_reviewed('public.count_all_tickets()')")
        .await
        .expect("review");
    expect_clean(url);
    c.batch_execute(
        "CREATE OR REPLACE FUNCTION public.count_all_tickets() RETURNS bigint LANGUAGE sql SECURITY DEFINER
             SET search_path = pg_catalog, pg_temp AS 'SELECT count(*) + 0 FROM public.tickets'",
    )
    .await
    .expect("change");
    expect_hole(
        url,
        "security definer functions",
        "count_all_tickets() changed since it was reviewed",
    );
    c.batch_execute("DROP FUNCTION public.count_all_tickets()")
        .await
        .expect("drop");

    // A foreign key without organization_id probes other organizations'
    // rows: its check ignores RLS.
    c.batch_execute(
        "CREATE UNIQUE INDEX agents_id_key ON public.agents (id);
         ALTER TABLE public.tickets ADD CONSTRAINT tickets_any_agent FOREIGN KEY (assigned_to) REFERENCES public.agents (id);",
    )
    .await
    .expect("probing key");
    expect_hole(
        url,
        "foreign keys between tenant tables",
        "foreign key tickets_any_agent on tickets references agents",
    );
    c.batch_execute(
        "ALTER TABLE public.tickets DROP CONSTRAINT tickets_any_agent; DROP INDEX public.agents_id_key;",
    )
    .await
    .expect("drop key");
    expect_clean(url);
}

/// Memberships reach across databases (roles are cluster-wide), so this
/// test uses throwaway roles of its own as the tenant role.
#[tokio::test]
async fn a_tenant_role_in_a_bypassing_or_owning_role_is_refused() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    common::seed_org(&pool, "A", 1).await;
    let c = db.admin_client().await;
    let suffix = format!("{}_{}", std::process::id(), Uuid::new_v4().simple());
    let tenant = format!("orgjobs_t_tenant_{suffix}");
    let bypass = format!("orgjobs_t_bypass_{suffix}");
    let owner = format!("orgjobs_t_owner_{suffix}");
    let sql = |template: &str| {
        template
            .replace("{tenant}", &tenant)
            .replace("{bypass}", &bypass)
            .replace("{owner}", &owner)
    };
    // Role names come from this test (letters, digits, underscores).
    c.batch_execute(&sql(
        "CREATE ROLE {tenant} NOLOGIN NOINHERIT;
         CREATE ROLE {bypass} NOLOGIN BYPASSRLS;
         CREATE ROLE {owner} NOLOGIN;
         GRANT {tenant} TO CURRENT_USER;
         GRANT USAGE ON SCHEMA orgjobs TO {tenant};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {tenant};
         GRANT EXECUTE ON FUNCTION orgjobs.complete_job(bigint, integer, text), orgjobs.add_job(text, uuid, jsonb, timestamptz, integer, integer, text) TO {tenant};",
    ))
    .await
    .expect("roles");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--tenant-role", &tenant]);
        orgjobs(db.url_string(), &all)
    };
    let clean = run(&["proof"]);
    // Member of a role that bypasses RLS.
    c.batch_execute(&sql("GRANT {bypass} TO {tenant}"))
        .await
        .expect("grant bypass");
    let bypassing_proof = run(&["proof"]);
    let bypassing_worker = run(&["worker", "--drain"]);
    c.batch_execute(&sql("REVOKE {bypass} FROM {tenant}"))
        .await
        .expect("revoke");
    // Member of a role that owns a tenant table.
    c.batch_execute(&sql(
        "ALTER TABLE public.tickets OWNER TO {owner}; GRANT {owner} TO {tenant};",
    ))
    .await
    .expect("owner");
    let owning_proof = run(&["proof"]);
    c.batch_execute(&sql("ALTER TABLE public.tickets OWNER TO CURRENT_USER;
         DROP OWNED BY {tenant}, {bypass}, {owner};
         DROP ROLE {tenant}; DROP ROLE {bypass}; DROP ROLE {owner};"))
        .await
        .expect("cleanup");

    assert!(clean.status.success(), "{}", text(&clean));
    let out = String::from_utf8_lossy(&bypassing_proof.stdout);
    assert!(
        out.contains(&format!(
            "FAIL  tenant role memberships: the tenant role is a member of {bypass}"
        )),
        "{out}"
    );
    assert!(!bypassing_worker.status.success());
    assert!(
        String::from_utf8_lossy(&bypassing_worker.stderr).contains(&bypass),
        "{}",
        text(&bypassing_worker)
    );
    let out = String::from_utf8_lossy(&owning_proof.stdout);
    assert!(
        out.contains(&format!(
            "owned by {owner}, which the tenant role is or is a member of"
        )),
        "{out}"
    );
}

/// The proof checks the functions the API reaches an organization's jobs
/// through by what they return, not only that they were reviewed: a
/// reviewed `org_jobs` that forgot the organization filter fails it.
#[tokio::test]
async fn proof_fails_when_the_organization_jobs_functions_show_another_organizations_jobs() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let a = common::seed_org(&pool, "A", 0).await;
    let b = common::seed_org(&pool, "B", 0).await;
    for (org, n) in [(a, 2), (b, 3)] {
        for _ in 0..n {
            insert_raw(&db, "METRICS_SNAPSHOT", Some(org), serde_json::json!({})).await;
        }
    }
    let url = db.url_string();
    expect_clean(url);
    let c = db.admin_client().await;
    c.batch_execute(
        "CREATE OR REPLACE FUNCTION orgjobs.org_jobs(job_state text, job_kind text, before_id bigint, max_rows integer)
         RETURNS TABLE (id bigint, kind text, state text, attempt integer, max_attempts integer,
                        priority smallint, run_at timestamptz, created_at timestamptz,
                        attempted_at timestamptz, finalized_at timestamptz, last_error text)
         LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
         AS $$ SELECT j.id, j.kind, j.state, j.attempt, j.max_attempts, j.priority, j.run_at,
                      j.created_at, j.attempted_at, j.finalized_at, j.last_error
               FROM orgjobs.jobs j ORDER BY j.id DESC LIMIT max_rows $$;
         SELECT orgjobs.mark_reviewed('orgjobs.org_jobs(text,text,bigint,integer)');",
    )
    .await
    .expect("a careless review");
    let proof = orgjobs(url, &["proof"]);
    assert!(!proof.status.success(), "{}", text(&proof));
    let out = String::from_utf8_lossy(&proof.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL  organization jobs functions:")
                && l.contains("returned 5 jobs; the organization has ")),
        "{out}"
    );
}

/// The queue's own tables (jobs, rate limits, pauses, API tokens) hold every
/// organization's rows without row-level security: a grant of any of them
/// to the tenant role is a leak, and the proof names it.
#[tokio::test]
async fn proof_fails_when_the_tenant_role_may_read_a_queue_table() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let a = common::seed_org(&pool, "A", 0).await;
    let b = common::seed_org(&pool, "B", 0).await;
    let c = db.admin_client().await;
    for org in [a, b] {
        orgjobs_queue::create_token(&c, Some(org), orgjobs_queue::TokenRole::Viewer, "t")
            .await
            .expect("token");
    }
    let url = db.url_string();
    expect_clean(url);
    let tokens_seen_by_a = || async {
        c.batch_execute("BEGIN").await.expect("begin");
        c.query(SET_TENANT_CONTEXT, &[&"orgjobs_tenant", &a.to_string()])
            .await
            .expect("context");
        let n = c
            .query_one("SELECT count(*) FROM orgjobs.api_tokens", &[])
            .await
            .map(|r| r.get::<_, i64>(0))
            .map_err(|e| e.code().map(|c| c.code().to_owned()).unwrap_or_default());
        c.batch_execute("ROLLBACK").await.expect("rollback");
        n
    };
    // Without the grant the tenant cannot read the tokens at all.
    let denied = tokens_seen_by_a().await;
    assert_eq!(denied, Err("42501".to_owned()), "permission denied");
    c.batch_execute("GRANT SELECT ON orgjobs.api_tokens TO orgjobs_tenant")
        .await
        .expect("grant");
    assert_eq!(
        tokens_seen_by_a().await,
        Ok(2),
        "with the grant, A's transaction sees B's token too"
    );
    let proof = orgjobs(url, &["proof"]);
    assert!(!proof.status.success(), "{}", text(&proof));
    let out = String::from_utf8_lossy(&proof.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL  queue closed to tenants:")
                && l.contains("orgjobs.api_tokens")),
        "{out}"
    );
}

/// The dashboard's tables (workers, their per-minute history with each
/// organization's counts, sessions, the actions log with organizations'
/// ticket ids) are operator data: the tenant role cannot read them, and a
/// grant of any of them fails the proof, naming it.
#[tokio::test]
async fn the_dashboards_tables_are_closed_to_tenants() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let a = common::seed_org(&pool, "A", 0).await;
    let c = db.admin_client().await;
    let url = db.url_string();
    expect_clean(url);
    for table in ["workers", "worker_minutes", "dashboard_sessions", "actions"] {
        c.batch_execute("BEGIN").await.expect("begin");
        c.query(SET_TENANT_CONTEXT, &[&"orgjobs_tenant", &a.to_string()])
            .await
            .expect("context");
        let read = c
            .query_one(&format!("SELECT count(*) FROM orgjobs.{table}"), &[])
            .await;
        c.batch_execute("ROLLBACK").await.expect("rollback");
        assert_eq!(
            read.err()
                .and_then(|e| e.code().map(|c| c.code().to_owned())),
            Some("42501".to_owned()),
            "a tenant transaction cannot read orgjobs.{table}"
        );
        c.batch_execute(&format!(
            "GRANT SELECT ON orgjobs.{table} TO orgjobs_tenant"
        ))
        .await
        .expect("grant");
        let proof = orgjobs(url, &["proof"]);
        assert!(!proof.status.success(), "{}", text(&proof));
        let out = String::from_utf8_lossy(&proof.stdout);
        assert!(
            out.lines()
                .any(|l| l.starts_with("FAIL  queue closed to tenants:")
                    && l.contains(&format!("orgjobs.{table}"))),
            "{out}"
        );
        c.batch_execute(&format!(
            "REVOKE SELECT ON orgjobs.{table} FROM orgjobs_tenant"
        ))
        .await
        .expect("revoke");
    }
    expect_clean(url);
}
