//! SMTP email channel (lettre, tokio, rustls).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::super::group::Notification;
use super::super::render;
use super::{
    invalid, is_loopback_host, read_secret, secret_source, yes, ChannelConfigError, SendError,
};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connect, then mandatory STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (loopback relays and tests only when credentials are set).
    None,
}

/// `kind = "email"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub smtp_host: String,
    /// Port; defaults to 587 (starttls), 465 (tls) or 25 (none).
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// SMTP AUTH user; needs `password_env` or `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the SMTP password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. `driftwatch <driftwatch@example.com>`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Also mail resolutions (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl EmailConfig {
    fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }

    pub(crate) fn validate(&self) -> Result<(), ChannelConfigError> {
        if self.smtp_host.trim().is_empty() {
            return Err(invalid("smtp_host is empty"));
        }
        parse_mailboxes(&self.from, &self.to)?;
        let pw = secret_source(
            "password",
            self.password_env.as_ref(),
            self.password_file.as_ref(),
        )?;
        match (&self.username, pw) {
            (Some(_), None) => return Err(invalid("username needs password_env or password_file")),
            (None, Some(_)) => return Err(invalid("password given without username")),
            (Some(_), Some(_))
                if self.tls == SmtpTls::None && !is_loopback_host(&self.smtp_host) =>
            {
                return Err(invalid(
                    "refusing SMTP credentials over an unencrypted connection (tls = \"none\") to a non-loopback host",
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

pub(crate) fn parse_mailboxes(
    from: &str,
    to: &[String],
) -> Result<(Mailbox, Vec<Mailbox>), ChannelConfigError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| invalid(format!("from {from:?}: {e}")))?;
    if to.is_empty() {
        return Err(invalid("`to` needs at least one address"));
    }
    let to = to
        .iter()
        .map(|t| t.parse().map_err(|e| invalid(format!("to {t:?}: {e}"))))
        .collect::<Result<Vec<Mailbox>, _>>()?;
    Ok((from, to))
}

/// `Auto-Submitted: auto-generated` (RFC 3834) so vacation responders stay quiet.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// The RFC 5322 message for a notification: subject from [`render::subject`],
/// `multipart/alternative` text + HTML, `Message-ID: <{idempotency_key}@driftwatch>`,
/// `Date` = `created_at`.
pub fn build_message(
    from: &Mailbox,
    to: &[Mailbox],
    n: &Notification,
) -> Result<Message, SendError> {
    let mut b = Message::builder()
        .from(from.clone())
        .subject(render::subject(n))
        .message_id(Some(format!("<{}@driftwatch>", n.idempotency_key)))
        .date(SystemTime::from(n.created_at))
        .header(AutoSubmitted);
    for t in to {
        b = b.to(t.clone());
    }
    b.multipart(MultiPart::alternative_plain_html(
        render::text_body(n),
        render::html_body(n),
    ))
    .map_err(|e| SendError::permanent(format!("building email: {e}")))
}

/// Maps an SMTP failure: 4xx replies, connection, network and TLS trouble are retryable;
/// 5xx replies and client-side errors are permanent.
pub(crate) fn classify_smtp(e: &lettre::transport::smtp::Error) -> SendError {
    let reason = format!("SMTP: {e}");
    if e.is_permanent() || e.is_client() {
        SendError::permanent(reason)
    } else {
        SendError::retryable(reason)
    }
}

/// A built email channel.
#[derive(Clone)]
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    target: String,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel")
            .field("target", &self.target)
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

impl EmailChannel {
    /// Reads the password and prepares the transport (connects only when sending).
    pub fn new(c: &EmailConfig) -> Result<Self, ChannelConfigError> {
        let (from, to) = parse_mailboxes(&c.from, &c.to)?;
        let tls_params = || {
            TlsParameters::new(c.smtp_host.clone())
                .map_err(|e| invalid(format!("TLS parameters for {}: {e}", c.smtp_host)))
        };
        let tls = match c.tls {
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Tls => Tls::Wrapper(tls_params()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.smtp_host.clone())
                .port(c.port())
                .tls(tls)
                .timeout(Some(Duration::from_secs(30)));
        if let Some(user) = &c.username {
            let src = secret_source(
                "password",
                c.password_env.as_ref(),
                c.password_file.as_ref(),
            )?
            .ok_or_else(|| invalid("username needs password_env or password_file"))?;
            let pw = read_secret("password", &src)?;
            builder = builder.credentials(Credentials::new(user.clone(), pw));
        }
        Ok(EmailChannel {
            transport: builder.build(),
            from,
            to,
            target: format!("{}:{}", c.smtp_host, c.port()),
        })
    }

    /// Sends one message over a fresh SMTP connection.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let msg = build_message(&self.from, &self.to, n)?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| classify_smtp(&e))
    }

    /// Connects, says EHLO (and STARTTLS / AUTH as configured) and NOOP, then QUIT.
    pub async fn healthcheck(&self) -> Result<String, SendError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(format!("SMTP {} answered NOOP", self.target)),
            Ok(false) => Err(SendError::retryable(format!(
                "SMTP {} did not answer NOOP",
                self.target
            ))),
            Err(e) => Err(classify_smtp(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EmailConfig {
        EmailConfig {
            smtp_host: "smtp.example.com".into(),
            smtp_port: None,
            tls: SmtpTls::Starttls,
            username: None,
            password_env: None,
            password_file: None,
            from: "driftwatch <dw@example.com>".into(),
            to: vec!["ops@example.com".into()],
            send_resolved: true,
        }
    }

    #[test]
    fn validation_rules() {
        assert!(cfg().validate().is_ok());
        let mut c = cfg();
        c.username = Some("u".into());
        assert!(c.validate().is_err(), "user without password");
        c.password_env = Some("SMTP_PW".into());
        assert!(c.validate().is_ok());
        c.tls = SmtpTls::None;
        assert!(
            c.validate().is_err(),
            "plaintext credentials to remote host"
        );
        c.smtp_host = "127.0.0.1".into();
        assert!(c.validate().is_ok());
        let mut c = cfg();
        c.to.clear();
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.from = "not an address".into();
        assert!(c.validate().is_err());
        assert_eq!(cfg().port(), 587);
    }

    #[test]
    fn builds_rustls_transports_without_network() {
        // proves a rustls crypto provider is wired in (no panic at TLS parameter build)
        let mut c = cfg();
        EmailChannel::new(&c).unwrap();
        c.tls = SmtpTls::Tls;
        EmailChannel::new(&c).unwrap();
    }
}
