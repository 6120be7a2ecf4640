//! Validated hyper-parameters (linfa style: unchecked builder → `check()`).

use super::error::{Result, SemanticError};

/// Unchecked parameters with builder setters; turn into [`SemanticParams`]
/// with [`SemanticParamsBuilder::check`]. Defaults are listed per setter.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticParamsBuilder {
    seed: u64,
    alpha: f64,
    q: f64,
    coverage_max_pairs: u64,
    calibration_cap: usize,
    permutations: usize,
    mmd_max_pooled: usize,
    folds: usize,
    classifier_max_per_class: usize,
    k: Option<usize>,
    k_range: (usize, usize),
    silhouette_sample: usize,
    cluster_dims: usize,
    kmeans_fit_cap: usize,
    kmeans_runs: usize,
    uncovered_weight: f64,
    kmeans_max_iter: u64,
    gap_confidence: f64,
    gap_min_ratio: f64,
    min_uncovered: usize,
    label_top_n: usize,
    proposals_per_cluster: usize,
    proposals_per_run: usize,
    near_duplicate_cos: f64,
    scan_k: usize,
    scan_per_side: usize,
    scan_permutations: usize,
    region_sizes: [usize; 3],
}

/// Validated parameters for [`crate::semantic::analyze`] and the routines it
/// calls. Build with [`SemanticParams::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticParams(SemanticParamsBuilder);

impl Default for SemanticParamsBuilder {
    fn default() -> Self {
        Self {
            seed: 0,
            alpha: 0.05,
            q: 0.05,
            coverage_max_pairs: 1_000_000_000,
            calibration_cap: 2000,
            permutations: 500,
            mmd_max_pooled: 4000,
            folds: 2,
            classifier_max_per_class: 2000,
            k: None,
            k_range: (4, 16),
            silhouette_sample: 2000,
            cluster_dims: 32,
            kmeans_fit_cap: 10_000,
            kmeans_runs: 3,
            uncovered_weight: 5.0,
            kmeans_max_iter: 100,
            gap_confidence: 0.95,
            gap_min_ratio: 1.0,
            min_uncovered: 3,
            label_top_n: 3,
            proposals_per_cluster: 3,
            proposals_per_run: 30,
            near_duplicate_cos: 0.95,
            scan_k: 5,
            scan_per_side: 2000,
            scan_permutations: 200,
            region_sizes: [12, 25, 50],
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident : $ty:ty;)*) => {
        impl SemanticParamsBuilder {
            $($(#[$doc])* pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            })*
        }
        impl SemanticParams {
            $($(#[$doc])* pub fn $name(&self) -> $ty {
                self.0.$name
            })*
        }
    };
}

setters! {
    /// Master seed; every random choice derives from it (default 0).
    seed: u64;
    /// Significance level for the drift verdicts (default 0.05).
    alpha: f64;
    /// Coverage calibration quantile (default 0.05).
    q: f64;
    /// Max golden × production pairs scored by coverage before production is
    /// subsampled (default 10⁹ ≈ 100k × 10k).
    coverage_max_pairs: u64;
    /// Max golden rows used for leave-one-out calibration (default 2000).
    calibration_cap: usize;
    /// MMD permutations `B` (default 500).
    permutations: usize;
    /// Max pooled rows in the MMD kernel matrix (default 4000).
    mmd_max_pooled: usize;
    /// Classifier cross-fitting folds (default 2: each fold's held-out rows
    /// are tested on their own and the folds' `z` averaged, which is
    /// conservative beyond two; see `domain_classifier`).
    folds: usize;
    /// Max rows per class for the classifier (default 2000).
    classifier_max_per_class: usize;
    /// Fixed number of clusters; `None` selects by silhouette (default `None`).
    k: Option<usize>;
    /// Inclusive silhouette search range (default `(4, 16)`).
    k_range: (usize, usize);
    /// Max pooled rows used for silhouette selection (default 2000).
    silhouette_sample: usize;
    /// Principal components the clustering runs in; at or above the
    /// embedding dimension means no reduction (default 32).
    cluster_dims: usize;
    /// Max pooled rows the final KMeans is fitted on (default 10 000).
    kmeans_fit_cap: usize;
    /// KMeans restarts (default 3).
    kmeans_runs: usize;
    /// Weight of an uncovered production row in the k-means++ seeding
    /// (default 5; 1 = plain greedy k-means++).
    uncovered_weight: f64;
    /// KMeans max Lloyd iterations (default 100).
    kmeans_max_iter: u64;
    /// Two-sided confidence of the gap-score interval (default 0.95).
    gap_confidence: f64;
    /// A gap needs its ratio lower bound above this (default 1.0).
    gap_min_ratio: f64;
    /// A gap needs at least this many uncovered traces (default 3).
    min_uncovered: usize;
    /// Terms per cluster label (default 3).
    label_top_n: usize;
    /// Max proposals per group (default 3).
    proposals_per_cluster: usize;
    /// Max proposals per run (default 30).
    proposals_per_run: usize;
    /// Cosine at or above which a candidate is a near duplicate (default 0.95).
    near_duplicate_cos: f64;
    /// Neighbours per row in the novelty scan; 0 turns the scan off
    /// (default 5).
    scan_k: usize;
    /// Max distinct rows per side in the novelty scan (default 2000).
    scan_per_side: usize;
    /// Label permutations of the novelty scan (default 200).
    scan_permutations: usize;
    /// Target rows per region of the gap-region partitions, one partition per
    /// non-zero entry (default `[12, 25, 50]`; all zero turns gap regions off).
    region_sizes: [usize; 3];
}

fn invalid(name: &'static str, reason: &'static str) -> SemanticError {
    SemanticError::InvalidParam { name, reason }
}

impl SemanticParamsBuilder {
    /// Validates every rule and returns the checked parameters.
    pub fn check(self) -> Result<SemanticParams> {
        let unit_open = |v: f64| v > 0.0 && v < 1.0;
        if !unit_open(self.alpha) {
            return Err(invalid("alpha", "must be in (0, 1)"));
        }
        if !unit_open(self.q) {
            return Err(invalid("q", "must be in (0, 1)"));
        }
        if self.coverage_max_pairs == 0 {
            return Err(invalid("coverage_max_pairs", "must be at least 1"));
        }
        if self.calibration_cap < 2 {
            return Err(invalid("calibration_cap", "must be at least 2"));
        }
        if self.permutations == 0 {
            return Err(invalid("permutations", "must be at least 1"));
        }
        if self.mmd_max_pooled < 4 {
            return Err(invalid("mmd_max_pooled", "must be at least 4"));
        }
        if self.folds < 2 {
            return Err(invalid("folds", "must be at least 2"));
        }
        if self.classifier_max_per_class < self.folds {
            return Err(invalid(
                "classifier_max_per_class",
                "must be at least `folds`",
            ));
        }
        if self.k == Some(0) {
            return Err(invalid("k", "cannot be zero"));
        }
        let (lo, hi) = self.k_range;
        if lo < 2 {
            return Err(invalid("k_range", "lower end must be at least 2"));
        }
        if lo > hi {
            return Err(invalid("k_range", "lower end must not exceed upper end"));
        }
        if self.silhouette_sample <= lo {
            return Err(invalid(
                "silhouette_sample",
                "must exceed the lower end of k_range",
            ));
        }
        if self.cluster_dims == 0 {
            return Err(invalid("cluster_dims", "must be at least 1"));
        }
        if self.kmeans_fit_cap < self.k.unwrap_or(hi) {
            return Err(invalid("kmeans_fit_cap", "must be at least the largest k"));
        }
        if self.kmeans_runs == 0 {
            return Err(invalid("kmeans_runs", "must be at least 1"));
        }
        if !(self.uncovered_weight.is_finite() && self.uncovered_weight >= 1.0) {
            return Err(invalid("uncovered_weight", "must be finite and at least 1"));
        }
        if self.kmeans_max_iter == 0 {
            return Err(invalid("kmeans_max_iter", "must be at least 1"));
        }
        if !unit_open(self.gap_confidence) {
            return Err(invalid("gap_confidence", "must be in (0, 1)"));
        }
        if !(self.gap_min_ratio.is_finite() && self.gap_min_ratio > 0.0) {
            return Err(invalid("gap_min_ratio", "must be finite and positive"));
        }
        if self.label_top_n == 0 {
            return Err(invalid("label_top_n", "must be at least 1"));
        }
        if self.proposals_per_cluster == 0 {
            return Err(invalid("proposals_per_cluster", "must be at least 1"));
        }
        if self.proposals_per_run == 0 {
            return Err(invalid("proposals_per_run", "must be at least 1"));
        }
        if !(self.near_duplicate_cos > -1.0 && self.near_duplicate_cos <= 1.0) {
            return Err(invalid("near_duplicate_cos", "must be in (-1, 1]"));
        }
        if self.scan_k > 0 && self.scan_per_side <= self.scan_k {
            return Err(invalid("scan_per_side", "must exceed scan_k"));
        }
        if self.scan_k > 0 && self.scan_permutations == 0 {
            return Err(invalid("scan_permutations", "must be at least 1"));
        }
        Ok(SemanticParams(self))
    }
}

impl SemanticParams {
    /// Unchecked builder with the defaults.
    pub fn builder() -> SemanticParamsBuilder {
        SemanticParamsBuilder::default()
    }
}

impl Default for SemanticParams {
    fn default() -> Self {
        SemanticParams::builder()
            .check()
            .expect("default parameters are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejects(b: SemanticParamsBuilder, name: &str) {
        match b.check() {
            Err(SemanticError::InvalidParam { name: n, .. }) => assert_eq!(n, name),
            other => panic!("expected InvalidParam({name}), got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let p = SemanticParams::default();
        assert_eq!(p.permutations(), 500);
        assert_eq!(p.k_range(), (4, 16));
        assert_eq!(p.k(), None);
    }

    #[test]
    fn k_cannot_be_zero() {
        rejects(SemanticParams::builder().k(Some(0)), "k");
        assert!(SemanticParams::builder().k(Some(1)).check().is_ok());
    }

    #[test]
    fn q_must_be_in_0_1() {
        for q in [0.0, 1.0, -0.1, f64::NAN] {
            rejects(SemanticParams::builder().q(q), "q");
        }
    }

    #[test]
    fn alpha_must_be_in_0_1() {
        for a in [0.0, 1.0, f64::NAN] {
            rejects(SemanticParams::builder().alpha(a), "alpha");
        }
    }

    #[test]
    fn coverage_max_pairs_cannot_be_zero() {
        rejects(
            SemanticParams::builder().coverage_max_pairs(0),
            "coverage_max_pairs",
        );
    }

    #[test]
    fn calibration_cap_must_be_at_least_2() {
        rejects(
            SemanticParams::builder().calibration_cap(1),
            "calibration_cap",
        );
    }

    #[test]
    fn permutations_cannot_be_zero() {
        rejects(SemanticParams::builder().permutations(0), "permutations");
    }

    #[test]
    fn mmd_max_pooled_must_be_at_least_4() {
        rejects(
            SemanticParams::builder().mmd_max_pooled(3),
            "mmd_max_pooled",
        );
    }

    #[test]
    fn folds_must_be_at_least_2() {
        rejects(SemanticParams::builder().folds(1), "folds");
    }

    #[test]
    fn classifier_cap_must_cover_folds() {
        rejects(
            SemanticParams::builder()
                .folds(5)
                .classifier_max_per_class(4),
            "classifier_max_per_class",
        );
    }

    #[test]
    fn k_range_lower_end_must_be_at_least_2() {
        rejects(SemanticParams::builder().k_range((1, 5)), "k_range");
    }

    #[test]
    fn k_range_must_be_ordered() {
        rejects(SemanticParams::builder().k_range((6, 5)), "k_range");
    }

    #[test]
    fn silhouette_sample_must_exceed_k_min() {
        rejects(
            SemanticParams::builder().silhouette_sample(4),
            "silhouette_sample",
        );
    }

    #[test]
    fn kmeans_fit_cap_must_cover_k() {
        rejects(
            SemanticParams::builder().kmeans_fit_cap(15),
            "kmeans_fit_cap",
        );
        assert!(SemanticParams::builder()
            .k(Some(3))
            .kmeans_fit_cap(3)
            .check()
            .is_ok());
    }

    #[test]
    fn cluster_dims_cannot_be_zero() {
        rejects(SemanticParams::builder().cluster_dims(0), "cluster_dims");
    }

    #[test]
    fn kmeans_runs_cannot_be_zero() {
        rejects(SemanticParams::builder().kmeans_runs(0), "kmeans_runs");
    }

    #[test]
    fn uncovered_weight_must_be_at_least_1() {
        rejects(
            SemanticParams::builder().uncovered_weight(0.5),
            "uncovered_weight",
        );
        rejects(
            SemanticParams::builder().uncovered_weight(f64::NAN),
            "uncovered_weight",
        );
    }

    #[test]
    fn kmeans_max_iter_cannot_be_zero() {
        rejects(
            SemanticParams::builder().kmeans_max_iter(0),
            "kmeans_max_iter",
        );
    }

    #[test]
    fn gap_confidence_must_be_in_0_1() {
        rejects(
            SemanticParams::builder().gap_confidence(1.0),
            "gap_confidence",
        );
    }

    #[test]
    fn gap_min_ratio_must_be_positive() {
        rejects(
            SemanticParams::builder().gap_min_ratio(0.0),
            "gap_min_ratio",
        );
        rejects(
            SemanticParams::builder().gap_min_ratio(f64::INFINITY),
            "gap_min_ratio",
        );
    }

    #[test]
    fn label_top_n_cannot_be_zero() {
        rejects(SemanticParams::builder().label_top_n(0), "label_top_n");
    }

    #[test]
    fn proposals_per_cluster_cannot_be_zero() {
        rejects(
            SemanticParams::builder().proposals_per_cluster(0),
            "proposals_per_cluster",
        );
    }

    #[test]
    fn proposals_per_run_cannot_be_zero() {
        rejects(
            SemanticParams::builder().proposals_per_run(0),
            "proposals_per_run",
        );
    }

    #[test]
    fn scan_needs_rows_and_permutations() {
        let b = || SemanticParams::builder();
        rejects(b().scan_per_side(5), "scan_per_side");
        rejects(b().scan_permutations(0), "scan_permutations");
        assert!(b().scan_k(0).scan_permutations(0).check().is_ok());
    }

    #[test]
    fn near_duplicate_cos_must_be_in_minus1_1() {
        for c in [-1.0, 1.01, f64::NAN] {
            rejects(
                SemanticParams::builder().near_duplicate_cos(c),
                "near_duplicate_cos",
            );
        }
        assert!(SemanticParams::builder()
            .near_duplicate_cos(1.0)
            .check()
            .is_ok());
    }
}
