//! The jobs the workloads run.

use super::*;

/// W1: does nothing; global, so it runs in a global transaction.
pub(crate) struct Noop;
impl GlobalHandler for Noop {
    const KIND: &'static str = "BENCH_NOOP";
    type Payload = NoPayload;
    async fn run(&self, _: &mut GlobalTx, _: NoPayload) -> Result<(), JobError> {
        Ok(())
    }
}

/// W3/W4: a tenant job that records when it started.
#[derive(Clone, Default)]
pub(crate) struct Stamp(pub(crate) Arc<Mutex<Vec<(Uuid, f64, f64)>>>);

#[derive(Deserialize)]
pub(crate) struct StampPayload {
    #[serde(default)]
    t: f64,
}

impl TenantHandler for Stamp {
    const KIND: &'static str = "BENCH_STAMP";
    type Payload = StampPayload;
    async fn run(&self, tx: &mut TenantTx, p: StampPayload) -> Result<(), JobError> {
        self.0
            .lock()
            .map_err(|_| JobError::retry("lock"))?
            .push((tx.org_id(), p.t, now()));
        Ok(())
    }
}

/// W2: counts the organization's tickets under RLS; each count is checked.
#[derive(Clone, Default)]
pub(crate) struct Count(pub(crate) Arc<Mutex<(u64, u64)>>);
impl TenantHandler for Count {
    const KIND: &'static str = "BENCH_COUNT";
    type Payload = NoPayload;
    async fn run(&self, tx: &mut TenantTx, _: NoPayload) -> Result<(), JobError> {
        // W2's count under RLS. On Citus the statement also names the
        // organization, as every statement of the helpdesk does there:
        // without it the count would visit every shard.
        let n: i64 = if tx.context_mode() == ContextMode::Propagated {
            tx.query_one(
                "SELECT count(*) FROM tickets WHERE organization_id = $1",
                &[&tx.org_id()],
            )
            .await?
            .get(0)
        } else {
            tx.query_one("SELECT count(*) FROM tickets", &[])
                .await?
                .get(0)
        };
        tally(&self.0, n)
    }
}

/// Counts a W2 job that saw exactly the organization's 1,000 tickets, or
/// one that saw anything else.
fn tally(counts: &Mutex<(u64, u64)>, seen: i64) -> Result<(), JobError> {
    let mut c = counts.lock().map_err(|_| JobError::retry("lock"))?;
    if seen == 1000 {
        c.0 += 1
    } else {
        c.1 += 1
    }
    Ok(())
}

/// W2 with RLS off: the login (a superuser) with an explicit WHERE, as
/// pgbench's w2tx_norls.sql.
#[derive(Clone, Default)]
pub(crate) struct CountNoRls(pub(crate) Arc<Mutex<(u64, u64)>>);
#[derive(Deserialize)]
pub(crate) struct OrgPayload {
    org: Uuid,
}
impl GlobalHandler for CountNoRls {
    const KIND: &'static str = "BENCH_COUNT_NORLS";
    const ROLE: GlobalRole = GlobalRole::Login;
    type Payload = OrgPayload;
    async fn run(&self, s: &mut GlobalTx, p: OrgPayload) -> Result<(), JobError> {
        let n: i64 = s
            .query_one(
                "SELECT count(*) FROM tickets WHERE organization_id = $1",
                &[&p.org],
            )
            .await?
            .get(0);
        tally(&self.0, n)
    }
}

/// W6: a tenant job that takes `ms` milliseconds of worker time (without
/// the database) and records when it ran.
#[derive(Clone, Default)]
pub(crate) struct Busy(pub(crate) Arc<Mutex<Vec<(Uuid, f64, f64)>>>);

#[derive(Deserialize)]
pub(crate) struct BusyPayload {
    ms: u64,
}

impl TenantHandler for Busy {
    const KIND: &'static str = "BENCH_BUSY";
    type Payload = BusyPayload;
    async fn run(&self, tx: &mut TenantTx, p: BusyPayload) -> Result<(), JobError> {
        let start = now();
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        self.0
            .lock()
            .map_err(|_| JobError::retry("lock"))?
            .push((tx.org_id(), start, now()));
        Ok(())
    }
}
