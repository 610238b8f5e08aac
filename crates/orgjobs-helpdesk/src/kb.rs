//! The knowledge base: `RAG_INDEX` cuts an article into passages and
//! (re)indexes them; [`search`] ranks an organization's passages for a
//! ticket; `KB_SUGGEST` stores the top ones with scores and snippets.
//!
//! Ranking is BM25 over PostgreSQL's full-text vectors (English stemming,
//! the article title counted twice): the GIN index finds the passages that
//! share a term with the ticket, and the statement scores them with each
//! term's rarity in this organization's knowledge base. Plain `ts_rank`
//! has no notion of rarity, so with a ticket's many words a common word
//! ("card", "order") would outweigh the one that matters.

use orgjobs_queue::tokio_postgres::types::ToSql;
use orgjobs_queue::{JobError, TenantHandler, TenantTx, TxError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::tickets::{TicketPayload, load_ticket, not_found};

/// Passages are at most this many characters...
pub const PASSAGE_MAX_CHARS: usize = 800;
/// ...and repeat up to this many characters (whole sentences) of the
/// previous passage, so that an answer cut at a boundary is found whole in
/// one of the two.
pub const PASSAGE_OVERLAP_CHARS: usize = 200;

/// Passages per INSERT statement when an article is indexed (two parameters
/// each, well under the protocol's 65,535).
const PASSAGES_PER_INSERT: usize = 500;
/// How many suggestions `KB_SUGGEST` stores.
pub const SUGGESTIONS: usize = 5;

/// Splits `text` into passages of at most `max_chars` characters, cut at
/// sentence ends (at word boundaries inside a sentence longer than that),
/// each starting with the last sentences of the previous one, up to
/// `overlap_chars`.
pub fn split_passages(text: &str, max_chars: usize, overlap_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(20);
    let overlap_chars = overlap_chars.min(max_chars / 2);
    let mut units = Vec::new();
    for sentence in sentences(text) {
        if sentence.chars().count() <= max_chars {
            units.push(sentence);
        } else {
            units.extend(word_chunks(&sentence, max_chars));
        }
    }
    let mut passages = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let len = |v: &[String]| v.iter().map(|s| s.chars().count() + 1).sum::<usize>();
    for unit in units {
        let unit_len = unit.chars().count() + 1;
        if !current.is_empty() && len(&current) + unit_len > max_chars + 1 {
            passages.push(current.join(" "));
            // Carry whole sentences from the end, up to the overlap.
            let mut carried = Vec::new();
            for s in current.iter().rev() {
                if len(&carried) + s.chars().count() + 1 > overlap_chars
                    || len(&carried) + s.chars().count() + 1 + unit_len > max_chars + 1
                {
                    break;
                }
                carried.insert(0, s.clone());
            }
            current = carried;
        }
        current.push(unit);
    }
    if !current.is_empty() {
        passages.push(current.join(" "));
    }
    passages
}

/// Sentences and paragraph-separated lines, trimmed, empty ones dropped.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut start = 0;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        for (i, &(pos, c)) in chars.iter().enumerate() {
            let next_is_space = chars.get(i + 1).is_none_or(|&(_, n)| n.is_whitespace());
            if matches!(c, '.' | '!' | '?') && next_is_space {
                let end = pos + c.len_utf8();
                out.push(line[start..end].trim().to_owned());
                start = end;
            }
        }
        out.push(line[start..].trim().to_owned());
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Cuts an over-long sentence at word boundaries (inside a word only when
/// the word itself is longer than `max_chars`).
fn word_chunks(sentence: &str, max_chars: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in sentence.split_whitespace() {
        let mut word = word.to_owned();
        while word.chars().count() > max_chars {
            let head: String = word.chars().take(max_chars).collect();
            word = word.chars().skip(max_chars).collect();
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(head);
        }
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > max_chars {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `RAG_INDEX {article_id}`.
pub struct RagIndex;

/// Its payload.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticlePayload {
    /// The article, in the job's organization.
    pub article_id: Uuid,
}

impl TenantHandler for RagIndex {
    const KIND: &'static str = "RAG_INDEX";
    type Payload = ArticlePayload;

    async fn run(&self, tx: &mut TenantTx, p: ArticlePayload) -> Result<(), JobError> {
        // $1 article id, $2 the organization (on Citus, FOR UPDATE needs
        // the statement on one shard); FOR UPDATE so that two index jobs of
        // one article (one running, one queued by an edit) do not
        // interleave.
        let row = tx
            .query_opt(
                "SELECT title, body, version FROM public.kb_articles
                 WHERE id = $1 AND organization_id = $2 FOR UPDATE",
                &[&p.article_id, &tx.org_id()],
            )
            .await?;
        let Some(row) = row else {
            return Err(not_found("article", p.article_id, tx.org_id()));
        };
        let (title, body, version): (String, String, i32) = (row.get(0), row.get(1), row.get(2));
        let passages = split_passages(&body, PASSAGE_MAX_CHARS, PASSAGE_OVERLAP_CHARS);
        // $1 article, $2 the organization: every passage of every older
        // version goes.
        tx.execute(
            "DELETE FROM public.kb_passages WHERE article_id = $1 AND organization_id = $2",
            &[&p.article_id, &tx.org_id()],
        )
        .await?;
        let ordinals: Vec<i32> = (0..passages.len())
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        let org = tx.org_id();
        // A VALUES row per passage rather than INSERT … SELECT FROM unnest:
        // Citus turns the latter into a COPY, which row-level security
        // refuses. Only placeholders are formatted into the statement.
        for (ords, texts) in ordinals
            .chunks(PASSAGES_PER_INSERT)
            .zip(passages.chunks(PASSAGES_PER_INSERT))
        {
            // $1 organization, $2 article, $3 version, $4 title; then each
            // passage's ordinal and content.
            let rows: Vec<String> = (0..ords.len())
                .map(|i| format!("($1, $2, $3, ${}, $4, ${})", 5 + 2 * i, 6 + 2 * i))
                .collect();
            let sql = format!(
                "INSERT INTO public.kb_passages
                     (organization_id, article_id, article_version, ordinal, title, content)
                 VALUES {}",
                rows.join(", ")
            );
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&org, &p.article_id, &version, &title];
            for (o, c) in ords.iter().zip(texts) {
                params.push(o);
                params.push(c);
            }
            tx.execute(&sql, &params).await?;
        }
        tracing::debug!(event = "rag_index", article_id = %p.article_id, version, passages = passages.len());
        Ok(())
    }
}

/// One ranked passage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The article.
    pub article_id: Uuid,
    /// The article's id in the system it was imported from.
    pub external_id: Option<String>,
    /// The article's title.
    pub title: String,
    /// Which passage of the article.
    pub passage: i32,
    /// BM25 score (higher is better; comparable within one query).
    pub score: f64,
    /// The passage's best fragments, matched words in `**bold**`.
    pub snippet: String,
    /// The passage's text.
    pub content: String,
}

/// BM25 (k1 = 1.2, b = 0.75) over the organization's passages, best passage
/// per article, best articles first. Runs in `tx`'s organization: RLS scopes
/// every table it reads, statistics included; each also names it ($3), so
/// that on Citus the statement runs on the organization's one shard.
const SEARCH_SQL: &str = "
WITH terms AS (
    SELECT DISTINCT t.lexeme
    FROM unnest(to_tsvector('english'::regconfig, $1)) AS t
    WHERE t.lexeme ~ '^[[:alnum:]]+$'
), q AS (
    SELECT to_tsquery('simple'::regconfig, string_agg(lexeme, ' | ')) AS q FROM terms
), corpus AS (
    SELECT count(*)::float8 AS n, coalesce(avg(length(search)), 1)::float8 AS avgdl
    FROM public.kb_passages WHERE organization_id = $3
), hits AS (
    SELECT p.article_id, p.ordinal, length(p.search)::float8 AS dl, t.lexeme,
           (cardinality(t.positions)
            + coalesce(cardinality(array_positions(t.weights, 'A')), 0))::float8 AS tf
    FROM q, public.kb_passages p, unnest(p.search) AS t
    WHERE p.organization_id = $3 AND q.q IS NOT NULL AND p.search @@ q.q
      AND t.lexeme IN (SELECT lexeme FROM terms)
), df AS (
    SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme
), scored AS (
    SELECT h.article_id, h.ordinal,
           sum(ln(1 + (c.n - df.df + 0.5) / (df.df + 0.5))
               * h.tf * 2.2 / (h.tf + 1.2 * (0.25 + 0.75 * h.dl / c.avgdl))) AS score
    FROM hits h JOIN df USING (lexeme) CROSS JOIN corpus c
    GROUP BY h.article_id, h.ordinal
), best AS (
    SELECT DISTINCT ON (article_id) article_id, ordinal, score
    FROM scored ORDER BY article_id, score DESC, ordinal
)
SELECT b.article_id, a.external_id, a.title, b.ordinal, b.score,
       ts_headline('english'::regconfig, p.content, q.q,
                   'MaxFragments=2, MaxWords=30, MinWords=10, StartSel=**, StopSel=**, FragmentDelimiter=\" … \"'),
       p.content
FROM best b
JOIN public.kb_passages p
  ON p.organization_id = $3 AND p.article_id = b.article_id AND p.ordinal = b.ordinal
JOIN public.kb_articles a ON a.organization_id = $3 AND a.id = b.article_id
CROSS JOIN q
ORDER BY b.score DESC, b.article_id
LIMIT $2";

/// The best passages of `tx`'s organization's knowledge base for `text`,
/// one per article, at most `limit`.
pub async fn search(tx: &TenantTx, text: &str, limit: usize) -> Result<Vec<Hit>, TxError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // $1 the ticket's text, $2 how many articles, $3 the organization.
    let rows = tx.query(SEARCH_SQL, &[&text, &limit, &tx.org_id()]).await?;
    Ok(rows
        .iter()
        .map(|r| Hit {
            article_id: r.get(0),
            external_id: r.get(1),
            title: r.get(2),
            passage: r.get(3),
            score: r.get(4),
            snippet: r.get(5),
            content: r.get(6),
        })
        .collect())
}

/// `KB_SUGGEST {ticket_id}`.
pub struct KbSuggest;

impl TenantHandler for KbSuggest {
    const KIND: &'static str = "KB_SUGGEST";
    type Payload = TicketPayload;

    async fn run(&self, tx: &mut TenantTx, p: TicketPayload) -> Result<(), JobError> {
        let ticket = load_ticket(tx, p.ticket_id).await?;
        let hits = search(tx, &ticket.text(), SUGGESTIONS).await?;
        let suggestions: Vec<_> = hits
            .iter()
            .map(|h| {
                json!({
                    "article_id": h.article_id,
                    "external_id": h.external_id,
                    "title": h.title,
                    "passage": h.passage,
                    "score": h.score,
                    "snippet": h.snippet,
                })
            })
            .collect();
        let content = json!({ "method": "bm25-fts-english", "suggestions": suggestions });
        store_suggestion(tx, ticket.id, "kb", &content).await?;
        Ok(())
    }
}

/// Stores (replacing) a ticket's suggestion of one type.
pub(crate) async fn store_suggestion(
    tx: &TenantTx,
    ticket: Uuid,
    kind: &str,
    content: &serde_json::Value,
) -> Result<(), TxError> {
    // $1 organization, $2 ticket, $3 'kb' | 'smart_reply', $4 content.
    tx.execute(
        "INSERT INTO public.ai_suggestions (organization_id, ticket_id, suggestion_type, content)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (organization_id, ticket_id, suggestion_type)
         DO UPDATE SET content = EXCLUDED.content, created_at = EXCLUDED.created_at",
        &[&tx.org_id(), &ticket, &kind, content],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_are_bounded_and_overlap() {
        let text = (0..40)
            .map(|i| format!("Sentence number {i} says something useful about cards."))
            .collect::<Vec<_>>()
            .join(" ");
        let ps = split_passages(&text, 300, 100);
        assert!(ps.len() > 3, "{ps:?}");
        for p in &ps {
            assert!(p.chars().count() <= 300, "{} chars: {p}", p.chars().count());
        }
        for pair in ps.windows(2) {
            let last_of_first = pair[0].rsplit(". ").next().unwrap_or_default();
            assert!(
                pair[1].contains(last_of_first.trim_end_matches('.')),
                "no overlap between {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
        // Nothing lost: every sentence is in some passage.
        for i in 0..40 {
            let s = format!("Sentence number {i} says");
            assert!(ps.iter().any(|p| p.contains(&s)), "lost {s}");
        }
    }

    #[test]
    fn long_words_and_sentences_are_cut() {
        let long = "x".repeat(1000);
        let ps = split_passages(&format!("short. {long} tail"), 100, 30);
        assert!(ps.iter().all(|p| p.chars().count() <= 100), "{ps:?}");
        assert_eq!(ps.concat().matches('x').count(), 1000);
        assert!(split_passages("", 100, 30).is_empty());
        assert!(split_passages("  \n\n ", 100, 30).is_empty());
    }

    #[test]
    fn short_text_is_one_passage() {
        assert_eq!(
            split_passages("One. Two!\nThree?", 800, 200),
            vec!["One. Two! Three?".to_owned()]
        );
    }
}
