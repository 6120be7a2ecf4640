//! Minimal double-double ("float128-ish") arithmetic and exact `frexp`/`ldexp`.
//!
//! Only what the one-sided Smirnov series in [`super::kolmogorov`] needs. The
//! algorithms are the classic error-free transformations (Dekker, Knuth,
//! Briggs/Kahan) as used by the `qd` library by Hida, Li & Bailey, which is
//! also what SciPy's `xsf::cephes::smirnov` uses; porting them operation for
//! operation keeps our Smirnov tail probabilities bit-compatible in practice.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// An unevaluated sum `hi + lo` with `|lo| <= ulp(hi) / 2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dd {
    pub(crate) hi: f64,
    pub(crate) lo: f64,
}

/// `fl(a + b)` and its rounding error, assuming `|a| >= |b|`.
#[inline]
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let c = s - a;
    (s, b - c)
}

/// `fl(a + b)` and its rounding error.
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let c = s - a;
    let d = b - c;
    let e = s - c;
    (s, (a - e) + d)
}

/// `fl(a * b)` and its rounding error (via fused multiply-add).
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

impl Dd {
    pub(crate) const ZERO: Dd = Dd { hi: 0.0, lo: 0.0 };
    pub(crate) const ONE: Dd = Dd { hi: 1.0, lo: 0.0 };

    #[inline]
    pub(crate) fn from_f64(x: f64) -> Dd {
        Dd { hi: x, lo: 0.0 }
    }

    /// `true` when the value is exactly the double `x` (`lo == 0`).
    #[inline]
    pub(crate) fn eq_f64(self, x: f64) -> bool {
        self.hi == x && self.lo == 0.0
    }

    #[inline]
    pub(crate) fn is_finite(self) -> bool {
        self.hi.is_finite()
    }

    /// Largest integer not greater than `self`.
    pub(crate) fn floor(self) -> Dd {
        let hi = self.hi.floor();
        if hi == self.hi {
            let (h, l) = quick_two_sum(hi, self.lo.floor());
            Dd { hi: h, lo: l }
        } else {
            Dd { hi, lo: 0.0 }
        }
    }

    /// `self * 2^e`, exactly (barring under/overflow).
    pub(crate) fn ldexp(self, e: i64) -> Dd {
        Dd {
            hi: ldexp(self.hi, e),
            lo: ldexp(self.lo, e),
        }
    }

    /// Split into a mantissa in `[0.5, 1)` (in absolute value) and a binary exponent.
    pub(crate) fn frexp(self) -> (Dd, i64) {
        let (mut man, mut e) = frexp(self.hi);
        let mut b1 = ldexp(self.lo, -e);
        if man.abs() == 0.5 && man * b1 < 0.0 {
            man *= 2.0;
            b1 *= 2.0;
            e -= 1;
        }
        (Dd { hi: man, lo: b1 }, e)
    }
}

impl Neg for Dd {
    type Output = Dd;
    #[inline]
    fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl Add for Dd {
    type Output = Dd;
    #[inline]
    fn add(self, rhs: Dd) -> Dd {
        let (s1, s2) = two_sum(self.hi, rhs.hi);
        let (t1, t2) = two_sum(self.lo, rhs.lo);
        let (s1, s2) = quick_two_sum(s1, s2 + t1);
        let (s1, s2) = quick_two_sum(s1, s2 + t2);
        Dd { hi: s1, lo: s2 }
    }
}

impl Add<f64> for Dd {
    type Output = Dd;
    #[inline]
    fn add(self, rhs: f64) -> Dd {
        let (s1, s2) = two_sum(self.hi, rhs);
        let (s1, s2) = quick_two_sum(s1, s2 + self.lo);
        Dd { hi: s1, lo: s2 }
    }
}

impl Sub for Dd {
    type Output = Dd;
    #[inline]
    fn sub(self, rhs: Dd) -> Dd {
        self + (-rhs)
    }
}

impl Sub<f64> for Dd {
    type Output = Dd;
    #[inline]
    fn sub(self, rhs: f64) -> Dd {
        let (s1, s2) = two_sum(self.hi, -rhs);
        let (s1, s2) = quick_two_sum(s1, s2 + self.lo);
        Dd { hi: s1, lo: s2 }
    }
}

impl Mul for Dd {
    type Output = Dd;
    #[inline]
    fn mul(self, rhs: Dd) -> Dd {
        let (p1, p2) = two_prod(self.hi, rhs.hi);
        let p2 = p2 + (self.hi * rhs.lo + self.lo * rhs.hi);
        let (p1, p2) = quick_two_sum(p1, p2);
        Dd { hi: p1, lo: p2 }
    }
}

impl Mul<f64> for Dd {
    type Output = Dd;
    #[inline]
    fn mul(self, rhs: f64) -> Dd {
        let (p1, e1) = two_prod(self.hi, rhs);
        let (p2, e2) = two_prod(self.lo, rhs);
        let (p1, e1) = quick_two_sum(p1, e2 + p2 + e1);
        Dd { hi: p1, lo: e1 }
    }
}

impl Mul<Dd> for f64 {
    type Output = Dd;
    #[inline]
    fn mul(self, rhs: Dd) -> Dd {
        let (p1, e1) = two_prod(self, rhs.hi);
        let (p2, e2) = two_prod(self, rhs.lo);
        let (p1, e1) = quick_two_sum(p1, e2 + p2 + e1);
        Dd { hi: p1, lo: e1 }
    }
}

impl Div for Dd {
    type Output = Dd;
    #[inline]
    fn div(self, rhs: Dd) -> Dd {
        let q1 = self.hi / rhs.hi;
        let r = self - rhs * q1;
        let q2 = r.hi / rhs.hi;
        let r = r - rhs * q2;
        let q3 = r.hi / rhs.hi;
        let (q1, q2) = quick_two_sum(q1, q2);
        Dd { hi: q1, lo: q2 } + q3
    }
}

impl Div<f64> for Dd {
    type Output = Dd;
    #[inline]
    fn div(self, rhs: f64) -> Dd {
        self / Dd::from_f64(rhs)
    }
}

impl Div<Dd> for f64 {
    type Output = Dd;
    #[inline]
    fn div(self, rhs: Dd) -> Dd {
        Dd::from_f64(self) / rhs
    }
}

/// `x * 2^n` computed exactly with a single final rounding (musl `scalbn`).
pub(crate) fn ldexp(x: f64, n: i64) -> f64 {
    let two_1023 = f64::from_bits(0x7fe0_0000_0000_0000); // 2^1023
    let two_m1022_53 = f64::from_bits(0x0360_0000_0000_0000); // 2^-1022 * 2^53 = 2^-969
    let mut y = x;
    let mut n = n;
    if n > 1023 {
        y *= two_1023;
        n -= 1023;
        if n > 1023 {
            y *= two_1023;
            n -= 1023;
            if n > 1023 {
                n = 1023;
            }
        }
    } else if n < -1022 {
        // Scale by 2^-969 (not 2^-1022) so the final multiplication does the
        // only rounding into the subnormal range.
        y *= two_m1022_53;
        n += 1022 - 53;
        if n < -1022 {
            y *= two_m1022_53;
            n += 1022 - 53;
            if n < -1022 {
                n = -1022;
            }
        }
    }
    let scale = f64::from_bits(((0x3ff + n) as u64) << 52);
    y * scale
}

/// Decompose `x` as `m * 2^e` with `0.5 <= |m| < 1` (C `frexp`); zero,
/// infinities and NaN are returned unchanged with `e = 0`.
pub(crate) fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    if exp_bits == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * f64::from_bits(0x43f0_0000_0000_0000)); // 2^64
        return (m, e - 64);
    }
    let e = exp_bits - 1022;
    let m = f64::from_bits((bits & !(0x7ff_u64 << 52)) | (1022_u64 << 52));
    (m, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_and_ldexp_round_trip() {
        for &x in &[1.0, 0.75, -3.5, 1e-310, 5e-324, 1.7e308, 123456.789] {
            let (m, e) = frexp(x);
            assert!((0.5..1.0).contains(&m.abs()), "{x}: {m}");
            assert_eq!(ldexp(m, e), x);
        }
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(ldexp(1.0, -1074), 5e-324);
        assert_eq!(ldexp(1.0, -1075), 0.0);
        assert_eq!(ldexp(1.0, 1024), f64::INFINITY);
        assert_eq!(ldexp(0.75, 2), 3.0);
    }

    #[test]
    fn double_double_is_more_precise_than_f64() {
        // 1/3 in double-double, times 3, is 1 to ~1e-32.
        let third = Dd::ONE / 3.0;
        let one = third * 3.0 - 1.0;
        assert!(one.hi.abs() < 1e-31, "{one:?}");
        // (1 + 2^-60) - 1 survives in double-double.
        let x = Dd::ONE + ldexp(1.0, -60);
        assert_eq!((x - 1.0).hi, ldexp(1.0, -60));
        assert_eq!(Dd::from_f64(2.5).floor(), Dd::from_f64(2.0));
        let (m, e) = Dd::from_f64(12.0).frexp();
        assert_eq!((m.hi, e), (0.75, 4));
        assert!(Dd::ZERO.eq_f64(0.0) && Dd::ONE.is_finite());
    }
}
