//! Completion of jobs whose handlers never opened a transaction (nothing to
//! commit with them): many per statement. Executors queue requests on a
//! channel; one task flushes whatever accumulated while the previous
//! statement ran. Fenced like every other completion (job running, same
//! attempt, same worker).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::Type;
use tracing::warn;

use crate::db::ServiceDb;
use crate::error::DbError;

const COMPLETE_BATCH_SQL: &str = include_str!("../../sql/worker/complete_batch.sql");

/// Most completions per statement.
const MAX_BATCH: usize = 2000;

/// Attempts of one batch statement before its jobs are reported lost (they
/// keep their leases meanwhile).
const ATTEMPTS: u32 = 5;

/// Completes a batch of one worker's jobs in one statement.
#[derive(Clone, Debug)]
pub struct BatchCompleter {
    db: ServiceDb,
    worker_id: String,
}

impl BatchCompleter {
    /// Completions for worker `worker_id`.
    pub fn new(db: ServiceDb, worker_id: impl Into<String>) -> Self {
        BatchCompleter {
            db,
            worker_id: worker_id.into(),
        }
    }

    /// Completes `done` (job id, attempt) where this worker still holds the
    /// attempt; returns the ids completed.
    pub async fn run_once(&self, done: &[(i64, i32)]) -> Result<Vec<i64>, DbError> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, attempts): (Vec<i64>, Vec<i32>) = done.iter().copied().unzip();
        let now = self.db.clock.now_param();
        let rows = self
            .db
            .query(
                "completing jobs",
                COMPLETE_BATCH_SQL,
                &[
                    (&ids, Type::INT8_ARRAY),
                    (&attempts, Type::INT4_ARRAY),
                    (&self.worker_id, Type::TEXT),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

type Request = (i64, i32, oneshot::Sender<bool>);

/// The executors' side: a channel to the flushing task.
pub(crate) struct Completer {
    tx: mpsc::UnboundedSender<Request>,
    /// The receiving end and the service, until [`Completer::start`] spawns
    /// the task (inside the worker's runtime).
    pending: Mutex<Option<(mpsc::UnboundedReceiver<Request>, BatchCompleter)>>,
}

impl Completer {
    pub(crate) fn new(service: BatchCompleter) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Completer {
            tx,
            pending: Mutex::new(Some((rx, service))),
        }
    }

    /// Spawns the flushing task (once). It ends when the worker, and with it
    /// every sender, is gone.
    pub(crate) fn start(&self) {
        let task = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some((mut rx, service)) = task else {
            return;
        };
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let done: Vec<(i64, i32)> = batch.iter().map(|(id, a, _)| (*id, *a)).collect();
                let completed = flush(&service, &done).await;
                for (id, _, reply) in batch.drain(..) {
                    let _ = reply.send(completed.contains(&id));
                }
            }
        });
    }

    /// Asks for `id`'s completion; true once it is completed.
    pub(crate) async fn complete(&self, id: i64, attempt: i32) -> Option<bool> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((id, attempt, reply)).ok()?;
        answer.await.ok()
    }
}

/// One batch, retried with backoff: only what a successful statement did
/// not complete is reported lost.
async fn flush(service: &BatchCompleter, done: &[(i64, i32)]) -> HashSet<i64> {
    for attempt in 0..ATTEMPTS {
        match service.run_once(done).await {
            Ok(ids) => return ids.into_iter().collect(),
            Err(e) => {
                warn!(event = "batch_completion_failed", error = %e, jobs = done.len(), attempt);
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }
    HashSet::new()
}
