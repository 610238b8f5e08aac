//! Forward-only schema migrations and the cluster-wide roles.
//!
//! Migrations are an ordered list of named SQL scripts contributed by each
//! layer (the queue's own first, then the application's). [`apply_pending`]
//! runs inside the caller's transaction, serialized per database by a
//! transaction-level advisory lock, and records each script with its checksum
//! in `orgjobs.schema_migrations`, so it is idempotent and safe to run from
//! several processes at once. Both `orgjobs migrate` and the `MIGRATION` job
//! use it.
//!
//! Invariant: a migration that has landed is never edited; a changed checksum
//! is an error, not a silent re-run.

use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::error::DbError;

/// One forward-only migration script.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Unique, stable name, e.g. `orgjobs/0001_queue`; applied in list order.
    pub name: &'static str,
    /// The SQL script (several statements allowed).
    pub sql: &'static str,
}

/// The queue's own migrations; always applied before any application's.
pub const QUEUE_MIGRATIONS: &[Migration] = &[
    Migration {
        name: "orgjobs/0001_queue",
        sql: include_str!("../migrations/0001_queue.sql"),
    },
    Migration {
        name: "orgjobs/0002_fair_claim",
        sql: include_str!("../migrations/0002_fair_claim.sql"),
    },
    Migration {
        name: "orgjobs/0003_fencing_reviewed_functions",
        sql: include_str!("../migrations/0003_fencing_reviewed_functions.sql"),
    },
    Migration {
        name: "orgjobs/0004_completion_by_primary_key",
        sql: include_str!("../migrations/0004_completion_by_primary_key.sql"),
    },
    Migration {
        name: "orgjobs/0005_one_running_index",
        sql: include_str!("../migrations/0005_one_running_index.sql"),
    },
    Migration {
        name: "orgjobs/0006_rate_limits",
        sql: include_str!("../migrations/0006_rate_limits.sql"),
    },
    Migration {
        name: "orgjobs/0007_api",
        sql: include_str!("../migrations/0007_api.sql"),
    },
    Migration {
        name: "orgjobs/0008_pauses",
        sql: include_str!("../migrations/0008_pauses.sql"),
    },
    Migration {
        name: "orgjobs/0009_dashboard",
        sql: include_str!("../migrations/0009_dashboard.sql"),
    },
];

/// The queue's migrations on a Citus coordinator, applied after every
/// regular one by `orgjobs migrate --citus` (and by every later `orgjobs
/// migrate` there).
pub const QUEUE_CITUS_MIGRATIONS: &[Migration] = &[Migration {
    name: "orgjobs/citus/0001_atomic_commit",
    sql: include_str!("../migrations/citus/0001_atomic_commit.sql"),
}];

const ROLES_SQL: &str = include_str!("../sql/roles.sql");

/// Key of the advisory lock that serializes migrations within one database.
const MIGRATION_LOCK_KEY: i64 = 0x6f72_676a_6f62_7301;

const BOOTSTRAP_SQL: &str = "
    CREATE SCHEMA IF NOT EXISTS orgjobs;
    CREATE TABLE IF NOT EXISTS orgjobs.schema_migrations (
        name       text PRIMARY KEY,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    );";

/// Errors from applying migrations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// A statement failed.
    #[error("migration {name} failed: {cause}")]
    Failed {
        /// The migration's name.
        name: String,
        /// The database error.
        cause: DbError,
    },
    /// A migration that was applied earlier has since been edited.
    #[error(
        "migration {name} was applied with a different checksum; landed migrations must never be edited (add a new one instead)"
    )]
    ChecksumMismatch {
        /// The migration's name.
        name: String,
    },
    /// Any other database error.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Creates the cluster-wide roles (`orgjobs_tenant`, `orgjobs_global`,
/// `orgjobs_worker`) if they do not exist. Runs in its own transaction and
/// retries when another database of the same server creates them at the same
/// moment. Needs a login with CREATEROLE.
pub async fn ensure_roles(client: &Client) -> Result<(), DbError> {
    let mut attempt = 0u32;
    loop {
        match client.batch_execute(ROLES_SQL).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 20 && is_role_race(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
            }
            Err(e) => return Err(DbError::query("creating the orgjobs roles", e)),
        }
    }
}

fn is_role_race(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::DUPLICATE_OBJECT
            || *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::INTERNAL_ERROR // "tuple concurrently updated"
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Applies every migration of `migrations` that this database has not seen,
/// in order, inside the transaction the caller has open on `client`. Returns
/// the names applied. The caller commits.
pub async fn apply_pending(
    client: &Client,
    migrations: &[Migration],
) -> Result<Vec<&'static str>, MigrateError> {
    client
        .query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .map_err(|e| DbError::query("taking the migration lock", e))?;
    client
        .batch_execute(BOOTSTRAP_SQL)
        .await
        .map_err(|e| DbError::query("creating orgjobs.schema_migrations", e))?;
    let mut applied = Vec::new();
    for m in migrations {
        // $1: migration name, $2: its SQL (hashed by the server).
        let row = client
            .query_opt(
                "SELECT checksum = md5($2) FROM orgjobs.schema_migrations WHERE name = $1",
                &[&m.name, &m.sql],
            )
            .await
            .map_err(|e| DbError::query("reading orgjobs.schema_migrations", e))?;
        match row {
            Some(r) if r.get::<_, bool>(0) => continue,
            Some(_) => {
                return Err(MigrateError::ChecksumMismatch {
                    name: m.name.to_owned(),
                });
            }
            None => {}
        }
        client
            .batch_execute(m.sql)
            .await
            .map_err(|e| MigrateError::Failed {
                name: m.name.to_owned(),
                cause: DbError::query("applying the script", e),
            })?;
        client
            .execute(
                "INSERT INTO orgjobs.schema_migrations (name, checksum) VALUES ($1, md5($2))",
                &[&m.name, &m.sql],
            )
            .await
            .map_err(|e| DbError::query("recording the migration", e))?;
        applied.push(m.name);
    }
    Ok(applied)
}

/// Creates the roles, then applies pending migrations in one transaction.
/// This is what `orgjobs migrate` runs.
pub async fn migrate(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<Vec<&'static str>, MigrateError> {
    ensure_roles(client).await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| DbError::query("beginning the migration transaction", e))?;
    let applied = apply_pending(tx.client(), migrations).await?;
    tx.commit()
        .await
        .map_err(|e| DbError::query("committing migrations", e))?;
    Ok(applied)
}
