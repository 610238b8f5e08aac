//! Throwaway databases for the benchmark and the fault run: dropped and
//! created on the same server as a given URL. Names are quoted by the
//! server (`format('%I')`), never spliced by hand.

use orgjobs_queue::{DbUrl, PgErr};

async fn run_on_server(url: &DbUrl, template: &str) -> anyhow::Result<()> {
    let name = url
        .dbname()
        .ok_or_else(|| anyhow::anyhow!("{} names no database", url.redacted()))?;
    let admin = url.with_dbname("postgres").connect().await?;
    let stmt: String = admin
        .query_one(template, &[&name])
        .await
        .map_err(|e| anyhow::anyhow!("{}", PgErr(&e)))?
        .get(0);
    admin
        .batch_execute(&stmt)
        .await
        .map_err(|e| anyhow::anyhow!("{stmt}: {}", PgErr(&e)))
}

/// Drops the database `url` names (closing its connections) and creates it
/// empty.
pub async fn recreate_database(url: &DbUrl) -> anyhow::Result<()> {
    drop_database(url).await?;
    run_on_server(url, "SELECT format('CREATE DATABASE %I', $1::text)").await
}

/// Drops the database `url` names, if it exists.
pub async fn drop_database(url: &DbUrl) -> anyhow::Result<()> {
    run_on_server(
        url,
        "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)",
    )
    .await
}
