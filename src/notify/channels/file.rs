//! File channel: each notification becomes an RFC 5322 `.eml` in a maildir-like directory
//! (`tmp/` first, then renamed into `new/`; `cur/` is created for mail readers).

use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::super::group::Notification;
use super::email::{build_message, parse_mailboxes};
use super::{invalid, yes, ChannelConfigError, SendError};

fn default_from() -> String {
    "driftwatch <driftwatch@localhost>".into()
}

fn default_to() -> Vec<String> {
    vec!["ops <ops@localhost>".into()]
}

/// `kind = "file"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Maildir root (`tmp/`, `new/`, `cur/` are created under it).
    pub dir: PathBuf,
    /// `From:` of the written messages (default `driftwatch <driftwatch@localhost>`).
    #[serde(default = "default_from")]
    pub from: String,
    /// `To:` of the written messages (default `ops <ops@localhost>`).
    #[serde(default = "default_to")]
    pub to: Vec<String>,
    /// Also write resolutions (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl FileConfig {
    pub(crate) fn validate(&self) -> Result<(), ChannelConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(invalid("dir is empty"));
        }
        parse_mailboxes(&self.from, &self.to)?;
        Ok(())
    }
}

/// A built file channel.
#[derive(Debug, Clone)]
pub struct FileChannel {
    dir: PathBuf,
    from: Mailbox,
    to: Vec<Mailbox>,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> SendError {
    SendError::retryable(format!("{what} {}: {e}", path.display()))
}

impl FileChannel {
    /// Builds the channel (no I/O; directories are created on first use).
    pub fn new(c: &FileConfig) -> Result<Self, ChannelConfigError> {
        c.validate()?;
        let (from, to) = parse_mailboxes(&c.from, &c.to)?;
        Ok(FileChannel {
            dir: c.dir.clone(),
            from,
            to,
        })
    }

    /// The file name of a notification: `{unix secs}.{idempotency key}.eml` (deterministic,
    /// so a retried delivery finds its earlier copy).
    pub fn file_name(n: &Notification) -> String {
        format!("{}.{}.eml", n.created_at.timestamp(), n.idempotency_key)
    }

    async fn ensure_dirs(&self) -> Result<(), SendError> {
        for sub in ["tmp", "new", "cur"] {
            let p = self.dir.join(sub);
            tokio::fs::create_dir_all(&p)
                .await
                .map_err(|e| io_err("creating", &p, e))?;
        }
        Ok(())
    }

    /// Writes `tmp/NAME`, fsyncs, renames to `new/NAME`. Already delivered (in `new/` or
    /// `cur/`) is success.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        self.ensure_dirs().await?;
        let name = Self::file_name(n);
        let dest = self.dir.join("new").join(&name);
        for delivered in [&dest, &self.dir.join("cur").join(&name)] {
            if tokio::fs::try_exists(delivered).await.unwrap_or(false) {
                return Ok(());
            }
        }
        let bytes = build_message(&self.from, &self.to, n)?.formatted();
        let tmp = self.dir.join("tmp").join(&name);
        let mut f = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io_err("creating", &tmp, e))?;
        f.write_all(&bytes)
            .await
            .map_err(|e| io_err("writing", &tmp, e))?;
        f.sync_all().await.map_err(|e| io_err("syncing", &tmp, e))?;
        drop(f);
        tokio::fs::rename(&tmp, &dest)
            .await
            .map_err(|e| io_err("moving into", &dest, e))?;
        Ok(())
    }

    /// Creates the directories and writes / removes a probe file in `tmp/`.
    pub async fn healthcheck(&self) -> Result<String, SendError> {
        self.ensure_dirs().await?;
        let probe = self
            .dir
            .join("tmp")
            .join(format!(".healthcheck.{}", std::process::id()));
        tokio::fs::write(&probe, b"ok")
            .await
            .map_err(|e| io_err("writing", &probe, e))?;
        tokio::fs::remove_file(&probe)
            .await
            .map_err(|e| io_err("removing", &probe, e))?;
        Ok(format!("{} is writable", self.dir.display()))
    }
}
