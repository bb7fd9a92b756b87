//! Row primitives over contiguous slices.
//!
//! These are the hot loops of the softmax-family losses. Per-element work is done
//! in the row's own float type; sums are returned in `f64`.

use crate::Real;

/// Largest element, ignoring NaN (a NaN row is caught by [`sum_exp`], whose sum
/// becomes NaN). Returns `-inf` for an empty row.
#[inline]
pub fn max<T: Real>(x: &[T]) -> T {
    let mut m = T::NEG_INFINITY;
    for &v in x {
        m = m.max_nn(v);
    }
    m
}

/// `sum(exp(x - m))`, accumulated in `f64`. `x - m` is computed in `T`.
#[inline]
pub fn sum_exp<T: Real>(x: &[T], m: T) -> f64 {
    let mut s = 0.0f64;
    for &v in x {
        s += (v - m).exp().to_f64();
    }
    s
}
