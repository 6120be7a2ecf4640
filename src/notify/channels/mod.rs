//! Delivery channels: receiver config, secret resolution, send and healthcheck.
//!
//! Secrets are never written inline in the config: SMTP passwords and webhook HMAC keys
//! come from `*_env` (environment variable name) or `*_file` (path, trailing newline
//! stripped). A Slack incoming-webhook URL *is* a credential, so it too comes from
//! `webhook_url_env` / `webhook_url_file`; an inline `webhook_url` is accepted only when
//! its host is loopback (`localhost`, `127.0.0.0/8`, `::1`), for tests and local relays.

mod alertmanager;
mod email;
mod file;
mod http;
mod slack;
mod webhook;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::group::Notification;

pub use alertmanager::{AlertmanagerChannel, AlertmanagerConfig};
pub use email::{build_message, EmailChannel, EmailConfig, SmtpTls};
pub use file::{FileChannel, FileConfig};
pub use http::classify_http;
pub use slack::{SlackChannel, SlackConfig};
pub use webhook::{sign_body, WebhookChannel, WebhookConfig, IDEMPOTENCY_HEADER, SIGNATURE_HEADER};

/// Outcome of a failed delivery, as the outbox needs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (network, 5xx, 429, SMTP 4xx).
    #[error("retryable: {reason}")]
    Retryable {
        /// What happened.
        reason: String,
    },
    /// Will not succeed as is (4xx, SMTP 5xx, bad config).
    #[error("permanent: {reason}")]
    Permanent {
        /// What happened.
        reason: String,
    },
}

impl SendError {
    /// A retryable error.
    pub fn retryable(reason: impl Into<String>) -> Self {
        SendError::Retryable {
            reason: reason.into(),
        }
    }

    /// A permanent error.
    pub fn permanent(reason: impl Into<String>) -> Self {
        SendError::Permanent {
            reason: reason.into(),
        }
    }

    /// Whether the outbox should try again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Retryable { .. })
    }

    /// The reason text.
    pub fn reason(&self) -> &str {
        match self {
            SendError::Retryable { reason } | SendError::Permanent { reason } => reason,
        }
    }
}

/// Why a receiver config cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelConfigError {
    /// Something about the config is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A secret could not be read.
    #[error("secret {what}: {why}")]
    Secret {
        /// Which secret.
        what: String,
        /// Why.
        why: String,
    },
}

fn invalid(s: impl Into<String>) -> ChannelConfigError {
    ChannelConfigError::Invalid(s.into())
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretSource<'a> {
    Env(&'a str),
    File(&'a Path),
}

/// Picks at most one of `env` / `file`; both set is an error.
pub(crate) fn secret_source<'a>(
    what: &str,
    env: Option<&'a String>,
    file: Option<&'a PathBuf>,
) -> Result<Option<SecretSource<'a>>, ChannelConfigError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(invalid(format!(
            "set only one of {what}_env and {what}_file"
        ))),
        (Some(e), None) if e.trim().is_empty() => Err(invalid(format!("{what}_env is empty"))),
        (Some(e), None) => Ok(Some(SecretSource::Env(e))),
        (None, Some(f)) => Ok(Some(SecretSource::File(f))),
        (None, None) => Ok(None),
    }
}

/// Reads a secret through the one reader (`config::read_secret`); empty values are errors.
pub(crate) fn read_secret(
    what: &str,
    src: &SecretSource<'_>,
) -> Result<String, ChannelConfigError> {
    let (env, file) = match src {
        SecretSource::Env(name) => (Some(*name), None),
        SecretSource::File(path) => (None, Some(*path)),
    };
    crate::config::read_secret(env, file)
        .and_then(|v| v.ok_or_else(|| "is not set".to_string()))
        .map_err(|why| ChannelConfigError::Secret {
            what: what.to_owned(),
            why,
        })
}

/// Whether `host` names the local machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn parse_http_url(what: &str, url: &str) -> Result<reqwest::Url, ChannelConfigError> {
    let u = reqwest::Url::parse(url).map_err(|e| invalid(format!("{what}: invalid URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(invalid(format!("{what}: need an http(s) URL with a host")));
    }
    Ok(u)
}

fn yes() -> bool {
    true
}

/// One receiver in `[alerts.receivers.NAME]`, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ReceiverConfig {
    /// SMTP email.
    Email(EmailConfig),
    /// Slack incoming webhook.
    Slack(SlackConfig),
    /// Generic signed JSON webhook.
    Webhook(WebhookConfig),
    /// Alertmanager `POST /api/v2/alerts`.
    Alertmanager(AlertmanagerConfig),
    /// `.eml` files in a maildir-like directory.
    File(FileConfig),
}

impl ReceiverConfig {
    /// `email`, `slack`, `webhook`, `alertmanager` or `file`.
    pub fn kind(&self) -> &'static str {
        match self {
            ReceiverConfig::Email(_) => "email",
            ReceiverConfig::Slack(_) => "slack",
            ReceiverConfig::Webhook(_) => "webhook",
            ReceiverConfig::Alertmanager(_) => "alertmanager",
            ReceiverConfig::File(_) => "file",
        }
    }

    /// Whether resolutions are sent (always for Alertmanager, which must learn them).
    pub fn send_resolved(&self) -> bool {
        match self {
            ReceiverConfig::Email(c) => c.send_resolved,
            ReceiverConfig::Slack(c) => c.send_resolved,
            ReceiverConfig::Webhook(c) => c.send_resolved,
            ReceiverConfig::Alertmanager(_) => true,
            ReceiverConfig::File(c) => c.send_resolved,
        }
    }

    /// Static checks: addresses, URLs, secret sources (secrets are not read).
    pub fn validate(&self) -> Result<(), ChannelConfigError> {
        match self {
            ReceiverConfig::Email(c) => c.validate(),
            ReceiverConfig::Slack(c) => c.validate(),
            ReceiverConfig::Webhook(c) => c.validate(),
            ReceiverConfig::Alertmanager(c) => c.validate(),
            ReceiverConfig::File(c) => c.validate(),
        }
    }

    /// Reads secrets and builds the channel (no network I/O).
    pub fn build(&self) -> Result<Receiver, ChannelConfigError> {
        self.validate()?;
        Ok(match self {
            ReceiverConfig::Email(c) => Receiver::Email(EmailChannel::new(c)?),
            ReceiverConfig::Slack(c) => Receiver::Slack(SlackChannel::new(c)?),
            ReceiverConfig::Webhook(c) => Receiver::Webhook(WebhookChannel::new(c)?),
            ReceiverConfig::Alertmanager(c) => Receiver::Alertmanager(AlertmanagerChannel::new(c)?),
            ReceiverConfig::File(c) => Receiver::File(FileChannel::new(c)?),
        })
    }
}

/// A ready-to-use channel (secrets resolved, clients built). Cheap to keep around.
#[derive(Debug, Clone)]
pub enum Receiver {
    /// SMTP email.
    Email(EmailChannel),
    /// Slack.
    Slack(SlackChannel),
    /// Generic webhook.
    Webhook(WebhookChannel),
    /// Alertmanager.
    Alertmanager(AlertmanagerChannel),
    /// Maildir-like directory.
    File(FileChannel),
}

impl Receiver {
    /// Delivers one notification. Safe to repeat: every channel passes the idempotency key
    /// (Message-ID, `Idempotency-Key` header, file name).
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let result = match self {
            Receiver::Email(c) => c.send(n).await,
            Receiver::Slack(c) => c.send(n).await,
            Receiver::Webhook(c) => c.send(n).await,
            Receiver::Alertmanager(c) => c.send(n).await,
            Receiver::File(c) => c.send(n).await,
        };
        match &result {
            Ok(()) => tracing::debug!(
                receiver = %n.receiver,
                kind = self.kind(),
                key = %n.idempotency_key,
                "notification delivered"
            ),
            Err(e) => tracing::warn!(
                receiver = %n.receiver,
                kind = self.kind(),
                key = %n.idempotency_key,
                retryable = e.is_retryable(),
                error = %e.reason(),
                "notification delivery failed"
            ),
        }
        result
    }

    /// `email`, `slack`, `webhook`, `alertmanager` or `file`.
    pub fn kind(&self) -> &'static str {
        match self {
            Receiver::Email(_) => "email",
            Receiver::Slack(_) => "slack",
            Receiver::Webhook(_) => "webhook",
            Receiver::Alertmanager(_) => "alertmanager",
            Receiver::File(_) => "file",
        }
    }

    /// Probes the peer without sending a notification; returns a one-line description.
    pub async fn healthcheck(&self) -> Result<String, SendError> {
        match self {
            Receiver::Email(c) => c.healthcheck().await,
            Receiver::Slack(c) => c.healthcheck().await,
            Receiver::Webhook(c) => c.healthcheck().await,
            Receiver::Alertmanager(c) => c.healthcheck().await,
            Receiver::File(c) => c.healthcheck().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "127.0.0.1",
            "127.8.0.3",
            "::1",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "hooks.slack.com",
            "10.0.0.1",
            "192.168.1.1",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn secrets_from_env_and_file() {
        let dir = super::super::tests::fixtures::tempdir("secret");
        let path = dir.join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        let p = path.clone();
        let src = secret_source("password", None, Some(&p)).unwrap().unwrap();
        assert_eq!(read_secret("password", &src).unwrap(), "hunter2");
        // PATH is always set; no set_var (unsafe under edition 2024, racy in tests).
        let name = "PATH".to_string();
        let src = secret_source("password", Some(&name), None)
            .unwrap()
            .unwrap();
        assert_eq!(
            read_secret("password", &src).unwrap(),
            std::env::var("PATH").unwrap()
        );
        assert!(secret_source("password", Some(&name), Some(&p)).is_err());
        let missing = "DRIFTWATCH_TEST_SECRET_MISSING".to_string();
        let src = secret_source("password", Some(&missing), None)
            .unwrap()
            .unwrap();
        assert!(matches!(
            read_secret("password", &src),
            Err(ChannelConfigError::Secret { .. })
        ));
    }

    #[test]
    fn receiver_config_toml() {
        let bad = toml::from_str::<ReceiverConfig>(
            "kind='slack'\nwebhook_url='https://hooks.slack.com/services/T/B/X'",
        )
        .unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("webhook_url_env"), "{err}");
        let ok =
            toml::from_str::<ReceiverConfig>("kind='slack'\nwebhook_url='http://127.0.0.1:9/x'")
                .unwrap();
        ok.validate().unwrap();
        let unknown = toml::from_str::<ReceiverConfig>(
            "kind='slack'\nwebhook_url_env='X'\npassword='inline'",
        );
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
        let no_inline_pw = toml::from_str::<ReceiverConfig>(
            "kind='email'\nsmtp_host='h'\nfrom='a@b.c'\nto=['x@y.z']\npassword='inline'",
        );
        assert!(no_inline_pw.is_err());
        let am =
            toml::from_str::<ReceiverConfig>("kind='alertmanager'\nurl='http://am:9093'").unwrap();
        assert!(am.send_resolved());
        assert_eq!(am.kind(), "alertmanager");
    }
}
