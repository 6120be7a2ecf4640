//! Slack incoming-webhook channel (Block Kit).

use std::path::PathBuf;

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::super::group::Notification;
use super::super::render;
use super::{http, invalid, is_loopback_host, parse_http_url, read_secret, secret_source, yes};
use super::{ChannelConfigError, SendError};

/// `kind = "slack"`. The webhook URL is a credential: give it via `webhook_url_env` or
/// `webhook_url_file`; inline `webhook_url` is allowed only for loopback hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Environment variable holding the webhook URL.
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    /// File holding the webhook URL.
    #[serde(default)]
    pub webhook_url_file: Option<PathBuf>,
    /// Inline URL, accepted only when its host is loopback (tests, local relays).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Also post resolutions (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl SlackConfig {
    pub(crate) fn validate(&self) -> Result<(), ChannelConfigError> {
        let src = secret_source(
            "webhook_url",
            self.webhook_url_env.as_ref(),
            self.webhook_url_file.as_ref(),
        )?;
        match (&self.webhook_url, src) {
            (Some(_), Some(_)) => Err(invalid(
                "set only one of webhook_url, webhook_url_env, webhook_url_file",
            )),
            (None, None) => Err(invalid("set webhook_url_env or webhook_url_file")),
            (Some(url), None) => {
                let u = parse_http_url("webhook_url", url)?;
                if is_loopback_host(u.host_str().unwrap_or_default()) {
                    Ok(())
                } else {
                    Err(invalid(
                        "a Slack webhook URL is a secret: use webhook_url_env or webhook_url_file \
                         (inline webhook_url is only accepted for loopback hosts)",
                    ))
                }
            }
            (None, Some(_)) => Ok(()),
        }
    }

    fn resolve_url(&self) -> Result<reqwest::Url, ChannelConfigError> {
        let raw = match (
            &self.webhook_url,
            secret_source(
                "webhook_url",
                self.webhook_url_env.as_ref(),
                self.webhook_url_file.as_ref(),
            )?,
        ) {
            (Some(u), _) => u.clone(),
            (None, Some(src)) => read_secret("webhook_url", &src)?,
            (None, None) => return Err(invalid("set webhook_url_env or webhook_url_file")),
        };
        // Do not echo the secret URL in the error.
        parse_http_url("webhook_url", raw.trim())
            .map_err(|_| invalid("webhook_url: not a valid http(s) URL"))
    }
}

/// A built Slack channel.
#[derive(Clone)]
pub struct SlackChannel {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl std::fmt::Debug for SlackChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackChannel")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

impl SlackChannel {
    /// Reads the URL secret and builds the HTTP client.
    pub fn new(c: &SlackConfig) -> Result<Self, ChannelConfigError> {
        Ok(SlackChannel {
            client: http::client()?,
            url: c.resolve_url()?,
        })
    }

    /// Posts the Block Kit payload.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = serde_json::to_vec(&render::slack_payload(n))
            .map_err(|e| SendError::permanent(format!("encoding Slack payload: {e}")))?;
        http::post_json(&self.client, &self.url, body, HeaderMap::new()).await
    }

    /// Slack has no side-effect-free probe: checks the host answers HTTP at all.
    pub async fn healthcheck(&self) -> Result<String, SendError> {
        http::probe_head(&self.client, &self.url).await
    }
}
