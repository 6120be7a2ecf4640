//! Seeded synthetic data for the tests: Gaussian blobs on the unit sphere.

use ndarray::{Array2, Axis};
use rand::Rng;

use super::linalg::{rng, SeededRng};

/// Seeded generator for tests.
pub(crate) fn test_rng(seed: u64) -> SeededRng {
    rng(seed, 0x7E57)
}

/// Standard normal by Box–Muller.
pub(crate) fn normal(r: &mut SeededRng) -> f64 {
    let u1: f64 = r.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = r.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `k` random unit vectors of dimension `d`.
pub(crate) fn centers(k: usize, d: usize, r: &mut SeededRng) -> Array2<f32> {
    let mut c = Array2::from_shape_fn((k, d), |_| normal(r) as f32);
    normalise_rows(&mut c);
    c
}

pub(crate) fn normalise_rows(x: &mut Array2<f32>) {
    for mut row in x.axis_iter_mut(Axis(0)) {
        let n = row.dot(&row).sqrt();
        row.mapv_inplace(|v| v / n);
    }
}

/// Traffic that repeats itself: `topics` random topic directions, each with
/// `questions` questions (cosine ≈ 0.86 to their topic, ≈ 0.74 to each
/// other) asked in `paraphrases` wordings (cosine ≈ 0.96 to each other).
/// Returns the rows, question by question, and each row's question id.
pub(crate) fn paraphrase_traffic(
    topics: usize,
    questions: usize,
    paraphrases: usize,
    d: usize,
    r: &mut SeededRng,
) -> (Array2<f32>, Vec<usize>) {
    let t = centers(topics, d, r);
    let near = |base: &[f32], spread: f64, r: &mut SeededRng| -> Vec<f32> {
        let s = spread / (d as f64).sqrt();
        let v: Vec<f32> = base.iter().map(|&b| b + (s * normal(r)) as f32).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    };
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for k in 0..topics {
        let topic: Vec<f32> = t.row(k).to_vec();
        for qi in 0..questions {
            let q = near(&topic, 0.6, r);
            for _ in 0..paraphrases {
                rows.extend(near(&q, 0.2, r));
                ids.push(k * questions + qi);
            }
        }
    }
    (Array2::from_shape_vec((ids.len(), d), rows).unwrap(), ids)
}

/// [`paraphrase_traffic`] (20 topics × 12 questions × 4 wordings, d = 32)
/// split by question: each question's wordings all go to golden or all to
/// production (fair coin per question). Returns (golden, production).
pub(crate) fn grouped_split(r: &mut SeededRng) -> (Array2<f32>, Array2<f32>) {
    let (x, q) = paraphrase_traffic(20, 12, 4, 32, r);
    let golden_q: Vec<bool> = (0..240).map(|_| r.random_bool(0.5)).collect();
    let pick = |want: bool| {
        let rows: Vec<usize> = (0..x.nrows()).filter(|&i| golden_q[q[i]] == want).collect();
        x.select(Axis(0), &rows)
    };
    (pick(true), pick(false))
}

/// `n` points: blob `b` drawn with probability `weights[b]`, point =
/// normalise(center + spread · g / √d) with `g` standard normal.
/// Returns the points and their blob ids.
pub(crate) fn blobs(
    n: usize,
    centers: &Array2<f32>,
    weights: &[f64],
    spread: f64,
    r: &mut SeededRng,
) -> (Array2<f32>, Vec<usize>) {
    let d = centers.ncols();
    let total: f64 = weights.iter().sum();
    let scale = spread / (d as f64).sqrt();
    let mut x = Array2::<f32>::zeros((n, d));
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut u = r.random::<f64>() * total;
        let mut b = 0;
        while b + 1 < weights.len() && u >= weights[b] {
            u -= weights[b];
            b += 1;
        }
        ids.push(b);
        for j in 0..d {
            x[[i, j]] = centers[[b, j]] + (scale * normal(r)) as f32;
        }
    }
    normalise_rows(&mut x);
    (x, ids)
}

/// Exactly `n_new` rows of blob `new_blob` and the rest from the other
/// blobs (weights over the first `new_blob` centers), shuffled.
pub(crate) fn with_new_blob(
    n: usize,
    n_new: usize,
    centers: &Array2<f32>,
    new_blob: usize,
    spread: f64,
    r: &mut SeededRng,
) -> (Array2<f32>, Vec<usize>) {
    let old = centers.slice(ndarray::s![..new_blob, ..]).to_owned();
    let (a, ia) = blobs(n - n_new, &old, &vec![1.0; new_blob], spread, r);
    let newc = centers
        .slice(ndarray::s![new_blob..new_blob + 1, ..])
        .to_owned();
    let (b, _) = blobs(n_new, &newc, &[1.0], spread, r);
    let x = ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap();
    let mut ids = ia;
    ids.extend(std::iter::repeat_n(new_blob, n_new));
    (x, ids)
}

/// Peak resident set size of this process in MiB (`VmHWM`), if readable.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// User + system CPU seconds consumed by this process so far
/// (`/proc/self/stat` fields 14 and 15, at 100 ticks per second).
pub(crate) fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
