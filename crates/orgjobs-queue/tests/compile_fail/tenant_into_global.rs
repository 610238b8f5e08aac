// A tenant transaction offers no way to a global session.
fn escape(tx: &mut orgjobs_queue::TenantTx) -> orgjobs_queue::GlobalSession {
    tx.into_global()
}

fn main() {}
