//! W3: enqueue-to-start latency into an idle worker.

use super::*;

impl Bench {
    pub(crate) async fn w3(&mut self) -> anyhow::Result<()> {
        let (url, client) = self.fresh_db("w3").await?;
        let stamp = Stamp::default();
        let reg = Registry::new().tenant(stamp.clone());
        reg.register_kinds(&client).await?;
        let org = self.seed_orgs(&client, 1).await?[0];
        let producer = url.connect().await?;
        let lat = self
            .with_worker(&url, reg, true, || async {
                for _ in 0..200 {
                    let t0 = Instant::now();
                    let payload = json!({ "t": now() });
                    producer
                        .query_typed(
                            "SELECT orgjobs.add_job('BENCH_STAMP', $1, $2)",
                            &[(&org, Type::UUID), (&payload, Type::JSONB)],
                        )
                        .await?;
                    tokio::time::sleep(Duration::from_millis(20).saturating_sub(t0.elapsed()))
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(())
            })
            .await;
        lat?;
        let v = sorted(
            stamp
                .0
                .lock()
                .map_err(|_| anyhow::anyhow!("lock"))?
                .iter()
                .map(|(_, t, s)| (s - t) * 1000.0)
                .collect(),
        );
        self.record(json!({"workload": "w3", "samples": v.len(), "p50_ms": quantile(&v, 0.5),
            "p95_ms": quantile(&v, 0.95), "p99_ms": quantile(&v, 0.99), "max_ms": quantile(&v, 1.0)}));
        self.drop_db(&url).await;
        Ok(())
    }
}
