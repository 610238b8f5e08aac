// A handler gets `&mut TenantTx`: committing needs the transaction by value,
// which only the runtime holds.
async fn commit_early(tx: &mut orgjobs_queue::TenantTx) {
    let _ = tx.commit().await;
}

fn main() {}
