//! `TRIAGE_TICKET {ticket_id}`: the ticket's category and priority, from
//! classifiers trained on the organization's own labelled tickets, or from
//! rules while it has too few.
//!
//! - **Training data**: the organization's resolved and closed tickets that
//!   have a category (an agent closed them, so their labels are taken as
//!   confirmed; open tickets, whose category may be this job's own guess,
//!   are left out). At most [`TRAINING_LIMIT`], newest first.
//! - **Features**: TF-IDF of the ticket's words and characters, and, when
//!   the worker has the sentence-embedding model and it helps this
//!   organization (checked at each training on a fifth of its own labelled
//!   tickets, per target), the ticket's embedding as a dense block beside
//!   them (see [`crate::classify`]). The training
//!   tickets' embeddings are kept in the worker's memory per organization
//!   (1.5 kB each, at most [`TRAINING_LIMIT`] per organization), so a
//!   retraining embeds only tickets it has not seen; without the model,
//!   TF-IDF alone (the model's name says which: `linear-svm+embedding/N` or
//!   `linear-svm/N`).
//! - **Models**: two [`Classifier`]s (category, priority), trained in the
//!   worker's memory, per organization, on a blocking thread; one training
//!   at a time per organization. A model is retrained when it is stale: the
//!   number of labelled tickets moved by 10 % (at least 20) or it is older
//!   than [`RETRAIN_AFTER`]. `triage_models` records what each was trained
//!   on. The cache is keyed by the job's organization and filled from that
//!   organization's transaction, so a model never sees another's data.
//! - **Rules** (fewer than [`MIN_TRAINING`] labelled tickets, or fewer than
//!   two labels): urgency and outage cues for the priority; for the
//!   category, the words of the organization's category names and of the
//!   keywords in its settings (`triage_keywords`: `{"category": ["word",
//!   ...]}`).
//! - **Applying**: with the setting `triage_auto_apply: true`, a ticket that
//!   has no category yet gets the predicted category and priority when the
//!   category's confidence reaches `triage_min_confidence` (default 0.6).
//!   Tickets that already have a category are never changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orgjobs_queue::{JobError, TenantHandler, TenantTx};
use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::classify::{Classifier, Prediction, TrainOptions};
use crate::embedding::{Embedding, Embeddings, text_hash};
use crate::fields::Priority;
use crate::tickets::{TicketPayload, load_ticket, ticket_text};

/// Fewer labelled tickets than this: rules decide.
pub const MIN_TRAINING: usize = 50;
/// At most this many labelled tickets train a model.
pub const TRAINING_LIMIT: i64 = 20_000;
/// A model older than this is retrained.
pub const RETRAIN_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What rules answer.
#[derive(Clone, Debug, PartialEq)]
pub struct RulePrediction {
    /// The category whose words the text shares most, if any.
    pub category: Option<String>,
    /// Confidence of the category, 0..0.6.
    pub category_confidence: f64,
    /// Priority from urgency cues.
    pub priority: String,
    /// Confidence of the priority.
    pub priority_confidence: f64,
}

const URGENT_CUES: &[&str] = &[
    "outage",
    "is down",
    "are down",
    "went down",
    "production",
    "urgent",
    "urgently",
    "asap",
    "emergency",
    "immediately",
    "right now",
    "stolen",
    "fraud",
    "hacked",
    "compromised",
    "security breach",
    "data loss",
    "all customers",
    "all our customers",
    "can't check out",
    "cannot check out",
];
const HIGH_CUES: &[&str] = &[
    "not working",
    "doesn't work",
    "does not work",
    "broken",
    "failed",
    "failing",
    "fails",
    "error",
    "declined",
    "blocked",
    "can't",
    "cannot",
    "unable",
    "charged twice",
    "missing",
    "wrong",
    "still waiting",
    "still haven't",
    "still have not",
];
const LOW_CUES: &[&str] = &[
    "how do i",
    "how can i",
    "is it possible",
    "just wondering",
    "curious",
    "question about",
    "feature request",
    "suggestion",
    "would be nice",
    "what is",
    "what are",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

/// Rules: cues for priority, category-name and keyword overlap for the
/// category (among `categories`, the organization's known ones).
pub fn rules(
    text: &str,
    categories: &[String],
    keywords: &BTreeMap<String, Vec<String>>,
) -> RulePrediction {
    let lower = format!(" {} ", text.to_lowercase().replace('’', "'"));
    let has = |cues: &[&str]| cues.iter().filter(|c| lower.contains(*c)).count();
    let (priority, priority_confidence) = match (has(URGENT_CUES), has(HIGH_CUES), has(LOW_CUES)) {
        (u, _, _) if u > 0 => (Priority::Urgent, 0.6),
        (_, h, _) if h > 0 => (Priority::High, 0.5),
        (_, _, l) if l > 0 => (Priority::Low, 0.5),
        _ => (Priority::Normal, 0.4),
    };
    let text_words = words(text);
    let stem = |w: &str| w.chars().take(5).collect::<String>();
    let text_stems: Vec<String> = text_words.iter().map(|w| stem(w)).collect();
    let mut best: Option<(f64, &String)> = None;
    let mut names: Vec<&String> = categories.iter().chain(keywords.keys()).collect();
    names.sort();
    names.dedup();
    for cat in names {
        let mut cues: Vec<String> = words(&cat.replace(['_', '-'], " "));
        cues.extend(
            keywords
                .get(cat)
                .into_iter()
                .flatten()
                .map(|k| k.to_lowercase()),
        );
        let score: f64 = cues
            .iter()
            .map(|cue| {
                if cue.contains(' ') {
                    f64::from(u8::from(lower.contains(cue.as_str()))) * 2.0
                } else {
                    f64::from(u8::from(text_stems.contains(&stem(cue))))
                }
            })
            .sum::<f64>()
            / (cues.len().max(1) as f64).sqrt();
        if score > 0.0 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, cat));
        }
    }
    RulePrediction {
        category: best.map(|(_, c)| c.clone()),
        category_confidence: best.map_or(0.0, |(s, _)| (s / (s + 1.0)).min(0.6)),
        priority: priority.as_str().to_owned(),
        priority_confidence,
    }
}

/// The tickets a model learns from (a constant SQL condition on `t`):
/// resolved or closed, with a category — but not a category this job applied
/// and nobody has changed since (resolving a ticket does not say its
/// category was checked), or the model would learn from its own guesses.
pub const TRAINING_TICKETS: &str = "t.category IS NOT NULL AND t.status IN ('resolved', 'closed')
     AND NOT EXISTS (SELECT FROM public.ticket_ai_triage a
                     WHERE a.organization_id = t.organization_id AND a.ticket_id = t.id
                       AND a.category = t.category
                       AND a.details @> '{\"applied\": true}')";

/// One organization's trained models.
#[derive(Debug)]
struct OrgModels {
    category: Option<Classifier>,
    priority: Option<Classifier>,
    examples: usize,
    trained: Instant,
}

impl OrgModels {
    fn stale(&self, labelled: usize) -> bool {
        // Training reads at most TRAINING_LIMIT tickets: compare like with
        // like, or an organization above the limit would retrain every job.
        let limit = usize::try_from(TRAINING_LIMIT).unwrap_or(usize::MAX);
        let moved = self.examples.abs_diff(labelled.min(limit));
        moved >= (self.examples / 10).max(20) || self.trained.elapsed() > RETRAIN_AFTER
    }
}

/// One organization's cache: its models, and the embeddings of the
/// tickets they were trained on (by ticket, with a hash of the text
/// embedded, so an edited ticket is embedded again).
#[derive(Default)]
struct OrgSlot {
    models: Option<Arc<OrgModels>>,
    embedded: HashMap<Uuid, (u64, Embedding)>,
}

type Slot = Arc<Mutex<OrgSlot>>;

/// The `TRIAGE_TICKET` handler; holds the per-organization model cache.
#[derive(Default)]
pub struct TriageTicket {
    models: Mutex<HashMap<Uuid, Slot>>,
    options: TrainOptions,
    embeddings: Embeddings,
}

impl TriageTicket {
    /// A handler with an empty cache and no embedding model (TF-IDF alone).
    pub fn new() -> Self {
        TriageTicket::default()
    }

    /// A handler that adds `embeddings`' sentence embeddings to the
    /// features when there is a model.
    pub fn with_embeddings(embeddings: Embeddings) -> Self {
        TriageTicket {
            embeddings,
            ..TriageTicket::default()
        }
    }

    /// The organization's models, trained now if missing or stale.
    async fn models(&self, tx: &TenantTx) -> Result<Arc<OrgModels>, JobError> {
        let slot = self
            .models
            .lock()
            .await
            .entry(tx.org_id())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        // $1 the organization (RLS allows no other; named, so that on
        // Citus the statement goes to its one shard): its labelled tickets.
        let labelled: i64 = tx
            .query_one(
                &format!(
                    "SELECT count(*) FROM public.tickets t
                     WHERE t.organization_id = $1 AND {TRAINING_TICKETS}"
                ),
                &[&tx.org_id()],
            )
            .await?
            .get(0);
        let labelled = usize::try_from(labelled).unwrap_or(0);
        if let Some(m) = slot.models.as_ref().filter(|m| !m.stale(labelled)) {
            return Ok(m.clone());
        }
        let models = Arc::new(self.train(tx, &mut slot).await?);
        slot.models = Some(models.clone());
        Ok(models)
    }

    /// The texts' embeddings, from `slot` where the same text was embedded
    /// before, else computed (and kept); `None` without a model or when it
    /// failed.
    async fn embed_tickets(
        &self,
        org: Uuid,
        slot: &mut OrgSlot,
        tickets: &[(Uuid, &str)],
    ) -> Option<Vec<Embedding>> {
        self.embeddings.model_id()?;
        let hashes: Vec<u64> = tickets.iter().map(|(_, t)| text_hash(t)).collect();
        let mut missing = Vec::new();
        for (i, &(id, text)) in tickets.iter().enumerate() {
            if slot.embedded.get(&id).is_some_and(|(h, _)| *h == hashes[i]) {
                continue;
            }
            // KB_SUGGEST of the ticket may have embedded it already.
            match self.embeddings.recall(org, text) {
                Some(v) => {
                    slot.embedded.insert(id, (hashes[i], v));
                }
                None => missing.push(i),
            }
        }
        if !missing.is_empty() {
            let texts = missing.iter().map(|&i| tickets[i].1.to_owned()).collect();
            let vectors = self.embeddings.embed(texts).await?;
            for (&i, v) in missing.iter().zip(vectors) {
                // ...and KB_SUGGEST of a ticket not yet suggested for can
                // use this one.
                self.embeddings.remember(org, tickets[i].1, &v);
                slot.embedded.insert(tickets[i].0, (hashes[i], v));
            }
        }
        tickets
            .iter()
            .map(|(id, _)| slot.embedded.get(id).map(|(_, v)| v.clone()))
            .collect()
    }

    async fn train(&self, tx: &TenantTx, slot: &mut OrgSlot) -> Result<OrgModels, JobError> {
        // $1 limit, $2 the organization: its newest labelled tickets.
        let rows = tx
            .query(
                &format!(
                    "SELECT subject, body, category, priority, id FROM public.tickets t
                     WHERE t.organization_id = $2 AND {TRAINING_TICKETS}
                     ORDER BY created_at DESC, id LIMIT $1"
                ),
                &[&TRAINING_LIMIT, &tx.org_id()],
            )
            .await?;
        let data: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| (ticket_text(r.get(0), r.get(1)), r.get(2), r.get(3)))
            .collect();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get(4)).collect();
        let examples = data.len();
        let started = Instant::now();
        let dense = if examples >= MIN_TRAINING {
            let tickets: Vec<(Uuid, &str)> = ids
                .iter()
                .zip(&data)
                .map(|(id, d)| (*id, d.0.as_str()))
                .collect();
            let dense = self.embed_tickets(tx.org_id(), slot, &tickets).await;
            // Keep only what this training used: at most TRAINING_LIMIT.
            let used: std::collections::HashSet<Uuid> = ids.iter().copied().collect();
            slot.embedded.retain(|id, _| used.contains(id));
            dense
        } else {
            None
        };
        let embedded = started.elapsed();
        let plain = self.options.clone();
        let (category, priority) = tokio::task::spawn_blocking(move || {
            if data.len() < MIN_TRAINING {
                return (None, None);
            }
            let train = |label: fn(&(String, String, String)) -> &str| {
                let pairs: Vec<(&str, &str)> =
                    data.iter().map(|d| (d.0.as_str(), label(d))).collect();
                match dense.as_deref() {
                    Some(dense) if embeddings_help(&pairs, dense, &plain) => {
                        let options = TrainOptions::with_embeddings();
                        Classifier::train_with_dense(&pairs, Some(dense), &options).ok()
                    }
                    _ => Classifier::train_with_dense(&pairs, None, &plain).ok(),
                }
            };
            (train(|d| &d.1), train(|d| &d.2))
        })
        .await
        .map_err(|e| JobError::retry(format!("training the triage models failed: {e}")))?;
        for (target, model) in [("category", &category), ("priority", &priority)] {
            let (name, labels) = match model {
                Some(m) => (model_name(m), m.labels().len()),
                None => ("rules".to_owned(), 0),
            };
            let labels = i32::try_from(labels).unwrap_or(i32::MAX);
            let n = i32::try_from(examples).unwrap_or(i32::MAX);
            // $1 organization, $2 target, $3 model, $4 examples, $5 labels.
            tx.execute(
                "INSERT INTO public.triage_models (organization_id, target, model, examples, labels)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (organization_id, target) DO UPDATE
                     SET model = EXCLUDED.model, examples = EXCLUDED.examples,
                         labels = EXCLUDED.labels, trained_at = EXCLUDED.trained_at",
                &[&tx.org_id(), &target, &name, &n, &labels],
            )
            .await?;
        }
        tracing::info!(
            event = "triage_trained",
            org_id = %tx.org_id(),
            examples,
            category_model = category.is_some(),
            priority_model = priority.is_some(),
            embeddings = category.as_ref().is_some_and(Classifier::uses_dense),
            embedding_seconds = embedded.as_secs_f64(),
            seconds = started.elapsed().as_secs_f64()
        );
        Ok(OrgModels {
            category,
            priority,
            examples,
            trained: Instant::now(),
        })
    }
}

/// Whether the embeddings help this organization's classifier: trained on
/// four fifths of its labelled tickets with and without them, the variant
/// that gets more of the other fifth right wins (a tie goes to the
/// embeddings). The organization's own data decides, because what helps
/// one does not help all: on the bundled data the embeddings add 4 points
/// of category accuracy for the bank and cost 10 points of priority
/// accuracy for Parcelpoint, whose priorities follow the text only partly.
fn embeddings_help(pairs: &[(&str, &str)], dense: &[Embedding], plain: &TrainOptions) -> bool {
    let is_check = |i: &usize| i % 5 == 4;
    let (mut fit, mut fit_dense, mut check) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (p, d)) in pairs.iter().zip(dense).enumerate() {
        if is_check(&i) {
            check.push((*p, d));
        } else {
            fit.push(*p);
            fit_dense.push(d.clone());
        }
    }
    let with =
        Classifier::train_with_dense(&fit, Some(&fit_dense), &TrainOptions::with_embeddings());
    let without = Classifier::train_with_dense(&fit, None, plain);
    match (with, without) {
        (Ok(with), Ok(without)) => {
            let right = |m: &Classifier, dense: bool| {
                check
                    .iter()
                    .filter(|((text, label), d)| {
                        m.predict_with_dense(text, dense.then_some(d.as_slice()))
                            .label
                            == *label
                    })
                    .count()
            };
            right(&with, true) >= right(&without, false)
        }
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

fn model_name(m: &Classifier) -> String {
    if m.uses_dense() {
        format!("linear-svm+embedding/{}", m.examples())
    } else {
        format!("linear-svm/{}", m.examples())
    }
}

fn alternatives(p: &Prediction) -> serde_json::Value {
    json!(
        p.ranked
            .iter()
            .map(|(l, c)| json!([l, c]))
            .collect::<Vec<_>>()
    )
}

/// The organization's triage settings.
struct Settings {
    auto_apply: bool,
    min_confidence: f64,
    keywords: BTreeMap<String, Vec<String>>,
}

async fn settings(tx: &TenantTx) -> Result<Settings, JobError> {
    // $1 the organization: its own row (the only one RLS shows).
    let v: serde_json::Value = tx
        .query_opt(
            "SELECT settings FROM public.organizations WHERE id = $1",
            &[&tx.org_id()],
        )
        .await?
        .map_or(serde_json::Value::Null, |r| r.get(0));
    Ok(Settings {
        auto_apply: v["triage_auto_apply"].as_bool().unwrap_or(false),
        min_confidence: v["triage_min_confidence"].as_f64().unwrap_or(0.6),
        keywords: serde_json::from_value(v["triage_keywords"].clone()).unwrap_or_default(),
    })
}

impl TenantHandler for TriageTicket {
    const KIND: &'static str = "TRIAGE_TICKET";
    type Payload = TicketPayload;

    async fn run(&self, tx: &mut TenantTx, p: TicketPayload) -> Result<(), JobError> {
        let ticket = load_ticket(tx, p.ticket_id).await?;
        let settings = settings(tx).await?;
        let models = self.models(tx).await?;
        let text = ticket.text();
        let rule = if models.category.is_none() || models.priority.is_none() {
            // $1 the organization: its categories so far.
            let cats: Vec<String> = tx
                .query(
                    "SELECT DISTINCT category FROM public.tickets
                     WHERE organization_id = $1 AND category IS NOT NULL",
                    &[&tx.org_id()],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Some(rules(&text, &cats, &settings.keywords))
        } else {
            None
        };
        // The ticket's embedding, if a model uses one (KB_SUGGEST of the
        // same ticket has usually just computed it).
        let uses_dense = [&models.category, &models.priority]
            .iter()
            .any(|m| m.as_ref().is_some_and(Classifier::uses_dense));
        let embedding = if uses_dense {
            self.embeddings.embed_ticket(tx.org_id(), &text).await
        } else {
            None
        };
        let by_model = |m: &Option<Classifier>| {
            m.as_ref().map(|m| {
                let name = match (&embedding, m.uses_dense()) {
                    (None, true) => format!("linear-svm/{} (embedding failed)", m.examples()),
                    _ => model_name(m),
                };
                (m.predict_with_dense(&text, embedding.as_deref()), name)
            })
        };
        let (category, cat_conf, cat_model, cat_alts) = match (by_model(&models.category), &rule) {
            (Some((p, name)), _) => (Some(p.label.clone()), p.confidence, name, alternatives(&p)),
            (None, Some(r)) => (
                r.category.clone(),
                r.category_confidence,
                "rules".to_owned(),
                json!([]),
            ),
            (None, None) => (None, 0.0, "rules".to_owned(), json!([])),
        };
        let (priority, prio_conf, prio_model, prio_alts) = match (by_model(&models.priority), &rule)
        {
            (Some((p, name)), _) => (p.label.clone(), p.confidence, name, alternatives(&p)),
            (None, Some(r)) => (
                r.priority.clone(),
                r.priority_confidence,
                "rules".to_owned(),
                json!([]),
            ),
            (None, None) => (
                Priority::default().as_str().to_owned(),
                0.0,
                "rules".to_owned(),
                json!([]),
            ),
        };
        let model = if cat_model == prio_model {
            cat_model.clone()
        } else {
            format!("{cat_model}+{prio_model}")
        };
        let method = match (&cat_model, &embedding) {
            (m, _) if m == "rules" => "rules",
            (_, Some(_)) => "tfidf+embedding",
            _ => "tfidf",
        };
        self.embeddings.decided(Self::KIND, method);
        let confidence = if category.is_some() {
            cat_conf
        } else {
            prio_conf
        };
        let apply = settings.auto_apply
            && ticket.category.is_none()
            && category.is_some()
            && cat_conf >= settings.min_confidence;
        if apply {
            // $1 ticket, $2 category, $3 priority, $4 the organization (on
            // Citus, a single-shard statement); only while it has no
            // category (an agent's label wins).
            let n = tx
                .execute(
                    "UPDATE public.tickets SET category = $2, priority = $3
                     WHERE id = $1 AND category IS NULL AND organization_id = $4",
                    &[&ticket.id, &category, &priority, &tx.org_id()],
                )
                .await?;
            if n > 0 && priority != ticket.priority.as_str() {
                crate::enqueue::changed_tickets(tx, &[ticket.id]).await?;
            }
        }
        let details = json!({
            "category": { "model": cat_model, "confidence": cat_conf, "alternatives": cat_alts },
            "priority": { "model": prio_model, "confidence": prio_conf, "alternatives": prio_alts },
            "applied": apply,
        });
        // $1 organization, $2 ticket, $3..$6 the decision, $7 details.
        tx.execute(
            "INSERT INTO public.ticket_ai_triage
                 (organization_id, ticket_id, category, priority, confidence, model, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (organization_id, ticket_id) DO UPDATE
                 SET category = EXCLUDED.category, priority = EXCLUDED.priority,
                     confidence = EXCLUDED.confidence, model = EXCLUDED.model,
                     details = EXCLUDED.details, created_at = EXCLUDED.created_at",
            &[
                &tx.org_id(),
                &ticket.id,
                &category,
                &priority,
                &confidence.clamp(0.0, 1.0),
                &model,
                &details,
            ],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organizations_own_tickets_decide_whether_embeddings_help() {
        // Informative vectors, uninformative text: they help.
        let (data, dense) = crate::classify::tests::dense_only();
        assert!(embeddings_help(&data, &dense, &TrainOptions::default()));
        // Too few labels to train on: no.
        let one_label: Vec<(&str, &str)> = data.iter().map(|(t, _)| (*t, "a")).collect();
        assert!(!embeddings_help(
            &one_label,
            &dense,
            &TrainOptions::default()
        ));
    }

    #[test]
    fn rules_read_urgency_and_categories() {
        let cats = vec!["billing_invoice".to_owned(), "dns_domain".to_owned()];
        let mut kw = BTreeMap::new();
        kw.insert("outage".to_owned(), vec!["site is down".to_owned()]);
        let r = rules("Our production site is down, please help ASAP", &cats, &kw);
        assert_eq!(r.priority, "urgent");
        assert_eq!(r.category.as_deref(), Some("outage"));
        let r = rules("Question about my last invoice", &cats, &BTreeMap::new());
        assert_eq!(r.priority, "low");
        assert_eq!(r.category.as_deref(), Some("billing_invoice"));
        let r = rules("hello", &cats, &BTreeMap::new());
        assert_eq!((r.category, r.priority.as_str()), (None, "normal"));
        let r = rules("The DNS records are not working", &cats, &BTreeMap::new());
        assert_eq!(
            (r.category.as_deref(), r.priority.as_str()),
            (Some("dns_domain"), "high")
        );
    }
}
