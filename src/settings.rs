//! `driftwatch.toml` loaded and checked once: the raw [`Config`] (every section's
//! serde types, assembled here) and the checked [`Settings`] built from it, which
//! `check-config`, `serve` and a SIGHUP reload all use. Only `cli`, `daemon` and
//! `demo` import this module; the layers below get the checked section they need.
//!
//! Two stages, as in ripgrep and linfa: serde turns the text into raw section
//! structs (`deny_unknown_fields` everywhere), then each section's check looks at
//! ranges and references and returns every error it found, each with file,
//! line:column and key path (`config::spans`). Defaults live in the sections'
//! `Default` impls. Nothing here opens a database or a socket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{spans, ConfigDuration, ConfigError, ConfigErrors};
use crate::http::ServerConfig;
use crate::ingest::IngestConfig;
use crate::jobs::JobSpec;
use crate::notify::Receiver;
use crate::sources::SourceSpec;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where driftwatch keeps its data.
    #[serde(default)]
    pub store: StoreConfig,
    /// Defaults for `driftwatch ingest` and HTTP ingest.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// The HTTP server of `driftwatch serve`.
    #[serde(default)]
    pub server: ServerConfig,
    /// Alert rules, receivers, routes and delivery retry (`[alerts]`).
    #[serde(default)]
    pub alerts: crate::notify::AlertingConfig,
    /// Sentence embeddings for semantic drift and coverage.
    #[serde(default)]
    pub embedding: crate::embed::EmbedConfig,
    /// The review page of `driftwatch serve`: reviewers and viewers (`[review]`).
    #[serde(default)]
    pub review: crate::web::ReviewConfig,
    /// Analysis jobs (`[[jobs]]`).
    #[serde(default)]
    pub jobs: Vec<crate::jobs::JobConfig>,
    /// External trace sources the daemon polls (`[[sources]]`).
    #[serde(default)]
    pub sources: Vec<crate::sources::SourceConfig>,
    /// How `driftwatch serve` runs (`[daemon]`).
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// The directory relative paths in the file are resolved against (not a key).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file this came from, if any (not a key).
    #[serde(skip)]
    pub source_file: Option<PathBuf>,
}

/// `[store]`: the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (embedded default, created on first use) or `postgres://…`.
    /// `DRIFTWATCH_DATABASE_URL` and `--database` override it.
    #[serde(default = "default_database_url")]
    pub url: String,
}

fn default_database_url() -> String {
    "sqlite://driftwatch.db".to_string()
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_database_url(),
        }
    }
}

/// The default config file looked for when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "driftwatch.toml";

impl Config {
    /// Loads `path`; with `None`, `./driftwatch.toml` if it exists, else built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        Settings::load(path).map(Settings::into_config)
    }

    /// Loads and checks one file, collecting every error it has.
    pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
        Settings::load_file(path).map(Settings::into_config)
    }

    /// Parses and checks config text; errors carry line:column but no file name.
    pub fn from_str_with_base(text: &str, base: &Path) -> Result<Config, Vec<ConfigError>> {
        Settings::from_str_with_base(text, base).map(Settings::into_config)
    }

    /// The checks that keep no result: ranges and references of every section
    /// whose checked form is the raw one. [`Settings::check`] runs these and the
    /// checks that build something, each once.
    fn check_sections(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(self.store.url.starts_with("sqlite:")
            || self.store.url.starts_with("postgres:")
            || self.store.url.starts_with("postgresql:"))
        {
            errors.push(ConfigError::new(
                "store.url",
                format!(
                    "must start with sqlite:// or postgres://, got `{}`",
                    crate::store::redact_url(&self.store.url)
                ),
            ));
        }
        let sections = [
            self.ingest.check("ingest"),
            self.server.check("server"),
            self.alerts.check("alerts"),
            self.review.check("review"),
            self.embedding.check("embedding"),
        ];
        errors.extend(sections.into_iter().filter_map(Result::err).flatten());
        errors
    }

    /// Every `[[jobs]]` entry checked, or all their errors (names must be unique).
    pub fn job_specs(&self) -> Result<Vec<crate::jobs::JobSpec>, Vec<ConfigError>> {
        let mut specs = Vec::new();
        let mut errors = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, j) in self.jobs.iter().enumerate() {
            if !seen.insert(j.name.as_str()) {
                errors.push(ConfigError::new(
                    format!("jobs[{i}].name"),
                    format!("duplicate job name `{}`", j.name),
                ));
            }
            match j.check(&format!("jobs[{i}]"), &self.base_dir) {
                Ok(s) => specs.push(s),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(specs)
        } else {
            Err(errors)
        }
    }

    /// Resolves a path from the file against the file's directory.
    pub fn resolve_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The database URL in force: `--database` beats `DRIFTWATCH_DATABASE_URL`
    /// beats the file. A relative `sqlite://` path in the file is relative to the
    /// file's folder, like every other path in it (a flag or the environment is
    /// relative to the working directory, as a shell user expects).
    pub fn database_url(&self, flag: Option<&str>) -> String {
        if let Some(u) = flag {
            return u.to_string();
        }
        if let Ok(u) = std::env::var("DRIFTWATCH_DATABASE_URL") {
            if !u.is_empty() {
                return u;
            }
        }
        match self.source_file {
            Some(_) => sqlite_relative_to(&self.store.url, &self.base_dir),
            None => self.store.url.clone(),
        }
    }
}

/// `url` with a relative SQLite path joined to `base`; other URLs unchanged.
fn sqlite_relative_to(url: &str, base: &Path) -> String {
    let Some((prefix, rest)) = url
        .strip_prefix("sqlite://")
        .map(|r| ("sqlite://", r))
        .or_else(|| url.strip_prefix("sqlite:").map(|r| ("sqlite:", r)))
    else {
        return url.to_string();
    };
    let (path, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
        return url.to_string();
    }
    format!("{prefix}{}{query}", base.join(path).display())
}

/// `[daemon]`: how `driftwatch serve` runs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// How long a replica's claim on a job tick or source poll lasts without
    /// renewal; a crashed holder's work is taken over after this (default "60s").
    pub lease_ttl: ConfigDuration,
    /// How long a run in flight at shutdown or reload may take to finish (default "30s").
    pub shutdown_grace: ConfigDuration,
    /// Name of this replica in leases and runs (default host/pid/random).
    pub instance: Option<String>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            lease_ttl: ConfigDuration::from_secs(60),
            shutdown_grace: ConfigDuration::from_secs(30),
            instance: None,
        }
    }
}

/// `[daemon]` checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DaemonSettings {
    pub lease_ttl: Duration,
    pub shutdown_grace: Duration,
}

impl DaemonConfig {
    pub fn check(&self, at: &str) -> Result<DaemonSettings, Vec<ConfigError>> {
        let mut errs = Vec::new();
        let mut dur = |k: &str, v: ConfigDuration, min: Duration| match v.0 {
            d if d >= min => Some(d),
            _ => {
                errs.push(ConfigError::new(
                    format!("{at}.{k}"),
                    format!("must be at least {}, got `{v}`", ConfigDuration(min)),
                ));
                None
            }
        };
        let lease_ttl = dur("lease_ttl", self.lease_ttl, Duration::from_secs(1));
        let shutdown_grace = dur("shutdown_grace", self.shutdown_grace, Duration::ZERO);
        match (lease_ttl, shutdown_grace) {
            (Some(lease_ttl), Some(shutdown_grace)) if errs.is_empty() => Ok(DaemonSettings {
                lease_ttl,
                shutdown_grace,
            }),
            _ => Err(errs),
        }
    }
}

/// The configuration checked once: the raw sections (`cfg`) and what the checks
/// built from them. Every command, `check-config`, `serve` and a SIGHUP reload get
/// one from [`Settings::load`] / [`Settings::load_file`]; nothing checks again.
#[derive(Debug)]
pub struct Settings {
    pub cfg: Arc<Config>,
    /// `[[jobs]]`, checked (names unique).
    pub jobs: Vec<JobSpec>,
    /// `[[sources]]`, checked; their secrets are read by [`Settings::resolve`].
    pub sources: Vec<SourceSpec>,
    /// `[daemon]`, checked.
    pub daemon: DaemonSettings,
    /// `[alerts]` with its rules, routes and inhibit rules built.
    pub alerts: Arc<crate::notify::Alerting>,
}

impl Settings {
    /// Loads `path`; with `None`, `./driftwatch.toml` if it exists, else built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigErrors> {
        match path {
            Some(p) => Self::load_file(p),
            None => {
                let p = Path::new(DEFAULT_CONFIG_FILE);
                if p.exists() {
                    Self::load_file(p)
                } else {
                    let c = Config {
                        base_dir: PathBuf::from("."),
                        ..Config::default()
                    };
                    Settings::check(c).map_err(|errs| ConfigErrors::new(None, errs))
                }
            }
        }
    }

    /// Loads and checks one file, collecting every error it has.
    pub fn load_file(path: &Path) -> Result<Settings, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::new(
                Some(path.to_path_buf()),
                vec![ConfigError::new(
                    "",
                    format!("cannot read config file: {e}"),
                )],
            )
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut s = Self::from_str_with_base(&text, &base)
            .map_err(|errs| ConfigErrors::new(Some(path.to_path_buf()), errs))?;
        Arc::get_mut(&mut s.cfg)
            .expect("not shared yet")
            .source_file = Some(path.to_path_buf());
        Ok(s)
    }

    /// Parses and checks config text; errors carry line:column but no file name.
    pub fn from_str_with_base(text: &str, base: &Path) -> Result<Settings, Vec<ConfigError>> {
        let by_place = |e: &ConfigError| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0));
        let (cfg, mut errors) = spans::deserialize_collecting::<Config>(text)?;
        // With the bad keys taken out the rest may still parse: check it too,
        // so one type error does not hide every other mistake.
        let Some(mut cfg) = cfg else {
            errors.sort_by_key(by_place);
            return Err(errors);
        };
        cfg.base_dir = base.to_path_buf();
        // Notifications link to the server people open (`[server] external_url`).
        cfg.alerts.external_url = cfg.server.external_url.clone();
        match Settings::check(cfg) {
            Ok(s) if errors.is_empty() => Ok(s),
            Ok(_) => {
                errors.sort_by_key(by_place);
                Err(errors)
            }
            Err(semantic) => {
                // A key that did not parse was replaced by its default: what
                // the checks say about it (or under it) would only mislead.
                let removed: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
                let under = |p: &str| {
                    removed.iter().any(|r| {
                        p == r || p.starts_with(&format!("{r}.")) || p.starts_with(&format!("{r}["))
                    })
                };
                for mut e in semantic.into_iter().filter(|e| !under(&e.path)) {
                    spans::locate(text, &mut e);
                    errors.push(e);
                }
                errors.sort_by_key(by_place);
                Err(errors)
            }
        }
    }

    /// Second stage: every section's check, each run once, all errors at once.
    pub fn check(cfg: Config) -> Result<Settings, Vec<ConfigError>> {
        let mut errs = cfg.check_sections();
        let jobs = cfg.job_specs().map_err(|e| errs.extend(e)).ok();
        let sources = crate::sources::check_all(&cfg.sources, &cfg.ingest, &cfg.base_dir)
            .map_err(|e| errs.extend(e))
            .ok();
        let daemon = cfg.daemon.check("daemon").map_err(|e| errs.extend(e)).ok();
        // `check_sections` has reported what is wrong in `[alerts]` key by key;
        // building it then only fails with an error already listed.
        let alerts = cfg
            .alerts
            .build()
            .map_err(|e| {
                if errs.is_empty() {
                    errs.push(ConfigError::new("alerts", e.to_string()));
                }
            })
            .ok();
        match (jobs, sources, daemon, alerts) {
            (Some(jobs), Some(sources), Some(daemon), Some(alerts)) if errs.is_empty() => {
                Ok(Settings {
                    cfg: Arc::new(cfg),
                    jobs,
                    sources,
                    daemon,
                    alerts: Arc::new(alerts),
                })
            }
            _ => Err(errs),
        }
    }

    /// Reads what `serve` needs beyond the file, at start and at each reload:
    /// the sources' secrets and paths, and every alert receiver (their secrets).
    /// Any failure refuses the whole config, so a receiver that cannot be built
    /// never starts a generation.
    pub fn resolve(&mut self) -> Result<BTreeMap<String, Receiver>, Vec<ConfigError>> {
        let mut errs = Vec::new();
        if let Err(e) = crate::sources::resolve(&mut self.sources, &self.cfg.base_dir) {
            errs.extend(e);
        }
        let (receivers, failed) =
            crate::alert::build_receivers(&self.cfg.alerts, &self.cfg.base_dir);
        errs.extend(failed.into_iter().map(|e| {
            ConfigError::new(format!("alerts.receivers.{}", e.name), e.source.to_string())
        }));
        if errs.is_empty() {
            Ok(receivers)
        } else {
            Err(errs)
        }
    }

    /// `[review.ensemble]` ready to call (its API keys read), `None` when absent.
    pub fn ensemble(&self) -> Result<Option<Arc<crate::jobs::Prelabeler>>, Vec<ConfigError>> {
        self.cfg
            .review
            .ensemble
            .as_ref()
            .map(|e| crate::jobs::Prelabeler::build(e, &self.cfg.base_dir))
            .transpose()
    }

    /// Every secret and file `serve` reads at start, read now so `check-config`
    /// reports a problem before `serve` meets it: the ingest token, the review
    /// page's tokens, the sources' secrets and every alert receiver. Nothing is
    /// kept.
    pub fn check_secrets(&self) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        // A configured ingest token must be readable and long enough (no token at
        // all is for `serve` to refuse: CLI-only use needs none).
        if self.cfg.server.token_ref().is_set() {
            if let Err(e) = self.cfg.server.resolve_token(&self.cfg.base_dir) {
                errs.push(e);
            }
        }
        if let Err(e) = self.cfg.review.resolve(&self.cfg.base_dir) {
            errs.extend(e);
        }
        if let Err(e) = self.ensemble() {
            errs.extend(e);
        }
        let mut probe = Settings {
            cfg: self.cfg.clone(),
            jobs: Vec::new(),
            sources: self.sources.clone(),
            daemon: self.daemon,
            alerts: self.alerts.clone(),
        };
        if let Err(e) = probe.resolve() {
            errs.extend(e);
        }
        errs
    }

    /// The raw sections alone.
    pub fn into_config(self) -> Config {
        Arc::try_unwrap(self.cfg).unwrap_or_else(|shared| (*shared).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_sqlite_path_in_a_file_is_relative_to_the_file() {
        let base = Path::new("/etc/dw");
        assert_eq!(
            sqlite_relative_to("sqlite://data.db", base),
            "sqlite:///etc/dw/data.db"
        );
        assert_eq!(
            sqlite_relative_to("sqlite:data.db?mode=rwc", base),
            "sqlite:/etc/dw/data.db?mode=rwc"
        );
        for same in [
            "sqlite:///var/lib/x.db",
            "sqlite::memory:",
            "postgres://h/db",
        ] {
            assert_eq!(sqlite_relative_to(same, base), same);
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::from_str_with_base("", Path::new(".")).unwrap();
        assert_eq!(c.store.url, "sqlite://driftwatch.db");
        assert_eq!(c.ingest.max_text_bytes, 1 << 20);
    }

    #[test]
    fn typo_and_wrong_type_are_both_reported_with_lines() {
        let text = "[store]\nurl = \"sqlite://x.db\"\n\n[ingest]\nmax_text_byts = 10\nbatch_size = \"big\"\n";
        let errs = Config::from_str_with_base(text, Path::new(".")).unwrap_err();
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("5:1: ingest.max_text_byts: unknown key"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("6:1: ingest.batch_size: invalid type"),
            "{shown:?}"
        );
    }

    #[test]
    fn alerting_is_built_once_at_load() {
        let text = "[alerts]\ncritical_metrics = [\"output.chars\"]\ninhibit_rules = []\n\n\
                    [alerts.receivers.ops]\nkind = \"file\"\ndir = \"mail\"\n\n\
                    [[alerts.routes]]\nreceiver = \"ops\"\nmatch = [\"severity=critical\"]\n";
        let s = Settings::from_str_with_base(text, Path::new(".")).unwrap();
        assert_eq!(s.alerts.routes.len(), 1);
        assert_eq!(s.alerts.routes[0].receiver, "ops");
        assert!(s.alerts.inhibit_rules.is_empty());
        assert_eq!(s.alerts.rules[0].name, "DriftDetected");
        assert_eq!(
            s.alerts.rules[0].critical_metrics.as_deref(),
            Some(&["output.chars".to_string()][..])
        );
        // A route to a receiver that does not exist refuses the whole config.
        let errs = Settings::from_str_with_base(
            &text.replace("receiver = \"ops\"", "receiver = \"nobody\""),
            Path::new("."),
        )
        .unwrap_err();
        assert!(
            errs.iter().any(|e| e.path == "alerts.routes[0].receiver"),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_section_is_an_error() {
        let errs = Config::from_str_with_base("[stor]\nurl = 1\n", Path::new(".")).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].to_string().starts_with("1:2: stor: unknown key"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn range_errors_name_key_and_value() {
        let errs =
            Config::from_str_with_base("[ingest]\nbatch_size = 0\n", Path::new(".")).unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "2:1: ingest.batch_size: must be at least 1, got 0"
        );
    }

    #[test]
    fn link_urls_are_checked_and_the_external_url_reaches_the_alerts() {
        let text = "[server]\nexternal_url = \"ftp://dw.example.com\"\n\n[alerts]\ndashboard_url = \"not a url\"\n";
        let errs: Vec<String> = Config::from_str_with_base(text, Path::new("."))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            errs.iter()
                .any(|e| e
                    .starts_with("2:1: server.external_url: must be an http:// or https:// URL")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("5:1: alerts.dashboard_url: not a URL")),
            "{errs:?}"
        );
        let ok = "[server]\nexternal_url = \"https://dw.example.com/\"\n";
        let c = Config::from_str_with_base(ok, Path::new(".")).unwrap();
        assert_eq!(
            c.alerts.link_base().external_url,
            Some("https://dw.example.com")
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let errs = Config::from_str_with_base("[store\n", Path::new(".")).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].line.is_some());
    }
}
