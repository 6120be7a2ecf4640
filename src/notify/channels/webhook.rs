//! Generic JSON webhook channel, HMAC-SHA256 signed.

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::super::group::Notification;
use super::super::render;
use super::{http, parse_http_url, read_secret, secret_source, yes};
use super::{ChannelConfigError, SendError};

/// Signature header: `sha256=<hex HMAC-SHA256 of the raw body>`.
pub const SIGNATURE_HEADER: &str = "x-driftwatch-signature";
/// Idempotency header (the notification's idempotency key).
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// `kind = "webhook"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Endpoint URL (not a secret; the HMAC key is).
    pub url: String,
    /// Environment variable holding the HMAC key (optional: unsigned without a key).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the HMAC key.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Also post resolutions (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl WebhookConfig {
    pub(crate) fn validate(&self) -> Result<(), ChannelConfigError> {
        parse_http_url("url", &self.url)?;
        secret_source(
            "secret",
            self.secret_env.as_ref(),
            self.secret_file.as_ref(),
        )?;
        Ok(())
    }
}

/// `sha256=<hex>` HMAC-SHA256 of `body` under `secret`.
pub fn sign_body(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A built webhook channel.
#[derive(Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("url", &self.url.as_str())
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookChannel {
    /// Reads the HMAC key and builds the HTTP client.
    pub fn new(c: &WebhookConfig) -> Result<Self, ChannelConfigError> {
        let secret = secret_source("secret", c.secret_env.as_ref(), c.secret_file.as_ref())?
            .map(|src| read_secret("secret", &src).map(String::into_bytes))
            .transpose()?;
        Ok(WebhookChannel {
            client: http::client()?,
            url: parse_http_url("url", &c.url)?,
            secret,
        })
    }

    /// Posts [`render::webhook_payload`] with `Idempotency-Key` and, when keyed, the signature.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = serde_json::to_vec(&render::webhook_payload(n))
            .map_err(|e| SendError::permanent(format!("encoding webhook payload: {e}")))?;
        let mut headers = HeaderMap::new();
        let key = HeaderValue::from_str(&n.idempotency_key)
            .map_err(|e| SendError::permanent(format!("idempotency key header: {e}")))?;
        headers.insert(HeaderName::from_static(IDEMPOTENCY_HEADER), key);
        if let Some(secret) = &self.secret {
            let sig = HeaderValue::from_str(&sign_body(secret, &body))
                .map_err(|e| SendError::permanent(format!("signature header: {e}")))?;
            headers.insert(HeaderName::from_static(SIGNATURE_HEADER), sig);
        }
        http::post_json(&self.client, &self.url, body, headers).await
    }

    /// HEAD on the URL; any HTTP answer counts as reachable.
    pub async fn healthcheck(&self) -> Result<String, SendError> {
        http::probe_head(&self.client, &self.url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_known_vector() {
        // RFC 4231 test case 2
        assert_eq!(
            sign_body(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
