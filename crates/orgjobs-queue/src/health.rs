//! Whether a worker can reach its database, as its own statements see it:
//! every claim and lease renewal reports success or failure here, so
//! `/healthz` tells an outage (and how long it has lasted) without a probe
//! query of its own.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What `/healthz` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HealthState {
    /// Not yet known (the worker has not run a statement).
    Starting,
    /// The last statement reached the database.
    Ok,
    /// Statements have failed since `since`; `error` is the latest failure.
    DatabaseUnreachable {
        /// When the first failure of this outage happened.
        since: DateTime<Utc>,
        /// The latest failure.
        error: String,
    },
}

/// A shared, cheaply cloned health cell.
#[derive(Clone, Debug)]
pub struct Health(Arc<Mutex<HealthState>>);

impl Default for Health {
    fn default() -> Self {
        Health(Arc::new(Mutex::new(HealthState::Starting)))
    }
}

impl Health {
    /// A cell in the `Starting` state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current state.
    pub fn state(&self) -> HealthState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the database was reachable at the last statement.
    pub fn is_ok(&self) -> bool {
        self.state() == HealthState::Ok
    }

    pub(crate) fn reached(&self) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if *s != HealthState::Ok {
            if let HealthState::DatabaseUnreachable { since, .. } = &*s {
                tracing::info!(event = "database_reachable_again", down_since = %since);
            }
            *s = HealthState::Ok;
        }
    }

    pub(crate) fn failed(&self, error: &str) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let since = match &*s {
            HealthState::DatabaseUnreachable { since, .. } => *since,
            _ => Utc::now(),
        };
        *s = HealthState::DatabaseUnreachable {
            since,
            error: error.to_owned(),
        };
    }
}
