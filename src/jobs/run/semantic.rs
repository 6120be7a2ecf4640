//! The semantic stage of a run: embed golden and sampled production texts
//! (through the cache), run `crate::semantic::analyze` on inputs (drift tests,
//! coverage, clusters) and the drift tests on outputs, and turn the results into
//! findings, a report section and proposals.

use std::collections::HashMap;

use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::embedding::{embed_cached, EmbedStats, SharedEmbedder};
use super::super::error::JobError;
use crate::semantic::{self, SemanticParams};
use crate::store::{
    CacheCounts, Example, ExampleTrace, ExcludedBy, Finding, FindingDetails, FindingKind,
    GapCluster, GapRegions, GoldenExample, MapPoint, NewProposal, SeenGap, SemanticShift,
    SemanticSummary, Store, SurfaceRegion, Trace, Verdict,
};

/// `[jobs.semantic]`: semantic drift, coverage and proposals.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SemanticJobConfig {
    /// Run the semantic stage (needs `[embedding]` and the model files).
    pub enabled: bool,
    /// Also test output embeddings (golden expected outputs vs production outputs).
    pub outputs: bool,
    /// Coverage calibration quantile: under no drift about q of production is uncovered.
    pub q: f64,
    /// Minimum excess uncovered share (over q) for a coverage finding.
    pub coverage_floor: f64,
    /// Minimum AUC − 0.5 for a domain-classifier finding.
    pub auc_floor: f64,
    /// Fixed number of clusters (chosen by silhouette over 4..=16 when absent).
    pub k: Option<usize>,
    /// MMD permutations.
    pub permutations: usize,
    /// Proposals per gap cluster.
    pub per_cluster: usize,
    /// Proposals per run.
    pub per_run: usize,
    /// Cosine at or above which a candidate duplicates a golden example or an open/rejected proposal.
    pub near_duplicate: f64,
    /// Share of sampled traces queued as random spot checks for human review (0 = off).
    pub spot_check_rate: f64,
    /// 0 turns the gap-region test (the search for topics the golden set does
    /// not cover) off; any other value leaves it on. The name is kept from the
    /// earlier novelty scan so existing configs still load.
    pub scan_k: usize,
    /// Smallest share of the sampled production traffic a gap must hold to be
    /// reported as drifted (its effect-size floor).
    pub gap_floor: f64,
    /// Cosine to an exemplar of an excluded topic at or above which a
    /// production input is inside it, and never proposed.
    pub exclusion_similarity: f64,
    /// Which embedding this job's semantic stage uses: `"default"` (the
    /// `[embedding]` section's) or `"static"` (a table distilled from the local
    /// model: ~100× faster, much weaker on near topics; BENCHMARKS.md).
    pub embedding: JobEmbedding,
}

/// `[jobs.semantic] embedding`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JobEmbedding {
    /// The `[embedding]` section as written.
    #[default]
    Default,
    /// A static table distilled from the `[embedding]` section's local model.
    Static,
}

/// Default `exclusion_similarity`. Measured with all-MiniLM-L6-v2 on
/// BANKING77 (BENCHMARKS.md, "Answers: matching"): at cosine 0.8, 59 % of
/// production queries find one of 1,000 golden queries, and 7.6 % of those
/// matches are of another intent. An exclusion's exemplars are the topic's own
/// queries, so its paraphrases fall inside while a sibling topic's queries
/// mostly stay proposable; `tests/it/exclusions.rs` measures both on real text.
pub const DEFAULT_EXCLUSION_SIMILARITY: f64 = 0.8;

impl Default for SemanticJobConfig {
    fn default() -> Self {
        SemanticJobConfig {
            enabled: true,
            outputs: true,
            q: 0.05,
            coverage_floor: 0.02,
            auc_floor: 0.05,
            k: None,
            permutations: 500,
            per_cluster: 3,
            per_run: 30,
            near_duplicate: 0.95,
            spot_check_rate: 0.0,
            scan_k: 5,
            gap_floor: 0.005,
            exclusion_similarity: DEFAULT_EXCLUSION_SIMILARITY,
            embedding: JobEmbedding::Default,
        }
    }
}

impl SemanticJobConfig {
    /// The `[embedding]` settings this job embeds with.
    pub fn embed_config(&self, global: &crate::embed::EmbedConfig) -> crate::embed::EmbedConfig {
        match self.embedding {
            JobEmbedding::Default => global.clone(),
            JobEmbedding::Static => crate::embed::EmbedConfig {
                backend: crate::embed::Backend::Static,
                ..global.clone()
            },
        }
    }

    pub fn params(&self, seed: u64, alpha: f64) -> Result<SemanticParams, String> {
        SemanticParams::builder()
            .seed(seed)
            .alpha(alpha)
            .q(self.q)
            .k(self.k)
            .permutations(self.permutations)
            .proposals_per_cluster(self.per_cluster)
            .proposals_per_run(self.per_run)
            .near_duplicate_cos(self.near_duplicate)
            .scan_k(self.scan_k)
            .region_sizes(if self.scan_k == 0 {
                [0; 3]
            } else {
                [12, 25, 50]
            })
            .check()
            .map_err(|e| e.to_string())
    }
}

/// `details.family` of gap findings: their p-values are already adjusted
/// (Holm over every region tested), and `decide_verdicts` keeps that adjustment.
pub const GAP_FAMILY: &str = "gap_regions";

/// Most member trace ids a gap finding lists.
const MAX_MEMBER_IDS: usize = 1000;

/// Members of a gap the registry keeps to recognise it (see `semantic::match_gaps`).
const MAX_REGISTRY_MEMBERS: usize = 2000;

/// What the semantic stage produced.
pub struct SemanticOutput {
    pub findings: Vec<Finding>,
    pub summary: SemanticSummary,
    pub proposals: Vec<NewProposal>,
    /// The clumping of the sampled inputs (see [`global_design_effect`]),
    /// 1 when no gap region could be measured.
    pub design_effect: f64,
}

fn nonempty(s: &str) -> &str {
    if s.trim().is_empty() {
        "[empty]"
    } else {
        s
    }
}

fn finding(job: &str, kind: FindingKind, metric: &str, side: &str, test: &str) -> Finding {
    Finding::new(job, kind, metric, side, test)
}

fn drift_findings(
    job: &str,
    side: &str,
    g: &Array2<f32>,
    p: &Array2<f32>,
    params: &SemanticParams,
    cfg: &SemanticJobConfig,
) -> Result<Vec<Finding>, String> {
    let mmd = semantic::mmd_test(
        g.view(),
        p.view(),
        params.permutations(),
        params.mmd_max_pooled(),
        params.seed(),
    )
    .map_err(|e| e.to_string())?;
    let clf = semantic::domain_classifier(g.view(), p.view(), params).map_err(|e| e.to_string())?;
    let cen = semantic::centroid_cosine_distance(g.view(), p.view()).map_err(|e| e.to_string())?;
    Ok(shift_findings(
        job,
        side,
        (&mmd, &clf, cen),
        (g.nrows(), p.nrows()),
        cfg,
    ))
}

/// The MMD, classifier and centroid findings of one side.
fn shift_findings(
    job: &str,
    side: &str,
    (mmd, clf, cen): (&semantic::MmdResult, &semantic::ClassifierResult, f64),
    (g_rows, p_rows): (usize, usize),
    cfg: &SemanticJobConfig,
) -> Vec<Finding> {
    let (gn, pn) = (g_rows as i64, p_rows as i64);
    let mut a = finding(
        job,
        FindingKind::Semantic,
        &format!("{side}.mmd"),
        side,
        "mmd",
    );
    a.statistic = Some(mmd.mmd2);
    a.p_value = Some(mmd.p_value);
    a.effect_size = Some(mmd.mmd2);
    a.ref_n = gn;
    a.cur_n = pn;
    a.details = FindingDetails::summary(format!("MMD² {:.4}", mmd.mmd2))
        .with("bandwidth", mmd.bandwidth)
        .with("permutations", mmd.permutations)
        .with("n_ref_used", mmd.n_ref_used)
        .with("n_cur_used", mmd.n_cur_used);
    let mut b = finding(
        job,
        FindingKind::Semantic,
        &format!("{side}.classifier_auc"),
        side,
        "domain_classifier",
    );
    b.statistic = Some(clf.auc);
    b.p_value = Some(clf.p_value);
    b.effect_size = Some(clf.auc - 0.5);
    b.threshold = Some(cfg.auc_floor);
    b.ref_n = gn;
    b.cur_n = pn;
    b.details = FindingDetails::summary(format!("AUC {:.3}", clf.auc))
        .with("folds", clf.folds)
        .with("n_per_class", clf.n_per_class)
        .with("units", clf.units);
    let mut c = finding(
        job,
        FindingKind::Semantic,
        &format!("{side}.centroid_distance"),
        side,
        "centroid_cosine",
    );
    c.statistic = Some(cen);
    c.effect_size = Some(cen);
    c.ref_n = gn;
    c.cur_n = pn;
    c.details = FindingDetails {
        note: Some("trend only, no test".into()),
        ..FindingDetails::summary(format!("1 − cos {:.4}", cen))
    };
    vec![a, b, c]
}

/// Structural input metrics that move when inputs change surface form
/// (typos, casing, encoding) rather than topic.
pub const SURFACE_FORM_METRICS: [&str; 3] = [
    "input.oov_rate",
    "input.uppercase_share",
    "input.non_ascii_share",
];

/// Note on a diffuse input shift that comes with surface-form findings.
pub const SURFACE_FORM_NOTE: &str = "consistent with typos/casing changes in inputs";

/// Says which kind each semantic finding is, after the verdicts.
///
/// A **topic** finding is a drifted gap: a localized region of production
/// the golden set does not cover. A **diffuse** embedding shift is a drifted
/// MMD, classifier or coverage test with no drifted gap on that side. A
/// diffuse input shift that comes with drifted surface-form structural
/// findings ([`SURFACE_FORM_METRICS`]) gets the note [`SURFACE_FORM_NOTE`],
/// which the report and every notification show. Returns the run summary's
/// `semantic.shift` value.
pub fn classify_semantic(findings: &mut [Finding]) -> SemanticShift {
    let drifted = |f: &Finding| f.verdict == Verdict::Drifted;
    let surface: Vec<String> = findings
        .iter()
        .filter(|f| drifted(f) && SURFACE_FORM_METRICS.contains(&f.metric.as_str()))
        .map(|f| f.metric.clone())
        .collect();
    let topics = findings
        .iter()
        .filter(|f| drifted(f) && f.details.gap)
        .count();
    let mut diffuse = Vec::new();
    for f in findings.iter_mut() {
        let semantic = matches!(f.kind, FindingKind::Semantic | FindingKind::Coverage);
        if !semantic || f.details.gap || f.test == "centroid_cosine" {
            continue;
        }
        let d = &mut f.details;
        d.semantic_kind = Some("diffuse".into());
        if f.verdict == Verdict::Drifted {
            diffuse.push(f.metric.clone());
            if f.side == "input" && topics == 0 && !surface.is_empty() {
                d.note = Some(SURFACE_FORM_NOTE.into());
                let s = d.summary.as_deref().unwrap_or("");
                d.summary = Some(format!("{s} — {SURFACE_FORM_NOTE}"));
            }
        }
    }
    let input_diffuse = diffuse.iter().any(|m| m.starts_with("input."));
    let note = (input_diffuse && topics == 0 && !surface.is_empty())
        .then(|| SURFACE_FORM_NOTE.to_string());
    SemanticShift {
        topic_gaps: topics as u64,
        diffuse,
        surface_form: surface,
        note,
    }
}

/// A gap region is surface form, not a topic, when its production inputs
/// carry a typo (an unknown word one dropped, doubled, inserted or swapped
/// letter away from a known word, see [`Typos`]) at least this far of the way
/// from the golden inputs' own typo share to all of them (see
/// [`is_surface_form`]).
///
/// Measured on the quality bench (BENCHMARKS.md): the detector flags about
/// 60 % of inputs given typos (17–20 % of production when 30 % are), so a
/// region made wholly of them reads 0.50–0.90, and one half made of them
/// about 0.3; the 124 topic gaps of the 1-intent, far and 30 % scenarios
/// read 0.00–0.10. One third sits between, with room on both sides.
pub const SURFACE_GAP_SHARE: f64 = 1.0 / 3.0;

/// Whether a region whose production inputs carry a typo at share `region`
/// is surface form, when the golden inputs carry one at share `base`
/// (leave-one-out, see [`Typos::golden_flags`]):
/// `region ≥ base + SURFACE_GAP_SHARE · (1 − base)`, i.e. at least a third
/// of the region's inputs that the application's own rate would leave clean
/// carry a typo. With clean text (`base ≈ 0`) it is `region ≥ 1/3`.
///
/// Why a baseline: long texts carry typo-like words of their own (real
/// misspellings, jargon one letter from a common word; 7 % of 50-word README
/// paragraphs, more as texts grow), and a new topic brings unrepeated words
/// of its own. Against an absolute share, a new topic of long questions would
/// read as surface form and be dropped. Golden gives the rate because its
/// inputs are curated and no production typo reaches them; the rest of
/// production would not do, since typos injected there raise it too.
pub fn is_surface_form(region: f64, base: f64) -> bool {
    region >= base + SURFACE_GAP_SHARE * (1.0 - base)
}

/// Lower-cased words of three or more letters (no digits).
fn words(t: &str) -> impl Iterator<Item = String> + '_ {
    t.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && !w.chars().any(|c| c.is_numeric()))
        .map(str::to_lowercase)
}

/// Typo detection against the known vocabulary: the golden inputs' words and
/// the words of at least two production inputs (a random typo rarely repeats).
/// A word of four or more letters is a typo when it is unknown and deleting
/// one of its letters, swapping two adjacent letters, or inserting one letter
/// gives a known word of four or more letters. Substitutions are not counted:
/// they turn real words into other real words ("bake" / "make") too often, and
/// neither is a letter added or dropped at the end ("cards" / "card").
/// The deletion neighbourhood is precomputed, as in SymSpell (Garbe 2012).
struct Typos {
    /// Every known word (≥ 5 letters) with one letter deleted.
    deletions: std::collections::HashSet<String>,
    /// Golden inputs holding each word.
    golden_df: HashMap<String, usize>,
    /// Production inputs holding each word.
    production_df: HashMap<String, usize>,
}

impl Typos {
    fn new(golden: &[&str], production: &[&str]) -> Typos {
        let doc_freq = |texts: &[&str]| {
            let mut df: HashMap<String, usize> = HashMap::new();
            for t in texts {
                let set: std::collections::HashSet<String> = words(t).collect();
                for w in set {
                    *df.entry(w).or_default() += 1;
                }
            }
            df
        };
        let golden_df = doc_freq(golden);
        let production_df = doc_freq(production);
        let known = golden_df.keys().chain(
            production_df
                .iter()
                .filter(|(_, &n)| n >= 2)
                .map(|(w, _)| w),
        );
        let deletions = known
            .filter(|w| w.chars().count() >= 5)
            .flat_map(|w| {
                let c: Vec<char> = w.chars().collect();
                // Not the last letter: "card" is "cards" without its
                // inflection, not a typo of it.
                (0..c.len() - 1)
                    .map(move |i| c[..i].iter().chain(&c[i + 1..]).collect::<String>())
                    .collect::<Vec<_>>()
            })
            .collect();
        Typos {
            deletions,
            golden_df,
            production_df,
        }
    }

    /// Whether `w` is known to an input that itself holds it `own` times
    /// among the golden inputs (0 for a production input, 1 for a golden
    /// one): through a golden input besides, or two production inputs.
    fn known_beyond(&self, w: &str, own: usize) -> bool {
        self.golden_df.get(w).is_some_and(|&n| n > own)
            || self.production_df.get(w).is_some_and(|&n| n >= 2)
    }

    fn is_typo(&self, w: &str) -> bool {
        !self.known_beyond(w, 0) && self.near_known(w)
    }

    /// Whether one deleted, inserted or swapped letter (not at the end) turns
    /// `w` (of four or more letters) into another known word of four or more
    /// (swapping a doubled letter gives `w` itself, which does not count).
    fn near_known(&self, w: &str) -> bool {
        let c: Vec<char> = w.chars().collect();
        if c.len() < 4 {
            return false;
        }
        let known = |s: String| s != w && s.chars().count() >= 4 && self.known_beyond(&s, 0);
        (0..c.len() - 1).any(|i| known(c[..i].iter().chain(&c[i + 1..]).collect()))
            || (0..c.len() - 1).any(|i| {
                let mut s = c.clone();
                s.swap(i, i + 1);
                known(s.into_iter().collect())
            })
            || self.deletions.contains(w)
    }

    /// Whether each production input holds a typo.
    fn flags(&self, inputs: &[&str]) -> Vec<bool> {
        inputs
            .iter()
            .map(|t| words(t).any(|w| self.is_typo(&w)))
            .collect()
    }

    /// Whether each golden input holds a typo, leave-one-out: a word of the
    /// input is known only through another golden input or two production
    /// inputs, as a production input's unrepeated word is.
    fn golden_flags(&self, golden: &[&str]) -> Vec<bool> {
        golden
            .iter()
            .map(|t| words(t).any(|w| !self.known_beyond(&w, 1) && self.near_known(&w)))
            .collect()
    }
}

/// Share of `flags` that are set over `rows` (every row when `None`).
fn typo_share(flags: &[bool], rows: Option<&[usize]>) -> f64 {
    let (n, d) = match rows {
        Some(r) => (
            r.iter().filter(|&&i| flags.get(i) == Some(&true)).count(),
            r.len(),
        ),
        None => (flags.iter().filter(|&&f| f).count(), flags.len()),
    };
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// Least-covered production inputs shown behind the coverage finding.
pub const COVERAGE_EXAMPLES: usize = 3;

/// Up to `n` uncovered production inputs, least similar to any golden
/// example first (one per distinct text), each with that cosine: what the
/// golden set lacks, even when no gap region is significant.
fn least_covered(cov: &semantic::CoverageResult, traces: &[Trace], n: usize) -> Vec<Example> {
    let mut rows: Vec<usize> = (0..cov.nn_sim.len())
        .filter(|&r| cov.uncovered[r])
        .collect();
    rows.sort_by(|&a, &b| cov.nn_sim[a].total_cmp(&cov.nn_sim[b]).then(a.cmp(&b)));
    let mut seen = std::collections::HashSet::new();
    rows.into_iter()
        .filter_map(|r| {
            let t = traces.get(*cov.production_index.get(r)?)?;
            seen.insert(t.input.as_str()).then(|| {
                Example::Trace(ExampleTrace {
                    trace_id: Some(t.id),
                    external_id: Some(t.external_id.clone()),
                    value: Some(json!((f64::from(cov.nn_sim[r]) * 1000.0).round() / 1000.0)),
                    text: Some(crate::text::truncate(&t.input, 300)),
                    ..Default::default()
                })
            })
        })
        .take(n)
        .collect()
}

/// The design effect that deflates the run-wide tests (MMD, classifier,
/// coverage): the largest the gap regions measured at any scale. A region
/// smaller than a paraphrase group cuts it and understates the clumping; at
/// the scale of whole groups `φ` settles near the size-weighted mean group
/// size (Kish's `1 + (m − 1)ρ` with `ρ = 1`), and a statistic summed over the
/// whole space feels every group whole.
fn global_design_effect(report: &semantic::SemanticReport) -> f64 {
    report
        .clustering
        .regions
        .as_ref()
        .and_then(|r| r.design_effects.iter().copied().reduce(f64::max))
        .unwrap_or(1.0)
}

/// Rao–Scott deflation of a trace-level test for clumped traffic: the raw
/// p-value's normal score is divided by `√φ` (`φ` = the design effect the gap
/// regions measured), `p' = 1 − Φ(Φ⁻¹(1 − p) / √φ)`. The tests behind MMD,
/// the classifier and coverage treat traces as independent; paraphrases that
/// come in groups make them far too confident. `φ = 1` leaves `p` unchanged.
/// The raw p is kept in `details.p_value_independent`.
pub fn deflate(f: &mut Finding, phi: f64) {
    let Some(p) = f.p_value else { return };
    if phi <= 1.0 || f.test == "centroid_cosine" {
        return;
    }
    use statrs::distribution::{ContinuousCDF, Normal};
    let n = Normal::standard();
    let z = -n.inverse_cdf(p.clamp(1e-300, 1.0));
    let deflated = if z.is_finite() {
        n.sf(z / phi.sqrt())
    } else {
        p
    };
    f.details
        .extra
        .insert("p_value_independent".into(), json!(p));
    f.details.extra.insert("design_effect".into(), json!(phi));
    f.p_value = Some(deflated.max(p));
}

/// Runs the semantic stage.
#[allow(clippy::too_many_arguments)]
pub async fn run_semantic(
    store: &Store,
    embedder: &SharedEmbedder,
    run_id: i64,
    job: &str,
    golden_set: &str,
    seed: u64,
    params: &SemanticParams,
    cfg: &SemanticJobConfig,
    golden: &[GoldenExample],
    traces: &[Trace],
) -> Result<SemanticOutput, JobError> {
    let params = params.clone();
    let g_in: Vec<&str> = golden.iter().map(|g| nonempty(&g.input)).collect();
    let p_in: Vec<&str> = traces.iter().map(|t| nonempty(&t.input)).collect();
    let mut stats = EmbedStats::default();
    let (gm, s1) = embed_cached(store, embedder, &g_in, None).await?;
    let (pm, s2) = embed_cached(store, embedder, &p_in, None).await?;
    stats += s1;
    stats += s2;
    let outputs = if cfg.outputs {
        let g_out: Vec<&str> = golden
            .iter()
            .map(|g| nonempty(&g.expected_output))
            .collect();
        let p_out: Vec<&str> = traces.iter().map(|t| nonempty(&t.output)).collect();
        let (go, s3) = embed_cached(store, embedder, &g_out, None).await?;
        let (po, s4) = embed_cached(store, embedder, &p_out, None).await?;
        stats += s3;
        stats += s4;
        Some((go, po))
    } else {
        None
    };
    let exclude_texts = store.open_or_rejected_proposal_inputs(golden_set).await?;
    let ex_refs: Vec<&str> = exclude_texts.iter().map(|s| nonempty(s)).collect();
    let (exm, s5) = embed_cached(store, embedder, &ex_refs, None).await?;
    stats += s5;
    // Topics the data team excluded: their exemplars, each row tagged with
    // its exclusion.
    let topic_exclusions = store.exclusions(Some(job), false).await?;
    let owner: Vec<usize> = topic_exclusions
        .iter()
        .enumerate()
        .flat_map(|(i, x)| std::iter::repeat_n(i, x.exemplars.len()))
        .collect();
    let topic_texts: Vec<&str> = topic_exclusions
        .iter()
        .flat_map(|x| x.exemplars.iter().map(|t| nonempty(t)))
        .collect();
    let (topic_m, s6) = embed_cached(store, embedder, &topic_texts, None).await?;
    stats += s6;
    let topics = semantic::Exclusions::new(topic_m.view(), &owner, topic_exclusions.len());
    let inside = topics.rows_inside(pm.view(), topic_m.view(), cfg.exclusion_similarity as f32);

    let job_s = job.to_string();
    let cfg2 = cfg.clone();
    let g_texts: Vec<String> = g_in.iter().map(|s| s.to_string()).collect();
    let p_texts: Vec<String> = p_in.iter().map(|s| s.to_string()).collect();
    let (mut findings, report, picks, map, centroids) =
        tokio::task::spawn_blocking(move || -> Result<_, String> {
            let pt: Vec<&str> = p_texts.iter().map(String::as_str).collect();
            let gt: Vec<&str> = g_texts.iter().map(String::as_str).collect();
            let report = semantic::analyze(gm.view(), pm.view(), &pt, &gt, &params)
                .map_err(|e| e.to_string())?;
            let mut findings = shift_findings(
                &job_s,
                "input",
                (&report.mmd, &report.classifier, report.centroid_distance),
                (gm.nrows(), pm.nrows()),
                &cfg2,
            );
            let phi = global_design_effect(&report);
            for f in &mut findings {
                deflate(f, phi);
            }
            if let Some((go, po)) = &outputs {
                // Traces come in groups by question, so the inputs' design
                // effect applies to the output tests too; outputs may clump
                // further (one answer template per question type), so the
                // larger of the two. Exact duplicate outputs, which the
                // regions drop, hide the outputs' own clumping.
                let phi_out = semantic::region_scan(go.view(), po.view(), &params)
                    .map_err(|e| e.to_string())?
                    .design_effect
                    .max(phi);
                let mut out = drift_findings(&job_s, "output", go, po, &params, &cfg2)?;
                for f in &mut out {
                    deflate(f, phi_out);
                }
                findings.extend(out);
            }
            // Exclude near-duplicates of golden and of open/rejected proposals.
            let mut exclude = gm.clone();
            if exm.nrows() > 0 {
                exclude = ndarray::concatenate(Axis(0), &[gm.view(), exm.view()])
                    .map_err(|e| e.to_string())?;
            }
            let picks =
                semantic::select_proposals(pm.view(), &report.clustering, exclude.view(), &params)
                    .map_err(|e| e.to_string())?;
            // 2-D map: PCA of at most 1500 pooled points.
            let pooled = ndarray::concatenate(Axis(0), &[gm.view(), pm.view()])
                .map_err(|e| e.to_string())?;
            let step = (pooled.nrows() / 1500).max(1);
            let idx: Vec<usize> = (0..pooled.nrows()).step_by(step).collect();
            let sub = pooled.select(Axis(0), &idx);
            let xy = semantic::pca_2d(sub.view());
            let gn = gm.nrows();
            let map: Vec<MapPoint> = idx
                .iter()
                .enumerate()
                .map(|(r, &i)| {
                    let (is_golden, cluster) = if i < gn {
                        (1, report.clustering.golden_assignment.get(i).copied())
                    } else {
                        (
                            0,
                            report.clustering.production_assignment.get(i - gn).copied(),
                        )
                    };
                    MapPoint(
                        f64::from(xy[[r, 0]]),
                        f64::from(xy[[r, 1]]),
                        is_golden,
                        cluster.map(|c| c as i64),
                    )
                })
                .collect();
            // Each gap's identity across runs (see `semantic::match_gaps`).
            let centroids: std::collections::HashMap<usize, Vec<f32>> = report
                .clustering
                .gap_ranking
                .iter()
                .map(|&ci| {
                    let members = &report.clustering.clusters[ci].production_members;
                    (ci, semantic::gap_centroid(pm.view(), members))
                })
                .collect();
            let nearest: Vec<(usize, f32)> = picks
                .iter()
                .map(|pk| {
                    let sims = gm.dot(&pm.row(pk.index));
                    sims.iter()
                        .enumerate()
                        .fold(
                            (0usize, f32::MIN),
                            |acc, (i, &s)| if s > acc.1 { (i, s) } else { acc },
                        )
                })
                .collect();
            Ok((
                findings,
                report,
                picks.into_iter().zip(nearest).collect::<Vec<_>>(),
                map,
                centroids,
            ))
        })
        .await
        .map_err(|e| JobError::Internal(e.to_string()))?
        .map_err(JobError::Semantic)?;

    // Coverage and gap clusters.
    let cov = &report.coverage;
    let mut c = finding(
        job,
        FindingKind::Coverage,
        "input.coverage",
        "input",
        "beta_binomial",
    );
    c.statistic = Some(cov.uncovered_share);
    c.p_value = Some(cov.p_value);
    c.effect_size = Some(cov.uncovered_share - cov.q);
    c.threshold = Some(cfg.coverage_floor);
    c.ref_n = golden.len() as i64;
    c.cur_n = traces.len() as i64;
    c.details = FindingDetails {
        coverage: Some(cov.coverage),
        ..FindingDetails::summary(format!(
            "coverage {:.1}% (expected ≈ {:.0}%), similarity threshold {:.3}",
            cov.coverage * 100.0,
            (1.0 - cov.q) * 100.0,
            cov.threshold
        ))
    }
    .with("threshold", cov.threshold)
    .with("q", cov.q)
    .with("uncovered_share", cov.uncovered_share)
    .with("p_value_binomial", cov.p_value_binomial);
    c.details.examples = Some(least_covered(cov, traces, COVERAGE_EXAMPLES));
    // After `details` is set: deflate records the raw p and φ there.
    deflate(&mut c, global_design_effect(&report));
    findings.push(c);
    let cl = &report.clustering;
    let mut clusters = Vec::new();
    let mut gap_labels = std::collections::HashMap::new();
    // Typos per production input, and the application's own rate of
    // typo-like words (golden, leave-one-out): only when a region needs them.
    let (typo_flags, base) = if cl.gap_ranking.is_empty() {
        (Vec::new(), 0.0)
    } else {
        let typos = Typos::new(&g_in, &p_in);
        (
            typos.flags(&p_in),
            typo_share(&typos.golden_flags(&g_in), None),
        )
    };
    let mut surface_regions = Vec::new();
    let mut rank = 0;
    for &ci in &cl.gap_ranking {
        let cs = &cl.clusters[ci];
        let noisy = typo_share(&typo_flags, Some(&cs.production_members));
        if is_surface_form(noisy, base) {
            // Typos move a text in embedding space as much as a new topic
            // does; a region made mostly of them is surface form, not a topic
            // (no gap, no proposals). It is kept in the summary.
            surface_regions.push(SurfaceRegion {
                cluster: ci as i64,
                production_count: cs.production_count as u64,
                noisy_share: noisy,
                golden_share: base,
            });
            continue;
        }
        // Name a gap by what is missing: its uncovered production inputs
        // against every other production input (c-TF-IDF).
        let assign: Vec<usize> = (0..traces.len())
            .map(|i| {
                if cs.uncovered_members.contains(&i) {
                    0
                } else {
                    1
                }
            })
            .collect();
        let label = semantic::cluster_labels(&p_in, &assign, 2, 3)
            .first()
            .map(|terms| {
                terms
                    .iter()
                    .map(|(t, _)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|l| !l.is_empty())
            .or_else(|| report.labels.get(ci).cloned())
            .unwrap_or_default();
        gap_labels.insert(ci, label.clone());
        let examples: Vec<&str> = cs
            .uncovered_members
            .iter()
            .take(2)
            .filter_map(|&i| traces.get(i).map(|t| t.input.as_str()))
            .collect();
        let mut f = finding(
            job,
            FindingKind::Coverage,
            &format!("input.cluster.{ci}"),
            "input",
            "gap",
        );
        let (p_raw, p_holm) = cs.region_p.unwrap_or((cs.uncovered_p_value, 1.0));
        let share = cs.production_count as f64 / cov.production_index.len().max(1) as f64;
        f.statistic = Some(cs.production_count as f64);
        // The decision rule: gap regions are one family, Holm-adjusted over
        // every region tested (see `semantic::region_scan`); the runner's
        // `decide_verdicts` keeps that adjusted p and applies α and the floor.
        f.p_value = Some(p_raw);
        f.p_adjusted = Some(p_holm);
        f.effect_size = Some(share);
        f.threshold = Some(cfg.gap_floor);
        f.ref_n = cs.golden_count as i64;
        f.cur_n = cs.production_count as i64;
        f.details = FindingDetails {
            gap: true,
            cluster: Some(ci as u64),
            label: Some(label.clone()),
            family: Some(GAP_FAMILY.into()),
            semantic_kind: Some("topic".into()),
            golden_count: Some(cs.golden_count as u64),
            production_count: Some(cs.production_count as u64),
            uncovered_count: Some(cs.uncovered_count as u64),
            examples: Some(
                examples
                    .iter()
                    .map(|t| {
                        Example::Trace(ExampleTrace {
                            text: Some(t.to_string()),
                            ..Default::default()
                        })
                    })
                    .collect(),
            ),
            ..FindingDetails::summary(format!(
                "gap “{label}”: {} production / {} golden, {} uncovered",
                cs.production_count, cs.golden_count, cs.uncovered_count
            ))
        }
        .with("rank", rank + 1)
        .with("noisy_share", noisy)
        .with("golden_noisy_share", base)
        .with("found_by", "gap_regions")
        .with("traffic_share", share)
        .with("gap_lower", cs.gap.lower)
        .with("gap_upper", cs.gap.upper)
        // The gap's production traces (external ids), so a reader can list
        // them and a later run can recognise the same region.
        .with(
            "member_ids",
            cs.production_members
                .iter()
                .take(MAX_MEMBER_IDS)
                .filter_map(|&i| traces.get(i).map(|t| t.external_id.clone()))
                .collect::<Vec<_>>(),
        );
        findings.push(f);
        rank += 1;
    }
    // Stable identity: a gap found before keeps its id and label.
    let gap_idx: Vec<usize> = (0..findings.len())
        .filter(|&i| findings[i].details.gap)
        .collect();
    let gap_ci: Vec<usize> = gap_idx
        .iter()
        .filter_map(|&i| findings[i].details.cluster.map(|c| c as usize))
        .collect();
    let known = store.known_gaps(job).await?;
    let members: Vec<Vec<String>> = gap_ci
        .iter()
        .map(|&ci| {
            cl.clusters[ci]
                .production_members
                .iter()
                .filter_map(|&i| traces.get(i).map(|t| t.external_id.clone()))
                .take(MAX_REGISTRY_MEMBERS)
                .collect()
        })
        .collect();
    let known_sigs: Vec<(i64, semantic::GapSignature<'_>)> = known
        .iter()
        .map(|k| {
            (
                k.id,
                semantic::GapSignature {
                    centroid: &k.centroid,
                    members: &k.members,
                },
            )
        })
        .collect();
    let current: Vec<semantic::GapSignature<'_>> = gap_ci
        .iter()
        .zip(&members)
        .map(|(ci, m)| semantic::GapSignature {
            centroid: centroids.get(ci).map_or(&[][..], Vec::as_slice),
            members: m,
        })
        .collect();
    let matched = semantic::match_gaps(
        &known_sigs,
        &current,
        semantic::SAME_GAP_COS,
        semantic::SAME_GAP_OVERLAP,
    );
    let seen: Vec<SeenGap> = gap_ci
        .iter()
        .zip(&matched)
        .zip(&members)
        .map(|((ci, id), m)| SeenGap {
            id: *id,
            label: gap_labels.get(ci).cloned().unwrap_or_default(),
            centroid: centroids.get(ci).cloned().unwrap_or_default(),
            members: m.clone(),
        })
        .collect();
    let ids = store.record_gaps(job, run_id, &seen).await?;
    let mut gap_id_of: std::collections::HashMap<usize, i64> = std::collections::HashMap::new();
    // Each excluded gap's cluster and its "excluded by …" line.
    let mut excluded_gaps: std::collections::HashMap<usize, String> =
        std::collections::HashMap::new();
    for ((&fi, &ci), (&id, was)) in gap_idx.iter().zip(&gap_ci).zip(ids.iter().zip(&matched)) {
        gap_id_of.insert(ci, id);
        if was.is_some() {
            if let Some(k) = known.iter().find(|k| k.id == id) {
                if !k.label.is_empty() {
                    gap_labels.insert(ci, k.label.clone());
                }
            }
        }
        let label = gap_labels.get(&ci).cloned().unwrap_or_default();
        let f = &mut findings[fi];
        f.metric = format!("input.gap.{id}");
        let d = &mut f.details;
        d.gap_id = Some(id);
        d.first_seen_run = Some(
            known
                .iter()
                .find(|k| Some(k.id) == *was)
                .map_or(run_id, |k| k.first_run_id),
        );
        let count = |c: Option<u64>| c.unwrap_or(0);
        d.summary = Some(format!(
            "gap {id} “{label}”: {} production / {} golden, {} uncovered",
            count(d.production_count),
            count(d.golden_count),
            count(d.uncovered_count)
        ));
        d.label = Some(label);
        let within = topic_exclusions
            .iter()
            .position(|x| x.gap_id == Some(id))
            .or_else(|| {
                let c = centroids.get(&ci).map_or(&[][..], Vec::as_slice);
                topics.gap_inside(c, &cl.clusters[ci].production_members, &inside)
            });
        if let Some(x) = within.map(|i| &topic_exclusions[i]) {
            let by = ExcludedBy {
                exclusion: x.id,
                by: x.created_by.clone(),
                reason: x.reason.clone(),
                scope: x.scope.as_str().into(),
            };
            d.note = Some(by.text());
            excluded_gaps.insert(ci, by.text());
            d.excluded = Some(by);
        }
    }
    for (ci, cs) in cl.clusters.iter().enumerate() {
        let feedback = crate::store::negative_feedback(
            cs.production_members.iter().filter_map(|&i| traces.get(i)),
        );
        clusters.push(GapCluster {
            cluster: ci as i64,
            label: gap_labels.get(&ci).or(report.labels.get(ci)).cloned(),
            golden_count: cs.golden_count as u64,
            production_count: cs.production_count as u64,
            uncovered_count: cs.uncovered_count as u64,
            gap_ratio: Some(cs.gap.ratio).filter(|r| r.is_finite()),
            gap_lower: Some(cs.gap.lower).filter(|r| r.is_finite()),
            verdict: format!("{:?}", cs.verdict),
            region_p_value: cs.region_p.map(|p| p.0),
            region_p_holm: cs.region_p.map(|p| p.1),
            gap_rank: cl
                .gap_ranking
                .iter()
                .position(|&g| g == ci)
                .map(|r| r as u64 + 1),
            examples: cs
                .production_members
                .iter()
                .take(2)
                .filter_map(|&i| traces.get(i).map(|t| t.input.clone()))
                .collect(),
            gap_id: gap_id_of.get(&ci).copied(),
            negative_feedback: feedback.map(|f| f.0),
            feedback_n: feedback.map(|f| f.1),
            other: excluded_gaps
                .get(&ci)
                .map(|x| [("excluded".to_string(), json!(x))].into_iter().collect())
                .unwrap_or_default(),
        });
    }
    let labels = report.labels.clone();
    // Nothing inside an excluded topic is proposed: neither the picks of an
    // excluded gap nor any pick near an exclusion's exemplars.
    let mut proposals: Vec<NewProposal> = picks
        .iter()
        .filter(|(pk, _)| {
            inside.get(pk.index).is_none_or(Option::is_none)
                && pk.cluster.is_none_or(|c| !excluded_gaps.contains_key(&c))
        })
        .filter_map(|(pk, (gi, sim))| {
            let t = traces.get(pk.index)?;
            Some(NewProposal {
                job: job.into(),
                golden_set: golden_set.into(),
                kind: if pk.cluster.is_some() {
                    "gap".into()
                } else {
                    "outlier".into()
                },
                cluster_id: pk
                    .cluster
                    .map(|c| gap_id_of.get(&c).copied().unwrap_or(c as i64)),
                cluster_label: pk.cluster.and_then(|c| {
                    gap_labels
                        .get(&c)
                        .cloned()
                        .or_else(|| labels.get(c).cloned())
                }),
                trace_id: t.id,
                external_id: t.external_id.clone(),
                input: t.input.clone(),
                output: t.output.clone(),
                nearest_golden_id: golden.get(*gi).map(|g| g.id),
                nearest_golden_similarity: Some(*sim as f64),
            })
        })
        .collect();
    if cfg.spot_check_rate > 0.0 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        for (i, t) in traces.iter().enumerate() {
            if rng.random_bool(cfg.spot_check_rate.min(1.0))
                && inside.get(i).is_none_or(Option::is_none)
            {
                proposals.push(NewProposal {
                    job: job.into(),
                    golden_set: golden_set.into(),
                    kind: "spot_check".into(),
                    cluster_id: None,
                    cluster_label: None,
                    trace_id: t.id,
                    external_id: t.external_id.clone(),
                    input: t.input.clone(),
                    output: t.output.clone(),
                    nearest_golden_id: None,
                    nearest_golden_similarity: None,
                });
            }
        }
    }
    let design_effect = global_design_effect(&report);
    let summary = SemanticSummary {
        model_id: embedder.model_id().to_string(),
        embedding_cache: CacheCounts {
            hits: stats.hits,
            misses: stats.misses,
        },
        coverage: Some(cov.coverage),
        coverage_threshold: Some(cov.threshold),
        q: Some(cov.q),
        k: Some(cl.k as u64),
        silhouette: cl.silhouette,
        clusters,
        gap_clusters: cl.gap_ranking.len() as u64,
        outliers: cl.outliers.len() as u64,
        gap_regions: cl.regions.as_ref().map(|r| GapRegions {
            tested: r.tested as u64,
            design_effect: r.design_effect,
            design_effects: r.design_effects.clone(),
            golden_used: r.golden_used as u64,
            production_used: r.production_used as u64,
            golden_share: r.pi0,
            baselines: r.baselines.clone(),
            unit_iccs: r.unit_iccs.clone(),
            gaps: r.gaps.len() as u64,
            surface_form_regions: surface_regions,
            other: Default::default(),
        }),
        proposals: proposals.len() as u64,
        map,
        shift: None,
        other: Default::default(),
    };
    Ok(SemanticOutput {
        findings,
        summary,
        proposals,
        design_effect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_one_dropped_doubled_or_swapped_letter_from_a_known_word() {
        let t = Typos::new(
            &["I have not received my card yet", "where is my transfer"],
            &[],
        );
        for typo in [
            "recieved",
            "receved",
            "receivedd",
            "carrd",
            "tranfser",
            "trasnfer",
        ] {
            assert!(t.is_typo(typo), "{typo}");
        }
        for word in ["received", "lasagna", "make", "cards", "pizza", "transfers"] {
            assert!(!t.is_typo(word), "{word}");
        }
    }

    #[test]
    fn a_region_is_surface_form_only_beyond_the_golden_inputs_own_typo_rate() {
        // Clean golden text: no golden input has a word one letter from a
        // word of another.
        let golden = [
            "how do I reset my password",
            "where is my parcel",
            "the package never arrived",
            "my parcel never arrived",
        ];
        let prod = [
            "how do I rest my pasword",
            "where is my parcell",
            "the pakcage never arrived",
            "how do I reset my password",
            "where is my parcel",
        ];
        let t = Typos::new(&golden, &prod);
        assert_eq!(t.flags(&prod), [true, true, true, false, false]);
        let base = typo_share(&t.golden_flags(&golden), None);
        assert_eq!(base, 0.0);
        // Three typo inputs of five: 0.6 against a clean baseline.
        let region = typo_share(&t.flags(&prod), Some(&[0, 1, 2, 3, 4]));
        assert_eq!(region, 0.6);
        assert!(is_surface_form(region, base));

        // Half of a region's inputs with a typo is surface form in clean text.
        assert!(is_surface_form(0.5, base));

        // Text whose golden inputs carry typo-like words of their own (here
        // a third of them, misspellings of words other inputs use), as long
        // texts do: the same half is within what the application's own rate
        // leaves room for, so the region stays a topic.
        let golden = [
            "how do I reset my pasword",
            "I forgot my password",
            "change my password please",
            "the pakage never arrived",
            "the package is late",
            "the package never came",
        ];
        let t = Typos::new(&golden, &prod);
        let flags = t.golden_flags(&golden);
        assert_eq!(flags, [true, false, false, true, false, false]);
        let base = typo_share(&flags, None);
        assert!((base - 1.0 / 3.0).abs() < 1e-12);
        assert!(!is_surface_form(0.5, base));
        // A third of the way from it to all-typo (5/9) is surface form.
        assert!(is_surface_form(0.6, base));
        // Every input noisy on both sides: nothing tells the region apart.
        assert!(is_surface_form(1.0, 1.0));
    }

    #[test]
    fn a_diffuse_input_shift_with_surface_findings_says_so() {
        let f = |metric: &str, kind: FindingKind, drifted: bool| {
            let mut x = finding("j", kind, metric, "input", "t");
            x.verdict = if drifted {
                Verdict::Drifted
            } else {
                Verdict::Ok
            };
            x.details = FindingDetails::summary("s");
            x
        };
        let mut fs = vec![
            f("input.mmd", FindingKind::Semantic, true),
            f("input.oov_rate", FindingKind::Structural, true),
        ];
        let shift = classify_semantic(&mut fs);
        assert_eq!(fs[0].details.semantic_kind.as_deref(), Some("diffuse"));
        assert_eq!(fs[0].details.note.as_deref(), Some(SURFACE_FORM_NOTE));
        assert_eq!(shift.note.as_deref(), Some(SURFACE_FORM_NOTE));
        // Without a surface-form finding, a diffuse shift carries no note.
        let mut fs = vec![f("input.mmd", FindingKind::Semantic, true)];
        classify_semantic(&mut fs);
        assert!(fs[0].details.note.is_none());
    }
}
