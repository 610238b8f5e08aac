//! The knowledge base: articles (create and update enqueue `RAG_INDEX`
//! through the table's triggers; delete removes the passages with the
//! article) and search with `KB_SUGGEST`'s ranking.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use orgjobs_helpdesk::kb::{Hit, search};
use orgjobs_queue::TenantTx;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::OrgAuth;
use crate::problem::{ApiError, ApiJson, ApiPath, ApiQuery, Problem};
use crate::state::ApiState;

const MAX_TITLE: usize = 500;
const MAX_ARTICLE: usize = 1_000_000;
const MAX_TAGS: usize = 50;

/// An article.
#[derive(Debug, Serialize, ToSchema)]
pub struct Article {
    id: Uuid,
    external_id: Option<String>,
    title: String,
    body: String,
    tags: Vec<String>,
    /// Bumped on every change of title or body.
    version: i32,
    /// Passages indexed from the current version (0 until RAG_INDEX ran).
    passages: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// `POST /api/articles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArticle {
    title: String,
    body: String,
    #[serde(default)]
    tags: Vec<String>,
    external_id: Option<String>,
}

/// `PATCH /api/articles/{id}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArticle {
    title: Option<String>,
    body: Option<String>,
    tags: Option<Vec<String>>,
}

/// `GET /api/kb/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The text to search for (1 to 2,000 characters).
    q: String,
    /// How many articles, 1 to 20 (default 5).
    limit: Option<usize>,
}

/// A search result: the article's best passage.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    article_id: Uuid,
    external_id: Option<String>,
    title: String,
    passage: i32,
    /// BM25, comparable within one query.
    score: f64,
    /// Matched words in `**bold**`.
    snippet: String,
}

impl From<Hit> for SearchHit {
    fn from(h: Hit) -> Self {
        SearchHit {
            article_id: h.article_id,
            external_id: h.external_id,
            title: h.title,
            passage: h.passage,
            score: h.score,
            snippet: h.snippet,
        }
    }
}

fn check(title: Option<&str>, body: Option<&str>, tags: Option<&[String]>) -> Result<(), ApiError> {
    for (field, v) in [("title", title), ("body", body)] {
        if let Some(v) = v {
            crate::tickets::no_nul(field, v)?;
        }
    }
    for t in tags.unwrap_or_default() {
        crate::tickets::no_nul("tags", t)?;
    }
    if let Some(t) = title {
        let n = t.trim().chars().count();
        if n == 0 || n > MAX_TITLE {
            return Err(ApiError::BadRequest(format!(
                "title must be 1 to {MAX_TITLE} characters, got {n}"
            )));
        }
    }
    if let Some(b) = body {
        if b.len() > MAX_ARTICLE {
            return Err(ApiError::BadRequest(format!(
                "body must be at most {MAX_ARTICLE} bytes, got {}",
                b.len()
            )));
        }
    }
    if let Some(tags) = tags {
        if tags.len() > MAX_TAGS || tags.iter().any(|t| t.is_empty() || t.chars().count() > 100) {
            return Err(ApiError::BadRequest(format!(
                "tags: at most {MAX_TAGS}, each 1 to 100 characters"
            )));
        }
    }
    Ok(())
}

async fn load(tx: &TenantTx, id: Uuid) -> Result<Option<Article>, ApiError> {
    // $1 the article, $2 this organization (the only one RLS shows).
    let row = tx
        .query_opt(
            "SELECT a.id, a.external_id, a.title, a.body, a.tags, a.version,
                    (SELECT count(*) FROM public.kb_passages p
                     WHERE p.organization_id = a.organization_id AND p.article_id = a.id
                       AND p.article_version = a.version),
                    a.created_at, a.updated_at
             FROM public.kb_articles a WHERE a.id = $1 AND a.organization_id = $2",
            &[&id, &tx.org_id()],
        )
        .await?;
    Ok(row.map(|r| Article {
        id: r.get(0),
        external_id: r.get(1),
        title: r.get(2),
        body: r.get(3),
        tags: r.get(4),
        version: r.get(5),
        passages: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
    }))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no article {id} in this organization"))
}

/// Create an article (admin); `RAG_INDEX` indexes it.
#[utoipa::path(post, path = "/api/articles", request_body = CreateArticle, security(("bearer" = [])),
    responses((status = 201, body = Article), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn create_article(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiJson(a): ApiJson<CreateArticle>,
) -> Result<Response, ApiError> {
    auth.require_admin()?;
    check(Some(&a.title), Some(&a.body), Some(&a.tags))?;
    let tx = auth.begin(&state).await?;
    // $1 organization, $2..$5 the article.
    let id: Uuid = tx
        .query_one(
            "INSERT INTO public.kb_articles (organization_id, title, body, tags, external_id)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &tx.org_id(),
                &a.title.trim(),
                &a.body,
                &a.tags,
                &a.external_id,
            ],
        )
        .await?
        .get(0);
    orgjobs_helpdesk::enqueue::changed_articles(&tx, &[id]).await?;
    let article = load(&tx, id).await?.ok_or_else(|| not_found(id))?;
    drop(tx.commit().await?);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/articles/{id}"))],
        Json(article),
    )
        .into_response())
}

/// Get an article.
#[utoipa::path(get, path = "/api/articles/{id}", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Article), (status = 404, body = Problem)))]
pub async fn get_article(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Article>, ApiError> {
    let tx = auth.begin(&state).await?;
    let article = load(&tx, id).await?;
    drop(tx.commit().await?);
    article.map(Json).ok_or_else(|| not_found(id))
}

/// Change an article (admin); a new title or body is indexed again.
#[utoipa::path(patch, path = "/api/articles/{id}", params(("id" = Uuid, Path)), request_body = UpdateArticle,
    security(("bearer" = [])),
    responses((status = 200, body = Article), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn update_article(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(u): ApiJson<UpdateArticle>,
) -> Result<Json<Article>, ApiError> {
    auth.require_admin()?;
    if u.title.is_none() && u.body.is_none() && u.tags.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: give title, body or tags".into(),
        ));
    }
    check(u.title.as_deref(), u.body.as_deref(), u.tags.as_deref())?;
    let tx = auth.begin(&state).await?;
    // $1 the article; $2..$4 new values, NULL keeping the old; $5 the
    // organization (on Citus, a single-shard statement). Returns whether
    // the text its index is built from changed.
    let row = tx
        .query_opt(
            "UPDATE public.kb_articles a
             SET title = coalesce($2, old.title), body = coalesce($3, old.body),
                 tags = coalesce($4, old.tags), updated_at = now()
             FROM public.kb_articles old
             WHERE a.id = $1 AND a.organization_id = $5
               AND old.id = a.id AND old.organization_id = $5
             RETURNING (old.title, old.body) IS DISTINCT FROM (a.title, a.body)",
            &[
                &id,
                &u.title.as_deref().map(str::trim),
                &u.body,
                &u.tags,
                &tx.org_id(),
            ],
        )
        .await?;
    match row {
        None => return Err(not_found(id)),
        Some(r) if r.get::<_, bool>(0) => {
            orgjobs_helpdesk::enqueue::changed_articles(&tx, &[id]).await?;
        }
        Some(_) => {}
    }
    let article = load(&tx, id).await?.ok_or_else(|| not_found(id))?;
    drop(tx.commit().await?);
    Ok(Json(article))
}

/// Delete an article and its passages (admin).
#[utoipa::path(delete, path = "/api/articles/{id}", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_article(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    auth.require_admin()?;
    let tx = auth.begin(&state).await?;
    // $1 the article, $2 this organization; its passages go with it
    // (foreign key cascade).
    let n = tx
        .execute(
            "DELETE FROM public.kb_articles WHERE id = $1 AND organization_id = $2",
            &[&id, &tx.org_id()],
        )
        .await?;
    if n == 0 {
        return Err(not_found(id));
    }
    drop(tx.commit().await?);
    Ok(StatusCode::NO_CONTENT)
}

/// Search the knowledge base, ranked as KB_SUGGEST ranks (BM25 over
/// passages, best passage per article).
#[utoipa::path(get, path = "/api/kb/search", params(SearchQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<SearchHit>), (status = 400, body = Problem)))]
pub async fn search_kb(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    let n = q.q.trim().chars().count();
    if n == 0 || n > 2000 {
        return Err(ApiError::BadRequest(format!(
            "q must be 1 to 2000 characters, got {n}"
        )));
    }
    let limit = q.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to 20, got {limit}"
        )));
    }
    let tx = auth.begin(&state).await?;
    let hits = search(&tx, &q.q, limit).await?;
    drop(tx.commit().await?);
    Ok(Json(hits.into_iter().map(SearchHit::from).collect()))
}
