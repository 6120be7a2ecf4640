//! Semantic drift between a curated golden dataset and production LLM inputs.
//!
//! This module owns the statistics over sentence-embedding matrices (rows are
//! L2-normalised `f32` embeddings, dimension 384 in production): the MMD
//! two-sample test, the domain-classifier AUC test, centroid cosine distance,
//! nearest-neighbour coverage with a calibrated threshold, KMeans clustering
//! with size-aware gap scores, c-TF-IDF cluster labels, proposal selection and
//! a 2-D PCA projection. Everything is a pure, seeded function of its inputs:
//! the module never touches a database, never embeds text, and never reads
//! the clock or an unseeded random source.
//!
//! [`analyze`] runs everything except proposal selection
//! ([`select_proposals`], which needs the exclusion matrix of pending and
//! rejected proposals) and the scatter-map projection ([`pca_2d`]). Work and
//! memory are bounded by parameters of [`SemanticParams`]: coverage scores at
//! most `coverage_max_pairs` golden × production pairs in 2 MiB tiles, the
//! MMD kernel matrix holds at most `mmd_max_pooled²` f32, the classifier uses
//! at most `classifier_max_per_class` rows per side, and KMeans is fitted on
//! at most `kmeans_fit_cap` rows in a `cluster_dims`-dimensional PCA space,
//! and the novelty scan ([`novelty_scan`]) holds `(2·scan_per_side)²` f32.
//! Errors are [`SemanticError`] values, never `NaN`.

mod analyze;
mod centroid;
mod classifier;
mod cluster;
mod coverage;
mod error;
mod exclusions;
mod identity;
mod kmeans;
mod labels;
mod linalg;
mod mmd;
mod params;
mod pca;
mod proposals;
mod regions;
mod scan;
#[cfg(test)]
mod testutil;
mod units;

pub use analyze::{analyze, DriftVerdict, SemanticReport};
pub use centroid::centroid_cosine_distance;
pub use classifier::{
    domain_classifier, mann_whitney_auc_test, roc_auc, ClassifierResult, MannWhitneyResult,
};
pub use cluster::{
    cluster_gaps, gap_score, silhouette_score, ClusterSummary, ClusterVerdict, ClusteringResult,
    GapScore,
};
pub use coverage::{beta_binomial_sf_ge, binomial_sf_ge, coverage, percentile, CoverageResult};
pub use error::{Result, SemanticError};
pub use exclusions::Exclusions;
pub use identity::{gap_centroid, match_gaps, GapSignature, SAME_GAP_COS, SAME_GAP_OVERLAP};
pub use labels::{cluster_labels, join_label};
pub use mmd::{median_heuristic_bandwidth, mmd2_unbiased, mmd_test, MmdResult};
pub use params::{SemanticParams, SemanticParamsBuilder};
pub use pca::pca_2d;
pub use proposals::{select_proposals, Pick, DENSITY_NEIGHBOURS, MAX_CANDIDATES};
pub use regions::{
    baseline_share, deflated_binomial_cdf, design_effect, region_scan, GapRegion, RegionScan,
};
pub use scan::{novelty_scan, ScanComponent, ScanResult};
pub use units::{near_duplicate_units, NEAR_DUPLICATE_COS};
