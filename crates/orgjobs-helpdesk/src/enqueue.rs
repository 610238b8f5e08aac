//! The jobs a write to tickets or articles brings, enqueued by the
//! application on a Citus cluster.
//!
//! On a single server the triggers of migration 0002 enqueue them in the
//! writing transaction, however the rows were written. On Citus the
//! triggers are gone (`citus/0001_distribute.sql`): a trigger on a
//! distributed table runs on the worker node that holds the shard, and the
//! queue is a table of the coordinator. So every write path of the helpdesk
//! (import, the API, `insert_ticket`, triage) calls these functions after its
//! statement, in the same transaction: the rows and their jobs still commit
//! together. Off Citus they do nothing (the triggers have done it). The
//! unique keys are the triggers' own, so a job waiting for the same ticket
//! or article is not enqueued twice.

use orgjobs_queue::{ContextMode, TenantTx, TxError};
use uuid::Uuid;

/// The kinds a new ticket gets, in the triggers' order.
const NEW_TICKET_KINDS: [&str; 3] = ["TRIAGE_TICKET", "KB_SUGGEST", "SLA_PREDICT"];

fn applies(tx: &TenantTx, ids: &[Uuid]) -> bool {
    tx.context_mode() == ContextMode::Propagated && !ids.is_empty()
}

/// New tickets: triage, knowledge-base suggestions, an SLA prediction.
pub async fn new_tickets(tx: &TenantTx, ids: &[Uuid]) -> Result<(), TxError> {
    if !applies(tx, ids) {
        return Ok(());
    }
    let kinds: Vec<&str> = NEW_TICKET_KINDS.to_vec();
    // $1 the organization, $2 the tickets, $3 the kinds (in order).
    tx.execute(
        "SELECT orgjobs.add_job(k.kind, $1, jsonb_build_object('ticket_id', t.id),
                                unique_key => k.kind || ':' || t.id::text)
         FROM unnest($2::uuid[]) WITH ORDINALITY AS t (id, ord)
         CROSS JOIN unnest($3::text[]) WITH ORDINALITY AS k (kind, kord)
         ORDER BY t.ord, k.kord",
        &[&tx.org_id(), &ids, &kinds],
    )
    .await?;
    Ok(())
}

/// Tickets whose priority, status or timestamps changed: a new SLA
/// prediction each.
pub async fn changed_tickets(tx: &TenantTx, ids: &[Uuid]) -> Result<(), TxError> {
    if !applies(tx, ids) {
        return Ok(());
    }
    // $1 the organization, $2 the tickets.
    tx.execute(
        "SELECT orgjobs.add_job('SLA_PREDICT', $1, jsonb_build_object('ticket_id', t.id),
                                unique_key => 'SLA_PREDICT:' || t.id::text)
         FROM unnest($2::uuid[]) WITH ORDINALITY AS t (id, ord)
         ORDER BY t.ord",
        &[&tx.org_id(), &ids],
    )
    .await?;
    Ok(())
}

/// New articles, or articles whose title or body changed: (re)indexing, at
/// priority -1 so that it runs ahead of the suggestions that read the index.
pub async fn changed_articles(tx: &TenantTx, ids: &[Uuid]) -> Result<(), TxError> {
    if !applies(tx, ids) {
        return Ok(());
    }
    rag_index(tx, ids).await
}

/// Articles whose passages have no embedding of the worker's model (indexed
/// without the model, or by another): re-indexing, in either context mode,
/// with the same unique key and priority as [`changed_articles`].
pub async fn reindex_articles(tx: &TenantTx, ids: &[Uuid]) -> Result<(), TxError> {
    if ids.is_empty() {
        return Ok(());
    }
    rag_index(tx, ids).await
}

async fn rag_index(tx: &TenantTx, ids: &[Uuid]) -> Result<(), TxError> {
    // $1 the organization, $2 the articles.
    tx.execute(
        "SELECT orgjobs.add_job('RAG_INDEX', $1, jsonb_build_object('article_id', a.id),
                                unique_key => 'RAG_INDEX:' || a.id::text, priority => -1)
         FROM unnest($2::uuid[]) WITH ORDINALITY AS a (id, ord)
         ORDER BY a.ord",
        &[&tx.org_id(), &ids],
    )
    .await?;
    Ok(())
}
