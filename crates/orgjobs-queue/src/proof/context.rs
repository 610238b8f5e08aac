//! The context ends with its transaction, and an injection-shaped
//! organization id cannot become one.

use deadpool_postgres::Object;
use tokio_postgres::Client;
use uuid::Uuid;

use super::{Check, INJECTION_ORG};
use crate::error::DbError;
use crate::session::{SessionConfig, TenantTx};

pub(super) async fn context_ends_check(
    conn: Object,
    roles: &SessionConfig,
    org: Uuid,
) -> Result<(Check, Object), DbError> {
    let mut problems = Vec::new();
    let mut conn = conn;
    for commit in [true, false] {
        let tx = TenantTx::begin(conn, org, roles).await?;
        let inside: (Option<String>, String) = match tx
            .query_one(
                "SELECT current_setting('app.current_org', true), current_user::text",
                &[],
            )
            .await
        {
            Ok(r) => (r.get(0), r.get(1)),
            Err(e) => (None, format!("error: {e}")),
        };
        if inside.0.as_deref() != Some(org.to_string().as_str()) || inside.1 != roles.tenant_role {
            problems.push(format!(
                "inside the transaction: context {:?} as {}",
                inside.0, inside.1
            ));
        }
        conn = if commit {
            tx.commit().await?
        } else {
            tx.rollback().await?
        };
        let row = conn
            .query_one(
                "SELECT coalesce(current_setting('app.current_org', true), ''), current_user::text, session_user::text",
                &[],
            )
            .await
            .map_err(|e| DbError::query("reading the context after the transaction", e))?;
        let (ctx, user, session): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let how = if commit { "commit" } else { "rollback" };
        if !ctx.is_empty() {
            problems.push(format!("after {how}: app.current_org is still {ctx}"));
        }
        if user != session {
            problems.push(format!("after {how}: still running as {user}"));
        }
    }
    Ok((
        Check::from_problems(
            "context ends with the transaction",
            problems,
            "after commit and after rollback, on the same connection: no context, login role",
        ),
        conn,
    ))
}

pub(super) async fn injection_check(client: &Client) -> Result<Check, DbError> {
    let api_rejects = Uuid::parse_str(INJECTION_ORG).is_err();
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| DbError::query("beginning the injection check", e))?;
    let res = async {
        client
            .query(
                "SELECT pg_catalog.set_config('app.current_org', $1, true)",
                &[&INJECTION_ORG],
            )
            .await?;
        client.query("SELECT orgjobs.current_org()", &[]).await
    }
    .await;
    let _ = client.batch_execute("ROLLBACK").await;
    let server_rejects = matches!(&res, Err(e) if e.code().map(|c| c.code()) == Some("22P02"));
    Ok(Check::new(
        "injection-shaped organization id rejected",
        api_rejects && server_rejects,
        format!(
            "{INJECTION_ORG:?}: {} by the API (typed UUID), {} by orgjobs.current_org()",
            if api_rejects { "rejected" } else { "ACCEPTED" },
            if server_rejects {
                "rejected (22P02)"
            } else {
                "NOT rejected"
            },
        ),
    ))
}
