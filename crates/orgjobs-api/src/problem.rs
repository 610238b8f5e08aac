//! Errors as `application/problem+json` (RFC 9457), each with the
//! request's id, and the extractors whose rejections become problems
//! (malformed JSON, ids and query strings say which field and what was
//! expected).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgjobs_queue::{DbError, TxError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

tokio::task_local! {
    /// The id of the request being served (set by the request-id layer).
    pub static REQUEST_ID: String;
}

/// The current request's id, or "-" outside a request.
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".into())
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` when the status says
    /// it all).
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong and what was expected.
    pub detail: String,
    /// The request's id (also in the `x-request-id` header and the logs).
    pub request_id: String,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The token's role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing in this organization (404; also for another
    /// organization's ids: no existence leak).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with existing data (409).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests for this token (429).
    #[error("too many requests for this token; retry after {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until a request will be accepted.
        retry_after_secs: u64,
    },
    /// The database cannot be reached (503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500); the detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let request_id = request_id();
        let detail = match &self {
            ApiError::Internal(e) => {
                tracing::error!(event = "request_failed", request_id = %request_id, error = %e);
                "internal error; the server's log has it under this request id".to_owned()
            }
            ApiError::Unavailable(e) => {
                tracing::warn!(event = "database_unavailable", request_id = %request_id, error = %e);
                self.to_string()
            }
            _ => self.to_string(),
        };
        let body = Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("error").into(),
            status: status.as_u16(),
            detail,
            request_id,
        };
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response();
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::Unavailable(format!("the database is unavailable: {e}"))
    }
}

impl From<TxError> for ApiError {
    fn from(e: TxError) -> Self {
        match e.code() {
            // unique_violation, check_violation, not_null_violation,
            // invalid_text_representation, string_data_right_truncation,
            // character_not_in_repertoire (a NUL in text)
            Some("23505") => ApiError::Conflict(e.to_string()),
            Some("23514" | "23502" | "22P02" | "22001" | "22021") => {
                ApiError::BadRequest(e.to_string())
            }
            // insufficient_privilege: a row-level security refusal
            Some("42501") => ApiError::NotFound("not found in this organization".into()),
            Some(c) if c.starts_with("08") || c.starts_with("57") => {
                ApiError::Unavailable(e.to_string())
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

/// `Json<T>` whose rejections are problems: 400 with serde's message (the
/// field and what was expected; unknown fields are refused by the types),
/// 413 when the body is over the limit, 415 as 400 with what to send.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::TooLarge(format!(
                    "request body too large: at most {} bytes",
                    crate::MAX_BODY_BYTES
                )))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest(
                "expected a JSON body with content-type: application/json".into(),
            )),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// `Path<T>` whose rejections are problems (e.g. an id that is not a UUID).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// `Query<T>` whose rejections are problems.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(e.body_text()))
    }
}
