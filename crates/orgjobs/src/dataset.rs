//! The labelled organizations bundled with orgjobs (`data/orgs/`, compiled
//! into the binary so that `orgjobs demo` and `orgjobs eval` run anywhere):
//! a profile (name, agents, SLA policies, settings), articles and tickets
//! in the import format, and for each ticket its split (`train` or
//! `holdout`) and the article that answers it, when one does. See
//! `data/README.md` for where the data comes from.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use orgjobs_helpdesk::import::{ArticleRecord, Record, TicketRecord, import, parse};
use orgjobs_helpdesk::{
    SlaPolicy, Status, create_organization, insert_agent, merge_settings, set_sla_policies,
};
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{SessionConfig, TenantTx};
use serde::Deserialize;
use uuid::Uuid;

/// The moment the bundled histories end; the demo moves it to "now".
pub const ANCHOR: &str = "2026-03-01T12:00:00Z";

macro_rules! bundle {
    ($slug:literal) => {
        RawBundle {
            profile: include_str!(concat!("../../../data/orgs/", $slug, "/org.json")),
            articles: include_str!(concat!("../../../data/orgs/", $slug, "/articles.jsonl")),
            tickets: include_str!(concat!("../../../data/orgs/", $slug, "/tickets.jsonl")),
            eval: include_str!(concat!("../../../data/orgs/", $slug, "/eval.jsonl")),
            sla_alt: include_str!(concat!("../../../data/orgs/", $slug, "/sla_alt.jsonl")),
        }
    };
}

struct RawBundle {
    profile: &'static str,
    articles: &'static str,
    tickets: &'static str,
    eval: &'static str,
    sla_alt: &'static str,
}

const BUNDLES: [RawBundle; 3] = [
    bundle!("northwind-bank"),
    bundle!("parcelpoint"),
    bundle!("stackbeam"),
];

/// An organization's profile (`org.json`).
#[derive(Clone, Debug, Deserialize)]
pub struct Profile {
    /// Display name.
    pub name: String,
    /// Folder name.
    pub slug: String,
    /// One line on what the business does.
    pub business: String,
    /// Its support agents.
    pub agents: Vec<Agent>,
    /// Its SLA policies.
    pub sla_policies: Vec<SlaPolicy>,
    /// Its settings (merged into `organizations.settings`).
    pub settings: serde_json::Value,
}

/// A support agent.
#[derive(Clone, Debug, Deserialize)]
pub struct Agent {
    /// Name.
    pub name: String,
    /// Address.
    pub email: String,
}

/// A ticket's evaluation facts (`eval.jsonl`).
#[derive(Clone, Debug, Deserialize)]
pub struct EvalRow {
    /// The ticket.
    pub external_id: String,
    /// `train` or `holdout`.
    pub split: String,
    /// The article that answers it, if one does.
    pub article: Option<String>,
}

/// A ticket's timeline drawn by the generator's other mechanism
/// (`sla_alt.jsonl`; see `data/generate.py`, `alternative_lateness`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AltTimeline {
    /// The ticket.
    pub external_id: String,
    /// Its status at the anchor on this timeline.
    pub status: Status,
    /// First response, if it happened by the anchor.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Resolution, if it happened by the anchor.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// One bundled organization, parsed.
#[derive(Clone, Debug)]
pub struct OrgData {
    /// Profile.
    pub profile: Profile,
    /// Articles, in file order.
    pub articles: Vec<ArticleRecord>,
    /// Tickets, in file order.
    pub tickets: Vec<TicketRecord>,
    /// Evaluation facts by ticket external id.
    pub eval: HashMap<String, EvalRow>,
    /// The other timelines, by ticket external id.
    pub alt: HashMap<String, AltTimeline>,
}

impl OrgData {
    /// Whether the ticket is held out (imported without its category).
    pub fn is_holdout(&self, t: &TicketRecord) -> bool {
        t.external_id
            .as_ref()
            .and_then(|e| self.eval.get(e))
            .is_some_and(|r| r.split == "holdout")
    }

    /// The tickets with the other timelines: same creation times, other
    /// first responses, resolutions and statuses.
    pub fn with_alternative_lateness(&self) -> Vec<TicketRecord> {
        self.tickets
            .iter()
            .map(|t| {
                let mut t = t.clone();
                if let Some(a) = t.external_id.as_ref().and_then(|e| self.alt.get(e)) {
                    t.status = Some(a.status.as_str().to_owned());
                    t.first_response_at = a.first_response_at;
                    t.resolved_at = a.resolved_at;
                }
                t
            })
            .collect()
    }

    /// The article that answers the ticket, if known.
    pub fn answer(&self, t: &TicketRecord) -> Option<&str> {
        t.external_id
            .as_ref()
            .and_then(|e| self.eval.get(e))
            .and_then(|r| r.article.as_deref())
    }
}

/// The anchor as a time.
pub fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(ANCHOR)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Parses the bundled organizations (an error means the build bundled bad
/// data; `data/generate.py` checks it).
pub fn load() -> anyhow::Result<Vec<OrgData>> {
    BUNDLES.iter().map(load_one).collect()
}

fn load_one(raw: &RawBundle) -> anyhow::Result<OrgData> {
    let profile: Profile = serde_json::from_str(raw.profile).context("bundled org.json")?;
    let slug = profile.slug.clone();
    let mut articles = Vec::new();
    let mut tickets = Vec::new();
    for text in [raw.articles, raw.tickets] {
        let parsed = parse(text.as_bytes())?;
        if let Some(e) = parsed.errors.first() {
            anyhow::bail!("bundled data of {slug}, line {}: {}", e.line, e.reason);
        }
        for (_, r) in parsed.records {
            match r {
                Record::Article(a) => articles.push(a),
                Record::Ticket(t) => tickets.push(t),
            }
        }
    }
    let mut eval = HashMap::new();
    for (i, line) in raw.eval.lines().enumerate() {
        let row: EvalRow = serde_json::from_str(line)
            .with_context(|| format!("bundled eval.jsonl of {slug}, line {}", i + 1))?;
        eval.insert(row.external_id.clone(), row);
    }
    let mut alt = HashMap::new();
    for (i, line) in raw.sla_alt.lines().enumerate() {
        let row: AltTimeline = serde_json::from_str(line)
            .with_context(|| format!("bundled sla_alt.jsonl of {slug}, line {}", i + 1))?;
        alt.insert(row.external_id.clone(), row);
    }
    Ok(OrgData {
        profile,
        articles,
        tickets,
        eval,
        alt,
    })
}

/// Creates the organization of `data` (a new id) with its profile, then
/// imports its articles and `tickets` (held-out ones without category),
/// every time moved by `shift`. Returns the id.
pub async fn create_and_import(
    pool: &Pool,
    data: &OrgData,
    tickets: &[TicketRecord],
    shift: chrono::Duration,
    settings: &serde_json::Value,
) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    let conn = pool.get().await.context("connecting to the database")?;
    let session = SessionConfig::default().detected(&conn).await?;
    let tx = TenantTx::begin(conn, id, &session).await?;
    create_organization(&tx, &data.profile.name).await?;
    set_sla_policies(&tx, &data.profile.sla_policies).await?;
    merge_settings(&tx, &data.profile.settings).await?;
    merge_settings(&tx, settings).await?;
    for a in &data.profile.agents {
        insert_agent(&tx, &a.name, &a.email).await?;
    }
    let mut records: Vec<(usize, Record)> = data
        .articles
        .iter()
        .cloned()
        .map(|a| (0, Record::Article(a)))
        .collect();
    records.extend(tickets.iter().map(|t| {
        let mut t = t.clone();
        if data.is_holdout(&t) {
            t.category = None;
        }
        (0, Record::Ticket(t))
    }));
    import(&tx, &records, shift)
        .await
        .with_context(|| format!("importing {}", data.profile.slug))?;
    drop(tx.commit().await?);
    Ok(id)
}
