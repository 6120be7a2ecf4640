//! Alert persistence: alert states and their transitions, silences, sent records and
//! the notification outbox with its delivery attempts.
//!
//! The outbox is the durability boundary of alerting: a notification is enqueued in
//! the same transaction as the alert state change that caused it, and a sender claims
//! due rows by marking them `delivering` with a lease (`claimed_until`). A claim that
//! expires (the process died mid-send) makes the row claimable again, so nothing is
//! lost; every later write of the claimant is fenced on its `claimed_until`, so a
//! sender that lost its claim cannot overwrite the newer claimant's outcome.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::types::ms_to_dt;
use super::{on_pool, Pool, Result, Store, StoreError};
use crate::notify::{
    AlertState, AlertStatus, Matcher, Notification, PlannedNotification, SentRecord, Silence,
    Transition,
};

/// Where an outbox row is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for `next_attempt_at`.
    Pending,
    /// Claimed by a sender until `claimed_until`.
    Delivering,
    /// Acknowledged by the receiver.
    Delivered,
    /// Given up on (permanent error or too many attempts).
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivering => "delivering",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> OutboxStatus {
        match s {
            "delivering" => OutboxStatus::Delivering,
            "delivered" => OutboxStatus::Delivered,
            "dead" => OutboxStatus::Dead,
            _ => OutboxStatus::Pending,
        }
    }
}

/// One notification in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub idempotency_key: String,
    pub receiver: String,
    pub notification: Notification,
    /// Why it was sent (the dedup reason, for people).
    pub reason: String,
    pub status: OutboxStatus,
    /// Claims made so far (a claim whose sender died counts).
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Lease of the current claim; also the fencing token of the claimant's writes.
    pub claimed_until: Option<DateTime<Utc>>,
}

/// Row counts of the outbox by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub delivering: i64,
    pub delivered: i64,
    pub dead: i64,
}

impl OutboxCounts {
    /// Notifications not yet delivered and not given up on.
    pub fn backlog(&self) -> i64 {
        self.pending + self.delivering
    }
}

/// Which outbox rows to list.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Only rows in this status; `None` = every row not yet delivered (pending,
    /// delivering, dead).
    pub status: Option<OutboxStatus>,
    pub limit: Option<i64>,
}

/// One delivery attempt of an outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    pub id: i64,
    pub outbox_id: i64,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub error: Option<String>,
}

/// A recorded status change of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertTransition {
    pub id: i64,
    pub fingerprint: String,
    pub run_id: i64,
    pub from: AlertStatus,
    pub to: AlertStatus,
    pub at: DateTime<Utc>,
}

/// A silence to create; the store assigns the id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SilenceRow {
    #[serde(flatten)]
    pub silence: Silence,
    /// Expired by hand (`ends_at` was then moved to the time of expiry).
    pub expired: bool,
    pub created_at: DateTime<Utc>,
}

/// Everything one alert evaluation writes, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct AlertEvaluation<'a> {
    pub run_id: i64,
    pub now: DateTime<Utc>,
    /// Changed alert states; status changes are also recorded as transitions.
    pub transitions: &'a [Transition],
    /// Notifications to enqueue, each with the sent record to store.
    pub notifications: &'a [PlannedNotification],
}

const OUTBOX_COLUMNS: &str =
    "id, idempotency_key, receiver, notification, reason, status, attempts, \
     next_attempt_at_ms, last_error, created_at_ms, delivered_at_ms, claimed_until_ms";

macro_rules! outbox_from_row {
    ($row:expr) => {{
        let r = $row;
        let notification: String = r.try_get("notification")?;
        let delivered: Option<i64> = r.try_get("delivered_at_ms")?;
        let claimed: Option<i64> = r.try_get("claimed_until_ms")?;
        OutboxRow {
            id: r.try_get("id")?,
            idempotency_key: r.try_get("idempotency_key")?,
            receiver: r.try_get("receiver")?,
            notification: from_json("outbox notification", &notification)?,
            reason: r.try_get("reason")?,
            status: OutboxStatus::parse(&r.try_get::<String, _>("status")?),
            attempts: r.try_get("attempts")?,
            next_attempt_at: ms_to_dt(r.try_get("next_attempt_at_ms")?),
            last_error: r.try_get("last_error")?,
            created_at: ms_to_dt(r.try_get("created_at_ms")?),
            delivered_at: delivered.map(ms_to_dt),
            claimed_until: claimed.map(ms_to_dt),
        }
    }};
}

macro_rules! silence_from_row {
    ($row:expr) => {{
        let r = $row;
        let id: i64 = r.try_get("id")?;
        let matchers: String = r.try_get("matchers")?;
        SilenceRow {
            silence: Silence {
                id: id.to_string(),
                matchers: from_json("silence matchers", &matchers)?,
                starts_at: ms_to_dt(r.try_get("starts_at_ms")?),
                ends_at: ms_to_dt(r.try_get("ends_at_ms")?),
                created_by: r.try_get("created_by")?,
                comment: r.try_get("comment")?,
            },
            expired: r.try_get("expired")?,
            created_at: ms_to_dt(r.try_get("created_at_ms")?),
        }
    }};
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn to_json<T: Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("encoding {what}: {e}")))
}

fn parse_alert_status(s: &str) -> AlertStatus {
    match s {
        "pending" => AlertStatus::Pending,
        "firing" => AlertStatus::Firing,
        "resolved" => AlertStatus::Resolved,
        _ => AlertStatus::Inactive,
    }
}

/// The `$N` placeholders `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Stored alert states of one job (or of every job), by fingerprint.
    pub async fn alert_states(&self, job: Option<&str>) -> Result<Vec<AlertState>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT state FROM alerts WHERE ($1 IS NULL OR job = $1) ORDER BY fingerprint",
            )
            .bind(job)
            .fetch_all(p)
            .await?;
            rows.into_iter()
                .map(|r| from_json("alert state", &r.try_get::<String, _>("state")?))
                .collect()
        })
    }

    /// Status changes of one alert, newest first.
    pub async fn alert_transitions(
        &self,
        fingerprint: &str,
        limit: i64,
    ) -> Result<Vec<AlertTransition>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, fingerprint, run_id, from_status, to_status, at_ms FROM alert_transitions \
                 WHERE fingerprint = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(fingerprint)
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(AlertTransition {
                        id: r.try_get("id")?,
                        fingerprint: r.try_get("fingerprint")?,
                        run_id: r.try_get("run_id")?,
                        from: parse_alert_status(&r.try_get::<String, _>("from_status")?),
                        to: parse_alert_status(&r.try_get::<String, _>("to_status")?),
                        at: ms_to_dt(r.try_get("at_ms")?),
                    })
                })
                .collect()
        })
    }

    /// The last enqueued notification of every (receiver, group).
    pub async fn sent_records(&self) -> Result<Vec<SentRecord>> {
        on_pool!(self, p => {
            let rows = sqlx::query("SELECT record FROM sent_records ORDER BY receiver, group_key")
                .fetch_all(p)
                .await?;
            rows.into_iter()
                .map(|r| from_json("sent record", &r.try_get::<String, _>("record")?))
                .collect()
        })
    }

    /// Writes one evaluation in one transaction: upserts the changed alert states,
    /// records status changes, enqueues the notifications (a notification whose
    /// idempotency key is already in the outbox is skipped) and replaces their sent
    /// records. Returns how many notifications were newly enqueued.
    #[tracing::instrument(skip_all, fields(run_id = ev.run_id, transitions = ev.transitions.len(), notifications = ev.notifications.len()))]
    pub async fn apply_alert_evaluation(&self, ev: &AlertEvaluation<'_>) -> Result<u64> {
        let now_ms = ev.now.timestamp_millis();
        let states = ev
            .transitions
            .iter()
            .map(|t| {
                Ok((
                    to_json("alert state", &t.state)?,
                    to_json("alert labels", &t.state.labels)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let outbox = ev
            .notifications
            .iter()
            .map(|n| {
                Ok((
                    to_json("notification", &n.notification)?,
                    to_json("sent record", &n.record)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for (t, (state, labels)) in ev.transitions.iter().zip(&states) {
                sqlx::query(
                    "INSERT INTO alerts (fingerprint, job, status, labels, state, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (fingerprint) DO UPDATE SET job = excluded.job, status = excluded.status, \
                     labels = excluded.labels, state = excluded.state, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(&t.fingerprint)
                .bind(t.state.label("job"))
                .bind(t.to.as_str())
                .bind(labels)
                .bind(state)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                if t.status_changed() {
                    sqlx::query(
                        "INSERT INTO alert_transitions (fingerprint, run_id, from_status, to_status, at_ms) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&t.fingerprint)
                    .bind(ev.run_id)
                    .bind(t.from.as_str())
                    .bind(t.to.as_str())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let mut enqueued = 0;
            for (planned, (notification, record)) in ev.notifications.iter().zip(&outbox) {
                let n = &planned.notification;
                enqueued += sqlx::query(
                    "INSERT INTO outbox (idempotency_key, receiver, notification, reason, status, attempts, \
                     next_attempt_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $6) \
                     ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(&n.idempotency_key)
                .bind(&n.receiver)
                .bind(notification)
                .bind(n.reason.to_string())
                .bind(OutboxStatus::Pending.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "INSERT INTO sent_records (receiver, group_key, record, updated_at_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (receiver, group_key) DO UPDATE SET record = excluded.record, \
                     updated_at_ms = excluded.updated_at_ms",
                )
                .bind(&planned.record.receiver)
                .bind(&planned.record.group_key)
                .bind(record)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(enqueued)
        })
    }

    /// Stores a silence and returns it with its id.
    pub async fn create_silence(&self, s: &NewSilence, now: DateTime<Utc>) -> Result<Silence> {
        let matchers = to_json("silence matchers", &s.matchers)?;
        let id: i64 = on_pool!(self, p => {
            sqlx::query_scalar(
                "INSERT INTO silences (matchers, starts_at_ms, ends_at_ms, created_by, comment, expired, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(&matchers)
            .bind(s.starts_at.timestamp_millis())
            .bind(s.ends_at.timestamp_millis())
            .bind(&s.created_by)
            .bind(&s.comment)
            .bind(false)
            .bind(now.timestamp_millis())
            .fetch_one(p)
            .await?
        });
        Ok(Silence {
            id: id.to_string(),
            matchers: s.matchers.clone(),
            starts_at: ms_to_dt(s.starts_at.timestamp_millis()),
            ends_at: ms_to_dt(s.ends_at.timestamp_millis()),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
        })
    }

    /// Silences, newest first: those not yet over at `now`, or every one with `all`.
    pub async fn silences(&self, now: DateTime<Utc>, all: bool) -> Result<Vec<SilenceRow>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, expired, created_at_ms \
                 FROM silences WHERE $1 OR (expired = $2 AND ends_at_ms > $3) ORDER BY id DESC",
            )
            .bind(all)
            .bind(false)
            .bind(now.timestamp_millis())
            .fetch_all(p)
            .await?;
            rows.into_iter().map(|r| Ok(silence_from_row!(r))).collect()
        })
    }

    /// Ends a silence now: it stops muting at once and is kept for the record.
    /// `NotFound` if there is no such silence; expiring an expired one is a no-op.
    pub async fn expire_silence(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        let now_ms = now.timestamp_millis();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM silences WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("silence {id}")));
            }
            sqlx::query(
                "UPDATE silences SET expired = $1, \
                 ends_at_ms = CASE WHEN ends_at_ms > $2 THEN $2 ELSE ends_at_ms END, \
                 starts_at_ms = CASE WHEN starts_at_ms > $2 THEN $2 ELSE starts_at_ms END \
                 WHERE id = $3",
            )
            .bind(true)
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Claims up to `limit` due rows of the given receivers for `lease`: pending rows
    /// whose `next_attempt_at <= now`, and delivering rows whose claim expired (their
    /// sender died). Claimed rows become `delivering` with `claimed_until = now + lease`
    /// and one more attempt. On PostgreSQL the rows are locked with `SKIP LOCKED`, so
    /// concurrent senders (replicas) never claim the same row; on SQLite the single
    /// UPDATE statement holds the database write lock.
    #[tracing::instrument(skip_all, fields(limit = limit))]
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease: Duration,
        receivers: &[String],
    ) -> Result<Vec<OutboxRow>> {
        if receivers.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let now_ms = now.timestamp_millis();
        let until_ms = (now + lease.max(Duration::milliseconds(1))).timestamp_millis();
        let due = format!(
            "SELECT id FROM outbox \
             WHERE ((status = 'pending' AND next_attempt_at_ms <= $2) \
                OR (status = 'delivering' AND claimed_until_ms <= $2)) \
               AND receiver IN ({}) \
             ORDER BY next_attempt_at_ms, id LIMIT $3",
            placeholders(4, receivers.len())
        );
        let sql = match &self.pool {
            Pool::Pg(_) => format!(
                "WITH due AS MATERIALIZED ({due} FOR UPDATE SKIP LOCKED) \
                 UPDATE outbox SET status = 'delivering', claimed_until_ms = $1, attempts = attempts + 1 \
                 FROM due WHERE outbox.id = due.id RETURNING {}",
                OUTBOX_COLUMNS
                    .split(", ")
                    .map(|c| format!("outbox.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Pool::Sqlite(_) => format!(
                "UPDATE outbox SET status = 'delivering', claimed_until_ms = $1, attempts = attempts + 1 \
                 WHERE id IN ({due}) RETURNING {OUTBOX_COLUMNS}"
            ),
        };
        let mut rows: Vec<OutboxRow> = on_pool!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(until_ms)
                .bind(now_ms)
                .bind(limit);
            for r in receivers {
                q = q.bind(r);
            }
            let rows = q.fetch_all(p).await?;
            rows.into_iter().map(|r| Ok(outbox_from_row!(r))).collect::<Result<Vec<_>>>()
        })?;
        rows.sort_by_key(|r| (r.next_attempt_at, r.id));
        Ok(rows)
    }

    /// Records a successful delivery of a claimed row. The row becomes `delivered`
    /// even if the claim expired meanwhile (it *was* delivered); false if it already
    /// was.
    pub async fn mark_delivered(&self, row: &OutboxRow, now: DateTime<Utc>) -> Result<bool> {
        let now_ms = now.timestamp_millis();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE outbox SET status = 'delivered', delivered_at_ms = $1, claimed_until_ms = NULL, \
                 last_error = NULL WHERE id = $2 AND status <> 'delivered'",
            )
            .bind(now_ms)
            .bind(row.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("INSERT INTO delivery_attempts (outbox_id, at_ms, ok, error) VALUES ($1, $2, $3, NULL)")
                .bind(row.id)
                .bind(now_ms)
                .bind(true)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Records a failed attempt and schedules the next one. Fenced on the claim: false
    /// (and the row untouched, the attempt still recorded) if the claim was lost.
    pub async fn mark_retry(
        &self,
        row: &OutboxRow,
        next_attempt_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.finish_claim(
            row,
            OutboxStatus::Pending,
            Some(next_attempt_at),
            error,
            now,
        )
        .await
    }

    /// Records a failed attempt and gives up on the row. Fenced like [`Self::mark_retry`].
    pub async fn mark_dead(
        &self,
        row: &OutboxRow,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.finish_claim(row, OutboxStatus::Dead, None, error, now)
            .await
    }

    async fn finish_claim(
        &self,
        row: &OutboxRow,
        status: OutboxStatus,
        next_attempt_at: Option<DateTime<Utc>>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now_ms = now.timestamp_millis();
        let next_ms = next_attempt_at.map_or(row.next_attempt_at.timestamp_millis(), |t| {
            t.timestamp_millis()
        });
        let claim = row.claimed_until.map(|t| t.timestamp_millis());
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE outbox SET status = $1, next_attempt_at_ms = $2, last_error = $3, claimed_until_ms = NULL \
                 WHERE id = $4 AND status = 'delivering' AND claimed_until_ms = $5",
            )
            .bind(status.as_str())
            .bind(next_ms)
            .bind(error)
            .bind(row.id)
            .bind(claim)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("INSERT INTO delivery_attempts (outbox_id, at_ms, ok, error) VALUES ($1, $2, $3, $4)")
                .bind(row.id)
                .bind(now_ms)
                .bind(false)
                .bind(error)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Gives a claimed row back untried (e.g. on shutdown): pending again, the claim's
    /// attempt not counted. Fenced on the claim.
    pub async fn release_claim(&self, row: &OutboxRow) -> Result<bool> {
        let claim = row.claimed_until.map(|t| t.timestamp_millis());
        on_pool!(self, p => {
            let n = sqlx::query(
                "UPDATE outbox SET status = 'pending', claimed_until_ms = NULL, attempts = attempts - 1 \
                 WHERE id = $1 AND status = 'delivering' AND claimed_until_ms = $2",
            )
            .bind(row.id)
            .bind(claim)
            .execute(p)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Puts dead notifications back in the queue: `ids`, or every dead one when
    /// `ids` is empty. Each starts over as if enqueued at `now` (attempts 0, due
    /// now, a fresh `give_up_after`), and its last error is kept until the next
    /// attempt. Rows that are not dead are left alone. Returns how many moved.
    pub async fn requeue_dead(&self, ids: &[i64], now: DateTime<Utc>) -> Result<u64> {
        let now_ms = now.timestamp_millis();
        let sql = "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at_ms = $1, \
                   created_at_ms = $1, claimed_until_ms = NULL WHERE status = 'dead'";
        on_pool!(self, p => {
            let mut n = 0;
            if ids.is_empty() {
                n += sqlx::query(sql).bind(now_ms).execute(p).await?.rows_affected();
            } else {
                let one = format!("{sql} AND id = $2");
                for id in ids {
                    n += sqlx::query(sqlx::AssertSqlSafe(one.clone()))
                        .bind(now_ms)
                        .bind(id)
                        .execute(p)
                        .await?
                        .rows_affected();
                }
            }
            Ok(n)
        })
    }

    /// Outbox rows, oldest first (see [`OutboxFilter`]).
    pub async fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxRow>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox \
             WHERE (CAST($1 AS TEXT) IS NULL AND status <> 'delivered') OR status = $1 \
             ORDER BY id LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(filter.status.map(OutboxStatus::as_str))
                .bind(filter.limit.unwrap_or(1000))
                .fetch_all(p)
                .await?;
            rows.into_iter().map(|r| Ok(outbox_from_row!(r))).collect()
        })
    }

    /// One outbox row.
    pub async fn outbox_row(&self, id: i64) -> Result<OutboxRow> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
        on_pool!(self, p => {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .fetch_optional(p)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("outbox row {id}")))?;
            Ok(outbox_from_row!(r))
        })
    }

    /// Outbox rows by status.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        let rows: Vec<(String, i64)> = on_pool!(self, p => {
            sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status")
                .fetch_all(p)
                .await?
        });
        let mut c = OutboxCounts::default();
        for (status, n) in rows {
            match OutboxStatus::parse(&status) {
                OutboxStatus::Pending => c.pending = n,
                OutboxStatus::Delivering => c.delivering = n,
                OutboxStatus::Delivered => c.delivered = n,
                OutboxStatus::Dead => c.dead = n,
            }
        }
        Ok(c)
    }

    /// Delivery attempts of one outbox row, oldest first.
    pub async fn delivery_attempts(&self, outbox_id: i64) -> Result<Vec<DeliveryAttempt>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, outbox_id, at_ms, ok, error FROM delivery_attempts WHERE outbox_id = $1 ORDER BY id",
            )
            .bind(outbox_id)
            .fetch_all(p)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(DeliveryAttempt {
                        id: r.try_get("id")?,
                        outbox_id: r.try_get("outbox_id")?,
                        at: ms_to_dt(r.try_get("at_ms")?),
                        ok: r.try_get("ok")?,
                        error: r.try_get("error")?,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_continue_numbering() {
        assert_eq!(placeholders(4, 3), "$4, $5, $6");
        assert_eq!(placeholders(1, 0), "");
    }

    #[test]
    fn outbox_status_roundtrip() {
        for s in [
            OutboxStatus::Pending,
            OutboxStatus::Delivering,
            OutboxStatus::Delivered,
            OutboxStatus::Dead,
        ] {
            assert_eq!(OutboxStatus::parse(s.as_str()), s);
        }
    }
}
