//! The daemon's scheduler: one task per job, firing on the job's cron schedule
//! (UTC). Runs of one job never overlap — each job's loop is sequential — and a
//! run that overruns one or more ticks is followed by ONE catch-up run, not one
//! per missed tick. After each run the alert rules are evaluated; the daemon's
//! alert sender delivers what they queue.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::config::JobSpec;
use super::embedding::SharedEmbedder;
use super::runner::{run_job, RunOptions};
use crate::config::Config;
use crate::store::{Backend, RunFilter, RunStatus, Store};

/// How long a run in flight at shutdown may take to finish before it is dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The next `n` fire times of `schedule` strictly after `after` (UTC).
pub fn next_fire_times(
    schedule: &cron::Schedule,
    after: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    schedule.after(&after).take(n).collect()
}

/// Runs every job on its schedule until `shutdown` turns true (or its sender is
/// dropped). Returns once every job loop has stopped; a run in flight at shutdown
/// gets [`SHUTDOWN_GRACE`] to finish.
pub async fn run_scheduler(
    store: Store,
    cfg: Arc<Config>,
    specs: Vec<JobSpec>,
    embedder: Option<SharedEmbedder>,
    shutdown: watch::Receiver<bool>,
) {
    // Runs left `running` by a previous process that died. Only on SQLite: the
    // database file is local to this process, so no other replica can have a run
    // in flight. On PostgreSQL several replicas may share the database and a
    // `running` row may belong to a live run elsewhere; without leases we cannot
    // tell, so those rows are left alone (they show as `running` in `runs`).
    if store.backend() == Backend::Sqlite {
        match store.abort_stale_runs(Utc::now().timestamp_millis()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                message = "Marked runs left running by a previous process as aborted.",
                runs = n
            ),
            Err(e) => tracing::error!(message = "Aborting stale runs failed.", error = %e),
        }
    }
    if specs.is_empty() {
        tracing::info!("No jobs configured; the scheduler is idle.");
        return;
    }
    let mut tasks = JoinSet::new();
    for spec in specs {
        tracing::info!(
            message = "Job scheduled.",
            job = %spec.name,
            schedule = %spec.schedule_text,
            next = ?spec.schedule.upcoming(Utc).next(),
        );
        tasks.spawn(job_loop(
            store.clone(),
            cfg.clone(),
            Arc::new(spec),
            embedder.clone(),
            shutdown.clone(),
        ));
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!(message = "A job loop stopped unexpectedly.", error = %e);
        }
    }
    tracing::info!("Scheduler stopped.");
}

/// Resolves when shutdown is requested or the sender is gone.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

fn is_stopped(rx: &watch::Receiver<bool>) -> bool {
    // A dropped sender counts as shutdown: nobody could stop us otherwise.
    *rx.borrow() || rx.has_changed().is_err()
}

/// The loop of one job: sleep until the next tick, run, repeat.
async fn job_loop(
    store: Store,
    cfg: Arc<Config>,
    spec: Arc<JobSpec>,
    embedder: Option<SharedEmbedder>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut fire) = spec.schedule.after(&Utc::now()).next() else {
        tracing::warn!(message = "Job schedule has no future fire time.", job = %spec.name);
        return;
    };
    loop {
        if is_stopped(&shutdown) {
            return;
        }
        let wait = (fire - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(&mut shutdown) => return,
        }
        // The window ends at the tick (or at the catch-up time).
        let started = Utc::now();
        let mut run = tokio::spawn(run_once(
            store.clone(),
            cfg.clone(),
            spec.clone(),
            embedder.clone(),
            fire,
        ));
        tokio::select! {
            r = &mut run => log_join(&spec.name, r),
            _ = stopped(&mut shutdown) => {
                tracing::info!(
                    message = "Shutdown requested; waiting for the run in flight.",
                    job = %spec.name,
                    grace_secs = SHUTDOWN_GRACE.as_secs()
                );
                match tokio::time::timeout(SHUTDOWN_GRACE, &mut run).await {
                    Ok(r) => log_join(&spec.name, r),
                    Err(_) => {
                        run.abort();
                        let _ = run.await;
                        abort_own_run(&store, &spec.name, started).await;
                    }
                }
                return;
            }
        }
        // Next tick after the one just served; ticks missed while the run was
        // in flight are coalesced into one immediate catch-up run.
        let Some((next, missed)) = next_after_run(&spec.schedule, fire, Utc::now()) else {
            tracing::info!(message = "Job schedule has no further fire time.", job = %spec.name);
            return;
        };
        if missed > 0 {
            tracing::warn!(
                message = "Run overran its schedule; missed ticks coalesced into one catch-up run.",
                job = %spec.name,
                missed
            );
        }
        fire = next;
    }
}

/// When to fire after the run of tick `fired` finished at `now`: the next tick,
/// or — if one or more ticks passed during the run — `now`, once (a catch-up run
/// standing for all of them). Returns the time and how many ticks were missed.
fn next_after_run(
    schedule: &cron::Schedule,
    fired: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, usize)> {
    let next = schedule.after(&fired).next()?;
    if next > now {
        return Some((next, 0));
    }
    let missed = schedule
        .after(&fired)
        .take_while(|t| *t <= now)
        .take(10_000)
        .count();
    Some((now, missed))
}

fn log_join(job: &str, r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        tracing::error!(message = "Run task panicked; the job stays scheduled.", job = %job, error = %e);
    }
}

/// One run and its alert evaluation; every error is logged, none stops the loop.
async fn run_once(
    store: Store,
    cfg: Arc<Config>,
    spec: Arc<JobSpec>,
    embedder: Option<SharedEmbedder>,
    fire: DateTime<Utc>,
) {
    let opts = RunOptions {
        now: fire,
        window: None,
        sample_size: None,
        embedder,
    };
    let outcome = match run_job(&store, &spec, &opts).await {
        Ok(o) => o,
        Err(e) => {
            // run_job already logged it and marked the run failed.
            tracing::error!(message = "Scheduled run failed.", job = %spec.name, error = %e);
            return;
        }
    };
    match crate::alert::evaluate_run(
        &store,
        &cfg.alerts,
        &spec.name,
        outcome.run_id,
        &outcome.findings,
        Utc::now(),
    )
    .await
    {
        Ok(ev) => tracing::info!(
            message = "Alerts evaluated.",
            job = %spec.name,
            run_id = outcome.run_id,
            firing = ev.firing,
            pending = ev.pending,
            resolved = ev.resolved,
            enqueued = ev.enqueued
        ),
        Err(e) => tracing::error!(
            message = "Alert evaluation failed.",
            job = %spec.name,
            run_id = outcome.run_id,
            error = %e
        ),
    }
}

/// Marks the run this loop started at `started` (dropped at shutdown) aborted.
/// `run_job` does not hand out the run id before it finishes, so the row is found
/// as the job's `running` run(s) started at or after `started`; on a database
/// shared by replicas, a run of the same job started elsewhere in that instant
/// would be marked too (runs have no owner column yet).
async fn abort_own_run(store: &Store, job: &str, started: DateTime<Utc>) {
    let since = started - chrono::Duration::milliseconds(5);
    let runs = match store
        .list_runs(&RunFilter {
            job: Some(job.to_string()),
            limit: Some(5),
        })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(message = "Cannot find the interrupted run.", job = %job, error = %e);
            return;
        }
    };
    for r in runs
        .iter()
        .filter(|r| r.status == RunStatus::Running && r.started_at >= since)
    {
        match store.fail_run(r.id, RunStatus::Aborted, "shutdown").await {
            Ok(()) => tracing::warn!(
                message = "Run did not finish within the shutdown grace; marked aborted.",
                job = %job,
                run_id = r.id
            ),
            Err(e) => {
                tracing::error!(message = "Marking the run aborted failed.", run_id = r.id, error = %e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, sec: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, sec).unwrap()
    }

    #[test]
    fn a_fast_run_waits_for_the_next_tick() {
        let s = super::super::config::parse_schedule("*/10 * * * *").unwrap();
        let r = next_after_run(&s, at(12, 0, 0), at(12, 0, 3));
        assert_eq!(r, Some((at(12, 10, 0), 0)));
    }

    #[test]
    fn an_overrun_is_one_catch_up_run_not_one_per_missed_tick() {
        let s = super::super::config::parse_schedule("*/10 * * * *").unwrap();
        // The 12:00 run took 35 minutes: 12:10, 12:20 and 12:30 were missed.
        let now = at(12, 35, 0);
        let (fire, missed) = next_after_run(&s, at(12, 0, 0), now).unwrap();
        assert_eq!((fire, missed), (now, 3));
        // After the (fast) catch-up run, back on schedule: 12:40, not 12:10.
        let r = next_after_run(&s, fire, at(12, 35, 2));
        assert_eq!(r, Some((at(12, 40, 0), 0)));
    }

    #[test]
    fn next_fire_times_are_utc_ticks() {
        let s = super::super::config::parse_schedule("0 3 * * *").unwrap();
        let t = next_fire_times(&s, at(12, 0, 0), 3);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap());
        assert_eq!(t[2] - t[0], chrono::Duration::days(2));
    }
}
