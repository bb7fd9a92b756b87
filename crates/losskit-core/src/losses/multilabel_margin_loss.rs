//! `F.multilabel_margin_loss(input, target)`: per row, the target classes are
//! the indices before the first −1 (whatever follows); the loss is
//! `Σ_j Σ_{i not a target} max(0, 1 − (x[y_j] − x[i])) / C`, gradient `∓1/C`
//! per open pair (`> 0`, as PyTorch's kernel). Every target entry must be in
//! `[−1, C)` (PyTorch checks them all).

use crate::call::{put_row, Args};
use crate::error::{check_len, Error, Result};
use crate::par::map_chunks;
use crate::Real;

/// Slot 1: the class-index target, the input's shape.
///
/// # Errors
/// A target entry outside `[−1, C)` (`RangeError`), shapes that do not fit.
pub fn run<T: Real>(mut a: Args<'_, T>) -> Result<f64> {
    let (n, c) = a.rows("input")?;
    let t = a.indices(1, "target")?;
    check_len("target", t.len(), n * c)?;
    #[allow(clippy::cast_possible_wrap)]
    if let Some((i, v)) = t.first_outside(-1, c as i64) {
        return Err(Error::range(format!(
            "target[{i}] = {v} is out of range for {c} classes: it must be in [-1, {c})"
        )));
    }
    let denom = a.denominator(n, false)?;
    let out = a.take_out(n)?;
    let scale = a.grad_scale(denom);
    let x = &a.x;
    #[allow(clippy::cast_precision_loss)]
    let cf = c as f64;
    let parts = map_chunks(n, c * c.max(1), |rs, re| {
        let mut is_target = vec![false; c];
        let mut targets = Vec::with_capacity(c);
        let mut row = vec![0.0f64; c];
        let mut masked = vec![0.0f64; c];
        let mut grad = vec![0.0f64; c];
        let mut acc = 0.0;
        for r in rs..re {
            let base = r * c;
            is_target.fill(false);
            targets.clear();
            for k in 0..c {
                let v = t.get(base + k);
                if v < 0 {
                    break;
                }
                #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
                let v = v as usize;
                targets.push(v);
                is_target[v] = true;
            }
            // SAFETY: base..base + c is within x; this chunk owns row r, and its
            // gradient (which may be x itself) is written only after this read.
            let xr = unsafe { std::slice::from_raw_parts(x.x_ptr().add(base), c) };
            for (d, v) in row.iter_mut().zip(xr) {
                *d = v.to_f64();
            }
            // The non-target classes; a target class is −∞ (its z is never > 0).
            for (m, (&v, &is_t)) in masked.iter_mut().zip(row.iter().zip(&is_target)) {
                *m = if is_t { f64::NEG_INFINITY } else { v };
            }
            grad.fill(0.0);
            let mut sum = 0.0;
            for &j in &targets {
                let (s, open) = open_pairs(&masked, 1.0 - row[j], &mut grad);
                sum += s;
                grad[j] -= open;
            }
            let l = sum / cf;
            // SAFETY: r < n = out.len(); chunks own disjoint rows.
            unsafe { put_row(out, r, l, &mut acc) };
            if x.has_grad() {
                let s = scale.at(r) / cf;
                for k in 0..c {
                    // SAFETY: as above; the row was read into `row` first.
                    unsafe { x.set_g(base + k, T::from_f64(grad[k] * s)) };
                }
            }
        }
        acc
    });
    Ok(a.reduction.apply(parts.iter().sum(), denom))
}

/// For one target's `a0 = 1 − x[y_j]` over the row's non-target classes
/// (`masked`, targets at −∞): `Σ z` and the count of the open pairs
/// (`z = a0 + x[i] > 0`, a NaN is not open, as PyTorch's test), adding 1 to
/// `grad[i]` for each. Branch-free, in [`crate::rowsum`]'s partial sums, so
/// that it vectorises.
fn open_pairs(masked: &[f64], a0: f64, grad: &mut [f64]) -> (f64, f64) {
    crate::rowsum::sum_pairs_mut(masked, grad, |x, g| {
        let z = a0 + x;
        let open = if z > 0.0 { 1.0 } else { 0.0 };
        *g += open;
        (if z > 0.0 { z } else { 0.0 }, open)
    })
}
