//! Strict tenant mode: closing the paths by which SQL running as the tenant
//! role could re-scope its own transaction to another organization.
//!
//! Row-level security filters by `app.current_org`, a setting. Without
//! strict mode, SQL running as the tenant role can change it with
//! `set_config('app.current_org', …, true)`, switch back to its login with
//! `set_config('role', …, true)`, or reach a `SET` through a `DO` block or a
//! temporary SQL function. Strict mode (`orgjobs migrate --strict`, undone
//! by `--no-strict`) revokes, in one database:
//! - `EXECUTE` on `pg_catalog.set_config(text, text, boolean)` from
//!   `PUBLIC` (granted back to `orgjobs_worker`, which sets the context as
//!   the first statement of a transaction, before it switches role);
//! - `USAGE` on every trusted procedural language from `PUBLIC` (`DO`);
//! - `TEMPORARY` on the database from `PUBLIC`, and `CREATE` on every schema
//!   the tenant role could create in.
//!
//! `SET`, `RESET` and the other session statements stay possible in
//! PostgreSQL; the statement guard of [`crate::ScopedTx`] refuses them
//! before they are sent, and each statement reaches the server whole, one
//! per extended-protocol query. [`rescoping_paths`] tries every path as the
//! tenant role; `orgjobs proof` reports it.
//!
//! What it costs: any other role of the same database that calls
//! `set_config`, runs `DO` blocks or creates temporary tables needs an
//! explicit grant (`GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text,
//! text, boolean) TO app;`, `GRANT USAGE ON LANGUAGE plpgsql TO app;`,
//! `GRANT TEMPORARY ON DATABASE db TO app;`) — for example `pg_dump` run as
//! a non-superuser calls `set_config`. Superusers are unaffected. The
//! database-level `TEMPORARY` revocation is not copied by `CREATE DATABASE
//! … TEMPLATE`: run `orgjobs migrate --strict` on the copy.

use deadpool_postgres::Object;
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::error::DbError;
use crate::session::{SessionConfig, TenantTx, TxError, set_tenant_context};

const STRICT_ON_SQL: &str = include_str!("../sql/strict/on.sql");
const STRICT_OFF_SQL: &str = include_str!("../sql/strict/off.sql");
const STRICT_STATUS_SQL: &str = include_str!("../sql/strict/status.sql");

/// Turns strict tenant mode on (or off) in the database `client` is
/// connected to. Idempotent; needs a superuser.
pub async fn set_strict(client: &Client, on: bool) -> Result<(), DbError> {
    let (sql, what) = if on {
        (STRICT_ON_SQL, "turning strict tenant mode on")
    } else {
        (STRICT_OFF_SQL, "turning strict tenant mode off")
    };
    client
        .batch_execute(sql)
        .await
        .map_err(|e| DbError::query(what, e))
}

/// What the tenant role can still use to re-scope a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrictStatus {
    /// It may execute `set_config`.
    pub set_config: bool,
    /// Trusted procedural languages it may use (`DO`).
    pub languages: Vec<String>,
    /// It may create temporary objects.
    pub temporary: bool,
    /// Schemas it may create objects in.
    pub create_schemas: Vec<String>,
}

impl StrictStatus {
    /// Every path closed.
    pub fn is_strict(&self) -> bool {
        self.open_paths().is_empty()
    }

    /// The open paths, in words.
    pub fn open_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.set_config {
            out.push("set_config()".to_owned());
        }
        for l in &self.languages {
            out.push(format!("DO blocks (language {l})"));
        }
        if self.temporary {
            out.push("temporary functions (TEMPORARY on the database)".to_owned());
        }
        for s in &self.create_schemas {
            out.push(format!("functions created in schema {s}"));
        }
        out
    }
}

/// Reads the tenant role's re-scoping privileges from the catalog.
pub async fn strict_status(client: &Client, tenant_role: &str) -> Result<StrictStatus, DbError> {
    // $1: the tenant role.
    let row = client
        .query_typed(STRICT_STATUS_SQL, &[(&tenant_role, Type::TEXT)])
        .await
        .map_err(|e| DbError::query("reading strict tenant mode", e))?
        .into_iter()
        .next()
        .ok_or(DbError::State {
            what: "reading strict tenant mode",
            reason: "the status query returned no row".to_owned(),
        })?;
    Ok(StrictStatus {
        set_config: row.get(0),
        languages: row.get(1),
        temporary: row.get(2),
        create_schemas: row.get(3),
    })
}

/// One way a tenant transaction might re-scope itself, and whether it
/// worked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTried {
    /// What was tried.
    pub path: String,
    /// Through the tenant transaction's API (the guard's job) or as raw SQL
    /// run as the tenant role (the server's job).
    pub through_api: bool,
    /// It succeeded: the path is open.
    pub open: bool,
    /// What happened.
    pub detail: String,
}

/// Statements a handler could send through the API to leave its context;
/// the guard must refuse each. `{other}` is replaced by another
/// organization's id (a typed UUID).
const API_PATHS: &[&str] = &[
    "SET LOCAL app.current_org = '{other}'",
    "SET app.current_org = '{other}'",
    "SET LOCAL ROLE NONE",
    "RESET ROLE",
    "reset role",
    "/* a /* nested */ comment */ RESET ROLE",
    "; RESET ROLE",
    "(RESET ROLE)",
    "SELECT pg_catalog.set_config('app.current_org', '{other}', false)",
    "SELECT set_config('role', 'none', true)",
    "UPDATE pg_catalog.pg_settings SET setting = '{other}' WHERE name = 'app.current_org'",
    "DO $$ BEGIN SET LOCAL app.current_org = '{other}'; END $$",
    "EXECUTE s0",
    "DISCARD ALL",
];

/// Statements run as the tenant role on the raw connection, as if one had
/// got past the guard; strict mode makes the server refuse each.
const RAW_PATHS: &[(&str, &str)] = &[
    (
        "set_config('app.current_org', other, true)",
        "SELECT pg_catalog.set_config('app.current_org', '{other}', true)",
    ),
    (
        "set_config('role', login, true)",
        "SELECT pg_catalog.set_config('role', session_user, true)",
    ),
    (
        "set_config(…, false) (session level)",
        "SELECT pg_catalog.set_config('app.current_org', '{other}', false)",
    ),
    (
        "UPDATE pg_settings",
        "UPDATE pg_catalog.pg_settings SET setting = '{other}' WHERE name = 'search_path'",
    ),
    (
        "DO block",
        "DO $$ BEGIN EXECUTE 'SET LOCAL app.current_org = ''{other}'''; END $$",
    ),
    (
        "temporary SQL function running SET LOCAL",
        "CREATE FUNCTION pg_temp.orgjobs_proof_rescope() RETURNS void LANGUAGE sql AS $$ SET LOCAL app.current_org = '{other}' $$",
    ),
];

/// Tries every re-scoping path as the tenant role, inside transactions for
/// `org` that are rolled back: first through the API of a [`TenantTx`],
/// then as raw SQL after the role switch. Returns what happened and the
/// connection.
pub async fn rescoping_paths(
    conn: Object,
    roles: &SessionConfig,
    org: Uuid,
    other: Uuid,
) -> Result<(Vec<PathTried>, Object), DbError> {
    let mut tried = Vec::new();
    // Through the API: refused before anything is sent, so the transaction
    // stays usable and its context can be checked after each.
    let tx = TenantTx::begin(conn, org, roles).await?;
    for template in API_PATHS {
        let sql = template.replace("{other}", &other.to_string());
        let (open, detail) = match tx.execute(&sql, &[]).await {
            Err(TxError::Refused(word)) => (false, format!("refused by the guard ({word})")),
            Err(e) => (true, format!("reached the server: {e}")),
            Ok(_) => (true, "ran".to_owned()),
        };
        tried.push(PathTried {
            path: sql,
            through_api: true,
            open,
            detail,
        });
    }
    let still = tx
        .query_one("SELECT orgjobs.current_org(), current_user::text", &[])
        .await;
    let context_kept = matches!(&still, Ok(r) if r.get::<_, Option<Uuid>>(0) == Some(org)
        && r.get::<_, String>(1) == roles.tenant_role);
    // Two statements in one query: the extended protocol refuses (42601).
    let multi = tx.execute("SELECT 1; RESET ROLE", &[]).await;
    tried.push(PathTried {
        path: "SELECT 1; RESET ROLE".to_owned(),
        through_api: true,
        open: !matches!(&multi, Err(e) if e.code() == Some("42601")),
        detail: match &multi {
            Err(e) => e.to_string(),
            Ok(_) => "ran".to_owned(),
        },
    });
    if !context_kept {
        tried.push(PathTried {
            path: "context after the refused statements".to_owned(),
            through_api: true,
            open: true,
            detail: format!("changed: {still:?}"),
        });
    }
    let conn = tx.rollback().await?;

    // As raw SQL in the tenant role: the server's own refusal.
    let q = |e| DbError::query("trying re-scoping paths", e);
    conn.batch_execute("BEGIN").await.map_err(q)?;
    let begin = set_tenant_context(&conn, roles, Some(org)).await;
    if let Err(e) = begin {
        let _ = conn.batch_execute("ROLLBACK").await;
        return Err(q(e));
    }
    for (name, template) in RAW_PATHS {
        let sql = template.replace("{other}", &other.to_string());
        let res = async {
            conn.batch_execute("SAVEPOINT orgjobs_proof").await?;
            let res = conn.batch_execute(&sql).await;
            conn.batch_execute("ROLLBACK TO SAVEPOINT orgjobs_proof")
                .await?;
            Ok::<_, tokio_postgres::Error>(res)
        }
        .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK").await;
                return Err(q(e));
            }
        };
        let (open, detail) = match res {
            Ok(()) => (true, "ran".to_owned()),
            Err(e) if e.code().map(|c| c.code()) == Some("42501") => {
                (false, format!("refused: {}", crate::error::PgErr(&e)))
            }
            Err(e) => (
                true,
                format!(
                    "failed for another reason than a privilege: {}",
                    crate::error::PgErr(&e)
                ),
            ),
        };
        tried.push(PathTried {
            path: (*name).to_owned(),
            through_api: false,
            open,
            detail,
        });
    }
    conn.batch_execute("ROLLBACK").await.map_err(q)?;
    Ok((tried, conn))
}
