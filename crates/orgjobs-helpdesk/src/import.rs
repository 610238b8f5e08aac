//! Importing tickets and knowledge-base articles from JSON Lines, one
//! object per line:
//!
//! ```text
//! {"type":"ticket","external_id":"T-1","subject":"…","body":"…","requester_email":"…",
//!  "status":"resolved","priority":"high","category":"billing",
//!  "created_at":"2026-02-01T09:00:00Z","first_response_at":"…","resolved_at":"…"}
//! {"type":"article","external_id":"KB-1","title":"…","body":"…","tags":["…"]}
//! ```
//!
//! Everything but `subject`/`body` (tickets) and `title`/`body` (articles)
//! is optional. [`parse`] checks every line and reports each bad one with its
//! number and reason; [`import`] writes the good ones in the caller's tenant
//! transaction, all or nothing. Rows match on `external_id`, so importing a
//! file again changes nothing; a line whose fields changed updates its row
//! (a field left out keeps the stored value). A ticket without an
//! `external_id` gets `md5:` and the hash of its subject, body and creation
//! time, so that it, too, is imported once. Inserted tickets and new or
//! changed articles enqueue their jobs through the tables' triggers, exactly
//! as rows created any other way.

use std::collections::HashMap;
use std::io::BufRead;

use chrono::{DateTime, Duration, Utc};
use orgjobs_queue::{TenantTx, TxError};
use serde::Deserialize;

/// Longest accepted line, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;
const STATUSES: &[&str] = &["new", "open", "pending", "resolved", "closed"];
const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];

/// A ticket line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TicketRecord {
    /// Id in the source system (unique per organization).
    pub external_id: Option<String>,
    /// Subject (required, non-empty).
    pub subject: String,
    /// Body (required; may be empty).
    pub body: String,
    /// Requester's address.
    pub requester_email: Option<String>,
    /// `new|open|pending|resolved|closed`; default `resolved` when
    /// `resolved_at` is given, else `new`.
    pub status: Option<String>,
    /// `low|normal|high|urgent`; default `normal`.
    pub priority: Option<String>,
    /// Category label.
    pub category: Option<String>,
    /// Creation time (RFC 3339); default: the time of import.
    pub created_at: Option<DateTime<Utc>>,
    /// First agent response.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Resolution.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// An article line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArticleRecord {
    /// Id in the source system (unique per organization).
    pub external_id: Option<String>,
    /// Title (required, non-empty).
    pub title: String,
    /// Body (required, non-empty).
    pub body: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One line of an import file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    /// `"type":"ticket"`.
    Ticket(TicketRecord),
    /// `"type":"article"`.
    Article(ArticleRecord),
}

/// A rejected line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong and what was expected.
    pub reason: String,
}

/// The outcome of [`parse`]: the good lines (with their numbers) and the bad.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// Valid records, in file order.
    pub records: Vec<(usize, Record)>,
    /// Rejected lines, in file order.
    pub errors: Vec<LineError>,
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read.
    #[error("reading line {line}: {source}")]
    Read {
        /// Where.
        line: usize,
        /// Why.
        source: std::io::Error,
    },
    /// The organization does not exist.
    #[error(
        "organization {0} does not exist; create one with `orgjobs org create NAME`, which prints its id"
    )]
    NoOrganization(uuid::Uuid),
    /// The database refused the batch (nothing was written).
    #[error("writing the {what} (nothing was imported): {source}")]
    Db {
        /// Tickets or articles.
        what: &'static str,
        /// The server's error.
        source: TxError,
    },
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New tickets.
    pub tickets_inserted: u64,
    /// Tickets whose fields changed.
    pub tickets_updated: u64,
    /// Tickets already as in the file.
    pub tickets_unchanged: u64,
    /// New articles.
    pub articles_inserted: u64,
    /// Articles whose fields changed.
    pub articles_updated: u64,
    /// Articles already as in the file.
    pub articles_unchanged: u64,
}

/// Reads and checks every line; never stops at a bad one.
pub fn parse(reader: impl BufRead) -> Result<Parsed, ImportError> {
    let mut parsed = Parsed::default();
    let mut seen: HashMap<(bool, String), usize> = HashMap::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i + 1;
        let bytes = line.map_err(|source| ImportError::Read { line: n, source })?;
        let fail = |reason: String| LineError { line: n, reason };
        let Ok(line) = String::from_utf8(bytes) else {
            parsed
                .errors
                .push(fail("is not valid UTF-8; expected UTF-8 JSON".to_owned()));
            continue;
        };
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            parsed.errors.push(fail(format!(
                "line is {} bytes; the limit is {MAX_LINE_BYTES}",
                line.len()
            )));
            continue;
        }
        let record = match serde_json::from_str::<Record>(line) {
            Ok(r) => r,
            Err(e) => {
                parsed.errors.push(fail(format!(
                    "{e}; expected a JSON object with \"type\": \"ticket\" or \"article\""
                )));
                continue;
            }
        };
        // PostgreSQL text cannot hold NUL; one such line must not sink the
        // whole import at write time.
        if line.contains("\\u0000") && has_nul(&record) {
            parsed.errors.push(fail(
                "a string contains a NUL character (\\u0000), which PostgreSQL text cannot store"
                    .to_owned(),
            ));
            continue;
        }
        if let Err(reason) = check(&record) {
            parsed.errors.push(fail(reason));
            continue;
        }
        let key = match &record {
            Record::Ticket(t) => t.external_id.clone().map(|e| (true, e)),
            Record::Article(a) => a.external_id.clone().map(|e| (false, e)),
        };
        if let Some(key) = key {
            if let Some(first) = seen.get(&key) {
                parsed.errors.push(fail(format!(
                    "external_id {:?} already appears on line {first}; each must be unique",
                    key.1
                )));
                continue;
            }
            seen.insert(key, n);
        }
        parsed.records.push((n, record));
    }
    Ok(parsed)
}

fn has_nul(record: &Record) -> bool {
    let nul = |s: &str| s.contains('\0');
    match record {
        Record::Ticket(t) => {
            [&t.subject, &t.body].into_iter().any(|s| nul(s))
                || [
                    &t.external_id,
                    &t.requester_email,
                    &t.status,
                    &t.priority,
                    &t.category,
                ]
                .into_iter()
                .flatten()
                .any(|s| nul(s))
        }
        Record::Article(a) => {
            nul(&a.title)
                || nul(&a.body)
                || a.external_id.as_deref().is_some_and(nul)
                || a.tags.iter().any(|t| nul(t))
        }
    }
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), String> {
    let n = value.trim().chars().count();
    if n < min || value.chars().count() > max {
        return Err(format!(
            "{field} must be {min} to {max} characters, got {}",
            value.chars().count()
        ));
    }
    Ok(())
}

fn check_one_of(field: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), String> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(format!(
            "{field} {v:?} is not one of {}",
            allowed.join(", ")
        )),
        _ => Ok(()),
    }
}

/// Field rules beyond the JSON shape.
fn check(record: &Record) -> Result<(), String> {
    match record {
        Record::Ticket(t) => {
            if let Some(e) = &t.external_id {
                check_len("external_id", e, 1, 200)?;
            }
            check_len("subject", &t.subject, 1, 1000)?;
            check_len("body", &t.body, 0, 100_000)?;
            if let Some(email) = &t.requester_email {
                if !email.contains('@') || email.chars().count() > 320 {
                    return Err(format!("requester_email {email:?} is not an email address"));
                }
            }
            check_one_of("status", t.status.as_deref(), STATUSES)?;
            check_one_of("priority", t.priority.as_deref(), PRIORITIES)?;
            if let Some(c) = &t.category {
                check_len("category", c, 1, 100)?;
            }
            let created = t.created_at;
            if created.is_none() && (t.first_response_at.is_some() || t.resolved_at.is_some()) {
                return Err(
                    "first_response_at or resolved_at is given without created_at; \
                     expected created_at too (the ticket would otherwise be created now, after them)"
                        .to_owned(),
                );
            }
            for (name, at) in [
                ("first_response_at", t.first_response_at),
                ("resolved_at", t.resolved_at),
            ] {
                if let (Some(c), Some(at)) = (created, at) {
                    if at < c {
                        return Err(format!("{name} ({at}) is before created_at ({c})"));
                    }
                }
            }
            let now = Utc::now() + Duration::minutes(5);
            for (name, at) in [
                ("created_at", t.created_at),
                ("first_response_at", t.first_response_at),
                ("resolved_at", t.resolved_at),
            ] {
                if at.is_some_and(|at| at > now) {
                    return Err(format!("{name} is in the future"));
                }
            }
            let open = matches!(t.status.as_deref(), Some("new" | "open" | "pending"));
            if open && t.resolved_at.is_some() {
                return Err(format!(
                    "resolved_at is set but status is {:?}; a resolved ticket's status is resolved or closed",
                    t.status.as_deref().unwrap_or_default()
                ));
            }
        }
        Record::Article(a) => {
            if let Some(e) = &a.external_id {
                check_len("external_id", e, 1, 200)?;
            }
            check_len("title", &a.title, 1, 500)?;
            check_len("body", &a.body, 1, 200_000)?;
            if a.tags.len() > 50 {
                return Err(format!("{} tags; at most 50", a.tags.len()));
            }
            for tag in &a.tags {
                check_len("tag", tag, 1, 100)?;
            }
        }
    }
    Ok(())
}

const TICKET_COLUMNS: &str = "unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                    $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[],
                                    $11::timestamptz[])
                             AS u(e, s, b, r, st, p, cat, c, f, rs)";

/// Writes `records` into `tx`'s organization (which must exist), all or
/// nothing; the caller commits. `shift` moves every timestamp (the demo
/// uses it to make old data recent); pass zero otherwise.
pub async fn import(
    tx: &TenantTx,
    records: &[(usize, Record)],
    shift: Duration,
) -> Result<ImportReport, ImportError> {
    // RLS: the organization's own row, if it exists.
    let exists = tx
        .query_opt("SELECT 1 FROM public.organizations", &[])
        .await
        .map_err(|source| ImportError::Db {
            what: "organization check",
            source,
        })?
        .is_some();
    if !exists {
        return Err(ImportError::NoOrganization(tx.org_id()));
    }
    let mut report = ImportReport::default();
    let tickets: Vec<&TicketRecord> = records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Ticket(t) => Some(t),
            Record::Article(_) => None,
        })
        .collect();
    let articles: Vec<&ArticleRecord> = records
        .iter()
        .filter_map(|(_, r)| match r {
            Record::Article(a) => Some(a),
            Record::Ticket(_) => None,
        })
        .collect();
    for chunk in tickets.chunks(1000) {
        let (ins, upd) =
            import_tickets(tx, chunk, shift)
                .await
                .map_err(|source| ImportError::Db {
                    what: "tickets",
                    source,
                })?;
        report.tickets_inserted += ins;
        report.tickets_updated += upd;
        report.tickets_unchanged += chunk.len() as u64 - ins - upd;
    }
    for chunk in articles.chunks(500) {
        let (ins, upd) = import_articles(tx, chunk)
            .await
            .map_err(|source| ImportError::Db {
                what: "articles",
                source,
            })?;
        report.articles_inserted += ins;
        report.articles_updated += upd;
        report.articles_unchanged += chunk.len() as u64 - ins - upd;
    }
    Ok(report)
}

/// Updates the changed tickets, then inserts the new ones; returns
/// (inserted, updated).
async fn import_tickets(
    tx: &TenantTx,
    chunk: &[&TicketRecord],
    shift: Duration,
) -> Result<(u64, u64), TxError> {
    let col =
        |f: fn(&TicketRecord) -> Option<String>| chunk.iter().map(|t| f(t)).collect::<Vec<_>>();
    let at = |f: fn(&TicketRecord) -> Option<DateTime<Utc>>| {
        chunk
            .iter()
            .map(|t| f(t).map(|x| x + shift))
            .collect::<Vec<_>>()
    };
    let e = col(|t| t.external_id.clone());
    let s = col(|t| Some(t.subject.clone()));
    let b = col(|t| Some(t.body.clone()));
    let r = col(|t| t.requester_email.clone());
    let st = col(|t| t.status.clone());
    let p = col(|t| t.priority.clone());
    let cat = col(|t| t.category.clone());
    let c = at(|t| t.created_at);
    let f = at(|t| t.first_response_at);
    let rs = at(|t| t.resolved_at);
    // The creation time enters as epoch seconds: its text form would depend
    // on the session's TimeZone, and a re-import elsewhere would duplicate.
    let key = "coalesce(u.e, 'md5:' || md5(u.s || E'\\n' || u.b || E'\\n' \
               || coalesce(extract(epoch FROM u.c)::text, '')))";
    // A resolution time given without a status resolves an open ticket; a
    // reopening status clears the stored resolution time (check() allows no
    // resolved_at with an open status), so status and resolved_at agree.
    let status = "coalesce(u.st, CASE WHEN u.rs IS NOT NULL AND t.status IN ('new', 'open', 'pending') \
                  THEN 'resolved' ELSE t.status END)";
    let resolved = "CASE WHEN u.st IN ('new', 'open', 'pending') THEN NULL \
                    ELSE coalesce(u.rs, t.resolved_at) END";
    // $1 organization; $2..$11 the columns, element by element. A field
    // left out (NULL) keeps the stored value.
    let update = format!(
        "UPDATE public.tickets t
         SET subject = u.s, body = u.b,
             requester_email = coalesce(u.r, t.requester_email),
             status = {status}, priority = coalesce(u.p, t.priority),
             category = coalesce(u.cat, t.category), created_at = coalesce(u.c, t.created_at),
             first_response_at = coalesce(u.f, t.first_response_at),
             resolved_at = {resolved}
         FROM {TICKET_COLUMNS}
         WHERE t.organization_id = $1 AND t.external_id = {key}
           AND (t.subject, t.body, t.requester_email, t.status, t.priority, t.category,
                t.created_at, t.first_response_at, t.resolved_at)
               IS DISTINCT FROM
               (u.s, u.b, coalesce(u.r, t.requester_email), {status},
                coalesce(u.p, t.priority), coalesce(u.cat, t.category),
                coalesce(u.c, t.created_at), coalesce(u.f, t.first_response_at),
                {resolved})"
    );
    let insert = format!(
        "INSERT INTO public.tickets
             (organization_id, external_id, subject, body, requester_email, status, priority,
              category, created_at, first_response_at, resolved_at)
         SELECT $1, {key}, u.s, u.b, u.r,
                coalesce(u.st, CASE WHEN u.rs IS NULL THEN 'new' ELSE 'resolved' END),
                coalesce(u.p, 'normal'), u.cat, coalesce(u.c, now()), u.f, u.rs
         FROM {TICKET_COLUMNS}
         ON CONFLICT (organization_id, external_id) DO NOTHING"
    );
    let org = tx.org_id();
    let params: [&(dyn orgjobs_queue::tokio_postgres::types::ToSql + Sync); 11] =
        [&org, &e, &s, &b, &r, &st, &p, &cat, &c, &f, &rs];
    let updated = tx.execute(&update, &params).await?;
    let inserted = tx.execute(&insert, &params).await?;
    Ok((inserted, updated))
}

/// Same for articles; returns (inserted, updated).
async fn import_articles(tx: &TenantTx, chunk: &[&ArticleRecord]) -> Result<(u64, u64), TxError> {
    let e: Vec<Option<String>> = chunk.iter().map(|a| a.external_id.clone()).collect();
    let title: Vec<&str> = chunk.iter().map(|a| a.title.as_str()).collect();
    let body: Vec<&str> = chunk.iter().map(|a| a.body.as_str()).collect();
    let tags: Vec<serde_json::Value> = chunk.iter().map(|a| serde_json::json!(a.tags)).collect();
    let columns = "unnest($2::text[], $3::text[], $4::text[], $5::jsonb[]) AS u(e, ti, b, tg)";
    let tags_of = "ARRAY(SELECT jsonb_array_elements_text(u.tg))";
    let key = "coalesce(u.e, 'md5:' || md5(u.ti || E'\\n' || u.b))";
    // $1 organization; $2..$5 the columns, element by element.
    let update = format!(
        "UPDATE public.kb_articles a SET title = u.ti, body = u.b, tags = {tags_of}
         FROM {columns}
         WHERE a.organization_id = $1 AND a.external_id = {key}
           AND (a.title, a.body, a.tags) IS DISTINCT FROM (u.ti, u.b, {tags_of})"
    );
    let insert = format!(
        "INSERT INTO public.kb_articles (organization_id, external_id, title, body, tags)
         SELECT $1, {key}, u.ti, u.b, {tags_of} FROM {columns}
         ON CONFLICT (organization_id, external_id) DO NOTHING"
    );
    let org = tx.org_id();
    let params: [&(dyn orgjobs_queue::tokio_postgres::types::ToSql + Sync); 5] =
        [&org, &e, &title, &body, &tags];
    let updated = tx.execute(&update, &params).await?;
    let inserted = tx.execute(&insert, &params).await?;
    Ok((inserted, updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Parsed {
        parse(s.as_bytes()).unwrap_or_default()
    }

    #[test]
    fn lines_postgres_could_not_store_are_rejected_alone() {
        let mut file = br#"{"type":"ticket","subject":"ok","body":"fine"}"#.to_vec();
        file.extend_from_slice(
            b"\n{\"type\":\"ticket\",\"subject\":\"bad \xff byte\",\"body\":\"x\"}\r\n",
        );
        file.extend_from_slice(br#"{"type":"article","title":"t","body":"nul \u0000 inside"}"#);
        file.extend_from_slice(b"\n");
        file.extend_from_slice(
            br#"{"type":"ticket","subject":"s","body":"b","resolved_at":"2026-01-01T00:00:00Z"}"#,
        );
        file.extend_from_slice(b"\n");
        file.extend_from_slice(br#"{"type":"ticket","subject":"escaped","body":"a \\u0000 b"}"#);
        let p = parse(&file[..]).expect("parse never stops at a bad line");
        let lines: Vec<usize> = p.records.iter().map(|r| r.0).collect();
        assert_eq!(lines, vec![1, 5], "{:?}", p.errors);
        let errs: Vec<(usize, &str)> = p
            .errors
            .iter()
            .map(|e| (e.line, e.reason.as_str()))
            .collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert_eq!(errs[0].0, 2);
        assert!(errs[0].1.contains("not valid UTF-8"), "{errs:?}");
        assert_eq!(errs[1].0, 3);
        assert!(errs[1].1.contains("NUL"), "{errs:?}");
        assert_eq!(errs[2].0, 4);
        assert!(errs[2].1.contains("without created_at"), "{errs:?}");
    }

    #[test]
    fn good_and_bad_lines() {
        let file = r#"{"type":"ticket","external_id":"T1","subject":"Card lost","body":"help"}

{"type":"ticket","subject":"","body":"x"}
{"type":"article","title":"How to","body":"Steps.","tags":["a"]}
{"type":"ticket","external_id":"T1","subject":"again","body":"dup"}
{"type":"invoice","subject":"x"}
not json
{"type":"ticket","subject":"s","body":"b","priority":"critical"}
{"type":"ticket","subject":"s","body":"b","colour":"red"}
{"type":"ticket","subject":"s","body":"b","status":"open","created_at":"2025-12-31T00:00:00Z","resolved_at":"2026-01-01T00:00:00Z"}
{"type":"ticket","subject":"s","body":"b","created_at":"2026-01-02T00:00:00Z","resolved_at":"2026-01-01T00:00:00Z"}
"#;
        let p = parse_str(file);
        let lines: Vec<usize> = p.records.iter().map(|r| r.0).collect();
        assert_eq!(lines, vec![1, 4]);
        assert_eq!(p.errors.len(), 8, "{:?}", p.errors);
        let errs: Vec<(usize, &str)> = p
            .errors
            .iter()
            .map(|e| (e.line, e.reason.as_str()))
            .collect();
        let expect = [
            (3, "subject must be 1 to 1000 characters"),
            (5, "already appears on line 1"),
            (6, "unknown variant `invoice`"),
            (7, "expected"),
            (8, "priority \"critical\" is not one of"),
            (9, "unknown field `colour`"),
            (10, "resolved_at is set but status is \"open\""),
            (
                11,
                "resolved_at (2026-01-01 00:00:00 UTC) is before created_at",
            ),
        ];
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
        for ((line, reason), (el, er)) in errs.iter().zip(expect) {
            assert_eq!(*line, el);
            assert!(reason.contains(er), "line {line}: {reason:?} lacks {er:?}");
        }
    }
}
