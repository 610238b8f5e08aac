//! `POST /api/import`: JSON Lines of tickets and articles, checked line by
//! line as `orgjobs import` checks them, read as a stream and written in
//! chunks inside the request's one tenant transaction (all good lines or
//! nothing); the report gives each rejected line's number and reason.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use futures_util::StreamExt;
use orgjobs_helpdesk::import::{
    ImportError, ImportReport, LineError, LineParser, MAX_LINE_BYTES, Record, import,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::OrgAuth;
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// Largest import body, in bytes.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;
/// Records written per statement batch.
const CHUNK: usize = 500;
/// Rejected lines listed in the report (all are counted).
const LISTED_ERRORS: usize = 1000;

/// What an import did.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportResult {
    tickets_inserted: u64,
    tickets_updated: u64,
    tickets_unchanged: u64,
    articles_inserted: u64,
    articles_updated: u64,
    articles_unchanged: u64,
    /// Lines read.
    lines: usize,
    /// Lines rejected (nothing of them was written).
    rejected: usize,
    /// The first rejected lines, with what was wrong.
    errors: Vec<RejectedLine>,
}

/// A rejected line.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedLine {
    line: usize,
    reason: String,
}

impl ImportResult {
    fn add(&mut self, r: ImportReport) {
        self.tickets_inserted += r.tickets_inserted;
        self.tickets_updated += r.tickets_updated;
        self.tickets_unchanged += r.tickets_unchanged;
        self.articles_inserted += r.articles_inserted;
        self.articles_updated += r.articles_updated;
        self.articles_unchanged += r.articles_unchanged;
    }

    fn reject(&mut self, e: LineError) {
        self.rejected += 1;
        if self.errors.len() < LISTED_ERRORS {
            self.errors.push(RejectedLine {
                line: e.line,
                reason: e.reason,
            });
        }
    }

    fn written(&self) -> u64 {
        self.tickets_inserted
            + self.tickets_updated
            + self.tickets_unchanged
            + self.articles_inserted
            + self.articles_updated
            + self.articles_unchanged
    }
}

/// Checks one line into the chunk or the report.
fn take(
    parser: &mut LineParser,
    line: &[u8],
    result: &mut ImportResult,
    chunk: &mut Vec<(usize, Record)>,
) {
    match parser.line(line) {
        Some(Ok(r)) => chunk.push((parser.line_number(), r)),
        Some(Err(e)) => result.reject(e),
        None => {}
    }
}

fn db(e: ImportError) -> ApiError {
    match e {
        ImportError::Db { source, .. } => source.into(),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Import tickets and articles from JSON Lines (admin). Idempotent on
/// `external_id`; their jobs are enqueued as for any insert.
#[utoipa::path(post, path = "/api/import", security(("bearer" = [])),
    request_body(content = String, content_type = "application/x-ndjson",
                 description = "One JSON object per line: {\"type\":\"ticket\",...} or {\"type\":\"article\",...}"),
    responses((status = 200, body = ImportResult, description = "Good lines imported; rejected ones listed"),
              (status = 400, body = Problem, description = "No line could be imported"),
              (status = 403, body = Problem), (status = 413, body = Problem)))]
pub async fn import_lines(
    State(state): State<ApiState>,
    auth: OrgAuth,
    body: Body,
) -> Result<Json<ImportResult>, ApiError> {
    auth.require_admin()?;
    let tx = auth.begin(&state).await?;
    let mut result = ImportResult::default();
    let mut parser = LineParser::default();
    let mut chunk: Vec<(usize, Record)> = Vec::with_capacity(CHUNK);
    let mut buf: Vec<u8> = Vec::new();
    // Set while skipping the rest of a line longer than the limit.
    let mut overlong = false;
    let mut total = 0usize;
    let mut stream = body.into_data_stream();
    loop {
        let piece = match stream.next().await {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(ApiError::BadRequest(format!("reading the body: {e}"))),
            None => break,
        };
        total += piece.len();
        if total > MAX_IMPORT_BYTES {
            return Err(ApiError::TooLarge(format!(
                "import body too large: at most {MAX_IMPORT_BYTES} bytes (nothing was imported)"
            )));
        }
        let mut rest: &[u8] = &piece;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            if overlong {
                overlong = false;
                result.reject(LineError {
                    line: parser.line_number() + 1,
                    reason: format!("line is over {MAX_LINE_BYTES} bytes, the limit"),
                });
                // Count the line without parsing it.
                let _ = parser.line(b"");
            } else {
                buf.extend_from_slice(&rest[..pos]);
                take(&mut parser, &buf, &mut result, &mut chunk);
                buf.clear();
            }
            rest = &rest[pos + 1..];
            if chunk.len() >= CHUNK {
                result.add(
                    import(&tx, &chunk, chrono::Duration::zero())
                        .await
                        .map_err(db)?,
                );
                chunk.clear();
            }
        }
        if !overlong {
            buf.extend_from_slice(rest);
            if buf.len() > MAX_LINE_BYTES + 1 {
                buf.clear();
                overlong = true;
            }
        }
    }
    if overlong {
        result.reject(LineError {
            line: parser.line_number() + 1,
            reason: format!("line is over {MAX_LINE_BYTES} bytes, the limit"),
        });
        // Count the line without parsing it.
        let _ = parser.line(b"");
    } else if !buf.is_empty() {
        take(&mut parser, &buf, &mut result, &mut chunk);
    }
    if !chunk.is_empty() {
        result.add(
            import(&tx, &chunk, chrono::Duration::zero())
                .await
                .map_err(db)?,
        );
    }
    result.lines = parser.line_number();
    if result.written() == 0 {
        drop(tx.rollback().await);
        let first = result
            .errors
            .first()
            .map(|e| format!("; line {}: {}", e.line, e.reason))
            .unwrap_or_default();
        return Err(ApiError::BadRequest(format!(
            "nothing to import: {} line(s), {} rejected{first}",
            result.lines, result.rejected
        )));
    }
    drop(tx.commit().await?);
    Ok(Json(result))
}
