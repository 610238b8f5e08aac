//! W4: a noisy neighbour, and a skewed mix with Jain's index.

use super::*;

impl Bench {
    pub(crate) async fn w4(&mut self) -> anyhow::Result<()> {
        for fair in [true, false] {
            // Noisy neighbour.
            let (url, client) = self.fresh_db("w4").await?;
            let stamp = Stamp::default();
            let reg = Registry::new().tenant(stamp.clone());
            reg.register_kinds(&client).await?;
            let orgs = self.seed_orgs(&client, 2).await?;
            let (a, b) = (orgs[0], orgs[1]);
            let producer = url.connect().await?;
            let st = stamp.clone();
            let r = self
                .with_worker(&url, reg, fair, || async {
                    let start = Instant::now();
                    let ta = now();
                    producer
                        .execute("INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                                  SELECT 'BENCH_STAMP', $1, jsonb_build_object('t', $2::float8) FROM generate_series(1, 20000)", &[&a, &ta])
                        .await?;
                    let a_insert = start.elapsed().as_secs_f64();
                    let tb = now();
                    producer
                        .execute("INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                                  SELECT 'BENCH_STAMP', $1, jsonb_build_object('t', $2::float8) FROM generate_series(1, 10)", &[&b, &tb])
                        .await?;
                    loop {
                        let n = st.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.len();
                        if n >= 20010 { break; }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok((start.elapsed().as_secs_f64(), a_insert))
                })
                .await?;
            let (backlog_s, a_insert_s) = r;
            let runs = stamp.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
            let b_waits = sorted(
                runs.iter()
                    .filter(|(o, _, _)| *o == b)
                    .map(|(_, t, s)| (s - t) * 1000.0)
                    .collect(),
            );
            let first_b = runs
                .iter()
                .position(|(o, _, _)| *o == b)
                .unwrap_or(runs.len());
            self.record(json!({"workload": "w4", "fair": fair, "b_wait_median_ms": quantile(&b_waits, 0.5),
                "b_wait_max_ms": quantile(&b_waits, 1.0), "a_backlog_s": backlog_s, "a_insert_s": a_insert_s,
                "a_jobs_started_before_first_b": first_b}));
            self.drop_db(&url).await;

            // Skewed mix: one organization 80 % of 20,000 jobs, enqueued
            // first; 49 organizations share the rest.
            let (url, client) = self.fresh_db("w4").await?;
            let stamp = Stamp::default();
            let reg = Registry::new().tenant(stamp.clone());
            reg.register_kinds(&client).await?;
            let orgs = self.seed_orgs(&client, 50).await?;
            let producer = url.connect().await?;
            let st = stamp.clone();
            let (t0, t_all) = self
                .with_worker(&url, reg, fair, || async {
                    let t0 = now();
                    producer
                        .execute("INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                                  SELECT 'BENCH_STAMP', $1, jsonb_build_object('t', $2::float8) FROM generate_series(1, 16000)", &[&orgs[0], &t0])
                        .await?;
                    let small: Vec<Uuid> = orgs[1..].to_vec();
                    producer
                        .execute("INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                                  SELECT 'BENCH_STAMP', ($1::uuid[])[g % 49 + 1], jsonb_build_object('t', $2::float8)
                                  FROM generate_series(0, 3999) g", &[&small, &t0])
                        .await?;
                    // From here every organization has work waiting.
                    let t_all = now();
                    loop {
                        let n = st.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.len();
                        if n >= 20000 { break; }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok((t0, t_all))
                })
                .await?;
            let runs = stamp.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
            let mut per_org: BTreeMap<Uuid, Vec<f64>> = BTreeMap::new();
            let mut finish: BTreeMap<Uuid, f64> = BTreeMap::new();
            for (o, t, s) in &runs {
                per_org.entry(*o).or_default().push((s - t) * 1000.0);
                let f = finish.entry(*o).or_insert(0.0);
                *f = f.max(*s);
            }
            // Jain's fairness index over the organizations' service while
            // all of them had work waiting: the jobs each started from the
            // moment the 49 small organizations' jobs were committed until
            // the first organization ran out. Equal service gives 1.0; one
            // organization served alone gives 1/50. Counting from before
            // the first insert instead (as this benchmark once did) adds
            // the big organization's jobs started while it alone had work,
            // which no scheduler could have given to anyone else; that
            // figure is reported beside it.
            let window_end = finish.values().copied().fold(f64::INFINITY, f64::min);
            let jain_from = |from: f64| {
                jain_index(
                    &orgs
                        .iter()
                        .map(|o| {
                            runs.iter()
                                .filter(|(org, _, s)| org == o && *s >= from && *s <= window_end)
                                .count() as f64
                        })
                        .collect::<Vec<_>>(),
                )
            };
            let jain = jain_from(t_all);
            let jain_from_first_insert = jain_from(f64::NEG_INFINITY);
            let big = sorted(per_org[&orgs[0]].clone());
            let small_p50 = sorted(
                orgs[1..]
                    .iter()
                    .map(|o| quantile(&sorted(per_org[o].clone()), 0.5))
                    .collect(),
            );
            let small_p99 = sorted(
                orgs[1..]
                    .iter()
                    .map(|o| quantile(&sorted(per_org[o].clone()), 0.99))
                    .collect(),
            );
            self.record(
                json!({"workload": "w4_skewed", "fair": fair, "jobs": runs.len(),
                "big_org_p50_ms": quantile(&big, 0.5), "big_org_p99_ms": quantile(&big, 0.99),
                "small_orgs_median_of_p50_ms": quantile(&small_p50, 0.5),
                "small_orgs_worst_p99_ms": quantile(&small_p99, 1.0),
                "jain_index_while_all_backlogged": jain, "window_s": window_end - t_all,
                "jain_index_from_first_insert": jain_from_first_insert,
                "small_orgs_enqueued_after_s": t_all - t0}),
            );
            self.drop_db(&url).await;
        }
        Ok(())
    }
}

/// Jain's fairness index of `x`: (Σx)² / (n Σx²); 1 when all are equal.
pub(crate) fn jain_index(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let sq: f64 = x.iter().map(|r| r * r).sum();
    if sq > 0.0 {
        sum * sum / (x.len() as f64 * sq)
    } else {
        f64::NAN
    }
}

/// W6's organizations: 50 with 5 ms jobs and one with 200 ms jobs.
const W6_FAST_ORGS: usize = 50;

impl Bench {
    /// W6: fairness by worker time. 50 organizations with 5 ms jobs and one
    /// with 200 ms jobs, all backlogged; each organization's share of the
    /// worker's handler time over a window while all have work, and Jain's
    /// index over those shares, for each way of claiming.
    pub(crate) async fn w6(&mut self) -> anyhow::Result<()> {
        let window = (Duration::from_millis(500), Duration::from_millis(4500));
        for (mode, fair, by_time) in [
            ("worker_time", true, true),
            ("job_count", true, false),
            ("strict_order", false, false),
        ] {
            let (url, client) = self.fresh_db("w6").await?;
            let busy = Busy::default();
            let reg = Registry::new().tenant(busy.clone());
            reg.register_kinds(&client).await?;
            let orgs = self.seed_orgs(&client, W6_FAST_ORGS + 1).await?;
            let (fast, slow) = (&orgs[..W6_FAST_ORGS], orgs[W6_FAST_ORGS]);
            // Enough of each that nobody runs out within the window, in a
            // random order (so that strict order is a random mix).
            client
                .execute(
                    "INSERT INTO orgjobs.jobs (kind, organization_id, payload)
                     SELECT 'BENCH_BUSY', org, jsonb_build_object('ms', ms) FROM (
                         SELECT f AS org, 5 AS ms FROM unnest($1::uuid[]) f, generate_series(1, 1200)
                         UNION ALL
                         SELECT $2, 200 FROM generate_series(1, 400)
                     ) j ORDER BY random()",
                    &[&fast, &slow],
                )
                .await?;
            client.batch_execute("ANALYZE orgjobs.jobs").await?;
            let pool = url.pool(20).await?;
            let config = WorkerConfig {
                concurrency: 50,
                batch_size: 50,
                poll_interval: Duration::from_millis(200),
                fair,
                fair_by_time: by_time,
                ..WorkerConfig::default()
            };
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let worker = Worker::new(pool, Arc::new(reg), Metrics::new(), config);
            let t0 = now();
            let handle = tokio::spawn(worker.run(async {
                let _ = stopped.await;
            }));
            tokio::time::sleep(window.1).await;
            let _ = stop.send(());
            handle.await??;
            let runs = busy.0.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
            let (from, to) = (t0 + window.0.as_secs_f64(), t0 + window.1.as_secs_f64());
            let busy_in_window = |org: &Uuid| -> f64 {
                runs.iter()
                    .filter(|(o, _, _)| o == org)
                    .map(|(_, s, e)| (e.min(to) - s.max(from)).max(0.0))
                    .sum()
            };
            let time: Vec<f64> = orgs.iter().map(busy_in_window).collect();
            let total: f64 = time.iter().sum();
            let shares: Vec<f64> = time.iter().map(|t| t / total.max(1e-9)).collect();
            let fast_shares = sorted(shares[..W6_FAST_ORGS].to_vec());
            self.record(json!({"workload": "w6", "mode": mode,
                "jain_index_of_worker_time": jain_index(&shares),
                "slow_org_share": shares[W6_FAST_ORGS],
                "fair_share": 1.0 / (W6_FAST_ORGS + 1) as f64,
                "fast_orgs_share_min": fast_shares[0],
                "fast_orgs_share_median": quantile(&fast_shares, 0.5),
                "busy_s_in_window": total,
                "window_s": (window.1 - window.0).as_secs_f64()}));
            self.drop_db(&url).await;
        }
        Ok(())
    }
}
