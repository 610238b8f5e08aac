//! What each organization sees through a tenant transaction, compared with
//! what an administrator sees for it.

use deadpool_postgres::Object;
use tokio_postgres::Client;
use uuid::Uuid;

use super::{Check, CheckStatus};
use crate::catalog::{self, TenantTable};
use crate::error::DbError;
use crate::session::{SessionConfig, TenantTx};

pub(super) async fn organizations(
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

pub(super) async fn count_checks(
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
