//! A stand-in for an OpenAI-compatible chat endpoint: a real HTTP server on
//! a free local port that answers `POST /v1/chat/completions` as told (any
//! other method or path: 404) and records every request it received.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};

/// How the stand-in answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// A chat completion whose message is this text.
    Reply(String),
    /// This status, with a short error body.
    Status(u16),
    /// 200 with a body that is not a chat completion.
    Malformed,
    /// 200 with a chat completion without choices.
    NoChoices,
    /// A completion, after this long.
    Slow(Duration),
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    received: Arc<Mutex<Vec<Received>>>,
}

/// A running stand-in; stops when dropped.
pub struct StandIn {
    /// The base URL to configure: `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    pub async fn start(behaviour: Behaviour) -> StandIn {
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            behaviour,
            received: received.clone(),
        };
        let app = Router::new().fallback(completions).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stand-in");
        let port = listener.local_addr().expect("local addr").port();
        let task = tokio::spawn(async move {
            drop(axum::serve(listener, app).await);
        });
        StandIn {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            received,
            task,
        }
    }

    /// The requests so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A base URL nothing listens on (a port bound, then released).
pub fn unreachable_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1")
}

fn completion(text: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "model": "standin",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
    })
    .to_string()
}

async fn completions(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    shared.received.lock().expect("lock").push(Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    });
    let json = [(header::CONTENT_TYPE, "application/json")];
    if method != Method::POST || uri.path() != "/v1/chat/completions" {
        return (StatusCode::NOT_FOUND, json, String::new());
    }
    match shared.behaviour {
        Behaviour::Reply(text) => (StatusCode::OK, json, completion(&text)),
        Behaviour::Status(code) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json,
            r#"{"error":{"message":"model is overloaded"}}"#.to_owned(),
        ),
        Behaviour::Malformed => (StatusCode::OK, json, r#"{"result":"hello"}"#.to_owned()),
        Behaviour::NoChoices => (
            StatusCode::OK,
            json,
            r#"{"id":"chatcmpl-standin","object":"chat.completion","choices":[]}"#.to_owned(),
        ),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, json, completion("too late"))
        }
    }
}
