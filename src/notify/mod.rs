//! Alert evaluation and delivery. This module owns the alert rule state machine
//! (`Inactive → Pending → Firing → Resolved`, counted in runs with `for` and
//! `keep_firing_for`), silences, grouping and dedup of notifications (Alertmanager
//! semantics), rendering (email, Slack, webhook, Alertmanager) and the delivery channels
//! with their retry classification. Every decision is a pure function of its inputs and a
//! clock passed in, and returns a named reason. It never issues SQL: the caller loads and
//! persists alert states, silences, sent records and outbox rows, and stores
//! [`Notification`]s as JSON.
//!
//! Flow after each run: [`evaluate`] → persist the transitions → [`plan_notifications`] →
//! enqueue each [`PlannedNotification`] and store its [`SentRecord`] → an outbox worker
//! calls [`Receiver::send`] and, on error, [`RetryPolicy::decide`].

mod channels;
mod config;
mod dedup;
mod group;
mod incident;
mod links;
mod plan;
mod redact;
mod render;
mod retry;
mod rules;
mod silence;
mod state;
mod template;

#[cfg(test)]
mod tests;

pub use channels::{
    build_message, classify_http, is_loopback_host, sign_body, AlertmanagerChannel,
    AlertmanagerConfig, ChannelConfigError, EmailChannel, EmailConfig, FileChannel, FileConfig,
    Receiver, ReceiverConfig, SendError, SlackChannel, SlackConfig, SmtpTls, WebhookChannel,
    WebhookConfig, IDEMPOTENCY_HEADER, SIGNATURE_HEADER,
};
pub use config::{
    default_inhibit_rules, Alerting, AlertingConfig, AlertingConfigError, ConfigDuration,
    InhibitRuleConfig, RouteConfig,
};
pub use dedup::{should_notify, GroupStatus, NotificationStatus, NotifyReason, SentRecord};
pub use group::{group_alerts, group_key, idempotency_key, AlertGroup, Notification, GROUP_BY_ALL};
pub use incident::{
    default_severity, gap_id, headline, incident_of, lead, title, CRITICAL_METRICS,
};
pub use links::{shell_quote, LinkBase, Links};
pub use plan::{
    inhibited, plan_notifications, InhibitRule, Plan, PlanInput, PlannedNotification, Route,
    SkippedGroup,
};
pub use redact::{redact, ExamplesPolicy};
pub use render::{
    alertmanager_payload, html_body, incidents, report_command, slack_payload, subject, text_body,
    webhook_payload, IncidentView,
};
pub use retry::{backoff, RetryDecision, RetryPolicy};
pub use rules::{
    default_rules, fmt_num, glob_match, validate_rules, Condition, ConditionField, ConditionOp,
    Finding, FindingKind, KindSelector, RuleConfig, RuleError, RuleSeverity, Severity, Side,
    SideSelector, Threshold, DEFAULT_SUMMARY, RESERVED_LABELS,
};
pub use silence::{
    is_silenced, parse_matchers, MatchOp, Matcher, Silence, SilenceError, SilenceState,
};
pub use state::{evaluate, fingerprint, AlertState, AlertStatus, RunFindings, Transition};
