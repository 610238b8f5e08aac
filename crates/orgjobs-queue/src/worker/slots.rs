//! Handler slots: how many handlers run at once (`concurrency`). A claimed
//! job takes a slot; its handler gives it back when it returns, before a
//! batched completion is written, so that the next claim runs beside the
//! completion statement instead of after it. The job itself stays held
//! (listed as running, its lease renewed) until its completion is
//! recorded; the worker holds at most twice `concurrency` jobs in all.

use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The worker's slots.
pub(crate) struct Slots {
    permits: Arc<Semaphore>,
    freed: Arc<Notify>,
}

impl Slots {
    pub(crate) fn new(concurrency: usize) -> Self {
        Slots {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            freed: Arc::new(Notify::new()),
        }
    }

    /// Slots free now.
    pub(crate) fn free(&self) -> usize {
        self.permits.available_permits()
    }

    /// Takes a slot for a claimed job; `None` when all are taken.
    pub(crate) fn take(&self) -> Option<Slot> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(Slot(Mutex::new(Some((permit, self.freed.clone())))))
    }

    /// Resolves once a slot has been given back since the last call.
    pub(crate) async fn freed(&self) {
        self.freed.notified().await
    }
}

/// One job's slot, given back once (by [`Slot::give_back`] or on drop).
#[derive(Default)]
pub(crate) struct Slot(Mutex<Option<(OwnedSemaphorePermit, Arc<Notify>)>>);

impl Slot {
    /// Gives the slot back: the handler has returned.
    pub(crate) fn give_back(&self) {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((permit, freed)) = held {
            drop(permit);
            freed.notify_one();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.give_back();
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slot_comes_back_once_and_wakes_the_claimer() {
        let slots = Slots::new(2);
        let a = slots.take().expect("first");
        let _b = slots.take().expect("second");
        assert!(slots.take().is_none(), "only two slots");
        a.give_back();
        a.give_back();
        assert_eq!(slots.free(), 1, "given back once");
        tokio::time::timeout(std::time::Duration::from_secs(1), slots.freed())
            .await
            .expect("the claimer is woken");
        drop(a);
        assert_eq!(
            slots.free(),
            1,
            "dropping a returned slot gives nothing back"
        );
    }
}
