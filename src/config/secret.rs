//! Secrets never live in the config file: a secret field `X` is given as
//! `X_env = "VAR"` (read from the environment) or `X_file = "/path"` (read from a
//! file, trailing newline trimmed), resolved when the component is built.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// Where a secret comes from, as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRef {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

impl SecretRef {
    pub fn new(env: Option<&String>, file: Option<&PathBuf>) -> SecretRef {
        SecretRef {
            env: env.cloned(),
            file: file.cloned(),
        }
    }

    pub fn is_set(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }

    /// Config-time check: at most one of the two forms.
    pub fn validate(&self, key: &str) -> Option<ConfigError> {
        if self.env.is_some() && self.file.is_some() {
            Some(ConfigError::new(
                key,
                format!("at most one of `{key}_env` and `{key}_file` may be set"),
            ))
        } else {
            None
        }
    }
}

/// The one secret reader: the value of environment variable `env`, else the
/// contents of `file` (trailing newline trimmed), `Ok(None)` when neither is
/// given. An unset, empty or unreadable source is an error naming the variable or
/// file; the caller names the key.
pub fn read_secret(env: Option<&str>, file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(v)),
            _ => Err(format!("environment variable {var} is not set or empty")),
        };
    }
    if let Some(p) = file {
        return match std::fs::read_to_string(p) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim_end_matches(['\n', '\r']).to_string())),
            Ok(_) => Err(format!("{} is empty", p.display())),
            Err(e) => Err(format!("cannot read {}: {e}", p.display())),
        };
    }
    Ok(None)
}

/// Reads the secret `key` (named in errors), `Ok(None)` when neither form is set;
/// a relative file is resolved against `base_dir`.
pub fn resolve_secret(
    key: &str,
    r: &SecretRef,
    base_dir: &Path,
) -> Result<Option<String>, ConfigError> {
    let file = r.file.as_ref().map(|f| {
        if f.is_absolute() {
            f.clone()
        } else {
            base_dir.join(f)
        }
    });
    read_secret(r.env.as_deref(), file.as_deref()).map_err(|why| {
        let which = if r.env.is_some() { "env" } else { "file" };
        ConfigError::new(format!("{key}_{which}"), why)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secret_is_trimmed_and_missing_file_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "s3cret\n").unwrap();
        let r = SecretRef {
            env: None,
            file: Some("tok".into()),
        };
        assert_eq!(
            resolve_secret("token", &r, dir.path()).unwrap().as_deref(),
            Some("s3cret")
        );
        let r = SecretRef {
            env: None,
            file: Some("nope".into()),
        };
        let e = resolve_secret("token", &r, dir.path()).unwrap_err();
        assert_eq!(e.path, "token_file");
        assert!(e.message.contains("nope"), "{}", e.message);
    }

    #[test]
    fn env_secret_unset_is_an_error() {
        let r = SecretRef {
            env: Some("DRIFTWATCH_TEST_SURELY_UNSET".into()),
            file: None,
        };
        let e = resolve_secret("token", &r, Path::new(".")).unwrap_err();
        assert!(e.message.contains("DRIFTWATCH_TEST_SURELY_UNSET"));
    }

    #[test]
    fn both_forms_is_a_config_error() {
        let r = SecretRef {
            env: Some("A".into()),
            file: Some("b".into()),
        };
        assert!(r.validate("password").is_some());
    }
}
