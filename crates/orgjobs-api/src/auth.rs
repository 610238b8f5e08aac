//! Bearer tokens: the extractor every organization route takes. It looks
//! the token up (`orgjobs_queue::authenticate`, before any context exists),
//! applies the token's request rate, and hands the route a connection and
//! the token's organization, from which the route opens its one tenant
//! transaction. A request without a valid organization token runs nothing
//! and counts in `orgjobs_org_context_missing_total{endpoint="<route>"}`.

use std::num::NonZeroU32;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::header;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use orgjobs_queue::deadpool_postgres::Object;
use orgjobs_queue::{AuthError, Principal, TenantTx, TokenRole, authenticate};
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::ApiState;

/// Requests per second and burst allowed per token (per server process).
#[derive(Clone, Copy, Debug)]
pub struct TokenRate {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed at once.
    pub burst: NonZeroU32,
}

impl Default for TokenRate {
    fn default() -> Self {
        TokenRate {
            per_second: NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(400).unwrap_or(NonZeroU32::MIN),
        }
    }
}

pub(crate) fn limiter(rate: TokenRate) -> DefaultKeyedRateLimiter<Uuid> {
    governor::RateLimiter::keyed(Quota::per_second(rate.per_second).allow_burst(rate.burst))
}

/// An organization's authenticated request: its token and organization.
/// It holds no connection: the one the token was checked on goes back to
/// the pool at once, so that a client sending its body slowly holds none.
pub struct OrgAuth {
    /// The token.
    pub principal: Principal,
    /// The token's organization.
    pub org: Uuid,
}

impl OrgAuth {
    /// Refuses (403) unless the token's role is at least `agent`.
    pub fn require_agent(&self) -> Result<(), ApiError> {
        match self.principal.role {
            TokenRole::Admin | TokenRole::Agent => Ok(()),
            r => Err(ApiError::Forbidden(format!(
                "a {r} token cannot change anything; this needs an agent or admin token"
            ))),
        }
    }

    /// Refuses (403) unless the token's role is `admin`.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.principal.role {
            TokenRole::Admin => Ok(()),
            r => Err(ApiError::Forbidden(format!(
                "a {r} token cannot do this; it needs an admin token"
            ))),
        }
    }

    /// Opens the request's one tenant transaction: the same `TenantTx` the
    /// worker's jobs run in (role switch and organization context in its
    /// first flight, transaction-local).
    pub async fn begin(self, state: &ApiState) -> Result<TenantTx, ApiError> {
        let conn = state
            .pool()
            .get()
            .await
            .map_err(|e| ApiError::Unavailable(format!("no database connection: {e}")))?;
        Ok(TenantTx::begin(conn, self.org, state.session()).await?)
    }
}

fn route(parts: &Parts) -> String {
    parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned())
}

impl FromRequestParts<ApiState> for OrgAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let endpoint = route(parts);
        let missing = |e: ApiError| {
            state
                .metrics()
                .org_context_missing
                .with_label_values(&[endpoint.as_str()])
                .inc();
            e
        };
        let (principal, _conn) = match authenticated(parts, state).await {
            Ok(found) => found,
            Err(e @ (ApiError::Unauthorized(_) | ApiError::Forbidden(_))) => {
                return Err(missing(e));
            }
            Err(e) => return Err(e),
        };
        let Some(org) = principal.organization_id else {
            return Err(missing(ApiError::Forbidden(
                "an operator token has no organization; organization routes need an organization's token".into(),
            )));
        };
        rate_limit(state, principal.token_id)?;
        state.token_used(principal.token_id);
        Ok(OrgAuth { principal, org })
    }
}

/// The request's bearer token, checked (401 when missing, malformed,
/// unknown, wrong or revoked), and the connection it was checked on.
pub(crate) async fn authenticated(
    parts: &Parts,
    state: &ApiState,
) -> Result<(Principal, Object), ApiError> {
    let token = bearer(parts)?;
    let conn = state
        .pool()
        .get()
        .await
        .map_err(|e| ApiError::Unavailable(format!("no database connection: {e}")))?;
    match authenticate(&**conn, token).await {
        Ok(p) => Ok((p, conn)),
        Err(AuthError::Db(e)) => Err(e.into()),
        Err(e) => Err(ApiError::Unauthorized(e.to_string())),
    }
}

/// 429 with `Retry-After` when the token is over its request rate.
pub(crate) fn rate_limit(state: &ApiState, token: Uuid) -> Result<(), ApiError> {
    if let Err(not_until) = state.limiter().check_key(&token) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return Err(ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    Ok(())
}

pub(crate) fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(
            "missing token: send Authorization: Bearer <token> (see `orgjobs token create`)".into(),
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "malformed Authorization header: expected `Bearer <token>`".into(),
            )
        })
}
