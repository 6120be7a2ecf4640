//! The outbox worker: Claim → Send → Record.
//!
//! Rows are claimed with a lease, sent one at a time, and recorded only after `send`
//! returns: delivered, retried at the time [`RetryPolicy::decide`] picks, or dead (a
//! permanent error, or too many attempts). A sender that dies mid-send leaves its rows
//! claimed; once the lease runs out any sender claims them again, so a notification is
//! delivered at least once, and receivers dedup on its idempotency key. A row that is
//! acknowledged is never sent again.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::receivers::build_receivers;
use super::Result;
use crate::notify::{AlertingConfig, Receiver, RetryDecision, RetryPolicy, SendError};
use crate::store::{OutboxRow, Store};

/// Tuning of the sender loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderOptions {
    /// Rows claimed per pass.
    pub batch: i64,
    /// How long a claim lasts: longer than `batch` sends can take (`batch × send_timeout`).
    pub lease: Duration,
    /// Longest one send may take before it counts as a retryable failure.
    pub send_timeout: StdDuration,
    /// Pause between passes when the outbox has nothing more due.
    pub interval: StdDuration,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            batch: 8,
            lease: Duration::minutes(10),
            send_timeout: StdDuration::from_secs(60),
            interval: StdDuration::from_secs(1),
        }
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    /// Rows claimed.
    pub claimed: usize,
    /// Rows acknowledged by their receiver.
    pub delivered: usize,
    /// Rows that failed and are scheduled again.
    pub retried: usize,
    /// Rows given up on.
    pub dead: usize,
    /// Claimed rows handed back untried because of shutdown.
    pub released: usize,
}

/// Delivers the outbox to built receivers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sender {
    store: Store,
    receivers: BTreeMap<String, Receiver>,
    policy: RetryPolicy,
    options: SenderOptions,
}

impl Sender {
    /// A sender for `receivers`; rows of other receivers are left alone (they stay
    /// queued until a sender that has their receiver claims them).
    pub fn new(store: Store, receivers: BTreeMap<String, Receiver>, policy: RetryPolicy) -> Self {
        let options = SenderOptions {
            lease: policy.claim_lease.to_chrono(),
            ..SenderOptions::default()
        };
        Sender {
            store,
            receivers,
            policy,
            options,
        }
    }

    /// Replaces the loop tuning.
    pub fn with_options(mut self, options: SenderOptions) -> Self {
        self.options = options;
        self
    }

    /// One pass: claims up to `batch` due rows at `now` and sends them.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<DeliveryStats> {
        self.pass(now, &|| false).await
    }

    /// Runs passes (at the wall clock) until `shutdown` turns true or its sender is
    /// dropped. Shutdown is checked before every send; rows claimed but not yet sent
    /// are handed back.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if self.receivers.is_empty() {
            tracing::info!("No alert receivers are configured; the notification sender is idle.");
            return;
        }
        tracing::info!(
            message = "Notification sender started.",
            receivers = self.receivers.len()
        );
        loop {
            if *shutdown.borrow() {
                break;
            }
            let stop = || *shutdown.borrow();
            let full = match self.pass(Utc::now(), &stop).await {
                Ok(stats) => {
                    if stats.claimed > 0 {
                        tracing::debug!(
                            message = "Outbox pass done.",
                            claimed = stats.claimed,
                            delivered = stats.delivered,
                            retried = stats.retried,
                            dead = stats.dead
                        );
                    }
                    // a full batch all delivered: more may be due right now
                    stats.delivered as i64 >= self.options.batch
                }
                Err(error) => {
                    tracing::warn!(message = "Outbox pass failed.", %error);
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                _ = tokio::time::sleep(self.options.interval) => {}
            }
        }
        tracing::info!("Notification sender stopped.");
    }

    async fn pass(
        &self,
        now: DateTime<Utc>,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<DeliveryStats> {
        let names: Vec<String> = self.receivers.keys().cloned().collect();
        let rows = self
            .store
            .claim_due(now, self.options.batch, self.options.lease, &names)
            .await?;
        let mut stats = DeliveryStats {
            claimed: rows.len(),
            ..DeliveryStats::default()
        };
        for (i, row) in rows.iter().enumerate() {
            if stop() {
                for r in &rows[i..] {
                    if self.store.release_claim(r).await? {
                        stats.released += 1;
                    }
                }
                break;
            }
            self.deliver_one(row, now, &mut stats).await?;
        }
        Ok(stats)
    }

    async fn deliver_one(
        &self,
        row: &OutboxRow,
        now: DateTime<Utc>,
        stats: &mut DeliveryStats,
    ) -> Result<()> {
        let Some(receiver) = self.receivers.get(&row.receiver) else {
            // claim_due only returns rows of our receivers
            self.store.release_claim(row).await?;
            stats.released += 1;
            return Ok(());
        };
        let sent =
            match tokio::time::timeout(self.options.send_timeout, receiver.send(&row.notification))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(SendError::retryable(format!(
                    "no answer within {}s",
                    self.options.send_timeout.as_secs()
                ))),
            };
        let error = match sent {
            Ok(()) => {
                if !self.store.mark_delivered(row, now).await? {
                    tracing::debug!(message = "Outbox row was already delivered.", id = row.id);
                }
                tracing::info!(
                    message = "Notification delivered.",
                    receiver = %row.receiver,
                    id = row.id,
                    attempt = row.attempts,
                    key = %row.idempotency_key
                );
                stats.delivered += 1;
                return Ok(());
            }
            Err(e) => e,
        };
        let attempts = u32::try_from(row.attempts.max(1)).unwrap_or(u32::MAX);
        let decision =
            self.policy
                .decide_with_age(attempts, row.created_at, &error, now, &mut rand::rng());
        match decision {
            RetryDecision::RetryAt(at) => {
                let fenced = self.store.mark_retry(row, at, error.reason(), now).await?;
                tracing::info!(
                    message = "Delivery will be retried.",
                    receiver = %row.receiver,
                    id = row.id,
                    attempt = row.attempts,
                    next_attempt_at = %at,
                    claim_held = fenced,
                    error = %error.reason()
                );
                stats.retried += 1;
            }
            RetryDecision::GiveUp(why) => {
                let error = format!("{}/{}: {why}", receiver.kind(), row.receiver);
                let fenced = self.store.mark_dead(row, &error, now).await?;
                tracing::error!(
                    message = "Giving up on a notification; it is in the dead letter outbox.",
                    receiver = %row.receiver,
                    id = row.id,
                    attempts = row.attempts,
                    key = %row.idempotency_key,
                    subject = %crate::notify::subject(&row.notification),
                    claim_held = fenced,
                    %error
                );
                stats.dead += 1;
            }
        }
        Ok(())
    }
}

/// One pass over the outbox at `now` with the default [`SenderOptions`]: for cron, the
/// CLI and tests. Rows of receivers not in `receivers` are left queued.
pub async fn deliver_due(
    store: &Store,
    receivers: &BTreeMap<String, Receiver>,
    policy: &RetryPolicy,
    now: DateTime<Utc>,
) -> Result<DeliveryStats> {
    Sender::new(store.clone(), receivers.clone(), *policy)
        .deliver_due(now)
        .await
}

/// Builds the receivers of `[alerts]` (relative paths against `base_dir`) and spawns a
/// [`Sender`] that delivers the outbox every second until `shutdown` turns true.
/// Receivers that cannot be built are logged as errors; their notifications stay queued.
pub fn spawn_sender(
    store: Store,
    alerting: &AlertingConfig,
    base_dir: &Path,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let (receivers, errors) = build_receivers(alerting, base_dir);
    for e in &errors {
        tracing::error!(
            message = "Alert receiver cannot be built; its notifications stay queued.",
            receiver = %e.name,
            error = %e.source
        );
    }
    spawn_sender_with(store, receivers, alerting.retry, shutdown)
}

/// Starts the sender task over receivers already built (the daemon builds them
/// when it loads the config, and refuses a config with one that cannot be built).
pub fn spawn_sender_with(
    store: Store,
    receivers: BTreeMap<String, Receiver>,
    retry: RetryPolicy,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let sender = Sender::new(store, receivers, retry);
    tokio::spawn(sender.run(shutdown))
}
