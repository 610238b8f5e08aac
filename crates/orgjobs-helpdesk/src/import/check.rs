//! The field rules of an import line, beyond its JSON shape.

use chrono::{Duration, Utc};

use super::Record;
use crate::fields::Status;

pub(super) fn has_nul(record: &Record) -> bool {
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

/// Field rules beyond the JSON shape.
pub(super) fn check(record: &Record) -> Result<(), String> {
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
            let status = t.status().map_err(|e| e.to_string())?;
            t.priority().map_err(|e| e.to_string())?;
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
            let open = status.is_some_and(Status::is_open);
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
