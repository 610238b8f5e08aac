//! LISTEN for new jobs on a session connection of its own, reconnecting
//! with backoff. A notification only wakes the claim loop: notifications
//! sent while the listener is away are lost, so it wakes the loop after
//! each reconnect, and the loop polls anyway.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tracing::warn;

use crate::db::DbUrl;
use crate::error::PgErr;

/// The NOTIFY channel that `orgjobs.jobs` inserts signal.
pub const NOTIFY_CHANNEL: &str = "orgjobs_jobs";

pub(crate) async fn listen_loop(url: DbUrl, wake: Arc<Notify>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let session = match url.tls().connector() {
            Some(tls) => match url.config().connect(tls.clone()).await {
                Ok((client, connection)) => Ok(listen(client, connection, &wake).await),
                Err(e) => Err(e),
            },
            None => match url.config().connect(NoTls).await {
                Ok((client, connection)) => Ok(listen(client, connection, &wake).await),
                Err(e) => Err(e),
            },
        };
        match session {
            // A session that was listening resets the backoff.
            Ok(true) => backoff = Duration::from_millis(200),
            Ok(false) => {}
            Err(e) => {
                warn!(event = "listener_connect_failed", url = %url.redacted(), error = %PgErr(&e))
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// LISTENs on one connection until it breaks. Returns whether LISTEN
/// succeeded.
async fn listen<S, T>(
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    wake: &Arc<Notify>,
) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let wake_conn = wake.clone();
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(msg) = messages.next().await {
            match msg {
                Ok(AsyncMessage::Notification(_)) => wake_conn.notify_one(),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let listening = match client.batch_execute(LISTEN_SQL).await {
        Ok(()) => {
            // Notifications sent while we were away are lost: look.
            wake.notify_one();
            let res = (&mut driver).await;
            warn!(event = "listener_disconnected", result = ?res.map(|r| r.map_err(|e| PgErr(&e).to_string())));
            true
        }
        Err(e) => {
            driver.abort();
            warn!(event = "listen_failed", error = %PgErr(&e));
            false
        }
    };
    drop(client);
    listening
}

/// LISTEN on [`NOTIFY_CHANNEL`] (a constant identifier).
const LISTEN_SQL: &str = "LISTEN orgjobs_jobs";

#[cfg(test)]
mod tests {
    #[test]
    fn listens_on_the_notify_channel() {
        assert_eq!(
            super::LISTEN_SQL,
            format!("LISTEN {}", super::NOTIFY_CHANNEL)
        );
    }
}
