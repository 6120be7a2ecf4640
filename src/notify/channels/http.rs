//! Shared HTTP plumbing: client, POST, response classification.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};

use super::{ChannelConfigError, SendError};

/// Longest response body quoted in an error.
const MAX_BODY_IN_ERROR: usize = 512;

pub(crate) fn client() -> Result<reqwest::Client, ChannelConfigError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ChannelConfigError::Invalid(format!("HTTP client: {e}")))
}

/// Maps an HTTP response to a delivery outcome: 2xx ok; 5xx, 429 and 408 retryable;
/// anything else (other 4xx, unfollowed 3xx, 1xx) permanent. The (truncated) body is
/// part of the reason.
pub fn classify_http(status: u16, body: &str) -> Result<(), SendError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body = body.trim();
    let mut quoted: String = body.chars().take(MAX_BODY_IN_ERROR).collect();
    if quoted.len() < body.len() {
        quoted.push('…');
    }
    let reason = if quoted.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {quoted}")
    };
    if status >= 500 || status == 429 || status == 408 {
        Err(SendError::Retryable { reason })
    } else {
        Err(SendError::Permanent { reason })
    }
}

/// Network-level failure → retryable, request-building failure → permanent. The
/// URL is dropped from the reason: a Slack webhook URL or a webhook's query-string
/// key is a secret, and the reason reaches logs, `outbox.last_error`,
/// `delivery_attempts.error` and `alerts outbox`.
pub(crate) fn classify_reqwest(e: reqwest::Error) -> SendError {
    let builder = e.is_builder();
    let reason = crate::text::error_chain(&e.without_url());
    if builder {
        SendError::permanent(reason)
    } else {
        SendError::retryable(reason)
    }
}

/// POSTs a JSON body and classifies the response.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &reqwest::Url,
    body: Vec<u8>,
    mut headers: HeaderMap,
) -> Result<(), SendError> {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let resp = client
        .post(url.clone())
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(classify_reqwest)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    classify_http(status, &text)
}

/// Any HTTP answer means the peer is reachable; only network failures count as down.
pub(crate) async fn probe_head(
    client: &reqwest::Client,
    url: &reqwest::Url,
) -> Result<String, SendError> {
    let resp = client
        .head(url.clone())
        .send()
        .await
        .map_err(classify_reqwest)?;
    Ok(format!(
        "reachable (HEAD answered HTTP {})",
        resp.status().as_u16()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify_http(200, ""), Ok(()));
        assert_eq!(classify_http(204, "x"), Ok(()));
        assert!(classify_http(500, "boom").unwrap_err().is_retryable());
        assert!(classify_http(503, "").unwrap_err().is_retryable());
        assert!(classify_http(429, "slow down").unwrap_err().is_retryable());
        let e = classify_http(400, "invalid_payload").unwrap_err();
        assert!(!e.is_retryable());
        assert_eq!(e.reason(), "HTTP 400: invalid_payload");
        assert!(!classify_http(404, "no_service").unwrap_err().is_retryable());
        assert!(!classify_http(302, "").unwrap_err().is_retryable());
        let long = "x".repeat(5000);
        assert!(classify_http(500, &long).unwrap_err().reason().len() < 600);
    }
}
