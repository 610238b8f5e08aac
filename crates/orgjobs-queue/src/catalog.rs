//! What the database says about tenancy: the tenant role's attributes, the
//! login's, and every tenant table with its row-level security state.
//!
//! A tenant table is any ordinary or partitioned table outside the system
//! schemas and `orgjobs` that has an `organization_id` column: the view
//! `orgjobs.tenant_tables` (migration 0003) says so once, for this module
//! and the audits. Discovery is by catalog, so a new table is checked
//! without anyone registering it.
//! The worker refuses to start, and `orgjobs proof` fails, on any problem
//! found here or by [`crate::audit`] (the ways around a table's policy).

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::error::DbError;

/// The policy expression every tenant table must have, as PostgreSQL prints
/// it back (`pg_get_expr`).
pub const STANDARD_POLICY_EXPR: &str = "(organization_id = orgjobs.current_org())";

/// Attributes of a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleAttrs {
    /// Role name.
    pub name: String,
    /// `rolsuper`.
    pub superuser: bool,
    /// `rolbypassrls`.
    pub bypass_rls: bool,
    /// `rolcanlogin`.
    pub can_login: bool,
}

/// One tenant table and what its row-level security looks like.
#[derive(Clone, Debug)]
pub struct TenantTable {
    /// Schema-qualified, quoted as PostgreSQL quotes it (`regclass::text`).
    pub name: String,
    /// The bare table name (`relname`), as server messages spell it.
    pub relname: String,
    /// `relrowsecurity`.
    pub rls_enabled: bool,
    /// `relforcerowsecurity`.
    pub rls_forced: bool,
    /// `organization_id` is a generated column (cannot be written directly).
    pub org_column_generated: bool,
    /// `organization_id` is NOT NULL.
    pub org_column_not_null: bool,
    /// A column that can be assigned to itself (quoted), for no-op update
    /// probes; `None` when the table has none.
    pub writable_column: Option<String>,
    /// A permissive policy for all commands with the standard expression in
    /// USING and WITH CHECK, applying to the tenant role.
    pub has_standard_policy: bool,
    /// Permissive policies that apply to the tenant role with any other
    /// expression (they would widen what a tenant sees).
    pub widening_policies: Vec<String>,
    /// The table's owner.
    pub owner: String,
    /// The tenant role is the owner or a member of it: it could
    /// `ALTER TABLE ... DISABLE ROW LEVEL SECURITY` (or drop the policy).
    pub owned_by_tenant: bool,
    /// Privileges of the tenant role that reach past row-level security
    /// (`TRUNCATE` ignores it; `TRIGGER` and `REFERENCES` let it attach code
    /// or key checks that do).
    pub bypassing_privileges: Vec<String>,
}

impl TenantTable {
    /// What is wrong with this table, if anything, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.rls_enabled {
            out.push(format!("{}: row-level security is not enabled", self.name));
        }
        if !self.rls_forced {
            out.push(format!(
                "{}: row-level security is not forced (the owner would bypass it)",
                self.name
            ));
        }
        if !self.org_column_not_null {
            out.push(format!("{}: organization_id allows NULL", self.name));
        }
        if !self.has_standard_policy {
            out.push(format!(
                "{}: no policy FOR ALL with USING and WITH CHECK {STANDARD_POLICY_EXPR}",
                self.name
            ));
        }
        for p in &self.widening_policies {
            out.push(format!(
                "{}: policy {p} applies to the tenant role with a non-standard expression",
                self.name
            ));
        }
        if self.owned_by_tenant {
            out.push(format!(
                "{}: owned by {}, which the tenant role is or is a member of: tenant SQL could disable its row-level security",
                self.name, self.owner
            ));
        }
        if !self.bypassing_privileges.is_empty() {
            out.push(format!(
                "{}: the tenant role holds {}, which reach past row-level security",
                self.name,
                self.bypassing_privileges.join(", ")
            ));
        }
        out
    }
}

/// Reads a role's attributes; `None` when it does not exist.
pub async fn role_attrs(client: &Client, role: &str) -> Result<Option<RoleAttrs>, DbError> {
    // $1: role name.
    let row = client
        .query_typed(
            "SELECT rolname::text, rolsuper, rolbypassrls, rolcanlogin
             FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[(&role, Type::TEXT)],
        )
        .await
        .map(|rows| rows.into_iter().next())
        .map_err(|e| DbError::query("reading role attributes", e))?;
    Ok(row.map(|r| RoleAttrs {
        name: r.get(0),
        superuser: r.get(1),
        bypass_rls: r.get(2),
        can_login: r.get(3),
    }))
}

/// The attributes of the role this connection logged in as.
pub async fn login_attrs(client: &Client) -> Result<RoleAttrs, DbError> {
    let row = client
        .query_typed(
            "SELECT rolname::text, rolsuper, rolbypassrls, rolcanlogin
             FROM pg_catalog.pg_roles WHERE rolname = session_user",
            &[],
        )
        .await
        .map_err(|e| DbError::query("reading the login role", e))?
        .into_iter()
        .next()
        .ok_or(DbError::State {
            what: "reading the login role",
            reason: "the login role is not in pg_roles".to_owned(),
        })?;
    Ok(RoleAttrs {
        name: row.get(0),
        superuser: row.get(1),
        bypass_rls: row.get(2),
        can_login: row.get(3),
    })
}

/// Every tenant table of the database, sorted by name.
pub async fn tenant_tables(
    client: &Client,
    tenant_role: &str,
) -> Result<Vec<TenantTable>, DbError> {
    // $1: the tenant role. A policy applies to it when its role list holds
    // PUBLIC (oid 0) or a role the tenant role is a member of.
    let rows = client
        .query_typed(
            "SELECT c.oid::regclass::text,
                    c.relrowsecurity,
                    c.relforcerowsecurity,
                    a.attgenerated <> '',
                    a.attnotnull,
                    coalesce(array_agg(p.polname::text ORDER BY p.polname)
                        FILTER (WHERE p.polname IS NOT NULL AND p.polpermissive
                                AND p.applies
                                AND NOT (p.polcmd = '*' AND p.qual = $2
                                         AND coalesce(p.wcheck, p.qual) = $2)), '{}'),
                    coalesce(bool_or(p.polpermissive AND p.applies AND p.polcmd = '*'
                                     AND p.qual = $2 AND coalesce(p.wcheck, p.qual) = $2), false),
                    (SELECT pg_catalog.quote_ident(w.attname)
                     FROM pg_catalog.pg_attribute w
                     WHERE w.attrelid = c.oid AND w.attnum > 0 AND NOT w.attisdropped
                       AND w.attgenerated = '' AND w.attidentity <> 'a'
                     ORDER BY w.attnum LIMIT 1),
                    c.relname::text,
                    pg_catalog.pg_get_userbyid(c.relowner)::text,
                    pg_catalog.pg_has_role($1, c.relowner, 'MEMBER'),
                    array_remove(ARRAY[
                        CASE WHEN pg_catalog.has_table_privilege($1, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
                        CASE WHEN pg_catalog.has_table_privilege($1, c.oid, 'TRIGGER') THEN 'TRIGGER' END,
                        CASE WHEN pg_catalog.has_table_privilege($1, c.oid, 'REFERENCES') THEN 'REFERENCES' END
                    ], NULL)
             FROM orgjobs.tenant_tables tt
             JOIN pg_catalog.pg_class c ON c.oid = tt.relid
             JOIN pg_catalog.pg_attribute a
               ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
             LEFT JOIN LATERAL (
                 SELECT pol.polname, pol.polpermissive, pol.polcmd,
                        pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) AS qual,
                        pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) AS wcheck,
                        (0::oid = ANY (pol.polroles)
                         OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                                    WHERE r.oid = ANY (pol.polroles)
                                      AND pg_catalog.pg_has_role($1, r.oid, 'MEMBER'))) AS applies
                 FROM pg_catalog.pg_policy pol
                 WHERE pol.polrelid = c.oid
             ) p ON true
             GROUP BY c.oid, c.relrowsecurity, c.relforcerowsecurity, a.attgenerated, a.attnotnull,
                      c.relname, c.relowner
             ORDER BY 1",
            &[
                (&tenant_role, Type::TEXT),
                (&STANDARD_POLICY_EXPR, Type::TEXT),
            ],
        )
        .await
        .map_err(|e| DbError::query("reading tenant tables from the catalog", e))?;
    Ok(rows
        .into_iter()
        .map(|r| TenantTable {
            name: r.get(0),
            rls_enabled: r.get(1),
            rls_forced: r.get(2),
            org_column_generated: r.get(3),
            org_column_not_null: r.get(4),
            widening_policies: r.get(5),
            has_standard_policy: r.get(6),
            writable_column: r.get(7),
            relname: r.get(8),
            owner: r.get(9),
            owned_by_tenant: r.get(10),
            bypassing_privileges: r.get(11),
        })
        .collect())
}

/// Everything that would let tenant work see or change another
/// organization's rows: a missing or privileged tenant role, and every
/// table problem. Empty when all is well.
pub async fn tenancy_problems(client: &Client, tenant_role: &str) -> Result<Vec<String>, DbError> {
    let mut problems = Vec::new();
    match role_attrs(client, tenant_role).await? {
        None => {
            problems.push(format!(
                "tenant role {tenant_role} does not exist (run `orgjobs migrate`)"
            ));
            return Ok(problems);
        }
        Some(r) => {
            if r.superuser {
                problems.push(format!(
                    "tenant role {tenant_role} is a superuser and bypasses RLS"
                ));
            }
            if r.bypass_rls {
                problems.push(format!("tenant role {tenant_role} has BYPASSRLS"));
            }
        }
    }
    let tables = tenant_tables(client, tenant_role).await?;
    for t in &tables {
        problems.extend(t.problems());
    }
    problems.extend(crate::audit::holes(client, tenant_role).await?.problems());
    Ok(problems)
}
