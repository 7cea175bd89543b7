//! Distances. Internally every metric is "smaller is closer": L2 is the squared distance, dot
//! and cosine are the negated dot product (cosine vectors are stored normalised).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Metric {
    Cosine = 1,
    Dot = 2,
    L2 = 3,
}

impl Metric {
    pub fn from_u8(v: u8) -> Option<Metric> {
        match v {
            1 => Some(Metric::Cosine),
            2 => Some(Metric::Dot),
            3 => Some(Metric::L2),
            _ => None,
        }
    }

    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => -dot(a, b),
            Metric::L2 => l2_squared(a, b),
        }
    }

    /// The score a caller sees: cosine similarity, dot product, or Euclidean distance.
    pub fn score(self, distance: f32) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => -distance,
            Metric::L2 => sqrt(distance),
        }
    }
}

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y) * (x - y);
    }
    s
}

/// Square root without libm (Newton's method in f64 from an exponent-halving guess).
pub fn sqrt(x: f32) -> f32 {
    if x == 0.0 {
        return 0.0;
    }
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x.is_infinite() {
        return x;
    }
    let x = x as f64;
    let mut g = f64::from_bits(((x.to_bits() >> 1) + (1023u64 << 51)) & 0x7FFF_FFFF_FFFF_FFFF);
    for _ in 0..6 {
        g = 0.5 * (g + x / g);
    }
    g as f32
}

/// Scale `v` to unit length; false for a zero vector.
pub fn normalize(v: &mut [f32]) -> bool {
    let n = sqrt(dot(v, v));
    if n.is_nan() || n <= 0.0 || !n.is_finite() {
        return false;
    }
    for x in v.iter_mut() {
        *x /= n;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sqrt_matches_std() {
        for x in [1e-30f32, 0.25, 1.0, 2.0, 3.0, 1e6, 123456.78, 3.4e38] {
            let r = sqrt(x);
            assert!((r - x.sqrt()).abs() <= x.sqrt() * 1e-6, "{x}: {r}");
        }
        assert_eq!(sqrt(0.0), 0.0);
        assert!(sqrt(-1.0).is_nan());
    }
    #[test]
    fn distances() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let b = [9.0f32, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(dot(&a, &b), 165.0);
        assert_eq!(l2_squared(&a, &b), 240.0);
    }
}
