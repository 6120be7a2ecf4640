//! The `[alerts]` config section: rules, receivers, routes and retry policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::channels::{ChannelConfigError, ReceiverConfig};
use super::links::LinkBase;
use super::plan::{InhibitRule, Route};
use super::redact::ExamplesPolicy;
use super::retry::RetryPolicy;
use super::rules::{
    default_rules, valid_label_name, validate_rules, Condition, RuleConfig, RuleError,
    RESERVED_LABELS, SUMMARY_PLACEHOLDERS,
};
use super::silence::{parse_matchers, Matcher, SilenceError};
use super::template;
pub use crate::config::ConfigDuration;
use crate::config::ConfigError;

fn default_group_by() -> Vec<String> {
    vec!["job".into(), "incident".into()]
}

fn default_repeat() -> ConfigDuration {
    ConfigDuration::from_secs(4 * 3600)
}

/// Sends matching alerts to one receiver (`[[alerts.routes]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Receiver name (a key of `alerts.receivers`).
    pub receiver: String,
    /// Matchers (`job=support`, `severity=~critical`), all must match; empty = every alert.
    #[serde(default, rename = "match")]
    pub matchers: Vec<String>,
    /// Labels whose values split alerts into notifications; `["..."]` = one per alert.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// Re-notify a still-firing group after this long (default `4h`).
    #[serde(default = "default_repeat")]
    pub repeat_interval: ConfigDuration,
}

/// The whole `[alerts]` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Alert rules; empty means [`default_rules`] (alert on any drifted finding).
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Named receivers.
    #[serde(default)]
    pub receivers: BTreeMap<String, ReceiverConfig>,
    /// Routes; empty means every receiver gets every alert with default grouping.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Delivery retry policy for the outbox.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// What notifications carry of the example production texts behind a
    /// finding: `"none"`, `"redacted"` (default: e-mail addresses, phone and card
    /// numbers, IBANs, IP addresses and API keys replaced) or `"full"`.
    #[serde(default)]
    pub examples: ExamplesPolicy,
    /// Inhibit rules (`[[alerts.inhibit_rules]]`, Alertmanager semantics); absent
    /// means [`default_inhibit_rules`], `inhibit_rules = []` means none.
    #[serde(default)]
    pub inhibit_rules: Option<Vec<InhibitRuleConfig>>,
    /// A Grafana dashboard every notification links to; `{job}` is replaced by
    /// the job's name (e.g. `https://grafana.example.com/d/driftwatch?var-driftwatch_job={job}`).
    #[serde(default)]
    pub dashboard_url: Option<String>,
    /// Metrics (globs) whose alerts are `critical` under a rule's default
    /// `severity = "auto"`; absent means [`super::CRITICAL_METRICS`] (broken JSON,
    /// schema or regex contract, empty outputs, error rate).
    #[serde(default)]
    pub critical_metrics: Option<Vec<String>>,
    /// `[server] external_url`, copied here when the config is loaded (not a key
    /// of `[alerts]`): the base of report and review links.
    #[serde(skip)]
    pub external_url: Option<String>,
}

/// Mutes the consequences of a cause (`[[alerts.inhibit_rules]]`): while an alert
/// matching every `source_match` matcher fires, alerts matching every
/// `target_match` matcher with the same values of the `equal` labels are not
/// notified. An alert never inhibits itself. As Alertmanager's `inhibit_rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    /// Matchers the cause must satisfy (`incident=outputs`, `severity=critical`).
    pub source_match: Vec<String>,
    /// Matchers the consequence must satisfy.
    pub target_match: Vec<String>,
    /// Labels both must share (default `["job"]`).
    #[serde(default = "default_equal")]
    pub equal: Vec<String>,
}

fn default_equal() -> Vec<String> {
    vec!["job".into()]
}

/// The inhibit rules used when `[alerts] inhibit_rules` is absent:
///
/// * a new topic (`topic.*`) explains an input embedding shift and a coverage drop;
/// * typos and casing in inputs (`inputs`) explain an input embedding shift;
/// * broken output formats (a `critical` alert of `outputs`) explain an output
///   embedding shift and a cost change (truncated answers cost less); once the
///   format is fixed, what remains is told. They do not mute `answers`: an
///   output that does not parse is left out of the answers' agreement, so a
///   drop there is a changed answer, a cause of its own.
pub fn default_inhibit_rules() -> Vec<InhibitRuleConfig> {
    let rule = |source: &[&str], target: &str| InhibitRuleConfig {
        source_match: source.iter().map(|m| (*m).to_owned()).collect(),
        target_match: vec![target.to_owned()],
        equal: default_equal(),
    };
    vec![
        rule(&[r"incident=~topic\..+"], "incident=input_semantic"),
        rule(
            &[
                "incident=inputs",
                r"metric=~input\.(oov_rate|uppercase_share|non_ascii_share)",
            ],
            "incident=input_semantic",
        ),
        rule(
            &["incident=outputs", "severity=critical"],
            "incident=~output_semantic|usage",
        ),
    ]
}

/// Why the `[alerts]` section is invalid.
#[derive(Debug, thiserror::Error)]
pub enum AlertingConfigError {
    /// A rule is invalid.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A route matcher does not parse.
    #[error("route #{index}: {source}")]
    RouteMatcher {
        /// Route position.
        index: usize,
        /// Parse error.
        source: SilenceError,
    },
    /// A route names a receiver that does not exist.
    #[error("route #{index}: unknown receiver {receiver:?}")]
    UnknownReceiver {
        /// Route position.
        index: usize,
        /// Receiver named.
        receiver: String,
    },
    /// A route's `group_by` is empty.
    #[error("route #{index}: group_by must not be empty (use [\"...\"] for one group per alert)")]
    EmptyGroupBy {
        /// Route position.
        index: usize,
    },
    /// A receiver is invalid.
    #[error("receiver {name:?}: {source}")]
    Receiver {
        /// Receiver name.
        name: String,
        /// What is wrong.
        source: ChannelConfigError,
    },
    /// The retry policy is invalid.
    #[error("retry: {0}")]
    Retry(String),
    /// An inhibit rule's matcher does not parse.
    #[error("inhibit rule #{index}: {source}")]
    InhibitMatcher {
        /// Rule position.
        index: usize,
        /// Parse error.
        source: SilenceError,
    },
}

/// `[alerts]` built once, when the config is loaded: the section itself and the
/// rules, routes and inhibit rules derived from it, so evaluating a run derives
/// nothing again.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// The section as written (receivers, retry, examples, links).
    pub config: AlertingConfig,
    /// [`AlertingConfig::effective_rules`].
    pub rules: Vec<RuleConfig>,
    /// [`AlertingConfig::routes`].
    pub routes: Vec<Route>,
    /// [`AlertingConfig::inhibit_rules`].
    pub inhibit_rules: Vec<InhibitRule>,
}

impl AlertingConfig {
    /// Checks the section ([`AlertingConfig::validate`]) and builds what every
    /// evaluation uses.
    pub fn build(&self) -> Result<Alerting, AlertingConfigError> {
        self.validate()?;
        Ok(Alerting {
            config: self.clone(),
            rules: self.effective_rules(),
            routes: self.routes()?,
            inhibit_rules: self.inhibit_rules()?,
        })
    }

    /// The rules to evaluate (the configured ones, or [`default_rules`]).
    pub fn effective_rules(&self) -> Vec<RuleConfig> {
        let mut rules = if self.rules.is_empty() {
            default_rules()
        } else {
            self.rules.clone()
        };
        for r in &mut rules {
            r.critical_metrics.clone_from(&self.critical_metrics);
        }
        rules
    }

    /// Static checks (no secrets are read, no network).
    pub fn validate(&self) -> Result<(), AlertingConfigError> {
        validate_rules(&self.rules)?;
        for (name, r) in &self.receivers {
            r.validate()
                .map_err(|source| AlertingConfigError::Receiver {
                    name: name.clone(),
                    source,
                })?;
        }
        self.routes()?;
        self.inhibit_rules()?;
        self.retry.validate().map_err(AlertingConfigError::Retry)?;
        Ok(())
    }

    /// The link bases notifications use.
    pub fn link_base(&self) -> LinkBase<'_> {
        LinkBase {
            external_url: self
                .external_url
                .as_deref()
                .map(|u| u.trim_end_matches('/')),
            dashboard_url: self.dashboard_url.as_deref(),
        }
    }

    /// Resolved inhibit rules (the configured ones, or [`default_inhibit_rules`]).
    pub fn inhibit_rules(&self) -> Result<Vec<InhibitRule>, AlertingConfigError> {
        let configured = match &self.inhibit_rules {
            Some(rules) => rules.clone(),
            None => default_inhibit_rules(),
        };
        configured
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let parse = |m: &[String]| {
                    parse_matchers(m)
                        .map_err(|source| AlertingConfigError::InhibitMatcher { index, source })
                };
                Ok(InhibitRule {
                    source: parse(&r.source_match)?,
                    target: parse(&r.target_match)?,
                    equal: r.equal.clone(),
                })
            })
            .collect()
    }

    /// Every problem of the section at once, each under its key path below `at`
    /// (e.g. `alerts.rules[0].for`), for `driftwatch check-config`. Empty exactly when
    /// [`validate`](Self::validate) succeeds. No secrets are read.
    pub fn check(&self, at: &str) -> Result<(), Vec<ConfigError>> {
        let mut errs = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            errs.extend(rule_errors(rule, &format!("{at}.rules[{i}]")));
        }
        for (name, r) in &self.receivers {
            if let Err(e) = r.validate() {
                errs.push(ConfigError::new(
                    format!("{at}.receivers.{name}"),
                    e.to_string(),
                ));
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            let path = format!("{at}.routes[{i}]");
            if !self.receivers.contains_key(&route.receiver) {
                let known: Vec<&str> = self.receivers.keys().map(String::as_str).collect();
                let hint = if known.is_empty() {
                    format!("no receivers are defined (add [{at}.receivers.NAME])")
                } else {
                    format!("defined receivers: {}", known.join(", "))
                };
                errs.push(ConfigError::new(
                    format!("{path}.receiver"),
                    format!("references undefined receiver `{}`; {hint}", route.receiver),
                ));
            }
            if route.group_by.is_empty() {
                errs.push(ConfigError::new(
                    format!("{path}.group_by"),
                    "must not be empty (use [\"...\"] for one notification per alert)",
                ));
            }
            for (j, m) in route.matchers.iter().enumerate() {
                if let Err(e) = m.parse::<Matcher>() {
                    errs.push(ConfigError::new(
                        format!("{path}.match[{j}]"),
                        e.to_string(),
                    ));
                }
            }
        }
        if let Some(u) = &self.dashboard_url {
            if let Err(why) = crate::config::check_http_url(&u.replace("{job}", "job")) {
                errs.push(ConfigError::new(format!("{at}.dashboard_url"), why));
            }
        }
        for (i, rule) in self.inhibit_rules.iter().flatten().enumerate() {
            let path = format!("{at}.inhibit_rules[{i}]");
            for (key, ms) in [
                ("source_match", &rule.source_match),
                ("target_match", &rule.target_match),
            ] {
                if ms.is_empty() {
                    errs.push(ConfigError::new(
                        format!("{path}.{key}"),
                        "must hold at least one matcher (an empty list would match every alert)",
                    ));
                }
                for (j, m) in ms.iter().enumerate() {
                    if let Err(e) = m.parse::<Matcher>() {
                        errs.push(ConfigError::new(
                            format!("{path}.{key}[{j}]"),
                            e.to_string(),
                        ));
                    }
                }
            }
        }
        let retry = &self.retry;
        if retry.max_attempts == 0 {
            errs.push(ConfigError::new(
                format!("{at}.retry.max_attempts"),
                "must be at least 1, got 0",
            ));
        }
        if retry.base.0.is_zero() || retry.base > retry.max {
            errs.push(ConfigError::new(
                format!("{at}.retry.base"),
                format!(
                    "must be more than 0s and at most retry.max ({}), got {}",
                    retry.max, retry.base
                ),
            ));
        }
        crate::config::checked(errs)
    }

    /// Resolved routes (matchers parsed, `send_resolved` taken from the receiver).
    pub fn routes(&self) -> Result<Vec<Route>, AlertingConfigError> {
        if self.routes.is_empty() {
            return Ok(self
                .receivers
                .iter()
                .map(|(name, r)| Route {
                    receiver: name.clone(),
                    matchers: Vec::new(),
                    group_by: default_group_by(),
                    repeat_interval: default_repeat().to_chrono(),
                    send_resolved: r.send_resolved(),
                })
                .collect());
        }
        self.routes
            .iter()
            .enumerate()
            .map(|(index, rc)| {
                let receiver = self.receivers.get(&rc.receiver).ok_or_else(|| {
                    AlertingConfigError::UnknownReceiver {
                        index,
                        receiver: rc.receiver.clone(),
                    }
                })?;
                if rc.group_by.is_empty() {
                    return Err(AlertingConfigError::EmptyGroupBy { index });
                }
                let matchers = parse_matchers(&rc.matchers)
                    .map_err(|source| AlertingConfigError::RouteMatcher { index, source })?;
                Ok(Route {
                    receiver: rc.receiver.clone(),
                    matchers,
                    group_by: rc.group_by.clone(),
                    repeat_interval: rc.repeat_interval.to_chrono(),
                    send_resolved: receiver.send_resolved(),
                })
            })
            .collect()
    }
}

/// The problems of one rule, each under its key path (`{path}.for`, `{path}.labels.x`, …).
fn rule_errors(rule: &RuleConfig, path: &str) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    if rule.name.trim().is_empty() {
        errs.push(ConfigError::new(
            format!("{path}.name"),
            "must not be empty",
        ));
    }
    if rule.for_runs == 0 {
        errs.push(ConfigError::new(
            format!("{path}.for"),
            "must be at least 1 run, got 0",
        ));
    }
    if let Condition::Threshold(t) = rule.condition {
        if !t.value.is_finite() {
            errs.push(ConfigError::new(
                format!("{path}.condition.value"),
                format!("must be a finite number, got {}", t.value),
            ));
        }
    }
    for label in rule.labels.keys() {
        let why = if RESERVED_LABELS.contains(&label.as_str()) {
            format!(
                "is reserved: driftwatch sets {} itself",
                RESERVED_LABELS.join(", ")
            )
        } else if !valid_label_name(label) {
            "is not a valid label name ([A-Za-z_][A-Za-z0-9_]*)".to_owned()
        } else {
            continue;
        };
        errs.push(ConfigError::new(
            format!("{path}.labels.{label}"),
            format!("label `{label}` {why}"),
        ));
    }
    if let Some(tpl) = &rule.summary {
        if let Err(why) = template::check(tpl, &SUMMARY_PLACEHOLDERS) {
            errs.push(ConfigError::new(format!("{path}.summary"), why));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::rules::Severity;

    #[test]
    fn durations() {
        let p = |s: &str| s.parse::<ConfigDuration>().map(|d| d.0.as_secs());
        assert_eq!(p("30s"), Ok(30));
        assert_eq!(p("1h30m"), Ok(5400));
        assert_eq!(p("2d"), Ok(172_800));
        assert!(p("").is_err());
        assert!(p("10").is_err());
        assert!(p("5x").is_err());
        assert_eq!(ConfigDuration::from_secs(5400).to_string(), "1h30m");
    }

    #[test]
    fn parses_full_section() {
        let cfg: AlertingConfig = toml::from_str(
            r#"
            [[rules]]
            name = "JsonBroken"
            metric = "output.json_*"
            for = 2

            [receivers.ops-mail]
            kind = "email"
            smtp_host = "smtp.example.com"
            smtp_port = 587
            tls = "starttls"
            username = "driftwatch"
            password_env = "SMTP_PASSWORD"
            from = "driftwatch@example.com"
            to = ["ops@example.com", "ml@example.com"]

            [receivers.chat]
            kind = "slack"
            webhook_url_env = "SLACK_WEBHOOK_URL"

            [receivers.inbox]
            kind = "file"
            dir = "/tmp/driftwatch-mail"

            [[routes]]
            receiver = "ops-mail"
            match = ["severity=critical"]
            repeat_interval = "12h"

            [[routes]]
            receiver = "chat"
            group_by = ["..."]

            [retry]
            base = "10s"
            max = "30m"
            max_attempts = 5
            "#,
        )
        .unwrap();
        cfg.validate().unwrap();
        let routes = cfg.routes().unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].repeat_interval, chrono::Duration::hours(12));
        assert!(routes[0].send_resolved);
        assert_eq!(routes[1].group_by, vec!["..."]);
        assert_eq!(cfg.retry.max_attempts, 5);
        assert_eq!(cfg.effective_rules().len(), 1);

        let mut bad = cfg.clone();
        bad.routes[0].receiver = "nobody".into();
        assert!(matches!(
            bad.validate(),
            Err(AlertingConfigError::UnknownReceiver { .. })
        ));
        let errs = bad.check("alerts").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, "alerts.routes[0].receiver");
        assert!(errs[0].message.contains("undefined receiver `nobody`"));
        assert!(cfg.check("alerts").is_ok());
        let empty = AlertingConfig::default();
        assert_eq!(empty.effective_rules()[0].name, "DriftDetected");
        assert!(empty.routes().unwrap().is_empty());
    }

    #[test]
    fn critical_metrics_replace_the_default_list_for_auto_rules() {
        let default = AlertingConfig::default();
        let rule = &default.effective_rules()[0];
        assert_eq!(rule.severity_for("output.json_valid"), Severity::Critical);
        assert_eq!(rule.severity_for("output.chars"), Severity::Warning);

        let cfg: AlertingConfig = toml::from_str(
            r#"
            critical_metrics = ["output.chars", "op.latency_*"]

            [[rules]]
            name = "Auto"

            [[rules]]
            name = "AlwaysWarn"
            severity = "warning"
            "#,
        )
        .unwrap();
        let rules = cfg.effective_rules();
        assert_eq!(rules[0].severity_for("output.chars"), Severity::Critical);
        assert_eq!(rules[0].severity_for("op.latency_ms"), Severity::Critical);
        // The configured list replaces the default one.
        assert_eq!(
            rules[0].severity_for("output.json_valid"),
            Severity::Warning
        );
        // A rule's own severity still wins.
        assert_eq!(rules[1].severity_for("output.chars"), Severity::Warning);
    }

    #[test]
    fn validate_at_reports_every_problem_with_its_key() {
        let cfg: AlertingConfig = toml::from_str(
            r#"
            [[rules]]
            name = "A"
            for = 0
            labels = { job = "x", "9bad" = "y", team = "ok" }
            summary = "{nope}"
            condition = { field = "effect_size", op = "above", value = nan }

            [[rules]]
            name = " "

            [receivers.chat]
            kind = "slack"
            webhook_url = "https://hooks.slack.com/services/T/B/X"

            [[routes]]
            receiver = "chat"
            group_by = []
            match = ["job=ok", "metric=~("]

            [retry]
            base = "2h"
            max = "1h"
            max_attempts = 0
            "#,
        )
        .unwrap();
        assert!(cfg.validate().is_err());
        let got: Vec<String> = cfg
            .check("alerts")
            .unwrap_err()
            .iter()
            .map(|e| e.path.clone())
            .collect();
        assert_eq!(
            got,
            [
                "alerts.rules[0].for",
                "alerts.rules[0].condition.value",
                "alerts.rules[0].labels.9bad",
                "alerts.rules[0].labels.job",
                "alerts.rules[0].summary",
                "alerts.rules[1].name",
                "alerts.receivers.chat",
                "alerts.routes[0].group_by",
                "alerts.routes[0].match[1]",
                "alerts.retry.max_attempts",
                "alerts.retry.base",
            ]
        );
    }
}
