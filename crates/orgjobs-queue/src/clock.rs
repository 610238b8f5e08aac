//! Where "now" comes from. In production it is the database server's clock:
//! every statement that needs the time binds [`Clock::now_param`], which is
//! `NULL`, and says `coalesce($n::timestamptz, now())`. A test sets a time
//! of its own instead ([`Clock::stub`]) and moves it ([`Clock::advance`]):
//! leases expire, retries come due and scheduled jobs start without anyone
//! sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// The time source of a worker and its services. Cloned handles share the
/// same stubbed time.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// The database server's clock (`now()`), the default.
    pub fn database() -> Self {
        Clock(None)
    }

    /// A clock stopped at `at`, for tests.
    pub fn stub(at: DateTime<Utc>) -> Self {
        Clock(Some(Arc::new(Mutex::new(at))))
    }

    /// Sets a stubbed clock (no effect on the database clock).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(t) = &self.0 {
            *t.lock().unwrap_or_else(|p| p.into_inner()) = at;
        }
    }

    /// Moves a stubbed clock forward (no effect on the database clock).
    pub fn advance(&self, by: chrono::Duration) {
        if let Some(t) = &self.0 {
            let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
            *t += by;
        }
    }

    /// The value statements bind for `now`: `None` (SQL `NULL`, so
    /// `coalesce($n, now())` takes the server's time) unless stubbed.
    pub fn now_param(&self) -> Option<DateTime<Utc>> {
        self.0
            .as_ref()
            .map(|t| *t.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The current time for code that runs in the worker: the stub, or this
    /// machine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.now_param().unwrap_or_else(Utc::now)
    }
}
