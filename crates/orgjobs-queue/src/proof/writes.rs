//! Writes the tenant role must not manage: without a context, and into
//! another organization. Each in a transaction that is rolled back.

use tokio_postgres::Client;
use uuid::Uuid;

use super::Check;
use crate::catalog::TenantTable;
use crate::error::{DbError, PgErr};
use crate::session::{SessionConfig, set_tenant_context};

pub(super) async fn no_context_check(
    client: &Client,
    roles: &SessionConfig,
    tables: &[TenantTable],
    some_org: Uuid,
) -> Result<Check, DbError> {
    let mut problems = Vec::new();
    let failed = rolled_back(client, "the no-context check", || async {
        set_tenant_context(client, roles, None).await?;
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
        Ok(())
    })
    .await?;
    problems.extend(failed);
    Ok(Check::from_problems(
        "no context: nothing visible, writes rejected",
        problems,
        format!(
            "{} tables: 0 rows visible, inserts rejected, updates reach nothing",
            tables.len()
        ),
    ))
}

/// Runs `body` inside a transaction that is rolled back; returns its error,
/// if it failed, as one more problem to report.
async fn rolled_back<F, Fut>(
    client: &Client,
    what: &'static str,
    body: F,
) -> Result<Option<String>, DbError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| DbError::query(what, e))?;
    let result = body().await;
    let _ = client.batch_execute("ROLLBACK").await;
    Ok(result.err().map(|e| format!("error: {}", PgErr(&e))))
}

/// Runs `sql` (with `$1` = `org`) inside a savepoint and expects the server
/// to refuse it with 42501. Returns a problem description otherwise.
pub(super) async fn expect_rejected(
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

pub(super) async fn cross_org_check(
    client: &Client,
    roles: &SessionConfig,
    tables: &[TenantTable],
    org_a: Uuid,
    org_b: Uuid,
) -> Result<Check, DbError> {
    let mut problems = Vec::new();
    let failed = rolled_back(client, "the cross-organization check", || async {
        set_tenant_context(client, roles, Some(org_a)).await?;
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
        Ok(())
    })
    .await?;
    problems.extend(failed);
    Ok(Check::from_problems(
        "another organization's rows cannot be written",
        problems,
        format!("as {org_a}: inserts for {org_b} rejected, updates and deletes reach nothing"),
    ))
}
