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

mod check;
mod write;

use std::collections::HashMap;
use std::io::BufRead;

use chrono::{DateTime, Utc};
use orgjobs_queue::TxError;
use serde::Deserialize;

pub use write::import;

use crate::fields::{Priority, Status, UnknownValue};

/// Longest accepted line, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

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

impl TicketRecord {
    /// The status, when given (checked by [`parse`]).
    pub fn status(&self) -> Result<Option<Status>, UnknownValue> {
        self.status.as_deref().map(str::parse).transpose()
    }

    /// The priority, when given (checked by [`parse`]).
    pub fn priority(&self) -> Result<Option<Priority>, UnknownValue> {
        self.priority.as_deref().map(str::parse).transpose()
    }
}

/// The checks a record gets beyond its JSON shape (field lengths, e-mail,
/// status and priority names, timestamps in order, no NUL character), as
/// an import applies them to every line; the HTTP API checks the tickets it
/// creates with them too.
pub fn check_record(record: &Record) -> Result<(), String> {
    if check::has_nul(record) {
        return Err(
            "a string contains a NUL character (\\u0000), which PostgreSQL text cannot store"
                .to_owned(),
        );
    }
    check::check(record)
}

/// Reads and checks every line; never stops at a bad one.
pub fn parse(reader: impl BufRead) -> Result<Parsed, ImportError> {
    let mut parsed = Parsed::default();
    let mut lines = LineParser::default();
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i + 1;
        let bytes = line.map_err(|source| ImportError::Read { line: n, source })?;
        match lines.line(&bytes) {
            Some(Ok(record)) => parsed.records.push((n, record)),
            Some(Err(e)) => parsed.errors.push(e),
            None => {}
        }
    }
    Ok(parsed)
}

/// Checks one line after another (for imports read as a stream): numbers
/// the lines, and refuses an `external_id` that an earlier line had.
#[derive(Debug, Default)]
pub struct LineParser {
    n: usize,
    seen: HashMap<(bool, String), usize>,
}

impl LineParser {
    /// The number of the last line given.
    pub fn line_number(&self) -> usize {
        self.n
    }

    /// Checks the next line (without its `\n`): `None` for a blank line,
    /// the record, or what was wrong with it.
    pub fn line(&mut self, bytes: &[u8]) -> Option<Result<Record, LineError>> {
        self.n += 1;
        let n = self.n;
        let fail = |reason: String| Some(Err(LineError { line: n, reason }));
        let Ok(line) = std::str::from_utf8(bytes) else {
            return fail("is not valid UTF-8; expected UTF-8 JSON".to_owned());
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return None;
        }
        if line.len() > MAX_LINE_BYTES {
            return fail(format!(
                "line is {} bytes; the limit is {MAX_LINE_BYTES}",
                line.len()
            ));
        }
        let record = match serde_json::from_str::<Record>(line) {
            Ok(r) => r,
            Err(e) => {
                return fail(format!(
                    "{e}; expected a JSON object with \"type\": \"ticket\" or \"article\""
                ));
            }
        };
        // PostgreSQL text cannot hold NUL; one such line must not sink the
        // whole import at write time.
        if line.contains("\\u0000") && check::has_nul(&record) {
            return fail(
                "a string contains a NUL character (\\u0000), which PostgreSQL text cannot store"
                    .to_owned(),
            );
        }
        if let Err(reason) = check::check(&record) {
            return fail(reason);
        }
        let key = match &record {
            Record::Ticket(t) => t.external_id.clone().map(|e| (true, e)),
            Record::Article(a) => a.external_id.clone().map(|e| (false, e)),
        };
        if let Some(key) = key {
            if let Some(first) = self.seen.get(&key) {
                return fail(format!(
                    "external_id {:?} already appears on line {first}; each must be unique",
                    key.1
                ));
            }
            self.seen.insert(key, n);
        }
        Some(Ok(record))
    }
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
