//! A worker's configuration, and what it reports: the outcome of each job
//! and the counts of a run.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use crate::cancel::CancelRoute;
use crate::clock::Clock;
use crate::error::DbError;
use crate::periodic::Periodic;
use crate::session::SessionConfig;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Handlers running at once.
    pub concurrency: usize,
    /// Most jobs claimed by one statement.
    pub batch_size: usize,
    /// How often to look for jobs when no notification arrives.
    pub poll_interval: Duration,
    /// How long a claimed job is leased to this worker; renewed every third
    /// of it while the job runs. A job whose worker stops renewing is
    /// rescued (made runnable again) once this passes.
    pub lease: Duration,
    /// At shutdown, how long running jobs may take to finish before they
    /// are interrupted and given back.
    pub shutdown_timeout: Duration,
    /// How long maintenance leadership lasts without renewal.
    pub leader_ttl: Duration,
    /// Periodic schedules (enqueued by the leader).
    pub periodic: Vec<Periodic>,
    /// Exit once no runnable job is left.
    pub drain: bool,
    /// Claim organizations round-robin (true, the default) or in strict
    /// priority/run_at/id order across organizations (false).
    pub fair: bool,
    /// With `fair`: balance organizations by their share of this worker's
    /// handler time (true, the default), passing over an organization
    /// ahead of its share while others have work, or by job count alone
    /// (false: plain round-robin, which lets an organization with slow jobs
    /// take most of the worker).
    pub fair_by_time: bool,
    /// With `fair_by_time`: weights of organizations' shares (default 1).
    pub org_weights: HashMap<Uuid, f64>,
    /// At most this many jobs of one organization running at once, across
    /// all workers (fair claims only).
    pub org_concurrency: Option<i32>,
    /// Roles and statement mode of job transactions.
    pub session: SessionConfig,
    /// This worker's name in `locked_by` and error records.
    pub worker_id: String,
    /// Where the cancel requests of timed-out jobs go, with the database
    /// URL's TLS ([`crate::DbUrl::cancel_route`]; they open a connection of
    /// their own). The default leaves them to the driver, which closes the
    /// request's connection without waiting for the server: set it behind
    /// PgBouncer 1.18 (see [`CancelRoute`]).
    pub cancel: CancelRoute,
    /// Refuse to start unless strict tenant mode is on (otherwise a warning
    /// is logged).
    pub require_strict: bool,
    /// Where "now" comes from: the database server's clock, or a test's.
    pub clock: Clock,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 8,
            batch_size: 8,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            leader_ttl: Duration::from_secs(15),
            periodic: Vec::new(),
            drain: false,
            fair: true,
            fair_by_time: true,
            org_weights: HashMap::new(),
            org_concurrency: None,
            session: SessionConfig::default(),
            worker_id: default_worker_id(),
            cancel: CancelRoute::default(),
            require_strict: false,
            clock: Clock::database(),
        }
    }
}

/// `host-pid-random`, unique enough to tell workers apart in job records.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    let short = Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &short[..8])
}

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The startup check found a way for tenant work to bypass RLS.
    #[error("refusing to start: tenant isolation is not guaranteed:\n  - {}", .0.join("\n  - "))]
    Unsafe(Vec<String>),
    /// The configuration does not fit the registry.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// The database failed at startup.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What happened to one claimed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The handler succeeded and its completion committed with its writes.
    Completed,
    /// Failed; another attempt is scheduled.
    Retried,
    /// Failed for good; kept with its error.
    Discarded,
    /// This attempt no longer held the job (or its result could not be
    /// recorded); nothing of it committed.
    Lost,
}

impl Outcome {
    /// The `outcome` label of `jobs_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Retried => "retried",
            Outcome::Discarded => "discarded",
            Outcome::Lost => "lost",
        }
    }
}

/// Counts of outcomes over a worker's run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Jobs completed.
    pub completed: u64,
    /// Attempts that failed and were scheduled again.
    pub retried: u64,
    /// Jobs discarded.
    pub discarded: u64,
    /// Attempts lost.
    pub lost: u64,
}

impl RunSummary {
    pub(crate) fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Completed => self.completed += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::Discarded => self.discarded += 1,
            Outcome::Lost => self.lost += 1,
        }
    }
}
