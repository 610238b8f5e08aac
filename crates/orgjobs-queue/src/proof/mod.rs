//! The isolation proof: the seed's Verification section as checks run
//! against a live database. Every write it attempts happens inside a
//! transaction that it rolls back, so it changes nothing.

mod context;
mod holes;
mod org_jobs;
mod views;
mod writes;

use deadpool_postgres::Pool;
use serde::Serialize;
use uuid::Uuid;

use crate::catalog;
use crate::error::DbError;
use crate::session::SessionConfig;
use context::{context_ends_check, injection_check};
use holes::{hole_checks, strict_check};
use org_jobs::org_jobs_check;
use views::{count_checks, organizations};
use writes::{cross_org_check, no_context_check};

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
    /// A pass that says `fine` when `problems` is empty, else a failure
    /// that lists them.
    fn from_problems(
        name: impl Into<String>,
        problems: Vec<String>,
        fine: impl Into<String>,
    ) -> Self {
        let ok = problems.is_empty();
        let detail = if ok { fine.into() } else { problems.join("; ") };
        Check::new(name, ok, detail)
    }

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

    // 3. The tenant role has no privilege on any table of the queue's
    //    schema: jobs, rate limits, pauses, API tokens hold every
    //    organization's rows without row-level security (the tenant reaches
    //    its own jobs only through the reviewed org_* functions).
    let row = conn
        .query_one(
            "SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
             FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'orgjobs' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND pg_catalog.has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')",
            &[&tenant],
        )
        .await
        .map_err(|e| DbError::query("checking queue privileges", e))?;
    let open: Vec<String> = row.get(0);
    checks.push(Check::new(
        "queue closed to tenants",
        open.is_empty(),
        if open.is_empty() {
            format!("{tenant} has no privilege on any table of the orgjobs schema")
        } else {
            format!(
                "{tenant} has privileges on orgjobs.{}",
                open.join(", orgjobs.")
            )
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
        checks.push(Check::from_problems(
            format!("rls {}", t.name),
            problems,
            "enabled, forced, standard policy",
        ));
    }

    // 4a. On Citus: the context is propagated, the tenant tables are
    //     distributed by organization and co-located, and the roles of
    //     tenant and global work can log in on the worker nodes.
    if crate::session::ContextMode::detect(&conn).await? == crate::session::ContextMode::Propagated
    {
        checks.extend(citus_checks(&conn, roles, &tables).await?);
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
    checks.push(no_context_check(&conn, roles, &tables, org_a).await?);
    checks.push(cross_org_check(&conn, roles, &tables, org_a, org_b).await?);

    // 8. The context ends with the transaction, on the same connection.
    let (check, back) = context_ends_check(conn, roles, org_a).await?;
    checks.push(check);
    let conn = back;

    // 8b. The organization-jobs functions (the API's path to its jobs).
    let (check, back) = org_jobs_check(conn, roles, org_a, org_b).await?;
    checks.push(check);
    let conn = back;

    // 9. An injection-shaped organization id is rejected.
    checks.push(injection_check(&conn).await?);

    // 10. Strict tenant mode: no way for tenant SQL to re-scope itself.
    let (check, _conn) = strict_check(conn, roles, org_a, org_b).await?;
    checks.push(check);
    Ok(checks)
}

/// The proof's checks on a Citus coordinator.
async fn citus_checks(
    conn: &tokio_postgres::Client,
    roles: &SessionConfig,
    tables: &[catalog::TenantTable],
) -> Result<Vec<Check>, DbError> {
    let mut checks = Vec::new();
    let propagated = roles.context == crate::session::ContextMode::Propagated;
    checks.push(Check::new(
        "citus context",
        propagated,
        if propagated {
            "SET LOCAL app.current_org, propagated to the worker nodes (citus.propagate_set_commands = local)"
        } else {
            "this is a Citus coordinator but the proof's transactions set the context with set_config, which the worker nodes never see"
        },
    ));
    let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    let placements = crate::citus::placements(conn, &names).await?;
    let mut problems = Vec::new();
    let mut groups: Vec<i32> = Vec::new();
    for (t, p) in tables.iter().zip(&placements) {
        match (p.method.as_deref(), &p.column, p.colocation) {
            (Some("h"), Some(col), Some(group)) => {
                // A generated organization_id cannot be the distribution
                // column; its source (organizations.id) is.
                if col != "organization_id" && !t.org_column_generated {
                    problems.push(format!(
                        "{} is distributed by {col}, not organization_id",
                        t.name
                    ));
                }
                if !groups.contains(&group) {
                    groups.push(group);
                }
            }
            _ => problems.push(format!("{} is not distributed by organization", t.name)),
        }
    }
    if groups.len() > 1 {
        problems.push(format!(
            "the tenant tables are in {} co-location groups, not one: an organization's rows would be on several nodes",
            groups.len()
        ));
    }
    checks.push(Check::from_problems(
        "citus placement",
        problems,
        format!(
            "{} tenant tables distributed by organization, co-located",
            tables.len()
        ),
    ));
    let workers = crate::citus::worker_nodes(conn).await?;
    let mut problems = Vec::new();
    for role in [&roles.tenant_role, &roles.global_role] {
        for node in crate::citus::workers_refusing_login(conn, role).await? {
            problems.push(format!(
                "{role} cannot log in on {node}: Citus connects to the workers as the transaction's role (`orgjobs migrate --citus` allows it)"
            ));
        }
    }
    checks.push(Check::from_problems(
        "citus worker logins",
        problems,
        format!(
            "{} and {} can log in on {} worker nodes (admit them there only from the coordinator)",
            roles.tenant_role,
            roles.global_role,
            workers.len()
        ),
    ));
    Ok(checks)
}
