//! Principal components: the 2-D projection for the report's scatter map and
//! the low-dimensional space the clustering runs in.

use ndarray::linalg::general_mat_mul;
use ndarray::parallel::prelude::*;
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rand::Rng;

use super::linalg::rng;

/// Fixed seed of the subspace-iteration start (projections are
/// deterministic functions of their input).
const PCA_SEED: u64 = 0x00C4_2D00;
/// Rows per block when accumulating the covariance.
const COV_BLOCK: usize = 2048;

/// Modified Gram–Schmidt on the columns of `v`; a column that vanishes stays
/// zero.
fn orthonormalise(v: &mut Array2<f64>) {
    for c in 0..v.ncols() {
        for p in 0..c {
            let proj = v.column(c).dot(&v.column(p));
            let prev = v.column(p).to_owned();
            v.column_mut(c).scaled_add(-proj, &prev);
        }
        let norm = v.column(c).dot(&v.column(c)).sqrt();
        if norm > 1e-300 {
            v.column_mut(c).mapv_inplace(|x| x / norm);
        } else {
            v.column_mut(c).fill(0.0);
        }
    }
}

/// Column mean and the top-`m` principal axes (`d × m`, orthonormal columns
/// ordered by decreasing variance) of the rows `x`, by orthogonal iteration
/// on the covariance (accumulated in f64 from f32 block products).
pub(crate) fn principal_axes(
    x: ArrayView2<f32>,
    m: usize,
    max_iter: usize,
) -> (Array1<f32>, Array2<f32>) {
    let (n, d) = x.dim();
    let mean: Array1<f64> = x
        .axis_iter(Axis(0))
        .fold(Array1::zeros(d), |acc, r| acc + r.mapv(f64::from))
        / n.max(1) as f64;
    let mean32 = mean.mapv(|v| v as f32);
    let blocks: Vec<usize> = (0..n).step_by(COV_BLOCK).collect();
    let cov = blocks
        .par_iter()
        .map(|&lo| {
            let hi = (lo + COV_BLOCK).min(n);
            let xc = &x.slice(s![lo..hi, ..]) - &mean32;
            let mut c = Array2::<f32>::zeros((d, d));
            general_mat_mul(1.0, &xc.t(), &xc, 0.0, &mut c);
            c.mapv(f64::from)
        })
        .reduce(|| Array2::<f64>::zeros((d, d)), |a, b| a + b)
        / ((n.max(2) - 1) as f64);
    let k = m.min(d);
    let mut r = rng(PCA_SEED, k as u64);
    let mut v = Array2::<f64>::from_shape_fn((d, k), |_| r.random::<f64>() - 0.5);
    orthonormalise(&mut v);
    for _ in 0..max_iter {
        let mut next = cov.dot(&v);
        orthonormalise(&mut next);
        let delta = (&next - &v).iter().map(|e| e * e).sum::<f64>();
        v = next;
        if delta < 1e-20 {
            break;
        }
    }
    for c in 0..k {
        let lead =
            v.column(c)
                .iter()
                .copied()
                .fold(0.0f64, |acc, e| if e.abs() > acc.abs() { e } else { acc });
        if lead < 0.0 {
            v.column_mut(c).mapv_inplace(|e| -e);
        }
    }
    let mut axes = Array2::<f32>::zeros((d, m));
    axes.slice_mut(s![.., ..k]).assign(&v.mapv(|e| e as f32));
    (mean32, axes)
}

/// `(x − mean) · axes` (f32).
pub(crate) fn project(x: ArrayView2<f32>, mean: &Array1<f32>, axes: &Array2<f32>) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((x.nrows(), axes.ncols()));
    out.axis_chunks_iter_mut(Axis(0), COV_BLOCK)
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut chunk)| {
            let lo = i * COV_BLOCK;
            let xc = &x.slice(s![lo..lo + chunk.nrows(), ..]) - mean;
            general_mat_mul(1.0, &xc, axes, 0.0, &mut chunk);
        });
    out
}

/// Projects rows onto their first two principal components.
///
/// # Definition
///
/// `X_c = X − mean(X)`, covariance `C = X_cᵀX_c/(n − 1)` (f32 block
/// products accumulated in f64). The top-2 eigenvectors `V` of `C` come from
/// orthogonal iteration `V ← orth(C V)` (modified Gram–Schmidt) from a fixed
/// seeded start, until the basis moves less than 1e-10 or 500 iterations.
/// Each component's sign is chosen so that its largest-magnitude loading is
/// positive. Returns `X_c V` as `n × 2` f32.
///
/// # Remarks
///
/// Never fails: empty input gives `0 × 2`; one row, constant rows or a
/// single column give zero columns where the variance is zero. Non-finite
/// input propagates.
///
/// # Reference
///
/// Pearson (1901); Golub & Van Loan, *Matrix Computations*, §8.2.4
/// (orthogonal iteration). Matches `sklearn.decomposition.PCA(2)
/// .fit_transform(X)` up to the sign convention above.
pub fn pca_2d(x: ArrayView2<f32>) -> Array2<f32> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return Array2::zeros((n, 2));
    }
    let (mean, axes) = principal_axes(x, 2, 500);
    project(x, &mean, &axes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    // sklearn 1.9.1: W=np.array([[.9,.1,.3],[.2,.8,.1],[.4,.4,.9],[.7,.2,.5],[.1,.9,.6],
    //   [.5,.5,.2]],np.float32).astype(float); p=PCA(2); T=p.fit_transform(W)
    //   then each column negated where components_[c] has a negative largest-|.| loading.
    #[test]
    fn pca_2d_matches_sklearn() {
        let w = array![
            [0.9f32, 0.1, 0.3],
            [0.2, 0.8, 0.1],
            [0.4, 0.4, 0.9],
            [0.7, 0.2, 0.5],
            [0.1, 0.9, 0.6],
            [0.5, 0.5, 0.2]
        ];
        let want = [
            [-0.576_871_011_019_340_2, -0.137_127_203_069_670_88],
            [0.411_608_315_091_698_65, -0.334_768_981_534_101_6],
            [-0.012_469_906_537_830_91, 0.477_723_770_658_844_86],
            [-0.365_866_736_348_397_3, 0.071_662_035_455_455_33],
            [0.555_551_205_382_618_4, 0.158_481_553_303_904_32],
            [-0.011_951_866_568_748_52, -0.235_971_174_814_432_28],
        ];
        let t = pca_2d(w.view());
        assert_eq!(t.dim(), (6, 2));
        for i in 0..6 {
            for c in 0..2 {
                assert!(
                    (f64::from(t[[i, c]]) - want[i][c]).abs() < 1e-5,
                    "{i},{c}: {}",
                    t[[i, c]]
                );
            }
        }
    }

    #[test]
    fn pca_2d_degenerate_inputs_give_zeros() {
        assert_eq!(pca_2d(Array2::<f32>::zeros((0, 4)).view()).dim(), (0, 2));
        let one = array![[0.6f32, 0.8]];
        assert_eq!(pca_2d(one.view()), Array2::<f32>::zeros((1, 2)));
        let col = array![[1.0f32], [2.0], [3.0]];
        let t = pca_2d(col.view());
        assert_eq!(t.column(1).to_vec(), vec![0.0; 3]);
        assert!((t[[0, 0]] + 1.0).abs() < 1e-6 && (t[[2, 0]] - 1.0).abs() < 1e-6);
    }
}
