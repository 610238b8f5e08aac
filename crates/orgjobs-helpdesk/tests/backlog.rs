//! The backlog `SLA_PREDICT` computes in SQL and the one the evaluation
//! replays in Rust (`backlog_as_of`) are the same definition: open tickets
//! now and the mean number open over the window, on the same tickets.

mod support;

use chrono::{Duration, SubsecRound, Utc};
use orgjobs_helpdesk::sla::{HistTicket, backlog_as_of, backlog_in_db};
use orgjobs_helpdesk::{NewTicket, Priority, Status, insert_agent, insert_ticket};

#[tokio::test]
async fn the_sql_backlog_and_the_replayed_backlog_agree() {
    let env = support::env().await;
    let org = env.org("A").await;
    let now = Utc::now().trunc_subsecs(0);
    let day = Duration::days(1);
    // (status, created days ago, resolved days ago)
    let tickets: [(Status, i64, Option<i64>); 7] = [
        (Status::New, 120, None),           // open since before the window
        (Status::Pending, 10, None),        // open, inside the window
        (Status::Resolved, 5, Some(2)),     // open for three days
        (Status::Resolved, 200, Some(150)), // resolved before the window
        (Status::Closed, 95, Some(80)),     // straddles the window's start
        (Status::Closed, 30, None),         // closed without a time: unknown
        (Status::Open, 1, None),
    ];
    let tx = env.tx(org).await;
    insert_agent(&tx, "Agent", "agent@example.com")
        .await
        .expect("agent");
    let mut history = Vec::new();
    for (i, (status, created, resolved)) in tickets.iter().enumerate() {
        let created_at = now - day * (*created as i32);
        let resolved_at = resolved.map(|r| now - day * (r as i32));
        insert_ticket(
            &tx,
            &NewTicket {
                subject: format!("t{i}"),
                status: Some(*status),
                priority: Some(Priority::Normal),
                created_at: Some(created_at),
                resolved_at,
                ..NewTicket::default()
            },
        )
        .await
        .expect("ticket");
        history.push(HistTicket {
            category: None,
            created_at,
            first_response_at: None,
            resolved_at,
            ended_unknown: resolved_at.is_none() && !status.is_open(),
        });
    }
    let (open_db, mean_db, agents) = backlog_in_db(&tx, now).await.expect("backlog");
    drop(tx.rollback().await.expect("rollback"));
    let (open_rs, mean_rs) = backlog_as_of(&history, now);
    assert_eq!(open_db, open_rs);
    assert_eq!(open_db, 3.0, "new, pending and open");
    assert!(
        (mean_db - mean_rs).abs() < 1e-9,
        "mean open: SQL {mean_db}, Rust {mean_rs}"
    );
    assert!(mean_db > 0.0);
    assert_eq!(agents, 1.0);
}
