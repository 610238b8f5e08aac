//! `FAULT_PROBE`: a tenant job whose effect can be counted, for fault
//! injection. It waits `sleep_ms` (a job in flight for a crash to hit), then
//! appends one `+` to the subject of its ticket, inside its tenant
//! transaction. After any number of crashes, every probe's ticket must end
//! with exactly one `+`: more is a duplicated effect, none a lost job.

use std::time::Duration;

use orgjobs_queue::{JobError, TenantHandler, TenantTx};
use serde::Deserialize;
use uuid::Uuid;

/// The kind name.
pub const FAULT_PROBE: &str = "FAULT_PROBE";

/// The handler.
pub struct FaultProbe;

/// Its payload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbePayload {
    /// The ticket whose subject gets the mark.
    pub ticket_id: Uuid,
    /// How long to work before writing.
    #[serde(default)]
    pub sleep_ms: u64,
}

impl TenantHandler for FaultProbe {
    const KIND: &'static str = FAULT_PROBE;
    type Payload = ProbePayload;

    async fn run(&self, tx: &mut TenantTx, p: ProbePayload) -> Result<(), JobError> {
        tx.pause(Duration::from_millis(p.sleep_ms)).await?;
        // $1: the ticket, $2 this organization (RLS allows no other; named,
        // so that on Citus the update goes to the organization's one shard).
        let n = tx
            .execute(
                "UPDATE public.tickets SET subject = subject || '+'
                 WHERE id = $1 AND organization_id = $2",
                &[&p.ticket_id, &tx.org_id()],
            )
            .await?;
        if n != 1 {
            return Err(JobError::discard(format!(
                "ticket {} not found in this organization",
                p.ticket_id
            )));
        }
        Ok(())
    }
}
