//! The configuration kit every section uses (a leaf: imports nothing from the
//! crate): [`ConfigError`] with its key path and position, [`ConfigErrors`] for a
//! whole file, [`SecretRef`] and the one secret reader, and `spans`, which maps a
//! key path to its line:column in the file. The sections' types live with the
//! modules that use them; `settings` assembles and checks the whole file.

mod duration;
mod errors;
mod secret;
pub mod spans;

pub use duration::ConfigDuration;
pub use errors::{ConfigError, ConfigErrors};
pub use secret::{read_secret, resolve_secret, SecretRef};

/// The shortest token (ingest bearer, review accounts) accepted: 16 characters.
pub const MIN_TOKEN_LEN: usize = 16;

/// The one shape of a section check: `Ok` with the checked form, or every problem
/// found, each under its key path below `at`. For sections whose checked form is
/// the raw one, this turns the problems found into that result.
pub fn checked(errs: Vec<ConfigError>) -> Result<(), Vec<ConfigError>> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Checks a base URL people open in a browser (`server.external_url`,
/// `alerts.dashboard_url`): `http` or `https`, with a host, no fragment.
pub fn check_http_url(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e}): `{url}`"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("must be an http:// or https:// URL, got `{url}`"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("must name a host, got `{url}`"));
    }
    if u.fragment().is_some() {
        return Err(format!("must not have a #fragment, got `{url}`"));
    }
    Ok(())
}
