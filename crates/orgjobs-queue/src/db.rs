//! Connecting to PostgreSQL: URL parsing with passwords hidden in every
//! message, TLS as libpq's `sslmode` spells it, a connection pool whose
//! checkouts wait a bounded time, and single connections for LISTEN and
//! admin work.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{Client, Config, NoTls};

use crate::cancel::CancelRoute;
use crate::error::{DbError, PgErr};
use crate::tls::Tls;

/// Replaces the password of a connection URL (`postgres://user:pw@host/db`) or
/// keyword string (`password=pw`) with `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}://{}:***{}",
                    &url[..scheme_end],
                    &userinfo[..colon],
                    &rest[at..]
                );
            }
        }
        return url.to_owned();
    }
    // Keyword/value form: hide the value after password=.
    url.split_whitespace()
        .map(|part| {
            if part.to_ascii_lowercase().starts_with("password=") {
                "password=***".to_owned()
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A parsed database URL that remembers how to print itself safely, and its
/// TLS settings (`sslmode`, `sslrootcert`; see [`crate::tls`]).
#[derive(Clone, Debug)]
pub struct DbUrl {
    config: Config,
    redacted: String,
    tls: Tls,
}

/// How a pool hands out connections.
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    /// Connections at most.
    pub size: usize,
    /// How long a checkout waits for a free connection before it fails
    /// (a pool without a bound would wait forever once exhausted).
    pub wait_timeout: Duration,
    /// How long opening a new connection may take.
    pub connect_timeout: Duration,
}

impl PoolOptions {
    /// `size` connections, 30 s to wait for one, 10 s to open one.
    pub fn new(size: usize) -> Self {
        PoolOptions {
            size,
            wait_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl DbUrl {
    /// Parses a URL or keyword/value connection string, with libpq's
    /// `sslmode` and `sslrootcert` (or `PGSSLMODE`, `PGSSLROOTCERT`).
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let redacted = redact_url(url);
        let invalid = |reason: String| DbError::InvalidUrl {
            url: redacted.clone(),
            reason,
        };
        let (rest, mode, root) = crate::tls::split_tls_params(url).map_err(invalid)?;
        let mut config: Config = rest
            .parse()
            .map_err(|e: tokio_postgres::Error| invalid(e.to_string()))?;
        config.ssl_mode(mode.driver_mode());
        let tls = Tls::new(mode, root).map_err(invalid)?;
        Ok(DbUrl {
            config,
            redacted,
            tls,
        })
    }

    /// The URL with its password hidden.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The driver configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The TLS settings.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    /// Where a worker on this URL sends the cancel requests of timed-out
    /// jobs (see [`CancelRoute`]).
    pub fn cancel_route(&self) -> CancelRoute {
        CancelRoute::new(&self.config, self.tls.clone())
    }

    /// The database name, if the URL names one.
    pub fn dbname(&self) -> Option<&str> {
        self.config.get_dbname()
    }

    /// The same server and login with another database (for example
    /// `postgres`, to create the one this URL names).
    pub fn with_dbname(&self, dbname: &str) -> DbUrl {
        let mut config = self.config.clone();
        config.dbname(dbname);
        let redacted = match self.config.get_dbname() {
            Some(old) if self.redacted.contains(old) => {
                match self.redacted.rfind(&format!("/{old}")) {
                    Some(pos) => format!(
                        "{}/{dbname}{}",
                        &self.redacted[..pos],
                        &self.redacted[pos + 1 + old.len()..]
                    ),
                    None => format!("{} (database {dbname})", self.redacted),
                }
            }
            _ => format!("{} (database {dbname})", self.redacted),
        };
        DbUrl {
            config,
            redacted,
            tls: self.tls.clone(),
        }
    }

    /// Opens one connection and drives it on a background task.
    pub async fn connect(&self) -> Result<Client, DbError> {
        let fail = |e: tokio_postgres::Error| connect_error(&self.redacted, &self.tls, &e);
        match self.tls.connector() {
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await.map_err(fail)?;
                tokio::spawn(drive(connection));
                Ok(client)
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(fail)?;
                tokio::spawn(drive(connection));
                Ok(client)
            }
        }
    }

    /// Builds a pool of at most `size` connections (see [`PoolOptions::new`]
    /// for the timeouts) and checks that one can be opened, so that an
    /// unreachable server is reported at once.
    pub async fn pool(&self, size: usize) -> Result<Pool, DbError> {
        self.pool_with(PoolOptions::new(size)).await
    }

    /// [`DbUrl::pool`] with explicit options.
    pub async fn pool_with(&self, options: PoolOptions) -> Result<Pool, DbError> {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let mut config = self.config.clone();
        config.connect_timeout(options.connect_timeout);
        let manager = match self.tls.connector() {
            Some(tls) => Manager::from_config(config, tls.clone(), manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(options.size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| DbError::Pool {
                what: "building the connection pool",
                reason: e.to_string(),
            })?;
        let _checked = pool.get().await.map_err(|e| match &e {
            deadpool_postgres::PoolError::Backend(b) => connect_error(&self.redacted, &self.tls, b),
            other => DbError::Connect {
                url: self.redacted.clone(),
                reason: pool_reason(other),
            },
        })?;
        Ok(pool)
    }
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::debug!(error = %PgErr(&e), "database connection closed");
    }
}

/// A connection failure, told apart: TLS problems (certificate, name,
/// protocol) get their own message, since "is the server running?" would
/// send the operator the wrong way.
fn connect_error(url: &str, tls: &Tls, e: &tokio_postgres::Error) -> DbError {
    match tls_cause(e) {
        Some(cause) => DbError::Tls {
            url: url.to_owned(),
            sslmode: tls.mode().as_str(),
            reason: cause,
        },
        None => DbError::Connect {
            url: url.to_owned(),
            reason: PgErr(e).to_string(),
        },
    }
}

/// The rustls error behind a failed handshake, in words, if there is one.
fn tls_cause(e: &tokio_postgres::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        let found = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(r) = found {
            return Some(match r {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                    "the server's certificate is not signed by a CA in sslrootcert".to_owned()
                }
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                ) => format!(
                    "the server's certificate is not issued for the host connected to ({r}); connect by a name the certificate lists, or use sslmode=verify-ca"
                ),
                other => other.to_string(),
            });
        }
        source = s.source();
    }
    let text = e.to_string();
    (text.contains("TLS") || text.contains("SSL")).then_some(text)
}

/// A pool error in words an operator can act on.
pub(crate) fn pool_reason(e: &deadpool_postgres::PoolError) -> String {
    use deadpool_postgres::{PoolError, TimeoutType};
    match e {
        PoolError::Timeout(TimeoutType::Wait) => {
            "every pooled connection stayed in use for the whole wait timeout (the pool is too small for the work, or connections are stuck)".to_owned()
        }
        PoolError::Timeout(TimeoutType::Create) => {
            "opening a new connection timed out".to_owned()
        }
        PoolError::Timeout(TimeoutType::Recycle) => {
            "checking a pooled connection timed out".to_owned()
        }
        PoolError::Backend(b) => PgErr(b).to_string(),
        other => other.to_string(),
    }
}

/// Takes a connection from `pool`, or says why it could not, naming what
/// it was for.
pub(crate) async fn checkout(
    pool: &Pool,
    what: &'static str,
) -> Result<deadpool_postgres::Object, DbError> {
    pool.get().await.map_err(|e| DbError::Pool {
        what,
        reason: pool_reason(&e),
    })
}

/// What every background service of a worker needs: the pool, how its
/// statements are sent, and where "now" comes from.
#[derive(Clone, Debug)]
pub struct ServiceDb {
    /// Connections.
    pub pool: Pool,
    /// Cached, or unnamed behind a transaction-pooling PgBouncer.
    pub statements: crate::statements::StatementMode,
    /// The database's clock, or a test's.
    pub clock: crate::clock::Clock,
}

impl ServiceDb {
    /// Runs one of the runtime's statements (see [`crate::statements`]) on a
    /// pooled connection; `what` names the work in errors.
    pub(crate) async fn query(
        &self,
        what: &'static str,
        sql: &str,
        params: &[crate::statements::Typed<'_>],
    ) -> Result<Vec<tokio_postgres::Row>, DbError> {
        let conn = checkout(&self.pool, what).await?;
        crate::statements::query(&conn, self.statements, sql, params)
            .await
            .map_err(|e| DbError::query(what, e))
    }
}

/// A pooled connection in the middle of something (a transaction): if this
/// guard is dropped before [`Unfinished::finish`] — an error, a timeout, an
/// aborted task — the connection is detached from the pool and closed, so
/// the server rolls back and no half-done transaction (nor its role and
/// context) reaches the next user of the pool.
pub(crate) struct Unfinished(Option<deadpool_postgres::Object>);

impl Unfinished {
    pub(crate) fn new(conn: deadpool_postgres::Object) -> Self {
        Unfinished(Some(conn))
    }

    /// The connection. Present until `finish` consumes the guard.
    pub(crate) fn conn(&self) -> &deadpool_postgres::Object {
        match &self.0 {
            Some(c) => c,
            None => unreachable!("Unfinished used after finish"),
        }
    }

    /// The work is done and the connection is clean: hand it back.
    pub(crate) fn finish(mut self) -> Option<deadpool_postgres::Object> {
        self.0.take()
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(deadpool_postgres::Object::take(conn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_url_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/orgjobs"),
            "postgres://app:***@db.example:5432/orgjobs"
        );
        assert_eq!(
            redact_url("postgresql://app@localhost/orgjobs"),
            "postgresql://app@localhost/orgjobs"
        );
        assert_eq!(
            redact_url("host=localhost password=s3cret user=app"),
            "host=localhost password=*** user=app"
        );
        // An @ inside the password must not leak the part before it.
        assert_eq!(
            redact_url("postgres://app:p@ss@h/db"),
            "postgres://app:***@h/db"
        );
    }

    #[test]
    fn with_dbname_keeps_password_hidden() {
        let url = DbUrl::parse("postgres://app:s3cret@localhost:5432/orgjobs").expect("parses");
        let admin = url.with_dbname("postgres");
        assert_eq!(
            admin.redacted(),
            "postgres://app:***@localhost:5432/postgres"
        );
        assert_eq!(admin.dbname(), Some("postgres"));
    }
}
