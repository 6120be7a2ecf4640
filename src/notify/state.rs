//! Pure alert state machine: `Inactive → Pending → Firing → Resolved`, counted in runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::rules::{Finding, RuleConfig};

/// Lifecycle of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Not matching (or never seen).
    Inactive,
    /// Matching, but for fewer than `for` consecutive runs.
    Pending,
    /// Matching for at least `for` runs (or within `keep_firing_for` after that).
    Firing,
    /// Was firing, stopped matching.
    Resolved,
}

impl AlertStatus {
    /// Lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Inactive => "inactive",
            AlertStatus::Pending => "pending",
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Persisted state of one alert (one rule × job × metric × side × severity × rule labels).
///
/// The caller stores it (e.g. as JSON keyed by `fingerprint`) and hands it back to the
/// next [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// Stable hash of the sorted labels (see [`fingerprint`]).
    pub fingerprint: String,
    /// `alertname`, `job`, `metric`, `side`, `severity` and the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// Current status.
    pub status: AlertStatus,
    /// Consecutive matching runs of the current episode.
    pub active_runs: u32,
    /// Consecutive non-matching runs while firing (for `keep_firing_for`).
    pub inactive_runs: u32,
    /// When the current status was entered.
    pub since: DateTime<Utc>,
    /// First matching run of the current (or last) episode.
    pub started_at: DateTime<Utc>,
    /// When the current (or last) episode started firing.
    pub fired_at: Option<DateTime<Utc>>,
    /// When the last episode resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Observed value of the rule's condition field (effect size for `drifted`) at the last match.
    pub value: Option<f64>,
    /// Run that started the current (or last) episode.
    pub first_run_id: i64,
    /// Last run that changed this state.
    pub last_run_id: i64,
    /// The finding of the last matching run (the one with the largest effect size).
    pub last_match: Option<Finding>,
    /// Rendered rule summary of the last match.
    pub summary: String,
    /// The rule's runbook link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
}

impl AlertState {
    /// A label value, or `""`.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    /// `alertname` label.
    pub fn alertname(&self) -> &str {
        self.label("alertname")
    }
}

/// One step of the state machine for one alert; `state` is what the caller persists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Alert fingerprint.
    pub fingerprint: String,
    /// Status before this run (`Inactive` for a new alert).
    pub from: AlertStatus,
    /// Status after this run.
    pub to: AlertStatus,
    /// Full new state.
    pub state: AlertState,
}

impl Transition {
    /// Whether the status changed (as opposed to counters / values only).
    pub fn status_changed(&self) -> bool {
        self.from != self.to
    }
}

/// The findings of one finished run of one job.
#[derive(Debug, Clone, Copy)]
pub struct RunFindings<'a> {
    /// Job the run belongs to; only alerts of this job are evaluated.
    pub job: &'a str,
    /// Run id.
    pub run_id: i64,
    /// Every finding of the run (drifted or not).
    pub findings: &'a [Finding],
}

/// Stable fingerprint of a label set: first 16 hex chars of SHA-256 over the sorted
/// `name\0value\0` pairs (independent of insertion order).
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0u8]);
        h.update(v.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    hex::encode(&digest[..8])
}

struct Candidate<'a> {
    rule: &'a RuleConfig,
    labels: BTreeMap<String, String>,
    finding: &'a Finding,
}

fn effect_key(f: &Finding) -> f64 {
    if f.effect_size.is_nan() {
        -1.0
    } else {
        f.effect_size.abs()
    }
}

/// Advances every alert of `run.job` by one run.
///
/// An alert matches this run when any finding of the run is selected by its rule and
/// satisfies the condition; alerts whose findings are absent count as not matching.
/// Returns one [`Transition`] per alert whose state changed in any way (status, counters,
/// values), sorted by fingerprint; alerts not returned are unchanged. Previous states of
/// other jobs are ignored.
///
/// * not matching → match: `Pending` (or `Firing` at once when `for = 1`).
/// * `Pending` + match: fires once `active_runs >= for`; `Pending` + no match: `Inactive`.
/// * `Firing` + no match: keeps firing for `keep_firing_for` runs, then `Resolved`.
pub fn evaluate(
    rules: &[RuleConfig],
    run: &RunFindings<'_>,
    prev_states: &[AlertState],
    now: DateTime<Utc>,
) -> Vec<Transition> {
    let mut candidates: BTreeMap<String, Candidate<'_>> = BTreeMap::new();
    for rule in rules {
        for f in run.findings.iter().filter(|f| f.job == run.job) {
            if !rule.matches(f) {
                continue;
            }
            let labels = rule.alert_labels(f);
            let fp = fingerprint(&labels);
            match candidates.get_mut(&fp) {
                Some(c) => {
                    if effect_key(f) > effect_key(c.finding) {
                        c.finding = f;
                    }
                }
                None => {
                    candidates.insert(
                        fp,
                        Candidate {
                            rule,
                            labels,
                            finding: f,
                        },
                    );
                }
            }
        }
    }
    let prev: BTreeMap<&str, &AlertState> = prev_states
        .iter()
        .filter(|s| s.label("job") == run.job)
        .map(|s| (s.fingerprint.as_str(), s))
        .collect();
    let keys: BTreeSet<&str> = candidates
        .keys()
        .map(String::as_str)
        .chain(prev.keys().copied())
        .collect();

    let mut out = Vec::new();
    for fp in keys {
        let before = prev.get(fp).copied();
        let next = match candidates.get(fp) {
            Some(c) => Some(on_match(before, c, fp, run.run_id, now)),
            None => before.and_then(|s| on_miss(s, keep_firing_for(rules, s), run.run_id, now)),
        };
        if let Some(state) = next.filter(|s| before != Some(s)) {
            out.push(Transition {
                fingerprint: fp.to_owned(),
                from: before.map_or(AlertStatus::Inactive, |s| s.status),
                to: state.status,
                state,
            });
        }
    }
    out
}

fn keep_firing_for(rules: &[RuleConfig], s: &AlertState) -> u32 {
    rules
        .iter()
        .find(|r| {
            r.name == s.alertname()
                && r.severity_for(s.label("metric")).as_str() == s.label("severity")
        })
        .map_or(0, |r| r.keep_firing_for)
}

fn on_match(
    before: Option<&AlertState>,
    c: &Candidate<'_>,
    fp: &str,
    run_id: i64,
    now: DateTime<Utc>,
) -> AlertState {
    let for_runs = c.rule.for_runs.max(1);
    let continuing =
        before.filter(|s| matches!(s.status, AlertStatus::Pending | AlertStatus::Firing));
    let mut s = match continuing {
        Some(s) => {
            let mut s = s.clone();
            s.active_runs = s.active_runs.saturating_add(1);
            s
        }
        None => AlertState {
            fingerprint: fp.to_owned(),
            labels: c.labels.clone(),
            status: AlertStatus::Inactive,
            active_runs: 1,
            inactive_runs: 0,
            since: now,
            started_at: now,
            fired_at: None,
            resolved_at: None,
            value: None,
            first_run_id: run_id,
            last_run_id: run_id,
            last_match: None,
            summary: String::new(),
            runbook_url: None,
        },
    };
    s.inactive_runs = 0;
    s.labels = c.labels.clone();
    s.last_run_id = run_id;
    s.value = c.rule.condition.observed(c.finding);
    s.last_match = Some(c.finding.clone());
    s.summary = c.rule.summary_for(c.finding);
    s.runbook_url = c.rule.runbook_url.clone();
    let target = if s.status == AlertStatus::Firing || s.active_runs >= for_runs {
        AlertStatus::Firing
    } else {
        AlertStatus::Pending
    };
    if target != s.status {
        s.status = target;
        s.since = now;
        if target == AlertStatus::Firing {
            s.fired_at = Some(now);
        }
    }
    s
}

fn on_miss(s: &AlertState, keep: u32, run_id: i64, now: DateTime<Utc>) -> Option<AlertState> {
    let mut s = s.clone();
    match s.status {
        AlertStatus::Inactive | AlertStatus::Resolved => return None,
        AlertStatus::Pending => {
            s.status = AlertStatus::Inactive;
            s.since = now;
            s.active_runs = 0;
            s.inactive_runs = 0;
        }
        AlertStatus::Firing => {
            s.inactive_runs = s.inactive_runs.saturating_add(1);
            if s.inactive_runs > keep {
                s.status = AlertStatus::Resolved;
                s.since = now;
                s.resolved_at = Some(now);
                s.active_runs = 0;
            }
        }
    }
    s.last_run_id = run_id;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixtures::{finding, t};
    use super::*;

    struct Sim {
        rules: Vec<RuleConfig>,
        states: BTreeMap<String, AlertState>,
        run: i64,
    }

    impl Sim {
        fn new(rules: Vec<RuleConfig>) -> Self {
            Sim {
                rules,
                states: BTreeMap::new(),
                run: 0,
            }
        }
        /// One run where `output.json_valid` drifted or not; returns (from, to) pairs.
        fn step(&mut self, drifted: bool) -> Vec<(AlertStatus, AlertStatus)> {
            self.run += 1;
            let mut f = finding("output.json_valid", drifted);
            f.run_id = self.run;
            let prev: Vec<AlertState> = self.states.values().cloned().collect();
            let findings = [f];
            let run = RunFindings {
                job: "support",
                run_id: self.run,
                findings: &findings,
            };
            let tr = evaluate(&self.rules, &run, &prev, t(self.run * 3600));
            for x in &tr {
                self.states.insert(x.fingerprint.clone(), x.state.clone());
            }
            tr.iter().map(|x| (x.from, x.to)).collect()
        }
        fn status(&self) -> Option<AlertStatus> {
            self.states.values().next().map(|s| s.status)
        }
    }

    fn rule(for_runs: u32, keep: u32) -> RuleConfig {
        let mut r = RuleConfig::new("DriftDetected");
        r.for_runs = for_runs;
        r.keep_firing_for = keep;
        r
    }

    use AlertStatus::*;

    #[test]
    fn flapping_with_for_2_never_fires() {
        let mut sim = Sim::new(vec![rule(2, 0)]);
        for i in 0..10 {
            let tr = sim.step(i % 2 == 0);
            assert!(tr.iter().all(|(_, to)| *to != Firing), "run {i}: {tr:?}");
        }
        assert_eq!(sim.status(), Some(Inactive));
    }

    #[test]
    fn two_drifts_fire_then_resolve() {
        let mut sim = Sim::new(vec![rule(2, 0)]);
        assert_eq!(sim.step(true), vec![(Inactive, Pending)]);
        assert_eq!(sim.step(true), vec![(Pending, Firing)]);
        let s = sim.states.values().next().unwrap().clone();
        assert_eq!(s.active_runs, 2);
        assert_eq!(s.fired_at, Some(t(2 * 3600)));
        assert_eq!(s.started_at, t(3600));
        assert_eq!(s.first_run_id, 1);
        assert_eq!(s.value, Some(0.35));
        assert!(s.summary.contains("output.json_valid"), "{}", s.summary);
        assert_eq!(sim.step(true), vec![(Firing, Firing)]);
        assert_eq!(sim.step(false), vec![(Firing, Resolved)]);
        let s = sim.states.values().next().unwrap();
        assert_eq!(s.resolved_at, Some(t(4 * 3600)));
        assert!(
            s.last_match.is_some(),
            "keeps the last finding for rendering"
        );
        // Resolved and still quiet: unchanged, nothing returned.
        assert_eq!(sim.step(false), vec![]);
        // A new episode starts from scratch.
        assert_eq!(sim.step(true), vec![(Resolved, Pending)]);
        let s = sim.states.values().next().unwrap();
        assert_eq!((s.active_runs, s.first_run_id, s.resolved_at), (1, 6, None));
        assert_eq!(s.fired_at, None);
        assert_eq!(sim.step(true), vec![(Pending, Firing)]);
        assert_eq!(
            sim.states.values().next().unwrap().fired_at,
            Some(t(7 * 3600))
        );
    }

    #[test]
    fn for_1_fires_immediately() {
        let mut sim = Sim::new(vec![rule(1, 0)]);
        assert_eq!(sim.step(true), vec![(Inactive, Firing)]);
        assert_eq!(sim.step(false), vec![(Firing, Resolved)]);
    }

    #[test]
    fn keep_firing_for_holds() {
        let mut sim = Sim::new(vec![rule(1, 2)]);
        assert_eq!(sim.step(true), vec![(Inactive, Firing)]);
        assert_eq!(sim.step(false), vec![(Firing, Firing)]);
        assert_eq!(sim.step(false), vec![(Firing, Firing)]);
        // drift again resets the quiet counter
        assert_eq!(sim.step(true), vec![(Firing, Firing)]);
        assert_eq!(sim.states.values().next().unwrap().inactive_runs, 0);
        assert_eq!(sim.step(false), vec![(Firing, Firing)]);
        assert_eq!(sim.step(false), vec![(Firing, Firing)]);
        assert_eq!(sim.step(false), vec![(Firing, Resolved)]);
    }

    #[test]
    fn absent_findings_count_as_not_matching_and_other_jobs_are_untouched() {
        let rules = vec![rule(1, 0)];
        let findings = [finding("output.json_valid", true)];
        let run = RunFindings {
            job: "support",
            run_id: 1,
            findings: &findings,
        };
        let first = evaluate(&rules, &run, &[], t(0));
        assert_eq!(first.len(), 1);
        let mut other = first[0].state.clone();
        other.labels.insert("job".into(), "billing".into());
        other.fingerprint = fingerprint(&other.labels);
        let prev = vec![first[0].state.clone(), other];
        let run2 = RunFindings {
            job: "support",
            run_id: 2,
            findings: &[],
        };
        let tr = evaluate(&rules, &run2, &prev, t(60));
        assert_eq!(tr.len(), 1, "{tr:?}");
        assert_eq!(tr[0].to, Resolved);
        assert_eq!(tr[0].state.label("job"), "support");
    }

    #[test]
    fn removed_rule_resolves_its_alerts() {
        let findings = [finding("output.json_valid", true)];
        let run = RunFindings {
            job: "support",
            run_id: 1,
            findings: &findings,
        };
        let first = evaluate(&[rule(1, 5)], &run, &[], t(0));
        let mut other = RuleConfig::new("Other");
        other.metric = "input.*".into();
        let tr = evaluate(&[other], &run, &[first[0].state.clone()], t(60));
        assert_eq!(tr.len(), 1);
        assert_eq!((tr[0].from, tr[0].to), (Firing, Resolved));
    }

    #[test]
    fn one_alert_per_metric_and_largest_effect_wins() {
        let mut a = finding("output.json_valid", true);
        a.effect_size = 0.2;
        let mut b = finding("output.json_valid", true);
        b.effect_size = 0.9;
        b.test = "chi2".into();
        let c = finding("output.length", true);
        let findings = [a, b, c];
        let run = RunFindings {
            job: "support",
            run_id: 1,
            findings: &findings,
        };
        let tr = evaluate(&[rule(1, 0)], &run, &[], t(0));
        assert_eq!(tr.len(), 2);
        let jv = tr
            .iter()
            .find(|x| x.state.label("metric") == "output.json_valid")
            .unwrap();
        assert_eq!(jv.state.last_match.as_ref().unwrap().test, "chi2");
    }

    #[test]
    fn fingerprint_is_stable_across_label_order() {
        let mut a = BTreeMap::new();
        a.insert("job".to_string(), "support".to_string());
        a.insert("alertname".to_string(), "X".to_string());
        a.insert("team".to_string(), "ml".to_string());
        let b: BTreeMap<String, String> = [("team", "ml"), ("alertname", "X"), ("job", "support")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 16);
        // the rule's own label order does not matter either
        let mut r1 = RuleConfig::new("X");
        r1.labels.insert("a".into(), "1".into());
        r1.labels.insert("b".into(), "2".into());
        let mut r2 = RuleConfig::new("X");
        r2.labels.insert("b".into(), "2".into());
        r2.labels.insert("a".into(), "1".into());
        let f = finding("m", true);
        assert_eq!(
            fingerprint(&r1.alert_labels(&f)),
            fingerprint(&r2.alert_labels(&f))
        );
        // ...but values do
        let mut c = a.clone();
        c.insert("job".into(), "billing".into());
        assert_ne!(fingerprint(&a), fingerprint(&c));
        // pinned so a refactor cannot silently re-key every stored alert
        assert_eq!(fingerprint(&BTreeMap::new()), "e3b0c44298fc1c14");
    }
}
