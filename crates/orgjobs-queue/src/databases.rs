//! Whole databases on a server: created (optionally from a template),
//! dropped, created when missing. One implementation for test databases,
//! the benchmark's and fault run's scratch databases, and the demo's.
//! Names are quoted by the server (`format('%I')`), never spliced by hand.

use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::db::DbUrl;
use crate::error::DbError;

/// `CREATE DATABASE name [TEMPLATE template]`, on the server `client` is
/// connected to. While another session is still connected to the template
/// (SQLSTATE 55006, which only lasts a moment), it retries for two seconds.
pub async fn create_database(
    client: &Client,
    name: &str,
    template: Option<&str>,
) -> Result<(), DbError> {
    // $1 the new name, $2 the template's (NULL: none).
    let sql = quoted(
        client,
        "SELECT format('CREATE DATABASE %I', $1::text)
                || CASE WHEN $2::text IS NULL THEN '' ELSE format(' TEMPLATE %I', $2::text) END",
        &[(&name, Type::TEXT), (&template, Type::TEXT)],
    )
    .await?;
    for attempt in 0.. {
        match client.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 100 && e.code().map(|c| c.code()) == Some("55006") => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(DbError::query("creating a database", e)),
        }
    }
    Ok(())
}

/// `DROP DATABASE IF EXISTS name WITH (FORCE)` (its connections are closed).
pub async fn drop_database(client: &Client, name: &str) -> Result<(), DbError> {
    // $1: the name.
    let sql = quoted(
        client,
        "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)",
        &[(&name, Type::TEXT)],
    )
    .await?;
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| DbError::query("dropping a database", e))
}

async fn quoted(
    client: &Client,
    format: &str,
    params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)],
) -> Result<String, DbError> {
    client
        .query_typed(format, params)
        .await
        .map_err(|e| DbError::query("quoting a database name", e))?
        .first()
        .map(|r| r.get(0))
        .ok_or(DbError::State {
            what: "quoting a database name",
            reason: "no row".to_owned(),
        })
}

impl DbUrl {
    /// The name of the database this URL names, or an error saying it names
    /// none.
    fn required_dbname(&self) -> Result<&str, DbError> {
        self.dbname().ok_or_else(|| DbError::InvalidUrl {
            url: self.redacted().to_owned(),
            reason: "it names no database".to_owned(),
        })
    }

    /// Drops the database this URL names (closing its connections) and
    /// creates it empty, through the server's `postgres` database.
    pub async fn recreate_database(&self) -> Result<(), DbError> {
        let name = self.required_dbname()?;
        let admin = self.with_dbname("postgres").connect().await?;
        drop_database(&admin, name).await?;
        create_database(&admin, name, None).await
    }

    /// Drops the database this URL names, if it exists.
    pub async fn drop_database(&self) -> Result<(), DbError> {
        let name = self.required_dbname()?;
        let admin = self.with_dbname("postgres").connect().await?;
        drop_database(&admin, name).await
    }

    /// Creates the database this URL names unless it exists; returns
    /// whether it created it.
    pub async fn create_database_if_missing(&self) -> Result<bool, DbError> {
        let name = self.required_dbname()?;
        // Connecting to the database itself is the cheapest check.
        if self.connect().await.is_ok() {
            return Ok(false);
        }
        let admin = self.with_dbname("postgres").connect().await?;
        let exists: bool = admin
            .query_typed(
                "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
                &[(&name, Type::TEXT)],
            )
            .await
            .map_err(|e| DbError::query("checking for the database", e))?
            .first()
            .is_some_and(|r| r.get(0));
        if exists {
            // It exists, so the first connection failed for another reason:
            // report that one.
            self.connect().await?;
            return Ok(false);
        }
        match create_database(&admin, name, None).await {
            Ok(()) => Ok(true),
            // 42P04: created by someone else meanwhile.
            Err(e) if e.code() == Some("42P04") => Ok(false),
            Err(e) => Err(e),
        }
    }
}
