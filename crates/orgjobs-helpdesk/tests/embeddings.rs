//! The sentence-embedding model in the knowledge-base jobs: vectors stored
//! with each passage, fused ranking that finds an article sharing no word
//! with the ticket, the fallback without the model, re-indexing when the
//! model changes, and another organization's rows with the model on.

mod support;

use orgjobs_helpdesk::HelpdeskOptions;
use orgjobs_helpdesk::kb::{METHOD_FUSED, METHOD_LEXICAL};
use orgjobs_queue::Metrics;
use serde_json::{Value, json};
use support::{Env, article, env, ticket};
use uuid::Uuid;

/// Articles of a shop. The delivery article shares no word stem with the
/// ticket below; three others mention parcels.
fn articles() -> String {
    [
        article(
            "KB-delivery",
            "Delivery times",
            "We dispatch orders within two working days. Standard post takes three to five \
             working days; courier delivery comes the next working day. If your order has not \
             been delivered after ten working days, tell us and we send a replacement at no \
             cost.",
        ),
        article(
            "KB-returns",
            "Returning a parcel",
            "Send the parcel back within 30 days with the prepaid label; the refund reaches your \
             account five days after the parcel reaches our warehouse.",
        ),
        article(
            "KB-damaged",
            "A damaged parcel",
            "If a parcel comes damaged, photograph the parcel and its contents and send us the \
             photos.",
        ),
        article(
            "KB-label",
            "Printing a parcel label",
            "Print the label from your account page and tape it to the parcel.",
        ),
        article(
            "KB-gift",
            "Gift wrapping",
            "Choose gift wrapping at checkout; we add a card with your message.",
        ),
        article(
            "KB-close",
            "Closing your account",
            "To close your account, choose Close account in your profile.",
        ),
    ]
    .join("\n")
}

fn waiting_ticket() -> String {
    ticket(
        "T-1",
        "Still waiting",
        "My parcel has not arrived yet",
        json!({"status": "open"}),
    )
}

fn with_model() -> Option<HelpdeskOptions> {
    let model = orgjobs_embed::shared_for_tests().expect("model")?;
    Some(HelpdeskOptions {
        embedder: Some(model),
        ..HelpdeskOptions::default()
    })
}

async fn suggestion(env: &Env, org: Uuid) -> Value {
    let id = env.ticket_id(org, "T-1").await;
    env.json(
        org,
        "SELECT content FROM public.ai_suggestions
         WHERE ticket_id = $1 AND suggestion_type = 'kb'",
        &[&id],
    )
    .await
}

fn suggested(content: &Value) -> Vec<String> {
    content["suggestions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["external_id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// (passages, passages with a vector of `model`) of `org`.
async fn passages(env: &Env, org: Uuid, model: &str) -> (i64, i64) {
    let tx = env.tx(org).await;
    let row = tx
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE embedding_model = $1
                                                AND cardinality(embedding) = 384)
             FROM public.kb_passages",
            &[&model],
        )
        .await
        .expect("passages");
    drop(tx.rollback().await.expect("rollback"));
    (row.get(0), row.get(1))
}

fn model_id(options: &HelpdeskOptions) -> String {
    options
        .embedder
        .as_ref()
        .map(|m| m.id().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn fused_ranking_finds_the_article_that_shares_no_word_with_the_ticket() {
    let Some(options) = with_model() else {
        return;
    };
    let env = env().await;
    let bank = env.org("Bank").await;
    env.import(bank, &format!("{}\n{}", articles(), waiting_ticket()))
        .await;
    let metrics = Metrics::new();
    env.drain_with_metrics(&options, metrics.clone()).await;

    let model = model_id(&options);
    let (n, embedded) = passages(&env, bank, &model).await;
    assert!(n >= 6, "{n} passages");
    assert_eq!(embedded, n, "every passage has a vector of {model}");

    let content = suggestion(&env, bank).await;
    assert_eq!(content["method"], METHOD_FUSED, "{content}");
    assert_eq!(content["model"], model.as_str());
    let list = suggested(&content);
    assert!(list.contains(&"KB-delivery".to_owned()), "{content}");
    // It is there by meaning: BM25 did not rank it, and it is closer to the
    // ticket than every other article BM25 did not rank.
    let delivery = &content["suggestions"][list
        .iter()
        .position(|e| e == "KB-delivery")
        .unwrap_or_default()];
    assert!(delivery["bm25"].is_null(), "{delivery}");
    let cosine = delivery["cosine"].as_f64().unwrap_or_default();
    assert!(cosine > 0.4, "{delivery}");
    for s in content["suggestions"].as_array().into_iter().flatten() {
        if s["bm25"].is_null() && s["external_id"] != "KB-delivery" {
            assert!(s["cosine"].as_f64() < Some(cosine), "{content}");
        }
    }
    let rendered = metrics.render();
    assert!(
        rendered.contains(&format!(
            "orgjobs_ai_decisions_total{{kind=\"KB_SUGGEST\",method=\"{METHOD_FUSED}\"}} 1"
        )),
        "{rendered}"
    );
    assert!(
        rendered.contains("orgjobs_embedding_model_loaded 1"),
        "{rendered}"
    );
}

#[tokio::test]
async fn without_the_model_the_jobs_fall_back_and_say_so() {
    let env = env().await;
    let bank = env.org("Bank").await;
    env.import(bank, &format!("{}\n{}", articles(), waiting_ticket()))
        .await;
    let metrics = Metrics::new();
    env.drain_with_metrics(&HelpdeskOptions::default(), metrics.clone())
        .await;
    let (n, embedded) = passages(&env, bank, "").await;
    assert!(n >= 6);
    assert_eq!(embedded, 0);
    assert_eq!(
        env.texts(
            bank,
            "SELECT count(*)::text FROM public.kb_passages WHERE embedding IS NOT NULL"
        )
        .await,
        vec![Some("0".to_owned())]
    );
    let content = suggestion(&env, bank).await;
    assert_eq!(content["method"], METHOD_LEXICAL, "{content}");
    assert!(content.get("model").is_none(), "{content}");
    // BM25 alone cannot see the delivery article: it shares no word.
    assert!(
        !suggested(&content).contains(&"KB-delivery".to_owned()),
        "{content}"
    );
    let rendered = metrics.render();
    assert!(
        rendered.contains(&format!(
            "orgjobs_ai_decisions_total{{kind=\"KB_SUGGEST\",method=\"{METHOD_LEXICAL}\"}} 1"
        )),
        "{rendered}"
    );
    assert!(
        rendered.contains("orgjobs_embedding_model_loaded 0"),
        "{rendered}"
    );
}

#[tokio::test]
async fn passages_without_the_models_vectors_are_reindexed() {
    let Some(options) = with_model() else {
        return;
    };
    let model = model_id(&options);
    let env = env().await;
    let bank = env.org("Bank").await;
    env.import(bank, &format!("{}\n{}", articles(), waiting_ticket()))
        .await;
    // Indexed by a worker without the model: no vectors.
    env.drain(&HelpdeskOptions::default()).await;
    assert_eq!(passages(&env, bank, &model).await.1, 0);

    // A worker with the model meets them at the next suggestion: it ranks
    // what has vectors (nothing yet) and queues every article again.
    let ticket_id = env.ticket_id(bank, "T-1").await;
    env.enqueue("KB_SUGGEST", bank, json!({ "ticket_id": ticket_id }))
        .await;
    env.drain(&options).await;
    let content = suggestion(&env, bank).await;
    assert_eq!(content["articles_reindexing"], 6, "{content}");
    let (n, embedded) = passages(&env, bank, &model).await;
    assert_eq!(embedded, n, "re-indexed with {model}");

    // Another model's vectors (as after a model upgrade) count as missing.
    env.admin
        .execute(
            "UPDATE public.kb_passages p SET embedding_model = 'all-MiniLM-L6-v2@sha256:000000000000'
             FROM public.kb_articles a
             WHERE a.id = p.article_id AND a.external_id = 'KB-returns' AND a.organization_id = $1",
            &[&bank],
        )
        .await
        .expect("older model");
    env.enqueue("KB_SUGGEST", bank, json!({ "ticket_id": ticket_id }))
        .await;
    env.drain(&options).await;
    let content = suggestion(&env, bank).await;
    assert_eq!(content["articles_reindexing"], 1, "{content}");
    assert_eq!(passages(&env, bank, &model).await, (n, n));
    // And now nothing is missing.
    env.enqueue("KB_SUGGEST", bank, json!({ "ticket_id": ticket_id }))
        .await;
    env.drain(&options).await;
    assert_eq!(suggestion(&env, bank).await["articles_reindexing"], 0);
}

#[tokio::test]
async fn with_the_model_a_job_naming_another_organizations_rows_finds_nothing() {
    let Some(options) = with_model() else {
        return;
    };
    let model = model_id(&options);
    let env = env().await;
    let bank = env.org("Bank").await;
    let rival = env.org("Rival").await;
    env.import(bank, &format!("{}\n{}", articles(), waiting_ticket()))
        .await;
    env.drain(&options).await;
    let before = passages(&env, bank, &model).await;
    let ticket_id = env.ticket_id(bank, "T-1").await;
    let article_id: Uuid = {
        let tx = env.tx(bank).await;
        let id = tx
            .query_one(
                "SELECT id FROM public.kb_articles WHERE external_id = 'KB-returns'",
                &[],
            )
            .await
            .expect("article")
            .get(0);
        drop(tx.rollback().await.expect("rollback"));
        id
    };
    env.run_foreign_job_with(rival, "RAG_INDEX", "article_id", article_id, &options)
        .await;
    for kind in ["KB_SUGGEST", "TRIAGE_TICKET"] {
        env.run_foreign_job_with(rival, kind, "ticket_id", ticket_id, &options)
            .await;
    }
    // Nothing written on either side.
    assert_eq!(passages(&env, rival, &model).await, (0, 0));
    for table in ["ai_suggestions", "ticket_ai_triage", "kb_passages"] {
        assert_eq!(
            env.texts(rival, &format!("SELECT count(*)::text FROM public.{table}"))
                .await,
            vec![Some("0".to_owned())],
            "{table}"
        );
    }
    assert_eq!(passages(&env, bank, &model).await, before);
}
