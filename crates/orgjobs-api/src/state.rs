//! What every request shares: the pool, the tenant session settings, the
//! metrics, the per-token limiter and the token uses not yet written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::DefaultKeyedRateLimiter;
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{Metrics, SessionConfig, record_token_uses};
use uuid::Uuid;

use crate::auth::{TokenRate, limiter};
use crate::metrics::HttpMetrics;

/// The server's shared state (cheap to clone).
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

struct Inner {
    pool: Pool,
    session: SessionConfig,
    metrics: Metrics,
    http: HttpMetrics,
    limiter: DefaultKeyedRateLimiter<Uuid>,
    uses: Mutex<HashMap<Uuid, DateTime<Utc>>>,
    secure_cookies: std::sync::atomic::AtomicBool,
}

impl ApiState {
    /// State over `pool` (logged in as the server's least-privilege login),
    /// with the tenant role of `session`, registering the HTTP metrics in
    /// `metrics`.
    pub fn new(pool: Pool, session: SessionConfig, metrics: Metrics, rate: TokenRate) -> Self {
        let http = HttpMetrics::new(&metrics);
        ApiState(Arc::new(Inner {
            pool,
            session,
            metrics,
            http,
            limiter: limiter(rate),
            uses: Mutex::new(HashMap::new()),
            secure_cookies: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Marks the dashboard's cookies `Secure` (and names the session cookie
    /// `__Host-orgjobs_session`): set it when browsers reach the server over
    /// TLS (a proxy in front of it), never on plain HTTP, where browsers
    /// would drop the cookie.
    pub fn with_secure_cookies(self, secure: bool) -> Self {
        self.0
            .secure_cookies
            .store(secure, std::sync::atomic::Ordering::Relaxed);
        self
    }

    pub(crate) fn secure_cookies(&self) -> bool {
        self.0
            .secure_cookies
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.0.pool
    }

    pub(crate) fn session(&self) -> &SessionConfig {
        &self.0.session
    }

    /// The process's metrics (queue and HTTP).
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub(crate) fn http(&self) -> &HttpMetrics {
        &self.0.http
    }

    pub(crate) fn limiter(&self) -> &DefaultKeyedRateLimiter<Uuid> {
        &self.0.limiter
    }

    /// Notes a token's use, written later by [`ApiState::flush_token_uses`].
    pub(crate) fn token_used(&self, id: Uuid) {
        let mut uses = self.0.uses.lock().unwrap_or_else(|p| p.into_inner());
        uses.insert(id, Utc::now());
    }

    /// Writes the token uses noted since the last flush (one statement),
    /// and forgets idle tokens' rate-limit state.
    pub async fn flush_token_uses(&self) {
        let uses: Vec<(Uuid, DateTime<Utc>)> = {
            let mut map = self.0.uses.lock().unwrap_or_else(|p| p.into_inner());
            map.drain().collect()
        };
        self.0.limiter.retain_recent();
        if uses.is_empty() {
            return;
        }
        let result = match self.0.pool.get().await {
            Ok(conn) => record_token_uses(&**conn, &uses)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(event = "token_uses_not_recorded", tokens = uses.len(), error = %e);
        }
    }

    /// Whether the database answers (for `/healthz`).
    pub(crate) async fn ping(&self) -> Result<(), String> {
        let conn = self.0.pool.get().await.map_err(|e| e.to_string())?;
        conn.simple_query("SELECT 1")
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Flushes token uses every `every`, forever (spawn it).
    pub async fn record_token_uses_every(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.flush_token_uses().await;
        }
    }
}
