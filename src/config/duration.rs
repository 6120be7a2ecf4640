//! [`ConfigDuration`]: how every duration in the config file is written and read.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The one duration type of the config file: humantime's grammar (`30s`, `5m`,
/// `4h`, `1d`, `1h30m`, `1h 30m`, `500ms`), shown back in the compact form
/// (`1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    /// From whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        ConfigDuration(Duration::from_secs(s))
    }

    /// As a chrono duration (saturating).
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

impl TryFrom<String> for ConfigDuration {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl std::str::FromStr for ConfigDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(ConfigDuration)
            .map_err(|e| {
                format!("invalid duration {s:?}: {e} (expected e.g. 30s, 5m, 4h, 1d, 1h30m)")
            })
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() != 0 {
            return write!(f, "{}", humantime::format_duration(self.0));
        }
        let mut s = self.0.as_secs();
        if s == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if s >= len {
                write!(f, "{}{unit}", s / len)?;
                s %= len;
            }
        }
        Ok(())
    }
}

impl From<ConfigDuration> for String {
    fn from(d: ConfigDuration) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigDuration;

    #[test]
    fn humantime_grammar_in_compact_form_out() {
        for (text, secs) in [
            ("30s", 30),
            ("5m", 300),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("1d", 86_400),
        ] {
            let d: ConfigDuration = text.parse().unwrap();
            assert_eq!(d, ConfigDuration::from_secs(secs), "{text}");
        }
        assert_eq!(ConfigDuration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(ConfigDuration::from_secs(0).to_string(), "0s");
        let half: ConfigDuration = "500ms".parse().unwrap();
        assert_eq!(half.to_string().parse::<ConfigDuration>().unwrap(), half);
        let err = "soon".parse::<ConfigDuration>().unwrap_err();
        assert!(err.contains("invalid duration \"soon\""), "{err}");
        assert!(
            "30".parse::<ConfigDuration>().is_err(),
            "a unit is required"
        );
    }
}
