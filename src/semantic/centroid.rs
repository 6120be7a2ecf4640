//! Centroid cosine distance.

use ndarray::ArrayView2;

use super::error::{Result, SemanticError};
use super::linalg::{check_matrix, mean_row};

/// Cosine distance between the mean golden embedding and the mean production
/// embedding.
///
/// # Definition
///
/// `d = 1 − (ḡ · p̄) / (‖ḡ‖ ‖p̄‖)` with `ḡ`, `p̄` the column means (f64).
/// Range `[0, 2]`.
///
/// # Remarks
///
/// Errors on empty input, mismatched dimensions, non-finite values, or a mean
/// vector of zero norm (cosine undefined). Rows need not be unit-normalised.
///
/// # Reference
///
/// Matches `scipy.spatial.distance.cosine(G.mean(0), P.mean(0))`.
pub fn centroid_cosine_distance(
    golden: ArrayView2<f32>,
    production: ArrayView2<f32>,
) -> Result<f64> {
    let d = check_matrix(golden, "golden", None)?;
    check_matrix(production, "production", Some(d))?;
    let g = mean_row(golden);
    let p = mean_row(production);
    let dot: f64 = g.iter().zip(&p).map(|(a, b)| a * b).sum();
    let ng = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let np = p.iter().map(|v| v * v).sum::<f64>().sqrt();
    if ng == 0.0 || np == 0.0 {
        return Err(SemanticError::Degenerate(
            "a mean embedding has zero norm; cosine is undefined".into(),
        ));
    }
    Ok((1.0 - dot / (ng * np)).clamp(0.0, 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    // scipy 1.x: scipy.spatial.distance.cosine(np.array([[1,0],[0,1]],np.float32).mean(0),
    //                                          np.array([[1,0],[1,0]],np.float32).mean(0))
    //   = 0.29289321881345254
    #[test]
    fn centroid_cosine_distance_matches_scipy() {
        let g = array![[1.0f32, 0.0], [0.0, 1.0]];
        let p = array![[1.0f32, 0.0], [1.0, 0.0]];
        let d = centroid_cosine_distance(g.view(), p.view()).unwrap();
        assert!((d - 0.292_893_218_813_452_54).abs() < 1e-12, "{d}");
    }

    #[test]
    fn centroid_of_opposite_points_is_an_error() {
        let g = array![[1.0f32, 0.0], [-1.0, 0.0]];
        let p = array![[1.0f32, 0.0]];
        assert!(matches!(
            centroid_cosine_distance(g.view(), p.view()),
            Err(SemanticError::Degenerate(_))
        ));
    }
}
