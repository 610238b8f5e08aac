//! W1 (no-op throughput, fair and FIFO) and W2 (a count under RLS, and
//! without RLS).

use super::*;

impl Bench {
    pub(crate) async fn w1(&mut self) -> anyhow::Result<()> {
        for fair in [true, false] {
            let (url, client) = self.fresh_db("w1").await?;
            let reg = Registry::new().global(Noop);
            reg.register_kinds(&client).await?;
            let t = Instant::now();
            client
                .batch_execute("INSERT INTO orgjobs.jobs (kind) SELECT 'BENCH_NOOP' FROM generate_series(1, 50000); ANALYZE orgjobs.jobs")
                .await?;
            let insert_s = t.elapsed().as_secs_f64();
            let meter = cost::CostMeter::start(&client).await;
            let secs = self.drain(&url, reg, fair).await?;
            let cost = meter.per_job(&client, 50000.0).await;
            self.record(
                json!({"workload": "w1", "fair": fair, "jobs": 50000, "insert_s": insert_s,
                "seconds": secs, "jobs_per_s": 50000.0 / secs, "cost": cost}),
            );
            self.drop_db(&url).await;
        }
        Ok(())
    }

    async fn w2_fixture(
        &self,
        client: &orgjobs_queue::tokio_postgres::Client,
    ) -> anyhow::Result<Vec<Uuid>> {
        // The peers' fixture, with its policy restated in orgjobs' standard
        // form (the same predicate through the inlined orgjobs.current_org()),
        // which the worker's startup check requires, and access for
        // orgjobs_tenant.
        // VACUUM cannot run inside the implicit transaction of a
        // multi-statement string: run it on its own.
        let fixture = include_str!("../../../../../bench/w2_setup.sql")
            .replace("VACUUM ANALYZE tickets;", "");
        client
            .batch_execute(&fixture)
            .await
            .map_err(|e| anyhow::anyhow!("w2 fixture: {}", PgErr(&e)))?;
        client.batch_execute("VACUUM ANALYZE tickets").await?;
        client
            .batch_execute(
                "DROP POLICY tickets_tenant ON tickets;
                 CREATE POLICY tenant_isolation ON tickets FOR ALL
                     USING (organization_id = orgjobs.current_org())
                     WITH CHECK (organization_id = orgjobs.current_org());
                 GRANT SELECT ON tickets TO orgjobs_tenant;",
            )
            .await?;
        if self.citus_workers.is_some() {
            // On Citus: the tickets distributed by organization, and the
            // tenant role allowed to log in on the worker nodes.
            client
                .batch_execute("SELECT create_distributed_table('tickets', 'organization_id')")
                .await
                .map_err(|e| anyhow::anyhow!("distributing tickets: {}", PgErr(&e)))?;
            orgjobs_queue::citus::allow_worker_logins(client, &["orgjobs_tenant"]).await?;
        }
        let rows = client
            .query(
                "SELECT md5('org-' || o)::uuid FROM generate_series(1, 20) o",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub(crate) async fn w2(&mut self) -> anyhow::Result<()> {
        // W2 as specified; with the opt-in modes (asynchronous commit,
        // organization batches, both); the same count without RLS.
        let batches = Some(OrgBatch::default());
        for (name, rls, commit, batch) in [
            ("w2", true, CommitMode::Synchronous, None),
            ("w2_async_commit", true, CommitMode::Asynchronous, None),
            ("w2_org_batch", true, CommitMode::Synchronous, batches),
            (
                "w2_org_batch_async_commit",
                true,
                CommitMode::Asynchronous,
                batches,
            ),
            ("w2_norls", false, CommitMode::Synchronous, None),
        ] {
            let (url, client) = self.fresh_db("w2").await?;
            let orgs = self.w2_fixture(&client).await?;
            let count = Count::default();
            let norls = CountNoRls::default();
            let reg = Registry::new()
                .tenant(count.clone())
                .global(norls.clone())
                .with_commit("BENCH_COUNT", commit)?;
            let reg = match batch {
                Some(b) => reg.with_org_batch("BENCH_COUNT", b)?,
                None => reg,
            };
            reg.register_kinds(&client).await?;
            if rls {
                client
                    .execute(
                        "INSERT INTO orgjobs.jobs (kind, organization_id)
                         SELECT 'BENCH_COUNT', ($1::uuid[])[g % 20 + 1] FROM generate_series(0, 19999) g",
                        &[&orgs],
                    )
                    .await?;
            } else {
                client
                    .execute(
                        "INSERT INTO orgjobs.jobs (kind, payload)
                         SELECT 'BENCH_COUNT_NORLS', jsonb_build_object('org', ($1::uuid[])[g % 20 + 1])
                         FROM generate_series(0, 19999) g",
                        &[&orgs],
                    )
                    .await?;
            }
            client.batch_execute("ANALYZE orgjobs.jobs").await?;
            let meter = cost::CostMeter::start(&client).await;
            let secs = self.drain(&url, reg, true).await?;
            let cost = meter.per_job(&client, 20000.0).await;
            let (ok, bad) = if rls {
                *count.0.lock().map_err(|_| anyhow::anyhow!("lock"))?
            } else {
                *norls.0.lock().map_err(|_| anyhow::anyhow!("lock"))?
            };
            self.record(json!({"workload": name, "jobs": 20000,
                "seconds": secs, "jobs_per_s": 20000.0 / secs, "saw_1000": ok, "saw_other": bad,
                "cost": cost}));
            self.drop_db(&url).await;
        }
        Ok(())
    }
}
