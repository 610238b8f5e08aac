//! The dashboard in a real browser: Debian's Chromium, driven over
//! WebDriver (chromedriver) by fantoccini, against a real `orgjobs serve`
//! and a real `orgjobs worker` on the demo's database. Screenshots of each
//! main page go to `target/dashboard-screenshots/` (or
//! `$ORGJOBS_SCREENSHOTS`).
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (scripts/test and
//! .ci/run install them).

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, WorkerProcess, orgjobs, text};
use fantoccini::{Client, ClientBuilder, Locator};
use orgjobs_queue::tokio_postgres::{self, NoTls};
use uuid::Uuid;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver (scripts/test does)"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"]
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shots_dir() -> PathBuf {
    let dir = std::env::var_os("ORGJOBS_SCREENSHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn shot(b: &Client, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn login(b: &Client, base: &str, token: &str) {
    b.goto(&format!("{base}/login")).await.expect("login page");
    b.find(Locator::Id("token"))
        .await
        .expect("token field")
        .send_keys(token)
        .await
        .expect("type the token");
    b.find(Locator::Css("form button[type=submit]"))
        .await
        .expect("log in button")
        .click()
        .await
        .expect("log in");
}

/// The page's text (retried while a navigation is under way).
async fn body_text(b: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = match b.find(Locator::Css("body")).await {
            Ok(body) => body.text().await,
            Err(e) => Err(e),
        };
        match found {
            Ok(t) => return t,
            Err(e) => assert!(Instant::now() < deadline, "no page text: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the page shows `needle` (after a click that navigates).
async fn wait_text(b: &Client, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = body_text(b).await;
        if t.contains(needle) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {needle:?}:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(b: &Client, css: &str) {
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Polls `sql` (one bool) until true, or panics after `secs`.
async fn until(
    db: &tokio_postgres::Client,
    secs: u64,
    what: &str,
    sql: &str,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let ok: bool = db.query_one(sql, p).await.expect(what).get(0);
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A discarded TRIAGE_TICKET job of `org` for `ticket` (as if its attempts
/// had run out during an outage): retried, it runs and completes.
async fn discarded_job(db: &tokio_postgres::Client, org: Uuid, ticket: Uuid, error: &str) -> i64 {
    db.query_one(
        "INSERT INTO orgjobs.jobs (kind, organization_id, payload, state, attempt, max_attempts,
                                   attempted_at, finalized_at, last_error, errors)
         VALUES ('TRIAGE_TICKET', $1, jsonb_build_object('ticket_id', $2::uuid), 'discarded', 3, 3,
                 now(), now(), $3,
                 jsonb_build_array(jsonb_build_object('attempt', 3, 'at', now(), 'worker', 'w-test', 'error', $3::text)))
         RETURNING id",
        &[&org, &ticket, &error],
    )
    .await
    .expect("insert a discarded job")
    .get(0)
}

async fn waiting_job(db: &tokio_postgres::Client, org: Uuid, ticket: Uuid) -> i64 {
    db.query_one(
        "INSERT INTO orgjobs.jobs (kind, organization_id, payload)
         VALUES ('TRIAGE_TICKET', $1, jsonb_build_object('ticket_id', $2::uuid)) RETURNING id",
        &[&org, &ticket],
    )
    .await
    .expect("insert a job")
    .get(0)
}

async fn state_of(db: &tokio_postgres::Client, id: i64) -> String {
    db.query_one("SELECT state FROM orgjobs.jobs WHERE id = $1", &[&id])
        .await
        .expect("job state")
        .get(0)
}

fn token_after(stdout: &str, marker: &str) -> String {
    stdout
        .lines()
        .find(|l| l.contains(marker))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no {marker:?} in the demo's output:\n{stdout}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    // The demo's database, organizations, tickets (triaged) and tokens.
    let name = format!("orgjobs_dashboard_test_{}", std::process::id());
    let admin = orgjobs_testdb::admin_url().with_dbname(&name);
    admin.drop_database().await.expect("drop");
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let out = orgjobs(&url, &["demo"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let operator_token = token_after(&stdout, "the operator token");
    let org_token = token_after(&stdout, "agent token:");
    assert!(stdout.contains("open http://127.0.0.1:8080/"), "{stdout}");

    let (db, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    let orgs: Vec<(Uuid, String)> = db
        .query(
            "SELECT id, name FROM public.organizations ORDER BY name",
            &[],
        )
        .await
        .expect("organizations")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(orgs.len() >= 2, "{orgs:?}");
    let (a, a_name) = orgs
        .iter()
        .find(|(id, _)| stdout.contains(&format!("organization {id}'s agent token")))
        .cloned()
        .expect("the token's organization");
    let (org_b, b_name) = orgs
        .iter()
        .find(|(id, _)| *id != a)
        .cloned()
        .expect("another organization");
    let ticket_of = |org: Uuid| {
        let db = &db;
        async move {
            db.query_one(
                "SELECT t.id FROM public.tickets t JOIN public.ticket_ai_triage tr
                   ON tr.organization_id = t.organization_id AND tr.ticket_id = t.id
                 WHERE t.organization_id = $1 ORDER BY t.created_at DESC, t.id DESC LIMIT 1",
                &[&org],
            )
            .await
            .expect("a triaged ticket")
            .get::<_, Uuid>(0)
        }
    };
    let (ticket_a, ticket_b) = (ticket_of(a).await, ticket_of(org_b).await);

    // The server and a worker, both as the least-privilege login.
    let worker_url = url.replace("postgres://postgres@", "postgres://orgjobs_worker@");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .env("DATABASE_URL", &worker_url)
        .env("ORGJOBS_LOG", "info")
        .stdout(Stdio::null());
    let (server, ready) = orgjobs_testdb::LoggedChild::spawn(cmd, "api_listening");
    let base = format!("http://{}", ready["addr"].as_str().unwrap_or_default());
    let worker = WorkerProcess::start(&worker_url, &[]);

    let driver = Driver::start();
    let b = driver.browser().await;

    // Not logged in: every page leads to the login page.
    b.goto(&format!("{base}/ops/organizations"))
        .await
        .expect("goto");
    assert!(
        b.current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/login")
    );
    shot(&b, "login").await;

    // --- Operator ---
    login(&b, &base, &operator_token).await;
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("by-kind"))
        .await
        .expect("the overview after logging in");
    // The worker reports within 5 s: wait for it on the overview.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let rows = b
            .find_all(Locator::Css("#workers tbody tr td code"))
            .await
            .expect("workers");
        if !rows.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no worker on the overview:\n{}",
            body_text(&b).await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.refresh().await.expect("refresh");
    }
    let overview = body_text(&b).await;
    assert!(overview.contains("Jobs by kind and state"), "{overview}");
    assert!(overview.contains("TRIAGE_TICKET"), "{overview}");
    // The demo's jobs, from the workers' history: the TRIAGE_TICKET row's
    // "completed (1 h)" cell is not zero.
    let row = b
        .find(Locator::XPath(
            "//table[@id='by-kind']//tr[td/a[text()='TRIAGE_TICKET']]/td[last()-1]",
        ))
        .await
        .expect("TRIAGE_TICKET's completed (1 h)")
        .text()
        .await
        .expect("text");
    assert!(
        row.replace(',', "").parse::<i64>().unwrap_or(0) > 0,
        "completed in the last hour: {row:?}"
    );
    shot(&b, "operator-overview").await;

    // The demo's organizations.
    click(&b, "header nav a[href='/ops/organizations']").await;
    let page = wait_text(&b, "share of worker time").await;
    for (_, n) in &orgs {
        assert!(
            page.contains(n.as_str()),
            "{n} on the organizations page:\n{page}"
        );
    }
    shot(&b, "operator-organizations").await;

    // A discarded job: open it from the dead letters, retry it, see it run.
    let dead = discarded_job(&db, a, ticket_a, "upstream model timed out").await;
    click(&b, "header nav a[href='/ops/dead-letters']").await;
    let page = wait_text(&b, "Dead letters").await;
    assert!(page.contains("upstream model timed out"), "{page}");
    shot(&b, "operator-dead-letters").await;
    b.goto(&format!("{base}/ops/jobs?state=discarded&org={a}"))
        .await
        .expect("goto");
    click(&b, &format!("#jobs tr[data-job='{dead}'] a")).await;
    let page = wait_text(&b, "Timeline").await;
    assert!(
        page.contains(&format!("Job {dead}")) && page.contains("upstream model timed out"),
        "{page}"
    );
    assert!(
        page.contains(&ticket_a.to_string()),
        "the payload is shown:\n{page}"
    );
    shot(&b, "operator-job").await;
    click(&b, "#retry").await;
    wait_text(&b, "The job will run again now.").await;
    until(
        &db,
        30,
        "the retried job completes",
        "SELECT state = 'completed' FROM orgjobs.jobs WHERE id = $1",
        &[&dead],
    )
    .await;
    let actor: String = db
        .query_one(
            "SELECT actor FROM orgjobs.actions WHERE action = 'retry' AND detail = $1",
            &[&format!("job {dead}")],
        )
        .await
        .expect("the retry is in the actions log")
        .get(0);
    assert!(actor.contains("demo operator"), "{actor}");

    // Bulk retry of everything matching a filter, with the count and a
    // confirmation.
    let mut bulk = Vec::new();
    for _ in 0..3 {
        bulk.push(discarded_job(&db, a, ticket_a, "rate limited by the provider").await);
    }
    let other = discarded_job(&db, org_b, ticket_b, "a different failure").await;
    b.goto(&format!("{base}/ops/dead-letters"))
        .await
        .expect("goto");
    let rows = b
        .find_all(Locator::Css("#dead-letters tbody tr"))
        .await
        .expect("groups");
    let mut clicked = false;
    for r in rows {
        if r.text()
            .await
            .expect("row")
            .contains("rate limited by the provider")
        {
            r.find(Locator::Css("a.button"))
                .await
                .expect("retry all")
                .click()
                .await
                .expect("click");
            clicked = true;
            break;
        }
    }
    assert!(clicked, "a dead-letter group for the error");
    wait_text(&b, "matching").await;
    let n = b
        .find(Locator::Id("bulk-n"))
        .await
        .expect("count")
        .text()
        .await
        .expect("text");
    assert_eq!(n, "3", "{}", body_text(&b).await);
    shot(&b, "operator-bulk-confirm").await;
    click(&b, "#bulk-confirm").await;
    wait_text(&b, "3 jobs will run again now.").await;
    for id in &bulk {
        until(
            &db,
            30,
            "bulk-retried jobs complete",
            "SELECT state = 'completed' FROM orgjobs.jobs WHERE id = $1",
            &[id],
        )
        .await;
    }
    assert_eq!(
        state_of(&db, other).await,
        "discarded",
        "outside the filter"
    );

    // CSRF: the browser's own session cookie, a form without its CSRF
    // token (or with a wrong one): refused, and nothing done.
    let cookies = b.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "orgjobs_session")
        .expect("the session cookie")
        .value()
        .to_owned();
    assert_eq!(
        cookies
            .iter()
            .find(|c| c.name() == "orgjobs_session")
            .and_then(|c| c.http_only()),
        Some(true)
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    for body in [
        "",
        "csrf=",
        "csrf=0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let r = http
            .post(format!("{base}/ops/jobs/{other}/retry"))
            .header("cookie", format!("orgjobs_session={session}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 403, "body {body:?}");
        assert!(
            r.text()
                .await
                .expect("text")
                .contains("CSRF token is missing or wrong")
        );
    }
    assert_eq!(state_of(&db, other).await, "discarded", "nothing was done");

    // Pause organization A: its jobs wait while B's run; resume: they run.
    b.goto(&format!("{base}/ops/organizations"))
        .await
        .expect("goto");
    let row = b
        .find(Locator::Css(&format!("#organizations tr[data-org='{a}']")))
        .await
        .expect("A's row");
    row.find(Locator::Css("input[name=reason]"))
        .await
        .expect("reason")
        .send_keys("noisy neighbour")
        .await
        .expect("type");
    row.find(Locator::Css("button.pause"))
        .await
        .expect("pause")
        .click()
        .await
        .expect("click");
    wait_text(&b, "Paused: its jobs wait until resumed.").await;
    let held: Vec<i64> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(waiting_job(&db, a, ticket_a).await);
        }
        v
    };
    let runs = waiting_job(&db, org_b, ticket_b).await;
    until(
        &db,
        30,
        "B's job runs",
        "SELECT state = 'completed' FROM orgjobs.jobs WHERE id = $1",
        &[&runs],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in &held {
        assert_eq!(
            state_of(&db, *id).await,
            "available",
            "paused A's job {id} waits"
        );
    }
    b.refresh().await.expect("refresh");
    let row = b
        .find(Locator::Css(&format!("#organizations tr[data-org='{a}']")))
        .await
        .expect("A's row");
    let row_text = row.text().await.expect("text");
    assert!(
        row_text.contains("paused") && row_text.contains("noisy neighbour"),
        "{row_text}"
    );
    shot(&b, "operator-organizations-paused").await;
    row.find(Locator::Css("button.resume"))
        .await
        .expect("resume")
        .click()
        .await
        .expect("click");
    for id in &held {
        until(
            &db,
            30,
            "resumed A's jobs run",
            "SELECT state = 'completed' FROM orgjobs.jobs WHERE id = $1",
            &[id],
        )
        .await;
    }
    let by: i64 = db
        .query_one("SELECT count(*) FROM orgjobs.actions WHERE action IN ('pause', 'resume') AND actor LIKE '%demo operator%'", &[])
        .await
        .expect("actions")
        .get(0);
    assert_eq!(by, 2);

    // Logged out: the session is gone.
    click(&b, "#logout").await;
    wait_text(&b, "Log in with an API token").await;
    b.goto(&format!("{base}/ops")).await.expect("goto");
    assert!(
        b.current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/login"),
        "logged out"
    );

    // --- Organization A ---
    login(&b, &base, &org_token).await;
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#tickets"))
        .await
        .expect("the tickets page after logging in");
    let triaged = b
        .find(Locator::Css(&format!(
            "#tickets tr[data-ticket='{ticket_a}']"
        )))
        .await
        .expect("A's triaged ticket listed")
        .text()
        .await
        .expect("text");
    assert!(triaged.contains('%'), "confidence shown: {triaged}");
    let listed = body_text(&b).await;
    shot(&b, "org-tickets").await;
    // None of B's tickets' subjects is listed.
    let b_subjects: Vec<String> = db
        .query(
            "SELECT subject FROM public.tickets WHERE organization_id = $1",
            &[&org_b],
        )
        .await
        .expect("B's tickets")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let a_subjects: Vec<String> = db
        .query(
            "SELECT subject FROM public.tickets WHERE organization_id = $1",
            &[&a],
        )
        .await
        .expect("A's tickets")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for s in b_subjects.iter().filter(|s| !a_subjects.contains(s)) {
        assert!(
            !listed.contains(s.as_str()),
            "B's ticket {s:?} listed for A"
        );
    }
    b.goto(&format!("{base}/org/tickets/{ticket_a}"))
        .await
        .expect("goto");
    let page = wait_text(&b, "Triage").await;
    assert!(
        page.contains("Triage") && page.contains("confidence") && page.contains("model"),
        "{page}"
    );
    let suggested: i32 = db
        .query_one(
            "SELECT coalesce(jsonb_array_length(content -> 'suggestions'), 0) FROM public.ai_suggestions
             WHERE ticket_id = $1 AND suggestion_type = 'kb'",
            &[&ticket_a],
        )
        .await
        .map_or(0, |r| r.get(0));
    let shown = b
        .find_all(Locator::Css("#suggestions li"))
        .await
        .expect("suggestions")
        .len();
    assert!(suggested > 0, "the demo suggests articles for its tickets");
    assert_eq!(
        shown,
        usize::try_from(suggested).unwrap_or(0),
        "every suggested article is shown:\n{page}"
    );
    shot(&b, "org-ticket").await;
    click(&b, "#request-draft").await;
    wait_text(&b, "A reply draft was requested").await;

    // B's ticket and job, typed into A's session: not found.
    b.goto(&format!("{base}/org/tickets/{ticket_b}"))
        .await
        .expect("goto");
    let page = body_text(&b).await;
    assert!(
        page.contains("404") && page.contains("no ticket") && page.contains("in this organization"),
        "{page}"
    );
    assert!(!page.contains(&b_name), "{page}");
    shot(&b, "org-other-organizations-ticket").await;
    b.goto(&format!("{base}/org/jobs/{other}"))
        .await
        .expect("goto");
    assert!(
        body_text(&b).await.contains("no job"),
        "B's job is not found for A"
    );
    b.goto(&format!("{base}/ops")).await.expect("goto");
    assert!(
        body_text(&b).await.contains("403"),
        "an organization's session cannot see the operator pages"
    );

    for (path, name, title) in [
        ("/org/at-risk", "org-at-risk", "Tickets at risk"),
        ("/org/metrics", "org-metrics", "Metrics"),
        ("/org/jobs", "org-jobs", "SMART_REPLY"),
    ] {
        b.goto(&format!("{base}{path}")).await.expect("goto");
        let page = wait_text(&b, title).await;
        assert!(!page.contains("Internal Server Error"), "{path}: {page}");
        shot(&b, name).await;
    }
    let who = b
        .find(Locator::Id("who"))
        .await
        .expect("the header")
        .text()
        .await
        .expect("text");
    assert!(
        who.contains(&a_name),
        "the header names the organization: {who}"
    );

    b.close().await.expect("close the browser");
    drop(driver);
    assert!(worker.terminate().success());
    assert!(server.terminate().success());
    drop(db);
    admin.drop_database().await.expect("drop");
}
