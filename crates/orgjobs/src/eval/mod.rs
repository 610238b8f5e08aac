//! `orgjobs eval`: how good the helpdesk jobs are, measured on the bundled
//! labelled organizations (see [`crate::dataset`]) in a scratch database.
//!
//! Each organization is imported with its held-out tickets stripped of
//! their category; a worker then runs every job the import enqueued, the
//! real handlers in the real database. Measured on the held-out tickets:
//!
//! - triage: category accuracy and macro-F1 of `TRIAGE_TICKET` against
//!   always answering the training data's majority category and against the
//!   rules alone; priority accuracy;
//! - knowledge base: recall@1 and recall@3 of `KB_SUGGEST`, on tickets whose
//!   answering article is known;
//! - both of these twice when the sentence-embedding model is there: once
//!   with the fallback methods (BM25 alone, TF-IDF alone: what the jobs did
//!   before embeddings), once with the model, each in a scratch database of
//!   its own, on the same split; and what the model costs (load time,
//!   memory, milliseconds per ticket);
//! - SLA: the Brier score of the breach probability, replayed through the
//!   same code `SLA_PREDICT` runs, with each resolved held-out ticket
//!   predicted at its creation from the history as it stood then (category
//!   from its triage), against always predicting the training tickets'
//!   breach rate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use orgjobs_helpdesk::Priority;
use orgjobs_helpdesk::import::TicketRecord;
use orgjobs_helpdesk::triage::rules;
use orgjobs_queue::{
    DbUrl, Metrics, SessionConfig, TenantTx, Worker, WorkerConfig, migrate, set_strict,
};
use serde::Serialize;
use uuid::Uuid;

use crate::dataset::{OrgData, create_and_import, load};
use clap::Args;
use sla::priority_of;

mod sla;

/// Accuracy and macro-F1 of one predictor.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Scores {
    /// Share right.
    pub accuracy: f64,
    /// Mean over the true labels of per-label F1.
    pub macro_f1: f64,
}

/// One organization's figures.
#[derive(Clone, Debug, Serialize)]
pub struct OrgEval {
    /// Which.
    pub organization: String,
    /// Tickets used for training.
    pub train: usize,
    /// Tickets held out.
    pub holdout: usize,
    /// Distinct categories.
    pub categories: usize,
    /// `TRIAGE_TICKET`'s category.
    pub triage: Scores,
    /// Majority category of the training data.
    pub majority: Scores,
    /// Rules alone.
    pub rules: Scores,
    /// `TRIAGE_TICKET`'s priority accuracy.
    pub priority_accuracy: f64,
    /// Accuracy of always guessing the training data's commonest priority.
    pub priority_majority_accuracy: f64,
    /// The model that decided.
    pub model: String,
    /// Held-out tickets with a known answering article.
    pub kb_tickets: usize,
    /// Right article first.
    pub recall_at_1: f64,
    /// Right article in the top three.
    pub recall_at_3: f64,
    /// `SLA_PREDICT`'s breach probability on the bundled histories.
    pub sla: sla::SlaScore,
    /// The same on the same tickets with lateness drawn by a mechanism the
    /// model does not assume (wall clock, no backlog effect, other
    /// distributions): what is left of the gain when the generator's own
    /// functional forms are not the model's.
    pub sla_alternative: sla::SlaScore,
    /// Jobs the worker ran for this organization's import.
    pub jobs: i64,
}

/// Accuracy and macro-F1 of `pred` against `truth`.
pub fn scores(truth: &[&str], pred: &[Option<&str>]) -> Scores {
    let n = truth.len().max(1) as f64;
    let right = truth
        .iter()
        .zip(pred)
        .filter(|(t, p)| p.as_deref() == Some(**t))
        .count() as f64;
    let labels: BTreeSet<&str> = truth.iter().copied().collect();
    let mut f1_sum = 0.0;
    for l in &labels {
        let tp = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| *t == l && p.as_deref() == Some(*l))
            .count() as f64;
        let fp = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| *t != l && p.as_deref() == Some(*l))
            .count() as f64;
        let fn_ = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| *t == l && p.as_deref() != Some(*l))
            .count() as f64;
        if tp > 0.0 {
            f1_sum += 2.0 * tp / (2.0 * tp + fp + fn_);
        }
    }
    Scores {
        accuracy: right / n,
        macro_f1: f1_sum / labels.len().max(1) as f64,
    }
}

/// What the jobs stored for one organization, by ticket external id.
struct Stored {
    triage: HashMap<String, (Option<String>, String, String)>,
    kb: HashMap<String, Vec<String>>,
}

async fn read_results(
    pool: &orgjobs_queue::deadpool_postgres::Pool,
    org: Uuid,
) -> anyhow::Result<Stored> {
    let conn = pool.get().await.context("connecting")?;
    let tx = TenantTx::begin(conn, org, &SessionConfig::default()).await?;
    let triage = tx
        .query(
            "SELECT t.external_id, a.category, a.priority, a.model
             FROM public.ticket_ai_triage a JOIN public.tickets t ON t.id = a.ticket_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let kb = tx
        .query(
            "SELECT t.external_id,
                    ARRAY(SELECT s->>'external_id' FROM jsonb_array_elements(a.content->'suggestions') s)
             FROM public.ai_suggestions a JOIN public.tickets t ON t.id = a.ticket_id
             WHERE a.suggestion_type = 'kb'",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    drop(tx.rollback().await?);
    Ok(Stored { triage, kb })
}

fn evaluate(data: &OrgData, stored: &Stored, jobs: i64) -> OrgEval {
    let holdout: Vec<&TicketRecord> = data.tickets.iter().filter(|t| data.is_holdout(t)).collect();
    let train: Vec<&TicketRecord> = data
        .tickets
        .iter()
        .filter(|t| !data.is_holdout(t))
        .collect();
    let ext = |t: &TicketRecord| t.external_id.clone().unwrap_or_default();
    let truth: Vec<&str> = holdout
        .iter()
        .map(|t| t.category.as_deref().unwrap_or(""))
        .collect();

    // Triage as stored by the jobs.
    let got = |t: &&TicketRecord| stored.triage.get(&ext(t));
    let pred: Vec<Option<&str>> = holdout
        .iter()
        .map(|t| got(t).and_then(|g| g.0.as_deref()))
        .collect();
    let prio_right = holdout
        .iter()
        .filter(|t| got(t).is_some_and(|g| Some(g.1.as_str()) == t.priority.as_deref()))
        .count();
    let model = holdout
        .iter()
        .find_map(|t| got(t).map(|g| g.2.clone()))
        .unwrap_or_default();

    // Baselines from the training tickets.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &train {
        if let Some(c) = t.category.as_deref() {
            *counts.entry(c).or_default() += 1;
        }
    }
    let majority = counts
        .iter()
        .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
        .map(|(c, _)| *c);
    let categories: Vec<String> = counts.keys().map(|c| (*c).to_owned()).collect();
    let mut prio_counts: BTreeMap<Priority, usize> = BTreeMap::new();
    for t in &train {
        *prio_counts.entry(priority_of(t)).or_default() += 1;
    }
    let prio_majority = prio_counts
        .iter()
        .max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p)))
        .map_or(Priority::default(), |(p, _)| *p);
    let prio_majority_right = holdout
        .iter()
        .filter(|t| priority_of(t) == prio_majority)
        .count();
    let keywords = serde_json::from_value(data.profile.settings["triage_keywords"].clone())
        .unwrap_or_default();
    let rule_preds: Vec<Option<String>> = holdout
        .iter()
        .map(|t| {
            rules(
                &format!("{}\n{}", t.subject, t.body),
                &categories,
                &keywords,
            )
            .category
        })
        .collect();

    // Knowledge base.
    let mut kb_n = 0usize;
    let (mut at1, mut at3) = (0usize, 0usize);
    for t in &holdout {
        let Some(answer) = data.answer(t) else {
            continue;
        };
        kb_n += 1;
        let list = stored.kb.get(&ext(t)).cloned().unwrap_or_default();
        at1 += usize::from(list.first().map(String::as_str) == Some(answer));
        at3 += usize::from(list.iter().take(3).any(|a| a == answer));
    }

    // SLA, replayed at each held-out ticket's creation: on the histories
    // of the bundled data, and on the same tickets with lateness drawn by
    // another mechanism (see data/generate.py's alternative_lateness).
    let guessed = |t: &TicketRecord| stored.triage.get(&ext(t)).and_then(|g| g.0.clone());
    let sla_main = sla::replay(data, &data.tickets, &guessed);
    let sla_alternative = sla::replay(data, &data.with_alternative_lateness(), &guessed);
    let rule_refs: Vec<Option<&str>> = rule_preds.iter().map(Option::as_deref).collect();
    OrgEval {
        organization: data.profile.name.clone(),
        train: train.len(),
        holdout: holdout.len(),
        categories: counts.len(),
        triage: scores(&truth, &pred),
        majority: scores(&truth, &vec![majority; truth.len()]),
        rules: scores(&truth, &rule_refs),
        priority_accuracy: prio_right as f64 / holdout.len().max(1) as f64,
        priority_majority_accuracy: prio_majority_right as f64 / holdout.len().max(1) as f64,
        model,
        kb_tickets: kb_n,
        recall_at_1: at1 as f64 / kb_n.max(1) as f64,
        recall_at_3: at3 as f64 / kb_n.max(1) as f64,
        sla: sla_main,
        sla_alternative,
        jobs,
    }
}

/// Options of `orgjobs eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    /// Keep the scratch databases (orgjobs_eval_<pid>_fallback and
    /// orgjobs_eval_<pid>_embeddings) for inspection.
    #[arg(long)]
    pub keep_db: bool,
    /// Measure the fallback methods only, even when the model is there.
    #[arg(long)]
    pub without_embeddings: bool,
    /// The sentence-embedding model.
    #[command(flatten)]
    pub embedding: crate::EmbeddingArgs,
}

/// What the embedding model costs, measured in this process.
#[derive(Clone, Debug, Serialize)]
pub struct ModelCost {
    /// The model's id.
    pub model: String,
    /// Seconds to load it.
    pub load_seconds: f64,
    /// The process's resident memory before loading it, MB.
    pub rss_before_mb: f64,
    /// ... and after, MB.
    pub rss_after_mb: f64,
    /// Milliseconds per ticket, embedding the bank's held-out tickets in
    /// batches (as `TRIAGE_TICKET`'s training does).
    pub ms_per_ticket_batched: f64,
    /// Milliseconds per ticket, one at a time (as `KB_SUGGEST` and a
    /// triage of a new ticket do).
    pub ms_per_ticket_single: f64,
    /// Milliseconds per knowledge-base passage (up to 800 characters), one
    /// article at a time (as `RAG_INDEX` does).
    pub ms_per_passage: f64,
}

/// The figures of `orgjobs eval`.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// With the fallback methods (no model).
    pub fallback: Vec<OrgEval>,
    /// With the model, if it was there.
    pub embeddings: Option<Vec<OrgEval>>,
    /// What the model cost.
    pub cost: Option<ModelCost>,
}

/// Runs `orgjobs eval`: in scratch databases next to `url`'s.
pub async fn run(url: &str, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let base = DbUrl::parse(url)?;
    let rss_before = rss_mb();
    let started = Instant::now();
    let model = if args.without_embeddings {
        None
    } else {
        args.embedding.load()?
    };
    let load_seconds = started.elapsed().as_secs_f64();
    if model.is_none() && !args.without_embeddings {
        eprintln!(
            "no sentence-embedding model (scripts/fetch-model puts it in place): measuring the fallback methods only"
        );
    }
    let fallback = run_db(&base, "fallback", None, args.keep_db).await?;
    let (embeddings, cost) = match &model {
        Some(m) => {
            let rss_after = rss_mb();
            let cost = measure_cost(m, load_seconds, rss_before, rss_after)?;
            (
                Some(run_db(&base, "embeddings", Some(m.clone()), args.keep_db).await?),
                Some(cost),
            )
        }
        None => (None, None),
    };
    let report = EvalReport {
        fallback,
        embeddings,
        cost,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// The process's resident memory in MB (Linux), 0 where unknown.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn measure_cost(
    model: &orgjobs_helpdesk::embedding::Embedder,
    load_seconds: f64,
    rss_before_mb: f64,
    rss_after_mb: f64,
) -> anyhow::Result<ModelCost> {
    let data = load()?;
    let bank = data
        .first()
        .context("the bundled data has no organization")?;
    let texts: Vec<String> = bank
        .tickets
        .iter()
        .filter(|t| bank.is_holdout(t))
        .map(|t| orgjobs_helpdesk::tickets::ticket_text(&t.subject, &t.body))
        .collect();
    let started = Instant::now();
    model.embed(&texts)?;
    let batched = started.elapsed().as_secs_f64() * 1000.0 / texts.len().max(1) as f64;
    let some: Vec<&String> = texts.iter().take(100).collect();
    let started = Instant::now();
    for t in &some {
        model.embed(&[t.as_str()])?;
    }
    let single = started.elapsed().as_secs_f64() * 1000.0 / some.len().max(1) as f64;
    let mut passages = 0usize;
    let started = Instant::now();
    for a in data.iter().flat_map(|d| d.articles.iter()).take(60) {
        let ps = orgjobs_helpdesk::kb::split_passages(
            &a.body,
            orgjobs_helpdesk::kb::PASSAGE_MAX_CHARS,
            orgjobs_helpdesk::kb::PASSAGE_OVERLAP_CHARS,
        );
        passages += ps.len();
        model.embed(&ps)?;
    }
    let per_passage = started.elapsed().as_secs_f64() * 1000.0 / passages.max(1) as f64;
    Ok(ModelCost {
        model: model.id().to_owned(),
        load_seconds,
        rss_before_mb,
        rss_after_mb,
        ms_per_ticket_batched: batched,
        ms_per_ticket_single: single,
        ms_per_passage: per_passage,
    })
}

/// One complete run in a scratch database of its own.
async fn run_db(
    base: &DbUrl,
    label: &str,
    model: Option<std::sync::Arc<orgjobs_helpdesk::embedding::Embedder>>,
    keep: bool,
) -> anyhow::Result<Vec<OrgEval>> {
    let db = base.with_dbname(&format!("orgjobs_eval_{}_{label}", std::process::id()));
    db.recreate_database().await?;
    eprintln!("{label}:");
    let result = run_in(&db, model).await;
    if keep {
        eprintln!("kept the scratch database {}", db.redacted());
    } else {
        db.drop_database().await?;
    }
    result
}

async fn run_in(
    db: &DbUrl,
    model: Option<std::sync::Arc<orgjobs_helpdesk::embedding::Embedder>>,
) -> anyhow::Result<Vec<OrgEval>> {
    let mut client = db.connect().await?;
    migrate(&mut client, &orgjobs_helpdesk::migrations()).await?;
    // A scratch database of its own: strict, as production should run.
    set_strict(&client, true).await?;
    let metrics = Metrics::new();
    let options = orgjobs_helpdesk::HelpdeskOptions {
        llm: None,
        embedder: model,
    };
    let registry = Arc::new(crate::extended(orgjobs_helpdesk::registry_with(
        &metrics, &options,
    )));
    registry.register_kinds(&client).await?;
    let pool = db.pool(8).await?;
    let mut out = Vec::new();
    for data in load()? {
        let started = Instant::now();
        let no_apply = serde_json::json!({ "triage_auto_apply": false });
        let org = create_and_import(
            &pool,
            &data,
            &data.tickets,
            chrono::Duration::zero(),
            &no_apply,
        )
        .await?;
        let config = WorkerConfig {
            concurrency: 4,
            batch_size: 8,
            drain: true,
            cancel: db.cancel_route(),
            ..WorkerConfig::default()
        };
        let summary = Worker::new(pool.clone(), registry.clone(), metrics.clone(), config)
            .run(std::future::pending())
            .await?;
        let jobs = i64::try_from(summary.completed).unwrap_or(i64::MAX);
        eprintln!(
            "  {}: imported and ran {} jobs ({} discarded) in {:.1} s",
            data.profile.name,
            summary.completed,
            summary.discarded,
            started.elapsed().as_secs_f64()
        );
        let stored = read_results(&pool, org).await?;
        out.push(evaluate(&data, &stored, jobs));
    }
    Ok(out)
}

fn print_report(r: &EvalReport) {
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    println!("== Fallback methods (BM25 alone, TF-IDF alone) ==");
    print_table(&r.fallback);
    if let Some(e) = &r.embeddings {
        println!();
        println!("== With sentence embeddings ==");
        print_table(e);
        println!();
        println!("== Fallback -> embeddings, same split ==");
        for (a, b) in r.fallback.iter().zip(e) {
            println!(
                "  {}: triage accuracy {} -> {}, macro-F1 {:.3} -> {:.3}; KB recall@1 {} -> {}, recall@3 {} -> {}",
                a.organization,
                pct(a.triage.accuracy),
                pct(b.triage.accuracy),
                a.triage.macro_f1,
                b.triage.macro_f1,
                pct(a.recall_at_1),
                pct(b.recall_at_1),
                pct(a.recall_at_3),
                pct(b.recall_at_3)
            );
        }
    }
    if let Some(c) = &r.cost {
        println!(
            "  model {}: loaded in {:.2} s; this process's resident memory {:.0} MB before, {:.0} MB after; \
             {:.1} ms per ticket in batches, {:.1} ms one at a time, {:.1} ms per passage",
            c.model,
            c.load_seconds,
            c.rss_before_mb,
            c.rss_after_mb,
            c.ms_per_ticket_batched,
            c.ms_per_ticket_single,
            c.ms_per_passage
        );
    }
}

fn print_table(results: &[OrgEval]) {
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    for r in results {
        println!(
            "{}: {} train / {} held-out tickets, {} categories",
            r.organization, r.train, r.holdout, r.categories
        );
        println!(
            "  triage category  {:<24} accuracy {:>6}  macro-F1 {:.3}",
            r.model,
            pct(r.triage.accuracy),
            r.triage.macro_f1
        );
        println!(
            "    baseline: majority class      accuracy {:>6}  macro-F1 {:.3}",
            pct(r.majority.accuracy),
            r.majority.macro_f1
        );
        println!(
            "    baseline: rules alone         accuracy {:>6}  macro-F1 {:.3}",
            pct(r.rules.accuracy),
            r.rules.macro_f1
        );
        println!(
            "  triage priority                          accuracy {:>6}  (majority class {})",
            pct(r.priority_accuracy),
            pct(r.priority_majority_accuracy)
        );
        println!(
            "  KB suggestions ({} tickets with a known article): recall@1 {}  recall@3 {}",
            r.kb_tickets,
            pct(r.recall_at_1),
            pct(r.recall_at_3)
        );
        for (what, s) in [
            ("SLA breach", &r.sla),
            ("SLA breach, other lateness", &r.sla_alternative),
        ] {
            println!(
                "  {what} ({} resolved tickets, {} breached; mean predicted {}): Brier {:.4}  vs base rate {:.4}",
                s.tickets,
                pct(s.breach_rate),
                pct(s.mean_predicted),
                s.brier,
                s.brier_base_rate
            );
        }
    }
}
