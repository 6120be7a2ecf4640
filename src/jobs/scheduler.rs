//! The daemon's scheduler: one task per job, firing on the job's cron schedule
//! (in the job's time zone, UTC by default).
//!
//! - Runs of one job never overlap: each job's loop is sequential, and across
//!   replicas a run needs the job's lease (`Store::claim_lease`), renewed while
//!   it runs.
//! - Each tick runs once across replicas: the lease row remembers the last tick
//!   claimed, and a replica only wins a newer one.
//! - A run that overruns ticks, or a daemon that was down or asleep, is followed
//!   by ONE catch-up run for the latest missed tick, not one per missed tick.
//!   The catch-up stands for a tick time, so replicas agree on it.
//! - A scheduled run's window ends `settle_delay` before its tick and reaches
//!   `lookback` further back than the job's window; `jitter` delays the start.
//! - A crashed replica's lease expires after `lease_ttl`; the next replica to win
//!   the job marks the crashed holder's `running` run aborted.
//!
//! After each run the alert rules are evaluated; the sender delivers what they queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::config::JobSpec;
use super::embedding::Embedders;
use super::run::{run_job, RunOptions};
use crate::notify::Alerting;
use crate::store::{LeaseClaim, Store};
use crate::telemetry::METRICS;

/// Default time a run in flight at shutdown may take to finish before it is dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What every job loop shares.
#[derive(Clone)]
pub struct SchedulerCtx {
    pub store: Store,
    /// `[alerts]`, built at load, for evaluating each run's findings.
    pub alerts: Arc<Alerting>,
    /// The embedders the jobs use, and the `[embedding]` section that picks
    /// each job's (see [`Embedders::for_job`]).
    pub embedders: Embedders,
    pub embedding: crate::embed::EmbedConfig,
    /// `[review.ensemble]`, pre-labelling each run's proposals.
    pub ensemble: Option<Arc<super::Prelabeler>>,
    /// This process's name in leases and runs.
    pub holder: Arc<str>,
    pub lease_ttl: Duration,
    /// How long a run in flight at shutdown may take to finish.
    pub grace: Duration,
}

/// The next `n` fire times of `spec` strictly after `after` (in UTC).
pub fn next_fire_times(spec: &JobSpec, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    spec.fire_times_after(after).take(n).collect()
}

fn lease_name(job: &str) -> String {
    format!("job:{job}")
}

/// Runs every job on its schedule until `shutdown` turns true (or its sender is
/// dropped). Returns once every job loop has stopped; a run in flight at shutdown
/// gets `ctx.grace` to finish.
pub async fn run_scheduler(
    ctx: SchedulerCtx,
    specs: Vec<JobSpec>,
    shutdown: watch::Receiver<bool>,
) {
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
            timezone = %spec.timing.timezone,
            next = ?spec.fire_times_after(Utc::now()).next(),
        );
        tasks.spawn(job_loop(ctx.clone(), Arc::new(spec), shutdown.clone()));
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

/// The first tick to serve at start: the latest tick missed while no daemon
/// ran (one catch-up run), else the next one.
async fn first_fire(
    ctx: &SchedulerCtx,
    spec: &JobSpec,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let next = spec.fire_times_after(now).next();
    let last_claimed = match ctx.store.lease_fire_at(&lease_name(&spec.name)).await {
        Ok(Some(ms)) => DateTime::<Utc>::from_timestamp_millis(ms)?,
        // Never run by a daemon, or the store is down: start on schedule.
        Ok(None) | Err(_) => return next,
    };
    let missed: Vec<DateTime<Utc>> = spec
        .fire_times_after(last_claimed)
        .take_while(|t| *t <= now)
        .take(100_000)
        .collect();
    match missed.last() {
        Some(latest) => {
            tracing::warn!(
                message = "Ticks were missed while no daemon ran; one catch-up run.",
                job = %spec.name,
                missed = missed.len(),
                catch_up_tick = %latest
            );
            Some(*latest)
        }
        None => next,
    }
}

/// The loop of one job: sleep until the next tick, claim it, run, repeat.
async fn job_loop(ctx: SchedulerCtx, spec: Arc<JobSpec>, mut shutdown: watch::Receiver<bool>) {
    let Some(mut fire) = first_fire(&ctx, &spec, Utc::now()).await else {
        tracing::warn!(message = "Job schedule has no future fire time.", job = %spec.name);
        return;
    };
    loop {
        if is_stopped(&shutdown) {
            return;
        }
        let jitter = if spec.timing.jitter.is_zero() {
            Duration::ZERO
        } else {
            spec.timing.jitter.mul_f64(rand::random::<f64>())
        };
        let wait = (fire - Utc::now()).to_std().unwrap_or(Duration::ZERO) + jitter;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(&mut shutdown) => return,
        }
        if !serve_tick(&ctx, &spec, fire, &mut shutdown).await {
            return;
        }
        // Next tick after the one just served; ticks missed while the run was
        // in flight are coalesced into one immediate catch-up run.
        let Some((next, missed)) = next_after_run(&spec, fire, Utc::now()) else {
            tracing::info!(message = "Job schedule has no further fire time.", job = %spec.name);
            return;
        };
        if missed > 1 {
            tracing::warn!(
                message = "Run overran its schedule; missed ticks coalesced into one catch-up run.",
                job = %spec.name,
                missed
            );
        }
        fire = next;
    }
}

/// Claims tick `fire` and, if won, runs it while renewing the lease. Returns
/// false when the loop must stop (shutdown).
async fn serve_tick(
    ctx: &SchedulerCtx,
    spec: &Arc<JobSpec>,
    fire: DateTime<Utc>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let lease = lease_name(&spec.name);
    let ttl_ms = ctx.lease_ttl.as_millis() as i64;
    match ctx
        .store
        .claim_lease(&lease, &ctx.holder, fire.timestamp_millis(), ttl_ms)
        .await
    {
        Err(e) => {
            METRICS.tick_skipped(&spec.name);
            tracing::error!(message = "Store unreachable; tick skipped, retried at the next one.", job = %spec.name, tick = %fire, error = %e);
            return true;
        }
        Ok(LeaseClaim::Lost) => {
            tracing::debug!(message = "Tick served by another replica.", job = %spec.name, tick = %fire);
            return true;
        }
        Ok(LeaseClaim::Won { took_over_from }) => {
            if let Some(old) = took_over_from {
                match ctx
                    .store
                    .abort_runs_of_holder(
                        &spec.name,
                        &old,
                        "its daemon stopped renewing the job lease (crashed or hung)",
                    )
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!(message = "Took over the job from a replica whose lease expired; its runs marked aborted.", job = %spec.name, previous = %old, runs = n)
                    }
                    Err(e) => {
                        tracing::error!(message = "Marking the previous holder's runs aborted failed.", error = %e)
                    }
                }
            }
        }
    }
    let started = Instant::now();
    let mut run = tokio::spawn(run_once(ctx.clone(), spec.clone(), fire));
    let mut renew = tokio::time::interval(ctx.lease_ttl / 3);
    renew.tick().await; // the first tick is immediate
    let keep_going = loop {
        tokio::select! {
            r = &mut run => {
                log_join(&spec.name, r);
                break true;
            }
            _ = renew.tick() => {
                match ctx.store.renew_lease(&lease, &ctx.holder, ttl_ms).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(message = "Lost the job lease to another replica; abandoning this run.", job = %spec.name);
                        run.abort();
                        let _ = run.await;
                        abort_own_run(ctx, &spec.name).await;
                        METRICS.run_finished(&spec.name, "aborted", started.elapsed().as_secs_f64());
                        return true;
                    }
                    Err(e) => tracing::warn!(message = "Renewing the job lease failed; retrying.", job = %spec.name, error = %e),
                }
            }
            _ = stopped(shutdown) => {
                tracing::info!(
                    message = "Shutdown requested; waiting for the run in flight.",
                    job = %spec.name,
                    grace_secs = ctx.grace.as_secs()
                );
                match tokio::time::timeout(ctx.grace, &mut run).await {
                    Ok(r) => log_join(&spec.name, r),
                    Err(_) => {
                        run.abort();
                        let _ = run.await;
                        abort_own_run(ctx, &spec.name).await;
                        METRICS.run_finished(&spec.name, "aborted", started.elapsed().as_secs_f64());
                    }
                }
                break false;
            }
        }
    };
    if let Err(e) = ctx.store.release_lease(&lease, &ctx.holder).await {
        tracing::warn!(message = "Releasing the job lease failed; it expires on its own.", job = %spec.name, error = %e);
    }
    keep_going
}

/// When to fire after the run of tick `fired` finished at `now`: the next tick,
/// or — if one or more ticks passed during the run — the latest of them, at
/// once (one catch-up run standing for all). Returns the tick and how many
/// ticks were missed.
fn next_after_run(
    spec: &JobSpec,
    fired: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, usize)> {
    let next = spec.fire_times_after(fired).next()?;
    if next > now {
        return Some((next, 0));
    }
    let missed: Vec<DateTime<Utc>> = spec
        .fire_times_after(fired)
        .take_while(|t| *t <= now)
        .take(100_000)
        .collect();
    Some((*missed.last().expect("next <= now"), missed.len()))
}

fn log_join(job: &str, r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        tracing::error!(message = "Run task panicked; the job stays scheduled.", job = %job, error = %e);
    }
}

/// One run and its alert evaluation; every error is logged, none stops the loop.
async fn run_once(ctx: SchedulerCtx, spec: Arc<JobSpec>, fire: DateTime<Utc>) {
    let t = spec.timing;
    let opts = RunOptions {
        now: fire - chrono::Duration::from_std(t.settle_delay).unwrap_or_default(),
        window: Some(spec.window + t.lookback),
        sample_size: None,
        embedder: ctx.embedders.for_job(&spec, &ctx.embedding),
        holder: Some(ctx.holder.to_string()),
        ensemble: ctx.ensemble.clone(),
    };
    let started = Instant::now();
    let outcome = match run_job(&ctx.store, &spec, &opts).await {
        Ok(o) => {
            METRICS.run_finished(&spec.name, "succeeded", started.elapsed().as_secs_f64());
            o
        }
        Err(e) => {
            METRICS.run_finished(&spec.name, "failed", started.elapsed().as_secs_f64());
            // run_job already logged it and marked the run failed.
            tracing::error!(message = "Scheduled run failed.", job = %spec.name, error = %e);
            return;
        }
    };
    match crate::alert::evaluate_run(
        &ctx.store,
        &ctx.alerts,
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

/// Marks this process's `running` run of `job` (dropped at shutdown or after a
/// lost lease) aborted. Runs record their holder, so only ours are touched.
async fn abort_own_run(ctx: &SchedulerCtx, job: &str) {
    match ctx
        .store
        .abort_runs_of_holder(
            job,
            &ctx.holder,
            "shutdown: the run did not finish within the grace period",
        )
        .await
    {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(message = "Run did not finish in time; marked aborted.", job = %job, runs = n)
        }
        Err(e) => {
            tracing::error!(message = "Marking the run aborted failed.", job = %job, error = %e)
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

    fn job(schedule: &str, tz: &str) -> JobSpec {
        let mut j = crate::jobs::JobConfig::adhoc("j", "g");
        j.schedule = schedule.into();
        j.timezone = tz.into();
        j.check("jobs[0]", std::path::Path::new(".")).unwrap()
    }

    #[test]
    fn a_fast_run_waits_for_the_next_tick() {
        let s = job("*/10 * * * *", "UTC");
        let r = next_after_run(&s, at(12, 0, 0), at(12, 0, 3));
        assert_eq!(r, Some((at(12, 10, 0), 0)));
    }

    #[test]
    fn an_overrun_is_one_catch_up_run_not_one_per_missed_tick() {
        let s = job("*/10 * * * *", "UTC");
        // The 12:00 run took 35 minutes: 12:10, 12:20 and 12:30 were missed.
        let (fire, missed) = next_after_run(&s, at(12, 0, 0), at(12, 35, 0)).unwrap();
        // One catch-up run, for the latest missed tick (the same on every replica).
        assert_eq!((fire, missed), (at(12, 30, 0), 3));
        // After the (fast) catch-up run, back on schedule: 12:40, not 12:10.
        let r = next_after_run(&s, fire, at(12, 35, 2));
        assert_eq!(r, Some((at(12, 40, 0), 0)));
    }

    #[test]
    fn schedules_are_read_in_the_job_time_zone() {
        // 03:00 in Berlin is 02:00 UTC in winter (CET, UTC+1).
        let s = job("0 3 * * *", "Europe/Berlin");
        let t = next_fire_times(&s, at(12, 0, 0), 1);
        assert_eq!(t[0], Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap());
    }

    #[test]
    fn next_fire_times_are_utc_ticks() {
        let s = job("0 3 * * *", "UTC");
        let t = next_fire_times(&s, at(12, 0, 0), 3);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap());
        assert_eq!(t[2] - t[0], chrono::Duration::days(2));
    }
}
