//! The helpdesk jobs on real data in a real database, each run by a real
//! worker as the tenant role: what each stores, that a re-run replaces
//! rather than adds, and that a payload naming another organization's row
//! ends the job with "not found in this organization", writes nothing and
//! is not retried.

mod support;

use orgjobs_helpdesk::HelpdeskOptions;
use serde_json::json;
use support::{Env, article, env, refund_ticket, ticket};
use uuid::Uuid;

const KB_A: &[(&str, &str, &str)] = &[
    (
        "KB-refund",
        "How refunds work",
        "Refunds go back to the card you paid with. Once we receive the returned parcel, \
         we issue the refund within 3 working days. Your bank may take another 5 days to show it.",
    ),
    (
        "KB-password",
        "Resetting your password",
        "Open the sign-in page and choose Forgot password. We email a reset link that is valid \
         for 30 minutes. If no email arrives, check your spam folder.",
    ),
    (
        "KB-delivery",
        "Delivery times",
        "Standard delivery takes 2 to 4 working days. Express orders placed before noon arrive \
         the next working day. You can track your parcel from the order page.",
    ),
];

async fn kb_org(env: &Env, name: &str, articles: &[(&str, &str, &str)]) -> Uuid {
    let org = env.org(name).await;
    let lines: Vec<String> = articles.iter().map(|(e, t, b)| article(e, t, b)).collect();
    env.import(org, &lines.join("\n")).await;
    org
}

#[tokio::test]
async fn rag_index_cuts_articles_into_passages_and_replaces_old_versions() {
    let env = env().await;
    let long_body = (0..30)
        .map(|i| {
            format!("Step {i}: open the app, choose Cards, then confirm the change number {i}.")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let org = kb_org(&env, "Indexer", &[("KB-long", "A long guide", &long_body)]).await;
    let other = kb_org(&env, "Other", KB_A).await;
    env.drain(&HelpdeskOptions::default()).await;

    let env = &env;
    let count = |org| async move {
        env.texts(
            org,
            "SELECT count(*)::text || '/' || count(DISTINCT article_version)::text
                    || '/' || max(length(content))::text
             FROM public.kb_passages",
        )
        .await
    };
    let first = count(org).await;
    let parts: Vec<i64> = first[0]
        .as_deref()
        .unwrap_or_default()
        .split('/')
        .map(|p| p.parse().unwrap_or(-1))
        .collect();
    assert!(
        parts[0] >= 3,
        "a long article gives several passages: {first:?}"
    );
    assert_eq!(parts[1], 1);
    assert!(parts[2] <= 800, "passages are bounded: {first:?}");

    // Re-running the job replaces; it does not add.
    let article_id: Uuid = {
        let tx = env.tx(org).await;
        let id = tx
            .query_one("SELECT id FROM public.kb_articles", &[])
            .await
            .expect("article")
            .get(0);
        drop(tx.rollback().await.expect("rollback"));
        id
    };
    env.enqueue("RAG_INDEX", org, json!({ "article_id": article_id }))
        .await;
    env.drain(&HelpdeskOptions::default()).await;
    assert_eq!(count(org).await, first);

    // Editing the article indexes version 2 and drops version 1's passages.
    let tx = env.tx(org).await;
    tx.execute(
        "UPDATE public.kb_articles SET body = 'Short now. Only one passage.' WHERE id = $1",
        &[&article_id],
    )
    .await
    .expect("edit");
    drop(tx.commit().await.expect("commit"));
    env.drain(&HelpdeskOptions::default()).await;
    assert_eq!(
        env.texts(
            org,
            "SELECT article_version || ':' || content FROM public.kb_passages"
        )
        .await,
        vec![Some("2:Short now. Only one passage.".to_owned())]
    );

    // Another organization's article: not found, nothing written there.
    let before = env
        .texts(other, "SELECT count(*)::text FROM public.kb_passages")
        .await;
    env.run_foreign_job(other, "RAG_INDEX", "article_id", article_id)
        .await;
    assert_eq!(
        env.texts(other, "SELECT count(*)::text FROM public.kb_passages")
            .await,
        before
    );
}

#[tokio::test]
async fn kb_suggest_and_smart_reply_use_only_the_organizations_own_articles() {
    let env = env().await;
    let shop = kb_org(&env, "Shop", KB_A).await;
    // A second organization whose article matches the ticket even better:
    // it must never be suggested to the first.
    let rival = kb_org(
        &env,
        "Rival",
        &[(
            "KB-rival-refund",
            "Refund refund refund returned parcel",
            "Refund for a returned parcel: refund refund refund to your card.",
        )],
    )
    .await;
    env.drain(&HelpdeskOptions::default()).await;
    env.import(shop, &refund_ticket()).await;
    let t1 = env.ticket_id(shop, "T-1").await;
    env.enqueue("SMART_REPLY", shop, json!({ "ticket_id": t1 }))
        .await;
    env.drain(&HelpdeskOptions::default()).await;

    let kb = env
        .json(
            shop,
            "SELECT content FROM public.ai_suggestions WHERE suggestion_type = 'kb'",
            &[],
        )
        .await;
    let suggestions = kb["suggestions"].as_array().cloned().unwrap_or_default();
    assert!(!suggestions.is_empty(), "{kb}");
    assert_eq!(suggestions[0]["external_id"], "KB-refund", "{kb}");
    assert!(suggestions[0]["score"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(
        suggestions[0]["snippet"]
            .as_str()
            .unwrap_or_default()
            .contains("**refund"),
        "snippets highlight the matched words: {kb}"
    );
    assert!(
        suggestions
            .iter()
            .all(|s| s["external_id"] != "KB-rival-refund"),
        "another organization's article was suggested: {kb}"
    );

    let reply = env
        .json(
            shop,
            "SELECT content FROM public.ai_suggestions WHERE suggestion_type = 'smart_reply'",
            &[],
        )
        .await;
    let draft = reply["draft"].as_str().unwrap_or_default();
    assert_eq!(reply["composer"], "offline");
    assert!(draft.starts_with("Hi Maria,"), "{draft}");
    assert!(
        draft.contains("\"How refunds work\""),
        "names the article: {draft}"
    );
    assert!(
        draft.contains("3 working days"),
        "grounded in the passage: {draft}"
    );
    assert!(draft.contains("Shop Support"), "{draft}");
    assert!(!draft.contains("Rival"), "{draft}");

    // Re-running replaces: still one row of each type.
    env.enqueue("KB_SUGGEST", shop, json!({ "ticket_id": t1 }))
        .await;
    env.enqueue("SMART_REPLY", shop, json!({ "ticket_id": t1 }))
        .await;
    env.drain(&HelpdeskOptions::default()).await;
    assert_eq!(
        env.texts(
            shop,
            "SELECT suggestion_type || ':' || count(*) FROM public.ai_suggestions GROUP BY suggestion_type ORDER BY 1"
        )
        .await,
        vec![Some("kb:1".to_owned()), Some("smart_reply:1".to_owned())]
    );

    // The rival's jobs naming the shop's ticket: not found, nothing written.
    for kind in ["KB_SUGGEST", "SMART_REPLY"] {
        env.run_foreign_job(rival, kind, "ticket_id", t1).await;
    }
    assert_eq!(
        env.texts(rival, "SELECT count(*)::text FROM public.ai_suggestions")
            .await,
        vec![Some("0".to_owned())]
    );
}

#[tokio::test]
async fn sla_predict_uses_the_policy_history_and_clock() {
    let env = env().await;
    let org = env.org("Timely").await;
    // History: urgent tickets answered in 20-40 minutes, resolved in 2-4 h.
    let now = chrono::Utc::now();
    let mut lines = Vec::new();
    for i in 0..40 {
        let created = now - chrono::Duration::days(2 + i % 20) - chrono::Duration::hours(i % 7);
        let frt = created + chrono::Duration::minutes(20 + (i * 7) % 20);
        let res = created + chrono::Duration::minutes(120 + (i * 13) % 120);
        lines.push(ticket(
            &format!("H-{i}"),
            "Checkout is down",
            "Customers cannot pay.",
            json!({"priority": "urgent", "status": "closed", "created_at": created,
                   "first_response_at": frt, "resolved_at": res, "category": "outage"}),
        ));
    }
    // Open: one 2 h old without a response (its 1 h target has passed), one
    // created a minute ago.
    lines.push(ticket(
        "LATE",
        "Site down",
        "Nothing loads.",
        json!({"priority": "urgent", "status": "new",
               "created_at": now - chrono::Duration::hours(2)}),
    ));
    lines.push(ticket(
        "FRESH",
        "Site down again",
        "Nothing loads.",
        json!({"priority": "urgent", "status": "new",
               "created_at": now - chrono::Duration::minutes(1)}),
    ));
    env.import(org, &lines.join("\n")).await;
    env.drain(&HelpdeskOptions::default()).await;

    let pred = |ext: &'static str| {
        let env = &env;
        async move {
            let id = env.ticket_id(org, ext).await;
            env.json(
                org,
                "SELECT jsonb_build_object('p', breach_probability, 'risk', risk_level,
                    'frt_min', extract(epoch FROM predicted_first_response_at - t.created_at) / 60,
                    'res_min', extract(epoch FROM predicted_resolution_at - t.created_at) / 60)
                 FROM public.sla_predictions p JOIN public.tickets t ON t.id = p.ticket_id
                 WHERE p.ticket_id = $1",
                &[&id],
            )
            .await
        }
    };
    let late = pred("LATE").await;
    assert_eq!(late["risk"], "breached", "{late}");
    assert_eq!(late["p"].as_f64(), Some(1.0), "{late}");
    let fresh = pred("FRESH").await;
    let p = fresh["p"].as_f64().unwrap_or(-1.0);
    assert!((0.0..0.5).contains(&p), "history answers in time: {fresh}");
    let frt = fresh["frt_min"].as_f64().unwrap_or(-1.0);
    assert!(
        (15.0..=90.0).contains(&frt),
        "predicted from history: {fresh}"
    );
    let res = fresh["res_min"].as_f64().unwrap_or(-1.0);
    assert!((100.0..=480.0).contains(&res), "{fresh}");

    // A re-run replaces the row.
    let fresh_id = env.ticket_id(org, "FRESH").await;
    env.enqueue("SLA_PREDICT", org, json!({ "ticket_id": fresh_id }))
        .await;
    env.drain(&HelpdeskOptions::default()).await;
    assert_eq!(
        env.texts(org, "SELECT count(*)::text FROM public.sla_predictions")
            .await,
        vec![Some("42".to_owned())]
    );

    // Another organization's job naming this ticket: not found.
    let other = env.org("Other").await;
    env.run_foreign_job(other, "SLA_PREDICT", "ticket_id", fresh_id)
        .await;
    assert_eq!(
        env.texts(other, "SELECT count(*)::text FROM public.sla_predictions")
            .await,
        vec![Some("0".to_owned())]
    );
}

#[tokio::test]
async fn new_tickets_enqueue_their_jobs_in_the_same_transaction_even_by_plain_sql() {
    let env = env().await;
    let org = env.org("Plain").await;
    let tx = env.tx(org).await;
    let id: Uuid = tx
        .query_one(
            "INSERT INTO public.tickets (organization_id, subject) VALUES ($1, 'hello') RETURNING id",
            &[&org],
        )
        .await
        .expect("insert")
        .get(0);
    drop(tx.rollback().await.expect("rollback"));
    assert!(
        env.jobs_for("ticket_id", id).await.is_empty(),
        "rolled back with the ticket"
    );

    let tx = env.tx(org).await;
    let id: Uuid = tx
        .query_one(
            "INSERT INTO public.tickets (organization_id, subject) VALUES ($1, 'hello') RETURNING id",
            &[&org],
        )
        .await
        .expect("insert")
        .get(0);
    drop(tx.commit().await.expect("commit"));
    let kinds: Vec<String> = env
        .jobs_for("ticket_id", id)
        .await
        .into_iter()
        .map(|j| j.0)
        .collect();
    assert_eq!(kinds, ["TRIAGE_TICKET", "KB_SUGGEST", "SLA_PREDICT"]);
    let orgs: Vec<Option<Uuid>> = env
        .admin
        .query(
            "SELECT organization_id FROM orgjobs.jobs WHERE payload->>'ticket_id' = $1::uuid::text",
            &[&id],
        )
        .await
        .expect("jobs")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(orgs.iter().all(|o| *o == Some(org)), "{orgs:?}");
}

#[tokio::test]
async fn import_is_idempotent_and_enqueues_like_creation() {
    let env = env().await;
    let org = env.org("Importer").await;
    let file = [
        ticket(
            "T-1",
            "Card not arrived",
            "Ordered two weeks ago",
            json!({"category": "card_arrival"}),
        ),
        ticket(
            "T-2",
            "Refund",
            "Where is it",
            json!({"status": "resolved",
            "created_at": "2026-01-01T10:00:00Z", "resolved_at": "2026-01-02T10:00:00Z"}),
        ),
        ticket("T-3", "No created_at", "Defaults to now", json!({})),
        r#"{"type":"ticket","subject":"No external id","body":"hashed key"}"#.to_owned(),
        article("KB-1", "Card delivery", "Cards arrive in 5 days."),
    ]
    .join("\n");
    let parsed = orgjobs_helpdesk::import::parse(file.as_bytes()).expect("parse");
    let run = || async {
        let tx = env.tx(org).await;
        let r = orgjobs_helpdesk::import::import(&tx, &parsed.records, chrono::Duration::zero())
            .await
            .expect("import");
        drop(tx.commit().await.expect("commit"));
        r
    };
    let jobs = || async {
        env.admin
            .query_one("SELECT count(*) FROM orgjobs.jobs", &[])
            .await
            .expect("count")
            .get::<_, i64>(0)
    };
    let first = run().await;
    assert_eq!(
        (first.tickets_inserted, first.articles_inserted),
        (4, 1),
        "{first:?}"
    );
    // Three jobs per ticket, one per article.
    assert_eq!(jobs().await, 4 * 3 + 1);
    let second = run().await;
    assert_eq!(
        (
            second.tickets_inserted,
            second.tickets_updated,
            second.tickets_unchanged,
            second.articles_unchanged
        ),
        (0, 0, 4, 1),
        "{second:?}"
    );
    assert_eq!(jobs().await, 13, "re-importing enqueues nothing");
    assert_eq!(
        env.texts(org, "SELECT count(*)::text FROM public.tickets")
            .await,
        vec![Some("4".to_owned())]
    );

    // A changed line updates its row (and the article's edit re-indexes).
    let changed = file.replace("Cards arrive in 5 days.", "Cards arrive in 3 days.");
    let parsed2 = orgjobs_helpdesk::import::parse(changed.as_bytes()).expect("parse");
    let tx = env.tx(org).await;
    let r = orgjobs_helpdesk::import::import(&tx, &parsed2.records, chrono::Duration::zero())
        .await
        .expect("import");
    drop(tx.commit().await.expect("commit"));
    assert_eq!((r.articles_updated, r.tickets_unchanged), (1, 4), "{r:?}");

    // Status and resolution time stay consistent on update: a resolution
    // time without a status resolves an open ticket; reopening clears it.
    let state = |ext: &'static str| {
        let env = &env;
        async move {
            // $1 external id.
            env.json(
                org,
                "SELECT to_jsonb(status || ' ' || coalesce(resolved_at::text, '-'))
                 FROM public.tickets WHERE external_id = $1",
                &[&ext],
            )
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
        }
    };
    env.import(
        org,
        &ticket(
            "T-9",
            "Late",
            "Still waiting",
            json!({"status": "open",
            "created_at": "2026-01-05T10:00:00Z"}),
        ),
    )
    .await;
    env.import(
        org,
        &ticket(
            "T-9",
            "Late",
            "Still waiting",
            json!({
            "created_at": "2026-01-05T10:00:00Z", "resolved_at": "2026-01-06T10:00:00Z"}),
        ),
    )
    .await;
    let resolved = state("T-9").await;
    assert!(resolved.starts_with("resolved 2026-01-06"), "{resolved}");
    env.import(
        org,
        &ticket(
            "T-2",
            "Refund",
            "Where is it",
            json!({"status": "open",
            "created_at": "2026-01-01T10:00:00Z"}),
        ),
    )
    .await;
    assert_eq!(state("T-2").await, "open -");

    // An organization that does not exist.
    let nobody = Uuid::new_v4();
    let tx = env.tx(nobody).await;
    let err = orgjobs_helpdesk::import::import(&tx, &parsed.records, chrono::Duration::zero())
        .await
        .expect_err("no such organization");
    assert!(err.to_string().contains("does not exist"), "{err}");
}
