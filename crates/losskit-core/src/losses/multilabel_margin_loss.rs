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
            for k in 0..c {
                // SAFETY: base + k < n·c; this chunk owns row r.
                row[k] = unsafe { x.x(base + k) }.to_f64();
            }
            grad.fill(0.0);
            let mut sum = 0.0;
            for &j in &targets {
                for i in 0..c {
                    if is_target[i] {
                        continue;
                    }
                    let z = 1.0 - row[j] + row[i];
                    if z > 0.0 {
                        sum += z;
                        grad[j] -= 1.0;
                        grad[i] += 1.0;
                    }
                }
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
