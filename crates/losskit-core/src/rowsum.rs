//! Sums over a row in `f64`, in a fixed order of eight interleaved partial
//! sums (so the loop vectorises, and the result never depends on threads).

use crate::Real;

const LANES: usize = 8;

/// `Σ f(a[i], b[i])` over two rows of one length, each term in `f64`.
#[inline(always)]
pub fn sum2<T: Real>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    debug_assert_eq!(a.len(), b.len(), "sum2: rows of different lengths");
    let mut acc = [0.0f64; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..LANES {
            acc[k] += f(x[k].to_f64(), y[k].to_f64());
        }
    }
    for (k, (&x, &y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[k] += f(x.to_f64(), y.to_f64());
    }
    acc.iter().sum()
}
