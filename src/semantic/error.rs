//! Error type shared by every semantic-drift routine.

/// Why a semantic computation refused to produce a number.
///
/// Every public routine in [`crate::semantic`] returns this instead of a
/// `NaN`: degenerate input is reported, never silently propagated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SemanticError {
    /// A matrix or slice that must hold data is empty.
    #[error("{what} is empty")]
    Empty {
        /// Which input.
        what: &'static str,
    },
    /// Two inputs disagree on the embedding dimension.
    #[error("{what} has {got} columns, expected {expected}")]
    DimensionMismatch {
        /// Which input.
        what: &'static str,
        /// Columns found.
        got: usize,
        /// Columns expected.
        expected: usize,
    },
    /// Two inputs that must be parallel have different lengths.
    #[error("{what} has length {got}, expected {expected}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Length found.
        got: usize,
        /// Length expected.
        expected: usize,
    },
    /// A value is `NaN` or infinite.
    #[error("{what} has a non-finite value at row {row}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Offending row (or element for 1-D inputs).
        row: usize,
    },
    /// A row that must be L2-normalised is not (|‖x‖ − 1| > 1e-3).
    #[error("{what} row {row} has L2 norm {norm}, expected 1")]
    NotNormalized {
        /// Which input.
        what: &'static str,
        /// Offending row.
        row: usize,
        /// Its norm.
        norm: f32,
    },
    /// Too few rows for the statistic to be defined.
    #[error("{what} needs at least {need} rows, got {got}")]
    TooFewRows {
        /// Which input.
        what: &'static str,
        /// Minimum required.
        need: usize,
        /// Rows found.
        got: usize,
    },
    /// The input is valid but the statistic is undefined on it
    /// (e.g. every pairwise distance is zero).
    #[error("degenerate input: {0}")]
    Degenerate(String),
    /// A parameter failed validation in [`crate::semantic::SemanticParamsBuilder::check`].
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// Rule that was broken.
        reason: &'static str,
    },
    /// An underlying linfa model failed to fit.
    #[error("model fit failed: {0}")]
    Fit(String),
}

/// Shorthand used throughout the module.
pub type Result<T> = std::result::Result<T, SemanticError>;
