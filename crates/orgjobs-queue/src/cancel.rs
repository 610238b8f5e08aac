//! Cancel requests for timed-out jobs, sent the way libpq sends them.
//!
//! A cancel request is a connection of its own: the client sends the
//! backend's key and the server closes the connection once it has acted on
//! it. libpq waits for that close. tokio-postgres instead closes its side as
//! soon as the request is written, and PgBouncer 1.18 (the version Debian 12
//! ships) exits with `FATAL ... disconnect_client(): bad client state` when a
//! cancel client goes away before PgBouncer's own cancel connection to the
//! server has finished (pgbouncer/pgbouncer#801, fixed upstream in #846).
//! Two jobs timing out together behind such a PgBouncer took it down for
//! every client. [`CancelRoute`] connects the request itself and, instead of
//! closing after writing it, waits for the server to close.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::CancelToken;
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;

use crate::tls::Tls;

/// How long a cancel request may take, connection included, before it is
/// given up (the connection it was for is closed regardless).
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where cancel requests go and with which TLS: the server of the worker's
/// database URL. Built by [`crate::DbUrl::cancel_route`]. The default knows
/// no address and leaves the request to the driver, which closes its socket
/// without waiting for the server (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct CancelRoute {
    tls: Tls,
    target: Option<Target>,
}

#[derive(Clone, Debug)]
enum Target {
    /// `connect` is the address dialled (`hostaddr`, or else `host`);
    /// `host` the name TLS verifies.
    Tcp {
        connect: String,
        host: String,
        port: u16,
    },
    Unix(PathBuf),
}

impl CancelRoute {
    /// The route of a connection configuration: its single host (a
    /// configuration that lists several leaves the request to the driver,
    /// which knows which one the connection reached).
    pub(crate) fn new(config: &tokio_postgres::Config, tls: Tls) -> CancelRoute {
        let hosts = config.get_hosts();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let target = match hosts {
            [Host::Tcp(host)] => Some(Target::Tcp {
                connect: match config.get_hostaddrs() {
                    [addr] => addr.to_string(),
                    _ => host.clone(),
                },
                host: host.clone(),
                port,
            }),
            [Host::Unix(dir)] => Some(Target::Unix(dir.join(format!(".s.PGSQL.{port}")))),
            _ => None,
        };
        CancelRoute { tls, target }
    }

    /// Asks the server to cancel whatever `token`'s connection is running,
    /// and waits (at most five seconds) until the server has closed the
    /// request's connection. Errors are returned for logging; the caller
    /// closes the connection either way.
    pub async fn cancel(&self, token: &CancelToken) -> io::Result<()> {
        match tokio::time::timeout(CANCEL_TIMEOUT, self.send(token)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server did not answer the cancel request within 5 s",
            )),
        }
    }

    async fn send(&self, token: &CancelToken) -> io::Result<()> {
        let driver = |e: tokio_postgres::Error| io::Error::other(e.to_string());
        match &self.target {
            Some(Target::Tcp {
                connect,
                host,
                port,
            }) => {
                let stream = TcpStream::connect((connect.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                self.send_on(token, WaitForClose(stream), host).await
            }
            Some(Target::Unix(path)) => {
                let stream = UnixStream::connect(path).await?;
                self.send_on(token, WaitForClose(stream), "").await
            }
            None => match self.tls.connector() {
                Some(c) => token.cancel_query(c.clone()).await.map_err(driver),
                None => token
                    .cancel_query(tokio_postgres::NoTls)
                    .await
                    .map_err(driver),
            },
        }
    }

    async fn send_on<S>(&self, token: &CancelToken, stream: S, host: &str) -> io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let driver = |e: tokio_postgres::Error| io::Error::other(e.to_string());
        match self.tls.connector() {
            Some(c) => {
                let tls = MakeTlsConnect::<S>::make_tls_connect(&mut c.clone(), host)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                token.cancel_query_raw(stream, tls).await.map_err(driver)
            }
            None => token
                .cancel_query_raw(stream, tokio_postgres::NoTls)
                .await
                .map_err(driver),
        }
    }
}

/// A stream whose shutdown, instead of closing the writing side, reads
/// until the server closes the connection: the driver shuts the stream
/// down right after writing the cancel request, and this turns that into
/// libpq's wait for the server's answer.
struct WaitForClose<S>(S);

impl<S: AsyncRead + Unpin> AsyncRead for WaitForClose<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WaitForClose<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 64];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut self.0).poll_read(cx, &mut buf)) {
                Ok(()) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => continue,
                // A reset after the request was written: the server has
                // closed the connection too.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Poll::Ready(Ok(()));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn shutdown_waits_until_the_peer_closes() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut client = WaitForClose(client);
        client.write_all(b"request").await.expect("write");
        let shutdown = tokio::spawn(async move { client.shutdown().await });
        let mut got = [0u8; 7];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"request");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !shutdown.is_finished(),
            "shutdown returned before the peer closed"
        );
        drop(server);
        shutdown.await.expect("join").expect("shutdown");
    }

    #[test]
    fn a_single_host_is_dialled_and_several_are_left_to_the_driver() {
        let one: tokio_postgres::Config = "host=db.internal port=6432 hostaddr=10.0.0.5"
            .parse()
            .expect("config");
        match CancelRoute::new(&one, Tls::default()).target {
            Some(Target::Tcp {
                connect,
                host,
                port,
            }) => {
                assert_eq!(
                    (connect.as_str(), host.as_str(), port),
                    ("10.0.0.5", "db.internal", 6432)
                );
            }
            other => panic!("wanted a TCP target, got {other:?}"),
        }
        let socket: tokio_postgres::Config = "host=/run/postgresql".parse().expect("config");
        match CancelRoute::new(&socket, Tls::default()).target {
            Some(Target::Unix(path)) => {
                assert_eq!(path, PathBuf::from("/run/postgresql/.s.PGSQL.5432"));
            }
            other => panic!("wanted a socket target, got {other:?}"),
        }
        let two: tokio_postgres::Config = "host=a,b".parse().expect("config");
        assert!(CancelRoute::new(&two, Tls::default()).target.is_none());
    }
}
