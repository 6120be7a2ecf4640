//! Small vector helpers: cosine similarity, L2 normalisation, and the
//! little-endian f32 byte encoding the vector cache stores.

use super::error::EmbedError;

/// Cosine similarity of `a` and `b`.
///
/// Returns 0.0 when the lengths differ or either vector is all zeros (there is
/// no direction to compare). For L2-normalised vectors this is the dot product.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())) as f32
}

/// Scale `v` to unit L2 norm in place; an all-zero vector is left as is.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

/// Encode a vector as consecutive little-endian f32 values (4 bytes each).
pub fn vec_to_le_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Decode bytes written by [`vec_to_le_bytes`]. Fails when the length is not a
/// multiple of 4.
pub fn le_bytes_to_vec(bytes: &[u8]) -> Result<Vec<f32>, EmbedError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(EmbedError::Bytes(format!(
            "{} bytes is not a multiple of 4 (little-endian f32)",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let v = vec![0.0, -1.5, 3.25e-7, f32::MAX, f32::MIN_POSITIVE];
        let b = vec_to_le_bytes(&v);
        assert_eq!(b.len(), 20);
        assert_eq!(&b[4..8], &(-1.5f32).to_le_bytes());
        assert_eq!(le_bytes_to_vec(&b).unwrap(), v);
        assert!(le_bytes_to_vec(&[]).unwrap().is_empty());
    }

    #[test]
    fn bytes_reject_ragged_length() {
        let e = le_bytes_to_vec(&[1, 2, 3, 4, 5]).unwrap_err();
        assert!(e.to_string().contains("5 bytes"), "{e}");
    }

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[-2.0, -2.0]) + 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn normalize_unit_and_zero() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0; 3];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
    }
}
