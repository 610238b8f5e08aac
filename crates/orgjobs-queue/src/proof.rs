//! The isolation proof: the seed's Verification section as checks run
//! against a live database. Every write it attempts happens inside a
//! transaction that it rolls back, so it changes nothing.

use deadpool_postgres::{Object, Pool};
use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::catalog::{self, TenantTable};
use crate::error::{DbError, PgErr};
use crate::session::{SET_TENANT_CONTEXT, SessionConfig, TenantTx};

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The property holds.
    Pass,
    /// The property does not hold: isolation is not guaranteed.
    Fail,
    /// Holds, with a caveat the operator should act on.
    Warn,
}

/// One line of the proof.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Pass, fail or warn.
    pub status: CheckStatus,
    /// What was seen.
    pub detail: String,
}

impl Check {
    fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: if ok {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            detail: detail.into(),
        }
    }
}

/// An organization id shaped like an injection, from the seed's defect.
const INJECTION_ORG: &str = "x'; drop table tickets; --";

/// Runs every check on a connection of `pool` and returns them in order.
/// The caller decides the exit status: all must pass (warnings allowed).
pub async fn run_proof(pool: &Pool, roles: &SessionConfig) -> Result<Vec<Check>, DbError> {
    let conn = crate::db::checkout(pool, "running the proof").await?;
    let mut checks = Vec::new();
    let tenant = roles.tenant_role.as_str();

    // 1. The tenant role cannot bypass RLS.
    let attrs = catalog::role_attrs(&conn, tenant).await?;
    let Some(attrs) = attrs else {
        checks.push(Check::new(
            "tenant role",
            false,
            format!("{tenant} does not exist (run `orgjobs migrate`)"),
        ));
        return Ok(checks);
    };
    checks.push(Check::new(
        "tenant role",
        !attrs.superuser && !attrs.bypass_rls && !attrs.can_login,
        format!(
            "{}: {} {} {}",
            attrs.name,
            if attrs.superuser {
                "SUPERUSER"
            } else {
                "NOSUPERUSER"
            },
            if attrs.bypass_rls {
                "BYPASSRLS"
            } else {
                "NOBYPASSRLS"
            },
            if attrs.can_login { "LOGIN" } else { "NOLOGIN" },
        ),
    ));

    // 2. The login: a superuser could RESET ROLE inside a tenant transaction.
    let login = catalog::login_attrs(&conn).await?;
    let privileged = login.superuser || login.bypass_rls;
    checks.push(Check {
        name: "login role".into(),
        status: if privileged { CheckStatus::Warn } else { CheckStatus::Pass },
        detail: if privileged {
            format!(
                "{} bypasses RLS ({}); a statement that got past the guard could RESET ROLE to it and read every organization: run workers as orgjobs_worker",
                login.name,
                if login.superuser { "superuser" } else { "BYPASSRLS" }
            )
        } else {
            format!("{} does not bypass RLS", login.name)
        },
    });

    // 3. The tenant role has no privilege on the queue's table.
    let row = conn
        .query_one(
            "SELECT pg_catalog.has_table_privilege($1, 'orgjobs.jobs', 'SELECT, INSERT, UPDATE, DELETE')",
            &[&tenant],
        )
        .await
        .map_err(|e| DbError::query("checking queue privileges", e))?;
    let can_touch: bool = row.get(0);
    checks.push(Check::new(
        "queue closed to tenants",
        !can_touch,
        if can_touch {
            format!("{tenant} has privileges on orgjobs.jobs")
        } else {
            format!("{tenant} has no privilege on orgjobs.jobs")
        },
    ));

    // 4. Every tenant table: RLS enabled, forced, the standard policy.
    let tables = catalog::tenant_tables(&conn, tenant).await?;
    if tables.is_empty() {
        checks.push(Check::new(
            "tenant tables",
            false,
            "no table with an organization_id column found (run `orgjobs migrate`)",
        ));
    }
    for t in &tables {
        let problems = t.problems();
        checks.push(Check::new(
            format!("rls {}", t.name),
            problems.is_empty(),
            if problems.is_empty() {
                "enabled, forced, standard policy".to_owned()
            } else {
                problems.join("; ")
            },
        ));
    }

    // 4b. The ways around the tables' policies: views, definer functions,
    //     memberships, foreign keys.
    let holes = crate::audit::holes(&conn, tenant).await?;
    checks.extend(hole_checks(&holes));

    // 5. For every organization: what a tenant transaction sees equals what
    //    an administrator sees for that organization.
    let (counted, back) = count_checks(conn, roles, &tables, &login).await?;
    checks.extend(counted);
    let conn = back;

    // 6-7. Without context nothing is visible and writes are rejected; with
    //      one organization's context, another's rows cannot be written.
    let orgs = organizations(&conn, &tables, &login).await?;
    let org_a = orgs.first().copied().unwrap_or_else(Uuid::new_v4);
    let org_b = orgs.get(1).copied().unwrap_or_else(Uuid::new_v4);
    checks.push(no_context_check(&conn, tenant, &tables, org_a).await?);
    checks.push(cross_org_check(&conn, tenant, &tables, org_a, org_b).await?);

    // 8. The context ends with the transaction, on the same connection.
    let (check, back) = context_ends_check(conn, roles, org_a).await?;
    checks.push(check);
    let conn = back;

    // 9. An injection-shaped organization id is rejected.
    checks.push(injection_check(&conn).await?);

    // 10. Strict tenant mode: no way for tenant SQL to re-scope itself.
    let (check, _conn) = strict_check(conn, roles, org_a, org_b).await?;
    checks.push(check);
    Ok(checks)
}

/// One check per kind of hole, each naming what it found.
fn hole_checks(holes: &crate::audit::Holes) -> Vec<Check> {
    let part = |name: &str, problems: Vec<String>, fine: &str| {
        let ok = problems.is_empty();
        Check::new(
            name,
            ok,
            if ok {
                fine.to_owned()
            } else {
                problems.join("; ")
            },
        )
    };
    vec![
        part(
            "views over tenant tables",
            holes.views.iter().map(|v| v.problem()).collect(),
            "none that the tenant role may read without security_invoker",
        ),
        part(
            "security definer functions",
            holes.definers.iter().map(|d| d.problem()).collect(),
            "every one the tenant role can reach is reviewed and unchanged",
        ),
        part(
            "tenant role memberships",
            holes
                .bypassing_memberships
                .iter()
                .map(|r| crate::audit::membership_problem(r))
                .collect(),
            "member of no role that bypasses row-level security",
        ),
        part(
            "foreign keys between tenant tables",
            holes.probing_keys.iter().map(|k| k.problem()).collect(),
            "every one includes organization_id",
        ),
    ]
}

/// Tries every re-scoping path as the tenant role. A path the guard lets
/// through the API is a failure (a bug); a server-side path left open is a
/// warning that names the risk, until strict tenant mode closes it.
async fn strict_check(
    conn: Object,
    roles: &SessionConfig,
    org: Uuid,
    other: Uuid,
) -> Result<(Check, Object), DbError> {
    let (tried, conn) = crate::strict::rescoping_paths(conn, roles, org, other).await?;
    let api_open: Vec<String> = tried
        .iter()
        .filter(|p| p.through_api && p.open)
        .map(|p| format!("{:?}: {}", p.path, p.detail))
        .collect();
    let raw_open: Vec<&str> = tried
        .iter()
        .filter(|p| !p.through_api && p.open)
        .map(|p| p.path.as_str())
        .collect();
    let api_count = tried.iter().filter(|p| p.through_api).count();
    let raw_count = tried.len() - api_count;
    let check = if !api_open.is_empty() {
        Check::new(
            "strict tenant mode",
            false,
            format!("the statement guard let through: {}", api_open.join("; ")),
        )
    } else if !raw_open.is_empty() {
        Check {
            name: "strict tenant mode".into(),
            status: CheckStatus::Warn,
            detail: format!(
                "off: SQL running as the tenant role (a handler that runs statements it did not write, or injected SQL) can re-scope its transaction to another organization through {}; turn it on with `orgjobs migrate --strict`",
                raw_open.join(", ")
            ),
        }
    } else {
        Check::new(
            "strict tenant mode",
            true,
            format!(
                "on: {api_count} statements refused by the guard, {raw_count} re-scoping paths refused by the server as the tenant role"
            ),
        )
    };
    Ok((check, conn))
}

async fn organizations(
    client: &Client,
    tables: &[TenantTable],
    login: &catalog::RoleAttrs,
) -> Result<Vec<Uuid>, DbError> {
    if tables.is_empty() || !(login.superuser || login.bypass_rls) {
        return Ok(Vec::new());
    }
    // Table names come from the catalog, quoted by PostgreSQL (regclass).
    let sql = tables
        .iter()
        .map(|t| format!("SELECT organization_id FROM {}", t.name))
        .collect::<Vec<_>>()
        .join(" UNION ");
    let rows = client
        .query(
            &format!("SELECT organization_id FROM ({sql}) o ORDER BY 1"),
            &[],
        )
        .await
        .map_err(|e| DbError::query("listing organizations", e))?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

async fn count_checks(
    mut conn: Object,
    roles: &SessionConfig,
    tables: &[TenantTable],
    login: &catalog::RoleAttrs,
) -> Result<(Vec<Check>, Object), DbError> {
    if !(login.superuser || login.bypass_rls) {
        let check = Check::new(
            "tenant view equals administrator view",
            false,
            format!(
                "cannot compare: the login {} does not bypass RLS, so it has no administrator view; run proof as a superuser or BYPASSRLS login",
                login.name
            ),
        );
        return Ok((vec![check], conn));
    }
    let orgs = organizations(&conn, tables, login).await?;
    if orgs.is_empty() {
        let check = Check {
            name: "tenant view equals administrator view".into(),
            status: CheckStatus::Warn,
            detail: "no organization has rows yet; nothing to compare".into(),
        };
        return Ok((vec![check], conn));
    }
    let mut out = Vec::new();
    for org in orgs {
        let mut admin = Vec::new();
        for t in tables {
            let row = conn
                .query_one(
                    &format!("SELECT count(*) FROM {} WHERE organization_id = $1", t.name),
                    &[&org],
                )
                .await
                .map_err(|e| DbError::query("counting rows as administrator", e))?;
            admin.push(row.get::<_, i64>(0));
        }
        let tx = TenantTx::begin(conn, org, roles).await?;
        let mut seen = Vec::new();
        let mut failure = None;
        for t in tables {
            match tx
                .query_one(&format!("SELECT count(*) FROM {}", t.name), &[])
                .await
            {
                Ok(row) => seen.push(row.get::<_, i64>(0)),
                Err(e) => {
                    failure = Some(format!("{}: {e}", t.name));
                    seen.push(-1);
                }
            }
        }
        conn = tx.rollback().await?;
        let parts: Vec<String> = tables
            .iter()
            .zip(admin.iter().zip(&seen))
            .map(|(t, (a, s))| format!("{} {s}/{a}", t.name))
            .collect();
        let ok = failure.is_none() && admin == seen;
        out.push(Check::new(
            format!("organization {org}: tenant view equals administrator view"),
            ok,
            match failure {
                Some(f) => format!("error: {f}"),
                None => format!("tenant/admin rows: {}", parts.join(", ")),
            },
        ));
    }
    Ok((out, conn))
}

async fn no_context_check(
    client: &Client,
    tenant: &str,
    tables: &[TenantTable],
    some_org: Uuid,
) -> Result<Check, DbError> {
    let mut problems = Vec::new();
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| DbError::query("beginning the no-context check", e))?;
    let result = async {
        client.query(SET_TENANT_CONTEXT, &[&tenant, &""]).await?;
        for t in tables {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {}", t.name), &[])
                .await?
                .get(0);
            if n != 0 {
                problems.push(format!("{} shows {n} rows", t.name));
            }
            if !t.org_column_generated {
                let insert = format!("INSERT INTO {} (organization_id) VALUES ($1)", t.name);
                if let Some(p) = expect_rejected(client, &insert, some_org, &t.name).await? {
                    problems.push(p);
                }
            }
            if let Some(col) = &t.writable_column {
                let n = client
                    .execute(&format!("UPDATE {} SET {col} = {col}", t.name), &[])
                    .await?;
                if n != 0 {
                    problems.push(format!("{}: an update reached {n} rows", t.name));
                }
            }
        }
        Ok::<_, tokio_postgres::Error>(())
    }
    .await;
    let _ = client.batch_execute("ROLLBACK").await;
    if let Err(e) = result {
        problems.push(format!("error: {}", PgErr(&e)));
    }
    Ok(Check::new(
        "no context: nothing visible, writes rejected",
        problems.is_empty(),
        if problems.is_empty() {
            format!(
                "{} tables: 0 rows visible, inserts rejected, updates reach nothing",
                tables.len()
            )
        } else {
            problems.join("; ")
        },
    ))
}

/// Runs `sql` (with `$1` = `org`) inside a savepoint and expects the server
/// to refuse it with 42501. Returns a problem description otherwise.
async fn expect_rejected(
    client: &Client,
    sql: &str,
    org: Uuid,
    table: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    client.batch_execute("SAVEPOINT orgjobs_proof").await?;
    let res = client.execute(sql, &[&org]).await;
    client
        .batch_execute("ROLLBACK TO SAVEPOINT orgjobs_proof")
        .await?;
    Ok(match res {
        Err(e) if e.code().map(|c| c.code()) == Some("42501") => None,
        Err(e) => Some(format!(
            "{table}: insert failed for another reason than RLS: {}",
            PgErr(&e)
        )),
        Ok(_) => Some(format!("{table}: an insert was accepted")),
    })
}

async fn cross_org_check(
    client: &Client,
    tenant: &str,
    tables: &[TenantTable],
    org_a: Uuid,
    org_b: Uuid,
) -> Result<Check, DbError> {
    let mut problems = Vec::new();
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| DbError::query("beginning the cross-organization check", e))?;
    let org_a_text = org_a.to_string();
    let result = async {
        client
            .query(SET_TENANT_CONTEXT, &[&tenant, &org_a_text])
            .await?;
        for t in tables {
            if !t.org_column_generated {
                let insert = format!("INSERT INTO {} (organization_id) VALUES ($1)", t.name);
                if let Some(p) = expect_rejected(client, &insert, org_b, &t.name).await? {
                    problems.push(p);
                }
            }
            let mut probes = vec![format!("DELETE FROM {} WHERE organization_id = $1", t.name)];
            if let Some(col) = &t.writable_column {
                probes.push(format!(
                    "UPDATE {} SET {col} = {col} WHERE organization_id = $1",
                    t.name
                ));
            }
            for sql in probes {
                client.batch_execute("SAVEPOINT orgjobs_proof").await?;
                let res = client.execute(&sql, &[&org_b]).await;
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT orgjobs_proof")
                    .await?;
                match res {
                    Ok(0) => {}
                    Ok(n) => problems.push(format!(
                        "{}: reached {n} rows of another organization",
                        t.name
                    )),
                    Err(e) if e.code().map(|c| c.code()) == Some("42501") => {}
                    Err(e) => problems.push(format!("{}: {}", t.name, PgErr(&e))),
                }
            }
        }
        Ok::<_, tokio_postgres::Error>(())
    }
    .await;
    let _ = client.batch_execute("ROLLBACK").await;
    if let Err(e) = result {
        problems.push(format!("error: {}", PgErr(&e)));
    }
    Ok(Check::new(
        "another organization's rows cannot be written",
        problems.is_empty(),
        if problems.is_empty() {
            format!("as {org_a}: inserts for {org_b} rejected, updates and deletes reach nothing")
        } else {
            problems.join("; ")
        },
    ))
}

async fn context_ends_check(
    conn: Object,
    roles: &SessionConfig,
    org: Uuid,
) -> Result<(Check, Object), DbError> {
    let mut problems = Vec::new();
    let mut conn = conn;
    for commit in [true, false] {
        let tx = TenantTx::begin(conn, org, roles).await?;
        let inside: (Option<String>, String) = match tx
            .query_one(
                "SELECT current_setting('app.current_org', true), current_user::text",
                &[],
            )
            .await
        {
            Ok(r) => (r.get(0), r.get(1)),
            Err(e) => (None, format!("error: {e}")),
        };
        if inside.0.as_deref() != Some(org.to_string().as_str()) || inside.1 != roles.tenant_role {
            problems.push(format!(
                "inside the transaction: context {:?} as {}",
                inside.0, inside.1
            ));
        }
        conn = if commit {
            tx.commit().await?
        } else {
            tx.rollback().await?
        };
        let row = conn
            .query_one(
                "SELECT coalesce(current_setting('app.current_org', true), ''), current_user::text, session_user::text",
                &[],
            )
            .await
            .map_err(|e| DbError::query("reading the context after the transaction", e))?;
        let (ctx, user, session): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let how = if commit { "commit" } else { "rollback" };
        if !ctx.is_empty() {
            problems.push(format!("after {how}: app.current_org is still {ctx}"));
        }
        if user != session {
            problems.push(format!("after {how}: still running as {user}"));
        }
    }
    Ok((
        Check::new(
            "context ends with the transaction",
            problems.is_empty(),
            if problems.is_empty() {
                "after commit and after rollback, on the same connection: no context, login role"
                    .to_owned()
            } else {
                problems.join("; ")
            },
        ),
        conn,
    ))
}

async fn injection_check(client: &Client) -> Result<Check, DbError> {
    let api_rejects = Uuid::parse_str(INJECTION_ORG).is_err();
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| DbError::query("beginning the injection check", e))?;
    let res = async {
        client
            .query(
                "SELECT pg_catalog.set_config('app.current_org', $1, true)",
                &[&INJECTION_ORG],
            )
            .await?;
        client.query("SELECT orgjobs.current_org()", &[]).await
    }
    .await;
    let _ = client.batch_execute("ROLLBACK").await;
    let server_rejects = matches!(&res, Err(e) if e.code().map(|c| c.code()) == Some("22P02"));
    Ok(Check::new(
        "injection-shaped organization id rejected",
        api_rejects && server_rejects,
        format!(
            "{INJECTION_ORG:?}: {} by the API (typed UUID), {} by orgjobs.current_org()",
            if api_rejects { "rejected" } else { "ACCEPTED" },
            if server_rejects {
                "rejected (22P02)"
            } else {
                "NOT rejected"
            },
        ),
    ))
}
