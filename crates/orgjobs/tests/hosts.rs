//! Many worker hosts: three `orgjobs worker` processes (the fault worker,
//! for its countable `FAULT_PROBE` kind), each in a network namespace of its
//! own joined to this machine by a veth pair, reaching a private PostgreSQL
//! server through it. One host's link goes down mid-run — its worker is not
//! killed, it just stops being heard — and that must end like a crash for
//! the queue: its leases expire, the leader rescues its jobs, the other
//! hosts run them. When the link comes back, the cut worker's late
//! completions are refused by fencing (`orgjobs.complete_job` checks the
//! attempt and the worker), and every job's effect is kept exactly once.
//!
//! Needs root and `ip` (iproute2); prints `SKIPPED: …` and passes
//! otherwise. Traffic stays on this machine: the addresses are a /24 of
//! 198.18.0.0/15 (RFC 2544's benchmarking range) that no address or route
//! here overlaps, a namespace has no route but its own /30, and an
//! `unreachable` route for the /24 keeps this machine's default route from
//! carrying packets for a cut host off the machine (a link that goes down
//! takes its connected route with it). Namespaces, veths, the route and the
//! processes are removed on drop, also when the test panics; what a killed
//! run left (its pid is gone) is removed when the next one starts.
//!
//! What makes it fail (each tried by breaking it): a lease longer than the
//! outage, so that nothing is rescued — the wait for the cut host's jobs
//! to be taken elsewhere times out; `complete_job` without fencing (by id
//! alone) — the victim's late transaction commits and its ticket carries
//! two marks; `complete_job` checking only that the job is running (not
//! the attempt and the worker) — a late completion that arrives while
//! another host runs the job's next attempt completes a job the victim no
//! longer owns, which the check that rescued jobs end on another host at a
//! later attempt catches (the test insists that this interleaving happened
//! at least once). A lost or duplicated job fails the one-mark-per-ticket
//! and one-completion-per-job checks.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orgjobs_queue::DbUrl;
use orgjobs_queue::tokio_postgres::Client;
use orgjobs_queue::tokio_postgres::types::ToSql;
use orgjobs_testdb::{LoggedChild, PrivateServer, ServerOptions};
use uuid::Uuid;

/// Names of this test's namespaces: `ojhosts-<pid>-<tag>-<i>`.
const NS_PREFIX: &str = "ojhosts-";
/// The routing protocol number of the test's `unreachable` route, so that
/// a later run can tell it from others (no routing daemon uses 177).
const ROUTE_PROTO: &str = "177";
const HOSTS: usize = 3;
/// The host whose link is cut.
const VICTIM: usize = 0;
const CONCURRENCY: &str = "5";
const JOBS_PER_ORG: usize = 30;
/// Long enough that the cut host holds jobs in their handlers when its
/// link goes down, and that the other hosts are still running the jobs
/// they took over when the cut host's late completions arrive.
const SLEEP_MS: u64 = 1500;
/// The cut comes when at most this many jobs wait: rescued jobs queue
/// behind everything enqueued before them (their `run_at` is the time of
/// the rescue), so a long backlog would only make the outage longer.
const WAITING_AT_CUT: i64 = 15;

/// The `ip` binary, if there is one.
fn ip_binary() -> Option<String> {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| (*p).to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs `ip` with the whitespace-separated `args`; panics with its error
/// output if it fails.
fn ip(bin: &str, args: &str) -> String {
    let out = Command::new(bin)
        .args(args.split_whitespace())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{bin} {args}: {e}"));
    assert!(
        out.status.success(),
        "ip {args} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `ip` for cleanup: a failure (already gone) is not an error.
fn ip_quiet(bin: &str, args: &str) -> String {
    Command::new(bin)
        .args(args.split_whitespace())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// An IPv4 prefix.
#[derive(Clone, Copy, Debug)]
struct Net(Ipv4Addr, u8);

impl Net {
    /// `a.b.c.d/n` or `a.b.c.d` (a /32); `None` for anything else.
    fn parse(token: &str) -> Option<Net> {
        let (addr, len) = match token.split_once('/') {
            Some((a, l)) => (a, l.parse().ok()?),
            None => (token, 32),
        };
        (len <= 32).then_some(Net(addr.parse().ok()?, len))
    }

    fn overlaps(self, other: Net) -> bool {
        let len = self.1.min(other.1);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        u32::from(self.0) & mask == u32::from(other.0) & mask
    }
}

/// The prefixes (not the default route: any more specific one wins over
/// it) in some `ip` output.
fn prefixes(text: &str) -> Vec<Net> {
    text.split_whitespace()
        .filter_map(Net::parse)
        .filter(|n| n.1 > 0)
        .collect()
}

/// One worker host: a namespace and the veth pair that joins it to this
/// machine, a /30 of the test's /24.
struct Host {
    ns: String,
    /// The veth end on this machine, the one the test takes down.
    outside: String,
    /// The address of `outside`, where PostgreSQL listens for this host.
    server_addr: Ipv4Addr,
    /// The address inside the namespace (the worker's, and its /metrics).
    addr: Ipv4Addr,
}

/// The three hosts and the route that keeps their range on this machine;
/// removed on drop.
struct Network {
    ip: String,
    subnet: Ipv4Addr,
    hosts: Vec<Host>,
    route: bool,
}

impl Network {
    fn create(bin: &str) -> Network {
        remove_leftovers(bin);
        let used = prefixes(&(ip(bin, "-4 -o addr show") + &ip(bin, "-4 route show table all")));
        let subnet = (0..64)
            .map(|_| {
                let k = u32::from(Uuid::new_v4().as_u128() as u16 % 512);
                Ipv4Addr::from((198 << 24) | (18 << 16) | (k << 8))
            })
            .find(|s| used.iter().all(|u| !u.overlaps(Net(*s, 24))))
            .expect("a free /24 in 198.18.0.0/15");
        let tag = Uuid::new_v4().simple().to_string()[..6].to_owned();
        let mut net = Network {
            ip: bin.to_owned(),
            subnet,
            hosts: Vec::new(),
            route: false,
        };
        let base = u32::from(subnet);
        for i in 0..HOSTS {
            let offset = 4 * i as u32;
            // Pushed before it exists, so that a failure below removes it.
            net.hosts.push(Host {
                ns: format!("{NS_PREFIX}{}-{tag}-{i}", std::process::id()),
                outside: format!("oj{tag}h{i}"),
                server_addr: Ipv4Addr::from(base + offset + 1),
                addr: Ipv4Addr::from(base + offset + 2),
            });
            let Host {
                ns,
                outside,
                server_addr,
                addr,
            } = &net.hosts[i];
            let inside = format!("oj{tag}n{i}");
            // Fixed, locally administered link-layer addresses, for the
            // neighbour entry below.
            let mac = |end: u8| {
                format!(
                    "02:{}:{}:{}:{i:02x}:{end:02x}",
                    &tag[..2],
                    &tag[2..4],
                    &tag[4..]
                )
            };
            let (outside_mac, inside_mac) = (mac(1), mac(2));
            ip(bin, &format!("netns add {ns}"));
            ip(
                bin,
                &format!(
                    "link add {outside} address {outside_mac} type veth \
                     peer name {inside} address {inside_mac} netns {ns}"
                ),
            );
            ip(bin, &format!("addr add {server_addr}/30 dev {outside}"));
            ip(bin, &format!("link set {outside} up"));
            ip(bin, &format!("-n {ns} addr add {addr}/30 dev {inside}"));
            ip(bin, &format!("-n {ns} link set {inside} up"));
            ip(bin, &format!("-n {ns} link set lo up"));
            // The host knows the server's link-layer address for good, as
            // it knows a router's: with the link down its packets vanish
            // and its connections hang, as across a routed network, instead
            // of failing at once with EHOSTUNREACH when address resolution
            // gives up (after about 3 s). A worker that cannot tell it is
            // cut off is the case that matters; and its handlers that were
            // running at the cut then reach the server once the link is
            // back, so that fencing is what stops them.
            ip(
                bin,
                &format!(
                    "-n {ns} neigh replace {server_addr} lladdr {outside_mac} \
                     dev {inside} nud permanent"
                ),
            );
        }
        // After the addresses: a run that finds this route with no address
        // of its /24 on any interface knows it is a leftover.
        ip(
            bin,
            &format!("route add unreachable {subnet}/24 proto {ROUTE_PROTO}"),
        );
        net.route = true;
        net
    }

    /// The addresses PostgreSQL listens on for the hosts.
    fn server_addrs(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| h.server_addr.to_string())
            .collect()
    }

    /// Takes host `i`'s link down: its packets go nowhere and nothing
    /// fails at once (a cable pulled, not a process killed).
    fn cut(&self, i: usize) {
        ip(
            &self.ip,
            &format!("link set {} down", self.hosts[i].outside),
        );
    }

    /// Brings host `i`'s link back (its connected route returns with it).
    fn restore(&self, i: usize) {
        ip(&self.ip, &format!("link set {} up", self.hosts[i].outside));
    }
}

/// Kills what runs in namespace `ns` (a worker this test started), removes
/// its veth pair and the namespace.
fn remove_host(bin: &str, ns: &str, outside: &str) {
    for pid in ip_quiet(bin, &format!("netns pids {ns}")).split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
    ip_quiet(bin, &format!("link del {outside}"));
    ip_quiet(bin, &format!("netns del {ns}"));
}

impl Drop for Network {
    fn drop(&mut self) {
        for h in &self.hosts {
            remove_host(&self.ip, &h.ns, &h.outside);
        }
        if self.route {
            ip_quiet(
                &self.ip,
                &format!(
                    "route del unreachable {}/24 proto {ROUTE_PROTO}",
                    self.subnet
                ),
            );
        }
    }
}

/// Removes what a killed run of this test left: its namespaces (named with
/// its pid, which no longer exists) with their processes and veths, then
/// its `unreachable` routes whose /24 no interface has an address in.
fn remove_leftovers(bin: &str) {
    for line in ip_quiet(bin, "netns list").lines() {
        let Some(rest) = line
            .split_whitespace()
            .next()
            .and_then(|n| n.strip_prefix(NS_PREFIX))
        else {
            continue;
        };
        let parts: Vec<&str> = rest.split('-').collect();
        let [pid, tag, i] = parts[..] else { continue };
        if pid.parse::<u32>().is_err() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        remove_host(bin, &format!("{NS_PREFIX}{rest}"), &format!("oj{tag}h{i}"));
    }
    let range = Net(Ipv4Addr::new(198, 18, 0, 0), 15);
    let addrs = prefixes(&ip_quiet(bin, "-4 -o addr show"));
    let routes = ip_quiet(
        bin,
        &format!("-4 route show type unreachable proto {ROUTE_PROTO}"),
    );
    for route in prefixes(&routes) {
        let in_use = addrs.iter().any(|a| Net(a.0, 32).overlaps(route));
        if route.1 == 24 && range.overlaps(route) && !in_use {
            ip_quiet(
                bin,
                &format!("route del unreachable {}/24 proto {ROUTE_PROTO}", route.0),
            );
        }
    }
}

/// A worker process in host `i`'s namespace, and what it said about
/// itself.
struct HostWorker {
    proc: LoggedChild,
    id: String,
    metrics_addr: String,
}

impl HostWorker {
    fn start(net: &Network, i: usize, port: u16) -> HostWorker {
        let h = &net.hosts[i];
        // As production runs: the least-privileged login, over TCP to the
        // address on this host's link.
        let url = format!(
            "postgres://orgjobs_worker@{}:{port}/orgjobs?sslmode=disable",
            h.server_addr
        );
        let metrics = format!("{}:0", h.addr);
        let mut cmd = Command::new(&net.ip);
        cmd.args(["netns", "exec", &h.ns, common::FAULT_BIN, "worker"])
            .args(["--metrics-addr", &metrics, "--poll-interval-ms", "100"])
            // Short leases and leadership, so that a cut host's jobs are
            // rescued within about three seconds.
            .args(["--lease-secs", "2", "--leader-ttl-secs", "1"])
            .args(["--no-periodic", "--concurrency", CONCURRENCY])
            .env("DATABASE_URL", url)
            .env("ORGJOBS_LOG", "info")
            .stdout(Stdio::null());
        let (proc, ready) = LoggedChild::spawn(cmd, "metrics_listening");
        let metrics_addr = ready["addr"].as_str().unwrap_or_default().to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        let id = loop {
            let started = proc
                .logs()
                .into_iter()
                .find(|l| l["event"] == "worker_started");
            if let Some(l) = started {
                break l["worker_id"].as_str().unwrap_or_default().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "worker {i} never started:\n{}",
                proc.lines.lock().expect("lock").join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        HostWorker {
            proc,
            id,
            metrics_addr,
        }
    }

    /// Its `job_finished` events: (job id, attempt, outcome).
    fn finished(&self) -> Vec<(i64, i32, String)> {
        self.proc
            .logs()
            .into_iter()
            .filter(|l| l["event"] == "job_finished")
            .map(|l| {
                (
                    l["job_id"].as_i64().unwrap_or(-1),
                    l["attempt"].as_i64().unwrap_or(-1) as i32,
                    l["outcome"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Handlers running: attempts started (`org_context_set`, logged as a
    /// tenant job begins) and not yet ended (`job_finished`).
    fn in_flight(&self) -> usize {
        let logs = self.proc.logs();
        let count = |event: &str| logs.iter().filter(|l| l["event"] == event).count();
        count("org_context_set").saturating_sub(count("job_finished"))
    }

    /// The attempts whose completion the server refused with SQLSTATE OJ001
    /// (`job_lost` events), and when the refusal came back.
    fn refused(&self) -> BTreeMap<(i64, i32), Stamp> {
        self.proc
            .logs()
            .into_iter()
            .filter(|l| {
                l["event"] == "job_lost"
                    && l["reason"].as_str().is_some_and(|r| r.contains("OJ001"))
            })
            .map(|l| {
                let key = (
                    l["job_id"].as_i64().unwrap_or(-1),
                    l["attempt"].as_i64().unwrap_or(-1) as i32,
                );
                (key, stamp(&l))
            })
            .collect()
    }

    /// When it logged each of its completions, by job id.
    fn completed_at(&self) -> BTreeMap<i64, Stamp> {
        self.proc
            .logs()
            .into_iter()
            .filter(|l| l["event"] == "job_finished" && l["outcome"] == "completed")
            .map(|l| (l["job_id"].as_i64().unwrap_or(-1), stamp(&l)))
            .collect()
    }

    /// `GET /metrics`, over its host's link.
    fn metrics(&self) -> String {
        let addr: SocketAddr = self.metrics_addr.parse().expect("metrics address");
        let mut s =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to /metrics");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read /metrics");
        out
    }

    fn log_text(&self) -> String {
        self.proc.lines.lock().expect("lock").join("\n")
    }
}

/// A log line's time (the workers share this machine's clock).
type Stamp = chrono::DateTime<chrono::FixedOffset>;

fn stamp(line: &serde_json::Value) -> Stamp {
    let raw = line["timestamp"].as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(raw).unwrap_or_else(|e| panic!("timestamp {raw}: {e}"))
}

/// The sum of a counter's series whose labels include `labels`.
fn counter(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scalar(c: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> i64 {
    c.query_one(sql, params).await.expect(sql).get(0)
}

/// The attempts of `jobs` the leader rescued from `worker`: (job id,
/// attempt), from the entries the rescuer appends to `errors`.
async fn rescued_from(c: &Client, jobs: &[i64], worker: &str) -> Vec<(i64, i32)> {
    c.query(
        "SELECT j.id, (e->>'attempt')::int
         FROM orgjobs.jobs j, jsonb_array_elements(j.errors) e
         WHERE j.id = ANY($1) AND e->>'worker' = $2 AND e->>'error' LIKE 'lease expired%'
         ORDER BY 1, 2",
        &[&jobs, &worker],
    )
    .await
    .expect("rescued attempts")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test]
async fn a_cut_host_loses_its_jobs_to_the_others_and_cannot_complete_them_late() {
    let Some(bin) = ip_binary() else {
        eprintln!(
            "SKIPPED: `ip` (iproute2) is not installed; the worker hosts are network namespaces"
        );
        return;
    };
    if !is_root() {
        eprintln!("SKIPPED: not root; network namespaces and veth pairs need root");
        return;
    }
    let began = Instant::now();
    // Declared first, dropped last: the workers (inside its namespaces) and
    // the server (listening on its addresses) go before it.
    let net = Network::create(&bin);
    let server = PrivateServer::start(ServerOptions {
        config: vec![format!(
            "listen_addresses = '127.0.0.1,{}'",
            net.server_addrs().join(",")
        )],
        hba: Some(format!(
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all {}/24 trust\n",
            net.subnet
        )),
        ..ServerOptions::default()
    });
    // The test itself reads the database over 127.0.0.1, which no cut
    // touches.
    let (url, pool) = common::private_orgjobs_db(&server, 2).await;
    common::register(&pool, &common::fault_registry()).await;
    let (org_a, tickets_a) = common::seed_org_tickets(&pool, "A", JOBS_PER_ORG).await;
    let (org_b, tickets_b) = common::seed_org_tickets(&pool, "B", JOBS_PER_ORG).await;
    let c = DbUrl::parse(&url)
        .expect("url")
        .connect()
        .await
        .expect("connect");

    let workers: Vec<HostWorker> = (0..HOSTS)
        .map(|i| HostWorker::start(&net, i, server.port()))
        .collect();
    let victim = &workers[VICTIM];

    let mut jobs = Vec::new();
    for (org, tickets) in [(org_a, &tickets_a), (org_b, &tickets_b)] {
        for t in tickets {
            let payload = serde_json::json!({ "ticket_id": t, "sleep_ms": SLEEP_MS });
            let id: i64 = c
                .query_one(
                    "SELECT orgjobs.add_job('FAULT_PROBE', $1, $2)",
                    &[&org, &payload],
                )
                .await
                .expect("enqueue")
                .get(0);
            jobs.push(id);
        }
    }
    let tickets: Vec<Uuid> = tickets_a.iter().chain(&tickets_b).copied().collect();
    let total = jobs.len() as i64;

    // The cut comes when the victim has shown it works through its link
    // (it completed jobs), has just claimed jobs — those are the ones the
    // cut strands: claimed less than a second ago, they are half a second
    // or more from their end, so none can complete before the cut — and the
    // backlog is short. (All hosts claim a batch every 1.5 s, 15 jobs in
    // all, so some claim of the victim's leaves 15 or fewer waiting.)
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = victim
            .finished()
            .iter()
            .filter(|f| f.2 == "completed")
            .count();
        let holding = scalar(
            &c,
            "SELECT count(*) FROM orgjobs.jobs WHERE state = 'running' AND locked_by = $1
             AND attempted_at > now() - interval '1 second'",
            &[&victim.id],
        )
        .await;
        let waiting = scalar(
            &c,
            "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1)
             AND state IN ('available', 'retryable')",
            &[&jobs],
        )
        .await;
        if done >= 2 && holding >= 2 && waiting <= WAITING_AT_CUT {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no moment to cut: the victim completed {done} and holds {holding}, {waiting} wait:\n{}",
            victim.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    net.cut(VICTIM);
    let cut_at = Instant::now();

    // While the link is down the victim's connections hang — TCP keeps
    // retransmitting into the dead link, and would for about 15 minutes
    // (tcp_retries2) before giving up; the worker sets no TCP user timeout
    // or keepalive that would end them sooner — so the victim reports
    // nothing about its jobs until the link is back. The database shows
    // what happens meanwhile: its leases expire, the leader (another host
    // now, if the victim led) rescues the jobs, and the other hosts claim
    // them. Wait until every job it held has been rescued and taken by
    // another host. A job whose row the victim's stuck transaction locks
    // (its complete_job ran just before the cut, its COMMIT is still on the
    // way) cannot be rescued (SKIP LOCKED) and is not waited for either: it
    // is still the victim's, and commits when the link is back.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rescued = loop {
        let rescued = rescued_from(&c, &jobs, &victim.id).await;
        let still_held = scalar(
            &c,
            "SELECT count(*) FROM (SELECT FROM orgjobs.jobs WHERE state = 'running'
             AND locked_by = $1 FOR UPDATE SKIP LOCKED) held",
            &[&victim.id],
        )
        .await;
        let ids: Vec<i64> = rescued.iter().map(|r| r.0).collect();
        let not_taken = scalar(
            &c,
            "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1)
             AND NOT (state = 'completed' OR (state = 'running' AND locked_by <> $2))",
            &[&ids, &victim.id],
        )
        .await;
        if !rescued.is_empty() && still_held == 0 && not_taken == 0 {
            break rescued;
        }
        assert!(
            Instant::now() < deadline,
            "30 s after the cut the cut host's jobs were not rescued and taken elsewhere \
             (rescued {rescued:?}, still held {still_held}, not taken {not_taken})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rescued_after = cut_at.elapsed();
    net.restore(VICTIM);
    let up_at = Instant::now();

    // With the link back, the victim's retransmissions get through: its
    // handlers, still holding the rescued attempts, update their tickets
    // and call complete_job with the old attempt, which raises OJ001 and
    // rolls their transactions back; each attempt ends `lost`. Wait until
    // every job is completed, no handler runs on any host (so that the
    // counts below are final: a late duplicate would have landed), and the
    // victim has ended every attempt rescued from it, also any rescued after
    // the link came back: a claim whose BEGIN reached the server before the
    // cut and whose statement only after it counts its lease from the
    // transaction's start (now()), so the lease has already expired, the
    // job is rescued at once and runs on another host while the victim runs
    // it too (fencing keeps one).
    let deadline = Instant::now() + Duration::from_secs(60);
    let rescued_all = loop {
        let completed = scalar(
            &c,
            "SELECT count(*) FROM orgjobs.jobs WHERE id = ANY($1) AND state = 'completed'",
            &[&jobs],
        )
        .await;
        let rescued_all = rescued_from(&c, &jobs, &victim.id).await;
        let ended: BTreeSet<(i64, i32)> = victim.finished().iter().map(|f| (f.0, f.1)).collect();
        let pending: Vec<_> = rescued_all.iter().filter(|r| !ended.contains(r)).collect();
        let running: Vec<usize> = workers.iter().map(HostWorker::in_flight).collect();
        if completed == total && pending.is_empty() && running.iter().all(|n| *n == 0) {
            break rescued_all;
        }
        assert!(
            Instant::now() < deadline,
            "60 s after the link came back: {completed} of {total} jobs completed, handlers \
             still running per host {running:?}; the victim never ended the rescued attempts \
             {pending:?}:\n{}",
            victim.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let settled_after = up_at.elapsed();

    // Every job's effect exactly once: one `+` on each ticket. The victim's
    // late UPDATE of a rescued job's ticket did run on the server (after
    // another host's run committed) and was rolled back by complete_job's
    // refusal; without the attempt and worker check it would have
    // committed a second `+`.
    let marks: Vec<i32> = c
        .query(
            "SELECT length(subject) - length(replace(subject, '+', '')) FROM tickets
             WHERE id = ANY($1) ORDER BY array_position($1, id)",
            &[&tickets],
        )
        .await
        .expect("marks")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(marks.len(), tickets.len());
    let wrong: Vec<_> = tickets
        .iter()
        .zip(&marks)
        .filter(|(_, m)| **m != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "tickets whose job's effect is not there exactly once: {wrong:?}"
    );

    // Every job completed exactly once, by the workers' own account too.
    let finished: Vec<Vec<(i64, i32, String)>> = workers.iter().map(HostWorker::finished).collect();
    let mut completions: BTreeMap<i64, Vec<(usize, i32)>> = BTreeMap::new();
    for (w, list) in finished.iter().enumerate() {
        for (id, attempt, outcome) in list {
            if outcome == "completed" {
                completions.entry(*id).or_default().push((w, *attempt));
            }
        }
    }
    for id in &jobs {
        let by = completions.get(id).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(by.len(), 1, "job {id} completed {} times: {by:?}", by.len());
    }

    // The jobs the victim held at the cut were completed by another host,
    // at a later attempt.
    for (id, attempt) in &rescued {
        let (w, a) = completions[id][0];
        assert!(
            w != VICTIM && a > *attempt,
            "rescued job {id} (attempt {attempt}) was completed by host {w} at attempt {a}"
        );
    }
    // Every attempt rescued from the victim ended `lost` there — never
    // completed, retried or discarded — and those it held at the cut were
    // each refused by complete_job on the server (OJ001): they reached the
    // server after the link came back, and fencing, not a network error,
    // stopped them.
    let victim_finished = &finished[VICTIM];
    for (id, attempt) in &rescued_all {
        let ends: Vec<_> = victim_finished
            .iter()
            .filter(|f| f.0 == *id && f.1 == *attempt)
            .collect();
        assert!(
            ends.len() == 1 && ends[0].2 == "lost",
            "the victim ended rescued job {id} attempt {attempt} as {ends:?}, not lost"
        );
    }
    let refused = victim.refused();
    let unrefused: Vec<_> = rescued
        .iter()
        .filter(|r| !refused.contains_key(r))
        .collect();
    assert!(
        unrefused.is_empty(),
        "attempts held at the cut whose late completion complete_job did not refuse: \
         {unrefused:?}\n{}",
        victim.log_text()
    );
    // And the interleaving where only the attempt and worker checks stand
    // in the way happened: a late completion was refused while another host
    // was still running the job's next attempt (it completed at least
    // 100 ms after the refusal). The job was `running` then, so a check of
    // the state alone would have let the victim complete it. (Jobs run
    // 1.5 s and the link comes back as soon as they are taken elsewhere;
    // the victim's retransmissions go out within half a second.)
    let others_completed: BTreeMap<i64, Stamp> = workers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != VICTIM)
        .flat_map(|(_, w)| w.completed_at())
        .collect();
    let during_rerun = rescued
        .iter()
        .filter(|r| {
            let (Some(refused), Some(done)) = (refused.get(r), others_completed.get(&r.0)) else {
                return false;
            };
            *done - *refused > chrono::Duration::milliseconds(100)
        })
        .count();
    assert!(
        during_rerun > 0,
        "no late completion was refused while another host still ran the job \
         (rescued {rescued:?}, refused {refused:?}, completed elsewhere {others_completed:?})"
    );

    // The metrics say the same: the victim's lost attempts, and the rescues
    // counted by whichever hosts led.
    let lost_logged = victim_finished.iter().filter(|f| f.2 == "lost").count() as f64;
    let victim_metrics = victim.metrics();
    assert_eq!(
        counter(
            &victim_metrics,
            "orgjobs_jobs_total",
            &[("kind", "FAULT_PROBE"), ("outcome", "lost")]
        ),
        lost_logged,
        "{victim_metrics}"
    );
    let rescues_in_db = scalar(
        &c,
        "SELECT count(*) FROM orgjobs.jobs j, jsonb_array_elements(j.errors) e
         WHERE j.id = ANY($1) AND e->>'error' LIKE 'lease expired%'",
        &[&jobs],
    )
    .await;
    let rescues_counted: f64 = workers
        .iter()
        .map(|w| counter(&w.metrics(), "orgjobs_jobs_rescued_total", &[]))
        .sum();
    assert_eq!(rescues_counted, rescues_in_db as f64);

    eprintln!(
        "hosts: {total} jobs; {} attempts of the cut host rescued and taken elsewhere {:.1} s \
         after the cut ({} rescued in all); all ended {:.1} s after the link came back, {} late \
         completions refused by complete_job ({during_rerun} while the job ran elsewhere); \
         {:.1} s in all",
        rescued.len(),
        rescued_after.as_secs_f64(),
        rescued_all.len(),
        settled_after.as_secs_f64(),
        refused.len(),
        began.elapsed().as_secs_f64()
    );

    // The victim recovered: every worker stops cleanly.
    for (i, w) in workers.into_iter().enumerate() {
        let log = w.log_text();
        let status = w.proc.terminate();
        assert!(status.success(), "host {i}: {status:?}\n{log}");
    }
    drop((c, pool, server, net));
}
