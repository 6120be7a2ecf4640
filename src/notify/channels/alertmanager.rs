//! Alertmanager channel: `POST {url}/api/v2/alerts`.

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::super::group::Notification;
use super::super::render;
use super::{http, parse_http_url, ChannelConfigError, SendError};
use crate::config::ConfigDuration;

fn default_ttl() -> ConfigDuration {
    ConfigDuration::from_secs(24 * 3600)
}

/// `kind = "alertmanager"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager base URL, e.g. `http://alertmanager:9093`.
    pub url: String,
    /// `endsAt` of firing alerts = now + this (default `24h`); keep it above your run
    /// interval so Alertmanager does not resolve alerts between runs.
    #[serde(default = "default_ttl")]
    pub firing_ttl: ConfigDuration,
    /// Optional `generatorURL` template (`{run_id}`, `{job}`); omitted when unset.
    #[serde(default)]
    pub generator_url: Option<String>,
}

impl AlertmanagerConfig {
    pub(crate) fn validate(&self) -> Result<(), ChannelConfigError> {
        parse_http_url("url", &self.url)?;
        Ok(())
    }
}

/// A built Alertmanager channel.
#[derive(Debug, Clone)]
pub struct AlertmanagerChannel {
    client: reqwest::Client,
    alerts_url: reqwest::Url,
    healthy_url: reqwest::Url,
    firing_ttl: chrono::Duration,
    generator_url: Option<String>,
}

impl AlertmanagerChannel {
    /// Builds the HTTP client and endpoint URLs.
    pub fn new(c: &AlertmanagerConfig) -> Result<Self, ChannelConfigError> {
        let base = c.url.trim_end_matches('/');
        let base = base.strip_suffix("/api/v2/alerts").unwrap_or(base);
        Ok(AlertmanagerChannel {
            client: http::client()?,
            alerts_url: parse_http_url("url", &format!("{base}/api/v2/alerts"))?,
            healthy_url: parse_http_url("url", &format!("{base}/-/healthy"))?,
            firing_ttl: c.firing_ttl.to_chrono(),
            generator_url: c.generator_url.clone(),
        })
    }

    /// Posts the alerts (firing and resolved) of the notification.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let payload =
            render::alertmanager_payload(n, self.firing_ttl, self.generator_url.as_deref());
        let body = serde_json::to_vec(&payload)
            .map_err(|e| SendError::permanent(format!("encoding alerts: {e}")))?;
        http::post_json(&self.client, &self.alerts_url, body, HeaderMap::new()).await
    }

    /// `GET /-/healthy` must answer 2xx.
    pub async fn healthcheck(&self) -> Result<String, SendError> {
        let resp = self
            .client
            .get(self.healthy_url.clone())
            .send()
            .await
            .map_err(http::classify_reqwest)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        http::classify_http(status, &text)?;
        Ok(format!("Alertmanager {} is healthy", self.healthy_url))
    }
}
