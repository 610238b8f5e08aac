//! How statements reach the server.
//!
//! Direct connections (and session pooling) prepare each statement once per
//! connection and cache it. Behind a transaction-pooling PgBouncer (1.18, as
//! Debian ships it) a named prepared statement would outlive its
//! transaction's server connection, so in [`StatementMode::Unnamed`] the
//! runtime sends its own statements unnamed, with explicit parameter types,
//! in a single flight, and a handler's statements are prepared inside their
//! transaction and closed before it ends.

use deadpool_postgres::Object;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Statement};

/// Statement caching policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatementMode {
    /// Prepare once per connection and cache (direct connections).
    #[default]
    Cached,
    /// No statement outlives its transaction (transaction-pooling PgBouncer).
    Unnamed,
}

/// A parameter with its PostgreSQL type.
pub(crate) type Typed<'a> = (&'a (dyn ToSql + Sync), Type);

/// Runs one of the runtime's own statements.
pub(crate) async fn query(
    conn: &Object,
    mode: StatementMode,
    sql: &str,
    params: &[Typed<'_>],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    match mode {
        StatementMode::Cached => {
            let stmt = prepare_typed(conn, sql, params).await?;
            conn.query(&stmt, &values(params)).await
        }
        StatementMode::Unnamed => conn.query_typed(sql, params).await,
    }
}

/// Prepares (cached) a statement with explicit types.
pub(crate) async fn prepare_typed(
    conn: &Object,
    sql: &str,
    params: &[Typed<'_>],
) -> Result<Statement, tokio_postgres::Error> {
    let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
    conn.prepare_typed_cached(sql, &types).await
}

/// The values of typed parameters.
pub(crate) fn values<'a>(params: &[Typed<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|(v, _)| *v).collect()
}
