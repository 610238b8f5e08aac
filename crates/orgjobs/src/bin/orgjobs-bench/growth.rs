//! W5: claim time as the backlog grows.

use super::*;

impl Bench {
    pub(crate) async fn w5(&mut self) -> anyhow::Result<()> {
        let sizes = self.args.w5_sizes.clone();
        for n in sizes {
            let (url, client) = self.fresh_db("w5").await?;
            let reg = Registry::new().global(Noop).tenant(Stamp::default());
            reg.register_kinds(&client).await?;
            let orgs: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
            client
                .execute(
                    "INSERT INTO orgjobs.jobs (kind, organization_id)
                     SELECT 'BENCH_STAMP', ($1::uuid[])[g % 100 + 1] FROM generate_series(0, $2::int - 1) g",
                    &[&orgs, &(n as i32)],
                )
                .await?;
            client.batch_execute("VACUUM ANALYZE orgjobs.jobs").await?;
            for fair in [true, false] {
                let mut times = Vec::new();
                for i in 0..40 {
                    client.batch_execute("BEGIN").await?;
                    let t = Instant::now();
                    let rows = if fair {
                        client
                            .query_typed(
                                orgjobs_queue::CLAIM_FAIR_SQL,
                                &[
                                    (&(self.args.batch as i64), Type::INT8),
                                    (&"bench", Type::TEXT),
                                    (&30.0f64, Type::FLOAT8),
                                    (&Uuid::nil(), Type::UUID),
                                    (&None::<i32>, Type::INT4),
                                    (&None::<chrono::DateTime<chrono::Utc>>, Type::TIMESTAMPTZ),
                                    (&orgjobs_queue::CLAIM_LOCK_CLASS, Type::INT4),
                                    (&Vec::<Uuid>::new(), Type::UUID_ARRAY),
                                ],
                            )
                            .await?
                    } else {
                        client
                            .query_typed(
                                orgjobs_queue::CLAIM_SQL,
                                &[
                                    (&(self.args.batch as i64), Type::INT8),
                                    (&"bench", Type::TEXT),
                                    (&30.0f64, Type::FLOAT8),
                                    (&None::<chrono::DateTime<chrono::Utc>>, Type::TIMESTAMPTZ),
                                ],
                            )
                            .await?
                    };
                    let el = t.elapsed().as_secs_f64() * 1000.0;
                    client.batch_execute("ROLLBACK").await?;
                    anyhow::ensure!(
                        rows.len() == self.args.batch,
                        "claimed {} of {}",
                        rows.len(),
                        self.args.batch
                    );
                    if i >= 5 {
                        times.push(el);
                    }
                }
                let t = sorted(times);
                self.record(
                    json!({"workload": "w5", "fair": fair, "waiting": n, "batch": self.args.batch,
                    "claim_p50_ms": quantile(&t, 0.5), "claim_p95_ms": quantile(&t, 0.95)}),
                );
            }
            self.drop_db(&url).await;
        }
        Ok(())
    }
}
