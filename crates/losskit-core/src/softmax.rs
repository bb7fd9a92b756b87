//! `log_softmax`, `softmax` and the categorical `entropy` along one dimension
//! of a row-major tensor viewed as `(outer, C, inner)`.

use crate::elementwise::fmt_num;
use crate::error::{check_len, Error, Result};
use crate::par::{map_chunks, SendPtr};
use crate::Real;
use losskit_math::lanes::{SMALL_C, TILE};

/// `(outer, C, inner)`: the reduced dimension has length `c` and stride `inner`.
#[derive(Clone, Copy, Debug)]
pub struct Axis {
    pub outer: usize,
    pub c: usize,
    pub inner: usize,
}

impl Axis {
    fn numel(self) -> usize {
        self.outer * self.c * self.inner
    }
    fn lines(self) -> usize {
        self.outer * self.inner
    }
    fn base(self, l: usize) -> usize {
        (l / self.inner) * self.c * self.inner + l % self.inner
    }
}

/// Max and `sum(exp(x - max))` of one line of `c` elements at stride `stride`
/// from `base` — a softmax row, or the classes of one loss position. Contiguous
/// lines use the type's (SIMD) row kernels, which may prefetch `next` (the next
/// line, or null).
///
/// # Safety
/// `x[base + (c-1)·stride]` in bounds; no element of the line is being written.
#[inline(always)]
pub(crate) unsafe fn row_stats<T: Real>(
    x: *const T,
    base: usize,
    stride: usize,
    c: usize,
    next: *const T,
) -> (T, f64) {
    if stride == 1 {
        // SAFETY: in bounds per the contract; the slice is dropped before any
        // write to the line.
        let row = unsafe { std::slice::from_raw_parts(x.add(base), c) };
        let m = T::row_max(row);
        (m, T::row_sum_exp(row, m, next))
    } else {
        let mut m = T::NEG_INFINITY;
        for k in 0..c {
            // SAFETY: in bounds per the contract.
            m = m.max_nn(unsafe { *x.add(base + k * stride) });
        }
        let mut s = 0.0;
        for k in 0..c {
            // SAFETY: in bounds per the contract.
            s += (unsafe { *x.add(base + k * stride) } - m).exp().to_f64();
        }
        (m, s)
    }
}

fn map_lines<T: Real>(x: &[T], a: Axis, out: &mut [T], log: bool) -> Result<()> {
    check_len("input", x.len(), a.numel())?;
    check_len("out", out.len(), a.numel())?;
    let op = SendPtr(out.as_mut_ptr());
    if T::HAS_FUSED && a.inner == 1 && (1..=SMALL_C).contains(&a.c) {
        short_rows(x, a.c, op, log);
        return Ok(());
    }
    map_chunks(a.lines(), a.c, |s, e| {
        for l in s..e {
            let base = a.base(l);
            // Contiguous lines: the next one is prefetched while this one is
            // computed from cache.
            let next = if a.inner == 1 && l + 1 < e {
                x.as_ptr().wrapping_add(base + a.c)
            } else {
                std::ptr::null()
            };
            // SAFETY: base + (c-1)·inner < numel = x.len() (checked above).
            let (m, sum) = unsafe { row_stats(x.as_ptr(), base, a.inner, a.c, next) };
            let ln_s = T::from_f64(sum.ln());
            let inv = T::from_f64(1.0 / sum);
            if a.inner == 1 {
                // SAFETY: base..base + c < numel = out.len(); lines of different
                // chunks are disjoint, and `out` is not `x` (different borrows).
                unsafe {
                    if log {
                        let o = std::slice::from_raw_parts_mut(op.ptr().add(base), a.c);
                        for (o, &v) in o.iter_mut().zip(&x[base..base + a.c]) {
                            *o = (v - m) - ln_s;
                        }
                    } else {
                        T::row_exp_scale(x.as_ptr().add(base), op.ptr().add(base), a.c, m, inv, None);
                    }
                }
                continue;
            }
            for k in 0..a.c {
                let i = base + k * a.inner;
                let v = x[i] - m;
                let r = if log { v - ln_s } else { v.exp() * inv };
                // SAFETY: i < numel = out.len(); lines of different chunks are disjoint.
                unsafe { *op.ptr().add(i) = r };
            }
        }
    });
    Ok(())
}

/// [`map_lines`] for contiguous rows of `c ≤ SMALL_C`: tiles of [`TILE`] rows,
/// one row per SIMD lane (see [`losskit_math::lanes::small_stats`]), as the
/// cross entropy of short rows does.
fn short_rows<T: Real>(x: &[T], c: usize, op: SendPtr<T>, log: bool) {
    map_chunks(x.len() / c, c, |s, e| {
        // Written by small_stats before it is read (c · TILE entries).
        let mut ev = [std::mem::MaybeUninit::<T>::uninit(); SMALL_C * TILE];
        let ev_ptr = ev.as_mut_ptr().cast::<T>();
        let (mut m, mut sum, mut ln_s, mut inv) =
            ([T::ZERO; TILE], [T::ZERO; TILE], [T::ZERO; TILE], [T::ZERO; TILE]);
        let mut tile = s;
        while tile < e {
            let rows = (e - tile).min(TILE);
            let base = tile * c;
            // SAFETY: rows tile..tile + rows are within x (and out, of the same
            // length) and owned by this chunk; `out` is not `x`.
            unsafe {
                T::small_stats(
                    x.as_ptr().add(base),
                    rows,
                    c,
                    ev_ptr,
                    m.as_mut_ptr(),
                    sum.as_mut_ptr(),
                    ln_s.as_mut_ptr(),
                );
                if log {
                    let o = std::slice::from_raw_parts_mut(op.ptr().add(base), rows * c);
                    for (r, (o, xr)) in
                        o.chunks_exact_mut(c).zip(x[base..base + rows * c].chunks_exact(c)).enumerate()
                    {
                        for (o, &v) in o.iter_mut().zip(xr) {
                            *o = (v - m[r]) - ln_s[r];
                        }
                    }
                } else {
                    for r in 0..rows {
                        inv[r] = T::from_f64(1.0 / sum[r].to_f64());
                    }
                    T::small_grad(op.ptr().add(base), rows, c, ev_ptr, inv.as_ptr());
                }
            }
            tile += rows;
        }
    });
}

/// `torch.log_softmax(x, dim)`: `(x - max) - ln(sum(exp(x - max)))`.
///
/// # Errors
/// If the buffers do not match `a`.
pub fn log_softmax<T: Real>(x: &[T], a: Axis, out: &mut [T]) -> Result<()> {
    map_lines(x, a, out, true)
}

/// `torch.softmax(x, dim)`: `exp(x - max) / sum(exp(x - max))`.
///
/// # Errors
/// If the buffers do not match `a`.
pub fn softmax<T: Real>(x: &[T], a: Axis, out: &mut [T]) -> Result<()> {
    map_lines(x, a, out, false)
}

/// `Categorical(probs).entropy()` along the axis: probabilities are normalised
/// by their sum, and `ln` is taken of `clamp(q, eps, 1 - eps)` with the dtype's
/// machine epsilon, as `torch.distributions` does. `out` has `outer·inner`
/// elements.
///
/// # Errors
/// A probability that is negative, NaN or infinite, or a line summing to 0.
pub fn entropy<T: Real>(p: &[T], a: Axis, out: &mut [T]) -> Result<()> {
    check_len("probs", p.len(), a.numel())?;
    check_len("out", out.len(), a.lines())?;
    if let Some(i) = p.iter().position(|v| {
        let v = v.to_f64();
        !(v >= 0.0 && v.is_finite())
    }) {
        return Err(Error::range(format!(
            "probs[{i}] = {} is out of range: probabilities must be finite and non-negative",
            fmt_num(p[i].to_f64())
        )));
    }
    for l in 0..a.lines() {
        let base = a.base(l);
        let s: f64 = (0..a.c).map(|k| p[base + k * a.inner].to_f64()).sum();
        if s <= 0.0 {
            return Err(Error::range(format!(
                "probs: the probabilities along dim sum to 0 (line {l}); they must have a positive sum"
            )));
        }
    }
    let op = SendPtr(out.as_mut_ptr());
    let (lo, hi) = (T::EPSILON, T::ONE - T::EPSILON);
    map_chunks(a.lines(), a.c, |s, e| {
        for l in s..e {
            let base = a.base(l);
            let mut sum = T::ZERO;
            for k in 0..a.c {
                sum = sum + p[base + k * a.inner];
            }
            let mut h = 0.0f64;
            for k in 0..a.c {
                let q = p[base + k * a.inner] / sum;
                let qc = if q < lo {
                    lo
                } else if q > hi {
                    hi
                } else {
                    q
                };
                h -= (qc.ln() * q).to_f64();
            }
            // SAFETY: l < lines = out.len(); chunks are disjoint.
            unsafe { *op.ptr().add(l) = T::from_f64(h) };
        }
    });
    Ok(())
}
