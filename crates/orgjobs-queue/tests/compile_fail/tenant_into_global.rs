// A tenant transaction offers no way to a global transaction.
fn escape(tx: &mut orgjobs_queue::TenantTx) -> orgjobs_queue::GlobalTx {
    tx.into_global()
}

fn main() {}
