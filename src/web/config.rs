//! `[review]`: who may use the review page. Each reviewer has a name (recorded
//! with every decision) and a token of their own; viewers only read. Tokens are
//! secrets, so they come from `token_env` / `token_file` like every other secret.
//! Without any account the page is disabled.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{resolve_secret, ConfigError, SecretRef};

/// `[review]`: the review page of `driftwatch serve`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// People who may accept and reject proposals.
    pub reviewers: Vec<AccountConfig>,
    /// People who may look but not decide.
    pub viewers: Vec<AccountConfig>,
    /// How long a sign-in lasts, e.g. "12h".
    pub session_ttl: String,
    /// Mark the session cookie `Secure` (set it when a TLS proxy is in front).
    pub secure_cookie: bool,
    /// What viewer accounts see of production and golden texts (proposals,
    /// gap examples, the served run reports): `"none"`, `"redacted"` (the
    /// default; as `[alerts] examples`) or `"full"`. Reviewers, who decide
    /// on the texts, always see them in full.
    pub viewer_examples: crate::notify::ExamplesPolicy,
    /// `[review.ensemble]`: LLMs that pre-label new proposals (off when absent).
    pub ensemble: Option<crate::llm::EnsembleConfig>,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            reviewers: Vec::new(),
            viewers: Vec::new(),
            session_ttl: "12h".into(),
            secure_cookie: false,
            viewer_examples: crate::notify::ExamplesPolicy::Redacted,
            ensemble: None,
        }
    }
}

/// One account: `{ name = "alice", token_env = "DW_REVIEW_ALICE" }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub name: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl AccountConfig {
    fn token_ref(&self) -> SecretRef {
        SecretRef::new(self.token_env.as_ref(), self.token_file.as_ref())
    }
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Reviewer,
    Viewer,
}

/// A resolved account: its name, role and token.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub role: Role,
    pub token: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Shortest accepted token: a reviewer token is a password.
pub use crate::config::MIN_TOKEN_LEN;

impl ReviewConfig {
    fn accounts_cfg(&self) -> impl Iterator<Item = (String, &AccountConfig, Role)> {
        let r = self
            .reviewers
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("review.reviewers[{i}]"), a, Role::Reviewer));
        let v = self
            .viewers
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("review.viewers[{i}]"), a, Role::Viewer));
        r.chain(v)
    }

    /// Whether the page is enabled at all.
    pub fn enabled(&self) -> bool {
        !self.reviewers.is_empty() || !self.viewers.is_empty()
    }

    /// The session lifetime.
    pub fn ttl(&self) -> Result<std::time::Duration, String> {
        humantime::parse_duration(&self.session_ttl).map_err(|e| e.to_string())
    }

    /// Config-time checks (no secrets read): names, token sources, ttl.
    pub fn check(&self, at: &str) -> Result<(), Vec<ConfigError>> {
        let mut errs = Vec::new();
        if let Some(e) = &self.ensemble {
            errs.extend(e.check(&format!("{at}.ensemble")).err().unwrap_or_default());
        }
        let mut names = HashSet::new();
        for (key, a, _) in self.accounts_cfg() {
            let name = a.name.trim();
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                errs.push(ConfigError::new(
                    format!("{key}.name"),
                    "must be 1 to 64 printable characters",
                ));
            } else if !names.insert(name.to_string()) {
                errs.push(ConfigError::new(
                    format!("{key}.name"),
                    format!("duplicate account name `{name}`"),
                ));
            }
            let r = a.token_ref();
            if let Some(e) = r.validate(&format!("{key}.token")) {
                errs.push(e);
            } else if !r.is_set() {
                errs.push(ConfigError::new(
                    format!("{key}.token"),
                    "set token_env or token_file (each account needs its own token)",
                ));
            }
        }
        match self.ttl() {
            Ok(d) if d.as_secs() >= 60 => {}
            Ok(_) => errs.push(ConfigError::new(
                format!("{at}.session_ttl"),
                "must be at least 1m",
            )),
            Err(e) => errs.push(ConfigError::new(
                format!("{at}.session_ttl"),
                format!("must be a duration like \"12h\": {e}"),
            )),
        }
        crate::config::checked(errs)
    }

    /// Reads every account's token; all errors at once. Tokens must be at
    /// least [`MIN_TOKEN_LEN`] bytes and distinct (a token names its holder).
    pub fn resolve(&self, base_dir: &Path) -> Result<Vec<Account>, Vec<ConfigError>> {
        let mut errs = self.check("review").err().unwrap_or_default();
        let mut accounts: Vec<Account> = Vec::new();
        for (key, a, role) in self.accounts_cfg() {
            let key = format!("{key}.token");
            match resolve_secret(&key, &a.token_ref(), base_dir) {
                Ok(Some(t)) if t.len() < MIN_TOKEN_LEN => errs.push(ConfigError::new(
                    key,
                    format!("token is too short: at least {MIN_TOKEN_LEN} characters"),
                )),
                Ok(Some(t)) => {
                    if accounts.iter().any(|x| x.token == t) {
                        errs.push(ConfigError::new(
                            key,
                            "same token as another account: each account needs its own",
                        ));
                    } else {
                        accounts.push(Account {
                            name: a.name.trim().to_string(),
                            role,
                            token: t,
                        });
                    }
                }
                Ok(None) => {} // reported by validate
                Err(e) => errs.push(e),
            }
        }
        if errs.is_empty() {
            Ok(accounts)
        } else {
            Err(errs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `[review]` section of a config text.
    fn review(text: &str) -> ReviewConfig {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            review: ReviewConfig,
        }
        toml::from_str::<File>(text).unwrap().review
    }

    #[test]
    fn no_accounts_means_disabled() {
        let c = review("");
        assert!(!c.enabled());
        assert!(c.check("review").is_ok());
    }

    #[test]
    fn every_account_error_has_its_key_path() {
        let text = "[review]\nsession_ttl = \"soon\"\nreviewers = [\n  { name = \"alice\", token_env = \"A\" },\n  { name = \"alice\" },\n  { name = \"\", token_env = \"B\", token_file = \"f\" },\n]\n";
        let errs = review(text).check("review").unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"review.session_ttl"), "{paths:?}");
        assert!(paths.contains(&"review.reviewers[1].name"), "{paths:?}");
        assert!(paths.contains(&"review.reviewers[1].token"), "{paths:?}");
        assert!(paths.contains(&"review.reviewers[2].name"), "{paths:?}");
        assert!(paths.contains(&"review.reviewers[2].token"), "{paths:?}");
    }

    #[test]
    fn tokens_are_resolved_checked_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "aaaaaaaaaaaaaaaaaaaa\n").unwrap();
        std::fs::write(dir.path().join("b"), "aaaaaaaaaaaaaaaaaaaa\n").unwrap();
        std::fs::write(dir.path().join("c"), "short\n").unwrap();
        let acc = |n: &str, f: &str| AccountConfig {
            name: n.into(),
            token_env: None,
            token_file: Some(f.into()),
        };
        let c = ReviewConfig {
            reviewers: vec![acc("alice", "a"), acc("bob", "b")],
            viewers: vec![acc("vic", "c")],
            ..ReviewConfig::default()
        };
        let errs = c.resolve(dir.path()).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["review.reviewers[1].token", "review.viewers[0].token"]
        );
        let c = ReviewConfig {
            reviewers: vec![acc("alice", "a")],
            ..ReviewConfig::default()
        };
        let accounts = c.resolve(dir.path()).unwrap();
        assert_eq!(accounts[0].token, "aaaaaaaaaaaaaaaaaaaa");
        assert!(!format!("{accounts:?}").contains("aaaa"), "token redacted");
    }
}
