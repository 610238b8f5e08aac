//! Value parsers shared by several commands' arguments: they refuse bad
//! input before anything touches the database, saying what was expected.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An organization id: a UUID.
pub(crate) fn organization(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s).map_err(|_| {
        format!("{s:?} is not an organization id: expected a UUID such as 3f2b8c1e-6d0a-4c5e-9f1a-2b3c4d5e6f70")
    })
}

/// A time, RFC 3339.
pub(crate) fn time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("{s:?} is not an RFC 3339 time ({e}); expected e.g. 2026-12-01T09:00:00Z")
        })
}
