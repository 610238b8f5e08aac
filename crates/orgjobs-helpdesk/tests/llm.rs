//! The optional LLM endpoint, against a real local HTTP stand-in: what the
//! client sends, how each failure is reported, and `SMART_REPLY` drafting
//! with it — or falling back to the offline composer when it fails.

mod support;

use std::time::Duration;

use orgjobs_helpdesk::HelpdeskOptions;
use orgjobs_helpdesk::llm::{LlmClient, LlmConfig, LlmError};
use serde_json::json;
use support::llm_standin::{Behaviour, StandIn, unreachable_url};
use support::{Env, article, env, refund_ticket};
use uuid::Uuid;

fn client(base_url: &str, timeout: Duration, key: Option<&str>) -> LlmClient {
    LlmClient::new(LlmConfig {
        base_url: base_url.to_owned(),
        model: "standin-7b".to_owned(),
        api_key: key.map(str::to_owned),
        timeout,
    })
    .expect("client")
}

#[tokio::test]
async fn client_sends_an_openai_chat_request_and_reads_the_answer() {
    let standin = StandIn::start(Behaviour::Reply("  Hello from the model.\n".into())).await;
    let llm = client(&standin.base_url, Duration::from_secs(5), Some("sk-test"));
    let text = llm
        .chat("You are a support agent.", "Where is my card?")
        .await
        .expect("answer");
    assert_eq!(text, "Hello from the model.");
    let received = standin.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(r.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(r.body["model"], "standin-7b");
    assert_eq!(r.body["stream"], false);
    assert_eq!(r.body["temperature"], 0.2);
    assert_eq!(
        r.body["messages"],
        json!([
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": "Where is my card?"},
        ])
    );
    // No key configured: no Authorization header.
    let anonymous = client(
        &format!("{}/", standin.base_url),
        Duration::from_secs(5),
        None,
    );
    anonymous.chat("s", "u").await.expect("answer");
    let r = &standin.received()[1];
    assert_eq!(r.authorization, None);
    // A trailing slash on the base URL does not double up.
    assert_eq!(r.path, "/v1/chat/completions");
}

#[tokio::test]
async fn client_reports_each_failure_plainly() {
    let fast = Duration::from_secs(5);

    let standin = StandIn::start(Behaviour::Status(500)).await;
    match client(&standin.base_url, fast, None).chat("s", "u").await {
        Err(e @ LlmError::Status { status: 500, .. }) => {
            assert!(e.to_string().contains("model is overloaded"), "{e}");
        }
        other => panic!("expected HTTP 500, got {other:?}"),
    }

    let standin = StandIn::start(Behaviour::Malformed).await;
    match client(&standin.base_url, fast, None).chat("s", "u").await {
        Err(e @ LlmError::Malformed(_)) => assert!(e.to_string().contains("choices"), "{e}"),
        other => panic!("expected a malformed answer, got {other:?}"),
    }

    let standin = StandIn::start(Behaviour::Reply("   ".into())).await;
    let empty = client(&standin.base_url, fast, None).chat("s", "u").await;
    assert!(matches!(empty, Err(LlmError::Empty)), "{empty:?}");

    let standin = StandIn::start(Behaviour::NoChoices).await;
    let none = client(&standin.base_url, fast, None).chat("s", "u").await;
    assert!(matches!(none, Err(LlmError::Empty)), "{none:?}");

    // A base URL without /v1: the 404 says which URL and what to check.
    let standin = StandIn::start(Behaviour::Reply("unused".into())).await;
    let root = standin.base_url.trim_end_matches("/v1").to_owned();
    match client(&root, fast, None).chat("s", "u").await {
        Err(e @ LlmError::Status { status: 404, .. }) => {
            let m = e.to_string();
            assert!(m.contains(&format!("{root}/chat/completions")), "{m}");
            assert!(m.contains("is the API base"), "{m}");
        }
        other => panic!("expected HTTP 404, got {other:?}"),
    }

    let standin = StandIn::start(Behaviour::Slow(Duration::from_secs(5))).await;
    let started = std::time::Instant::now();
    let slow = client(&standin.base_url, Duration::from_secs(1), None)
        .chat("s", "u")
        .await;
    assert!(
        matches!(slow, Err(LlmError::Timeout { .. })),
        "expected a timeout, got {slow:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));

    let url = unreachable_url();
    match client(&url, fast, None).chat("s", "u").await {
        Err(e @ LlmError::Unreachable { .. }) => {
            let m = e.to_string();
            assert!(m.contains(&url), "{m}");
            assert_eq!(m.matches(&url).count(), 1, "the URL once: {m}");
            assert!(m.contains("refused"), "{m}");
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
}

/// An organization with one article and an open ticket it answers; returns
/// (organization, ticket).
async fn shop_with_ticket(env: &Env) -> (Uuid, Uuid) {
    let org = env.org("Shop").await;
    env.import(
        org,
        &[
            article(
                "KB-refund",
                "How refunds work",
                "Refunds go back to the card you paid with. Once we receive the returned \
                 parcel, we issue the refund within 3 working days.",
            ),
            article(
                "KB-password",
                "Resetting your password",
                "Choose Forgot password on the sign-in page; the link is valid for 30 minutes.",
            ),
        ]
        .join("\n"),
    )
    .await;
    env.drain(&HelpdeskOptions::default()).await;
    env.import(org, &refund_ticket()).await;
    let id = env.ticket_id(org, "T-1").await;
    env.enqueue("SMART_REPLY", org, json!({ "ticket_id": id }))
        .await;
    (org, id)
}

async fn reply(env: &Env, org: Uuid) -> serde_json::Value {
    env.json(
        org,
        "SELECT content FROM public.ai_suggestions WHERE suggestion_type = 'smart_reply'",
        &[],
    )
    .await
}

async fn smart_reply_state(env: &Env, ticket: Uuid) -> String {
    env.jobs_for("ticket_id", ticket)
        .await
        .into_iter()
        .find(|j| j.0 == "SMART_REPLY")
        .map(|j| j.1)
        .unwrap_or_default()
}

#[tokio::test]
async fn smart_reply_drafts_with_the_endpoint_from_the_retrieved_passages() {
    let env = env().await;
    let (org, id) = shop_with_ticket(&env).await;
    let standin = StandIn::start(Behaviour::Reply(
        "Hi Maria, your refund is issued within 3 working days of the parcel arriving.".into(),
    ))
    .await;
    let options = HelpdeskOptions {
        llm: Some(client(&standin.base_url, Duration::from_secs(5), None)),
        ..HelpdeskOptions::default()
    };
    env.drain(&options).await;
    assert_eq!(smart_reply_state(&env, id).await, "completed");

    let content = reply(&env, org).await;
    assert_eq!(content["composer"], "llm", "{content}");
    assert_eq!(content["model"], "standin-7b");
    assert_eq!(content["fallback_reason"], serde_json::Value::Null);
    assert_eq!(
        content["draft"],
        "Hi Maria, your refund is issued within 3 working days of the parcel arriving."
    );
    assert_eq!(content["articles_used"][0]["external_id"], "KB-refund");

    // The model was given the ticket and the same passages the draft names.
    let received = standin.received();
    assert_eq!(received.len(), 1, "one call per draft");
    let user = received[0].body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(user.contains("Where is my refund?"), "{user}");
    assert!(
        user.contains("we issue the refund within 3 working days"),
        "{user}"
    );
    assert!(user.contains("How refunds work"), "{user}");
}

#[tokio::test]
async fn smart_reply_falls_back_to_the_offline_composer_when_the_endpoint_fails() {
    for (case, url, _standin) in [
        {
            let s = StandIn::start(Behaviour::Status(500)).await;
            ("HTTP 500", s.base_url.clone(), Some(s))
        },
        ("unreachable", unreachable_url(), None),
    ] {
        let env = env().await;
        let (org, id) = shop_with_ticket(&env).await;
        let options = HelpdeskOptions {
            llm: Some(client(&url, Duration::from_secs(5), None)),
            ..HelpdeskOptions::default()
        };
        env.drain(&options).await;
        assert_eq!(
            smart_reply_state(&env, id).await,
            "completed",
            "{case}: a failing endpoint does not fail the job"
        );
        let content = reply(&env, org).await;
        assert_eq!(content["composer"], "offline", "{case}: {content}");
        assert_eq!(content["model"], serde_json::Value::Null, "{case}");
        let reason = content["fallback_reason"].as_str().unwrap_or_default();
        let expected = if case == "HTTP 500" {
            "HTTP 500"
        } else {
            "unreachable"
        };
        assert!(reason.contains(expected), "{case}: {reason}");
        // The organization's row names no internal address.
        assert!(!reason.contains("127.0.0.1"), "{case}: {reason}");
        let draft = content["draft"].as_str().unwrap_or_default();
        assert!(draft.starts_with("Hi Maria,"), "{case}: {draft}");
        assert!(draft.contains("\"How refunds work\""), "{case}: {draft}");
        assert!(draft.contains("3 working days"), "{case}: {draft}");
    }
}
