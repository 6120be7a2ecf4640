//! Alerting on top of the store: after a run, turns its findings into alert state
//! changes and outbox rows in one transaction ([`evaluate_run`]); delivers the outbox
//! to the receivers with retries, durably and without double sends across replicas
//! ([`Sender`], [`spawn_sender`], [`deliver_due`]); and the `driftwatch alerts`
//! commands ([`AlertsCmd`], [`run_cmd`]).
//!
//! Every decision (rules, the alert state machine, silences, grouping, dedup, rendering,
//! failure classification, backoff) is a pure function in [`crate::notify`]; this module
//! only loads their inputs from the [`Store`](crate::store::Store), persists their
//! outputs and performs the I/O. It issues no SQL and makes no decision of its own.
//!
//! Flow: run finished → [`evaluate_run`] (load states, silences, sent records →
//! `notify::evaluate` → `notify::plan_notifications` → one store transaction) → the
//! sender claims due outbox rows → `Receiver::send` → marks the row delivered, to be
//! retried (`RetryPolicy::decide`) or dead.

mod convert;
mod evaluate;
mod receivers;
mod sender;

pub use convert::notify_findings;
pub use evaluate::{evaluate_run, EvalOutcome};
pub use receivers::{build_receivers, resolve_receiver_paths, ReceiverBuildError};
pub use sender::{
    deliver_due, spawn_sender, spawn_sender_with, DeliveryStats, Sender, SenderOptions,
};

use crate::notify::AlertingConfigError;
use crate::store::StoreError;

/// Errors of alert evaluation and delivery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// Reading or writing alert state or the outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The `[alerts]` section is unusable (normally caught by `check-config`).
    #[error("invalid [alerts] config: {0}")]
    Config(#[from] AlertingConfigError),
}

/// Result of this module.
pub type Result<T, E = AlertError> = std::result::Result<T, E>;
