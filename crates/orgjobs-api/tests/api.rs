//! The HTTP API against the real server, over real HTTP (reqwest on a
//! bound port), logged in as `orgjobs_worker` in strict tenant mode, as in
//! production: the cross-tenant matrix, tokens, roles, bad input, limits,
//! the metric and the OpenAPI document.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use orgjobs_api::{ApiState, TokenRate};
use orgjobs_helpdesk::{NewTicket, create_organization, insert_ticket};
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{
    DbUrl, Metrics, SessionConfig, TenantTx, TokenRole, create_token, revoke_token,
};
use orgjobs_testdb::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

struct Org {
    id: Uuid,
    ticket: Uuid,
    article: Uuid,
    job: i64,
    admin: String,
    agent: String,
    viewer: String,
}

struct Api {
    db: TestDb,
    base: String,
    http: reqwest::Client,
    state: ApiState,
    a: Org,
    b: Org,
    operator: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn seed_org(db: &TestDb, admin_pool: &Pool, name: &str) -> Org {
    let id = Uuid::new_v4();
    let tx = TenantTx::begin(
        admin_pool.get().await.expect("conn"),
        id,
        &SessionConfig::default(),
    )
    .await
    .expect("begin");
    create_organization(&tx, name).await.expect("org");
    let ticket = insert_ticket(
        &tx,
        &NewTicket {
            subject: format!("{name}'s card has not arrived"),
            body: "It has been two weeks.".into(),
            ..NewTicket::default()
        },
    )
    .await
    .expect("ticket");
    let article: Uuid = tx
        .query_one(
            "INSERT INTO public.kb_articles (organization_id, title, body)
             VALUES ($1, 'Card delivery', 'Cards arrive within 7 working days.') RETURNING id",
            &[&id],
        )
        .await
        .expect("article")
        .get(0);
    drop(tx.commit().await.expect("commit"));
    let c = db.admin_client().await;
    // A dead letter of this organization (the ticket's triage job, failed).
    let job: i64 = c
        .query_one(
            "UPDATE orgjobs.jobs SET state = 'discarded', attempt = 1, finalized_at = now(),
                 last_error = 'boom', errors = '[{\"attempt\":1,\"error\":\"boom\"}]'
             WHERE id = (SELECT min(id) FROM orgjobs.jobs WHERE organization_id = $1
                         AND kind = 'TRIAGE_TICKET')
             RETURNING id",
            &[&id],
        )
        .await
        .expect("dead letter")
        .get(0);
    let token = |role| {
        let c = &c;
        async move {
            create_token(c, Some(id), role, "test")
                .await
                .expect("token")
                .token
        }
    };
    Org {
        id,
        ticket,
        article,
        job,
        admin: token(TokenRole::Admin).await,
        agent: token(TokenRole::Agent).await,
        viewer: token(TokenRole::Viewer).await,
    }
}

async fn start(rate: TokenRate) -> Api {
    start_with(rate, None).await
}

/// The server, through `bouncer` (transaction pooling, unnamed statements)
/// when given.
async fn start_with(rate: TokenRate, bouncer: Option<&orgjobs_testdb::PgBouncer>) -> Api {
    let db = TestDb::new(&orgjobs_helpdesk::migrations()).await;
    let admin_pool = db.url().pool(2).await.expect("pool");
    let a = seed_org(&db, &admin_pool, "Acme").await;
    let b = seed_org(&db, &admin_pool, "Beta").await;
    let c = db.admin_client().await;
    let operator = create_token(&c, None, TokenRole::Operator, "ops")
        .await
        .expect("operator")
        .token;
    // The server's login: the least-privilege worker login.
    let url = match bouncer {
        Some(b) => b
            .url(db.name())
            .replace("postgres://postgres@", "postgres://orgjobs_worker@"),
        None => db.url_string_as("orgjobs_worker"),
    };
    let session = SessionConfig {
        statements: if bouncer.is_some() {
            orgjobs_queue::StatementMode::Unnamed
        } else {
            orgjobs_queue::StatementMode::Cached
        },
        ..SessionConfig::default()
    };
    let pool = DbUrl::parse(&url)
        .expect("url")
        .pool(8)
        .await
        .expect("pool");
    orgjobs_queue::check_tenancy(&pool.get().await.expect("conn"), "orgjobs_tenant", true)
        .await
        .expect("the server's startup check passes in strict mode");
    let state = ApiState::new(pool, session, Metrics::new(), rate);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let served = state.clone();
    tokio::spawn(async move {
        let _ = orgjobs_api::serve(
            "127.0.0.1:0".parse().expect("addr"),
            served,
            async move {
                let _ = stopped.await;
            },
            move |addr| {
                let _ = tx.send(addr);
            },
        )
        .await;
    });
    let addr = rx.await.expect("listening");
    Api {
        db,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        state,
        a,
        b,
        operator,
        _stop: stop,
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    async fn count(
        &self,
        sql: &str,
        params: &[&(dyn orgjobs_queue::tokio_postgres::types::ToSql + Sync)],
    ) -> i64 {
        orgjobs_testdb::admin_count(&self.db, sql, params).await
    }

    async fn metric(&self, line_start: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

fn default_rate() -> TokenRate {
    TokenRate::default()
}

/// Every organization route, with organization B's ids, called with A's
/// admin token: "not found" (no existence leak), and nothing of B changed.
#[tokio::test]
async fn another_organizations_ids_are_not_found_on_every_route_and_nothing_changes() {
    let api = start(default_rate()).await;
    let (a, b) = (&api.a, &api.b);
    let before_jobs = api
        .count(
            "SELECT count(*) FROM orgjobs.jobs WHERE organization_id = $1",
            &[&b.id],
        )
        .await;
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/tickets/{}", b.ticket), None),
        (
            Method::PATCH,
            format!("/api/tickets/{}", b.ticket),
            Some(json!({"status": "closed", "category": "hijacked"})),
        ),
        (
            Method::POST,
            format!("/api/tickets/{}/reply-drafts", b.ticket),
            None,
        ),
        (Method::GET, format!("/api/articles/{}", b.article), None),
        (
            Method::PATCH,
            format!("/api/articles/{}", b.article),
            Some(json!({"title": "hijacked"})),
        ),
        (Method::DELETE, format!("/api/articles/{}", b.article), None),
        (Method::GET, format!("/api/jobs/{}", b.job), None),
        (Method::POST, format!("/api/jobs/{}/retry", b.job), None),
        (Method::POST, format!("/api/jobs/{}/cancel", b.job), None),
    ];
    for (method, path, body) in cases {
        let (status, v) = api.call(method.clone(), &path, Some(&a.admin), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {v}");
        assert_eq!(v["status"], 404, "{v}");
        assert!(
            v["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{v}"
        );
    }
    // Lists show A's rows only.
    let (_, v) = api
        .call(Method::GET, "/api/tickets", Some(&a.admin), None)
        .await;
    let ids: Vec<&str> = v["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, [a.ticket.to_string()], "{v}");
    let (_, v) = api
        .call(Method::GET, "/api/jobs", Some(&a.admin), None)
        .await;
    let jobs = v["jobs"].as_array().expect("jobs");
    assert!(!jobs.is_empty());
    assert!(
        !jobs.iter().any(|j| j["id"] == json!(b.job)),
        "B's job listed to A: {v}"
    );
    let (_, v) = api
        .call(
            Method::GET,
            "/api/kb/search?q=card%20delivery",
            Some(&a.admin),
            None,
        )
        .await;
    let hits: Vec<&str> = v
        .as_array()
        .expect("hits")
        .iter()
        .filter_map(|h| h["article_id"].as_str())
        .collect();
    assert!(!hits.contains(&b.article.to_string().as_str()), "{v}");
    // Nothing of B's changed.
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.tickets WHERE id = $1 AND status = 'new' AND category IS NULL",
            &[&b.ticket]
        )
        .await,
        1
    );
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.kb_articles WHERE id = $1 AND title = 'Card delivery'",
            &[&b.article]
        )
        .await,
        1
    );
    assert_eq!(
        api.count(
            "SELECT count(*) FROM orgjobs.jobs WHERE id = $1 AND state = 'discarded'",
            &[&b.job]
        )
        .await,
        1
    );
    assert_eq!(
        api.count(
            "SELECT count(*) FROM orgjobs.jobs WHERE organization_id = $1",
            &[&b.id]
        )
        .await,
        before_jobs,
        "no job enqueued for B"
    );
    // The same calls with B's own token work (the ids exist).
    let (status, v) = api
        .call(
            Method::GET,
            &format!("/api/tickets/{}", b.ticket),
            Some(&b.viewer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["id"], json!(b.ticket));
    let (status, _) = api
        .call(
            Method::GET,
            &format!("/api/jobs/{}", b.job),
            Some(&b.viewer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Without a valid organization token nothing runs: 401 (or 403 for an
/// operator token), counted by route template, never by organization.
#[tokio::test]
async fn requests_without_a_valid_token_run_nothing_and_are_counted_by_route() {
    let api = start(default_rate()).await;
    let c = api.db.admin_client().await;
    let revoked = create_token(&c, Some(api.a.id), TokenRole::Admin, "gone")
        .await
        .expect("token");
    assert!(revoke_token(&c, revoked.id).await.expect("revoke"));
    let wrong_secret = format!("{}{}", &api.a.admin[..api.a.admin.len() - 2], "00");
    let metric = r#"orgjobs_org_context_missing_total{endpoint="/api/tickets"}"#;
    let before = api.metric(metric).await;
    let tickets_before = api.count("SELECT count(*) FROM public.tickets", &[]).await;
    let create = json!({"subject": "should not exist"});
    let mut n = 0.0;
    for token in [
        None,
        Some("not-a-token"),
        Some(wrong_secret.as_str()),
        Some(revoked.token.as_str()),
        Some(api.operator.as_str()),
    ] {
        let (status, v) = api
            .call(Method::POST, "/api/tickets", token, Some(create.clone()))
            .await;
        let expected = if token == Some(api.operator.as_str()) {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{token:?}: {v}");
        assert!(v["detail"].as_str().is_some(), "{v}");
        n += 1.0;
    }
    assert_eq!(api.metric(metric).await, before + n);
    assert_eq!(
        api.count("SELECT count(*) FROM public.tickets", &[]).await,
        tickets_before,
        "nothing was created"
    );
    // Every route (as the OpenAPI document lists them) refuses a missing,
    // a malformed and a revoked token, and changes nothing.
    let doc = api
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .1;
    let mut routes = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("methods").keys() {
            let id = if path.contains("jobs") {
                api.a.job.to_string()
            } else if path.contains("articles") {
                api.a.article.to_string()
            } else {
                api.a.ticket.to_string()
            };
            let concrete = path.replace("{id}", &id);
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            for token in [None, Some("ojt_nope"), Some(revoked.token.as_str())] {
                let (status, v) = api.call(m.clone(), &concrete, token, Some(json!({}))).await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} {token:?}: {v}"
                );
            }
            routes += 1;
        }
    }
    assert!(routes >= 20, "{routes} routes");
    assert_eq!(
        api.count("SELECT count(*) FROM public.tickets", &[]).await,
        tickets_before
    );
    assert_eq!(
        api.count(
            "SELECT count(*) FROM orgjobs.jobs WHERE id = $1 AND state = 'discarded'",
            &[&api.a.job]
        )
        .await,
        1
    );
    assert_eq!(
        api.count("SELECT count(*) FROM public.kb_articles", &[])
            .await,
        2
    );
    // No label carries an organization id.
    let text = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    for org in [api.a.id, api.b.id] {
        assert!(
            !text.contains(&org.to_string()),
            "an organization id in /metrics"
        );
    }
    // Token uses are recorded in a batch, not per request; refused tokens
    // are not uses.
    let (status, _) = api
        .call(Method::GET, "/api/tickets", Some(&api.a.viewer), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let used = "SELECT count(*) FROM orgjobs.api_tokens WHERE last_used_at IS NOT NULL";
    assert_eq!(api.count(used, &[]).await, 0, "not written per request");
    api.state.flush_token_uses().await;
    assert_eq!(
        api.count(
            "SELECT count(*) FROM orgjobs.api_tokens WHERE last_used_at IS NOT NULL
             AND role = 'viewer' AND organization_id = $1",
            &[&api.a.id]
        )
        .await,
        1
    );
    assert_eq!(
        api.count(used, &[]).await,
        1,
        "only the token that was served"
    );
}

/// Roles: a viewer reads, an agent works tickets, an admin also runs the
/// knowledge base, imports and jobs. Writes land in the token's
/// organization (so the context and the role switch were in force).
#[tokio::test]
async fn roles_decide_what_a_token_may_change_and_writes_land_in_its_organization() {
    let api = start(default_rate()).await;
    let a = &api.a;
    let new = json!({"subject": "Where is my card?", "body": "Still waiting."});
    let (status, v) = api
        .call(
            Method::POST,
            "/api/tickets",
            Some(&a.viewer),
            Some(new.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = api
        .call(
            Method::POST,
            "/api/tickets",
            Some(&a.agent),
            Some(new.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let created: Uuid = v["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.tickets WHERE id = $1 AND organization_id = $2",
            &[&created, &a.id]
        )
        .await,
        1
    );
    assert_eq!(
        api.count(
            "SELECT count(*) FROM orgjobs.jobs WHERE organization_id = $1 AND kind = 'TRIAGE_TICKET'
             AND payload->>'ticket_id' = $2",
            &[&a.id, &created.to_string()]
        )
        .await,
        1,
        "the trigger enqueued its triage"
    );
    // The agent labels it; the viewer cannot.
    let label = json!({"category": "card_arrival", "status": "open"});
    let path = format!("/api/tickets/{created}");
    let (status, _) = api
        .call(Method::PATCH, &path, Some(&a.viewer), Some(label.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = api
        .call(Method::PATCH, &path, Some(&a.agent), Some(label))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["category"], "card_arrival");
    // A reply draft is a SMART_REPLY job of A.
    let (status, v) = api
        .call(
            Method::POST,
            &format!("{path}/reply-drafts"),
            Some(&a.agent),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let job = v["job_id"].as_i64().expect("job id");
    assert_eq!(
        api.count(
            "SELECT count(*) FROM orgjobs.jobs WHERE id = $1 AND organization_id = $2 AND kind = 'SMART_REPLY'",
            &[&job, &a.id]
        )
        .await,
        1
    );
    // Articles and job actions need an admin.
    let article = json!({"title": "Lost cards", "body": "Report a lost card in the app."});
    let (status, _) = api
        .call(
            Method::POST,
            "/api/articles",
            Some(&a.agent),
            Some(article.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = api
        .call(Method::POST, "/api/articles", Some(&a.admin), Some(article))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let retry = format!("/api/jobs/{}/retry", a.job);
    let (status, _) = api.call(Method::POST, &retry, Some(&a.agent), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = api.call(Method::POST, &retry, Some(&a.admin), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["outcome"], "retried");
    let (status, v) = api.call(Method::POST, &retry, Some(&a.admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // The operator sees every organization's jobs; an organization token
    // cannot use the operator routes.
    let (status, _) = api
        .call(Method::GET, "/api/operator/jobs", Some(&a.admin), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = api
        .call(
            Method::GET,
            &format!("/api/operator/jobs?org={}", api.b.id),
            Some(&api.operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v.as_array().is_some_and(|j| !j.is_empty()), "{v}");
}

#[tokio::test]
async fn retried_creates_return_the_first_ticket_and_bad_input_is_refused_with_what_was_expected() {
    let api = start(default_rate()).await;
    let t = &api.a.agent;
    let url = format!("{}/api/tickets", api.base);
    let mut ids = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let resp = api
            .http
            .post(&url)
            .bearer_auth(t)
            .header("Idempotency-Key", "order-77")
            .json(&json!({"subject": "Refund please"}))
            .send()
            .await
            .expect("send");
        statuses.push(resp.status());
        let v: Value = resp.json().await.expect("json");
        ids.push(v["id"].clone());
    }
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::OK]);
    assert_eq!(ids[0], ids[1]);
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.tickets WHERE external_id = 'order-77'",
            &[]
        )
        .await,
        1
    );
    let cases: Vec<(Method, &str, Option<Value>, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/api/tickets",
            Some(json!({"subject": "x", "colour": "red"})),
            StatusCode::BAD_REQUEST,
            "unknown field `colour`",
        ),
        (
            Method::POST,
            "/api/tickets",
            Some(json!({"subject": ""})),
            StatusCode::BAD_REQUEST,
            "subject must be 1 to 1000 characters",
        ),
        (
            Method::POST,
            "/api/tickets",
            Some(json!({"subject": "a\u{0}b"})),
            StatusCode::BAD_REQUEST,
            "NUL character",
        ),
        (
            Method::POST,
            "/api/tickets",
            Some(json!({"subject": "x", "requester_email": "nobody"})),
            StatusCode::BAD_REQUEST,
            "is not an email address",
        ),
        (
            Method::POST,
            "/api/tickets",
            Some(json!({"subject": "x", "priority": "asap"})),
            StatusCode::BAD_REQUEST,
            "unknown variant `asap`",
        ),
        (
            Method::GET,
            "/api/tickets/not-a-uuid",
            None,
            StatusCode::BAD_REQUEST,
            "UUID parsing failed",
        ),
        (
            Method::GET,
            "/api/tickets?limit=1000",
            None,
            StatusCode::BAD_REQUEST,
            "limit must be 1 to 100",
        ),
        (
            Method::GET,
            "/api/tickets?status=lost",
            None,
            StatusCode::BAD_REQUEST,
            "is not one of new, open",
        ),
        (
            Method::GET,
            "/api/tickets?after=yesterday",
            None,
            StatusCode::BAD_REQUEST,
            "is not a cursor",
        ),
        (
            Method::GET,
            "/api/jobs?state=dead",
            None,
            StatusCode::BAD_REQUEST,
            "is not one of available",
        ),
        (
            Method::GET,
            "/api/nowhere",
            None,
            StatusCode::NOT_FOUND,
            "no route GET /api/nowhere",
        ),
    ];
    for (method, path, body, status, detail) in cases {
        let (got, v) = api.call(method.clone(), path, Some(t), body).await;
        assert_eq!(got, status, "{method} {path}: {v}");
        assert!(
            v["detail"].as_str().is_some_and(|d| d.contains(detail)),
            "{method} {path}: expected {detail:?} in {v}"
        );
    }
    // Over the body limit: 413, nothing created.
    let big = json!({"subject": "big", "body": "x".repeat(orgjobs_api::MAX_BODY_BYTES + 10)});
    let (status, v) = api
        .call(Method::POST, "/api/tickets", Some(t), Some(big))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.tickets WHERE subject = 'big'",
            &[]
        )
        .await,
        0
    );
    // Problems carry their content type.
    let resp = api
        .http
        .get(format!("{}/api/tickets", api.base))
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert!(resp.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after() {
    let rate = TokenRate {
        per_second: NonZeroU32::MIN,
        burst: NonZeroU32::new(2).expect("2"),
    };
    let api = start(rate).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let resp = api
            .http
            .get(format!("{}/api/tickets", api.base))
            .bearer_auth(&api.a.viewer)
            .send()
            .await
            .expect("send");
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(retry_after, Some(1));
    // Another token is not held back.
    let (status, _) = api
        .call(Method::GET, "/api/tickets", Some(&api.a.agent), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = api
        .call(Method::GET, "/api/tickets", Some(&api.a.viewer), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a token is served again after its wait"
    );
}

#[tokio::test]
async fn import_streams_lines_reports_bad_ones_and_writes_only_into_the_tokens_organization() {
    let api = start(default_rate()).await;
    let body = [
        r#"{"type":"ticket","external_id":"imp-1","subject":"Card stuck","body":"ATM kept it"}"#,
        r#"{"type":"ticket","external_id":"imp-1","subject":"dup","body":"dup"}"#,
        "not json",
        r#"{"type":"article","external_id":"kb-9","title":"ATMs","body":"If an ATM keeps your card, call us."}"#,
    ]
    .join("\n");
    let send = |token: String, body: String| {
        let http = api.http.clone();
        let url = format!("{}/api/import", api.base);
        async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .expect("send");
            let status = resp.status();
            (status, resp.json::<Value>().await.expect("json"))
        }
    };
    let (status, _) = send(api.a.agent.clone(), body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = send(api.a.admin.clone(), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["tickets_inserted"], 1, "{v}");
    assert_eq!(v["articles_inserted"], 1, "{v}");
    assert_eq!(v["lines"], 4);
    let lines: Vec<i64> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["line"].as_i64())
        .collect();
    assert_eq!(lines, [2, 3], "{v}");
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.tickets WHERE external_id = 'imp-1' AND organization_id = $1",
            &[&api.a.id]
        )
        .await,
        1
    );
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.tickets WHERE external_id = 'imp-1'",
            &[]
        )
        .await,
        1,
        "nothing in B"
    );
    // Again: idempotent.
    let (_, v) = send(api.a.admin.clone(), body).await;
    assert_eq!(v["tickets_unchanged"], 1, "{v}");
    // Only bad lines: 400, nothing written.
    let (status, v) = send(api.a.admin.clone(), "oops\n{}\n".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .is_some_and(|d| d.contains("nothing to import")),
        "{v}"
    );
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_route() {
    let api = start(default_rate()).await;
    let (status, doc) = api.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    for p in [
        "/api/tickets",
        "/api/tickets/{id}",
        "/api/tickets/{id}/reply-drafts",
        "/api/tickets-at-risk",
        "/api/metrics-snapshots",
        "/api/articles",
        "/api/articles/{id}",
        "/api/kb/search",
        "/api/import",
        "/api/jobs",
        "/api/jobs/{id}",
        "/api/jobs/{id}/retry",
        "/api/jobs/{id}/cancel",
        "/api/operator/jobs",
        "/api/operator/jobs/retry",
        "/api/operator/jobs/cancel",
        "/api/operator/queue",
        "/api/operator/load",
        "/api/operator/pauses",
        "/api/operator/organizations",
        "/api/operator/organizations/{id}/deactivate",
    ] {
        assert!(
            paths.iter().any(|x| x.as_str() == p),
            "{p} missing from {paths:?}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Every reference resolves, and every operation says how it fails.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("methods") {
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|c| c.starts_with('2'))
                    && responses.keys().any(|c| c.starts_with('4')),
                "{method} {path}: {responses:?}"
            );
        }
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // Every documented operation answers (401 without a token, not 404).
    let (status, _) = api
        .call(Method::GET, "/api/tickets-at-risk", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Behind a transaction-pooling PgBouncer (4 server connections for 32
/// concurrent requests): every request's role and context stay its own.
#[tokio::test]
async fn behind_transaction_pooling_every_request_keeps_its_own_context() {
    let bouncer = orgjobs_testdb::PgBouncer::with_pool_size(4);
    let api = start_with(default_rate(), Some(&bouncer)).await;
    let mut calls = Vec::new();
    for i in 0..32 {
        let (org, token) = if i % 2 == 0 {
            (api.a.ticket, api.a.viewer.clone())
        } else {
            (api.b.ticket, api.b.viewer.clone())
        };
        let (http, base) = (api.http.clone(), api.base.clone());
        calls.push(tokio::spawn(async move {
            let list: Value = http
                .get(format!("{base}/api/tickets"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            (org, list)
        }));
    }
    for c in calls {
        let (own, list) = c.await.expect("join");
        let ids: Vec<&str> = list["tickets"]
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .iter()
            .filter_map(|t| t["id"].as_str())
            .collect();
        assert_eq!(ids, [own.to_string()], "each sees its own ticket only");
    }
    let (status, v) = api
        .call(
            Method::POST,
            "/api/tickets",
            Some(&api.a.agent),
            Some(json!({"subject": "via pgbouncer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

/// The operator routes: load per organization, bulk actions by filter
/// (with a refusal to cancel everything), pause and resume, organizations.
#[tokio::test]
async fn operators_pause_bulk_act_and_manage_organizations() {
    let api = start(default_rate()).await;
    let op = Some(api.operator.as_str());
    let (status, v) = api.call(Method::GET, "/api/operator/load", op, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let orgs: Vec<&str> = v
        .as_array()
        .expect("load")
        .iter()
        .filter_map(|l| l["organization_id"].as_str())
        .collect();
    assert!(orgs.contains(&api.a.id.to_string().as_str()), "{v}");

    // Pause A: visible in the queue's stats.
    let (status, v) = api
        .call(
            Method::POST,
            "/api/operator/pauses",
            op,
            Some(json!({"organization_id": api.a.id, "reason": "noisy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (_, v) = api.call(Method::GET, "/api/operator/queue", op, None).await;
    assert_eq!(v["paused"][0]["organization_id"], json!(api.a.id), "{v}");
    assert_eq!(v["paused"][0]["reason"], "noisy");
    let (status, v) = api
        .call(
            Method::POST,
            "/api/operator/pauses",
            op,
            Some(json!({"kind": "NO_SUCH"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/operator/pauses?org={}", api.a.id),
            op,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/operator/pauses?org={}", api.a.id),
            op,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The pause and the resume are in the actions log, with the token; the
    // refused ones are not.
    assert_eq!(
        api.count(
            "SELECT count(*) FROM orgjobs.actions
             WHERE action IN ('pause', 'resume') AND actor LIKE 'api: token %'",
            &[],
        )
        .await,
        2
    );

    // Bulk: cancelling everything is refused; by organization it takes
    // exactly that organization's waiting jobs.
    let (status, v) = api
        .call(Method::POST, "/api/operator/jobs/cancel", op, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let waiting = "SELECT count(*) FROM orgjobs.jobs WHERE organization_id = $1
                   AND state IN ('available', 'scheduled', 'retryable')";
    let waiting_a = api.count(waiting, &[&api.a.id]).await;
    let waiting_b = api.count(waiting, &[&api.b.id]).await;
    assert!(waiting_a > 0 && waiting_b > 0);
    let (status, v) = api
        .call(
            Method::POST,
            &format!("/api/operator/jobs/cancel?org={}", api.a.id),
            op,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["count"], json!(waiting_a));
    assert_eq!(
        api.count(waiting, &[&api.b.id]).await,
        waiting_b,
        "B's jobs untouched"
    );
    let (_, v) = api
        .call(
            Method::POST,
            &format!("/api/operator/jobs/retry?org={}", api.b.id),
            op,
            None,
        )
        .await;
    assert_eq!(v["count"], 1, "B's one dead letter: {v}");

    // Organizations: create (with its SLA policies), list, deactivate.
    let (status, v) = api
        .call(
            Method::POST,
            "/api/operator/organizations",
            op,
            Some(json!({"name": "Gamma"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let gamma: Uuid = v["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.sla_policies WHERE organization_id = $1",
            &[&gamma]
        )
        .await,
        4
    );
    let (_, v) = api
        .call(Method::GET, "/api/operator/organizations", op, None)
        .await;
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
    let (status, v) = api
        .call(
            Method::POST,
            &format!("/api/operator/organizations/{gamma}/deactivate"),
            op,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        api.count(
            "SELECT count(*) FROM public.organizations o, orgjobs.pauses p
             WHERE o.id = $1 AND NOT o.active AND p.organization_id = o.id",
            &[&gamma]
        )
        .await,
        1
    );
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/operator/organizations/{}/deactivate", Uuid::new_v4()),
            op,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The report routes show the token's organization's rows only.
#[tokio::test]
async fn snapshots_and_tickets_at_risk_are_the_organizations_own() {
    let api = start(default_rate()).await;
    let c = api.db.admin_client().await;
    c.execute(
        "INSERT INTO public.metrics_snapshots (organization_id, tickets_by_status, tickets_by_priority, agent_load)
         VALUES ($1, '{\"new\": 1}', '{\"normal\": 1}', '{}')",
        &[&api.b.id],
    )
    .await
    .expect("snapshot");
    c.execute(
        "INSERT INTO public.sla_predictions (organization_id, ticket_id, predicted_first_response_at,
             predicted_resolution_at, breach_probability, risk_level)
         VALUES ($1, $2, now(), now() + interval '1 day', 0.95, 'at_risk_90')",
        &[&api.b.id, &api.b.ticket],
    )
    .await
    .expect("prediction");
    for (org, want) in [(&api.a, 0), (&api.b, 1)] {
        let (status, v) = api
            .call(
                Method::GET,
                "/api/metrics-snapshots",
                Some(&org.viewer),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v.as_array().map(Vec::len), Some(want), "{v}");
        let (status, v) = api
            .call(Method::GET, "/api/tickets-at-risk", Some(&org.viewer), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v.as_array().map(Vec::len), Some(want), "{v}");
    }
    let (_, v) = api
        .call(
            Method::GET,
            "/api/tickets-at-risk",
            Some(&api.b.viewer),
            None,
        )
        .await;
    assert_eq!(v[0]["id"], json!(api.b.ticket));
    assert_eq!(v[0]["risk_level"], "at_risk_90");
    let (_, v) = api
        .call(
            Method::GET,
            "/api/tickets?risk=at_risk_90",
            Some(&api.b.viewer),
            None,
        )
        .await;
    assert_eq!(v["tickets"].as_array().map(Vec::len), Some(1), "{v}");
}

/// The dashboard without a browser: headers, cookies, CSRF, and an
/// organization's session confined to its own rows (the browser test in
/// the `orgjobs` crate covers the pages end to end).
#[tokio::test]
async fn dashboard_sessions_are_confined_and_every_form_needs_its_csrf_token() {
    let api = start(TokenRate::default()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let base = &api.base;

    // The login page: a strict CSP, no script, the login CSRF cookie.
    let r = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{csp}"
    );
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"),
        "{set}"
    );
    let login_csrf = set
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("login csrf");
    let page = r.text().await.expect("page");
    assert!(
        page.contains(&login_csrf) && !page.contains("<script"),
        "{page}"
    );

    let login = |token: String, csrf: String| {
        let (http, base, cookie) = (http.clone(), base.clone(), login_csrf.clone());
        async move {
            http.post(format!("{base}/login"))
                .header("cookie", format!("orgjobs_login={cookie}"))
                .form(&[("token", token), ("csrf", csrf)])
                .send()
                .await
                .expect("post login")
        }
    };
    // Without the login form's CSRF token: refused, no session.
    let r = login(api.a.agent.clone(), String::new()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());
    // A wrong token: 401, no session.
    let r = login("ojt_nope".into(), login_csrf.clone()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!format!("{:?}", r.headers()).contains("orgjobs_session"));
    // Organization A's agent.
    let r = login(api.a.agent.clone(), login_csrf.clone()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/org");
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("orgjobs_session="))
        .expect("a session cookie")
        .to_owned();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let a_session = Browser {
        http: http.clone(),
        base: base.clone(),
        cookie: session.split(';').next().expect("pair").to_owned(),
    };
    let ticket_page = format!("/org/tickets/{}", api.a.ticket);
    let r = http
        .get(format!("{base}{ticket_page}"))
        .header("cookie", &a_session.cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.expect("page");
    assert!(page.contains("Acme's card has not arrived"), "{page}");
    let csrf = a_session.csrf(&ticket_page).await;
    // B's ticket and job through A's session: not found, nothing of B shown.
    let (status, page) = a_session
        .get(&format!("/org/tickets/{}", api.b.ticket))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("Beta"), "{page}");
    let (status, _) = a_session.get(&format!("/org/jobs/{}", api.b.job)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, page) = a_session.get("/org").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Acme's card") && !page.contains("Beta's card"),
        "{page}"
    );
    let (status, _) = a_session.get("/ops").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no operator pages for an organization"
    );

    // A form without (or with another) CSRF token does nothing.
    let c = api.db.admin_client().await;
    let drafts = |org: Uuid| {
        let c = &c;
        async move {
            c.query_one(
                "SELECT count(*) FROM orgjobs.jobs WHERE kind = 'SMART_REPLY' AND organization_id = $1",
                &[&org],
            )
            .await
            .expect("count")
            .get::<_, i64>(0)
        }
    };
    let (before, before_b) = (drafts(api.a.id).await, drafts(api.b.id).await);
    let draft = format!("{ticket_page}/reply-draft");
    for form in [vec![], vec![("csrf", login_csrf.as_str())]] {
        let r = a_session.post(&draft, &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form:?}");
    }
    assert_eq!(drafts(api.a.id).await, before, "nothing enqueued");
    let r = a_session.post(&draft, &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(drafts(api.a.id).await, before + 1);
    // B's ticket, with A's valid CSRF token: not found, nothing enqueued.
    let r = a_session
        .post(
            &format!("/org/tickets/{}/reply-draft", api.b.ticket),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(drafts(api.b.id).await, before_b);
    assert_eq!(drafts(api.a.id).await, before + 1);
    let logged: i64 = c
        .query_one(
            "SELECT count(*) FROM orgjobs.actions WHERE action = 'request_reply_draft' AND organization_id = $1",
            &[&api.a.id],
        )
        .await
        .expect("actions")
        .get(0);
    assert_eq!(logged, 1);

    // Revoking the token ends its sessions.
    let id: Uuid = c
        .query_one("SELECT token_id FROM orgjobs.dashboard_sessions", &[])
        .await
        .expect("the session row")
        .get(0);
    assert!(revoke_token(&c, id).await.expect("revoke"));
    let (status, _) = a_session.get("/org").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "back to the login page");
}

/// A browser of the dashboard: a client that keeps no cookies and follows
/// no redirects, and the session cookie of a login.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    async fn login(base: &str, token: &str) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let r = http
            .get(format!("{base}/login"))
            .send()
            .await
            .expect("login page");
        let pair = r.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("pair")
            .to_owned();
        let csrf = pair
            .split_once('=')
            .map(|(_, v)| v.to_owned())
            .expect("value");
        let r = http
            .post(format!("{base}/login"))
            .header("cookie", pair)
            .form(&[("token", token), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("orgjobs_session="))
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_owned();
        Browser {
            http,
            base: base.to_owned(),
            cookie,
        }
    }

    /// The page's status and text.
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("get");
        (r.status(), r.text().await.expect("text"))
    }

    /// The CSRF token of the session's forms (from any page with a form).
    async fn csrf(&self, path: &str) -> String {
        let (_, page) = self.get(path).await;
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a form's CSRF token")
            .to_owned()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .expect("post")
    }
}

/// Every operator form refuses a missing CSRF token and does nothing; an
/// organization's session cannot post to operator routes even with its own
/// token; a viewer cannot ask for drafts; `--secure-cookies` makes both
/// cookies `__Host-` and `Secure`.
#[tokio::test]
async fn dashboard_operator_forms_need_their_csrf_token_and_roles_hold() {
    let api = start(TokenRate::default()).await;
    let base = api.base.clone();
    let paused = "SELECT count(*) FROM orgjobs.pauses";
    let dead = "SELECT count(*) FROM orgjobs.jobs WHERE id = $1 AND state = 'discarded'";
    let op = Browser::login(&base, &api.operator).await;
    let csrf = op.csrf("/ops").await;
    let a = api.a.id.to_string();

    let retry = format!("/ops/jobs/{}/retry", api.a.job);
    let no_csrf: [(&str, Vec<(&str, &str)>); 5] = [
        ("/ops/pauses", vec![("org", a.as_str())]),
        ("/ops/pauses/end", vec![("org", a.as_str())]),
        ("/ops/bulk", vec![("action", "retry"), ("org", a.as_str())]),
        (retry.as_str(), vec![]),
        ("/logout", vec![]),
    ];
    for (path, form) in &no_csrf {
        let r = op.post(path, form).await;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{path} without a CSRF token"
        );
    }
    assert_eq!(api.count(paused, &[]).await, 0, "nothing paused");
    assert_eq!(api.count(dead, &[&api.a.job]).await, 1, "nothing retried");
    assert_eq!(op.get("/ops").await.0, StatusCode::OK, "not logged out");

    // With the token: the bulk retry takes A's dead letter, and says so.
    let r = op
        .post(
            "/ops/bulk",
            &[
                ("action", "retry"),
                ("org", a.as_str()),
                ("csrf", csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(to.contains("done=bulk-retry") && to.contains("n=1"), "{to}");
    assert_eq!(api.count(dead, &[&api.a.job]).await, 0);

    // An organization's session, with its own valid CSRF token, on operator
    // routes: 403, nothing done.
    let agent = Browser::login(&base, &api.a.agent).await;
    let agent_csrf = agent.csrf(&format!("/org/tickets/{}", api.a.ticket)).await;
    let r = agent
        .post(
            "/ops/pauses",
            &[("org", a.as_str()), ("csrf", agent_csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.count(paused, &[]).await, 0);

    // A viewer sees no draft button, and posting anyway is refused.
    let viewer = Browser::login(&base, &api.a.viewer).await;
    let (status, page) = viewer.get(&format!("/org/tickets/{}", api.a.ticket)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("request-draft"), "{page}");
    let viewer_csrf = viewer.csrf("/org").await;
    let drafts = "SELECT count(*) FROM orgjobs.jobs WHERE kind = 'SMART_REPLY'";
    let before = api.count(drafts, &[]).await;
    let r = viewer
        .post(
            &format!("/org/tickets/{}/reply-draft", api.a.ticket),
            &[("csrf", viewer_csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.count(drafts, &[]).await, before);

    // An organization's admin cancels and retries its own job from its job
    // page; a viewer cannot; another organization's job is not found.
    let admin = Browser::login(&base, &api.a.admin).await;
    let job_page = format!("/org/jobs/{}", api.a.job);
    let (status, page) = admin.get(&job_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"cancel\""), "{page}");
    let admin_csrf = admin.csrf(&job_page).await;
    let state = "SELECT state FROM orgjobs.jobs WHERE id = $1";
    let job_state = || async {
        api.db
            .admin_client()
            .await
            .query_one(state, &[&api.a.job])
            .await
            .expect("state")
            .get::<_, String>(0)
    };
    let r = admin
        .post(
            &format!("{job_page}/cancel"),
            &[("csrf", admin_csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(job_state().await, "cancelled");
    let r = viewer
        .post(
            &format!("{job_page}/retry"),
            &[("csrf", viewer_csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(job_state().await, "cancelled", "a viewer changed nothing");
    let r = admin
        .post(
            &format!("{job_page}/retry"),
            &[("csrf", admin_csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(job_state().await, "available");
    let r = admin
        .post(
            &format!("/org/jobs/{}/cancel", api.b.job),
            &[("csrf", admin_csrf.as_str())],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "B's job through A's admin"
    );
    let r = admin
        .post(
            &format!("/org/jobs/{}/retry", api.b.job),
            &[("csrf", admin_csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        api.count(dead, &[&api.b.job]).await,
        1,
        "B's dead letter is untouched"
    );
    assert_eq!(
        api.count(
            "SELECT count(*) FROM orgjobs.actions WHERE organization_id = $1 AND action IN ('retry', 'cancel')",
            &[&api.a.id],
        )
        .await,
        2
    );

    // Logging in again ends the browser's previous session.
    let sessions = "SELECT count(*) FROM orgjobs.dashboard_sessions";
    let n = api.count(sessions, &[]).await;
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let pair = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let login_csrf = pair
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .expect("value");
    let r = viewer
        .http
        .post(format!("{base}/login"))
        .header("cookie", format!("{pair}; {}", viewer.cookie))
        .form(&[
            ("token", api.a.viewer.as_str()),
            ("csrf", login_csrf.as_str()),
        ])
        .send()
        .await
        .expect("login again");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        api.count(sessions, &[]).await,
        n,
        "one session replaced by one"
    );
    assert_eq!(
        viewer.get("/org").await.0,
        StatusCode::SEE_OTHER,
        "the old one is gone"
    );

    // Behind HTTPS: __Host- cookies, Secure.
    let _ = api.state.clone().with_secure_cookies(true);
    let r = reqwest::get(format!("{base}/login"))
        .await
        .expect("login page");
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set.starts_with("__Host-orgjobs_login=") && set.contains("; Secure"),
        "{set}"
    );
}
