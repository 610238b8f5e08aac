//! The organization-jobs functions the API's tenant transactions call
//! (`orgjobs.org_jobs`, `org_job`, `org_retry_job`, `org_cancel_job`, all
//! `SECURITY DEFINER`): with one organization's context they show exactly
//! its jobs and act on no other's; without a context, nothing.

use deadpool_postgres::Object;
use uuid::Uuid;

use super::Check;
use crate::error::DbError;
use crate::session::{SessionConfig, TenantTx};

/// Rows `org_jobs` returns at most per call.
const PAGE: i64 = 100;

pub(super) async fn org_jobs_check(
    conn: Object,
    roles: &SessionConfig,
    org_a: Uuid,
    org_b: Uuid,
) -> Result<(Check, Object), DbError> {
    let db = |what: &'static str| move |e| DbError::query(what, e);
    // What an administrator sees: A's jobs (up to a page), B's newest job.
    let row = conn
        .query_one(
            "SELECT least((SELECT count(*) FROM orgjobs.jobs WHERE organization_id = $1), $3),
                    (SELECT max(id) FROM orgjobs.jobs WHERE organization_id = $2)",
            &[&org_a, &org_b, &PAGE],
        )
        .await
        .map_err(db("counting the organizations' jobs"))?;
    let (a_jobs, b_job): (i64, Option<i64>) = (row.get(0), row.get(1));
    let mut problems = Vec::new();

    let tx = TenantTx::begin(conn, org_a, roles).await?;
    let seen: i64 = match tx
        .query_one(
            "SELECT count(*) FROM orgjobs.org_jobs(NULL, NULL, NULL, $1::int)",
            &[&(PAGE as i32)],
        )
        .await
    {
        Ok(r) => r.get(0),
        Err(e) if e.code() == Some("42501") => {
            // Not granted to this tenant role: nothing can leak through
            // it, but the API's job routes cannot work.
            let conn = tx.rollback().await?;
            return Ok((
                Check {
                    name: "organization jobs functions".into(),
                    status: super::CheckStatus::Warn,
                    detail: format!(
                        "{} may not execute orgjobs.org_jobs: the API's job routes fail for it ({e})",
                        roles.tenant_role
                    ),
                },
                conn,
            ));
        }
        Err(e) => {
            problems.push(format!("org_jobs as {org_a}: {e}"));
            -1
        }
    };
    if seen != a_jobs {
        problems.push(format!(
            "org_jobs as {org_a} returned {seen} jobs; the organization has {a_jobs} (first {PAGE})"
        ));
    }
    if let Some(b) = b_job {
        // Inside a transaction rolled back below: changes nothing.
        let r = tx
            .query_one(
                "SELECT (SELECT count(*) FROM orgjobs.org_job($1)), orgjobs.org_retry_job($1),
                        orgjobs.org_cancel_job($1)",
                &[&b],
            )
            .await;
        match r {
            Ok(r) => {
                let (shown, retry, cancel): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
                if shown != 0 || retry != "not_found" || cancel != "not_found" {
                    problems.push(format!(
                        "as {org_a}, {org_b}'s job {b}: shown {shown}, retry {retry}, cancel {cancel}"
                    ));
                }
            }
            Err(e) => problems.push(format!("reaching another organization's job: {e}")),
        }
    }
    let conn = tx.rollback().await?;

    // The tenant role without a context sees no job.
    conn.batch_execute("BEGIN")
        .await
        .map_err(db("beginning the no-context probe"))?;
    let r = conn
        .query_one(
            "SELECT pg_catalog.set_config('role', $1, true), (SELECT count(*) FROM orgjobs.org_jobs(NULL, NULL, NULL, 100))",
            &[&roles.tenant_role],
        )
        .await;
    conn.batch_execute("ROLLBACK")
        .await
        .map_err(db("ending the no-context probe"))?;
    match r {
        Ok(r) if r.get::<_, i64>(1) == 0 => {}
        Ok(r) => problems.push(format!(
            "without a context org_jobs returned {} jobs",
            r.get::<_, i64>(1)
        )),
        Err(e) => problems.push(format!("org_jobs without a context: {e}")),
    }
    let fine = match b_job {
        Some(_) => format!(
            "as one organization: its {a_jobs} jobs (first {PAGE}), another's job not found, retry and cancel refused; without a context: none"
        ),
        None => format!(
            "as one organization: its {a_jobs} jobs; without a context: none (a second organization has no job to try)"
        ),
    };
    Ok((
        Check::from_problems("organization jobs functions", problems, fine),
        conn,
    ))
}
