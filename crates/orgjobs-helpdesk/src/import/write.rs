//! Writing checked import records into one organization, in batches, all
//! or nothing (the caller's transaction). The statements are in
//! `sql/import/`.

use chrono::{DateTime, Duration, Utc};
use orgjobs_queue::TenantTx;
use orgjobs_queue::tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{ArticleRecord, ImportError, ImportReport, Record, TicketRecord};
use crate::fields::{Priority, Status};

const TICKETS_UPDATE_SQL: &str = include_str!("../../sql/import/tickets_update.sql");
const TICKETS_INSERT_SQL: &str = include_str!("../../sql/import/tickets_insert.sql");
const ARTICLES_UPDATE_SQL: &str = include_str!("../../sql/import/articles_update.sql");
const ARTICLES_INSERT_SQL: &str = include_str!("../../sql/import/articles_insert.sql");

/// Writes `records` into `tx`'s organization (which must exist), all or
/// nothing; the caller commits. `shift` moves every timestamp (the demo
/// uses it to make old data recent); pass zero otherwise.
pub async fn import(
    tx: &TenantTx,
    records: &[(usize, Record)],
    shift: Duration,
) -> Result<ImportReport, ImportError> {
    // $1 the organization: its own row, if it exists.
    let exists = tx
        .query_opt(
            "SELECT 1 FROM public.organizations WHERE id = $1",
            &[&tx.org_id()],
        )
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
) -> Result<(u64, u64), orgjobs_queue::TxError> {
    let text =
        |f: fn(&TicketRecord) -> Option<String>| chunk.iter().map(|t| f(t)).collect::<Vec<_>>();
    let time = |f: fn(&TicketRecord) -> Option<DateTime<Utc>>| {
        chunk
            .iter()
            .map(|t| f(t).map(|x| x + shift))
            .collect::<Vec<_>>()
    };
    let columns: [&(dyn ToSql + Sync); 10] = [
        &text(|t| t.external_id.clone()),
        &text(|t| Some(t.subject.clone())),
        &text(|t| Some(t.body.clone())),
        &text(|t| t.requester_email.clone()),
        &text(|t| t.status.clone()),
        &text(|t| t.priority.clone()),
        &text(|t| t.category.clone()),
        &time(|t| t.created_at),
        &time(|t| t.first_response_at),
        &time(|t| t.resolved_at),
    ];
    let org = tx.org_id();
    let open = Status::open_names();
    let (resolved, new, normal) = (Status::Resolved, Status::New, Priority::default());
    let mut update: Vec<&(dyn ToSql + Sync)> = vec![&org];
    update.extend(columns);
    let mut insert = update.clone();
    update.extend([&open as &(dyn ToSql + Sync), &resolved]);
    insert.extend([&new as &(dyn ToSql + Sync), &resolved, &normal]);
    let updated = tx.query(TICKETS_UPDATE_SQL, &update).await?;
    let inserted = tx.query(TICKETS_INSERT_SQL, &insert).await?;
    let sla_changed: Vec<Uuid> = updated
        .iter()
        .filter(|r| r.get::<_, bool>(1))
        .map(|r| r.get(0))
        .collect();
    let new: Vec<Uuid> = inserted.iter().map(|r| r.get(0)).collect();
    crate::enqueue::changed_tickets(tx, &sla_changed).await?;
    crate::enqueue::new_tickets(tx, &new).await?;
    Ok((inserted.len() as u64, updated.len() as u64))
}

/// Same for articles; returns (inserted, updated).
async fn import_articles(
    tx: &TenantTx,
    chunk: &[&ArticleRecord],
) -> Result<(u64, u64), orgjobs_queue::TxError> {
    let external_id: Vec<Option<String>> = chunk.iter().map(|a| a.external_id.clone()).collect();
    let title: Vec<&str> = chunk.iter().map(|a| a.title.as_str()).collect();
    let body: Vec<&str> = chunk.iter().map(|a| a.body.as_str()).collect();
    let tags: Vec<serde_json::Value> = chunk.iter().map(|a| serde_json::json!(a.tags)).collect();
    let org = tx.org_id();
    let params: [&(dyn ToSql + Sync); 5] = [&org, &external_id, &title, &body, &tags];
    let updated = tx.query(ARTICLES_UPDATE_SQL, &params).await?;
    let inserted = tx.query(ARTICLES_INSERT_SQL, &params).await?;
    let changed: Vec<Uuid> = updated
        .iter()
        .filter(|r| r.get::<_, bool>(1))
        .map(|r| r.get(0))
        .chain(inserted.iter().map(|r| r.get(0)))
        .collect();
    crate::enqueue::changed_articles(tx, &changed).await?;
    Ok((inserted.len() as u64, updated.len() as u64))
}
