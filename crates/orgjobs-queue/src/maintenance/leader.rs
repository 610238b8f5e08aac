//! Leadership of the maintenance services: a row in `orgjobs.leaders` with
//! an expiry, taken or kept on every tick, so that one worker at a time
//! maintains, leadership passes on when a leader dies, and it all works
//! through a transaction-pooling PgBouncer (an advisory lock would not).

use std::time::Duration;

use tokio_postgres::types::Type;

use crate::db::ServiceDb;
use crate::error::DbError;

const LEADER_SQL: &str = include_str!("../../sql/maintenance/leader.sql");
const RESIGN_SQL: &str = include_str!("../../sql/maintenance/resign.sql");

/// The leadership name of the maintenance services.
pub const MAINTENANCE: &str = "maintenance";

/// One worker's claim to a leadership.
#[derive(Clone, Debug)]
pub struct Leader {
    db: ServiceDb,
    name: String,
    worker_id: String,
    ttl: Duration,
}

impl Leader {
    /// Worker `worker_id`'s claim to leadership `name`, lasting `ttl` unless
    /// renewed.
    pub fn new(
        db: ServiceDb,
        name: impl Into<String>,
        worker_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Leader {
            db,
            name: name.into(),
            worker_id: worker_id.into(),
            ttl,
        }
    }

    /// How often to renew: a third of the leadership's lifetime.
    pub fn interval(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(100))
    }

    /// This worker's id.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Takes or keeps leadership; true when this worker leads (it did
    /// already, or the previous leader let it expire).
    pub async fn run_once(&self) -> Result<bool, DbError> {
        let ttl = self.ttl.as_secs_f64();
        let now = self.db.clock.now_param();
        let rows = self
            .db
            .query(
                "electing a leader",
                LEADER_SQL,
                &[
                    (&self.name, Type::TEXT),
                    (&self.worker_id, Type::TEXT),
                    (&ttl, Type::FLOAT8),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Gives leadership up (at shutdown), so that another worker takes over
    /// at once rather than after the expiry.
    pub async fn resign(&self) -> Result<(), DbError> {
        self.db
            .query(
                "resigning leadership",
                RESIGN_SQL,
                &[(&self.name, Type::TEXT), (&self.worker_id, Type::TEXT)],
            )
            .await
            .map(drop)
    }
}
