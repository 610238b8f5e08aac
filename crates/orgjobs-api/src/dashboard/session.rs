//! Logging in with a token, the session cookie, and the extractors every
//! page and action takes: [`Viewer`] (any session), [`Operator`],
//! [`Member`] (an organization's session) and [`Action`] (a form whose
//! CSRF token is checked before the handler runs).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use orgjobs_queue::deadpool_postgres::Object;
use orgjobs_queue::{AuthError, Session, TokenRole, authenticate, create_session, end_session};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::layout::{PageError, bare_page};
use crate::auth::OrgAuth;
use crate::state::ApiState;

/// How long a session lasts.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The login form's own CSRF cookie (double submit: no session yet);
/// `__Host-` when secure, so that a sibling subdomain cannot plant one.
fn login_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-orgjobs_login"
    } else {
        "orgjobs_login"
    }
}

fn session_cookie_name(secure: bool) -> &'static str {
    // `__Host-` cookies are refused by browsers unless Secure, host-only
    // and Path=/: a subdomain cannot plant or read one.
    if secure {
        "__Host-orgjobs_session"
    } else {
        "orgjobs_session"
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    // The values are hex digits (or empty): nothing to escape.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

async fn connection(state: &ApiState) -> Result<Object, PageError> {
    state
        .pool()
        .get()
        .await
        .map_err(|e| PageError::Unavailable(format!("no database connection: {e}")))
}

/// A logged-in browser: its session (and who it speaks for).
pub(crate) struct Viewer {
    pub(crate) session: Session,
    /// The organization's name, once a page has read it (in its tenant
    /// transaction), for the header.
    pub(crate) org_name: Option<String>,
}

impl Viewer {
    /// Who did it, for the actions log.
    pub(crate) fn actor(&self) -> String {
        format!("dashboard: {}", self.session.actor())
    }
}

impl FromRequestParts<ApiState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, PageError> {
        let name = session_cookie_name(state.secure_cookies());
        let Some(value) = cookie(&parts.headers, name) else {
            return Err(PageError::Login);
        };
        let conn = connection(state).await?;
        let session = orgjobs_queue::find_session(&**conn, &value)
            .await?
            .ok_or(PageError::Login)?;
        crate::auth::rate_limit(state, session.principal.token_id)?;
        state.token_used(session.principal.token_id);
        Ok(Viewer {
            session,
            org_name: None,
        })
    }
}

impl OptionalFromRequestParts<ApiState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Option<Self>, PageError> {
        match <Viewer as FromRequestParts<ApiState>>::from_request_parts(parts, state).await {
            Ok(v) => Ok(Some(v)),
            Err(PageError::Login) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An operator's session and a connection on the server's login.
pub(crate) struct Operator {
    pub(crate) viewer: Viewer,
    pub(crate) conn: Object,
}

impl FromRequestParts<ApiState> for Operator {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, PageError> {
        let viewer =
            <Viewer as FromRequestParts<ApiState>>::from_request_parts(parts, state).await?;
        Operator::of(viewer, state).await
    }
}

impl Operator {
    /// The operator of this session (403 for an organization's), with a
    /// connection.
    async fn of(viewer: Viewer, state: &ApiState) -> Result<Operator, PageError> {
        if viewer.session.principal.role != TokenRole::Operator {
            return Err(PageError::Forbidden(
                "these pages are for operators; this session belongs to an organization (its pages are under /org)".into(),
            ));
        }
        let conn = connection(state).await?;
        Ok(Operator { viewer, conn })
    }
}

/// An organization's session. Its pages open their one tenant transaction
/// with [`Member::begin`].
pub(crate) struct Member {
    pub(crate) viewer: Viewer,
    pub(crate) org: Uuid,
}

impl Member {
    /// The organization's tenant transaction (role and context set in its
    /// first flight, as for the API and the worker); also reads the
    /// organization's name for the page's header (its own row, by RLS).
    pub(crate) async fn begin(
        &mut self,
        state: &ApiState,
    ) -> Result<orgjobs_queue::TenantTx, PageError> {
        let tx = OrgAuth {
            principal: self.viewer.session.principal,
            org: self.org,
        }
        .begin(state)
        .await?;
        // $1 the organization: its own row (the only one RLS shows).
        let row = tx
            .query_opt(
                "SELECT name FROM public.organizations WHERE id = $1",
                &[&tx.org_id()],
            )
            .await?;
        self.viewer.org_name = row.map(|r| r.get(0));
        Ok(tx)
    }

    /// Whether the session's role may change things (agent or admin).
    pub(crate) fn can_act(&self) -> bool {
        matches!(
            self.viewer.session.principal.role,
            TokenRole::Admin | TokenRole::Agent
        )
    }
}

impl FromRequestParts<ApiState> for Member {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, PageError> {
        let viewer =
            <Viewer as FromRequestParts<ApiState>>::from_request_parts(parts, state).await?;
        Member::of(viewer, state)
    }
}

impl Member {
    /// The organization of this session (403 for an operator's).
    fn of(viewer: Viewer, state: &ApiState) -> Result<Member, PageError> {
        let Some(org) = viewer.session.principal.organization_id else {
            state
                .metrics()
                .org_context_missing
                .with_label_values(&["dashboard"])
                .inc();
            return Err(PageError::Forbidden(
                "these pages are an organization's; an operator session has none (the operator pages are under /ops)".into(),
            ));
        };
        Ok(Member { viewer, org })
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A posted form of a logged-in session, accepted only when its `csrf`
/// field is the session's CSRF token (else 403, and nothing runs).
pub(crate) struct Action<T> {
    pub(crate) viewer: Viewer,
    pub(crate) form: T,
}

impl<T: DeserializeOwned> FromRequest<ApiState> for Action<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let viewer =
            <Viewer as FromRequestParts<ApiState>>::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| PageError::BadRequest(format!("could not read the form: {e}")))?;
        let given: CsrfField = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField {
            csrf: String::new(),
        });
        if !same(&given.csrf, &viewer.session.csrf) {
            tracing::warn!(event = "csrf_refused", token = %viewer.session.principal.token_id);
            return Err(PageError::Forbidden(
                "this form's CSRF token is missing or wrong, so nothing was done: reload the page and try again".into(),
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::BadRequest(format!("the form is not valid: {e}")))?;
        Ok(Action { viewer, form })
    }
}

/// An operator's posted form: [`Action`] (the CSRF check, before anything
/// else), then the operator and a connection, taken once the body is read.
pub(crate) struct OperatorAction<T> {
    pub(crate) op: Operator,
    pub(crate) form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<ApiState> for OperatorAction<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, PageError> {
        let Action { viewer, form } = Action::<T>::from_request(req, state).await?;
        Ok(OperatorAction {
            op: Operator::of(viewer, state).await?,
            form,
        })
    }
}

/// An organization's posted button (a form with nothing but its CSRF
/// token): [`Action`], then the organization.
pub(crate) struct MemberAction(pub(crate) Member);

impl FromRequest<ApiState> for MemberAction {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, PageError> {
        let Action { viewer, .. } = Action::<CsrfOnly>::from_request(req, state).await?;
        Ok(MemberAction(Member::of(viewer, state)?))
    }
}

/// The hidden CSRF field of a session's forms.
pub(crate) fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.session.csrf); }
}

fn login_page(csrf: &str, error: Option<&str>) -> Markup {
    bare_page(
        "Log in",
        html! {
            main.login {
                h1 { "orgjobs" }
                p { "Log in with an API token: an operator token for the whole queue, or an organization's token for its helpdesk." }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="token" { "Token" }
                    input #token type="password" name="token" autocomplete="off" required placeholder="ojt_…";
                    button type="submit" { "Log in" }
                }
                p.hint { "Create one with " code { "orgjobs token create" } " (add " code { "--org <id>" } " for an organization)." }
            }
        },
    )
}

/// `GET /login`.
pub(crate) async fn login_form(State(state): State<ApiState>) -> Response {
    let csrf = random_hex();
    let mut resp = login_page(&csrf, None).into_response();
    resp.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            login_cookie_name(state.secure_cookies()),
            &csrf,
            3600,
            state.secure_cookies(),
        ),
    );
    resp
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`: checks the login form's CSRF pair and the token, opens a
/// session, and goes to the token's home.
pub(crate) async fn login(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, PageError> {
    let secure = state.secure_cookies();
    let expected = cookie(req.headers(), login_cookie_name(secure)).unwrap_or_default();
    let previous = cookie(req.headers(), session_cookie_name(secure));
    let bytes = Bytes::from_request(req, &state)
        .await
        .map_err(|e| PageError::BadRequest(format!("could not read the form: {e}")))?;
    let form: LoginForm = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| PageError::BadRequest(format!("the form is not valid: {e}")))?;
    if expected.is_empty() || !same(&form.csrf, &expected) {
        return Err(PageError::Forbidden(
            "the login form's CSRF token is missing or wrong: open /login again and retry".into(),
        ));
    }
    let conn = connection(&state).await?;
    let principal = match authenticate(&**conn, form.token.trim()).await {
        Ok(p) => p,
        Err(AuthError::Db(e)) => return Err(e.into()),
        Err(e) => {
            let csrf = random_hex();
            let mut resp = (
                StatusCode::UNAUTHORIZED,
                login_page(&csrf, Some(&format!("Not logged in: {e}."))),
            )
                .into_response();
            resp.headers_mut().append(
                SET_COOKIE,
                set_cookie(login_cookie_name(secure), &csrf, 3600, secure),
            );
            return Ok(resp);
        }
    };
    crate::auth::rate_limit(&state, principal.token_id)?;
    // A browser that logs in again leaves no older session behind.
    if let Some(old) = previous {
        end_session(&**conn, &old).await?;
    }
    let new = create_session(&**conn, &principal, SESSION_TTL).await?;
    orgjobs_queue::record_action(
        &**conn,
        &format!("dashboard: token {}", principal.token_id),
        principal.organization_id,
        "login",
        principal.role.as_str(),
    )
    .await?;
    tracing::info!(event = "dashboard_login", token = %principal.token_id, role = principal.role.as_str());
    let home = if principal.organization_id.is_none() {
        "/ops"
    } else {
        "/org"
    };
    let mut resp = Redirect::to(home).into_response();
    let h = resp.headers_mut();
    h.append(
        SET_COOKIE,
        set_cookie(
            session_cookie_name(secure),
            &new.cookie,
            SESSION_TTL.as_secs(),
            secure,
        ),
    );
    h.append(
        SET_COOKIE,
        set_cookie(login_cookie_name(secure), "", 0, secure),
    );
    Ok(resp)
}

/// `POST /logout`: ends the session (CSRF-checked like every action).
pub(crate) async fn logout(
    State(state): State<ApiState>,
    headers: HeaderMap,
    action: Action<CsrfOnly>,
) -> Result<Response, PageError> {
    let secure = state.secure_cookies();
    let name = session_cookie_name(secure);
    let conn = connection(&state).await?;
    if let Some(value) = cookie(&headers, name) {
        end_session(&**conn, &value).await?;
    }
    orgjobs_queue::record_action(
        &**conn,
        &action.viewer.actor(),
        action.viewer.session.principal.organization_id,
        "logout",
        "",
    )
    .await?;
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(name, "", 0, secure));
    Ok(resp)
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {}
