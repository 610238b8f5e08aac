//! `SMART_REPLY {ticket_id}`: a reply draft grounded in the organization's
//! best knowledge-base passages for the ticket, addressed to the requester
//! and naming the articles it used.
//!
//! Retrieval comes first ([`crate::kb::search`]). The offline composer, the
//! default, picks the passages' sentences that share the most words with the
//! ticket. With an [`LlmClient`] configured, an OpenAI-compatible endpoint
//! writes the draft from the same passages; when it is unreachable or fails,
//! the offline composer writes it instead, the job logs a warning, and the
//! stored suggestion says why (`fallback_reason`).
//!
//! The endpoint is called inside the job's transaction, so a slow endpoint
//! holds a database connection for up to the client's timeout.

use std::collections::HashSet;

use orgjobs_queue::{JobError, TenantHandler, TenantTx};
use serde_json::json;

use crate::kb::{Hit, search, store_suggestion};
use crate::llm::LlmClient;
use crate::tickets::{Ticket, TicketPayload, load_ticket};

/// How many articles a draft draws on.
pub const REPLY_ARTICLES: usize = 3;

/// The `SMART_REPLY` handler.
#[derive(Clone, Debug, Default)]
pub struct SmartReply {
    llm: Option<LlmClient>,
}

impl SmartReply {
    /// Drafts with the offline composer only.
    pub fn offline() -> Self {
        SmartReply { llm: None }
    }

    /// Drafts with `llm`, falling back to the offline composer.
    pub fn with_llm(llm: LlmClient) -> Self {
        SmartReply { llm: Some(llm) }
    }
}

impl TenantHandler for SmartReply {
    const KIND: &'static str = "SMART_REPLY";
    type Payload = TicketPayload;

    async fn run(&self, tx: &mut TenantTx, p: TicketPayload) -> Result<(), JobError> {
        let ticket = load_ticket(tx, p.ticket_id).await?;
        let hits = search(tx, &ticket.text(), REPLY_ARTICLES).await?;
        // $1 the organization: its own row (the only one RLS shows).
        let org_name: String = tx
            .query_opt(
                "SELECT name FROM public.organizations WHERE id = $1",
                &[&tx.org_id()],
            )
            .await?
            .map_or_else(|| "The support team".to_owned(), |r| r.get(0));
        let name = requester_name(ticket.requester_email.as_deref());
        let offline = || compose_offline(&ticket, &hits, name.as_deref(), &org_name);
        let (draft, composer, model, fallback) = match &self.llm {
            // Nothing retrieved: the offline composer's hand-over reply, not
            // an ungrounded answer from the model.
            None => (offline(), "offline", None, None),
            Some(_) if hits.is_empty() => (offline(), "offline", None, None),
            Some(llm) => {
                let (system, user) = llm_prompt(&ticket, &hits, name.as_deref(), &org_name);
                match llm.chat(&system, &user).await {
                    Ok(text) => (text, "llm", Some(llm.model().to_owned()), None),
                    Err(e) => {
                        tracing::warn!(
                            event = "smart_reply_fallback",
                            ticket_id = %ticket.id,
                            error = %e,
                            "LLM endpoint failed; the offline composer wrote the draft"
                        );
                        // The organization sees a short reason; the log has
                        // the details (URL, response body).
                        (offline(), "offline", None, Some(e.summary()))
                    }
                }
            }
        };
        let content = json!({
            "draft": draft,
            "composer": composer,
            "model": model,
            "fallback_reason": fallback,
            "addressed_to": name,
            "articles_used": hits.iter().map(|h| json!({
                "article_id": h.article_id, "external_id": h.external_id, "title": h.title,
            })).collect::<Vec<_>>(),
            "passages": hits.iter().map(|h| json!({
                "article_id": h.article_id, "passage": h.passage, "score": h.score, "text": h.content,
            })).collect::<Vec<_>>(),
        });
        store_suggestion(tx, ticket.id, "smart_reply", &content).await?;
        Ok(())
    }
}

/// Mailbox names that are roles, not people.
const ROLE_MAILBOXES: &[&str] = &[
    "admin", "billing", "contact", "help", "hello", "info", "it", "no", "noreply", "office", "ops",
    "sales", "support", "team",
];

/// The requester's first name when the address spells one out as
/// `first.last` (or `first_last`, `first-last`): "jane.doe@example.com" →
/// "Jane". None otherwise: "jdoe@" or "support@" name no one, and a wrong
/// name is worse than "Hi there".
pub fn requester_name(email: Option<&str>) -> Option<String> {
    let local = email?.split('@').next()?;
    let mut parts = local.split(['.', '_', '-']);
    let first = parts.next()?;
    let rest = parts
        .next()?
        .trim_start_matches(|c: char| !c.is_alphabetic());
    if first.chars().count() < 2
        || !first.chars().all(char::is_alphabetic)
        || rest.is_empty()
        || ROLE_MAILBOXES.contains(&first.to_lowercase().as_str())
    {
        return None;
    }
    let mut chars = first.chars();
    let head = chars.next()?.to_uppercase().collect::<String>();
    Some(head + &chars.as_str().to_lowercase())
}

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from",
    "has", "have", "how", "i", "if", "in", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "so", "that", "the", "their", "this", "to", "was", "we", "what", "when", "why",
    "will", "with", "you", "your", "hi", "hello", "thanks", "please",
];

/// Lowercase word stems (first five letters) of the content words.
fn stems(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.len() > 1 && !STOPWORDS.contains(&w.as_str()))
        .map(|w| w.chars().take(5).collect())
        .collect()
}

/// The offline composer: greeting, the passages' most relevant sentences
/// (at most three, in their order), the articles by title, a sign-off.
pub fn compose_offline(ticket: &Ticket, hits: &[Hit], name: Option<&str>, org: &str) -> String {
    let greeting = format!("Hi {},", name.unwrap_or("there"));
    let topic = ticket.subject.trim().trim_end_matches(['.', '!', '?']);
    let mut out = vec![
        greeting,
        format!("Thanks for getting in touch about \"{topic}\"."),
    ];
    if hits.is_empty() {
        out.push(
            "We've passed your message to our team, and an agent will get back to you shortly."
                .to_owned(),
        );
    } else {
        out.push(best_sentences(ticket, hits, 3).join(" "));
        let titles: Vec<String> = hits.iter().map(|h| format!("\"{}\"", h.title)).collect();
        out.push(format!(
            "You'll find the details in our help {}: {}.",
            if titles.len() == 1 {
                "article"
            } else {
                "articles"
            },
            join_and(&titles)
        ));
        out.push(
            "If this doesn't solve it, just reply to this message and we'll take it from there."
                .to_owned(),
        );
    }
    out.push(format!("Best regards,\n{org} Support"));
    out.join("\n\n")
}

/// The `n` sentences of the top passages sharing the most stems with the
/// ticket (ties to the better passage), in reading order.
fn best_sentences(ticket: &Ticket, hits: &[Hit], n: usize) -> Vec<String> {
    let wanted = stems(&ticket.text());
    let mut scored = Vec::new();
    for (rank, hit) in hits.iter().take(2).enumerate() {
        for (i, s) in crate::kb::split_passages(&hit.content, 400, 0)
            .iter()
            .flat_map(|p| p.split_inclusive(['.', '!', '?']))
            .map(str::trim)
            .filter(|s| s.len() > 20)
            .enumerate()
        {
            let overlap = stems(s).intersection(&wanted).count();
            scored.push((overlap, rank, i, s.to_owned()));
        }
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut chosen: Vec<_> = scored.into_iter().take(n).collect();
    chosen.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)));
    chosen.into_iter().map(|c| c.3).collect()
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The system and user messages for the LLM: the same passages, numbered.
fn llm_prompt(ticket: &Ticket, hits: &[Hit], name: Option<&str>, org: &str) -> (String, String) {
    let system = format!(
        "You are a support agent at {org}. Write a short, friendly reply to the customer, \
         addressed to them by name when known. Use only facts from the numbered knowledge-base \
         passages; name the articles you used by their titles. If the passages do not answer \
         the question, say that an agent will follow up. Never invent amounts, timings or policies. \
         Sign as \"{org} Support\"."
    );
    let mut user = format!(
        "Customer name: {}\nSubject: {}\nMessage:\n{}\n\nPassages:\n",
        name.unwrap_or("unknown"),
        ticket.subject,
        ticket.body
    );
    for (i, h) in hits.iter().enumerate() {
        user.push_str(&format!("[{}] {}: {}\n", i + 1, h.title, h.content));
    }
    if hits.is_empty() {
        user.push_str("(none found)\n");
    }
    (system, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_addresses() {
        assert_eq!(
            requester_name(Some("jane.doe@example.com")).as_deref(),
            Some("Jane")
        );
        assert_eq!(
            requester_name(Some("BOB_SMITH@example.com")).as_deref(),
            Some("Bob")
        );
        assert_eq!(
            requester_name(Some("wei.schmidt39@example.com")).as_deref(),
            Some("Wei")
        );
        assert_eq!(requester_name(Some("hkhan@example.com")), None);
        assert_eq!(requester_name(Some("x1234@example.com")), None);
        assert_eq!(requester_name(Some("no-reply@example.com")), None);
        assert_eq!(requester_name(Some("support.team@example.com")), None);
        assert_eq!(requester_name(Some("j.doe@example.com")), None);
        assert_eq!(requester_name(None), None);
    }

    #[test]
    fn join_and_lists() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(join_and(&v(&["a"])), "a");
        assert_eq!(join_and(&v(&["a", "b", "c"])), "a, b and c");
    }
}
