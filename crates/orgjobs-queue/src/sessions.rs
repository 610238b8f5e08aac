//! Dashboard sessions (migration 0009): a browser logs in with an API
//! token and gets a random session id in a cookie. Only the id's SHA-256 is
//! stored, with the token it came from and a CSRF token; the lookup
//! (`orgjobs.dashboard_session`) also checks that the token is not revoked,
//! so revoking a token ends its sessions at their next request.
//!
//! Also the actions log (`orgjobs.actions`): who did what from the
//! dashboard or the API.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::error::DbError;
use crate::tokens::{Principal, TokenRole};

/// A session just created: the cookie's value and the CSRF token.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The session id, for the cookie (64 hex digits; never stored).
    pub cookie: String,
    /// The CSRF token every form of the session carries.
    pub csrf: String,
}

/// A live session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Whose it is (the token it was opened with).
    pub principal: Principal,
    /// The token's name.
    pub token_name: String,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Session {
    /// Who did it, for the actions log: the token's name and id.
    pub fn actor(&self) -> String {
        if self.token_name.is_empty() {
            format!("token {}", self.principal.token_id)
        } else {
            format!("{} (token {})", self.token_name, self.principal.token_id)
        }
    }
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(cookie: &str) -> Vec<u8> {
    Sha256::digest(cookie.as_bytes()).to_vec()
}

/// Opens a session for `principal` lasting `ttl`, and deletes expired ones.
pub async fn create_session(
    client: &impl GenericClient,
    principal: &Principal,
    ttl: Duration,
) -> Result<NewSession, DbError> {
    let cookie = random_hex();
    let csrf = random_hex();
    let secs = ttl.as_secs_f64();
    client
        .query_typed(
            "WITH expired AS (DELETE FROM orgjobs.dashboard_sessions WHERE expires_at < now())
             INSERT INTO orgjobs.dashboard_sessions (id_sha256, token_id, csrf, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            &[
                (&digest(&cookie), Type::BYTEA),
                (&principal.token_id, Type::UUID),
                (&csrf, Type::TEXT),
                (&secs, Type::FLOAT8),
            ],
        )
        .await
        .map_err(|e| DbError::query("opening a session", e))?;
    Ok(NewSession { cookie, csrf })
}

/// The live session of this cookie value, if any (expired sessions and
/// those of revoked tokens are none).
pub async fn find_session(
    client: &impl GenericClient,
    cookie: &str,
) -> Result<Option<Session>, DbError> {
    if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let rows = client
        .query_typed(
            "SELECT token_id, organization_id, role, name, csrf FROM orgjobs.dashboard_session($1)",
            &[(&digest(cookie), Type::BYTEA)],
        )
        .await
        .map_err(|e| DbError::query("looking up the session", e))?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let role: String = r.get(2);
    let Ok(role) = role.parse::<TokenRole>() else {
        return Ok(None);
    };
    Ok(Some(Session {
        principal: Principal {
            token_id: r.get(0),
            organization_id: r.get(1),
            role,
        },
        token_name: r.get(3),
        csrf: r.get(4),
    }))
}

/// Ends the session of this cookie value (logout). True if there was one.
pub async fn end_session(client: &impl GenericClient, cookie: &str) -> Result<bool, DbError> {
    let n = client
        .execute(
            "DELETE FROM orgjobs.dashboard_sessions WHERE id_sha256 = $1",
            &[&digest(cookie)],
        )
        .await
        .map_err(|e| DbError::query("ending the session", e))?;
    Ok(n > 0)
}

/// One entry of the actions log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Action {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who (a token's name and id).
    pub actor: String,
    /// The organization it concerned, if one.
    pub organization_id: Option<Uuid>,
    /// What (`retry`, `bulk_retry`, `pause`, `login`...).
    pub action: String,
    /// Its details.
    pub detail: String,
}

/// Adds to the actions log (details are cut to 2,000 characters).
pub async fn record_action(
    client: &impl GenericClient,
    actor: &str,
    organization_id: Option<Uuid>,
    action: &str,
    detail: &str,
) -> Result<(), DbError> {
    let actor: String = actor.chars().take(300).collect();
    let detail: String = detail.chars().take(2000).collect();
    client
        .query_typed(
            "INSERT INTO orgjobs.actions (actor, organization_id, action, detail)
             VALUES ($1, $2, $3, $4)",
            &[
                (&actor, Type::TEXT),
                (&organization_id, Type::UUID),
                (&action, Type::TEXT),
                (&detail, Type::TEXT),
            ],
        )
        .await
        .map_err(|e| DbError::query("logging the action", e))?;
    Ok(())
}

/// The latest `limit` actions, newest first.
pub async fn recent_actions(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<Action>, DbError> {
    let rows = client
        .query_typed(
            "SELECT at, actor, organization_id, action, detail FROM orgjobs.actions
             ORDER BY id DESC LIMIT $1",
            &[(&limit, Type::INT8)],
        )
        .await
        .map_err(|e| DbError::query("reading the actions log", e))?;
    Ok(rows
        .iter()
        .map(|r| Action {
            at: r.get(0),
            actor: r.get(1),
            organization_id: r.get(2),
            action: r.get(3),
            detail: r.get(4),
        })
        .collect())
}
