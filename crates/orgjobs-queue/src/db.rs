//! Connecting to PostgreSQL: URL parsing with passwords hidden in every
//! message, a connection pool, and single connections for LISTEN and admin
//! work.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{DbError, PgErr};

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

/// A parsed database URL that remembers how to print itself safely.
#[derive(Clone, Debug)]
pub struct DbUrl {
    config: Config,
    redacted: String,
}

impl DbUrl {
    /// Parses a URL or keyword/value connection string.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let redacted = redact_url(url);
        let config: Config =
            url.parse()
                .map_err(|e: tokio_postgres::Error| DbError::InvalidUrl {
                    url: redacted.clone(),
                    reason: e.to_string(),
                })?;
        Ok(DbUrl { config, redacted })
    }

    /// The URL with its password hidden.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The driver configuration.
    pub fn config(&self) -> &Config {
        &self.config
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
        DbUrl { config, redacted }
    }

    /// Opens one connection and drives it on a background task.
    pub async fn connect(&self) -> Result<Client, DbError> {
        let (client, connection) =
            self.config
                .connect(NoTls)
                .await
                .map_err(|e| DbError::Connect {
                    url: self.redacted.clone(),
                    reason: PgErr(&e).to_string(),
                })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %PgErr(&e), "database connection closed");
            }
        });
        Ok(client)
    }

    /// Builds a pool of at most `size` connections and checks that one can be
    /// opened, so that an unreachable server is reported at once.
    pub async fn pool(&self, size: usize) -> Result<Pool, DbError> {
        let manager = Manager::from_config(
            self.config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .build()
            .map_err(|e| DbError::Pool {
                what: "building the connection pool",
                reason: e.to_string(),
            })?;
        let _checked = pool.get().await.map_err(|e| DbError::Connect {
            url: self.redacted.clone(),
            reason: match &e {
                deadpool_postgres::PoolError::Backend(b) => PgErr(b).to_string(),
                other => other.to_string(),
            },
        })?;
        Ok(pool)
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
