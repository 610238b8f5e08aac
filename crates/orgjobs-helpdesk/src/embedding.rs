//! The sentence-embedding model as the helpdesk's jobs use it: loaded once
//! per worker process ([`load`]), shared by `RAG_INDEX`, `KB_SUGGEST` and
//! `TRIAGE_TICKET`, run on a thread of its own that embeds together what
//! jobs running at the same time ask for (a batch of short texts costs a
//! third of their time one by one), using every core for each batch.
//!
//! Without a model the jobs fall back to what they did before embeddings:
//! BM25 alone for suggestions, TF-IDF alone for triage. The worker logs a
//! warning when it starts without one, the gauge
//! `orgjobs_embedding_model_loaded` is 0, and every decision is counted in
//! `orgjobs_ai_decisions_total{kind, method}` and says in its stored result
//! which method made it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use orgjobs_queue::Metrics;
use prometheus::{IntCounterVec, IntGauge, Opts};
use uuid::Uuid;

pub use orgjobs_embed::{DIMENSIONS, EmbedError, Embedder, Embedding, cosine};

/// Tickets embedded lately, per organization and text: `KB_SUGGEST` and
/// `TRIAGE_TICKET` of one ticket embed the same text, and this saves the
/// second. Keyed by organization too, so that nothing is shared between
/// organizations (not even the time a lookup takes).
type Recent = Arc<Mutex<HashMap<(Uuid, u64), Embedding>>>;
/// Entries [`Recent`] holds before it starts afresh (1.5 kB each).
const RECENT_CAPACITY: usize = 4096;

/// One request to the embedding thread: texts, and where the vectors go.
type Request = (
    Vec<String>,
    tokio::sync::oneshot::Sender<Result<Vec<Embedding>, String>>,
);
/// Texts the embedding thread takes into one batch at most (more wait for
/// the next).
const BATCH_TEXTS: usize = 64;

/// The model, if any, and the metrics that say what decided.
#[derive(Clone, Default)]
pub struct Embeddings {
    model: Option<Arc<Embedder>>,
    requests: Option<std::sync::mpsc::Sender<Request>>,
    decisions: Option<IntCounterVec>,
    recent: Recent,
}

/// The embedding thread: takes a request, and with it every request already
/// waiting (up to [`BATCH_TEXTS`] texts), embeds them in one call, answers
/// each. Ends when every [`Embeddings`] holding its channel is dropped.
fn embedding_thread(model: Arc<Embedder>, rx: std::sync::mpsc::Receiver<Request>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut texts = batch[0].0.len();
        while texts < BATCH_TEXTS {
            match rx.try_recv() {
                Ok(r) => {
                    texts += r.0.len();
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        let all: Vec<&str> = batch
            .iter()
            .flat_map(|(t, _)| t.iter().map(String::as_str))
            .collect();
        match model.embed(&all) {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for (t, reply) in batch {
                    let _ = reply.send(Ok(vectors.by_ref().take(t.len()).collect()));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// A hash of a text, for caches within this process.
pub(crate) fn text_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl std::fmt::Debug for Embeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embeddings")
            .field("model", &self.model_id())
            .finish()
    }
}

impl Embeddings {
    /// `model` (or none), with its metrics registered in `metrics`.
    pub fn new(model: Option<Arc<Embedder>>, metrics: &Metrics) -> Embeddings {
        let decisions = IntCounterVec::new(
            Opts::new(
                "ai_decisions_total",
                "Suggestions and triage decisions, by job kind and the method that made them \
                 (a fallback method means the embedding model was absent or failed)",
            ),
            &["kind", "method"],
        )
        .ok();
        let loaded = IntGauge::new(
            "embedding_model_loaded",
            "1 if this worker loaded the sentence-embedding model, 0 if its jobs fall back to \
             full-text and TF-IDF methods",
        )
        .ok();
        // Registering twice (two registries in one process) fails; the first
        // registration serves both.
        if let Some(d) = &decisions {
            let _ = metrics.register(Box::new(d.clone()));
        }
        if let Some(g) = loaded {
            g.set(i64::from(model.is_some()));
            let _ = metrics.register(Box::new(g));
        }
        let requests = model.clone().and_then(|m| {
            let (tx, rx) = std::sync::mpsc::channel();
            match std::thread::Builder::new()
                .name("orgjobs-embed".into())
                .spawn(move || embedding_thread(m, rx))
            {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::warn!(event = "embedding_failed", error = %e, "cannot start the embedding thread");
                    None
                }
            }
        });
        Embeddings {
            model: requests.as_ref().and(model),
            requests,
            decisions,
            recent: Recent::default(),
        }
    }

    /// No model: every job uses the fallback methods.
    pub fn none() -> Embeddings {
        Embeddings::default()
    }

    /// The model's id ([`Embedder::id`]), if there is one.
    pub fn model_id(&self) -> Option<&str> {
        self.model.as_deref().map(Embedder::id)
    }

    /// The texts' embeddings, computed on the embedding thread (with what
    /// other jobs ask for at the same time); `None` without a model or when
    /// the model fails (logged: the job then falls back).
    pub(crate) async fn embed(&self, texts: Vec<String>) -> Option<Vec<Embedding>> {
        let requests = self.requests.as_ref()?;
        let n = texts.len();
        let (reply, answer) = tokio::sync::oneshot::channel();
        if requests.send((texts, reply)).is_err() {
            tracing::warn!(
                event = "embedding_failed",
                texts = n,
                error = "the embedding thread has ended"
            );
            return None;
        }
        match answer.await {
            Ok(Ok(v)) if v.len() == n => Some(v),
            Ok(Ok(v)) => {
                tracing::warn!(event = "embedding_failed", texts = n, got = v.len());
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(event = "embedding_failed", texts = n, error = %e);
                None
            }
            Err(e) => {
                tracing::warn!(event = "embedding_failed", texts = n, error = %e);
                None
            }
        }
    }

    /// One ticket's text's embedding in `org`, from the recent ones if it was
    /// embedded lately; `None` as for [`Embeddings::embed`].
    pub(crate) async fn embed_ticket(&self, org: Uuid, text: &str) -> Option<Embedding> {
        if let Some(v) = self.recall(org, text) {
            return Some(v);
        }
        let v = self.embed(vec![text.to_owned()]).await?.pop()?;
        self.remember(org, text, &v);
        Some(v)
    }

    /// A ticket text of `org` embedded lately, if it was.
    pub(crate) fn recall(&self, org: Uuid, text: &str) -> Option<Embedding> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(org, text_hash(text)))
            .cloned()
    }

    /// Keeps a ticket text's embedding for [`Embeddings::recall`].
    pub(crate) fn remember(&self, org: Uuid, text: &str, v: &Embedding) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= RECENT_CAPACITY {
            recent.clear();
        }
        recent.insert((org, text_hash(text)), v.clone());
    }

    /// Counts one decision of `kind` by `method`.
    pub(crate) fn decided(&self, kind: &str, method: &str) {
        if let Some(d) = &self.decisions {
            d.with_label_values(&[kind, method]).inc();
        }
    }
}

/// What the worker should do about the model (`ORGJOBS_EMBEDDINGS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelPolicy {
    /// Load it if it is there; otherwise warn and fall back (the default).
    Auto,
    /// Load it or refuse to start.
    Required,
    /// Do not load it: fallback methods only.
    Off,
}

impl std::str::FromStr for ModelPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "auto" => Ok(ModelPolicy::Auto),
            "required" => Ok(ModelPolicy::Required),
            "off" => Ok(ModelPolicy::Off),
            other => Err(format!(
                "the embeddings setting is {other:?}; expected auto, required or off"
            )),
        }
    }
}

/// Loads the model from `dir` as `policy` says: `Ok(None)` when it is off,
/// or absent or broken under [`ModelPolicy::Auto`] (with a warning that
/// names the folder and the fix); an error only under
/// [`ModelPolicy::Required`].
pub fn load(dir: Option<&Path>, policy: ModelPolicy) -> Result<Option<Arc<Embedder>>, String> {
    if policy == ModelPolicy::Off {
        tracing::info!(
            event = "embedding_model_off",
            "ORGJOBS_EMBEDDINGS=off: suggestions use BM25 alone, triage TF-IDF alone"
        );
        return Ok(None);
    }
    let result = match dir {
        Some(dir) => {
            let started = std::time::Instant::now();
            Embedder::load(dir)
                .map(|m| {
                    tracing::info!(
                        event = "embedding_model_loaded",
                        model = m.id(),
                        dir = %dir.display(),
                        seconds = started.elapsed().as_secs_f64()
                    );
                    Arc::new(m)
                })
                .map_err(|e| e.to_string())
        }
        None => Err(
            "no model folder: set ORGJOBS_MODEL_DIR (HOME is not set either) and run \
             scripts/fetch-model"
                .to_owned(),
        ),
    };
    match (result, policy) {
        (Ok(m), _) => Ok(Some(m)),
        (Err(e), ModelPolicy::Required) => Err(format!(
            "the sentence-embedding model is required (ORGJOBS_EMBEDDINGS=required): {e}"
        )),
        (Err(e), _) => {
            tracing::warn!(
                event = "embedding_model_missing",
                error = %e,
                "no sentence-embedding model: KB_SUGGEST ranks by BM25 alone and TRIAGE_TICKET \
                 by TF-IDF alone"
            );
            Ok(None)
        }
    }
}
