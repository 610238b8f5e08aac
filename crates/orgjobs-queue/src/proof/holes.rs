//! The proof's checks of the ways around the policies (see `crate::audit`)
//! and of strict tenant mode (see `crate::strict`).

use deadpool_postgres::Object;
use uuid::Uuid;

use super::{Check, CheckStatus};
use crate::error::DbError;
use crate::session::SessionConfig;

/// One check per kind of hole, each naming what it found.
pub(super) fn hole_checks(holes: &crate::audit::Holes) -> Vec<Check> {
    let part = |name: &str, problems: Vec<String>, fine: &str| {
        let ok = problems.is_empty();
        Check::new(
            name,
            ok,
            if ok {
                fine.to_owned()
            } else {
                problems.join("; ")
            },
        )
    };
    vec![
        part(
            "views over tenant tables",
            holes.views.iter().map(|v| v.problem()).collect(),
            "none that the tenant role may read without security_invoker",
        ),
        part(
            "security definer functions",
            holes.definers.iter().map(|d| d.problem()).collect(),
            "every one the tenant role can reach is reviewed and unchanged",
        ),
        part(
            "tenant role memberships",
            holes
                .bypassing_memberships
                .iter()
                .map(|r| crate::audit::membership_problem(r))
                .collect(),
            "member of no role that bypasses row-level security",
        ),
        part(
            "foreign keys between tenant tables",
            holes.probing_keys.iter().map(|k| k.problem()).collect(),
            "every one includes organization_id",
        ),
    ]
}

/// Tries every re-scoping path as the tenant role. A path the guard lets
/// through the API is a failure (a bug); a server-side path left open is a
/// warning that names the risk, until strict tenant mode closes it.
pub(super) async fn strict_check(
    conn: Object,
    roles: &SessionConfig,
    org: Uuid,
    other: Uuid,
) -> Result<(Check, Object), DbError> {
    let (tried, conn) = crate::strict::rescoping_paths(conn, roles, org, other).await?;
    let api_open: Vec<String> = tried
        .iter()
        .filter(|p| p.through_api && p.open)
        .map(|p| format!("{:?}: {}", p.path, p.detail))
        .collect();
    let raw_open: Vec<&str> = tried
        .iter()
        .filter(|p| !p.through_api && p.open)
        .map(|p| p.path.as_str())
        .collect();
    let api_count = tried.iter().filter(|p| p.through_api).count();
    let raw_count = tried.len() - api_count;
    let check = if !api_open.is_empty() {
        Check::new(
            "strict tenant mode",
            false,
            format!("the statement guard let through: {}", api_open.join("; ")),
        )
    } else if !raw_open.is_empty() {
        Check {
            name: "strict tenant mode".into(),
            status: CheckStatus::Warn,
            detail: format!(
                "off: SQL running as the tenant role (a handler that runs statements it did not write, or injected SQL) can re-scope its transaction to another organization through {}; turn it on with `orgjobs migrate --strict`",
                raw_open.join(", ")
            ),
        }
    } else {
        Check::new(
            "strict tenant mode",
            true,
            format!(
                "on: {api_count} statements refused by the guard, {raw_count} re-scoping paths refused by the server as the tenant role"
            ),
        )
    };
    Ok((check, conn))
}
