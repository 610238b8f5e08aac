//! A Citus cluster: what `orgjobs migrate --citus` prepares and what the
//! proof checks there.
//!
//! On Citus the queue's own tables stay local tables of the coordinator, and
//! the application's tenant tables are distributed by organization and
//! co-located (the application's layout script does it; see
//! `CITUS_MIGRATIONS` of the helpdesk). Tenant transactions set their
//! context with a propagated `SET LOCAL` ([`crate::ContextMode::Propagated`]).
//!
//! Citus opens its connections to the worker nodes as the current user, so
//! inside a tenant transaction as the tenant role. That role is `NOLOGIN` on
//! the coordinator (nothing should log in as it there) but needs `LOGIN` on
//! the workers; [`allow_worker_logins`] grants it there alone, and each
//! worker's `pg_hba.conf` must admit it only from the coordinator.

use tokio_postgres::Client;

use crate::error::DbError;

/// Creates the `citus` extension in this database if it is missing. Fails
/// with the server's reason when Citus is not preloaded
/// (`shared_preload_libraries`).
pub async fn enable(client: &Client) -> Result<(), DbError> {
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS citus")
        .await
        .map_err(|e| DbError::query("creating the citus extension (is citus in shared_preload_libraries, and installed?)", e))
}

/// The worker nodes the coordinator knows as active, as `host:port`.
pub async fn worker_nodes(client: &Client) -> Result<Vec<String>, DbError> {
    let rows = client
        .query(
            "SELECT node_name || ':' || node_port FROM pg_catalog.citus_get_active_worker_nodes() ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| DbError::query("listing the Citus worker nodes", e))?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// Gives `roles` `LOGIN` on every worker node, and only there: the change is
/// not propagated back to the coordinator. Idempotent; run again after
/// adding a node (`citus_add_node` copies roles as the coordinator has
/// them, `NOLOGIN`).
pub async fn allow_worker_logins(client: &Client, roles: &[&str]) -> Result<(), DbError> {
    for role in roles {
        // $1 the role, quoted by format('%I').
        let rows = client
            .query(
                "SELECT nodename || ':' || nodeport, success, result
                 FROM pg_catalog.run_command_on_workers(
                     format('SET citus.enable_ddl_propagation TO off; ALTER ROLE %I LOGIN', $1::text))",
                &[role],
            )
            .await
            .map_err(|e| DbError::query("granting LOGIN on the worker nodes", e))?;
        let failed: Vec<String> = rows
            .iter()
            .filter(|r| !r.get::<_, bool>(1))
            .map(|r| format!("{}: {}", r.get::<_, String>(0), r.get::<_, String>(2)))
            .collect();
        if !failed.is_empty() {
            return Err(DbError::State {
                what: "granting LOGIN on the worker nodes",
                reason: format!("{role}: {}", failed.join("; ")),
            });
        }
    }
    Ok(())
}

/// The worker nodes on which `role` cannot log in (`host:port`).
pub async fn workers_refusing_login(client: &Client, role: &str) -> Result<Vec<String>, DbError> {
    // $1 the role's name, compared as a value on each worker.
    let rows = client
        .query(
            "SELECT nodename || ':' || nodeport, success, result
             FROM pg_catalog.run_command_on_workers(
                 format('SELECT coalesce((SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = %L), false)', $1::text))",
            &[&role],
        )
        .await
        .map_err(|e| DbError::query("reading role attributes on the worker nodes", e))?;
    Ok(rows
        .iter()
        .filter(|r| !(r.get::<_, bool>(1) && r.get::<_, String>(2) == "t"))
        .map(|r| r.get(0))
        .collect())
}

/// How one table is placed on the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The table (`regclass::text`).
    pub name: String,
    /// `h` hash-distributed, `n` a reference or Citus local table; `None`:
    /// a plain local table of the coordinator.
    pub method: Option<String>,
    /// The distribution column, for a distributed table.
    pub column: Option<String>,
    /// Its co-location group.
    pub colocation: Option<i32>,
}

/// The placement of each table of `tables` (`regclass::text` names).
pub async fn placements(client: &Client, tables: &[String]) -> Result<Vec<Placement>, DbError> {
    // $1 the tables' names, resolved by regclass.
    let rows = client
        .query(
            "SELECT t.name, p.partmethod::text,
                    CASE WHEN p.partmethod = 'h'
                         THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END,
                    p.colocationid
             FROM unnest($1::text[]) WITH ORDINALITY AS t (name, ord)
             LEFT JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = t.name::regclass
             ORDER BY t.ord",
            &[&tables],
        )
        .await
        .map_err(|e| DbError::query("reading the Citus placement of the tenant tables", e))?;
    Ok(rows
        .into_iter()
        .map(|r| Placement {
            name: r.get(0),
            method: r.get(1),
            column: r.get(2),
            colocation: r.get(3),
        })
        .collect())
}
