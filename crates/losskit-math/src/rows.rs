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

/// `g[k] = a * exp(x[k] - m)` for `k < n`. `x` and `g` may be the same buffer
/// (each element is read before it is written).
///
/// # Safety
/// `x` must be valid for `n` reads and `g` for `n` writes; they are either the
/// same pointer or do not overlap.
#[inline]
pub unsafe fn exp_scaled<T: Real>(x: *const T, g: *mut T, n: usize, m: T, a: T) {
    for k in 0..n {
        // SAFETY: k < n, per the contract.
        unsafe {
            let v = *x.add(k);
            *g.add(k) = a * (v - m).exp();
        }
    }
}

/// `g[k] = a * exp(x[k] - m) - b * w[k]`, same contract as [`exp_scaled`]; `w`
/// is read-only and does not overlap `g`.
///
/// # Safety
/// As [`exp_scaled`], and `w` valid for `n` reads.
#[inline]
pub unsafe fn exp_scaled_minus<T: Real>(x: *const T, g: *mut T, n: usize, m: T, a: T, b: T, w: *const T) {
    for k in 0..n {
        // SAFETY: k < n, per the contract.
        unsafe {
            let v = *x.add(k);
            *g.add(k) = a * (v - m).exp() - b * *w.add(k);
        }
    }
}
