//! Rendering a [`Notification`]: email subject and bodies, Slack Block Kit, webhook JSON,
//! Alertmanager v2 alerts.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::LazyLock;

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::context;
use serde_json::{json, Value};

use crate::html::Templates;
use crate::text::ellipsize;

use super::dedup::NotificationStatus;
use super::group::Notification;
use super::rules::fmt_num;
use super::state::{AlertState, AlertStatus};

/// Example traces shown per alert.
pub const MAX_EXAMPLES: usize = 3;
/// Characters kept of one example trace.
pub const MAX_EXAMPLE_CHARS: usize = 280;
/// Alerts shown in one Slack message (Block Kit allows 50 blocks).
pub const MAX_SLACK_ALERTS: usize = 10;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn human_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The shell command that prints the full report of a run.
pub fn report_command(run_id: i64) -> String {
    format!("driftwatch report {run_id}")
}

/// One line (runs of whitespace become one space), at most `max` chars.
fn truncate(s: &str, max: usize) -> String {
    ellipsize(s.split_whitespace().collect::<Vec<_>>().join(" "), max)
}

fn job_of(n: &Notification) -> String {
    if let Some(j) = n.group_labels.get("job") {
        return j.clone();
    }
    let jobs: BTreeSet<&str> = n.alerts.iter().map(|a| a.label("job")).collect();
    match jobs.len() {
        1 => jobs.into_iter().next().unwrap_or_default().to_owned(),
        k => format!("{k} jobs"),
    }
}

fn headline_alerts(n: &Notification) -> Vec<&AlertState> {
    let firing: Vec<&AlertState> = n.firing().collect();
    if firing.is_empty() {
        n.resolved().collect()
    } else {
        firing
    }
}

fn metrics_phrase(alerts: &[&AlertState]) -> String {
    let mut seen = Vec::new();
    for a in alerts {
        let m = a.label("metric");
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.len() {
        0 => "drift".into(),
        1..=3 => seen.join(", "),
        k => format!("{} +{} more", seen[..2].join(", "), k - 2),
    }
}

/// One incident of a notification: its `incident` label, severity, headline
/// and alerts (lead first).
pub struct IncidentView<'a> {
    /// The `incident` label.
    pub incident: String,
    /// `critical` when any of its alerts is.
    pub severity: &'static str,
    /// [`super::incident::headline`] of its alerts.
    pub headline: String,
    /// Its alerts, the lead first.
    pub alerts: Vec<&'a AlertState>,
}

/// The incidents of a notification's headline alerts (firing ones, or the
/// resolved ones when none fires), critical ones first.
pub fn incidents(n: &Notification) -> Vec<IncidentView<'_>> {
    let heads = headline_alerts(n);
    let mut keys: Vec<&str> = heads.iter().map(|a| a.label("incident")).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut out: Vec<IncidentView<'_>> = keys
        .into_iter()
        .map(|k| {
            let mut alerts: Vec<&AlertState> = heads
                .iter()
                .copied()
                .filter(|a| a.label("incident") == k)
                .collect();
            alerts.sort_by(|a, b| super::incident::order(a, b));
            let severity = if alerts.iter().any(|a| a.label("severity") == "critical") {
                "critical"
            } else {
                "warning"
            };
            IncidentView {
                incident: k.to_owned(),
                severity,
                headline: super::incident::headline(&alerts)
                    .unwrap_or_else(|| metrics_phrase(&alerts)),
                alerts,
            }
        })
        .collect();
    out.sort_by_key(|i| i.severity != "critical");
    out
}

/// One line per finding under an incident: `output.json_valid 100.0% → 59.9%
/// (effect 0.401 ≥ floor 0.1, p adjusted 1e-10)`.
fn finding_line(a: &AlertState) -> String {
    match &a.last_match {
        Some(f) => {
            let change = f
                .change
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            format!(
                "{}{change} (effect {} vs floor {}, p adjusted {})",
                a.label("metric"),
                fmt_num(f.effect_size),
                fmt_num(f.threshold),
                fmt_num(f.p_adjusted)
            )
        }
        None => a.label("metric").to_owned(),
    }
}

/// What the subject says after the job: the one incident's headline, or the
/// incidents' headlines counted.
fn subject_what(n: &Notification) -> String {
    let inc = incidents(n);
    match inc.as_slice() {
        [] => metrics_phrase(&headline_alerts(n)),
        [one] => one.headline.clone(),
        [first, rest @ ..] => format!(
            "{} (+{} more incident{})",
            first.headline,
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

/// The links of a notification as (name, URL) pairs, in the order people want
/// them: the report, the review page, the dashboard, then each incident's
/// runbook.
pub fn link_list(n: &Notification) -> Vec<(String, String)> {
    let l = &n.links;
    let mut out: Vec<(String, String)> = [
        ("Report", &l.report),
        ("Review page", &l.review),
        ("Dashboard", &l.dashboard),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
    .collect();
    for inc in incidents(n) {
        if let Some(r) = inc.alerts.first().and_then(|a| a.runbook_url.clone()) {
            if !out.iter().any(|(_, u)| *u == r) {
                out.push(("Runbook".into(), r));
            }
        }
    }
    out
}

/// The report command of a notification (older outbox rows: from its run id).
fn report_cmd(n: &Notification) -> String {
    if n.links.report_command.is_empty() {
        report_command(n.run_id)
    } else {
        n.links.report_command.clone()
    }
}

/// `[FIRING:6] driftwatch support (critical): Outputs no longer valid JSON: output
/// JSON validity 100.0% → 59.9% (+5 related findings)` /
/// `[RESOLVED] driftwatch support: … resolved`.
pub fn subject(n: &Notification) -> String {
    let heads = headline_alerts(n);
    let job = job_of(n);
    let what = subject_what(n);
    let critical = heads.iter().any(|a| a.label("severity") == "critical");
    match n.status {
        NotificationStatus::Firing if critical => {
            format!(
                "[FIRING:{}] driftwatch {job} (critical): {what}",
                heads.len()
            )
        }
        NotificationStatus::Firing => {
            format!("[FIRING:{}] driftwatch {job}: {what}", heads.len())
        }
        NotificationStatus::Resolved => {
            format!("[RESOLVED] driftwatch {job}: {what} — resolved")
        }
    }
}

fn status_tag(a: &AlertState) -> &'static str {
    if a.status == AlertStatus::Firing {
        "FIRING"
    } else {
        "RESOLVED"
    }
}

struct Facts {
    title: String,
    numbers: String,
    since: String,
    examples: Vec<String>,
    run_id: i64,
}

fn facts(a: &AlertState) -> Facts {
    let title = format!(
        "{} — {} ({} side), severity {}",
        a.alertname(),
        a.label("metric"),
        a.label("side"),
        a.label("severity")
    );
    let numbers = match &a.last_match {
        Some(f) => {
            let mut s = format!(
                "effect size {} (threshold {}), p adjusted {}, statistic {} ({})",
                fmt_num(f.effect_size),
                fmt_num(f.threshold),
                fmt_num(f.p_adjusted),
                fmt_num(f.statistic),
                f.test
            );
            if let Some(c) = f.coverage {
                let _ = write!(s, ", coverage {}", fmt_num(c));
            }
            s
        }
        None => "no finding recorded".into(),
    };
    let since = match (a.status, a.fired_at, a.resolved_at) {
        (AlertStatus::Firing, Some(fired), _) => format!(
            "firing since {} (drift first seen {}, {} consecutive run{})",
            human_ts(fired),
            human_ts(a.started_at),
            a.active_runs,
            if a.active_runs == 1 { "" } else { "s" }
        ),
        (AlertStatus::Firing, None, _) => format!("firing since {}", human_ts(a.since)),
        (_, fired, resolved) => format!(
            "resolved {} (was firing since {})",
            human_ts(resolved.unwrap_or(a.since)),
            human_ts(fired.unwrap_or(a.started_at))
        ),
    };
    let examples = a
        .last_match
        .as_ref()
        .map(|f| {
            f.examples
                .iter()
                .take(MAX_EXAMPLES)
                .map(|e| truncate(e, MAX_EXAMPLE_CHARS))
                .collect()
        })
        .unwrap_or_default();
    let run_id = a.last_match.as_ref().map_or(a.last_run_id, |f| f.run_id);
    Facts {
        title,
        numbers,
        since,
        examples,
        run_id,
    }
}

fn intro(n: &Notification) -> String {
    let firing = n.firing().count();
    let resolved = n.resolved().count();
    let mut parts = Vec::new();
    if firing > 0 {
        parts.push(format!("{firing} firing"));
    }
    if resolved > 0 {
        parts.push(format!("{resolved} resolved"));
    }
    format!(
        "driftwatch alert for job {}: {} ({}).",
        job_of(n),
        parts.join(", "),
        n.reason
    )
}

/// Plain-text email body.
pub fn text_body(n: &Notification) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", intro(n));
    for inc in incidents(n) {
        let _ = writeln!(out, "▶ {} [{}]", inc.headline, inc.severity);
        for a in &inc.alerts {
            let _ = writeln!(out, "    - {}", finding_line(a));
        }
        if let Some(f) = inc.alerts.first().and_then(|a| a.last_match.as_ref()) {
            for (i, e) in f.examples.iter().take(MAX_EXAMPLES).enumerate() {
                let _ = writeln!(
                    out,
                    "    {} {}",
                    if i == 0 { "e.g." } else { "    " },
                    truncate(e, MAX_EXAMPLE_CHARS)
                );
            }
        }
        out.push('\n');
    }
    for (name, url) in link_list(n) {
        let _ = writeln!(out, "{name}: {url}");
    }
    let _ = writeln!(out, "CLI:     {}", report_cmd(n));
    if !n.links.silence_command.is_empty() {
        let _ = writeln!(out, "Silence: {}", n.links.silence_command);
    }
    let _ = writeln!(out, "\nEach finding:\n");
    for a in &n.alerts {
        let f = facts(a);
        let _ = writeln!(out, "[{}] {}", status_tag(a), f.title);
        let _ = writeln!(out, "  {}", a.summary);
        let _ = writeln!(out, "  How much: {}", f.numbers);
        let _ = writeln!(out, "  Since:    {}", f.since);
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "  Labels:   {}", labels.join(", "));
        if !f.examples.is_empty() {
            let _ = writeln!(out, "  Example traces:");
            for (i, e) in f.examples.iter().enumerate() {
                let _ = writeln!(out, "    {}. {e}", i + 1);
            }
        }
        let _ = writeln!(out, "  Details:  {}", report_command(f.run_id));
        out.push('\n');
    }
    let _ = writeln!(out, "Full report: {}", report_command(n.run_id));
    let _ = writeln!(out, "-- ");
    let _ = writeln!(
        out,
        "driftwatch · receiver {} · group {} · key {}",
        n.receiver, n.group_key, n.idempotency_key
    );
    out
}

/// The e-mail's HTML template (escapes every value it prints).
static TEMPLATES: LazyLock<Templates> =
    LazyLock::new(|| Templates::new(&[("email.html", include_str!("templates/email.html"))]));

/// HTML email body (inline styles only, no external resources).
pub fn html_body(n: &Notification) -> String {
    let incidents: Vec<_> = incidents(n)
        .into_iter()
        .map(|inc| {
            context! {
                critical => inc.severity == "critical",
                headline => inc.headline,
                lines => inc.alerts.iter().map(|a| finding_line(a)).collect::<Vec<_>>(),
            }
        })
        .collect();
    let alerts: Vec<_> = n
        .alerts
        .iter()
        .map(|a| {
            let f = facts(a);
            context! {
                firing => a.status == AlertStatus::Firing,
                tag => status_tag(a),
                title => f.title,
                summary => &a.summary,
                numbers => f.numbers,
                since => f.since,
                labels => a.labels.iter().collect::<Vec<_>>(),
                examples => f.examples,
                details => report_command(f.run_id),
            }
        })
        .collect();
    TEMPLATES.render(
        "email.html",
        context! {
            subject => subject(n),
            intro => intro(n),
            incidents,
            links => link_list(n),
            silence => &n.links.silence_command,
            alerts,
            report => report_command(n.run_id),
            receiver => &n.receiver,
            group_key => &n.group_key,
            key => &n.idempotency_key,
        },
    )
}

/// Escapes `&`, `<`, `>` for Slack mrkdwn / plain text.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack incoming-webhook payload (Block Kit, with `text` as the notification fallback).
pub fn slack_payload(n: &Notification) -> Value {
    let subj = subject(n);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&subj, 150), "emoji": true}
    })];
    for inc in incidents(n) {
        let mut text = format!("*{}* ({})", slack_escape(&inc.headline), inc.severity);
        for a in &inc.alerts {
            let _ = write!(text, "\n• {}", slack_escape(&finding_line(a)));
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate_keep_lines(&text, 3000)}
        }));
    }
    for a in n.alerts.iter().take(MAX_SLACK_ALERTS) {
        let f = facts(a);
        let icon = if a.status == AlertStatus::Firing {
            ":red_circle:"
        } else {
            ":large_green_circle:"
        };
        let mut text = format!(
            "{icon} *[{}] {}*\n{}\n*How much:* {}\n*Since:* {}",
            status_tag(a),
            slack_escape(&f.title),
            slack_escape(&a.summary),
            slack_escape(&f.numbers),
            slack_escape(&f.since)
        );
        for (i, ex) in f.examples.iter().enumerate() {
            let _ = write!(
                text,
                "\n>{}. `{}`",
                i + 1,
                slack_escape(&ex.replace('`', "'"))
            );
        }
        let _ = write!(text, "\n*Details:* `{}`", report_command(f.run_id));
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate_keep_lines(&text, 3000)}
        }));
    }
    if n.alerts.len() > MAX_SLACK_ALERTS {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("…and {} more", n.alerts.len() - MAX_SLACK_ALERTS)}
        }));
    }
    // Buttons for the links (Block Kit allows 25 elements in an actions block).
    let buttons: Vec<Value> = link_list(n)
        .into_iter()
        .take(5)
        .enumerate()
        .map(|(i, (name, url))| {
            let mut b = json!({
                "type": "button",
                "text": {"type": "plain_text", "text": name},
                "url": url,
                "action_id": format!("link-{i}"),
            });
            if i == 0 {
                b["style"] = json!("primary");
            }
            b
        })
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    let mut context = format!("Report: `{}`", report_cmd(n));
    if !n.links.silence_command.is_empty() {
        let _ = write!(
            context,
            " · Silence: `{}`",
            slack_escape(&n.links.silence_command.replace('`', "'"))
        );
    }
    let _ = write!(
        context,
        " · {} · key `{}`",
        slack_escape(&n.reason.to_string()),
        n.idempotency_key
    );
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": context}]
    }));
    json!({ "text": subj, "blocks": blocks })
}

fn truncate_keep_lines(s: &str, max: usize) -> String {
    ellipsize(s.to_owned(), max)
}

fn alert_json(a: &AlertState) -> Value {
    let finding = a.last_match.as_ref().map(|f| {
        json!({
            "kind": f.kind,
            "test": f.test,
            "statistic": f.statistic,
            "pValue": f.p_value,
            "pAdjusted": f.p_adjusted,
            "effectSize": f.effect_size,
            "threshold": f.threshold,
            "drifted": f.drifted,
            "coverage": f.coverage,
            "runId": f.run_id,
            "examples": f.examples.iter().take(MAX_EXAMPLES).collect::<Vec<_>>(),
        })
    });
    json!({
        "status": if a.status == AlertStatus::Firing { "firing" } else { "resolved" },
        "fingerprint": a.fingerprint,
        "labels": a.labels,
        "annotations": { "summary": a.summary },
        "startsAt": ts(a.fired_at.unwrap_or(a.started_at)),
        "endsAt": a.resolved_at.filter(|_| a.status != AlertStatus::Firing).map(ts),
        "driftStartedAt": ts(a.started_at),
        "activeRuns": a.active_runs,
        "value": a.value,
        "finding": finding,
    })
}

/// Generic webhook body (Alertmanager-webhook-like, `version = "1"`).
pub fn webhook_payload(n: &Notification) -> Value {
    json!({
        "version": "1",
        "source": "driftwatch",
        "receiver": n.receiver,
        "status": n.status,
        "reason": n.reason.to_string(),
        "groupKey": n.group_key,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "idempotencyKey": n.idempotency_key,
        "createdAt": ts(n.created_at),
        "runId": n.run_id,
        "reportCommand": report_cmd(n),
        "links": n.links,
        "title": subject(n),
        "alerts": n.alerts.iter().map(alert_json).collect::<Vec<_>>(),
    })
}

/// Alertmanager `POST /api/v2/alerts` body. Firing alerts get `endsAt = created_at +
/// firing_ttl` (Alertmanager resolves them by itself unless re-pushed in time); resolved
/// ones their resolution time. `generator_url` may use `{run_id}` and `{job}`.
pub fn alertmanager_payload(
    n: &Notification,
    firing_ttl: chrono::Duration,
    generator_url: Option<&str>,
) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let run_id = a.last_match.as_ref().map_or(a.last_run_id, |f| f.run_id);
            let ends = if a.status == AlertStatus::Firing {
                n.created_at + firing_ttl
            } else {
                a.resolved_at.unwrap_or(a.since)
            };
            let mut annotations = serde_json::Map::new();
            annotations.insert("summary".into(), json!(a.summary));
            annotations.insert("description".into(), json!(facts(a).numbers));
            annotations.insert("report".into(), json!(report_command(run_id)));
            annotations.insert("incident".into(), json!(a.label("incident")));
            for (key, v) in [
                ("report_url", &n.links.report),
                ("review_url", &n.links.review),
                ("dashboard_url", &n.links.dashboard),
                ("runbook_url", &a.runbook_url),
            ] {
                if let Some(v) = v {
                    annotations.insert(key.into(), json!(v));
                }
            }
            if !n.links.silence_command.is_empty() {
                annotations.insert("silence_command".into(), json!(n.links.silence_command));
            }
            let mut v = json!({
                "labels": a.labels,
                "annotations": annotations,
                "startsAt": ts(a.fired_at.unwrap_or(a.started_at)),
                "endsAt": ts(ends),
            });
            if let Some(tpl) = generator_url {
                let url = super::template::render(tpl, |k| match k {
                    "run_id" => Some(run_id.to_string()),
                    "job" => Some(a.label("job").to_owned()),
                    _ => None,
                });
                v["generatorURL"] = json!(url);
            } else if let Some(report) = &n.links.report {
                v["generatorURL"] = json!(report);
            }
            v
        })
        .collect();
    Value::Array(alerts)
}

#[cfg(test)]
mod tests {
    use super::super::dedup::NotifyReason;
    use super::super::group::group_alerts;
    use super::super::tests::fixtures::{alert, t, two_firing};
    use super::*;

    #[test]
    fn subjects() {
        let n = two_firing();
        assert_eq!(subject(&n), "[FIRING:2] driftwatch support (critical): Outputs no longer valid JSON: output JSON validity 100.0% → 59.9%");
        let r = alert("support", "output.length", AlertStatus::Resolved);
        let g = &group_alerts("ops", &["job".into()], &[r])[0];
        let n = Notification::new(g, g.alerts.clone(), NotifyReason::Resolved, 43, t(0));
        assert_eq!(
            subject(&n),
            "[RESOLVED] driftwatch support: Outputs changed: output.length 100.0% → 59.9% — resolved"
        );
        let many: Vec<AlertState> = ["a", "b", "c", "d"]
            .iter()
            .map(|m| alert("support", m, AlertStatus::Firing))
            .collect();
        let g = &group_alerts("ops", &["job".into()], &many)[0];
        let n = Notification::new(g, g.alerts.clone(), NotifyReason::FirstFiring, 43, t(0));
        let s = subject(&n);
        assert!(
            s.starts_with("[FIRING:4] driftwatch support: Outputs changed: ")
                && s.ends_with(" 100.0% → 59.9% (+3 related findings)"),
            "{s}"
        );
        // Two causes in one notification (a route grouping by job only): the
        // critical one leads, the other is counted.
        let mut gap = alert("support", "input.gap.3", AlertStatus::Firing);
        gap.labels.insert("incident".into(), "topic.3".into());
        gap.fingerprint = super::super::fingerprint(&gap.labels);
        let mut both = two_firing().alerts;
        both.push(gap);
        let g = &group_alerts("ops", &["job".into()], &both)[0];
        let n = Notification::new(g, g.alerts.clone(), NotifyReason::FirstFiring, 43, t(0));
        assert_eq!(
            subject(&n),
            "[FIRING:3] driftwatch support (critical): Outputs no longer valid JSON: output JSON validity 100.0% → 59.9% (+1 more incident)"
        );
        let inc = incidents(&n);
        assert_eq!(inc.len(), 2);
        assert_eq!(
            (inc[1].incident.as_str(), inc[1].severity),
            ("topic.3", "warning")
        );
    }

    #[test]
    fn links_reach_every_channel() {
        let mut n = two_firing();
        let by: std::collections::BTreeMap<String, String> =
            [("job".to_owned(), "support".to_owned())]
                .into_iter()
                .collect();
        let base = super::super::LinkBase {
            external_url: Some("https://dw.example.com"),
            dashboard_url: Some("https://grafana.example.com/d/dw?var-driftwatch_job={job}"),
        };
        n.links = super::super::Links::build(base, 42, "support", &by, false);
        n.alerts[0].runbook_url = Some("https://wiki.example.com/json-broken".into());
        let text = text_body(&n);
        for want in [
            "Report: https://dw.example.com/runs/42",
            "Dashboard: https://grafana.example.com/d/dw?var-driftwatch_job=support",
            "Runbook: https://wiki.example.com/json-broken",
            "Silence: driftwatch alerts silence --match job=support --for 2h",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        // minijinja's escaper writes `/` as `&#x2f;`, which a mail reader
        // decodes back in the attribute.
        assert!(html_body(&n)
            .contains("<a href=\"https:&#x2f;&#x2f;dw.example.com&#x2f;runs&#x2f;42\">Report</a>"));
        let slack = slack_payload(&n);
        let actions = slack["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .expect("buttons");
        let urls: Vec<&str> = actions["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["url"].as_str().unwrap())
            .collect();
        assert_eq!(
            urls,
            [
                "https://dw.example.com/runs/42",
                "https://grafana.example.com/d/dw?var-driftwatch_job=support",
                "https://wiki.example.com/json-broken"
            ]
        );
        let am = alertmanager_payload(&n, chrono::Duration::hours(1), None);
        assert_eq!(am[0]["generatorURL"], "https://dw.example.com/runs/42");
        assert_eq!(
            am[0]["annotations"]["dashboard_url"],
            "https://grafana.example.com/d/dw?var-driftwatch_job=support"
        );
        assert_eq!(am[0]["annotations"]["incident"], "outputs");
        assert_eq!(
            webhook_payload(&n)["links"]["report"],
            "https://dw.example.com/runs/42"
        );
        // Without an external URL: no buttons, the commands instead.
        let plain = two_firing();
        assert!(!slack_payload(&plain)["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"));
        assert!(text_body(&plain).contains("CLI:     driftwatch report 42"));
    }

    #[test]
    fn text_and_html_bodies() {
        let n = two_firing();
        let text = text_body(&n);
        // The first line after the intro says what broke.
        assert_eq!(
            text.lines().nth(2),
            Some("▶ Outputs no longer valid JSON: output JSON validity 100.0% → 59.9% [critical]"),
            "{text}"
        );
        assert!(text.contains("effect size 0.35"), "{text}");
        assert!(text.contains("p adjusted 0.002"), "{text}");
        assert!(text.contains("firing since 1970-01-01 00:00 UTC"), "{text}");
        assert!(text.contains("driftwatch report 42"), "{text}");
        assert!(text.contains("1. {\"answer\": <b>broken"), "{text}");
        let html = html_body(&n);
        assert!(html.contains("&lt;b&gt;broken"), "escaped: {html}");
        assert!(!html.contains("<b>broken"));
        assert!(html.contains("<code>driftwatch report 42</code>"));
    }

    #[test]
    fn slack_webhook_and_alertmanager_shapes() {
        let n = two_firing();
        let s = slack_payload(&n);
        assert_eq!(s["blocks"][0]["type"], "header");
        // Header, the incident, its two findings, the footer.
        assert_eq!(s["blocks"].as_array().unwrap().len(), 5);
        assert!(s["text"].as_str().unwrap().starts_with("[FIRING:2]"));
        assert!(s["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("*Outputs no longer valid JSON"));
        assert!(s["blocks"][2]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("&lt;b&gt;"));

        let w = webhook_payload(&n);
        assert_eq!(w["status"], "firing");
        assert_eq!(w["alerts"].as_array().unwrap().len(), 2);
        assert_eq!(w["alerts"][0]["finding"]["effectSize"], 0.35);
        assert_eq!(w["idempotencyKey"], n.idempotency_key.as_str());
        assert_eq!(w["alerts"][0]["endsAt"], Value::Null);

        let am = alertmanager_payload(
            &n,
            chrono::Duration::hours(24),
            Some("http://x/runs/{run_id}"),
        );
        let first = &am[0];
        for k in [
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
        ] {
            assert!(first.get(k).is_some(), "{k} missing in {first}");
        }
        assert_eq!(first["endsAt"], "1970-01-02T00:00:00Z");
        assert_eq!(first["generatorURL"], "http://x/runs/7");
        assert!(
            alertmanager_payload(&n, chrono::Duration::hours(1), None)[0]
                .get("generatorURL")
                .is_none()
        );
    }
}
