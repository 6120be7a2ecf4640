//! Alerts end to end: findings stored through the run API → `alert::evaluate_run` →
//! outbox → delivery to real peers on loopback (SMTP, Slack and webhook over HTTP).
//! Every test runs on SQLite and PostgreSQL; the clock is passed in, nothing sleeps
//! except the test of the background sender and the daemon crash test (`crash`).

mod crash;
mod peers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Duration, DurationRound, Utc};
use driftwatch::alert::{self, DeliveryStats, Sender, SenderOptions};
use driftwatch::cli::alerts::{self as alerts_cmd, AlertsCmd};
use driftwatch::notify::{AlertStatus, AlertingConfig};
use driftwatch::settings::Config;
use driftwatch::store::{Finding, FindingKind, OutboxFilter, OutboxStatus, Store, Verdict};
use hmac::{Hmac, Mac};
use mail_parser::MessageParser;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::both_backends;
use crate::common::TestDb;
use peers::{HttpPeer, SmtpPeer};

/// A fixed start time a day in the past (so rows enqueued at it are due at wall time).
fn t0() -> DateTime<Utc> {
    (Utc::now() - Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .unwrap()
}

fn finding(metric: &str, drifted: bool) -> Finding {
    Finding {
        id: 0,
        run_id: 0,
        job: "support".into(),
        kind: FindingKind::Structural,
        metric: metric.into(),
        side: if metric.starts_with("input") {
            "input"
        } else {
            "output"
        }
        .into(),
        test: "ks".into(),
        statistic: Some(0.5),
        p_value: Some(1e-6),
        p_adjusted: Some(1e-5),
        effect_size: Some(if drifted { 0.42 } else { 0.01 }),
        threshold: Some(0.1),
        verdict: if drifted {
            Verdict::Drifted
        } else {
            Verdict::Ok
        },
        ref_n: 500,
        cur_n: 500,
        // the shape the job runner writes
        details: serde_json::from_value(
            json!({"reference_rate": 1.0, "production_rate": 0.599, "examples": [
                {"trace_id": 11, "external_id": "e11", "value": 0, "text": "{\"answer\": broken"},
                {"trace_id": 12, "external_id": "e12", "value": 0, "text": "Sorry, I cannot help."}
            ]}),
        )
        .unwrap(),
    }
}

/// Stores a finished run of `support` with these findings and evaluates alerts on it.
async fn run_and_evaluate(
    store: &Store,
    alerting: &AlertingConfig,
    findings: &[Finding],
    now: DateTime<Utc>,
) -> alert::EvalOutcome {
    let run_id = store.start_run("support").await.unwrap();
    store
        .finish_run(run_id, &Default::default(), findings)
        .await
        .unwrap();
    let stored = store.findings(run_id).await.unwrap();
    assert_eq!(stored.len(), findings.len());
    alert::evaluate_run(
        store,
        &alerting.build().unwrap(),
        "support",
        run_id,
        &stored,
        now,
    )
    .await
    .unwrap()
}

/// Moves the test clock `m` minutes on.
fn adv(now: &mut DateTime<Utc>, m: i64) -> DateTime<Utc> {
    *now += Duration::minutes(m);
    *now
}

/// Parses a config file text (so the `[alerts]` section goes through `Config`).
fn config(text: &str, base: &Path) -> AlertingConfig {
    match Config::from_str_with_base(text, base) {
        Ok(c) => c.alerts,
        Err(errs) => panic!(
            "config does not load: {:?}",
            errs.iter().map(ToString::to_string).collect::<Vec<_>>()
        ),
    }
}

async fn cli(
    store: &Store,
    alerting: &AlertingConfig,
    cmd: AlertsCmd,
    now: DateTime<Utc>,
) -> String {
    let mut out = Vec::new();
    let code = alerts_cmd::run_cmd_to(store, alerting, Path::new("."), cmd, now, &mut out)
        .await
        .unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
    String::from_utf8(out).unwrap()
}

async fn cli_json(
    store: &Store,
    alerting: &AlertingConfig,
    cmd: AlertsCmd,
    now: DateTime<Utc>,
) -> Value {
    serde_json::from_str(&cli(store, alerting, cmd, now).await).unwrap()
}

async fn deliver(
    store: &Store,
    alerting: &AlertingConfig,
    base: &Path,
    now: DateTime<Utc>,
) -> DeliveryStats {
    let (receivers, errors) = alert::build_receivers(alerting, base);
    assert!(errors.is_empty(), "{errors:?}");
    alert::deliver_due(store, &receivers, &alerting.retry, now)
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------

async fn drift_fires_and_reaches_email_slack_and_webhook(db: TestDb) {
    let store = db.store().await;
    let smtp = SmtpPeer::start(0).await;
    let http = HttpPeer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hook.key"), "s3cr3t-key\n").unwrap();
    let alerting = config(
        &format!(
            r#"
            [server]
            external_url = "https://dw.example.test/"

            [alerts]
            dashboard_url = "https://grafana.example.test/d/dw?var-driftwatch_job={{job}}"

            [[alerts.rules]]
            name = "OutputDrift"
            metric = "output.*"
            severity = "critical"
            for = 2
            runbook_url = "https://wiki.example.test/runbooks/output-drift"

            [alerts.receivers.ops-mail]
            kind = "email"
            smtp_host = "127.0.0.1"
            smtp_port = {smtp_port}
            tls = "none"
            from = "driftwatch <dw@example.test>"
            to = ["ops <ops@example.test>", "ml@example.test"]

            [alerts.receivers.chat]
            kind = "slack"
            webhook_url = "{slack}"

            [alerts.receivers.hook]
            kind = "webhook"
            url = "{hook}"
            secret_file = "hook.key"
            "#,
            smtp_port = smtp.addr.port(),
            slack = http.url("/slack"),
            hook = http.url("/hook"),
        ),
        dir.path(),
    );
    let t = t0();

    // Run 1 drifted: pending (for = 2), nothing to send.
    let drifted = [
        finding("output.json_valid", true),
        finding("input.chars", true),
    ];
    let o1 = run_and_evaluate(&store, &alerting, &drifted, t).await;
    assert_eq!((o1.pending, o1.firing, o1.enqueued), (1, 0, 0), "{o1:?}");
    assert_eq!(deliver(&store, &alerting, dir.path(), t).await.claimed, 0);

    // Run 2 drifted: firing, one notification per receiver.
    let t2 = t + Duration::hours(1);
    let o2 = run_and_evaluate(&store, &alerting, &drifted, t2).await;
    assert_eq!((o2.pending, o2.firing, o2.enqueued), (0, 1, 3), "{o2:?}");
    let stats = deliver(&store, &alerting, dir.path(), t2).await;
    assert_eq!((stats.claimed, stats.delivered), (3, 3), "{stats:?}");

    // Email: parse it like a mail client would.
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].mail_from, "<dw@example.test>");
    assert_eq!(
        mails[0].rcpt_to,
        ["<ops@example.test>", "<ml@example.test>"]
    );
    let msg = MessageParser::default()
        .parse(mails[0].data.as_bytes())
        .expect("RFC 5322 message");
    // The subject says what broke, with before → after and the severity.
    let subject = "[FIRING:1] driftwatch support (critical): Outputs no longer valid JSON: output JSON validity 100.0% → 59.9%";
    assert_eq!(msg.subject(), Some(subject));
    let to: Vec<&str> = msg
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["ops@example.test", "ml@example.test"]);
    let text = msg.body_text(0).unwrap();
    assert!(text.contains("output.json_valid"), "{text}");
    assert!(text.contains("effect size 0.42"), "{text}");
    assert!(text.contains("severity critical"), "{text}");
    assert!(
        text.contains("Sorry, I cannot help."),
        "examples reach the mail: {text}"
    );
    assert!(
        !text.contains("input.chars"),
        "rule selects output.* only: {text}"
    );
    // Where to look and how to silence, from `[server] external_url`,
    // `[alerts] dashboard_url` and the rule's runbook.
    for want in [
        "Report: https://dw.example.test/runs/",
        "Dashboard: https://grafana.example.test/d/dw?var-driftwatch_job=support",
        "Runbook: https://wiki.example.test/runbooks/output-drift",
        "Silence: driftwatch alerts silence --match incident=outputs --match job=support --for 2h",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }

    // Slack: Block Kit with the same headline, and buttons for the links.
    let slack = http.hits("/slack");
    assert_eq!(slack.len(), 1);
    let sj = slack[0].json();
    assert_eq!(sj["blocks"][0]["text"]["text"], subject);
    let buttons: Vec<String> = sj["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .map(|b| b["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(buttons.len(), 3, "{sj}");
    assert!(
        buttons[0].starts_with("https://dw.example.test/runs/"),
        "{buttons:?}"
    );

    // Webhook: the HMAC verifies with the key from the (relative) secret file.
    let hooks = http.hits("/hook");
    assert_eq!(hooks.len(), 1);
    let sig = hooks[0].headers["x-driftwatch-signature"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cr3t-key").unwrap();
    mac.update(&hooks[0].body);
    mac.verify_slice(&hex::decode(sig.strip_prefix("sha256=").unwrap()).unwrap())
        .expect("signature verifies");
    let body = hooks[0].json();
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["metric"], "output.json_valid");
    assert_eq!(body["alerts"][0]["labels"]["severity"], "critical");
    let rows = store
        .outbox(&OutboxFilter {
            status: Some(OutboxStatus::Delivered),
            limit: None,
        })
        .await
        .unwrap();
    let hook_row = rows.iter().find(|r| r.receiver == "hook").unwrap();
    assert_eq!(
        hooks[0].headers["idempotency-key"],
        hook_row.idempotency_key.as_str()
    );
    assert_eq!(hook_row.reason, "first firing notification");

    // Run 3 still drifted: nothing new to say; nothing is sent again.
    let o3 = run_and_evaluate(&store, &alerting, &drifted, t + Duration::hours(2)).await;
    assert_eq!((o3.firing, o3.enqueued), (1, 0), "{o3:?}");
    assert_eq!(
        deliver(&store, &alerting, dir.path(), t + Duration::hours(2))
            .await
            .claimed,
        0
    );
    assert_eq!(
        (
            smtp.mails().len(),
            http.hits("/slack").len(),
            http.hits("/hook").len()
        ),
        (1, 1, 1)
    );
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.delivered, counts.backlog(), counts.dead), (3, 0, 0));

    // Evaluating a run again writes nothing.
    let run2 = store.list_runs(&Default::default()).await.unwrap()[1].id;
    let stored = store.findings(run2).await.unwrap();
    let again = alert::evaluate_run(
        &store,
        &alerting.build().unwrap(),
        "support",
        run2,
        &stored,
        t2,
    )
    .await
    .unwrap();
    assert!(again.already_evaluated);

    // The CLI sees the same.
    let listed = cli_json(
        &store,
        &alerting,
        AlertsCmd::List {
            state: None,
            json: true,
        },
        t2,
    )
    .await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "firing");
    assert_eq!(listed[0]["labels"]["alertname"], "OutputDrift");
    let fp = listed[0]["fingerprint"].as_str().unwrap().to_owned();
    let shown = cli_json(
        &store,
        &alerting,
        AlertsCmd::Show {
            id: fp[..6].to_owned(),
            json: true,
        },
        t2,
    )
    .await;
    let history: Vec<(&str, &str)> = shown["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].as_str().unwrap(), t["to"].as_str().unwrap()))
        .collect();
    assert_eq!(history, [("pending", "firing"), ("inactive", "pending")]);
    let text = cli(
        &store,
        &alerting,
        AlertsCmd::List {
            state: None,
            json: false,
        },
        t2,
    )
    .await;
    assert!(
        text.contains("firing") && text.contains("output.json_valid (output)"),
        "{text}"
    );
    let outbox = cli_json(
        &store,
        &alerting,
        AlertsCmd::Outbox {
            dead: false,
            json: true,
        },
        t2,
    )
    .await;
    assert_eq!(outbox["counts"]["delivered"], 3);
    assert_eq!(outbox["backlog"], 0);
}
both_backends!(drift_fires_and_reaches_email_slack_and_webhook_sqlite, drift_fires_and_reaches_email_slack_and_webhook_postgres => drift_fires_and_reaches_email_slack_and_webhook);

fn mail_config(smtp: &SmtpPeer, extra: &str) -> AlertingConfig {
    config(
        &format!(
            r#"
            [[alerts.rules]]
            name = "DriftDetected"
            for = 1

            [alerts.receivers.ops-mail]
            kind = "email"
            smtp_host = "127.0.0.1"
            smtp_port = {}
            tls = "none"
            from = "dw@example.test"
            to = ["ops@example.test"]

            {extra}
            "#,
            smtp.addr.port()
        ),
        Path::new("."),
    )
}

async fn smtp_down_then_up_delivers_exactly_once(db: TestDb) {
    let store = db.store().await;
    let smtp = SmtpPeer::start(2).await;
    let alerting = mail_config(
        &smtp,
        "[alerts.retry]\nbase = \"1s\"\nmax = \"2s\"\nmax_attempts = 5",
    );
    let t = t0();
    let o = run_and_evaluate(&store, &alerting, &[finding("output.chars", true)], t).await;
    assert_eq!((o.firing, o.enqueued), (1, 1));

    for (i, expect) in [(0, "retried"), (1, "retried"), (2, "delivered")] {
        let now = t + Duration::seconds(10 * i);
        let s = deliver(&store, &alerting, Path::new("."), now).await;
        assert_eq!(s.claimed, 1, "pass {i}: {s:?}");
        match expect {
            "retried" => {
                assert_eq!(s.retried, 1, "pass {i}: {s:?}");
                let row = &store.outbox(&OutboxFilter::default()).await.unwrap()[0];
                assert_eq!(row.status, OutboxStatus::Pending);
                assert!(row.next_attempt_at <= now + Duration::seconds(2));
                assert!(
                    row.last_error.as_deref().unwrap().contains("421"),
                    "{row:?}"
                );
                assert!(smtp.mails().is_empty());
            }
            _ => assert_eq!(s.delivered, 1, "pass {i}: {s:?}"),
        }
    }
    assert_eq!(smtp.connections(), 3);
    assert_eq!(smtp.mails().len(), 1, "delivered exactly once");

    let row = &store
        .outbox(&OutboxFilter {
            status: Some(OutboxStatus::Delivered),
            limit: None,
        })
        .await
        .unwrap()[0];
    assert_eq!(row.attempts, 3);
    assert_eq!(row.last_error, None);
    let attempts = store.delivery_attempts(row.id).await.unwrap();
    let oks: Vec<bool> = attempts.iter().map(|a| a.ok).collect();
    assert_eq!(oks, [false, false, true]);
    assert!(attempts[0].error.as_deref().unwrap().contains("421"));

    // Acknowledged: never sent again.
    let later = deliver(&store, &alerting, Path::new("."), t + Duration::days(1)).await;
    assert_eq!(later.claimed, 0);
    assert_eq!(smtp.mails().len(), 1);
}
both_backends!(smtp_down_then_up_delivers_exactly_once_sqlite, smtp_down_then_up_delivers_exactly_once_postgres => smtp_down_then_up_delivers_exactly_once);

fn hook_config(http: &HttpPeer, extra: &str) -> AlertingConfig {
    config(
        &format!(
            r#"
            [[alerts.rules]]
            name = "DriftDetected"
            for = 1

            [alerts.receivers.hook]
            kind = "webhook"
            url = "{}"

            {extra}
            "#,
            http.url("/hook")
        ),
        Path::new("."),
    )
}

async fn crashed_sender_is_redelivered_after_its_lease(db: TestDb) {
    let store = db.store().await;
    let http = HttpPeer::start().await;
    let alerting = hook_config(&http, "");
    let t = t0();
    run_and_evaluate(&store, &alerting, &[finding("output.chars", true)], t).await;

    // A sender claims the row and dies before sending (the process was killed).
    let zombie = store
        .claim_due(t, 10, Duration::seconds(60), &["hook".to_owned()])
        .await
        .unwrap();
    assert_eq!(zombie.len(), 1);
    assert_eq!(zombie[0].status, OutboxStatus::Delivering);
    assert_eq!(store.outbox_counts().await.unwrap().delivering, 1);

    // "Restart": a new store handle. While the lease runs nobody else takes the row.
    let restarted = db.store().await;
    let s = deliver(
        &restarted,
        &alerting,
        Path::new("."),
        t + Duration::seconds(30),
    )
    .await;
    assert_eq!(s.claimed, 0);
    assert!(http.hits("/hook").is_empty());

    // After the lease another sender may claim it; the zombie's writes are fenced out.
    let other = store
        .claim_due(
            t + Duration::seconds(61),
            10,
            Duration::seconds(60),
            &["hook".to_owned()],
        )
        .await
        .unwrap();
    assert_eq!(other.len(), 1);
    assert!(!store
        .mark_dead(&zombie[0], "late", t + Duration::seconds(61))
        .await
        .unwrap());
    assert_eq!(
        store.outbox_row(zombie[0].id).await.unwrap().status,
        OutboxStatus::Delivering
    );
    assert!(store.release_claim(&other[0]).await.unwrap());

    // After the lease the row is claimed again and delivered.
    let s = deliver(
        &restarted,
        &alerting,
        Path::new("."),
        t + Duration::seconds(61),
    )
    .await;
    assert_eq!((s.claimed, s.delivered), (1, 1));
    assert_eq!(http.hits("/hook").len(), 1);

    // The zombie comes back and reports failure: fenced out, the row stays delivered.
    let z = &zombie[0];
    assert!(!store
        .mark_retry(z, t + Duration::hours(1), "late", t + Duration::seconds(90))
        .await
        .unwrap());
    assert!(!store
        .mark_dead(z, "late", t + Duration::seconds(90))
        .await
        .unwrap());
    assert!(!store.release_claim(z).await.unwrap());
    let row = store.outbox_row(z.id).await.unwrap();
    assert_eq!(row.status, OutboxStatus::Delivered);
    assert_eq!(row.attempts, 2, "the lost claim counts as an attempt");

    // Nothing is ever sent twice once acknowledged.
    let s = deliver(&restarted, &alerting, Path::new("."), t + Duration::days(2)).await;
    assert_eq!(s.claimed, 0);
    assert_eq!(http.hits("/hook").len(), 1);
}
both_backends!(crashed_sender_is_redelivered_after_its_lease_sqlite, crashed_sender_is_redelivered_after_its_lease_postgres => crashed_sender_is_redelivered_after_its_lease);

async fn concurrent_senders_never_double_send(db: TestDb) {
    let store = db.store().await;
    let http = HttpPeer::start().await;
    // One notification per alert, 24 alerts.
    let alerting = hook_config(
        &http,
        "[[alerts.routes]]\nreceiver = \"hook\"\ngroup_by = [\"...\"]",
    );
    let findings: Vec<Finding> = (0..24)
        .map(|i| finding(&format!("output.m{i:02}"), true))
        .collect();
    let t = t0();
    let o = run_and_evaluate(&store, &alerting, &findings, t).await;
    assert_eq!(o.enqueued, 24);

    // Two replicas, each with its own pool, draining the same outbox at once.
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let replica = db.store().await;
        let (receivers, _) = alert::build_receivers(&alerting, Path::new("."));
        let sender = Sender::new(replica, receivers, alerting.retry).with_options(SenderOptions {
            batch: 3,
            ..SenderOptions::default()
        });
        tasks.push(tokio::spawn(async move {
            let mut delivered = 0;
            loop {
                let s = sender.deliver_due(t).await.unwrap();
                delivered += s.delivered;
                if s.claimed == 0 {
                    return delivered;
                }
            }
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 24);
    let hits = http.hits("/hook");
    let keys: BTreeSet<String> = hits
        .iter()
        .map(|h| h.headers["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (hits.len(), keys.len()),
        (24, 24),
        "each notification sent exactly once"
    );
    assert_eq!(store.outbox_counts().await.unwrap().delivered, 24);
}
both_backends!(concurrent_senders_never_double_send_sqlite, concurrent_senders_never_double_send_postgres => concurrent_senders_never_double_send);

async fn concurrent_claims_never_overlap(db: TestDb) {
    let store = db.store().await;
    let http = HttpPeer::start().await;
    let alerting = hook_config(
        &http,
        "[[alerts.routes]]\nreceiver = \"hook\"\ngroup_by = [\"...\"]",
    );
    let findings: Vec<Finding> = (0..200)
        .map(|i| finding(&format!("output.m{i:03}"), true))
        .collect();
    let t = t0();
    assert_eq!(
        run_and_evaluate(&store, &alerting, &findings, t)
            .await
            .enqueued,
        200
    );

    // Eight claimers racing on the claim statement alone (no sends in between).
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let replica = db.store().await;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let rows = replica
                    .claim_due(t, 5, Duration::minutes(10), &["hook".to_owned()])
                    .await
                    .unwrap();
                if rows.is_empty() {
                    return ids;
                }
                ids.extend(rows.iter().map(|r| r.id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(
        (all.len(), distinct.len()),
        (200, 200),
        "no row claimed twice"
    );
    assert_eq!(store.outbox_counts().await.unwrap().delivering, 200);
}
both_backends!(concurrent_claims_never_overlap_sqlite, concurrent_claims_never_overlap_postgres => concurrent_claims_never_overlap);

async fn background_sender_delivers_and_stops_on_shutdown(db: TestDb) {
    let store = db.store().await;
    let http = HttpPeer::start().await;
    let alerting = hook_config(&http, "");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let handle = alert::spawn_sender(store.clone(), &alerting, Path::new("."), shutdown);
    // Enqueued while the sender runs (at the wall clock, so it is due at once).
    run_and_evaluate(
        &store,
        &alerting,
        &[finding("output.chars", true)],
        Utc::now(),
    )
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while http.hits("/hook").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), handle)
        .await
        .expect("sender stops on shutdown")
        .unwrap();
    assert_eq!(http.hits("/hook").len(), 1);
    assert_eq!(store.outbox_counts().await.unwrap().delivered, 1);
}
both_backends!(background_sender_delivers_and_stops_on_shutdown_sqlite, background_sender_delivers_and_stops_on_shutdown_postgres => background_sender_delivers_and_stops_on_shutdown);

async fn flapping_silences_and_resolution(db: TestDb) {
    let store = db.store().await;
    let http = HttpPeer::start().await;
    let alerting = config(
        &format!(
            r#"
            [[alerts.rules]]
            name = "OutputDrift"
            metric = "output.*"
            for = 2

            [alerts.receivers.hook]
            kind = "webhook"
            url = "{}"
            "#,
            http.url("/hook")
        ),
        Path::new("."),
    );
    let base = Path::new(".");
    let drift = [finding("output.json_valid", true)];
    let calm = [finding("output.json_valid", false)];
    let mut now = t0();

    // Flapping with for = 2 never fires, never notifies.
    for i in 0..6 {
        let f: &[Finding] = if i % 2 == 0 { &drift } else { &calm };
        let o = run_and_evaluate(&store, &alerting, f, adv(&mut now, 10)).await;
        assert_eq!((o.firing, o.enqueued), (0, 0), "run {i}: {o:?}");
    }
    assert_eq!(store.outbox_counts().await.unwrap(), Default::default());
    let states = store.alert_states(Some("support")).await.unwrap();
    assert_eq!(states[0].status, AlertStatus::Inactive);

    // A silence (1h) mutes the alert that fires meanwhile.
    let created = cli_json(
        &store,
        &alerting,
        AlertsCmd::Silence {
            matchers: vec!["job=support".into(), "metric=~output.*".into()],
            duration: "1h".parse().unwrap(),
            comment: "deploy".into(),
            created_by: Some("ops".into()),
            json: true,
        },
        adv(&mut now, 10),
    )
    .await;
    assert_eq!(created["created_by"], "ops");
    run_and_evaluate(&store, &alerting, &drift, adv(&mut now, 10)).await;
    let o = run_and_evaluate(&store, &alerting, &drift, adv(&mut now, 10)).await;
    assert_eq!((o.firing, o.silenced, o.enqueued), (1, 1, 0), "{o:?}");
    assert_eq!(deliver(&store, &alerting, base, now).await.claimed, 0);
    let listed = cli(
        &store,
        &alerting,
        AlertsCmd::List {
            state: None,
            json: false,
        },
        now,
    )
    .await;
    assert!(listed.contains("silenced by"), "{listed}");

    // The silence runs out: the still-firing alert is notified.
    let o = run_and_evaluate(&store, &alerting, &drift, adv(&mut now, 60)).await;
    assert_eq!((o.silenced, o.enqueued), (0, 1), "{o:?}");
    assert_eq!(deliver(&store, &alerting, base, now).await.delivered, 1);
    assert_eq!(http.hits("/hook")[0].json()["status"], "firing");

    // Drift stops: one resolved notification.
    let o = run_and_evaluate(&store, &alerting, &calm, adv(&mut now, 10)).await;
    assert_eq!((o.resolved, o.enqueued), (1, 1), "{o:?}");
    assert_eq!(deliver(&store, &alerting, base, now).await.delivered, 1);
    let hits = http.hits("/hook");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[1].json()["status"], "resolved");
    let o = run_and_evaluate(&store, &alerting, &calm, adv(&mut now, 10)).await;
    assert_eq!(o.enqueued, 0, "resolution is told once");

    // A new episode under a silence that is expired by hand.
    let created = cli_json(
        &store,
        &alerting,
        AlertsCmd::Silence {
            matchers: vec!["alertname=OutputDrift".into()],
            duration: "4h".parse().unwrap(),
            comment: String::new(),
            created_by: None,
            json: true,
        },
        adv(&mut now, 1),
    )
    .await;
    let id: i64 = created["id"].as_str().unwrap().parse().unwrap();
    run_and_evaluate(&store, &alerting, &drift, adv(&mut now, 10)).await;
    let o = run_and_evaluate(&store, &alerting, &drift, adv(&mut now, 10)).await;
    assert_eq!((o.firing, o.silenced, o.enqueued), (1, 1, 0), "{o:?}");
    let active = cli_json(
        &store,
        &alerting,
        AlertsCmd::Silences {
            all: false,
            json: true,
        },
        now,
    )
    .await;
    assert_eq!(active.as_array().unwrap().len(), 1);
    assert_eq!(active[0]["state"], "active");
    cli(
        &store,
        &alerting,
        AlertsCmd::ExpireSilence { id },
        adv(&mut now, 1),
    )
    .await;
    let active = cli_json(
        &store,
        &alerting,
        AlertsCmd::Silences {
            all: false,
            json: true,
        },
        now,
    )
    .await;
    assert!(active.as_array().unwrap().is_empty());
    let all = cli_json(
        &store,
        &alerting,
        AlertsCmd::Silences {
            all: true,
            json: true,
        },
        now,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["expired"], true);
    let o = run_and_evaluate(&store, &alerting, &drift, adv(&mut now, 10)).await;
    assert_eq!((o.silenced, o.enqueued), (0, 1), "{o:?}");
    assert_eq!(deliver(&store, &alerting, base, now).await.delivered, 1);
    assert_eq!(http.hits("/hook").len(), 3);
}
both_backends!(flapping_silences_and_resolution_sqlite, flapping_silences_and_resolution_postgres => flapping_silences_and_resolution);

async fn failing_receivers_end_dead_and_are_counted(db: TestDb) {
    let store = db.store().await;
    let http = HttpPeer::start().await;
    let alerting = config(
        &format!(
            r#"
            [[alerts.rules]]
            name = "DriftDetected"

            [alerts.receivers.hook]
            kind = "webhook"
            url = "{}"

            [alerts.receivers.chat]
            kind = "slack"
            webhook_url = "{}"

            [alerts.retry]
            base = "1s"
            max = "1s"
            max_attempts = 2
            "#,
            http.url("/fail400"),
            http.url("/fail503"),
        ),
        Path::new("."),
    );
    let t = t0();
    let o = run_and_evaluate(&store, &alerting, &[finding("output.chars", true)], t).await;
    assert_eq!(o.enqueued, 2);

    let s = deliver(&store, &alerting, Path::new("."), t).await;
    assert_eq!(
        (s.claimed, s.dead, s.retried),
        (2, 1, 1),
        "400 is permanent: {s:?}"
    );
    let s = deliver(&store, &alerting, Path::new("."), t + Duration::minutes(1)).await;
    assert_eq!((s.claimed, s.dead), (1, 1), "503 twice: gave up: {s:?}");
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.dead, counts.backlog(), counts.delivered), (2, 0, 0));

    let dead = store
        .outbox(&OutboxFilter {
            status: Some(OutboxStatus::Dead),
            limit: None,
        })
        .await
        .unwrap();
    let errors: BTreeMap<&str, &str> = dead
        .iter()
        .map(|r| (r.receiver.as_str(), r.last_error.as_deref().unwrap()))
        .collect();
    assert_eq!(
        errors["hook"],
        "webhook/hook: permanent: HTTP 400: invalid_payload"
    );
    assert_eq!(
        errors["chat"],
        "slack/chat: gave up after 2 attempts: HTTP 503: try later"
    );

    let listing = cli_json(
        &store,
        &alerting,
        AlertsCmd::Outbox {
            dead: true,
            json: true,
        },
        t,
    )
    .await;
    assert_eq!(listing["counts"]["dead"], 2);
    assert_eq!(listing["rows"].as_array().unwrap().len(), 2);
    let text = cli(
        &store,
        &alerting,
        AlertsCmd::Outbox {
            dead: true,
            json: false,
        },
        t,
    )
    .await;
    assert!(
        text.starts_with("backlog 0 (pending 0, delivering 0), dead 2"),
        "{text}"
    );

    // Dead rows are never retried…
    let later = t + Duration::days(1);
    assert_eq!(
        deliver(&store, &alerting, Path::new("."), later)
            .await
            .claimed,
        0
    );
    // …until someone requeues them: one by id, then the rest.
    let chat = dead.iter().find(|r| r.receiver == "chat").unwrap().id;
    let said = cli(
        &store,
        &alerting,
        AlertsCmd::Requeue {
            ids: vec![chat],
            all: false,
        },
        later,
    )
    .await;
    assert_eq!(said.trim(), "requeued 1 dead notification(s)");
    let s = deliver(&store, &alerting, Path::new("."), later).await;
    assert_eq!(
        (s.claimed, s.retried),
        (1, 1),
        "a fresh set of retries: {s:?}"
    );
    let said = cli(
        &store,
        &alerting,
        AlertsCmd::Requeue {
            ids: vec![],
            all: true,
        },
        later,
    )
    .await;
    assert_eq!(
        said.trim(),
        "requeued 1 dead notification(s)",
        "the hook one"
    );
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.dead, counts.backlog()), (0, 2));
}
both_backends!(failing_receivers_end_dead_and_are_counted_sqlite, failing_receivers_end_dead_and_are_counted_postgres => failing_receivers_end_dead_and_are_counted);

#[test]
fn alerts_config_errors_name_their_keys_and_lines() {
    let text = "[[alerts.rules]]\nname = \"X\"\nseverity = \"urgent\"\n";
    let errs = Config::from_str_with_base(text, Path::new(".")).unwrap_err();
    assert_eq!(errs.len(), 1);
    let e = errs[0].to_string();
    assert!(e.starts_with("3:"), "{e}");
    assert!(
        e.contains("alerts.rules[0].severity: unknown variant `urgent`"),
        "{e}"
    );

    let text =
        "[[alerts.rules]]\nname = \"X\"\nfor = 0\n\n[[alerts.routes]]\nreceiver = \"nobody\"\n";
    let errs = Config::from_str_with_base(text, Path::new(".")).unwrap_err();
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "3:1: alerts.rules[0].for: must be at least 1 run, got 0",
            "6:1: alerts.routes[0].receiver: references undefined receiver `nobody`; no receivers are defined (add [alerts.receivers.NAME])",
        ]
    );

    let text = "[alerts.receivers.chat]\nkind = \"slack\"\nwebhook_url = \"https://hooks.slack.com/services/T/B/X\"\n";
    let errs = Config::from_str_with_base(text, Path::new(".")).unwrap_err();
    let e = errs[0].to_string();
    assert!(e.starts_with("1:"), "{e}");
    assert!(
        e.contains("alerts.receivers.chat: a Slack webhook URL is a secret"),
        "{e}"
    );
}

#[test]
fn alerts_section_of_the_example_file_is_documented() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/driftwatch.example.toml"
    ))
    .unwrap();
    let cfg = Config::from_str_with_base(&text, Path::new(".")).unwrap();
    assert!(cfg.alerts.validate().is_ok());
    // Copied as the README says, its rules alert on every kind of drifted
    // finding: none is silenced by a narrow example rule.
    use driftwatch::notify::{Finding as NFinding, FindingKind as NKind, Side};
    for (kind, side, metric) in [
        (NKind::Structural, Side::Output, "output.json_valid"),
        (NKind::Structural, Side::Input, "input.oov_rate"),
        (NKind::Operational, Side::Output, "op.feedback_negative"),
        (NKind::Semantic, Side::Input, "input.gap.3"),
        (NKind::Coverage, Side::Input, "input.coverage"),
    ] {
        let f = NFinding {
            job: "support".into(),
            kind,
            metric: metric.into(),
            side,
            test: "t".into(),
            statistic: 0.5,
            p_value: 1e-6,
            p_adjusted: 1e-5,
            effect_size: 0.5,
            threshold: 0.1,
            drifted: true,
            coverage: None,
            run_id: 1,
            examples: vec![],
            note: None,
            change: None,
        };
        assert!(
            cfg.alerts
                .rules
                .iter()
                .any(|r| r.matches(&f) && r.for_runs == 1),
            "{metric} ({kind:?}) raises no alert on its first drifted run"
        );
    }
    // The commented-out receivers and routes are valid TOML for the section once
    // uncommented (secrets come from the environment, which is not read here).
    let section: String = text
        .lines()
        .skip_while(|l| !l.starts_with("[alerts]"))
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| looks_like_toml(r))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let uncommented = Config::from_str_with_base(&section, Path::new("."));
    let cfg = uncommented.unwrap_or_else(|e| {
        panic!(
            "{:?}\n{section}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    });
    assert!(
        cfg.alerts.receivers.len() >= 3,
        "{:?}",
        cfg.alerts.receivers.keys()
    );
    assert!(!cfg.alerts.routes.is_empty());
}

/// A commented line that is a TOML table header or `key = value`.
fn looks_like_toml(l: &str) -> bool {
    l.starts_with('[')
        || l.split_once(" = ").is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Under the default `[alerts] examples = "redacted"` no raw personal data from
/// an example trace reaches a receiver; `"full"` sends the text as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_texts_reach_receivers_redacted_by_default() {
    let raw = "I am jane.doe@example.com, card 4111 1111 1111 1111, from 203.0.113.7";
    for (policy, expect_raw) in [("", false), ("examples = \"full\"\n", true)] {
        let db = TestDb::sqlite().await;
        let store = db.store().await;
        let dir = tempfile::tempdir().unwrap();
        let alerting = config(
            &format!(
                "[alerts]\n{policy}\n[alerts.receivers.ops]\nkind = \"file\"\ndir = \"mail\"\n"
            ),
            dir.path(),
        );
        let mut f = finding("output.chars", true);
        f.details =
            serde_json::from_value(json!({"examples": [{"trace_id": 11, "text": raw}]})).unwrap();
        run_and_evaluate(&store, &alerting, &[f], t0()).await;
        let stats = deliver(&store, &alerting, dir.path(), Utc::now()).await;
        assert_eq!(stats.delivered, 1, "{stats:?}");
        // A maildir: the message is a file under mail/new.
        let mut delivered = String::new();
        for e in std::fs::read_dir(dir.path().join("mail/new")).unwrap() {
            delivered.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
        for secret in ["jane.doe@example.com", "4111 1111 1111 1111", "203.0.113.7"] {
            assert_eq!(
                delivered.contains(secret),
                expect_raw,
                "policy `{policy}`: {secret}"
            );
        }
        if !expect_raw {
            assert!(
                delivered.contains("I am [email], card [card], from [ip]"),
                "{delivered}"
            );
        }
    }
}
