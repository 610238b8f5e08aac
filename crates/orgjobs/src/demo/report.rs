//! What the demo prints for each organization: triage of its held-out
//! tickets against their labels, the suggestions and a reply draft for an
//! open ticket, the tickets at risk, and its metrics snapshot checked
//! against its own data.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use orgjobs_helpdesk::Status;
use orgjobs_helpdesk::import::TicketRecord;
use orgjobs_helpdesk::latest_snapshot;
use orgjobs_queue::deadpool_postgres::Pool;
use orgjobs_queue::{SessionConfig, TenantTx};

use super::DemoOrg;

/// Prints one organization's results; returns whether its jobs all
/// succeeded and its snapshot matches its own data.
pub(super) async fn report(
    pool: &Pool,
    roles: &SessionConfig,
    org: &DemoOrg,
    jobs_failed: i64,
) -> anyhow::Result<bool> {
    let conn = pool.get().await.context("getting a connection")?;
    let tx = TenantTx::begin(conn, org.id, roles).await?;
    let data = &org.data;
    println!();
    println!("== {} ({})", data.profile.name, org.id);

    // Triage of the held-out tickets against their true labels.
    let truth: HashMap<String, &TicketRecord> = org
        .tickets
        .iter()
        .filter(|t| data.is_holdout(t))
        .filter_map(|t| t.external_id.clone().map(|e| (e, t)))
        .collect();
    let rows = tx
        .query(
            "SELECT t.external_id, t.subject, a.category, a.confidence, a.model
             FROM public.ticket_ai_triage a
             JOIN public.tickets t ON t.organization_id = a.organization_id AND t.id = a.ticket_id
             WHERE a.organization_id = $1
             ORDER BY t.created_at, t.id",
            &[&tx.org_id()],
        )
        .await?;
    let mut right = 0;
    let mut shown = Vec::new();
    let mut model = String::new();
    for r in &rows {
        let ext: Option<String> = r.get(0);
        let Some(t) = ext.as_ref().and_then(|e| truth.get(e)) else {
            continue;
        };
        let predicted: Option<String> = r.get(2);
        let ok = predicted == t.category;
        right += usize::from(ok);
        model = r.get(4);
        if shown.len() < 3 || (!ok && shown.iter().all(|(o, _)| *o)) {
            let conf: f64 = r.get(3);
            let subject: String = r.get(1);
            shown.push((
                ok,
                format!(
                    "    {} {:<46} → {} ({:.2}){}",
                    if ok { "✓" } else { "✗" },
                    clip(&subject, 46),
                    predicted.as_deref().unwrap_or("-"),
                    conf,
                    if ok {
                        String::new()
                    } else {
                        format!("  true: {}", t.category.as_deref().unwrap_or("-"))
                    }
                ),
            ));
        }
    }
    println!(
        "  triage ({model}): {right}/{} held-out tickets given their true category ({:.0}%)",
        truth.len(),
        100.0 * right as f64 / truth.len().max(1) as f64
    );
    for (_, line) in shown.iter().take(4) {
        println!("{line}");
    }

    // One open ticket: its suggestions and reply draft.
    let featured = tx
        .query_opt(
            "SELECT t.subject, coalesce(t.requester_email, ''), k.content, r.content
             FROM public.tickets t
             JOIN public.ai_suggestions k ON k.organization_id = t.organization_id
                  AND k.ticket_id = t.id AND k.suggestion_type = 'kb'
             JOIN public.ai_suggestions r ON r.organization_id = t.organization_id
                  AND r.ticket_id = t.id AND r.suggestion_type = 'smart_reply'
             WHERE t.organization_id = $1 AND t.status IN ('new', 'open')
             ORDER BY (k.content->'suggestions'->0->>'score')::float8 DESC NULLS LAST, t.id
             LIMIT 1",
            &[&tx.org_id()],
        )
        .await?;
    if let Some(f) = featured {
        let (subject, from, kb, reply): (String, String, serde_json::Value, serde_json::Value) =
            (f.get(0), f.get(1), f.get(2), f.get(3));
        println!("  open ticket \"{}\" from {from}:", clip(&subject, 70));
        for (i, s) in kb["suggestions"]
            .as_array()
            .into_iter()
            .flatten()
            .take(3)
            .enumerate()
        {
            println!(
                "    {}. {} (score {:.2}): {}",
                i + 1,
                s["title"].as_str().unwrap_or_default(),
                s["score"].as_f64().unwrap_or_default(),
                clip(
                    &s["snippet"].as_str().unwrap_or_default().replace('\n', " "),
                    90
                )
            );
        }
        println!(
            "    reply draft ({}):",
            reply["composer"].as_str().unwrap_or_default()
        );
        for line in reply["draft"].as_str().unwrap_or_default().lines() {
            println!("      | {line}");
        }
    }

    // Open tickets at risk.
    let risk = tx
        .query(
            "SELECT p.risk_level, count(*) FROM public.sla_predictions p
             JOIN public.tickets t ON t.organization_id = p.organization_id AND t.id = p.ticket_id
             WHERE p.organization_id = $1 AND t.status IN ('new', 'open', 'pending')
             GROUP BY p.risk_level ORDER BY p.risk_level",
            &[&tx.org_id()],
        )
        .await?;
    let levels: Vec<String> = risk
        .iter()
        .map(|r| format!("{} {}", r.get::<_, i64>(1), r.get::<_, String>(0)))
        .collect();
    println!("  SLA of the open tickets: {}", levels.join(", "));
    let at_risk = tx
        .query(
            "SELECT t.priority, t.subject, p.breach_probability, p.risk_level,
                    extract(epoch FROM p.predicted_resolution_at - now())::float8
             FROM public.sla_predictions p
             JOIN public.tickets t ON t.organization_id = p.organization_id AND t.id = p.ticket_id
             WHERE p.organization_id = $1 AND t.status IN ('new', 'open', 'pending')
               AND p.risk_level <> 'ok'
             ORDER BY p.risk_level = 'breached', p.breach_probability DESC, t.id
             LIMIT 3",
            &[&tx.org_id()],
        )
        .await?;
    for r in &at_risk {
        let (priority, subject, p, level, left): (String, String, f64, String, f64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        println!(
            "    {level:<10} p(breach) {p:.2}  {priority:<6} {:<46} resolution expected {}",
            clip(&subject, 46),
            fmt_in(left)
        );
    }

    // The snapshot, checked against the organization's own data.
    let snap = latest_snapshot(&tx).await?;
    drop(tx.rollback().await?);
    let Some(snap) = snap else {
        println!("  no snapshot was written");
        return Ok(false);
    };
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let by_status = org.count_by(&statuses, |t| t.status.as_deref());
    let agents = data.profile.agents.len();
    let ok = snap.organization_id == org.id
        && snap.tickets_by_status == by_status
        && snap.agent_load.len() == agents
        && jobs_failed == 0;
    println!(
        "  metrics: tickets {}; first response p50/p95 {} / {}; resolution p50/p95 {} / {}; SLA compliance {}",
        fmt_map(&snap.tickets_by_status),
        fmt_secs(snap.frt_p50),
        fmt_secs(snap.frt_p95),
        fmt_secs(snap.mttr_p50),
        fmt_secs(snap.mttr_p95),
        snap.sla_compliance_pct
            .map_or("n/a".to_owned(), |p| format!("{p:.1}%"))
    );
    println!(
        "  agent load (open tickets): {}",
        snap.agent_load
            .values()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if jobs_failed > 0 {
        println!(
            "  {jobs_failed} of its jobs did not complete (see `orgjobs jobs list --org {}`)",
            org.id
        );
    }
    println!("  matches its own data: {}", if ok { "yes" } else { "NO" });
    Ok(ok)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let head: String = s.chars().take(n.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

fn fmt_in(secs: f64) -> String {
    if secs < 0.0 {
        format!("{} ago", fmt_secs(Some(-secs)))
    } else {
        format!("in {}", fmt_secs(Some(secs)))
    }
}

fn fmt_map(m: &BTreeMap<String, i64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn fmt_secs(s: Option<f64>) -> String {
    match s {
        None => "n/a".to_owned(),
        Some(s) if s < 3600.0 => format!("{:.0}m", s / 60.0),
        Some(s) if s < 3.0 * 86400.0 => format!("{:.1}h", s / 3600.0),
        Some(s) => format!("{:.1}d", s / 86400.0),
    }
}
