//! What a drain cost beside its wall time: the CPU of this process (the
//! worker), the CPU of everything else on the machine (mostly PostgreSQL's
//! backends), and the WAL the server wrote and flushed. Read from
//! `/proc/self/stat`, `/proc/stat` and `pg_stat_wal`, before and after.

use orgjobs_queue::tokio_postgres::Client;
use serde_json::{Value, json};

/// Clock ticks per second of `/proc` CPU times (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// A reading taken before a drain.
pub(crate) struct CostMeter {
    own_ticks: f64,
    busy_ticks: f64,
    wal: (f64, f64, f64),
}

/// (this process's user + system ticks, the machine's busy ticks).
fn cpu_ticks() -> (f64, f64) {
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which ends with ')'.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line, so 11
            // and 12 after the state (field 3).
            Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
        })
        .unwrap_or(f64::NAN);
    let busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?;
            let v: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal: busy is all
            // but idle and iowait (and steal, time the VM did not get).
            Some(v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)?)
        })
        .unwrap_or(f64::NAN);
    (own, busy)
}

/// (bytes, records, syncs) of WAL written so far, cluster-wide.
async fn wal(client: &Client) -> (f64, f64, f64) {
    match client
        .query_one(
            "SELECT wal_bytes::float8, wal_records::float8, wal_sync::float8 FROM pg_stat_wal",
            &[],
        )
        .await
    {
        Ok(r) => (r.get(0), r.get(1), r.get(2)),
        Err(_) => (f64::NAN, f64::NAN, f64::NAN),
    }
}

impl CostMeter {
    pub(crate) async fn start(client: &Client) -> Self {
        let (own_ticks, busy_ticks) = cpu_ticks();
        CostMeter {
            own_ticks,
            busy_ticks,
            wal: wal(client).await,
        }
    }

    /// The cost per job since `start`, as JSON fields.
    pub(crate) async fn per_job(&self, client: &Client, jobs: f64) -> Value {
        let (own, busy) = cpu_ticks();
        let (bytes, records, syncs) = wal(client).await;
        let worker_us = (own - self.own_ticks) / TICKS_PER_S * 1e6 / jobs;
        let rest_us =
            ((busy - self.busy_ticks) - (own - self.own_ticks)) / TICKS_PER_S * 1e6 / jobs;
        json!({
            "worker_cpu_us_per_job": worker_us,
            "rest_cpu_us_per_job": rest_us,
            "wal_bytes_per_job": (bytes - self.wal.0) / jobs,
            "wal_records_per_job": (records - self.wal.1) / jobs,
            "wal_syncs_per_job": (syncs - self.wal.2) / jobs,
        })
    }
}
