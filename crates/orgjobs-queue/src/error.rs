//! Database errors with the context an operator needs to act on them.

use std::fmt;

/// A database failure, with what orgjobs was doing when it happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The server could not be reached or refused the login.
    #[error(
        "cannot connect to PostgreSQL at {url}: {reason}\n  hint: is the server running and reachable? Start it (on Debian: `pg_ctlcluster 15 main start`) or point DATABASE_URL at a server you can reach"
    )]
    Connect {
        /// The URL tried, with any password replaced by `***`.
        url: String,
        /// What the driver reported.
        reason: String,
    },
    /// The TLS handshake failed or the server's certificate was refused.
    #[error("cannot connect to PostgreSQL at {url} over TLS (sslmode={sslmode}): {reason}")]
    Tls {
        /// The URL tried, with any password replaced by `***`.
        url: String,
        /// The `sslmode` in force.
        sslmode: &'static str,
        /// What went wrong, in words.
        reason: String,
    },
    /// `DATABASE_URL` does not parse.
    #[error("DATABASE_URL {url} is not a valid PostgreSQL connection string: {reason}")]
    InvalidUrl {
        /// The URL given, password hidden.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A statement failed.
    #[error("{what}: {}", PgErr(.cause))]
    Query {
        /// What orgjobs was doing.
        what: &'static str,
        /// The driver error (already part of the message, so not chained as
        /// a `source`, which would print it twice).
        cause: tokio_postgres::Error,
    },
    /// The database or a transaction was not in the state the operation
    /// needs (for example a transaction that never began).
    #[error("{what}: {reason}")]
    State {
        /// What orgjobs was doing.
        what: &'static str,
        /// What was found instead.
        reason: String,
    },
    /// No pooled connection could be had.
    #[error("{what}: no database connection available: {reason}")]
    Pool {
        /// What orgjobs was doing.
        what: &'static str,
        /// The pool's error.
        reason: String,
    },
}

impl DbError {
    pub(crate) fn query(what: &'static str, cause: tokio_postgres::Error) -> Self {
        DbError::Query { what, cause }
    }

    /// The SQLSTATE of the underlying server error, if there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            DbError::Query { cause, .. } => cause.code().map(|c| c.code()),
            _ => None,
        }
    }
}

/// Formats a driver error as `message (SQLSTATE xxxxx)`, with detail and hint
/// when the server sent them; falls back to the driver's own text.
pub struct PgErr<'a>(pub &'a tokio_postgres::Error);

impl fmt::Display for PgErr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_db_error() {
            Some(db) => {
                write!(f, "{} (SQLSTATE {})", db.message(), db.code().code())?;
                if let Some(detail) = db.detail() {
                    write!(f, "; detail: {detail}")?;
                }
                if let Some(hint) = db.hint() {
                    write!(f, "; hint: {hint}")?;
                }
                Ok(())
            }
            None => {
                write!(f, "{}", self.0)?;
                let mut source = std::error::Error::source(self.0);
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }
        }
    }
}
