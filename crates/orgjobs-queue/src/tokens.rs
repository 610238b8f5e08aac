//! API tokens (migration 0007): an organization's tokens with a role
//! (`admin`, `agent`, `viewer`), and operator tokens. A token reads
//! `ojt_<id>_<secret>`; only the SHA-256 of the secret is stored, and
//! [`authenticate`] compares it in constant time.
//!
//! Creating, listing and revoking run as the operator (the schema owner);
//! [`authenticate`] runs as the server's login, before any organization
//! context exists, through `orgjobs.api_token(id)`, which returns that one
//! token's row and nothing else.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient};
use uuid::Uuid;

use crate::admin::{AdminError, db};
use crate::error::DbError;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    /// Everything in its organization: also the knowledge base, imports,
    /// retrying and cancelling jobs.
    Admin,
    /// Tickets (create, update, reply drafts) and every read.
    Agent,
    /// Reads only.
    Viewer,
    /// The operator routes (all organizations' jobs); no tenant route.
    Operator,
}

impl TokenRole {
    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Admin => "admin",
            TokenRole::Agent => "agent",
            TokenRole::Viewer => "viewer",
            TokenRole::Operator => "operator",
        }
    }
}

impl fmt::Display for TokenRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(TokenRole::Admin),
            "agent" => Ok(TokenRole::Agent),
            "viewer" => Ok(TokenRole::Viewer),
            "operator" => Ok(TokenRole::Operator),
            other => Err(format!(
                "role {other:?} is not one of admin, agent, viewer (organization tokens) or operator"
            )),
        }
    }
}

/// A token just created: `secret` is shown once and never stored.
#[derive(Debug)]
pub struct NewToken {
    /// Its id (public; names it in `token list` and `token revoke`).
    pub id: Uuid,
    /// The bearer token to hand out: `ojt_<id>_<secret>`.
    pub token: String,
}

/// A stored token, without its secret.
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    /// Its id.
    pub id: Uuid,
    /// Its organization (`None`: an operator token).
    pub organization_id: Option<Uuid>,
    /// Its role.
    pub role: String,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used (written every few seconds by the server).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who a valid token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's id.
    pub token_id: Uuid,
    /// Its organization (`None` for an operator).
    pub organization_id: Option<Uuid>,
    /// Its role.
    pub role: TokenRole,
}

/// Why a bearer token was not accepted. The messages say what was wrong
/// without saying whether a token with that id exists.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not of the form `ojt_<id>_<secret>`.
    #[error("malformed token: expected ojt_<32 hex digits>_<64 hex digits>")]
    Malformed,
    /// No such token, a wrong secret, or revoked.
    #[error("invalid or revoked token")]
    Invalid,
    /// The lookup failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

const PREFIX: &str = "ojt_";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Splits a token into its id and the SHA-256 of its secret.
fn parse(token: &str) -> Result<(Uuid, [u8; 32]), AuthError> {
    let rest = token.strip_prefix(PREFIX).ok_or(AuthError::Malformed)?;
    let (id, secret) = rest.split_once('_').ok_or(AuthError::Malformed)?;
    if id.len() != 32 || secret.len() != 64 {
        return Err(AuthError::Malformed);
    }
    let id = Uuid::try_parse(id).map_err(|_| AuthError::Malformed)?;
    let secret = unhex(secret).ok_or(AuthError::Malformed)?;
    Ok((id, Sha256::digest(&secret).into()))
}

/// Creates a token. `organization_id` with an organization role, `None`
/// with [`TokenRole::Operator`].
pub async fn create_token(
    client: &Client,
    organization_id: Option<Uuid>,
    role: TokenRole,
    name: &str,
) -> Result<NewToken, AdminError> {
    match (organization_id, role) {
        (None, TokenRole::Operator)
        | (Some(_), TokenRole::Admin | TokenRole::Agent | TokenRole::Viewer) => {}
        (None, _) => {
            return Err(AdminError::Invalid(format!(
                "a {role} token belongs to an organization: give --org"
            )));
        }
        (Some(_), TokenRole::Operator) => {
            return Err(AdminError::Invalid(
                "an operator token belongs to no organization: leave out --org".into(),
            ));
        }
    }
    if name.chars().count() > 200 {
        return Err(AdminError::Invalid(format!(
            "a token name has at most 200 characters, got {}",
            name.chars().count()
        )));
    }
    let id = Uuid::new_v4();
    let secret: [u8; 32] = rand::random();
    let hash: [u8; 32] = Sha256::digest(secret).into();
    let hash = hash.to_vec();
    client
        .query_typed(
            "INSERT INTO orgjobs.api_tokens (id, organization_id, role, name, secret_sha256)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                (&id, Type::UUID),
                (&organization_id, Type::UUID),
                (&role.as_str(), Type::TEXT),
                (&name, Type::TEXT),
                (&hash, Type::BYTEA),
            ],
        )
        .await
        .map_err(db("creating the token"))?;
    Ok(NewToken {
        id,
        token: format!("{PREFIX}{}_{}", id.simple(), hex(&secret)),
    })
}

/// Every token (or one organization's), newest first, without secrets.
pub async fn list_tokens(
    client: &Client,
    organization_id: Option<Uuid>,
) -> Result<Vec<TokenInfo>, AdminError> {
    let rows = client
        .query_typed(
            "SELECT id, organization_id, role, name, created_at, last_used_at, revoked_at
             FROM orgjobs.api_tokens
             WHERE $1::uuid IS NULL OR organization_id = $1
             ORDER BY created_at DESC, id",
            &[(&organization_id, Type::UUID)],
        )
        .await
        .map_err(db("listing tokens"))?;
    Ok(rows
        .iter()
        .map(|r| TokenInfo {
            id: r.get(0),
            organization_id: r.get(1),
            role: r.get(2),
            name: r.get(3),
            created_at: r.get(4),
            last_used_at: r.get(5),
            revoked_at: r.get(6),
        })
        .collect())
}

/// Revokes a token: refused from the next request on. Returns whether it
/// was live.
pub async fn revoke_token(client: &Client, id: Uuid) -> Result<bool, AdminError> {
    let rows = client
        .query_typed(
            "UPDATE orgjobs.api_tokens SET revoked_at = now()
             WHERE id = $1 AND revoked_at IS NULL RETURNING 1",
            &[(&id, Type::UUID)],
        )
        .await
        .map_err(db("revoking the token"))?;
    Ok(!rows.is_empty())
}

/// Checks a bearer token: one lookup by id through `orgjobs.api_token`,
/// then the secret's hash compared in constant time. Runs on a connection
/// with no organization context (the login's own rights).
pub async fn authenticate(
    client: &impl GenericClient,
    token: &str,
) -> Result<Principal, AuthError> {
    let (id, hash) = parse(token)?;
    let rows = client
        .query_typed(
            "SELECT organization_id, role, secret_sha256 FROM orgjobs.api_token($1)",
            &[(&id, Type::UUID)],
        )
        .await
        .map_err(|e| DbError::query("looking up the token", e))?;
    let Some(row) = rows.first() else {
        return Err(AuthError::Invalid);
    };
    let stored: Vec<u8> = row.get(2);
    if !bool::from(stored.as_slice().ct_eq(hash.as_slice())) {
        return Err(AuthError::Invalid);
    }
    let role: String = row.get(1);
    Ok(Principal {
        token_id: id,
        organization_id: row.get(0),
        role: role.parse().map_err(|_| AuthError::Invalid)?,
    })
}

/// Records when tokens were last used (`orgjobs.api_tokens_used`).
pub async fn record_token_uses(
    client: &impl GenericClient,
    uses: &[(Uuid, DateTime<Utc>)],
) -> Result<(), DbError> {
    let ids: Vec<Uuid> = uses.iter().map(|(i, _)| *i).collect();
    let at: Vec<DateTime<Utc>> = uses.iter().map(|(_, t)| *t).collect();
    client
        .query_typed(
            "SELECT orgjobs.api_tokens_used($1, $2)",
            &[(&ids, Type::UUID_ARRAY), (&at, Type::TIMESTAMPTZ_ARRAY)],
        )
        .await
        .map_err(|e| DbError::query("recording token uses", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_one_form() {
        let id = Uuid::new_v4();
        let good = format!("ojt_{}_{}", id.simple(), "ab".repeat(32));
        assert_eq!(parse(&good).map(|(i, _)| i).ok(), Some(id));
        for bad in [
            String::new(),
            "Bearer x".into(),
            format!("ojt_{}", id.simple()),
            format!("ojt_{}_{}", id, "ab".repeat(32)),
            format!("ojt_{}_{}", id.simple(), "ab".repeat(31)),
            format!("ojt_{}_{}", id.simple(), "zz".repeat(32)),
            format!("xyz_{}_{}", id.simple(), "ab".repeat(32)),
        ] {
            assert!(matches!(parse(&bad), Err(AuthError::Malformed)), "{bad}");
        }
    }
}
