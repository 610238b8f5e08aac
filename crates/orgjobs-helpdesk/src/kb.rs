//! The knowledge base: `RAG_INDEX` cuts an article into passages and
//! (re)indexes them, with a sentence embedding each when the worker has the
//! model; `KB_SUGGEST` ranks the organization's passages for a ticket and
//! stores the top ones with scores and snippets.
//!
//! - **With the model**: reciprocal rank fusion of two rankings of the
//!   articles (each by its best passage): BM25 below, and the cosine of the
//!   ticket's embedding with each passage's. An article's score is
//!   `1/(K + lexical rank) + W/(K + dense rank)` (ranks from 1; K =
//!   [`RRF_K`], W = [`DENSE_WEIGHT`]); an article absent from one ranking
//!   gets nothing from it. The passage
//!   vectors are read once per organization and kept in the worker's memory
//!   until a passage changes (a fingerprint of the passages is checked each
//!   job); the cosines are computed in the worker. That is a scan of every
//!   passage of the organization per ticket: 24 ms for 100,000 passages on
//!   one core (measured), and 1.5 kB of memory per passage. That is fine to
//!   about a hundred thousand passages per organization; past that, an index
//!   for approximate nearest neighbours (pgvector's HNSW where it can be
//!   installed) is the next step.
//! - **Without it** ([`search`], also what the API's search and
//!   `SMART_REPLY` use): BM25 alone.
//!
//! BM25 ranking is over PostgreSQL's full-text vectors (English stemming,
//! the article title counted twice): the GIN index finds the passages that
//! share a term with the ticket, and the statement scores them with each
//! term's rarity in this organization's knowledge base. Plain `ts_rank`
//! has no notion of rarity, so with a ticket's many words a common word
//! ("card", "order") would outweigh the one that matters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orgjobs_queue::tokio_postgres::types::ToSql;
use orgjobs_queue::{JobError, TenantHandler, TenantTx, TxError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::embedding::{DIMENSIONS, Embeddings, cosine};
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
/// How many articles of the BM25 ranking enter the fusion.
const LEXICAL_CANDIDATES: usize = 50;
/// Reciprocal rank fusion's constant. Chosen with [`DENSE_WEIGHT`] on the
/// bundled organizations' history tickets (not their held-out ones): over
/// K in 1..60 and weights 0.5..6, K = 5 and weight 2 gave the best mean
/// recall@3 (bank 86.5 %, against 81.5 % with the usual K = 60 and weight
/// 1, 85.7 % for the dense ranking alone and 62.3 % for BM25 alone); the
/// best few settings were within a ticket or two of each other.
pub const RRF_K: f64 = 5.0;
/// The weight of the dense ranking in the fusion, against 1 for BM25.
pub const DENSE_WEIGHT: f64 = 2.0;
/// `KB_SUGGEST`'s method with the model.
pub const METHOD_FUSED: &str = "bm25+embedding-rrf";
/// `KB_SUGGEST`'s method without it.
pub const METHOD_LEXICAL: &str = "bm25-fts-english";

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

/// `RAG_INDEX {article_id}`: the article's passages, each with its
/// embedding (and the model's id) when the worker has the model, with none
/// otherwise.
#[derive(Clone, Debug, Default)]
pub struct RagIndex {
    embeddings: Embeddings,
}

impl RagIndex {
    /// A handler that embeds passages with `embeddings`' model, if any.
    pub fn new(embeddings: Embeddings) -> RagIndex {
        RagIndex { embeddings }
    }
}

/// Its payload.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticlePayload {
    /// The article, in the job's organization.
    pub article_id: Uuid,
}

/// The text a passage is embedded from: the article's title, then the
/// passage.
fn passage_text(title: &str, content: &str) -> String {
    format!("{title}\n{content}")
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
        let vectors = match self.embeddings.model_id() {
            Some(_) if !passages.is_empty() => {
                let texts = passages.iter().map(|c| passage_text(&title, c)).collect();
                self.embeddings.embed(texts).await
            }
            _ => None,
        };
        let model = vectors
            .as_ref()
            .and_then(|_| self.embeddings.model_id().map(str::to_owned));
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
        let no_vectors: Vec<Option<Vec<f32>>> = vec![None; passages.len()];
        let vectors: Vec<Option<Vec<f32>>> = match vectors {
            Some(v) => v.into_iter().map(Some).collect(),
            None => no_vectors,
        };
        let org = tx.org_id();
        // A VALUES row per passage rather than INSERT … SELECT FROM unnest:
        // Citus turns the latter into a COPY, which row-level security
        // refuses. Only placeholders are formatted into the statement.
        for ((ords, texts), vecs) in ordinals
            .chunks(PASSAGES_PER_INSERT)
            .zip(passages.chunks(PASSAGES_PER_INSERT))
            .zip(vectors.chunks(PASSAGES_PER_INSERT))
        {
            // $1 organization, $2 article, $3 version, $4 title, $5 the
            // model (NULL without vectors); then each passage's ordinal,
            // content and embedding.
            let rows: Vec<String> = (0..ords.len())
                .map(|i| {
                    format!(
                        "($1, $2, $3, ${}, $4, ${}, ${}, $5)",
                        6 + 3 * i,
                        7 + 3 * i,
                        8 + 3 * i
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO public.kb_passages
                     (organization_id, article_id, article_version, ordinal, title, content,
                      embedding, embedding_model)
                 VALUES {}",
                rows.join(", ")
            );
            let mut params: Vec<&(dyn ToSql + Sync)> =
                vec![&org, &p.article_id, &version, &title, &model];
            for ((o, c), v) in ords.iter().zip(texts).zip(vecs) {
                params.push(o);
                params.push(c);
                params.push(v);
            }
            tx.execute(&sql, &params).await?;
        }
        let method = if model.is_some() { "embedding" } else { "none" };
        self.embeddings.decided(Self::KIND, method);
        tracing::debug!(event = "rag_index", article_id = %p.article_id, version,
                        passages = passages.len(), embedded = model.is_some());
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
macro_rules! bm25_ctes {
    () => {
        "
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
"
    };
}

const SEARCH_SQL: &str = concat!(
    bm25_ctes!(),
    "SELECT b.article_id, a.external_id, a.title, b.ordinal, b.score,
       ts_headline('english'::regconfig, p.content, q.q,
                   'MaxFragments=2, MaxWords=30, MinWords=10, StartSel=**, StopSel=**, FragmentDelimiter=\" … \"'),
       p.content
FROM best b
JOIN public.kb_passages p
  ON p.organization_id = $3 AND p.article_id = b.article_id AND p.ordinal = b.ordinal
JOIN public.kb_articles a ON a.organization_id = $3 AND a.id = b.article_id
CROSS JOIN q
ORDER BY b.score DESC, b.article_id
LIMIT $2"
);

/// The BM25 ranking alone: article, best passage, score; same parameters.
const RANK_SQL: &str = concat!(
    bm25_ctes!(),
    "SELECT article_id, ordinal, score FROM best ORDER BY score DESC, article_id LIMIT $2"
);

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

/// The passage text of the chosen passages with snippets, for `text`'s
/// terms: $1 the text, $2 the organization, $3 the articles, $4 the
/// ordinals (every combination is read; the caller keeps its pairs).
const DETAILS_SQL: &str = "
WITH q AS (
    SELECT to_tsquery('simple'::regconfig, string_agg(DISTINCT t.lexeme, ' | ')) AS q
    FROM unnest(to_tsvector('english'::regconfig, $1)) AS t
    WHERE t.lexeme ~ '^[[:alnum:]]+$'
)
SELECT p.article_id, a.external_id, a.title, p.ordinal,
       coalesce(ts_headline('english'::regconfig, p.content, q.q,
                   'MaxFragments=2, MaxWords=30, MinWords=10, StartSel=**, StopSel=**, FragmentDelimiter=\" … \"'),
                left(p.content, 240)),
       p.content
FROM public.kb_passages p
JOIN public.kb_articles a ON a.organization_id = $2 AND a.id = p.article_id
CROSS JOIN q
WHERE p.organization_id = $2 AND p.article_id = ANY($3) AND p.ordinal = ANY($4)";

/// One organization's passage vectors of one model, as last read.
struct PassageVectors {
    /// What the passages looked like when read (see `FINGERPRINT_SQL`).
    fingerprint: (i64, String),
    /// The model the vectors are of.
    model: String,
    /// Per passage, its article and ordinal...
    keys: Vec<(Uuid, i32)>,
    /// ...and its vector, [`DIMENSIONS`] values each, one after another.
    flat: Vec<f32>,
}

/// $1 the organization, $2 the model: how many passages, a sum of hashes
/// of each passage's identity and write time (any re-index or deletion
/// changes it), and the articles with passages lacking the model's vector.
const FINGERPRINT_SQL: &str = "
SELECT count(*),
       coalesce(sum(hashtextextended(article_id::text || ':' || ordinal::text || ':'
                                     || created_at::text, 0)), 0)::text,
       coalesce(array_agg(DISTINCT article_id)
                    FILTER (WHERE embedding_model IS DISTINCT FROM $2), '{}')
FROM public.kb_passages WHERE organization_id = $1";

/// `KB_SUGGEST {ticket_id}`: the top articles for the ticket, by fusion
/// when the worker has the model, by BM25 otherwise (see the module docs).
/// Passages without the model's vector (indexed without it, or by another
/// model) are ranked by BM25 alone, and their articles are queued for
/// `RAG_INDEX`.
#[derive(Default)]
pub struct KbSuggest {
    embeddings: Embeddings,
    vectors: Mutex<HashMap<Uuid, Arc<PassageVectors>>>,
}

impl KbSuggest {
    /// A handler that ranks with `embeddings`' model, if any.
    pub fn new(embeddings: Embeddings) -> KbSuggest {
        KbSuggest {
            embeddings,
            vectors: Mutex::new(HashMap::new()),
        }
    }

    /// The organization's passage vectors of `model`, from the cache if no
    /// passage changed, and the articles that need re-indexing.
    async fn passage_vectors(
        &self,
        tx: &TenantTx,
        model: &str,
    ) -> Result<(Arc<PassageVectors>, Vec<Uuid>), TxError> {
        let row = tx
            .query_one(FINGERPRINT_SQL, &[&tx.org_id(), &model])
            .await?;
        let fingerprint: (i64, String) = (row.get(0), row.get(1));
        let stale: Vec<Uuid> = row.get(2);
        let cached = self
            .vectors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tx.org_id())
            .filter(|v| v.fingerprint == fingerprint && v.model == model)
            .cloned();
        if let Some(v) = cached {
            return Ok((v, stale));
        }
        // $1 the organization, $2 the model.
        let rows = tx
            .query(
                "SELECT article_id, ordinal, embedding FROM public.kb_passages
                 WHERE organization_id = $1 AND embedding_model = $2",
                &[&tx.org_id(), &model],
            )
            .await?;
        let mut keys = Vec::with_capacity(rows.len());
        let mut flat = Vec::with_capacity(rows.len() * DIMENSIONS);
        for r in &rows {
            let v: Vec<f32> = r.get(2);
            if v.len() == DIMENSIONS {
                keys.push((r.get(0), r.get(1)));
                flat.extend_from_slice(&v);
            }
        }
        let v = Arc::new(PassageVectors {
            fingerprint,
            model: model.to_owned(),
            keys,
            flat,
        });
        self.vectors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tx.org_id(), v.clone());
        Ok((v, stale))
    }
}

/// Articles ranked by their best passage's cosine with `query`, best first.
fn dense_ranking(vectors: &PassageVectors, query: &[f32]) -> Vec<(Uuid, i32, f32)> {
    let mut best: HashMap<Uuid, (f32, i32)> = HashMap::new();
    for (key, v) in vectors
        .keys
        .iter()
        .zip(vectors.flat.chunks_exact(DIMENSIONS))
    {
        let c = cosine(query, v);
        let e = best.entry(key.0).or_insert((f32::NEG_INFINITY, key.1));
        if c > e.0 || (c == e.0 && key.1 < e.1) {
            *e = (c, key.1);
        }
    }
    let mut ranked: Vec<(Uuid, i32, f32)> = best.into_iter().map(|(a, (c, o))| (a, o, c)).collect();
    ranked.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    ranked
}

/// One fused suggestion: the article, the passage shown, the fused score
/// and each ranking's score where the article is in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    /// The article.
    pub article_id: Uuid,
    /// The passage to show: the best one of the ranking that placed the
    /// article higher.
    pub passage: i32,
    /// The fused score.
    pub score: f64,
    /// Its BM25 score, if BM25 ranked it.
    pub bm25: Option<f64>,
    /// Its best passage's cosine, if it has vectors.
    pub cosine: Option<f64>,
}

/// Reciprocal rank fusion of a BM25 ranking and a dense ranking (each best
/// first, one entry per article), the best `limit`.
pub fn fuse(
    lexical: &[(Uuid, i32, f64)],
    dense: &[(Uuid, i32, f32)],
    dense_weight: f64,
    limit: usize,
) -> Vec<Fused> {
    // Per article: the fused entry, and its BM25 rank (MAX: none).
    let mut by_article: HashMap<Uuid, (Fused, usize)> = HashMap::new();
    let fresh = |article_id, passage, rank| {
        (
            Fused {
                article_id,
                passage,
                score: 0.0,
                bm25: None,
                cosine: None,
            },
            rank,
        )
    };
    for (rank, &(a, o, score)) in lexical.iter().enumerate() {
        let e = by_article.entry(a).or_insert_with(|| fresh(a, o, rank));
        e.0.score += 1.0 / (RRF_K + rank as f64 + 1.0);
        e.0.bm25 = Some(score);
    }
    for (rank, &(a, o, c)) in dense.iter().enumerate() {
        let e = by_article
            .entry(a)
            .or_insert_with(|| fresh(a, o, usize::MAX));
        e.0.score += dense_weight / (RRF_K + rank as f64 + 1.0);
        e.0.cosine = Some(f64::from(c));
        if rank < e.1 {
            e.0.passage = o;
        }
    }
    let mut out: Vec<Fused> = by_article.into_values().map(|(f, _)| f).collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.article_id.cmp(&b.article_id))
    });
    out.truncate(limit);
    out
}

/// The chosen passages' text and snippets, in `picks`' order.
async fn details(tx: &TenantTx, text: &str, picks: &[Fused]) -> Result<Vec<Hit>, TxError> {
    let articles: Vec<Uuid> = picks.iter().map(|f| f.article_id).collect();
    let ordinals: Vec<i32> = picks.iter().map(|f| f.passage).collect();
    let rows = tx
        .query(DETAILS_SQL, &[&text, &tx.org_id(), &articles, &ordinals])
        .await?;
    let mut by_key: HashMap<(Uuid, i32), &orgjobs_queue::tokio_postgres::Row> = HashMap::new();
    for r in &rows {
        by_key.insert((r.get(0), r.get(3)), r);
    }
    Ok(picks
        .iter()
        .filter_map(|f| {
            by_key.get(&(f.article_id, f.passage)).map(|r| Hit {
                article_id: f.article_id,
                external_id: r.get(1),
                title: r.get(2),
                passage: f.passage,
                score: f.score,
                snippet: r.get(4),
                content: r.get(5),
            })
        })
        .collect())
}

impl TenantHandler for KbSuggest {
    const KIND: &'static str = "KB_SUGGEST";
    type Payload = TicketPayload;

    async fn run(&self, tx: &mut TenantTx, p: TicketPayload) -> Result<(), JobError> {
        let ticket = load_ticket(tx, p.ticket_id).await?;
        let text = ticket.text();
        let query = match self.embeddings.model_id() {
            Some(_) => self.embeddings.embed_ticket(tx.org_id(), &text).await,
            None => None,
        };
        let fused = match (query, self.embeddings.model_id()) {
            (Some(q), Some(model)) => {
                let (vectors, stale) = self.passage_vectors(tx, model).await?;
                if !stale.is_empty() {
                    tracing::info!(event = "kb_reindex", org_id = %tx.org_id(), articles = stale.len(), model);
                    crate::enqueue::reindex_articles(tx, &stale).await?;
                }
                let limit = i64::try_from(LEXICAL_CANDIDATES).unwrap_or(i64::MAX);
                // $1 the ticket's text, $2 how many, $3 the organization.
                let lexical: Vec<(Uuid, i32, f64)> = tx
                    .query(RANK_SQL, &[&text, &limit, &tx.org_id()])
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect();
                let dense = dense_ranking(&vectors, &q);
                Some((
                    fuse(&lexical, &dense, DENSE_WEIGHT, SUGGESTIONS),
                    stale.len(),
                ))
            }
            _ => None,
        };
        let (method, model, stale, hits, extra) = match fused {
            Some((picks, stale)) => {
                let hits = details(tx, &text, &picks).await?;
                let extra: HashMap<Uuid, (Option<f64>, Option<f64>)> = picks
                    .iter()
                    .map(|f| (f.article_id, (f.bm25, f.cosine)))
                    .collect();
                (METHOD_FUSED, self.embeddings.model_id(), stale, hits, extra)
            }
            None => {
                let hits = search(tx, &text, SUGGESTIONS).await?;
                let extra = hits
                    .iter()
                    .map(|h| (h.article_id, (Some(h.score), None)))
                    .collect();
                (METHOD_LEXICAL, None, 0, hits, extra)
            }
        };
        self.embeddings.decided(Self::KIND, method);
        let suggestions: Vec<_> = hits
            .iter()
            .map(|h| {
                let (bm25, cosine) = extra.get(&h.article_id).copied().unwrap_or_default();
                json!({
                    "article_id": h.article_id,
                    "external_id": h.external_id,
                    "title": h.title,
                    "passage": h.passage,
                    "score": h.score,
                    "bm25": bm25,
                    "cosine": cosine,
                    "snippet": h.snippet,
                })
            })
            .collect();
        let mut content = json!({ "method": method, "suggestions": suggestions });
        if let Some(model) = model {
            content["model"] = json!(model);
            content["articles_reindexing"] = json!(stale);
        }
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
    fn fusion_adds_reciprocal_ranks_and_shows_the_better_rankings_passage() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        // BM25: a, b. Dense: c, b, a.
        let lexical = [(a, 0, 9.0), (b, 4, 5.0)];
        let dense = [(c, 7, 0.8), (b, 1, 0.7), (a, 2, 0.1)];
        let fused = fuse(&lexical, &dense, 1.0, 5);
        let order: Vec<Uuid> = fused.iter().map(|f| f.article_id).collect();
        // a: 1/(K+1) + 1/(K+3); b: 2/(K+2) (a little less); c: 1/(K+1).
        assert_eq!(order, vec![a, b, c]);
        assert!((fused[0].score - (1.0 / (RRF_K + 1.0) + 1.0 / (RRF_K + 3.0))).abs() < 1e-12);
        assert_eq!(
            (fused[1].bm25, fused[1].cosine.map(|c| c as f32)),
            (Some(5.0), Some(0.7))
        );
        // a is shown with its BM25 passage (ranked higher there), b too (a
        // tie keeps BM25's), c with its dense one, and c has no BM25 score.
        assert_eq!(
            (fused[0].passage, fused[1].passage, fused[2].passage),
            (0, 4, 7)
        );
        assert_eq!(fused[2].bm25, None);
        // A dense ranking weighted far above puts its first, c, first; the
        // limit holds.
        let fused = fuse(&lexical, &dense, 100.0, 2);
        assert_eq!(fused.len(), 2);
        assert_eq!(fused[0].article_id, c);
    }

    #[test]
    fn short_text_is_one_passage() {
        assert_eq!(
            split_passages("One. Two!\nThree?", 800, 200),
            vec!["One. Two! Three?".to_owned()]
        );
    }
}
