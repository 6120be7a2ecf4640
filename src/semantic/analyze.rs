//! One-call semantic drift analysis.

use ndarray::{ArrayView2, Axis};

use super::centroid::centroid_cosine_distance;
use super::classifier::{domain_classifier, ClassifierResult};
use super::cluster::{cluster_gaps, ClusteringResult};
use super::coverage::{coverage, CoverageResult};
use super::error::{Result, SemanticError};
use super::labels::{cluster_labels, join_label};
use super::linalg::check_unit_rows;
use super::mmd::{mmd_test, MmdResult};
use super::params::SemanticParams;

/// Which tests fired at `params.alpha()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftVerdict {
    /// MMD permutation p-value < α.
    pub mmd: bool,
    /// Coverage (exceedance) p-value < α.
    pub coverage: bool,
    /// Domain-classifier p-value < α.
    pub classifier: bool,
    /// Any of the above.
    pub any: bool,
}

/// Everything [`analyze`] computed.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticReport {
    /// Coverage of production by golden. Its per-row vectors follow
    /// `coverage.production_index`.
    pub coverage: CoverageResult,
    /// MMD permutation test (golden = reference, production = current).
    pub mmd: MmdResult,
    /// Domain-classifier AUC test.
    pub classifier: ClassifierResult,
    /// [`centroid_cosine_distance`] of golden vs production.
    pub centroid_distance: f64,
    /// Clusters of golden ∪ analysed production. Member lists and
    /// `outliers` hold original production row indices;
    /// `production_assignment` is aligned with `coverage.production_index`.
    pub clustering: ClusteringResult,
    /// c-TF-IDF terms per cluster (golden and production texts together).
    pub label_terms: Vec<Vec<(String, f64)>>,
    /// `label_terms` joined with `", "` per cluster.
    pub labels: Vec<String>,
    /// Test verdicts at `params.alpha()`.
    pub verdict: DriftVerdict,
}

/// Runs coverage, MMD, the domain classifier, centroid distance, clustering
/// and labelling of golden vs production.
///
/// # Definition
///
/// [`coverage`] (which may subsample production to its pair budget),
/// [`mmd_test`] (golden as reference), [`domain_classifier`] and
/// [`centroid_cosine_distance`] on the full inputs; then [`cluster_gaps`] on
/// golden ∪ the production rows coverage analysed, and
/// [`cluster_labels`] over the matching texts. Each routine gets its own
/// stream derived from `params.seed()`. Verdicts compare each p-value with
/// `params.alpha()`.
///
/// # Remarks
///
/// Errors on empty, mismatched, non-finite or non-unit rows, text slices
/// whose lengths differ from the row counts, or any error of the routines
/// above (e.g. fewer than `folds` rows per side).
///
/// # Reference
///
/// See the individual routines.
pub fn analyze(
    golden: ArrayView2<f32>,
    production: ArrayView2<f32>,
    production_texts: &[&str],
    golden_texts: &[&str],
    params: &SemanticParams,
) -> Result<SemanticReport> {
    let d = check_unit_rows(golden, "golden", None)?;
    check_unit_rows(production, "production", Some(d))?;
    for (what, got, expected) in [
        ("golden_texts", golden_texts.len(), golden.nrows()),
        ("production_texts", production_texts.len(), production.nrows()),
    ] {
        if got != expected {
            return Err(SemanticError::LengthMismatch { what, got, expected });
        }
    }
    let seed = params.seed();
    let (cov, (mmd, clf)) = rayon::join(
        || {
            coverage(
                golden,
                production,
                params.q(),
                params.coverage_max_pairs(),
                params.calibration_cap(),
                seed,
            )
        },
        || {
            rayon::join(
                || {
                    mmd_test(
                        golden,
                        production,
                        params.permutations(),
                        params.mmd_max_pooled(),
                        seed,
                    )
                },
                || {
                    domain_classifier(
                        golden,
                        production,
                        params.folds(),
                        params.classifier_max_per_class(),
                        seed,
                    )
                },
            )
        },
    );
    let (cov, mmd, classifier) = (cov?, mmd?, clf?);
    let centroid_distance = centroid_cosine_distance(golden, production)?;

    let idx = &cov.production_index;
    let prod_owned = (idx.len() != production.nrows()).then(|| production.select(Axis(0), idx));
    let prod_used = prod_owned.as_ref().map_or(production.view(), |a| a.view());
    let mut clustering = cluster_gaps(golden, prod_used, &cov.uncovered, params)?;
    for c in clustering.clusters.iter_mut() {
        c.production_members.iter_mut().for_each(|i| *i = idx[*i]);
        c.uncovered_members.iter_mut().for_each(|i| *i = idx[*i]);
    }
    clustering.outliers.iter_mut().for_each(|i| *i = idx[*i]);

    let texts: Vec<&str> = golden_texts
        .iter()
        .copied()
        .chain(idx.iter().map(|&i| production_texts[i]))
        .collect();
    let assignments: Vec<usize> = clustering
        .golden_assignment
        .iter()
        .chain(&clustering.production_assignment)
        .copied()
        .collect();
    let label_terms = cluster_labels(&texts, &assignments, clustering.k, params.label_top_n());
    let labels = label_terms.iter().map(|t| join_label(t)).collect();

    let alpha = params.alpha();
    let verdict = DriftVerdict {
        mmd: mmd.p_value < alpha,
        coverage: cov.p_value < alpha,
        classifier: classifier.p_value < alpha,
        any: mmd.p_value < alpha || cov.p_value < alpha || classifier.p_value < alpha,
    };
    Ok(SemanticReport {
        coverage: cov,
        mmd,
        classifier,
        centroid_distance,
        clustering,
        label_terms,
        labels,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::cluster::cluster_gaps;
    use crate::semantic::testutil::{blobs, centers, peak_rss_mib, test_rng, with_new_blob};
    use std::time::Instant;

    fn bench_one(n: usize, d: usize) {
        let mut r = test_rng(n as u64);
        let c = centers(21, d, &mut r);
        let old = c.slice(ndarray::s![..20, ..]).to_owned();
        let (g, _) = blobs(n, &old, &[1.0; 20], 0.8, &mut r);
        let (p, _) = with_new_blob(n, n / 10, &c, 20, 0.8, &mut r);
        let gt: Vec<String> = (0..n).map(|i| format!("golden text {i} about topic{}", i % 7)).collect();
        let pt: Vec<String> = (0..n).map(|i| format!("production text {i} about topic{}", i % 9)).collect();
        let gt: Vec<&str> = gt.iter().map(String::as_str).collect();
        let pt: Vec<&str> = pt.iter().map(String::as_str).collect();
        let params = SemanticParams::builder().seed(7).check().unwrap();
        let t = Instant::now();
        let cov = coverage(g.view(), p.view(), 0.05, 1_000_000_000, 2000, 1).unwrap();
        let t_cov = t.elapsed();
        let t = Instant::now();
        let mmd = mmd_test(g.view(), p.view(), 500, 4000, 1).unwrap();
        let t_mmd = t.elapsed();
        let t = Instant::now();
        let clf = domain_classifier(g.view(), p.view(), 5, 2000, 1).unwrap();
        let t_clf = t.elapsed();
        let t = Instant::now();
        let cl = cluster_gaps(g.view(), p.view(), &cov.uncovered, &params).unwrap();
        let t_cl = t.elapsed();
        let t = Instant::now();
        let pca = crate::semantic::pca_2d(g.view());
        let t_pca = t.elapsed();
        eprintln!(
            "components n={n}: coverage {t_cov:?} mmd {t_mmd:?} classifier {t_clf:?} cluster {t_cl:?} (k={}) pca(golden) {t_pca:?} [{}]",
            cl.k,
            pca.nrows() + mmd.n_ref_used + clf.n_per_class
        );
        let t = Instant::now();
        let rep = analyze(g.view(), p.view(), &pt, &gt, &params).unwrap();
        let el = t.elapsed();
        eprintln!(
            "analyze {n}+{n} d={d}: {:.3} s, peak RSS {:.0} MiB, k={}, gaps={}, cov p={:.3e}, mmd p={:.3e}, auc={:.3}",
            el.as_secs_f64(),
            peak_rss_mib().unwrap_or(f64::NAN),
            rep.clustering.k,
            rep.clustering.gap_ranking.len(),
            rep.coverage.p_value,
            rep.mmd.p_value,
            rep.classifier.auc
        );
    }

    /// Timing and peak RSS of `analyze` at production dimension 384.
    /// `cargo test --release -- --ignored --nocapture analyze_benchmark`
    #[test]
    #[ignore]
    fn analyze_benchmark() {
        bench_one(2000, 384);
        bench_one(20_000, 384);
    }
}
