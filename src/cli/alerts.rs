//! `driftwatch alerts …`: list and show alerts, manage silences, inspect and run the
//! outbox, send a test notification. The edge of the program, so `anyhow` is used.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alert::{build_receivers, deliver_due, resolve_receiver_paths};
use crate::notify::{
    self, is_silenced, parse_matchers, AlertState, AlertStatus, AlertingConfig, ConfigDuration,
    Notification, Silence,
};
use crate::store::{
    AlertTransition, NewSilence, OutboxCounts, OutboxFilter, OutboxRow, OutboxStatus, SilenceRow,
    Store, StoreError,
};

/// Exit code of a command that ran but failed (a test notification not delivered).
const FAILURE: u8 = 1;

/// Which alerts `alerts list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateArg {
    Firing,
    Pending,
    Resolved,
    Inactive,
    /// Every alert, inactive ones included.
    All,
}

/// `driftwatch alerts …`.
#[derive(Debug, clap::Subcommand)]
pub enum AlertsCmd {
    /// List alerts (default: every state except inactive).
    List {
        /// Only alerts in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one alert: labels, last finding, silences and status history.
    Show {
        /// Alert fingerprint, or a unique prefix of it.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Silence alerts matching every --match for a while.
    Silence {
        /// Label matcher: name=value, name!=value, name=~regex or name!~regex (repeatable),
        /// e.g. --match job=support --match 'metric=~output.*'.
        #[arg(long = "match", value_name = "MATCHER", required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 30m, 2h, 1d.
        #[arg(long = "for", value_name = "DURATION", default_value = "2h")]
        duration: ConfigDuration,
        /// Why (shown with the silence).
        #[arg(long, default_value = "")]
        comment: String,
        /// Who (default: $USER).
        #[arg(long)]
        created_by: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List silences that are pending or active.
    Silences {
        /// Include expired silences.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    ExpireSilence {
        /// Silence id (from `alerts silences`).
        id: i64,
    },
    /// List notifications not yet delivered (pending, being delivered, dead).
    Outbox {
        /// Only notifications given up on.
        #[arg(long)]
        dead: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put dead notifications back in the queue (after fixing the receiver): the
    /// given ids, or every dead one with --all. They are delivered by the daemon's
    /// sender or `alerts deliver`, with a fresh set of retries.
    #[command(group(clap::ArgGroup::new("which").args(["ids", "all"]).required(true)))]
    Requeue {
        /// Outbox ids (from `alerts outbox --dead`).
        ids: Vec<i64>,
        /// Every dead notification.
        #[arg(long)]
        all: bool,
    },
    /// Send a test notification to a receiver now (not through the outbox).
    Test {
        /// Receiver name (a key of [alerts.receivers]).
        receiver: String,
    },
    /// Deliver due notifications once and exit (for cron, or without `serve`).
    Deliver {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `alerts` subcommand, printing to stdout. `base_dir` is the config file's
/// directory (relative receiver paths are resolved against it).
pub async fn run_cmd(
    store: &Store,
    alerting: &AlertingConfig,
    base_dir: &Path,
    cmd: AlertsCmd,
) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    let code = run_cmd_to(store, alerting, base_dir, cmd, Utc::now(), &mut out).await;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    code
}

/// [`run_cmd`] at the clock `now`, writing the output to `out`.
pub async fn run_cmd_to(
    store: &Store,
    alerting: &AlertingConfig,
    base_dir: &Path,
    cmd: AlertsCmd,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> anyhow::Result<ExitCode> {
    match cmd {
        AlertsCmd::List { state, json } => list(store, state, json, now, out).await,
        AlertsCmd::Show { id, json } => show(store, &id, json, now, out).await,
        AlertsCmd::Silence {
            matchers,
            duration,
            comment,
            created_by,
            json,
        } => {
            let created_by = created_by
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "unknown".into());
            silence(
                store, &matchers, duration, comment, created_by, json, now, out,
            )
            .await
        }
        AlertsCmd::Silences { all, json } => silences(store, all, json, now, out).await,
        AlertsCmd::ExpireSilence { id } => {
            match store.expire_silence(id, now).await {
                Err(StoreError::NotFound(_)) => {
                    bail!("no silence with id {id}\nlist them with `driftwatch alerts silences --all`")
                }
                r => r.with_context(|| format!("failed to expire silence {id}"))?,
            }
            writeln!(out, "silence {id} expired")?;
            Ok(ExitCode::SUCCESS)
        }
        AlertsCmd::Outbox { dead, json } => outbox(store, dead, json, out).await,
        AlertsCmd::Requeue { ids, all: _ } => {
            let n = store
                .requeue_dead(&ids, now)
                .await
                .context("failed to requeue the dead notifications")?;
            writeln!(out, "requeued {n} dead notification(s)")?;
            Ok(ExitCode::SUCCESS)
        }
        AlertsCmd::Test { receiver } => test(alerting, base_dir, &receiver, now, out).await,
        AlertsCmd::Deliver { json } => deliver(store, alerting, base_dir, json, now, out).await,
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn json_to(out: &mut Vec<u8>, v: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Prints rows as left-aligned columns (the last column is not padded).
fn table(out: &mut Vec<u8>, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == n {
                    c
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(
        out,
        "{}",
        line(header.iter().map(|h| h.to_string()).collect())
    )?;
    for r in rows {
        writeln!(out, "{}", line(r.clone()))?;
    }
    Ok(())
}

fn value_str(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), notify::fmt_num)
}

/// An alert with the silence muting it, as listed.
#[derive(Debug, Serialize)]
struct ListedAlert<'a> {
    #[serde(flatten)]
    alert: &'a AlertState,
    silenced_by: Option<&'a str>,
}

async fn active_silences(store: &Store, now: DateTime<Utc>) -> anyhow::Result<Vec<Silence>> {
    Ok(store
        .silences(now, false)
        .await
        .context("failed to load silences")?
        .into_iter()
        .map(|r| r.silence)
        .collect())
}

async fn list(
    store: &Store,
    state: Option<StateArg>,
    json: bool,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let alerts = store
        .alert_states(None)
        .await
        .context("failed to load alerts")?;
    let silences = active_silences(store, now).await?;
    let keep = |a: &AlertState| match state {
        None => a.status != AlertStatus::Inactive,
        Some(StateArg::All) => true,
        Some(StateArg::Firing) => a.status == AlertStatus::Firing,
        Some(StateArg::Pending) => a.status == AlertStatus::Pending,
        Some(StateArg::Resolved) => a.status == AlertStatus::Resolved,
        Some(StateArg::Inactive) => a.status == AlertStatus::Inactive,
    };
    let mut shown: Vec<&AlertState> = alerts.iter().filter(|a| keep(a)).collect();
    let rank = |s: AlertStatus| match s {
        AlertStatus::Firing => 0,
        AlertStatus::Pending => 1,
        AlertStatus::Resolved => 2,
        AlertStatus::Inactive => 3,
    };
    shown.sort_by(|a, b| {
        rank(a.status)
            .cmp(&rank(b.status))
            .then_with(|| b.since.cmp(&a.since))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    let listed: Vec<ListedAlert<'_>> = shown
        .iter()
        .map(|a| ListedAlert {
            alert: a,
            silenced_by: (a.status == AlertStatus::Firing)
                .then(|| is_silenced(&a.labels, &silences, now))
                .flatten(),
        })
        .collect();
    if json {
        json_to(out, &listed)?;
        return Ok(ExitCode::SUCCESS);
    }
    if listed.is_empty() {
        writeln!(
            out,
            "no alerts{}",
            if state.is_none() {
                " (inactive ones hidden; --state all shows them)"
            } else {
                ""
            }
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|l| {
            let a = l.alert;
            vec![
                a.fingerprint.clone(),
                match l.silenced_by {
                    Some(id) => format!("{} (silenced by {id})", a.status),
                    None => a.status.to_string(),
                },
                a.label("severity").to_owned(),
                a.alertname().to_owned(),
                a.label("job").to_owned(),
                format!("{} ({})", a.label("metric"), a.label("side")),
                value_str(a.value),
                ts(a.since),
            ]
        })
        .collect();
    table(
        out,
        &[
            "ID", "STATE", "SEVERITY", "ALERT", "JOB", "METRIC", "VALUE", "SINCE",
        ],
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The alert whose fingerprint is `id` or starts with it.
fn find_alert<'a>(alerts: &'a [AlertState], id: &str) -> anyhow::Result<&'a AlertState> {
    let id = id.trim();
    if let Some(a) = alerts.iter().find(|a| a.fingerprint == id) {
        return Ok(a);
    }
    let hits: Vec<&AlertState> = if id.is_empty() {
        Vec::new()
    } else {
        alerts
            .iter()
            .filter(|a| a.fingerprint.starts_with(id))
            .collect()
    };
    match hits.as_slice() {
        [a] => Ok(a),
        [] => bail!("no alert with id `{id}`\nlist them with `driftwatch alerts list --state all`"),
        many => bail!(
            "alert id `{id}` is ambiguous: it starts {} fingerprints ({})\ngive more characters",
            many.len(),
            many.iter()
                .take(5)
                .map(|a| a.fingerprint.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[derive(Debug, Serialize)]
struct ShownAlert<'a> {
    alert: &'a AlertState,
    silenced_by: Option<&'a str>,
    transitions: Vec<AlertTransition>,
}

async fn show(
    store: &Store,
    id: &str,
    json: bool,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let alerts = store
        .alert_states(None)
        .await
        .context("failed to load alerts")?;
    let a = find_alert(&alerts, id)?;
    let silences = active_silences(store, now).await?;
    let transitions = store
        .alert_transitions(&a.fingerprint, 50)
        .await
        .context("failed to load alert history")?;
    let shown = ShownAlert {
        alert: a,
        silenced_by: is_silenced(&a.labels, &silences, now),
        transitions,
    };
    if json {
        json_to(out, &shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "alert {}  {}", a.fingerprint, a.status)?;
    writeln!(out, "  {}", a.summary)?;
    let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    writeln!(out, "labels: {}", labels.join(" "))?;
    writeln!(out, "value: {}", value_str(a.value))?;
    writeln!(
        out,
        "episode: first matched {} (run {}), last run {}, {} consecutive matching run(s)",
        ts(a.started_at),
        a.first_run_id,
        a.last_run_id,
        a.active_runs
    )?;
    if let Some(t) = a.fired_at {
        writeln!(out, "fired: {}", ts(t))?;
    }
    if let Some(t) = a.resolved_at {
        writeln!(out, "resolved: {}", ts(t))?;
    }
    if let Some(s) = shown.silenced_by {
        writeln!(out, "silenced by: {s}")?;
    }
    if let Some(f) = &a.last_match {
        writeln!(
            out,
            "last finding: run {} {} {} test {}: effect size {} (threshold {}), p adjusted {}, statistic {}",
            f.run_id,
            f.kind,
            f.metric,
            f.test,
            notify::fmt_num(f.effect_size),
            notify::fmt_num(f.threshold),
            notify::fmt_num(f.p_adjusted),
            notify::fmt_num(f.statistic)
        )?;
        writeln!(out, "full report: {}", notify::report_command(f.run_id))?;
    }
    if !shown.transitions.is_empty() {
        writeln!(out, "history:")?;
        for t in &shown.transitions {
            writeln!(
                out,
                "  {}  run {}  {} -> {}",
                ts(t.at),
                t.run_id,
                t.from,
                t.to
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
async fn silence(
    store: &Store,
    matchers: &[String],
    duration: ConfigDuration,
    comment: String,
    created_by: String,
    json: bool,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let matchers = parse_matchers(matchers).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nwrite matchers as name=value, name!=value, name=~regex or name!~regex"
        )
    })?;
    let new = NewSilence {
        matchers,
        starts_at: now,
        ends_at: now + duration.to_chrono(),
        created_by,
        comment,
    };
    let check = Silence {
        id: String::new(),
        matchers: new.matchers.clone(),
        starts_at: new.starts_at,
        ends_at: new.ends_at,
        created_by: new.created_by.clone(),
        comment: new.comment.clone(),
    };
    check
        .validate()
        .map_err(|e| anyhow::anyhow!("refusing to create the silence: {e}"))?;
    let s = store
        .create_silence(&new, now)
        .await
        .context("failed to store the silence")?;
    if json {
        json_to(out, &s)?;
    } else {
        let m: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "silence {} created: {} until {} ({duration})",
            s.id,
            m.join(" "),
            ts(s.ends_at)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn silences(
    store: &Store,
    all: bool,
    json: bool,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let rows: Vec<SilenceRow> = store
        .silences(now, all)
        .await
        .context("failed to load silences")?;
    if json {
        #[derive(Serialize)]
        struct Listed<'a> {
            #[serde(flatten)]
            row: &'a SilenceRow,
            state: notify::SilenceState,
        }
        let listed: Vec<Listed<'_>> = rows
            .iter()
            .map(|row| Listed {
                row,
                state: row.silence.state(now),
            })
            .collect();
        json_to(out, &listed)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        writeln!(out, "no silences")?;
        return Ok(ExitCode::SUCCESS);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = &r.silence;
            let m: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
            vec![
                s.id.clone(),
                format!("{:?}", s.state(now)).to_lowercase(),
                ts(s.starts_at),
                ts(s.ends_at),
                s.created_by.clone(),
                m.join(" "),
                s.comment.clone(),
            ]
        })
        .collect();
    table(
        out,
        &["ID", "STATE", "STARTS", "ENDS", "BY", "MATCHERS", "COMMENT"],
        &table_rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn outbox(
    store: &Store,
    dead: bool,
    json: bool,
    out: &mut Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let filter = OutboxFilter {
        status: dead.then_some(OutboxStatus::Dead),
        limit: Some(1000),
    };
    let rows = store
        .outbox(&filter)
        .await
        .context("failed to load the outbox")?;
    let counts = store
        .outbox_counts()
        .await
        .context("failed to count the outbox")?;
    if json {
        #[derive(Serialize)]
        struct Listing<'a> {
            counts: OutboxCounts,
            backlog: i64,
            rows: &'a [OutboxRow],
        }
        json_to(
            out,
            &Listing {
                counts,
                backlog: counts.backlog(),
                rows: &rows,
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "backlog {} (pending {}, delivering {}), dead {}, delivered {}",
        counts.backlog(),
        counts.pending,
        counts.delivering,
        counts.dead,
        counts.delivered
    )?;
    if rows.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let next = match r.status {
                OutboxStatus::Pending => ts(r.next_attempt_at),
                OutboxStatus::Delivering => r
                    .claimed_until
                    .map_or_else(|| "-".into(), |t| format!("claimed until {}", ts(t))),
                _ => "-".into(),
            };
            vec![
                r.id.to_string(),
                r.status.as_str().to_owned(),
                r.receiver.clone(),
                r.attempts.to_string(),
                next,
                notify::subject(&r.notification),
                r.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "ID",
            "STATUS",
            "RECEIVER",
            "ATTEMPTS",
            "NEXT",
            "SUBJECT",
            "LAST ERROR",
        ],
        &table_rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn test(
    alerting: &AlertingConfig,
    base_dir: &Path,
    name: &str,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let Some(cfg) = alerting.receivers.get(name) else {
        let known: Vec<&str> = alerting.receivers.keys().map(String::as_str).collect();
        bail!(
            "no receiver `{name}` in [alerts.receivers]\n{}",
            if known.is_empty() {
                "none are configured".to_owned()
            } else {
                format!("configured: {}", known.join(", "))
            }
        );
    };
    let receiver = resolve_receiver_paths(cfg, base_dir)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build receiver {name}: {e}"))?;
    match receiver.healthcheck().await {
        Ok(what) => writeln!(out, "{name} ({}): healthcheck ok: {what}", receiver.kind())?,
        Err(e) => writeln!(out, "{name} ({}): healthcheck failed: {e}", receiver.kind())?,
    }
    let n = Notification::sample(name, now);
    match receiver.send(&n).await {
        Ok(()) => {
            writeln!(
                out,
                "{name}: test notification sent ({})",
                notify::subject(&n)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            writeln!(out, "{name}: test notification failed: {e}")?;
            Ok(ExitCode::from(FAILURE))
        }
    }
}

async fn deliver(
    store: &Store,
    alerting: &AlertingConfig,
    base_dir: &Path,
    json: bool,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> anyhow::Result<ExitCode> {
    let (receivers, errors) = build_receivers(alerting, base_dir);
    for e in &errors {
        say_err!("driftwatch: {e}; its notifications stay queued");
    }
    let stats = deliver_due(store, &receivers, &alerting.retry, now)
        .await
        .context("failed to deliver the outbox")?;
    let counts = store
        .outbox_counts()
        .await
        .context("failed to count the outbox")?;
    if json {
        #[derive(Serialize)]
        struct Report {
            #[serde(flatten)]
            stats: crate::alert::DeliveryStats,
            backlog: i64,
            dead_total: i64,
        }
        json_to(
            out,
            &Report {
                stats,
                backlog: counts.backlog(),
                dead_total: counts.dead,
            },
        )?;
    } else {
        writeln!(
            out,
            "claimed {}, delivered {}, to retry {}, dead {}; backlog {}, dead in total {}",
            stats.claimed,
            stats.delivered,
            stats.retried,
            stats.dead,
            counts.backlog(),
            counts.dead
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(subcommand)]
        cmd: AlertsCmd,
    }

    #[test]
    fn parses_silence_flags() {
        let t = Top::try_parse_from([
            "x",
            "silence",
            "--match",
            "job=support",
            "--match",
            "metric=~output.*",
            "--for",
            "2h",
            "--comment",
            "deploy",
        ])
        .unwrap();
        match t.cmd {
            AlertsCmd::Silence {
                matchers, duration, ..
            } => {
                assert_eq!(matchers, ["job=support", "metric=~output.*"]);
                assert_eq!(duration, ConfigDuration::from_secs(7200));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Top::try_parse_from(["x", "silence"]).is_err(),
            "--match is required"
        );
        assert!(Top::try_parse_from(["x", "silence", "--match", "a=b", "--for", "soon"]).is_err());
        assert!(Top::try_parse_from(["x", "list", "--state", "firing", "--json"]).is_ok());
        assert!(Top::try_parse_from(["x", "expire-silence", "3"]).is_ok());
        assert!(Top::try_parse_from(["x", "outbox", "--dead", "--json"]).is_ok());
    }

    #[test]
    fn prefix_lookup() {
        let mut a = crate::notify::Notification::sample("r", Utc::now()).alerts[0].clone();
        a.fingerprint = "abc123".into();
        let mut b = a.clone();
        b.fingerprint = "abd456".into();
        let all = [a, b];
        assert_eq!(find_alert(&all, "abc").unwrap().fingerprint, "abc123");
        assert_eq!(find_alert(&all, "abd456").unwrap().fingerprint, "abd456");
        let e = find_alert(&all, "ab").unwrap_err().to_string();
        assert!(e.contains("ambiguous"), "{e}");
        assert!(find_alert(&all, "zz")
            .unwrap_err()
            .to_string()
            .starts_with("no alert"));
        assert!(find_alert(&all, "").is_err());
    }
}
