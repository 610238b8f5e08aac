//! METRICS_SNAPSHOT computes exact figures from one organization's data.

use chrono::{Duration, Utc};
use orgjobs_helpdesk::{
    MetricsSnapshot, NewTicket, Priority, SnapshotPayload, Status, create_organization,
    insert_agent, insert_ticket, latest_snapshot,
};
use orgjobs_queue::{SessionConfig, TenantHandler, TenantTx};
use orgjobs_testdb::TestDb;
use uuid::Uuid;

#[tokio::test]
async fn snapshot_figures_are_exact_and_scoped_to_the_organization() {
    let db = TestDb::new(&orgjobs_helpdesk::migrations()).await;
    let pool = db.url().pool(2).await.expect("pool");
    let roles = SessionConfig::default();
    let now = Utc::now();

    // Another organization with lots of urgent tickets that must not count.
    let other = Uuid::new_v4();
    let tx = TenantTx::begin(pool.get().await.expect("conn"), other, &roles)
        .await
        .expect("begin");
    create_organization(&tx, "Other").await.expect("org");
    for i in 0..7 {
        insert_ticket(
            &tx,
            &NewTicket {
                subject: format!("o{i}"),
                priority: Some(Priority::Urgent),
                ..Default::default()
            },
        )
        .await
        .expect("ticket");
    }
    drop(tx.commit().await.expect("commit"));

    let org = Uuid::new_v4();
    let mut tx = TenantTx::begin(pool.get().await.expect("conn"), org, &roles)
        .await
        .expect("begin");
    create_organization(&tx, "Mine").await.expect("org");
    let alice = insert_agent(&tx, "Alice", "alice@example.com")
        .await
        .expect("agent");
    let bob = insert_agent(&tx, "Bob", "bob@example.com")
        .await
        .expect("agent");
    // The organization's own policy for low priority: a first response
    // within 30 minutes (the others use the defaults).
    tx.execute(
        "INSERT INTO public.sla_policies (organization_id, priority, first_response_minutes, resolution_minutes)
         VALUES ($1, 'low', 30, 600)",
        &[&org],
    )
    .await
    .expect("policy");
    // First responses after 10, 20, 30 and 40 minutes; two resolved after
    // 1 h and 3 h; one new ticket with no response whose 1 h urgent target
    // has passed (a breach).
    let created = now - Duration::hours(10);
    // (status, priority, minutes to first response, minutes to resolution, agent)
    type Spec = (Status, Priority, Option<i64>, Option<i64>, Option<Uuid>);
    let specs: [Spec; 5] = [
        (Status::Open, Priority::Normal, Some(10), None, Some(alice)),
        (Status::Pending, Priority::High, Some(20), None, Some(alice)),
        (
            Status::Resolved,
            Priority::Normal,
            Some(30),
            Some(60),
            Some(bob),
        ),
        (Status::Closed, Priority::Low, Some(40), Some(180), None),
        (Status::New, Priority::Urgent, None, None, Some(bob)),
    ];
    for (i, (status, priority, frt, ttr, agent)) in specs.iter().enumerate() {
        insert_ticket(
            &tx,
            &NewTicket {
                subject: format!("m{i}"),
                status: Some(*status),
                priority: Some(*priority),
                assigned_to: *agent,
                created_at: Some(created),
                first_response_at: frt.map(|m| created + Duration::minutes(m)),
                resolved_at: ttr.map(|m| created + Duration::minutes(m)),
                ..Default::default()
            },
        )
        .await
        .expect("ticket");
    }
    MetricsSnapshot
        .run(&mut tx, SnapshotPayload {})
        .await
        .expect("snapshot");
    let snap = latest_snapshot(&tx)
        .await
        .expect("read")
        .expect("a snapshot");
    drop(tx.commit().await.expect("commit"));

    assert_eq!(snap.organization_id, org);
    let by_status: Vec<(String, i64)> = snap.tickets_by_status.into_iter().collect();
    assert_eq!(
        by_status,
        [
            ("closed", 1),
            ("new", 1),
            ("open", 1),
            ("pending", 1),
            ("resolved", 1)
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .to_vec()
    );
    assert_eq!(
        snap.tickets_by_priority["urgent"], 1,
        "the other organization's urgent tickets do not count"
    );
    assert_eq!(snap.tickets_by_priority["normal"], 2);
    // percentile_cont over 600, 1200, 1800, 2400 s.
    assert_eq!(snap.frt_p50, Some(1500.0));
    assert!((snap.frt_p95.expect("p95") - 2310.0).abs() < 1e-6);
    // over 3600 and 10800 s.
    assert_eq!(snap.mttr_p50, Some(7200.0));
    assert!((snap.mttr_p95.expect("p95") - 10440.0).abs() < 1e-6);
    // Decided: the two resolved tickets and the urgent one past its 1 h
    // target. Of these only the normal one met its targets: the low one's
    // first response (40 min) missed its policy's 30 min.
    let pct = snap.sla_compliance_pct.expect("compliance");
    assert!((pct - 100.0 / 3.0).abs() < 1e-9, "{pct}");
    // Open (new/open/pending) tickets per agent: Alice 2, Bob 1 (new).
    assert_eq!(snap.agent_load[&alice.to_string()], 2);
    assert_eq!(snap.agent_load[&bob.to_string()], 1);
}
