//! The answers stage: does production still give the expected answer to the
//! questions the golden set knows? For each configured output field, the share
//! of production traces matched to a golden question whose answer agrees with
//! the expected output, in this window against the previous window, by the
//! pooled two-proportion z-test (one finding per field, `answer.FIELD`, under
//! the run's decision rule). The pure parts are in [`crate::answers`].

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::embedding::{embed_cached, SharedEmbedder};
use super::super::error::JobError;
use crate::answers::{self, FieldAgreement, Match};
use crate::config::ConfigError;
use crate::stats;
use crate::store::{
    Example, ExampleTrace, Finding, FindingDetails, FindingKind, GoldenExample, Store, Trace,
    Verdict,
};

/// Cosine between two inputs at or above which a production trace asks a
/// golden question, measured on BANKING77 (BENCHMARKS.md, "Answers:
/// matching"; all-MiniLM-L6-v2, golden 1,000, production 2,000): at 0.9 about
/// a fifth of production matches, and 2.8 % of the matches are to a query of
/// another intent (0.85: 4.8 %; even 0.95 keeps 2.2 %, BANKING77's own
/// near-duplicates across intents).
pub const DEFAULT_MATCH_COS: f64 = 0.9;

/// `[jobs.answers]`: agreement of production answers with the golden set's
/// expected outputs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnswersConfig {
    /// JSON fields (dotted paths, e.g. `intent`, `result.label`) of the
    /// outputs whose agreement with the expected output is tracked; empty
    /// turns the stage off.
    pub fields: Vec<String>,
    /// Absolute tolerance for numeric fields (default 0: equal).
    pub tolerance: f64,
    /// Input cosine at or above which a production trace matches its nearest
    /// golden question (exact matches after normalizing case, spacing and
    /// punctuation always count). Needs the embedding model; without it only
    /// exact matches are made.
    pub match_cos: f64,
    /// Matched traces needed in each window before a field is tested.
    pub min_matches: usize,
    /// Free-text answers: a production answer agrees with the expected one
    /// when their embeddings are at cosine ≥ this (absent: off). Finding
    /// `answer.text`; its details also give the mean cosine and token F1.
    pub text_min_cos: Option<f64>,
    /// The JSON field holding the answer text (absent: the whole output).
    pub text_field: Option<String>,
    /// An LLM judge grading each answer against the expected one (finding
    /// `answer.judge`; absent: off).
    pub judge: Option<super::judge::JudgeConfig>,
}

impl Default for AnswersConfig {
    fn default() -> Self {
        AnswersConfig {
            fields: Vec::new(),
            tolerance: 0.0,
            match_cos: DEFAULT_MATCH_COS,
            min_matches: 20,
            text_min_cos: None,
            text_field: None,
            judge: None,
        }
    }
}

impl AnswersConfig {
    /// Whether any field is tracked.
    pub fn enabled(&self) -> bool {
        !self.fields.is_empty() || self.text_min_cos.is_some() || self.judge.is_some()
    }

    /// Range checks, with key paths under `at` (e.g. `jobs[0].answers`).
    pub fn check(&self, at: &str) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            if f.trim().is_empty() || f.split('.').any(str::is_empty) {
                errs.push(ConfigError::new(
                    format!("{at}.fields[{i}]"),
                    format!("must be a dotted field path such as \"intent\" or \"result.label\", got {f:?}"),
                ));
            }
        }
        if !(self.tolerance >= 0.0 && self.tolerance.is_finite()) {
            errs.push(ConfigError::new(
                format!("{at}.tolerance"),
                format!("must be 0 or more, got {}", self.tolerance),
            ));
        }
        if !(self.match_cos > 0.0 && self.match_cos <= 1.0) {
            errs.push(ConfigError::new(
                format!("{at}.match_cos"),
                format!("must be a cosine in (0, 1], got {}", self.match_cos),
            ));
        }
        if self.min_matches < 2 {
            errs.push(ConfigError::new(
                format!("{at}.min_matches"),
                format!("must be at least 2, got {}", self.min_matches),
            ));
        }
        if let Some(c) = self.text_min_cos {
            if !(c > 0.0 && c <= 1.0) {
                errs.push(ConfigError::new(
                    format!("{at}.text_min_cos"),
                    format!("must be a cosine in (0, 1], got {c}"),
                ));
            }
        }
        if let Some(j) = &self.judge {
            errs.extend(j.check(&format!("{at}.judge")));
        }
        errs
    }
}

/// One window's traces matched to golden questions.
struct Matched<'a> {
    traces: &'a [Trace],
    matches: Vec<Option<Match>>,
}

impl Matched<'_> {
    /// The matched (trace, golden example) pairs, in trace order.
    fn pairs(&self) -> Vec<super::judge::Pair> {
        self.matches
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|m| super::judge::Pair { i, g: m.golden }))
            .collect()
    }

    fn count(&self) -> (usize, usize) {
        let exact = self.matches.iter().flatten().filter(|m| m.exact).count();
        let all = self.matches.iter().flatten().count();
        (all, exact)
    }

    fn agreement(&self, golden: &[GoldenExample], field: &str, tolerance: f64) -> FieldAgreement {
        self.agreement_of(golden, field, tolerance, |_| true)
    }

    /// [`Matched::agreement`] over the traces `keep` selects.
    fn agreement_of(
        &self,
        golden: &[GoldenExample],
        field: &str,
        tolerance: f64,
        keep: impl Fn(&Trace) -> bool,
    ) -> FieldAgreement {
        let expected: Vec<&str> = golden.iter().map(|g| g.expected_output.as_str()).collect();
        let actual: Vec<&str> = self.traces.iter().map(|t| t.output.as_str()).collect();
        let matches: Vec<Option<Match>> = self
            .matches
            .iter()
            .zip(self.traces)
            .map(|(m, t)| m.filter(|_| keep(t)))
            .collect();
        answers::field_agreement(&matches, &expected, &actual, field, tolerance)
    }
}

async fn match_window<'a>(
    store: &Store,
    embedder: Option<&SharedEmbedder>,
    (g_in, golden_emb): (&[&str], Option<&Array2<f32>>),
    traces: &'a [Trace],
    cfg: &AnswersConfig,
) -> Result<Matched<'a>, JobError> {
    let p_in: Vec<&str> = traces.iter().map(|t| t.input.as_str()).collect();
    let p_emb = match (embedder, golden_emb) {
        (Some(e), Some(_)) => Some(embed_cached(store, e, &p_in, None).await?.0),
        _ => None,
    };
    let matches = answers::match_golden(
        g_in,
        &p_in,
        golden_emb
            .zip(p_emb.as_ref())
            .map(|(g, p)| (g.view(), p.view())),
        cfg.match_cos as f32,
    );
    Ok(Matched { traces, matches })
}

/// The answers stage: one finding per configured field.
#[allow(clippy::too_many_arguments)]
pub async fn run_answers(
    store: &Store,
    embedder: Option<&SharedEmbedder>,
    job: &str,
    cfg: &AnswersConfig,
    rate_floor: f64,
    golden: &[GoldenExample],
    current: &[Trace],
    previous: Option<&[Trace]>,
) -> Result<Vec<Finding>, JobError> {
    let g_in: Vec<&str> = golden.iter().map(|g| g.input.as_str()).collect();
    let golden_emb = match embedder {
        Some(e) => Some(embed_cached(store, e, &g_in, None).await?.0),
        None => None,
    };
    let g = (&g_in[..], golden_emb.as_ref());
    let now = match_window(store, embedder, g, current, cfg).await?;
    let before = match previous {
        Some(p) => Some(match_window(store, embedder, g, p, cfg).await?),
        None => None,
    };
    let (matched, exact) = now.count();
    // The golden set's own paraphrase pairs: the agreement a consistent
    // application reaches on questions asked twice.
    let g_out: Vec<&str> = golden.iter().map(|g| g.expected_output.as_str()).collect();
    let pairs = answers::match_within(
        &g_in,
        golden_emb.as_ref().map(|e| e.view()),
        cfg.match_cos as f32,
    );
    let mut findings = Vec::new();
    for field in &cfg.fields {
        let a = now.agreement(golden, field, cfg.tolerance);
        let b = before
            .as_ref()
            .map(|w| w.agreement(golden, field, cfg.tolerance));
        let mut f = field_finding(
            job,
            field,
            &format!("`{field}` agrees with the expected answer"),
            cfg,
            golden,
            &now,
            &a,
            b.as_ref(),
            (matched, exact),
        );
        f.threshold = Some(rate_floor);
        if a.unparsed > 0 {
            // Left to `output.json_valid`: a broken format is not a changed answer.
            let note = format!(
                "; {} matched outputs were not JSON and are not compared",
                a.unparsed
            );
            for s in [&mut f.details.summary, &mut f.details.skipped] {
                if let Some(s) = s.as_mut() {
                    s.push_str(&note);
                }
            }
            f.details.extra.insert("not_json".into(), json!(a.unparsed));
        }
        let baseline = answers::field_agreement(&pairs, &g_out, &g_out, field, cfg.tolerance);
        add_context(
            &mut f,
            "the golden set's own paraphrase pairs agree in",
            ("golden_baseline", "golden_baseline_pairs"),
            &baseline,
        );
        // Feedback joined in: agreement among the traces users disliked.
        let disliked = now.agreement_of(golden, field, cfg.tolerance, |t| {
            t.feedback.is_some_and(|x| x <= 0.0)
        });
        add_context(
            &mut f,
            "among traces with negative feedback:",
            ("negative_feedback_agreement", "negative_feedback_compared"),
            &disliked,
        );
        findings.push(f);
    }
    if let Some(min_cos) = cfg.text_min_cos {
        let a = text_agreement(store, embedder, golden, &now, cfg, min_cos).await?;
        let b = match &before {
            Some(w) => Some(text_agreement(store, embedder, golden, w, cfg, min_cos).await?),
            None => None,
        };
        let mut f = field_finding(
            job,
            "text",
            &format!("the answer is within cosine {min_cos:.2} of the expected one"),
            cfg,
            golden,
            &now,
            &a.0,
            b.as_ref().map(|b| &b.0),
            (matched, exact),
        );
        f.threshold = Some(rate_floor);
        if embedder.is_none() {
            f.verdict = Verdict::Skipped;
            f.details.skipped = Some("free-text agreement needs the embedding model".into());
        }
        f.details.extra.insert("mean_cosine".into(), json!(a.1));
        f.details.extra.insert("mean_token_f1".into(), json!(a.2));
        findings.push(f);
    }
    if let Some(j) = &cfg.judge {
        let mut budget = j.max_calls;
        let (a, calls_now) =
            super::judge::judge(store, j, golden, now.traces, &now.pairs(), &mut budget).await?;
        let (b, calls_before) = match &before {
            Some(w) => {
                let (b, c) =
                    super::judge::judge(store, j, golden, w.traces, &w.pairs(), &mut budget)
                        .await?;
                (Some(b), c)
            }
            None => (None, 0),
        };
        let mut f = field_finding(
            job,
            "judge",
            &format!("the judge ({}) finds the answer correct", j.model),
            cfg,
            golden,
            &now,
            &a,
            b.as_ref(),
            (matched, exact),
        );
        f.threshold = Some(rate_floor);
        f.details
            .extra
            .insert("judge_calls".into(), json!(calls_now + calls_before));
        findings.push(f);
    }
    Ok(findings)
}

/// Free-text agreement of one window: matched pairs whose answer texts are
/// at cosine ≥ `min_cos`; with the mean cosine and the mean token F1.
async fn text_agreement(
    store: &Store,
    embedder: Option<&SharedEmbedder>,
    golden: &[GoldenExample],
    w: &Matched<'_>,
    cfg: &AnswersConfig,
    min_cos: f64,
) -> Result<(FieldAgreement, Option<f64>, Option<f64>), JobError> {
    let field = cfg.text_field.as_deref();
    let mut rows = Vec::new();
    for p in w.pairs() {
        let (Some(want), Some(got)) = (
            answers::text_of(&golden[p.g].expected_output, field),
            answers::text_of(&w.traces[p.i].output, field),
        ) else {
            continue;
        };
        rows.push((p, want, got));
    }
    let mut out = FieldAgreement::default();
    let Some(e) = embedder else {
        return Ok((out, None, None));
    };
    if rows.is_empty() {
        return Ok((out, None, None));
    }
    let wants: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let gots: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    let (we, _) = embed_cached(store, e, &wants, None).await?;
    let (ge, _) = embed_cached(store, e, &gots, None).await?;
    let (mut cos_sum, mut f1_sum) = (0.0, 0.0);
    for (k, (p, want, got)) in rows.iter().enumerate() {
        let cos = f64::from(we.row(k).dot(&ge.row(k)));
        cos_sum += cos;
        f1_sum += answers::token_f1(want, got);
        out.compared += 1;
        if cos >= min_cos {
            out.agreed += 1;
        } else {
            out.disagreements.push((
                p.i,
                p.g,
                json!(crate::text::truncate(want, 120)),
                Some(json!(format!(
                    "{} (cosine {cos:.2})",
                    crate::text::truncate(got, 120)
                ))),
            ));
        }
    }
    let n = rows.len() as f64;
    Ok((out, Some(cos_sum / n), Some(f1_sum / n)))
}

/// Appends an agreement that puts the finding in context (`; WHAT 97.0% of
/// 120`) to its summary line, and records it as the extras `keys` (rate,
/// pairs compared). Nothing when nothing was compared.
fn add_context(f: &mut Finding, what: &str, keys: (&str, &str), a: &FieldAgreement) {
    let Some(r) = a.rate() else { return };
    let line = format!("; {what} {:.1}% of {}", r * 100.0, a.compared);
    for s in [&mut f.details.summary, &mut f.details.skipped] {
        if let Some(s) = s.as_mut() {
            s.push_str(&line);
        }
    }
    f.details.extra.insert(keys.0.into(), json!(r));
    f.details.extra.insert(keys.1.into(), json!(a.compared));
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{:.1}%", r * 100.0))
}

#[allow(clippy::too_many_arguments)]
fn field_finding(
    job: &str,
    field: &str,
    what: &str,
    cfg: &AnswersConfig,
    golden: &[GoldenExample],
    now: &Matched<'_>,
    a: &FieldAgreement,
    before: Option<&FieldAgreement>,
    (matched, exact): (usize, usize),
) -> Finding {
    let mut f = Finding::new(
        job,
        FindingKind::Operational,
        &format!("answer.{field}"),
        "output",
        "z",
    );
    f.ref_n = before.map_or(0, |b| b.compared as i64);
    f.cur_n = a.compared as i64;
    let level = format!(
        "{what} in {} of {} traces matched to golden questions ({matched} matched, {exact} exactly)",
        pct(a.rate()),
        a.compared
    );
    let skip = |why: String| FindingDetails::skipped(format!("{why}; {level}"));
    let examples: Vec<Example> = a
        .disagreements
        .iter()
        .take(3)
        .map(|(i, g, want, got)| {
            let t = &now.traces[*i];
            let got = got
                .as_ref()
                .map_or_else(|| "nothing".to_string(), |v| v.to_string());
            Example::Trace(ExampleTrace {
                trace_id: Some(t.id),
                external_id: Some(t.external_id.clone()),
                value: Some(json!(got)),
                text: Some(format!(
                    "{} → expected {field} {want}, got {got}",
                    crate::text::truncate(&t.input, 160)
                )),
                input: Some(crate::text::truncate(&t.input, 300)),
                // The expected output beside the production one.
                output: Some(format!(
                    "expected: {} | got: {}",
                    crate::text::truncate(&golden[*g].expected_output, 200),
                    crate::text::truncate(&t.output, 200)
                )),
            })
        })
        .collect();
    // A skipped finding still says the level (and `/metrics` exports it).
    let skip = |why: String| FindingDetails {
        production_rate: a.rate(),
        ..skip(why)
    };
    let Some(b) = before else {
        f.verdict = Verdict::Skipped;
        f.details = skip("no previous window to compare with".into());
        return f;
    };
    if (a.compared as usize) < cfg.min_matches || (b.compared as usize) < cfg.min_matches {
        f.verdict = Verdict::Skipped;
        f.details = skip(format!(
            "too few matched traces to test ({} now, {} before; {} needed)",
            a.compared, b.compared, cfg.min_matches
        ));
        return f;
    }
    match stats::two_proportion_ztest(b.agreed, b.compared, a.agreed, a.compared) {
        Ok(z) => {
            let (pb, pa) = (b.rate().unwrap_or(0.0), a.rate().unwrap_or(0.0));
            f.statistic = Some(z.statistic);
            f.p_value = Some(z.p_value);
            f.effect_size = Some((pa - pb).abs());
            f.details = FindingDetails {
                reference_rate: Some(pb),
                production_rate: Some(pa),
                examples: Some(examples),
                ..FindingDetails::summary(level)
            }
            .with("matched", matched)
            .with("matched_exact", exact)
            .with("match_cos", cfg.match_cos);
        }
        Err(e) => {
            f.verdict = Verdict::Skipped;
            f.details = skip(format!("z-test failed: {e}"));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_named_by_key() {
        let cfg = AnswersConfig {
            fields: vec!["intent".into(), "result..label".into(), " ".into()],
            tolerance: -1.0,
            match_cos: 1.5,
            min_matches: 1,
            text_min_cos: Some(0.0),
            text_field: None,
            judge: None,
        };
        let errs = cfg.check("jobs[0].answers");
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "jobs[0].answers.fields[1]",
                "jobs[0].answers.fields[2]",
                "jobs[0].answers.tolerance",
                "jobs[0].answers.match_cos",
                "jobs[0].answers.min_matches",
                "jobs[0].answers.text_min_cos"
            ]
        );
        assert!(AnswersConfig::default().check("a").is_empty());
        assert!(!AnswersConfig::default().enabled());
    }
}
