//! Building the configured receivers, with paths resolved against the config file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::notify::{AlertingConfig, ChannelConfigError, Receiver, ReceiverConfig};

/// A receiver that could not be built (bad config or unreadable secret). Its
/// notifications stay queued until it can be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("receiver {name}: {source}")]
pub struct ReceiverBuildError {
    /// Receiver name.
    pub name: String,
    /// Why it cannot be built.
    pub source: ChannelConfigError,
}

/// The receiver config with relative file paths (`password_file`, `webhook_url_file`,
/// `secret_file`, `dir`) resolved against `base_dir`, the config file's directory.
pub fn resolve_receiver_paths(cfg: &ReceiverConfig, base_dir: &Path) -> ReceiverConfig {
    let join = |p: &mut std::path::PathBuf| {
        if p.is_relative() {
            *p = base_dir.join(&*p);
        }
    };
    let mut c = cfg.clone();
    match &mut c {
        ReceiverConfig::Email(e) => e.password_file.iter_mut().for_each(join),
        ReceiverConfig::Slack(s) => s.webhook_url_file.iter_mut().for_each(join),
        ReceiverConfig::Webhook(w) => w.secret_file.iter_mut().for_each(join),
        ReceiverConfig::File(f) => join(&mut f.dir),
        ReceiverConfig::Alertmanager(_) => {}
    }
    c
}

/// Builds every configured receiver (reads secrets, no network I/O). Receivers that
/// cannot be built are returned as errors, the others are usable.
pub fn build_receivers(
    alerting: &AlertingConfig,
    base_dir: &Path,
) -> (BTreeMap<String, Receiver>, Vec<ReceiverBuildError>) {
    let mut ok = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, cfg) in &alerting.receivers {
        match resolve_receiver_paths(cfg, base_dir).build() {
            Ok(r) => {
                ok.insert(name.clone(), r);
            }
            Err(source) => errors.push(ReceiverBuildError {
                name: name.clone(),
                source,
            }),
        }
    }
    (ok, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_follow_the_config_file() {
        let cfg: ReceiverConfig = toml::from_str("kind='file'\ndir='mail'").unwrap();
        match resolve_receiver_paths(&cfg, Path::new("/etc/dw")) {
            ReceiverConfig::File(f) => assert_eq!(f.dir, Path::new("/etc/dw/mail")),
            other => panic!("{other:?}"),
        }
        let cfg: ReceiverConfig =
            toml::from_str("kind='webhook'\nurl='http://127.0.0.1:1/'\nsecret_file='/abs/key'")
                .unwrap();
        match resolve_receiver_paths(&cfg, Path::new("/etc/dw")) {
            ReceiverConfig::Webhook(w) => {
                assert_eq!(w.secret_file.as_deref(), Some(Path::new("/abs/key")))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unbuildable_receivers_are_reported_by_name() {
        let cfg: AlertingConfig = toml::from_str(
            "[receivers.ok]\nkind='file'\ndir='x'\n\
             [receivers.chat]\nkind='slack'\nwebhook_url_env='DRIFTWATCH_TEST_UNSET_VAR_9431'\n",
        )
        .unwrap();
        let (ok, errs) = build_receivers(&cfg, Path::new("."));
        assert_eq!(ok.keys().collect::<Vec<_>>(), ["ok"]);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].name, "chat");
        assert!(errs[0].to_string().starts_with("receiver chat: secret"));
    }
}
