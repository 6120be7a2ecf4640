//! `[[jobs]]`: raw config, its checks, and the validated [`JobSpec`] runs use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigDuration, ConfigError};
use crate::metrics::{Expectations, JsonShape, MetricId, OutputFormat, TokenizerSpec};
use crate::semantic::SemanticParams;

/// One analysis job as written in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Unique job name (used in CLI, alerts and metrics labels).
    pub name: String,
    /// Cron expression, 5 fields (minute precision) or 6–7 fields with seconds.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// Production window analysed per run, e.g. "24h", "90m".
    #[serde(default = "default_window")]
    pub window: ConfigDuration,
    /// IANA time zone the schedule is read in, e.g. "Europe/Berlin" (default UTC).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Random delay up to this long added to each scheduled run, so many jobs on
    /// the same schedule do not start at once (default "0s").
    #[serde(default = "default_zero")]
    pub jitter: ConfigDuration,
    /// A scheduled run's window ends this long before the tick, so traces still
    /// being written are not sampled half-written (default "30s").
    #[serde(default = "default_settle_delay")]
    pub settle_delay: ConfigDuration,
    /// A scheduled run's window reaches this much further back than `window`, so
    /// consecutive windows overlap and a missed one heals (default "0s").
    #[serde(default = "default_zero")]
    pub lookback: ConfigDuration,
    /// Production traces sampled from the window (deterministic by trace id and seed).
    #[serde(default = "default_sample_size")]
    pub sample_size: usize,
    /// Seed of the sampling hash and of every randomised test.
    #[serde(default)]
    pub seed: u64,
    /// Golden set production is compared against.
    #[serde(default = "default_golden_set")]
    pub golden_set: String,
    /// Only traces from these sources (all when absent).
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// What outputs should be: "json" or "text" (default "json" when a schema is set).
    #[serde(default)]
    pub output_format: Option<OutputFormat>,
    /// JSON Schema file every output should satisfy (draft 2020-12).
    #[serde(default)]
    pub output_json_schema: Option<PathBuf>,
    /// Regex every output should fully match.
    #[serde(default)]
    pub output_regex: Option<String>,
    /// Regex every input should fully match.
    #[serde(default)]
    pub input_regex: Option<String>,
    /// Token counter: "o200k_base", "cl100k_base" or "file:/path/tokenizer.json".
    #[serde(default)]
    pub tokenizer: TokenizerSpec,
    /// Detect language of inputs/outputs (whichlang, 16 languages).
    #[serde(default = "default_true")]
    pub language_detection: bool,
    /// No longer used (a run logs a warning): language is detected on every
    /// trace since whichlang made it cheap. Accepted so configs keep loading.
    #[serde(default)]
    pub language_sample: Option<usize>,
    /// Compare latency, tokens, cost, error and negative-feedback rates against the previous window.
    #[serde(default = "default_true")]
    pub operational: bool,
    /// False-discovery rate for the Benjamini–Hochberg correction across a run's tests.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// A metric with fewer values than this on either side is skipped, not tested.
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
    /// Minimum effect size for a finding, per effect measure.
    #[serde(default)]
    pub effect_floors: EffectFloors,
    /// Per-metric test override, e.g. `"output.chars" = "psi"`.
    #[serde(default)]
    pub tests: BTreeMap<String, TestChoice>,
    /// Semantic drift, coverage and proposals (`[jobs.semantic]`).
    #[serde(default)]
    pub semantic: super::SemanticJobConfig,
    /// Agreement of production answers with the golden set's expected
    /// outputs (`[jobs.answers]`; off until `fields` names one).
    #[serde(default)]
    pub answers: super::AnswersConfig,
}

fn default_schedule() -> String {
    "0 0 * * * *".into()
}
fn default_window() -> ConfigDuration {
    ConfigDuration::from_secs(24 * 3600)
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_zero() -> ConfigDuration {
    ConfigDuration::from_secs(0)
}
fn default_settle_delay() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}
fn default_sample_size() -> usize {
    5000
}
fn default_golden_set() -> String {
    "default".into()
}
fn default_true() -> bool {
    true
}
fn default_alpha() -> f64 {
    0.05
}
fn default_min_samples() -> usize {
    30
}

/// Effect-size floors: a significant difference smaller than these is not a finding.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EffectFloors {
    /// KS statistic D (largest CDF gap).
    pub ks: f64,
    /// Wasserstein-1 divided by the reference standard deviation.
    pub wasserstein: f64,
    /// Population Stability Index (0.1 slight, 0.2 significant by convention).
    pub psi: f64,
    /// Jensen–Shannon distance (base 2) between category distributions.
    pub js: f64,
    /// Absolute difference of two rates (0.05 = 5 percentage points).
    pub rate: f64,
}

impl Default for EffectFloors {
    fn default() -> Self {
        EffectFloors {
            ks: 0.1,
            wasserstein: 0.1,
            psi: 0.2,
            js: 0.1,
            rate: 0.05,
        }
    }
}

/// Which effect measure a metric is judged by. p-values always come from the
/// matching significance test (KS for numbers, χ² for categories, z for rates).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TestChoice {
    Ks,
    Wasserstein,
    Psi,
    Js,
    Chi2,
    Z,
}

/// A checked job, ready to run.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub name: String,
    pub schedule: cron::Schedule,
    pub schedule_text: String,
    /// When scheduled runs fire and which window they read.
    pub timing: Timing,
    pub window: Duration,
    pub sample_size: usize,
    pub seed: u64,
    pub golden_set: String,
    pub sources: Option<Vec<String>>,
    pub expectations: ExpectationsSource,
    pub tokenizer: TokenizerSpec,
    pub language_detection: bool,
    pub language_sample: Option<usize>,
    pub operational: bool,
    pub alpha: f64,
    pub min_samples: usize,
    pub effect_floors: EffectFloors,
    pub tests: BTreeMap<String, TestChoice>,
    pub semantic: super::SemanticJobConfig,
    /// `[jobs.semantic]` checked into the analysis parameters, once, at load.
    pub semantic_params: SemanticParams,
    /// `[jobs.answers]`, checked.
    pub answers: super::AnswersConfig,
}

/// When a job's scheduled runs fire and what window each reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Zone the cron expression is read in (daylight saving handled by chrono-tz).
    pub timezone: chrono_tz::Tz,
    /// Upper bound of the random delay before each scheduled run.
    pub jitter: Duration,
    /// The window ends this long before the tick.
    pub settle_delay: Duration,
    /// Extra overlap added to the start of each scheduled window.
    pub lookback: Duration,
}

impl JobSpec {
    /// Fire times strictly after `after`, in UTC (the schedule is read in the
    /// job's time zone).
    pub fn fire_times_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> impl Iterator<Item = chrono::DateTime<chrono::Utc>> + '_ {
        self.schedule
            .after(&after.with_timezone(&self.timing.timezone))
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// The uncompiled expectations of a job; compiled per run (cheap) because
/// `jsonschema::Validator` is not `Clone`-friendly across reloads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectationsSource {
    pub output_format: OutputFormat,
    /// Neither `output_format` nor a schema was configured: the run infers the
    /// format from the golden set (JSON when at least
    /// [`INFER_JSON_SHARE`] of its expected outputs are JSON objects or arrays).
    pub infer_format: bool,
    pub output_schema: Option<serde_json::Value>,
    pub output_regex: Option<String>,
    pub input_regex: Option<String>,
}

/// Share of golden expected outputs that must parse as a JSON object or
/// array for an unconfigured job to measure JSON validity.
pub const INFER_JSON_SHARE: f64 = 0.95;

impl ExpectationsSource {
    /// The source with the format inferred from the golden set's outputs:
    /// `json_outputs` of `outputs` parse as a JSON object or array, and
    /// `shape` tallies the top-level keys of those that are objects. JSON when
    /// at least [`INFER_JSON_SHARE`] of the outputs are JSON; then, when as
    /// many are objects, also the schema of their shape
    /// ([`JsonShape::schema`] at the same share: the keys nearly every answer
    /// holds, with their types), so `output.schema_valid` is measured too.
    /// Unchanged when the format or a schema was configured.
    pub fn inferred(
        &self,
        json_outputs: usize,
        outputs: usize,
        shape: &JsonShape,
    ) -> ExpectationsSource {
        let mut out = self.clone();
        let most = |n: usize| outputs > 0 && n as f64 >= INFER_JSON_SHARE * outputs as f64;
        if self.infer_format && most(json_outputs) {
            out.output_format = OutputFormat::Json;
            if most(shape.objects()) {
                out.output_schema = shape.schema(INFER_JSON_SHARE);
            }
        }
        out
    }

    /// The top-level keys an inferred schema requires (empty when none was
    /// inferred, or the schema was configured).
    pub fn inferred_required_keys(&self) -> Vec<String> {
        match (&self.output_schema, self.infer_format) {
            (Some(s), true) => crate::metrics::required_keys(s),
            _ => Vec::new(),
        }
    }

    pub fn compile(&self) -> Result<Expectations, crate::metrics::MetricsError> {
        let mut e = Expectations::new(self.output_format);
        if let Some(s) = &self.output_schema {
            e = e.with_output_schema(s)?;
        }
        if let Some(r) = &self.output_regex {
            e = e.with_output_regex(r)?;
        }
        if let Some(r) = &self.input_regex {
            e = e.with_input_regex(r)?;
        }
        Ok(e)
    }
}

/// Parses a cron expression; 5 fields get a leading `0` seconds field.
pub fn parse_schedule(s: &str) -> Result<cron::Schedule, String> {
    let fields = s.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {s}")
    } else {
        s.to_string()
    };
    let schedule = cron::Schedule::from_str(&full)
        .map_err(|e| format!("invalid cron expression `{s}`: {e}"))?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(format!("cron expression `{s}` never fires"));
    }
    Ok(schedule)
}

/// The shortest gap between the schedule's next few fire times.
fn shortest_interval(schedule: &cron::Schedule) -> Option<Duration> {
    let times: Vec<_> = schedule.upcoming(chrono::Utc).take(8).collect();
    times
        .windows(2)
        .filter_map(|w| (w[1] - w[0]).to_std().ok())
        .min()
}

impl JobConfig {
    /// A job with every default, for one-off `driftwatch run` without config.
    pub fn adhoc(name: &str, golden_set: &str) -> JobConfig {
        JobConfig {
            name: name.into(),
            schedule: default_schedule(),
            window: default_window(),
            timezone: default_timezone(),
            jitter: default_zero(),
            settle_delay: default_settle_delay(),
            lookback: default_zero(),
            sample_size: default_sample_size(),
            seed: 0,
            golden_set: golden_set.into(),
            sources: None,
            output_format: None,
            output_json_schema: None,
            output_regex: None,
            input_regex: None,
            tokenizer: TokenizerSpec::default(),
            language_detection: true,
            language_sample: None,
            operational: true,
            alpha: default_alpha(),
            min_samples: default_min_samples(),
            effect_floors: EffectFloors::default(),
            tests: BTreeMap::new(),
            semantic: super::SemanticJobConfig::default(),
            answers: super::AnswersConfig::default(),
        }
    }

    /// Checks every rule and returns the spec, or all errors found, with key paths under `at`.
    pub fn check(&self, at: &str, base_dir: &Path) -> Result<JobSpec, Vec<ConfigError>> {
        let mut errs = Vec::new();
        let key = |k: &str| format!("{at}.{k}");
        if self.name.trim().is_empty() {
            errs.push(ConfigError::new(key("name"), "must not be empty"));
        }
        let schedule = parse_schedule(&self.schedule)
            .map_err(|m| errs.push(ConfigError::new(key("schedule"), m)))
            .ok();
        let window = match self.window.0 {
            d if d.as_secs() >= 1 => Some(d),
            _ => {
                errs.push(ConfigError::new(
                    key("window"),
                    format!("must be at least 1s, got `{}`", self.window),
                ));
                None
            }
        };
        let timezone = self
            .timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| {
                errs.push(ConfigError::new(
                    key("timezone"),
                    format!(
                        "unknown time zone `{}` (an IANA name such as \"UTC\" or \"Europe/Berlin\")",
                        self.timezone
                    ),
                ))
            })
            .ok();
        let (jitter, settle_delay, lookback) =
            (self.jitter.0, self.settle_delay.0, self.lookback.0);
        if let Some(gap) = schedule.as_ref().and_then(shortest_interval) {
            if jitter >= gap {
                errs.push(ConfigError::new(
                    key("jitter"),
                    format!(
                        "must be shorter than the time between two scheduled runs ({}), got `{}`",
                        humantime::format_duration(gap),
                        self.jitter
                    ),
                ));
            }
        }
        if self.sample_size < 1 {
            errs.push(ConfigError::new(
                key("sample_size"),
                "must be at least 1, got 0",
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            errs.push(ConfigError::new(
                key("alpha"),
                format!("must be between 0 and 1 exclusive, got {}", self.alpha),
            ));
        }
        if self.min_samples < 2 {
            errs.push(ConfigError::new(
                key("min_samples"),
                format!("must be at least 2, got {}", self.min_samples),
            ));
        }
        let f = &self.effect_floors;
        for (name, v) in [
            ("ks", f.ks),
            ("wasserstein", f.wasserstein),
            ("psi", f.psi),
            ("js", f.js),
            ("rate", f.rate),
        ] {
            if !(v >= 0.0) {
                errs.push(ConfigError::new(
                    format!("{at}.effect_floors.{name}"),
                    format!("must be >= 0, got {v}"),
                ));
            }
        }
        for (metric, choice) in &self.tests {
            match MetricId::from_str(metric) {
                Err(_) => errs.push(ConfigError::new(
                    format!("{at}.tests.{metric}"),
                    "unknown metric (see `driftwatch metrics`)".to_string(),
                )),
                Ok(m) => {
                    use crate::metrics::MetricKind as K;
                    let ok = matches!(
                        (m.kind(), choice),
                        (
                            K::Numeric,
                            TestChoice::Ks | TestChoice::Wasserstein | TestChoice::Psi
                        ) | (K::Categorical, TestChoice::Chi2 | TestChoice::Js)
                            | (K::Rate, TestChoice::Z)
                    );
                    if !ok {
                        errs.push(ConfigError::new(
                            format!("{at}.tests.{metric}"),
                            format!("test {choice:?} does not apply to a {:?} metric", m.kind())
                                .to_lowercase(),
                        ));
                    }
                }
            }
        }
        let schema = match &self.output_json_schema {
            None => None,
            Some(p) => {
                let path = if p.is_absolute() {
                    p.clone()
                } else {
                    base_dir.join(p)
                };
                match std::fs::read_to_string(&path) {
                    Err(e) => {
                        errs.push(ConfigError::new(
                            key("output_json_schema"),
                            format!("cannot read {}: {e}", path.display()),
                        ));
                        None
                    }
                    Ok(t) => match serde_json::from_str::<serde_json::Value>(&t) {
                        Err(e) => {
                            errs.push(ConfigError::new(
                                key("output_json_schema"),
                                format!("{} is not JSON: {e}", path.display()),
                            ));
                            None
                        }
                        Ok(v) => {
                            if let Err(e) = crate::metrics::compile_schema(&v) {
                                errs.push(ConfigError::new(
                                    key("output_json_schema"),
                                    format!("{}: {e}", path.display()),
                                ));
                            }
                            Some(v)
                        }
                    },
                }
            }
        };
        if let Some(r) = &self.output_regex {
            if let Err(e) = crate::metrics::full_match_regex("output_regex", r) {
                errs.push(ConfigError::new(key("output_regex"), e.to_string()));
            }
        }
        if let Some(r) = &self.input_regex {
            if let Err(e) = crate::metrics::full_match_regex("input_regex", r) {
                errs.push(ConfigError::new(key("input_regex"), e.to_string()));
            }
        }
        if let TokenizerSpec::File(p) = &self.tokenizer {
            if !p.exists() && !base_dir.join(p).exists() {
                errs.push(ConfigError::new(
                    key("tokenizer"),
                    format!("tokenizer file {} does not exist", p.display()),
                ));
            }
        }
        let semantic_params = self
            .semantic
            .params(
                self.seed,
                if self.alpha > 0.0 && self.alpha < 1.0 {
                    self.alpha
                } else {
                    0.05
                },
            )
            .map_err(|e| errs.push(ConfigError::new(format!("{at}.semantic"), e)))
            .ok();
        if !(self.semantic.spot_check_rate >= 0.0 && self.semantic.spot_check_rate <= 1.0) {
            errs.push(ConfigError::new(
                format!("{at}.semantic.spot_check_rate"),
                format!(
                    "must be between 0 and 1, got {}",
                    self.semantic.spot_check_rate
                ),
            ));
        }
        if !(self.semantic.gap_floor >= 0.0 && self.semantic.gap_floor <= 1.0) {
            errs.push(ConfigError::new(
                format!("{at}.semantic.gap_floor"),
                format!(
                    "must be a share of traffic between 0 and 1, got {}",
                    self.semantic.gap_floor
                ),
            ));
        }
        if !(self.semantic.exclusion_similarity > 0.0 && self.semantic.exclusion_similarity <= 1.0)
        {
            errs.push(ConfigError::new(
                format!("{at}.semantic.exclusion_similarity"),
                format!(
                    "must be a cosine in (0, 1], got {}",
                    self.semantic.exclusion_similarity
                ),
            ));
        }
        errs.extend(self.answers.check(&key("answers")));
        if !errs.is_empty() {
            return Err(errs);
        }
        let output_format = match (self.output_format, &schema) {
            (Some(f), _) => f,
            (None, Some(_)) => OutputFormat::Json,
            (None, None) => OutputFormat::Text,
        };
        let tokenizer = match &self.tokenizer {
            TokenizerSpec::File(p) if !p.is_absolute() => TokenizerSpec::File(base_dir.join(p)),
            t => t.clone(),
        };
        Ok(JobSpec {
            name: self.name.clone(),
            schedule: schedule.expect("checked"),
            schedule_text: self.schedule.clone(),
            timing: Timing {
                timezone: timezone.expect("checked"),
                jitter,
                settle_delay,
                lookback,
            },
            window: window.expect("checked"),
            sample_size: self.sample_size,
            seed: self.seed,
            golden_set: self.golden_set.clone(),
            sources: self.sources.clone(),
            expectations: ExpectationsSource {
                output_format,
                infer_format: self.output_format.is_none() && schema.is_none(),
                output_schema: schema,
                output_regex: self.output_regex.clone(),
                input_regex: self.input_regex.clone(),
            },
            tokenizer,
            language_detection: self.language_detection,
            language_sample: self.language_sample,
            operational: self.operational,
            alpha: self.alpha,
            min_samples: self.min_samples,
            effect_floors: self.effect_floors,
            tests: self.tests.clone(),
            semantic: self.semantic.clone(),
            semantic_params: semantic_params.expect("checked"),
            answers: {
                let mut a = self.answers.clone();
                if let Some(j) = a.judge.as_mut() {
                    j.resolve_paths(base_dir);
                }
                a
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_cron_gets_seconds_and_bad_cron_is_named() {
        assert!(parse_schedule("*/5 * * * *").is_ok());
        assert!(parse_schedule("*/2 * * * * *").is_ok());
        let e = parse_schedule("every day").unwrap_err();
        assert!(e.contains("every day"), "{e}");
        let e = parse_schedule("0 0 31 2 *").unwrap_err();
        assert!(e.contains("never fires"), "{e}");
    }

    #[test]
    fn jitter_must_be_shorter_than_the_schedule_interval() {
        let mut j = JobConfig::adhoc("j", "g");
        j.schedule = "*/15 * * * *".into();
        j.jitter = "1y".parse().unwrap();
        let errs = j.check("jobs[0]", Path::new(".")).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "jobs[0].jitter");
        assert!(errs[0].message.contains("15m"), "{}", errs[0].message);
        j.jitter = "2m".parse().unwrap();
        assert!(j.check("jobs[0]", Path::new(".")).is_ok());
    }

    #[test]
    fn check_collects_every_error() {
        let mut j = JobConfig::adhoc("j", "g");
        j.schedule = "nope".into();
        j.window = "0s".parse().unwrap();
        j.alpha = 1.5;
        j.tests.insert("output.chars".into(), TestChoice::Chi2);
        j.tests.insert("output.bogus".into(), TestChoice::Ks);
        let errs = j.check("jobs[0]", Path::new(".")).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "jobs[0].schedule",
                "jobs[0].window",
                "jobs[0].alpha",
                "jobs[0].tests.output.bogus",
                "jobs[0].tests.output.chars"
            ]
        );
        assert_eq!(
            errs[2].message,
            "must be between 0 and 1 exclusive, got 1.5"
        );
    }

    #[test]
    fn schema_implies_json_format() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.json"),
            r#"{"type":"object","required":["answer"]}"#,
        )
        .unwrap();
        let mut j = JobConfig::adhoc("j", "g");
        j.output_json_schema = Some("s.json".into());
        let spec = j.check("jobs[0]", dir.path()).unwrap();
        assert_eq!(spec.expectations.output_format, OutputFormat::Json);
        assert!(spec.expectations.compile().unwrap().output_schema.is_some());
    }

    #[test]
    fn gap_floor_outside_0_1_names_its_key() {
        let mut j = JobConfig::adhoc("j", "g");
        j.semantic.gap_floor = 1.5;
        let errs = j.check("jobs[0]", Path::new(".")).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.to_string().contains("jobs[0].semantic.gap_floor")),
            "{errs:?}"
        );
    }
}
