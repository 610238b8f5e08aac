// A tenant transaction's connection is private: a handler cannot take it
// out (and commit, roll back or run anything outside the guard with it).
fn take(tx: &mut orgjobs_queue::TenantTx) {
    let _ = &tx.inner;
}

fn main() {}
